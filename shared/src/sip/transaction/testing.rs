//! Test helpers: addresses, message builders and drains shared by the
//! transaction tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Event, Key, TimerConfig, TransactionLayer, Transmit};
use crate::sip::{Message, StatusCode, Tag, parse_datagram, response_to};

/// The UAC's address.
pub(crate) const CLIENT: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 5060);
/// The UAS's address.
pub(crate) const SERVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)), 5060);

/// The origin of virtual time (see `crate::testing`): every test instant is
/// this plus an offset, and no test depends on the real time.
pub(crate) fn origin() -> Instant {
    crate::testing::virtual_epoch()
}

/// Milliseconds.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A layer with RFC 3261's default timers and a fixed seed.
pub(crate) fn layer() -> TransactionLayer {
    TransactionLayer::new(TimerConfig::default(), 0x5eed)
}

/// A request from CLIENT to SERVER with the given top Via branch and CSeq.
pub(crate) fn request(method: &str, branch: &str, seq: u32) -> Message {
    request_with(method, branch, seq, &[])
}

/// [`request`] with extra header lines.
pub(crate) fn request_with(method: &str, branch: &str, seq: u32, extra: &[&str]) -> Message {
    let mut text = format!(
        "{method} sip:reception@clinic.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:edge.clinic.example;lr>\r\n\
         From: <sip:patient@clinic.example>;tag=p1\r\n\
         To: <sip:reception@clinic.example>\r\n\
         Call-ID: call-1@192.0.2.10\r\n\
         CSeq: {seq} {method}\r\n\
         Contact: <sip:patient@192.0.2.10>\r\n"
    );
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    parse_datagram(Bytes::from(text)).expect("test request parses")
}

/// A request from an RFC 2543 element: a branch without the magic cookie
/// (or none), and optionally a To tag.
pub(crate) fn legacy_request(
    method: &str,
    branch: Option<&str>,
    seq: u32,
    to_tag: Option<&str>,
) -> Message {
    let via_params = branch.map(|b| format!(";branch={b}")).unwrap_or_default();
    let to_params = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "{method} sip:reception@clinic.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060{via_params}\r\n\
         From: <sip:patient@clinic.example>;tag=p1\r\n\
         To: <sip:reception@clinic.example>{to_params}\r\n\
         Call-ID: legacy-1@192.0.2.10\r\n\
         CSeq: {seq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    parse_datagram(Bytes::from(text)).expect("test request parses")
}

/// The ACK a UAC sends for a 3xx–6xx to `invite` that carried To tag `tag`:
/// the INVITE's branch, so it matches the INVITE server transaction.
pub(crate) fn ack_for(invite: &Message, tag: &str) -> Message {
    let text = String::from_utf8(invite.to_bytes().to_vec()).expect("utf-8");
    let text = text
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace(" INVITE\r\n", " ACK\r\n")
        .replace(
            "To: <sip:reception@clinic.example>",
            &format!("To: <sip:reception@clinic.example>;tag={tag}"),
        );
    parse_datagram(Bytes::from(text)).expect("ack parses")
}

/// The serialized response with status `code` to `req`.
pub(crate) fn reply_bytes(req: &Message, code: u16, to_tag: Option<&str>) -> Bytes {
    let status = StatusCode::new(code).expect("valid status");
    let tag = to_tag.map(Tag::new);
    response_to(req, status, tag.as_ref()).finish()
}

/// The response with status `code` to `req`, as the peer would receive it.
pub(crate) fn reply(req: &Message, code: u16, to_tag: Option<&str>) -> Message {
    parse_datagram(reply_bytes(req, code, to_tag)).expect("response parses")
}

/// Hands `msg` to the layer as a new UDP request from CLIENT and returns the
/// key of the server transaction it created.
pub(crate) fn receive(layer: &mut TransactionLayer, now: Instant, msg: &Message) -> Key {
    layer.handle_request(now, msg.clone(), CLIENT, false);
    request_key(&drain_events(layer))
}

/// The key of the single `Event::Request` in `events`.
pub(crate) fn request_key(events: &[Event]) -> Key {
    match events {
        [Event::Request { key, .. }] => *key,
        other => panic!("expected one request event, got {other:?}"),
    }
}

/// Everything the layer wants to send, in order.
pub(crate) fn drain_transmits(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

/// Every pending event, in order.
pub(crate) fn drain_events(layer: &mut TransactionLayer) -> Vec<Event> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

/// Runs the layer like a driver would up to `until`: wake at each deadline
/// in turn, then at `until` itself.
pub(crate) fn run_until(layer: &mut TransactionLayer, until: Instant) {
    while let Some(at) = layer.poll_timeout().filter(|at| *at <= until) {
        layer.handle_timeout(at);
    }
    layer.handle_timeout(until);
}
