-- A caller's earlier calls, for the agent's card (GET /api/calls/{id}/history).
CREATE INDEX calls_caller ON calls (caller, arrived_at);
