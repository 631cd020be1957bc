//! The `callbacks` table: folded from the `callback_*` events in the same
//! transaction that writes them, read back by the scheduler at start and by
//! the API.

use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::events::EventRecord;
use super::{Store, StoreError};
use crate::callbacks::{Owner, Status, Task};

/// Folds the batch's call-back facts into `callbacks` and
/// `callback_attempts` (inside the writer's transaction).
pub(super) async fn fold(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[EventRecord],
) -> Result<(), StoreError> {
    for r in records.iter().filter(|r| r.kind.starts_with("callback_")) {
        let Some(task) = r
            .data
            .get("task")
            .and_then(|t| serde_json::from_value::<Task>(t.clone()).ok())
        else {
            continue;
        };
        let (owner_kind, owner) = match &task.owner {
            Owner::Agent(a) => ("agent", a.as_str()),
            Owner::Queue(q) => ("queue", q.as_str()),
        };
        sqlx::query(
            "INSERT INTO callbacks (id, call_id, queue, reason, owner_kind, owner, status, overdue,
                                    created_at, due_at, sla_at, closed_at, attempts, task)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET owner_kind = excluded.owner_kind,
                 owner = excluded.owner, status = excluded.status, overdue = excluded.overdue,
                 due_at = excluded.due_at, closed_at = excluded.closed_at,
                 attempts = excluded.attempts, task = excluded.task
             WHERE callbacks.status = 'open'",
        )
        .bind(&task.id)
        .bind(&task.call_id)
        .bind(&task.queue)
        .bind(text(&task.reason))
        .bind(owner_kind)
        .bind(owner)
        .bind(text(&task.status))
        .bind(i64::from(task.overdue))
        .bind(task.created_at)
        .bind(task.due_at)
        .bind(task.sla_at)
        .bind(task.closed_at)
        .bind(task.attempts.len() as i64)
        .bind(task.to_json().to_string())
        .execute(&mut **tx)
        .await?;
        if r.kind == "callback_attempted"
            && let Some(a) = task.attempts.last()
        {
            sqlx::query(
                "INSERT INTO callback_attempts (task_id, n, at, agent, outcome) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (task_id, n) DO NOTHING",
            )
            .bind(&task.id)
            .bind(task.attempts.len() as i64)
            .bind(a.at)
            .bind(&a.agent)
            .bind(text(&a.outcome))
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// A serde enum's name.
fn text(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Whose tasks a listing holds.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everyone's.
    All,
    /// Those an agent may work: their own, and their queues'.
    Agent {
        /// The agent.
        extension: &'a str,
        /// The queues they answer for.
        queues: &'a [&'a str],
    },
}

/// Call-back counts for the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackCounts {
    /// Open now.
    pub open: i64,
    /// Open and past their deadline.
    pub overdue: i64,
    /// Reached since `since`.
    pub done: i64,
    /// Given up since `since`.
    pub failed: i64,
}

impl Store {
    /// Tasks that are open, or were created since `since` (the scheduler's
    /// start: closed ones keep replayed facts from opening them again).
    pub async fn callbacks_for_restore(&self, since: i64) -> Result<Vec<Task>, StoreError> {
        let rows =
            sqlx::query("SELECT task FROM callbacks WHERE status = 'open' OR created_at >= ?")
                .bind(since)
                .fetch_all(self.pool())
                .await?;
        Ok(parse(rows))
    }

    /// One task.
    pub async fn callback(&self, id: &str) -> Result<Option<Task>, StoreError> {
        let rows = sqlx::query("SELECT task FROM callbacks WHERE id = ?")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        Ok(parse(rows).pop())
    }

    /// Tasks by status (`None`: every one) that `scope` may see: open ones
    /// by due time, closed ones newest first; at most `limit`.
    pub async fn callbacks(
        &self,
        status: Option<Status>,
        scope: Scope<'_>,
        limit: i64,
    ) -> Result<Vec<Task>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT task FROM callbacks WHERE 1 = 1");
        if let Some(s) = status {
            q.push(" AND status = ").push_bind(text(&s));
        }
        if let Scope::Agent { extension, queues } = scope {
            q.push(" AND ((owner_kind = 'agent' AND owner = ")
                .push_bind(extension.to_string())
                .push(")");
            if !queues.is_empty() {
                q.push(" OR (owner_kind = 'queue' AND owner IN (");
                let mut list = q.separated(", ");
                for name in queues {
                    list.push_bind(name.to_string());
                }
                q.push("))");
            }
            q.push(")");
        }
        q.push(if status == Some(Status::Open) {
            " ORDER BY due_at, id"
        } else {
            " ORDER BY COALESCE(closed_at, due_at) DESC, id"
        });
        q.push(" LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(self.pool()).await?;
        Ok(parse(rows))
    }

    /// Open and overdue now; done and failed since `since`.
    pub async fn callback_counts(&self, since: i64) -> Result<CallbackCounts, StoreError> {
        let row = sqlx::query(
            "SELECT
                 COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN status = 'open' AND overdue = 1 THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN status = 'done' AND closed_at >= ?1 THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN status = 'failed' AND closed_at >= ?1 THEN 1 ELSE 0 END), 0)
             FROM callbacks WHERE status = 'open' OR closed_at >= ?1",
        )
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(CallbackCounts {
            open: row.get(0),
            overdue: row.get(1),
            done: row.get(2),
            failed: row.get(3),
        })
    }
}

fn parse(rows: Vec<sqlx::sqlite::SqliteRow>) -> Vec<Task> {
    rows.iter()
        .filter_map(|r| serde_json::from_str(&r.get::<String, _>(0)).ok())
        .collect()
}
