//! What the indicators are folded from: the events of the calls that
//! arrived in a range, with the agents' state changes around them.

use std::collections::BTreeMap;

use sqlx::Row;

use super::events::{EventRecord, record};
use super::{Store, StoreError};

/// How long after a range agents' state changes are still read: a call
/// arriving at its end is talked and wrapped up after it.
const AFTER: i64 = 4 * 3_600_000;

impl Store {
    /// In `seq` order, up to `upto`: every event of the calls that arrived
    /// in `[from, to)`, and every agent state change from `from` until a
    /// few hours after `to` (wrap-ups end there).
    pub async fn indicator_events(
        &self,
        from: i64,
        to: i64,
        upto: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, call_id, agent, data, hash FROM events
             WHERE seq <= ?4 AND (
                 call_id IN (SELECT id FROM calls WHERE arrived_at >= ?1 AND arrived_at < ?2)
                 OR (kind = 'agent_state_changed' AND at >= ?1 AND at < ?3))
             ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .bind(to.saturating_add(AFTER))
        .bind(upto)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Events of one kind from `since`, up to `upto`, in `seq` order.
    pub async fn events_of_kind_since(
        &self,
        kind: &str,
        since: i64,
        upto: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, call_id, agent, data, hash FROM events
             WHERE at >= ? AND seq <= ? AND kind = ? ORDER BY seq",
        )
        .bind(since)
        .bind(upto)
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Every agent's last recorded state: (extension, state, since).
    pub async fn agent_states_since(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT extension, state, since FROM agent_states ORDER BY extension")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Staff who take queue calls (agents and seniors): extension → (name, role).
    pub async fn call_takers(&self) -> Result<BTreeMap<String, (String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT extension, name, role FROM users
             WHERE role IN ('agent', 'senior') AND disabled = 0 ORDER BY extension",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect())
    }
}
