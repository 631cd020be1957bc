//! Attended transfers in virtual time, with the real defaults.

use super::transfer_tests::{answered, kinds};
use super::*;

fn failed(events: &[Event]) -> Option<&'static str> {
    events.iter().find_map(|e| match e {
        Event::TransferFailed { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn the_agent_speaks_to_the_colleague_first_then_hands_the_caller_over() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_consult(
        t,
        1,
        "1001",
        TransferTarget::Extension("2001".into()),
        Some("asks about test results".into()),
    )
    .unwrap();
    let (cmds, events) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "2001", Tier::Senior)], "only 2001 rings");
    assert!(events.iter().any(|e| matches!(e,
        Event::TransferStarted { attended: true, note: Some(n), .. } if n == "asks about test results")));
    // The colleague's screen is told who is on the line and why.
    assert!(events.iter().any(|e| matches!(e,
        Event::AgentOffered { agent, transfer: Some((from, Some(_))), .. } if agent == "2001" && from == "1001")));
    assert_eq!(
        a.agent_state("1001"),
        Some(AgentState::OnCall),
        "the agent keeps the caller meanwhile"
    );
    assert!(a.consulting(1));

    assert_eq!(
        a.handle_agent_answered(t + 3 * S, 1, "2001"),
        AnswerOutcome::Consulting
    );
    let (_, events) = drain(&mut a);
    assert_eq!(kinds(&events), ["agent_state_changed", "consult_answered"]);
    assert_eq!(a.agent_state("2001"), Some(AgentState::OnCall));
    assert_eq!(a.agent_state("1001"), Some(AgentState::OnCall));

    assert_eq!(
        a.handle_consult_complete(t + 20 * S, 1, "1001").unwrap(),
        "2001"
    );
    let (_, events) = drain(&mut a);
    assert!(events.iter().any(|e| matches!(e,
        Event::Transferred { from, to, attended: true, .. } if from == "1001" && to == "2001")));
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
    assert!(!a.consulting(1));
    // The call is 2001's now: when it ends, they wrap up.
    a.handle_caller_hangup(t + 80 * S, 1).unwrap();
    let (_, events) = drain(&mut a);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Completed,
            ..
        }
    )));
    assert_eq!(a.agent_state("2001"), Some(AgentState::WrapUp));
}

#[test]
fn a_colleague_who_does_not_answer_leaves_the_call_with_the_agent() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_consult(t, 1, "1001", TransferTarget::Extension("2001".into()), None)
        .unwrap();
    drain(&mut a);
    a.handle_timeout(t + 10 * S - MS);
    assert!(drain(&mut a).0.is_empty(), "2001 rings for 10 s");
    a.handle_timeout(t + 10 * S);
    let (cmds, events) = drain(&mut a);
    assert_eq!(failed(&events), Some("no_answer"));
    assert!(cmds.contains(&stop(1, "2001")));
    assert!(cmds.contains(&Command::ConsultEnded {
        call: 1,
        reason: "no_answer"
    }));
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::Ring { .. })),
        "nobody else rings: the call is the agent's, not the queue's"
    );
    assert_eq!(a.agent_state("1001"), Some(AgentState::OnCall));
    assert!(!a.consulting(1));
    assert!(matches!(
        a.handle_consult_complete(t + 11 * S, 1, "1001"),
        Err(AcdError::NoSuchCall)
    ));
    // Still the agent's call: they may try again, or end it.
    a.handle_caller_hangup(t + 30 * S, 1).unwrap();
    drain(&mut a);
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
}

#[test]
fn the_seniors_have_until_the_answer_deadline() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001"], &["2001", "2002"]);
    let t = t0 + 60 * S;
    a.handle_consult(t, 1, "1001", TransferTarget::Senior, None)
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![ring(1, "2001", Tier::Senior), ring(1, "2002", Tier::Senior)]
    );
    // Each senior's own ring time (10 s) passes; the consultation waits
    // for the three rings (15 s).
    a.handle_timeout(t + 15 * S - MS);
    let (_, events) = drain(&mut a);
    assert_eq!(failed(&events), None);
    a.handle_timeout(t + 15 * S);
    let (_, events) = drain(&mut a);
    assert_eq!(failed(&events), Some("no_answer"));
    assert_eq!(a.agent_state("1001"), Some(AgentState::OnCall));
}

#[test]
fn calling_it_off_frees_the_colleague_at_once() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_consult(t, 1, "1001", TransferTarget::Extension("2001".into()), None)
        .unwrap();
    assert!(matches!(
        a.handle_consult_complete(t + S, 1, "1001"),
        Err(AcdError::NotAnswered)
    ));
    assert_eq!(
        a.handle_agent_answered(t + 2 * S, 1, "2001"),
        AnswerOutcome::Consulting
    );
    drain(&mut a);
    assert!(matches!(
        a.handle_consult_cancel(t + 5 * S, 1, "1002", "cancelled"),
        Err(AcdError::NoSuchCall)
    ));
    a.handle_consult_cancel(t + 5 * S, 1, "1001", "cancelled")
        .unwrap();
    let (cmds, events) = drain(&mut a);
    assert_eq!(failed(&events), Some("cancelled"));
    assert!(cmds.contains(&Command::ConsultEnded {
        call: 1,
        reason: "cancelled"
    }));
    assert_eq!(
        a.agent_state("2001"),
        Some(AgentState::Available),
        "no wrap-up for a consultation"
    );
    assert_eq!(a.agent_state("1001"), Some(AgentState::OnCall));
}

#[test]
fn a_caller_who_hangs_up_during_the_consultation_frees_everyone() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_consult(t, 1, "1001", TransferTarget::Extension("2001".into()), None)
        .unwrap();
    drain(&mut a);
    a.handle_caller_hangup(t + 4 * S, 1).unwrap();
    let (cmds, events) = drain(&mut a);
    assert!(cmds.contains(&stop(1, "2001")));
    assert_eq!(failed(&events), Some("call_ended"));
    assert!(!kinds(&events).contains(&"abandoned"));
    assert_eq!(a.agent_state("2001"), Some(AgentState::Available));
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
}

#[test]
fn one_transfer_at_a_time() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_consult(t, 1, "1001", TransferTarget::Extension("2001".into()), None)
        .unwrap();
    assert!(matches!(
        a.handle_transfer(t + S, 1, "1001", TransferTarget::Senior, None),
        Err(AcdError::Busy(..))
    ));
    assert!(matches!(
        a.handle_consult(
            t + S,
            1,
            "1001",
            TransferTarget::Extension("1002".into()),
            None
        ),
        Err(AcdError::Busy(..))
    ));
}

#[test]
fn a_queue_is_consulted_through_its_free_agents_not_the_one_asking() {
    let t0 = virtual_epoch();
    let mut a = answered(t0, &["1001", "1002", "1003"], &["2001"]);
    let t = t0 + 60 * S;
    a.handle_consult(t, 1, "1001", TransferTarget::Queue("100".into()), None)
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![ring(1, "1002", Tier::Agent)],
        "longest idle first"
    );
    // 1002 lets it ring its 10 s: 1003 is next, and the consultation goes
    // on until the queue's answer deadline (15 s).
    a.handle_timeout(t + 10 * S);
    let (cmds, _) = drain(&mut a);
    assert!(cmds.contains(&ring(1, "1003", Tier::Agent)), "{cmds:?}");
    assert_eq!(
        a.handle_agent_answered(t + 12 * S, 1, "1003"),
        AnswerOutcome::Consulting
    );
    assert_eq!(
        a.handle_consult_complete(t + 30 * S, 1, "1001").unwrap(),
        "1003"
    );
}
