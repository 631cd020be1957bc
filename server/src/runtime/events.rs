//! The event writer: every fact of the server — the call core's, and the
//! API's (logins, card views, notes) — goes through this one task, written
//! in batches (group commit), each given its `seq` and its link in the
//! audit chain, then — only once committed — broadcast to live subscribers
//! (the WebSocket, the indicators). One writer means no two transactions
//! ever wait for SQLite's write lock.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::events::EventRecord;

/// Most events written in one transaction.
const MAX_BATCH: usize = 2_000;

/// A fact to write (its `seq` and `hash` are given on writing), and whom
/// to tell its `seq` once it is committed.
pub struct Pending {
    record: EventRecord,
    ack: Option<oneshot::Sender<i64>>,
}

/// Where facts are sent to be written (cheap to clone).
#[derive(Clone, Debug)]
pub struct EventSink(mpsc::UnboundedSender<Pending>);

/// The writer has stopped (the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the event writer has stopped")]
pub struct WriterGone;

impl EventSink {
    /// Queues a fact; it is written with the next batch.
    pub fn send(&self, record: EventRecord) -> Result<(), WriterGone> {
        self.0
            .send(Pending { record, ack: None })
            .map_err(|_| WriterGone)
    }

    /// Queues a fact and waits until it is committed; returns its `seq`.
    pub async fn commit(&self, record: EventRecord) -> Result<i64, WriterGone> {
        let (ack, done) = oneshot::channel();
        self.0
            .send(Pending {
                record,
                ack: Some(ack),
            })
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
    let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
    let (live, _) = broadcast::channel::<Arc<EventRecord>>(4_096);
    let out = live.clone();
    let task = tokio::spawn(async move {
        let mut records: Vec<EventRecord> = Vec::with_capacity(MAX_BATCH);
        let mut acks: Vec<(usize, oneshot::Sender<i64>)> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(p) = next.take() {
                if let Some(ack) = p.ack {
                    acks.push((records.len(), ack));
                }
                records.push(p.record);
                if records.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // A fact counts once it is durable: retry a failed commit rather
            // than drop it, and tell nobody about it until then.
            let mut delay = std::time::Duration::from_millis(50);
            while let Err(e) = store.append_events(&mut records).await {
                tracing::error!(error = %e, events = records.len(), "could not write events; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            metrics
                .events_written
                .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
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
