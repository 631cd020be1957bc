//! `careline-server audit verify` and `audit export`.
//!
//! Export writes the events of a time range with their chain hashes and,
//! last, the hash of the newest row in the whole log at that moment (so a
//! later export or verify shows whether rows were removed from the end).
//! Every export is itself recorded in the trail: who, what range, how many
//! rows.

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use crate::store::Store;
use crate::store::audit::ChainReport;
use crate::store::events::EventRecord;
use crate::timefmt::{format_utc, parse_utc};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One row per event; `data` as JSON text.
    Csv,
    /// One JSON document: the range, the rows and the chain head.
    Json,
}

/// What `audit verify` prints, and whether the chain holds.
pub fn describe(report: &ChainReport) -> (String, bool) {
    let mut text = match &report.broken {
        None => format!(
            "audit chain verified: {} events, up to event {}",
            report.verified, report.verified_up_to
        ),
        Some(b) => format!(
            "audit chain BROKEN at event {}: {} (verified {} events before it, up to event {})",
            b.seq, b.reason, report.verified, report.verified_up_to
        ),
    };
    if report.unchained > 0 {
        text.push_str(&format!(
            "\n{} earlier events were written before the chain existed and carry no hash",
            report.unchained
        ));
    }
    (text, report.broken.is_none())
}

/// `audit verify`: prints the report; an error when the chain is broken.
pub async fn verify(store: &Store) -> anyhow::Result<()> {
    let report = store.verify_chain().await?;
    let (text, ok) = describe(&report);
    println!("{text}");
    if !ok {
        anyhow::bail!("the audit trail has been altered");
    }
    Ok(())
}

/// `audit export --from --to --format`: writes to `out`, then records the
/// export (by `who`) in the trail.
pub async fn export(
    store: &Store,
    from: &str,
    to: &str,
    format: Format,
    who: &str,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let from_ms = parse_utc(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to_ms = parse_utc(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if to_ms <= from_ms {
        anyhow::bail!("--to ({to}) must be after --from ({from})");
    }
    let rows = store.events_between(from_ms, to_ms).await?;
    let head = store
        .events_after(store.last_event_seq().await? - 1, 1)
        .await?;
    let head = head.last();
    match format {
        Format::Csv => write_csv(&rows, out)?,
        Format::Json => {
            let doc = json!({
                "from": format_utc(from_ms),
                "to": format_utc(to_ms),
                "events": rows.iter().map(event_json).collect::<Vec<_>>(),
                "chain_head": head.map(|h| json!({ "seq": h.seq, "hash": h.hash })),
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    let mut fact = [EventRecord {
        seq: 0,
        at: crate::store::now_ms(),
        kind: "audit_exported".into(),
        call_id: None,
        agent: None,
        data: json!({
            "by": who,
            "from": format_utc(from_ms),
            "to": format_utc(to_ms),
            "format": match format { Format::Csv => "csv", Format::Json => "json" },
            "rows": rows.len(),
        }),
        hash: None,
    }];
    store
        .append_events(&mut fact)
        .await
        .context("recording the export in the audit trail")?;
    Ok(rows.len())
}

fn event_json(r: &EventRecord) -> serde_json::Value {
    json!({
        "seq": r.seq,
        "at": format_utc(r.at),
        "at_ms": r.at,
        "kind": r.kind,
        "call_id": r.call_id,
        "agent": r.agent,
        "data": r.data,
        "hash": r.hash,
    })
}

fn write_csv(rows: &[EventRecord], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "seq", "at", "at_ms", "kind", "call_id", "agent", "data", "hash",
    ])?;
    for r in rows {
        w.write_record([
            r.seq.to_string(),
            format_utc(r.at),
            r.at.to_string(),
            r.kind.clone(),
            r.call_id.clone().unwrap_or_default(),
            r.agent.clone().unwrap_or_default(),
            r.data.to_string(),
            r.hash.clone().unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_calls(pool: sqlx::SqlitePool) -> Store {
        let store = Store::from_pool(pool);
        let mut facts: Vec<EventRecord> = [
            ("call_arrived", 1_795_478_400_000i64),
            ("answered", 1_795_478_405_000),
            ("ended", 1_795_564_800_000), // the next day
        ]
        .into_iter()
        .map(|(kind, at)| EventRecord {
            seq: 0,
            at,
            kind: kind.into(),
            call_id: Some("call-00000001".into()),
            agent: (kind == "answered").then(|| "1001".into()),
            data: json!({ "queue": "reception", "caller": "+79210000000", "reason": "completed" }),
            hash: None,
        })
        .collect();
        store.append_events(&mut facts).await.unwrap();
        store
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn csv_export_holds_the_range_and_is_itself_recorded(pool: sqlx::SqlitePool) {
        let store = store_with_calls(pool).await;
        let mut out = Vec::new();
        let n = export(
            &store,
            "2026-11-24",
            "2026-11-25",
            Format::Csv,
            "it-admin",
            &mut out,
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "seq,at,at_ms,kind,call_id,agent,data,hash");
        assert!(
            lines[1].starts_with(
                "1,2026-11-24T00:00:00.000Z,1795478400000,call_arrived,call-00000001,,"
            )
        );
        assert!(
            lines[2].starts_with(
                "2,2026-11-24T00:00:05.000Z,1795478405000,answered,call-00000001,1001,"
            )
        );
        assert_eq!(lines.len(), 3);
        let recorded = store.events_after(3, 10).await.unwrap();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].kind, "audit_exported");
        assert_eq!(recorded[0].data["by"], "it-admin");
        assert_eq!(recorded[0].data["rows"], 2);
        let report = store.verify_chain().await.unwrap();
        assert_eq!((report.verified, report.broken), (4, None));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn json_export_carries_hashes_and_the_chain_head(pool: sqlx::SqlitePool) {
        let store = store_with_calls(pool).await;
        let mut out = Vec::new();
        export(
            &store,
            "2026-11-24T00:00:05Z",
            "2026-11-26",
            Format::Json,
            "it-admin",
            &mut out,
        )
        .await
        .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let events = doc["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["kind"], "answered");
        assert_eq!(events[1]["kind"], "ended");
        assert_eq!(events[1]["at"], "2026-11-25T00:00:00.000Z");
        let last = store.events_after(2, 1).await.unwrap().remove(0);
        assert_eq!(events[1]["hash"], json!(last.hash));
        assert_eq!(doc["chain_head"]["seq"], 3);
        assert_eq!(doc["chain_head"]["hash"], json!(last.hash));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn bad_ranges_are_refused_before_anything_is_written(pool: sqlx::SqlitePool) {
        let store = store_with_calls(pool).await;
        for (from, to, needle) in [
            ("2026-11-25", "2026-11-24", "must be after"),
            ("24.11.2026", "2026-11-25", "--from"),
            ("2026-11-24", "2026-11-24T12:00", "--to"),
        ] {
            let mut out = Vec::new();
            let err = export(&store, from, to, Format::Csv, "x", &mut out)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{from}..{to}: {err}");
            assert!(out.is_empty());
        }
        assert_eq!(store.last_event_seq().await.unwrap(), 3);
    }

    #[test]
    fn verify_report_names_the_broken_event() {
        let (text, ok) = describe(&ChainReport {
            verified: 41,
            verified_up_to: 41,
            unchained: 0,
            broken: Some(crate::store::audit::ChainBreak {
                seq: 42,
                reason: "its hash does not match".into(),
            }),
        });
        assert!(!ok);
        assert!(text.contains("BROKEN at event 42"), "{text}");
    }
}
