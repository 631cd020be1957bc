-- Appointments from the clinic's information system, keyed by its own id:
-- the doctor (an extension), when, the service, and for teleconsults the
-- flags a remote consultation needs (informed consent, payment).
CREATE TABLE appointments (
    id           TEXT PRIMARY KEY,
    patient_id   TEXT NOT NULL REFERENCES patients (id),
    doctor       TEXT NOT NULL,
    starts_at    BIGINT NOT NULL,
    service      TEXT NOT NULL,
    teleconsult  BIGINT NOT NULL,
    consent      BIGINT NOT NULL,
    paid         BIGINT NOT NULL,
    -- The number to call for the teleconsult, when not the patient's first.
    phone        TEXT,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX appointments_doctor ON appointments (doctor, starts_at);
CREATE INDEX appointments_patient ON appointments (patient_id, starts_at);

-- Doctors' teleconsult calls, folded from the dialout_* events as they are
-- written: the record a doctor would otherwise write by hand.
CREATE TABLE teleconsult_calls (
    call_id         TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL,
    doctor          TEXT NOT NULL,
    number          TEXT NOT NULL,
    invited_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    ended_at        BIGINT,
    outcome         TEXT
);

CREATE INDEX teleconsult_calls_doctor ON teleconsult_calls (doctor, invited_at);
CREATE INDEX teleconsult_calls_invited ON teleconsult_calls (invited_at);
