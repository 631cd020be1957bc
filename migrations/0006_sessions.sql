-- API logins: one row per bearer token, holding only the token's SHA-256
-- (a copy of the database gives no usable token). A session ends at
-- `expires_at`, at logout, or when its user is disabled.
CREATE TABLE sessions (
    token_sha256  TEXT PRIMARY KEY,
    extension     TEXT NOT NULL REFERENCES users (extension) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Which calls an agent took part in (cards they may open).
CREATE INDEX events_agent ON events (agent, call_id);
