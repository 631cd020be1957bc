//! `GET /api/phone`: what a member of staff's softphone needs to register —
//! the SIP domain (also the digest realm), the server's SIP sockets and the
//! interval to ask for. The desktop agent and the browser learn their
//! settings here from the login alone; the SIP password is the login's.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::auth::{Principal, principal};
use super::error::ApiError;

/// The registrar's side of a phone's settings.
#[derive(Debug, Clone)]
pub struct PhoneSettings {
    /// `[sip] domain`.
    pub domain: String,
    /// What a phone should ask for: the registrar's default, held to its
    /// bounds and to at most ten minutes, so a phone that went away is
    /// noticed soon.
    pub register_expires: u64,
}

/// `GET /api/phone`.
pub(crate) async fn settings(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Principal::User { extension, .. } = principal(&state, &headers).await? else {
        return Err(ApiError::Forbidden(
            "the operator token has no phone; log in as a member of staff".into(),
        ));
    };
    Ok(Json(json!({
        "extension": extension,
        "domain": state.phone.domain,
        // As bound; a host of 0.0.0.0 or [::] means "the address you
        // reached this API at".
        "listen": *state.sip_listen,
        "register_expires": state.phone.register_expires,
    }))
    .into_response())
}
