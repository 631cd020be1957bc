//! Hold with reminders and dropped lines, in virtual time, through the
//! whole endpoint.

use super::*;

/// An anchored call answered by 1001 at `t0 + 2 s`: the core, its media
/// log, the INVITE the agent got, and our tag towards the caller.
fn connected_call(t0: Instant) -> (SipCore, FakeMedia, Message, Tag) {
    let media = FakeMedia::default();
    let mut core = core_with(t0, Some(Box::new(media.clone())));
    feed(&mut core, t0, CALLER, caller_invite());
    let out = sent(&mut core);
    let invite = only(&out, AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + S,
        AGENT,
        agent_reply(&invite, StatusCode::RINGING, "ag", AGENT),
    );
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&invite, StatusCode::OK, "ag", AGENT),
    );
    let out = sent(&mut core);
    let caller_tag = only(&out, CALLER, |m| status(m) == Some(200))
        .to_tag()
        .unwrap();
    events(&mut core);
    (core, media, invite, caller_tag)
}

/// A request from the agent inside its dialog (`body`: SDP, or empty).
pub(super) fn from_agent(
    invite: &Message,
    method: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> Bytes {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    Bytes::from(format!(
        "{method} sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKag{cseq}\r\nFrom: <sip:1001@127.0.0.1>;tag=ag\r\nTo: <{}>;tag={}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:1001@{AGENT}>\r\n{extra}{content_type}Content-Length: {}\r\n\r\n{body}",
        invite.headers.from.as_ref().unwrap().uri,
        invite.from_tag().unwrap(),
        invite.call_id().unwrap(),
        body.len()
    ))
}

/// The agent's SDP with a direction (and its usual address and port).
pub(super) fn agent_sdp(direction: &str) -> String {
    format!(
        "v=0\r\no=agent 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7004 RTP/AVP 0\r\na={direction}\r\n"
    )
}

fn reminders(ev: &[Event]) -> Vec<(u32, Duration)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::HoldReminder {
                reminder, held_for, ..
            } => Some((*reminder, *held_for)),
            _ => None,
        })
        .collect()
}

#[test]
fn hold_reminds_the_agent_at_30_and_60_seconds_and_not_after_resume() {
    let t0 = virtual_epoch();
    let (mut core, media, invite, _) = connected_call(t0);
    let hold_at = t0 + 10 * S;
    feed(
        &mut core,
        hold_at,
        AGENT,
        from_agent(&invite, "INVITE", 2, "", &agent_sdp("sendonly")),
    );
    let out = sent(&mut core);
    let ok = only(&out, AGENT, |m| status(m) == Some(200));
    let answer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(
        answer.contains("a=recvonly"),
        "we only listen while held: {answer}"
    );
    assert!(answer.contains("m=audio 30002"), "{answer}");
    assert_eq!(media.log().last().map(String::as_str), Some("mode hold"));
    let ev = events(&mut core);
    assert!(ev.contains(&Event::HoldStarted {
        call: 1,
        agent: "1001".into(),
        at: hold_at
    }));

    // Exactly at 30 s and 60 s on hold, never a millisecond before.
    let ms = Duration::from_millis(1);
    core.handle_timeout(hold_at + 30 * S - ms);
    assert!(reminders(&events(&mut core)).is_empty());
    assert_eq!(core.poll_timeout(), Some(hold_at + 30 * S));
    core.handle_timeout(hold_at + 30 * S);
    assert_eq!(reminders(&events(&mut core)), [(1, 30 * S)]);
    core.handle_timeout(hold_at + 60 * S - ms);
    assert!(reminders(&events(&mut core)).is_empty());
    core.handle_timeout(hold_at + 60 * S);
    assert_eq!(reminders(&events(&mut core)), [(2, 60 * S)]);

    // Back to the caller at 75 s: the relay resumes, the reminders stop.
    feed(
        &mut core,
        hold_at + 75 * S,
        AGENT,
        from_agent(&invite, "INVITE", 3, "", &agent_sdp("sendrecv")),
    );
    let out = sent(&mut core);
    let ok = only(&out, AGENT, |m| status(m) == Some(200));
    assert!(String::from_utf8_lossy(&ok.body).contains("a=sendrecv"));
    assert_eq!(media.log().last().map(String::as_str), Some("mode relay"));
    let ev = events(&mut core);
    assert!(ev.contains(&Event::HoldEnded {
        call: 1,
        agent: "1001".into(),
        held_for: 75 * S,
        at: hold_at + 75 * S
    }));
    core.handle_timeout(hold_at + 300 * S);
    assert!(reminders(&events(&mut core)).is_empty());

    // A second hold starts its own count.
    let again = hold_at + 400 * S;
    feed(
        &mut core,
        again,
        AGENT,
        from_agent(&invite, "INVITE", 4, "", &agent_sdp("inactive")),
    );
    let out = sent(&mut core);
    assert!(
        String::from_utf8_lossy(&only(&out, AGENT, |m| status(m) == Some(200)).body)
            .contains("a=inactive")
    );
    core.handle_timeout(again + 30 * S);
    assert_eq!(reminders(&events(&mut core)), [(1, 30 * S)]);
}

#[test]
fn silence_on_hold_is_not_a_drop_but_off_hold_it_is() {
    let t0 = virtual_epoch();
    let (mut core, media, invite, _) = connected_call(t0);
    feed(
        &mut core,
        t0 + 10 * S,
        AGENT,
        from_agent(&invite, "INVITE", 2, "", &agent_sdp("sendonly")),
    );
    sent(&mut core);
    events(&mut core);
    core.handle_media_silence(t0 + 25 * S, SessionId(7), Leg::A);
    assert!(
        sent(&mut core).is_empty(),
        "a held caller is silent by design"
    );
    assert!(events(&mut core).is_empty());
    assert_eq!(core.calls().active_calls(), 1);

    feed(
        &mut core,
        t0 + 40 * S,
        AGENT,
        from_agent(&invite, "INVITE", 3, "", &agent_sdp("sendrecv")),
    );
    sent(&mut core);
    events(&mut core);
    core.handle_media_silence(t0 + 55 * S, SessionId(7), Leg::A);
    let out = sent(&mut core);
    for (to, who) in [(AGENT, "agent"), (CALLER, "caller")] {
        let bye = only(&out, to, |m| m.method() == Some(&Method::Bye));
        let reason = bye
            .headers
            .get(&HeaderName::Reason)
            .map(|h| h.value_str().to_string());
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.starts_with("Q.850;cause=41")),
            "{who}: {reason:?}"
        );
    }
    let ev = events(&mut core);
    assert!(ev.contains(&Event::LineDropped {
        call: 1,
        side: "caller",
        cause: "rtp_timeout".into(),
        at: t0 + 55 * S
    }));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Dropped,
            ..
        }
    )));
    assert_eq!(core.calls().active_calls(), 0);
    assert_eq!(media.log().last().map(String::as_str), Some("destroy 7"));
    // No reminder is left running for the call that is gone.
    core.handle_timeout(t0 + 600 * S);
    assert!(reminders(&events(&mut core)).is_empty());
}

#[test]
fn a_bye_whose_reason_is_not_normal_clearing_ends_the_call_as_dropped() {
    let t0 = virtual_epoch();
    let (mut core, _, invite, _) = connected_call(t0);
    feed(
        &mut core,
        t0 + 30 * S,
        AGENT,
        from_agent(
            &invite,
            "BYE",
            2,
            "Reason: Q.850;cause=41;text=\"Temporary failure\"\r\n",
            "",
        ),
    );
    let out = sent(&mut core);
    only(&out, AGENT, |m| status(m) == Some(200));
    // The caller hears the dropped-line message, then the BYE with Reason.
    core.handle_timeout(t0 + 34 * S);
    let out = sent(&mut core);
    let bye = only(&out, CALLER, |m| m.method() == Some(&Method::Bye));
    assert!(bye.headers.get(&HeaderName::Reason).is_some());
    let ev = events(&mut core);
    assert!(ev.contains(&Event::LineDropped {
        call: 1,
        side: "agent",
        cause: "Q.850 cause 41".into(),
        at: t0 + 30 * S
    }));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Dropped,
            ..
        }
    )));

    // Normal clearing, said explicitly, is a completed call.
    let (mut core, _, invite, _) = connected_call(t0);
    feed(
        &mut core,
        t0 + 30 * S,
        AGENT,
        from_agent(
            &invite,
            "BYE",
            2,
            "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n",
            "",
        ),
    );
    let out = sent(&mut core);
    let bye = only(&out, CALLER, |m| m.method() == Some(&Method::Bye));
    assert!(bye.headers.get(&HeaderName::Reason).is_none());
    let ev = events(&mut core);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Completed,
            ..
        }
    )));
    assert!(!ev.iter().any(|e| matches!(e, Event::LineDropped { .. })));
}

#[test]
fn reasons_that_are_normal_clearing_and_those_that_are_not() {
    let req = |reason: &str| {
        parse_datagram(Bytes::from(format!(
            "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n{reason}Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    };
    let abnormal = |r: &str| crate::calls::b2bua::hold::abnormal_reason(&req(r));
    assert_eq!(abnormal(""), None);
    assert_eq!(abnormal("Reason: Q.850;cause=16\r\n"), None);
    assert_eq!(abnormal("Reason: q.850 ; cause=31\r\n"), None);
    assert_eq!(
        abnormal("Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"),
        None
    );
    assert_eq!(
        abnormal("Reason: Q.850;cause=41\r\n").as_deref(),
        Some("Q.850 cause 41")
    );
    assert_eq!(
        abnormal("Reason: SIP;cause=408\r\n").as_deref(),
        Some("SIP cause 408")
    );
    assert_eq!(
        abnormal("Reason: SIP;cause=200, Q.850;cause=38\r\n").as_deref(),
        Some("Q.850 cause 38")
    );
    assert_eq!(
        abnormal("Reason: Q.850;cause=forty\r\n"),
        None,
        "unreadable: not taken as a drop"
    );
}

#[test]
fn an_agent_whose_phone_loses_its_registration_mid_call_drops_the_line() {
    let t0 = virtual_epoch();
    let (mut core, media, _, _) = connected_call(t0);
    // The agent's binding (restored at t0 for an hour) runs out mid-call.
    let expiry = t0 + 3600 * S;
    core.handle_timeout(expiry);
    // The caller hears the dropped-line message for 4 s, then the BYE.
    assert!(
        sent(&mut core)
            .iter()
            .all(|(d, _)| *d != CALLER.parse::<SocketAddr>().unwrap()),
        "no hang-up yet"
    );
    assert_eq!(
        media.log().last().map(String::as_str),
        Some("mode announce")
    );
    core.handle_timeout(expiry + 4 * S - Duration::from_millis(1));
    assert!(
        sent(&mut core)
            .iter()
            .all(|(d, _)| *d != CALLER.parse::<SocketAddr>().unwrap()),
        "(only the agent's BYE is retransmitted meanwhile)"
    );
    core.handle_timeout(expiry + 4 * S);
    let out = sent(&mut core);
    let bye = only(&out, CALLER, |m| m.method() == Some(&Method::Bye));
    assert!(bye.headers.get(&HeaderName::Reason).is_some());
    assert_eq!(media.log().last().map(String::as_str), Some("destroy 7"));
    let ev = events(&mut core);
    assert!(
        ev.contains(&Event::LineDropped {
            call: 1,
            side: "agent",
            cause: "registration_lost".into(),
            at: expiry
        }),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Dropped,
            ..
        }
    )));
    assert_eq!(core.calls().active_calls(), 0);
    assert_eq!(
        core.calls().acd().agent_state("1001"),
        Some(crate::calls::agents::AgentState::WrapUp),
        "wrap-up first; offline once it is over (no phone)"
    );
}

#[test]
fn a_caller_whose_tcp_connection_closes_mid_call_drops_the_line() {
    let t0 = virtual_epoch();
    let mut core = core(t0);
    let tcp = Flow {
        transport: crate::config::Transport::Tcp,
        remote: CALLER.parse().unwrap(),
        local: None,
    };
    let invite = String::from_utf8(caller_invite().to_vec())
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    core.handle_message(t0, tcp, parse_datagram(Bytes::from(invite)).unwrap());
    let out = sent(&mut core);
    let agent_invite = only(&out, AGENT, is_invite).clone();
    feed(
        &mut core,
        t0 + 2 * S,
        AGENT,
        agent_reply(&agent_invite, StatusCode::OK, "ag", AGENT),
    );
    sent(&mut core);
    events(&mut core);

    // Another connection closing changes nothing.
    core.handle_flow_closed(t0 + 20 * S, "127.0.0.1:6999".parse().unwrap());
    assert!(sent(&mut core).is_empty());
    assert_eq!(core.calls().active_calls(), 1);

    core.handle_flow_closed(t0 + 30 * S, CALLER.parse().unwrap());
    let out = sent(&mut core);
    let bye = only(&out, AGENT, |m| m.method() == Some(&Method::Bye));
    assert!(bye.headers.get(&HeaderName::Reason).is_some());
    let ev = events(&mut core);
    assert!(ev.contains(&Event::LineDropped {
        call: 1,
        side: "caller",
        cause: "connection_closed".into(),
        at: t0 + 30 * S
    }));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Dropped,
            ..
        }
    )));
    assert_eq!(core.calls().active_calls(), 0);
}

#[test]
fn hold_from_the_agents_screen_plays_music_and_reminds_like_a_hold_from_the_phone() {
    let t0 = virtual_epoch();
    let (mut core, media, _, _) = connected_call(t0);
    events(&mut core);
    assert_eq!(
        core.hold_by_request(t0 + 5 * S, "call-00000001", "1002", true),
        Err(HoldError::NotYours)
    );
    assert_eq!(
        core.hold_by_request(t0 + 5 * S, "call-00000009", "1001", true),
        Err(HoldError::NoSuchCall)
    );
    assert_eq!(
        core.hold_by_request(t0 + 5 * S, "nonsense", "1001", true),
        Err(HoldError::NoSuchCall)
    );
    let hold_at = t0 + 10 * S;
    core.hold_by_request(hold_at, "call-00000001", "1001", true)
        .unwrap();
    // No SIP to either phone: the server holds the caller itself.
    assert!(sent(&mut core).is_empty());
    assert_eq!(media.log().last().map(String::as_str), Some("mode hold"));
    assert!(events(&mut core).contains(&Event::HoldStarted {
        call: 1,
        agent: "1001".into(),
        at: hold_at
    }));
    core.handle_timeout(hold_at + 30 * S - Duration::from_millis(1));
    assert!(reminders(&events(&mut core)).is_empty());
    core.handle_timeout(hold_at + 30 * S);
    assert_eq!(reminders(&events(&mut core)), [(1, 30 * S)]);
    // Asking twice changes nothing; resuming stops the reminders.
    core.hold_by_request(hold_at + 31 * S, "call-00000001", "1001", true)
        .unwrap();
    assert!(events(&mut core).is_empty());
    core.hold_by_request(hold_at + 45 * S, "call-00000001", "1001", false)
        .unwrap();
    assert_eq!(media.log().last().map(String::as_str), Some("mode relay"));
    assert!(events(&mut core).contains(&Event::HoldEnded {
        call: 1,
        agent: "1001".into(),
        held_for: 45 * S,
        at: hold_at + 45 * S
    }));
    core.handle_timeout(hold_at + 300 * S);
    assert!(reminders(&events(&mut core)).is_empty());
}

#[test]
fn a_caller_who_hangs_up_during_the_dropped_line_message_ends_it() {
    let t0 = virtual_epoch();
    let (mut core, media, invite, our_tag) = connected_call(t0);
    // The agent's phone sends a BYE that is not normal clearing.
    feed(
        &mut core,
        t0 + 20 * S,
        AGENT,
        from_agent(&invite, "BYE", 2, "Reason: Q.850;cause=41\r\n", ""),
    );
    sent(&mut core);
    assert_eq!(
        media.log().last().map(String::as_str),
        Some("mode announce")
    );
    let bye = format!(
        "BYE sip:careline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKcallerbye\r\nFrom: \"Patient\" <sip:+79210000000@127.0.0.1>;tag=pt\r\nTo: <sip:100@127.0.0.1>;tag={our_tag}\r\nCall-ID: patient-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    feed(&mut core, t0 + 22 * S, CALLER, Bytes::from(bye));
    only(&sent(&mut core), CALLER, |m| status(m) == Some(200));
    assert_eq!(media.log().last().map(String::as_str), Some("destroy 7"));
    // Nothing more goes to the caller when the message would have ended.
    core.handle_timeout(t0 + 30 * S);
    assert!(sent(&mut core).is_empty());
    assert!(
        core.calls().dialogs.is_empty(),
        "{:?}",
        core.calls().dialogs
    );
}
