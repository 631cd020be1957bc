//! The indicators from hand-built event sequences.

use serde_json::{Value, json};

use super::*;

/// 2026-11-24 10:00:00 UTC.
const T0: i64 = 1_795_514_400_000;
const S: i64 = 1_000;
const MIN: i64 = 60 * S;

/// Builds events in order, numbering them.
#[derive(Default)]
struct Log {
    events: Vec<EventRecord>,
}

impl Log {
    fn push(&mut self, at: i64, kind: &str, call: Option<&str>, agent: Option<&str>, data: Value) {
        let seq = self.events.len() as i64 + 1;
        self.events.push(EventRecord {
            seq,
            at,
            kind: kind.into(),
            call_id: call.map(str::to_string),
            agent: agent.map(str::to_string),
            data,
            hash: None,
        });
    }

    fn arrive(&mut self, at: i64, call: &str, queue: &str) {
        self.push(
            at,
            "call_arrived",
            Some(call),
            None,
            json!({ "queue": queue, "caller": "+79210000000" }),
        );
    }

    fn offer(&mut self, at: i64, call: &str, agent: &str) {
        self.push(
            at,
            "agent_offered",
            Some(call),
            Some(agent),
            json!({ "tier": "agent" }),
        );
    }

    fn miss(&mut self, at: i64, call: &str, agent: &str) {
        self.push(
            at,
            "agent_ring_no_answer",
            Some(call),
            Some(agent),
            json!({ "misses": 1 }),
        );
    }

    /// An answer `wait` after `arrived`, within a 15 s deadline or not.
    fn answer(&mut self, arrived: i64, wait: i64, call: &str, agent: &str) {
        self.push(
            arrived + wait,
            "answered",
            Some(call),
            Some(agent),
            json!({ "tier": "agent", "wait_ms": wait, "within_deadline": wait <= 15 * S }),
        );
        self.state(arrived + wait, agent, "ringing", "on_call");
    }

    fn abandon(&mut self, arrived: i64, wait: i64, call: &str) {
        self.push(
            arrived + wait,
            "abandoned",
            Some(call),
            None,
            json!({ "wait_ms": wait, "after_deadline": wait > 15 * S }),
        );
        self.end(arrived + wait, call, "abandoned");
    }

    fn end(&mut self, at: i64, call: &str, reason: &str) {
        self.push(
            at,
            "ended",
            Some(call),
            None,
            json!({ "reason": reason, "at": at }),
        );
    }

    fn state(&mut self, at: i64, agent: &str, from: &str, to: &str) {
        self.push(
            at,
            "agent_state_changed",
            None,
            Some(agent),
            json!({ "from": from, "to": to }),
        );
    }

    fn hold(&mut self, from: i64, to: i64, call: &str, agent: &str, reminders: u32) {
        self.push(from, "hold_started", Some(call), Some(agent), json!({}));
        for r in 1..=reminders {
            self.push(
                from + i64::from(r) * 30 * S,
                "hold_reminder",
                Some(call),
                Some(agent),
                json!({ "reminder": r }),
            );
        }
        self.push(to, "hold_ended", Some(call), Some(agent), json!({}));
    }

    /// The answered call's end, then the agent's wrap-up of `wrap`.
    fn finish(&mut self, at: i64, call: &str, agent: &str, reason: &str, wrap: i64) {
        self.end(at, call, reason);
        if wrap > 0 {
            self.state(at, agent, "on_call", "wrap_up");
            self.state(at + wrap, agent, "wrap_up", "available");
        } else {
            self.state(at, agent, "on_call", "available");
        }
    }

    fn ledger(&self) -> Ledger {
        let mut l = Ledger::new();
        for e in &self.events {
            l.apply(e);
        }
        l
    }
}

fn all() -> Filter {
    Filter::default()
}

#[test]
fn each_definition_from_one_hour_of_calls() {
    let mut log = Log::default();
    // c1: answered after 4 s, 60 s of talk, 10 s wrap-up.
    log.arrive(T0, "c1", "reception");
    log.offer(T0, "c1", "1001");
    log.answer(T0, 4 * S, "c1", "1001");
    log.finish(T0 + 64 * S, "c1", "1001", "completed", 10 * S);
    // c2: answered after 20 s (past the 15 s deadline) by 1002 after 1001 missed.
    let t2 = T0 + 5 * MIN;
    log.arrive(t2, "c2", "reception");
    log.offer(t2, "c2", "1001");
    log.miss(t2 + 10 * S, "c2", "1001");
    log.offer(t2 + 10 * S, "c2", "1002");
    log.answer(t2, 20 * S, "c2", "1002");
    // 40 s of hold inside 100 s of call; one reminder.
    log.hold(t2 + 30 * S, t2 + 70 * S, "c2", "1002", 1);
    log.finish(t2 + 120 * S, "c2", "1002", "dropped", 0);
    // c3: abandoned before the deadline, c4 after it.
    let t3 = T0 + 10 * MIN;
    log.arrive(t3, "c3", "reception");
    log.abandon(t3, 8 * S, "c3");
    log.arrive(t3 + S, "c4", "reception");
    log.abandon(t3 + S, 40 * S, "c4");
    // c5: ended unanswered by the maximum wait.
    log.arrive(T0 + 20 * MIN, "c5", "reception");
    log.end(T0 + 25 * MIN, "c5", "max_wait");
    // c6: still waiting.
    log.arrive(T0 + 50 * MIN, "c6", "reception");

    let l = log.ledger();
    let t = l.tally(T0, T0 + 60 * MIN, &all());
    assert_eq!(t.offered, 6);
    assert_eq!(t.answered, 2);
    assert_eq!(t.answered_within, 1);
    assert_eq!(t.abandoned, 2);
    assert_eq!(t.abandoned_after_deadline, 1);
    assert_eq!(t.timed_out, 1);
    assert_eq!(t.waiting, 1);
    assert_eq!(t.dropped, 1);
    assert_eq!(t.missed_rings, 1);
    // 1 within ÷ (2 answered + 1 abandoned late); the timed-out call is
    // counted apart.
    assert_eq!(t.service_level(), Some(1.0 / 3.0));
    // (4 + 20) / 2 s.
    assert_eq!(t.asa_ms(), Some(12 * S));
    // 2 abandoned of 6 offered.
    assert_eq!(t.abandonment_rate(), Some(2.0 / 6.0));
    // c1: 60 s talk + 10 s wrap; c2: 100 s (talk and hold) + 0 wrap.
    assert_eq!(t.handled, 2);
    assert_eq!(t.aht_ms(), Some(85 * S));
    assert_eq!((t.holds, t.holds_over_reminder), (1, 1));
    assert_eq!(l.call("c2").unwrap().hold_ms, 40 * S);
    assert_eq!(l.waiting(), vec![("c6", "reception", T0 + 50 * MIN)]);
}

#[test]
fn nothing_to_count_gives_no_ratio_rather_than_zero() {
    let l = Ledger::new();
    let t = l.tally(T0, T0 + MIN, &all());
    assert_eq!(t, Tally::default());
    assert_eq!(t.service_level(), None);
    assert_eq!(t.asa_ms(), None);
    assert_eq!(t.abandonment_rate(), None);
    assert_eq!(t.aht_ms(), None);
    let j = t.to_json();
    assert_eq!(j["service_level"], Value::Null);
    assert_eq!(j["offered"], 0);
}

#[test]
fn abandons_before_the_deadline_do_not_lower_the_service_level() {
    let mut log = Log::default();
    log.arrive(T0, "a", "q");
    log.answer(T0, 3 * S, "a", "1001");
    log.arrive(T0 + S, "b", "q");
    log.abandon(T0 + S, 14 * S, "b");
    let t = log.ledger().tally(T0, T0 + MIN, &all());
    assert_eq!(t.service_level(), Some(1.0));
    assert_eq!(t.abandonment_rate(), Some(0.5));

    log.arrive(T0 + 2 * S, "c", "q");
    log.abandon(T0 + 2 * S, 16 * S, "c");
    let t = log.ledger().tally(T0, T0 + MIN, &all());
    assert_eq!(t.service_level(), Some(0.5));
    assert_eq!(t.abandoned, 2);
    assert_eq!(t.abandoned_after_deadline, 1);
}

#[test]
fn a_call_counts_in_the_interval_it_arrived_in() {
    let mut log = Log::default();
    // Arrives in the 10:00 quarter, answered and ended in the next one.
    log.arrive(T0 + 14 * MIN + 50 * S, "span", "q");
    log.answer(T0 + 14 * MIN + 50 * S, 20 * S, "span", "1001");
    log.finish(T0 + 20 * MIN, "span", "1001", "completed", 0);
    // On both sides of 10:15 exactly.
    log.arrive(T0 + 15 * MIN - 1, "before", "q");
    log.arrive(T0 + 15 * MIN, "on", "q");
    let l = log.ledger();
    let s = l.series(T0, T0 + 30 * MIN, Step::Quarter, 0, &all());
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].start, s[0].end), (T0, T0 + 15 * MIN));
    assert_eq!(s[0].tally.offered, 2);
    assert_eq!(s[0].tally.answered, 1);
    assert_eq!(s[0].tally.answered_within, 0);
    assert_eq!(s[1].tally.offered, 1);
    assert_eq!(s[1].tally.answered, 0);
    // The series adds up to the range's tally.
    let total = l.tally(T0, T0 + 30 * MIN, &all());
    let mut sum = Tally::default();
    for iv in &s {
        sum.add(&iv.tally);
    }
    assert_eq!(sum, total);
}

#[test]
fn intervals_cover_the_range_empty_ones_included_and_align_to_local_time() {
    let l = Ledger::new();
    // 10:05 to 12:00 in hours: 10:00, 11:00.
    let s = l.series(T0 + 5 * MIN, T0 + 120 * MIN, Step::Hour, 0, &all());
    let starts: Vec<i64> = s.iter().map(|i| i.start).collect();
    assert_eq!(starts, vec![T0, T0 + 60 * MIN]);
    // Days at UTC+3: local midnight is 21:00 UTC the day before.
    let three = 3 * 60 * MIN;
    let day = Step::Day.floor(T0, three);
    assert_eq!((T0 - day) % (24 * 60 * MIN), 13 * 60 * MIN);
    // Hours at UTC+05:30 start at half past in UTC.
    assert_eq!(Step::Hour.floor(T0, 330 * MIN), T0 - 30 * MIN);
    assert_eq!(Step::parse("15m"), Some(Step::Quarter));
    assert_eq!(Step::parse("2h"), None);
}

#[test]
fn per_agent_offered_answered_missed_and_share_within_three_rings() {
    let mut log = Log::default();
    log.arrive(T0, "a", "q");
    log.offer(T0, "a", "1001");
    log.miss(T0 + 10 * S, "a", "1001");
    log.offer(T0 + 10 * S, "a", "1002");
    log.answer(T0, 12 * S, "a", "1002");
    log.finish(T0 + MIN, "a", "1002", "completed", 5 * S);
    log.arrive(T0 + 2 * MIN, "b", "q");
    log.offer(T0 + 2 * MIN, "b", "1001");
    log.answer(T0 + 2 * MIN, 25 * S, "b", "1001");
    log.finish(T0 + 3 * MIN, "b", "1001", "completed", 0);
    let l = log.ledger();
    let agents = l.per_agent(T0, T0 + 10 * MIN, None);
    let names: Vec<&str> = agents.iter().map(|a| a.agent.as_str()).collect();
    assert_eq!(names, ["1001", "1002"]);
    let (a1, a2) = (&agents[0].tally, &agents[1].tally);
    assert_eq!((a1.offered, a1.answered, a1.missed_rings), (2, 1, 1));
    assert_eq!(a1.service_level(), Some(0.0));
    assert_eq!(a1.aht_ms(), Some(35 * S));
    assert_eq!((a2.offered, a2.answered, a2.missed_rings), (1, 1, 0));
    assert_eq!(a2.service_level(), Some(1.0));
    // 48 s of talk + 5 s of wrap-up.
    assert_eq!(a2.aht_ms(), Some(53 * S));
    // An agent filter on a series gives the same counts.
    let only = Filter {
        queue: None,
        agent: Some("1001".into()),
    };
    assert_eq!(l.tally(T0, T0 + 10 * MIN, &only), *a1);
}

#[test]
fn queue_filter_and_queues() {
    let mut log = Log::default();
    log.arrive(T0, "a", "reception");
    log.arrive(T0, "b", "pregnancy");
    log.arrive(T0, "c", "pregnancy");
    let l = log.ledger();
    let f = Filter {
        queue: Some("pregnancy".into()),
        agent: None,
    };
    assert_eq!(l.tally(T0, T0 + MIN, &f).offered, 2);
    assert_eq!(l.queues(), ["pregnancy", "reception"]);
}

#[test]
fn aht_waits_for_the_wrap_up_to_end() {
    let mut log = Log::default();
    log.arrive(T0, "a", "q");
    log.answer(T0, 2 * S, "a", "1001");
    log.end(T0 + MIN, "a", "completed");
    log.state(T0 + MIN, "1001", "on_call", "wrap_up");
    let l = log.ledger();
    let t = l.tally(T0, T0 + 2 * MIN, &all());
    assert_eq!((t.answered, t.handled), (1, 0));
    assert_eq!(l.agents()["1001"].state, "wrap_up");
    assert_eq!(l.agents()["1001"].call.as_deref(), Some("a"));
    log.state(T0 + MIN + 10 * S, "1001", "wrap_up", "paused");
    let l = log.ledger();
    let t = l.tally(T0, T0 + 2 * MIN, &all());
    assert_eq!(t.handled, 1);
    assert_eq!(t.aht_ms(), Some(68 * S));
    assert_eq!(l.agents()["1001"].call, None);
}

#[test]
fn a_hold_still_going_counts_once_over_the_reminder_and_ends_with_the_call() {
    let mut log = Log::default();
    log.arrive(T0, "a", "q");
    log.answer(T0, 2 * S, "a", "1001");
    log.push(
        T0 + 10 * S,
        "hold_started",
        Some("a"),
        Some("1001"),
        json!({}),
    );
    for r in 1..=3 {
        log.push(
            T0 + 10 * S + r * 30 * S,
            "hold_reminder",
            Some("a"),
            Some("1001"),
            json!({ "reminder": r }),
        );
    }
    let l = log.ledger();
    assert_eq!(l.call("a").unwrap().on_hold, Some((T0 + 10 * S, true)));
    assert_eq!(l.tally(T0, T0 + MIN, &all()).holds_over_reminder, 1);
    log.end(T0 + 110 * S, "a", "dropped");
    let l = log.ledger();
    let c = l.call("a").unwrap();
    assert_eq!((c.on_hold, c.hold_ms), (None, 100 * S));
}

#[test]
fn facts_of_calls_that_arrived_before_the_ledger_are_left_out() {
    let mut log = Log::default();
    log.answer(T0 - MIN, 2 * S, "old", "1001");
    log.end(T0, "old", "completed");
    let l = log.ledger();
    assert!(l.call("old").is_none());
    assert_eq!(l.tally(0, i64::MAX, &all()), Tally::default());
    // The agent's state is still followed.
    assert_eq!(l.agents()["1001"].state, "on_call");
}

#[test]
fn forgetting_keeps_live_calls_and_wrap_ups() {
    let mut log = Log::default();
    log.arrive(T0, "done", "q");
    log.abandon(T0, S, "done");
    log.arrive(T0, "live", "q");
    log.arrive(T0, "wrapping", "q");
    log.answer(T0, S, "wrapping", "1001");
    log.end(T0 + MIN, "wrapping", "completed");
    log.state(T0 + MIN, "1001", "on_call", "wrap_up");
    let mut l = log.ledger();
    l.forget_before(T0 + 2 * MIN);
    assert!(l.call("done").is_none());
    assert!(l.call("live").is_some());
    assert!(l.call("wrapping").is_some());
}

#[test]
fn csv_fields_match_the_header() {
    let mut log = Log::default();
    log.arrive(T0, "a", "q");
    log.answer(T0, 2 * S, "a", "1001");
    let t = log.ledger().tally(T0, T0 + MIN, &all());
    let f = t.csv_fields();
    assert_eq!(f.len(), Tally::CSV_HEADER.len());
    assert_eq!(f[1], "1");
    let at = |name: &str| Tally::CSV_HEADER.iter().position(|h| *h == name).unwrap();
    assert_eq!(f[at("service_level")], "1.0000");
    assert_eq!(f[at("aht_ms")], "", "no AHT before the call is over");
}

#[test]
fn a_caller_who_chose_a_call_back_is_counted_apart_not_as_abandoned() {
    let mut log = Log::default();
    log.arrive(T0, "a", "q");
    log.end(T0 + 40 * S, "a", "callback_requested");
    log.arrive(T0, "b", "q");
    log.answer(T0, 3 * S, "b", "1001");
    let t = log.ledger().tally(T0, T0 + MIN, &all());
    assert_eq!((t.offered, t.callbacks_chosen, t.abandoned), (2, 1, 0));
    assert_eq!(t.abandonment_rate(), Some(0.0));
    assert_eq!(
        t.service_level(),
        Some(1.0),
        "not against the service level either"
    );
    assert_eq!(t.waiting, 0);
}
