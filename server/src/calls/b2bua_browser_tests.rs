//! Browsers in the call core, with a fake gateway: a browser's call into
//! the queue (its offer answered by the gateway, a plain caller to
//! everyone else), a WebSocket softphone on plain RTP left alone, and a
//! browser's renegotiation refused on either side of a call.

use super::*;

/// Where the fake gateway's inner socket is (the plain side's view of a
/// browser).
const INNER: &str = "127.0.0.1:41000";
const BROWSER: &str = "127.0.0.1:6100";
/// What the fake gateway answers a browser with.
const GATEWAY_ANSWER: &str = "v=0\r\no=gw 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-lite\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\na=setup:passive\r\n";
/// A browser's offer: DTLS-SRTP, μ-law.
const BROWSER_OFFER: &str = "v=0\r\no=- 5 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=setup:actpass\r\n";

/// [`FakeMedia`] with a gateway: it takes browser offers with μ-law (and
/// refuses the rest), and offers browsers a DTLS-SRTP description.
#[derive(Clone, Default)]
struct FakeGateway(FakeMedia);

impl MediaControl for FakeGateway {
    fn address(&self) -> std::net::IpAddr {
        self.0.address()
    }
    fn create(&mut self) -> Option<Anchor> {
        self.0.create()
    }
    fn set_remote(&mut self, id: SessionId, leg: Leg, addr: SocketAddr) {
        self.0.set_remote(id, leg, addr)
    }
    fn set_codecs(&mut self, id: SessionId, leg: Leg, codecs: &[careline_shared::sdp::Codec]) {
        self.0.set_codecs(id, leg, codecs)
    }
    fn set_mode(&mut self, id: SessionId, mode: Mode) {
        self.0.set_mode(id, mode)
    }
    fn stats(&self, id: SessionId) -> Option<crate::media::Stats> {
        self.0.stats(id)
    }
    fn destroy(&mut self, id: SessionId) {
        self.0.destroy(id)
    }
    fn webrtc_accept(
        &mut self,
        id: SessionId,
        port_a: u16,
        offer: &[u8],
        _call: u64,
    ) -> Option<(u64, Bytes, Bytes)> {
        self.0.say(format!("accept {} {port_a}", id.0));
        if !String::from_utf8_lossy(offer).contains("PCMU/8000") {
            return None;
        }
        let plain = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
        Some((1, Bytes::from(GATEWAY_ANSWER), Bytes::from(plain)))
    }
    fn webrtc_offer(&mut self, id: SessionId, _plain: &[u8]) -> Option<(u64, Bytes)> {
        self.0.say(format!("offer {}", id.0));
        Some((2, Bytes::from(BROWSER_OFFER)))
    }
    fn webrtc_answer(&mut self, peer: u64, _answer: &[u8], _call: u64) -> Option<Bytes> {
        self.0.say(format!("answer {peer}"));
        let plain = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
        Some(Bytes::from(plain))
    }
    fn webrtc_close(&mut self, peer: u64) {
        self.0.say(format!("close {peer}"));
    }
}

fn ws(remote: &str) -> Flow {
    Flow {
        transport: crate::config::Transport::Ws,
        remote: remote.parse().unwrap(),
        local: None,
    }
}

/// A browser's INVITE to the queue over its WebSocket, offering `sdp`.
fn browser_invite(sdp: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS b.invalid;branch=z9hG4bKbrowser1\r\nFrom: <sip:3001@127.0.0.1>;tag=br\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: browser-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:w3001@b.invalid;transport=ws>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ))
}

/// The browser's request `method` in its dialog (CSeq `cseq`), with `sdp`.
fn browser_request(method: &str, cseq: u32, our_tag: &str, sdp: &str) -> Bytes {
    let body = if sdp.is_empty() {
        "Content-Length: 0\r\n\r\n".to_string()
    } else {
        format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    Bytes::from(format!(
        "{method} sip:careline@127.0.0.1;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS b.invalid;branch=z9hG4bKbr{cseq}\r\nFrom: <sip:3001@127.0.0.1>;tag=br\r\nTo: <sip:100@127.0.0.1>;tag={our_tag}\r\nCall-ID: browser-call-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:w3001@b.invalid;transport=ws>\r\nMax-Forwards: 70\r\n{body}"
    ))
}

/// The agent answers `invite` at `at`: the 200 the browser gets.
fn agent_answers(core: &mut SipCore, at: Instant, invite: &Message) -> Message {
    feed(
        core,
        at,
        AGENT,
        agent_reply(invite, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(core);
    only(&out, BROWSER, |m| status(m) == Some(200)).clone()
}

#[test]
fn a_browsers_call_is_answered_by_the_gateway_and_reaches_the_agent_as_a_plain_one() {
    let t0 = virtual_epoch();
    let gw = FakeGateway::default();
    let mut core = core_with(t0, Some(Box::new(gw.clone())));
    core.handle_datagram(t0, ws(BROWSER), browser_invite(BROWSER_OFFER));
    let out = sent(&mut core);
    // The browser hears ringback in the gateway's answer, at once.
    let early = only(&out, BROWSER, |m| status(m) == Some(183));
    assert_eq!(&early.body[..], GATEWAY_ANSWER.as_bytes());
    // The gateway was asked with our port A; the agent is offered the
    // plain stand-in at our port B.
    let invite = only(&out, AGENT, is_invite).clone();
    assert_eq!(sdp_port(&invite), 30002);
    assert!(String::from_utf8_lossy(&invite.body).contains("RTP/AVP 0"));
    assert_eq!(
        gw.0.log()[..4],
        [
            "create",
            "accept 7 30000",
            "remote 7 A 127.0.0.1:41000",
            "codecs A PCMU"
        ]
    );
    // The 200 repeats the gateway's answer: the browser's peer took one
    // codec, the one the agent was offered.
    let ok = agent_answers(&mut core, t0 + S, &invite);
    assert_eq!(&ok.body[..], GATEWAY_ANSWER.as_bytes());
    assert_eq!(gw.0.log().last().map(String::as_str), Some("mode relay"));
    let tag = ok.to_tag().unwrap().to_string();

    // A re-INVITE with a new offer is refused; the call goes on.
    core.handle_datagram(
        t0 + 2 * S,
        ws(BROWSER),
        browser_request("INVITE", 2, &tag, BROWSER_OFFER),
    );
    let out = sent(&mut core);
    let refused = only(&out, BROWSER, |m| status(m) == Some(488));
    assert!(refused.body.is_empty());
    assert!(
        !out.iter()
            .any(|(to, _)| *to == AGENT.parse::<SocketAddr>().unwrap())
    );
    // A refresh without an offer is answered without one.
    core.handle_datagram(
        t0 + 3 * S,
        ws(BROWSER),
        browser_request("UPDATE", 3, &tag, ""),
    );
    let out = sent(&mut core);
    let ok = only(&out, BROWSER, |m| status(m) == Some(200));
    assert!(ok.body.is_empty(), "{ok:?}");
    assert!(
        !ok.headers.contact.is_empty(),
        "UPDATE refreshes the target"
    );
    // The browser hangs up: the session (and its peer) goes.
    core.handle_datagram(t0 + 4 * S, ws(BROWSER), browser_request("BYE", 4, &tag, ""));
    let out = sent(&mut core);
    only(&out, BROWSER, |m| status(m) == Some(200));
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert_eq!(gw.0.log().last().map(String::as_str), Some("destroy 7"));
}

#[test]
fn a_browser_offer_the_gateway_refuses_gets_488_and_frees_its_ports() {
    let t0 = virtual_epoch();
    let gw = FakeGateway::default();
    let mut core = core_with(t0, Some(Box::new(gw.clone())));
    let opus_only = BROWSER_OFFER
        .replace(" 111 0\r\n", " 111\r\n")
        .replace("a=rtpmap:0 PCMU/8000\r\n", "");
    core.handle_datagram(t0, ws(BROWSER), browser_invite(&opus_only));
    let out = sent(&mut core);
    only(&out, BROWSER, |m| status(m) == Some(488));
    assert!(!out.iter().any(|(_, m)| is_invite(m)), "no agent is rung");
    assert_eq!(gw.0.log(), ["create", "accept 7 30000", "destroy 7"]);
}

#[test]
fn a_websocket_softphone_offering_plain_rtp_is_anchored_as_any_phone() {
    let t0 = virtual_epoch();
    let gw = FakeGateway::default();
    let mut core = core_with(t0, Some(Box::new(gw.clone())));
    let plain = "v=0\r\no=sp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6102 RTP/AVP 0\r\n";
    core.handle_datagram(t0, ws(BROWSER), browser_invite(plain));
    let out = sent(&mut core);
    let early = only(&out, BROWSER, |m| status(m) == Some(183));
    assert_eq!(sdp_port(early), 30000, "our own answer, not the gateway's");
    assert!(!gw.0.log().iter().any(|l| l.starts_with("accept")));
    assert!(
        gw.0.log()
            .contains(&"remote 7 A 127.0.0.1:6102".to_string())
    );
}

#[test]
fn a_browser_agents_re_invite_with_an_offer_is_refused() {
    let t0 = virtual_epoch();
    let gw = FakeGateway::default();
    let mut core = core_with(t0, Some(Box::new(gw.clone())));
    browser_agent(&mut core, t0);
    feed(&mut core, t0, CALLER, caller_invite());
    let out = sent(&mut core);
    let invite = only(&out, AGENT, is_invite).clone();
    assert_eq!(
        &invite.body[..],
        BROWSER_OFFER.as_bytes(),
        "the gateway's offer"
    );
    core.handle_datagram(t0 + S, ws(AGENT), browser_ok(&invite));
    sent(&mut core);
    let log = gw.0.log();
    assert!(log.contains(&"answer 2".to_string()), "{log:?}");
    assert!(log.contains(&format!("remote 7 B {INNER}")), "{log:?}");
    core.handle_datagram(
        t0 + 2 * S,
        ws(AGENT),
        from_browser_agent(&invite, "INVITE", 1, BROWSER_OFFER),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(488));
    // Nothing about the media changed: leg B still talks to the gateway.
    assert_eq!(gw.0.log(), log);
    core.handle_datagram(
        t0 + 3 * S,
        ws(AGENT),
        from_browser_agent(&invite, "UPDATE", 2, ""),
    );
    let out = sent(&mut core);
    let ok = only(&out, AGENT, |m| status(m) == Some(200));
    assert!(ok.body.is_empty(), "{ok:?}");
}

/// Agent 1001's phone is a browser now: registered over its WebSocket.
fn browser_agent(core: &mut SipCore, t0: Instant) {
    let agent: SocketAddr = AGENT.parse().unwrap();
    core.restore_binding(
        t0,
        "1001".into(),
        Binding {
            contact: NameAddr::new(Uri::Sip(SipUri::new(
                Some("w1001"),
                Host::from(agent.ip()),
                Some(agent.port()),
            ))),
            uri: "sip:w1001@b.invalid;transport=ws".into(),
            expires_at: t0 + 3600 * S,
            call_id: CallId::new("reg-ws"),
            cseq: 2,
            source: agent,
            transport: "ws",
            user_agent: None,
        },
    );
}

/// A browser's in-dialog request on the leg our INVITE `invite` set up
/// (the browser answered with To tag `wa`).
fn from_browser_agent(invite: &Message, method: &str, cseq: u32, sdp: &str) -> Bytes {
    let from_tag = invite
        .headers
        .from
        .as_ref()
        .unwrap()
        .tag()
        .unwrap()
        .to_string();
    let to = invite.headers.to.as_ref().unwrap().uri.to_string();
    let from = invite.headers.from.as_ref().unwrap().uri.to_string();
    let call_id = invite.call_id().unwrap().as_str().to_string();
    let body = if sdp.is_empty() {
        "Content-Length: 0\r\n\r\n".to_string()
    } else {
        format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    Bytes::from(format!(
        "{method} sip:careline@127.0.0.1;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS b.invalid;branch=z9hG4bKag{cseq}\r\nFrom: <{to}>;tag=wa\r\nTo: <{from}>;tag={from_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:w1001@b.invalid;transport=ws>\r\nMax-Forwards: 70\r\n{body}"
    ))
}

/// The browser's 200 to our INVITE: the gateway-shaped answer.
fn browser_ok(invite: &Message) -> Bytes {
    let mut ok = response_to(invite, StatusCode::OK, Some(&Tag::new("wa")));
    ok.header(&HeaderName::Contact, "<sip:w1001@b.invalid;transport=ws>");
    ok.finish_with_body(Some("application/sdp"), GATEWAY_ANSWER.as_bytes())
}

#[test]
fn a_doctors_browser_on_a_placed_call_cannot_renegotiate_either() {
    let t0 = virtual_epoch();
    let gw = FakeGateway::default();
    let mut core = core_with(t0, Some(Box::new(gw.clone())));
    browser_agent(&mut core, t0);
    let request = DialOutRequest {
        staff: "1001".into(),
        number: "+79210000000".into(),
        purpose: "teleconsult",
        link: None,
    };
    core.dial_out(t0, request).unwrap();
    let out = sent(&mut core);
    let to_staff = only(&out, AGENT, is_invite).clone();
    assert_eq!(
        &to_staff.body[..],
        BROWSER_OFFER.as_bytes(),
        "the gateway's offer"
    );
    core.handle_datagram(t0 + S, ws(AGENT), browser_ok(&to_staff));
    let out = sent(&mut core);
    let trunk = "127.0.0.1:5070";
    let to_patient = only(&out, trunk, is_invite).clone();
    feed(
        &mut core,
        t0 + 2 * S,
        trunk,
        super::dialout_tests::patient_reply(&to_patient, StatusCode::OK),
    );
    sent(&mut core);
    let log = gw.0.log();
    core.handle_datagram(
        t0 + 3 * S,
        ws(AGENT),
        from_browser_agent(&to_staff, "INVITE", 1, BROWSER_OFFER),
    );
    let out = sent(&mut core);
    // Refused; nothing reaches the patient and nothing changes in media.
    only(&out, AGENT, |m| status(m) == Some(488));
    assert!(
        !out.iter()
            .any(|(to, _)| *to == trunk.parse::<SocketAddr>().unwrap())
    );
    assert_eq!(gw.0.log(), log);
    core.handle_datagram(
        t0 + 4 * S,
        ws(AGENT),
        from_browser_agent(&to_staff, "UPDATE", 2, ""),
    );
    let out = sent(&mut core);
    let ok = only(&out, AGENT, |m| status(m) == Some(200));
    assert!(ok.body.is_empty(), "{ok:?}");
}

#[test]
fn a_refused_re_invite_does_not_count_as_a_session_refresh() {
    let t0 = virtual_epoch();
    let gw = FakeGateway::default();
    let mut core = core_with(t0, Some(Box::new(gw.clone())));
    // The browser asks for a 90 s session and refreshes it itself: without
    // a refresh we give up 60 s after the last one (RFC 4028 §10).
    let invite = String::from_utf8(browser_invite(BROWSER_OFFER).to_vec())
        .unwrap()
        .replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nSession-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
        );
    core.handle_datagram(t0, ws(BROWSER), Bytes::from(invite));
    let out = sent(&mut core);
    let to_agent = only(&out, AGENT, is_invite).clone();
    let ok = agent_answers(&mut core, t0 + S, &to_agent);
    let tag = ok.to_tag().unwrap().to_string();
    events(&mut core);
    // 50 s in, a re-offer: refused, and not a refresh.
    core.handle_datagram(
        t0 + 51 * S,
        ws(BROWSER),
        browser_request("INVITE", 2, &tag, BROWSER_OFFER),
    );
    only(&sent(&mut core), BROWSER, |m| status(m) == Some(488));
    // So the session still runs out 60 s after the answer.
    core.handle_timeout(t0 + 61 * S - Duration::from_millis(1));
    assert!(
        !events(&mut core)
            .iter()
            .any(|e| matches!(e, Event::LineDropped { .. })),
        "not yet"
    );
    core.handle_timeout(t0 + 61 * S);
    let dropped = events(&mut core);
    assert!(
        dropped
            .iter()
            .any(|e| matches!(e, Event::LineDropped { .. })),
        "{dropped:?}"
    );
}
