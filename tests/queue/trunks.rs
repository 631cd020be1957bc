//! The provider's trunk with real peers (SIPp playing the provider at
//! 127.0.0.2): Careline registers to it and answers its challenge; a call
//! from it to one of its numbers (a DID) lands in the queue, the same
//! number dialled from elsewhere does not; and a teleconsult placed
//! through a trunk that challenges the INVITE goes through with
//! credentials.

use super::teleconsult::file_appointment;
use super::*;

const PROVIDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A `[[trunks]]` table for the provider at 127.0.0.2:`port`.
fn provider_trunk(port: u16, more: &str) -> String {
    format!(
        "\n[[trunks]]\nname = \"pstn\"\naddress = \"127.0.0.2:{port}\"\nusername = \"clinic\"\npassword = \"trunk-secret\"\ndomain = \"provider.example\"\n{more}"
    )
}

#[test]
fn careline_registers_to_a_provider_that_challenges_it() {
    let port = support::free_udp_port(PROVIDER);
    let registrar = std::thread::spawn({
        // Listening before the server starts and sends its first REGISTER.
        let dir = support::temp_dir();
        let sipp = Sipp::new(
            dir.path(),
            "provider_registrar.xml",
            "127.0.0.1:5060".parse().unwrap(),
        )
        .local_ip(PROVIDER)
        .port(port)
        .var("user", "clinic")
        .var("password", "trunk-secret")
        .var("nonce", "4a6f8e2d")
        .var("expires", "120");
        move || {
            let run = sipp.run();
            drop(dir);
            run
        }
    });
    let server = start_configured(
        &["1001"],
        &[],
        "5s",
        "0s",
        "",
        &provider_trunk(port, "register = true\nregister_expires = \"120s\"\n"),
    );
    let run = registrar.join().unwrap().unwrap();
    assert!(
        run.passed(),
        "the provider did not accept our REGISTER\n{}\n{}",
        run.describe(),
        server.tail(40)
    );
    // The server took the grant (and keeps it in the audit trail).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("registered to the trunk") {
        assert!(Instant::now() < deadline, "{}", server.tail(40));
        let _ = http_get_auth(server.http, "/health", TOKEN);
    }
}

#[test]
fn a_call_from_the_trunk_to_its_number_lands_in_the_queue_and_not_from_elsewhere() {
    let server = start_configured(
        &["1001"],
        &[],
        "5s",
        "0s",
        "",
        &provider_trunk(5060, "[trunks.dids]\n\"+7 812 555-01-00\" = \"100\"\n"),
    );
    let _phone = agent(&server, "1001", false);
    let from_trunk = caller_to(&server, "+78125550100", 1000)
        .local_ip(PROVIDER)
        .run()
        .unwrap();
    assert!(
        from_trunk.passed(),
        "the trunk's call did not go through\n{}\n{}",
        from_trunk.describe(),
        server.tail(40)
    );
    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["queue"], "reception", "{call:#}");
    assert_eq!(call["answered_by"], "1001");

    // Any phone may dial the queue, but the DID is the trunk's alone.
    let elsewhere = caller_to(&server, "+78125550100", 1000).run().unwrap();
    assert!(!elsewhere.passed());
    assert!(
        elsewhere.responses.contains(&404) && !elsewhere.responses.contains(&200),
        "{}",
        elsewhere.describe()
    );
}

#[test]
fn a_teleconsult_through_a_trunk_that_challenges_is_placed_with_credentials() {
    let port = support::free_udp_port(PROVIDER);
    let options = configured(&["1001"], &[], "5s", "0s", "", &provider_trunk(port, ""))
        .staff("3001", PASSWORD, "doctor");
    let server =
        Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"));
    let _doctors_phone = agent(&server, "3001", false);
    file_appointment(&server);
    let media = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    let patient = std::thread::spawn({
        let uas = Sipp::new(server.dir(), "patient_behind_auth.xml", server.sip)
            .local_ip(PROVIDER)
            .port(port)
            .var("user", "clinic")
            .var("password", "trunk-secret")
            .var("nonce", "9c1d55e0")
            .var("talk_ms", "1500")
            .arg("-mi")
            .arg("127.0.0.1")
            .arg("-mp")
            .arg(&media.to_string())
            .arg("-rtp_echo");
        move || uas.run()
    });
    let token = login(&server, "3001");
    let call_id = place_call(&server, "/api/teleconsults/A-17/call", &token);
    let patient = patient.join().unwrap().unwrap();
    assert!(
        patient.passed(),
        "the trunk did not take our credentials\n{}\n{}",
        patient.describe(),
        server.tail(40)
    );
    // The call's end is written just after the patient's BYE.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        let (_, body) =
            http_get_auth(server.http, &format!("/api/calls/{call_id}"), TOKEN).unwrap();
        let call: Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(e) = call["events"]
            .as_array()
            .and_then(|es| es.iter().find(|e| e["kind"] == "dialout_ended"))
        {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "{body}\n{}", server.tail(40));
    };
    assert_eq!(ended["data"]["outcome"], "reached", "{ended}");
    assert!(
        !server.log().contains("trunk-secret"),
        "the trunk's password reached the log"
    );
}
