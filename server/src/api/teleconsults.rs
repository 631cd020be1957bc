//! Appointments and doctors' teleconsult calls.
//!
//! - `PUT /api/appointments/{id}` (admin, operator token): the clinic's
//!   system sends an appointment; idempotent upsert keyed by its id.
//! - `GET /api/appointments?from&to&doctor`: a doctor sees their own,
//!   supervisors and admins everyone's.
//! - `POST /api/teleconsults/{appointment_id}/call` (the appointment's
//!   doctor): rings the doctor's phone, then the patient, through the trunk
//!   (or a phone registered under the number). A teleconsult needs the
//!   patient's informed consent and payment: missing flags refuse the call,
//!   or only warn with `[teleconsult] missing_flags = "warn"`.
//! - `GET /api/teleconsults?from&to&doctor&format=json|csv`: the record —
//!   doctor, extension, number, patient, appointment, INVITE, answer and end
//!   times, duration, outcome — with the line a doctor would otherwise write
//!   into the medical record by hand. CSV exports are audited.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Principal, principal, record_fact};
use super::error::ApiError;
use crate::store::appointments::TeleconsultCall;
use crate::store::users::Role;
use crate::timefmt;

fn bad(field: &'static str, message: String) -> ApiError {
    ApiError::BadRequest {
        message: format!("{field}: {message}"),
        field: Some(field),
    }
}

/// Epoch ms, or `YYYY-MM-DDTHH:MM[:SS]Z`.
fn parse_instant(s: &str, field: &'static str) -> Result<i64, ApiError> {
    crate::appointments::parse_instant(s).map_err(|e| bad(field, e))
}

/// `PUT /api/appointments/{id}`
pub(crate) async fn put_appointment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<crate::appointments::AppointmentInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Admin], "writing appointments")?;
    let Json(input) = body.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let field = |e: crate::patients::FieldError| bad(e.field, e.reason);
    let appointment = input.validate(&id, &state.phones).map_err(field)?;
    crate::appointments::check_references(&state.store, &appointment)
        .await?
        .map_err(field)?;
    let created = state.store.upsert_appointment(&appointment).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "created": created }))).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    doctor: Option<String>,
    format: Option<String>,
}

/// The doctor whose records `who` may read: their own (doctors), the one
/// asked for or everyone (supervisors, admins, the operator token).
fn doctor_scope(who: &Principal, asked: Option<String>) -> Result<Option<String>, ApiError> {
    match who {
        Principal::User {
            extension,
            role: Role::Doctor,
        } => match asked {
            Some(d) if d != *extension => Err(ApiError::Forbidden(
                "a doctor sees their own appointments and calls".into(),
            )),
            _ => Ok(Some(extension.clone())),
        },
        Principal::User {
            role: Role::Supervisor | Role::Admin,
            ..
        }
        | Principal::Operator => Ok(asked.filter(|d| !d.is_empty())),
        Principal::User { role, .. } => Err(ApiError::Forbidden(format!(
            "appointments and teleconsults are not open to the {role} role"
        ))),
    }
}

fn range(q: &RangeQuery, default_from: i64, default_to: i64) -> Result<(i64, i64), ApiError> {
    let from = match &q.from {
        Some(f) => parse_instant(f, "from")?,
        None => default_from,
    };
    let to = match &q.to {
        Some(t) => parse_instant(t, "to")?,
        None => default_to,
    };
    if from >= to {
        return Err(bad("from", "must be before to".into()));
    }
    Ok((from, to))
}

/// `GET /api/appointments`
pub(crate) async fn list_appointments(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let doctor = doctor_scope(&who, q.doctor.clone())?;
    let now = crate::store::now_ms();
    let (from, to) = range(&q, now - 12 * 3_600_000, now + 7 * 86_400_000)?;
    let list = state
        .store
        .appointments(doctor.as_deref(), from, to)
        .await?;
    Ok(Json(json!({ "appointments": list })).into_response())
}

/// `POST /api/teleconsults/{appointment_id}/call`
pub(crate) async fn call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Principal::User {
        extension,
        role: Role::Doctor,
    } = &who
    else {
        return Err(ApiError::Forbidden(
            "teleconsults are started by the appointment's doctor".into(),
        ));
    };
    let a = state
        .store
        .appointment(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no appointment {id}")))?;
    if a.doctor != *extension {
        return Err(ApiError::Forbidden(format!(
            "appointment {id} is another doctor's"
        )));
    }
    if !a.teleconsult {
        return Err(ApiError::Conflict(format!(
            "appointment {id} is not a teleconsult slot"
        )));
    }
    let mut missing = Vec::new();
    if !a.consent {
        missing.push("the patient's informed consent to a remote consultation");
    }
    if !a.paid {
        missing.push("payment");
    }
    if !missing.is_empty() && state.teleconsult_refuse_missing {
        return Err(ApiError::Conflict(format!(
            "appointment {id} lacks {}",
            missing.join(" and ")
        )));
    }
    let number = match &a.phone {
        Some(p) => p.clone(),
        None => state
            .store
            .patient(&a.patient_id)
            .await?
            .and_then(|p| p.phones_e164.first().cloned())
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "the patient of appointment {id} has no phone number"
                ))
            })?,
    };
    let request = crate::calls::b2bua::DialOutRequest {
        staff: extension.clone(),
        number,
        purpose: "teleconsult",
        link: Some(a.id.clone()),
    };
    match state.core.dial_out(request).await? {
        Ok(call_id) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "call_id": call_id,
                "appointment": a.id,
                "warnings": missing.iter().map(|m| format!("missing: {m}")).collect::<Vec<_>>(),
            })),
        )
            .into_response()),
        Err(e @ crate::calls::b2bua::DialOutError::NoMedia) => {
            Err(ApiError::Unavailable(e.to_string()))
        }
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}

/// The line for the medical record, in the clinic's local time.
fn record_line(c: &TeleconsultCall, offset_ms: i64) -> String {
    let local = |ms: i64| {
        let t = timefmt::format_utc(ms + offset_ms);
        // `YYYY-MM-DDTHH:MM:SS…Z` → `YYYY-MM-DD HH:MM`
        format!("{} {}", &t[..10], &t[11..16])
    };
    let doctor = match &c.doctor_name {
        Some(n) => format!("{n} (ext. {})", c.doctor),
        None => format!("ext. {}", c.doctor),
    };
    let patient = match (&c.patient_name, &c.patient_id) {
        (Some(n), Some(id)) => format!("{n} ({id})"),
        (None, Some(id)) => id.clone(),
        _ => "unknown patient".into(),
    };
    let when = match (c.answered_at, c.ended_at, c.duration_ms()) {
        (Some(a), Some(e), Some(d)) => format!(
            "{}–{} ({} min {} s)",
            local(a),
            &local(e)[11..],
            d / 60_000,
            (d / 1_000) % 60
        ),
        _ => format!("{} (not connected)", local(c.invited_at)),
    };
    format!(
        "Teleconsultation by telephone {when}: {doctor} called {} for appointment {}, patient {patient}; outcome: {}.",
        c.number,
        c.appointment_id,
        c.outcome.as_deref().unwrap_or("in progress")
    )
}

/// `GET /api/teleconsults`
pub(crate) async fn log(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let doctor = doctor_scope(&who, q.doctor.clone())?;
    let now = crate::store::now_ms();
    let (from, to) = range(&q, now - 7 * 86_400_000, now + 60_000)?;
    let calls = state
        .store
        .teleconsult_calls(doctor.as_deref(), from, to)
        .await?;
    let offset = state.dashboard.utc_offset_ms();
    match q.format.as_deref() {
        None | Some("json") => {
            let rows: Vec<Value> = calls
                .iter()
                .map(|c| {
                    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                    v["duration_ms"] = c.duration_ms().into();
                    v["record"] = record_line(c, offset).into();
                    v
                })
                .collect();
            Ok(Json(json!({ "from": from, "to": to, "calls": rows })).into_response())
        }
        Some("csv") => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let csv_err = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
            w.write_record([
                "call_id",
                "appointment",
                "doctor",
                "doctor_name",
                "number",
                "patient",
                "patient_name",
                "invited_at",
                "answered_at",
                "ended_at",
                "duration_s",
                "outcome",
                "record",
            ])
            .map_err(csv_err)?;
            let time = |t: Option<i64>| t.map(timefmt::format_utc).unwrap_or_default();
            for c in &calls {
                w.write_record([
                    c.call_id.clone(),
                    c.appointment_id.clone(),
                    c.doctor.clone(),
                    c.doctor_name.clone().unwrap_or_default(),
                    c.number.clone(),
                    c.patient_id.clone().unwrap_or_default(),
                    c.patient_name.clone().unwrap_or_default(),
                    time(Some(c.invited_at)),
                    time(c.answered_at),
                    time(c.ended_at),
                    c.duration_ms()
                        .map(|d| (d / 1000).to_string())
                        .unwrap_or_default(),
                    c.outcome.clone().unwrap_or_default(),
                    record_line(c, offset),
                ])
                .map_err(csv_err)?;
            }
            let body = w
                .into_inner()
                .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
            record_fact(
                &state,
                "teleconsults_exported",
                None,
                json!({ "by": who.audit_name(), "from": from, "to": to, "doctor": doctor, "rows": calls.len() }),
            )
            .await?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"careline-teleconsults.csv\"",
                    ),
                ],
                body,
            )
                .into_response())
        }
        Some(other) => Err(bad("format", format!("`{other}` is not json or csv"))),
    }
}

#[cfg(test)]
#[path = "teleconsults_tests.rs"]
mod tests;
