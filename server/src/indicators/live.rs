//! The live dashboard: one task folds the writer's committed events into a
//! [`Ledger`] and publishes a snapshot (today's and the last hour's
//! indicators, calls waiting, per-queue tiles, the agent board) whenever
//! something changed, at most once a second while someone watches, and
//! every few seconds anyway so that clock-driven figures (the last hour,
//! the longest wait) move.
//! Supervisors' WebSockets and `GET /api/indicators/live` read the latest.
//!
//! At start, and whenever the task falls behind the writer's feed, the
//! ledger is rebuilt from the store, so what it shows is what the history
//! for the same interval shows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::{Filter, Ledger, Step};
use crate::config::DashboardConfig;
use crate::store::events::EventRecord;
use crate::store::{Store, now_ms};

/// How often a snapshot may go out.
const TICK: Duration = Duration::from_secs(1);
/// Ticks between snapshots when nothing was written.
const IDLE_TICKS: u32 = 5;
/// How often the list of staff is read again (ms).
const STAFF_EVERY: i64 = 60_000;
/// The last-hour window.
const HOUR: i64 = 3_600_000;

/// What the snapshot needs besides the ledger.
#[derive(Debug, Clone, Default)]
pub struct Board {
    /// The clinic's local time, ahead of UTC (ms): "today" starts at its midnight.
    pub utc_offset_ms: i64,
    /// Queues to show even before their first call.
    pub queues: Vec<String>,
    /// Staff who take calls: extension → (name, role).
    pub staff: BTreeMap<String, (String, String)>,
    /// Tile colours (`[dashboard]`), passed to the page as they are.
    pub thresholds: Value,
    /// Call-back tasks: open and overdue now, closed today.
    pub callbacks: crate::store::callbacks::CallbackCounts,
}

/// The latest snapshot (cheap to clone).
#[derive(Clone, Debug)]
pub struct Dashboard {
    rx: watch::Receiver<Arc<Value>>,
    utc_offset_ms: i64,
    /// Screens following the snapshots now.
    watchers: Arc<AtomicUsize>,
}

/// One screen following the snapshots (counted while it lives).
pub struct Watch {
    rx: watch::Receiver<Arc<Value>>,
    watchers: Arc<AtomicUsize>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::ops::Deref for Watch {
    type Target = watch::Receiver<Arc<Value>>;
    fn deref(&self) -> &Self::Target {
        &self.rx
    }
}

impl std::ops::DerefMut for Watch {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rx
    }
}

impl Dashboard {
    /// Starts the task on the writer's live feed.
    pub fn spawn(
        store: Store,
        live: &broadcast::Sender<Arc<EventRecord>>,
        config: &DashboardConfig,
        queues: Vec<String>,
    ) -> Dashboard {
        let board = Board {
            utc_offset_ms: config.utc_offset_ms(),
            queues,
            staff: BTreeMap::new(),
            thresholds: config.thresholds_json(),
            callbacks: Default::default(),
        };
        let first = snapshot(&Ledger::new(), &board, now_ms(), 0);
        let (tx, rx) = watch::channel(Arc::new(first));
        let utc_offset_ms = board.utc_offset_ms;
        let watchers = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(store, live.subscribe(), board, tx, watchers.clone()));
        Dashboard {
            rx,
            utc_offset_ms,
            watchers,
        }
    }

    /// A dashboard that never changes (for tests that do not watch it).
    pub fn fixed(v: Value) -> Dashboard {
        let (_, rx) = watch::channel(Arc::new(v));
        Dashboard {
            rx,
            utc_offset_ms: 0,
            watchers: Arc::default(),
        }
    }

    /// The clinic's offset from UTC (ms).
    pub fn utc_offset_ms(&self) -> i64 {
        self.utc_offset_ms
    }

    /// The latest snapshot.
    pub fn current(&self) -> Arc<Value> {
        self.rx.borrow().clone()
    }

    /// Follows the snapshots as they change (a screen: while one follows,
    /// snapshots come every second).
    pub fn subscribe(&self) -> Watch {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watch {
            rx: self.rx.clone(),
            watchers: self.watchers.clone(),
        }
    }
}

/// Where a fresh ledger starts: early enough for the last hour, and for
/// today's calls still going since before midnight.
fn load_from(now: i64, utc_offset_ms: i64) -> i64 {
    Step::Day.floor(now, utc_offset_ms).min(now - HOUR) - 12 * HOUR
}

/// A ledger of the store's events from [`load_from`]; the `seq` it is up to.
async fn rebuild(
    store: &Store,
    board: &mut Board,
) -> Result<(Ledger, i64), crate::store::StoreError> {
    let now = now_ms();
    let upto = store.last_event_seq().await?;
    let mut ledger = Ledger::new();
    for (ext, state, since) in store.agent_states_since().await? {
        ledger.seed_agent(&ext, &state, since);
    }
    for e in store
        .indicator_events(load_from(now, board.utc_offset_ms), i64::MAX, upto)
        .await?
    {
        ledger.apply(&e);
    }
    board.staff = store.call_takers().await?;
    Ok((ledger, upto))
}

/// Reads the store's events after `upto` in pages, handing each to `f`;
/// the `seq` it got to.
pub(crate) async fn catch_up(
    store: &Store,
    mut upto: i64,
    mut f: impl FnMut(&EventRecord),
) -> Result<i64, crate::store::StoreError> {
    loop {
        let page = store.events_after(upto, 1_000).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            return Ok(upto);
        };
        for e in &page {
            f(e);
        }
        upto = last;
    }
}

async fn run(
    store: Store,
    mut feed: broadcast::Receiver<Arc<EventRecord>>,
    mut board: Board,
    tx: watch::Sender<Arc<Value>>,
    watchers: Arc<AtomicUsize>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'rebuild: loop {
        let (mut ledger, mut upto) = match rebuild(&store, &mut board).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: reading the event log failed; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let mut dirty = true;
        let mut idle = 0;
        let mut day = Step::Day.floor(now_ms(), board.utc_offset_ms);
        let mut staff_read = now_ms();
        loop {
            tokio::select! {
                ev = feed.recv() => match ev {
                    Ok(e) if e.seq <= upto => {}
                    Ok(e) => {
                        upto = e.seq;
                        ledger.apply(&e);
                        dirty = true;
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Read what was missed from the store, from where
                        // the ledger is; the feed's copies are passed over.
                        tracing::debug!("dashboard fell behind the event feed; catching up");
                        match catch_up(&store, upto, |e| ledger.apply(e)).await {
                            Ok(seq) => {
                                upto = seq;
                                dirty = true;
                            }
                            Err(_) => continue 'rebuild,
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    idle += 1;
                    // Every second while a supervisor's screen follows; with
                    // nobody watching, every few seconds is enough for
                    // `GET /api/indicators/live`, and the call core's two
                    // cores are spared a snapshot of every agent a second.
                    let watched = watchers.load(Ordering::Relaxed) > 0;
                    if idle < IDLE_TICKS && (!dirty || !watched) {
                        continue;
                    }
                    let now = now_ms();
                    let today = Step::Day.floor(now, board.utc_offset_ms);
                    if today != day {
                        day = today;
                        ledger.forget_before(load_from(now, board.utc_offset_ms));
                    }
                    // Staff added since (by the API or the command line)
                    // show on the board within a minute (at once while
                    // there is nobody yet).
                    if board.staff.is_empty() || now - staff_read >= STAFF_EVERY {
                        staff_read = now;
                        if let Ok(staff) = store.call_takers().await {
                            board.staff = staff;
                        }
                    }
                    match store.callback_counts(today).await {
                        Ok(c) => board.callbacks = c,
                        Err(e) => tracing::debug!(error = %e, "dashboard: call-back counts"),
                    }
                    let snap = snapshot(&ledger, &board, now, upto);
                    if tx.send(Arc::new(snap)).is_err() {
                        return;
                    }
                    dirty = false;
                    idle = 0;
                }
            }
        }
    }
}

/// The dashboard's figures at `now`, as sent to the page.
pub fn snapshot(ledger: &Ledger, board: &Board, now: i64, seq: i64) -> Value {
    let day = Step::Day.floor(now, board.utc_offset_ms);
    let hour = now - HOUR;
    let end = now + 1;
    let waiting = ledger.waiting();
    let longest = |queue: Option<&str>| {
        waiting
            .iter()
            .find(|(_, q, _)| queue.is_none_or(|name| name == *q))
            .map(|&(_, _, at)| now - at)
    };
    let mut names = board.queues.clone();
    names.extend(ledger.queues());
    names.sort_unstable();
    names.dedup();
    let queues: Vec<Value> = names
        .iter()
        .map(|q| {
            let f = Filter {
                queue: Some(q.clone()),
                agent: None,
            };
            json!({
                "name": q,
                "waiting": waiting.iter().filter(|(_, name, _)| name == q).count(),
                "longest_wait_ms": longest(Some(q)),
                "today": ledger.tally(day, end, &f).to_json(),
                "last_hour": ledger.tally(hour, end, &f).to_json(),
            })
        })
        .collect();
    let today_by_agent: BTreeMap<String, Value> = ledger
        .per_agent(day, end, None)
        .into_iter()
        .map(|a| (a.agent, a.tally.to_json()))
        .collect();
    let mut extensions: Vec<&String> = board.staff.keys().collect();
    extensions.extend(ledger.agents().keys());
    extensions.sort_unstable();
    extensions.dedup();
    let agents: Vec<Value> = extensions
        .into_iter()
        .map(|ext| {
            let now_doing = ledger.agents().get(ext);
            let (name, role) = board
                .staff
                .get(ext)
                .map_or((None, None), |(n, r)| (Some(n.as_str()), Some(r.as_str())));
            let call = now_doing
                .and_then(|a| a.call.as_deref())
                .and_then(|id| ledger.call(id).map(|c| (id, c)));
            let hold = call.and_then(|(_, c)| c.on_hold);
            json!({
                "extension": ext,
                "name": name,
                "role": role,
                "state": now_doing.map_or("offline", |a| a.state.as_str()),
                "since": now_doing.map(|a| a.since).filter(|&s| s > 0),
                "call_id": call.map(|(id, _)| id),
                "call_answered_at": call.and_then(|(_, c)| c.answered.as_ref().map(|a| a.at)),
                "on_hold_since": hold.map(|(since, _)| since),
                "hold_over_reminder": hold.is_some_and(|(_, over)| over),
                "today": today_by_agent.get(ext.as_str()).cloned()
                    .unwrap_or_else(|| super::Tally::default().to_json()),
            })
        })
        .collect();
    json!({
        "type": "indicators",
        "at": now,
        "seq": seq,
        "day_start": day,
        "utc_offset_ms": board.utc_offset_ms,
        "waiting": waiting.len(),
        "longest_wait_ms": longest(None),
        "today": ledger.tally(day, end, &Filter::default()).to_json(),
        "last_hour": ledger.tally(hour, end, &Filter::default()).to_json(),
        "queues": queues,
        "agents": agents,
        "callbacks": {
            "open": board.callbacks.open,
            "overdue": board.callbacks.overdue,
            "done_today": board.callbacks.done,
            "failed_today": board.callbacks.failed,
        },
        "thresholds": board.thresholds,
    })
}
