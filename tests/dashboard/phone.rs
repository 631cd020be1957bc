//! The browser softphone in a real browser: headless Debian Chromium with a
//! fake microphone (`tests/browser/phone.mjs`) signs in as an agent,
//! registers over the server's SIP WebSocket and answers a SIPp patient's
//! call through the queue after the identity check; audio flows both ways
//! through the WebRTC gateway (the browser's getStats and the relay's
//! packet counts). ICE needs an address that is not loopback, so the media
//! side of the server sits on a veth pair inside the private namespace.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support;
use support::process::Spawned;
use support::server::{Options, Server, http_get_auth, http_json};
use support::sipp::Sipp;

const PASSWORD: &str = "correct-horse";
const TOKEN: &str = "phone-suite-token-0123";
const MEDIA_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);
const BROWSER_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);

#[test]
fn an_agent_answers_a_patients_call_in_the_browser_with_audio_both_ways() {
    answer_in_the_browser(false, "audio/PCMA");
}

#[test]
fn with_opus_for_browsers_the_callers_a_law_is_transcoded_both_ways() {
    answer_in_the_browser(true, "audio/opus");
}

/// The whole call; `opus`: `[media] webrtc_opus`; `codec`: what the
/// browser must say it receives.
fn answer_in_the_browser(opus: bool, codec: &str) {
    support::veth_pair(MEDIA_IP, BROWSER_IP).unwrap();
    let browser_dir = support::repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/browser: scripts/test runs `npm ci` there"
    );
    let base = support::free_udp_port(Ipv4Addr::LOCALHOST) & !3;
    let options = Options {
        api_token: Some(TOKEN.into()),
        extra: format!(
            "\n[media]\nbind_ip = \"{MEDIA_IP}\"\nwebrtc_port = 0\nwebrtc_opus = {opus}\nport_min = {base}\nport_max = {}\n\n\
             [[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [\"1001\"]\n\
             ring_cycle = \"5s\"\nwrap_up = \"0s\"\n",
            base + 39
        ),
        ..Options::default()
    }
    .algorithms(&["MD5"])
    .user("1001", PASSWORD);
    let server = Server::start(options).unwrap_or_else(|e| panic!("no server: {e:#}"));
    // The patient is filed under another way of writing her number.
    let (status, body) = http_json(
        server.http,
        "PUT",
        "/api/patients/mis-55",
        Some(TOKEN),
        r#"{"full_name": "Anna Volkova", "address_as": "Anna Sergeevna", "birth_date": "1985-03-14",
            "phones": ["8 921 000-00-00"], "notes": {"reminders": "bring the referral"}}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");

    let shot = match std::env::var("CARELINE_PHONE_SCREENSHOT") {
        Ok(p) if !opus => support::repo_root().join(p),
        _ => server.dir().join("phone.png"),
    };
    let mut node = Command::new("node");
    node.arg(browser_dir.join("phone.mjs"))
        .current_dir(&browser_dir)
        .env("BASE_URL", format!("http://{}", server.http))
        .env("EXTENSION", "1001")
        .env("PASSWORD", PASSWORD)
        .env("DOB", "14.03.1985")
        .env("SCREENSHOT", &shot);
    let mut page = Spawned::start(
        "chromium phone",
        &mut node,
        &server.dir().join("browser.log"),
    )
    .unwrap();
    let page_failed = |page: &Spawned, server: &Server, what: &str| -> String {
        format!(
            "{what}\n--- page ---\n{}\n--- server ---\n{}",
            page.log(),
            server.tail(40)
        )
    };
    page.wait_for_line("READY", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{}", page_failed(&page, &server, &format!("{e:#}"))));

    let media_port = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    let caller = std::thread::spawn({
        let sipp = Sipp::new(server.dir(), "queue_caller.xml", server.sip)
            .var("number", "100")
            .var("caller", "+79210000000")
            .var("talk_ms", "8000")
            .arg("-mi")
            .arg("127.0.0.1")
            .arg("-mp")
            .arg(&media_port.to_string());
        move || sipp.run()
    });
    let ringing = page
        .wait_for_line("RINGING", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{}", page_failed(&page, &server, &format!("{e:#}"))));
    // Before the check: how to address her, nothing more.
    assert!(ringing.contains("Anna Sergeevna"), "{ringing}");
    assert!(
        !ringing.contains("Volkova") && !ringing.contains("1985"),
        "{ringing}"
    );
    let card = page
        .wait_for_line("CARD", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{}", page_failed(&page, &server, &format!("{e:#}"))));
    assert!(
        card.contains("Anna Volkova") && card.contains("bring the referral"),
        "{card}"
    );
    let stats = page
        .wait_for_line("STATS", Duration::from_secs(40))
        .unwrap_or_else(|e| panic!("{}", page_failed(&page, &server, &format!("{e:#}"))));
    let stats: Value = serde_json::from_str(stats.trim_start_matches("STATS ").trim()).unwrap();
    assert!(stats["inbound"].as_u64().unwrap() > 50, "{stats}");
    assert!(stats["outbound"].as_u64().unwrap() > 50, "{stats}");
    assert_eq!(stats["codec"], codec, "{stats}");
    page.wait_for_line("DONE", Duration::from_secs(40))
        .unwrap_or_else(|e| panic!("{}", page_failed(&page, &server, &format!("{e:#}"))));
    let run = caller.join().unwrap().unwrap();
    assert!(run.passed(), "the caller's call\n{}", run.describe());

    // The server's side of the same call: answered in the browser, the
    // relay counted packets both ways, and the identity check is on file.
    let call = first_call_ended(&server);
    assert_eq!(call["answered_by"], "1001", "{call:#}");
    let events = call["events"].as_array().unwrap();
    let whole = events
        .iter()
        .find(|e| e["kind"] == "media_stats" && e["data"]["ringing"] == false)
        .unwrap_or_else(|| panic!("no media_stats in {call:#}"));
    assert!(whole["data"]["agent_in"].as_u64().unwrap() > 50, "{whole}");
    assert!(whole["data"]["agent_out"].as_u64().unwrap() > 50, "{whole}");
    assert!(
        events.iter().any(|e| e["kind"] == "identity_confirmed"),
        "no identity_confirmed in {call:#}"
    );
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    // The key pressed on the page's keypad reached the relay in-band, from
    // the agent's leg (the digit itself is not logged).
    let log = server.log();
    assert!(
        log.lines()
            .map(without_colours)
            .any(|l| l.contains("dtmf key pressed") && l.contains("leg=B")),
        "no key from the browser reached the relay:\n{}",
        log.lines()
            .filter(|l| l.to_lowercase().contains("dtmf") || l.contains("telephone"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Patient data stays out of the server's log.
    for secret in [
        "Anna Volkova",
        "Anna Sergeevna",
        "79210000000",
        "1985-03-14",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} appears in the server's log"
        );
    }
}

#[test]
fn a_senior_dials_the_queue_from_the_browser_and_a_baresip_agent_answers() {
    support::veth_pair(MEDIA_IP, BROWSER_IP).unwrap();
    let browser_dir = support::repo_root().join("tests/browser");
    let base = support::free_udp_port(Ipv4Addr::LOCALHOST) & !3;
    let options = Options {
        api_token: Some(TOKEN.into()),
        extra: format!(
            "\n[media]\nbind_ip = \"{MEDIA_IP}\"\nwebrtc_port = 0\nport_min = {base}\nport_max = {}\n\n\
             [[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [\"1001\"]\n\
             ring_cycle = \"5s\"\nwrap_up = \"0s\"\n",
            base + 39
        ),
        ..Options::default()
    }
    .algorithms(&["MD5"])
    .user("1001", PASSWORD)
    .staff("2001", PASSWORD, "senior");
    let server = Server::start(options).unwrap_or_else(|e| panic!("no server: {e:#}"));
    // Agent 1001 on baresip, answering at once (its microphone a 440 Hz tone).
    let account = support::baresip::Account::new("1001", PASSWORD, server.sip, 600);
    let mut agent = support::baresip::Baresip::start(server.dir(), &[account]).unwrap();
    agent
        .wait_registered(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("baresip did not register: {e:#}\n{}", agent.tail(30)));

    let mut node = Command::new("node");
    node.arg(browser_dir.join("phone.mjs"))
        .current_dir(&browser_dir)
        .env("BASE_URL", format!("http://{}", server.http))
        .env("EXTENSION", "2001")
        .env("PASSWORD", PASSWORD)
        .env("DIAL", "100");
    let mut page = Spawned::start(
        "chromium phone",
        &mut node,
        &server.dir().join("browser.log"),
    )
    .unwrap();
    let failed = |page: &Spawned, what: &dyn std::fmt::Display| -> String {
        format!(
            "{what}\n--- page ---\n{}\n--- baresip ---\n{}\n--- server ---\n{}",
            page.log(),
            agent.tail(20),
            server.tail(40)
        )
    };
    let stats = page
        .wait_for_line("STATS", Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{}", failed(&page, &format!("{e:#}"))));
    let stats: Value = serde_json::from_str(stats.trim_start_matches("STATS ").trim()).unwrap();
    assert!(stats["inbound"].as_u64().unwrap() > 50, "{stats}");
    assert!(stats["outbound"].as_u64().unwrap() > 50, "{stats}");
    // The gateway took the browser's first G.711 law (Chromium offers
    // μ-law before A-law).
    assert_eq!(stats["codec"], "audio/PCMU", "{stats}");
    page.wait_for_line("DONE", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{}", failed(&page, &format!("{e:#}"))));

    let call = first_call_ended(&server);
    assert_eq!(call["caller"], "2001", "{call:#}");
    assert_eq!(call["answered_by"], "1001", "{call:#}");
    assert_eq!(call["end_reason"], "completed", "{call:#}");
    let whole = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "media_stats" && e["data"]["ringing"] == false)
        .unwrap_or_else(|| panic!("no media_stats in {call:#}"))["data"]
        .clone();
    // The browser's audio in on the caller's leg and out to baresip, and
    // baresip's back the other way.
    for field in ["caller_in", "caller_out", "agent_in", "agent_out"] {
        assert!(whole[field].as_u64().unwrap() > 50, "{field}: {whole}");
    }
    // The key pressed in the browser went in-band from the caller's leg.
    assert!(
        server
            .log()
            .lines()
            .map(without_colours)
            .any(|l| l.contains("dtmf key pressed") && l.contains("leg=A")),
        "no key from the browser reached the relay"
    );
}

/// The server's record of the first call, once its end is written.
fn first_call_ended(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http_get_auth(server.http, "/api/calls/call-00000001", TOKEN).unwrap();
        if status == 200 {
            let call: Value = serde_json::from_str(&body).unwrap();
            if !call["end_reason"].is_null() {
                return call;
            }
        }
        assert!(Instant::now() < deadline, "the call has no end: {body}");
    }
}

/// A log line without its terminal colour codes (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
