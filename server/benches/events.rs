//! Durable events per second: the server's event writer (group commit,
//! hash chain, `calls` folded) against a SQLite file, fed as fast as the
//! call core could, timed until the last event is broadcast — which happens
//! only after its batch committed. Beside it, in the same run, the same
//! events each committed on their own (no group commit), the reference.
//!
//!     cargo bench -p careline-server --bench events -- [EVENTS] [normal|full]
//!
//! Prints one line per measurement; `bench/events` runs it and makes the table.

use std::time::Instant;

use careline_server::store::events::EventRecord;
use careline_server::store::{Durability, Store};
use serde_json::json;

/// A call's facts as the call core emits them (about ten per call).
fn call_events(call: u64, at: i64) -> Vec<EventRecord> {
    let id = format!("call-{call:08x}");
    let agent = format!("{}", 1000 + call % 200);
    let ev = |kind: &str, dt: i64, agent: Option<&str>, data: serde_json::Value| EventRecord {
        seq: 0,
        at: at + dt,
        kind: kind.into(),
        call_id: Some(id.clone()),
        agent: agent.map(Into::into),
        data,
        hash: None,
    };
    vec![
        ev(
            "call_arrived",
            0,
            None,
            json!({ "queue": "reception", "caller": format!("+7921{:07}", call % 10_000_000) }),
        ),
        ev("agent_offered", 1, Some(&agent), json!({ "tier": "agent" })),
        ev(
            "agent_state_changed",
            1,
            Some(&agent),
            json!({ "from": "available", "to": "ringing" }),
        ),
        ev(
            "answered",
            4_000,
            Some(&agent),
            json!({ "tier": "agent", "wait_ms": 4000, "within_deadline": true }),
        ),
        ev(
            "agent_state_changed",
            4_000,
            Some(&agent),
            json!({ "from": "ringing", "to": "on_call" }),
        ),
        ev(
            "media_stats",
            60_000,
            None,
            json!({ "ringing": false, "caller_in": 2800, "caller_out": 2800, "agent_in": 2800, "agent_out": 2800 }),
        ),
        ev("ended", 60_000, None, json!({ "reason": "completed" })),
        ev(
            "agent_state_changed",
            60_000,
            Some(&agent),
            json!({ "from": "on_call", "to": "wrap_up" }),
        ),
        ev(
            "agent_state_changed",
            70_000,
            Some(&agent),
            json!({ "from": "wrap_up", "to": "available" }),
        ),
        ev(
            "media_stats",
            60_000,
            None,
            json!({ "ringing": true, "caller_in": 0, "caller_out": 200, "agent_in": 0, "agent_out": 0 }),
        ),
    ]
}

fn events(n: usize) -> Vec<EventRecord> {
    let mut out = Vec::with_capacity(n + 10);
    let mut call = 1;
    while out.len() < n {
        out.extend(call_events(call, 1_795_478_400_000 + call as i64 * 100));
        call += 1;
    }
    out.truncate(n);
    out
}

async fn open(dir: &std::path::Path, name: &str, sync: &str) -> Store {
    let url = format!("sqlite://{}", dir.join(name).display());
    let durability = match sync {
        "normal" => Durability::Normal,
        _ => Durability::Full,
    };
    Store::open_with(&url, durability)
        .await
        .expect("open the database")
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let sync = args.next().unwrap_or_else(|| "full".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");

        // The server's writer: the core task's side of the channel, timed
        // until the broadcast of the last event (sent after its commit).
        let store = open(dir.path(), "grouped.db", &sync).await;
        let (tx, live, task) =
            careline_server::runtime::spawn_event_writer(store.clone(), Default::default());
        let mut rx = live.subscribe();
        let batch = events(n);
        let t0 = Instant::now();
        for e in batch {
            tx.send(e).expect("writer alive");
        }
        let mut committed = 0usize;
        while committed < n {
            match rx.recv().await {
                Ok(_) => committed += 1,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => committed += k as usize,
                Err(e) => panic!("writer stopped: {e}"),
            }
        }
        let grouped = t0.elapsed();
        drop(tx);
        let _ = task.await;
        let report = store.verify_chain().await.expect("verify");
        assert_eq!(report.verified as usize, n, "every event is on the chain");
        assert!(report.broken.is_none());
        println!(
            "group-commit events={n} seconds={:.3} events_per_s={:.0} synchronous={sync}",
            grouped.as_secs_f64(),
            n as f64 / grouped.as_secs_f64()
        );

        // Reference: one transaction per event, on a smaller sample.
        let store = open(dir.path(), "single.db", &sync).await;
        let m = (n / 20).clamp(1_000, 10_000);
        let mut one = events(m);
        let t0 = Instant::now();
        for e in one.iter_mut() {
            store
                .append_events(std::slice::from_mut(e))
                .await
                .expect("append");
        }
        let single = t0.elapsed();
        println!(
            "one-per-commit events={m} seconds={:.3} events_per_s={:.0} synchronous={sync}",
            single.as_secs_f64(),
            m as f64 / single.as_secs_f64()
        );
    });
}
