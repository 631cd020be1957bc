//! The database: sqlx over SQLite (embedded default), with the portable
//! migrations of `migrations/` run at start-up. One module per table group.

pub mod appointments;
pub mod audit;
pub mod callbacks;
pub mod events;
pub mod indicators;
pub mod patients;
pub mod registrations;
pub mod sessions;
pub mod users;

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not usable.
    #[error("bad database url: {0}")]
    Url(String),
    /// The database could not be opened or queried.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// When a commit counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// On disk (the write-ahead log synced) before the commit returns: a
    /// fact acknowledged survives a power cut. Group commit keeps this to
    /// one sync per batch.
    #[default]
    Full,
    /// In the log, synced at checkpoints: a power cut may lose the last
    /// commits (not a crash of the process).
    Normal,
}

/// A handle on the database (cheap to clone).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating when missing) and migrates the database at `url`,
    /// with every commit on disk before it returns.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, Durability::Full).await
    }

    /// [`open`](Self::open) with a chosen durability.
    pub async fn open_with(url: &str, durability: Durability) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Url(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            // Screen pops read the directory at random: keep its pages in
            // memory (32 MiB of cache per connection, the file mapped).
            .pragma("cache_size", "-32768")
            .pragma("mmap_size", "1073741824");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Wraps an existing pool (tests with `#[sqlx::test]`).
    pub fn from_pool(pool: SqlitePool) -> Store {
        Store { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Wall-clock time in epoch milliseconds, as stored in BIGINT columns.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new text id with a prefix naming its table (`usr_3f9c…`).
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}
