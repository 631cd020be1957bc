//! The call screen's state, sans-IO: what the window draws for the call in
//! hand and what it must tell the server, with time passed in. The clinics'
//! rules it carries: the caller's details stay hidden until the agent has
//! confirmed who is calling (the date-of-birth check; the confirmation is
//! an audit fact), a caller on hold is returned to every `hold_reminder`
//! (30 s by default), and wrap-up counts down after the call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A patient's card as the screen pop brings it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Card {
    /// The clinic's id.
    pub mis_id: String,
    /// Full name.
    pub full_name: String,
    /// How they like to be addressed.
    pub address_as: Option<String>,
    /// Date of birth (what the identity check asks for).
    pub birth_date: Option<String>,
    /// Service-card notes, reminders, pathway lines.
    pub notes: Vec<String>,
}

/// What the screen shows of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    /// Nobody in the directory has this number.
    Unknown {
        /// The number.
        number: &'a str,
    },
    /// A card matched, identity not confirmed yet: only the number, and the
    /// prompt to check the date of birth.
    Unconfirmed {
        /// The number.
        number: &'a str,
    },
    /// Identity confirmed: the whole card.
    Confirmed(&'a Card),
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The phone rings.
    Ringing,
    /// Talking.
    Talking,
    /// The caller is on hold, since then; reminders given so far.
    OnHold {
        /// Since when.
        since: Instant,
        /// Reminders so far.
        reminders: u32,
    },
    /// After the call, until then.
    WrapUp {
        /// When wrap-up ends.
        until: Instant,
    },
    /// Over.
    Done,
}

/// What the screen asks of the rest of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Tell the server (an audit fact): the agent confirmed the caller's
    /// identity on this call.
    IdentityConfirmed {
        /// The call.
        call_id: String,
        /// Whose card.
        mis_id: String,
    },
    /// Show the hold reminder (the `n`th): go back to the caller.
    HoldReminder {
        /// Which one.
        n: u32,
        /// How long the caller has waited.
        held_for: Duration,
    },
    /// Wrap-up is over: the agent is free again.
    WrapUpOver,
}

/// One call on the screen.
#[derive(Debug)]
pub struct CallScreen {
    call_id: String,
    number: String,
    card: Option<Card>,
    confirmed: bool,
    phase: Phase,
    hold_reminder: Duration,
    wrap_up: Duration,
    actions: VecDeque<Action>,
}

impl CallScreen {
    /// The phone rings for `call_id` from `number`; `card` if it matched.
    pub fn offered(
        call_id: &str,
        number: &str,
        card: Option<Card>,
        hold_reminder: Duration,
        wrap_up: Duration,
    ) -> CallScreen {
        CallScreen {
            call_id: call_id.to_string(),
            number: number.to_string(),
            card,
            confirmed: false,
            phase: Phase::Ringing,
            hold_reminder,
            wrap_up,
            actions: VecDeque::new(),
        }
    }

    /// The card came after the ring (the WebSocket was slower than SIP):
    /// it is shown, behind the identity gate, unless identity was already
    /// confirmed on another card.
    pub fn set_card(&mut self, card: Card) {
        if !self.confirmed {
            self.card = Some(card);
        }
    }

    /// Where the call is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What may be shown of the caller now.
    pub fn caller(&self) -> Caller<'_> {
        match (&self.card, self.confirmed) {
            (None, _) => Caller::Unknown {
                number: &self.number,
            },
            (Some(_), false) => Caller::Unconfirmed {
                number: &self.number,
            },
            (Some(card), true) => Caller::Confirmed(card),
        }
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next moment something is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::OnHold { since, reminders } => {
                Some(since + self.hold_reminder * (reminders + 1))
            }
            Phase::WrapUp { until } => Some(until),
            _ => None,
        }
    }

    /// Time passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            match self.phase {
                Phase::OnHold { since, reminders } => {
                    let due = since + self.hold_reminder * (reminders + 1);
                    if now < due {
                        return;
                    }
                    self.phase = Phase::OnHold {
                        since,
                        reminders: reminders + 1,
                    };
                    self.actions.push_back(Action::HoldReminder {
                        n: reminders + 1,
                        held_for: due - since,
                    });
                }
                Phase::WrapUp { until } if now >= until => {
                    self.phase = Phase::Done;
                    self.actions.push_back(Action::WrapUpOver);
                    return;
                }
                _ => return,
            }
        }
    }

    /// The agent answered.
    pub fn answered(&mut self, _now: Instant) {
        if self.phase == Phase::Ringing {
            self.phase = Phase::Talking;
        }
    }

    /// The agent ticked "identity confirmed" (after the date-of-birth
    /// check). Once per call; nothing without a card or before the answer.
    pub fn confirm_identity(&mut self) {
        let talking = matches!(self.phase, Phase::Talking | Phase::OnHold { .. });
        let Some(card) = self.card.as_ref().filter(|_| talking && !self.confirmed) else {
            return;
        };
        self.confirmed = true;
        self.actions.push_back(Action::IdentityConfirmed {
            call_id: self.call_id.clone(),
            mis_id: card.mis_id.clone(),
        });
    }

    /// The caller is put on hold.
    pub fn hold(&mut self, now: Instant) {
        if self.phase == Phase::Talking {
            self.phase = Phase::OnHold {
                since: now,
                reminders: 0,
            };
        }
    }

    /// The agent is back with the caller.
    pub fn resume(&mut self, now: Instant) {
        self.handle_timeout(now);
        if matches!(self.phase, Phase::OnHold { .. }) {
            self.phase = Phase::Talking;
        }
    }

    /// The call ended (either side): wrap-up from `now`, unless it was
    /// never answered.
    pub fn ended(&mut self, now: Instant) {
        self.handle_timeout(now);
        self.phase = match self.phase {
            Phase::Ringing | Phase::Done => Phase::Done,
            Phase::WrapUp { until } => Phase::WrapUp { until },
            Phase::Talking | Phase::OnHold { .. } => Phase::WrapUp {
                until: now + self.wrap_up,
            },
        };
    }

    /// Wrap-up time left at `now` (zero outside wrap-up).
    pub fn wrap_up_left(&self, now: Instant) -> Duration {
        match self.phase {
            Phase::WrapUp { until } => until.saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }

    /// How long the caller has been on hold at `now`, if they are.
    pub fn held_for(&self, now: Instant) -> Option<Duration> {
        match self.phase {
            Phase::OnHold { since, .. } => Some(now.saturating_duration_since(since)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use careline_shared::testing::virtual_epoch;

    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    fn anna() -> Card {
        Card {
            mis_id: "mis-42".into(),
            full_name: "Anna Petrova".into(),
            address_as: Some("Anna Sergeevna".into()),
            birth_date: Some("1980-05-17".into()),
            notes: vec!["prefers mornings".into()],
        }
    }

    fn screen() -> CallScreen {
        CallScreen::offered(
            "call-00000001",
            "+79211234567",
            Some(anna()),
            30 * S,
            10 * S,
        )
    }

    fn actions(s: &mut CallScreen) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    #[test]
    fn the_card_stays_hidden_until_the_agent_confirms_who_is_calling() {
        let t0 = virtual_epoch();
        let mut s = screen();
        assert_eq!(
            s.caller(),
            Caller::Unconfirmed {
                number: "+79211234567"
            }
        );
        s.confirm_identity();
        assert!(actions(&mut s).is_empty(), "not while it only rings");
        s.answered(t0 + 2 * S);
        s.confirm_identity();
        s.confirm_identity();
        assert_eq!(
            actions(&mut s),
            [Action::IdentityConfirmed {
                call_id: "call-00000001".into(),
                mis_id: "mis-42".into()
            }],
            "one audit fact, however often the box is ticked"
        );
        assert_eq!(s.caller(), Caller::Confirmed(&anna()));
        let mut unknown = CallScreen::offered("call-2", "+79990000000", None, 30 * S, 10 * S);
        unknown.answered(t0);
        unknown.confirm_identity();
        assert!(actions(&mut unknown).is_empty());
        assert_eq!(
            unknown.caller(),
            Caller::Unknown {
                number: "+79990000000"
            }
        );
    }

    #[test]
    fn hold_reminders_come_at_thirty_and_sixty_seconds_and_none_after_resume() {
        let t0 = virtual_epoch();
        let mut s = screen();
        s.answered(t0);
        let held = t0 + 10 * S;
        s.hold(held);
        assert_eq!(s.poll_timeout(), Some(held + 30 * S));
        s.handle_timeout(held + 30 * S - MS);
        assert!(actions(&mut s).is_empty());
        s.handle_timeout(held + 30 * S);
        assert_eq!(
            actions(&mut s),
            [Action::HoldReminder {
                n: 1,
                held_for: 30 * S
            }]
        );
        s.handle_timeout(held + 60 * S);
        assert_eq!(
            actions(&mut s),
            [Action::HoldReminder {
                n: 2,
                held_for: 60 * S
            }]
        );
        assert_eq!(s.held_for(held + 61 * S), Some(61 * S));
        s.resume(held + 65 * S);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(held + 300 * S);
        assert!(actions(&mut s).is_empty(), "none after resume");
    }

    #[test]
    fn wrap_up_counts_down_after_the_call_and_a_missed_call_has_none() {
        let t0 = virtual_epoch();
        let mut s = screen();
        s.answered(t0);
        s.hold(t0 + 5 * S);
        s.ended(t0 + 20 * S);
        assert_eq!(s.held_for(t0 + 21 * S), None, "the hold ends with the call");
        assert_eq!(s.wrap_up_left(t0 + 23 * S), 7 * S);
        s.handle_timeout(t0 + 30 * S - MS);
        assert!(actions(&mut s).is_empty());
        s.handle_timeout(t0 + 30 * S);
        assert_eq!(actions(&mut s), [Action::WrapUpOver]);
        assert_eq!(s.phase(), Phase::Done);

        let mut missed = screen();
        missed.ended(t0 + 3 * S);
        assert_eq!(missed.phase(), Phase::Done);
        assert_eq!(missed.poll_timeout(), None);
    }
}
