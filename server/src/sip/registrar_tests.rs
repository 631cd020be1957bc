//! Registrar behaviour in virtual time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use careline_shared::sip::{
    Challenge, DigestAlgorithm, HeaderName, Message, MessageWriter, Method, StatusCode, Uri,
    parse_datagram,
};

use careline_shared::testing::virtual_epoch;

use super::*;

const REALM: &str = "clinic.test";

fn settings() -> RegistrarSettings {
    RegistrarSettings {
        realm: REALM.into(),
        min_expires: Duration::from_secs(60),
        max_expires: Duration::from_secs(3600),
        default_expires: Duration::from_secs(3600),
        max_contacts: 2,
        lockout_after: 5,
        lockout_time: Duration::from_secs(300),
        nonce_ttl: Duration::from_secs(300),
        algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
    }
}

fn registrar(t0: Instant) -> Registrar {
    let mut r = Registrar::new(settings(), [42; 32], t0);
    let mut creds = HashMap::new();
    for (ext, pw) in [("1001", "secret-1001"), ("1002", "secret-1002")] {
        creds.insert(
            ext.to_string(),
            Ha1 {
                md5: DigestAlgorithm::Md5.ha1(ext, REALM, pw),
                sha256: DigestAlgorithm::Sha256.ha1(ext, REALM, pw),
            },
        );
    }
    r.set_credentials(creds);
    r
}

const SRC: &str = "192.0.2.20:5062";

fn src() -> SocketAddr {
    SRC.parse().unwrap()
}

struct Req<'a> {
    ext: &'a str,
    contacts: Vec<String>,
    expires: Option<u32>,
    cseq: u32,
    call_id: &'a str,
    auth: Option<(String, &'a str, DigestAlgorithm)>,
    auth_user: Option<&'a str>,
}

impl<'a> Req<'a> {
    fn new(ext: &'a str) -> Req<'a> {
        Req {
            ext,
            contacts: vec![format!("<sip:{ext}@192.0.2.20:5062>")],
            expires: None,
            cseq: 1,
            call_id: "reg-1",
            auth: None,
            auth_user: None,
        }
    }

    fn build(&self) -> Message {
        let uri = Uri::Sip(careline_shared::sip::SipUri::new(
            None,
            careline_shared::sip::Host::Domain(REALM.into()),
            None,
        ));
        let mut w = MessageWriter::request(&Method::Register, &uri);
        w.header_named(
            "Via",
            "SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bKtest;rport",
        )
        .header_named("From", format!("<sip:{}@{REALM}>;tag=ft", self.ext))
        .header_named("To", format!("<sip:{}@{REALM}>", self.ext))
        .header_named("Call-ID", self.call_id)
        .header_named("CSeq", format!("{} REGISTER", self.cseq))
        .header_named("Max-Forwards", 70);
        for c in &self.contacts {
            w.header_named("Contact", c);
        }
        if let Some(e) = self.expires {
            w.header_named("Expires", e);
        }
        if let Some((nonce, password, alg)) = &self.auth {
            let user = self.auth_user.unwrap_or(self.ext);
            let ha1 = alg.ha1(user, REALM, password);
            let digest_uri = format!("sip:{REALM}");
            let resp = alg.response(
                &ha1,
                nonce,
                "REGISTER",
                &digest_uri,
                Some(("00000001", "abcd", "auth")),
            );
            w.header_named(
                "Authorization",
                format!(
                    "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{digest_uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"abcd\"",
                    alg.name()
                ),
            );
        }
        parse_datagram(w.finish()).unwrap()
    }
}

fn send(r: &mut Registrar, now: Instant, req: &Req<'_>) -> Message {
    let out = r.handle_register(now, &req.build(), src(), "udp");
    let msg = parse_datagram(out.response.clone()).unwrap();
    assert_eq!(msg.status(), Some(out.status));
    msg
}

fn challenges(msg: &Message) -> Vec<Challenge> {
    msg.headers
        .get_all(&HeaderName::WwwAuthenticate)
        .map(|h| Challenge::parse(&h.value).unwrap())
        .collect()
}

fn nonce_from(msg: &Message) -> String {
    challenges(msg)[0].nonce.clone()
}

/// REGISTER → 401 → REGISTER with credentials, as a phone does.
fn register<'a>(
    r: &mut Registrar,
    now: Instant,
    mut req: Req<'a>,
    password: &'a str,
    alg: DigestAlgorithm,
) -> Message {
    let first = send(r, now, &req);
    assert_eq!(first.status(), Some(StatusCode::UNAUTHORIZED));
    req.auth = Some((nonce_from(&first), password, alg));
    req.cseq += 1;
    send(r, now, &req)
}

/// Everything but tags and nonces, to compare two answers.
fn shape(msg: &Message) -> (Option<StatusCode>, Vec<String>, Vec<(String, bool, bool)>) {
    let names = msg.headers.all.iter().map(|h| h.name.to_string()).collect();
    let ch = challenges(msg)
        .into_iter()
        .map(|c| (c.algorithm.name().to_string(), c.qop_auth, c.stale))
        .collect();
    (msg.status(), names, ch)
}

#[test]
fn request_without_credentials_is_challenged_once_per_algorithm() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let resp = send(&mut r, t0, &Req::new("1001"));
    assert_eq!(resp.status(), Some(StatusCode::UNAUTHORIZED));
    let ch = challenges(&resp);
    assert_eq!(ch.len(), 2);
    assert_eq!(ch[0].algorithm, DigestAlgorithm::Sha256);
    assert_eq!(ch[1].algorithm, DigestAlgorithm::Md5);
    assert!(
        ch.iter()
            .all(|c| c.qop_auth && !c.stale && c.realm == REALM)
    );
    assert!(resp.to_tag().is_some());
}

#[test]
fn right_password_binds_the_contact_with_either_algorithm() {
    let t0 = virtual_epoch();
    for alg in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
        let mut r = registrar(t0);
        let ok = register(&mut r, t0, Req::new("1001"), "secret-1001", alg);
        assert_eq!(ok.status(), Some(StatusCode::OK), "{alg:?}");
        let contact = ok
            .headers
            .get(&HeaderName::Contact)
            .unwrap()
            .value_str()
            .to_string();
        assert_eq!(contact, "<sip:1001@192.0.2.20:5062>;expires=3600");
        assert_eq!(r.bindings("1001").len(), 1);
        assert_eq!(r.bindings("1001")[0].source, src());
        assert!(matches!(
            r.poll_event(),
            Some(RegistrarEvent::Bound {
                refreshed: false,
                ..
            })
        ));
    }
}

#[test]
fn unknown_extension_is_answered_exactly_like_a_wrong_password() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let wrong = register(&mut r, t0, Req::new("1001"), "not-it", DigestAlgorithm::Md5);
    let mut r = registrar(t0);
    let unknown = register(
        &mut r,
        t0,
        Req::new("1999"),
        "anything",
        DigestAlgorithm::Md5,
    );
    assert_eq!(wrong.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(shape(&wrong), shape(&unknown));
    assert_eq!(wrong.headers.all.len(), unknown.headers.all.len());
}

#[test]
fn fifth_failure_in_a_row_locks_the_source_out_until_lockout_time() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    for i in 0..5 {
        let resp = register(&mut r, t0, Req::new("1001"), "guess", DigestAlgorithm::Md5);
        assert_eq!(resp.status(), Some(StatusCode::UNAUTHORIZED), "attempt {i}");
    }
    let events: Vec<_> = std::iter::from_fn(|| r.poll_event()).collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, RegistrarEvent::AuthFailed { .. }))
            .count(),
        5
    );
    assert!(events.contains(&RegistrarEvent::LockedOut {
        source: src().ip(),
        until: t0 + Duration::from_secs(300)
    }));
    // Even the right password is refused while locked out.
    let locked = send(&mut r, t0 + Duration::from_secs(299), &Req::new("1001"));
    assert_eq!(locked.status(), Some(StatusCode::FORBIDDEN));
    let after = register(
        &mut r,
        t0 + Duration::from_secs(300),
        Req::new("1001"),
        "secret-1001",
        DigestAlgorithm::Md5,
    );
    assert_eq!(after.status(), Some(StatusCode::OK));
}

#[test]
fn unknown_extensions_count_towards_the_lockout() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    for ext in ["2001", "2002", "2003", "2004", "2005"] {
        register(&mut r, t0, Req::new(ext), "x", DigestAlgorithm::Md5);
    }
    assert_eq!(
        send(&mut r, t0, &Req::new("1001")).status(),
        Some(StatusCode::FORBIDDEN)
    );
}

#[test]
fn old_nonce_with_right_password_gets_stale_true() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let first = send(&mut r, t0, &Req::new("1001"));
    let mut req = Req::new("1001");
    req.auth = Some((nonce_from(&first), "secret-1001", DigestAlgorithm::Md5));
    req.cseq = 2;
    let at_ttl = send(&mut r, t0 + Duration::from_secs(300), &req);
    assert_eq!(at_ttl.status(), Some(StatusCode::OK));
    req.cseq = 3;
    let late = send(&mut r, t0 + Duration::from_millis(300_001), &req);
    assert_eq!(late.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(challenges(&late).iter().all(|c| c.stale));
    // A stale nonce is not a failure: no lock-out however often it happens.
    assert!(
        !std::iter::from_fn(|| r.poll_event())
            .any(|e| matches!(e, RegistrarEvent::AuthFailed { .. }))
    );
}

#[test]
fn forged_nonce_is_challenged_again_without_stale() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.auth = Some((
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "secret-1001",
        DigestAlgorithm::Md5,
    ));
    let resp = send(&mut r, t0, &req);
    assert_eq!(resp.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(challenges(&resp).iter().all(|c| !c.stale));
}

#[test]
fn binding_lapses_exactly_at_expiry() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.expires = Some(120);
    assert_eq!(
        register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5).status(),
        Some(StatusCode::OK)
    );
    while r.poll_event().is_some() {}
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    r.handle_timeout(t0 + Duration::from_millis(119_999));
    assert_eq!(r.bindings("1001").len(), 1);
    r.handle_timeout(t0 + Duration::from_secs(120));
    assert!(r.bindings("1001").is_empty());
    assert_eq!(
        r.poll_event(),
        Some(RegistrarEvent::Unbound {
            extension: "1001".into(),
            uri: "sip:1001@192.0.2.20:5062".into(),
            reason: UnbindReason::Expired
        })
    );
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn refresh_moves_the_expiry_and_the_old_deadline_does_nothing() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.expires = Some(120);
    register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5);
    let mut again = Req::new("1001");
    again.expires = Some(120);
    again.cseq = 10;
    register(
        &mut r,
        t0 + Duration::from_secs(60),
        again,
        "secret-1001",
        DigestAlgorithm::Md5,
    );
    r.handle_timeout(t0 + Duration::from_secs(120));
    assert_eq!(r.bindings("1001").len(), 1);
    r.handle_timeout(t0 + Duration::from_secs(180));
    assert!(r.bindings("1001").is_empty());
}

#[test]
fn too_short_expiry_gets_423_with_min_expires() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.expires = Some(30);
    let resp = register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5);
    assert_eq!(resp.status(), Some(StatusCode::INTERVAL_TOO_BRIEF));
    assert_eq!(
        resp.headers
            .get(&HeaderName::MinExpires)
            .unwrap()
            .value_str(),
        "60"
    );
    assert!(r.bindings("1001").is_empty());
}

#[test]
fn long_expiry_is_shortened_to_max() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.contacts = vec!["<sip:1001@192.0.2.20:5062>;expires=999999".into()];
    let resp = register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5);
    assert!(
        resp.headers
            .get(&HeaderName::Contact)
            .unwrap()
            .value_str()
            .ends_with(";expires=3600")
    );
}

#[test]
fn query_without_contact_lists_bindings_and_star_removes_them() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.contacts = vec![
        "<sip:1001@192.0.2.20:5062>".into(),
        "<sip:1001@192.0.2.21:5062>".into(),
    ];
    register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5);
    let mut query = Req::new("1001");
    query.contacts.clear();
    query.cseq = 5;
    let listed = register(
        &mut r,
        t0 + Duration::from_secs(10),
        query,
        "secret-1001",
        DigestAlgorithm::Md5,
    );
    assert_eq!(listed.headers.contact.len(), 2);
    assert!(
        listed
            .headers
            .get(&HeaderName::Contact)
            .unwrap()
            .value_str()
            .ends_with(";expires=3590")
    );
    let mut star = Req::new("1001");
    star.contacts = vec!["*".into()];
    star.expires = Some(0);
    star.cseq = 9;
    let gone = register(&mut r, t0, star, "secret-1001", DigestAlgorithm::Md5);
    assert_eq!(gone.status(), Some(StatusCode::OK));
    assert!(gone.headers.contact.is_empty());
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn more_contacts_than_allowed_push_out_the_oldest() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    for (i, host) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .enumerate()
    {
        let mut req = Req::new("1001");
        req.contacts = vec![format!("<sip:1001@{host}>")];
        req.call_id = ["a", "b", "c"][i];
        register(
            &mut r,
            t0 + Duration::from_secs(i as u64),
            req,
            "secret-1001",
            DigestAlgorithm::Md5,
        );
    }
    let uris: Vec<&str> = r.bindings("1001").iter().map(|b| b.uri.as_str()).collect();
    assert_eq!(uris, vec!["sip:1001@192.0.2.2", "sip:1001@192.0.2.3"]);
}

#[test]
fn credentials_of_one_extension_cannot_register_another() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1002");
    req.auth_user = Some("1001");
    let resp = register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5);
    assert_eq!(resp.status(), Some(StatusCode::FORBIDDEN));
    assert!(r.bindings("1002").is_empty());
}

#[test]
fn older_cseq_of_same_call_id_does_not_roll_back() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    let mut req = Req::new("1001");
    req.cseq = 10;
    register(&mut r, t0, req, "secret-1001", DigestAlgorithm::Md5);
    let mut old = Req::new("1001");
    old.cseq = 3;
    old.expires = Some(0);
    register(&mut r, t0, old, "secret-1001", DigestAlgorithm::Md5);
    assert_eq!(r.bindings("1001").len(), 1);
}

#[test]
fn digest_with_unoffered_or_unknown_algorithm_is_challenged_not_counted() {
    let t0 = virtual_epoch();
    let mut s = settings();
    s.algorithms = vec![DigestAlgorithm::Sha256];
    let mut r = Registrar::new(s, [1; 32], t0);
    for _ in 0..6 {
        let resp = register(&mut r, t0, Req::new("1001"), "x", DigestAlgorithm::Md5);
        assert_eq!(resp.status(), Some(StatusCode::UNAUTHORIZED));
    }
    assert!(
        !std::iter::from_fn(|| r.poll_event())
            .any(|e| matches!(e, RegistrarEvent::LockedOut { .. }))
    );
}

#[test]
fn refreshes_keep_one_deadline_per_binding() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    for i in 0..50u32 {
        let mut req = Req::new("1001");
        req.cseq = 2 * i + 1;
        register(
            &mut r,
            t0 + Duration::from_secs(u64::from(i)),
            req,
            "secret-1001",
            DigestAlgorithm::Md5,
        );
    }
    assert_eq!(r.binding_count(), 1);
    // The only deadline left is the last refresh's.
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(49 + 3600)));
}

#[test]
fn a_closed_websocket_takes_its_bindings_and_only_those() {
    let t0 = virtual_epoch();
    let mut r = registrar(t0);
    // 1001 registers over a WebSocket, 1002 over UDP from the same address.
    let over = |r: &mut Registrar, req: &Req<'_>, transport| {
        let out = r.handle_register(t0, &req.build(), src(), transport);
        parse_datagram(out.response).unwrap()
    };
    for (ext, password, transport) in [
        ("1001", "secret-1001", "ws"),
        ("1002", "secret-1002", "udp"),
    ] {
        let mut req = Req::new(ext);
        let first = over(&mut r, &req, transport);
        req.auth = Some((nonce_from(&first), password, DigestAlgorithm::Md5));
        req.cseq += 1;
        assert_eq!(over(&mut r, &req, transport).status(), Some(StatusCode::OK));
    }
    while r.poll_event().is_some() {}

    r.remove_flow(src());
    assert!(r.bindings("1001").is_empty());
    assert_eq!(
        r.bindings("1002").len(),
        1,
        "a UDP phone can still be reached"
    );
    assert!(matches!(
        r.poll_event(),
        Some(RegistrarEvent::Unbound { extension, reason: UnbindReason::FlowClosed, .. }) if extension == "1001"
    ));
    assert_eq!(r.poll_event(), None);
    // The removed binding does not lapse a second time later.
    r.handle_timeout(t0 + Duration::from_secs(3601));
    let lapsed: Vec<_> = std::iter::from_fn(|| r.poll_event()).collect();
    assert_eq!(lapsed.len(), 1, "{lapsed:?}");
    assert!(
        matches!(&lapsed[0], RegistrarEvent::Unbound { extension, reason: UnbindReason::Expired, .. } if extension == "1002")
    );
}
