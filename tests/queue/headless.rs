//! The desktop agent without its window (`careline-agent --headless`)
//! against the real server: it logs in, learns its SIP settings from the
//! API, registers, receives the caller's card on the WebSocket, answers a
//! SIPp caller through the queue, exchanges audio both ways, and saves its
//! disposition when the call ends.
//!
//! The agent binary is built by `cargo nextest run --workspace` (what
//! `scripts/test` runs) next to the server's.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::process::{Spawned, run_bounded};
use crate::support::server::{SERVER_BIN, Server, http_json};
use serde_json::Value;

use super::{PASSWORD, TOKEN, caller, finished_call, start};

fn agent_bin() -> PathBuf {
    let bin = PathBuf::from(SERVER_BIN).with_file_name("careline-agent");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace (cargo build --workspace)",
        bin.display()
    );
    bin
}

/// `careline-agent --headless` for `ext`, with the password on stdin.
fn headless(server: &Server, ext: &str, password: &str, extra: &[&str]) -> Spawned {
    let mut cmd = Command::new(agent_bin());
    cmd.args(["--headless", "--server"])
        .arg(format!("http://{}", server.http))
        .args(["--ext", ext, "--password-stdin"])
        .args(extra);
    let log = server.dir().join(format!("agent-{ext}.log"));
    let (agent, mut stdin) = Spawned::start_with_input("careline-agent", &mut cmd, &log).unwrap();
    use std::io::Write;
    writeln!(stdin, "{password}").unwrap();
    agent
}

/// `key=value` from one of the agent's lines.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

#[test]
fn the_headless_agent_registers_gets_the_card_answers_talks_and_saves_its_disposition() {
    let server = start(&["1001"], "5s");
    let (status, body) = http_json(
        server.http,
        "PUT",
        "/api/patients/mis-55",
        Some(TOKEN),
        r#"{"full_name": "Irina Volkova", "phones": ["8 921 000-00-00"]}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let recordings = server.dir().join("recordings");
    std::fs::create_dir(&recordings).unwrap();
    let mut agent = headless(
        &server,
        "1001",
        PASSWORD,
        &[
            "--auto-answer",
            "--answer-after",
            "700ms",
            "--disposition",
            "booked",
            "--calls",
            "1",
            "--record",
            recordings.to_str().unwrap(),
        ],
    );
    let wait = |agent: &mut Spawned, what: &str| {
        agent
            .wait_for_line(what, Duration::from_secs(15))
            .unwrap_or_else(|e| {
                panic!(
                    "the agent never said {what:?}: {e:#}\n{}\n{}",
                    agent.tail(30),
                    server.tail(30)
                )
            })
    };
    let registered = wait(&mut agent, "registered 1001");
    assert_eq!(field(&registered, "expires"), "600s");

    let run = std::thread::spawn({
        let sipp = caller(&server, 3000);
        move || sipp.run()
    });
    let ended = wait(&mut agent, "ended ");
    // The card and the ring race each other (the card is sent as the
    // phone is rung), so they are read from the log in whatever order.
    let log = agent.log();
    let said = |prefix: &str| {
        log.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in\n{log}"))
    };
    assert_eq!(field(said("ringing "), "call"), "call-00000001");
    let card = said("card ");
    assert_eq!(field(card, "call"), "call-00000001");
    assert_eq!(field(card, "patients"), "1");
    assert_eq!(field(card, "mis"), "mis-55");
    assert_eq!(field(said("answered "), "call"), "call-00000001");
    // The clinic's scripts came from the server at login.
    assert_eq!(
        said("scripts "),
        "scripts clinic=\"Careline clinic\" languages=4"
    );
    assert_eq!(field(&ended, "reason"), "remote_hang_up");
    // Three seconds of talk at 50 packets a second, each way.
    let count = |k: &str| field(&ended, k).parse::<u64>().unwrap();
    assert!(count("sent") >= 100, "{ended}");
    assert!(count("received") >= 100, "{ended}");
    assert!(count("played") >= 90, "{ended}");
    wait(&mut agent, "disposition saved");
    let run = run.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call failed\n{}", run.describe());

    let call = finished_call(&server, "call-00000001");
    assert_eq!(call["answered_by"], "1001");
    assert_eq!(call["end_reason"], "completed");
    // The server relayed the agent's audio to the caller and the caller's
    // to the agent.
    let stats = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "media_stats" && e["data"]["ringing"] == false)
        .unwrap_or_else(|| panic!("no media_stats in {call:#}"))["data"]
        .clone();
    for key in ["agent_in", "agent_out"] {
        assert!(stats[key].as_u64().unwrap() >= 100, "{key}: {stats}");
    }
    // What the agent heard is on disk: 8 kHz, about three seconds.
    let wav = std::fs::read(recordings.join("call-00000001.wav")).unwrap();
    assert!(
        wav.len() > 44 + 2 * 8000 * 2,
        "{} bytes recorded",
        wav.len()
    );

    // The disposition is in the audit trail, by the agent, for this call.
    let (code, out) = run_bounded(
        Duration::from_secs(30),
        SERVER_BIN,
        &[
            "--config".into(),
            server.config.display().to_string(),
            "audit".into(),
            "export".into(),
            "--from".into(),
            "2000-01-01".into(),
            "--to".into(),
            "2100-01-01".into(),
            "--format".into(),
            "json".into(),
        ],
        None,
    )
    .unwrap();
    assert_eq!(code, 0, "{out}");
    let json_start = out.find('{').unwrap();
    // The document, then the command's own report on stderr.
    let doc: Value = serde_json::Deserializer::from_str(&out[json_start..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let disposition = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "call_disposition")
        .unwrap_or_else(|| panic!("no disposition in the audit trail:\n{out}"));
    assert_eq!(disposition["agent"], "1001");
    assert_eq!(disposition["data"]["call"], "call-00000001");
    assert_eq!(disposition["data"]["reason"], "booked");

    // With --calls 1 it leaves by itself once the call is done.
    agent
        .wait_exit(Duration::from_secs(10))
        .expect("the agent leaves by itself");
    // On its way out it hung up nothing (no call left) and removed its
    // registration, so the queue stops offering calls to it.
    let log = agent.log();
    assert!(log.contains("unregistered 1001"), "{log}");
    // Patient data stays out of its log.
    assert!(!log.contains("Irina") && !log.contains("921000"), "{log}");
}

#[test]
fn a_wrong_password_is_refused_plainly_and_an_absent_server_is_retried() {
    let server = start(&["1001"], "5s");
    let mut agent = headless(&server, "1001", "not-the-password", &["--auto-answer"]);
    let refused = agent
        .wait_for_line("careline-agent:", Duration::from_secs(15))
        .unwrap();
    assert!(refused.contains("refused extension 1001"), "{refused}");
    agent
        .wait_exit(Duration::from_secs(10))
        .expect("the agent gives up on a refused password");

    // Nobody listens on this port: the agent says so and keeps trying.
    let port = crate::support::free_tcp_port(std::net::Ipv4Addr::LOCALHOST);
    let mut cmd = Command::new(agent_bin());
    cmd.args(["--headless", "--server"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--ext", "1001", "--password-stdin"]);
    let log = server.dir().join("agent-absent.log");
    let (mut absent, mut stdin) =
        Spawned::start_with_input("careline-agent", &mut cmd, &log).unwrap();
    use std::io::Write;
    writeln!(stdin, "{PASSWORD}").unwrap();
    let first = absent
        .wait_for_line("cannot be reached", Duration::from_secs(10))
        .unwrap();
    assert!(first.contains("retrying in 1s"), "{first}");
    let second = absent
        .wait_for_line("cannot be reached", Duration::from_secs(10))
        .unwrap();
    assert!(second.contains("retrying in 2s"), "{second}");
    assert!(absent.exited().is_none(), "it gave up");
}
