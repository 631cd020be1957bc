//! The attacker's view with SIPVicious 0.3: `svwar` must not tell existing
//! extensions from missing ones, and `svcrack` must be stopped by the
//! lock-out before it reaches the password. Both bind to a free local port
//! (`-P`); `-R` (which reports to the tool's author) is never passed.

use std::time::Duration;

use crate::support::process::run_bounded;
use crate::support::server::Options;
use crate::support::sipp::Sipp;
use crate::support::{LOCALHOST, free_udp_port};

/// Runs a SIPVicious tool against the server for at most `limit`.
fn sipvicious(tool: &str, args: &[&str], target_port: u16, limit: Duration) -> (i32, String) {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend([
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        target_port.to_string(),
        "-P".to_owned(),
        free_udp_port(LOCALHOST).to_string(),
    ]);
    assert!(
        !all.iter().any(|a| a == "-R"),
        "never let SIPVicious report home"
    );
    run_bounded(limit, tool, &all, None).unwrap_or_else(|e| panic!("cannot run {tool}: {e:#}"))
}

#[test]
fn svwar_finds_no_extension() {
    let server = crate::start(
        Options::default()
            .user("1001", "secret-1001")
            .user("1002", "secret-1002")
            .user("1003", "secret-1003"),
    );
    let (code, out) = sipvicious(
        "svwar",
        &["-m", "REGISTER", "-e", "1000-1100"],
        server.sip.port(),
        Duration::from_secs(90),
    );
    assert_ne!(code, 124, "svwar did not finish in time\n{out}");
    assert!(
        !out.contains("Traceback"),
        "svwar crashed, which proves nothing\n{out}"
    );
    assert!(
        !out.contains("no server response"),
        "svwar got no answer at all\n{out}"
    );
    let found: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("exists") || l.trim_start().starts_with("| 10"))
        .collect();
    assert!(
        found.is_empty(),
        "svwar told extensions apart: {found:#?}\n{out}"
    );
    assert!(
        out.contains("found nothing"),
        "svwar output was unexpected\n{out}"
    );
}

#[test]
fn svcrack_is_stopped_by_the_lockout() {
    let mut options = Options::default().user("1001", "321");
    // svcrack reads only the first challenge and computes only MD5: with
    // SHA-256 first it crashes and the test would prove nothing.
    options.algorithms = vec!["MD5".to_owned(), "SHA-256".to_owned()];
    options.lockout_after = 5;
    options.lockout_time = Duration::from_secs(300);
    // A short numeric PIN, inside the range svcrack tries.
    options.min_password_length = Some(3);
    let server = crate::start(options);

    // svcrack tries over a hundred passwords a second: against a server
    // without lock-out it finds 321 in about two seconds.
    let (_, out) = sipvicious(
        "svcrack",
        &["-u", "1001", "-r", "1-9999"],
        server.sip.port(),
        Duration::from_secs(10),
    );
    assert!(
        !out.contains("Traceback"),
        "svcrack crashed, which proves nothing\n{out}"
    );
    assert!(
        !out.contains("| 321") && !out.contains("The password for"),
        "svcrack cracked the password\n{out}"
    );

    // The source it attacked from is locked out, right password or not.
    let run = Sipp::new(server.dir(), "register_refused.xml", server.sip)
        .user("1001", "321", 60)
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "after svcrack the attacking address must be locked out\n{}",
        run.describe()
    );
}
