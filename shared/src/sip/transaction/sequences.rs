//! Property test: arbitrary interleavings of peer messages (well-formed,
//! retransmitted, stray, missing headers), TU calls and time never panic,
//! keep the layer's bookkeeping consistent, and leave behind only the
//! transactions that wait for the TU.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use super::testing::*;
use super::{Event, Key, State};
use crate::sip::{Message, StatusCode, parse_datagram};

#[derive(Clone, Debug)]
enum Op {
    /// A request from the peer.
    PeerRequest {
        method: usize,
        branch: usize,
        seq: u32,
        to_tag: bool,
        strip: usize,
        reliable: bool,
    },
    /// A response from the peer to one of the requests this side sent.
    PeerResponse {
        sent: usize,
        status: usize,
        strip: usize,
    },
    /// The TU responds on one of the server transactions it was told of.
    Respond { key: usize, status: usize },
    /// The TU sends a request.
    Send { method: usize, reliable: bool },
    /// Time passes, the driver waking at every deadline on the way.
    Wait { ms: u64 },
    /// Sending failed for one of the known transactions.
    TransportError { key: usize },
}

const METHODS: [&str; 5] = ["INVITE", "ACK", "CANCEL", "REGISTER", "BYE"];
const STATUSES: [u16; 6] = [100, 180, 200, 404, 487, 603];
const BRANCHES: [Option<&str>; 4] = [
    Some("z9hG4bKp1"),
    Some("z9hG4bKp2"),
    Some("old-style"),
    None,
];
const STRIP: [&str; 5] = ["", "Via:", "CSeq:", "Call-ID:", "From:"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0..5usize,
            0..4usize,
            1..3u32,
            any::<bool>(),
            0..5usize,
            any::<bool>()
        )
            .prop_map(
                |(method, branch, seq, to_tag, strip, reliable)| Op::PeerRequest {
                    method,
                    branch,
                    seq,
                    to_tag,
                    strip,
                    reliable
                }
            ),
        (0..8usize, 0..6usize, 0..5usize).prop_map(|(sent, status, strip)| Op::PeerResponse {
            sent,
            status,
            strip
        }),
        (0..8usize, 0..6usize).prop_map(|(key, status)| Op::Respond { key, status }),
        (0..5usize, any::<bool>()).prop_map(|(method, reliable)| Op::Send { method, reliable }),
        (0..40_000u64).prop_map(|ms| Op::Wait { ms }),
        (0..8usize).prop_map(|key| Op::TransportError { key }),
    ]
}

/// `msg` with the header lines starting with `prefix` removed.
fn strip(msg: &Message, prefix: &str) -> Option<Message> {
    if prefix.is_empty() {
        return Some(msg.clone());
    }
    let text = String::from_utf8(msg.to_bytes().to_vec()).ok()?;
    let kept: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.starts_with(prefix))
        .collect();
    parse_datagram(Bytes::from(kept.join("\r\n"))).ok()
}

fn peer_request(method: &str, branch: Option<&str>, seq: u32, to_tag: bool) -> Message {
    match branch {
        Some(b) if b.starts_with("z9hG4bK") => {
            let req = request(method, b, seq);
            if to_tag { ack_for(&req, "uas") } else { req }
        }
        _ => legacy_request(method, branch, seq, to_tag.then_some("uas")),
    }
}

proptest! {
    #[test]
    fn any_sequence_of_inputs_is_handled(ops in proptest::collection::vec(op(), 1..60)) {
        let mut layer = layer();
        let mut now = origin();
        let mut server_keys: Vec<(Key, Message)> = Vec::new();
        let mut known: Vec<Key> = Vec::new();
        let mut sent: Vec<Message> = Vec::new();
        for op in ops {
            match op {
                Op::PeerRequest { method, branch, seq, to_tag, strip: s, reliable } => {
                    let msg = peer_request(METHODS[method], BRANCHES[branch], seq, to_tag);
                    if let Some(msg) = strip(&msg, STRIP[s]) {
                        layer.handle_request(now, msg, CLIENT, reliable);
                    }
                }
                Op::PeerResponse { sent: i, status, strip: s } => {
                    if let Some(req) = sent.get(i % sent.len().max(1)) {
                        let resp = reply(req, STATUSES[status], Some("uas"));
                        if let Some(resp) = strip(&resp, STRIP[s]) {
                            layer.handle_response(now, resp, SERVER);
                        }
                    }
                }
                Op::Respond { key, status } => {
                    if let Some((key, req)) = server_keys.get(key % server_keys.len().max(1)) {
                        let code = StatusCode::new(STATUSES[status]).unwrap();
                        let _ = layer.respond(now, *key, code, reply_bytes(req, code.as_u16(), Some("uas")));
                    }
                }
                Op::Send { method, reliable } => {
                    // CANCEL reuses the branch of the last request sent, as a UAC does.
                    let branch = match (METHODS[method], sent.last()) {
                        ("CANCEL", Some(last)) => last.branch().unwrap(),
                        _ => layer.new_branch(),
                    };
                    let req = request(METHODS[method], branch.as_str(), 1);
                    if let Ok(key) = layer.send_request(now, &req, req.to_bytes(), SERVER, reliable) {
                        known.push(key);
                        sent.push(req);
                    }
                }
                Op::Wait { ms: wait } => {
                    let until = now + ms(wait);
                    run_until(&mut layer, until);
                    now = until;
                }
                Op::TransportError { key } => {
                    if let Some(key) = known.get(key % known.len().max(1)) {
                        layer.handle_transport_error(now, *key);
                    }
                }
            }
            while let Some(event) = layer.poll_event() {
                if let Event::Request { key, msg, .. } | Event::Cancel { key, msg, .. } = event {
                    known.push(key);
                    server_keys.push((key, msg));
                }
            }
            while layer.poll_transmit().is_some() {}
            layer.check_invariants();
            let live = known.iter().filter(|k| layer.state(**k).is_some()).count();
            prop_assert_eq!(live, layer.len());
            if let Some(next) = layer.poll_timeout() {
                prop_assert!(next > now, "a due timer was left unfired");
            }
        }
        // Long after the last input, only transactions waiting on the TU
        // remain (no final response yet), and none of them runs a timer.
        run_until(&mut layer, now + Duration::from_secs(200));
        layer.check_invariants();
        prop_assert_eq!(layer.poll_timeout(), None);
        for key in known {
            if let Some(state) = layer.state(key) {
                prop_assert!(matches!(state, State::Trying | State::Proceeding), "{:?}", state);
            }
        }
    }
}
