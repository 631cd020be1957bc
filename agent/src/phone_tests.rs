//! The phone in virtual time against a scripted server: every message it
//! sends is read back and checked, every timer fires at its exact instant.

use std::time::{Duration, Instant};

use careline_shared::sip::parse_datagram;
use careline_shared::testing::virtual_epoch;

use super::*;

pub(super) const SERVER: &str = "127.0.0.1:5060";
pub(super) const PHONE: &str = "127.0.0.1:5072";
pub(super) const RTP: &str = "127.0.0.1:40000";

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn config() -> PhoneConfig {
    let account = Account {
        name: "1001".into(),
        remote: SERVER.parse().unwrap(),
        reliable: false,
        domain: "clinic.test".into(),
        username: "1001".into(),
        password: "correct-horse".into(),
        expires: Duration::from_secs(300),
    };
    PhoneConfig::new(account, PHONE.parse().unwrap())
}

/// A phone already registered, with nothing left to send.
pub(super) struct Rig {
    pub(super) phone: Phone,
    t0: Instant,
}

impl Rig {
    pub(super) fn new() -> Rig {
        let t0 = virtual_epoch();
        let mut phone = Phone::new(config(), t0, 0x1234_5678_9abc);
        phone.handle_timeout(t0);
        let register = sent(&mut phone).remove(0);
        let ok = format!(
            "SIP/2.0 200 OK\r\n{}Contact: <sip:1001@{PHONE};transport=udp>;expires=300\r\nContent-Length: 0\r\n\r\n",
            echo(&register)
        );
        phone.handle_datagram(t0, ok.into(), SERVER.parse().unwrap());
        let mut rig = Rig { phone, t0 };
        assert!(rig.phone.registered());
        rig.events();
        rig
    }

    pub(super) fn at(&self, offset: Duration) -> Instant {
        self.t0 + offset
    }

    pub(super) fn receive(&mut self, offset: Duration, text: &str) {
        let now = self.at(offset);
        self.phone
            .handle_datagram(now, Bytes::from(text.to_owned()), SERVER.parse().unwrap());
    }

    /// Runs every timer due up to `offset`, at its own instant.
    pub(super) fn run_until(&mut self, offset: Duration) {
        let end = self.at(offset);
        while let Some(t) = self.phone.poll_timeout().filter(|&t| t <= end) {
            self.phone.handle_timeout(t);
        }
    }

    pub(super) fn sent(&mut self) -> Vec<Message> {
        sent(&mut self.phone)
    }

    pub(super) fn events(&mut self) -> Vec<PhoneEvent> {
        std::iter::from_fn(|| self.phone.poll_event()).collect()
    }

    /// A call rung at `ring`, answered at `answer`, ACKed at `ack`: the
    /// line and our 200 (its dialog is the call's), events drained.
    pub(super) fn talking(
        &mut self,
        ring: Duration,
        call: &str,
        answer: Duration,
        ack: Duration,
    ) -> (LineId, Message) {
        let line = self.ring(ring, call);
        self.phone
            .answer(self.at(answer), line, RTP.parse().unwrap())
            .unwrap();
        let ok = self.sent().remove(0);
        self.receive(ack, &in_dialog("ACK", &ok, 1, "ack", None));
        self.events();
        (line, ok)
    }

    /// An INVITE from the server for call `call` rings the phone; the line.
    pub(super) fn ring(&mut self, offset: Duration, call: &str) -> LineId {
        self.receive(offset, &invite(call, 1, Some(OFFER)));
        let ringing = self.sent();
        assert_eq!(ringing.len(), 1);
        assert_eq!(ringing[0].status(), Some(StatusCode::RINGING));
        match self.events().as_slice() {
            [PhoneEvent::Ringing { line, call_id, .. }] => {
                assert_eq!(call_id.as_deref(), Some(call));
                *line
            }
            other => panic!("expected one ringing line, got {other:?}"),
        }
    }
}

/// The SIP messages the phone sent (keep-alives left out).
pub(super) fn sent(phone: &mut Phone) -> Vec<Message> {
    std::iter::from_fn(|| phone.poll_transmit())
        .filter(|t| t.bytes.as_ref() != b"\r\n\r\n")
        .map(|t| parse_datagram(t.bytes).expect("the phone writes SIP that parses"))
        .collect()
}

/// The dialog-identifying headers of a request, as a response repeats them.
pub(super) fn echo(req: &Message) -> String {
    let h = &req.headers;
    let mut s = String::new();
    for v in &h.via {
        s += &format!("Via: {v}\r\n");
    }
    s += &format!(
        "From: {}\r\nTo: {};tag=srv\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
        h.from.as_ref().unwrap(),
        h.to.as_ref().unwrap(),
        req.call_id().unwrap(),
        req.cseq().unwrap().seq,
        req.cseq().unwrap().method
    );
    s
}

const OFFER: &str = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";

fn invite(call: &str, cseq: u32, sdp: Option<&str>) -> String {
    let body = sdp.unwrap_or("");
    format!(
        "INVITE sip:1001@{PHONE} SIP/2.0\r\nVia: SIP/2.0/UDP {SERVER};branch=z9hG4bK-{call}-{cseq}\r\nFrom: \"Reception\" <sip:100@clinic.test>;tag=srv-{call}\r\nTo: <sip:1001@clinic.test>\r\nCall-ID: leg-{call}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:careline@{SERVER}>\r\nX-Careline-Call: {call}\r\n{}Content-Length: {}\r\n\r\n{body}",
        if sdp.is_some() {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        },
        body.len()
    )
}

/// A request from the server inside the dialog the phone's `ok` made.
fn in_dialog(method: &str, ok: &Message, cseq: u32, branch: &str, sdp: Option<&str>) -> String {
    let body = sdp.unwrap_or("");
    format!(
        "{method} sip:1001@{PHONE} SIP/2.0\r\nVia: SIP/2.0/UDP {SERVER};branch=z9hG4bK-{branch}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:careline@{SERVER}>\r\n{}Content-Length: {}\r\n\r\n{body}",
        ok.headers.from.as_ref().unwrap(),
        ok.headers.to.as_ref().unwrap(),
        ok.call_id().unwrap(),
        if sdp.is_some() {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        },
        body.len()
    )
}

fn sdp_of(msg: &Message) -> Sdp {
    Sdp::parse(&msg.body).expect("an SDP body")
}

#[test]
fn registers_with_the_digest_answer_when_challenged() {
    let t0 = virtual_epoch();
    let mut phone = Phone::new(config(), t0, 7);
    assert_eq!(phone.poll_timeout(), Some(t0));
    phone.handle_timeout(t0);
    let first = sent(&mut phone).remove(0);
    assert_eq!(first.method(), Some(&Method::Register));
    assert!(first.headers.get(&HeaderName::Authorization).is_none());
    let challenge = format!(
        "SIP/2.0 401 Unauthorized\r\n{}WWW-Authenticate: Digest realm=\"clinic.test\", nonce=\"abc\", algorithm=MD5, qop=\"auth\"\r\nContent-Length: 0\r\n\r\n",
        echo(&first)
    );
    phone.handle_datagram(t0 + ms(5), challenge.into(), SERVER.parse().unwrap());
    let second = sent(&mut phone).remove(0);
    let auth = second
        .headers
        .get(&HeaderName::Authorization)
        .expect("the second REGISTER answers the challenge")
        .value_str()
        .into_owned();
    assert!(auth.contains("username=\"1001\"") && auth.contains("nonce=\"abc\""));
    assert!(!auth.contains("correct-horse"));
    assert!(!phone.registered());
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}Contact: <sip:1001@{PHONE};transport=udp>;expires=120\r\nContent-Length: 0\r\n\r\n",
        echo(&second)
    );
    phone.handle_datagram(t0 + ms(10), ok.into(), SERVER.parse().unwrap());
    assert!(phone.registered());
    assert_eq!(
        phone.poll_event(),
        Some(PhoneEvent::Registration(RegistrationEvent::Registered {
            name: "1001".into(),
            expires: Duration::from_secs(120),
        }))
    );
    // Refreshed at four fifths of the grant, not a moment before.
    let refresh = t0 + ms(10) + Duration::from_secs(96);
    let mut fired = Vec::new();
    while let Some(t) = phone.poll_timeout().filter(|&t| t <= refresh) {
        phone.handle_timeout(t);
        fired.extend(sent(&mut phone).into_iter().map(|m| (t, m)));
    }
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].0, refresh);
    assert_eq!(fired[0].1.method(), Some(&Method::Register));
}

#[test]
fn an_unreachable_server_is_reported_and_tried_again() {
    let t0 = virtual_epoch();
    let mut phone = Phone::new(config(), t0, 9);
    let mut now = t0;
    // Timer F: 64·T1 = 32 s of retransmissions, then the failure.
    while let Some(t) = phone
        .poll_timeout()
        .filter(|&t| t <= t0 + Duration::from_secs(32))
    {
        now = t;
        phone.handle_timeout(t);
    }
    assert_eq!(now, t0 + Duration::from_secs(32));
    assert_eq!(
        std::iter::from_fn(|| phone.poll_event()).last(),
        Some(PhoneEvent::Registration(RegistrationEvent::Failed {
            name: "1001".into(),
            status: None,
            retry_in: Duration::from_secs(30),
        }))
    );
    assert!(!phone.registered());
    assert_eq!(phone.poll_timeout(), Some(t0 + Duration::from_secs(62)));
}

#[test]
fn an_invite_rings_a_line_named_by_the_servers_call_id_and_answer_sends_our_sdp() {
    let mut rig = Rig::new();
    let line = rig.ring(ms(0), "c42");
    let rtp: SocketAddr = RTP.parse().unwrap();
    rig.phone.answer(rig.at(ms(800)), line, rtp).unwrap();
    let ok = rig.sent().remove(0);
    assert_eq!(ok.status(), Some(StatusCode::OK));
    let ours = sdp_of(&ok);
    assert_eq!(ours.remote_rtp(), Some(rtp));
    // The offer's order on its payload types: A-law first, then μ-law, DTMF.
    let codecs: Vec<u8> = ours
        .audio()
        .unwrap()
        .codecs()
        .iter()
        .map(|c| c.pt)
        .collect();
    assert_eq!(codecs, vec![8, 0, 101]);
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Media {
            line,
            media: Media {
                remote: Some("127.0.0.1:30000".parse().unwrap()),
                codec: Codec::PCMA,
                dtmf_pt: Some(101),
                send: true,
            }
        }]
    );
    assert_eq!(
        rig.phone.answer(rig.at(ms(900)), line, rtp),
        Err(PhoneError::NotRinging)
    );
}

#[test]
fn the_200_is_resent_until_the_ack_and_a_missing_ack_ends_the_call_with_bye_at_32s() {
    let mut rig = Rig::new();
    let line = rig.ring(ms(0), "c1");
    rig.phone
        .answer(rig.at(ms(1000)), line, RTP.parse().unwrap())
        .unwrap();
    let ok = rig.sent().remove(0);
    rig.events();
    // T1 doubling up to T2: +0.5, +1.5, +3.5, +7.5, +11.5 … after the answer.
    let mut resent = Vec::new();
    while let Some(t) = rig
        .phone
        .poll_timeout()
        .filter(|&t| t < rig.at(ms(1000 + 12_000)))
    {
        rig.phone.handle_timeout(t);
        for m in rig.sent() {
            assert_eq!(m.status(), Some(StatusCode::OK));
            assert_eq!(m.body, ok.body);
            resent.push(t - rig.at(ms(1000)));
        }
    }
    assert_eq!(
        resent,
        vec![ms(500), ms(1500), ms(3500), ms(7500), ms(11_500)]
    );
    rig.run_until(ms(1000 + 31_999));
    assert!(rig.events().is_empty());
    rig.run_until(ms(1000 + 32_000));
    let bye = rig
        .sent()
        .into_iter()
        .find(|m| m.method() == Some(&Method::Bye))
        .expect("a BYE when the ACK never came");
    assert_eq!(bye.call_id(), ok.call_id());
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line,
            reason: EndReason::NoAck
        }]
    );
}

#[test]
fn the_ack_stops_the_resends_and_the_servers_bye_ends_the_line() {
    let mut rig = Rig::new();
    let line = rig.ring(ms(0), "c2");
    rig.phone
        .answer(rig.at(ms(100)), line, RTP.parse().unwrap())
        .unwrap();
    let ok = rig.sent().remove(0);
    rig.events();
    rig.receive(ms(120), &in_dialog("ACK", &ok, 1, "ack1", None));
    rig.run_until(ms(60_000));
    assert!(rig.sent().is_empty(), "nothing resent after the ACK");
    rig.receive(ms(61_000), &in_dialog("BYE", &ok, 2, "bye1", None));
    let answer = rig.sent().remove(0);
    assert_eq!(answer.status(), Some(StatusCode::OK));
    assert_eq!(answer.cseq().unwrap().method, Method::Bye);
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line,
            reason: EndReason::RemoteHangUp
        }]
    );
    assert_eq!(rig.phone.lines().count(), 0);
    // The same BYE again (the server did not hear our 200) is absorbed by
    // its transaction and answered; a stranger's BYE gets 481.
    rig.receive(ms(61_500), &in_dialog("BYE", &ok, 2, "bye1", None));
    assert_eq!(rig.sent()[0].status(), Some(StatusCode::OK));
    rig.receive(ms(62_000), &in_dialog("BYE", &ok, 3, "bye2", None));
    assert_eq!(
        rig.sent()[0].status(),
        Some(StatusCode::CALL_DOES_NOT_EXIST)
    );
}

#[test]
fn a_cancel_while_ringing_ends_the_line_with_487() {
    let mut rig = Rig::new();
    let line = rig.ring(ms(0), "c3");
    let cancel = format!(
        "CANCEL sip:1001@{PHONE} SIP/2.0\r\nVia: SIP/2.0/UDP {SERVER};branch=z9hG4bK-c3-1\r\nFrom: \"Reception\" <sip:100@clinic.test>;tag=srv-c3\r\nTo: <sip:1001@clinic.test>\r\nCall-ID: leg-c3\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    rig.receive(ms(4000), &cancel);
    let out = rig.sent();
    let statuses: Vec<_> = out
        .iter()
        .map(|m| (m.cseq().unwrap().method.clone(), m.status().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (Method::Cancel, StatusCode::OK),
            (Method::Invite, StatusCode::REQUEST_TERMINATED)
        ]
    );
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line,
            reason: EndReason::Cancelled
        }]
    );
    assert_eq!(
        rig.phone
            .answer(rig.at(ms(4100)), line, RTP.parse().unwrap()),
        Err(PhoneError::NoSuchLine(line))
    );
}

#[test]
fn a_reinvite_moving_the_media_is_answered_with_the_next_version_and_reported() {
    let mut rig = Rig::new();
    let (line, ok) = rig.talking(ms(0), "c4", ms(100), ms(150));
    // Hold: the server sends music and wants nothing back.
    let held = OFFER
        .replace("o=- 7 7", "o=- 7 8")
        .replace("m=audio 30000", "m=audio 30002")
        .replace("a=sendrecv", "a=sendonly");
    rig.receive(ms(5000), &in_dialog("INVITE", &ok, 2, "re1", Some(&held)));
    let answer = rig.sent().remove(0);
    assert_eq!(answer.status(), Some(StatusCode::OK));
    let ours = sdp_of(&answer);
    assert_eq!(
        ours.origin.session_version,
        sdp_of(&ok).origin.session_version + 1
    );
    assert_eq!(ours.origin.session_id, sdp_of(&ok).origin.session_id);
    assert_eq!(ours.direction(), Direction::RecvOnly);
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Media {
            line,
            media: Media {
                remote: Some("127.0.0.1:30002".parse().unwrap()),
                codec: Codec::PCMA,
                dtmf_pt: Some(101),
                send: false,
            }
        }]
    );
    // Its 200 is resent until that ACK too.
    rig.run_until(ms(5500));
    assert_eq!(rig.sent().len(), 1);
    rig.receive(ms(5600), &in_dialog("ACK", &ok, 2, "ack2", None));
    rig.run_until(ms(20_000));
    assert!(rig.sent().is_empty());
}

#[test]
fn an_opus_only_offer_is_answered_with_opus_on_its_payload_type() {
    let mut rig = Rig::new();
    let opus = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n";
    rig.receive(ms(0), &invite("op", 1, Some(opus)));
    rig.sent();
    let line = match rig.events().as_slice() {
        [PhoneEvent::Ringing { line, .. }] => *line,
        other => panic!("{other:?}"),
    };
    rig.phone
        .answer(rig.at(ms(10)), line, RTP.parse().unwrap())
        .unwrap();
    let ok = rig.sent().remove(0);
    let codecs = sdp_of(&ok).audio().unwrap().codecs();
    assert_eq!(codecs.len(), 1);
    assert_eq!((codecs[0].pt, codecs[0].name.as_ref()), (111, "opus"));
    match rig.events().as_slice() {
        [PhoneEvent::Media { media, .. }] => {
            assert_eq!(media.codec.kind(), careline_shared::sdp::CodecKind::Opus);
            assert_eq!(media.dtmf_pt, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_offer_we_cannot_answer_gets_488_and_a_third_call_gets_486() {
    let mut rig = Rig::new();
    rig.receive(ms(0), &invite("nosdp", 1, None));
    assert_eq!(
        rig.sent()[0].status(),
        Some(StatusCode::NOT_ACCEPTABLE_HERE)
    );
    let g729 = OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18");
    rig.receive(ms(10), &invite("g729", 1, Some(&g729)));
    assert_eq!(
        rig.sent()[0].status(),
        Some(StatusCode::NOT_ACCEPTABLE_HERE)
    );
    assert!(rig.events().is_empty());
    rig.ring(ms(20), "a");
    rig.ring(ms(30), "b");
    rig.receive(ms(40), &invite("c", 1, Some(OFFER)));
    assert_eq!(rig.sent()[0].status(), Some(StatusCode::BUSY_HERE));
    assert_eq!(rig.phone.lines().count(), 2);
}

#[test]
fn hanging_up_declines_a_ringing_line_and_waits_for_the_ack_before_bye() {
    let mut rig = Rig::new();
    let ringing = rig.ring(ms(0), "d1");
    rig.phone.hang_up(rig.at(ms(2000)), ringing).unwrap();
    assert_eq!(rig.sent()[0].status(), Some(StatusCode::DECLINE));
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line: ringing,
            reason: EndReason::LocalHangUp
        }]
    );

    let line = rig.ring(ms(3000), "d2");
    rig.phone
        .answer(rig.at(ms(3100)), line, RTP.parse().unwrap())
        .unwrap();
    let ok = rig.sent().remove(0);
    rig.events();
    rig.phone.hang_up(rig.at(ms(3150)), line).unwrap();
    assert!(rig.sent().is_empty(), "no BYE before the ACK");
    rig.receive(ms(3200), &in_dialog("ACK", &ok, 1, "ack", None));
    let bye = rig.sent().remove(0);
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.cseq().unwrap().seq, 1);
    assert_eq!(
        rig.events(),
        vec![PhoneEvent::Ended {
            line,
            reason: EndReason::LocalHangUp
        }]
    );
}

#[test]
fn garbage_and_keepalives_are_dropped_and_options_answered() {
    let mut rig = Rig::new();
    rig.receive(ms(0), "\r\n\r\n");
    rig.receive(ms(1), "this is not SIP at all");
    rig.receive(ms(2), "INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n");
    assert!(rig.sent().is_empty());
    assert!(rig.events().is_empty());
    assert_eq!(rig.phone.discarded(), 2);
    let options = format!(
        "OPTIONS sip:1001@{PHONE} SIP/2.0\r\nVia: SIP/2.0/UDP {SERVER};branch=z9hG4bK-o1\r\nFrom: <sip:careline@clinic.test>;tag=o\r\nTo: <sip:1001@clinic.test>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    rig.receive(ms(3), &options);
    let ok = rig.sent().remove(0);
    assert_eq!(ok.status(), Some(StatusCode::OK));
    assert!(
        ok.headers
            .get(&HeaderName::Allow)
            .unwrap()
            .value_str()
            .contains("INVITE")
    );
}

#[test]
fn a_keepalive_goes_to_the_server_every_25_seconds_and_a_refer_is_refused() {
    let mut rig = Rig::new();
    let datagrams = |rig: &mut Rig| -> Vec<Bytes> {
        std::iter::from_fn(|| rig.phone.poll_transmit())
            .map(|t| t.bytes)
            .collect()
    };
    rig.run_until(ms(24_999));
    assert!(
        datagrams(&mut rig)
            .iter()
            .all(|b| b.as_ref() != b"\r\n\r\n")
    );
    rig.run_until(ms(25_000));
    let sent = datagrams(&mut rig);
    assert_eq!(sent, vec![Bytes::from_static(b"\r\n\r\n")]);
    rig.run_until(ms(50_000));
    assert!(datagrams(&mut rig).contains(&Bytes::from_static(b"\r\n\r\n")));

    let (_, ok) = rig.talking(ms(50_100), "r1", ms(50_200), ms(50_300));
    let refer = in_dialog("REFER", &ok, 2, "ref", None).replace(
        "Content-Length: 0",
        "Refer-To: <sip:2001@clinic.test>\r\nContent-Length: 0",
    );
    rig.receive(ms(51_000), &refer);
    let answer = rig.sent().remove(0);
    assert_eq!(answer.status(), Some(StatusCode::METHOD_NOT_ALLOWED));
    assert_eq!(rig.phone.lines().count(), 1, "the call goes on");
}

#[test]
fn only_the_server_may_ring_the_phone_and_its_call_id_must_look_like_one() {
    let mut rig = Rig::new();
    let stranger: SocketAddr = "127.0.0.9:5060".parse().unwrap();
    rig.phone.handle_datagram(
        rig.at(ms(0)),
        Bytes::from(invite("c9", 1, Some(OFFER))),
        stranger,
    );
    assert!(rig.sent().is_empty());
    assert!(rig.events().is_empty());
    assert_eq!(rig.phone.discarded(), 1);
    // A call id that would climb out of a directory or a URL is not passed on.
    rig.receive(
        ms(10),
        &invite("c10", 1, Some(OFFER))
            .replace("X-Careline-Call: c10", "X-Careline-Call: ../../etc/x"),
    );
    rig.sent();
    match rig.events().as_slice() {
        [PhoneEvent::Ringing { call_id, .. }] => assert_eq!(call_id, &None),
        other => panic!("{other:?}"),
    }
    assert!(is_call_id("call-00000042"));
    assert!(!is_call_id("a/b") && !is_call_id("..") && !is_call_id(""));
}

#[test]
fn a_bye_while_ringing_gets_the_invite_its_487_first() {
    let mut rig = Rig::new();
    rig.receive(ms(0), &invite("e1", 1, Some(OFFER)));
    let ringing = rig.sent().remove(0);
    rig.events();
    rig.receive(ms(500), &in_dialog("BYE", &ringing, 2, "bye-early", None));
    let out: Vec<_> = rig
        .sent()
        .iter()
        .map(|m| (m.cseq().unwrap().method.clone(), m.status().unwrap()))
        .collect();
    assert_eq!(
        out,
        vec![
            (Method::Invite, StatusCode::REQUEST_TERMINATED),
            (Method::Bye, StatusCode::OK)
        ]
    );
    assert_eq!(rig.phone.lines().count(), 0);
}

#[test]
fn shutting_down_hangs_up_and_removes_the_registration() {
    let mut rig = Rig::new();
    let _ = rig.talking(ms(0), "s1", ms(10), ms(20));
    rig.phone.shut_down(rig.at(ms(1000)));
    let out = rig.sent();
    let methods: Vec<_> = out.iter().filter_map(|m| m.method().cloned()).collect();
    assert_eq!(methods, vec![Method::Bye, Method::Register]);
    let register = &out[1];
    assert_eq!(
        register
            .headers
            .get(&HeaderName::Expires)
            .unwrap()
            .value_str(),
        "0"
    );
    assert!(!rig.phone.is_idle());
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}Content-Length: 0\r\n\r\n",
        echo(register)
    );
    rig.receive(ms(1010), &ok);
    let bye_ok = format!(
        "SIP/2.0 200 OK\r\n{}Content-Length: 0\r\n\r\n",
        echo(&out[0])
    );
    rig.receive(ms(1020), &bye_ok);
    assert!(rig.phone.is_idle());
    assert!(!rig.phone.registered());
    let events = rig.events();
    assert!(
        events.contains(&PhoneEvent::Registration(RegistrationEvent::Unregistered {
            name: "1001".into()
        }))
    );
    // Nothing is refreshed, retried or kept alive afterwards.
    rig.run_until(ms(3_600_000));
    assert!(rig.sent().is_empty());
    assert!(
        std::iter::from_fn(|| rig.phone.poll_transmit())
            .next()
            .is_none()
    );
}

#[test]
fn a_refer_transfers_the_call_and_its_notifies_report_the_outcome() {
    let mut rig = Rig::new();
    let (line, ok) = rig.talking(ms(0), "t1", ms(10), ms(20));
    assert!(matches!(
        rig.phone.refer(rig.at(ms(30)), line, "20 01"),
        Err(PhoneError::BadTarget(_))
    ));
    rig.phone.refer(rig.at(ms(40)), line, "2001").unwrap();
    let refer = rig.sent().remove(0);
    assert_eq!(refer.method(), Some(&Method::Refer));
    assert_eq!(
        refer.headers.get(&HeaderName::ReferTo).unwrap().value_str(),
        "<sip:2001@clinic.test>"
    );
    // In the call's dialog: their tag in To, ours in From.
    assert_eq!(refer.to_tag().unwrap().as_str(), "srv-t1");
    assert_eq!(refer.from_tag(), ok.to_tag());
    rig.receive(
        ms(50),
        &format!(
            "SIP/2.0 202 Accepted\r\n{}Content-Length: 0\r\n\r\n",
            echo(&refer)
        ),
    );
    let notify = |cseq: u32, frag: &str| {
        in_dialog("NOTIFY", &ok, cseq, &format!("n{cseq}"), Some(frag)).replace(
            "Content-Type: application/sdp",
            "Event: refer\r\nContent-Type: message/sipfrag",
        )
    };
    rig.receive(ms(60), &notify(2, "SIP/2.0 100 Trying\r\n"));
    rig.receive(ms(900), &notify(3, "SIP/2.0 200 OK\r\n"));
    let answers: Vec<_> = rig.sent().iter().map(|m| m.status().unwrap()).collect();
    assert_eq!(answers, vec![StatusCode::OK, StatusCode::OK]);
    assert_eq!(
        rig.events(),
        vec![
            PhoneEvent::Transfer {
                line,
                status: 202,
                done: false
            },
            PhoneEvent::Transfer {
                line,
                status: 100,
                done: false
            },
            PhoneEvent::Transfer {
                line,
                status: 200,
                done: true
            },
        ]
    );
}

#[test]
fn shutting_down_during_a_refresh_removes_the_binding_the_refresh_made() {
    let t0 = virtual_epoch();
    let mut phone = Phone::new(config(), t0, 3);
    phone.handle_timeout(t0);
    // The first REGISTER is still unanswered when the phone goes away.
    let register = sent(&mut phone).remove(0);
    phone.shut_down(t0 + ms(10));
    assert!(sent(&mut phone).is_empty(), "nothing before the answer");
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}Contact: <sip:1001@{PHONE};transport=udp>;expires=300\r\nContent-Length: 0\r\n\r\n",
        echo(&register)
    );
    phone.handle_datagram(t0 + ms(20), ok.into(), SERVER.parse().unwrap());
    let removal = sent(&mut phone).remove(0);
    assert_eq!(removal.method(), Some(&Method::Register));
    assert_eq!(
        removal
            .headers
            .get(&HeaderName::Expires)
            .unwrap()
            .value_str(),
        "0"
    );
    assert!(!phone.is_idle());
    let done = format!(
        "SIP/2.0 200 OK\r\n{}Content-Length: 0\r\n\r\n",
        echo(&removal)
    );
    phone.handle_datagram(t0 + ms(30), done.into(), SERVER.parse().unwrap());
    assert!(phone.is_idle());
    assert!(std::iter::from_fn(|| phone.poll_event()).any(|e| e
        == PhoneEvent::Registration(RegistrationEvent::Unregistered {
            name: "1001".into()
        })));
}
