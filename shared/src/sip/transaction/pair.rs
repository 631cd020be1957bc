//! Two layers wired together in memory — a UAC at [`CLIENT`] and a UAS at
//! [`SERVER`] — with a network that delivers instantly but can lose the next
//! datagrams from either side. Time only moves when the test says so, by
//! jumping to the earlier side's next deadline (quinn's `Pair`, str0m's
//! `progress()`), so whole exchanges with retransmissions run in
//! microseconds and every instant is exact.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::testing::*;
use super::{Event, Key, TransactionLayer, Transmit};
use crate::sip::{Message, StatusCode, Tag, parse_datagram, response_to};

/// One datagram put on the wire.
#[derive(Debug)]
struct Sent {
    at: Instant,
    from: SocketAddr,
    first_line: String,
    delivered: bool,
}

struct Pair {
    now: Instant,
    uac: TransactionLayer,
    uas: TransactionLayer,
    /// How many of the UAC's next datagrams the network loses.
    lose_from_uac: usize,
    /// How many of the UAS's next datagrams the network loses.
    lose_from_uas: usize,
    uac_events: Vec<Event>,
    uas_events: Vec<Event>,
    wire: Vec<Sent>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            now: origin(),
            uac: TransactionLayer::new(Default::default(), 1),
            uas: TransactionLayer::new(Default::default(), 2),
            lose_from_uac: 0,
            lose_from_uas: 0,
            uac_events: Vec::new(),
            uas_events: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Moves datagrams both ways until neither side has anything to send,
    /// then collects both sides' events.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.uac.poll_transmit() {
                moved = true;
                self.deliver(CLIENT, t);
            }
            while let Some(t) = self.uas.poll_transmit() {
                moved = true;
                self.deliver(SERVER, t);
            }
            if !moved {
                break;
            }
        }
        self.uac_events
            .extend(std::iter::from_fn(|| self.uac.poll_event()));
        self.uas_events
            .extend(std::iter::from_fn(|| self.uas.poll_event()));
    }

    fn deliver(&mut self, from: SocketAddr, t: Transmit) {
        let lose = if from == CLIENT {
            &mut self.lose_from_uac
        } else {
            &mut self.lose_from_uas
        };
        let delivered = *lose == 0;
        *lose = lose.saturating_sub(1);
        let msg = parse_datagram(t.bytes).expect("the layers send well-formed messages");
        self.wire.push(Sent {
            at: self.now,
            from,
            first_line: first_line(&msg),
            delivered,
        });
        if !delivered {
            return;
        }
        let to = if t.destination == SERVER {
            &mut self.uas
        } else {
            &mut self.uac
        };
        to.handle_message(self.now, msg, from, t.reliable);
    }

    /// Jumps to the next deadline of either side, fires it and drives the
    /// network. `false` when neither side has a timer running.
    fn advance(&mut self) -> bool {
        let next = match (self.uac.poll_timeout(), self.uas.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return false,
        };
        self.now = next;
        self.uac.handle_timeout(next);
        self.uas.handle_timeout(next);
        self.drive();
        true
    }

    /// The UAC's INVITE or REGISTER, sent now over UDP.
    fn send(&mut self, method: &str) -> (Key, Message) {
        let req = request(method, self.uac.new_branch().as_str(), 1);
        let key = self
            .uac
            .send_request(self.now, &req, req.to_bytes(), SERVER, false)
            .unwrap();
        self.drive();
        (key, req)
    }

    /// The single new request the UAS's TU has been told of.
    fn take_uas_request(&mut self) -> (Key, Message) {
        match self.uas_events.drain(..).collect::<Vec<_>>().as_slice() {
            [Event::Request { key, msg, .. }] => (*key, msg.clone()),
            other => panic!("expected one request at the uas, got {other:?}"),
        }
    }

    /// The UAS's TU answers `req` on `key` with `code`.
    fn answer(&mut self, key: Key, req: &Message, code: u16) {
        let status = StatusCode::new(code).unwrap();
        let tag = (code > 100).then(|| Tag::new("uas"));
        let bytes = response_to(req, status, tag.as_ref()).finish();
        self.uas.respond(self.now, key, status, bytes).unwrap();
        self.drive();
    }

    /// Datagrams whose first line starts with `prefix`, sent by `from`: (when, delivered).
    fn sent(&self, from: SocketAddr, prefix: &str) -> Vec<(Duration, bool)> {
        self.wire
            .iter()
            .filter(|s| s.from == from && s.first_line.starts_with(prefix))
            .map(|s| (s.at - origin(), s.delivered))
            .collect()
    }
}

fn first_line(msg: &Message) -> String {
    let bytes = msg.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().unwrap_or_default().to_string()
}

/// The UAC's statuses, in the order its TU heard them.
fn statuses(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response { msg, .. } => msg.status().map(|s| s.as_u16()),
            _ => None,
        })
        .collect()
}

#[test]
fn lossy_invite_still_completes() {
    let mut p = Pair::new();
    p.lose_from_uac = 1;
    let (uac_key, _) = p.send("INVITE");
    assert!(p.uas_events.is_empty(), "the first INVITE was lost");

    // Timer A brings the INVITE at T1; the UAS's TU rings and answers at once.
    assert!(p.advance());
    assert_eq!(p.now, origin() + ms(500));
    let (uas_key, invite) = p.take_uas_request();
    p.answer(uas_key, &invite, 180);
    p.answer(uas_key, &invite, 200);
    assert_eq!(statuses(&p.uac_events), [180, 200]);

    // The UAC's TU acknowledges the 2xx itself, on a new branch.
    let ack = ack_for(&request("INVITE", p.uac.new_branch().as_str(), 1), "uas");
    p.uac.send_stateless(SERVER, false, ack.to_bytes());
    p.drive();
    assert!(matches!(
        &p.uas_events[..],
        [Event::Ack { invite: None, .. }]
    ));

    // Both sides linger in Accepted for 64·T1 (Timers M and L), then forget.
    while p.advance() {}
    assert_eq!(p.now, origin() + ms(500) + Duration::from_secs(32));
    assert!(p.uac.is_empty() && p.uas.is_empty());
    assert_eq!(p.sent(CLIENT, "INVITE"), [(ms(0), false), (ms(500), true)]);
    assert_eq!(p.sent(SERVER, "SIP/2.0 200"), [(ms(500), true)]);
    assert_eq!(statuses(&p.uac_events), [180, 200]);
    assert_eq!(p.uac.state(uac_key), None);
}

#[test]
fn lost_ack_for_a_rejection_is_recovered_by_timer_g() {
    let mut p = Pair::new();
    p.send("INVITE");
    let (uas_key, invite) = p.take_uas_request();
    p.lose_from_uac = 1;
    p.answer(uas_key, &invite, 486);
    assert_eq!(statuses(&p.uac_events), [486]);

    // G repeats the 486 at T1; the UAC's Completed state repeats its ACK.
    assert!(p.advance());
    assert_eq!(p.now, origin() + ms(500));
    assert_eq!(
        p.sent(SERVER, "SIP/2.0 486"),
        [(ms(0), true), (ms(500), true)]
    );
    assert_eq!(p.sent(CLIENT, "ACK"), [(ms(0), false), (ms(500), true)]);
    assert_eq!(p.uas.state(uas_key), Some(super::State::Confirmed));

    while p.advance() {}
    // Timer D (32 s) outlives Timer I (T4 after the ACK).
    assert_eq!(p.now, origin() + Duration::from_secs(32));
    assert!(p.uac.is_empty() && p.uas.is_empty());
    assert_eq!(
        statuses(&p.uac_events),
        [486],
        "the repeated 486 stayed below the TU"
    );
    assert!(p.uas_events.is_empty(), "no timeout: the ACK arrived");
}

#[test]
fn lost_register_response_is_recovered_by_retransmission() {
    let mut p = Pair::new();
    let (uac_key, _) = p.send("REGISTER");
    let (uas_key, register) = p.take_uas_request();
    p.lose_from_uas = 1;
    p.answer(uas_key, &register, 200);
    assert!(p.uac_events.is_empty());

    // Timer E repeats the REGISTER; the UAS's Completed state repeats its 200.
    assert!(p.advance());
    assert_eq!(p.now, origin() + ms(500));
    assert_eq!(statuses(&p.uac_events), [200]);
    assert!(
        p.uas_events.is_empty(),
        "the repeat never reached the registrar"
    );
    assert_eq!(
        p.uac.deadline(uac_key, super::Timer::K),
        Some(origin() + ms(5_500))
    );

    while p.advance() {}
    // Timer J, 64·T1 after the 200, is the last to go.
    assert_eq!(p.now, origin() + Duration::from_secs(32));
    assert!(p.uac.is_empty() && p.uas.is_empty());
    assert_eq!(p.sent(CLIENT, "REGISTER").len(), 2);
}
