//! Call-back tasks (DESIGN §2.2: "if the conversation breaks off, always
//! call back"), sans-IO with time passed in as epoch milliseconds: a task's
//! deadlines outlive the process, so they are wall-clock times, stored.
//!
//! The [`Scheduler`] reads the committed call facts and opens a task for
//! every call that ended `dropped` after it was answered (owned by the agent
//! who had it, who is the right person to pick the conversation up; handed
//! to the queue when they have not within the grace time) and for every
//! call abandoned after waiting at least the minimum wait (owned by the
//! queue). Each task has a due time and a service-level deadline by reason;
//! attempts are recorded with their outcome (`reached`, `no_answer`,
//! `busy`, `wrong_number`) and retried with spacing up to a maximum.
//!
//! Every change is a fact ([`TaskEvent`]) carrying the whole task, written
//! to the audit trail and folded into the `callbacks` table, from which the
//! scheduler is rebuilt at start.

pub mod runner;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::calls::timers::Timers;
use crate::store::events::EventRecord;

/// Why a patient is to be called back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The conversation broke off (the call ended `dropped`).
    Dropped,
    /// The patient hung up while waiting.
    Abandoned,
    /// The patient pressed 1 while waiting, to be called back.
    Requested,
}

/// What an attempt to call back came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The patient was reached: the task is done.
    Reached,
    /// Nobody answered: tried again later.
    NoAnswer,
    /// Busy: tried again later.
    Busy,
    /// Not the patient's number: nobody to try again.
    WrongNumber,
}

impl Outcome {
    /// Parses an API name.
    pub fn from_name(s: &str) -> Option<Outcome> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// To be called.
    Open,
    /// Reached.
    Done,
    /// Given up: wrong number, or no answer after the last attempt.
    Failed,
}

/// Who is to make the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Owner {
    /// One agent (the one who had the dropped call).
    Agent(String),
    /// Any agent of a queue.
    Queue(String),
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it was recorded (epoch ms).
    pub at: i64,
    /// Who called.
    pub agent: String,
    /// How it went.
    pub outcome: Outcome,
    /// The call the server placed for it ("call back now"), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
}

/// A call-back task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// `cb-` and the call's id: one task per call.
    pub id: String,
    /// The call it comes from.
    pub call_id: String,
    /// That call's queue.
    pub queue: String,
    /// The number to call (patient data: stored, never logged).
    pub number: String,
    /// Why.
    pub reason: Reason,
    /// The agent who had the call, if one did.
    pub agent: Option<String>,
    /// Who is to call now.
    pub owner: Owner,
    /// Opened (epoch ms).
    pub created_at: i64,
    /// When the next attempt is due.
    pub due_at: i64,
    /// The service-level deadline: open after it is overdue.
    pub sla_at: i64,
    /// Attempts so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// Where it stands.
    pub status: Status,
    /// Whether it went past its deadline while open.
    pub overdue: bool,
    /// When it was closed.
    pub closed_at: Option<i64>,
}

impl Task {
    /// The task as JSON (the API's and the events' shape).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Whether `agent` may see and work it: its owner, or any agent of the
    /// owning queue (`members`: the queue's agents and seniors).
    pub fn workable_by(&self, agent: &str, members: &[String]) -> bool {
        match &self.owner {
            Owner::Agent(a) => a == agent,
            Owner::Queue(_) => members.iter().any(|m| m == agent),
        }
    }
}

/// The rules (`[callbacks]`), in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Abandons shorter than this (misdials) open no task.
    pub abandoned_min_wait: i64,
    /// A dropped call's task is due this long after the drop (0: now).
    pub dropped_due: i64,
    /// An abandoned call's task is due this long after the abandon.
    pub abandoned_due: i64,
    /// A dropped call's task stays with its agent this long, then any agent
    /// of the queue may take it.
    pub grace: i64,
    /// Between an unsuccessful attempt and the next.
    pub retry_spacing: i64,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Service-level deadline after the drop.
    pub sla_dropped: i64,
    /// Service-level deadline after the abandon.
    pub sla_abandoned: i64,
    /// Service-level deadline after a patient asked to be called back.
    pub sla_requested: i64,
}

impl Default for Policy {
    fn default() -> Self {
        const MIN: i64 = 60_000;
        Policy {
            abandoned_min_wait: 5_000,
            dropped_due: 0,
            abandoned_due: 15 * MIN,
            grace: 5 * MIN,
            retry_spacing: 10 * MIN,
            max_attempts: 3,
            sla_dropped: 15 * MIN,
            sla_abandoned: 2 * 60 * MIN,
            sla_requested: 60 * MIN,
        }
    }
}

/// A change to a task, written to the audit trail with the whole task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEvent {
    /// `callback_created`, `callback_due`, `callback_to_queue`,
    /// `callback_overdue`, `callback_attempted`, `callback_closed`.
    pub kind: &'static str,
    /// When (epoch ms).
    pub at: i64,
    /// The task after the change.
    pub task: Task,
}

impl TaskEvent {
    /// As a stored record: the call is the task's call, the agent its
    /// owner when one agent owns it (so their live feed carries it).
    pub fn record(&self) -> EventRecord {
        EventRecord {
            seq: 0,
            at: self.at,
            kind: self.kind.into(),
            call_id: Some(self.task.call_id.clone()),
            agent: match &self.task.owner {
                Owner::Agent(a) => Some(a.clone()),
                Owner::Queue(_) => None,
            },
            data: json!({ "task": self.task.to_json() }),
            hash: None,
        }
    }
}

/// Why an attempt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// No such task.
    #[error("no call-back task {0}")]
    NoSuchTask(String),
    /// The task is closed.
    #[error("call-back task {0} is already closed")]
    Closed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// The next attempt is due.
    Due(u64),
    /// The agent's grace is over: the queue's turn.
    ToQueue(u64),
    /// The service-level deadline.
    Overdue(u64),
}

/// Reads a caller's number as received into one to dial (E.164), or
/// `None` when there is nothing to call (withheld, anonymous).
pub type Dialable = Box<dyn Fn(&str) -> Option<String> + Send>;

/// The open tasks and their deadlines.
pub struct Scheduler {
    policy: Policy,
    dialable: Dialable,
    tasks: HashMap<u64, Task>,
    by_id: HashMap<String, u64>,
    timers: Timers<Timer, i64>,
    next: u64,
    /// Calls in progress: queue, caller, and whether answered (from the facts).
    calls: HashMap<String, (String, String, Option<String>)>,
    events: VecDeque<TaskEvent>,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(policy: Policy) -> Scheduler {
        Scheduler {
            policy,
            dialable: Box::new(|n: &str| (!n.trim().is_empty()).then(|| n.trim().to_string())),
            tasks: HashMap::new(),
            by_id: HashMap::new(),
            timers: Timers::default(),
            next: 1,
            calls: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Reads callers' numbers with `f` (the clinic's region): a task gets
    /// the number to dial, and a call without one (withheld) gets none.
    pub fn with_numbers(mut self, f: Dialable) -> Scheduler {
        self.dialable = f;
        self
    }

    /// Takes back a stored task at start (`now`): an open one with its
    /// deadlines (a due time already past is not announced again); a closed
    /// one only so that replayed facts do not open it again.
    pub fn restore(&mut self, now: i64, task: Task) {
        if self.by_id.contains_key(&task.id) {
            return;
        }
        if task.status != Status::Open {
            // Known, with no open task behind the number.
            self.by_id.insert(task.id, 0);
            return;
        }
        let n = self.next;
        self.next += 1;
        self.arm(n, &task);
        if task.due_at < now {
            self.timers.stop(Timer::Due(n));
        }
        self.by_id.insert(task.id.clone(), n);
        self.tasks.insert(n, task);
    }

    /// Knows of a task with this id (open or closed in this run).
    pub fn knows(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    fn arm(&mut self, n: u64, task: &Task) {
        self.timers.set(Timer::Due(n), task.due_at);
        if !task.overdue {
            self.timers.set(Timer::Overdue(n), task.sla_at);
        }
        if let (Owner::Agent(_), Reason::Dropped) = (&task.owner, task.reason) {
            self.timers
                .set(Timer::ToQueue(n), task.created_at + self.policy.grace);
        }
    }

    /// Reads one committed call fact; a dropped or abandoned call opens a
    /// task. Facts of calls whose arrival it did not read are passed over.
    pub fn handle_fact(&mut self, e: &EventRecord) {
        let Some(call) = &e.call_id else { return };
        let text = |k: &str| e.data[k].as_str().unwrap_or_default().to_string();
        match e.kind.as_str() {
            "call_arrived" => {
                self.calls
                    .insert(call.clone(), (text("queue"), text("caller"), None));
            }
            "answered" => {
                if let Some(c) = self.calls.get_mut(call) {
                    c.2 = e.agent.clone();
                }
            }
            "abandoned" => {
                let wait = e.data["wait_ms"].as_i64().unwrap_or(0);
                if let Some((queue, number, _)) = self.calls.remove(call)
                    && wait >= self.policy.abandoned_min_wait
                {
                    self.open(e.at, call, queue, number, Reason::Abandoned, None);
                }
            }
            // A call placed for a task ("call back now") records its own
            // attempt; one that never reached the patient's phone does not.
            "dialout_ended" => {
                let outcome = e.data["outcome"].as_str().and_then(Outcome::from_name);
                if let (Some(outcome), Some(task), Some(agent)) =
                    (outcome, e.data["link"].as_str(), &e.agent)
                    && task.starts_with("cb-")
                {
                    let _ = self.record(e.at, task, agent, outcome, Some(call));
                }
            }
            "ended" => {
                let Some((queue, number, agent)) = self.calls.remove(call) else {
                    return;
                };
                // Dropped before anyone answered (the caller's line failed
                // while waiting): the queue calls back.
                if e.data["reason"] == "dropped" {
                    self.open(e.at, call, queue, number, Reason::Dropped, agent);
                } else if e.data["reason"] == "callback_requested" {
                    // Due at once: tasks are worked by due time, so the
                    // patient keeps their turn.
                    self.open(e.at, call, queue, number, Reason::Requested, None);
                }
            }
            _ => {}
        }
    }

    fn open(
        &mut self,
        now: i64,
        call: &str,
        queue: String,
        number: String,
        reason: Reason,
        agent: Option<String>,
    ) {
        let id = format!("cb-{call}");
        if self.by_id.contains_key(&id) {
            return;
        }
        let Some(number) = (self.dialable)(&number) else {
            // Nobody to call back (the number was withheld).
            return;
        };
        let p = &self.policy;
        let (due, sla) = match reason {
            Reason::Dropped => (p.dropped_due, p.sla_dropped),
            Reason::Abandoned => (p.abandoned_due, p.sla_abandoned),
            Reason::Requested => (0, p.sla_requested),
        };
        let owner = match &agent {
            Some(a) => Owner::Agent(a.clone()),
            None => Owner::Queue(queue.clone()),
        };
        let task = Task {
            id: id.clone(),
            call_id: call.to_string(),
            queue,
            number,
            reason,
            agent,
            owner,
            created_at: now,
            due_at: now + due,
            sla_at: now + sla,
            attempts: Vec::new(),
            status: Status::Open,
            overdue: false,
            closed_at: None,
        };
        let n = self.next;
        self.next += 1;
        self.arm(n, &task);
        self.by_id.insert(id, n);
        self.emit("callback_created", now, &task);
        self.tasks.insert(n, task);
    }

    fn emit(&mut self, kind: &'static str, at: i64, task: &Task) {
        self.events.push_back(TaskEvent {
            kind,
            at,
            task: task.clone(),
        });
    }

    /// Records an attempt by `agent`: done when reached, given up on a
    /// wrong number or after the last attempt, else due again after the
    /// retry spacing.
    pub fn record_attempt(
        &mut self,
        now: i64,
        id: &str,
        agent: &str,
        outcome: Outcome,
    ) -> Result<Task, AttemptError> {
        self.record(now, id, agent, outcome, None)
    }

    /// An attempt, made through `call` when the server placed it: read
    /// twice (a replay after a restart), it counts once.
    fn record(
        &mut self,
        now: i64,
        id: &str,
        agent: &str,
        outcome: Outcome,
        call: Option<&str>,
    ) -> Result<Task, AttemptError> {
        let n = *self
            .by_id
            .get(id)
            .ok_or_else(|| AttemptError::NoSuchTask(id.to_string()))?;
        let Some(task) = self.tasks.get_mut(&n) else {
            return Err(AttemptError::Closed(id.to_string()));
        };
        if let Some(c) = call
            && task.attempts.iter().any(|a| a.call.as_deref() == Some(c))
        {
            return Ok(task.clone());
        }
        task.attempts.push(Attempt {
            at: now,
            agent: agent.to_string(),
            outcome,
            call: call.map(str::to_string),
        });
        let tries = task.attempts.len() as u32;
        let close = match outcome {
            Outcome::Reached => Some(Status::Done),
            Outcome::WrongNumber => Some(Status::Failed),
            Outcome::NoAnswer | Outcome::Busy if tries >= self.policy.max_attempts => {
                Some(Status::Failed)
            }
            Outcome::NoAnswer | Outcome::Busy => None,
        };
        let task = match close {
            Some(status) => {
                let mut task = self.tasks.remove(&n).expect("the task is open");
                task.status = status;
                task.closed_at = Some(now);
                for t in [Timer::Due(n), Timer::ToQueue(n), Timer::Overdue(n)] {
                    self.timers.stop(t);
                }
                self.emit("callback_attempted", now, &task);
                self.emit("callback_closed", now, &task);
                task
            }
            None => {
                task.due_at = now + self.policy.retry_spacing;
                let task = task.clone();
                self.timers.set(Timer::Due(n), task.due_at);
                self.emit("callback_attempted", now, &task);
                task
            }
        };
        Ok(task)
    }

    /// Deadlines that have come: due, handed to the queue, overdue.
    pub fn handle_timeout(&mut self, now: i64) {
        while let Some((at, timer)) = self.timers.pop_due(now) {
            let (n, kind) = match timer {
                Timer::Due(n) => (n, "callback_due"),
                Timer::ToQueue(n) => (n, "callback_to_queue"),
                Timer::Overdue(n) => (n, "callback_overdue"),
            };
            let Some(task) = self.tasks.get_mut(&n) else {
                continue;
            };
            match timer {
                Timer::Due(_) => {}
                Timer::ToQueue(_) => task.owner = Owner::Queue(task.queue.clone()),
                Timer::Overdue(_) => task.overdue = true,
            }
            let task = task.clone();
            self.emit(kind, at, &task);
        }
    }

    /// The next deadline (epoch ms).
    pub fn poll_timeout(&self) -> Option<i64> {
        self.timers.next()
    }

    /// The next change to write.
    pub fn poll_event(&mut self) -> Option<TaskEvent> {
        self.events.pop_front()
    }

    /// An open task.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.by_id.get(id).and_then(|n| self.tasks.get(n))
    }

    /// Every open task, by due time.
    pub fn open_tasks(&self) -> Vec<&Task> {
        let mut v: Vec<&Task> = self.tasks.values().collect();
        v.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        v
    }
}
