//! The gateway against an independent WebRTC implementation: webrtc-rs
//! (the `webrtc` crate, its own ICE agent, DTLS and SRTP) stands in for the
//! browser's media side, behind the hand-written SIP-over-WebSocket phone.
//! It answers a queue call in Opus (the caller's A-law transcoded both
//! ways), and places a call in μ-law that a baresip agent answers.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::support::server::Server;
use super::support::webrtc_rs_peer::{Audio, RsPeer};
use super::websocket::{body, calling, hung_up, registered, relayed_at_least, rung};
use super::{PASSWORD, finished_call, media_stats};

#[test]
fn webrtc_rs_answers_a_queue_call_in_opus_transcoded_from_the_callers_a_law() {
    let options = super::configured(&["1001"], &[], "5s", "0s", "webrtc_opus = true", "");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let mut phone = registered(&server, "1001");
    let run = calling(&server, 3000);
    let invite = rung(&mut phone, &server, "the webrtc-rs browser");
    phone
        .respond(&invite, 180, "Ringing", Some("rs"), None)
        .unwrap();
    let (answer, peer) =
        RsPeer::answer(body(&invite), Ipv4Addr::LOCALHOST.into(), Audio::Opus, 100)
            .unwrap_or_else(|e| panic!("webrtc-rs does not take the offer: {e:#}\n{invite}"));
    assert!(answer.contains("opus/48000"), "{answer}");
    phone
        .respond(&invite, 200, "OK", Some("rs"), Some(&answer))
        .unwrap();
    phone
        .next_request("ACK", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no ACK: {e:#}\n{}", server.tail(30)));

    // ICE and DTLS come up; the caller's A-law arrives as Opus frames that
    // decode, and webrtc-rs's Opus goes the other way.
    let seen = peer
        .wait(Duration::from_secs(10), |r| {
            r.connected && r.sent >= 60 && r.decoded >= 40
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
    assert_eq!(seen.payload_types, [111], "{seen:?}");
    hung_up(&mut phone, &server);
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001");
    let whole = media_stats(&call, false);
    // Its packets, now A-law, reached the caller's side.
    relayed_at_least(
        &whole,
        &[("agent_in", 55), ("caller_out", 55), ("agent_out", 40)],
        &seen,
    );
}

#[test]
fn webrtc_rs_places_a_call_in_mu_law_that_a_baresip_agent_answers() {
    let options =
        super::configured(&["1001"], &[], "5s", "0s", "", "").staff("2001", PASSWORD, "senior");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let baresip = super::agent(&server, "1001", false);
    let mut phone = registered(&server, "2001");

    let (offer, offering) = RsPeer::offer(Ipv4Addr::LOCALHOST.into(), Audio::Pcmu).unwrap();
    let mut placed = phone.invite("100", &offer).unwrap();
    let (ok, _) = phone
        .final_response(&mut placed, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("no answer: {e:#}\n{}", server.tail(40)));
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{}", server.tail(40));
    phone.ack(&placed).unwrap();
    assert!(body(&ok).contains("PCMU/8000"), "{ok}");
    let peer = offering.answered(body(&ok), 100).unwrap();
    let seen = peer
        .wait(Duration::from_secs(10), |r| {
            r.connected && r.sent >= 60 && r.received >= 40
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
    assert_eq!(seen.payload_types, [0], "{seen:?}");

    let bye = phone.in_dialog(&mut placed, "BYE", None).unwrap();
    assert!(bye.starts_with("SIP/2.0 200"), "{bye}");
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001", "{call:#}");
    assert_eq!(call["end_reason"], "completed");
    let whole = media_stats(&call, false);
    relayed_at_least(
        &whole,
        &[
            ("caller_in", 55),
            ("agent_out", 55),
            ("agent_in", 40),
            ("caller_out", 40),
        ],
        &seen,
    );
    drop(baresip);
}
