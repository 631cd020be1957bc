//! The endpoint fed real bytes, in virtual time, with no sockets.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use careline_shared::sip::{DigestAlgorithm, HeaderName, Message, StatusCode, parse_datagram};

use careline_shared::testing::virtual_epoch;

use super::*;

fn settings() -> EndpointSettings {
    EndpointSettings {
        domain: "127.0.0.1".into(),
        server_name: "Careline-test".into(),
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        registrar: RegistrarSettings {
            realm: "127.0.0.1".into(),
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(3600),
            max_contacts: 10,
            lockout_after: 5,
            lockout_time: Duration::from_secs(300),
            nonce_ttl: Duration::from_secs(300),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
        },
        queues: Vec::new(),
        udp: Some("127.0.0.1:5060".parse().unwrap()),
        tcp: None,
        ws: None,
        hold_reminder: Duration::from_secs(30),
        trunk: None,
        inbound_trunks: Vec::new(),
        trunk_accounts: Vec::new(),
        keepalive: None,
        dropped_announcement: Duration::from_secs(4),
    }
}

fn udp(remote: &str) -> Flow {
    Flow {
        transport: Transport::Udp,
        remote: remote.parse().unwrap(),
        local: None,
    }
}

fn sent(core: &mut SipCore) -> Vec<Transmit> {
    std::iter::from_fn(|| core.poll_transmit()).collect()
}

/// The status of a response we sent, read off its status line: a 400 to a
/// malformed request copies the request's broken headers, so it may not parse.
fn status_of(t: &Transmit) -> StatusCode {
    let line = t.data.split(|&b| b == b'\r').next().unwrap();
    let text = std::str::from_utf8(line).unwrap();
    assert!(text.starts_with("SIP/2.0 "), "{text}");
    StatusCode::new(text[8..11].parse().unwrap()).unwrap()
}

fn corpus(file: &str) -> Bytes {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/rfc4475");
    Bytes::from(std::fs::read(dir.join(file)).unwrap())
}

/// What each RFC 4475 message must get: `Some(status)` or `None` for silence.
const EXPECTED: &[(&str, Option<u16>)] = &[
    ("wsinv.dat", Some(481)), // its To has a tag: a re-INVITE for a dialog we do not know
    ("intmeth.dat", Some(501)),
    ("esc01.dat", Some(404)),
    ("escnull.dat", Some(401)),
    ("esc02.dat", Some(501)),
    ("lwsdisp.dat", Some(200)),
    ("longreq.dat", Some(404)),
    ("dblreq.dat", Some(401)),
    ("semiuri.dat", Some(200)),
    ("transports.dat", Some(200)),
    ("mpart01.dat", Some(405)), // MESSAGE: not a method this server implements
    ("unreason.dat", None),
    ("noreason.dat", None),
    ("badinv01.dat", Some(400)),
    ("clerr.dat", Some(400)),
    ("ncl.dat", Some(400)),
    ("scalar02.dat", Some(400)),
    ("scalarlg.dat", None),
    ("quotbal.dat", Some(400)),
    ("ltgtruri.dat", Some(400)),
    ("lwsruri.dat", Some(400)),
    ("lwsstart.dat", Some(400)),
    ("trws.dat", Some(400)),
    ("escruri.dat", Some(400)),
    ("baddate.dat", Some(400)),
    ("regbadct.dat", Some(400)),
    ("badaspec.dat", Some(400)),
    ("baddn.dat", Some(400)),
    ("badvers.dat", Some(505)),
    ("mismatch01.dat", Some(400)),
    ("mismatch02.dat", Some(501)),
    ("bigcode.dat", None),
    ("badbranch.dat", Some(200)),
    ("insuf.dat", Some(400)),
    ("unkscm.dat", Some(416)),
    ("novelsc.dat", Some(416)),
    ("unksm2.dat", Some(400)),
    ("bext01.dat", Some(420)),
    ("invut.dat", Some(415)),
    ("regaut01.dat", Some(401)),
    ("multi01.dat", Some(400)),
    ("mcl01.dat", Some(400)),
    ("bcast.dat", None),
    ("zeromf.dat", Some(200)),
    ("cparam01.dat", Some(401)),
    ("cparam02.dat", Some(401)),
    ("regescrt.dat", Some(401)),
    ("sdp01.dat", Some(406)),
    ("inv2543.dat", Some(404)),
];

#[test]
fn rfc4475_messages_get_the_answers_the_rfc_asks_for() {
    assert_eq!(EXPECTED.len(), 49);
    let t0 = virtual_epoch();
    let mut core = SipCore::new(settings(), [3; 32], t0, None);
    let mut wrong = Vec::new();
    for (i, (file, expected)) in EXPECTED.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        core.handle_datagram(now, udp("127.0.0.2:5060"), corpus(file));
        let out = sent(&mut core);
        let got: Vec<u16> = out
            .iter()
            .map(|t| status_of(t).as_u16())
            .filter(|s| *s >= 200)
            .collect();
        let want: Vec<u16> = expected.iter().copied().collect();
        if got != want {
            wrong.push(format!("{file}: sent {got:?}, expected {want:?}"));
        }
        for t in &out {
            assert_eq!(
                t.destination,
                "127.0.0.2:5060".parse::<std::net::SocketAddr>().unwrap(),
                "{file}"
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKreg1;rport\r\nFrom: <sip:1001@127.0.0.1>;tag=a1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg-call-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5062>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

#[test]
fn retransmitted_register_is_answered_again_without_transaction_state() {
    let t0 = virtual_epoch();
    let mut core = SipCore::new(settings(), [3; 32], t0, None);
    core.handle_datagram(
        t0,
        udp("127.0.0.1:40000"),
        Bytes::from_static(REGISTER.as_bytes()),
    );
    let first = sent(&mut core);
    assert_eq!(core.transactions(), 0, "registrars answer statelessly");
    core.handle_datagram(
        t0 + Duration::from_millis(500),
        udp("127.0.0.1:40000"),
        Bytes::from_static(REGISTER.as_bytes()),
    );
    let again = sent(&mut core);
    assert_eq!(first.len(), 1);
    assert_eq!(again.len(), 1);
    assert_eq!(status_of(&again[0]), StatusCode::UNAUTHORIZED);
    // rport: the answer goes to the port the request came from, not the Via port.
    assert_eq!(
        first[0].destination,
        "127.0.0.1:40000".parse::<std::net::SocketAddr>().unwrap()
    );
    let resp = parse_datagram(first[0].data.clone()).unwrap();
    let via = resp.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(40000)));
}

const MESSAGE: &str = "MESSAGE sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKmsg1\r\nFrom: <sip:1002@127.0.0.1>;tag=m1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

#[test]
fn other_requests_are_answered_from_their_transaction_until_timer_j() {
    let t0 = virtual_epoch();
    let mut core = SipCore::new(settings(), [3; 32], t0, None);
    let msg = || Bytes::from_static(MESSAGE.as_bytes());
    core.handle_datagram(t0, udp("127.0.0.1:40000"), msg());
    let first = sent(&mut core);
    assert_eq!(status_of(&first[0]), StatusCode::METHOD_NOT_ALLOWED);
    core.handle_datagram(
        t0 + Duration::from_millis(500),
        udp("127.0.0.1:40000"),
        msg(),
    );
    assert_eq!(
        sent(&mut core),
        first,
        "the retransmission gets the very same answer"
    );
    let answered = std::iter::from_fn(|| core.poll_event())
        .filter(|e| matches!(e, EndpointEvent::Answered { .. }))
        .count();
    assert_eq!(answered, 1, "the TU saw the request once");
    assert_eq!(core.transactions(), 1);
    core.handle_timeout(t0 + Duration::from_millis(31_999));
    assert_eq!(core.transactions(), 1);
    core.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(core.transactions(), 0);
}

#[test]
fn tcp_request_is_answered_on_its_connection() {
    let t0 = virtual_epoch();
    let mut core = SipCore::new(settings(), [3; 32], t0, None);
    let flow = Flow {
        transport: Transport::Tcp,
        remote: "127.0.0.1:45555".parse().unwrap(),
        local: None,
    };
    let opts = REGISTER
        .replace("REGISTER", "OPTIONS")
        .replace("UDP", "TCP");
    let msg = parse_datagram(Bytes::from(opts)).unwrap();
    core.handle_message(t0, flow, msg);
    let out = sent(&mut core);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].transport, Transport::Tcp);
    assert_eq!(out[0].destination, flow.remote);
    let resp: Message = parse_datagram(out[0].data.clone()).unwrap();
    assert_eq!(resp.status(), Some(StatusCode::OK));
    assert_eq!(
        resp.headers.get(&HeaderName::Allow).unwrap().value_str(),
        ALLOW
    );
    assert!(resp.to_tag().is_some());
}

#[test]
fn garbage_datagrams_never_panic_and_get_no_answer() {
    let t0 = virtual_epoch();
    let mut core = SipCore::new(settings(), [3; 32], t0, None);
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"\x00\x01\x02",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE\r\n\r\n",
    ] {
        core.handle_datagram(t0, udp("127.0.0.1:1"), Bytes::copy_from_slice(junk));
    }
    assert!(sent(&mut core).is_empty());
}

fn reception_queue() -> QueueSettings {
    QueueSettings {
        name: "reception".into(),
        number: "100".into(),
        agents: vec!["1001".into()],
        seniors: Vec::new(),
        ring_cycle: Duration::from_secs(5),
        rings_to_answer: 3,
        agent_ring_time: Duration::from_secs(10),
        wrap_up: Duration::from_secs(10),
        auto_pause_after: 3,
        max_wait: Duration::from_secs(600),
    }
}

fn call_to_queue(branch: &str, call_id: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK{branch}\r\nFrom: <sip:patient@127.0.0.1>;tag=p1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:patient@127.0.0.1:5099>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ))
}

#[test]
fn new_calls_get_503_with_retry_after_while_overloaded_and_get_in_after() {
    let now = virtual_epoch();
    let mut s = settings();
    s.queues = vec![reception_queue()];
    let mut core = SipCore::new(s, [7; 32], now, None);
    let phone = udp("127.0.0.1:5099");

    core.set_overloaded(true);
    core.handle_datagram(now, phone, call_to_queue("shed1", "shed-1"));
    let out = sent(&mut core);
    assert_eq!(out.len(), 1);
    let answer = parse_datagram(out[0].data.clone()).unwrap();
    assert_eq!(answer.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    let retry = answer.headers.get(&HeaderName::RetryAfter).unwrap();
    assert_eq!(retry.value_str(), "5");
    let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
    assert!(events.contains(&EndpointEvent::Shed {
        source: phone.remote
    }));
    assert!(
        !events.iter().any(|e| matches!(e, EndpointEvent::Call(_))),
        "a shed call never reaches the queue: {events:?}"
    );
    assert!(core.calls().acd().waiting().next().is_none());

    // Everything but new calls is still served.
    core.handle_datagram(
        now,
        phone,
        Bytes::from_static(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKopt1\r\nFrom: <sip:probe@127.0.0.1>;tag=o1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
    );
    assert_eq!(status_of(&sent(&mut core)[0]), StatusCode::OK);

    core.set_overloaded(false);
    core.handle_datagram(now, phone, call_to_queue("in1", "in-1"));
    let statuses: Vec<StatusCode> = sent(&mut core).iter().map(status_of).collect();
    assert_eq!(statuses, vec![StatusCode::RINGING]);
    assert_eq!(core.calls().acd().waiting().count(), 1);
}

#[path = "trunk_registration_tests.rs"]
mod trunk_registration_tests;
