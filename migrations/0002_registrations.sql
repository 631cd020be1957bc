-- Registrar bindings (RFC 3261 §10), written through so that phones stay
-- reachable across a restart without waiting for their next REGISTER.
CREATE TABLE registrations (
    extension   TEXT NOT NULL,
    contact_uri TEXT NOT NULL,
    -- the Contact header value as registered (URI and header parameters)
    contact     TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    cseq        BIGINT NOT NULL,
    -- where the REGISTER really came from: transport and address (the flow)
    transport   TEXT NOT NULL,
    source      TEXT NOT NULL,
    user_agent  TEXT,
    expires_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (extension, contact_uri)
);
