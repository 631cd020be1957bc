//! Appointments as the clinic's information system sends them — one over
//! `PUT /api/appointments/{id}`, many with `careline-server appointments
//! import FILE.csv` — checked the same way: the clinic's id, a time, a
//! service, the number to call; then, against the store, that the patient
//! exists and the doctor is a doctor. An import writes every row or none.

use serde::Deserialize;

use crate::patients::{FieldError, PhoneNormalizer, valid_clinic_id};
use crate::store::appointments::Appointment;
use crate::store::users::{Role, RowError};
use crate::store::{Store, StoreError};
use crate::timefmt;

/// One appointment before checking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    /// The patient's id (the clinic's).
    pub patient: String,
    /// The doctor's extension.
    pub doctor: String,
    /// Epoch ms, or `YYYY-MM-DDTHH:MM[:SS]Z`.
    pub starts_at: serde_json::Value,
    /// The service booked.
    pub service: String,
    /// A teleconsult slot.
    #[serde(default)]
    pub teleconsult: bool,
    /// Informed consent to a remote consultation.
    #[serde(default)]
    pub consent: bool,
    /// Paid.
    #[serde(default)]
    pub paid: bool,
    /// The number to call when not the patient's first.
    #[serde(default)]
    pub phone: Option<String>,
}

fn err(field: &'static str, reason: String) -> FieldError {
    FieldError { field, reason }
}

/// Epoch ms, or `YYYY-MM-DDTHH:MM[:SS]Z`.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| format!("`{s}` is out of range"));
    }
    timefmt::parse_utc(s)
}

impl AppointmentInput {
    /// Checks what can be checked without the store.
    pub fn validate(self, id: &str, phones: &PhoneNormalizer) -> Result<Appointment, FieldError> {
        if !valid_clinic_id(id) {
            return Err(err(
                "id",
                format!("`{id}`: use 1–64 letters, digits, '-', '_' or '.'"),
            ));
        }
        let starts_at = match &self.starts_at {
            serde_json::Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| err("starts_at", "not epoch milliseconds".into()))?,
            serde_json::Value::String(s) => parse_instant(s).map_err(|e| err("starts_at", e))?,
            _ => {
                return Err(err(
                    "starts_at",
                    "expected epoch milliseconds or \"YYYY-MM-DDTHH:MM:SSZ\"".into(),
                ));
            }
        };
        let service = self.service.trim();
        if service.is_empty() || service.len() > 200 {
            return Err(err("service", "1–200 characters".into()));
        }
        let phone = match self
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(phones.e164(p).map_err(|e| err("phone", e))?),
            None => None,
        };
        Ok(Appointment {
            id: id.to_string(),
            patient_id: self.patient,
            doctor: self.doctor,
            starts_at,
            service: service.to_string(),
            teleconsult: self.teleconsult,
            consent: self.consent,
            paid: self.paid,
            phone,
        })
    }
}

/// What the store says about an appointment: its patient must exist and
/// its doctor be a doctor.
pub async fn check_references(
    store: &Store,
    a: &Appointment,
) -> Result<Result<(), FieldError>, StoreError> {
    if store.patient(&a.patient_id).await?.is_none() {
        return Ok(Err(err(
            "patient",
            format!("no patient `{}`", a.patient_id),
        )));
    }
    match store.login_record(&a.doctor).await? {
        Some(r) if r.role == Role::Doctor => Ok(Ok(())),
        _ => Ok(Err(err(
            "doctor",
            format!("`{}` is no doctor's extension", a.doctor),
        ))),
    }
}

/// The columns of an appointments CSV (`id`, `patient`, `doctor`,
/// `starts_at`, `service` required).
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "patient",
    "doctor",
    "starts_at",
    "service",
    "teleconsult",
    "consent",
    "paid",
    "phone",
];

/// Reads and checks every row of an appointments CSV: the appointments, or
/// every bad row's error (with its line).
pub async fn read_csv(
    data: &[u8],
    phones: &PhoneNormalizer,
    store: &Store,
) -> Result<Result<Vec<Appointment>, Vec<RowError>>, StoreError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let row_error = |line: u64, reason: String| RowError { line, reason };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Ok(Err(vec![row_error(1, e.to_string())])),
    };
    if let Some(unknown) = headers
        .iter()
        .find(|h| !CSV_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(h)))
    {
        return Ok(Err(vec![row_error(
            1,
            format!(
                "unknown column `{unknown}` (known: {})",
                CSV_COLUMNS.join(",")
            ),
        )]));
    }
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    for required in ["id", "patient", "doctor", "starts_at", "service"] {
        if col(required).is_none() {
            return Ok(Err(vec![row_error(
                1,
                format!("the header must have a `{required}` column"),
            )]));
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(row_error(
                    e.position().map_or(0, |p| p.line()),
                    e.to_string(),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| {
            col(name)
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_string()
        };
        let flag = |name: &str| -> Result<bool, String> {
            match get(name).to_ascii_lowercase().as_str() {
                "" | "0" | "no" | "false" => Ok(false),
                "1" | "yes" | "true" => Ok(true),
                other => Err(format!("{name}: `{other}` is not yes/no")),
            }
        };
        let row = (|| -> Result<Appointment, String> {
            AppointmentInput {
                patient: get("patient"),
                doctor: get("doctor"),
                starts_at: serde_json::Value::String(get("starts_at")),
                service: get("service"),
                teleconsult: flag("teleconsult")?,
                consent: flag("consent")?,
                paid: flag("paid")?,
                phone: Some(get("phone")),
            }
            .validate(&get("id"), phones)
            .map_err(|e| format!("{}: {}", e.field, e.reason))
        })();
        match row {
            Ok(a) if !seen.insert(a.id.clone()) => {
                errors.push(row_error(
                    line,
                    format!("id {} appears twice in the file", a.id),
                ));
            }
            Ok(a) => rows.push((line, a)),
            Err(reason) => errors.push(row_error(line, reason)),
        }
    }
    for (line, a) in &rows {
        if let Err(e) = check_references(store, a).await? {
            errors.push(row_error(*line, format!("{}: {}", e.field, e.reason)));
        }
    }
    if errors.is_empty() {
        Ok(Ok(rows.into_iter().map(|(_, a)| a).collect()))
    } else {
        errors.sort_by_key(|e| e.line);
        Ok(Err(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = "../migrations")]
    async fn an_import_checks_every_row_and_writes_all_or_nothing(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let phones = PhoneNormalizer::new("RU").unwrap();
        let doctor = crate::store::users::NewUser {
            extension: "3001".into(),
            name: "Dr Ivanova".into(),
            role: Role::Doctor,
            password: "password-3001".into(),
        }
        .prepare("127.0.0.1", 8)
        .unwrap();
        store.insert_users(&[doctor]).await.unwrap();
        let anna = crate::patients::PatientInput {
            full_name: "Anna Petrova".into(),
            birth_date: None,
            address_as: None,
            phones: vec!["+79211234567".into()],
            notes: Default::default(),
            pathway: None,
            consent: true,
            marketing: false,
        }
        .validate("mis-42", &phones, 20_000)
        .unwrap();
        store.upsert_patients(&[anna]).await.unwrap();

        let bad = b"id,patient,doctor,starts_at,service,teleconsult,consent,paid,phone\n\
A-1,mis-42,3001,2026-11-24T10:00:00Z,Follow-up,yes,yes,no,\n\
A-2,mis-404,3001,2026-11-24T11:00:00Z,Follow-up,yes,yes,yes,\n\
A-3,mis-42,1001,tomorrow,Follow-up,maybe,yes,yes,not a phone\n\
A-1,mis-42,3001,2026-11-24T12:00:00Z,Again,no,no,no,\n";
        let errors = read_csv(bad, &phones, &store).await.unwrap().unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5], "{errors:?}");
        assert!(errors[0].reason.contains("patient"), "{errors:?}");
        assert!(errors[1].reason.contains("teleconsult"), "{errors:?}");
        assert!(errors[2].reason.contains("twice"), "{errors:?}");

        let good = b"id,patient,doctor,starts_at,service,teleconsult,consent,paid,phone\n\
A-1,mis-42,3001,2026-11-24T10:00:00Z,Follow-up,yes,yes,no,8 921 000-00-01\n\
A-2,mis-42,3001,1795518000000,Ultrasound,no,no,no,\n";
        let rows = read_csv(good, &phones, &store).await.unwrap().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].phone.as_deref(), Some("+79210000001"));
        assert_eq!(rows[1].starts_at, 1_795_518_000_000);
        assert!(rows[0].teleconsult && !rows[0].paid);
    }
}
