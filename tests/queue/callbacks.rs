//! Call-backs with real peers: a caller whose line goes silent is dropped
//! and called back by the same agent through the trunk; a waiting caller
//! who presses 1 gets a task instead of waiting.

use super::*;

#[test]
fn a_caller_whose_line_goes_silent_is_called_back_by_the_same_agent() {
    // RTP stops after the recording (7 s) and no BYE comes: after 2 s of
    // silence from the caller, the server ends the call as dropped, hangs
    // up both legs, and opens a call-back task for the agent who had it.
    // The agent then calls back: their phone rings first, then the
    // patient's, behind the trunk (a SIPp phone that echoes what it hears).
    let trunk_port = support::free_udp_port(Ipv4Addr::LOCALHOST);
    let trunk = trunk_at(trunk_port);
    let server = start_configured(&["1001"], &[], "5s", "0s", "rtp_timeout = \"2s\"\n", &trunk);
    let _phone = agent(&server, "1001", false);
    let media_port = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    let run = Sipp::new(server.dir(), "queue_caller_goes_silent.xml", server.sip)
        .var("number", "100")
        .var("caller", "+79210000000")
        .var("bye_within_ms", "30000")
        .arg("-mi")
        .arg("127.0.0.1")
        .arg("-mp")
        .arg(&media_port.to_string())
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "the silent caller was not hung up on\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "dropped", "{call:#}");
    assert_eq!(call["answered_by"], "1001");
    let dropped = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "line_dropped")
        .unwrap_or_else(|| panic!("no line_dropped: {call:#}"));
    assert_eq!(dropped["data"]["side"], "caller");
    assert_eq!(dropped["data"]["cause"], "rtp_timeout");

    // The task is written by the scheduler just after the call's end.
    let task = first_task(&server, "/api/callbacks");
    assert_eq!(task["id"], "cb-call-00000001");
    assert_eq!(task["reason"], "dropped");
    assert_eq!(task["owner"]["name"], "1001");
    assert_eq!(task["number"], "+79210000000");
    assert_eq!(task["status"], "open");

    // Call back now, as the agent.
    let patient = patient_behind_trunk(&server, trunk_port, 3000);
    let token = login(&server, "1001");
    let placed = place_call(&server, "/api/callbacks/cb-call-00000001/call", &token);
    let patient = patient.join().unwrap().unwrap();
    assert!(
        patient.passed(),
        "the patient's phone\n{}\n{}",
        patient.describe(),
        server.tail(40)
    );

    // The call recorded its own attempt: reached, so the task is done.
    let done = first_task(&server, "/api/callbacks?status=done");
    assert_eq!(done["id"], "cb-call-00000001");
    assert_eq!(done["attempts"][0]["outcome"], "reached");
    assert_eq!(done["attempts"][0]["agent"], "1001");
    assert_eq!(done["attempts"][0]["call"], placed.as_str());
    // Voice went both ways through the server: the agent's to the patient
    // (and, echoed, back).
    let (status, body) =
        http_get_auth(server.http, &format!("/api/calls/{placed}"), TOKEN).unwrap();
    assert_eq!(status, 200, "{body}");
    let call: Value = serde_json::from_str(&body).unwrap();
    let kinds: Vec<&str> = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "dialout_started",
            "dialout_answered",
            "dialout_answered",
            "media_stats",
            "dialout_ended"
        ],
        "{call:#}"
    );
    let stats = media_stats(&call, false);
    for (field, what) in [
        ("caller_in", "from the agent"),
        ("agent_out", "to the patient"),
        ("agent_in", "from the patient"),
        ("caller_out", "to the agent"),
    ] {
        assert!(stats[field].as_u64().unwrap() > 0, "no RTP {what}: {stats}");
    }
    assert!(
        !server.log().contains("79210000000"),
        "the patient's number reached the log"
    );
}

#[test]
fn a_waiting_caller_who_presses_one_gets_a_call_back_task_instead() {
    // Nobody is logged in to answer; the patient presses 1 on the keypad.
    let server = start(&["1001"], "5s");
    let media_port = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    let run = Sipp::new(server.dir(), "queue_caller_presses_1.xml", server.sip)
        .var("number", "100")
        .var("caller", "+79210000003")
        .arg("-mi")
        .arg("127.0.0.1")
        .arg("-mp")
        .arg(&media_port.to_string())
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "the key press did not end the wait\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["end_reason"], "callback_requested", "{call:#}");
    let task = first_task(&server, "/api/callbacks");
    assert_eq!(task["reason"], "requested");
    assert_eq!(task["owner"]["kind"], "queue");
    assert_eq!(task["number"], "+79210000003");
}
