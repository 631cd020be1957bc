//! Automatic call distribution, sans-IO: the three-ring rule.
//!
//! A call that arrives in a queue is offered to the available agent who has
//! been idle longest (agents serving a patient at the desk only when nobody
//! else is free). An agent who lets it ring past their ring time is skipped,
//! and paused after missing several in a row. When the answer deadline —
//! `rings_to_answer × ring_cycle` from the INVITE's arrival — passes
//! unanswered, the senior tier is rung as well. The first to answer wins;
//! the others stop ringing. Decisions come out of `poll_command`, facts out
//! of `poll_event`; time is always an argument.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::agents::{Agent, AgentState};
use super::event::{EndReason, Event, Tier};
use super::timers::Timers;

/// One queue's rules (from `[[queues]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Its name.
    pub name: String,
    /// The number (or DID) that lands in it.
    pub number: String,
    /// Agent tier, by extension.
    pub agents: Vec<String>,
    /// Senior tier, by extension.
    pub seniors: Vec<String>,
    /// One ring cycle (default 5 s: 1 s on, 4 s off).
    pub ring_cycle: Duration,
    /// Rings within which a call must be answered (default 3).
    pub rings_to_answer: u32,
    /// How long one agent rings before the call moves on (default 2 cycles).
    pub agent_ring_time: Duration,
    /// Wrap-up after each call (default 10 s).
    pub wrap_up: Duration,
    /// Misses in a row that pause an agent (default 3).
    pub auto_pause_after: u32,
    /// Longest wait before the call is ended (default 10 min).
    pub max_wait: Duration,
}

impl QueueSettings {
    /// `rings_to_answer × ring_cycle`.
    pub fn answer_deadline(&self) -> Duration {
        self.ring_cycle * self.rings_to_answer
    }
}

/// What the B2BUA must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ring an agent's phone for a call.
    Ring {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
        /// From which tier.
        tier: Tier,
    },
    /// Stop ringing an agent's phone (CANCEL that leg).
    StopRinging {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
    },
    /// Join the caller with the agent who answered.
    Connect {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
    },
    /// An attended transfer's consultation is over without a hand-over
    /// (the agent keeps the caller): end the consulting legs.
    ConsultEnded {
        /// The call.
        call: u64,
        /// As in [`Event::TransferFailed`].
        reason: &'static str,
    },
    /// End the caller's leg (the queue gives up on it).
    EndCall {
        /// The call.
        call: u64,
        /// Why.
        reason: EndReason,
    },
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    /// No queue has this number.
    #[error("no queue answers number {0}")]
    NoSuchQueue(String),
    /// Not an agent of any queue.
    #[error("extension {0} is not an agent or senior of any queue")]
    NoSuchAgent(String),
    /// The call is not known (ended, or never arrived).
    #[error("no such call")]
    NoSuchCall,
    /// Agents may choose only available, with_patient, paused or offline.
    #[error("an agent cannot set the state {0} directly")]
    StateNotSettable(AgentState),
    /// Their phone is ringing with, or on, a queue call (or has no phone).
    #[error("extension {0} is {1}")]
    Busy(String, AgentState),
    /// An attended transfer's target has not answered yet.
    #[error("the colleague has not answered yet")]
    NotAnswered,
}

/// What an agent's answer led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// The agent has the call.
    Connected,
    /// Someone else answered first, or the caller is gone: hang the leg up.
    NotWanted,
    /// The colleague an agent consults (an attended transfer) answered: they
    /// speak to the agent, not yet to the caller.
    Consulting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    AnswerDeadline(u64),
    MaxWait(u64),
    RingNoAnswer(u64, usize),
    WrapUp(usize),
    /// An attended transfer's target has not answered in time.
    ConsultGiveUp(u64),
}

#[derive(Debug)]
struct Call {
    queue: usize,
    /// The caller's number, as received.
    caller: String,
    arrived: Instant,
    /// Agents ringing now, with their tier.
    ringing: Vec<(usize, Tier)>,
    /// Agents already offered this call in the current round.
    tried: HashSet<usize>,
    deadline_passed: bool,
    answered: Option<usize>,
    /// Being handed on by the agent who had it (blind), or consulted about
    /// (attended, while that agent still has it).
    transfer: Option<transfer::Transfer>,
}

/// The distributor.
pub struct Acd {
    queues: Vec<QueueSettings>,
    agents: Vec<Agent>,
    by_ext: HashMap<String, usize>,
    /// Per agent: the queues and tiers they belong to.
    memberships: Vec<Vec<(usize, Tier)>>,
    /// Per agent: the key they are filed under in `free`, if free.
    filed: Vec<Option<(AgentState, Instant)>>,
    /// Per queue, per tier: who is free. Kept in step with every agent
    /// change, so offering a call never scans the whole agent list.
    free: Vec<[Free; 2]>,
    calls: HashMap<u64, Call>,
    /// Unanswered calls, oldest first.
    waiting: VecDeque<u64>,
    timers: Timers<Timer>,
    commands: VecDeque<Command>,
    events: VecDeque<Event>,
}

impl Acd {
    /// A distributor for these queues; every agent starts offline.
    pub fn new(queues: Vec<QueueSettings>, now: Instant) -> Acd {
        let mut agents = Vec::new();
        let mut by_ext = HashMap::new();
        let mut memberships: Vec<Vec<(usize, Tier)>> = Vec::new();
        for (qi, q) in queues.iter().enumerate() {
            let tiers = q
                .agents
                .iter()
                .map(|e| (e, Tier::Agent))
                .chain(q.seniors.iter().map(|e| (e, Tier::Senior)));
            for (ext, tier) in tiers {
                let i = *by_ext.entry(ext.clone()).or_insert_with(|| {
                    agents.push(Agent::new(ext.clone(), now));
                    memberships.push(Vec::new());
                    agents.len() - 1
                });
                if !memberships[i].contains(&(qi, tier)) {
                    memberships[i].push((qi, tier));
                }
            }
        }
        let filed = vec![None; agents.len()];
        let free = queues.iter().map(|_| Default::default()).collect();
        Acd {
            queues,
            agents,
            by_ext,
            memberships,
            filed,
            free,
            calls: HashMap::new(),
            waiting: VecDeque::new(),
            timers: Timers::default(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The queue a dialled number lands in.
    pub fn queue_for(&self, number: &str) -> Option<&QueueSettings> {
        self.queues.iter().find(|q| q.number == number)
    }

    /// The number of the queue a call is in now.
    pub fn queue_number_of(&self, call: u64) -> Option<String> {
        let c = self.calls.get(&call)?;
        Some(self.queues[c.queue].number.clone())
    }

    /// An agent's state.
    pub fn agent_state(&self, ext: &str) -> Option<AgentState> {
        self.by_ext.get(ext).map(|&i| self.agents[i].state)
    }

    /// Every agent and their state.
    pub fn agent_states(&self) -> impl Iterator<Item = (&str, AgentState)> {
        self.agents.iter().map(|a| (a.ext.as_str(), a.state))
    }

    /// Calls waiting for an answer, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = u64> + '_ {
        self.waiting.iter().copied()
    }

    /// The next thing to do.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next fact.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// A call's INVITE arrived for `number` at `now`, from `caller`.
    pub fn handle_call_arrived(
        &mut self,
        now: Instant,
        call: u64,
        number: &str,
        caller: &str,
    ) -> Result<(), AcdError> {
        let queue = self
            .queues
            .iter()
            .position(|q| q.number == number)
            .ok_or_else(|| AcdError::NoSuchQueue(number.to_string()))?;
        let q = &self.queues[queue];
        self.timers
            .set(Timer::AnswerDeadline(call), now + q.answer_deadline());
        self.timers.set(Timer::MaxWait(call), now + q.max_wait);
        self.events.push_back(Event::CallArrived {
            call,
            queue: q.name.clone(),
            caller: caller.to_string(),
            at: now,
        });
        self.calls.insert(
            call,
            Call {
                queue,
                caller: caller.to_string(),
                arrived: now,
                ringing: Vec::new(),
                tried: HashSet::new(),
                deadline_passed: false,
                answered: None,
                transfer: None,
            },
        );
        self.waiting.push_back(call);
        self.dispatch(now);
        Ok(())
    }

    /// The caller hung up (before or after answer).
    pub fn handle_caller_hangup(&mut self, now: Instant, call: u64) -> Result<(), AcdError> {
        self.handle_timeout(now);
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        if c.answered.is_some() {
            return self.handle_call_ended(now, call, EndReason::Completed);
        }
        if c.transfer.is_some() {
            // Answered before, hung up while being transferred: not an
            // abandoned call.
            self.finish_unanswered(now, call, EndReason::Completed);
            self.dispatch(now);
            return Ok(());
        }
        let after_deadline = c.deadline_passed;
        let wait = now - c.arrived;
        self.events.push_back(Event::Abandoned {
            call,
            wait,
            after_deadline,
            at: now,
        });
        self.finish_unanswered(now, call, EndReason::Abandoned);
        self.dispatch(now);
        Ok(())
    }

    /// A call ended: after an answer the agent goes to wrap-up; before one,
    /// the call leaves the queue.
    pub fn handle_call_ended(
        &mut self,
        now: Instant,
        call: u64,
        reason: EndReason,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        if c.answered.is_none() {
            // Ended before anyone answered (the caller's leg failed): it
            // leaves the queue and nobody keeps ringing for it.
            self.finish_unanswered(now, call, reason);
            self.dispatch(now);
            return Ok(());
        }
        // Ended during a consultation: whoever was consulted is free again.
        self.end_consult(now, call, "call_ended");
        let c = self.calls.remove(&call).ok_or(AcdError::NoSuchCall)?;
        self.events.push_back(Event::Ended {
            call,
            reason,
            at: now,
        });
        if let Some(agent) = c.answered {
            self.release_after_call(now, agent, c.queue);
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent's call is over for them: wrap-up, or free at once.
    fn release_after_call(&mut self, now: Instant, agent: usize, queue: usize) {
        let wrap = self.queues[queue].wrap_up;
        self.agents[agent].call = None;
        if wrap.is_zero() {
            self.after_busy(now, agent);
        } else {
            self.set_state(now, agent, AgentState::WrapUp);
            self.timers.set(Timer::WrapUp(agent), now + wrap);
        }
    }

    /// An agent's phone answered. The first answer wins.
    pub fn handle_agent_answered(&mut self, now: Instant, call: u64, ext: &str) -> AnswerOutcome {
        self.handle_timeout(now);
        let Some(&agent) = self.by_ext.get(ext) else {
            return AnswerOutcome::NotWanted;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return AnswerOutcome::NotWanted;
        };
        let Some(pos) = c.ringing.iter().position(|&(a, _)| a == agent) else {
            return AnswerOutcome::NotWanted;
        };
        if c.transfer.as_ref().is_some_and(|t| t.attended) {
            return self.consult_answered(now, call, agent);
        }
        if c.answered.is_some() {
            return AnswerOutcome::NotWanted;
        }
        let (_, tier) = c.ringing.remove(pos);
        c.answered = Some(agent);
        let transfer = c.transfer.take();
        let others = std::mem::take(&mut c.ringing);
        let wait = now - c.arrived;
        let within_deadline = !c.deadline_passed;
        self.waiting.retain(|&w| w != call);
        self.timers.stop(Timer::AnswerDeadline(call));
        self.timers.stop(Timer::MaxWait(call));
        self.timers.stop(Timer::RingNoAnswer(call, agent));
        for (other, _) in others {
            self.stop_ringing(now, call, other);
        }
        let a = &mut self.agents[agent];
        a.misses = 0;
        a.call = Some(call);
        self.set_state(now, agent, AgentState::OnCall);
        self.commands.push_back(Command::Connect {
            call,
            agent: ext.to_string(),
        });
        match transfer {
            Some(t) => self.events.push_back(Event::Transferred {
                call,
                from: t.from,
                to: ext.to_string(),
                attended: false,
                at: now,
            }),
            None => self.events.push_back(Event::Answered {
                call,
                agent: ext.to_string(),
                tier,
                wait,
                within_deadline,
                at: now,
            }),
        }
        self.dispatch(now);
        AnswerOutcome::Connected
    }

    /// An agent's phone refused the call (busy, declined, failed): a miss.
    pub fn handle_agent_rejected(&mut self, now: Instant, call: u64, ext: &str) {
        let Some(&agent) = self.by_ext.get(ext) else {
            return;
        };
        let ringing = self
            .calls
            .get(&call)
            .is_some_and(|c| c.ringing.iter().any(|&(a, _)| a == agent));
        if ringing {
            self.timers.stop(Timer::RingNoAnswer(call, agent));
            self.missed(now, call, agent);
            self.dispatch(now);
        }
    }

    /// A phone registered (`true`) or its last binding went away (`false`).
    pub fn handle_agent_registered(&mut self, now: Instant, ext: &str, registered: bool) {
        let Some(&agent) = self.by_ext.get(ext) else {
            return;
        };
        let a = &mut self.agents[agent];
        if a.registered == registered {
            return;
        }
        a.registered = registered;
        self.refile(agent);
        match (registered, self.agents[agent].state) {
            (true, AgentState::Offline) => {
                self.agents[agent].idle_since = now;
                self.set_state(now, agent, AgentState::Available);
            }
            (false, AgentState::Available | AgentState::WithPatient | AgentState::Paused) => {
                self.set_state(now, agent, AgentState::Offline);
            }
            (false, AgentState::Ringing) => {
                if let Some(call) = self.agents[agent].call {
                    self.stop_ringing(now, call, agent);
                }
                self.set_state(now, agent, AgentState::Offline);
            }
            (false, _) => self.agents[agent].after_call = Some(AgentState::Offline),
            (true, _) => {}
        }
        self.dispatch(now);
    }

    /// An agent chose a state (from their desktop, the API, or a supervisor).
    pub fn handle_set_state(
        &mut self,
        now: Instant,
        ext: &str,
        state: AgentState,
    ) -> Result<(), AcdError> {
        let &agent = self
            .by_ext
            .get(ext)
            .ok_or_else(|| AcdError::NoSuchAgent(ext.to_string()))?;
        if !matches!(
            state,
            AgentState::Available
                | AgentState::WithPatient
                | AgentState::Paused
                | AgentState::Offline
        ) {
            return Err(AcdError::StateNotSettable(state));
        }
        match self.agents[agent].state {
            AgentState::OnCall | AgentState::WrapUp | AgentState::Ringing => {
                // Applied when the call or wrap-up is over.
                self.agents[agent].after_call = Some(state);
            }
            _ => {
                if state == AgentState::Available {
                    self.agents[agent].misses = 0;
                }
                self.set_state(now, agent, state);
                self.dispatch(now);
            }
        }
        Ok(())
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, timer)) = self.timers.pop_due(now) {
            match timer {
                Timer::AnswerDeadline(call) => {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.deadline_passed = true;
                        self.events
                            .push_back(Event::AnswerDeadlinePassed { call, at });
                        let seniors = self.ring_seniors(at, call);
                        self.events
                            .push_back(Event::Escalated { call, seniors, at });
                    }
                }
                Timer::RingNoAnswer(call, agent) => {
                    self.missed(at, call, agent);
                }
                Timer::MaxWait(call) => {
                    self.finish_unanswered(at, call, EndReason::MaxWait);
                    self.commands.push_back(Command::EndCall {
                        call,
                        reason: EndReason::MaxWait,
                    });
                }
                Timer::WrapUp(agent) => self.after_busy(at, agent),
                Timer::ConsultGiveUp(call) => self.end_consult(at, call, "no_answer"),
            }
            self.dispatch(at);
        }
    }

    fn finish_unanswered(&mut self, now: Instant, call: u64, reason: EndReason) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        self.waiting.retain(|&w| w != call);
        self.timers.stop(Timer::AnswerDeadline(call));
        self.timers.stop(Timer::MaxWait(call));
        for (agent, _) in c.ringing {
            self.timers.stop(Timer::RingNoAnswer(call, agent));
            self.release_ringer(now, agent);
            self.commands.push_back(Command::StopRinging {
                call,
                agent: self.agents[agent].ext.clone(),
            });
        }
        self.events.push_back(Event::Ended {
            call,
            reason,
            at: now,
        });
    }

    /// The ring time ran out or the phone refused: skip the agent, count the miss.
    fn missed(&mut self, now: Instant, call: u64, agent: usize) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.ringing.retain(|&(a, _)| a != agent);
        self.commands.push_back(Command::StopRinging {
            call,
            agent: self.agents[agent].ext.clone(),
        });
        let queue = c.queue;
        let a = &mut self.agents[agent];
        a.misses += 1;
        let misses = a.misses;
        self.events.push_back(Event::AgentRingNoAnswer {
            call,
            agent: a.ext.clone(),
            misses,
            at: now,
        });
        self.direct_transfer_failed(now, call, agent);
        self.release_ringer(now, agent);
        if misses >= self.queues[queue].auto_pause_after
            && self.agents[agent].state != AgentState::Offline
        {
            self.set_state(now, agent, AgentState::Paused);
        }
    }

    fn stop_ringing(&mut self, now: Instant, call: u64, agent: usize) {
        self.timers.stop(Timer::RingNoAnswer(call, agent));
        if let Some(c) = self.calls.get_mut(&call) {
            c.ringing.retain(|&(a, _)| a != agent);
        }
        self.release_ringer(now, agent);
        self.commands.push_back(Command::StopRinging {
            call,
            agent: self.agents[agent].ext.clone(),
        });
    }

    /// A ringing agent goes back to what they were doing.
    fn release_ringer(&mut self, now: Instant, agent: usize) {
        let a = &mut self.agents[agent];
        if a.state != AgentState::Ringing {
            return;
        }
        a.call = None;
        let next = a.after_call.take().unwrap_or(a.before_ring);
        self.set_state(now, agent, next);
    }

    /// After a call or wrap-up: the chosen state, or available again.
    fn after_busy(&mut self, now: Instant, agent: usize) {
        let a = &mut self.agents[agent];
        let next = match a.after_call.take() {
            Some(s) => s,
            None if !a.registered => AgentState::Offline,
            None => AgentState::Available,
        };
        a.idle_since = now;
        self.set_state(now, agent, next);
    }

    fn set_state(&mut self, now: Instant, agent: usize, to: AgentState) {
        let a = &mut self.agents[agent];
        let from = a.state;
        if from == to {
            // `idle_since` may have moved.
            self.refile(agent);
            return;
        }
        if to == AgentState::Ringing {
            a.before_ring = from;
        }
        a.state = to;
        self.refile(agent);
        let a = &self.agents[agent];
        self.events.push_back(Event::AgentStateChanged {
            agent: a.ext.clone(),
            from,
            to,
            at: now,
        });
    }

    /// Files an agent under what they are now: free (available or with a
    /// patient, registered) in every queue tier they belong to, or nowhere.
    fn refile(&mut self, agent: usize) {
        let a = &self.agents[agent];
        let key = (a.registered
            && matches!(a.state, AgentState::Available | AgentState::WithPatient))
        .then_some((a.state, a.idle_since));
        let old = std::mem::replace(&mut self.filed[agent], key);
        if old == key {
            return;
        }
        for &(queue, tier) in &self.memberships[agent] {
            let free = &mut self.free[queue][tier_index(tier)];
            if let Some((state, since)) = old {
                free.set(state).remove(&(since, agent));
            }
            if let Some((state, since)) = key {
                free.set(state).insert((since, agent));
            }
        }
    }

    /// Free agents of one tier of a queue, best first: available by longest
    /// idle, then (only when no agent of the tier is available at all)
    /// those serving a patient at the desk.
    fn candidates(&self, queue: usize, tier: Tier) -> impl Iterator<Item = usize> + '_ {
        self.free[queue][tier_index(tier)]
            .best()
            .iter()
            .map(|&(_, i)| i)
    }

    fn anyone_free(&self) -> bool {
        self.free
            .iter()
            .flatten()
            .any(|f| !f.available.is_empty() || !f.with_patient.is_empty())
    }

    fn ring(&mut self, now: Instant, call: u64, agent: usize, tier: Tier) {
        let queue = self.calls[&call].queue;
        let ring_time = self.queues[queue].agent_ring_time;
        if let Some(c) = self.calls.get_mut(&call) {
            c.ringing.push((agent, tier));
            c.tried.insert(agent);
        }
        self.agents[agent].call = Some(call);
        self.set_state(now, agent, AgentState::Ringing);
        self.timers
            .set(Timer::RingNoAnswer(call, agent), now + ring_time);
        let ext = self.agents[agent].ext.clone();
        let caller = self.calls[&call].caller.clone();
        let transfer = self.calls[&call]
            .transfer
            .as_ref()
            .map(|t| (t.from.clone(), t.note.clone()));
        self.events.push_back(Event::AgentOffered {
            call,
            agent: ext.clone(),
            tier,
            caller,
            transfer,
            at: now,
        });
        self.commands.push_back(Command::Ring {
            call,
            agent: ext,
            tier,
        });
    }

    fn ring_seniors(&mut self, now: Instant, call: u64) -> Vec<String> {
        let queue = self.calls[&call].queue;
        let mut rung = Vec::new();
        let seniors: Vec<usize> = self.candidates(queue, Tier::Senior).collect();
        for s in seniors {
            self.ring(now, call, s, Tier::Senior);
            rung.push(self.agents[s].ext.clone());
        }
        rung
    }

    /// Offers waiting calls, oldest first, to whoever is free.
    fn dispatch(&mut self, now: Instant) {
        if self.waiting.is_empty() || !self.anyone_free() {
            return;
        }
        let waiting: Vec<u64> = self.waiting.iter().copied().collect();
        for call in waiting {
            if !self.anyone_free() {
                break;
            }
            let Some(c) = self.calls.get(&call) else {
                continue;
            };
            let queue = c.queue;
            // A transfer to one person waits for them alone.
            if c.transfer.as_ref().is_some_and(|t| t.direct.is_some()) {
                continue;
            }
            let seniors_only = c.transfer.as_ref().is_some_and(|t| t.seniors_only);
            // One agent-tier phone rings at a time; the next is tried when it stops.
            let agent_ringing = c.ringing.iter().any(|&(_, t)| t == Tier::Agent);
            if !agent_ringing && !seniors_only {
                let tried = &self.calls[&call].tried;
                let next = self
                    .candidates(queue, Tier::Agent)
                    .find(|a| !tried.contains(a));
                let first = self.candidates(queue, Tier::Agent).next();
                let next = match (next, first) {
                    (Some(a), _) => Some(a),
                    // Everyone free has had a turn: start a new round.
                    (None, Some(a)) => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.tried.clear();
                        }
                        Some(a)
                    }
                    (None, None) => None,
                };
                if let Some(a) = next {
                    self.ring(now, call, a, Tier::Agent);
                }
            }
            // Past the deadline, every free senior rings too.
            if self.calls.get(&call).is_some_and(|c| c.deadline_passed) || seniors_only {
                let seniors: Vec<usize> = self.candidates(queue, Tier::Senior).collect();
                for s in seniors {
                    self.ring(now, call, s, Tier::Senior);
                }
            }
        }
    }
}

#[path = "acd_free.rs"]
mod free;
use free::{Free, tier_index};
#[path = "acd_consult.rs"]
mod consult;
#[path = "acd_outside.rs"]
mod outside;
#[path = "acd_transfer.rs"]
mod transfer;
pub use transfer::TransferTarget;

#[cfg(test)]
#[path = "acd_tests.rs"]
mod tests;
