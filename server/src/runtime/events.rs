//! The event writer: every fact of the server — the call core's, and the
//! API's (logins, card views, notes) — goes through this one task, written
//! in batches (group commit), each given its `seq` and its link in the
//! audit chain, then — only once committed — broadcast to live subscribers
//! (the WebSocket, the indicators). One writer means no two transactions
//! ever wait for SQLite's write lock.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::events::EventRecord;

/// Events after which the writer stops taking more into a transaction (a
/// turn's facts, sent together, go in whole, so one may run a little over).
const MAX_BATCH: usize = 2_000;

/// Under load, a commit starts at least this long after the one before it
/// ended: facts arriving meanwhile join it. Each commit rewrites the table's and
/// indexes' last pages and syncs the log, so fewer, larger commits cost
/// less per fact. An idle writer commits a fact at once (its last commit
/// is long past); a busy one holds facts back by at most this.
pub(crate) const COMMIT_PACE: Duration = Duration::from_millis(5);

/// A fact to write (its `seq` and `hash` are given on writing), and whom
/// to tell its `seq` once it is committed.
pub struct Pending {
    record: EventRecord,
    ack: Option<oneshot::Sender<i64>>,
}

/// What goes down the writer's channel.
enum Message {
    One(Pending),
    /// Facts queued together (the call core's turn): one message, one
    /// wake-up of the writer, however many facts.
    Many(Vec<EventRecord>),
}

/// Where facts are sent to be written (cheap to clone).
#[derive(Clone, Debug)]
pub struct EventSink(mpsc::UnboundedSender<Message>);

/// The writer has stopped (the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the event writer has stopped")]
pub struct WriterGone;

impl EventSink {
    /// Queues a fact; it is written with the next batch.
    pub fn send(&self, record: EventRecord) -> Result<(), WriterGone> {
        self.0
            .send(Message::One(Pending { record, ack: None }))
            .map_err(|_| WriterGone)
    }

    /// Queues facts, in order; they are written with the next batch.
    pub fn send_all(&self, records: Vec<EventRecord>) -> Result<(), WriterGone> {
        if records.is_empty() {
            return Ok(());
        }
        self.0.send(Message::Many(records)).map_err(|_| WriterGone)
    }

    /// Queues a fact and waits until it is committed; returns its `seq`.
    pub async fn commit(&self, record: EventRecord) -> Result<i64, WriterGone> {
        let (ack, done) = oneshot::channel();
        self.0
            .send(Message::One(Pending {
                record,
                ack: Some(ack),
            }))
            .map_err(|_| WriterGone)?;
        done.await.map_err(|_| WriterGone)
    }
}

/// Starts the writer. It ends once every sink is dropped and what was
/// queued is written.
pub fn spawn(
    store: Store,
    metrics: Arc<crate::metrics::Metrics>,
) -> (
    EventSink,
    broadcast::Sender<Arc<EventRecord>>,
    JoinHandle<()>,
) {
    spawn_paced(store, metrics, COMMIT_PACE)
}

/// [`spawn`] with commits at least `pace` apart under load.
pub(crate) fn spawn_paced(
    store: Store,
    metrics: Arc<crate::metrics::Metrics>,
    pace: Duration,
) -> (
    EventSink,
    broadcast::Sender<Arc<EventRecord>>,
    JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let (live, _) = broadcast::channel::<Arc<EventRecord>>(4_096);
    let out = live.clone();
    let task = tokio::spawn(async move {
        let mut records: Vec<EventRecord> = Vec::with_capacity(MAX_BATCH);
        let mut acks: Vec<(usize, oneshot::Sender<i64>)> = Vec::new();
        let mut last_commit: Option<tokio::time::Instant> = None;
        // The writer's own connection (see `Store::append_events_on`).
        let mut conn: Option<sqlx::pool::PoolConnection<sqlx::Sqlite>> = None;
        while let Some(first) = rx.recv().await {
            if let Some(due) = last_commit.map(|t| t + pace)
                && tokio::time::Instant::now() < due
            {
                tokio::time::sleep_until(due).await;
            }
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::One(p) => {
                        if let Some(ack) = p.ack {
                            acks.push((records.len(), ack));
                        }
                        records.push(p.record);
                    }
                    Message::Many(mut many) => records.append(&mut many),
                }
                if records.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // A fact counts once it is durable: retry a failed commit rather
            // than drop it, and tell nobody about it until then.
            let mut delay = std::time::Duration::from_millis(50);
            loop {
                let written = match &mut conn {
                    Some(c) => Store::append_events_on(&mut *c, &mut records).await,
                    None => match store.pool().acquire().await {
                        Ok(c) => Store::append_events_on(&mut *conn.insert(c), &mut records).await,
                        Err(e) => Err(e.into()),
                    },
                };
                let Err(e) = written else { break };
                if let crate::store::StoreError::Db(sqlx::Error::PoolClosed) = e {
                    // The database is closed: nothing can be written again.
                    // Those waiting for a commit hear that the writer is gone.
                    tracing::error!(
                        events = records.len(),
                        "database closed; events not written"
                    );
                    return;
                }
                tracing::error!(error = %e, events = records.len(), "could not write events; retrying");
                // On a fresh connection, in case this one is broken.
                conn = None;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            last_commit = Some(tokio::time::Instant::now());
            // Kept only while facts keep coming: an idle writer holds no
            // connection (the pool can close).
            if rx.is_empty() {
                conn = None;
            }
            metrics
                .events_written
                .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
            metrics
                .event_commits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for (i, ack) in acks.drain(..) {
                let _ = ack.send(records[i].seq);
            }
            for e in records.drain(..) {
                let _ = out.send(Arc::new(e));
            }
        }
    });
    (EventSink(tx), live, task)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fact(kind: &str, agent: Option<&str>, data: serde_json::Value) -> EventRecord {
        EventRecord {
            seq: 0,
            at: 5_000,
            kind: kind.into(),
            call_id: Some("call-00000007".into()),
            agent: agent.map(str::to_string),
            data,
            hash: None,
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn facts_arriving_while_a_busy_writer_waits_join_one_commit(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let metrics = Arc::new(crate::metrics::Metrics::default());
        // A pace long enough that nothing below outlasts it on a busy machine.
        let (sink, live, _) = spawn_paced(store.clone(), metrics.clone(), Duration::from_secs(1));
        let mut feed = live.subscribe();
        let commits = || {
            metrics
                .event_commits
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        // An idle writer commits at once.
        assert_eq!(sink.commit(fact("note", None, json!({}))).await.unwrap(), 1);
        assert_eq!(commits(), 1);
        // Right after a commit: the next fact waits for the pace, and one
        // sent after the writer has taken it (the yield lets the writer
        // run) joins the same commit.
        sink.send(fact("note", None, json!({ "n": 2 }))).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(commits(), 1);
        let seq = sink
            .commit(fact("note", None, json!({ "n": 3 })))
            .await
            .unwrap();
        assert_eq!((seq, commits()), (3, 2));
        let seqs: Vec<i64> = [
            feed.recv().await.unwrap(),
            feed.recv().await.unwrap(),
            feed.recv().await.unwrap(),
        ]
        .iter()
        .map(|e| e.seq)
        .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(
            metrics
                .events_written
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_turns_facts_sent_together_are_written_and_broadcast_in_order(
        pool: sqlx::SqlitePool,
    ) {
        let store = Store::from_pool(pool);
        let (sink, live, _) = spawn(store.clone(), Arc::new(crate::metrics::Metrics::default()));
        let mut feed = live.subscribe();
        // A whole call in one message: every table the writer folds into
        // (events, calls, agent_states) in one multi-statement write.
        let turn = vec![
            fact(
                "call_arrived",
                None,
                json!({ "queue": "reception", "caller": "+79210000000" }),
            ),
            fact(
                "agent_state_changed",
                Some("1001"),
                json!({ "to": "ringing" }),
            ),
            fact("answered", Some("1001"), json!({ "within_deadline": true })),
            fact(
                "agent_state_changed",
                Some("1001"),
                json!({ "to": "on_call" }),
            ),
            fact("ended", Some("1001"), json!({ "reason": "completed" })),
        ];
        sink.send_all(turn).unwrap();
        // A fact sent after them commits after them.
        let seq = sink
            .commit(fact("note", Some("1001"), json!({})))
            .await
            .unwrap();
        assert_eq!(seq, 6);
        let mut kinds = Vec::new();
        for expected in 1..=6 {
            let e = feed.recv().await.unwrap();
            assert_eq!(e.seq, expected);
            kinds.push(e.kind.clone());
        }
        assert_eq!(
            kinds,
            [
                "call_arrived",
                "agent_state_changed",
                "answered",
                "agent_state_changed",
                "ended",
                "note"
            ]
        );
        let call = store.call("call-00000007").await.unwrap().unwrap();
        assert_eq!(call.caller, "+79210000000");
        assert_eq!(call.answered_by.as_deref(), Some("1001"));
        assert_eq!(call.within_deadline, Some(true));
        assert_eq!(call.end_reason.as_deref(), Some("completed"));
        assert_eq!(
            store.agent_states().await.unwrap(),
            [("1001".to_string(), "on_call".to_string())]
        );
        let report = store.verify_chain().await.unwrap();
        assert_eq!((report.verified, report.broken.is_none()), (6, true));
    }
}
