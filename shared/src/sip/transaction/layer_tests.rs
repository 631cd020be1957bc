//! The layer as a whole: CANCEL and ACK routing, RFC 2543 matching, reliable
//! transports, bad peer input and many transactions at once. Each state
//! machine's own timers are tested at the bottom of its file.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::sip::parse_datagram;
use crate::sip::transaction::testing::*;

/// `msg` with every header line starting with `prefix` removed.
fn without(msg: &Message, prefix: &str) -> Message {
    let text = String::from_utf8(msg.to_bytes().to_vec()).unwrap();
    let kept: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.starts_with(prefix))
        .collect();
    parse_datagram(Bytes::from(kept.join("\r\n"))).unwrap()
}

#[test]
fn cancel_matches_invite_transaction() {
    let mut layer = layer();
    let t0 = origin();
    let invite = request("INVITE", "z9hG4bKcan1", 1);
    let invite_key = receive(&mut layer, t0, &invite);
    layer
        .respond(
            t0,
            invite_key,
            StatusCode::RINGING,
            reply_bytes(&invite, 180, Some("u")),
        )
        .unwrap();

    let cancel = request("CANCEL", "z9hG4bKcan1", 1);
    layer.handle_request(t0 + ms(2_000), cancel.clone(), CLIENT, false);
    let events = drain_events(&mut layer);
    let [
        Event::Cancel {
            key: cancel_key,
            invite: Some(target),
            ..
        },
    ] = events[..]
    else {
        panic!("expected a cancel event, got {events:?}");
    };
    assert_eq!(target, invite_key);
    assert_ne!(cancel_key, invite_key);
    assert_eq!(layer.state(cancel_key), Some(State::Trying));

    // The TU answers both; the 487 is acknowledged inside the transaction.
    layer
        .respond(
            t0 + ms(2_000),
            cancel_key,
            StatusCode::OK,
            reply_bytes(&cancel, 200, Some("u")),
        )
        .unwrap();
    let terminated = reply_bytes(&invite, 487, Some("u"));
    layer
        .respond(
            t0 + ms(2_000),
            invite_key,
            StatusCode::REQUEST_TERMINATED,
            terminated,
        )
        .unwrap();
    layer.handle_request(t0 + ms(2_010), ack_for(&invite, "u"), CLIENT, false);
    assert_eq!(layer.state(invite_key), Some(State::Confirmed));
    assert!(drain_events(&mut layer).is_empty());
    // A retransmitted CANCEL gets its 200 again, not a second event.
    layer.handle_request(t0 + ms(2_500), cancel, CLIENT, false);
    assert!(drain_events(&mut layer).is_empty());
    assert_eq!(
        drain_transmits(&mut layer).len(),
        4,
        "180, 200, 487, 200 again"
    );
}

#[test]
fn cancel_for_an_unknown_invite_names_no_transaction() {
    let mut layer = layer();
    layer.handle_request(origin(), request("CANCEL", "z9hG4bKnone", 1), CLIENT, false);
    assert!(matches!(
        &drain_events(&mut layer)[..],
        [Event::Cancel { invite: None, .. }]
    ));
}

#[test]
fn ack_for_2xx_goes_to_the_tu() {
    let mut layer = layer();
    let t0 = origin();
    let invite = request("INVITE", "z9hG4bKok1", 1);
    let key = receive(&mut layer, t0, &invite);
    layer
        .respond(
            t0,
            key,
            StatusCode::OK,
            reply_bytes(&invite, 200, Some("u")),
        )
        .unwrap();
    // The UAC core's ACK for a 2xx is a new transaction: a new branch.
    let ack = ack_for(&request("INVITE", "z9hG4bKack2xx", 1), "u");
    layer.handle_request(t0 + ms(30), ack, CLIENT, false);
    let events = drain_events(&mut layer);
    let [
        Event::Ack {
            invite: None,
            msg,
            source,
        },
    ] = &events[..]
    else {
        panic!("expected a stray ack, got {events:?}");
    };
    assert_eq!(*source, CLIENT);
    // Stamped like every request handed to the TU (RFC 3581).
    assert_eq!(msg.top_via().unwrap().rport(), Some(Some(5060)));
    assert_eq!(layer.state(key), Some(State::Accepted));
}

#[test]
fn rfc2543_fallback_matching() {
    let mut layer = layer();
    let t0 = origin();
    let invite = legacy_request("INVITE", None, 7, None);
    let key = receive(&mut layer, t0, &invite);
    // A retransmission matches on Request-URI, tags, Call-ID, CSeq and Via.
    layer.handle_request(t0 + ms(500), invite.clone(), CLIENT, false);
    assert!(drain_events(&mut layer).is_empty());
    // Another CSeq is another transaction.
    let next = receive(
        &mut layer,
        t0 + ms(600),
        &legacy_request("INVITE", None, 8, None),
    );
    assert_ne!(next, key);

    layer
        .respond(
            t0 + ms(700),
            key,
            StatusCode::BUSY_HERE,
            reply_bytes(&invite, 486, Some("uas")),
        )
        .unwrap();
    // An ACK with another To tag is not for this response: the TU's.
    layer.handle_request(
        t0 + ms(800),
        legacy_request("ACK", None, 7, Some("else")),
        CLIENT,
        false,
    );
    assert!(matches!(
        &drain_events(&mut layer)[..],
        [Event::Ack { invite: None, .. }]
    ));
    assert_eq!(layer.state(key), Some(State::Completed));
    // The ACK carrying the tag of the 486 completes the handshake.
    layer.handle_request(
        t0 + ms(900),
        legacy_request("ACK", None, 7, Some("uas")),
        CLIENT,
        false,
    );
    assert!(drain_events(&mut layer).is_empty());
    assert_eq!(layer.state(key), Some(State::Confirmed));

    // CANCEL finds its INVITE by the same fields; a non-cookie branch
    // is just one more field to compare.
    layer.handle_request(
        t0 + ms(950),
        legacy_request("CANCEL", None, 8, None),
        CLIENT,
        false,
    );
    assert!(
        matches!(&drain_events(&mut layer)[..], [Event::Cancel { invite: Some(k), .. }] if *k == next)
    );
    let old = receive(
        &mut layer,
        t0,
        &legacy_request("OPTIONS", Some("1234"), 9, None),
    );
    layer.handle_request(
        t0 + ms(10),
        legacy_request("OPTIONS", Some("1234"), 9, None),
        CLIENT,
        false,
    );
    layer.handle_request(
        t0 + ms(10),
        legacy_request("OPTIONS", Some("5678"), 9, None),
        CLIENT,
        false,
    );
    assert!(matches!(&drain_events(&mut layer)[..], [Event::Request { key, .. }] if *key != old));
}

#[test]
fn reliable_transport_skips_retransmissions() {
    let mut layer = layer();
    let t0 = origin();
    let invite = request("INVITE", layer.new_branch().as_str(), 1);
    let uac_invite = layer
        .send_request(t0, &invite, invite.to_bytes(), SERVER, true)
        .unwrap();
    let options = request("OPTIONS", layer.new_branch().as_str(), 2);
    let uac_options = layer
        .send_request(t0, &options, options.to_bytes(), SERVER, true)
        .unwrap();
    let incoming = request("INVITE", "z9hG4bKrel1", 1);
    layer.handle_request(t0, incoming.clone(), CLIENT, true);
    let uas_invite = request_key(&drain_events(&mut layer));
    layer
        .respond(
            t0,
            uas_invite,
            StatusCode::BUSY_HERE,
            reply_bytes(&incoming, 486, Some("u")),
        )
        .unwrap();

    // Only the give-up timers run: B, F and H, all 64·T1.
    for (key, timer) in [
        (uac_invite, Timer::A),
        (uac_options, Timer::E),
        (uas_invite, Timer::G),
    ] {
        assert_eq!(
            layer.deadline(key, timer),
            None,
            "{timer:?} runs on a stream"
        );
    }
    assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    assert_eq!(drain_transmits(&mut layer).len(), 3);
    run_until(&mut layer, t0 + ms(31_999));
    assert!(
        drain_transmits(&mut layer).is_empty(),
        "nothing is ever retransmitted"
    );
    run_until(&mut layer, t0 + Duration::from_secs(32));
    let timeouts = drain_events(&mut layer)
        .into_iter()
        .filter(|e| matches!(e, Event::Timeout { .. }))
        .count();
    assert_eq!(timeouts, 3);
    assert!(layer.is_empty());
}

#[test]
fn a_late_wakeup_retransmits_once_and_reschedules_from_now() {
    let mut layer = layer();
    let t0 = origin();
    let register = request("REGISTER", layer.new_branch().as_str(), 1);
    let key = layer
        .send_request(t0, &register, register.to_bytes(), SERVER, false)
        .unwrap();
    drain_transmits(&mut layer);
    // The driver was stalled for 10 s: one retransmission, not a burst.
    layer.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(drain_transmits(&mut layer).len(), 1);
    assert_eq!(layer.deadline(key, Timer::E), Some(t0 + ms(11_000)));
    assert_eq!(
        layer.deadline(key, Timer::F),
        Some(t0 + Duration::from_secs(32))
    );
}

#[test]
fn transport_error_ends_the_transaction_and_tells_the_tu() {
    let mut layer = layer();
    let invite = request("INVITE", layer.new_branch().as_str(), 1);
    let key = layer
        .send_request(origin(), &invite, invite.to_bytes(), SERVER, true)
        .unwrap();
    let sent = drain_transmits(&mut layer);
    assert_eq!(sent[0].key, Some(key));
    layer.handle_transport_error(origin() + ms(1), key);
    assert_eq!(
        drain_events(&mut layer),
        vec![Event::TransportError { key }]
    );
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
    // Reporting it twice is harmless.
    layer.handle_transport_error(origin() + ms(2), key);
    assert!(drain_events(&mut layer).is_empty());
}

#[test]
fn send_request_refuses_what_cannot_be_a_client_transaction() {
    let mut layer = layer();
    let t0 = origin();
    let options = request("OPTIONS", "z9hG4bKdup", 1);
    layer
        .send_request(t0, &options, options.to_bytes(), SERVER, false)
        .unwrap();
    let again = layer.send_request(t0, &options, options.to_bytes(), SERVER, false);
    assert_eq!(again, Err(Error::DuplicateTransaction));
    let ack = request("ACK", "z9hG4bKack", 1);
    assert_eq!(
        layer.send_request(t0, &ack, ack.to_bytes(), SERVER, false),
        Err(Error::AckIsNotATransaction)
    );
    let no_branch = legacy_request("OPTIONS", None, 1, None);
    assert_eq!(
        layer.send_request(t0, &no_branch, Bytes::new(), SERVER, false),
        Err(Error::MissingBranch)
    );
    let no_via = without(&options, "Via:");
    assert_eq!(
        layer.send_request(t0, &no_via, Bytes::new(), SERVER, false),
        Err(Error::MissingHeader(crate::sip::HeaderName::Via))
    );
    let response = reply(&options, 200, None);
    assert_eq!(
        layer.send_request(t0, &response, Bytes::new(), SERVER, false),
        Err(Error::NotARequest)
    );
    assert_eq!(layer.len(), 1);
    // Responses go on server transactions only.
    let client_key = Key(1);
    let refused = layer.respond(t0, client_key, StatusCode::OK, Bytes::new());
    assert_eq!(refused, Err(Error::NotServerTransaction));
    assert_eq!(
        layer.respond(t0, Key(99), StatusCode::OK, Bytes::new()),
        Err(Error::UnknownTransaction)
    );
}

#[test]
fn malformed_peer_input_is_discarded_never_fatal() {
    use crate::sip::HeaderName;
    let mut layer = layer();
    let t0 = origin();
    let register = request("REGISTER", "z9hG4bKbad", 1);
    let cases = [
        (
            without(&register, "Via:"),
            Discard::MissingHeader(HeaderName::Via),
        ),
        (
            without(&register, "CSeq:"),
            Discard::MissingHeader(HeaderName::CSeq),
        ),
        (
            without(&legacy_request("INVITE", None, 1, None), "Call-ID:"),
            Discard::MissingHeader(HeaderName::CallId),
        ),
    ];
    for (msg, reason) in cases {
        layer.handle_message(t0, msg, CLIENT, false);
        assert_eq!(
            drain_events(&mut layer),
            vec![Event::Discarded {
                source: CLIENT,
                reason
            }]
        );
    }
    let response = reply(&register, 200, None);
    layer.handle_request(t0, response.clone(), SERVER, false);
    layer.handle_response(t0, register.clone(), CLIENT);
    layer.handle_response(t0, without(&response, "Via:"), SERVER);
    layer.handle_response(
        t0,
        reply(&legacy_request("BYE", None, 1, None), 200, None),
        SERVER,
    );
    layer.handle_response(t0, response, SERVER);
    let reasons: Vec<Discard> = drain_events(&mut layer)
        .into_iter()
        .map(|e| match e {
            Event::Discarded { reason, .. } => reason,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            Discard::NotARequest,
            Discard::NotAResponse,
            Discard::MissingHeader(HeaderName::Via),
            Discard::MissingBranch,
            Discard::NoTransaction,
        ]
    );
    assert!(layer.is_empty());
    assert!(drain_transmits(&mut layer).is_empty());
}

#[test]
fn poll_timeout_is_the_earliest_deadline_over_many_transactions() {
    let mut layer = layer();
    let t0 = origin();
    let n = 20_000u64;
    for i in 0..n {
        let register = request("REGISTER", &format!("z9hG4bKmany{i}"), 1);
        let now = t0 + ms(i);
        let key = receive(&mut layer, now, &register);
        layer
            .respond(
                now,
                key,
                StatusCode::OK,
                reply_bytes(&register, 200, Some("r")),
            )
            .unwrap();
    }
    assert_eq!(layer.len(), n as usize);
    assert_eq!(drain_transmits(&mut layer).len(), n as usize);
    // Timer J of the first REGISTER, then of each one after it.
    assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    layer.handle_timeout(t0 + Duration::from_secs(32) + ms(n / 2 - 1));
    assert_eq!(layer.len(), (n / 2) as usize);
    assert_eq!(
        layer.poll_timeout(),
        Some(t0 + Duration::from_secs(32) + ms(n / 2))
    );
    layer.handle_timeout(t0 + Duration::from_secs(32) + ms(n));
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
    assert_eq!(layer.queue.len(), 0);
    assert!(layer.index.is_empty());
}

#[test]
fn a_transaction_stays_small() {
    // A registrar on UDP keeps every REGISTER's transaction for Timer J
    // (32 s): at 10,000/s that is 320,000 entries, so their size is watched.
    assert!(
        std::mem::size_of::<Entry>() <= 384,
        "{}",
        std::mem::size_of::<Entry>()
    );
}
