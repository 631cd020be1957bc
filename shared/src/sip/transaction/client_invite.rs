//! The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2).
//!
//! It sends the INVITE, retransmits it on unreliable transports (Timer A,
//! doubling each time with no cap), and gives up after Timer B. A 3xx–6xx
//! final is acknowledged here, by an ACK this transaction builds, and its
//! retransmissions are absorbed until Timer D. A 2xx moves it to Accepted,
//! where every further 2xx (a retransmission, or another fork's answer) goes
//! to the TU until Timer M: the ACK for a 2xx belongs to the dialog, so the
//! TU builds and sends it.

use std::time::Duration;

use bytes::Bytes;

use super::event::Event;
use super::io::Io;
use super::timer::Timer;
use super::{Error, State};
use crate::sip::{
    CallId, HeaderName, Message, MessageWriter, Method, NameAddr, StartLine, StatusCode, Uri, Via,
};

/// An INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInvite {
    state: State,
    /// The INVITE as sent, for Timer A.
    request: Bytes,
    /// What the ACK for a 3xx–6xx copies from the INVITE (boxed: it is
    /// large, and every transaction kind shares one enum in the layer).
    ack: Box<AckParts>,
    /// The ACK, built on the first 3xx–6xx and resent for its retransmissions.
    ack_bytes: Option<Bytes>,
    /// The next Timer A interval.
    interval: Duration,
}

/// The parts of the INVITE that its ACK for a 3xx–6xx repeats (§17.1.1.3):
/// Request-URI, top Via (so the ACK has the INVITE's branch), Route, From,
/// Call-ID and the CSeq number.
#[derive(Debug)]
struct AckParts {
    uri: Uri,
    via: Via,
    route: Vec<NameAddr>,
    from: Option<NameAddr>,
    call_id: Option<CallId>,
    seq: u32,
}

impl ClientInvite {
    /// A transaction for `invite`, serialized as `request`. Fails when the
    /// INVITE lacks what its ACK would need.
    pub(crate) fn new(request: Bytes, invite: &Message) -> Result<ClientInvite, Error> {
        let StartLine::Request { uri, .. } = &invite.start else {
            return Err(Error::NotARequest);
        };
        let via = invite
            .top_via()
            .ok_or(Error::MissingHeader(HeaderName::Via))?;
        let cseq = invite
            .cseq()
            .ok_or(Error::MissingHeader(HeaderName::CSeq))?;
        Ok(ClientInvite {
            state: State::Calling,
            request,
            ack: Box::new(AckParts {
                uri: uri.clone(),
                via: via.clone(),
                route: invite.headers.route.clone(),
                from: invite.headers.from.clone(),
                call_id: invite.headers.call_id.clone(),
                seq: cseq.seq,
            }),
            ack_bytes: None,
            interval: Duration::ZERO,
        })
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Sends the INVITE and starts Timers A (unreliable only) and B.
    pub(crate) fn start(&mut self, io: &mut Io<'_>) {
        io.send(&self.request);
        if !io.reliable {
            self.interval = io.config.t1;
            io.start(Timer::A, self.interval);
        }
        io.start(Timer::B, io.config.timeout());
    }

    pub(crate) fn on_timer(&mut self, io: &mut Io<'_>, timer: Timer) {
        match (self.state, timer) {
            (State::Calling, Timer::A) => {
                // Unlike E and G, A has no T2 cap (§17.1.1.2): an INVITE may
                // wait for a person, so its retransmissions back off freely.
                io.send(&self.request);
                self.interval = self.interval.saturating_mul(2);
                io.start(Timer::A, self.interval);
            }
            (State::Calling, Timer::B) => {
                io.emit(Event::Timeout { key: io.key });
                self.state = State::Terminated;
            }
            (State::Completed, Timer::D) | (State::Accepted, Timer::M) => {
                self.state = State::Terminated;
            }
            _ => {}
        }
    }

    pub(crate) fn on_response(&mut self, io: &mut Io<'_>, status: StatusCode, msg: Message) {
        match self.state {
            State::Calling | State::Proceeding => {
                // Any response proves the INVITE arrived: stop retransmitting,
                // and from now on only the TU (CANCEL) ends the wait.
                io.stop(Timer::A);
                io.stop(Timer::B);
                if status.is_provisional() {
                    self.state = State::Proceeding;
                    io.emit(Event::Response { key: io.key, msg });
                } else if status.is_success() {
                    self.state = State::Accepted;
                    io.start(Timer::M, io.config.timeout());
                    io.emit(Event::Response { key: io.key, msg });
                } else {
                    let ack = self.ack.build(&msg);
                    io.send(&ack);
                    self.ack_bytes = Some(ack);
                    io.emit(Event::Response { key: io.key, msg });
                    if io.reliable {
                        // Timer D is zero: no retransmitted final can arrive.
                        self.state = State::Terminated;
                    } else {
                        self.state = State::Completed;
                        io.start(Timer::D, io.config.timer_d());
                    }
                }
            }
            State::Completed if status.is_final() && !status.is_success() => {
                // The peer did not get our ACK: send it again, tell nobody.
                if let Some(ack) = &self.ack_bytes {
                    io.send(ack);
                }
            }
            State::Accepted if status.is_success() => {
                io.emit(Event::Response { key: io.key, msg });
            }
            _ => {}
        }
    }
}

impl AckParts {
    /// The ACK for `response` (§17.1.1.3): To comes from the response, so it
    /// carries the tag the UAS chose.
    fn build(&self, response: &Message) -> Bytes {
        let mut w = MessageWriter::request(&Method::Ack, &self.uri);
        w.header(&HeaderName::Via, &self.via);
        w.header(&HeaderName::MaxForwards, 70);
        for route in &self.route {
            w.header(&HeaderName::Route, route);
        }
        if let Some(from) = &self.from {
            w.header(&HeaderName::From, from);
        }
        if let Some(to) = &response.headers.to {
            w.header(&HeaderName::To, to);
        }
        if let Some(call_id) = &self.call_id {
            w.header(&HeaderName::CallId, call_id);
        }
        w.header(&HeaderName::CSeq, format_args!("{} ACK", self.seq));
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::sip::transaction::testing::*;
    use crate::sip::transaction::{Discard, Event, State, Timer, TransactionLayer};
    use crate::sip::{HeaderName, Method, StatusCode, parse_datagram};

    /// A layer with one INVITE sent at `t0` over UDP.
    fn calling() -> (
        TransactionLayer,
        crate::sip::transaction::Key,
        crate::sip::Message,
    ) {
        let mut layer = layer();
        let branch = layer.new_branch();
        let invite = request("INVITE", branch.as_str(), 1);
        let key = layer
            .send_request(origin(), &invite, invite.to_bytes(), SERVER, false)
            .unwrap();
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        (layer, key, invite)
    }

    #[test]
    fn timer_a_doubles_without_a_t2_cap() {
        let (mut layer, key, _) = calling();
        let t0 = origin();
        // A fires at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s: intervals 0.5, 1, 2,
        // 4, 8, 16 s — past T2 = 4 s, because INVITE retransmissions are not capped.
        let expected = [500, 1_500, 3_500, 7_500, 15_500, 31_500];
        for at in expected {
            assert_eq!(layer.poll_timeout(), Some(t0 + ms(at)));
            assert_eq!(layer.deadline(key, Timer::A), Some(t0 + ms(at)));
            layer.handle_timeout(t0 + ms(at));
            assert_eq!(
                drain_transmits(&mut layer).len(),
                1,
                "retransmission at {at} ms"
            );
            assert_eq!(layer.state(key), Some(State::Calling));
        }
        assert_eq!(layer.deadline(key, Timer::A), Some(t0 + ms(63_500)));
    }

    #[test]
    fn timer_b_fires_408() {
        let (mut layer, key, _) = calling();
        let t0 = origin();
        assert_eq!(
            layer.deadline(key, Timer::B),
            Some(t0 + Duration::from_secs(32))
        );
        run_until(&mut layer, t0 + ms(31_999));
        assert!(drain_events(&mut layer).is_empty());
        // Six retransmissions by then (A at 0.5 … 31.5 s), none at B itself.
        assert_eq!(drain_transmits(&mut layer).len(), 6);
        layer.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(drain_events(&mut layer), vec![Event::Timeout { key }]);
        assert!(drain_transmits(&mut layer).is_empty());
        assert_eq!(layer.state(key), None);
        assert_eq!(layer.len(), 0);
        assert_eq!(layer.poll_timeout(), None);
    }

    #[test]
    fn provisional_stops_retransmissions_and_timer_b() {
        let (mut layer, key, invite) = calling();
        let t0 = origin();
        layer.handle_response(t0 + ms(100), reply(&invite, 180, Some("uas")), SERVER);
        assert_eq!(layer.state(key), Some(State::Proceeding));
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [Event::Response { .. }]
        ));
        assert_eq!(layer.poll_timeout(), None);
        layer.handle_timeout(t0 + Duration::from_secs(60));
        assert!(drain_transmits(&mut layer).is_empty());
        assert_eq!(layer.state(key), Some(State::Proceeding));
    }

    #[test]
    fn ack_for_non_2xx_built_by_client_transaction() {
        let (mut layer, key, invite) = calling();
        let t0 = origin();
        layer.handle_response(t0 + ms(50), reply(&invite, 180, Some("uas")), SERVER);
        layer.handle_response(t0 + ms(80), reply(&invite, 486, Some("uas")), SERVER);
        let sent = drain_transmits(&mut layer);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].destination, SERVER);
        let ack = parse_datagram(sent[0].bytes.clone()).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri(), invite.request_uri());
        assert_eq!(ack.headers.via, invite.headers.via[..1].to_vec());
        assert_eq!(ack.branch(), invite.branch());
        assert_eq!(ack.call_id(), invite.call_id());
        assert_eq!(ack.headers.from, invite.headers.from);
        assert_eq!(ack.to_tag().unwrap().as_str(), "uas");
        assert_eq!(
            ack.cseq().map(|c| (c.seq, c.method.clone())),
            Some((1, Method::Ack))
        );
        assert_eq!(ack.headers.route, invite.headers.route);
        assert_eq!(ack.headers.max_forwards, Some(70));
        assert!(ack.body.is_empty());
        let events = drain_events(&mut layer);
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[1], Event::Response { key: k, msg } if *k == key
            && msg.status() == Some(StatusCode::BUSY_HERE))
        );
        assert_eq!(layer.state(key), Some(State::Completed));
    }

    #[test]
    fn no_ack_from_the_transaction_for_2xx() {
        let (mut layer, key, invite) = calling();
        layer.handle_response(origin() + ms(80), reply(&invite, 200, Some("uas")), SERVER);
        assert!(drain_transmits(&mut layer).is_empty());
        assert_eq!(layer.state(key), Some(State::Accepted));
    }

    #[test]
    fn timer_d_absorbs_retransmitted_final() {
        let (mut layer, key, invite) = calling();
        let t0 = origin();
        let busy = reply(&invite, 486, Some("uas"));
        layer.handle_response(t0 + ms(100), busy.clone(), SERVER);
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        assert_eq!(drain_events(&mut layer).len(), 1);
        assert_eq!(
            layer.poll_timeout(),
            Some(t0 + ms(100) + Duration::from_secs(32))
        );

        // The UAS missed the ACK and repeats its 486: ACK again, TU hears nothing.
        layer.handle_response(t0 + ms(600), busy.clone(), SERVER);
        assert_eq!(drain_transmits(&mut layer).len(), 1);
        assert!(drain_events(&mut layer).is_empty());

        layer.handle_timeout(t0 + ms(32_100));
        assert_eq!(layer.state(key), None);
        // After D, a straggler matches nothing.
        layer.handle_response(t0 + ms(32_200), busy, SERVER);
        assert!(drain_transmits(&mut layer).is_empty());
        assert_eq!(
            drain_events(&mut layer),
            vec![Event::Discarded {
                source: SERVER,
                reason: Discard::NoTransaction
            }]
        );
    }

    #[test]
    fn timer_d_is_zero_on_reliable_transports() {
        let mut layer = layer();
        let branch = layer.new_branch();
        let invite = request("INVITE", branch.as_str(), 1);
        let key = layer
            .send_request(origin(), &invite, invite.to_bytes(), SERVER, true)
            .unwrap();
        layer.handle_response(origin() + ms(10), reply(&invite, 603, Some("uas")), SERVER);
        let sent = drain_transmits(&mut layer);
        assert_eq!(sent.len(), 2, "the INVITE and its ACK");
        assert!(sent.iter().all(|t| t.reliable));
        assert_eq!(layer.state(key), None);
        assert_eq!(layer.len(), 0);
        assert_eq!(layer.poll_timeout(), None);
    }

    #[test]
    fn timer_m_passes_further_2xx_to_the_tu() {
        let (mut layer, key, invite) = calling();
        let t0 = origin();
        layer.handle_response(t0 + ms(200), reply(&invite, 200, Some("fork1")), SERVER);
        assert_eq!(
            layer.deadline(key, Timer::M),
            Some(t0 + ms(200) + Duration::from_secs(32))
        );
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_200)));
        // A retransmitted 2xx and another fork's 2xx both reach the TU, which ACKs each.
        layer.handle_response(t0 + ms(700), reply(&invite, 200, Some("fork1")), SERVER);
        layer.handle_response(t0 + ms(900), reply(&invite, 200, Some("fork2")), SERVER);
        // A late non-2xx after a 2xx is absorbed.
        layer.handle_response(t0 + ms(950), reply(&invite, 486, Some("fork3")), SERVER);
        let tags: Vec<String> = drain_events(&mut layer)
            .into_iter()
            .map(|e| match e {
                Event::Response { msg, .. } => msg.to_tag().unwrap().to_string(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(tags, ["fork1", "fork1", "fork2"]);
        assert!(drain_transmits(&mut layer).is_empty());
        layer.handle_timeout(t0 + ms(32_199));
        assert_eq!(layer.state(key), Some(State::Accepted));
        layer.handle_timeout(t0 + ms(32_200));
        assert_eq!(layer.state(key), None);
    }

    #[test]
    fn cancel_is_its_own_client_transaction_on_the_same_branch() {
        let (mut layer, invite_key, invite) = calling();
        let cancel = request("CANCEL", invite.branch().unwrap().as_str(), 1);
        let cancel_key = layer
            .send_request(
                origin() + ms(300),
                &cancel,
                cancel.to_bytes(),
                SERVER,
                false,
            )
            .unwrap();
        drain_transmits(&mut layer);
        layer.handle_response(origin() + ms(320), reply(&cancel, 200, Some("uas")), SERVER);
        layer.handle_response(origin() + ms(330), reply(&invite, 487, Some("uas")), SERVER);
        let events = drain_events(&mut layer);
        let keys: Vec<_> = events
            .iter()
            .map(|e| match e {
                Event::Response { key, msg } => (*key, msg.status().unwrap().as_u16()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(keys, [(cancel_key, 200), (invite_key, 487)]);
        let ack = parse_datagram(drain_transmits(&mut layer)[0].bytes.clone()).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert!(ack.headers.get(&HeaderName::Route).is_some());
    }
}
