//! The `careline-server` commands an IT person runs by hand, run as such:
//! the real binary on a real SQLite file, its exit status and what it says.
//!
//! - `audit verify` on a file someone edited or pruned with another SQLite
//!   client names the first event that no longer fits the chain;
//! - `patients import` with bad rows names each one and writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::{Connection, Row, SqliteConnection};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_careline-server");

/// A folder with a configuration naming a database file in it.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let text = format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[patients]\ndefault_region = \"RU\"\n",
            dir.path().join("careline.db").display()
        );
        std::fs::write(dir.path().join("careline.toml"), text).expect("writing the configuration");
        Site { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `careline-server --config … ARGS` to its end.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(SERVER_BIN)
            .arg("--config")
            .arg(self.path("careline.toml"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running careline-server")
    }

    /// Another SQLite client on the same file: what a person with access to
    /// the server's disk could use.
    async fn sqlite(&self) -> SqliteConnection {
        let url = format!("sqlite://{}", self.path("careline.db").display());
        SqliteConnection::connect(&url)
            .await
            .expect("opening the database file")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Four exports: each is recorded in the trail, so the chain has four links.
fn trail_of_four(site: &Site) {
    for i in 0..4 {
        let out = site.run(&[
            "audit",
            "export",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2036-01-01T00:00:00Z",
            "--format",
            "json",
            "--by",
            &format!("it-{i}"),
            "--output",
            site.path(&format!("export-{i}.json")).to_str().unwrap(),
        ]);
        assert!(out.status.success(), "export {i}: {}", text(&out));
    }
}

async fn seqs(db: &mut SqliteConnection) -> Vec<i64> {
    sqlx::query("SELECT seq FROM events ORDER BY seq")
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect()
}

#[tokio::test]
async fn audit_verify_names_the_row_edited_or_deleted_behind_the_servers_back() {
    let site = Site::new();
    trail_of_four(&site);
    let out = site.run(&["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("audit chain verified: 4 events"),
        "{}",
        text(&out)
    );

    let mut db = site.sqlite().await;
    let all = seqs(&mut db).await;
    assert_eq!(all.len(), 4, "{all:?}");
    // The triggers refuse changes; someone set on it drops them first.
    let refused = sqlx::query("UPDATE events SET data = '{}' WHERE seq = ?")
        .bind(all[1])
        .execute(&mut db)
        .await;
    assert!(refused.is_err(), "an UPDATE got through the trigger");
    for trigger in ["events_no_update", "events_no_delete"] {
        sqlx::query(&format!("DROP TRIGGER {trigger}"))
            .execute(&mut db)
            .await
            .unwrap();
    }

    // An edited row: verify fails and names it.
    let original: String = sqlx::query_scalar("SELECT data FROM events WHERE seq = ?")
        .bind(all[1])
        .fetch_one(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET data = '{\"by\":\"someone else\"}' WHERE seq = ?")
        .bind(all[1])
        .execute(&mut db)
        .await
        .unwrap();
    let out = site.run(&["audit", "verify"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("BROKEN at event {}", all[1])),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("altered"), "{}", text(&out));

    // Put back, it verifies again; a deleted row breaks the chain at the
    // row after it.
    sqlx::query("UPDATE events SET data = ? WHERE seq = ?")
        .bind(&original)
        .bind(all[1])
        .execute(&mut db)
        .await
        .unwrap();
    assert!(site.run(&["audit", "verify"]).status.success());
    sqlx::query("DELETE FROM events WHERE seq = ?")
        .bind(all[2])
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let out = site.run(&["audit", "verify"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("BROKEN at event {}", all[3])),
        "{}",
        text(&out)
    );
}

fn write(path: &Path, body: &str) {
    std::fs::write(path, body).expect("writing a CSV");
}

#[tokio::test]
async fn patients_import_names_every_bad_row_and_writes_nothing_until_all_are_good() {
    let site = Site::new();
    let csv = site.path("patients.csv");
    write(
        &csv,
        "mis_id,full_name,phones,consent\n\
         p-1,Anna Petrova,+7 921 123-45-67,yes\n\
         p-2,,+7 921 123-45-68,no\n\
         p-3,Oleg Sidorov,not a phone,no\n\
         p-4,Vera Orlova,8 921 123 45 69,maybe\n",
    );
    let out = site.run(&["patients", "import", csv.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    for line in 3..=5 {
        assert!(
            said.contains(&format!("patients.csv:{line}: ")),
            "line {line} not named: {said}"
        );
    }
    assert!(
        !said.contains("patients.csv:2: "),
        "a good row was blamed: {said}"
    );
    assert!(said.contains("nothing was imported"), "{said}");
    let mut db = site.sqlite().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(count, 0, "rows were written from a file with bad rows");

    write(
        &csv,
        "mis_id,full_name,phones,consent\n\
         p-1,Anna Petrova,+7 921 123-45-67,yes\n\
         p-2,Ivan Ivanov,8 921 123 45 68,no\n",
    );
    let out = site.run(&["patients", "import", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let phones: Vec<String> = sqlx::query_scalar("SELECT e164 FROM patient_phones ORDER BY e164")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(phones, ["+79211234567", "+79211234568"]);
    // Again: the same file changes nothing (an upsert by the clinic's id).
    let out = site.run(&["patients", "import", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(count, 2);
}
