//! Blind transfers in virtual time.

use super::*;

/// Call 1 answered by 1001 at `t0 + 2 s`.
pub(super) fn answered(t0: Instant, agents: &[&str], seniors: &[&str]) -> Acd {
    let mut a = acd(t0, agents, seniors);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    assert_eq!(
        a.handle_agent_answered(t0 + 2 * S, 1, "1001"),
        AnswerOutcome::Connected
    );
    drain(&mut a);
    a
}

pub(super) fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).collect()
}

#[test]
fn a_call_handed_to_a_colleague_rings_them_and_frees_the_transferor() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_transfer(
        t,
        1,
        "1001",
        TransferTarget::Extension("2001".into()),
        Some("billing question".into()),
    )
    .unwrap();
    let (cmds, events) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![ring(1, "2001", Tier::Senior)],
        "only the colleague rings"
    );
    assert!(events.iter().any(|e| matches!(e, Event::TransferStarted { from, to, note: Some(n), .. } if from == "1001" && to == "2001" && n == "billing question")));
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
    assert_eq!(
        a.handle_agent_answered(t + 4 * S, 1, "2001"),
        AnswerOutcome::Connected
    );
    let (_, events) = drain(&mut a);
    assert!(events.iter().any(
        |e| matches!(e, Event::Transferred { from, to, .. } if from == "1001" && to == "2001")
    ));
    assert!(
        !kinds(&events).contains(&"answered"),
        "answered once, not twice"
    );
    assert_eq!(a.agent_state("2001"), Some(AgentState::OnCall));
}

#[test]
fn a_colleague_who_lets_it_ring_sends_the_call_back_to_the_queue() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_transfer(t, 1, "1001", TransferTarget::Extension("2001".into()), None)
        .unwrap();
    drain(&mut a);
    // 2001's ring time is 10 s: then the call is the queue's again, and
    // the free agent who did not have it (1002) rings at once.
    a.handle_timeout(t + 10 * S - MS);
    assert!(drain(&mut a).0.is_empty());
    a.handle_timeout(t + 10 * S);
    let (cmds, events) = drain(&mut a);
    assert!(kinds(&events).contains(&"transfer_failed"), "{events:?}");
    assert!(cmds.contains(&ring(1, "1002", Tier::Agent)), "{cmds:?}");
}

#[test]
fn to_a_queue_or_to_the_seniors_and_refusals() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001", "2002"]);
    let t = t0 + 30 * S;
    a.handle_transfer(t, 1, "1001", TransferTarget::Senior, None)
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![ring(1, "2001", Tier::Senior), ring(1, "2002", Tier::Senior)],
        "the seniors ring, not the agents"
    );

    let mut b = answered(t0, &["1001", "1002"], &[]);
    b.handle_transfer(t, 1, "1001", TransferTarget::Queue("100".into()), None)
        .unwrap();
    assert_eq!(drain(&mut b).0, vec![ring(1, "1002", Tier::Agent)]);

    let mut c = answered(t0, &["1001", "1002"], &[]);
    assert!(
        matches!(
            c.handle_transfer(t, 1, "1002", TransferTarget::Senior, None),
            Err(AcdError::NoSuchCall)
        ),
        "only the agent who has the call hands it on"
    );
    assert!(matches!(
        c.handle_transfer(t, 1, "1001", TransferTarget::Queue("999".into()), None),
        Err(AcdError::NoSuchQueue(_))
    ));
    assert!(matches!(
        c.handle_transfer(t, 1, "1001", TransferTarget::Extension("1001".into()), None),
        Err(AcdError::Busy(..))
    ));
    c.handle_set_state(t, "1002", AgentState::Paused).unwrap();
    assert!(matches!(
        c.handle_transfer(t, 1, "1001", TransferTarget::Extension("1002".into()), None),
        Err(AcdError::Busy(_, AgentState::Paused))
    ));
    // None of the refusals let go of the call.
    assert_eq!(c.agent_state("1001"), Some(AgentState::OnCall));
}

#[test]
fn a_caller_who_hangs_up_during_a_transfer_is_not_an_abandoned_call() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    a.handle_transfer(
        t0 + 30 * S,
        1,
        "1001",
        TransferTarget::Extension("2001".into()),
        None,
    )
    .unwrap();
    drain(&mut a);
    a.handle_caller_hangup(t0 + 33 * S, 1).unwrap();
    let (cmds, events) = drain(&mut a);
    assert!(cmds.contains(&stop(1, "2001")));
    assert!(!kinds(&events).contains(&"abandoned"));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Completed,
            ..
        }
    )));
}
