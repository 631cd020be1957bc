//! The event log and the `calls` rows folded from it, written in batches:
//! one transaction per batch (group commit), so thousands of facts a second
//! cost a handful of fsyncs.

use serde_json::Value;
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

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
    /// Its link in the audit chain (hex SHA-256), once written; `None`
    /// for rows from before the chain existed.
    pub hash: Option<String>,
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
    ///
    /// Each record is given its `seq` (after the last stored one) and its
    /// `hash` on the audit chain here, inside one write transaction, so
    /// the server and a CLI command appending at the same moment cannot
    /// fork the chain. On error nothing is written and the records' `seq`
    /// and `hash` mean nothing.
    pub async fn append_events(&self, records: &mut [EventRecord]) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        Store::append_events_on(&mut conn, records).await
    }

    /// [`append_events`](Self::append_events) on a connection the caller
    /// holds. The event writer keeps one while facts keep coming: SQLite
    /// empties a connection's page cache whenever another connection has
    /// written since its last transaction, and the writer's are nearly all
    /// the writes (registrations and call-back tasks are the others), so
    /// its own connection mostly keeps the log's hot pages in memory.
    pub async fn append_events_on(
        conn: &mut SqliteConnection,
        records: &mut [EventRecord],
    ) -> Result<(), StoreError> {
        // Multi-row statements: a statement is a round trip to SQLite's
        // thread, so a batch of thousands of facts costs a few dozen.
        const ROWS: usize = 500;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let last = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let (mut seq, mut prev): (i64, Option<String>) =
            last.map_or((0, None), |r| (r.get(0), r.get(1)));
        let data: Vec<String> = records.iter().map(|r| r.data.to_string()).collect();
        for (r, data) in records.iter_mut().zip(&data) {
            seq += 1;
            r.seq = seq;
            let hash = super::audit::chain_hash(prev.as_deref(), r, data);
            r.hash = Some(hash.clone());
            prev = Some(hash);
        }
        let records = &*records;
        let mut arrived = Vec::new();
        let mut answered = Vec::new();
        let mut ended = Vec::new();
        // Each agent's last state in the batch (later ones replace earlier).
        let mut states: std::collections::BTreeMap<&str, (&str, i64)> = Default::default();
        for r in records {
            if r.kind == "agent_state_changed"
                && let (Some(agent), Some(to)) =
                    (&r.agent, r.data.get("to").and_then(Value::as_str))
            {
                states.insert(agent, (to, r.at));
            }
            let Some(call) = &r.call_id else { continue };
            match r.kind.as_str() {
                "call_arrived" => arrived.push((call, r)),
                "answered" => answered.push((call, r)),
                "ended" => ended.push((call, r)),
                _ => {}
            }
        }
        let text = |r: &EventRecord, k: &str| {
            r.data
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        // Every row of the batch goes in one multi-statement write: one
        // round trip instead of one per table (positional `?` are bound in
        // order across the statements).
        let mut q = QueryBuilder::<Sqlite>::new("");
        let rows: Vec<(&EventRecord, &String)> = records.iter().zip(&data).collect();
        for chunk in rows.chunks(ROWS) {
            q.push("INSERT INTO events (seq, at, kind, call_id, agent, data, hash) ")
                .push_values(chunk, |mut row, (r, data)| {
                    row.push_bind(r.seq)
                        .push_bind(r.at)
                        .push_bind(&r.kind)
                        .push_bind(&r.call_id)
                        .push_bind(&r.agent)
                        .push_bind(*data)
                        .push_bind(&r.hash);
                })
                .push(";\n");
        }
        for chunk in arrived.chunks(ROWS) {
            q.push("INSERT INTO calls (id, queue, caller, arrived_at) ")
                .push_values(chunk, |mut row, (call, r)| {
                    row.push_bind(*call)
                        .push_bind(text(r, "queue"))
                        .push_bind(text(r, "caller"))
                        .push_bind(r.at);
                })
                .push(";\n");
        }
        for chunk in answered.chunks(ROWS) {
            q.push(
                "UPDATE calls SET answered_at = v.column2, answered_by = v.column3, \
                 within_deadline = v.column4 FROM (",
            );
            q.push_values(chunk, |mut row, (call, r)| {
                let within = r
                    .data
                    .get("within_deadline")
                    .and_then(Value::as_bool)
                    .map(i64::from);
                row.push_bind(*call)
                    .push_bind(r.at)
                    .push_bind(&r.agent)
                    .push_bind(within);
            });
            q.push(") AS v WHERE calls.id = v.column1;\n");
        }
        for chunk in ended.chunks(ROWS) {
            q.push("UPDATE calls SET ended_at = v.column2, end_reason = v.column3 FROM (");
            q.push_values(chunk, |mut row, (call, r)| {
                row.push_bind(*call)
                    .push_bind(r.at)
                    .push_bind(text(r, "reason"));
            });
            q.push(") AS v WHERE calls.id = v.column1;\n");
        }
        let states: Vec<_> = states.into_iter().collect();
        for chunk in states.chunks(ROWS) {
            q.push("INSERT INTO agent_states (extension, state, since) ")
                .push_values(chunk, |mut row, (agent, (state, at))| {
                    row.push_bind(*agent).push_bind(*state).push_bind(*at);
                })
                .push(
                    " ON CONFLICT (extension) DO UPDATE SET state = excluded.state, \
                     since = excluded.since;\n",
                );
        }
        // Each batch's text differs (its row counts): not worth caching.
        q.build().persistent(false).execute(&mut *tx).await?;
        super::callbacks::fold(&mut tx, records).await?;
        super::appointments::fold(&mut tx, records).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Calls with no end: left going by a run that stopped without
    /// ending them.
    pub async fn unfinished_calls(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM calls WHERE ended_at IS NULL ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Every agent's last recorded state: (extension, state).
    pub async fn agent_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT extension, state FROM agent_states ORDER BY extension")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// A call's events in order.
    pub async fn call_events(&self, call_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, call_id, agent, data, hash FROM events WHERE call_id = ? ORDER BY seq",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Events after `seq`, oldest first, at most `limit`.
    pub async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query("SELECT seq, at, kind, call_id, agent, data, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(seq)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// The calls from `caller` (as it came in) before `before` (epoch ms),
    /// newest first, at most `limit`.
    pub async fn calls_from(
        &self,
        caller: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<CallRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, queue, caller, arrived_at, answered_at, answered_by, within_deadline, ended_at, end_reason
             FROM calls WHERE caller = ? AND arrived_at < ? ORDER BY arrived_at DESC LIMIT ?",
        )
        .bind(caller)
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CallRow {
                id: r.get(0),
                queue: r.get(1),
                caller: r.get(2),
                arrived_at: r.get(3),
                answered_at: r.get(4),
                answered_by: r.get(5),
                within_deadline: r.get::<Option<i64>, _>(6).map(|v| v != 0),
                ended_at: r.get(7),
                end_reason: r.get(8),
            })
            .collect())
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

/// A row of `SELECT seq, at, kind, call_id, agent, data, hash`.
pub(crate) fn record(r: sqlx::sqlite::SqliteRow) -> EventRecord {
    EventRecord {
        seq: r.get(0),
        at: r.get(1),
        kind: r.get(2),
        call_id: r.get(3),
        agent: r.get(4),
        data: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or(Value::Null),
        hash: r.get(6),
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
            hash: None,
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn events_fold_into_the_call_row(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        assert_eq!(store.last_event_seq().await.unwrap(), 0);
        store
            .append_events(&mut [
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
            .append_events(&mut [rec(
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

    /// A batch larger than one statement's rows, each call arriving,
    /// answered (or not) and ending inside it, in order.
    #[sqlx::test(migrations = "../migrations")]
    async fn a_large_batch_folds_every_call(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let mut batch = Vec::new();
        let mut seq = 0;
        let mut push = |batch: &mut Vec<EventRecord>,
                        call: u32,
                        kind: &str,
                        agent: Option<&str>,
                        data: Value| {
            seq += 1;
            batch.push(EventRecord {
                call_id: Some(format!("call-{call:08x}")),
                ..rec(seq, 1_000 * i64::from(call) + seq, kind, agent, data)
            });
        };
        for call in 1..=700u32 {
            push(
                &mut batch,
                call,
                "call_arrived",
                None,
                json!({ "queue": "reception", "caller": format!("+7921{call:07}") }),
            );
            if call % 3 != 0 {
                push(
                    &mut batch,
                    call,
                    "answered",
                    Some("1001"),
                    json!({ "within_deadline": call % 2 == 0 }),
                );
            }
            let reason = if call % 3 == 0 {
                "abandoned"
            } else {
                "completed"
            };
            push(&mut batch, call, "ended", None, json!({ "reason": reason }));
        }
        store.append_events(&mut batch).await.unwrap();
        assert_eq!(store.last_event_seq().await.unwrap(), batch.len() as i64);
        assert_eq!(store.last_call_number().await.unwrap(), 700);
        for call in [1u32, 2, 3, 499, 500, 501, 699, 700] {
            let row = store
                .call(&format!("call-{call:08x}"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.caller, format!("+7921{call:07}"));
            assert_eq!(row.queue, "reception");
            if call % 3 == 0 {
                assert_eq!(row.answered_at, None);
                assert_eq!(row.end_reason.as_deref(), Some("abandoned"));
            } else {
                assert_eq!(row.answered_by.as_deref(), Some("1001"));
                assert_eq!(row.within_deadline, Some(call % 2 == 0));
                assert_eq!(row.end_reason.as_deref(), Some("completed"));
                assert!(row.answered_at.unwrap() < row.ended_at.unwrap());
            }
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn each_agents_last_state_is_kept(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let change = |agent: &str, at: i64, from: &str, to: &str| EventRecord {
            call_id: None,
            ..rec(
                0,
                at,
                "agent_state_changed",
                Some(agent),
                json!({ "from": from, "to": to }),
            )
        };
        store
            .append_events(&mut [
                change("1001", 1, "offline", "available"),
                change("1002", 2, "offline", "available"),
                change("1001", 3, "available", "paused"),
            ])
            .await
            .unwrap();
        store
            .append_events(&mut [change("1002", 4, "available", "with_patient")])
            .await
            .unwrap();
        assert_eq!(
            store.agent_states().await.unwrap(),
            [
                ("1001".to_string(), "paused".to_string()),
                ("1002".to_string(), "with_patient".to_string())
            ]
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_failed_batch_writes_nothing(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        store
            .append_events(&mut [rec(
                0,
                1,
                "call_arrived",
                None,
                json!({ "queue": "reception" }),
            )])
            .await
            .unwrap();
        // The same call arriving twice: the whole batch is refused, the
        // event before it included, and the chain goes on from seq 1.
        let err = store
            .append_events(&mut [
                rec(0, 2, "agent_state_changed", Some("1001"), json!({})),
                rec(0, 3, "call_arrived", None, json!({ "queue": "reception" })),
            ])
            .await;
        assert!(err.is_err());
        assert_eq!(store.last_event_seq().await.unwrap(), 1);
        let mut next = [rec(0, 4, "agent_state_changed", Some("1001"), json!({}))];
        store.append_events(&mut next).await.unwrap();
        assert_eq!(next[0].seq, 2);
        let chain = store.verify_chain().await.unwrap();
        assert_eq!((chain.verified, chain.broken), (2, None));
    }
}
