//! Registrar bindings, written through so a restart keeps phones reachable.

use sqlx::Row;

use super::{Store, StoreError};

/// One stored binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBinding {
    /// The extension (address-of-record user).
    pub extension: String,
    /// The contact URI, the binding's key.
    pub contact_uri: String,
    /// The Contact value as registered.
    pub contact: String,
    /// Call-ID of the REGISTER that made or refreshed it.
    pub call_id: String,
    /// Its CSeq.
    pub cseq: u32,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The address it came from.
    pub source: String,
    /// The phone's User-Agent.
    pub user_agent: Option<String>,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
}

/// A change the registrar made, to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Added or refreshed.
    Upsert(StoredBinding),
    /// Removed (unregistered or expired).
    Remove {
        /// The extension.
        extension: String,
        /// The contact URI.
        contact_uri: String,
    },
}

impl Store {
    /// Writes a batch of changes in one transaction.
    pub async fn apply_binding_changes(
        &self,
        changes: &[BindingChange],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        for change in changes {
            match change {
                BindingChange::Upsert(b) => {
                    sqlx::query(
                        "INSERT INTO registrations (extension, contact_uri, contact, call_id, cseq, transport, source, user_agent, expires_at, updated_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                         ON CONFLICT (extension, contact_uri) DO UPDATE SET
                           contact = excluded.contact, call_id = excluded.call_id, cseq = excluded.cseq,
                           transport = excluded.transport, source = excluded.source, user_agent = excluded.user_agent,
                           expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                    )
                    .bind(&b.extension)
                    .bind(&b.contact_uri)
                    .bind(&b.contact)
                    .bind(&b.call_id)
                    .bind(i64::from(b.cseq))
                    .bind(&b.transport)
                    .bind(&b.source)
                    .bind(&b.user_agent)
                    .bind(b.expires_at)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                BindingChange::Remove {
                    extension,
                    contact_uri,
                } => {
                    sqlx::query(
                        "DELETE FROM registrations WHERE extension = ? AND contact_uri = ?",
                    )
                    .bind(extension)
                    .bind(contact_uri)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Bindings still valid at `now_ms`; expired rows are deleted.
    pub async fn active_bindings(&self, now_ms: i64) -> Result<Vec<StoredBinding>, StoreError> {
        sqlx::query("DELETE FROM registrations WHERE expires_at <= ?")
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        let rows = sqlx::query(
            "SELECT extension, contact_uri, contact, call_id, cseq, transport, source, user_agent, expires_at
             FROM registrations ORDER BY extension, contact_uri",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredBinding {
                extension: r.get(0),
                contact_uri: r.get(1),
                contact: r.get(2),
                call_id: r.get(3),
                cseq: r.get::<i64, _>(4) as u32,
                transport: r.get(5),
                source: r.get(6),
                user_agent: r.get(7),
                expires_at: r.get(8),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(ext: &str, uri: &str, expires_at: i64) -> StoredBinding {
        StoredBinding {
            extension: ext.into(),
            contact_uri: uri.into(),
            contact: format!("<{uri}>"),
            call_id: "c".into(),
            cseq: 1,
            transport: "udp".into(),
            source: "127.0.0.1:5062".into(),
            user_agent: None,
            expires_at,
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn upsert_remove_and_expiry(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        store
            .apply_binding_changes(
                &[
                    BindingChange::Upsert(binding("1001", "sip:1001@a", 10_000)),
                    BindingChange::Upsert(binding("1001", "sip:1001@b", 500)),
                    BindingChange::Upsert(binding("1002", "sip:1002@c", 10_000)),
                ],
                0,
            )
            .await
            .unwrap();
        store
            .apply_binding_changes(
                &[
                    BindingChange::Upsert(StoredBinding {
                        cseq: 2,
                        ..binding("1001", "sip:1001@a", 20_000)
                    }),
                    BindingChange::Remove {
                        extension: "1002".into(),
                        contact_uri: "sip:1002@c".into(),
                    },
                ],
                1,
            )
            .await
            .unwrap();
        let active = store.active_bindings(1_000).await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].cseq, 2);
        assert_eq!(active[0].expires_at, 20_000);
    }
}
