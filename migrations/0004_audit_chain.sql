-- The event log becomes a tamper-evident audit trail: each row stores the
-- SHA-256 (hex) over its canonical content and the previous row's hash, so
-- altering, removing or inserting a row breaks the chain from that row on
-- (`careline-server audit verify` names it). Rows written before this
-- migration have no hash; the chain starts at the first row that has one.
-- Rows can only be appended: the triggers refuse UPDATE and DELETE.
ALTER TABLE events ADD COLUMN hash TEXT;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;
