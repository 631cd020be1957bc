//! Response-time indicators (DESIGN §2.6), folded from the stored events.
//!
//! One fold serves the live dashboard, the history page and the API: the
//! [`Ledger`] is fed committed [`EventRecord`]s in `seq` order (from the
//! writer's live feed, or from the store for a past range) and keeps what
//! each call and agent did. Counting is then a pass over the calls, so the
//! live tiles, the history intervals and the CSV export agree for the same
//! interval by construction.
//!
//! A call counts in the interval in which its INVITE arrived, whatever
//! happened to it later (the usual call-centre convention: "offered in the
//! interval"), and every measure is taken from that arrival:
//!
//! - **service level** (answered within three rings) = answered within the
//!   answer deadline ÷ (answered + abandoned after the deadline); calls the
//!   queue ended unanswered at its maximum wait are counted apart
//!   (`timed_out`), as are unanswered calls whose line failed;
//! - **ASA** = mean wait from arrival to answer, over answered calls;
//! - **abandonment rate** = hung up by the caller before answer ÷ offered
//!   (every call that arrived);
//! - **dropped** = answered calls that ended `dropped`;
//! - **AHT** = talk + hold + wrap-up, over answered calls whose wrap-up is
//!   over;
//! - **holds over the reminder time** = holds that lasted until at least one
//!   `hold_reminder`.
//!
//! The fold is plain data and time passed in (epoch milliseconds): no IO,
//! no clock.

pub mod live;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::store::events::EventRecord;

/// What one call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFacts {
    /// Its queue.
    pub queue: String,
    /// Arrival of its INVITE (epoch ms).
    pub arrived: i64,
    /// Who answered, when, after how long, and whether within the deadline.
    pub answered: Option<Answer>,
    /// The caller hung up before answer: after the deadline or not.
    pub abandoned: Option<bool>,
    /// When it ended and why (`completed`, `dropped`, `abandoned`, `max_wait`).
    pub ended: Option<(i64, String)>,
    /// Each ring offered: the agent rung (an agent rung twice appears twice).
    pub offers: Vec<String>,
    /// Each ring let go unanswered: the agent.
    pub missed: Vec<String>,
    /// Holds so far, and how many lasted past the reminder time.
    pub holds: u32,
    /// Holds that reached a `hold_reminder`.
    pub holds_over_reminder: u32,
    /// Time on hold, over finished holds (ms).
    pub hold_ms: i64,
    /// The hold going on now: since when, and whether a reminder fired.
    pub on_hold: Option<(i64, bool)>,
    /// The answering agent's wrap-up after the call (ms), once it is over.
    pub wrap_ms: Option<i64>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// When.
    pub at: i64,
    /// By whom (extension).
    pub agent: String,
    /// Wait from arrival (ms).
    pub wait_ms: i64,
    /// Within the answer deadline.
    pub within: bool,
}

/// What one agent is doing now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentNow {
    /// `available`, `on_call` … (`offline` until an event says otherwise).
    pub state: String,
    /// Since when (epoch ms), or 0 when unknown.
    pub since: i64,
    /// The call they answered and have not finished (wrap-up included).
    pub call: Option<String>,
    /// When their wrap-up after `call` started.
    wrap_started: Option<i64>,
}

/// The fold of the event log.
#[derive(Debug, Default)]
pub struct Ledger {
    calls: HashMap<String, CallFacts>,
    agents: BTreeMap<String, AgentNow>,
}

/// Which calls to count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this queue's calls.
    pub queue: Option<String>,
    /// Only this agent's part: the rings offered to them, the calls they
    /// answered.
    pub agent: Option<String>,
}

/// Counts over a set of calls; the indicators are ratios of these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls that arrived (with an agent filter: rings offered to the agent).
    pub offered: u64,
    /// Answered.
    pub answered: u64,
    /// Answered within the answer deadline.
    pub answered_within: u64,
    /// Hung up by the caller before answer.
    pub abandoned: u64,
    /// … of which after the answer deadline had passed.
    pub abandoned_after_deadline: u64,
    /// Ended unanswered by the queue's maximum wait.
    pub timed_out: u64,
    /// Left the queue asking to be called back (pressed 1): counted apart
    /// from the abandoned.
    pub callbacks_chosen: u64,
    /// Still waiting (arrived, neither answered nor ended).
    pub waiting: u64,
    /// Answered calls that ended as dropped.
    pub dropped: u64,
    /// Rings an agent let go unanswered.
    pub missed_rings: u64,
    /// Sum of the waits of answered calls (ms).
    pub wait_ms: i64,
    /// Answered calls whose handling (talk, hold, wrap-up) is over.
    pub handled: u64,
    /// Their talk + hold + wrap-up (ms).
    pub handle_ms: i64,
    /// Holds.
    pub holds: u64,
    /// Holds that lasted past the reminder time.
    pub holds_over_reminder: u64,
}

impl Tally {
    /// Answered within three rings ÷ (answered + abandoned after the
    /// deadline), as DESIGN §2.6 defines it; `None` with nothing to count.
    pub fn service_level(&self) -> Option<f64> {
        let base = self.answered + self.abandoned_after_deadline;
        (base > 0).then(|| self.answered_within as f64 / base as f64)
    }

    /// Mean wait to answer (ms).
    pub fn asa_ms(&self) -> Option<i64> {
        (self.answered > 0).then(|| self.wait_ms / self.answered as i64)
    }

    /// Abandoned ÷ offered.
    pub fn abandonment_rate(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.abandoned as f64 / self.offered as f64)
    }

    /// Mean handling time (ms).
    pub fn aht_ms(&self) -> Option<i64> {
        (self.handled > 0).then(|| self.handle_ms / self.handled as i64)
    }

    fn add(&mut self, o: &Tally) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_within += o.answered_within;
        self.abandoned += o.abandoned;
        self.abandoned_after_deadline += o.abandoned_after_deadline;
        self.timed_out += o.timed_out;
        self.callbacks_chosen += o.callbacks_chosen;
        self.waiting += o.waiting;
        self.dropped += o.dropped;
        self.missed_rings += o.missed_rings;
        self.wait_ms += o.wait_ms;
        self.handled += o.handled;
        self.handle_ms += o.handle_ms;
        self.holds += o.holds;
        self.holds_over_reminder += o.holds_over_reminder;
    }

    /// The counts and the indicators, as the API sends them.
    pub fn to_json(&self) -> Value {
        json!({
            "offered": self.offered,
            "answered": self.answered,
            "answered_within": self.answered_within,
            "abandoned": self.abandoned,
            "abandoned_after_deadline": self.abandoned_after_deadline,
            "timed_out": self.timed_out,
            "callbacks_chosen": self.callbacks_chosen,
            "waiting": self.waiting,
            "dropped": self.dropped,
            "missed_rings": self.missed_rings,
            "holds": self.holds,
            "holds_over_reminder": self.holds_over_reminder,
            "service_level": self.service_level(),
            "asa_ms": self.asa_ms(),
            "abandonment_rate": self.abandonment_rate(),
            "aht_ms": self.aht_ms(),
        })
    }

    /// The CSV columns after the interval, in [`Tally::CSV_HEADER`] order.
    pub fn csv_fields(&self) -> Vec<String> {
        let ratio = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.4}", v));
        let ms = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
        vec![
            self.offered.to_string(),
            self.answered.to_string(),
            self.answered_within.to_string(),
            self.abandoned.to_string(),
            self.abandoned_after_deadline.to_string(),
            self.timed_out.to_string(),
            self.callbacks_chosen.to_string(),
            self.dropped.to_string(),
            self.missed_rings.to_string(),
            self.holds.to_string(),
            self.holds_over_reminder.to_string(),
            ratio(self.service_level()),
            ms(self.asa_ms()),
            ratio(self.abandonment_rate()),
            ms(self.aht_ms()),
        ]
    }

    /// The names of [`Tally::csv_fields`].
    pub const CSV_HEADER: [&'static str; 15] = [
        "offered",
        "answered",
        "answered_within",
        "abandoned",
        "abandoned_after_deadline",
        "timed_out",
        "callbacks_chosen",
        "dropped",
        "missed_rings",
        "holds",
        "holds_over_reminder",
        "service_level",
        "asa_ms",
        "abandonment_rate",
        "aht_ms",
    ];
}

/// The length of a history interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 15 minutes.
    Quarter,
    /// An hour.
    Hour,
    /// A day (local midnight to midnight).
    Day,
}

impl Step {
    /// Parses `15m`, `1h` or `1d`.
    pub fn parse(s: &str) -> Option<Step> {
        match s {
            "15m" => Some(Step::Quarter),
            "1h" => Some(Step::Hour),
            "1d" => Some(Step::Day),
            _ => None,
        }
    }

    /// Its length (ms).
    pub fn ms(self) -> i64 {
        match self {
            Step::Quarter => 15 * 60_000,
            Step::Hour => 3_600_000,
            Step::Day => 86_400_000,
        }
    }

    /// The start of the interval holding `t`, intervals being aligned to
    /// local time `utc_offset_ms` ahead of UTC.
    pub fn floor(self, t: i64, utc_offset_ms: i64) -> i64 {
        let local = t + utc_offset_ms;
        local - local.rem_euclid(self.ms()) - utc_offset_ms
    }
}

/// One interval of a history.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Start (epoch ms, inclusive).
    pub start: i64,
    /// End (exclusive).
    pub end: i64,
    /// Its counts.
    pub tally: Tally,
}

/// One agent's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentTally {
    /// The agent.
    pub agent: String,
    /// Rings offered, answered, missed …
    pub tally: Tally,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Folds in one committed event (events must come in `seq` order).
    pub fn apply(&mut self, e: &EventRecord) {
        if e.kind == "agent_state_changed" {
            if let Some(agent) = &e.agent {
                self.agent_state(agent, e);
            }
            return;
        }
        let Some(call_id) = &e.call_id else {
            return;
        };
        if e.kind == "call_arrived" {
            let facts = CallFacts {
                queue: e.data["queue"].as_str().unwrap_or_default().to_string(),
                arrived: e.at,
                ..CallFacts::default()
            };
            self.calls.insert(call_id.clone(), facts);
            return;
        }
        // Facts of a call whose arrival is not in the ledger (it arrived
        // before what was loaded) are left out.
        let Some(c) = self.calls.get_mut(call_id) else {
            return;
        };
        let agent = e.agent.clone().unwrap_or_default();
        match e.kind.as_str() {
            "agent_offered" => c.offers.push(agent),
            "agent_ring_no_answer" => c.missed.push(agent),
            "answered" => {
                c.answered = Some(Answer {
                    at: e.at,
                    wait_ms: e.data["wait_ms"].as_i64().unwrap_or(e.at - c.arrived),
                    within: e.data["within_deadline"].as_bool().unwrap_or(false),
                    agent: agent.clone(),
                });
                let a = self.agents.entry(agent).or_default();
                a.call = Some(call_id.clone());
                a.wrap_started = None;
            }
            "abandoned" => {
                c.abandoned = Some(e.data["after_deadline"].as_bool().unwrap_or(false));
            }
            "hold_started" => {
                c.holds += 1;
                c.on_hold = Some((e.at, false));
            }
            "hold_reminder" => {
                if let Some((_, reminded)) = &mut c.on_hold
                    && !*reminded
                {
                    *reminded = true;
                    c.holds_over_reminder += 1;
                }
            }
            "hold_ended" => {
                if let Some((since, _)) = c.on_hold.take() {
                    c.hold_ms += e.at - since;
                }
            }
            "ended" => {
                if let Some((since, _)) = c.on_hold.take() {
                    c.hold_ms += e.at - since;
                }
                let reason = e.data["reason"].as_str().unwrap_or("completed");
                c.ended = Some((e.at, reason.to_string()));
            }
            _ => {}
        }
    }

    /// An agent's state change; it closes the wrap-up of their last call.
    fn agent_state(&mut self, agent: &str, e: &EventRecord) {
        let to = e.data["to"].as_str().unwrap_or("offline");
        let from = e.data["from"].as_str().unwrap_or("");
        let a = self.agents.entry(agent.to_string()).or_default();
        a.state = to.to_string();
        a.since = e.at;
        let Some(call) = a.call.clone() else {
            return;
        };
        let ended = self.calls.get(&call).is_some_and(|c| c.ended.is_some());
        if !ended {
            return;
        }
        // After the call: into wrap-up, or straight on (no wrap-up time).
        let wrap = if to == "wrap_up" {
            a.wrap_started = Some(e.at);
            return;
        } else if from == "wrap_up" {
            a.wrap_started.map_or(0, |s| e.at - s)
        } else {
            0
        };
        a.call = None;
        a.wrap_started = None;
        if let Some(c) = self.calls.get_mut(&call) {
            c.wrap_ms = Some(wrap);
        }
    }

    /// Sets an agent's state without an event (from `agent_states` at start).
    pub fn seed_agent(&mut self, agent: &str, state: &str, since: i64) {
        let a = self.agents.entry(agent.to_string()).or_default();
        if a.since <= since {
            a.state = state.to_string();
            a.since = since;
        }
    }

    /// A call's facts.
    pub fn call(&self, id: &str) -> Option<&CallFacts> {
        self.calls.get(id)
    }

    /// Every agent seen, by extension.
    pub fn agents(&self) -> &BTreeMap<String, AgentNow> {
        &self.agents
    }

    /// Calls still waiting for an answer: (id, queue, arrival), oldest first.
    pub fn waiting(&self) -> Vec<(&str, &str, i64)> {
        let mut w: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, c)| c.answered.is_none() && c.ended.is_none())
            .map(|(id, c)| (id.as_str(), c.queue.as_str(), c.arrived))
            .collect();
        w.sort_by_key(|&(id, _, at)| (at, id));
        w
    }

    /// Forgets calls that arrived before `t` and are over (wrap-up
    /// included), so a long-running dashboard stays small.
    pub fn forget_before(&mut self, t: i64) {
        let agents = &self.agents;
        self.calls.retain(|id, c| {
            c.arrived >= t
                || c.ended.is_none()
                || agents.values().any(|a| a.call.as_deref() == Some(id))
        });
    }

    /// One call's contribution under `filter` (`None` when filtered out).
    fn count(c: &CallFacts, filter: &Filter) -> Option<Tally> {
        if filter.queue.as_ref().is_some_and(|q| *q != c.queue) {
            return None;
        }
        let mut t = Tally::default();
        let answered_here = match &filter.agent {
            None => {
                t.offered = 1;
                t.missed_rings = c.missed.len() as u64;
                if c.answered.is_none() && c.ended.is_none() {
                    t.waiting = 1;
                }
                match (&c.abandoned, c.ended.as_ref().map(|(_, r)| r.as_str())) {
                    (Some(after), _) => {
                        t.abandoned = 1;
                        t.abandoned_after_deadline = u64::from(*after);
                    }
                    (None, Some("max_wait")) if c.answered.is_none() => t.timed_out = 1,
                    (None, Some("callback_requested")) if c.answered.is_none() => {
                        t.callbacks_chosen = 1;
                    }
                    _ => {}
                }
                c.answered.is_some()
            }
            Some(agent) => {
                t.offered = c.offers.iter().filter(|a| *a == agent).count() as u64;
                t.missed_rings = c.missed.iter().filter(|a| *a == agent).count() as u64;
                let mine = c.answered.as_ref().is_some_and(|a| a.agent == *agent);
                if t.offered == 0 && !mine {
                    return None;
                }
                mine
            }
        };
        if answered_here && let Some(a) = &c.answered {
            t.answered = 1;
            t.answered_within = u64::from(a.within);
            t.wait_ms = a.wait_ms;
            t.holds = u64::from(c.holds);
            t.holds_over_reminder = u64::from(c.holds_over_reminder);
            if let Some((end, reason)) = &c.ended {
                t.dropped = u64::from(reason == "dropped");
                if let Some(wrap) = c.wrap_ms {
                    t.handled = 1;
                    t.handle_ms = (end - a.at) + wrap;
                }
            }
        }
        Some(t)
    }

    /// The counts over calls that arrived in `[from, to)`.
    pub fn tally(&self, from: i64, to: i64, filter: &Filter) -> Tally {
        let mut t = Tally::default();
        for c in self.calls.values() {
            if c.arrived >= from
                && c.arrived < to
                && let Some(one) = Self::count(c, filter)
            {
                t.add(&one);
            }
        }
        t
    }

    /// The counts per interval of `step` covering `[from, to)`, every
    /// interval listed (empty ones too), aligned to local time.
    pub fn series(
        &self,
        from: i64,
        to: i64,
        step: Step,
        utc_offset_ms: i64,
        filter: &Filter,
    ) -> Vec<Interval> {
        let first = step.floor(from, utc_offset_ms);
        let mut out = Vec::new();
        let mut start = first;
        while start < to {
            let end = start + step.ms();
            out.push(Interval {
                start,
                end,
                tally: Tally::default(),
            });
            start = end;
        }
        for c in self.calls.values() {
            if c.arrived < from || c.arrived >= to {
                continue;
            }
            let Some(one) = Self::count(c, filter) else {
                continue;
            };
            let i = ((step.floor(c.arrived, utc_offset_ms) - first) / step.ms()) as usize;
            if let Some(iv) = out.get_mut(i) {
                iv.tally.add(&one);
            }
        }
        out
    }

    /// Each agent's counts over calls that arrived in `[from, to)`, by
    /// extension (agents offered nothing are left out).
    pub fn per_agent(&self, from: i64, to: i64, queue: Option<&str>) -> Vec<AgentTally> {
        let mut by: BTreeMap<&str, Tally> = BTreeMap::new();
        for c in self.calls.values() {
            if c.arrived < from || c.arrived >= to || queue.is_some_and(|q| q != c.queue) {
                continue;
            }
            let mut agents: Vec<&str> = c.offers.iter().map(String::as_str).collect();
            if let Some(a) = &c.answered {
                agents.push(&a.agent);
            }
            agents.sort_unstable();
            agents.dedup();
            for agent in agents {
                let filter = Filter {
                    queue: None,
                    agent: Some(agent.to_string()),
                };
                if let Some(one) = Self::count(c, &filter) {
                    by.entry(agent).or_default().add(&one);
                }
            }
        }
        by.into_iter()
            .map(|(agent, tally)| AgentTally {
                agent: agent.to_string(),
                tally,
            })
            .collect()
    }

    /// The queues seen, by name.
    pub fn queues(&self) -> Vec<String> {
        let mut q: Vec<String> = self.calls.values().map(|c| c.queue.clone()).collect();
        q.sort_unstable();
        q.dedup();
        q
    }
}
