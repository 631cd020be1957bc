//! The event log and the `calls` rows folded from it, written in batches:
//! one transaction per batch (group commit), so thousands of facts a second
//! cost a handful of fsyncs.

use serde_json::Value;
use sqlx::Row;

use super::{Store, StoreError};

/// One stored fact.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Position in the log, from 1, never reused.
    pub seq: i64,
    /// When it happened, epoch milliseconds.
    pub at: i64,
    /// `call_arrived`, `answered` …
    pub kind: String,
    /// The call it is about.
    pub call_id: Option<String>,
    /// The agent it is about.
    pub agent: Option<String>,
    /// The rest of its fields.
    pub data: Value,
}

/// One row of `calls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// The call's id.
    pub id: String,
    /// Its queue.
    pub queue: String,
    /// The caller's number.
    pub caller: String,
    /// Arrival (epoch ms).
    pub arrived_at: i64,
    /// Answer, if answered.
    pub answered_at: Option<i64>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// Whether within the answer deadline.
    pub within_deadline: Option<bool>,
    /// End, once over.
    pub ended_at: Option<i64>,
    /// `completed`, `abandoned`, `dropped`, `max_wait`.
    pub end_reason: Option<String>,
}

impl Store {
    /// The highest `seq` written so far (0 for an empty log).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(self.pool())
            .await?;
        Ok(row.get(0))
    }

    /// The number of the highest stored call id (`call-%08x`), 0 when none.
    pub async fn last_call_number(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT id FROM calls WHERE id LIKE 'call-%'")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                u64::from_str_radix(r.get::<String, _>(0).trim_start_matches("call-"), 16).ok()
            })
            .max()
            .unwrap_or(0))
    }

    /// Appends events and folds them into `calls`, all in one transaction.
    pub async fn append_events(&self, records: &[EventRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for r in records {
            sqlx::query("INSERT INTO events (seq, at, kind, call_id, agent, data) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(r.seq)
                .bind(r.at)
                .bind(&r.kind)
                .bind(&r.call_id)
                .bind(&r.agent)
                .bind(r.data.to_string())
                .execute(&mut *tx)
                .await?;
            let Some(call) = &r.call_id else { continue };
            let text = |k: &str| {
                r.data
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            match r.kind.as_str() {
                "call_arrived" => {
                    sqlx::query(
                        "INSERT INTO calls (id, queue, caller, arrived_at) VALUES (?, ?, ?, ?)",
                    )
                    .bind(call)
                    .bind(text("queue"))
                    .bind(text("caller"))
                    .bind(r.at)
                    .execute(&mut *tx)
                    .await?;
                }
                "answered" => {
                    let within = r
                        .data
                        .get("within_deadline")
                        .and_then(Value::as_bool)
                        .map(i64::from);
                    sqlx::query("UPDATE calls SET answered_at = ?, answered_by = ?, within_deadline = ? WHERE id = ?")
                        .bind(r.at)
                        .bind(&r.agent)
                        .bind(within)
                        .bind(call)
                        .execute(&mut *tx)
                        .await?;
                }
                "ended" => {
                    sqlx::query("UPDATE calls SET ended_at = ?, end_reason = ? WHERE id = ?")
                        .bind(r.at)
                        .bind(text("reason"))
                        .bind(call)
                        .execute(&mut *tx)
                        .await?;
                }
                _ => {}
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A call's events in order.
    pub async fn call_events(&self, call_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, call_id, agent, data FROM events WHERE call_id = ? ORDER BY seq",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Events after `seq`, oldest first, at most `limit`.
    pub async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query("SELECT seq, at, kind, call_id, agent, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(seq)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// One call's row.
    pub async fn call(&self, id: &str) -> Result<Option<CallRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, queue, caller, arrived_at, answered_at, answered_by, within_deadline, ended_at, end_reason
             FROM calls WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| CallRow {
            id: r.get(0),
            queue: r.get(1),
            caller: r.get(2),
            arrived_at: r.get(3),
            answered_at: r.get(4),
            answered_by: r.get(5),
            within_deadline: r.get::<Option<i64>, _>(6).map(|v| v != 0),
            ended_at: r.get(7),
            end_reason: r.get(8),
        }))
    }
}

fn record(r: sqlx::sqlite::SqliteRow) -> EventRecord {
    EventRecord {
        seq: r.get(0),
        at: r.get(1),
        kind: r.get(2),
        call_id: r.get(3),
        agent: r.get(4),
        data: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rec(seq: i64, at: i64, kind: &str, agent: Option<&str>, data: Value) -> EventRecord {
        EventRecord {
            seq,
            at,
            kind: kind.into(),
            call_id: Some("call-00000001".into()),
            agent: agent.map(Into::into),
            data,
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn events_fold_into_the_call_row(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        assert_eq!(store.last_event_seq().await.unwrap(), 0);
        store
            .append_events(&[
                rec(
                    1,
                    1_000,
                    "call_arrived",
                    None,
                    json!({ "queue": "reception", "caller": "+79210000000" }),
                ),
                rec(
                    2,
                    1_000,
                    "agent_offered",
                    Some("1001"),
                    json!({ "tier": "agent" }),
                ),
                rec(
                    3,
                    8_000,
                    "answered",
                    Some("1001"),
                    json!({ "tier": "agent", "wait_ms": 7000, "within_deadline": true }),
                ),
            ])
            .await
            .unwrap();
        store
            .append_events(&[rec(
                4,
                60_000,
                "ended",
                None,
                json!({ "reason": "completed" }),
            )])
            .await
            .unwrap();
        let call = store.call("call-00000001").await.unwrap().unwrap();
        assert_eq!(call.answered_at, Some(8_000));
        assert_eq!(call.answered_by.as_deref(), Some("1001"));
        assert_eq!(call.within_deadline, Some(true));
        assert_eq!(call.end_reason.as_deref(), Some("completed"));
        let kinds: Vec<String> = store
            .call_events("call-00000001")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["call_arrived", "agent_offered", "answered", "ended"]
        );
        assert_eq!(store.last_event_seq().await.unwrap(), 4);
        assert_eq!(store.last_call_number().await.unwrap(), 1);
        assert_eq!(store.events_after(2, 10).await.unwrap().len(), 2);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_failed_batch_writes_nothing(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        store
            .append_events(&[rec(1, 1, "agent_state_changed", Some("1001"), json!({}))])
            .await
            .unwrap();
        // seq 1 again: the whole batch is refused, the new row included.
        let err = store
            .append_events(&[
                rec(2, 2, "agent_state_changed", Some("1001"), json!({})),
                rec(1, 3, "x", None, json!({})),
            ])
            .await;
        assert!(err.is_err());
        assert_eq!(store.last_event_seq().await.unwrap(), 1);
    }
}
