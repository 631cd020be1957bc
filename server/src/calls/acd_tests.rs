//! The three-ring rule in virtual time, exact to the millisecond, with the
//! real defaults (5 s ring cycle, 3 rings, 10 s agent ring time, 10 s wrap-up,
//! pause after 3 misses).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use careline_shared::testing::virtual_epoch;

use super::*;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn queue(agents: &[&str], seniors: &[&str]) -> QueueSettings {
    QueueSettings {
        name: "reception".into(),
        number: "100".into(),
        agents: agents.iter().map(|s| s.to_string()).collect(),
        seniors: seniors.iter().map(|s| s.to_string()).collect(),
        ring_cycle: 5 * S,
        rings_to_answer: 3,
        agent_ring_time: 10 * S,
        wrap_up: 10 * S,
        auto_pause_after: 3,
        max_wait: 600 * S,
    }
}

/// A distributor whose agents registered one second apart, in the order given
/// (so the first listed has been idle longest).
fn acd(t0: Instant, agents: &[&str], seniors: &[&str]) -> Acd {
    let mut acd = Acd::new(vec![queue(agents, seniors)], t0);
    for (i, ext) in agents.iter().chain(seniors).enumerate() {
        acd.handle_agent_registered(t0 + MS * i as u32, ext, true);
    }
    drain(&mut acd);
    acd
}

fn drain(acd: &mut Acd) -> (Vec<Command>, Vec<Event>) {
    (
        std::iter::from_fn(|| acd.poll_command()).collect(),
        std::iter::from_fn(|| acd.poll_event()).collect(),
    )
}

fn ring(call: u64, agent: &str, tier: Tier) -> Command {
    Command::Ring {
        call,
        agent: agent.into(),
        tier,
    }
}

fn stop(call: u64, agent: &str) -> Command {
    Command::StopRinging {
        call,
        agent: agent.into(),
    }
}

#[test]
fn call_rings_the_longest_idle_available_agent() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001", "1002"], &[]);
    let t = t0 + S;
    a.handle_call_arrived(t, 1, "100", "+79210000000").unwrap();
    let (cmds, events) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "1001", Tier::Agent)]);
    assert!(matches!(&events[0], Event::CallArrived { call: 1, at, .. } if *at == t));
    assert_eq!(a.agent_state("1001"), Some(AgentState::Ringing));
    assert_eq!(a.agent_state("1002"), Some(AgentState::Available));
}

#[test]
fn answered_at_ring_two_is_within_deadline() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    drain(&mut a);
    // Ring two: between 5 s and 10 s after the INVITE.
    let answered_at = t0 + 7 * S;
    assert_eq!(
        a.handle_agent_answered(answered_at, 1, "1001"),
        AnswerOutcome::Connected
    );
    let (cmds, events) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![Command::Connect {
            call: 1,
            agent: "1001".into()
        }]
    );
    assert!(events.contains(&Event::Answered {
        call: 1,
        agent: "1001".into(),
        tier: Tier::Agent,
        wait: 7 * S,
        within_deadline: true,
        at: answered_at,
    }));
    assert_eq!(a.agent_state("1001"), Some(AgentState::OnCall));
    // Nothing else is pending for this call: no deadline, no max wait.
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn nobody_answers_and_seniors_are_rung_at_exactly_three_ring_cycles() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001", "1002"], &["2001"]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    drain(&mut a);
    // 1001 rings for its ring time, then 1002.
    assert_eq!(a.poll_timeout(), Some(t0 + 10 * S));
    a.handle_timeout(t0 + 10 * S);
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![stop(1, "1001"), ring(1, "1002", Tier::Agent)]);
    // One millisecond before the deadline: nothing.
    a.handle_timeout(t0 + 15 * S - MS);
    assert_eq!(drain(&mut a), (vec![], vec![]));
    assert_eq!(a.poll_timeout(), Some(t0 + 15 * S));
    a.handle_timeout(t0 + 15 * S);
    let (cmds, events) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "2001", Tier::Senior)]);
    assert_eq!(
        events[0],
        Event::AnswerDeadlinePassed {
            call: 1,
            at: t0 + 15 * S
        }
    );
    assert!(events.contains(&Event::Escalated {
        call: 1,
        seniors: vec!["2001".into()],
        at: t0 + 15 * S
    }));
    // The agent keeps ringing beside the senior: the first to answer wins.
    assert_eq!(a.agent_state("1002"), Some(AgentState::Ringing));
    assert_eq!(
        a.handle_agent_answered(t0 + 16 * S, 1, "2001"),
        AnswerOutcome::Connected
    );
    let (cmds, events) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![
            stop(1, "1002"),
            Command::Connect {
                call: 1,
                agent: "2001".into()
            }
        ]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Answered { agent, tier: Tier::Senior, within_deadline: false, wait, .. } if agent == "2001" && *wait == 16 * S
    )));
    assert_eq!(
        a.handle_agent_answered(t0 + 16 * S, 1, "1002"),
        AnswerOutcome::NotWanted
    );
}

#[test]
fn answer_at_the_deadline_instant_is_not_within_it() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_timeout(t0 + 10 * S);
    drain(&mut a);
    assert_eq!(
        a.handle_agent_answered(t0 + 15 * S, 1, "1001"),
        AnswerOutcome::Connected
    );
    let (_, events) = drain(&mut a);
    assert!(events.contains(&Event::AnswerDeadlinePassed {
        call: 1,
        at: t0 + 15 * S
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Answered {
            within_deadline: false,
            ..
        }
    )));
}

#[test]
fn agent_is_skipped_after_ring_time_and_paused_after_three_misses() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    drain(&mut a);
    for (n, at) in [(1, 10), (2, 20)] {
        a.handle_timeout(t0 + at * S);
        let (cmds, events) = drain(&mut a);
        assert!(events.contains(&Event::AgentRingNoAnswer {
            call: 1,
            agent: "1001".into(),
            misses: n,
            at: t0 + at * S
        }));
        // Alone in the tier, the agent is rung again in a new round.
        assert_eq!(cmds.last(), Some(&ring(1, "1001", Tier::Agent)), "miss {n}");
    }
    a.handle_timeout(t0 + 30 * S);
    let (cmds, events) = drain(&mut a);
    assert_eq!(cmds, vec![stop(1, "1001")]);
    assert!(events.contains(&Event::AgentStateChanged {
        agent: "1001".into(),
        from: AgentState::Available,
        to: AgentState::Paused,
        at: t0 + 30 * S
    }));
    assert_eq!(a.agent_state("1001"), Some(AgentState::Paused));
    // Back to available by choice: offered again at once, misses forgotten.
    a.handle_set_state(t0 + 40 * S, "1001", AgentState::Available)
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "1001", Tier::Agent)]);
}

#[test]
fn answering_resets_the_miss_count() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_timeout(t0 + 10 * S);
    a.handle_timeout(t0 + 20 * S);
    a.handle_agent_answered(t0 + 21 * S, 1, "1001");
    a.handle_call_ended(t0 + 30 * S, 1, EndReason::Completed)
        .unwrap();
    a.handle_timeout(t0 + 40 * S);
    a.handle_call_arrived(t0 + 50 * S, 2, "100", "+79210000000")
        .unwrap();
    drain(&mut a);
    a.handle_timeout(t0 + 60 * S);
    let (_, events) = drain(&mut a);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AgentRingNoAnswer { misses: 1, .. }))
    );
    assert_ne!(a.agent_state("1001"), Some(AgentState::Paused));
}

#[test]
fn with_patient_agent_rung_only_when_nobody_free() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001", "1002"], &[]);
    // 1001 has been idle longest but is serving someone at the desk.
    a.handle_set_state(t0 + S, "1001", AgentState::WithPatient)
        .unwrap();
    a.handle_call_arrived(t0 + 2 * S, 1, "100", "+79210000000")
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "1002", Tier::Agent)]);
    // A second call: 1002 is busy ringing, so now the desk agent is asked.
    a.handle_call_arrived(t0 + 3 * S, 2, "100", "+79210000000")
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![ring(2, "1001", Tier::Agent)]);
    // Missing it returns them to their patient, not to "available" (and, as
    // nobody else is free, the call is offered to them again straight away).
    a.handle_timeout(t0 + 13 * S);
    let (_, events) = drain(&mut a);
    assert!(events.contains(&Event::AgentStateChanged {
        agent: "1001".into(),
        from: AgentState::Ringing,
        to: AgentState::WithPatient,
        at: t0 + 13 * S
    }));
}

#[test]
fn wrap_up_holds_the_agent_back() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_agent_answered(t0 + 2 * S, 1, "1001");
    a.handle_call_ended(t0 + 60 * S, 1, EndReason::Completed)
        .unwrap();
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
    drain(&mut a);
    a.handle_call_arrived(t0 + 61 * S, 2, "100", "+79210000000")
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert!(cmds.is_empty(), "nobody free during wrap-up: {cmds:?}");
    a.handle_timeout(t0 + 70 * S - MS);
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
    a.handle_timeout(t0 + 70 * S);
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![ring(2, "1001", Tier::Agent)]);
}

#[test]
fn caller_who_hangs_up_before_answer_is_abandoned() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    drain(&mut a);
    a.handle_caller_hangup(t0 + 4 * S, 1).unwrap();
    let (cmds, events) = drain(&mut a);
    assert_eq!(cmds, vec![stop(1, "1001")]);
    assert!(events.contains(&Event::Abandoned {
        call: 1,
        wait: 4 * S,
        after_deadline: false,
        at: t0 + 4 * S
    }));
    assert!(events.contains(&Event::Ended {
        call: 1,
        reason: EndReason::Abandoned,
        at: t0 + 4 * S
    }));
    assert_eq!(a.agent_state("1001"), Some(AgentState::Available));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn abandon_after_the_deadline_says_so() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    // The hang-up at 20 s first lets the due timers fire (10 s miss, 15 s deadline).
    a.handle_caller_hangup(t0 + 20 * S, 1).unwrap();
    let (_, events) = drain(&mut a);
    assert!(events.contains(&Event::AnswerDeadlinePassed {
        call: 1,
        at: t0 + 15 * S
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Abandoned {
            after_deadline: true,
            ..
        }
    )));
}

#[test]
fn cancel_racing_a_200_ok_loses_the_answer() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_caller_hangup(t0 + 3 * S, 1).unwrap();
    drain(&mut a);
    // The agent's 200 OK crossed the caller's CANCEL: that leg must be hung up.
    assert_eq!(
        a.handle_agent_answered(t0 + 3 * S, 1, "1001"),
        AnswerOutcome::NotWanted
    );
    assert_eq!(a.agent_state("1001"), Some(AgentState::Available));
}

#[test]
fn hangup_after_the_answer_completes_the_call() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_agent_answered(t0 + 3 * S, 1, "1001");
    drain(&mut a);
    a.handle_caller_hangup(t0 + 3 * S, 1).unwrap();
    let (_, events) = drain(&mut a);
    assert!(events.contains(&Event::Ended {
        call: 1,
        reason: EndReason::Completed,
        at: t0 + 3 * S
    }));
    assert_eq!(a.agent_state("1001"), Some(AgentState::WrapUp));
}

#[test]
fn two_calls_one_agent_are_served_in_arrival_order() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_call_arrived(t0 + S, 2, "100", "+79210000000")
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "1001", Tier::Agent)]);
    a.handle_agent_answered(t0 + 2 * S, 1, "1001");
    a.handle_call_ended(t0 + 30 * S, 1, EndReason::Completed)
        .unwrap();
    drain(&mut a);
    a.handle_timeout(t0 + 40 * S);
    let (cmds, events) = drain(&mut a);
    assert_eq!(cmds, vec![ring(2, "1001", Tier::Agent)]);
    // Call 2's deadline passed at 16 s, while the agent was busy.
    assert!(events.contains(&Event::AnswerDeadlinePassed {
        call: 2,
        at: t0 + 16 * S
    }));
    assert_eq!(a.waiting().collect::<Vec<_>>(), vec![2]);
}

#[test]
fn a_call_waits_no_longer_than_max_wait() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &[], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    drain(&mut a);
    a.handle_timeout(t0 + 600 * S);
    let (cmds, events) = drain(&mut a);
    assert_eq!(
        cmds,
        vec![Command::EndCall {
            call: 1,
            reason: EndReason::MaxWait
        }]
    );
    assert!(events.contains(&Event::Ended {
        call: 1,
        reason: EndReason::MaxWait,
        at: t0 + 600 * S
    }));
}

#[test]
fn unregistered_agents_are_not_offered_calls() {
    let t0 = virtual_epoch();
    let mut a = Acd::new(vec![queue(&["1001", "1002"], &[])], t0);
    a.handle_agent_registered(t0, "1002", true);
    a.handle_call_arrived(t0 + S, 1, "100", "+79210000000")
        .unwrap();
    let (cmds, _) = drain(&mut a);
    assert_eq!(cmds, vec![ring(1, "1002", Tier::Agent)]);
    assert_eq!(a.agent_state("1001"), Some(AgentState::Offline));
}

#[test]
fn unknown_numbers_and_agents_are_refused() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    assert_eq!(
        a.handle_call_arrived(t0, 1, "999", "+79210000000"),
        Err(AcdError::NoSuchQueue("999".into()))
    );
    assert_eq!(
        a.handle_set_state(t0, "4242", AgentState::Paused),
        Err(AcdError::NoSuchAgent("4242".into()))
    );
    assert_eq!(
        a.handle_set_state(t0, "1001", AgentState::OnCall),
        Err(AcdError::StateNotSettable(AgentState::OnCall))
    );
}

#[test]
fn state_chosen_during_a_call_applies_after_wrap_up() {
    let t0 = virtual_epoch();
    let mut a = acd(t0, &["1001"], &[]);
    a.handle_call_arrived(t0, 1, "100", "+79210000000").unwrap();
    a.handle_agent_answered(t0 + S, 1, "1001");
    a.handle_set_state(t0 + 2 * S, "1001", AgentState::Paused)
        .unwrap();
    assert_eq!(a.agent_state("1001"), Some(AgentState::OnCall));
    a.handle_call_ended(t0 + 5 * S, 1, EndReason::Completed)
        .unwrap();
    a.handle_timeout(t0 + 15 * S);
    assert_eq!(a.agent_state("1001"), Some(AgentState::Paused));
}

/// The free-agent index rebuilt from scratch: must equal the one kept up
/// to date incrementally.
fn assert_index_consistent(acd: &Acd) {
    for (qi, q) in acd.queues.iter().enumerate() {
        for (tier, exts) in [(Tier::Agent, &q.agents), (Tier::Senior, &q.seniors)] {
            let mut available = BTreeSet::new();
            let mut with_patient = BTreeSet::new();
            for ext in exts {
                let i = acd.by_ext[ext];
                let a = &acd.agents[i];
                if !a.registered {
                    continue;
                }
                match a.state {
                    AgentState::Available => available.insert((a.idle_since, i)),
                    AgentState::WithPatient => with_patient.insert((a.idle_since, i)),
                    _ => false,
                };
            }
            let free = &acd.free[qi][tier_index(tier)];
            assert_eq!(free.available, available, "queue {qi} {tier:?} available");
            assert_eq!(
                free.with_patient, with_patient,
                "queue {qi} {tier:?} with_patient"
            );
        }
    }
}

proptest::proptest! {
    /// Whatever happens to agents and calls, the index used to offer calls
    /// says exactly who is free, and no free agent is left idle while an
    /// unrung call waits.
    #[test]
    fn free_agent_index_follows_every_change(ops in proptest::collection::vec((0u8..8, 0usize..6, 0u64..6, 0u64..4_000), 1..200)) {
        let t0 = virtual_epoch();
        // Two queues sharing 1002, and 2001 a senior of one and an agent of the other.
        let mut reception = queue(&["1001", "1002", "1003"], &["2001"]);
        reception.wrap_up = 2 * S;
        let mut lab = queue(&["1002", "2001"], &["2002"]);
        lab.name = "lab".into();
        lab.number = "200".into();
        let mut acd = Acd::new(vec![reception, lab], t0);
        let exts = ["1001", "1002", "1003", "2001", "2002", "9999"];
        let mut now = t0;
        let mut next_call = 1u64;
        for (op, who, call, step_ms) in ops {
            now += MS * step_ms as u32;
            acd.handle_timeout(now);
            let ext = exts[who];
            let call = next_call.saturating_sub(call).max(1);
            match op {
                0 => acd.handle_agent_registered(now, ext, true),
                1 => acd.handle_agent_registered(now, ext, false),
                2 => {
                    let number = if who % 2 == 0 { "100" } else { "200" };
                    acd.handle_call_arrived(now, next_call, number, "patient").unwrap();
                    next_call += 1;
                }
                3 => { acd.handle_agent_answered(now, call, ext); }
                4 => { let _ = acd.handle_caller_hangup(now, call); }
                5 => acd.handle_agent_rejected(now, call, ext),
                6 => {
                    let state = [AgentState::Available, AgentState::WithPatient, AgentState::Paused][who % 3];
                    let _ = acd.handle_set_state(now, ext, state);
                }
                _ => { let _ = acd.handle_call_ended(now, call, EndReason::Completed); }
            }
            drain(&mut acd);
            assert_index_consistent(&acd);
            // Nobody free in a queue while one of its calls waits with no agent ringing.
            for &w in &acd.waiting {
                let c = &acd.calls[&w];
                if !c.ringing.iter().any(|&(_, t)| t == Tier::Agent) {
                    proptest::prop_assert!(acd.free[c.queue][0].best().is_empty(), "call {w} waits unrung");
                }
            }
        }
    }
}

#[path = "acd_transfer_tests.rs"]
mod transfer_tests;

#[path = "acd_consult_tests.rs"]
mod consult_tests;
