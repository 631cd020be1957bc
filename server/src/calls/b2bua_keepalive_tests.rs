//! Session timers and keep-alive OPTIONS, in virtual time, exactly.

use super::*;

const MS: Duration = Duration::from_millis(1);

/// The caller's INVITE, asking for a timed session of `secs` seconds.
fn timed_invite(secs: u32) -> Bytes {
    let invite = String::from_utf8(caller_invite().to_vec()).unwrap();
    Bytes::from(invite.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nSupported: timer\r\nSession-Expires: {secs}\r\n"),
        1,
    ))
}

/// A request from the caller inside its dialog (we are `our_tag`).
fn from_caller(method: &str, cseq: u32, our_tag: &Tag, extra: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKpt{cseq}\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>;tag={our_tag}\r\nCall-ID: patient-call-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:patient@{CALLER}>\r\n{extra}Content-Length: 0\r\n\r\n"
    ))
}

/// A call from `invite`, answered by the agent at `t0 + 2 s`: the core,
/// the agent's INVITE and the 200 OK the caller got.
fn answered(
    t0: Instant,
    invite: Bytes,
    keepalive: Option<Duration>,
) -> (SipCore, Message, Message) {
    let mut core = core_configured(t0, None, keepalive);
    feed(&mut core, t0, CALLER, invite);
    let to_agent = only(&sent(&mut core), AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&to_agent, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(&mut core);
    let ok = only(&out, CALLER, |m| status(m) == Some(200)).clone();
    events(&mut core);
    (core, to_agent, ok)
}

fn header(m: &Message, name: &HeaderName) -> Option<String> {
    m.headers.get(name).map(|h| h.value_str().into_owned())
}

fn dropped(ev: &[Event]) -> Vec<(&'static str, String)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::LineDropped { side, cause, .. } => Some((*side, cause.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_caller_who_stops_refreshing_its_session_is_dropped_when_the_interval_runs_out() {
    let t0 = virtual_epoch();
    let (mut core, _, ok) = answered(t0, timed_invite(90), None);
    assert_eq!(
        header(&ok, &HeaderName::SessionExpires).as_deref(),
        Some("90;refresher=uac")
    );
    assert_eq!(header(&ok, &HeaderName::Require).as_deref(), Some("timer"));
    let tag = ok.to_tag().unwrap();
    let answer = t0 + 2 * S;

    // 90 s less a third: the caller has 60 s to refresh. A refresh at 50 s
    // starts the count again.
    core.handle_timeout(answer + 50 * S);
    feed(
        &mut core,
        answer + 50 * S,
        CALLER,
        from_caller("UPDATE", 2, &tag, "Session-Expires: 90;refresher=uac\r\n"),
    );
    let out = sent(&mut core);
    let refreshed = only(&out, CALLER, |m| status(m) == Some(200));
    assert_eq!(
        header(refreshed, &HeaderName::SessionExpires).as_deref(),
        Some("90;refresher=uac")
    );
    let refresh = answer + 50 * S;
    core.handle_timeout(refresh + 60 * S - MS);
    assert!(dropped(&events(&mut core)).is_empty());
    assert!(sent(&mut core).is_empty());
    core.handle_timeout(refresh + 60 * S);
    let out = sent(&mut core);
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    only(&out, CALLER, |m| m.method() == Some(&Method::Bye));
    let ev = events(&mut core);
    assert_eq!(
        dropped(&ev),
        [("caller", "session_refresh_failed".to_string())]
    );
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Dropped,
            ..
        }
    )));
}

#[test]
fn an_interval_under_ninety_seconds_is_refused_and_untimed_calls_are_left_alone() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    feed(&mut core, t0, CALLER, timed_invite(60));
    let out = sent(&mut core);
    let refused = only(&out, CALLER, |m| status(m) == Some(422));
    assert_eq!(header(refused, &HeaderName::MinSe).as_deref(), Some("90"));
    assert!(out.iter().all(|(_, m)| !is_invite(m)), "no agent is rung");

    let (mut core, _, ok) = answered(t0, caller_invite(), None);
    assert_eq!(header(&ok, &HeaderName::SessionExpires).as_deref(), None);
    // (Within the agent's registration, which lapses at an hour.)
    core.handle_timeout(t0 + 3000 * S);
    assert!(dropped(&events(&mut core)).is_empty());
}

#[test]
fn keep_alive_options_go_to_both_legs_and_a_481_drops_the_call() {
    let t0 = virtual_epoch();
    let (mut core, _, ok) = answered(t0, caller_invite(), Some(60 * S));
    let _ = ok;
    let answer = t0 + 2 * S;
    core.handle_timeout(answer + 60 * S - MS);
    assert!(sent(&mut core).is_empty());
    core.handle_timeout(answer + 60 * S);
    let out = sent(&mut core);
    let to_caller = only(&out, CALLER, |m| m.method() == Some(&Method::Options)).clone();
    let to_agent = only(&out, AGENT, |m| m.method() == Some(&Method::Options)).clone();
    assert_eq!(to_caller.call_id().unwrap().as_str(), "patient-call-1");
    // Both still there (an agent's phone may well not implement OPTIONS).
    feed(
        &mut core,
        answer + 61 * S,
        CALLER,
        response_to(&to_caller, StatusCode::OK, None).finish(),
    );
    feed(
        &mut core,
        answer + 61 * S,
        AGENT,
        response_to(&to_agent, StatusCode::new(405).unwrap(), None).finish(),
    );
    assert!(dropped(&events(&mut core)).is_empty());

    core.handle_timeout(answer + 120 * S);
    let out = sent(&mut core);
    let to_caller = only(&out, CALLER, |m| m.method() == Some(&Method::Options)).clone();
    // The caller's side no longer knows the dialog.
    feed(
        &mut core,
        answer + 121 * S,
        CALLER,
        response_to(&to_caller, StatusCode::new(481).unwrap(), None).finish(),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert_eq!(
        dropped(&events(&mut core)),
        [("caller", "keepalive_481".to_string())]
    );
}

#[test]
fn a_leg_that_never_answers_its_keep_alive_is_dropped_when_the_transaction_gives_up() {
    let t0 = virtual_epoch();
    let (mut core, _, _) = answered(t0, caller_invite(), Some(60 * S));
    let sent_at = t0 + 2 * S + 60 * S;
    core.handle_timeout(sent_at);
    let out = sent(&mut core);
    let to_caller = only(&out, CALLER, |m| m.method() == Some(&Method::Options)).clone();
    feed(
        &mut core,
        sent_at + S,
        CALLER,
        response_to(&to_caller, StatusCode::OK, None).finish(),
    );
    // The agent's phone is silent: Timer F (64 × T1 = 32 s) ends it.
    let gives_up = sent_at + 32 * S;
    core.handle_timeout(gives_up - MS);
    assert!(dropped(&events(&mut core)).is_empty());
    core.handle_timeout(gives_up);
    assert_eq!(
        dropped(&events(&mut core)),
        [("agent", "keepalive_unanswered".to_string())]
    );
    let out = sent(&mut core);
    only(&out, CALLER, |m| m.method() == Some(&Method::Bye));
}

/// The caller's INVITE with more headers (after Max-Forwards).
fn invite_with(extra: &str) -> Bytes {
    let invite = String::from_utf8(caller_invite().to_vec()).unwrap();
    Bytes::from(invite.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{extra}"),
        1,
    ))
}

#[test]
fn a_caller_that_asks_us_to_refresh_gets_an_update_every_half_interval() {
    let t0 = virtual_epoch();
    let (mut core, _, ok) = answered(
        t0,
        invite_with(
            "Supported: timer\r\nSession-Expires: 120;refresher=uas\r\nAllow: INVITE, ACK, CANCEL, BYE, UPDATE\r\n",
        ),
        None,
    );
    assert_eq!(
        header(&ok, &HeaderName::SessionExpires).as_deref(),
        Some("120;refresher=uas")
    );
    assert_eq!(
        header(&ok, &HeaderName::Require),
        None,
        "the caller need not refresh"
    );
    let answer = t0 + 2 * S;
    core.handle_timeout(answer + 60 * S - MS);
    assert!(sent(&mut core).is_empty());
    core.handle_timeout(answer + 60 * S);
    let out = sent(&mut core);
    let update = only(&out, CALLER, |m| m.method() == Some(&Method::Update)).clone();
    assert_eq!(update.call_id().unwrap().as_str(), "patient-call-1");
    assert_eq!(
        header(&update, &HeaderName::SessionExpires).as_deref(),
        Some("120;refresher=uac"),
        "in our request we are its UAC, and still the refresher"
    );
    assert!(update.body.is_empty(), "a refresh, not a new offer");
    feed(
        &mut core,
        answer + 60 * S + 20 * MS,
        CALLER,
        response_to(&update, StatusCode::OK, None).finish(),
    );
    assert!(sent(&mut core).is_empty(), "an UPDATE's 2xx needs no ACK");
    assert!(dropped(&events(&mut core)).is_empty());

    // The next refresh finds the caller's side gone.
    core.handle_timeout(answer + 120 * S);
    let out = sent(&mut core);
    let update = only(&out, CALLER, |m| m.method() == Some(&Method::Update)).clone();
    feed(
        &mut core,
        answer + 120 * S + 20 * MS,
        CALLER,
        response_to(&update, StatusCode::new(481).unwrap(), None).finish(),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert_eq!(
        dropped(&events(&mut core)),
        [("caller", "session_refresh_481".to_string())]
    );
}

#[test]
fn a_caller_without_timer_support_is_refreshed_by_re_invite_and_dropped_when_silent() {
    let t0 = virtual_epoch();
    // Session-Expires without `Supported: timer` and without UPDATE.
    let (mut core, _, ok) = answered(t0, invite_with("Session-Expires: 90\r\n"), None);
    assert_eq!(
        header(&ok, &HeaderName::SessionExpires).as_deref(),
        Some("90;refresher=uas")
    );
    let answer = t0 + 2 * S;
    core.handle_timeout(answer + 45 * S);
    let out = sent(&mut core);
    let reinvite = only(&out, CALLER, is_invite).clone();
    assert_eq!(reinvite.body, ok.body, "the same session description again");
    let ok_again = response_to(&reinvite, StatusCode::OK, None).finish();
    feed(
        &mut core,
        answer + 45 * S + 20 * MS,
        CALLER,
        ok_again.clone(),
    );
    let out = sent(&mut core);
    let ack = only(&out, CALLER, |m| m.method() == Some(&Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, reinvite.cseq().unwrap().seq);
    // A retransmitted 2xx gets the ACK again.
    feed(&mut core, answer + 45 * S + 520 * MS, CALLER, ok_again);
    only(&sent(&mut core), CALLER, |m| {
        m.method() == Some(&Method::Ack)
    });

    // The next one goes unanswered: Timer B (64 × T1 = 32 s) ends the call.
    let sent_at = answer + 90 * S;
    core.handle_timeout(sent_at);
    only(&sent(&mut core), CALLER, is_invite);
    core.handle_timeout(sent_at + 32 * S - MS);
    assert!(dropped(&events(&mut core)).is_empty());
    core.handle_timeout(sent_at + 32 * S);
    assert_eq!(
        dropped(&events(&mut core)),
        [("caller", "session_refresh_unanswered".to_string())]
    );
}
