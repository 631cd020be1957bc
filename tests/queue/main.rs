//! Calls through the queue with real peers on loopback: a SIPp caller dials
//! the queue number, a baresip agent's phone rings (and is answered by its
//! user), and the server anchors the media — ringback to the caller while
//! it rings, then the two-way relay. The call's record and events are read
//! back through the operator API.
//!
//! Run through `scripts/test`: every test needs the private network
//! namespace it makes.

#[path = "../support/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::baresip::{Account, Baresip};
use support::server::{Options, Server, http_get_auth, http_json};
use support::sipp::Sipp;

mod attended;
mod callbacks;
mod headless;
mod teleconsult;
mod trunks;
mod webrtc_rs;
mod websocket;

const PASSWORD: &str = "correct-horse";
const TOKEN: &str = "queue-suite-token-0123";

/// A server with one queue, number 100, answered by `agents`.
fn start(agents: &[&str], ring_cycle: &str) -> Server {
    start_with(agents, &[], ring_cycle, "0s", "")
}

/// The same with seniors, a wrap-up and more `[[queues]]` keys.
fn start_with(
    agents: &[&str],
    seniors: &[&str],
    ring_cycle: &str,
    wrap_up: &str,
    more: &str,
) -> Server {
    start_configured(agents, seniors, ring_cycle, wrap_up, "", more)
}

/// The same with more `[media]` keys too.
fn start_configured(
    agents: &[&str],
    seniors: &[&str],
    ring_cycle: &str,
    wrap_up: &str,
    media: &str,
    more: &str,
) -> Server {
    let options = configured(agents, seniors, ring_cycle, wrap_up, media, more);
    Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"))
}

/// The options behind [`start_configured`], for a test to add to.
fn configured(
    agents: &[&str],
    seniors: &[&str],
    ring_cycle: &str,
    wrap_up: &str,
    media: &str,
    more: &str,
) -> Options {
    support::require_private_netns();
    // An even media port range of its own, so suites running side by side
    // do not reach for the same ports.
    let base = support::free_udp_port(Ipv4Addr::LOCALHOST) & !3;
    let quoted = |exts: &[&str]| {
        exts.iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (list, seniors_list) = (quoted(agents), quoted(seniors));
    let mut options = Options {
        api_token: Some(TOKEN.into()),
        extra: format!(
            "\n[media]\nbind_ip = \"127.0.0.1\"\nwebrtc_port = 0\nport_min = {base}\nport_max = {}\n{media}\n[[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [{list}]\nseniors = [{seniors_list}]\nring_cycle = \"{ring_cycle}\"\nwrap_up = \"{wrap_up}\"\n{more}",
            base + 39
        ),
        ..Options::default()
    }
    // baresip 1.0 gives up on any challenge list holding SHA-256.
    .algorithms(&["MD5"]);
    for a in agents.iter().chain(seniors) {
        options = options.user(a, PASSWORD);
    }
    options
}

/// baresip as agent `ext`, registered; `manual` lets it ring until told to answer.
fn agent(server: &Server, ext: &str, manual: bool) -> Baresip {
    let mut account = Account::new(ext, PASSWORD, server.sip, 600);
    if manual {
        account.answermode = "manual".into();
    }
    let mut phone = Baresip::start(server.dir(), &[account]).unwrap();
    phone
        .wait_registered(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("agent {ext} did not register: {e:#}\n{}", phone.tail(30)));
    phone
}

/// The caller: SIPp dialling 100, talking for `talk_ms`, then hanging up.
fn caller(server: &Server, talk_ms: u32) -> Sipp {
    caller_to(server, "100", talk_ms)
}

/// The same dialling `number`.
fn caller_to(server: &Server, number: &str, talk_ms: u32) -> Sipp {
    let media_port = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    Sipp::new(server.dir(), "queue_caller.xml", server.sip)
        .var("number", number)
        .var("caller", "+79210000000")
        .var("talk_ms", &talk_ms.to_string())
        .arg("-mi")
        .arg("127.0.0.1")
        .arg("-mp")
        .arg(&media_port.to_string())
}

/// A call's record through the operator API, once it has ended.
fn finished_call(server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) =
            http_get_auth(server.http, &format!("/api/calls/{id}"), TOKEN).unwrap();
        if status == 200 {
            let call: Value = serde_json::from_str(&body).unwrap();
            if !call["end_reason"].is_null() {
                return call;
            }
        }
        assert!(
            Instant::now() < deadline,
            "call {id} has no end in the store ({status}: {body})\n{}",
            server.tail(40)
        );
        // Events are written in batches; wait for the server's next log line.
        let _ = http_get_auth(server.http, "/health", TOKEN);
    }
}

fn media_stats(call: &Value, ringing: bool) -> Value {
    call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "media_stats" && e["data"]["ringing"] == ringing)
        .unwrap_or_else(|| panic!("no media_stats (ringing: {ringing}) in {call:#}"))["data"]
        .clone()
}

/// The `[[trunks]]` table that sends patients' numbers to a peer on `port`.
fn trunk_at(port: u16) -> String {
    format!("\n[[trunks]]\nname = \"pstn\"\naddress = \"127.0.0.1:{port}\"\n")
}

/// A patient's phone behind the trunk on `trunk_port` (SIPp): it answers,
/// echoes what it hears for `talk_ms`, then hangs up.
fn patient_behind_trunk(
    server: &Server,
    trunk_port: u16,
    talk_ms: u32,
) -> std::thread::JoinHandle<anyhow::Result<support::sipp::Run>> {
    let media = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    let uas = Sipp::new(server.dir(), "patient_answers.xml", server.sip)
        .port(trunk_port)
        .var("talk_ms", &talk_ms.to_string())
        .arg("-mi")
        .arg("127.0.0.1")
        .arg("-mp")
        .arg(&media.to_string())
        .arg("-rtp_echo");
    std::thread::spawn(move || uas.run())
}

/// Logs `ext` in through the API; the token.
fn login(server: &Server, ext: &str) -> String {
    let login = format!(r#"{{"extension": "{ext}", "password": "{PASSWORD}"}}"#);
    let (status, body) = http_json(server.http, "POST", "/api/login", None, &login).unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Asks the server to place a call (`POST path` as `token`); its id.
fn place_call(server: &Server, path: &str, token: &str) -> String {
    let (status, body) = http_json(server.http, "POST", path, Some(token), "{}").unwrap();
    assert_eq!(status, 202, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The first call-back task `GET path` lists, once there is one.
fn first_task(server: &Server, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http_get_auth(server.http, path, TOKEN).unwrap();
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        if let Some(t) = list["tasks"].as_array().and_then(|t| t.first()) {
            return t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no task at {path}\n{}",
            server.tail(40)
        );
        let _ = http_get_auth(server.http, "/health", TOKEN);
    }
}

#[test]
fn a_patients_call_reaches_a_baresip_agent_with_ringback_and_two_way_audio() {
    let server = start(&["1001"], "5s");
    let mut phone = agent(&server, "1001", true);
    let run = std::thread::spawn({
        let sipp = caller(&server, 2000);
        move || sipp.run()
    });
    let incoming = phone
        .wait_event(Duration::from_secs(10), |e| e["type"] == "CALL_INCOMING")
        .unwrap_or_else(|e| panic!("the agent's phone never rang: {e:#}\n{}", server.tail(40)));
    assert!(
        incoming.to_string().contains("+79210000000"),
        "the agent sees the caller's number: {incoming}"
    );
    // The agent lets it ring for a moment, as a person reaching for the
    // headset does, and the caller hears ringback meanwhile.
    let ring_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < ring_until {
        let _ = phone.wait_event(ring_until - Instant::now(), |_| false);
    }
    phone.command("accept", None).unwrap();
    phone
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_ESTABLISHED")
        .unwrap_or_else(|e| panic!("the call was not established: {e:#}\n{}", phone.tail(30)));
    let run = run.join().unwrap().unwrap();
    assert!(
        run.passed(),
        "the caller's call failed\n{}\n{}",
        run.describe(),
        server.tail(40)
    );

    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001");
    assert_eq!(call["within_deadline"], true);
    assert_eq!(call["end_reason"], "completed");
    assert_eq!(call["caller"], "+79210000000");
    // The caller's number is patient data: stored, never logged (the
    // server runs at debug level in these tests).
    assert!(
        !server.log().contains("79210000000"),
        "the caller's number appears in the server's log"
    );
    let kinds: Vec<&str> = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["call_arrived", "agent_offered", "answered", "ended"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    // Ringback: the caller was sent audio before anyone answered.
    let ringing = media_stats(&call, true);
    assert!(
        ringing["caller_out"].as_u64().unwrap() > 10,
        "no ringback: {ringing}"
    );
    // Then speech both ways through the relay.
    let whole = media_stats(&call, false);
    for key in ["caller_in", "agent_out", "agent_in"] {
        assert!(whole[key].as_u64().unwrap() > 10, "{key} too low: {whole}");
    }
    assert!(
        whole["caller_out"].as_u64().unwrap() > ringing["caller_out"].as_u64().unwrap() + 10,
        "the agent's audio did not reach the caller: {whole}"
    );
    // The call counts in /metrics, and its events were committed.
    let (_, metrics) = support::server::http_get(server.http, "/metrics").unwrap();
    for line in [
        "careline_calls_arrived_total 1\n",
        "careline_calls_answered_total 1\n",
        "careline_calls_answered_within_deadline_total 1\n",
        "careline_calls_abandoned_total 0\n",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from\n{metrics}");
    }
    assert!(
        !metrics.contains("careline_events_written_total 0\n"),
        "no events counted as written:\n{metrics}"
    );
}

/// The next JSON text message on a WebSocket whose socket has a read timeout.
fn ws_next(ws: &mut tokio_tungstenite::tungstenite::WebSocket<std::net::TcpStream>) -> Value {
    loop {
        match ws.read().expect("a WebSocket message within the timeout") {
            tokio_tungstenite::tungstenite::Message::Text(t) => {
                return serde_json::from_str(t.as_str()).unwrap();
            }
            _ => continue,
        }
    }
}

#[test]
fn the_ringing_agent_gets_the_callers_card_on_the_websocket() {
    let server = start(&["1001"], "5s");
    // The clinic's system filed the caller under another way of writing her number.
    let (status, body) = http_json(
        server.http,
        "PUT",
        "/api/patients/mis-77",
        Some(TOKEN),
        r#"{"full_name": "Olga Smirnova", "address_as": "Olga Petrovna", "phones": ["8 921 000-00-00"],
            "notes": {"reminders": "bring the referral"}}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");

    // The agent logs in and opens the live socket, as the desktop agent does.
    let token = login(&server, "1001");
    let stream = std::net::TcpStream::connect(server.http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{}/api/ws?token={token}", server.http);
    let (mut ws, _) = tokio_tungstenite::tungstenite::client(url, stream).unwrap();
    assert_eq!(ws_next(&mut ws)["type"], "hello");

    let mut phone = agent(&server, "1001", true);
    let run = std::thread::spawn({
        let sipp = caller(&server, 500);
        move || sipp.run()
    });
    phone
        .wait_event(Duration::from_secs(10), |e| e["type"] == "CALL_INCOMING")
        .unwrap_or_else(|e| panic!("the agent's phone never rang: {e:#}\n{}", server.tail(40)));
    // While the phone rings (nobody has answered), the card is on screen.
    let pop = loop {
        let m = ws_next(&mut ws);
        if m["type"] == "call_offered" {
            break m;
        }
    };
    assert_eq!(pop["call_id"], "call-00000001", "{pop}");
    assert_eq!(pop["caller"], "+79210000000");
    assert_eq!(pop["unknown_caller"], false);
    assert_eq!(pop["patients"][0]["mis_id"], "mis-77");
    assert_eq!(pop["patients"][0]["address_as"], "Olga Petrovna");
    assert_eq!(
        pop["patients"][0]["notes"]["reminders"],
        "bring the referral"
    );

    phone.command("accept", None).unwrap();
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001");
    // The pop was audited; the patient's name and number never reached the log.
    let log = server.log();
    for secret in ["Olga Smirnova", "Olga Petrovna", "79210000000", "921 000"] {
        assert!(
            !log.contains(secret),
            "{secret:?} appears in the server's log"
        );
    }
}

#[test]
fn a_call_skips_an_agent_who_lets_it_ring_and_goes_to_the_next() {
    // Short ring cycles: the first agent's phone rings two cycles, then
    // the call moves to the second agent, who answers at once.
    let server = start(&["1001", "1002"], "1s");
    let mut slow = agent(&server, "1001", true);
    let mut quick = agent(&server, "1002", false);
    let run = caller(&server, 500).run().unwrap();
    assert!(
        run.passed(),
        "the caller's call failed\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    slow.wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_INCOMING")
        .unwrap_or_else(|e| panic!("1001 never rang: {e:#}"));
    quick
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_ESTABLISHED")
        .unwrap_or_else(|e| panic!("1002 never got the call: {e:#}"));
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1002");
    let no_answer: Vec<&Value> = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "agent_ring_no_answer")
        .collect();
    assert_eq!(no_answer.len(), 1, "{call:#}");
    assert_eq!(no_answer[0]["agent"], "1001");
}

/// A desk phone played by SIPp: registered by scenario from `port`, then a
/// UAS on that same port answers `calls` calls.
fn sipp_phone(server: &Server, ext: &str, port: u16) {
    let run = Sipp::new(server.dir(), "register_digest.xml", server.sip)
        .var("final", "200")
        .user(ext, PASSWORD, 600)
        .port(port)
        .run()
        .unwrap();
    assert!(run.passed(), "{ext} did not register\n{}", run.describe());
}

#[test]
fn sipp_phones_registered_by_scenario_and_the_senior_answers_after_the_deadline() {
    // The agent's phone is registered but never answers (its port is held
    // by a socket nobody reads, so no other test's peer can take it and
    // answer); the senior's answers. Ring cycle 1 s, three rings: the
    // senior rings at 3 s and takes the call.
    let server = start_with(&["1001"], &["2001"], "1s", "0s", "");
    let agent_port = support::free_udp_port(Ipv4Addr::LOCALHOST);
    let senior_port = support::free_udp_port(Ipv4Addr::LOCALHOST);
    sipp_phone(&server, "1001", agent_port);
    let _silent_phone = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, agent_port))
        .unwrap_or_else(|e| panic!("holding the silent phone's port {agent_port}: {e}"));
    sipp_phone(&server, "2001", senior_port);
    let senior = std::thread::spawn({
        let uas = Sipp::new(server.dir(), "agent_uas.xml", server.sip).port(senior_port);
        move || uas.run()
    });
    let run = caller(&server, 500).run().unwrap();
    assert!(
        run.passed(),
        "the caller's call failed\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    let senior = senior.join().unwrap().unwrap();
    assert!(senior.passed(), "the senior's phone\n{}", senior.describe());
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "2001");
    assert_eq!(call["within_deadline"], false);
    let events = call["events"].as_array().unwrap();
    let kind = |k: &str| {
        events
            .iter()
            .find(|e| e["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}: {call:#}"))
    };
    assert_eq!(
        kind("answer_deadline_passed")["at"].as_i64().unwrap()
            - call["arrived_at"].as_i64().unwrap(),
        3000
    );
    assert_eq!(kind("escalated")["data"]["seniors"][0], "2001");
    assert!(
        kind("answer_deadline_passed")["data"]["fired_late_us"].is_u64(),
        "the deadline's firing error is recorded"
    );
    assert_eq!(kind("answered")["data"]["tier"], "senior");
}

#[test]
fn a_caller_who_hangs_up_while_it_rings_is_abandoned_and_the_agent_pauses_after_misses() {
    // The agent lets it ring; with a 1 s cycle its ring time is 2 s, so in
    // the 5 s the patient waits it misses twice and, with
    // auto_pause_after = 2, is paused.
    let server = start_with(&["1001"], &[], "1s", "0s", "auto_pause_after = 2\n");
    let mut phone = agent(&server, "1001", true);
    let run = Sipp::new(server.dir(), "queue_caller_cancel.xml", server.sip)
        .var("number", "100")
        .var("caller", "+79210000001")
        .var("wait_ms", "5000")
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "the caller's CANCEL went wrong\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    phone
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_INCOMING")
        .unwrap_or_else(|e| panic!("the agent's phone never rang: {e:#}"));
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "abandoned");
    assert!(call["answered_by"].is_null());
    let events = call["events"].as_array().unwrap();
    let abandoned = events
        .iter()
        .find(|e| e["kind"] == "abandoned")
        .expect("abandoned event");
    assert_eq!(abandoned["data"]["after_deadline"], true, "{abandoned}");
    let misses = events
        .iter()
        .filter(|e| e["kind"] == "agent_ring_no_answer")
        .count();
    assert_eq!(misses, 2, "{call:#}");
    let (status, body) = http_get_auth(server.http, "/api/agents", TOKEN).unwrap();
    assert_eq!(status, 200);
    let agents: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(agents[0]["extension"], "1001");
    assert_eq!(agents[0]["state"], "paused");
}

#[test]
fn wrap_up_holds_the_agent_back_before_the_next_call() {
    let server = start_with(&["1001"], &[], "5s", "2s", "");
    let mut phone = agent(&server, "1001", false);
    let first = caller(&server, 300).run().unwrap();
    assert!(
        first.passed(),
        "first call\n{}\n{}",
        first.describe(),
        server.tail(40)
    );
    let second = caller(&server, 300).run().unwrap();
    assert!(
        second.passed(),
        "second call\n{}\n{}",
        second.describe(),
        server.tail(40)
    );
    phone
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_ESTABLISHED")
        .unwrap_or_else(|e| panic!("the agent never took a call: {e:#}"));
    let one = finished_call(&server, "call-00000001");
    let two = finished_call(&server, "call-00000002");
    let at = |call: &Value, kind: &str| {
        call["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {call:#}"))["at"]
            .as_i64()
            .unwrap()
    };
    // The second call waited: it was offered only once the agent's
    // wrap-up after the first call was over.
    assert!(
        at(&two, "agent_offered") >= at(&one, "ended") + 2000,
        "offered during wrap-up: {one:#} {two:#}"
    );
    assert_eq!(two["answered_by"], "1001");
}

#[test]
fn a_state_an_agent_chose_survives_a_restart_of_the_server() {
    let mut server = start(&["1001", "1002"], "5s");
    let (status, body) = http_json(
        server.http,
        "PUT",
        "/api/agents/1001/state",
        Some(TOKEN),
        r#"{"state": "paused"}"#,
    )
    .unwrap();
    assert_eq!(status, 204, "{body}");
    server
        .restart()
        .unwrap_or_else(|e| panic!("the server did not come back: {e:#}"));
    let (status, body) = http_get_auth(server.http, "/api/agents", TOKEN).unwrap();
    assert_eq!(status, 200, "{body}");
    let agents: Value = serde_json::from_str(&body).unwrap();
    let state = |ext: &str| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["extension"] == ext)
            .map(|a| a["state"].clone())
    };
    assert_eq!(state("1001"), Some("paused".into()), "{agents}");
    assert_eq!(
        state("1002"),
        Some("offline".into()),
        "no phone, no choice made"
    );
}

#[test]
fn a_baresip_agent_transfers_the_caller_to_a_senior_with_refer() {
    // The agent answers, then their phone's transfer key sends a REFER to
    // 2001: the senior's desk phone (SIPp) rings and takes the caller, who
    // later hangs up on the senior.
    let server = start_with(&["1001"], &["2001"], "5s", "0s", "");
    let mut phone = agent(&server, "1001", true);
    let senior_port = support::free_udp_port(Ipv4Addr::LOCALHOST);
    sipp_phone(&server, "2001", senior_port);
    let senior = std::thread::spawn({
        let uas = Sipp::new(server.dir(), "agent_uas.xml", server.sip).port(senior_port);
        move || uas.run()
    });
    let run = std::thread::spawn({
        let sipp = caller(&server, 8000);
        move || sipp.run()
    });
    phone
        .wait_event(Duration::from_secs(10), |e| e["type"] == "CALL_INCOMING")
        .unwrap_or_else(|e| panic!("the agent's phone never rang: {e:#}\n{}", server.tail(40)));
    phone.command("accept", None).unwrap();
    phone
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_ESTABLISHED")
        .unwrap_or_else(|e| panic!("not established: {e:#}\n{}", phone.tail(30)));
    phone.command("transfer", Some("2001")).unwrap();
    let run = run.join().unwrap().unwrap();
    assert!(
        run.passed(),
        "the caller's call failed\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    let senior = senior.join().unwrap().unwrap();
    assert!(
        senior.passed(),
        "the senior's phone\n{}\n{}",
        senior.describe(),
        phone.tail(40)
    );
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "completed", "{call:#}");
    assert_eq!(call["answered_by"], "1001");
    let events = call["events"].as_array().unwrap();
    let started = events
        .iter()
        .find(|e| e["kind"] == "transfer_started")
        .unwrap_or_else(|| panic!("no transfer: {call:#}"));
    assert_eq!(started["agent"], "1001");
    assert_eq!(started["data"]["to"], "2001");
    let done = events
        .iter()
        .find(|e| e["kind"] == "transferred")
        .unwrap_or_else(|| panic!("not transferred: {call:#}"));
    assert_eq!(done["agent"], "2001");
    // The senior's leg carried the caller's voice.
    let whole = media_stats(&call, false);
    assert!(whole["agent_out"].as_u64().unwrap() > 10, "{whole}");
}

/// The call's events so far, through the operator API (any state).
fn call_events(server: &Server, id: &str) -> Vec<String> {
    let (status, body) = http_get_auth(server.http, &format!("/api/calls/{id}"), TOKEN).unwrap();
    if status != 200 {
        return Vec::new();
    }
    let call: Value = serde_json::from_str(&body).unwrap();
    call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Waits (bounded) until the call has an event of `kind`.
fn wait_for_event(server: &Server, id: &str, kind: &str) {
    assert!(
        wait_until(server, id, kind),
        "no {kind} on {id}\n{}",
        server.tail(40)
    );
}

/// Whether the call gets an event of `kind` within 10 s.
fn wait_until(server: &Server, id: &str, kind: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !call_events(server, id).iter().any(|k| k == kind) {
        if Instant::now() >= deadline {
            return false;
        }
    }
    true
}

#[test]
fn a_baresip_agent_puts_the_caller_on_hold_and_back() {
    let server = start(&["1001"], "5s");
    let mut phone = agent(&server, "1001", true);
    let run = std::thread::spawn({
        let sipp = caller(&server, 8000);
        move || sipp.run()
    });
    phone
        .wait_event(Duration::from_secs(10), |e| e["type"] == "CALL_INCOMING")
        .unwrap_or_else(|e| panic!("the agent's phone never rang: {e:#}\n{}", server.tail(40)));
    phone.command("accept", None).unwrap();
    phone
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_ESTABLISHED")
        .unwrap_or_else(|e| panic!("not established: {e:#}\n{}", phone.tail(30)));
    // The hold key sends a re-INVITE (sendonly): the caller hears music.
    phone.command("hold", None).unwrap();
    wait_for_event(&server, "call-00000001", "hold_started");
    phone.command("resume", None).unwrap();
    wait_for_event(&server, "call-00000001", "hold_ended");
    let run = run.join().unwrap().unwrap();
    assert!(
        run.passed(),
        "the caller's call failed\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "completed", "{call:#}");
    let ended = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "hold_ended")
        .unwrap()
        .clone();
    assert!(ended["data"]["held_ms"].as_u64().is_some(), "{ended}");
}
