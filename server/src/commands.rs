//! Command-line operations other than serving: provisioning users and the
//! demo data set.

use std::io::Read;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::store::Store;
use crate::store::users::{NewUser, Role, read_users_csv};

/// `user add --ext … --name … --role … --password-stdin`.
pub async fn user_add(
    config: &Config,
    store: &Store,
    extension: String,
    name: String,
    role: &str,
) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!(
            "no password on standard input (pipe it in: echo … | careline-server user add … --password-stdin)"
        );
    }
    let user = NewUser {
        extension: extension.clone(),
        name,
        role,
        password,
    }
    .prepare(&config.sip.domain, config.users.min_password_length)?;
    store.insert_users(&[user]).await?;
    println!("added {role} {extension}");
    Ok(())
}

/// `users import FILE.csv`: every row valid, or nothing written.
pub async fn users_import(
    config: &Config,
    store: &Store,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let users = all_rows(path, read_users_csv(&data))?;
    let count = users.len();
    let prepared = prepare_all(users, &config.sip.domain, config.users.min_password_length)?;
    store.insert_users(&prepared).await?;
    println!("imported {count} users");
    Ok(())
}

/// The rows of an import, or every bad row printed (`FILE:LINE: reason`)
/// and an error: nothing is imported unless all are good.
fn all_rows<T>(
    path: &std::path::Path,
    rows: Result<Vec<T>, Vec<crate::store::users::RowError>>,
) -> anyhow::Result<Vec<T>> {
    rows.or_else(|errors| {
        for e in &errors {
            eprintln!("{}:{}: {}", path.display(), e.line, e.reason);
        }
        bail!(
            "{} bad row(s) in {}; nothing was imported",
            errors.len(),
            path.display()
        )
    })
}

/// `patients import FILE.csv`: every row valid, or nothing written; a
/// patient already known (same `mis_id`) is updated, one sent again
/// unchanged is left alone.
pub async fn patients_import(
    config: &Config,
    store: &Store,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let phones = crate::patients::PhoneNormalizer::new(&config.patients.default_region)
        .map_err(|e| anyhow::anyhow!("patients.default_region: {e}"))?;
    let today = crate::store::now_ms().div_euclid(86_400_000);
    let patients = all_rows(
        path,
        crate::patients::read_patients_csv(&data, &phones, today),
    )?;
    let counts = store.upsert_patients(&patients).await?;
    println!(
        "patients: {} created, {} updated, {} unchanged",
        counts.created, counts.updated, counts.unchanged
    );
    Ok(())
}

/// `appointments import FILE.csv`: every row checked (the patient known,
/// the doctor a doctor), all written in one transaction or none.
pub async fn appointments_import(
    config: &Config,
    store: &Store,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let phones = crate::patients::PhoneNormalizer::new(&config.patients.default_region)
        .map_err(|e| anyhow::anyhow!("patients.default_region: {e}"))?;
    let rows = crate::appointments::read_csv(&data, &phones, store).await?;
    let list = all_rows(path, rows)?;
    let created = store.upsert_appointments(&list).await?;
    println!(
        "appointments: {created} created, {} replaced",
        list.len() - created
    );
    Ok(())
}

/// Hashes on every core: argon2 is slow on purpose, and imports can be large.
fn prepare_all(
    users: Vec<NewUser>,
    realm: &str,
    min_password: usize,
) -> anyhow::Result<Vec<crate::store::users::PreparedUser>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = users.len().div_ceil(threads).max(1);
    let chunks: Vec<Vec<NewUser>> = users.chunks(chunk).map(<[NewUser]>::to_vec).collect();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    c.into_iter()
                        .map(|u| {
                            let ext = u.extension.clone();
                            u.prepare(realm, min_password)
                                .map_err(|e| anyhow::anyhow!("extension {ext}: {e}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hashing thread panicked"))
            .collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The demo's staff: (extension, name, role, password).
pub const DEMO_USERS: &[(&str, &str, Role, &str)] = &[
    ("1001", "Anna Petrova", Role::Agent, "demo-1001"),
    ("1002", "Boris Ivanov", Role::Agent, "demo-1002"),
    ("1003", "Chloe Martin", Role::Agent, "demo-1003"),
    ("2001", "Dr. Elena Sokolova", Role::Senior, "demo-2001"),
    ("3001", "Dr. Wei Zhang", Role::Doctor, "demo-3001"),
    ("9001", "Sofia Laurent", Role::Supervisor, "demo-9001"),
    ("9999", "Admin", Role::Admin, "demo-9999"),
];

/// The demo's queue: number 100 rings the agents, then the senior.
pub fn demo_queue() -> crate::config::QueueConfig {
    let text = "[[queues]]\nname = \"reception\"\nnumber = \"100\"\nagents = [\"1001\", \"1002\", \"1003\"]\nseniors = [\"2001\"]\n";
    // A constant that the config tests also parse; it cannot fail.
    Config::parse(text).expect("demo queue").queues.remove(0)
}

/// Creates the demo users (the database is fresh).
pub async fn seed_demo(config: &Config, store: &Store) -> anyhow::Result<()> {
    let users = DEMO_USERS
        .iter()
        .map(|(ext, name, role, pw)| NewUser {
            extension: (*ext).into(),
            name: (*name).into(),
            role: *role,
            password: (*pw).into(),
        })
        .collect();
    let prepared = prepare_all(users, &config.sip.domain, 0)?;
    store.insert_users(&prepared).await?;
    let phones = crate::patients::PhoneNormalizer::new(&config.patients.default_region)
        .map_err(|e| anyhow::anyhow!("patients.default_region: {e}"))?;
    let today = crate::store::now_ms().div_euclid(86_400_000);
    let patients = crate::patients::read_patients_csv(DEMO_PATIENTS.as_bytes(), &phones, today)
        .map_err(|e| anyhow::anyhow!("demo patients: {e:?}"))?;
    store.upsert_patients(&patients).await?;
    Ok(())
}

/// The demo's patients (fictional), so a call from these numbers pops a card.
pub const DEMO_PATIENTS: &str = "\
mis_id,full_name,birth_date,address_as,phones,consent,pregnancy_lmp,preferences,reminders,difficulties
demo-001,Maria Smirnova,1992-03-14,Maria Ivanovna,+7 921 000-00-01,yes,2026-06-01,mornings only,bring the 20-week scan,
demo-002,Pierre Durand,1951-07-02,Monsieur Durand,+33 6 12 34 56 78,yes,,speaks French,fasting before the blood test,hard of hearing: speak slowly
";

/// What the demo prints once it listens.
pub fn demo_banner(config: &Config, sip: &[String], http: &str) -> String {
    let mut s = String::new();
    s.push_str("\nCareline demo is running.\n\n");
    s.push_str(&format!("  SIP        {}\n", sip.join("  ")));
    s.push_str(&format!("  SIP domain {}\n", config.sip.domain));
    s.push_str(&format!(
        "  Web        http://{http}/  (health: http://{http}/health)\n"
    ));
    s.push_str(&format!("  Database   {}\n\n", config.database.url));
    s.push_str("  Logins (extension / password), also the SIP user and password of each phone:\n");
    for (ext, name, role, pw) in DEMO_USERS {
        s.push_str(&format!("    {ext:<6} {pw:<10} {role:<11} {name}\n"));
    }
    for q in &config.queues {
        s.push_str(&format!(
            "\n  Queue {:?}: dial {} to ring agents {}; after {} rings the seniors ({}) ring too\n",
            q.name,
            q.number,
            q.agents.join(", "),
            q.rings_to_answer,
            q.seniors.join(", ")
        ));
    }
    s.push_str("\nPoint a softphone at it: user 1001, password demo-1001, domain/registrar ");
    s.push_str(&format!(
        "{}, as README.md shows. Ctrl-C stops it.\n",
        config.sip.domain
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_banner_lists_logins_and_the_queue() {
        let mut config = Config::parse("").unwrap();
        config.queues.push(demo_queue());
        let text = demo_banner(&config, &["udp://127.0.0.1:5060".into()], "127.0.0.1:8080");
        assert!(text.contains("1001   demo-1001"));
        assert!(
            text.contains("dial 100 to ring agents 1001, 1002, 1003"),
            "{text}"
        );
        assert!(text.contains("seniors (2001)"), "{text}");
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;

    #[sqlx::test(migrations = "../migrations")]
    async fn demo_data_has_staff_and_patients_whose_calls_pop_a_card(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let config = Config::parse("").unwrap();
        seed_demo(&config, &store).await.unwrap();
        assert_eq!(store.list_users().await.unwrap().len(), DEMO_USERS.len());
        let maria = store.patients_by_phone("+79210000001").await.unwrap();
        assert_eq!(maria.len(), 1);
        assert_eq!(maria[0].input.full_name, "Maria Smirnova");
        let pierre = store.patient("demo-002").await.unwrap().unwrap();
        assert_eq!(pierre.phones_e164, ["+33612345678"]);
    }
}
