//! The supervisors' dashboard in a real browser: headless Debian Chromium,
//! driven by playwright-core (`tests/browser/dashboard.mjs`), signs in as a
//! supervisor and watches the live page while SIPp places real calls
//! through the queue to a SIPp agent phone; then the page's figures, the
//! API's and the history page's are compared for the same interval.
//!
//! Run through `scripts/test`: it installs Chromium and playwright-core and
//! makes the private network namespace the peers need. With
//! `CARELINE_SCREENSHOT=docs/dashboard.png` the screenshot taken on the way
//! is kept there (the README shows it).

#[path = "../support/mod.rs"]
mod support;

mod phone;

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use support::process::Spawned;
use support::server::{Options, Server};
use support::sipp::Sipp;

const PASSWORD: &str = "correct-horse";
const SUPERVISOR_PASSWORD: &str = "watch-the-queue";

#[test]
fn a_supervisor_sees_real_calls_change_the_dashboard_live_and_history_agrees() {
    support::require_private_netns();
    let browser_dir = support::repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/browser: scripts/test runs `npm ci` there"
    );
    let base = support::free_udp_port(Ipv4Addr::LOCALHOST) & !3;
    let options = Options {
        api_token: Some("dashboard-suite-token-0123".into()),
        extra: format!(
            "\n[media]\nbind_ip = \"127.0.0.1\"\nwebrtc_port = 0\nport_min = {base}\nport_max = {}\n\n\
             [[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [\"1001\"]\n\
             ring_cycle = \"1s\"\nwrap_up = \"0s\"\n",
            base + 39
        ),
        ..Options::default()
    }
    .algorithms(&["MD5"])
    .user("1001", PASSWORD)
    .staff("9001", SUPERVISOR_PASSWORD, "supervisor");
    let server = Server::start(options).unwrap_or_else(|e| panic!("no server: {e:#}"));

    let shot = match std::env::var("CARELINE_SCREENSHOT") {
        Ok(p) => support::repo_root().join(p),
        Err(_) => server.dir().join("dashboard.png"),
    };
    let mut node = Command::new("node");
    node.arg(browser_dir.join("dashboard.mjs"))
        .current_dir(&browser_dir)
        .env("BASE_URL", format!("http://{}", server.http))
        .env("EXTENSION", "9001")
        .env("PASSWORD", SUPERVISOR_PASSWORD)
        .env("SCREENSHOT", &shot);
    let (mut page, mut say) = Spawned::start_with_input(
        "chromium driver",
        &mut node,
        &server.dir().join("browser.log"),
    )
    .unwrap();
    let ready = page
        .wait_for_line("READY", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.tail(30)));
    assert!(ready.contains("offered=0"), "{ready}");

    // A patient gives up after a second while nobody is logged in to answer.
    let run = Sipp::new(server.dir(), "queue_caller_cancel.xml", server.sip)
        .var("number", "100")
        .var("caller", "+79210000001")
        .var("wait_ms", "1000")
        .run()
        .unwrap();
    assert!(run.passed(), "the abandoned call\n{}", run.describe());

    // Then agent 1001's desk phone registers and answers two calls.
    let phone_port = support::free_udp_port(Ipv4Addr::LOCALHOST);
    let reg = Sipp::new(server.dir(), "register_digest.xml", server.sip)
        .var("final", "200")
        .user("1001", PASSWORD, 600)
        .port(phone_port)
        .run()
        .unwrap();
    assert!(reg.passed(), "1001 did not register\n{}", reg.describe());
    let phone = std::thread::spawn({
        let uas = Sipp::new(server.dir(), "agent_uas.xml", server.sip)
            .port(phone_port)
            .calls(2);
        move || uas.run()
    });
    let media_port = support::free_udp_block(Ipv4Addr::LOCALHOST, 4);
    let calls = Sipp::new(server.dir(), "queue_caller.xml", server.sip)
        .var("number", "100")
        .var("caller", "+79210000002")
        .var("talk_ms", "500")
        .calls(2)
        .rate(1)
        .arg("-mi")
        .arg("127.0.0.1")
        .arg("-mp")
        .arg(&media_port.to_string())
        .run()
        .unwrap();
    assert!(
        calls.passed(),
        "the answered calls\n{}\n{}",
        calls.describe(),
        server.tail(40)
    );
    let phone = phone.join().unwrap().unwrap();
    assert!(phone.passed(), "the agent's phone\n{}", phone.describe());

    writeln!(
        say,
        r#"CHECK {{"offered": 3, "answered": 2, "agent": "1001"}}"#
    )
    .unwrap();
    let done = page.wait_for_line("DONE", Duration::from_secs(120));
    let log = page.log();
    assert!(
        done.is_ok() && !log.contains("FAIL"),
        "the browser check failed:\n{log}\n{}",
        server.tail(30)
    );
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
}
