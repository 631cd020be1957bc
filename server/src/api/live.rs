//! The live feed's switchboard: one task reads the committed events once
//! and hands each to the WebSocket sessions it concerns — the sessions of
//! the agent it names, of the agents who were offered its call, of a
//! queue's agents for a call-back task any of them may take, and of those
//! who see everything (supervisors, admins, the operator token). An
//! event costs work in proportion to the sessions it reaches, not to every
//! session open: with two thousand agents logged in, each call's facts
//! reach a handful of sockets.
//!
//! The call core also hands it each offer to an agent the moment the phone
//! starts ringing, before the writer has made the fact durable (a notice,
//! `seq` 0): the ringing agent's sessions pop the caller's card from it at
//! once instead of after the group commit, and the committed event follows
//! as usual.
//!
//! A session that cannot keep up (its queue full) is let go: its channel
//! closes, and the session catches up from the store and joins again, so
//! nothing is lost. The same happens to everyone should the switchboard
//! itself fall behind the writer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use crate::store::events::EventRecord;

/// Events queued per session before it is let go.
const SESSION_QUEUE: usize = 4_096;

/// Each queue's agents and seniors, by queue name.
pub type QueueMembers = Arc<HashMap<String, Vec<String>>>;

/// What a session wants to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interest {
    /// Every event.
    Everything,
    /// Events naming this agent, and the events of calls they were offered.
    Agent(String),
}

enum Command {
    Join {
        id: u64,
        interest: Interest,
        calls: Vec<String>,
        tx: mpsc::Sender<Arc<EventRecord>>,
    },
    Leave {
        id: u64,
    },
    Notice(Arc<EventRecord>),
}

/// A handle on the switchboard (cheap to clone).
#[derive(Clone, Debug)]
pub struct Hub {
    tx: mpsc::UnboundedSender<Command>,
    ids: Arc<AtomicU64>,
}

/// One session's place on the switchboard; leaves when dropped.
pub struct Membership {
    id: u64,
    hub: Hub,
    /// The events routed to this session, in commit order.
    pub rx: mpsc::Receiver<Arc<EventRecord>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let _ = self.hub.tx.send(Command::Leave { id: self.id });
    }
}

impl Hub {
    /// Starts the switchboard on the writer's live feed.
    pub fn spawn(live: &broadcast::Sender<Arc<EventRecord>>, queues: QueueMembers) -> Hub {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(live.subscribe(), rx, queues));
        Hub {
            tx,
            ids: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Joins with an interest and the calls it already follows. Events
    /// committed from now on that concern it arrive on the membership's
    /// `rx`; the caller fills in what came before from the store.
    /// An offer not yet durable (`seq` 0), for the offered agent's sessions
    /// only. Dropped for a session that is behind: the committed event
    /// still comes.
    pub fn notice(&self, e: Arc<EventRecord>) {
        let _ = self.tx.send(Command::Notice(e));
    }

    pub fn join(&self, interest: Interest, calls: Vec<String>) -> Membership {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Command::Join {
            id,
            interest,
            calls,
            tx,
        });
        Membership {
            id,
            hub: self.clone(),
            rx,
        }
    }
}

#[derive(Default)]
struct Board {
    queues: QueueMembers,
    everything: HashMap<u64, mpsc::Sender<Arc<EventRecord>>>,
    agents: HashMap<String, HashMap<u64, mpsc::Sender<Arc<EventRecord>>>>,
    /// Session id → its agent (to leave).
    agent_of: HashMap<u64, String>,
    /// Call → the agents offered it.
    calls: HashMap<String, HashSet<String>>,
}

async fn run(
    mut live: broadcast::Receiver<Arc<EventRecord>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    queues: QueueMembers,
) {
    let mut board = Board {
        queues,
        ..Board::default()
    };
    loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(cmd) => board.apply(cmd),
                None => return,
            },
            ev = live.recv() => match ev {
                Ok(e) => board.dispatch(&e),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "live feed fell behind; every session catches up from the store");
                    board.everything.clear();
                    board.agents.clear();
                    board.agent_of.clear();
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

impl Board {
    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                id,
                interest,
                calls,
                tx,
            } => match interest {
                Interest::Everything => {
                    self.everything.insert(id, tx);
                }
                Interest::Agent(ext) => {
                    for call in calls {
                        self.calls.entry(call).or_default().insert(ext.clone());
                    }
                    self.agents.entry(ext.clone()).or_default().insert(id, tx);
                    self.agent_of.insert(id, ext);
                }
            },
            Command::Leave { id } => self.remove(id),
            Command::Notice(e) => {
                let sessions = e.agent.as_ref().and_then(|a| self.agents.get(a));
                for tx in sessions.into_iter().flat_map(|s| s.values()) {
                    let _ = tx.try_send(Arc::clone(&e));
                }
            }
        }
    }

    fn remove(&mut self, id: u64) {
        self.everything.remove(&id);
        if let Some(ext) = self.agent_of.remove(&id)
            && let Some(sessions) = self.agents.get_mut(&ext)
        {
            sessions.remove(&id);
            if sessions.is_empty() {
                self.agents.remove(&ext);
            }
        }
    }

    fn dispatch(&mut self, e: &Arc<EventRecord>) {
        if e.kind == "agent_offered"
            && let (Some(agent), Some(call)) = (&e.agent, &e.call_id)
        {
            self.calls
                .entry(call.clone())
                .or_default()
                .insert(agent.clone());
        }
        let mut to: Vec<(u64, mpsc::Sender<Arc<EventRecord>>)> = self
            .everything
            .iter()
            .map(|(id, tx)| (*id, tx.clone()))
            .collect();
        let mut agents: Vec<&String> = e.agent.iter().collect();
        let queues = Arc::clone(&self.queues);
        if e.kind.starts_with("callback_") {
            // A task is its owner's (named as the agent) or, when no one
            // agent owns it, every agent's of its queue — not the business
            // of all who were once offered the call it came from.
            if e.agent.is_none() && e.data["task"]["owner"]["kind"] == "queue" {
                let queue = e.data["task"]["queue"].as_str().unwrap_or_default();
                agents.extend(queues.get(queue).into_iter().flatten());
            }
        } else if let Some(offered) = e.call_id.as_ref().and_then(|c| self.calls.get(c)) {
            agents.extend(offered.iter().filter(|a| Some(*a) != e.agent.as_ref()));
        }
        for agent in agents {
            if let Some(sessions) = self.agents.get(agent) {
                to.extend(sessions.iter().map(|(id, tx)| (*id, tx.clone())));
            }
        }
        let mut gone = Vec::new();
        for (id, tx) in to {
            if tx.try_send(Arc::clone(e)).is_err() {
                // Full or closed: let it go; it catches up from the store.
                gone.push(id);
            }
        }
        for id in gone {
            self.remove(id);
        }
        if e.kind == "ended"
            && let Some(call) = &e.call_id
        {
            self.calls.remove(call);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(seq: i64, kind: &str, call: Option<&str>, agent: Option<&str>) -> Arc<EventRecord> {
        Arc::new(EventRecord {
            seq,
            at: 0,
            kind: kind.into(),
            call_id: call.map(Into::into),
            agent: agent.map(Into::into),
            data: json!({}),
            hash: Some(String::new()),
        })
    }

    async fn drain(m: &mut Membership) -> Vec<i64> {
        let mut out = Vec::new();
        while let Ok(Some(e)) =
            tokio::time::timeout(std::time::Duration::from_millis(50), m.rx.recv()).await
        {
            out.push(e.seq);
        }
        out
    }

    #[tokio::test]
    async fn each_event_reaches_only_the_sessions_it_concerns() {
        let (live, _) = broadcast::channel(64);
        let hub = Hub::spawn(&live, Default::default());
        let mut anna = hub.join(Interest::Agent("1001".into()), vec![]);
        let mut anna_desk = hub.join(Interest::Agent("1001".into()), vec![]);
        let mut boris = hub.join(Interest::Agent("1002".into()), vec!["call-9".into()]);
        let mut supervisor = hub.join(Interest::Everything, vec![]);
        tokio::task::yield_now().await;
        for e in [
            ev(1, "call_arrived", Some("call-1"), None),
            ev(2, "agent_offered", Some("call-1"), Some("1001")),
            ev(3, "answered", Some("call-1"), Some("1001")),
            ev(4, "media_stats", Some("call-1"), None),
            ev(5, "agent_state_changed", None, Some("1002")),
            ev(6, "hold_started", Some("call-9"), None),
            ev(7, "ended", Some("call-1"), None),
            ev(8, "media_stats", Some("call-1"), None),
        ] {
            live.send(e).unwrap();
        }
        assert_eq!(
            drain(&mut anna).await,
            [2, 3, 4, 7],
            "her call from the offer to its end"
        );
        assert_eq!(
            drain(&mut anna_desk).await,
            [2, 3, 4, 7],
            "every session of hers"
        );
        assert_eq!(
            drain(&mut boris).await,
            [5, 6],
            "his state and the call he already had"
        );
        assert_eq!(drain(&mut supervisor).await, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn a_session_that_falls_behind_is_let_go_and_others_go_on() {
        let (live, _) = broadcast::channel(SESSION_QUEUE * 2);
        let hub = Hub::spawn(&live, Default::default());
        let mut slow = hub.join(Interest::Everything, vec![]);
        let mut other = hub.join(Interest::Agent("1001".into()), vec![]);
        tokio::task::yield_now().await;
        for seq in 1..=(SESSION_QUEUE as i64 + 10) {
            live.send(ev(seq, "agent_state_changed", None, None))
                .unwrap();
        }
        live.send(ev(9_999, "agent_state_changed", None, Some("1001")))
            .unwrap();
        // Nobody reads while the switchboard works through the feed.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // The slow one gets what fitted, then its channel closes.
        let mut got = 0;
        let read_all = async {
            while slow.rx.recv().await.is_some() {
                got += 1;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read_all)
            .await
            .expect("the slow session's channel closes");
        assert_eq!(got, SESSION_QUEUE);
        assert_eq!(drain(&mut other).await, [9_999]);
    }
}
