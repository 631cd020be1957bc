//! Appointments (upserted from the clinic's system) and the doctors'
//! teleconsult record, folded from the `dialout_*` events inside the
//! writer's transaction.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::events::EventRecord;
use super::{Store, StoreError};

/// An appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// The clinic's id.
    pub id: String,
    /// The patient's id (the clinic's).
    pub patient_id: String,
    /// The doctor's extension.
    pub doctor: String,
    /// When it starts (epoch ms).
    pub starts_at: i64,
    /// The service booked.
    pub service: String,
    /// A teleconsult slot (the doctor calls the patient).
    pub teleconsult: bool,
    /// Informed consent to a remote consultation given.
    pub consent: bool,
    /// Paid.
    pub paid: bool,
    /// The number to call, E.164, when not the patient's first.
    pub phone: Option<String>,
}

/// One teleconsult call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeleconsultCall {
    /// The call.
    pub call_id: String,
    /// Its appointment.
    pub appointment_id: String,
    /// The doctor's extension (the phone that called).
    pub doctor: String,
    /// The doctor's name.
    pub doctor_name: Option<String>,
    /// The number called.
    pub number: String,
    /// The patient's id and name, from the appointment.
    pub patient_id: Option<String>,
    /// The patient's name.
    pub patient_name: Option<String>,
    /// The INVITE to the doctor's phone (epoch ms).
    pub invited_at: i64,
    /// When the patient answered.
    pub answered_at: Option<i64>,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// `reached`, `no_answer`, `busy` … once ended.
    pub outcome: Option<String>,
}

impl TeleconsultCall {
    /// Talk time (ms), once answered and ended.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.ended_at? - self.answered_at?)
    }
}

/// Folds the batch's teleconsult facts (inside the writer's transaction).
pub(super) async fn fold(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[EventRecord],
) -> Result<(), StoreError> {
    for r in records.iter().filter(|r| r.kind.starts_with("dialout_")) {
        let Some(call) = &r.call_id else { continue };
        match r.kind.as_str() {
            "dialout_started" if r.data["purpose"] == "teleconsult" => {
                sqlx::query(
                    "INSERT INTO teleconsult_calls (call_id, appointment_id, doctor, number, invited_at)
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
                )
                .bind(call)
                .bind(r.data["link"].as_str().unwrap_or_default())
                .bind(r.agent.as_deref().unwrap_or_default())
                .bind(r.data["number"].as_str().unwrap_or_default())
                .bind(r.at)
                .execute(&mut **tx)
                .await?;
            }
            "dialout_answered" if r.data["side"] == "patient" => {
                sqlx::query("UPDATE teleconsult_calls SET answered_at = ? WHERE call_id = ?")
                    .bind(r.at)
                    .bind(call)
                    .execute(&mut **tx)
                    .await?;
            }
            "dialout_ended" => {
                sqlx::query(
                    "UPDATE teleconsult_calls SET ended_at = ?, outcome = ? WHERE call_id = ?",
                )
                .bind(r.at)
                .bind(r.data["outcome"].as_str().unwrap_or_default())
                .bind(call)
                .execute(&mut **tx)
                .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn appointment(r: &sqlx::sqlite::SqliteRow) -> Appointment {
    Appointment {
        id: r.get(0),
        patient_id: r.get(1),
        doctor: r.get(2),
        starts_at: r.get(3),
        service: r.get(4),
        teleconsult: r.get::<i64, _>(5) != 0,
        consent: r.get::<i64, _>(6) != 0,
        paid: r.get::<i64, _>(7) != 0,
        phone: r.get(8),
    }
}

const COLUMNS: &str =
    "id, patient_id, doctor, starts_at, service, teleconsult, consent, paid, phone";

impl Store {
    /// Creates or replaces an appointment; `true` when it is new.
    pub async fn upsert_appointment(&self, a: &Appointment) -> Result<bool, StoreError> {
        Ok(self.upsert_appointments(std::slice::from_ref(a)).await? == 1)
    }

    /// Creates or replaces appointments in one transaction (all or
    /// nothing); how many were new.
    pub async fn upsert_appointments(&self, list: &[Appointment]) -> Result<usize, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut created = 0;
        for a in list {
            let existed = sqlx::query("SELECT 1 FROM appointments WHERE id = ?")
                .bind(&a.id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            created += usize::from(!existed);
            sqlx::query(
                "INSERT INTO appointments (id, patient_id, doctor, starts_at, service, teleconsult,
                                       consent, paid, phone, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET patient_id = excluded.patient_id,
                 doctor = excluded.doctor, starts_at = excluded.starts_at,
                 service = excluded.service, teleconsult = excluded.teleconsult,
                 consent = excluded.consent, paid = excluded.paid, phone = excluded.phone,
                 updated_at = excluded.updated_at",
            )
            .bind(&a.id)
            .bind(&a.patient_id)
            .bind(&a.doctor)
            .bind(a.starts_at)
            .bind(&a.service)
            .bind(i64::from(a.teleconsult))
            .bind(i64::from(a.consent))
            .bind(i64::from(a.paid))
            .bind(&a.phone)
            .bind(super::now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// One appointment.
    pub async fn appointment(&self, id: &str) -> Result<Option<Appointment>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM appointments WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(appointment))
    }

    /// Appointments starting in `[from, to)`, of one doctor or all, by time.
    pub async fn appointments(
        &self,
        doctor: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Appointment>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {COLUMNS} FROM appointments WHERE starts_at >= "
        ));
        q.push_bind(from).push(" AND starts_at < ").push_bind(to);
        if let Some(d) = doctor {
            q.push(" AND doctor = ").push_bind(d.to_string());
        }
        q.push(" ORDER BY starts_at, id LIMIT 5000");
        let rows = q.build().fetch_all(self.pool()).await?;
        Ok(rows.iter().map(appointment).collect())
    }

    /// A patient's last appointment before `now` and next one from it.
    pub async fn last_and_next_appointments(
        &self,
        patient_id: &str,
        now: i64,
    ) -> Result<(Option<Appointment>, Option<Appointment>), StoreError> {
        let last = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM appointments WHERE patient_id = ? AND starts_at < ?
             ORDER BY starts_at DESC LIMIT 1"
        ))
        .bind(patient_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let next = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM appointments WHERE patient_id = ? AND starts_at >= ?
             ORDER BY starts_at LIMIT 1"
        ))
        .bind(patient_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok((
            last.as_ref().map(appointment),
            next.as_ref().map(appointment),
        ))
    }

    /// Teleconsult calls placed in `[from, to)`, of one doctor or all,
    /// newest first.
    pub async fn teleconsult_calls(
        &self,
        doctor: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<TeleconsultCall>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT t.call_id, t.appointment_id, t.doctor, u.name, t.number, a.patient_id,
                    p.full_name, t.invited_at, t.answered_at, t.ended_at, t.outcome
             FROM teleconsult_calls t
             LEFT JOIN users u ON u.extension = t.doctor
             LEFT JOIN appointments a ON a.id = t.appointment_id
             LEFT JOIN patients p ON p.id = a.patient_id
             WHERE t.invited_at >= ",
        );
        q.push_bind(from).push(" AND t.invited_at < ").push_bind(to);
        if let Some(d) = doctor {
            q.push(" AND t.doctor = ").push_bind(d.to_string());
        }
        q.push(" ORDER BY t.invited_at DESC, t.call_id LIMIT 5000");
        let rows = q.build().fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|r| TeleconsultCall {
                call_id: r.get(0),
                appointment_id: r.get(1),
                doctor: r.get(2),
                doctor_name: r.get(3),
                number: r.get(4),
                patient_id: r.get(5),
                patient_name: r.get(6),
                invited_at: r.get(7),
                answered_at: r.get(8),
                ended_at: r.get(9),
                outcome: r.get(10),
            })
            .collect())
    }
}
