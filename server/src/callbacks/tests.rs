//! Call-back tasks in virtual time (epoch milliseconds), exactly.

use serde_json::json;

use super::*;

const T0: i64 = 1_795_514_400_000;
const S: i64 = 1_000;
const MIN: i64 = 60 * S;

fn fact(at: i64, kind: &str, call: &str, agent: Option<&str>, data: Value) -> EventRecord {
    EventRecord {
        seq: 0,
        at,
        kind: kind.into(),
        call_id: Some(call.into()),
        agent: agent.map(Into::into),
        data,
        hash: None,
    }
}

fn arrive(s: &mut Scheduler, at: i64, call: &str) {
    s.handle_fact(&fact(
        at,
        "call_arrived",
        call,
        None,
        json!({ "queue": "reception", "caller": "+79210000000" }),
    ));
}

/// A call answered by 1001 at `at`, ended with `reason` at `end`.
fn answered_call(s: &mut Scheduler, at: i64, end: i64, call: &str, reason: &str) {
    arrive(s, at, call);
    s.handle_fact(&fact(at + 2 * S, "answered", call, Some("1001"), json!({})));
    s.handle_fact(&fact(end, "ended", call, None, json!({ "reason": reason })));
}

fn abandon(s: &mut Scheduler, at: i64, wait: i64, call: &str) {
    arrive(s, at, call);
    s.handle_fact(&fact(
        at + wait,
        "abandoned",
        call,
        None,
        json!({ "wait_ms": wait, "after_deadline": wait > 15 * S }),
    ));
    s.handle_fact(&fact(
        at + wait,
        "ended",
        call,
        None,
        json!({ "reason": "abandoned" }),
    ));
}

fn drain(s: &mut Scheduler) -> Vec<(&'static str, i64, Task)> {
    std::iter::from_fn(|| s.poll_event())
        .map(|e| (e.kind, e.at, e.task))
        .collect()
}

fn kinds(ev: &[(&'static str, i64, Task)]) -> Vec<(&'static str, i64)> {
    ev.iter().map(|(k, at, _)| (*k, *at)).collect()
}

#[test]
fn a_dropped_call_goes_to_its_agent_then_to_the_queue_after_the_grace_time() {
    let mut s = Scheduler::new(Policy::default());
    let drop = T0 + 3 * MIN;
    answered_call(&mut s, T0, drop, "call-1", "dropped");
    let ev = drain(&mut s);
    assert_eq!(kinds(&ev), [("callback_created", drop)]);
    let task = &ev[0].2;
    assert_eq!(task.id, "cb-call-1");
    assert_eq!(task.reason, Reason::Dropped);
    assert_eq!(task.owner, Owner::Agent("1001".into()));
    assert_eq!(task.agent.as_deref(), Some("1001"));
    assert_eq!(task.number, "+79210000000");
    assert_eq!((task.due_at, task.sla_at), (drop, drop + 15 * MIN));
    // The same agent's, and nobody else's, until the grace time is over.
    assert!(task.workable_by("1001", &[]));
    assert!(!task.workable_by("1002", &["1001".into(), "1002".into()]));

    // Due at once; at exactly drop + 5 min the queue's; overdue at + 15 min.
    s.handle_timeout(drop);
    assert_eq!(kinds(&drain(&mut s)), [("callback_due", drop)]);
    s.handle_timeout(drop + 5 * MIN - 1);
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(drop + 5 * MIN);
    let ev = drain(&mut s);
    assert_eq!(kinds(&ev), [("callback_to_queue", drop + 5 * MIN)]);
    assert_eq!(ev[0].2.owner, Owner::Queue("reception".into()));
    assert!(ev[0].2.workable_by("1002", &["1001".into(), "1002".into()]));
    assert_eq!(s.poll_timeout(), Some(drop + 15 * MIN));
    s.handle_timeout(drop + 15 * MIN);
    let ev = drain(&mut s);
    assert_eq!(kinds(&ev), [("callback_overdue", drop + 15 * MIN)]);
    assert!(ev[0].2.overdue);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn completed_calls_and_short_abandons_open_nothing() {
    let mut s = Scheduler::new(Policy::default());
    answered_call(&mut s, T0, T0 + MIN, "call-1", "completed");
    abandon(&mut s, T0, 4_999, "call-2");
    arrive(&mut s, T0, "call-3");
    s.handle_fact(&fact(
        T0 + 10 * MIN,
        "ended",
        "call-3",
        None,
        json!({ "reason": "max_wait" }),
    ));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn an_abandoned_call_is_the_queues_due_after_fifteen_minutes() {
    let mut s = Scheduler::new(Policy::default());
    abandon(&mut s, T0, 5 * S, "call-1");
    let ev = drain(&mut s);
    assert_eq!(kinds(&ev), [("callback_created", T0 + 5 * S)]);
    let task = &ev[0].2;
    assert_eq!(task.owner, Owner::Queue("reception".into()));
    assert_eq!(task.agent, None);
    assert_eq!(task.due_at, T0 + 5 * S + 15 * MIN);
    assert_eq!(task.sla_at, T0 + 5 * S + 120 * MIN);
    s.handle_timeout(task.due_at - 1);
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(task.due_at);
    assert_eq!(
        kinds(&drain(&mut s)),
        [("callback_due", T0 + 5 * S + 15 * MIN)]
    );
}

#[test]
fn a_call_dropped_while_waiting_is_the_queues() {
    let mut s = Scheduler::new(Policy::default());
    arrive(&mut s, T0, "call-1");
    s.handle_fact(&fact(
        T0 + 8 * S,
        "ended",
        "call-1",
        None,
        json!({ "reason": "dropped" }),
    ));
    let ev = drain(&mut s);
    assert_eq!(ev[0].2.owner, Owner::Queue("reception".into()));
    assert_eq!(ev[0].2.reason, Reason::Dropped);
}

#[test]
fn retries_are_spaced_and_the_last_unanswered_attempt_gives_up() {
    let mut s = Scheduler::new(Policy::default());
    answered_call(&mut s, T0, T0 + MIN, "call-1", "dropped");
    s.handle_timeout(T0 + MIN);
    drain(&mut s);
    let t1 = T0 + 2 * MIN;
    let task = s
        .record_attempt(t1, "cb-call-1", "1001", Outcome::NoAnswer)
        .unwrap();
    assert_eq!((task.status, task.due_at), (Status::Open, t1 + 10 * MIN));
    assert_eq!(kinds(&drain(&mut s)), [("callback_attempted", t1)]);
    // The retry is due exactly 10 min later (after the handover to the queue).
    s.handle_timeout(t1 + 10 * MIN);
    assert_eq!(
        kinds(&drain(&mut s)),
        [
            ("callback_to_queue", T0 + 6 * MIN),
            ("callback_due", t1 + 10 * MIN)
        ]
    );
    let t2 = t1 + 11 * MIN;
    s.handle_timeout(t2);
    s.record_attempt(t2, "cb-call-1", "1002", Outcome::Busy)
        .unwrap();
    let t3 = t2 + 10 * MIN;
    s.handle_timeout(t3);
    let task = s
        .record_attempt(t3, "cb-call-1", "1002", Outcome::NoAnswer)
        .unwrap();
    assert_eq!((task.status, task.closed_at), (Status::Failed, Some(t3)));
    assert_eq!(task.attempts.len(), 3);
    assert_eq!(
        kinds(&drain(&mut s)),
        [
            ("callback_attempted", t2),
            ("callback_overdue", T0 + 16 * MIN),
            ("callback_due", t3),
            ("callback_attempted", t3),
            ("callback_closed", t3),
        ]
    );
    assert_eq!(s.poll_timeout(), None, "a closed task has no deadlines");
    assert_eq!(
        s.record_attempt(t3 + 1, "cb-call-1", "1002", Outcome::Reached),
        Err(AttemptError::Closed("cb-call-1".into()))
    );
    assert_eq!(
        s.record_attempt(t3, "cb-nope", "1002", Outcome::Reached),
        Err(AttemptError::NoSuchTask("cb-nope".into()))
    );
}

#[test]
fn reached_is_done_and_a_wrong_number_is_given_up_at_once() {
    let mut s = Scheduler::new(Policy::default());
    answered_call(&mut s, T0, T0 + MIN, "call-1", "dropped");
    abandon(&mut s, T0, MIN, "call-2");
    drain(&mut s);
    let done = s
        .record_attempt(T0 + 2 * MIN, "cb-call-1", "1001", Outcome::Reached)
        .unwrap();
    assert_eq!(done.status, Status::Done);
    let gone = s
        .record_attempt(T0 + 2 * MIN, "cb-call-2", "1001", Outcome::WrongNumber)
        .unwrap();
    assert_eq!(gone.status, Status::Failed);
    assert!(s.open_tasks().is_empty());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn facts_read_twice_open_one_task_and_restored_tasks_keep_their_deadlines() {
    let mut s = Scheduler::new(Policy::default());
    answered_call(&mut s, T0, T0 + MIN, "call-1", "dropped");
    answered_call(&mut s, T0, T0 + MIN, "call-1", "dropped");
    let ev = drain(&mut s);
    assert_eq!(ev.len(), 1);
    let task = ev[0].2.clone();

    // A restart 2 min after the drop: due already past (not announced
    // again), the handover and the deadline still to come.
    let mut again = Scheduler::new(Policy::default());
    again.restore(T0 + 3 * MIN, task.clone());
    answered_call(&mut again, T0, T0 + MIN, "call-1", "dropped");
    assert!(drain(&mut again).is_empty(), "replayed facts open nothing");
    assert_eq!(again.poll_timeout(), Some(T0 + 6 * MIN));
    again.handle_timeout(T0 + 16 * MIN);
    assert_eq!(
        kinds(&drain(&mut again)),
        [
            ("callback_to_queue", T0 + 6 * MIN),
            ("callback_overdue", T0 + 16 * MIN)
        ]
    );
    // A closed task is remembered, not reopened.
    let mut closed = task;
    closed.status = Status::Done;
    let mut third = Scheduler::new(Policy::default());
    third.restore(T0 + 3 * MIN, closed);
    answered_call(&mut third, T0, T0 + MIN, "call-1", "dropped");
    assert!(drain(&mut third).is_empty());
    assert!(matches!(
        third.record_attempt(T0, "cb-call-1", "1001", Outcome::Reached),
        Err(AttemptError::Closed(_))
    ));
}

#[test]
fn numbers_are_read_for_dialling_and_a_withheld_one_gets_no_task() {
    let phones = crate::patients::PhoneNormalizer::new("RU").unwrap();
    let mut s =
        Scheduler::new(Policy::default()).with_numbers(Box::new(move |n: &str| phones.caller(n)));
    // The trunk sent the national form.
    s.handle_fact(&fact(
        T0,
        "call_arrived",
        "call-1",
        None,
        json!({ "queue": "reception", "caller": "89210000000" }),
    ));
    s.handle_fact(&fact(T0 + S, "answered", "call-1", Some("1001"), json!({})));
    s.handle_fact(&fact(
        T0 + MIN,
        "ended",
        "call-1",
        None,
        json!({ "reason": "dropped" }),
    ));
    let ev = drain(&mut s);
    assert_eq!(ev[0].2.number, "+79210000000");

    s.handle_fact(&fact(
        T0,
        "call_arrived",
        "call-2",
        None,
        json!({ "queue": "reception", "caller": "anonymous" }),
    ));
    s.handle_fact(&fact(T0 + S, "answered", "call-2", Some("1001"), json!({})));
    s.handle_fact(&fact(
        T0 + MIN,
        "ended",
        "call-2",
        None,
        json!({ "reason": "dropped" }),
    ));
    assert!(drain(&mut s).is_empty(), "nobody to call back");
}

#[test]
fn a_caller_who_pressed_one_is_the_queues_due_at_once_in_turn() {
    let mut s = Scheduler::new(Policy::default());
    arrive(&mut s, T0, "call-1");
    s.handle_fact(&fact(
        T0 + 40 * S,
        "ended",
        "call-1",
        None,
        json!({ "reason": "callback_requested" }),
    ));
    let ev = drain(&mut s);
    assert_eq!(kinds(&ev), [("callback_created", T0 + 40 * S)]);
    let task = &ev[0].2;
    assert_eq!(task.reason, Reason::Requested);
    assert_eq!(task.owner, Owner::Queue("reception".into()));
    assert_eq!(
        (task.due_at, task.sla_at),
        (T0 + 40 * S, T0 + 40 * S + 60 * MIN)
    );
}
