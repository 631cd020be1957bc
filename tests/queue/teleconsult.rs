//! A doctor's teleconsult with real peers: the doctor starts it from the
//! appointment through the API, their baresip phone rings and answers,
//! then the patient's phone (SIPp, behind the trunk) rings, answers, talks
//! and hangs up. The record's times are the call's own.

use super::*;

/// The clinic's system files patient mis-42 (+7 921 000-00-07) and their
/// paid, consented teleconsult A-17 with doctor 3001.
pub(super) fn file_appointment(server: &Server) {
    let (status, body) = http_json(
        server.http,
        "PUT",
        "/api/patients/mis-42",
        Some(TOKEN),
        r#"{"full_name": "Anna Petrova", "phones": ["8 921 000-00-07"], "consent": true}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = http_json(
        server.http,
        "PUT",
        "/api/appointments/A-17",
        Some(TOKEN),
        r#"{"patient": "mis-42", "doctor": "3001", "starts_at": "2026-11-24T10:00:00Z",
            "service": "Follow-up", "teleconsult": true, "consent": true, "paid": true}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
}

#[test]
fn a_doctors_teleconsult_rings_the_doctor_then_the_patient_and_is_recorded() {
    let trunk_port = support::free_udp_port(Ipv4Addr::LOCALHOST);
    let trunk = trunk_at(trunk_port);
    let options =
        configured(&["1001"], &[], "5s", "0s", "", &trunk).staff("3001", PASSWORD, "doctor");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let _doctors_phone = agent(&server, "3001", false);
    file_appointment(&server);

    let patient = patient_behind_trunk(&server, trunk_port, 2000);
    let token = login(&server, "3001");
    let call_id = place_call(&server, "/api/teleconsults/A-17/call", &token);
    let patient = patient.join().unwrap().unwrap();
    assert!(
        patient.passed(),
        "the patient's phone\n{}\n{}",
        patient.describe(),
        server.tail(40)
    );

    // The record, once the call's end is written.
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let (status, body) = http_get_auth(server.http, "/api/teleconsults", &token).unwrap();
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        if let Some(c) = list["calls"].as_array().and_then(|c| c.first())
            && !c["outcome"].is_null()
        {
            break c.clone();
        }
        assert!(Instant::now() < deadline, "no record\n{}", server.tail(40));
        let _ = http_get_auth(server.http, "/health", TOKEN);
    };
    let (_, body) = http_get_auth(server.http, &format!("/api/calls/{call_id}"), TOKEN).unwrap();
    let call: Value = serde_json::from_str(&body).unwrap();
    let at = |kind: &str, side: Option<&str>| {
        call["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind && side.is_none_or(|s| e["data"]["side"] == s))
            .unwrap_or_else(|| panic!("no {kind}: {call:#}"))["at"]
            .clone()
    };
    assert_eq!(record["call_id"], call_id.as_str());
    assert_eq!(record["appointment_id"], "A-17");
    assert_eq!(record["doctor"], "3001");
    assert_eq!(record["number"], "+79210000007");
    assert_eq!(record["patient_name"], "Anna Petrova");
    assert_eq!(record["outcome"], "reached");
    assert_eq!(record["invited_at"], at("dialout_started", None));
    assert_eq!(
        record["answered_at"],
        at("dialout_answered", Some("patient"))
    );
    assert_eq!(record["ended_at"], at("dialout_ended", None));
    assert!(record["duration_ms"].as_i64().unwrap() > 0);
    assert!(
        record["record"]
            .as_str()
            .unwrap()
            .contains("called +79210000007 for appointment A-17"),
        "{record}"
    );
    let stats = media_stats(&call, false);
    assert!(
        stats["agent_in"].as_u64().unwrap() > 0,
        "no RTP from the patient: {stats}"
    );
    assert!(
        stats["caller_in"].as_u64().unwrap() > 0,
        "no RTP from the doctor: {stats}"
    );
    assert!(
        !server.log().contains("79210000007"),
        "the number reached the log"
    );
    assert!(
        !server.log().contains("Anna Petrova"),
        "the name reached the log"
    );
}
