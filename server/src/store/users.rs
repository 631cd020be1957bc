//! Staff accounts: roles, extensions and credential material.
//!
//! The clear password is seen once, when set: it becomes an argon2id hash
//! (for API login) and the two digest HA1 values for the SIP realm (MD5 and
//! SHA-256, RFC 8760), which is all the registrar ever needs.

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use careline_shared::sip::DigestAlgorithm;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{Store, StoreError, new_id, now_ms};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Answers patients' calls.
    Agent,
    /// Senior specialist: escalations and transfers.
    Senior,
    /// Places teleconsult calls.
    Doctor,
    /// Watches the indicators.
    Supervisor,
    /// Configures the system.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Agent,
        Role::Senior,
        Role::Doctor,
        Role::Supervisor,
        Role::Admin,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Senior => "senior",
            Role::Doctor => "doctor",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = UserError;
    fn from_str(s: &str) -> Result<Role, UserError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UserError::Role(s.to_string()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a user could not be added.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Extension not 1–32 of `[0-9A-Za-z._-]`.
    #[error("extension `{0}` must be 1 to 32 letters, digits, '.', '_' or '-'")]
    Extension(String),
    /// Empty name.
    #[error("name must not be empty")]
    Name,
    /// Unknown role.
    #[error("unknown role `{0}` (agent, senior, doctor, supervisor or admin)")]
    Role(String),
    /// Password too short.
    #[error("password must be at least {0} characters")]
    Password(usize),
    /// The extension is taken.
    #[error("extension {0} already exists")]
    Duplicate(String),
    /// Hashing failed (out of memory, in practice).
    #[error("cannot hash password: {0}")]
    Hash(String),
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for UserError {
    fn from(e: sqlx::Error) -> UserError {
        UserError::Store(StoreError::Db(e))
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The extension (also the SIP user name).
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The clear password, dropped after hashing.
    pub password: String,
}

/// Credential material prepared from a [`NewUser`]: the slow argon2 step done.
#[derive(Debug, Clone)]
pub struct PreparedUser {
    extension: String,
    name: String,
    role: Role,
    password_hash: String,
    realm: String,
    ha1_md5: String,
    ha1_sha256: String,
}

/// What the registrar needs of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// The extension.
    pub extension: String,
    /// The realm HA1 was computed for.
    pub realm: String,
    /// H(ext:realm:password) with MD5.
    pub ha1_md5: String,
    /// The same with SHA-256.
    pub ha1_sha256: String,
}

impl DigestCredentials {
    /// HA1 for one algorithm.
    pub fn ha1(&self, alg: DigestAlgorithm) -> &str {
        match alg {
            DigestAlgorithm::Md5 => &self.ha1_md5,
            DigestAlgorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: String,
    /// Extension.
    pub extension: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// May neither log in nor register a phone.
    pub disabled: bool,
}

/// Credential material for a password: the argon2id hash (API logins) and
/// the digest HA1s (SIP registration), for one extension and realm.
#[derive(Debug, Clone)]
pub struct PreparedPassword {
    password_hash: String,
    realm: String,
    ha1_md5: String,
    ha1_sha256: String,
}

impl PreparedPassword {
    /// Checks the length and hashes (slow: argon2id, on purpose).
    pub fn new(
        extension: &str,
        password: &str,
        realm: &str,
        min_password: usize,
    ) -> Result<PreparedPassword, UserError> {
        if password.chars().count() < min_password {
            return Err(UserError::Password(min_password));
        }
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let password_hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| UserError::Hash(e.to_string()))?
            .to_string();
        Ok(PreparedPassword {
            password_hash,
            realm: realm.to_string(),
            ha1_md5: DigestAlgorithm::Md5.ha1(extension, realm, password),
            ha1_sha256: DigestAlgorithm::Sha256.ha1(extension, realm, password),
        })
    }
}

/// A change to a user: the fields given, the others kept.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// A new display name.
    pub name: Option<String>,
    /// A new role.
    pub role: Option<Role>,
    /// A new password.
    pub password: Option<PreparedPassword>,
    /// Disable (or enable again).
    pub disabled: Option<bool>,
}

impl UserChange {
    /// Whether it changes what the user may do, or how they prove who they
    /// are: their API sessions then end.
    fn ends_sessions(&self) -> bool {
        self.role.is_some() || self.password.is_some() || self.disabled == Some(true)
    }
}

fn check_extension(ext: &str) -> Result<(), UserError> {
    let ok = !ext.is_empty()
        && ext.len() <= 32
        && ext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(UserError::Extension(ext.to_string()))
    }
}

impl PreparedUser {
    /// The extension.
    pub fn extension(&self) -> &str {
        &self.extension
    }
}

impl NewUser {
    /// Validates and hashes (slow: argon2id, on purpose).
    pub fn prepare(self, realm: &str, min_password: usize) -> Result<PreparedUser, UserError> {
        check_extension(&self.extension)?;
        if self.name.trim().is_empty() {
            return Err(UserError::Name);
        }
        let p = PreparedPassword::new(&self.extension, &self.password, realm, min_password)?;
        Ok(PreparedUser {
            extension: self.extension,
            name: self.name.trim().to_string(),
            role: self.role,
            password_hash: p.password_hash,
            realm: p.realm,
            ha1_md5: p.ha1_md5,
            ha1_sha256: p.ha1_sha256,
        })
    }
}

/// An argon2id hash of a random password nobody knows: checked against
/// logins for unknown extensions, so they cost what a wrong password does.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let secret: [u8; 32] = rand::random();
        Argon2::default()
            .hash_password(&secret, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Whether `password` matches an argon2 PHC hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Store {
    /// Adds prepared users in one transaction: all or none.
    pub async fn insert_users(&self, users: &[PreparedUser]) -> Result<(), UserError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let now = now_ms();
        for u in users {
            let taken = sqlx::query("SELECT 1 FROM users WHERE extension = ?")
                .bind(&u.extension)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(UserError::Duplicate(u.extension.clone()));
            }
            sqlx::query(
                "INSERT INTO users (id, extension, name, role, password_hash, realm, ha1_md5, ha1_sha256, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(new_id("usr"))
            .bind(&u.extension)
            .bind(&u.name)
            .bind(u.role.as_str())
            .bind(&u.password_hash)
            .bind(&u.realm)
            .bind(&u.ha1_md5)
            .bind(&u.ha1_sha256)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every enabled user's digest material.
    pub async fn digest_credentials(&self) -> Result<Vec<DigestCredentials>, StoreError> {
        let rows = sqlx::query(
            "SELECT extension, realm, ha1_md5, ha1_sha256 FROM users WHERE disabled = 0",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DigestCredentials {
                extension: r.get(0),
                realm: r.get(1),
                ha1_md5: r.get(2),
                ha1_sha256: r.get(3),
            })
            .collect())
    }

    /// A fingerprint of the users table that changes whenever a user is added,
    /// changed or removed, so the runtime knows when to reload credentials.
    pub async fn users_version(&self) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Every user, by extension.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows =
            sqlx::query("SELECT id, extension, name, role, disabled FROM users ORDER BY extension")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(User {
                    id: r.get(0),
                    extension: r.get(1),
                    name: r.get(2),
                    role: r.get::<String, _>(3).parse().ok()?,
                    disabled: r.get::<i64, _>(4) != 0,
                })
            })
            .collect())
    }

    /// Changes a user in one transaction. A change that would leave no
    /// enabled admin is refused inside it (so two at once cannot both pass).
    /// A new role or password, or disabling, ends the user's API sessions;
    /// the runtime sees the change (`users_version`) and reloads the phones'
    /// credentials.
    pub async fn update_user(
        &self,
        extension: &str,
        change: &UserChange,
    ) -> Result<Updated, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let was_admin = sqlx::query(
            "SELECT 1 FROM users WHERE extension = ? AND role = 'admin' AND disabled = 0",
        )
        .bind(extension)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE users SET updated_at = ");
        q.push_bind(now_ms());
        if let Some(name) = &change.name {
            q.push(", name = ").push_bind(name.trim().to_string());
        }
        if let Some(role) = change.role {
            q.push(", role = ").push_bind(role.as_str());
        }
        if let Some(p) = &change.password {
            q.push(", password_hash = ")
                .push_bind(p.password_hash.clone());
            q.push(", realm = ").push_bind(p.realm.clone());
            q.push(", ha1_md5 = ").push_bind(p.ha1_md5.clone());
            q.push(", ha1_sha256 = ").push_bind(p.ha1_sha256.clone());
        }
        if let Some(disabled) = change.disabled {
            q.push(", disabled = ").push_bind(i64::from(disabled));
        }
        q.push(" WHERE extension = ")
            .push_bind(extension.to_string());
        if q.build().execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(Updated::NoSuchUser);
        }
        let admins: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(&mut *tx)
                .await?;
        if was_admin && admins == 0 {
            // Dropping the transaction rolls the change back.
            return Ok(Updated::LastAdmin);
        }
        if change.ends_sessions() {
            sqlx::query("DELETE FROM sessions WHERE extension = ?")
                .bind(extension)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Updated::Done)
    }
}

/// What [`Store::update_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// Changed.
    Done,
    /// No user has that extension.
    NoSuchUser,
    /// Refused: no enabled admin would remain.
    LastAdmin,
}

/// One rejected CSV row.
#[derive(Debug)]
pub struct RowError {
    /// The 1-based line in the file.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Reads `ext,name,role,password` rows (with that header). Returns the valid
/// users, or every row's error; nothing is written unless all rows are good.
pub fn read_users_csv(data: &[u8]) -> Result<Vec<NewUser>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let mut errors = Vec::new();
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                reason: e.to_string(),
            }]);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(ext), Some(name), Some(role), Some(password)) =
        (col("ext"), col("name"), col("role"), col("password"))
    else {
        return Err(vec![RowError {
            line: 1,
            reason: "the header must name the columns ext,name,role,password".into(),
        }]);
    };
    let mut users = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("").to_string();
        let role_text = field(role);
        match role_text.parse::<Role>() {
            Ok(r) => {
                let extension = field(ext);
                if !seen.insert(extension.clone()) {
                    errors.push(RowError {
                        line,
                        reason: format!("extension {extension} appears twice in the file"),
                    });
                    continue;
                }
                users.push((
                    line,
                    NewUser {
                        extension,
                        name: field(name),
                        role: r,
                        password: field(password),
                    },
                ));
            }
            Err(e) => errors.push(RowError {
                line,
                reason: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(users.into_iter().map(|(_, u)| u).collect())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_errors_are_all_reported() {
        let csv = b"ext,name,role,password\n1001,Anna,agent,secret-1\n1002,Boris,janitor,secret-2\n1001,Again,agent,secret-3\n";
        let errs = read_users_csv(csv).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].line, 3);
        assert!(errs[0].reason.contains("janitor"));
        assert_eq!(errs[1].line, 4);
    }

    #[test]
    fn csv_header_must_name_columns() {
        let errs = read_users_csv(b"a,b\n1,2\n").unwrap_err();
        assert!(errs[0].reason.contains("ext,name,role,password"));
    }

    #[test]
    fn prepared_user_keeps_no_clear_password() {
        let u = NewUser {
            extension: "1001".into(),
            name: "Anna".into(),
            role: Role::Agent,
            password: "correct horse".into(),
        }
        .prepare("clinic", 8)
        .unwrap();
        let dump = format!("{u:?}");
        assert!(!dump.contains("correct horse"));
        assert_eq!(
            u.ha1_md5,
            DigestAlgorithm::Md5.ha1("1001", "clinic", "correct horse")
        );
        assert!(verify_password(&u.password_hash, "correct horse"));
        assert!(!verify_password(&u.password_hash, "wrong"));
    }

    #[test]
    fn rejects_bad_extension_and_short_password() {
        let base = NewUser {
            extension: "10 01".into(),
            name: "A".into(),
            role: Role::Agent,
            password: "longenough".into(),
        };
        assert!(matches!(
            base.clone().prepare("r", 8),
            Err(UserError::Extension(_))
        ));
        let short = NewUser {
            extension: "1001".into(),
            password: "123".into(),
            ..base
        };
        assert!(matches!(short.prepare("r", 8), Err(UserError::Password(8))));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn insert_is_all_or_nothing(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let mk = |ext: &str| {
            NewUser {
                extension: ext.into(),
                name: "N".into(),
                role: Role::Agent,
                password: "password1".into(),
            }
            .prepare("r", 8)
            .unwrap()
        };
        store.insert_users(&[mk("1001")]).await.unwrap();
        let err = store
            .insert_users(&[mk("1002"), mk("1001")])
            .await
            .unwrap_err();
        assert!(matches!(err, UserError::Duplicate(ref e) if e == "1001"));
        let exts: Vec<String> = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.extension)
            .collect();
        assert_eq!(exts, vec!["1001"]);
        let creds = store.digest_credentials().await.unwrap();
        assert_eq!(
            creds[0].ha1_md5,
            DigestAlgorithm::Md5.ha1("1001", "r", "password1")
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn no_change_removes_the_last_enabled_admin(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let mk = |ext: &str, role: Role| {
            NewUser {
                extension: ext.into(),
                name: "N".into(),
                role,
                password: "password1".into(),
            }
            .prepare("r", 8)
            .unwrap()
        };
        store
            .insert_users(&[mk("1001", Role::Agent)])
            .await
            .unwrap();
        let rename = UserChange {
            name: Some("Vera".into()),
            ..UserChange::default()
        };
        // No admin at all (made by `user add` later, say): other changes go on.
        assert_eq!(
            store.update_user("1001", &rename).await.unwrap(),
            Updated::Done
        );
        store
            .insert_users(&[mk("9999", Role::Admin)])
            .await
            .unwrap();
        let demote = UserChange {
            role: Some(Role::Supervisor),
            ..UserChange::default()
        };
        let disable = UserChange {
            disabled: Some(true),
            ..UserChange::default()
        };
        for change in [&demote, &disable] {
            assert_eq!(
                store.update_user("9999", change).await.unwrap(),
                Updated::LastAdmin
            );
        }
        let admin = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.extension == "9999")
            .unwrap();
        assert_eq!(
            (admin.role, admin.disabled),
            (Role::Admin, false),
            "rolled back"
        );
        assert_eq!(
            store.update_user("4242", &rename).await.unwrap(),
            Updated::NoSuchUser
        );
        // With a second admin, the first may go.
        store
            .insert_users(&[mk("9998", Role::Admin)])
            .await
            .unwrap();
        assert_eq!(
            store.update_user("9999", &demote).await.unwrap(),
            Updated::Done
        );
    }
}
