//! The patient directory: idempotent upserts keyed by the clinic's id, all
//! or nothing per batch, and lookups by id or by a caller's E.164 number.

use sqlx::Row;

use super::appointments::Appointment;
use super::{Store, StoreError};
use crate::patients::{Patient, PatientInput};

/// A stored patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPatient {
    /// The clinic's id.
    pub mis_id: String,
    /// The card.
    pub input: PatientInput,
    /// E.164 numbers, in the order given.
    pub phones_e164: Vec<String>,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// The last and the next appointment, when the lookup brought them
    /// along ([`Store::cards_by_phone`]).
    pub appointments: Option<(Option<Appointment>, Option<Appointment>)>,
}

/// An appointment row as one JSON object, for a sub-select of `a`.
const APPOINTMENT_JSON: &str = "json_object('id', a.id, 'patient_id', a.patient_id,      'doctor', a.doctor, 'starts_at', a.starts_at, 'service', a.service,      'teleconsult', json(CASE WHEN a.teleconsult THEN 'true' ELSE 'false' END),      'consent', json(CASE WHEN a.consent THEN 'true' ELSE 'false' END),      'paid', json(CASE WHEN a.paid THEN 'true' ELSE 'false' END), 'phone', a.phone)";

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsertCounts {
    /// New patients.
    pub created: usize,
    /// Existing patients whose card changed.
    pub updated: usize,
    /// Existing patients sent again unchanged.
    pub unchanged: usize,
}

impl Store {
    /// Creates or replaces these patients (and their phones) in one
    /// transaction. Sending the same card again changes nothing.
    pub async fn upsert_patients(&self, patients: &[Patient]) -> Result<UpsertCounts, StoreError> {
        let now = super::now_ms();
        let mut counts = UpsertCounts {
            created: 0,
            updated: 0,
            unchanged: 0,
        };
        // The write lock from the start: a transaction that reads first and
        // writes later cannot wait its turn in WAL mode (SQLITE_BUSY at once
        // when another writer committed meanwhile).
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        for p in patients {
            let data = serde_json::to_string(&p.input)
                .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
            let old = sqlx::query("SELECT data FROM patients WHERE id = ?")
                .bind(&p.mis_id)
                .fetch_optional(&mut *tx)
                .await?;
            let old_phones: Vec<String> = sqlx::query(
                "SELECT e164 FROM patient_phones WHERE patient_id = ? ORDER BY position",
            )
            .bind(&p.mis_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            match old {
                Some(row) if row.get::<String, _>(0) == data && old_phones == p.phones_e164 => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(_) => counts.updated += 1,
                None => counts.created += 1,
            }
            sqlx::query(
                "INSERT INTO patients (id, full_name, data, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, \
                 data = excluded.data, updated_at = excluded.updated_at",
            )
            .bind(&p.mis_id)
            .bind(&p.input.full_name)
            .bind(&data)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM patient_phones WHERE patient_id = ?")
                .bind(&p.mis_id)
                .execute(&mut *tx)
                .await?;
            for (i, phone) in p.phones_e164.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO patient_phones (e164, patient_id, position) VALUES (?, ?, ?)",
                )
                .bind(phone)
                .bind(&p.mis_id)
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// One patient by the clinic's id.
    pub async fn patient(&self, mis_id: &str) -> Result<Option<StoredPatient>, StoreError> {
        let row = sqlx::query("SELECT id, data, updated_at FROM patients WHERE id = ?")
            .bind(mis_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let phones =
            sqlx::query("SELECT e164 FROM patient_phones WHERE patient_id = ? ORDER BY position")
                .bind(mis_id)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
        let input = serde_json::from_str(&row.get::<String, _>(1))
            .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
        Ok(Some(StoredPatient {
            appointments: None,
            mis_id: row.get(0),
            input,
            phones_e164: phones,
            updated_at: row.get(2),
        }))
    }

    /// Every patient with this E.164 number (a family may share one), in
    /// one query: this is on the path of every screen pop.
    /// The cards with this number, each with its last appointment before
    /// `now` and its next one, in one query: the screen pop's lookup.
    pub async fn cards_by_phone(
        &self,
        e164: &str,
        now: i64,
    ) -> Result<Vec<StoredPatient>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT p.id, p.data, p.updated_at, \
                    (SELECT group_concat(x.e164, ' ' ORDER BY x.position) \
                       FROM patient_phones x WHERE x.patient_id = p.id), \
                    (SELECT {APPOINTMENT_JSON} FROM appointments a \
                       WHERE a.patient_id = p.id AND a.starts_at < ?2 \
                       ORDER BY a.starts_at DESC LIMIT 1), \
                    (SELECT {APPOINTMENT_JSON} FROM appointments a \
                       WHERE a.patient_id = p.id AND a.starts_at >= ?2 \
                       ORDER BY a.starts_at LIMIT 1) \
             FROM patient_phones pp JOIN patients p ON p.id = pp.patient_id \
             WHERE pp.e164 = ?1 ORDER BY p.id"
        ))
        .bind(e164)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let decode = |e: serde_json::Error| StoreError::Db(sqlx::Error::Decode(Box::new(e)));
        rows.into_iter()
            .map(|row| {
                let appointment = |i: usize| -> Result<Option<Appointment>, StoreError> {
                    row.get::<Option<String>, _>(i)
                        .map(|j| serde_json::from_str(&j).map_err(decode))
                        .transpose()
                };
                let phones: Option<String> = row.get(3);
                Ok(StoredPatient {
                    mis_id: row.get(0),
                    input: serde_json::from_str(&row.get::<String, _>(1)).map_err(decode)?,
                    phones_e164: phones
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    updated_at: row.get(2),
                    appointments: Some((appointment(4)?, appointment(5)?)),
                })
            })
            .collect()
    }

    /// The cards with this number (without their appointments).
    pub async fn patients_by_phone(&self, e164: &str) -> Result<Vec<StoredPatient>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.data, p.updated_at, \
                    (SELECT group_concat(x.e164, ' ' ORDER BY x.position) \
                       FROM patient_phones x WHERE x.patient_id = p.id) \
             FROM patient_phones pp JOIN patients p ON p.id = pp.patient_id \
             WHERE pp.e164 = ? ORDER BY p.id",
        )
        .bind(e164)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let input = serde_json::from_str(&row.get::<String, _>(1))
                    .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
                let phones: Option<String> = row.get(3);
                Ok(StoredPatient {
                    mis_id: row.get(0),
                    input,
                    phones_e164: phones
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    updated_at: row.get(2),
                    appointments: None,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patients::{PhoneNormalizer, ServiceNotes, parse_date};

    fn patient(id: &str, name: &str, phones: &[&str]) -> Patient {
        PatientInput {
            full_name: name.into(),
            birth_date: Some("1980-05-17".into()),
            address_as: None,
            phones: phones.iter().map(|p| p.to_string()).collect(),
            notes: ServiceNotes {
                reminders: "bring the referral".into(),
                ..Default::default()
            },
            pathway: None,
            consent: true,
            marketing: false,
        }
        .validate(
            id,
            &PhoneNormalizer::new("RU").unwrap(),
            parse_date("2026-11-24").unwrap(),
        )
        .unwrap()
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn the_pops_lookup_brings_each_cards_last_and_next_appointment(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let family = [
            patient("mis-1", "Ivan Ivanov", &["8 921 123 45 67"]),
            patient("mis-2", "Maria Ivanova", &["+7 921 123-45-67"]),
        ];
        store.upsert_patients(&family).await.unwrap();
        let appt = |id: &str, starts_at: i64, teleconsult: bool| Appointment {
            id: id.into(),
            patient_id: "mis-1".into(),
            doctor: "3001".into(),
            starts_at,
            service: format!("visit {id}"),
            teleconsult,
            consent: teleconsult,
            paid: true,
            phone: teleconsult.then(|| "+79210000009".to_string()),
        };
        let now = 1_800_000_000_000;
        let list = [
            appt("A-1", now - 86_400_000 * 30, false),
            appt("A-2", now - 86_400_000, true),
            appt("A-3", now + 86_400_000 * 7, false),
            appt("A-4", now + 86_400_000 * 2, true),
        ];
        store.upsert_appointments(&list).await.unwrap();
        let cards = store.cards_by_phone("+79211234567", now).await.unwrap();
        assert_eq!(cards.len(), 2);
        let (last, next) = cards[0].appointments.clone().unwrap();
        assert_eq!(last.as_ref(), Some(&list[1]), "the latest before now");
        assert_eq!(next.as_ref(), Some(&list[3]), "the soonest after now");
        // The same as the separate lookups give.
        assert_eq!(
            store
                .last_and_next_appointments("mis-1", now)
                .await
                .unwrap(),
            (last, next)
        );
        assert_eq!(cards[1].mis_id, "mis-2");
        assert_eq!(cards[1].appointments, Some((None, None)));
        assert_eq!(
            cards[0].input,
            store.patients_by_phone("+79211234567").await.unwrap()[0].input
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn upsert_is_idempotent_and_phones_find_the_card(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let ivanov = patient(
            "mis-1",
            "Ivan Ivanov",
            &["8 921 123 45 67", "+7 812 450-12-34"],
        );
        let counts = store.upsert_patients(&[ivanov.clone()]).await.unwrap();
        assert_eq!(
            (counts.created, counts.updated, counts.unchanged),
            (1, 0, 0)
        );
        let again = store.upsert_patients(&[ivanov.clone()]).await.unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 1));

        for written in ["+79211234567", "+78124501234"] {
            let found = store.patients_by_phone(written).await.unwrap();
            assert_eq!(found.len(), 1, "{written}");
            assert_eq!(found[0].input, ivanov.input);
            assert_eq!(found[0].phones_e164, ["+79211234567", "+78124501234"]);
        }

        // A changed card replaces the old one, phones included.
        let moved = patient("mis-1", "Ivan Ivanov", &["+7 921 000-00-01"]);
        let counts = store.upsert_patients(&[moved]).await.unwrap();
        assert_eq!(counts.updated, 1);
        assert!(
            store
                .patients_by_phone("+79211234567")
                .await
                .unwrap()
                .is_empty()
        );
        let p = store.patient("mis-1").await.unwrap().unwrap();
        assert_eq!(p.phones_e164, ["+79210000001"]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_shared_family_number_finds_every_card(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        store
            .upsert_patients(&[
                patient("mis-2", "Olga Sidorova", &["+7 921 765-43-21"]),
                patient("mis-3", "Masha Sidorova", &["8 921 765 43 21"]),
            ])
            .await
            .unwrap();
        let names: Vec<String> = store
            .patients_by_phone("+79217654321")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.input.full_name)
            .collect();
        assert_eq!(names, ["Olga Sidorova", "Masha Sidorova"]);
        assert_eq!(store.patient("nobody").await.unwrap(), None);
    }
}
