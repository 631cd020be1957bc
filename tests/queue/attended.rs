//! An attended transfer with real phones: the agent's linphone answers a
//! SIPp caller, holds them, calls the senior (baresip) from the same phone,
//! speaks to them, then transfers with REFER/Replaces; the caller talks on
//! with the senior and hangs up on them.

use super::*;
use support::linphone::Linphone;

#[test]
fn a_linphone_agent_consults_the_senior_then_hands_the_caller_over_with_replaces() {
    // The caller's recording lasts 8 s; a quiet caller after it is no
    // dropped line here.
    let server = start_configured(
        &["1001"],
        &["2001"],
        "5s",
        "0s",
        "rtp_timeout = \"60s\"",
        "",
    );
    let mut senior = agent(&server, "2001", false);
    let mut phone = Linphone::start(server.dir(), "1001", PASSWORD, server.sip, true)
        .unwrap_or_else(|e| panic!("linphonec: {e:#}\n{}", server.tail(30)));
    let run = std::thread::spawn({
        let sipp = caller(&server, 12_000);
        move || sipp.run()
    });
    let call = "call-00000001";
    let wait = Duration::from_secs(10);
    // The phone's own account of each step is awaited, not the server's:
    // linphonec acts on the next command before its SIP stack has read
    // the answers to the last one.
    phone
        .wait_for("Call 1 with", wait)
        .unwrap_or_else(|e| panic!("the agent never answered: {e:#}\n{}", server.tail(30)));
    wait_for_event(&server, call, "answered");
    // Hold, then a second call from the same phone: the consultation.
    phone.command("pause 1").unwrap();
    phone.wait_for("to LinphoneCallPaused", wait).unwrap();
    wait_for_event(&server, call, "hold_started");
    phone
        .command(&format!("call sip:2001@{}", server.sip))
        .unwrap();
    phone
        .wait_for("Call 2 with", wait)
        .unwrap_or_else(|e| panic!("the consultation failed: {e:#}\n{}", server.tail(30)));
    wait_for_event(&server, call, "consult_answered");
    senior
        .wait_event(Duration::from_secs(5), |e| e["type"] == "CALL_ESTABLISHED")
        .unwrap_or_else(|e| panic!("the senior never spoke: {e:#}\n{}", senior.tail(30)));
    // Call 1 (the caller) goes to whom call 2 reached.
    phone.command("transfer 1 --to-call 2").unwrap();
    if !wait_until(&server, call, "transferred") {
        panic!(
            "not transferred\n{}\n{}",
            phone.lines_with("ransfer"),
            server.tail(40)
        );
    }

    let run = run.join().unwrap().unwrap();
    assert!(
        run.passed(),
        "the caller's call failed\n{}\n{}\n{}",
        run.describe(),
        server.tail(40),
        phone.tail(40)
    );
    let record = finished_call(&server, call);
    assert_eq!(record["end_reason"], "completed", "{record:#}");
    assert_eq!(record["answered_by"], "1001");
    let events = record["events"].as_array().unwrap();
    let find = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {record:#}"))
    };
    let started = find("transfer_started");
    assert_eq!(started["data"]["attended"], true);
    assert_eq!(started["data"]["to"], "2001");
    assert_eq!(find("consult_answered")["data"]["to"], "2001");
    let done = find("transferred");
    assert_eq!(done["agent"], "2001");
    assert_eq!(done["data"]["attended"], true);
    assert!(find("hold_ended")["data"]["held_ms"].as_u64().is_some());
    assert!(
        !events.iter().any(|e| e["kind"] == "transfer_failed"),
        "{record:#}"
    );
    // The senior's phone was moved onto the caller's media and heard them.
    let log = senior.tail(200);
    let moved = log.find("got re-INVITE").unwrap_or_else(|| panic!("{log}"));
    assert!(
        log[moved..].contains("incoming rtp for 'audio' established"),
        "{log}"
    );
    let whole = media_stats(&record, false);
    assert!(whole["agent_out"].as_u64().unwrap() > 10, "{whole}");
}
