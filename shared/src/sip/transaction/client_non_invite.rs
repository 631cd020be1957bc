//! The non-INVITE client transaction (RFC 3261 §17.1.2): REGISTER, OPTIONS,
//! BYE, CANCEL, REFER, NOTIFY …
//!
//! The request is retransmitted on unreliable transports with Timer E,
//! doubling up to T2, and every T2 once a provisional has arrived (the
//! server is alive but slow). Timer F bounds the wait for a final response.
//! After the final, Timer K absorbs its retransmissions so the TU sees it once.

use std::time::Duration;

use bytes::Bytes;

use super::State;
use super::event::Event;
use super::io::Io;
use super::timer::Timer;
use crate::sip::{Message, StatusCode};

/// A non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    state: State,
    /// The request as sent, for Timer E.
    request: Bytes,
    /// The next Timer E interval while Trying.
    interval: Duration,
}

impl ClientNonInvite {
    pub(crate) fn new(request: Bytes) -> ClientNonInvite {
        ClientNonInvite {
            state: State::Trying,
            request,
            interval: Duration::ZERO,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Sends the request and starts Timers E (unreliable only) and F.
    pub(crate) fn start(&mut self, io: &mut Io<'_>) {
        io.send(&self.request);
        if !io.reliable {
            self.interval = io.config.t1;
            io.start(Timer::E, self.interval);
        }
        io.start(Timer::F, io.config.timeout());
    }

    pub(crate) fn on_timer(&mut self, io: &mut Io<'_>, timer: Timer) {
        match (self.state, timer) {
            (State::Trying, Timer::E) => {
                io.send(&self.request);
                self.interval = self.interval.saturating_mul(2).min(io.config.t2);
                io.start(Timer::E, self.interval);
            }
            (State::Proceeding, Timer::E) => {
                // A provisional came, so the server has the request; keep
                // probing at the slowest pace in case the final gets lost.
                io.send(&self.request);
                io.start(Timer::E, io.config.t2);
            }
            (State::Trying | State::Proceeding, Timer::F) => {
                io.emit(Event::Timeout { key: io.key });
                self.state = State::Terminated;
            }
            (State::Completed, Timer::K) => self.state = State::Terminated,
            _ => {}
        }
    }

    pub(crate) fn on_response(&mut self, io: &mut Io<'_>, status: StatusCode, msg: Message) {
        match self.state {
            State::Trying | State::Proceeding if status.is_provisional() => {
                self.state = State::Proceeding;
                io.emit(Event::Response { key: io.key, msg });
            }
            State::Trying | State::Proceeding => {
                io.stop(Timer::E);
                io.stop(Timer::F);
                io.emit(Event::Response { key: io.key, msg });
                if io.reliable {
                    // Timer K is zero: nothing will be retransmitted to us.
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    io.start(Timer::K, io.config.t4);
                }
            }
            // Completed: a retransmitted final, already given to the TU.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::sip::transaction::testing::*;
    use crate::sip::transaction::{Event, Key, State, Timer, TransactionLayer};
    use crate::sip::{Message, StatusCode};

    fn trying() -> (TransactionLayer, Key, Message) {
        let mut layer = layer();
        let branch = layer.new_branch();
        let register = request("REGISTER", branch.as_str(), 1);
        let key = layer
            .send_request(origin(), &register, register.to_bytes(), SERVER, false)
            .unwrap();
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        (layer, key, register)
    }

    #[test]
    fn timer_e_caps_at_t2() {
        let (mut layer, key, _) = trying();
        let t0 = origin();
        // Intervals 0.5, 1, 2, then T2 = 4 s from there on.
        for at in [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500] {
            assert_eq!(layer.poll_timeout(), Some(t0 + ms(at)));
            layer.handle_timeout(t0 + ms(at));
            assert_eq!(
                drain_transmits(&mut layer).len(),
                1,
                "retransmission at {at} ms"
            );
        }
        assert_eq!(layer.deadline(key, Timer::E), Some(t0 + ms(23_500)));
    }

    #[test]
    fn timer_e_retransmits_every_t2_in_proceeding() {
        let (mut layer, key, register) = trying();
        let t0 = origin();
        layer.handle_timeout(t0 + ms(500));
        drain_transmits(&mut layer);
        layer.handle_response(t0 + ms(600), reply(&register, 100, None), SERVER);
        assert_eq!(layer.state(key), Some(State::Proceeding));
        // E keeps its deadline (1.5 s); after that it is T2 every time.
        for at in [1_500, 5_500, 9_500] {
            assert_eq!(layer.deadline(key, Timer::E), Some(t0 + ms(at)));
            layer.handle_timeout(t0 + ms(at));
            assert_eq!(drain_transmits(&mut layer).len(), 1);
        }
    }

    #[test]
    fn timer_f_times_out_non_invite() {
        let (mut layer, key, _) = trying();
        let t0 = origin();
        assert_eq!(
            layer.deadline(key, Timer::F),
            Some(t0 + Duration::from_secs(32))
        );
        run_until(&mut layer, t0 + ms(31_999));
        // E at 0.5, 1.5, 3.5, then every 4 s: 7.5 … 31.5 — ten retransmissions.
        assert_eq!(drain_transmits(&mut layer).len(), 10);
        assert!(drain_events(&mut layer).is_empty());
        layer.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(drain_events(&mut layer), vec![Event::Timeout { key }]);
        assert!(drain_transmits(&mut layer).is_empty());
        assert_eq!(layer.len(), 0);
        assert_eq!(layer.poll_timeout(), None);
    }

    #[test]
    fn timer_k_absorbs_retransmitted_final() {
        let (mut layer, key, register) = trying();
        let t0 = origin();
        let ok = reply(&register, 200, Some("reg"));
        layer.handle_response(t0 + ms(700), ok.clone(), SERVER);
        let events = drain_events(&mut layer);
        assert!(matches!(&events[..], [Event::Response { key: k, msg }]
            if *k == key && msg.status() == Some(StatusCode::OK)));
        assert_eq!(layer.state(key), Some(State::Completed));
        // E and F stopped; K = T4 is the only deadline.
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(5_700)));
        layer.handle_response(t0 + ms(1_000), ok, SERVER);
        assert!(drain_events(&mut layer).is_empty());
        assert!(drain_transmits(&mut layer).is_empty());
        layer.handle_timeout(t0 + ms(5_699));
        assert_eq!(layer.state(key), Some(State::Completed));
        layer.handle_timeout(t0 + ms(5_700));
        assert_eq!(layer.state(key), None);
    }

    #[test]
    fn timer_k_is_zero_on_reliable_transports() {
        let mut layer = layer();
        let branch = layer.new_branch();
        let options = request("OPTIONS", branch.as_str(), 1);
        let key = layer
            .send_request(origin(), &options, options.to_bytes(), SERVER, true)
            .unwrap();
        // Only F runs: no retransmissions over a stream.
        assert_eq!(
            layer.poll_timeout(),
            Some(origin() + Duration::from_secs(32))
        );
        assert_eq!(layer.deadline(key, Timer::E), None);
        layer.handle_response(origin() + ms(5), reply(&options, 200, Some("x")), SERVER);
        assert_eq!(drain_events(&mut layer).len(), 1);
        assert_eq!(layer.state(key), None);
        assert_eq!(layer.poll_timeout(), None);
    }
}
