//! Blind transfers in the distributor: the agent who has a call hands it
//! to a colleague (by extension), to a queue, or to the senior tier of the
//! call's queue. The transferor is free (after wrap-up) at once; the call
//! waits, first in line, in its new queue. A colleague who does not answer
//! sends it back to the queue rather than to silence. (And a waiting
//! caller's wish to be called back instead, which also takes a call out of
//! the queue other than by an answer.)

use std::time::Instant;

use super::{Acd, AcdError, AgentState, Event, Tier, Timer};

/// Where a call is handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// One colleague, by extension.
    Extension(String),
    /// A queue, by its number.
    Queue(String),
    /// The senior specialists of the call's queue.
    Senior,
}

/// A transfer in progress.
#[derive(Debug, Clone)]
pub(super) struct Transfer {
    /// Who handed it on.
    pub(super) from: String,
    /// Only the seniors ring.
    pub(super) seniors_only: bool,
    /// The one colleague it waits for, while their phone rings.
    pub(super) direct: Option<usize>,
    /// The target as asked for.
    pub(super) to: String,
    /// The transferor's note for whoever takes the call.
    pub(super) note: Option<String>,
    /// An attended transfer: the transferor keeps the call (on hold) and
    /// speaks to the target before handing it over.
    pub(super) attended: bool,
    /// The queue the call was in before (it returns there if an attended
    /// transfer comes to nothing).
    pub(super) home_queue: usize,
    /// The colleague who answered an attended transfer's consultation.
    pub(super) consultant: Option<usize>,
}

/// Where a transfer rings: the queue, the one colleague (if any), seniors
/// only, and how the target is named in events.
pub(super) type Resolved = (usize, Option<usize>, bool, String);

impl Acd {
    /// `from` hands `call` to `target`, with a note for whoever takes it.
    pub fn handle_transfer(
        &mut self,
        now: Instant,
        call: u64,
        from: &str,
        target: TransferTarget,
        note: Option<String>,
    ) -> Result<(), AcdError> {
        self.handle_timeout(now);
        let (agent, (queue, direct, seniors_only, to)) = self.transfer_from(call, from, &target)?;
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        let old_queue = c.queue;
        self.release_after_call(now, agent, old_queue);
        let c = self.calls.get_mut(&call).ok_or(AcdError::NoSuchCall)?;
        c.answered = None;
        c.queue = queue;
        c.tried.clear();
        c.tried.insert(agent);
        c.transfer = Some(Transfer {
            from: from.to_string(),
            seniors_only,
            direct,
            to: to.clone(),
            note: note.clone(),
            attended: false,
            home_queue: old_queue,
            consultant: None,
        });
        self.waiting.push_front(call);
        self.timers
            .set(Timer::MaxWait(call), now + self.queues[queue].max_wait);
        self.events.push_back(Event::TransferStarted {
            call,
            from: from.to_string(),
            to,
            note,
            attended: false,
            at: now,
        });
        if let Some(to) = direct {
            self.ring_direct(now, call, to);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Rings the one colleague a call is handed to.
    pub(super) fn ring_direct(&mut self, now: Instant, call: u64, to: usize) {
        let Some(queue) = self.calls.get(&call).map(|c| c.queue) else {
            return;
        };
        let tier = self.memberships[to]
            .iter()
            .find(|&&(q, _)| q == queue)
            .map_or(Tier::Agent, |&(_, t)| t);
        self.ring(now, call, to, tier);
    }

    /// Checks that `from` has `call` and may hand it to `target`; where it
    /// would ring.
    pub(super) fn transfer_from(
        &self,
        call: u64,
        from: &str,
        target: &TransferTarget,
    ) -> Result<(usize, Resolved), AcdError> {
        let &agent = self
            .by_ext
            .get(from)
            .ok_or_else(|| AcdError::NoSuchAgent(from.to_string()))?;
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        if c.answered != Some(agent) {
            return Err(AcdError::NoSuchCall);
        }
        if c.transfer.is_some() {
            // One transfer at a time.
            return Err(AcdError::Busy(from.to_string(), AgentState::OnCall));
        }
        let resolved = match target {
            TransferTarget::Extension(ext) => {
                let &to = self
                    .by_ext
                    .get(ext)
                    .ok_or_else(|| AcdError::NoSuchAgent(ext.clone()))?;
                if to == agent {
                    return Err(AcdError::Busy(ext.clone(), AgentState::OnCall));
                }
                let state = self.agents[to].state;
                if !matches!(state, AgentState::Available | AgentState::WithPatient) {
                    return Err(AcdError::Busy(ext.clone(), state));
                }
                (c.queue, Some(to), false, ext.clone())
            }
            TransferTarget::Queue(number) => {
                let q = self
                    .queues
                    .iter()
                    .position(|q| q.number == *number)
                    .ok_or_else(|| AcdError::NoSuchQueue(number.clone()))?;
                (q, None, false, format!("queue {}", self.queues[q].name))
            }
            TransferTarget::Senior => (c.queue, None, true, "senior".to_string()),
        };
        Ok((agent, resolved))
    }

    /// The caller pressed 1 while waiting: they leave the queue, to be
    /// called back in their turn.
    pub fn handle_callback_requested(&mut self, now: Instant, call: u64) -> Result<(), AcdError> {
        self.handle_timeout(now);
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        if c.answered.is_some() || c.transfer.is_some() {
            return Err(AcdError::NoSuchCall);
        }
        self.finish_unanswered(now, call, super::EndReason::CallbackRequested);
        self.dispatch(now);
        Ok(())
    }

    /// The colleague a call was handed to let it ring or refused it: a
    /// blind transfer goes back to the queue, an attended one to the agent.
    pub(super) fn direct_transfer_failed(&mut self, now: Instant, call: u64, agent: usize) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(t) = c.transfer.as_mut() else {
            return;
        };
        if t.direct != Some(agent) {
            return;
        }
        if t.attended {
            self.end_consult(now, call, "no_answer");
            return;
        }
        t.direct = None;
        let (from, to) = (t.from.clone(), t.to.clone());
        self.events.push_back(Event::TransferFailed {
            call,
            from,
            to,
            reason: "no_answer",
            at: now,
        });
    }
}
