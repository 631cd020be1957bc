//! Attended transfers in the distributor: the agent keeps the caller (on
//! hold) and consults a colleague, a queue or the senior tier first — the
//! clinics' rule is to tell the other person who is on the line and why
//! before connecting them. The target is rung like a transfer's (their
//! screen gets the caller's card and the agent's note); once they answer,
//! the agent may hand the caller over or take the call back. A target who
//! does not answer within the queue's answer deadline (or the one colleague
//! asked for, within their ring time) leaves the call with the agent.

use std::time::Instant;

use super::transfer::Transfer;
use super::{Acd, AcdError, AgentState, AnswerOutcome, Command, Event, Timer, TransferTarget};

impl Acd {
    /// `from` consults `target` about `call` before handing it over.
    pub fn handle_consult(
        &mut self,
        now: Instant,
        call: u64,
        from: &str,
        target: TransferTarget,
        note: Option<String>,
    ) -> Result<(), AcdError> {
        self.handle_timeout(now);
        let (agent, (queue, direct, seniors_only, to)) = self.transfer_from(call, from, &target)?;
        let c = self.calls.get_mut(&call).ok_or(AcdError::NoSuchCall)?;
        let home_queue = c.queue;
        c.queue = queue;
        c.tried.clear();
        c.tried.insert(agent);
        c.transfer = Some(Transfer {
            from: from.to_string(),
            seniors_only,
            direct,
            to: to.clone(),
            note: note.clone(),
            attended: true,
            home_queue,
            consultant: None,
        });
        self.waiting.push_front(call);
        self.timers.set(
            Timer::ConsultGiveUp(call),
            now + self.queues[queue].answer_deadline(),
        );
        self.events.push_back(Event::TransferStarted {
            call,
            from: from.to_string(),
            to,
            note,
            attended: true,
            at: now,
        });
        if let Some(to) = direct {
            self.ring_direct(now, call, to);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Whether `call` is being consulted about (an attended transfer).
    pub fn consulting(&self, call: u64) -> bool {
        self.calls
            .get(&call)
            .and_then(|c| c.transfer.as_ref())
            .is_some_and(|t| t.attended)
    }

    /// A consulted colleague answered: they speak to the agent; the caller
    /// stays on hold.
    pub(super) fn consult_answered(
        &mut self,
        now: Instant,
        call: u64,
        agent: usize,
    ) -> AnswerOutcome {
        let Some(c) = self.calls.get_mut(&call) else {
            return AnswerOutcome::NotWanted;
        };
        let Some(t) = c.transfer.as_mut().filter(|t| t.consultant.is_none()) else {
            return AnswerOutcome::NotWanted;
        };
        t.consultant = Some(agent);
        t.direct = None;
        let from = t.from.clone();
        c.ringing.retain(|&(a, _)| a != agent);
        let others = std::mem::take(&mut c.ringing);
        self.waiting.retain(|&w| w != call);
        self.timers.stop(Timer::ConsultGiveUp(call));
        self.timers.stop(Timer::RingNoAnswer(call, agent));
        for (other, _) in others {
            self.stop_ringing(now, call, other);
        }
        let a = &mut self.agents[agent];
        a.misses = 0;
        a.call = Some(call);
        let to = a.ext.clone();
        self.set_state(now, agent, AgentState::OnCall);
        self.events.push_back(Event::ConsultAnswered {
            call,
            from,
            to,
            at: now,
        });
        self.dispatch(now);
        AnswerOutcome::Consulting
    }

    /// The agent hands the caller to the colleague they consulted; the
    /// colleague's extension.
    pub fn handle_consult_complete(
        &mut self,
        now: Instant,
        call: u64,
        from: &str,
    ) -> Result<String, AcdError> {
        self.handle_timeout(now);
        let agent = self.consulting_agent(call, from)?;
        let c = self.calls.get_mut(&call).ok_or(AcdError::NoSuchCall)?;
        let t = c.transfer.as_ref().ok_or(AcdError::NoSuchCall)?;
        let target = t.consultant.ok_or(AcdError::NotAnswered)?;
        let home_queue = t.home_queue;
        c.transfer = None;
        c.answered = Some(target);
        self.release_after_call(now, agent, home_queue);
        let to = self.agents[target].ext.clone();
        self.events.push_back(Event::Transferred {
            call,
            from: from.to_string(),
            to: to.clone(),
            attended: true,
            at: now,
        });
        self.dispatch(now);
        Ok(to)
    }

    /// The agent takes the call back (or the consultation broke off):
    /// `reason` as in [`Event::TransferFailed`].
    pub fn handle_consult_cancel(
        &mut self,
        now: Instant,
        call: u64,
        from: &str,
        reason: &'static str,
    ) -> Result<(), AcdError> {
        self.handle_timeout(now);
        self.consulting_agent(call, from)?;
        self.end_consult(now, call, reason);
        self.dispatch(now);
        Ok(())
    }

    fn consulting_agent(&self, call: u64, from: &str) -> Result<usize, AcdError> {
        let &agent = self
            .by_ext
            .get(from)
            .ok_or_else(|| AcdError::NoSuchAgent(from.to_string()))?;
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        let attended = c.transfer.as_ref().is_some_and(|t| t.attended);
        if c.answered != Some(agent) || !attended {
            return Err(AcdError::NoSuchCall);
        }
        Ok(agent)
    }

    /// The consultation is over without a hand-over: nobody rings for it
    /// any more, the colleague who answered is free again at once, and the
    /// call is the agent's as before.
    pub(super) fn end_consult(&mut self, now: Instant, call: u64, reason: &'static str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(t) = c.transfer.take_if(|t| t.attended) else {
            return;
        };
        c.queue = t.home_queue;
        let ringing = std::mem::take(&mut c.ringing);
        self.waiting.retain(|&w| w != call);
        self.timers.stop(Timer::ConsultGiveUp(call));
        for (agent, _) in ringing {
            self.timers.stop(Timer::RingNoAnswer(call, agent));
            self.release_ringer(now, agent);
            self.commands.push_back(Command::StopRinging {
                call,
                agent: self.agents[agent].ext.clone(),
            });
        }
        if let Some(k) = t.consultant {
            self.agents[k].call = None;
            self.after_busy(now, k);
        }
        self.events.push_back(Event::TransferFailed {
            call,
            from: t.from,
            to: t.to,
            reason,
            at: now,
        });
        self.commands
            .push_back(Command::ConsultEnded { call, reason });
    }
}
