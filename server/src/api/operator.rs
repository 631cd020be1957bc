//! Call-centre routes under `/api`: agents' states (read and set) and a
//! call's record with its events. Supervisors and the operator token see
//! every agent and call; admins the agent board only (calls carry patients'
//! numbers); staff see and set their own.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::{Principal, principal, record_fact};
use super::error::ApiError;
use crate::calls::acd::AcdError;
use crate::calls::agents::AgentState;
use crate::store::users::Role;

/// `GET /api/agents`
pub(crate) async fn list_agents(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Supervisor, Role::Admin], "the agent board")?;
    let agents: Vec<_> = state
        .core
        .agent_states()
        .await?
        .into_iter()
        .map(|(ext, st)| json!({ "extension": ext, "state": st.as_str() }))
        .collect();
    Ok(Json(agents).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetState {
    state: String,
}

/// `PUT /api/agents/{ext}/state` with `{"state": "available" | "with_patient" | "paused" | "offline"}`
pub(crate) async fn set_agent_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ext): Path<String>,
    body: Result<Json<SetState>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let own = matches!(&who, Principal::User { extension, .. } if *extension == ext);
    if !own && !who.sees_everything() {
        return Err(ApiError::Forbidden(format!(
            "the {} role may set only its own state",
            who.role_name()
        )));
    }
    let Json(body) = body.map_err(|e| ApiError::BadRequest {
        message: format!("expected {{\"state\": \"available\"}}: {}", e.body_text()),
        field: None,
    })?;
    let wanted = AgentState::from_name(&body.state).ok_or_else(|| ApiError::BadRequest {
        message: format!(
            "unknown state `{}` (available, with_patient, paused or offline)",
            body.state
        ),
        field: Some("state"),
    })?;
    match state.core.set_agent_state(ext, wanted).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e @ AcdError::NoSuchAgent(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ AcdError::StateNotSettable(_)) => Err(ApiError::BadRequest {
            message: e.to_string(),
            field: Some("state"),
        }),
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}

/// Who may read call `id`: staff who took part in it, and those who see
/// everything. Others get the same 404 as for a call that does not exist:
/// staff learn nothing about calls that were not theirs.
async fn call_reader(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Principal, ApiError> {
    let who = principal(state, headers).await?;
    if let Principal::User { extension, .. } = &who
        && !who.sees_everything()
        && !state.store.took_part_in(extension, id).await?
    {
        return Err(ApiError::NotFound(format!("no call {id}")));
    }
    Ok(who)
}

/// `GET /api/calls/{id}/history`: what the card shows of the caller's past
/// — their earlier calls (when, answered by whom, how they ended) and the
/// call-back tasks still open for their number. For the staff who took part
/// in the call (and supervisors); each look is an audit fact.
pub(crate) async fn call_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = call_reader(&state, &headers, &id).await?;
    let Some(call) = state.store.call(&id).await? else {
        return Err(ApiError::NotFound(format!("no call {id} from a caller")));
    };
    // The caller's past is theirs: staff see it once they have confirmed
    // who is calling (the identity check on this call).
    if let Principal::User { extension, .. } = &who
        && !who.sees_everything()
        && !state.store.call_events(&id).await?.iter().any(|e| {
            e.kind == "identity_confirmed" && e.agent.as_deref() == Some(extension.as_str())
        })
    {
        return Err(ApiError::Forbidden(
            "confirm the caller's identity on this call first".into(),
        ));
    }
    // A withheld or unreadable number is nobody's: no past to show.
    let Some(number) = state.phones.caller(&call.caller) else {
        return Ok(
            Json(json!({ "call": id, "earlier_calls": [], "open_callbacks": [] })).into_response(),
        );
    };
    let earlier: Vec<_> = state
        .store
        .calls_from(&call.caller, call.arrived_at, 10)
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id, "queue": c.queue, "arrived_at": c.arrived_at,
                "answered_by": c.answered_by, "end_reason": c.end_reason,
            })
        })
        .collect();
    let open: Vec<_> = state
        .store
        .callbacks(
            Some(crate::callbacks::Status::Open),
            crate::store::callbacks::Scope::All,
            500,
        )
        .await?
        .into_iter()
        .filter(|t| t.number == number || t.number == call.caller)
        .map(|t| {
            json!({
                "id": t.id, "reason": t.reason, "due_at": t.due_at,
                "overdue": t.overdue, "queue": t.queue,
            })
        })
        .collect();
    record_fact(
        &state,
        "call_history_viewed",
        match &who {
            Principal::User { extension, .. } => Some(extension.clone()),
            Principal::Operator => None,
        },
        json!({ "call": id, "by": who.audit_name() }),
    )
    .await?;
    Ok(
        Json(json!({ "call": id, "earlier_calls": earlier, "open_callbacks": open }))
            .into_response(),
    )
}

/// `GET /api/calls/{id}`: the call's row and its events in order.
pub(crate) async fn get_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    call_reader(&state, &headers, &id).await?;
    // The row first, then the events: an event committed in between shows
    // in the list, never the other way round.
    let row = state.store.call(&id).await?;
    let events: Vec<_> = state
        .store
        .call_events(&id)
        .await?
        .into_iter()
        .map(|e| json!({ "seq": e.seq, "at": e.at, "kind": e.kind, "agent": e.agent, "data": e.data }))
        .collect();
    let Some(call) = row else {
        // A call the server placed (a call-back, a teleconsult) has no
        // queue record: its events tell its story.
        if events.is_empty() {
            return Err(ApiError::NotFound(format!("no call {id}")));
        }
        return Ok(Json(json!({ "id": id, "placed": true, "events": events })).into_response());
    };
    Ok(Json(json!({
        "id": call.id,
        "queue": call.queue,
        "caller": call.caller,
        "arrived_at": call.arrived_at,
        "answered_at": call.answered_at,
        "answered_by": call.answered_by,
        "within_deadline": call.within_deadline,
        "ended_at": call.ended_at,
        "end_reason": call.end_reason,
        "events": events,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    hold: bool,
}

/// `PUT /api/calls/{id}/hold` with `{"hold": true}` (or `false` to resume):
/// the agent on the call puts the caller on hold from their screen; the
/// server plays the music and reminds them every `hold_reminder`.
pub(crate) async fn hold(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<HoldBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Principal::User { extension, .. } = &who else {
        return Err(ApiError::Forbidden(
            "hold is for the agent on the call: log in as them".into(),
        ));
    };
    let Json(body) = body.map_err(|e| ApiError::BadRequest {
        message: format!("expected {{\"hold\": true}}: {}", e.body_text()),
        field: Some("hold"),
    })?;
    match state
        .core
        .hold(id.clone(), extension.clone(), body.hold)
        .await?
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        // Someone else's call does not exist for this agent (as with
        // transfers): the answer must not tell them it is there.
        Err(
            crate::calls::b2bua::HoldError::NoSuchCall | crate::calls::b2bua::HoldError::NotYours,
        ) => Err(ApiError::NotFound(format!("no call {id} in progress"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    to: String,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/calls/{id}/transfer` with `{"to": "2001" | "senior" |
/// "queue:100", "note": "…"}`: the agent on the call hands it on (blind);
/// the target's screen gets the caller's card and the note.
pub(crate) async fn transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<TransferBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Principal::User { extension, .. } = &who else {
        return Err(ApiError::Forbidden(
            "a transfer is made by the agent on the call: log in as them".into(),
        ));
    };
    let Json(body) = body.map_err(|e| ApiError::BadRequest {
        message: format!("expected {{\"to\": \"2001\"}}: {}", e.body_text()),
        field: Some("to"),
    })?;
    if body.to.trim().is_empty() {
        return Err(ApiError::BadRequest {
            message: "to: an extension, \"senior\" or \"queue:NUMBER\"".into(),
            field: Some("to"),
        });
    }
    if body.note.as_ref().is_some_and(|n| n.len() > 1_000) {
        return Err(ApiError::BadRequest {
            message: "note: at most 1000 characters".into(),
            field: Some("note"),
        });
    }
    let to = body.to.trim().to_string();
    match state
        .core
        .transfer(id.clone(), extension.clone(), to, body.note)
        .await?
    {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(e @ crate::calls::b2bua::TransferError::NotYours) => {
            Err(ApiError::NotFound(e.to_string()))
        }
        Err(e @ crate::calls::b2bua::TransferError::NoTarget(_)) => Err(ApiError::BadRequest {
            message: e.to_string(),
            field: Some("to"),
        }),
        Err(e) => Err(transfer_refused(e)),
    }
}

/// A refused transfer as the API answers it.
fn transfer_refused(e: crate::calls::b2bua::TransferError) -> ApiError {
    use crate::calls::b2bua::TransferError as E;
    match e {
        E::NotYours | E::NoConsultation => ApiError::NotFound(e.to_string()),
        E::NoTarget(_) => ApiError::BadRequest {
            message: e.to_string(),
            field: Some("to"),
        },
        E::Busy(_) | E::NotAnswered => ApiError::Conflict(e.to_string()),
    }
}

/// `POST /api/calls/{id}/transfer/complete` and `…/transfer/cancel`: the
/// agent hands the caller to the colleague they consulted from their phone
/// (an attended transfer), or calls the consultation off and keeps the
/// caller.
pub(crate) async fn consult_complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    consult(state, headers, id, true).await
}

/// `POST /api/calls/{id}/transfer/cancel` (see [`consult_complete`]).
pub(crate) async fn consult_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    consult(state, headers, id, false).await
}

async fn consult(
    state: AppState,
    headers: HeaderMap,
    id: String,
    complete: bool,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Principal::User { extension, .. } = &who else {
        return Err(ApiError::Forbidden(
            "a transfer is made by the agent on the call: log in as them".into(),
        ));
    };
    match state.core.consult(id, extension.clone(), complete).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(transfer_refused(e)),
    }
}

#[cfg(test)]
mod transfer_status_tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::transfer_refused;
    use crate::calls::b2bua::TransferError as E;

    #[test]
    fn each_refusal_gets_the_status_that_says_why() {
        let status = |e: E| transfer_refused(e).into_response().status();
        assert_eq!(status(E::NotYours), StatusCode::NOT_FOUND);
        assert_eq!(status(E::NoConsultation), StatusCode::NOT_FOUND);
        assert_eq!(status(E::NoTarget("7777".into())), StatusCode::BAD_REQUEST);
        assert_eq!(status(E::Busy("2001".into())), StatusCode::CONFLICT);
        assert_eq!(
            status(E::NotAnswered),
            StatusCode::CONFLICT,
            "completing before the colleague answered"
        );
    }
}
