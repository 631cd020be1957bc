use super::*;

#[test]
fn empty_file_gives_documented_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.sip.listen.len(), 2);
    assert_eq!(c.sip.t1.0, Duration::from_millis(500));
    assert_eq!(c.registrar.lockout_after, 5);
    assert_eq!(
        c.http.listen,
        "127.0.0.1:8080".parse::<std::net::SocketAddr>().unwrap()
    );
}

#[test]
fn example_config_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../careline.example.toml");
    let c = Config::load(Path::new(path)).unwrap();
    assert_eq!(c.sip.listen[0].to_string(), "udp://127.0.0.1:5060");
    assert_eq!(c.sip.listen[2].transport, Transport::Ws);
    assert_eq!(c.sip.listen[2].to_string(), "ws://127.0.0.1:8088");
    assert_eq!(c.registrar.algorithms[0].0, DigestAlgorithm::Md5);
    assert_eq!(c.queues[0].number, "100");
    assert_eq!(
        c.queues[0].settings().answer_deadline(),
        Duration::from_secs(15)
    );
}

#[test]
fn bad_listen_address_names_key_and_line() {
    let err = Config::parse("[sip]\ndomain = \"clinic.example\"\nlisten = [\"udp:/127.0.0.1\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("listen"), "{err}");
    assert!(err.contains("udp://127.0.0.1:5060"), "{err}");
}

#[test]
fn an_unsupported_transport_is_named_with_the_ones_there_are() {
    let err = Config::parse("[sip]\nlisten = [\"sctp://127.0.0.1:5060\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(
        err.contains("`sctp`") && err.contains("udp, tcp, ws or wss"),
        "{err}"
    );
}

#[test]
fn a_webrtc_port_inside_the_rtp_range_is_refused_by_name() {
    let text = "[sip]\nlisten = [\"ws://127.0.0.1:8088\"]\n[media]\nport_min = 30000\nport_max = 30099\nwebrtc_port = 30010\n";
    // Without a WebSocket listener there is no gateway, and nothing to refuse.
    let quiet = text.replace("ws://", "udp://");
    assert!(Config::parse(&quiet).is_ok());
    let err = Config::parse(text).unwrap_err().to_string();
    assert!(
        err.contains("webrtc_port") && err.contains("30000-30099"),
        "{err}"
    );
    // More gateway threads take the ports after it: those too.
    let below = text.replace("30010", "29998\nwebrtc_threads = 3");
    let err = Config::parse(&below).unwrap_err().to_string();
    assert!(err.contains("29998-30000"), "{err}");
    assert!(Config::parse(&below.replace("threads = 3", "threads = 2")).is_ok());
    let top = text.replace("30010", "65535\nwebrtc_threads = 2");
    assert!(
        Config::parse(&top)
            .unwrap_err()
            .to_string()
            .contains("65536")
    );
    for threads in ["0", "17"] {
        let text = text.replace("30010", &format!("21000\nwebrtc_threads = {threads}"));
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("webrtc_threads") && err.contains("1 to 16"),
            "{err}"
        );
    }
}

#[test]
fn a_wss_listener_without_its_certificate_is_refused_by_name() {
    let err = Config::parse("[sip]\nlisten = [\"wss://127.0.0.1:8089\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sip.tls_cert") && err.contains("wss://"),
        "{err}"
    );
    let err = Config::parse(
        "[sip]\nlisten = [\"wss://127.0.0.1:8089\"]\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 3") && err.contains("/nonexistent/cert.pem"),
        "{err}"
    );
}

#[test]
fn unknown_key_is_named() {
    let err = Config::parse("[registrar]\nlockout_afterr = 3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lockout_afterr"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn inconsistent_values_name_key_and_line() {
    let err =
        Config::parse("[registrar]\nmin_expires = \"2h\"\nmax_expires = \"1h\"\n").unwrap_err();
    assert_eq!(
        err,
        ConfigError::Invalid {
            key: "registrar.min_expires",
            line: 2,
            reason: "7200s is longer than registrar.max_expires (3600s)".into()
        }
    );
}

#[test]
fn queues_get_defaults_and_are_checked() {
    let c = Config::parse("[[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [\"1001\"]\nseniors = [\"2001\"]\n").unwrap();
    let q = c.queues[0].settings();
    assert_eq!(q.answer_deadline(), Duration::from_secs(15));
    assert_eq!(q.agent_ring_time, Duration::from_secs(10));
    assert_eq!(q.wrap_up, Duration::from_secs(10));
    let err = Config::parse("[[queues]]\nname = \"a\"\nnumber = \"100\"\nagents = [\"1\"]\n[[queues]]\nname = \"b\"\nnumber = \"100\"\nagents = [\"2\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("used by another queue") && err.contains("line 6"),
        "{err}"
    );
}

#[test]
fn durations_in_every_unit() {
    assert_eq!(
        "250ms".parse::<Dur>().unwrap().0,
        Duration::from_millis(250)
    );
    assert_eq!("5s".parse::<Dur>().unwrap().0, Duration::from_secs(5));
    assert_eq!("2m".parse::<Dur>().unwrap().0, Duration::from_secs(120));
    assert!("5 parsecs".parse::<Dur>().is_err());
}

#[test]
fn a_scripts_file_that_is_missing_or_wrong_is_refused_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.toml");
    let err = Config::parse(&format!(
        "[scripts]\nclinic = \"Clinic on Nevsky\"\nfile = \"{}\"\n",
        missing.display()
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("scripts.file") && err.contains("line 3"),
        "{err}"
    );
    assert!(err.contains("cannot read"), "{err}");

    let wrong = dir.path().join("ours.toml");
    std::fs::write(&wrong, "[en.inbound]\npurpose = \"Hello {nickname}\"\n").unwrap();
    let err = Config::parse(&format!("[scripts]\nfile = \"{}\"\n", wrong.display()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("en.inbound.purpose") && err.contains("{nickname}"),
        "{err}"
    );

    std::fs::write(&wrong, "[en.inbound]\npurpose = \"Hello, {address_as}\"\n").unwrap();
    let c = Config::parse(&format!(
        "[scripts]\nclinic = \"Nevsky\"\nfile = \"{}\"\n",
        wrong.display()
    ))
    .unwrap();
    let doc = c.scripts.document().unwrap();
    assert_eq!(doc["clinic"], "Nevsky");
    assert_eq!(
        doc["phrases"]["en"]["inbound"]["purpose"],
        "Hello, {address_as}"
    );
}
