//! The facts the call core emits. Each carries the call (or agent) it is
//! about and the instant it happened; the runtime stamps wall-clock time
//! when it writes them.

use std::time::{Duration, Instant};

use super::agents::AgentState;

/// Which tier of a queue an agent was rung from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The queue's agents.
    Agent,
    /// Its senior specialists.
    Senior,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Answered, then hung up normally by either side.
    Completed,
    /// The caller hung up before anyone answered.
    Abandoned,
    /// Nobody answered within the queue's maximum wait.
    MaxWait,
    /// A leg failed mid-call (media silence, lost connection …).
    Dropped,
    /// The caller pressed 1 while waiting, to be called back instead.
    CallbackRequested,
}

/// A call-core fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A call entered a queue.
    CallArrived {
        /// The call.
        call: u64,
        /// The queue's name.
        queue: String,
        /// The caller's number as the trunk or phone sent it (patient data:
        /// stored, never logged).
        caller: String,
        /// When its INVITE arrived.
        at: Instant,
    },
    /// An agent's phone started ringing for a call.
    AgentOffered {
        /// The call.
        call: u64,
        /// The agent's extension.
        agent: String,
        /// Agent or senior tier.
        tier: Tier,
        /// The caller's number as received (for the agent's screen pop).
        caller: String,
        /// When a colleague handed the call on: who, and their note.
        transfer: Option<(String, Option<String>)>,
        /// When.
        at: Instant,
    },
    /// An agent let it ring past their ring time (or refused it).
    AgentRingNoAnswer {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
        /// Misses in a row so far.
        misses: u32,
        /// When.
        at: Instant,
    },
    /// The answer deadline (`rings_to_answer × ring_cycle`) passed unanswered.
    AnswerDeadlinePassed {
        /// The call.
        call: u64,
        /// When (exactly arrival + deadline).
        at: Instant,
    },
    /// The senior tier is rung as well.
    Escalated {
        /// The call.
        call: u64,
        /// The seniors rung now (may be empty when none is free yet).
        seniors: Vec<String>,
        /// When.
        at: Instant,
    },
    /// An agent answered.
    Answered {
        /// The call.
        call: u64,
        /// Who answered.
        agent: String,
        /// From which tier.
        tier: Tier,
        /// Wait from arrival to answer.
        wait: Duration,
        /// Whether that was within the answer deadline.
        within_deadline: bool,
        /// When.
        at: Instant,
    },
    /// The caller hung up before answer.
    Abandoned {
        /// The call.
        call: u64,
        /// How long they waited.
        wait: Duration,
        /// Whether the deadline had passed.
        after_deadline: bool,
        /// When.
        at: Instant,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: u64,
        /// Why.
        reason: EndReason,
        /// When.
        at: Instant,
    },
    /// RTP packets the server's media relay counted for a call: at answer
    /// (`ringing`: what the caller was sent as ringback until then) and
    /// when the call's media is released.
    MediaStats {
        /// The call.
        call: u64,
        /// Counted while the caller waited (true) or over the whole call.
        ringing: bool,
        /// From the caller.
        caller_in: u64,
        /// To the caller (ringback, then the agent's voice).
        caller_out: u64,
        /// From the agent.
        agent_in: u64,
        /// To the agent.
        agent_out: u64,
        /// When.
        at: Instant,
    },
    /// The agent put the caller on hold (the caller hears music).
    HoldStarted {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
        /// When.
        at: Instant,
    },
    /// The caller has been on hold for the reminder time (again): time to
    /// go back to them (the clinics' rule: every 30–40 s).
    HoldReminder {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
        /// 1 for the first reminder of this hold, then 2, 3 …
        reminder: u32,
        /// On hold so far.
        held_for: Duration,
        /// When.
        at: Instant,
    },
    /// The agent took the caller off hold.
    HoldEnded {
        /// The call.
        call: u64,
        /// The agent.
        agent: String,
        /// How long the caller was on hold.
        held_for: Duration,
        /// When.
        at: Instant,
    },
    /// A connected call broke off: which side, and what showed it.
    LineDropped {
        /// The call.
        call: u64,
        /// `caller` or `agent`.
        side: &'static str,
        /// `rtp_timeout`, or the BYE's Reason (`Q.850 cause 41` …).
        cause: String,
        /// When.
        at: Instant,
    },
    /// The server placed a call (a call-back, a teleconsult): the staff
    /// member's phone rings first, the patient is dialled once they answer.
    DialOutStarted {
        /// The call.
        call: u64,
        /// The staff member's extension.
        staff: String,
        /// The number to reach (patient data: stored, never logged).
        number: String,
        /// `callback` or `teleconsult`.
        purpose: &'static str,
        /// The call-back task or appointment it serves.
        link: Option<String>,
        /// When.
        at: Instant,
    },
    /// One side of a placed call answered: `staff`, then `patient`.
    DialOutAnswered {
        /// The call.
        call: u64,
        /// The staff member.
        staff: String,
        /// `staff` or `patient`.
        side: &'static str,
        /// When.
        at: Instant,
    },
    /// A placed call is over, and how far it got: `reached` (the patient
    /// answered), `no_answer`, `busy`, `wrong_number`, `staff_unavailable`
    /// (the staff member's phone did not take it), `cancelled` (they hung
    /// up before the patient answered), `failed` (no route, no media).
    DialOutEnded {
        /// The call.
        call: u64,
        /// The staff member.
        staff: String,
        /// How far it got.
        outcome: &'static str,
        /// `completed`, or `dropped` when a connected call broke off.
        reason: EndReason,
        /// The call-back task or appointment it served.
        link: Option<String>,
        /// When.
        at: Instant,
    },
    /// The agent on a call hands it on: blind (the caller waits, first in
    /// line, for the target) or attended (the agent keeps the caller on hold
    /// and speaks to the target first).
    TransferStarted {
        /// The call.
        call: u64,
        /// Who hands it on.
        from: String,
        /// To whom: an extension, `queue NAME` or `senior`.
        to: String,
        /// Their note for whoever takes it (shown on the target's screen).
        note: Option<String>,
        /// A consultation first (attended), not a blind hand-over.
        attended: bool,
        /// When.
        at: Instant,
    },
    /// An attended transfer's target answered: the agent speaks to them
    /// while the caller waits on hold.
    ConsultAnswered {
        /// The call.
        call: u64,
        /// The agent who consults.
        from: String,
        /// The colleague who answered.
        to: String,
        /// When.
        at: Instant,
    },
    /// The transfer's target has the caller.
    Transferred {
        /// The call.
        call: u64,
        /// Who handed it on.
        from: String,
        /// Who took it.
        to: String,
        /// After a consultation (attended).
        attended: bool,
        /// When.
        at: Instant,
    },
    /// A transfer did not happen: a blind transfer's colleague did not take
    /// it (the call waits in the queue), or an attended transfer's target
    /// did not answer, hung up, or the agent gave up (the call stays with
    /// the agent).
    TransferFailed {
        /// The call.
        call: u64,
        /// Who handed it on.
        from: String,
        /// The target.
        to: String,
        /// `no_answer`, `cancelled`, `target_hung_up` or `failed`.
        reason: &'static str,
        /// When.
        at: Instant,
    },
    /// An agent's state changed.
    AgentStateChanged {
        /// The agent.
        agent: String,
        /// Before.
        from: AgentState,
        /// After.
        to: AgentState,
        /// When.
        at: Instant,
    },
}

impl EndReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::Abandoned => "abandoned",
            EndReason::MaxWait => "max_wait",
            EndReason::Dropped => "dropped",
            EndReason::CallbackRequested => "callback_requested",
        }
    }
}

impl Tier {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Agent => "agent",
            Tier::Senior => "senior",
        }
    }
}

impl Event {
    /// The call it is about.
    pub fn call(&self) -> Option<u64> {
        match self {
            Event::CallArrived { call, .. }
            | Event::AgentOffered { call, .. }
            | Event::AgentRingNoAnswer { call, .. }
            | Event::AnswerDeadlinePassed { call, .. }
            | Event::Escalated { call, .. }
            | Event::Answered { call, .. }
            | Event::Abandoned { call, .. }
            | Event::Ended { call, .. }
            | Event::HoldStarted { call, .. }
            | Event::HoldReminder { call, .. }
            | Event::HoldEnded { call, .. }
            | Event::LineDropped { call, .. }
            | Event::MediaStats { call, .. }
            | Event::DialOutStarted { call, .. }
            | Event::DialOutAnswered { call, .. }
            | Event::DialOutEnded { call, .. }
            | Event::TransferStarted { call, .. }
            | Event::ConsultAnswered { call, .. }
            | Event::Transferred { call, .. }
            | Event::TransferFailed { call, .. } => Some(*call),
            Event::AgentStateChanged { .. } => None,
        }
    }

    /// The agent it is about.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Event::AgentOffered { agent, .. }
            | Event::AgentRingNoAnswer { agent, .. }
            | Event::Answered { agent, .. }
            | Event::HoldStarted { agent, .. }
            | Event::HoldReminder { agent, .. }
            | Event::HoldEnded { agent, .. }
            | Event::AgentStateChanged { agent, .. } => Some(agent),
            Event::DialOutStarted { staff, .. }
            | Event::DialOutAnswered { staff, .. }
            | Event::DialOutEnded { staff, .. } => Some(staff),
            // The transfer's facts name the agent they concern now.
            Event::TransferStarted { from, .. }
            | Event::TransferFailed { from, .. }
            | Event::ConsultAnswered { from, .. } => Some(from),
            Event::Transferred { to, .. } => Some(to),
            _ => None,
        }
    }

    /// When it happened.
    pub fn at(&self) -> Instant {
        match self {
            Event::CallArrived { at, .. }
            | Event::AgentOffered { at, .. }
            | Event::AgentRingNoAnswer { at, .. }
            | Event::AnswerDeadlinePassed { at, .. }
            | Event::Escalated { at, .. }
            | Event::Answered { at, .. }
            | Event::Abandoned { at, .. }
            | Event::Ended { at, .. }
            | Event::MediaStats { at, .. }
            | Event::HoldStarted { at, .. }
            | Event::HoldReminder { at, .. }
            | Event::HoldEnded { at, .. }
            | Event::LineDropped { at, .. }
            | Event::DialOutStarted { at, .. }
            | Event::DialOutAnswered { at, .. }
            | Event::DialOutEnded { at, .. }
            | Event::TransferStarted { at, .. }
            | Event::Transferred { at, .. }
            | Event::ConsultAnswered { at, .. }
            | Event::TransferFailed { at, .. }
            | Event::AgentStateChanged { at, .. } => *at,
        }
    }

    /// The event's own fields as JSON (ids and times are stored beside it);
    /// `ms` turns an instant into epoch milliseconds.
    pub fn data(&self, ms: impl Fn(Instant) -> i64) -> serde_json::Value {
        use serde_json::json;
        let dur = |d: &Duration| d.as_millis() as u64;
        match self {
            Event::CallArrived { queue, caller, .. } => json!({ "queue": queue, "caller": caller }),
            Event::AgentOffered {
                tier,
                caller,
                transfer,
                ..
            } => match transfer {
                None => json!({ "tier": tier.as_str(), "caller": caller }),
                Some((from, note)) => json!({
                    "tier": tier.as_str(),
                    "caller": caller,
                    "transfer": { "from": from, "note": note },
                }),
            },
            Event::AgentRingNoAnswer { misses, .. } => json!({ "misses": misses }),
            Event::AnswerDeadlinePassed { .. } => json!({}),
            Event::Escalated { seniors, .. } => json!({ "seniors": seniors }),
            Event::Answered {
                tier,
                wait,
                within_deadline,
                ..
            } => {
                json!({ "tier": tier.as_str(), "wait_ms": dur(wait), "within_deadline": within_deadline })
            }
            Event::Abandoned {
                wait,
                after_deadline,
                ..
            } => {
                json!({ "wait_ms": dur(wait), "after_deadline": after_deadline })
            }
            Event::Ended { reason, at, .. } => json!({ "reason": reason.as_str(), "at": ms(*at) }),
            Event::MediaStats {
                ringing,
                caller_in,
                caller_out,
                agent_in,
                agent_out,
                ..
            } => json!({
                "ringing": ringing,
                "caller_in": caller_in,
                "caller_out": caller_out,
                "agent_in": agent_in,
                "agent_out": agent_out,
            }),
            Event::AgentStateChanged { from, to, .. } => {
                json!({ "from": from.as_str(), "to": to.as_str() })
            }
            Event::HoldStarted { .. } => json!({}),
            Event::HoldReminder {
                reminder, held_for, ..
            } => json!({ "reminder": reminder, "held_ms": dur(held_for) }),
            Event::HoldEnded { held_for, .. } => json!({ "held_ms": dur(held_for) }),
            Event::LineDropped { side, cause, .. } => json!({ "side": side, "cause": cause }),
            Event::DialOutStarted {
                number,
                purpose,
                link,
                ..
            } => json!({ "number": number, "purpose": purpose, "link": link }),
            Event::DialOutAnswered { side, .. } => json!({ "side": side }),
            Event::TransferStarted {
                to, note, attended, ..
            } => json!({ "to": to, "note": note, "attended": attended }),
            Event::ConsultAnswered { to, .. } => json!({ "to": to }),
            Event::Transferred { from, attended, .. } => {
                json!({ "from": from, "attended": attended })
            }
            Event::TransferFailed { to, reason, .. } => json!({ "to": to, "reason": reason }),
            Event::DialOutEnded {
                outcome,
                reason,
                link,
                ..
            } => json!({ "outcome": outcome, "reason": reason.as_str(), "link": link }),
        }
    }

    /// The event's name as stored and streamed.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CallArrived { .. } => "call_arrived",
            Event::AgentOffered { .. } => "agent_offered",
            Event::AgentRingNoAnswer { .. } => "agent_ring_no_answer",
            Event::AnswerDeadlinePassed { .. } => "answer_deadline_passed",
            Event::Escalated { .. } => "escalated",
            Event::Answered { .. } => "answered",
            Event::Abandoned { .. } => "abandoned",
            Event::Ended { .. } => "ended",
            Event::MediaStats { .. } => "media_stats",
            Event::AgentStateChanged { .. } => "agent_state_changed",
            Event::HoldStarted { .. } => "hold_started",
            Event::HoldReminder { .. } => "hold_reminder",
            Event::HoldEnded { .. } => "hold_ended",
            Event::LineDropped { .. } => "line_dropped",
            Event::DialOutStarted { .. } => "dialout_started",
            Event::DialOutAnswered { .. } => "dialout_answered",
            Event::DialOutEnded { .. } => "dialout_ended",
            Event::TransferStarted { .. } => "transfer_started",
            Event::ConsultAnswered { .. } => "consult_answered",
            Event::Transferred { .. } => "transferred",
            Event::TransferFailed { .. } => "transfer_failed",
        }
    }
}
