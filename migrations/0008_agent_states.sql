-- Each agent's last state, folded from the agent_state_changed events as
-- they are written, so that a state an agent chose (paused, with a patient)
-- survives a restart of the server.
CREATE TABLE agent_states (
    extension  TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    since      BIGINT NOT NULL
);
