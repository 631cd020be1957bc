//! The supervisors' figures: `GET /api/indicators/live` (the dashboard's
//! latest snapshot, also pushed on `/api/ws`), `GET /api/indicators` (a
//! history per 15 minutes, hour or day, as JSON or CSV) and
//! `GET /api/audit/status` (how far the audit chain verifies). Both
//! indicator routes come from the same fold of the stored events
//! ([`crate::indicators`]), so they agree for the same interval.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{principal, record_fact};
use super::error::ApiError;
use crate::indicators::{Filter, Ledger, Step, Tally};
use crate::store::users::Role;
use crate::timefmt;

/// Intervals one history request may ask for.
const MAX_INTERVALS: i64 = 3_000;
/// The earliest time a history may start: 2000-01-01 (no call is older).
const EARLIEST: i64 = 946_684_800_000;
/// How far past now a history may end.
const AHEAD: i64 = 2 * 86_400_000;

/// `GET /api/indicators/live`
pub(crate) async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Supervisor], "the indicators")?;
    Ok(Json(state.dashboard.current().as_ref().clone()).into_response())
}

#[derive(Deserialize)]
pub(crate) struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    format: Option<String>,
}

/// A time in a query: epoch milliseconds, `YYYY-MM-DD` (local midnight)
/// or `YYYY-MM-DDTHH:MM[:SS]Z`.
fn parse_time(s: &str, utc_offset_ms: i64, field: &'static str) -> Result<i64, ApiError> {
    let bad = |why: String| ApiError::BadRequest {
        message: format!("{field}: {why}"),
        field: Some(field),
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map_err(|_| bad(format!("`{s}` is too large for epoch milliseconds")));
    }
    let t = timefmt::parse_utc(s).map_err(bad)?;
    // A bare date is the clinic's midnight, not UTC's.
    Ok(if s.len() == 10 { t - utc_offset_ms } else { t })
}

/// `GET /api/indicators?from=&to=&step=15m|1h|1d&queue=&agent=&format=json|csv`
pub(crate) async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    who.require(&[Role::Supervisor], "the indicators")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let offset = state.dashboard.utc_offset_ms();
    let now = crate::store::now_ms();
    let to = match &q.to {
        Some(t) => parse_time(t, offset, "to")?,
        None => now,
    };
    let from = match &q.from {
        Some(f) => parse_time(f, offset, "from")?,
        None => Step::Day.floor(now, offset),
    };
    for (t, field) in [(from, "from"), (to, "to")] {
        if !(EARLIEST..=now + AHEAD).contains(&t) {
            return Err(ApiError::BadRequest {
                message: format!("{field}: must lie between 2000-01-01 and tomorrow"),
                field: Some(field),
            });
        }
    }
    if from >= to {
        return Err(ApiError::BadRequest {
            message: "from must be before to".into(),
            field: Some("from"),
        });
    }
    let step_name = q.step.as_deref().unwrap_or("1h");
    let step = Step::parse(step_name).ok_or_else(|| ApiError::BadRequest {
        message: format!("step: `{step_name}` is not one of 15m, 1h, 1d"),
        field: Some("step"),
    })?;
    if (to - step.floor(from, offset)) / step.ms() >= MAX_INTERVALS {
        return Err(ApiError::BadRequest {
            message: format!(
                "the range holds more than {MAX_INTERVALS} intervals of {step_name}: use a longer step or a shorter range"
            ),
            field: Some("step"),
        });
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadRequest {
                message: format!("format: `{other}` is not json or csv"),
                field: Some("format"),
            });
        }
    };
    let upto = state.store.last_event_seq().await?;
    let mut ledger = Ledger::new();
    for e in state.store.indicator_events(from, to, upto).await? {
        ledger.apply(&e);
    }
    let filter = Filter {
        queue: q.queue.clone().filter(|s| !s.is_empty()),
        agent: q.agent.clone().filter(|s| !s.is_empty()),
    };
    let intervals = ledger.series(from, to, step, offset, &filter);
    let total = ledger.tally(from, to, &filter);
    if csv {
        let body = to_csv(&intervals, &total, from, to)
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
        record_fact(
            &state,
            "indicators_exported",
            None,
            json!({
                "by": who.audit_name(),
                "from": from,
                "to": to,
                "step": step_name,
                "queue": filter.queue,
                "agent": filter.agent,
                "rows": intervals.len(),
            }),
        )
        .await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"careline-indicators.csv\"",
                ),
            ],
            body,
        )
            .into_response());
    }
    let agents: Vec<Value> = ledger
        .per_agent(from, to, filter.queue.as_deref())
        .into_iter()
        .filter(|a| filter.agent.as_ref().is_none_or(|x| *x == a.agent))
        .map(|a| with(json!({ "extension": a.agent }), &a.tally))
        .collect();
    Ok(Json(json!({
        "from": from,
        "to": to,
        "step": step_name,
        "utc_offset_ms": offset,
        "queue": filter.queue,
        "agent": filter.agent,
        "seq": upto,
        "intervals": intervals
            .iter()
            .map(|iv| with(json!({ "start": iv.start, "end": iv.end }), &iv.tally))
            .collect::<Vec<_>>(),
        "total": total.to_json(),
        "agents": agents,
    }))
    .into_response())
}

/// `head` with the tally's fields added.
fn with(mut head: Value, t: &Tally) -> Value {
    if let (Some(h), Value::Object(fields)) = (head.as_object_mut(), t.to_json()) {
        h.extend(fields);
    }
    head
}

fn to_csv(
    intervals: &[crate::indicators::Interval],
    total: &Tally,
    from: i64,
    to: i64,
) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["start", "end"];
    header.extend(Tally::CSV_HEADER);
    w.write_record(&header)?;
    for iv in intervals {
        let mut row = vec![timefmt::format_utc(iv.start), timefmt::format_utc(iv.end)];
        row.extend(iv.tally.csv_fields());
        w.write_record(&row)?;
    }
    let mut row = vec![
        format!("total from {}", timefmt::format_utc(from)),
        timefmt::format_utc(to),
    ];
    row.extend(total.csv_fields());
    w.write_record(&row)?;
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `GET /api/audit/status`: walks the chain and says how far it holds.
pub(crate) async fn audit_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Supervisor, Role::Admin], "the audit trail's status")?;
    let report = state.store.verify_chain().await?;
    Ok(Json(json!({
        "intact": report.broken.is_none(),
        "verified": report.verified,
        "verified_up_to": report.verified_up_to,
        "unchained": report.unchained,
        "broken_at": report.broken.as_ref().map(|b| b.seq),
        "reason": report.broken.as_ref().map(|b| b.reason.clone()),
    }))
    .into_response())
}

#[cfg(test)]
#[path = "indicators_tests.rs"]
mod tests;
