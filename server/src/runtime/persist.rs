//! Store writes and reads that the core task must not wait for: registrar
//! bindings written in batches, and credentials reloaded when users change.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Input, load_credentials};
use crate::store::registrations::{BindingChange, StoredBinding};
use crate::store::{Store, now_ms};

/// Most changes written in one transaction.
const MAX_BATCH: usize = 1_000;
/// How long changes are gathered before they are written.
const COALESCE: Duration = Duration::from_millis(100);

/// Starts the writer; it ends once every sender is dropped and the queue is written.
pub(crate) fn spawn(store: Store) -> (mpsc::UnboundedSender<BindingChange>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<BindingChange>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            // Bindings are not urgent (a phone re-registers anyway): gather a
            // tenth of a second of them into one transaction, so a burst of
            // registrations costs a few writes, not one each.
            let _ = tokio::time::timeout(COALESCE, async {
                while batch.len() < MAX_BATCH {
                    match rx.recv().await {
                        Some(c) => batch.push(c),
                        None => break,
                    }
                }
            })
            .await;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            if let Err(e) = store.apply_binding_changes(&batch, now_ms()).await {
                tracing::error!(error = %e, changes = batch.len(), "could not save registrations");
            }
            batch.clear();
        }
    });
    (tx, task)
}

/// Bindings saved before a restart that have not lapsed.
pub(crate) async fn restore(store: &Store) -> anyhow::Result<Vec<StoredBinding>> {
    Ok(store.active_bindings(now_ms()).await?)
}

/// Reloads credentials whenever the users table changes (`user add` while running).
pub(crate) async fn watch_credentials(
    store: Store,
    realm: String,
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) {
    let mut seen = store.users_version().await.ok();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let stop = super::stopped(shutdown.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return,
        }
        let Ok(version) = store.users_version().await else {
            continue;
        };
        if seen == Some(version) {
            continue;
        }
        match load_credentials(&store, &realm).await {
            Ok(table) => {
                if tx.send(Input::Credentials(table)).await.is_err() {
                    return;
                }
                seen = Some(version);
            }
            Err(e) => tracing::error!(error = %e, "could not reload credentials"),
        }
    }
}
