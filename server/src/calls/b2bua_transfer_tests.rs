//! Blind transfers through the whole endpoint, in virtual time.

use super::*;

/// An anchored call answered by 1001 at `t0 + 2 s`: the core, its media log
/// and the INVITE the agent got.
pub(super) fn connected(t0: Instant) -> (SipCore, FakeMedia, Message) {
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    feed(&mut core, t0, CALLER, caller_invite());
    let invite = only(&sent(&mut core), AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&invite, StatusCode::OK, "ag", AGENT),
    );
    sent(&mut core);
    events(&mut core);
    (core, media, invite)
}

/// A REFER from agent 1001's phone in its dialog.
pub(super) fn refer(invite: &Message, cseq: u32, refer_to: &str) -> Bytes {
    Bytes::from(format!(
        "REFER sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKref{cseq}\r\nFrom: <sip:1001@127.0.0.1>;tag=ag\r\nTo: <{}>;tag={}\r\nCall-ID: {}\r\nCSeq: {cseq} REFER\r\nContact: <sip:1001@{AGENT}>\r\nRefer-To: {refer_to}\r\nReferred-By: <sip:1001@127.0.0.1>\r\nContent-Length: 0\r\n\r\n",
        invite.headers.from.as_ref().unwrap().uri,
        invite.from_tag().unwrap(),
        invite.call_id().unwrap(),
    ))
}

pub(super) fn sipfrag(m: &Message) -> String {
    String::from_utf8_lossy(&m.body).trim().to_string()
}

pub(super) fn is_notify(m: &Message) -> bool {
    m.method() == Some(&Method::Notify)
}

#[test]
fn a_refer_hands_the_caller_to_a_colleague_with_progress_notifies() {
    let t0 = virtual_epoch();
    let (mut core, media, invite) = connected(t0);
    let t = t0 + 60 * S;
    feed(
        &mut core,
        t,
        AGENT,
        refer(&invite, 2, "<sip:2001@127.0.0.1>"),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(202));
    let trying = only(&out, AGENT, is_notify);
    assert_eq!(sipfrag(trying), "SIP/2.0 100 Trying");
    // The colleague's phone rings with the codec the caller speaks; the
    // caller hears music meanwhile.
    let to_senior = only(&out, SENIOR, is_invite).clone();
    let offer = careline_shared::sdp::Sdp::parse(&to_senior.body).unwrap();
    let names: Vec<String> = offer
        .audio()
        .unwrap()
        .codecs()
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names, ["PCMU"]);
    assert_eq!(media.log().last().map(String::as_str), Some("mode hold"));
    let ev = events(&mut core);
    assert!(ev.iter().any(
        |e| matches!(e, Event::TransferStarted { from, to, .. } if from == "1001" && to == "2001")
    ));
    assert!(ev.iter().any(|e| matches!(e, Event::AgentOffered { agent, transfer: Some((from, _)), .. } if agent == "2001" && from == "1001")));

    // The colleague answers: joined to the caller, the transferor told and hung up.
    feed(
        &mut core,
        t + 4 * S,
        SENIOR,
        agent_reply(&to_senior, StatusCode::OK, "sr", SENIOR),
    );
    let out = sent(&mut core);
    only(&out, SENIOR, |m| m.method() == Some(&Method::Ack));
    let done = only(&out, AGENT, is_notify);
    assert_eq!(sipfrag(done), "SIP/2.0 200 OK");
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert!(
        out.iter()
            .all(|(d, _)| *d != CALLER.parse::<SocketAddr>().unwrap()),
        "nothing new for the caller: {out:#?}"
    );
    assert_eq!(media.log().last().map(String::as_str), Some("mode relay"));
    let ev = events(&mut core);
    assert!(ev.iter().any(
        |e| matches!(e, Event::Transferred { from, to, .. } if from == "1001" && to == "2001")
    ));
    assert!(!ev.iter().any(|e| matches!(e, Event::Answered { .. })));

    // The caller hangs up: the colleague's phone gets the BYE.
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcallerbye\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>;tag={}\r\nCall-ID: patient-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        core.calls().calls[&1].caller.dialog.local_tag
    );
    feed(&mut core, t + 90 * S, CALLER, Bytes::from(bye));
    let out = sent(&mut core);
    only(&out, SENIOR, |m| m.method() == Some(&Method::Bye));
    assert!(events(&mut core).iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Completed,
            ..
        }
    )));
}

#[test]
fn a_colleague_who_refuses_sends_the_caller_back_to_the_queue_not_to_silence() {
    let t0 = virtual_epoch();
    let (mut core, media, invite) = connected(t0);
    let t = t0 + 60 * S;
    feed(
        &mut core,
        t,
        AGENT,
        refer(&invite, 2, "<sip:2001@127.0.0.1>"),
    );
    let to_senior = only(&sent(&mut core), SENIOR, is_invite).clone();
    // The transferor hangs up at once (as phones do after a 202): the call goes on.
    let bye = String::from_utf8(refer(&invite, 3, "x").to_vec())
        .unwrap()
        .replace("REFER sip:", "BYE sip:")
        .replace("CSeq: 3 REFER", "CSeq: 3 BYE");
    feed(&mut core, t + S, AGENT, Bytes::from(bye));
    only(&sent(&mut core), AGENT, |m| status(m) == Some(200));
    events(&mut core);
    feed(
        &mut core,
        t + 3 * S,
        SENIOR,
        agent_reply(&to_senior, StatusCode::BUSY_HERE, "sr", SENIOR),
    );
    sent(&mut core);
    let ev = events(&mut core);
    assert!(
        ev.iter().any(|e| matches!(e, Event::TransferFailed { .. })),
        "{ev:?}"
    );
    assert_eq!(
        media.log().last().map(String::as_str),
        Some("mode hold"),
        "still music"
    );
    // 1001 is free after the 10 s wrap-up: the call rings them again.
    core.handle_timeout(t + 10 * S - Duration::from_millis(1));
    assert!(sent(&mut core).iter().all(|(_, m)| !is_invite(m)));
    core.handle_timeout(t + 10 * S);
    only(&sent(&mut core), AGENT, is_invite);
}

#[test]
fn unknown_targets_are_refused_and_the_call_goes_on() {
    let t0 = virtual_epoch();
    let (mut core, media, invite) = connected(t0);
    feed(
        &mut core,
        t0 + 11 * S,
        AGENT,
        refer(&invite, 3, "<sip:7777@127.0.0.1>"),
    );
    only(&sent(&mut core), AGENT, |m| status(m) == Some(404));
    assert_ne!(media.log().last().map(String::as_str), Some("mode hold"));
    assert_eq!(core.calls().calls[&1].connected.is_some(), true);
}

#[test]
fn a_waiting_caller_who_presses_one_leaves_the_queue_to_be_called_back() {
    let t0 = virtual_epoch();
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    ringing(&mut core, t0);
    events(&mut core);
    // Other keys, or the agent's side, do nothing.
    core.handle_media_dtmf(t0 + 5 * S, SessionId(7), Leg::A, '2');
    core.handle_media_dtmf(t0 + 5 * S, SessionId(7), Leg::B, '1');
    assert!(sent(&mut core).is_empty());
    core.handle_media_dtmf(t0 + 6 * S, SessionId(7), Leg::A, '1');
    let out = sent(&mut core);
    let refused = only(&out, CALLER, |m| status(m) == Some(480));
    assert!(
        refused
            .headers
            .get(&HeaderName::Warning)
            .unwrap()
            .value_str()
            .contains("call-back requested")
    );
    only(&out, AGENT, |m| m.method() == Some(&Method::Cancel));
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::CallbackRequested,
            ..
        }
    )));
    assert!(!ev.iter().any(|e| matches!(e, Event::Abandoned { .. })));
    assert!(media.log().contains(&"destroy 7".to_string()));
}
