//! The event writer: call facts from the core task, written in batches
//! (group commit), each given its `seq`, then — only once committed —
//! broadcast to live subscribers (the API's WebSocket, the indicators).

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::events::EventRecord;

/// Most events written in one transaction.
const MAX_BATCH: usize = 2_000;

/// A fact to write: everything but its `seq`.
pub type Pending = EventRecord;

/// Starts the writer (the store gives each fact its `seq` and its link in
/// the audit chain). It ends once every sender is dropped and what was
/// queued is written.
pub fn spawn(
    store: Store,
    metrics: Arc<crate::metrics::Metrics>,
) -> (
    mpsc::UnboundedSender<Pending>,
    broadcast::Sender<Arc<EventRecord>>,
    JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
    let (live, _) = broadcast::channel::<Arc<EventRecord>>(4_096);
    let out = live.clone();
    let task = tokio::spawn(async move {
        let mut batch: Vec<EventRecord> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            // A fact counts once it is durable: retry a failed commit rather
            // than drop it, and tell nobody about it until then.
            let mut delay = std::time::Duration::from_millis(50);
            while let Err(e) = store.append_events(&mut batch).await {
                tracing::error!(error = %e, events = batch.len(), "could not write events; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            metrics
                .events_written
                .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            for e in batch.drain(..) {
                let _ = out.send(Arc::new(e));
            }
        }
    });
    (tx, live, task)
}
