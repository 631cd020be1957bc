//! SIP over WebSocket (RFC 7118): a phone on the server's `ws://` listener,
//! as a browser softphone is, registers with digest, is rung for a queue
//! call over its socket with a WebRTC offer, answers it with a browser's
//! media side (ICE, DTLS-SRTP), and its audio goes through the gateway and
//! the relay. Closing the socket ends the call as dropped and removes the
//! registration.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::support::server::Server;
use super::support::server::http_get_auth;
use super::support::webrtc_peer::BrowserPeer;
use super::support::ws_sip::WsPhone;
use super::{PASSWORD, TOKEN, caller, finished_call, media_stats, start};

/// A SIPp run on its own thread.
pub(super) type Run = std::thread::JoinHandle<anyhow::Result<super::support::sipp::Run>>;

/// `ext`'s phone on the `ws://` listener, registered.
pub(super) fn registered(server: &Server, ext: &str) -> WsPhone {
    let domain = server.sip.ip().to_string();
    let mut phone = WsPhone::connect(server.ws, ext, PASSWORD, &domain).unwrap();
    assert_eq!(phone.register(600).unwrap(), 200, "{}", server.tail(30));
    phone
}

/// A SIPp caller dialling the queue and talking for `talk_ms`.
pub(super) fn calling(server: &Server, talk_ms: u32) -> Run {
    let sipp = caller(server, talk_ms);
    std::thread::spawn(move || sipp.run())
}

/// The next INVITE on `phone`; `who` names it if none comes.
pub(super) fn rung(phone: &mut WsPhone, server: &Server, who: &str) -> String {
    phone
        .next_request("INVITE", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{who} never rang: {e:#}\n{}", server.tail(40)))
}

/// The SDP of a message.
pub(super) fn body(message: &str) -> &str {
    message.split("\r\n\r\n").nth(1).unwrap_or_default()
}

/// Answers `invite` as a browser does: a media side that speaks `speak`
/// packets once connected, its SDP in a 200 (To tag `tag`), then the ACK.
fn answer_as_browser(
    phone: &mut WsPhone,
    server: &Server,
    invite: &str,
    tag: &str,
    speak: u64,
) -> BrowserPeer {
    let offer = body(invite);
    let (answer, peer) = BrowserPeer::answer(offer, Ipv4Addr::LOCALHOST.into(), speak)
        .unwrap_or_else(|e| panic!("the offer is not one a browser takes: {e:#}\n{offer}"));
    phone
        .respond(invite, 200, "OK", Some(tag), Some(&answer))
        .unwrap();
    phone
        .next_request("ACK", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no ACK: {e:#}\n{}", server.tail(30)));
    peer
}

/// Doctor 3001's browser rung for teleconsult A-17, whose patient (SIPp
/// behind the trunk) will talk for `talk_ms`: the server, the doctor's
/// phone, its INVITE, the patient's run and the call's id.
fn teleconsult_in_browser(talk_ms: u32) -> (Server, WsPhone, String, Run, String) {
    let trunk_port = super::support::free_udp_port(Ipv4Addr::LOCALHOST);
    let trunk = super::trunk_at(trunk_port);
    let options =
        super::configured(&["1001"], &[], "5s", "0s", "", &trunk).staff("3001", PASSWORD, "doctor");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let mut phone = registered(&server, "3001");
    super::teleconsult::file_appointment(&server);
    let patient = super::patient_behind_trunk(&server, trunk_port, talk_ms);
    let token = super::login(&server, "3001");
    let call_id = super::place_call(&server, "/api/teleconsults/A-17/call", &token);
    let invite = rung(&mut phone, &server, "the doctor's browser");
    (server, phone, invite, patient, call_id)
}

/// A call the server placed, once its `dialout_ended` is written.
fn placed_call_ended(server: &Server, call_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) =
            http_get_auth(server.http, &format!("/api/calls/{call_id}"), TOKEN).unwrap();
        let call: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let ended = call["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "dialout_ended"));
        if ended {
            return call;
        }
        assert!(Instant::now() < deadline, "{call_id} did not end: {text}");
    }
}

/// Asserts that a call's `media_stats` counted at least so many packets in
/// each named field; `seen` is what the browser side saw, for the message.
pub(super) fn relayed_at_least(
    whole: &serde_json::Value,
    least: &[(&str, u64)],
    seen: &dyn std::fmt::Debug,
) {
    for &(field, n) in least {
        let got = whole[field].as_u64().unwrap_or_default();
        assert!(got >= n, "{field}: {got} < {n}: {whole} {seen:?}");
    }
}

/// Waits for the server's BYE and answers it.
pub(super) fn hung_up(phone: &mut WsPhone, server: &Server) {
    let bye = phone
        .next_request("BYE", Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("no BYE: {e:#}\n{}", server.tail(30)));
    phone.respond(&bye, 200, "OK", None, None).unwrap();
}

#[test]
fn a_browser_is_bridged_when_media_binds_every_address_and_announces_another() {
    // Sockets on 0.0.0.0, SDP saying 127.0.0.2 (as a static NAT mapping
    // would): the gateway must still find the session where it is bound.
    let mut options = super::configured(&["1001"], &[], "5s", "0s", "", "");
    options.extra = options.extra.replace(
        "bind_ip = \"127.0.0.1\"",
        "bind_ip = \"0.0.0.0\"\npublic_ip = \"127.0.0.2\"",
    );
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let (mut phone, invite, peer, run) = answered_call(&server, 2500, 50);
    assert!(
        invite.contains("127.0.0.2"),
        "the candidate is the announced address\n{invite}"
    );
    peer.wait(Duration::from_secs(10), |r| {
        r.connected && r.sent >= 50 && r.received >= 20
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
    hung_up(&mut phone, &server);
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());
    let whole = media_stats(&finished_call(&server, "call-00000001"), false);
    assert!(whole["agent_in"].as_u64().unwrap() >= 45, "{whole}");
    assert!(whole["agent_out"].as_u64().unwrap() >= 20, "{whole}");
    // The sessions' legs are bound to 0.0.0.0: the handoff finds them too.
    handed_over_in_memory(&server, browser_leg(&whole));
}

/// Registers 1001 over the WebSocket, lets a SIPp caller dial the queue,
/// and answers the server's WebRTC offer as a browser does; the INVITE,
/// the browser's media side and the caller's run.
fn answered_call(server: &Server, talk_ms: u32, speak: u64) -> (WsPhone, String, BrowserPeer, Run) {
    let mut phone = registered(server, "1001");
    let run = calling(server, talk_ms);
    let invite = rung(&mut phone, server, "the phone on the websocket");
    phone
        .respond(&invite, 180, "Ringing", Some("wsagent"), None)
        .unwrap();
    let peer = answer_as_browser(&mut phone, server, &invite, "wsagent", speak);
    (phone, invite, peer, run)
}

#[test]
fn a_browser_on_a_websocket_answers_a_queue_call_with_audio_through_the_webrtc_gateway() {
    let server = start(&["1001"], "5s");
    let (mut phone, invite, peer, run) = answered_call(&server, 3000, 50);

    // The server reached the phone over its socket, addressed to the
    // contact it registered, with a WebSocket Via of its own.
    assert!(
        invite.starts_with("INVITE sip:w") && invite.contains(".invalid;transport=ws SIP/2.0"),
        "{invite}"
    );
    let via = super::support::sip::header(invite.as_bytes(), "Via", Some("v")).unwrap();
    assert!(via.starts_with("SIP/2.0/WS "), "{via}");
    let contact = super::support::sip::header(invite.as_bytes(), "Contact", Some("m")).unwrap();
    assert!(contact.contains("transport=ws"), "{contact}");
    // The offer is a WebRTC one: ICE-lite, DTLS-SRTP, the caller's A-law.
    for needle in [
        "a=ice-lite",
        "a=fingerprint:sha-256",
        "UDP/TLS/RTP/SAVPF 8",
        "typ host",
    ] {
        assert!(invite.contains(needle), "{needle} missing from\n{invite}");
    }

    // ICE and DTLS come up with the gateway; the browser speaks for a
    // second and hears the caller's audio.
    let seen = peer
        .wait(Duration::from_secs(10), |r| {
            r.connected && r.sent >= 50 && r.received >= 20
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));

    hung_up(&mut phone, &server);
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());

    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001");
    assert_eq!(call["end_reason"], "completed");
    // The relay counted the browser's packets in and the caller's out.
    let whole = media_stats(&call, false);
    relayed_at_least(
        &whole,
        &[("agent_in", 45), ("agent_out", 20), ("caller_out", 45)],
        &seen,
    );
    handed_over_in_memory(&server, browser_leg(&whole));
}

/// Packets in and out of a call's browser leg (its `media_stats`).
fn browser_leg(whole: &serde_json::Value) -> u64 {
    whole["agent_in"].as_u64().unwrap() + whole["agent_out"].as_u64().unwrap()
}

/// Every packet between the media sessions and the gateway went in memory,
/// both ways: the server's `/metrics` count covers at least the
/// `browser_packets` its calls' browser legs had in and out.
fn handed_over_in_memory(server: &Server, browser_packets: u64) {
    let (status, metrics) = super::support::server::http_get(server.http, "/metrics").unwrap();
    assert_eq!(status, 200);
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    let handed = count("careline_media_handoff_packets_total");
    assert!(
        handed >= browser_packets,
        "{handed} handed over, {browser_packets} on the browsers' legs"
    );
    assert_eq!(count("careline_media_handoff_dropped_total"), 0);
}

#[test]
fn closing_the_websocket_drops_the_call_and_the_registration() {
    let server = start(&["1001"], "5s");
    let (phone, _invite, _peer, run) = answered_call(&server, 8000, 0);
    assert_eq!(agent_state(&server), "on_call");

    // The tab is closed mid-call.
    phone.close();
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "dropped", "{call:#}");
    let dropped = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "line_dropped")
        .unwrap_or_else(|| panic!("no line_dropped in {call:#}"));
    assert_eq!(dropped["data"]["side"], "agent", "{dropped}");
    assert_eq!(dropped["data"]["cause"], "connection_closed", "{dropped}");
    // The server hung up on the caller: SIPp, which meant to hang up by
    // itself after 8 s of talk, counts the server's BYE as unexpected.
    let run = run.join().unwrap().unwrap();
    assert!(
        !run.passed() && run.describe().contains("BYE sip:"),
        "the caller was not hung up on\n{}",
        run.describe()
    );
    // Nobody can reach the browser any more: its binding is gone, so the
    // agent is offline and is not offered calls.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = agent_state(&server);
        if state == "offline" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent is still {state} with no socket\n{}",
            server.tail(30)
        );
    }
}

/// Agent 1001's state on the supervisors' board.
fn agent_state(server: &Server) -> String {
    let (status, body) = http_get_auth(server.http, "/api/agents", TOKEN).unwrap();
    assert_eq!(status, 200, "{body}");
    let agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["extension"] == "1001")
        .map(|a| a["state"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("1001 not on the board: {body}"))
}

#[test]
fn the_sip_websocket_refuses_clients_without_the_sip_subprotocol() {
    let server = start(&["1001"], "5s");
    // A plain HTTP request: told what the port is for.
    let (status, body) = super::support::server::http_get(server.ws, "/").unwrap();
    assert_eq!(status, 426, "{body}");
    assert!(body.contains("Sec-WebSocket-Protocol: sip"), "{body}");
    // A WebSocket without the sip subprotocol.
    let stream = std::net::TcpStream::connect(server.ws).unwrap();
    let refused = tokio_tungstenite::tungstenite::client(format!("ws://{}/", server.ws), stream);
    match refused {
        Err(tokio_tungstenite::tungstenite::HandshakeError::Failure(
            tokio_tungstenite::tungstenite::Error::Http(response),
        )) => assert_eq!(response.status(), 400),
        other => panic!("expected a 400 refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_doctor_in_the_browser_places_a_teleconsult_through_the_gateway() {
    // The patient answers and echoes what the doctor says for 2 s.
    let (server, mut phone, invite, patient, call_id) = teleconsult_in_browser(2000);
    // The doctor's browser rings first, with a WebRTC offer.
    assert!(
        invite.contains("a=ice-lite") && invite.contains("UDP/TLS/RTP/SAVPF"),
        "{invite}"
    );
    let peer = answer_as_browser(&mut phone, &server, &invite, "doctor", 100);
    // The doctor speaks; the patient's phone echoes it back through the
    // relay and the gateway. (What the doctor receives also counts the
    // ringback heard while the patient's phone rang, so the doctor's own
    // packets are waited for apart, with a few to spare for those still
    // on their way to the server at the hang-up.)
    let seen = peer
        .wait(Duration::from_secs(10), |r| {
            r.connected && r.received >= 20 && r.sent >= 25
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
    hung_up(&mut phone, &server);
    let patient = patient.join().unwrap().unwrap();
    assert!(
        patient.passed(),
        "the patient's phone\n{}",
        patient.describe()
    );

    let call = placed_call_ended(&server, &call_id);
    let answered: Vec<&str> = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "dialout_answered")
        .filter_map(|e| e["data"]["side"].as_str())
        .collect();
    assert_eq!(answered, ["staff", "patient"], "{call:#}");
    assert!(seen.sent >= 20, "{seen:?}");
    let relayed = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "media_stats")
        .unwrap_or_else(|| panic!("no media_stats: {call:#}"));
    // The doctor's side is leg A of a call the server places.
    assert!(
        relayed["data"]["caller_in"].as_u64().unwrap() >= 20,
        "{relayed}"
    );
}

#[test]
fn a_browser_on_a_secure_websocket_registers_and_answers() {
    let certs = super::support::temp_dir();
    let (ca, cert, key) = super::support::test_certificate(certs.path()).unwrap();
    let mut options = super::configured(&["1001"], &[], "5s", "0s", "", "");
    options.wss = Some((cert, key));
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let wss = server.wss.expect("a wss listener");
    let domain = server.sip.ip().to_string();
    let mut phone = WsPhone::connect_tls(wss, &ca, "1001", PASSWORD, &domain).unwrap();
    assert_eq!(phone.register(600).unwrap(), 200, "{}", server.tail(30));
    let run = calling(&server, 1500);
    let invite = rung(&mut phone, &server, "the phone on wss");
    // Our own Via says the secure transport (RFC 7118 §5).
    let via = super::support::sip::header(invite.as_bytes(), "Via", Some("v")).unwrap();
    assert!(via.starts_with("SIP/2.0/WSS "), "{via}");
    let peer = answer_as_browser(&mut phone, &server, &invite, "wss", 25);
    peer.wait(Duration::from_secs(10), |r| r.connected && r.received >= 10)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
    hung_up(&mut phone, &server);
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());
    assert_eq!(
        finished_call(&server, "call-00000001")["answered_by"],
        "1001"
    );

    // A client that does not trust the server's certificate gets nowhere.
    let elsewhere = super::support::temp_dir();
    let (other_ca, _, _) = super::support::test_certificate(elsewhere.path()).unwrap();
    let refused = WsPhone::connect_tls(wss, &other_ca, "1001", PASSWORD, &domain);
    let why = format!(
        "{:#}",
        refused
            .err()
            .expect("an untrusted certificate was accepted")
    );
    assert!(
        why.contains("certificate") || why.contains("Certificate"),
        "{why}"
    );
}

#[test]
fn a_browser_closed_while_ringing_is_skipped_at_once() {
    // Each agent may ring for 20 s: only the closed socket can move the
    // call on before then.
    let server = super::start(&["1001", "1002"], "20s");
    let mut phones: Vec<WsPhone> = ["1001", "1002"]
        .iter()
        .map(|ext| registered(&server, ext))
        .collect();
    let run = calling(&server, 1000);
    // Whichever phone rings first, its tab is closed while it rings.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let found = phones
            .iter_mut()
            .position(|p| p.next_request("INVITE", Duration::from_millis(200)).is_ok());
        if let Some(i) = found {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "no phone rang\n{}",
            server.tail(30)
        );
    };
    let closed = phones.remove(first);
    let closed_ext = closed.ext.clone();
    closed.close();
    // The other one rings well before the first one's 20 s were up.
    let mut other = phones.pop().unwrap();
    let invite = rung(
        &mut other,
        &server,
        "the second phone (the call did not move on)",
    );
    let _peer = answer_as_browser(&mut other, &server, &invite, "second", 0);
    hung_up(&mut other, &server);
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], other.ext.as_str(), "{call:#}");
    assert_ne!(call["answered_by"], closed_ext.as_str());
}

#[test]
fn a_doctors_tab_closed_mid_teleconsult_ends_it_as_dropped() {
    // The patient would talk for 8 s.
    let (server, mut phone, invite, patient, call_id) = teleconsult_in_browser(8000);
    let peer = answer_as_browser(&mut phone, &server, &invite, "doctor", 50);
    peer.wait(Duration::from_secs(10), |r| r.connected && r.received >= 10)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
    phone.close();
    let call = placed_call_ended(&server, &call_id);
    let ended = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "dialout_ended")
        .unwrap();
    assert_eq!(ended["data"]["outcome"], "dropped", "{ended}");
    assert_eq!(ended["data"]["reason"], "dropped", "{ended}");
    // The patient's phone was hung up on; its own run is not judged.
    let _ = patient.join();
}

#[test]
fn a_browser_whose_media_never_connects_is_a_dropped_line() {
    // Its UDP is blocked, say: signalling works, ICE never does. The
    // relay hears nothing from the agent's side and, after rtp_timeout,
    // the call ends as dropped (and a call-back task follows).
    let options = super::configured(&["1001"], &[], "5s", "0s", "rtp_timeout = \"2s\"\n", "");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let mut phone = registered(&server, "1001");
    let run = calling(&server, 8000);
    let invite = rung(&mut phone, &server, "the phone on the websocket");
    // The browser's answer, from a media side that is gone at once.
    let (answer, peer) = BrowserPeer::answer(body(&invite), Ipv4Addr::LOCALHOST.into(), 0).unwrap();
    drop(peer);
    phone
        .respond(&invite, 200, "OK", Some("blocked"), Some(&answer))
        .unwrap();
    phone.next_request("ACK", Duration::from_secs(5)).unwrap();
    // The silent call is ended.
    hung_up(&mut phone, &server);
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "dropped", "{call:#}");
    let dropped = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "line_dropped")
        .unwrap_or_else(|| panic!("no line_dropped in {call:#}"));
    assert_eq!(dropped["data"]["side"], "agent", "{dropped}");
    assert_eq!(dropped["data"]["cause"], "rtp_timeout", "{dropped}");
    let _ = run.join();
}

#[test]
fn a_browser_places_a_call_that_a_baresip_agent_answers_through_the_queue() {
    // Agent 1001 on baresip (answers at once); 3001 is a colleague whose
    // phone is the browser, not in the queue.
    let options =
        super::configured(&["1001"], &[], "5s", "0s", "", "").staff("3001", PASSWORD, "senior");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let baresip = super::agent(&server, "1001", false);
    let mut phone = registered(&server, "3001");

    let (offer, placing) = BrowserPeer::offer(Ipv4Addr::LOCALHOST.into()).unwrap();
    let mut placed = phone.invite("100", &offer).unwrap();
    let (ok, provisional) = phone
        .final_response(&mut placed, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("no answer: {e:#}\n{}", server.tail(40)));
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{}", server.tail(40));
    phone.ack(&placed).unwrap();
    // Ringback came as early media, in the same answer the 200 repeats:
    // the gateway's, ICE-lite and DTLS, one G.711 law and the keys.
    let early = provisional
        .iter()
        .find(|m| m.starts_with("SIP/2.0 183"))
        .unwrap_or_else(|| panic!("no early media: {provisional:?}"));
    assert_eq!(body(early), body(&ok));
    for needle in [
        "a=ice-lite",
        "a=fingerprint:sha-256",
        "UDP/TLS/RTP/SAVPF",
        "typ host",
    ] {
        assert!(ok.contains(needle), "{needle} missing from\n{ok}");
    }
    let peer = placing.answered(body(&ok), 100).unwrap();
    let seen = peer
        .wait(Duration::from_secs(10), |r| {
            r.connected && r.sent >= 60 && r.received >= 40
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));

    // A re-INVITE with a new offer is refused and the call goes on.
    let refused = phone
        .in_dialog(&mut placed, "INVITE", Some(&offer))
        .unwrap();
    assert!(refused.starts_with("SIP/2.0 488"), "{refused}");
    // A session refresh without an offer is answered without one.
    let refreshed = phone.in_dialog(&mut placed, "UPDATE", None).unwrap();
    assert!(refreshed.starts_with("SIP/2.0 200"), "{refreshed}");
    assert!(
        refreshed.ends_with("Content-Length: 0\r\n\r\n"),
        "{refreshed}"
    );
    let before = peer.report().received;
    peer.wait(Duration::from_secs(5), |r| r.received >= before + 10)
        .unwrap_or_else(|e| panic!("audio stopped after the refusal: {e:#}"));

    let bye = phone.in_dialog(&mut placed, "BYE", None).unwrap();
    assert!(bye.starts_with("SIP/2.0 200"), "{bye}");
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001", "{call:#}");
    assert_eq!(call["caller"], "3001");
    assert_eq!(call["end_reason"], "completed");
    // The browser's packets came in on the caller's leg and went out to
    // baresip; baresip's came back to the browser.
    let whole = media_stats(&call, false);
    relayed_at_least(
        &whole,
        &[
            ("caller_in", 50),
            ("agent_out", 50),
            ("agent_in", 40),
            ("caller_out", 40),
        ],
        &seen,
    );
    drop(baresip);
}

/// The port of the host candidate in an offer's SDP.
fn candidate_port(invite: &str) -> u16 {
    body(invite)
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .and_then(|l| l.split(' ').nth(5)?.parse().ok())
        .unwrap_or_else(|| panic!("no host candidate in\n{invite}"))
}

#[test]
fn two_gateway_threads_each_carry_a_browser_call() {
    let server =
        super::start_configured(&["1001", "1002"], &[], "5s", "0s", "webrtc_threads = 2", "");
    // One agent at a time, so each call's agent is known: 1001 takes the
    // first; 1002, registered while 1001 talks, the second.
    let mut calls = Vec::new();
    for (ext, tag) in [("1001", "first"), ("1002", "second")] {
        let mut phone = registered(&server, ext);
        let run = calling(&server, 3000);
        let invite = rung(&mut phone, &server, ext);
        let peer = answer_as_browser(&mut phone, &server, &invite, tag, 50);
        calls.push((phone, invite, peer, run));
    }
    // The second browser was sent to the other thread: another port.
    assert_ne!(candidate_port(&calls[0].1), candidate_port(&calls[1].1));
    for (mut phone, _, peer, run) in calls {
        peer.wait(Duration::from_secs(10), |r| {
            r.connected && r.sent >= 50 && r.received >= 20
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(40)));
        hung_up(&mut phone, &server);
        let run = run.join().unwrap().unwrap();
        assert!(run.passed(), "a caller's call failed\n{}", run.describe());
    }
    let mut browser_legs = 0;
    for (id, agent) in [("call-00000001", "1001"), ("call-00000002", "1002")] {
        let call = finished_call(&server, id);
        assert_eq!(call["answered_by"], agent);
        let whole = media_stats(&call, false);
        relayed_at_least(&whole, &[("agent_in", 45), ("agent_out", 20)], &id);
        browser_legs += browser_leg(&whole);
    }
    // Both threads handed their calls' packets over in memory.
    handed_over_in_memory(&server, browser_legs);
}
