//! API sessions: bearer tokens (kept only as SHA-256) tied to a user.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::users::Role;
use super::{Store, StoreError};

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Their extension (their login).
    pub extension: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// When the token stops working (epoch ms).
    pub expires_at: i64,
}

/// A login's stored secrets.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot log in.
    pub disabled: bool,
}

/// The stored form of a token.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// What a login needs to check a password.
    pub async fn login_record(&self, extension: &str) -> Result<Option<LoginRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, password_hash, disabled FROM users WHERE extension = ?",
        )
        .bind(extension)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            Some(LoginRecord {
                name: r.get(0),
                role: r.get::<String, _>(1).parse().ok()?,
                password_hash: r.get(2),
                disabled: r.get::<i64, _>(3) != 0,
            })
        }))
    }

    /// Stores a new session for `token` (expired ones are swept on the way).
    pub async fn create_session(
        &self,
        token: &str,
        extension: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_sha256, extension, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token_digest(token))
        .bind(extension)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session a token opens at `now`, if it is live and its user enabled.
    pub async fn session(&self, token: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT u.extension, u.name, u.role, s.expires_at FROM sessions s \
             JOIN users u ON u.extension = s.extension \
             WHERE s.token_sha256 = ? AND s.expires_at > ? AND u.disabled = 0",
        )
        .bind(token_digest(token))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            Some(Session {
                extension: r.get(0),
                name: r.get(1),
                role: r.get::<String, _>(2).parse().ok()?,
                expires_at: r.get(3),
            })
        }))
    }

    /// Ends a session.
    pub async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = ?")
            .bind(token_digest(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether `extension` was offered or took the call `call_id`. (A card
    /// opened because of a call-back task names the task's call, but opening
    /// it is no part in that call.)
    pub async fn took_part_in(&self, extension: &str, call_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM events WHERE agent = ? AND call_id = ? AND kind <> 'card_viewed' LIMIT 1",
        )
            .bind(extension)
            .bind(call_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Calls `extension` took part in that are still going on, or that have
    /// events after `seq`: what a reconnecting agent must keep seeing.
    pub async fn live_calls_of(
        &self,
        extension: &str,
        seq: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT e.call_id FROM events e WHERE e.agent = ? AND e.call_id IS NOT NULL \
             AND e.kind <> 'card_viewed' \
             AND (e.call_id IN (SELECT id FROM calls WHERE ended_at IS NULL) \
                  OR e.call_id IN (SELECT call_id FROM events WHERE seq > ? AND call_id IS NOT NULL \
                                   AND kind NOT LIKE 'callback_%'))",
        )
        .bind(extension)
        .bind(seq)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The calls `extension` was offered or took that arrived at or after
    /// `since` (epoch ms): each caller's number (as received) and the call,
    /// newest first.
    pub async fn callers_of(
        &self,
        extension: &str,
        since: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.caller, c.id FROM calls c \
             WHERE c.arrived_at >= ? \
             AND c.id IN (SELECT call_id FROM events WHERE agent = ? AND call_id IS NOT NULL \
                          AND kind <> 'card_viewed') \
             ORDER BY c.arrived_at DESC, c.id DESC",
        )
        .bind(since)
        .bind(extension)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::events::EventRecord;

    #[sqlx::test(migrations = "../migrations")]
    async fn an_agents_callers_are_those_of_their_recent_calls(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let fact =
            |call: &str, at: i64, kind: &str, agent: Option<&str>, caller: &str| EventRecord {
                seq: 0,
                at,
                kind: kind.into(),
                call_id: Some(call.into()),
                agent: agent.map(Into::into),
                data: json!({ "queue": "reception", "caller": caller }),
                hash: None,
            };
        store
            .append_events(&mut [
                fact("call-1", 1_000, "call_arrived", None, "+79210000001"),
                fact(
                    "call-1",
                    1_000,
                    "agent_offered",
                    Some("1001"),
                    "+79210000001",
                ),
                fact("call-2", 90_000, "call_arrived", None, "+79210000002"),
                fact(
                    "call-2",
                    90_000,
                    "agent_offered",
                    Some("1001"),
                    "+79210000002",
                ),
                fact("call-3", 90_000, "call_arrived", None, "+79210000003"),
                fact(
                    "call-3",
                    90_000,
                    "agent_offered",
                    Some("1002"),
                    "+79210000003",
                ),
            ])
            .await
            .unwrap();
        let pair = |n: &str, c: &str| (n.to_string(), c.to_string());
        assert_eq!(
            store.callers_of("1001", 0).await.unwrap(),
            [
                pair("+79210000002", "call-2"),
                pair("+79210000001", "call-1")
            ],
            "newest first"
        );
        assert_eq!(
            store.callers_of("1001", 50_000).await.unwrap(),
            [pair("+79210000002", "call-2")]
        );
        assert_eq!(store.callers_of("1003", 0).await.unwrap(), []);
        assert!(store.took_part_in("1002", "call-3").await.unwrap());
        assert!(!store.took_part_in("1002", "call-2").await.unwrap());
    }
}
