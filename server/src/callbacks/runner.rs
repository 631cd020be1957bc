//! The call-back scheduler's task: it reads the writer's committed facts,
//! wakes at the tasks' deadlines, takes attempts from the API, and writes
//! every change through the event writer (waiting for the commit before it
//! answers the API). At start it takes back the stored tasks and reads the
//! facts of the last day again, so a drop committed just before a crash
//! still gets its task (opening is idempotent: one task per call).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{AttemptError, Outcome, Policy, Scheduler, Task};
use crate::runtime::EventSink;
use crate::store::events::EventRecord;
use crate::store::{Store, now_ms};

/// How far back facts are read again at start.
const REPLAY: i64 = 24 * 3_600_000;

enum Command {
    Attempt {
        id: String,
        agent: String,
        outcome: Outcome,
        reply: oneshot::Sender<Result<Task, CallbackError>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// Why the API's request could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Refused by the scheduler.
    #[error(transparent)]
    Attempt(#[from] AttemptError),
    /// The scheduler or the writer is not running.
    #[error("call-back tasks are not available: {0}")]
    Unavailable(String),
}

/// A handle on the scheduler's task (cheap to clone).
#[derive(Clone, Debug)]
pub struct Callbacks {
    tx: mpsc::Sender<Command>,
}

impl Callbacks {
    /// Starts the scheduler on the writer's live feed.
    pub fn spawn(
        store: Store,
        live: &broadcast::Sender<Arc<EventRecord>>,
        sink: EventSink,
        policy: Policy,
        phones: crate::patients::PhoneNormalizer,
    ) -> Callbacks {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(run(store, live.subscribe(), sink, policy, phones, rx));
        Callbacks { tx }
    }

    /// Stops the scheduler (its tasks stay stored).
    pub async fn stop(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Stop { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// A handle whose scheduler is not running (tests of other parts).
    pub fn detached() -> Callbacks {
        let (tx, _) = mpsc::channel(1);
        Callbacks { tx }
    }

    /// Records an attempt; answers once it is committed.
    pub async fn attempt(
        &self,
        id: &str,
        agent: &str,
        outcome: Outcome,
    ) -> Result<Task, CallbackError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Attempt {
                id: id.to_string(),
                agent: agent.to_string(),
                outcome,
                reply,
            })
            .await
            .map_err(|_| CallbackError::Unavailable("the scheduler has stopped".into()))?;
        answer
            .await
            .map_err(|_| CallbackError::Unavailable("the scheduler has stopped".into()))?
    }
}

/// A scheduler rebuilt from the store; the `seq` it has read up to.
async fn rebuild(
    store: &Store,
    policy: &Policy,
    phones: &crate::patients::PhoneNormalizer,
) -> Result<(Scheduler, i64), crate::store::StoreError> {
    let now = now_ms();
    let phones = phones.clone();
    let mut s =
        Scheduler::new(policy.clone()).with_numbers(Box::new(move |n: &str| phones.caller(n)));
    for task in store.callbacks_for_restore(now - 2 * REPLAY).await? {
        s.restore(now, task);
    }
    let upto = store.last_event_seq().await?;
    for e in store.indicator_events(now - REPLAY, i64::MAX, upto).await? {
        s.handle_fact(&e);
    }
    // Attempts made by calls the server placed ("call back now").
    for e in store
        .events_of_kind_since("dialout_ended", now - REPLAY, upto)
        .await?
    {
        s.handle_fact(&e);
    }
    Ok((s, upto))
}

/// Writes what the scheduler has to say; waits for the last to commit.
async fn flush(s: &mut Scheduler, sink: &EventSink) -> Result<(), crate::runtime::WriterGone> {
    let mut last = None;
    while let Some(e) = s.poll_event() {
        if let Some(prev) = last.replace(e.record()) {
            sink.send(prev)?;
        }
    }
    if let Some(record) = last {
        sink.commit(record).await?;
    }
    Ok(())
}

async fn run(
    store: Store,
    mut feed: broadcast::Receiver<Arc<EventRecord>>,
    sink: EventSink,
    policy: Policy,
    phones: crate::patients::PhoneNormalizer,
    mut commands: mpsc::Receiver<Command>,
) {
    'rebuild: loop {
        let (mut s, mut upto) = match rebuild(&store, &policy, &phones).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "call-backs: reading the store failed; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        loop {
            s.handle_timeout(now_ms());
            if flush(&mut s, &sink).await.is_err() {
                return;
            }
            let wait = s.poll_timeout().map_or(Duration::from_secs(3600), |at| {
                Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64)
            });
            tokio::select! {
                ev = feed.recv() => match ev {
                    Ok(e) if e.seq <= upto => {}
                    Ok(e) => {
                        upto = e.seq;
                        s.handle_fact(&e);
                    }
                    Err(RecvError::Lagged(_)) => {
                        match crate::indicators::live::catch_up(&store, upto, |e| s.handle_fact(e)).await {
                            Ok(seq) => upto = seq,
                            Err(_) => continue 'rebuild,
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                cmd = commands.recv() => match cmd {
                    Some(Command::Attempt { id, agent, outcome, reply }) => {
                        let now = now_ms();
                        s.handle_timeout(now);
                        let result = s.record_attempt(now, &id, &agent, outcome);
                        let written = flush(&mut s, &sink).await;
                        let answer = match (result, written) {
                            (Ok(task), Ok(())) => Ok(task),
                            (Err(e), _) => Err(e.into()),
                            (Ok(_), Err(e)) => Err(CallbackError::Unavailable(e.to_string())),
                        };
                        let _ = reply.send(answer);
                    }
                    Some(Command::Stop { reply }) => {
                        let _ = reply.send(());
                        return;
                    }
                    None => return,
                },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
