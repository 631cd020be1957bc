//! The INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).
//!
//! It answers retransmitted INVITEs with the last response, sends 100 Trying
//! itself when the TU is silent for 200 ms (so the caller stops
//! retransmitting), retransmits a 3xx–6xx final until the ACK comes (Timer
//! G, capped at T2; Timer H gives up) and then absorbs ACK retransmissions
//! (Timer I). A 2xx moves it to Accepted: the TU's dialog layer
//! retransmits 2xx itself, and this transaction only absorbs the INVITE's
//! retransmissions until Timer L, so they are not taken for a new call.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::event::Event;
use super::io::Io;
use super::timer::Timer;
use super::{Error, State};
use crate::sip::{HeaderName, Message, StatusCode, Tag, parse_datagram, response_to};

/// An INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInvite {
    state: State,
    /// The 100 Trying to send if the TU is silent; gone once anything is sent.
    trying: Option<Bytes>,
    /// The last response sent: what a retransmitted INVITE gets, and what
    /// Timer G repeats in Completed.
    last: Option<Bytes>,
    /// The next Timer G interval.
    interval: Duration,
    /// Whether the INVITE had no RFC 3261 branch: then an ACK is matched by
    /// the To tag of the final response, which is remembered here.
    legacy: bool,
    response_to_tag: Option<Tag>,
}

impl ServerInvite {
    /// A transaction for `invite`, whose Via is already stamped.
    pub(crate) fn new(invite: &Message, legacy: bool) -> ServerInvite {
        // Built now, while the request is at hand, so the transaction need
        // not keep the INVITE; §8.2.6.1 has 100 Trying echo Timestamp.
        let mut trying = response_to(invite, StatusCode::TRYING, None);
        if let Some(ts) = invite.headers.get(&HeaderName::Timestamp) {
            trying.header(&HeaderName::Timestamp, ts.value_str());
        }
        ServerInvite {
            state: State::Proceeding,
            trying: Some(trying.finish()),
            last: None,
            interval: Duration::ZERO,
            legacy,
            response_to_tag: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The To tag of the final response, for RFC 2543 ACK matching.
    pub(crate) fn response_to_tag(&self) -> Option<&Tag> {
        self.response_to_tag.as_ref()
    }

    /// Starts the 200 ms wait for the TU's first response.
    pub(crate) fn start(&mut self, io: &mut Io<'_>) {
        io.start(Timer::Trying, io.config.trying);
    }

    pub(crate) fn respond(
        &mut self,
        io: &mut Io<'_>,
        status: StatusCode,
        bytes: Bytes,
    ) -> Result<(), Error> {
        match self.state {
            State::Proceeding => {
                io.stop(Timer::Trying);
                self.trying = None;
                io.send(&bytes);
                if status.is_final() && self.legacy {
                    self.response_to_tag =
                        parse_datagram(bytes.clone()).ok().and_then(|m| m.to_tag());
                }
                if status.is_provisional() {
                    self.last = Some(bytes);
                } else if status.is_success() {
                    self.last = None;
                    self.state = State::Accepted;
                    io.start(Timer::L, io.config.timeout());
                } else {
                    self.last = Some(bytes);
                    self.state = State::Completed;
                    if !io.reliable {
                        self.interval = io.config.t1;
                        io.start(Timer::G, self.interval);
                    }
                    io.start(Timer::H, io.config.timeout());
                }
                Ok(())
            }
            State::Accepted if status.is_success() => {
                // The TU's own 2xx retransmissions (§13.3.1.4) go out as given.
                io.send(&bytes);
                Ok(())
            }
            _ => Err(Error::FinalAlreadySent),
        }
    }

    /// A retransmitted INVITE.
    pub(crate) fn on_retransmission(&mut self, io: &mut Io<'_>) {
        match self.state {
            State::Proceeding | State::Completed => {
                if let Some(last) = &self.last {
                    io.send(last);
                }
            }
            // Confirmed and Accepted absorb it (RFC 6026 §8.5 for Accepted).
            _ => {}
        }
    }

    pub(crate) fn on_ack(&mut self, io: &mut Io<'_>, msg: Message, source: SocketAddr) {
        match self.state {
            State::Completed => {
                io.stop(Timer::G);
                io.stop(Timer::H);
                if io.reliable {
                    // Timer I is zero: no ACK retransmissions to absorb.
                    self.state = State::Terminated;
                } else {
                    self.state = State::Confirmed;
                    io.start(Timer::I, io.config.t4);
                }
            }
            State::Accepted => io.emit(Event::Ack {
                invite: Some(io.key),
                msg,
                source,
            }),
            // Proceeding (an ACK before any final is meaningless) and
            // Confirmed (a retransmitted ACK) absorb it.
            _ => {}
        }
    }

    pub(crate) fn on_timer(&mut self, io: &mut Io<'_>, timer: Timer) {
        match (self.state, timer) {
            (State::Proceeding, Timer::Trying) => {
                if let Some(trying) = self.trying.take() {
                    io.send(&trying);
                    self.last = Some(trying);
                }
            }
            (State::Completed, Timer::G) => {
                if let Some(last) = &self.last {
                    io.send(last);
                }
                self.interval = self.interval.saturating_mul(2).min(io.config.t2);
                io.start(Timer::G, self.interval);
            }
            (State::Completed, Timer::H) => {
                io.emit(Event::Timeout { key: io.key });
                self.state = State::Terminated;
            }
            (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => {
                self.state = State::Terminated;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::sip::transaction::testing::*;
    use crate::sip::transaction::{Error, Event, State, Timer};
    use crate::sip::{HeaderName, StatusCode, parse_datagram};

    #[test]
    fn trying_sent_after_200ms_if_tu_silent() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request_with("INVITE", "z9hG4bKinv1", 1, &["Timestamp: 54"]);
        let key = receive(&mut layer, t0, &invite);
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(200)));
        assert_eq!(layer.deadline(key, Timer::Trying), Some(t0 + ms(200)));
        layer.handle_timeout(t0 + ms(199));
        assert!(drain_transmits(&mut layer).is_empty());

        layer.handle_timeout(t0 + ms(200));
        let sent = drain_transmits(&mut layer);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].destination, CLIENT);
        let trying = parse_datagram(sent[0].bytes.clone()).unwrap();
        assert_eq!(trying.status(), Some(StatusCode::TRYING));
        assert_eq!(trying.branch(), invite.branch());
        assert_eq!(trying.to_tag(), None);
        assert_eq!(trying.call_id(), invite.call_id());
        assert_eq!(
            trying
                .headers
                .get(&HeaderName::Timestamp)
                .unwrap()
                .value_str(),
            "54"
        );
        assert_eq!(layer.poll_timeout(), None);

        // The caller's retransmission (Timer A, 500 ms) gets the 100 again.
        layer.handle_request(t0 + ms(500), invite, CLIENT, false);
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        assert!(drain_events(&mut layer).is_empty());
    }

    #[test]
    fn no_trying_when_the_tu_answers_within_200ms() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv2", 1);
        let key = receive(&mut layer, t0, &invite);
        layer
            .respond(
                t0 + ms(150),
                key,
                StatusCode::RINGING,
                reply_bytes(&invite, 180, Some("uas")),
            )
            .unwrap();
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        assert_eq!(layer.poll_timeout(), None);
        layer.handle_timeout(t0 + ms(200));
        assert!(drain_transmits(&mut layer).is_empty());
    }

    #[test]
    fn retransmitted_invite_gets_the_last_provisional() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv3", 1);
        let key = receive(&mut layer, t0, &invite);
        let ringing = reply_bytes(&invite, 180, Some("uas"));
        layer
            .respond(t0 + ms(10), key, StatusCode::RINGING, ringing.clone())
            .unwrap();
        drain_transmits(&mut layer);
        layer.handle_request(t0 + ms(500), invite, CLIENT, false);
        let sent = drain_transmits(&mut layer);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].bytes, ringing);
        assert!(drain_events(&mut layer).is_empty());
    }

    #[test]
    fn timer_g_retransmits_final_until_ack() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv4", 1);
        let key = receive(&mut layer, t0, &invite);
        let busy = reply_bytes(&invite, 486, Some("uas"));
        layer
            .respond(t0, key, StatusCode::BUSY_HERE, busy.clone())
            .unwrap();
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        // G: 0.5, 1, 2, then capped at T2 = 4 s.
        for at in [500, 1_500, 3_500, 7_500, 11_500] {
            assert_eq!(layer.poll_timeout(), Some(t0 + ms(at)));
            layer.handle_timeout(t0 + ms(at));
            let sent = drain_transmits(&mut layer);
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].bytes, busy);
        }
        layer.handle_request(t0 + ms(12_000), ack_for(&invite, "uas"), CLIENT, false);
        assert_eq!(layer.state(key), Some(State::Confirmed));
        assert_eq!(layer.deadline(key, Timer::G), None);
        assert_eq!(layer.deadline(key, Timer::H), None);
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(17_000)));
        run_until(&mut layer, t0 + ms(15_500));
        assert!(drain_transmits(&mut layer).is_empty());
        assert!(drain_events(&mut layer).is_empty());
    }

    #[test]
    fn timer_h_ends_without_ack() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv5", 1);
        let key = receive(&mut layer, t0, &invite);
        layer
            .respond(
                t0,
                key,
                StatusCode::NOT_FOUND,
                reply_bytes(&invite, 404, Some("uas")),
            )
            .unwrap();
        drain_transmits(&mut layer);
        assert_eq!(
            layer.deadline(key, Timer::H),
            Some(t0 + Duration::from_secs(32))
        );
        run_until(&mut layer, t0 + ms(31_999));
        // G at 0.5, 1.5, 3.5, 7.5 … 31.5: ten retransmissions.
        assert_eq!(drain_transmits(&mut layer).len(), 10);
        assert!(drain_events(&mut layer).is_empty());
        layer.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(drain_events(&mut layer), vec![Event::Timeout { key }]);
        assert_eq!(layer.len(), 0);
        assert_eq!(layer.poll_timeout(), None);
    }

    #[test]
    fn timer_i_absorbs_acks() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv6", 1);
        let key = receive(&mut layer, t0, &invite);
        layer
            .respond(
                t0,
                key,
                StatusCode::DECLINE,
                reply_bytes(&invite, 603, Some("uas")),
            )
            .unwrap();
        layer.handle_request(t0 + ms(100), ack_for(&invite, "uas"), CLIENT, false);
        drain_transmits(&mut layer);
        assert_eq!(layer.deadline(key, Timer::I), Some(t0 + ms(5_100)));
        // Retransmitted ACKs and a late INVITE copy are absorbed silently.
        layer.handle_request(t0 + ms(600), ack_for(&invite, "uas"), CLIENT, false);
        layer.handle_request(t0 + ms(700), invite.clone(), CLIENT, false);
        layer.handle_request(t0 + ms(5_000), ack_for(&invite, "uas"), CLIENT, false);
        assert!(drain_events(&mut layer).is_empty());
        assert!(drain_transmits(&mut layer).is_empty());
        layer.handle_timeout(t0 + ms(5_100));
        assert_eq!(layer.state(key), None);
        // With the transaction gone, an ACK is a stray for the TU.
        layer.handle_request(t0 + ms(5_200), ack_for(&invite, "uas"), CLIENT, false);
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [Event::Ack { invite: None, .. }]
        ));
    }

    #[test]
    fn timer_l_absorbs_invite_retransmissions_after_2xx() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv7", 1);
        let key = receive(&mut layer, t0, &invite);
        let ok = reply_bytes(&invite, 200, Some("uas"));
        layer
            .respond(t0 + ms(1_000), key, StatusCode::OK, ok.clone())
            .unwrap();
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        assert_eq!(layer.state(key), Some(State::Accepted));
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(33_000)));

        // The INVITE again: neither a new call for the TU nor a response.
        layer.handle_request(t0 + ms(1_500), invite.clone(), CLIENT, false);
        assert!(drain_events(&mut layer).is_empty());
        assert!(drain_transmits(&mut layer).is_empty());
        // The TU retransmits its 2xx itself; the transaction passes it on.
        layer
            .respond(t0 + ms(1_500), key, StatusCode::OK, ok)
            .unwrap();
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        assert_eq!(
            layer.respond(
                t0 + ms(1_600),
                key,
                StatusCode::BUSY_HERE,
                reply_bytes(&invite, 486, None)
            ),
            Err(Error::FinalAlreadySent)
        );
        // An ACK matching the transaction goes up to the TU (RFC 6026 §8.7).
        layer.handle_request(t0 + ms(2_000), ack_for(&invite, "uas"), CLIENT, false);
        assert!(
            matches!(&drain_events(&mut layer)[..], [Event::Ack { invite: Some(k), .. }] if *k == key)
        );

        layer.handle_timeout(t0 + ms(32_999));
        assert_eq!(layer.state(key), Some(State::Accepted));
        layer.handle_timeout(t0 + ms(33_000));
        assert_eq!(layer.state(key), None);
        // After L, the same INVITE would be a new request.
        layer.handle_request(t0 + ms(33_001), invite, CLIENT, false);
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [Event::Request { .. }]
        ));
    }

    #[test]
    fn timer_g_is_not_started_and_i_is_zero_on_reliable_transports() {
        let mut layer = layer();
        let t0 = origin();
        let invite = request("INVITE", "z9hG4bKinv8", 1);
        layer.handle_request(t0, invite.clone(), CLIENT, true);
        let key = request_key(&drain_events(&mut layer));
        layer
            .respond(
                t0,
                key,
                StatusCode::BUSY_HERE,
                reply_bytes(&invite, 486, Some("u")),
            )
            .unwrap();
        assert_eq!(layer.deadline(key, Timer::G), None);
        assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        layer.handle_request(t0 + ms(20), ack_for(&invite, "u"), CLIENT, true);
        assert_eq!(layer.state(key), None);
        assert_eq!(layer.poll_timeout(), None);
        let sent = drain_transmits(&mut layer);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].reliable);
    }
}
