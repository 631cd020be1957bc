//! Attended transfers through the whole endpoint, in virtual time: the
//! agent holds the caller, calls the senior from their phone, speaks to
//! them, then completes with REFER/Replaces, hangs the consultation up, or
//! lets it go unanswered.

use super::hold::{agent_sdp, from_agent};
use super::transfer_tests::{connected, is_notify, refer, sipfrag};
use super::*;
use crate::calls::agents::AgentState;

const MS: Duration = Duration::from_millis(1);
const CONSULT_SDP: &str = "v=0\r\no=agent 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7006 RTP/AVP 0 8\r\n";

/// The agent's phone calling `to` (its consultation), from its own address.
fn consult_invite(to: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:{to}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKcx1\r\nFrom: <sip:1001@127.0.0.1>;tag=cx\r\nTo: <sip:{to}@127.0.0.1>\r\nCall-ID: consult-1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@{AGENT}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CONSULT_SDP}",
        CONSULT_SDP.len()
    ))
}

/// A request from the agent in its consulting dialog (our tag `ours`).
fn in_consult(method: &str, cseq: u32, ours: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKcx{cseq}\r\nFrom: <sip:1001@127.0.0.1>;tag=cx\r\nTo: <sip:2001@127.0.0.1>;tag={ours}\r\nCall-ID: consult-1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn is(method: Method) -> impl Fn(&Message) -> bool {
    move |m: &Message| m.is_request() && m.method() == Some(&method)
}

fn call_id(m: &Message) -> String {
    m.call_id().unwrap().as_str().to_string()
}

/// A connected call (1001) put on hold from the phone at `t`, and the
/// consultation to 2001 ringing: the core, its media, the agent's INVITE
/// and the INVITE the senior's phone got.
fn consulting(t0: Instant, t: Instant) -> (SipCore, FakeMedia, Message, Message) {
    let (mut core, media, invite) = connected(t0);
    feed(
        &mut core,
        t,
        AGENT,
        from_agent(&invite, "INVITE", 2, "", &agent_sdp("sendonly")),
    );
    only(&sent(&mut core), AGENT, |m| status(m) == Some(200));
    assert_eq!(media.log().last().map(String::as_str), Some("mode hold"));
    events(&mut core);

    feed(&mut core, t + S, AGENT, consult_invite("2001"));
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(180));
    let to_senior = only(&out, SENIOR, is_invite).clone();
    (core, media, invite, to_senior)
}

/// The senior's phone answers the consultation at `at`: our tag in the
/// agent's consulting dialog (what was sent is passed over).
fn senior_answers(core: &mut SipCore, at: Instant, to_senior: &Message) -> String {
    feed(
        core,
        at,
        SENIOR,
        agent_reply(to_senior, StatusCode::OK, "sr", SENIOR),
    );
    only(&sent(core), AGENT, |m| status(m) == Some(200))
        .to_tag()
        .unwrap()
        .as_str()
        .to_string()
}

/// The Call-IDs of the BYEs sent to the agent's phone.
fn byes_to_agent(out: &[(SocketAddr, Message)]) -> Vec<String> {
    out.iter()
        .filter(|(d, m)| *d == AGENT.parse::<SocketAddr>().unwrap() && is(Method::Bye)(m))
        .map(|(_, m)| call_id(m))
        .collect()
}

#[test]
fn replaces_hands_the_held_caller_to_the_colleague_the_agent_spoke_to() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, media, invite, to_senior) = consulting(t0, t);
    // The senior is told which call it is (their screen gets the card) and
    // that 1001 calls; they are offered our second session, not the caller's.
    assert_eq!(
        to_senior
            .headers
            .all
            .iter()
            .find(|h| h.name.as_str() == CALL_HEADER)
            .map(|h| h.value_str().to_string()),
        Some("call-00000001".into())
    );
    assert_eq!(
        to_senior.headers.from.as_ref().unwrap().uri.to_string(),
        "sip:1001@127.0.0.1"
    );
    assert_eq!(sdp_port(&to_senior), 30006, "our port B of session 8");
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(e,
        Event::TransferStarted { attended: true, to, .. } if to == "2001")));
    assert!(ev.iter().any(|e| matches!(e,
        Event::AgentOffered { agent, transfer: Some((from, _)), .. } if agent == "2001" && from == "1001")));

    // The senior answers: the agent's consulting call is answered with our
    // port A of session 8, and the two speak; the caller still hears music.
    feed(
        &mut core,
        t + 4 * S,
        SENIOR,
        agent_reply(&to_senior, StatusCode::OK, "sr", SENIOR),
    );
    let out = sent(&mut core);
    only(&out, SENIOR, is(Method::Ack));
    let answered = only(&out, AGENT, |m| status(m) == Some(200)).clone();
    assert_eq!(call_id(&answered), "consult-1");
    assert_eq!(sdp_port(&answered), 30004);
    let ours = answered.to_tag().unwrap().as_str().to_string();
    let log = media.log();
    assert!(
        log.contains(&"remote 8 A 127.0.0.1:7006".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"remote 8 B 127.0.0.1:7004".to_string()),
        "{log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("mode 8 relay"));
    let held = log.iter().rposition(|l| l == "mode hold").unwrap();
    assert!(
        !log[held..].iter().any(|l| l == "mode relay"),
        "the caller stays on hold"
    );
    assert!(events(&mut core).iter().any(|e| matches!(e,
        Event::ConsultAnswered { from, to, .. } if from == "1001" && to == "2001")));

    // The agent's phone transfers: REFER in the held call's dialog, with
    // Replaces naming the consulting call.
    let refer_to =
        format!("<sip:2001@127.0.0.1?Replaces=consult-1%3Bto-tag%3D{ours}%3Bfrom-tag%3Dcx>");
    feed(&mut core, t + 20 * S, AGENT, refer(&invite, 3, &refer_to));
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(202));
    let notifies: Vec<String> = out
        .iter()
        .filter(|(_, m)| is_notify(m))
        .map(|(_, m)| sipfrag(m))
        .collect();
    assert_eq!(notifies, ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]);
    let byes = byes_to_agent(&out);
    assert_eq!(
        byes.len(),
        2,
        "both of the agent's calls are hung up: {byes:?}"
    );
    assert!(byes.contains(&"consult-1".to_string()));
    assert!(byes.contains(&call_id(&invite)));
    // The senior's phone is moved onto the caller's media: a re-INVITE in
    // its dialog offering session 7's port B, in the caller's codec.
    let reinvite = only(&out, SENIOR, is_invite).clone();
    assert_eq!(call_id(&reinvite), call_id(&to_senior));
    assert_eq!(reinvite.cseq().unwrap().seq, 2);
    assert_eq!(sdp_port(&reinvite), 30002);
    assert!(
        out.iter()
            .all(|(d, _)| *d != CALLER.parse::<SocketAddr>().unwrap()),
        "nothing for the caller: {out:#?}"
    );
    assert!(media.log().contains(&"destroy 8".to_string()));
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(e,
        Event::Transferred { from, to, attended: true, .. } if from == "1001" && to == "2001")));
    assert!(ev.iter().any(|e| matches!(e, Event::HoldEnded { .. })));

    // The senior's phone accepts: ACK, and the caller's session relays to it.
    let mut ok = response_to(&reinvite, StatusCode::OK, Some(&Tag::new("sr")));
    ok.header(&HeaderName::Contact, format!("<sip:2001@{SENIOR}>"));
    let ok = ok.finish_with_body(
            Some("application/sdp"),
            b"v=0\r\no=senior 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7008 RTP/AVP 0\r\n",
        );
    feed(&mut core, t + 21 * S, SENIOR, ok);
    let out = sent(&mut core);
    let ack = only(&out, SENIOR, is(Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, 2);
    let log = media.log();
    assert!(
        log.contains(&"remote 7 B 127.0.0.1:7008".to_string()),
        "{log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("mode relay"));

    // The caller hangs up later: the senior's phone gets the BYE.
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcallerbye\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>;tag={}\r\nCall-ID: patient-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        core.calls().calls[&1].caller.dialog.local_tag
    );
    feed(&mut core, t + 90 * S, CALLER, Bytes::from(bye));
    only(&sent(&mut core), SENIOR, is(Method::Bye));
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Completed,
            ..
        }
    )));
}

#[test]
fn an_unanswered_consultation_is_refused_and_the_caller_stays_with_the_agent() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, media, invite, to_senior) = consulting(t0, t);
    feed(
        &mut core,
        t + 2 * S,
        SENIOR,
        agent_reply(&to_senior, StatusCode::RINGING, "sr", SENIOR),
    );
    sent(&mut core);
    events(&mut core);
    // Replaces before the senior answered cannot be done.
    let early = refer(
        &invite,
        3,
        "<sip:2001@127.0.0.1?Replaces=consult-1%3Bfrom-tag%3Dcx>",
    );
    feed(&mut core, t + 3 * S, AGENT, early);
    only(&sent(&mut core), AGENT, |m| status(m) == Some(491));

    // The senior's ring time is 10 s (from t + 1 s).
    core.handle_timeout(t + 11 * S - Duration::from_millis(1));
    assert!(sent(&mut core).is_empty());
    core.handle_timeout(t + 11 * S);
    let out = sent(&mut core);
    only(&out, SENIOR, is(Method::Cancel));
    let refused = only(&out, AGENT, |m| status(m) == Some(480));
    assert_eq!(call_id(refused), "consult-1");
    assert!(
        out.iter()
            .all(|(d, _)| *d != CALLER.parse::<SocketAddr>().unwrap()),
        "the caller is not touched"
    );
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::TransferFailed {
            reason: "no_answer",
            ..
        }
    )));
    assert!(media.log().contains(&"destroy 8".to_string()));
    assert_eq!(
        core.calls().acd().agent_state("1001"),
        Some(AgentState::OnCall)
    );

    // The agent takes the caller back off hold: two-way again.
    feed(
        &mut core,
        t + 15 * S,
        AGENT,
        from_agent(&invite, "INVITE", 4, "", &agent_sdp("sendrecv")),
    );
    only(&sent(&mut core), AGENT, |m| status(m) == Some(200));
    assert_eq!(media.log().last().map(String::as_str), Some("mode relay"));
}

#[test]
fn hanging_up_the_consultation_frees_the_colleague_and_keeps_the_caller() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, media, _invite, to_senior) = consulting(t0, t);
    let ours = senior_answers(&mut core, t + 4 * S, &to_senior);
    events(&mut core);
    feed(&mut core, t + 30 * S, AGENT, in_consult("BYE", 2, &ours));
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(200));
    only(&out, SENIOR, is(Method::Bye));
    assert!(
        !out.iter()
            .any(|(d, m)| *d == AGENT.parse::<SocketAddr>().unwrap() && m.is_request()),
        "the agent's held call goes on"
    );
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::TransferFailed {
            reason: "cancelled",
            ..
        }
    )));
    assert!(!ev.iter().any(|e| matches!(e, Event::Ended { .. })));
    assert_eq!(
        core.calls().acd().agent_state("2001"),
        Some(AgentState::Available)
    );
    assert!(media.log().contains(&"destroy 8".to_string()));
}

#[test]
fn a_consulted_colleague_who_hangs_up_ends_only_the_consultation() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, _media, _invite, to_senior) = consulting(t0, t);
    senior_answers(&mut core, t + 4 * S, &to_senior);
    events(&mut core);
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {SENIOR};branch=z9hG4bKsrbye\r\nFrom: <sip:2001@127.0.0.1>;tag=sr\r\nTo: {};tag={}\r\nCall-ID: {}\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
        to_senior.headers.from.as_ref().unwrap().uri,
        to_senior.from_tag().unwrap(),
        call_id(&to_senior)
    );
    feed(&mut core, t + 10 * S, SENIOR, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, SENIOR, |m| status(m) == Some(200));
    let bye = only(&out, AGENT, is(Method::Bye));
    assert_eq!(call_id(bye), "consult-1");
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::TransferFailed {
            reason: "target_hung_up",
            ..
        }
    )));
    assert_eq!(
        core.calls().acd().agent_state("1001"),
        Some(AgentState::OnCall)
    );
}

#[test]
fn replaces_that_names_no_consultation_is_refused() {
    let t0 = virtual_epoch();
    let (mut core, _media, invite) = connected(t0);
    feed(
        &mut core,
        t0 + 10 * S,
        AGENT,
        refer(
            &invite,
            2,
            "<sip:2001@127.0.0.1?Replaces=elsewhere%3Bto-tag%3Da%3Bfrom-tag%3Db>",
        ),
    );
    let out = sent(&mut core);
    let refused = only(&out, AGENT, |m| status(m) == Some(481));
    assert!(
        refused
            .headers
            .get(&HeaderName::Warning)
            .is_some_and(|w| w.value_str().contains("consult")),
        "{refused:?}"
    );
    // An INVITE from the agent while the caller is not on hold is not a
    // consultation: nobody else's phone rings.
    feed(&mut core, t0 + 11 * S, AGENT, consult_invite("2001"));
    let out = sent(&mut core);
    assert!(
        out.iter()
            .all(|(d, _)| *d != SENIOR.parse::<SocketAddr>().unwrap())
    );
    only(&out, AGENT, |m| status(m) == Some(404));
}

#[test]
fn the_agents_screen_completes_or_calls_off_the_consultation() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, _media, invite, to_senior) = consulting(t0, t);
    events(&mut core);
    assert_eq!(
        core.consult_by_request(t + 2 * S, "call-00000001", "1001", true),
        Err(TransferError::NotAnswered),
        "not before the colleague answers"
    );
    assert_eq!(
        core.consult_by_request(t + 2 * S, "call-00000001", "2001", true),
        Err(TransferError::NoConsultation),
        "only the agent who consults"
    );
    senior_answers(&mut core, t + 4 * S, &to_senior);
    core.consult_by_request(t + 9 * S, "call-00000001", "1001", true)
        .unwrap();
    let out = sent(&mut core);
    let byes = byes_to_agent(&out);
    assert_eq!(byes.len(), 2, "both of the agent's calls end: {byes:?}");
    assert!(byes.contains(&call_id(&invite)));
    assert!(
        !out.iter().any(|(_, m)| is_notify(m)),
        "no REFER, no NOTIFY"
    );
    only(&out, SENIOR, is_invite);
    assert!(
        events(&mut core)
            .iter()
            .any(|e| matches!(e, Event::Transferred { attended: true, .. }))
    );
    assert_eq!(
        core.consult_by_request(t + 10 * S, "call-00000001", "1001", false),
        Err(TransferError::NoConsultation),
        "nothing left to call off"
    );
}

#[test]
fn calling_the_consultation_off_from_the_screen_rings_down_the_colleague() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, _media, _invite, to_senior) = consulting(t0, t);
    feed(
        &mut core,
        t + 2 * S,
        SENIOR,
        agent_reply(&to_senior, StatusCode::RINGING, "sr", SENIOR),
    );
    sent(&mut core);
    events(&mut core);
    core.consult_by_request(t + 3 * S, "call-00000001", "1001", false)
        .unwrap();
    let out = sent(&mut core);
    only(&out, SENIOR, is(Method::Cancel));
    let refused = only(&out, AGENT, |m| status(m).is_some_and(|s| s >= 400));
    assert_eq!(status(refused), Some(487));
    assert_eq!(call_id(refused), "consult-1");
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::TransferFailed {
            reason: "cancelled",
            ..
        }
    )));
}

#[test]
fn the_colleague_consulted_sees_the_agents_note() {
    let t0 = virtual_epoch();
    let (mut core, _media, invite) = connected(t0);
    // Notes from the agent's screen; one from someone not on the call.
    core.remember_note("call-00000001", "2001", "not theirs");
    core.remember_note("call-00000001", "1001", "asks about the test results");
    let t = t0 + 30 * S;
    feed(
        &mut core,
        t,
        AGENT,
        from_agent(&invite, "INVITE", 2, "", &agent_sdp("sendonly")),
    );
    feed(&mut core, t + S, AGENT, consult_invite("senior"));
    only(&sent(&mut core), SENIOR, is_invite);
    let ev = events(&mut core);
    assert!(
        ev.iter().any(|e| matches!(e,
            Event::AgentOffered { agent, transfer: Some((from, Some(note))), .. }
                if agent == "2001" && from == "1001" && note == "asks about the test results")),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(e,
        Event::TransferStarted { attended: true, to, .. } if to == "senior")));
}

/// A consultation answered by the senior and completed by REFER at
/// `t + 20 s`: the core and the re-INVITE the senior's phone got.
fn handed_over(t0: Instant, t: Instant) -> (SipCore, Message) {
    let (mut core, _media, invite, to_senior) = consulting(t0, t);
    let ours = senior_answers(&mut core, t + 4 * S, &to_senior);
    let refer_to =
        format!("<sip:2001@127.0.0.1?Replaces=consult-1%3Bto-tag%3D{ours}%3Bfrom-tag%3Dcx>");
    feed(&mut core, t + 20 * S, AGENT, refer(&invite, 3, &refer_to));
    let reinvite = only(&sent(&mut core), SENIOR, is_invite).clone();
    events(&mut core);
    (core, reinvite)
}

#[test]
fn a_re_invite_that_crosses_the_phones_own_is_tried_again_three_seconds_later() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, reinvite) = handed_over(t0, t);
    let pending = response_to(
        &reinvite,
        StatusCode::new(491).unwrap(),
        Some(&Tag::new("sr")),
    );
    feed(&mut core, t + 20 * S + 50 * MS, SENIOR, pending.finish());
    sent(&mut core);
    core.handle_timeout(t + 23 * S + 50 * MS - MS);
    assert!(sent(&mut core).iter().all(|(_, m)| !is_invite(m)));
    core.handle_timeout(t + 23 * S + 50 * MS);
    let again = only(&sent(&mut core), SENIOR, is_invite).clone();
    assert_eq!(again.cseq().unwrap().seq, reinvite.cseq().unwrap().seq + 1);
    assert_eq!(call_id(&again), call_id(&reinvite));
    // A second 491 is not waited out again: the caller goes back to the queue.
    let pending = response_to(&again, StatusCode::new(491).unwrap(), Some(&Tag::new("sr")));
    feed(&mut core, t + 24 * S, SENIOR, pending.finish());
    only(&sent(&mut core), SENIOR, is(Method::Bye));
    assert!(events(&mut core).iter().any(|e| matches!(e,
        Event::TransferStarted { attended: false, to, .. } if to == "queue reception")));
}

#[test]
fn a_re_invite_left_without_a_final_answer_sends_the_caller_back_to_the_queue() {
    let t0 = virtual_epoch();
    let t = t0 + 60 * S;
    let (mut core, reinvite) = handed_over(t0, t);
    let ringing = response_to(&reinvite, StatusCode::RINGING, Some(&Tag::new("sr")));
    feed(&mut core, t + 20 * S + 10 * MS, SENIOR, ringing.finish());
    sent(&mut core);
    core.handle_timeout(t + 52 * S - MS);
    let senior: SocketAddr = SENIOR.parse().unwrap();
    assert!(
        sent(&mut core)
            .iter()
            .all(|(d, m)| *d != senior || !is(Method::Bye)(m)),
        "32 s to answer"
    );
    core.handle_timeout(t + 52 * S);
    let out = sent(&mut core);
    only(&out, SENIOR, is(Method::Bye));
    assert!(
        out.iter()
            .all(|(d, _)| *d != CALLER.parse::<SocketAddr>().unwrap()),
        "the caller is kept: {out:#?}"
    );
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::TransferStarted {
            attended: false,
            ..
        }
    )));
}
