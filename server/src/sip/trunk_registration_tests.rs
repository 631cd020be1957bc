//! Registering to a provider's trunk, through the whole endpoint, in
//! virtual time: the challenge answered, refreshes and retries exactly.

use careline_shared::sip::{Credentials, Tag, response_to};

use super::*;
use crate::sip::trunk_registration::{TrunkAccount, TrunkEvent};

const PROVIDER: &str = "127.0.0.2:5070";
const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn registering(t0: Instant) -> SipCore {
    let mut s = settings();
    s.trunk_accounts = vec![TrunkAccount {
        name: "pstn".into(),
        remote: PROVIDER.parse().unwrap(),
        reliable: false,
        domain: "sip.provider.example".into(),
        username: "clinic".into(),
        password: "trunk-secret".into(),
        expires: 600 * S,
    }];
    SipCore::new(s, [7; 32], t0, None)
}

/// The REGISTERs sent to the provider.
fn registers(core: &mut SipCore) -> Vec<Message> {
    sent(core)
        .into_iter()
        .filter(|t| t.destination == PROVIDER.parse::<std::net::SocketAddr>().unwrap())
        .map(|t| parse_datagram(t.data).unwrap())
        .collect()
}

fn one_register(core: &mut SipCore) -> Message {
    let mut r = registers(core);
    assert_eq!(r.len(), 1, "{r:#?}");
    r.remove(0)
}

fn header(m: &Message, name: &HeaderName) -> Option<String> {
    m.headers.get(name).map(|h| h.value_str().into_owned())
}

fn answer(
    core: &mut SipCore,
    now: Instant,
    req: &Message,
    status: u16,
    extra: &[(HeaderName, &str)],
) {
    let mut w = response_to(
        req,
        StatusCode::new(status).unwrap(),
        Some(&Tag::new("prov")),
    );
    for (name, value) in extra {
        w.header(name, value);
    }
    core.handle_datagram(now, udp(PROVIDER), w.finish());
}

fn trunk_events(core: &mut SipCore) -> Vec<TrunkEvent> {
    std::iter::from_fn(|| core.poll_event())
        .filter_map(|e| match e {
            EndpointEvent::Trunk(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[test]
fn registers_answers_the_challenge_and_refreshes_at_four_fifths_of_the_grant() {
    let t0 = virtual_epoch();
    let mut core = registering(t0);
    assert_eq!(
        core.poll_timeout(),
        Some(t0),
        "the first REGISTER is due at once"
    );
    core.handle_timeout(t0);
    let first = one_register(&mut core);
    assert_eq!(
        first.request_uri().unwrap().to_string(),
        "sip:sip.provider.example"
    );
    assert_eq!(
        first.headers.from.as_ref().unwrap().uri.to_string(),
        "sip:clinic@sip.provider.example"
    );
    assert_eq!(header(&first, &HeaderName::Expires).as_deref(), Some("600"));
    assert!(
        header(&first, &HeaderName::Contact)
            .unwrap()
            .contains("sip:clinic@127.0.0.1:5060"),
        "{first:?}"
    );
    assert_eq!(header(&first, &HeaderName::Authorization), None);

    answer(
        &mut core,
        t0 + 20 * MS,
        &first,
        401,
        &[(
            HeaderName::WwwAuthenticate,
            "Digest realm=\"provider\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5",
        )],
    );
    let second = one_register(&mut core);
    assert_eq!(
        second.call_id(),
        first.call_id(),
        "one registration, one Call-ID"
    );
    assert_eq!(second.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    let creds = Credentials::parse(
        header(&second, &HeaderName::Authorization)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    // Computed here independently of the client's own code path.
    let alg = DigestAlgorithm::Md5;
    let expected = alg.response(
        &alg.ha1("clinic", "provider", "trunk-secret"),
        "abc123",
        "REGISTER",
        "sip:sip.provider.example",
        Some(("00000001", creds.param("cnonce").unwrap(), "auth")),
    );
    assert_eq!(creds.param("response"), Some(expected.as_str()));
    assert_eq!(creds.param("username"), Some("clinic"));

    // Granted 300 s on our contact: refreshed at 240 s, not before.
    let ok_at = t0 + 40 * MS;
    answer(
        &mut core,
        ok_at,
        &second,
        200,
        &[(
            HeaderName::Contact,
            "<sip:clinic@127.0.0.1:5060;transport=udp>;expires=300",
        )],
    );
    assert_eq!(
        trunk_events(&mut core),
        [TrunkEvent::Registered {
            name: "pstn".into(),
            expires: 300 * S
        }]
    );
    assert_eq!(core.trunk_status(), [("pstn".to_string(), true)]);
    core.handle_timeout(ok_at + 240 * S - MS);
    assert!(registers(&mut core).is_empty());
    core.handle_timeout(ok_at + 240 * S);
    let refresh = one_register(&mut core);
    assert_eq!(refresh.call_id(), first.call_id());
}

#[test]
fn a_refused_registration_is_tried_again_after_thirty_seconds_then_longer() {
    let t0 = virtual_epoch();
    let mut core = registering(t0);
    core.handle_timeout(t0);
    let first = one_register(&mut core);
    answer(&mut core, t0 + 10 * MS, &first, 403, &[]);
    let failed_at = t0 + 10 * MS;
    assert_eq!(
        trunk_events(&mut core),
        [TrunkEvent::Failed {
            name: "pstn".into(),
            status: Some(403),
            retry_in: 30 * S
        }]
    );
    core.handle_timeout(failed_at + 30 * S - MS);
    assert!(registers(&mut core).is_empty());
    core.handle_timeout(failed_at + 30 * S);
    let again = one_register(&mut core);
    // This time nobody answers: the transaction gives up (64 × T1 = 32 s),
    // and the wait doubles.
    let sent_at = failed_at + 30 * S;
    let _ = again;
    core.handle_timeout(sent_at + 32 * S);
    sent(&mut core);
    assert_eq!(
        trunk_events(&mut core),
        [TrunkEvent::Failed {
            name: "pstn".into(),
            status: None,
            retry_in: 60 * S
        }]
    );
    assert_eq!(core.trunk_status(), [("pstn".to_string(), false)]);
}

#[test]
fn wrong_credentials_fail_once_and_a_too_brief_interval_is_raised() {
    let t0 = virtual_epoch();
    let mut core = registering(t0);
    core.handle_timeout(t0);
    let first = one_register(&mut core);
    answer(
        &mut core,
        t0 + 10 * MS,
        &first,
        423,
        &[(HeaderName::MinExpires, "1200")],
    );
    let raised = one_register(&mut core);
    assert_eq!(
        header(&raised, &HeaderName::Expires).as_deref(),
        Some("1200")
    );
    let challenge = [(
        HeaderName::WwwAuthenticate,
        "Digest realm=\"provider\", nonce=\"n1\"",
    )];
    answer(&mut core, t0 + 20 * MS, &raised, 401, &challenge);
    let with_creds = one_register(&mut core);
    // The provider still refuses: no endless loop of answers.
    answer(&mut core, t0 + 30 * MS, &with_creds, 401, &challenge);
    assert!(registers(&mut core).is_empty());
    assert!(matches!(
        trunk_events(&mut core).as_slice(),
        [TrunkEvent::Failed {
            status: Some(401),
            ..
        }]
    ));
}

#[test]
fn only_our_contacts_grant_counts_and_absurd_grants_are_held_within_bounds() {
    let t0 = virtual_epoch();
    let mut core = registering(t0);
    core.handle_timeout(t0);
    let first = one_register(&mut core);
    // Another device's long grant is listed first; ours says 1 s.
    answer(
        &mut core,
        t0,
        &first,
        200,
        &[
            (
                HeaderName::Contact,
                "<sip:clinic@10.9.9.9:5060>;expires=3600",
            ),
            (
                HeaderName::Contact,
                "<sip:clinic@127.0.0.1:5060;transport=udp>;expires=1",
            ),
        ],
    );
    assert_eq!(
        trunk_events(&mut core),
        [TrunkEvent::Registered {
            name: "pstn".into(),
            expires: 30 * S
        }],
        "ours, raised to the 30 s floor"
    );
    core.handle_timeout(t0 + 24 * S - MS);
    assert!(registers(&mut core).is_empty());
    core.handle_timeout(t0 + 24 * S);
    let refresh = one_register(&mut core);
    // An absurd grant cannot overflow the clock: held to a day.
    answer(
        &mut core,
        t0 + 25 * S,
        &refresh,
        200,
        &[(HeaderName::Expires, "18446744073709551615")],
    );
    assert_eq!(
        trunk_events(&mut core),
        [TrunkEvent::Registered {
            name: "pstn".into(),
            expires: 86_400 * S
        }]
    );
}

#[test]
fn on_shutdown_the_registration_is_removed_and_not_renewed() {
    let t0 = virtual_epoch();
    let mut core = registering(t0);
    core.handle_timeout(t0);
    let first = one_register(&mut core);
    answer(
        &mut core,
        t0 + 10 * MS,
        &first,
        200,
        &[(HeaderName::Expires, "600")],
    );
    trunk_events(&mut core);
    assert!(core.trunks_idle());
    core.leave_trunks(t0 + S);
    let removal = one_register(&mut core);
    assert_eq!(header(&removal, &HeaderName::Expires).as_deref(), Some("0"));
    assert!(!core.trunks_idle());
    answer(&mut core, t0 + S + 10 * MS, &removal, 200, &[]);
    assert!(core.trunks_idle());
    assert_eq!(
        trunk_events(&mut core),
        vec![TrunkEvent::Unregistered {
            name: "pstn".into()
        }]
    );
    // Nothing is refreshed afterwards.
    let later = t0 + 3600 * S;
    while let Some(t) = core.poll_timeout().filter(|&t| t <= later) {
        core.handle_timeout(t);
    }
    assert!(registers(&mut core).is_empty());
}
