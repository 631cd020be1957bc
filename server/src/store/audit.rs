//! The audit trail: the event log as a hash chain.
//!
//! Each row's `hash` is SHA-256 over a version tag, the previous row's hash
//! and the row's own fields, each length-prefixed so no two different rows
//! can be written as the same bytes. Changing a row changes its hash;
//! removing one leaves a gap in `seq` and a wrong `prev` for the next; the
//! walk in [`Store::verify_chain`] names the first row where either shows.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::events::EventRecord;
use super::{Store, StoreError};

/// Hashes one row onto the chain after `prev` (`None` for the first row).
/// `data` is the row's `data` column exactly as stored.
pub fn chain_hash(prev: Option<&str>, r: &EventRecord, data: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"careline-event-v1\n");
    field(&mut h, prev.map(str::as_bytes));
    field(&mut h, Some(&r.seq.to_le_bytes()));
    field(&mut h, Some(&r.at.to_le_bytes()));
    field(&mut h, Some(r.kind.as_bytes()));
    field(&mut h, r.call_id.as_deref().map(str::as_bytes));
    field(&mut h, r.agent.as_deref().map(str::as_bytes));
    field(&mut h, Some(data.as_bytes()));
    hex::encode(h.finalize())
}

fn field(h: &mut Sha256, value: Option<&[u8]>) {
    match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([1u8]);
            h.update((v.len() as u64).to_le_bytes());
            h.update(v);
        }
    }
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows whose hash was checked and found right.
    pub verified: u64,
    /// The last row checked and found right (0 when none).
    pub verified_up_to: i64,
    /// Rows from before the chain existed (no hash, all before the first hashed row).
    pub unchained: u64,
    /// The first row where the chain breaks, if it does.
    pub broken: Option<ChainBreak>,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first row that does not follow from the ones before it.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// The meta key holding the fingerprint of the configuration last run with.
const CONFIG_KEY: &str = "config_sha256";

/// Rows read per query while walking.
const PAGE: i64 = 5_000;

impl Store {
    /// Walks the whole event log in `seq` order and checks every link.
    pub async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        let mut report = ChainReport {
            verified: 0,
            verified_up_to: 0,
            unchained: 0,
            broken: None,
        };
        let mut last_seq: Option<i64> = None;
        let mut prev: Option<String> = None;
        let mut chained = false;
        loop {
            let rows = sqlx::query(
                "SELECT seq, at, kind, call_id, agent, data, hash FROM events \
                 WHERE seq > ? ORDER BY seq LIMIT ?",
            )
            .bind(last_seq.unwrap_or(i64::MIN))
            .bind(PAGE)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                return Ok(report);
            }
            for row in rows {
                let data: String = row.get("data");
                let hash: Option<String> = row.get("hash");
                let r = EventRecord {
                    seq: row.get("seq"),
                    at: row.get("at"),
                    kind: row.get("kind"),
                    call_id: row.get("call_id"),
                    agent: row.get("agent"),
                    data: serde_json::Value::Null,
                    hash: None,
                };
                let gap = last_seq.is_some_and(|l| r.seq != l + 1);
                last_seq = Some(r.seq);
                let reason = match (&hash, chained) {
                    (None, false) => {
                        report.unchained += 1;
                        continue;
                    }
                    (None, true) => Some("the row has no hash".to_string()),
                    (Some(_), true) if gap => Some(format!(
                        "rows are missing before it (the previous row is seq {})",
                        report.verified_up_to
                    )),
                    (Some(stored), _) => {
                        let expected = chain_hash(prev.as_deref(), &r, &data);
                        (stored != &expected).then(|| {
                            "its hash does not match its content and the row before it".to_string()
                        })
                    }
                };
                if let Some(reason) = reason {
                    report.broken = Some(ChainBreak { seq: r.seq, reason });
                    return Ok(report);
                }
                chained = true;
                prev = hash;
                report.verified += 1;
                report.verified_up_to = r.seq;
            }
        }
    }

    /// Events with `from <= at < to` (epoch ms), oldest first, with their hashes.
    pub async fn events_between(&self, from: i64, to: i64) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, call_id, agent, data, hash FROM events \
             WHERE at >= ? AND at < ? ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(super::events::record).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fact(kind: &str, at: i64, call: Option<&str>) -> EventRecord {
        EventRecord {
            seq: 0,
            at,
            kind: kind.into(),
            call_id: call.map(Into::into),
            agent: Some("1001".into()),
            data: json!({ "queue": "reception" }),
            hash: None,
        }
    }

    async fn chain_of(store: &Store, n: usize) -> Vec<EventRecord> {
        let mut batch: Vec<EventRecord> = (0..n)
            .map(|i| fact("agent_offered", 1_000 + i as i64, Some("call-00000001")))
            .collect();
        store.append_events(&mut batch).await.unwrap();
        batch
    }

    #[test]
    fn every_field_and_the_previous_hash_count() {
        let base = fact("answered", 5, Some("call-1"));
        let h = chain_hash(None, &base, "{}");
        assert_eq!(h.len(), 64);
        let variants = [
            chain_hash(Some(&h), &base, "{}"),
            chain_hash(
                None,
                &EventRecord {
                    seq: 1,
                    ..base.clone()
                },
                "{}",
            ),
            chain_hash(
                None,
                &EventRecord {
                    at: 6,
                    ..base.clone()
                },
                "{}",
            ),
            chain_hash(None, &fact("ended", 5, Some("call-1")), "{}"),
            chain_hash(None, &fact("answered", 5, None), "{}"),
            chain_hash(None, &fact("answered", 5, Some("")), "{}"),
            chain_hash(
                None,
                &EventRecord {
                    agent: None,
                    ..base.clone()
                },
                "{}",
            ),
            chain_hash(None, &base, "{ }"),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(v, &h, "variant {i} hashes like the original");
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn appended_rows_are_chained_and_verify(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        chain_of(&store, 3).await;
        let more = chain_of(&store, 2).await;
        assert_eq!(more[0].seq, 4);
        let report = store.verify_chain().await.unwrap();
        assert_eq!(
            report,
            ChainReport {
                verified: 5,
                verified_up_to: 5,
                unchained: 0,
                broken: None
            }
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn update_and_delete_are_refused(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        chain_of(&store, 2).await;
        let update = sqlx::query("UPDATE events SET kind = 'answered' WHERE seq = 1")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(update.to_string().contains("append-only"), "{update}");
        let delete = sqlx::query("DELETE FROM events WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(delete.to_string().contains("append-only"), "{delete}");
        assert_eq!(store.verify_chain().await.unwrap().verified, 2);
    }

    /// Someone with the database file drops the triggers and edits history:
    /// the walk names the first row that no longer follows.
    #[sqlx::test(migrations = "../migrations")]
    async fn tampering_is_found_at_the_first_altered_row(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        chain_of(&store, 6).await;
        sqlx::query("DROP TRIGGER events_no_update")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER events_no_delete")
            .execute(store.pool())
            .await
            .unwrap();

        sqlx::query("UPDATE events SET data = '{\"queue\":\"lab\"}' WHERE seq = 4")
            .execute(store.pool())
            .await
            .unwrap();
        let report = store.verify_chain().await.unwrap();
        assert_eq!(report.verified_up_to, 3);
        let broken = report.broken.unwrap();
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("does not match"),
            "{}",
            broken.reason
        );

        // Removing a row (even with the altered one put back) breaks at the next.
        sqlx::query("UPDATE events SET data = '{\"queue\":\"reception\"}' WHERE seq = 4")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.verify_chain().await.unwrap().broken, None);
        sqlx::query("DELETE FROM events WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = store.verify_chain().await.unwrap().broken.unwrap();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("missing"), "{}", broken.reason);

        // Removing the newest rows cannot be seen from the rows (nothing
        // follows them), which is why exports carry the last hash.
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn rows_from_before_the_chain_are_counted_apart(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        for seq in 1..=2 {
            sqlx::query("INSERT INTO events (seq, at, kind, data) VALUES (?, 1, 'legacy', '{}')")
                .bind(seq)
                .execute(store.pool())
                .await
                .unwrap();
        }
        chain_of(&store, 2).await;
        let report = store.verify_chain().await.unwrap();
        assert_eq!(report.unchained, 2);
        assert_eq!(report.verified, 2);
        assert_eq!(report.verified_up_to, 4);
        assert_eq!(report.broken, None);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn export_range_is_half_open(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        chain_of(&store, 5).await; // at 1000..=1004
        let rows = store.events_between(1_001, 1_004).await.unwrap();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
        assert!(
            rows.iter()
                .all(|r| r.hash.as_ref().is_some_and(|h| h.len() == 64))
        );
    }
}

impl Store {
    /// Records a configuration change: when `fingerprint` differs from the
    /// one the server last ran with, appends a `config_changed` event (new
    /// and previous SHA-256; the text itself may hold secrets) and keeps the
    /// new one. Returns whether it changed.
    pub async fn record_config(&self, fingerprint: &str, at: i64) -> Result<bool, StoreError> {
        let previous: Option<String> = sqlx::query("SELECT value FROM meta WHERE key = ?")
            .bind(CONFIG_KEY)
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.get(0));
        if previous.as_deref() == Some(fingerprint) {
            return Ok(false);
        }
        let mut fact = [EventRecord {
            seq: 0,
            at,
            kind: "config_changed".into(),
            call_id: None,
            agent: None,
            data: serde_json::json!({ "sha256": fingerprint, "previous": previous }),
            hash: None,
        }];
        self.append_events(&mut fact).await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(CONFIG_KEY)
        .bind(fingerprint)
        .execute(self.pool())
        .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[sqlx::test(migrations = "../migrations")]
    async fn a_changed_configuration_is_recorded_once(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let a = crate::config::Config::parse("[log]\nlevel = \"info\"\n").unwrap();
        let b = crate::config::Config::parse("[log]\nlevel = \"debug\"\n").unwrap();
        assert_eq!(a.fingerprint.len(), 64);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert!(store.record_config(&a.fingerprint, 1).await.unwrap());
        assert!(
            !store.record_config(&a.fingerprint, 2).await.unwrap(),
            "same file, nothing to record"
        );
        assert!(store.record_config(&b.fingerprint, 3).await.unwrap());
        let facts = store.events_after(0, 10).await.unwrap();
        let kinds: Vec<&str> = facts.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["config_changed", "config_changed"]);
        assert_eq!(facts[0].data["previous"], serde_json::Value::Null);
        assert_eq!(facts[1].data["previous"], a.fingerprint.as_str());
        assert_eq!(facts[1].data["sha256"], b.fingerprint.as_str());
        assert_eq!(store.verify_chain().await.unwrap().broken, None);
    }
}
