//! Trunks in virtual time, through the whole endpoint: a DID from the
//! trunk lands in its queue, the same number from elsewhere does not, and
//! a challenge from the trunk on a call we place is answered once.

use careline_shared::sip::Credentials;

use super::dialout_tests::{agent_answered, patient_reply};
use super::*;

const FROM_TRUNK: &str = "127.0.0.2:5070";
const TRUNK: &str = "127.0.0.1:5070";

/// An INVITE for `ruri_user` (To: `to_user`) as a provider sends it.
fn trunk_invite(ruri_user: &str, to_user: &str, from: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:{ruri_user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKtr1\r\nFrom: <sip:+79210000000@provider>;tag=tr\r\nTo: <sip:{to_user}@127.0.0.1>\r\nCall-ID: trunk-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@{from}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    ))
}

#[test]
fn a_did_from_the_trunk_lands_in_its_queue_in_any_spelling() {
    let t0 = virtual_epoch();
    for (ruri, to) in [
        ("+78125550100", "+78125550100"),
        ("78125550100", "78125550100"),
        // Some providers put the DID in To and their own user in the URI.
        ("careline", "+7-812-555-01-00"),
    ] {
        let mut core = core(t0);
        feed(
            &mut core,
            t0,
            FROM_TRUNK,
            trunk_invite(ruri, to, FROM_TRUNK),
        );
        let out = sent(&mut core);
        only(&out, AGENT, is_invite);
        assert!(events(&mut core).iter().any(|e| matches!(e,
            Event::CallArrived { queue, .. } if queue == "reception")));
    }
}

#[test]
fn a_did_from_anywhere_but_the_trunk_is_no_number_of_ours() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    feed(
        &mut core,
        t0,
        CALLER,
        trunk_invite("+78125550100", "+78125550100", CALLER),
    );
    let out = sent(&mut core);
    only(&out, CALLER, |m| status(m) == Some(404));
    assert!(out.iter().all(|(_, m)| !is_invite(m)), "nobody is rung");
}

#[test]
fn a_trunk_that_challenges_our_invite_gets_it_again_with_credentials_once() {
    let t0 = virtual_epoch();
    let (mut core, _media, _to_agent, to_trunk) = agent_answered(t0);
    let mut challenge = response_to(
        &to_trunk,
        StatusCode::new(407).unwrap(),
        Some(&Tag::new("px")),
    );
    challenge.header(
        &HeaderName::ProxyAuthenticate,
        "Digest realm=\"provider\", nonce=\"n-407\", qop=\"auth\"",
    );
    feed(&mut core, t0 + 3 * S, TRUNK, challenge.finish());
    let out = sent(&mut core);
    only(&out, TRUNK, |m| m.method() == Some(&Method::Ack));
    let again = only(&out, TRUNK, is_invite).clone();
    assert_eq!(again.call_id(), to_trunk.call_id());
    assert_eq!(again.from_tag(), to_trunk.from_tag());
    assert_eq!(again.cseq().unwrap().seq, 2);
    assert_eq!(again.body, to_trunk.body, "the same offer");
    let creds = Credentials::parse(
        again
            .headers
            .get(&HeaderName::ProxyAuthorization)
            .unwrap()
            .value_str()
            .as_bytes(),
    )
    .unwrap();
    let alg = DigestAlgorithm::Md5;
    let uri = to_trunk.request_uri().unwrap().to_string();
    let expected = alg.response(
        &alg.ha1("clinic", "provider", "trunk-secret"),
        "n-407",
        "INVITE",
        &uri,
        Some(("00000001", creds.param("cnonce").unwrap(), "auth")),
    );
    assert_eq!(creds.param("response"), Some(expected.as_str()));
    let ev = events(&mut core);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::DialOutEnded { .. })),
        "the attempt goes on: {ev:?}"
    );

    // The patient answers the authenticated INVITE: the call goes on.
    feed(
        &mut core,
        t0 + 4 * S,
        TRUNK,
        patient_reply(&again, StatusCode::OK),
    );
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::DialOutAnswered {
            side: "patient",
            ..
        }
    )));
}

#[test]
fn credentials_the_trunk_refuses_end_the_attempt_as_failed_not_as_no_answer() {
    let t0 = virtual_epoch();
    let (mut core, _media, _to_agent, to_trunk) = agent_answered(t0);
    let challenge = |req: &Message| {
        let mut w = response_to(req, StatusCode::new(401).unwrap(), Some(&Tag::new("px")));
        w.header(
            &HeaderName::WwwAuthenticate,
            "Digest realm=\"provider\", nonce=\"n\"",
        );
        w.finish()
    };
    feed(&mut core, t0 + 3 * S, TRUNK, challenge(&to_trunk));
    let again = only(&sent(&mut core), TRUNK, is_invite).clone();
    events(&mut core);
    feed(&mut core, t0 + 4 * S, TRUNK, challenge(&again));
    let out = sent(&mut core);
    assert!(out.iter().all(|(_, m)| !is_invite(m)), "not a third time");
    let outcome = events(&mut core).iter().find_map(|e| match e {
        Event::DialOutEnded { outcome, .. } => Some(*outcome),
        _ => None,
    });
    assert_eq!(outcome, Some("failed"));
}

#[test]
fn a_trunk_that_registers_here_is_known_by_its_registered_contact() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    let gateway: SocketAddr = "127.0.0.3:5080".parse().unwrap();
    // Not yet registered: its DID is nobody's number.
    feed(
        &mut core,
        t0,
        "127.0.0.3:5080",
        trunk_invite("+78125550100", "+78125550100", "127.0.0.3:5080"),
    );
    only(&sent(&mut core), "127.0.0.3:5080", |m| {
        status(m) == Some(404)
    });
    core.restore_binding(
        t0,
        "gateway".into(),
        Binding {
            contact: NameAddr::new(Uri::Sip(SipUri::new(
                Some("gateway"),
                Host::from(gateway.ip()),
                Some(gateway.port()),
            ))),
            uri: format!("sip:gateway@{gateway}"),
            expires_at: t0 + 3600 * S,
            call_id: CallId::new("gw-reg"),
            cseq: 1,
            source: gateway,
            transport: "udp",
            user_agent: None,
        },
    );
    let invite =
        String::from_utf8(trunk_invite("+78125550100", "+78125550100", "127.0.0.3:5080").to_vec())
            .unwrap()
            .replace("trunk-call-1", "trunk-call-2")
            .replace("z9hG4bKtr1", "z9hG4bKtr2");
    feed(&mut core, t0 + S, "127.0.0.3:5080", Bytes::from(invite));
    only(&sent(&mut core), AGENT, is_invite);
}
