//! Call-back tasks: `GET /api/callbacks` (an agent sees the tasks they may
//! work — their own, and their queues' — supervisors every one)
//! and `POST /api/callbacks/{id}/attempts` (the outcome of a call made to
//! the patient: `reached`, `no_answer`, `busy`, `wrong_number`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::{Principal, principal};
use super::error::ApiError;
use crate::callbacks::runner::CallbackError;
use crate::callbacks::{AttemptError, Outcome, Status, Task};
use crate::store::callbacks::Scope;
use crate::store::users::Role;

/// Tasks one listing returns at most.
const LIMIT: i64 = 1_000;

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
}

/// The queues `extension` answers for (as agent or senior).
pub(super) fn queues_of<'a>(state: &'a AppState, extension: &str) -> Vec<&'a str> {
    state
        .queue_members
        .iter()
        .filter(|(_, members)| members.iter().any(|m| m == extension))
        .map(|(q, _)| q.as_str())
        .collect()
}

fn workable(state: &AppState, who: &Principal, task: &Task) -> bool {
    match who {
        Principal::Operator => true,
        Principal::User { extension, .. } => {
            let members = state
                .queue_members
                .get(&task.queue)
                .map(Vec::as_slice)
                .unwrap_or_default();
            task.workable_by(extension, members)
        }
    }
}

/// `GET /api/callbacks?status=open|done|failed|all`
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "open" => Some(Status::Open),
        "done" => Some(Status::Done),
        "failed" => Some(Status::Failed),
        "all" => None,
        other => {
            return Err(ApiError::BadRequest {
                message: format!("status: `{other}` is not open, done, failed or all"),
                field: Some("status"),
            });
        }
    };
    let queues = match &who {
        Principal::User { extension, .. } => queues_of(&state, extension),
        Principal::Operator => Vec::new(),
    };
    let scope = match &who {
        Principal::User { extension, .. } if !who.sees_everything() => Scope::Agent {
            extension,
            queues: &queues,
        },
        _ => Scope::All,
    };
    let tasks = state.store.callbacks(status, scope, LIMIT).await?;
    let visible: Vec<_> = tasks.iter().map(Task::to_json).collect();
    Ok(Json(json!({ "tasks": visible, "my_queues": queues })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttemptBody {
    outcome: String,
}

/// `POST /api/callbacks/{id}/attempts` with `{"outcome": "no_answer"}`
pub(crate) async fn attempt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<AttemptBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    who.require(
        &[Role::Agent, Role::Senior, Role::Doctor],
        "recording a call-back attempt",
    )?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest {
        message: format!("expected {{\"outcome\": \"reached\"}}: {}", e.body_text()),
        field: None,
    })?;
    let outcome = Outcome::from_name(&body.outcome).ok_or_else(|| ApiError::BadRequest {
        message: format!(
            "outcome: `{}` is not reached, no_answer, busy or wrong_number",
            body.outcome
        ),
        field: Some("outcome"),
    })?;
    // Only the task's owner (or its queue's agents) may record on it.
    match state.store.callback(&id).await? {
        None => return Err(ApiError::NotFound(format!("no call-back task {id}"))),
        Some(t) if !workable(&state, &who, &t) => {
            return Err(ApiError::Forbidden(format!(
                "call-back task {id} belongs to someone else"
            )));
        }
        Some(_) => {}
    }
    match state
        .callbacks
        .attempt(&id, &who.audit_name(), outcome)
        .await
    {
        Ok(task) => Ok((StatusCode::CREATED, Json(task.to_json())).into_response()),
        Err(CallbackError::Attempt(AttemptError::NoSuchTask(_))) => {
            Err(ApiError::NotFound(format!("no call-back task {id}")))
        }
        Err(CallbackError::Attempt(e @ AttemptError::Closed(_))) => {
            Err(ApiError::Conflict(e.to_string()))
        }
        Err(CallbackError::Unavailable(e)) => Err(ApiError::Unavailable(e)),
    }
}

/// `POST /api/callbacks/{id}/call`: "call back now". Rings the caller's
/// own phone; when they answer, the server dials the patient (a phone
/// registered under the number, or the trunk) and joins them. The attempt
/// and its outcome are recorded by the call itself.
pub(crate) async fn call_now(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Principal::User { extension, .. } = &who else {
        return Err(ApiError::Forbidden(
            "call back now rings a staff member's phone: log in as one".into(),
        ));
    };
    who.require(
        &[Role::Agent, Role::Senior, Role::Doctor],
        "calling a patient back",
    )?;
    let task = match state.store.callback(&id).await? {
        None => return Err(ApiError::NotFound(format!("no call-back task {id}"))),
        Some(t) if !workable(&state, &who, &t) => {
            return Err(ApiError::Forbidden(format!(
                "call-back task {id} belongs to someone else"
            )));
        }
        Some(t) if t.status != Status::Open => {
            return Err(ApiError::Conflict(format!(
                "call-back task {id} is already closed"
            )));
        }
        Some(t) => t,
    };
    let request = crate::calls::b2bua::DialOutRequest {
        staff: extension.clone(),
        number: task.number.clone(),
        purpose: "callback",
        link: Some(task.id.clone()),
    };
    match state.core.dial_out(request).await? {
        Ok(call_id) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "call_id": call_id, "task": task.id })),
        )
            .into_response()),
        Err(e @ crate::calls::b2bua::DialOutError::NoMedia) => {
            Err(ApiError::Unavailable(e.to_string()))
        }
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}

#[cfg(test)]
#[path = "callbacks_tests.rs"]
mod tests;
