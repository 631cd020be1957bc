-- Small facts the server keeps about itself between runs (the fingerprint of
-- the configuration it last ran with, so a change is recorded in the audit
-- trail at the next start).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
