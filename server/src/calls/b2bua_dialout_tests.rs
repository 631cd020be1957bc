//! Calls the server places ("call back now"), in virtual time, through the
//! whole endpoint: the agent's phone first, the patient through the trunk
//! once the agent answers.

use super::*;
use crate::calls::agents::AgentState;

const TRUNK: &str = "127.0.0.1:5070";
const PATIENT: &str = "+79210000000";
const MS: Duration = Duration::from_millis(1);

fn request(staff: &str) -> DialOutRequest {
    DialOutRequest {
        staff: staff.into(),
        number: PATIENT.into(),
        purpose: "callback",
        link: Some("cb-call-00000009".into()),
    }
}

/// The patient's phone (behind the trunk) answering our INVITE.
pub(super) fn patient_reply(invite: &Message, status: StatusCode) -> Bytes {
    let mut w = response_to(invite, status, Some(&Tag::new("pt")));
    if status.is_success() {
        w.header(&HeaderName::Contact, format!("<sip:patient@{TRUNK}>"));
        return w.finish_with_body(Some("application/sdp"), b"v=0\r\no=pt 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n");
    }
    w.finish()
}

fn ended(ev: &[Event]) -> Vec<(&'static str, EndReason, Option<String>)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::DialOutEnded {
                outcome,
                reason,
                link,
                ..
            } => Some((*outcome, *reason, link.clone())),
            _ => None,
        })
        .collect()
}

fn states(ev: &[Event]) -> Vec<AgentState> {
    ev.iter()
        .filter_map(|e| match e {
            Event::AgentStateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

/// A call placed at `t0` whose agent answered at `t0 + 2 s`: the core, the
/// media log, the agent's INVITE and the trunk's.
pub(super) fn agent_answered(t0: Instant) -> (SipCore, FakeMedia, Message, Message) {
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    core.dial_out(t0, request("1001")).unwrap();
    let out = sent(&mut core);
    let to_agent = only(&out, AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&to_agent, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(&mut core);
    let to_trunk = only(&out, TRUNK, is_invite).clone();
    (core, media, to_agent, to_trunk)
}

#[test]
fn the_agent_rings_first_then_the_patient_through_the_trunk_and_they_are_joined() {
    let t0 = virtual_epoch();
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    let id = core.dial_out(t0, request("1001")).unwrap();
    assert_eq!(id, "call-00000001");
    let out = sent(&mut core);
    assert_eq!(out.len(), 1, "only the agent's phone rings: {out:#?}");
    let to_agent = only(&out, AGENT, is_invite).clone();
    assert_eq!(
        to_agent.headers.from.as_ref().unwrap().uri.to_string(),
        format!("sip:{PATIENT}@127.0.0.1")
    );
    assert_eq!(sdp_port(&to_agent), 30000, "our port A towards the agent");
    let ev = events(&mut core);
    assert!(
        ev.iter().any(|e| matches!(e, Event::DialOutStarted { number, purpose: "callback", .. } if number == PATIENT)),
        "{ev:?}"
    );
    assert_eq!(
        states(&ev).last(),
        Some(&AgentState::OnCall),
        "the agent is on a call"
    );

    // The agent answers: ringback to them, and the patient is dialled with
    // the codec their phone chose.
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&to_agent, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| m.method() == Some(&Method::Ack));
    let to_trunk = only(&out, TRUNK, is_invite).clone();
    assert_eq!(
        to_trunk.request_uri().unwrap().to_string(),
        format!("sip:{PATIENT}@{TRUNK}")
    );
    assert_eq!(sdp_port(&to_trunk), 30002, "our port B towards the patient");
    let offered = careline_shared::sdp::Sdp::parse(&to_trunk.body).unwrap();
    let names: Vec<String> = offered
        .audio()
        .unwrap()
        .codecs()
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names, ["PCMU"]);
    assert!(matches!(
        &events(&mut core)[..],
        [Event::DialOutAnswered { side: "staff", .. }]
    ));

    feed(
        &mut core,
        t0 + 9 * S,
        TRUNK,
        patient_reply(&to_trunk, StatusCode::RINGING),
    );
    feed(
        &mut core,
        t0 + 12 * S,
        TRUNK,
        patient_reply(&to_trunk, StatusCode::OK),
    );
    let out = sent(&mut core);
    only(&out, TRUNK, |m| m.method() == Some(&Method::Ack));
    assert!(matches!(
        &events(&mut core)[..],
        [Event::DialOutAnswered {
            side: "patient",
            ..
        }]
    ));
    assert_eq!(
        media.log(),
        [
            "create",
            "remote 7 A 127.0.0.1:7004",
            "codecs A PCMU",
            "mode ringback PCMU",
            "remote 7 B 127.0.0.1:5004",
            "codecs B PCMU",
            "mode relay",
        ]
    );

    // The patient hangs up: the agent gets a BYE, the call back is reached.
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKptbye\r\nFrom: {};tag=pt\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        to_trunk.headers.to.as_ref().unwrap(),
        to_trunk.headers.from.as_ref().unwrap(),
        to_trunk.call_id().unwrap().as_str(),
    );
    feed(&mut core, t0 + 70 * S, TRUNK, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, TRUNK, |m| status(m) == Some(200));
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    let ev = events(&mut core);
    assert_eq!(
        ended(&ev),
        [(
            "reached",
            EndReason::Completed,
            Some("cb-call-00000009".into())
        )]
    );
    assert_eq!(states(&ev), [AgentState::Available]);
    assert!(media.log().contains(&"destroy 7".to_string()));
    assert!(core.calls().dialouts.is_empty());
    assert_nothing_tracked(&core);
}

#[test]
fn a_busy_patient_or_a_wrong_number_ends_the_attempt_with_that_outcome() {
    for (code, outcome) in [(486, "busy"), (404, "wrong_number"), (480, "no_answer")] {
        let t0 = virtual_epoch();
        let (mut core, _, _, to_trunk) = agent_answered(t0);
        events(&mut core);
        feed(
            &mut core,
            t0 + 5 * S,
            TRUNK,
            patient_reply(&to_trunk, StatusCode::new(code).unwrap()),
        );
        let out = sent(&mut core);
        only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
        let ev = events(&mut core);
        assert_eq!(ended(&ev)[0].0, outcome, "{code}");
        assert_eq!(states(&ev), [AgentState::Available]);
        assert_nothing_tracked(&core);
    }
}

#[test]
fn the_patient_rings_sixty_seconds_then_it_is_no_answer() {
    let t0 = virtual_epoch();
    let (mut core, _, _, to_trunk) = agent_answered(t0);
    feed(
        &mut core,
        t0 + 3 * S,
        TRUNK,
        patient_reply(&to_trunk, StatusCode::RINGING),
    );
    events(&mut core);
    let answered = t0 + 2 * S;
    core.handle_timeout(answered + 60 * S - MS);
    assert!(ended(&events(&mut core)).is_empty());
    assert!(
        sent(&mut core)
            .iter()
            .all(|(_, m)| m.method() != Some(&Method::Cancel))
    );
    core.handle_timeout(answered + 60 * S);
    let out = sent(&mut core);
    only(&out, TRUNK, |m| m.method() == Some(&Method::Cancel));
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert_eq!(ended(&events(&mut core))[0].0, "no_answer");
    // The trunk confirms the CANCEL; nothing is left.
    feed(
        &mut core,
        answered + 61 * S,
        TRUNK,
        patient_reply(&to_trunk, StatusCode::REQUEST_TERMINATED),
    );
    assert!(core.calls().legs.is_empty());
}

#[test]
fn an_agent_who_does_not_answer_in_thirty_seconds_is_given_up_and_nobody_is_dialled() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    core.dial_out(t0, request("1001")).unwrap();
    let to_agent = only(&sent(&mut core), AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + S,
        AGENT,
        agent_reply(&to_agent, StatusCode::RINGING, "ag", AGENT),
    );
    events(&mut core);
    core.handle_timeout(t0 + 30 * S - MS);
    assert!(ended(&events(&mut core)).is_empty());
    core.handle_timeout(t0 + 30 * S);
    let out = sent(&mut core);
    only(&out, AGENT, |m| m.method() == Some(&Method::Cancel));
    assert!(
        out.iter()
            .all(|(d, _)| *d != TRUNK.parse::<SocketAddr>().unwrap())
    );
    assert_eq!(ended(&events(&mut core))[0].0, "staff_unavailable");
}

#[test]
fn the_agent_hanging_up_while_the_patient_rings_cancels_the_patient() {
    let t0 = virtual_epoch();
    let (mut core, _, to_agent, to_trunk) = agent_answered(t0);
    feed(
        &mut core,
        t0 + 3 * S,
        TRUNK,
        patient_reply(&to_trunk, StatusCode::RINGING),
    );
    events(&mut core);
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKagbye\r\nFrom: {};tag=ag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        to_agent.headers.to.as_ref().unwrap(),
        to_agent.headers.from.as_ref().unwrap(),
        to_agent.call_id().unwrap().as_str(),
    );
    feed(&mut core, t0 + 5 * S, AGENT, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(200));
    only(&out, TRUNK, |m| m.method() == Some(&Method::Cancel));
    assert_eq!(ended(&events(&mut core))[0].0, "cancelled");
}

#[test]
fn refused_without_a_registered_phone_or_while_the_agent_rings_for_the_queue() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    assert_eq!(
        core.dial_out(t0, request("1002")),
        Err(DialOutError::NotRegistered("1002".into()))
    );
    ringing(&mut core, t0);
    assert_eq!(
        core.dial_out(t0 + 2 * S, request("1001")),
        Err(DialOutError::Busy("1001".into()))
    );
    // The senior is free: their call goes out.
    assert!(core.dial_out(t0 + 2 * S, request("2001")).is_ok());
    assert_eq!(
        core.dial_out(t0 + 3 * S, request("2001")),
        Err(DialOutError::Busy("2001".into())),
        "one placed call at a time"
    );
}
