-- Call-back tasks, folded from the callback_* events as they are written
-- (each event carries the whole task): the scheduler is rebuilt from here
-- at start, and the API lists tasks from here. `task` holds the task as
-- JSON (the number to call, its attempts); the other columns are for
-- finding tasks.
CREATE TABLE callbacks (
    id          TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL,
    queue       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    owner_kind  TEXT NOT NULL,
    owner       TEXT NOT NULL,
    status      TEXT NOT NULL,
    overdue     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    sla_at      BIGINT NOT NULL,
    closed_at   BIGINT,
    attempts    BIGINT NOT NULL,
    task        TEXT NOT NULL
);

CREATE INDEX callbacks_status_due ON callbacks (status, due_at);
CREATE INDEX callbacks_created ON callbacks (created_at);

-- Every attempt, one row each.
CREATE TABLE callback_attempts (
    task_id  TEXT NOT NULL,
    n        BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    agent    TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    PRIMARY KEY (task_id, n)
);
