-- Staff who log in and whose phones register: agents, senior specialists,
-- doctors, supervisors, administrators. Portable SQL (SQLite and PostgreSQL):
-- text ids made by the application, BIGINT epoch milliseconds, no SERIAL/JSONB.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    extension     TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'senior', 'doctor', 'supervisor', 'admin')),
    -- argon2id PHC string, checked at API login; the clear password is never stored.
    password_hash TEXT NOT NULL,
    -- SIP digest needs HA1 = H(extension:realm:password); both algorithms of
    -- RFC 8760 are kept, for the realm they were computed for.
    realm         TEXT NOT NULL,
    ha1_md5       TEXT NOT NULL,
    ha1_sha256    TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE INDEX users_updated_at ON users (updated_at);
