-- The patient directory, keyed by the clinic's own id (its medical
-- information system's): the card an agent sees when a patient calls.
-- `data` holds the card as JSON (name, form of address, date of birth,
-- service-card notes, care pathway, consent flags) so the card can grow
-- without a migration; phones are a table of their own, normalised to
-- E.164, so a caller's number finds the card with one index lookup.
CREATE TABLE patients (
    id          TEXT PRIMARY KEY,
    full_name   TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE patient_phones (
    e164        TEXT NOT NULL,
    patient_id  TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    PRIMARY KEY (e164, patient_id)
);

CREATE INDEX patient_phones_patient ON patient_phones (patient_id);
