-- The call core's facts, in the order they happened, and one row per call
-- folded from them. `seq` is assigned by the writer and never reused: live
-- feeds resume from it. Times are epoch milliseconds.
CREATE TABLE events (
    seq      BIGINT PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    call_id  TEXT,
    agent    TEXT,
    data     TEXT NOT NULL
);

CREATE INDEX events_call ON events (call_id);
CREATE INDEX events_at ON events (at);

CREATE TABLE calls (
    id              TEXT PRIMARY KEY,
    queue           TEXT NOT NULL,
    caller          TEXT NOT NULL,
    arrived_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    answered_by     TEXT,
    within_deadline BIGINT,
    ended_at        BIGINT,
    end_reason      TEXT
);

CREATE INDEX calls_arrived_at ON calls (arrived_at);
