//! The registrar with real peers on loopback: SIPp and baresip register
//! with digest authentication, wrong passwords and lock-out, OPTIONS
//! keep-alives, bindings that expire, the RFC 4475 torture messages over
//! the wire and SIPVicious trying to enumerate and crack accounts.
//!
//! Run through `scripts/test`: every test needs the private network
//! namespace it makes.

#[path = "../support/mod.rs"]
mod support;

mod rfc4475;
mod sipvicious;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use support::baresip::{Account, Baresip};
use support::server::{Options, Server};
use support::sipp::{Run, Sipp};

/// Starts a server after checking that the test runs in its own network
/// namespace.
fn start(options: Options) -> Server {
    support::require_private_netns();
    Server::start(options).unwrap_or_else(|e| panic!("careline-server does not start: {e:#}"))
}

/// The password of the test users.
const PASSWORD: &str = "correct-horse";

/// SIPp registering `ext` with digest credentials; the scenario fails
/// unless the final answer is `final_code`.
fn register(server: &Server, ext: &str, password: &str, expires: u32, final_code: u16) -> Sipp {
    Sipp::new(server.dir(), "register_digest.xml", server.sip)
        .var("final", &final_code.to_string())
        .user(ext, password, expires)
}

/// Asserts that a run passed and got exactly these final responses.
fn assert_finals(run: &Run, expected: &[u16]) {
    assert!(run.passed(), "{}", run.describe());
    let finals: Vec<u16> = run
        .responses
        .iter()
        .copied()
        .filter(|c| *c >= 200)
        .collect();
    assert_eq!(finals, expected, "{}", run.describe());
}

#[test]
fn digest_register_with_the_right_password_gets_200() {
    let server = start(Options::default().user("1001", PASSWORD));
    let run = register(&server, "1001", PASSWORD, 60, 200).run().unwrap();
    assert_finals(&run, &[401, 200]);
}

#[test]
fn digest_register_with_a_wrong_password_gets_401() {
    let server = start(Options::default().user("1001", PASSWORD));
    let run = register(&server, "1001", "wrong-horse", 60, 401)
        .run()
        .unwrap();
    assert_finals(&run, &[401, 401]);
}

#[test]
fn unknown_user_is_challenged_like_a_known_one() {
    let server = start(Options::default().user("1001", PASSWORD));
    let run = register(&server, "1999", PASSWORD, 60, 401).run().unwrap();
    assert_finals(&run, &[401, 401]);
}

#[test]
fn five_wrong_passwords_lock_the_source_out_even_for_the_right_one() {
    let mut options = Options::default().user("1001", PASSWORD);
    options.lockout_after = 5;
    options.lockout_time = Duration::from_secs(60);
    let server = start(options);

    let mut wrong = register(&server, "1001", "wrong-horse-0", 60, 401);
    for n in 1..5 {
        wrong = wrong.user("1001", &format!("wrong-horse-{n}"), 60);
    }
    let run = wrong.calls(5).run().unwrap();
    assert_finals(&run, &[401; 10]);

    // Another SIPp process, another port, the same address: refused.
    let run = Sipp::new(server.dir(), "register_refused.xml", server.sip)
        .user("1001", PASSWORD, 60)
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "after five failures the right password must get 403\n{}",
        run.describe()
    );

    // The lock-out is per source: the same user from elsewhere still registers.
    let run = register(&server, "1001", PASSWORD, 60, 200)
        .local_ip(Ipv4Addr::new(127, 0, 0, 3))
        .run()
        .unwrap();
    assert!(
        run.passed(),
        "a phone at another address must not be locked out\n{}",
        run.describe()
    );
}

#[test]
fn options_ping_gets_200_with_allow() {
    let server = start(Options::default());
    let run = Sipp::new(server.dir(), "options.xml", server.sip)
        .calls(3)
        .run()
        .unwrap();
    assert!(run.passed(), "{}", run.describe());
    assert_eq!(run.stats.successful, 3, "{}", run.describe());
}

#[test]
fn registration_expires_after_its_interval() {
    let mut options = Options::default().user("1001", PASSWORD);
    options.min_expires = Duration::from_secs(1);
    let server = start(options);

    let run = register(&server, "1001", PASSWORD, 2, 200).run().unwrap();
    assert!(run.passed(), "{}", run.describe());

    let query = |contacts: &str| {
        Sipp::new(server.dir(), "bindings_query.xml", server.sip)
            .var("contacts", contacts)
            .user("1001", PASSWORD, 0)
            .run()
            .unwrap()
    };
    let listed = query(r#"check_it="true""#);
    assert!(
        listed.passed(),
        "right after registering, a query must list the binding\n{}",
        listed.describe()
    );

    // Each query is a full SIPp run, which paces the loop.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let gone = query(r#"check_it_inverse="true""#);
        if gone.passed() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a binding registered for 2 s is still listed after 15 s\n{}",
            gone.describe()
        );
    }
}

#[test]
fn baresip_registers_and_stays_registered() {
    let mut options = Options::default().user("1001", PASSWORD);
    // baresip 1.0 fails the whole registration if any challenge is not MD5.
    options.algorithms = vec!["MD5".to_owned()];
    options.min_expires = Duration::from_secs(1);
    let server = start(options);

    let account = Account::new("1001", PASSWORD, server.sip, 3);
    let mut phone = Baresip::start(server.dir(), &[account]).unwrap();
    let info = phone
        .wait_registered(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(info.contains("sip:1001@"), "{info}");

    // With regint=3 baresip refreshes within three seconds.
    phone.forget_events();
    let event = phone
        .wait_event(Duration::from_secs(15), |e| {
            matches!(e["type"].as_str(), Some("REGISTER_OK" | "REGISTER_FAIL"))
        })
        .unwrap_or_else(|e| panic!("no re-registration: {e:#}"));
    assert_eq!(
        event["type"], "REGISTER_OK",
        "re-registration failed: {event}"
    );
    let info = phone.reginfo().unwrap();
    assert!(support::baresip::registered(&info), "{info}");
}
