//! Calls through the whole endpoint in virtual time: a caller's INVITE to a
//! queue number, the agent's phone rung with an INVITE of ours, answers,
//! CANCELs and BYEs on both legs — all as bytes, with no sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use careline_shared::sip::{
    CallId, DigestAlgorithm, HeaderName, Host, Message, Method, NameAddr, SipUri, StatusCode, Tag,
    Uri, parse_datagram, response_to,
};
use careline_shared::testing::virtual_epoch;

use super::*;
use crate::calls::acd::QueueSettings;
use crate::calls::event::{EndReason, Event, Tier};
use crate::calls::media::{Anchor, MediaControl};
use crate::media::{Leg, Mode, SessionId};
use crate::sip::endpoint::{EndpointEvent, EndpointSettings, Flow, SipCore, Transmit};
use crate::sip::registrar::{Binding, RegistrarSettings};

const S: Duration = Duration::from_secs(1);
const CALLER: &str = "127.0.0.1:6000";
const AGENT: &str = "127.0.0.1:7001";
const SENIOR: &str = "127.0.0.1:7002";
const SDP: &str = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6002 RTP/AVP 0\r\n";

fn core(t0: Instant) -> SipCore {
    core_with(t0, None)
}

fn core_with(t0: Instant, media: Option<Box<dyn MediaControl>>) -> SipCore {
    core_configured(t0, media, None)
}

/// The same, sending keep-alive OPTIONS to connected legs `keepalive` apart.
fn core_configured(
    t0: Instant,
    media: Option<Box<dyn MediaControl>>,
    keepalive: Option<Duration>,
) -> SipCore {
    let settings = EndpointSettings {
        domain: "127.0.0.1".into(),
        server_name: "Careline-test".into(),
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        registrar: RegistrarSettings {
            realm: "127.0.0.1".into(),
            min_expires: 60 * S,
            max_expires: 3600 * S,
            default_expires: 3600 * S,
            max_contacts: 10,
            lockout_after: 5,
            lockout_time: 300 * S,
            nonce_ttl: 300 * S,
            algorithms: vec![DigestAlgorithm::Md5],
        },
        queues: vec![QueueSettings {
            name: "reception".into(),
            number: "100".into(),
            agents: vec!["1001".into()],
            seniors: vec!["2001".into()],
            ring_cycle: 5 * S,
            rings_to_answer: 3,
            agent_ring_time: 10 * S,
            wrap_up: 10 * S,
            auto_pause_after: 3,
            max_wait: 600 * S,
        }],
        udp: Some("127.0.0.1:5060".parse().unwrap()),
        tcp: None,
        ws: None,
        hold_reminder: 30 * S,
        keepalive,
        dropped_announcement: 4 * S,
        trunk: Some(crate::calls::b2bua::OutboundRoute {
            remote: "127.0.0.1:5070".parse().unwrap(),
            transport: crate::config::Transport::Udp,
            credentials: Some(("clinic".into(), "trunk-secret".into())),
        }),
        inbound_trunks: vec![crate::calls::b2bua::InboundTrunk {
            name: "pstn".into(),
            sources: vec!["127.0.0.2".parse().unwrap()],
            registers_as: Some("gateway".into()),
            dids: [("78125550100".to_string(), "100".to_string())].into(),
        }],
        trunk_accounts: Vec::new(),
    };
    let mut core = SipCore::new(settings, [9; 32], t0, media);
    for (ext, addr) in [("1001", AGENT), ("2001", SENIOR)] {
        let addr: SocketAddr = addr.parse().unwrap();
        core.restore_binding(
            t0,
            ext.into(),
            Binding {
                contact: NameAddr::new(Uri::Sip(SipUri::new(
                    Some(ext),
                    Host::from(addr.ip()),
                    Some(addr.port()),
                ))),
                uri: format!("sip:{ext}@{addr}"),
                expires_at: t0 + 3600 * S,
                call_id: CallId::new("reg"),
                cseq: 1,
                source: addr,
                transport: "udp",
                user_agent: None,
            },
        );
    }
    core
}

fn udp(remote: &str) -> Flow {
    Flow {
        transport: crate::config::Transport::Udp,
        remote: remote.parse().unwrap(),
        local: None,
    }
}

fn feed(core: &mut SipCore, now: Instant, from: &str, data: Bytes) {
    core.handle_datagram(now, udp(from), data);
}

/// Everything sent, parsed, with its destination.
fn sent(core: &mut SipCore) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|t: Transmit| (t.destination, parse_datagram(t.data).unwrap()))
        .collect()
}

fn events(core: &mut SipCore) -> Vec<Event> {
    std::iter::from_fn(|| core.poll_event())
        .filter_map(|e| match e {
            EndpointEvent::Call(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn caller_invite() -> Bytes {
    Bytes::from(format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcaller1\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: patient-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:patient@{CALLER}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    ))
}

fn status(m: &Message) -> Option<u16> {
    m.status().map(|s| s.as_u16())
}

fn only<'a>(
    out: &'a [(SocketAddr, Message)],
    to: &str,
    what: impl Fn(&Message) -> bool,
) -> &'a Message {
    let to: SocketAddr = to.parse().unwrap();
    let found: Vec<_> = out.iter().filter(|(d, m)| *d == to && what(m)).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one such message to {to}, got {:#?}",
        out
    );
    &found[0].1
}

/// The agent's phone answering our INVITE with `status`.
fn agent_reply(invite: &Message, status: StatusCode, tag: &str, contact: &str) -> Bytes {
    let mut w = response_to(invite, status, Some(&Tag::new(tag)));
    if status.is_success() {
        w.header(&HeaderName::Contact, format!("<sip:1001@{contact}>"));
        return w.finish_with_body(Some("application/sdp"), b"v=0\r\no=agent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7004 RTP/AVP 0\r\n");
    }
    w.finish()
}

fn is_invite(m: &Message) -> bool {
    m.method() == Some(&Method::Invite) && m.is_request()
}

/// A caller's INVITE at `t0`, and the agent's phone ringing for it at
/// `t0 + 1 s`; returns the INVITE the agent got.
fn ringing(core: &mut SipCore, t0: Instant) -> Message {
    feed(core, t0, CALLER, caller_invite());
    let out = sent(core);
    let invite = only(&out, AGENT, is_invite).clone();
    feed(
        core,
        t0 + S,
        AGENT,
        agent_reply(&invite, StatusCode::RINGING, "ag", AGENT),
    );
    sent(core);
    invite
}

/// The caller's CANCEL of its INVITE.
fn caller_cancel() -> Bytes {
    Bytes::from(format!(
        "CANCEL sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcaller1\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: patient-call-1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    ))
}

#[test]
fn agent_answers_and_the_legs_are_joined_then_the_caller_hangs_up() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    feed(&mut core, t0, CALLER, caller_invite());
    let out = sent(&mut core);
    let ringing = only(&out, CALLER, |m| status(m) == Some(180));
    let caller_tag = ringing.to_tag().unwrap();
    let invite = only(&out, AGENT, is_invite).clone();
    assert_eq!(
        invite.request_uri().unwrap().to_string(),
        format!("sip:1001@{AGENT}")
    );
    let call_ref = invite
        .headers
        .all
        .iter()
        .find(|h| h.name.as_str() == CALL_HEADER)
        .unwrap()
        .value_str()
        .to_string();
    assert!(call_ref.starts_with("call-"));
    assert_eq!(
        &invite.body[..],
        SDP.as_bytes(),
        "the caller's offer reaches the agent"
    );

    feed(
        &mut core,
        t0 + 3 * S,
        AGENT,
        agent_reply(&invite, StatusCode::RINGING, "ag", AGENT),
    );
    assert!(sent(&mut core).is_empty());
    feed(
        &mut core,
        t0 + 7 * S,
        AGENT,
        agent_reply(&invite, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(&mut core);
    let ack = only(&out, AGENT, |m| m.method() == Some(&Method::Ack));
    assert_eq!(ack.to_tag().unwrap().as_str(), "ag");
    let ok = only(&out, CALLER, |m| status(m) == Some(200));
    assert_eq!(ok.to_tag(), Some(caller_tag.clone()));
    assert!(
        String::from_utf8_lossy(&ok.body).contains("m=audio 7004"),
        "the agent's answer reaches the caller"
    );
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(e, Event::Answered { within_deadline: true, wait, tier: Tier::Agent, .. } if *wait == 7 * S)));

    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcallerbye\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>;tag={caller_tag}\r\nCall-ID: patient-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    feed(&mut core, t0 + 60 * S, CALLER, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, CALLER, |m| status(m) == Some(200));
    let agent_bye = only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert_eq!(agent_bye.call_id(), invite.call_id());
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Completed,
            ..
        }
    )));
    assert_eq!(core.calls().active_calls(), 0);
    assert_nothing_tracked(&core);
}

/// Every index of the call core is empty again once its calls are over.
fn assert_nothing_tracked(core: &SipCore) {
    let b = core.calls();
    assert!(b.calls.is_empty(), "calls left");
    assert!(b.dialogs.is_empty(), "dialogs left: {:?}", b.dialogs);
    assert!(b.by_invite.is_empty(), "invite keys left");
    assert!(
        b.legs.values().all(|l| l.dialog.is_none()),
        "an agent leg in a dialog is left"
    );
}

#[test]
fn unanswered_agent_is_cancelled_and_the_senior_rung_at_the_deadline() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    let invite = ringing(&mut core, t0);
    // At the agent's ring time the phone is cancelled and rung again (alone in its tier).
    core.handle_timeout(t0 + 10 * S);
    let out = sent(&mut core);
    let cancel = only(&out, AGENT, |m| m.method() == Some(&Method::Cancel));
    assert_eq!(
        cancel.branch(),
        invite.branch(),
        "CANCEL shares the INVITE's branch"
    );
    let second = only(&out, AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + 10 * S,
        AGENT,
        agent_reply(&invite, StatusCode::REQUEST_TERMINATED, "ag", AGENT),
    );
    feed(
        &mut core,
        t0 + 11 * S,
        AGENT,
        agent_reply(&second, StatusCode::RINGING, "ag2", AGENT),
    );
    sent(&mut core);
    // Exactly three ring cycles after the INVITE arrived: the senior rings too.
    core.handle_timeout(t0 + 15 * S - Duration::from_millis(1));
    assert!(
        !sent(&mut core)
            .iter()
            .any(|(d, m)| is_invite(m) && d.to_string() == SENIOR)
    );
    core.handle_timeout(t0 + 15 * S);
    let out = sent(&mut core);
    let senior_invite = only(&out, SENIOR, is_invite).clone();
    let ev = events(&mut core);
    assert!(ev.contains(&Event::AnswerDeadlinePassed {
        call: 1,
        at: t0 + 15 * S
    }));
    // The senior answers first; the agent's ringing phone is cancelled.
    feed(
        &mut core,
        t0 + 16 * S,
        SENIOR,
        agent_reply(&senior_invite, StatusCode::OK, "sr", SENIOR),
    );
    let out = sent(&mut core);
    only(&out, CALLER, |m| status(m) == Some(200));
    only(&out, AGENT, |m| m.method() == Some(&Method::Cancel));
    // The agent's 200 OK crossed that CANCEL: it is acknowledged and hung up.
    feed(
        &mut core,
        t0 + 16 * S,
        AGENT,
        agent_reply(&second, StatusCode::OK, "ag2", AGENT),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| m.method() == Some(&Method::Ack));
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert!(
        !out.iter().any(|(d, _)| d.to_string() == CALLER),
        "the caller hears nothing of it"
    );
}

#[test]
fn caller_cancel_abandons_the_call_and_stops_the_agents_phone() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    ringing(&mut core, t0);
    feed(&mut core, t0 + 4 * S, CALLER, caller_cancel());
    let out = sent(&mut core);
    only(&out, CALLER, |m| {
        status(m) == Some(200) && m.method() == Some(&Method::Cancel)
    });
    only(&out, CALLER, |m| status(m) == Some(487));
    only(&out, AGENT, |m| m.method() == Some(&Method::Cancel));
    let ev = events(&mut core);
    assert!(ev.contains(&Event::Abandoned {
        call: 1,
        wait: 4 * S,
        after_deadline: false,
        at: t0 + 4 * S
    }));
    assert_eq!(
        core.calls().acd().agent_state("1001"),
        Some(crate::calls::agents::AgentState::Available)
    );
    assert_nothing_tracked(&core);
}

#[test]
fn agent_busy_counts_as_a_miss_and_the_call_waits() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    feed(&mut core, t0, CALLER, caller_invite());
    let out = sent(&mut core);
    let invite = only(&out, AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + S,
        AGENT,
        agent_reply(&invite, StatusCode::BUSY_HERE, "ag", AGENT),
    );
    let out = sent(&mut core);
    // The 486 is acknowledged by the transaction; the agent is offered again.
    only(&out, AGENT, |m| m.method() == Some(&Method::Ack));
    only(&out, AGENT, is_invite);
    let ev = events(&mut core);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::AgentRingNoAnswer { misses: 1, .. }))
    );
}

#[test]
fn agent_hangs_up_and_the_caller_gets_a_bye() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    feed(&mut core, t0, CALLER, caller_invite());
    let out = sent(&mut core);
    let invite = only(&out, AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + S,
        AGENT,
        agent_reply(&invite, StatusCode::RINGING, "ag", AGENT),
    );
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&invite, StatusCode::OK, "ag", AGENT),
    );
    sent(&mut core);
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKagentbye\r\nFrom: <sip:1001@127.0.0.1>;tag=ag\r\nTo: {};tag={}\r\nCall-ID: {}\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
        invite
            .headers
            .from
            .as_ref()
            .map(|f| format!("<{}>", f.uri))
            .unwrap(),
        invite.from_tag().unwrap(),
        invite.call_id().unwrap()
    );
    feed(&mut core, t0 + 30 * S, AGENT, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(200));
    let caller_bye = only(&out, CALLER, |m| m.method() == Some(&Method::Bye));
    assert_eq!(caller_bye.call_id().unwrap().as_str(), "patient-call-1");
    assert_eq!(caller_bye.to_tag().unwrap().as_str(), "pt");
    assert_eq!(
        core.calls().acd().agent_state("1001"),
        Some(crate::calls::agents::AgentState::WrapUp)
    );
    assert_nothing_tracked(&core);
}

#[test]
fn invite_to_a_number_no_queue_answers_gets_404() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    let data = String::from_utf8(caller_invite().to_vec())
        .unwrap()
        .replace("sip:100@", "sip:555@");
    feed(&mut core, t0, CALLER, Bytes::from(data));
    let out = sent(&mut core);
    only(&out, CALLER, |m| status(m) == Some(404));
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    let bye = format!(
        "BYE sip:careline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKstray\r\nFrom: <sip:x@y>;tag=a\r\nTo: <sip:100@127.0.0.1>;tag=nope\r\nCall-ID: stray\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    feed(&mut core, t0, CALLER, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, CALLER, |m| status(m) == Some(481));
}

/// Media that records what the B2BUA asks of it.
#[derive(Clone, Default)]
struct FakeMedia(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl FakeMedia {
    fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn say(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
}

impl MediaControl for FakeMedia {
    fn address(&self) -> std::net::IpAddr {
        [127, 0, 0, 1].into()
    }
    /// Sessions 7, 8, … on ports 30000/30002, 30004/30006, …
    fn create(&mut self) -> Option<Anchor> {
        let n = self.log().iter().filter(|l| *l == "create").count() as u16;
        self.say("create".into());
        Some(Anchor {
            id: SessionId(7 + u64::from(n)),
            port_a: 30000 + 4 * n,
            port_b: 30002 + 4 * n,
        })
    }
    fn set_remote(&mut self, id: SessionId, leg: Leg, addr: SocketAddr) {
        self.say(format!("remote {} {leg:?} {addr}", id.0));
    }
    fn set_codecs(&mut self, _: SessionId, leg: Leg, codecs: &[careline_shared::sdp::Codec]) {
        let names: Vec<String> = codecs.iter().map(|c| c.name.to_string()).collect();
        self.say(format!("codecs {leg:?} {}", names.join(",")));
    }
    fn set_mode(&mut self, id: SessionId, mode: Mode) {
        let m = match mode {
            Mode::Idle => "idle".to_string(),
            Mode::Relay => "relay".to_string(),
            Mode::Ringback { codec } => format!("ringback {}", codec.name),
            Mode::Hold { .. } => "hold".to_string(),
            Mode::Announce { .. } => "announce".to_string(),
        };
        // The first session's modes as `mode relay`, later ones with their id.
        if id.0 == 7 {
            self.say(format!("mode {m}"));
        } else {
            self.say(format!("mode {} {m}", id.0));
        }
    }
    fn stats(&self, _: SessionId) -> Option<crate::media::Stats> {
        None
    }
    fn destroy(&mut self, id: SessionId) {
        self.say(format!("destroy {}", id.0));
    }
}

fn sdp_port(m: &Message) -> u16 {
    careline_shared::sdp::Sdp::parse(&m.body)
        .unwrap()
        .audio()
        .unwrap()
        .port
}

#[test]
fn anchored_call_answers_with_our_ports_plays_ringback_then_relays() {
    let t0 = virtual_epoch();
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    feed(&mut core, t0, CALLER, caller_invite());
    let out = sent(&mut core);
    // Early media: 183 with our port A; the caller hears our ringback.
    let early = only(&out, CALLER, |m| status(m) == Some(183));
    assert_eq!(sdp_port(early), 30000);
    let invite = only(&out, AGENT, is_invite).clone();
    assert_eq!(sdp_port(&invite), 30002, "the agent is offered our port B");
    assert!(String::from_utf8_lossy(&invite.body).contains("c=IN IP4 127.0.0.1"));
    assert_eq!(
        media.log(),
        vec![
            "create",
            "remote 7 A 127.0.0.1:6002",
            "codecs A PCMU",
            "mode ringback PCMU"
        ]
    );
    feed(
        &mut core,
        t0 + S,
        AGENT,
        agent_reply(&invite, StatusCode::RINGING, "ag", AGENT),
    );
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&invite, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(&mut core);
    let ok = only(&out, CALLER, |m| status(m) == Some(200));
    assert_eq!(
        sdp_port(ok),
        30000,
        "the caller keeps talking to our port A"
    );
    let log = media.log();
    assert!(
        log.contains(&"remote 7 B 127.0.0.1:7004".to_string()),
        "{log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("mode relay"));
    let caller_tag = ok.to_tag().unwrap();
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKbye2\r\nFrom: <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>;tag={caller_tag}\r\nCall-ID: patient-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    feed(&mut core, t0 + 9 * S, CALLER, Bytes::from(bye));
    sent(&mut core);
    assert_eq!(media.log().last().map(String::as_str), Some("destroy 7"));
}

#[test]
fn offer_without_a_common_codec_gets_488_and_frees_its_ports() {
    let t0 = virtual_epoch();
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    let invite = String::from_utf8(caller_invite().to_vec())
        .unwrap()
        .replace("RTP/AVP 0", "RTP/AVP 18");
    feed(&mut core, t0, CALLER, Bytes::from(invite));
    let out = sent(&mut core);
    only(&out, CALLER, |m| status(m) == Some(488));
    assert!(!out.iter().any(|(_, m)| is_invite(m)), "no agent is rung");
    assert_eq!(media.log(), vec!["create", "destroy 7"]);
}

#[test]
fn abandoned_call_frees_its_media() {
    let t0 = virtual_epoch();
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    feed(&mut core, t0, CALLER, caller_invite());
    sent(&mut core);
    feed(&mut core, t0 + 2 * S, CALLER, caller_cancel());
    sent(&mut core);
    assert_eq!(media.log().last().map(String::as_str), Some("destroy 7"));
}

#[path = "b2bua_hold_tests.rs"]
mod hold;

#[path = "b2bua_dialout_tests.rs"]
mod dialout_tests;

#[path = "b2bua_keepalive_tests.rs"]
mod keepalive_tests;

#[path = "b2bua_transfer_tests.rs"]
mod transfer_tests;

#[path = "b2bua_consult_tests.rs"]
mod consult_tests;

#[path = "b2bua_trunks_tests.rs"]
mod trunks_tests;

#[path = "b2bua_browser_tests.rs"]
mod browser_tests;
