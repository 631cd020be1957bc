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
    to: String,
    /// The transferor's note for whoever takes the call.
    pub(super) note: Option<String>,
}

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
        let &agent = self
            .by_ext
            .get(from)
            .ok_or_else(|| AcdError::NoSuchAgent(from.to_string()))?;
        let c = self.calls.get(&call).ok_or(AcdError::NoSuchCall)?;
        if c.answered != Some(agent) {
            return Err(AcdError::NoSuchCall);
        }
        let (queue, direct, seniors_only, to) = match &target {
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
        });
        self.waiting.push_front(call);
        self.timers
            .set(Timer::MaxWait(call), now + self.queues[queue].max_wait);
        self.events.push_back(Event::TransferStarted {
            call,
            from: from.to_string(),
            to,
            note,
            at: now,
        });
        if let Some(to) = direct {
            let tier = self.memberships[to]
                .iter()
                .find(|&&(q, _)| q == queue)
                .map_or(Tier::Agent, |&(_, t)| t);
            self.ring(now, call, to, tier);
        }
        self.dispatch(now);
        Ok(())
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

    /// The colleague a call was handed to let it ring or refused it: it
    /// goes back to the queue.
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
        t.direct = None;
        let (from, to) = (t.from.clone(), t.to.clone());
        self.events.push_back(Event::TransferFailed {
            call,
            from,
            to,
            at: now,
        });
    }
}
