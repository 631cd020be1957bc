//! Logins and roles. `POST /api/login` checks the password (argon2, off
//! the async threads) and hands out a bearer token that lasts
//! [`SESSION_TTL`]; every route then asks [`principal`] who is calling and
//! checks the role. The configured operator token (`CARELINE_API_TOKEN`)
//! stays for machine clients such as the clinic's information system.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::sip::digest::constant_time_eq;
use crate::store::events::EventRecord;
use crate::store::users::{Role, verify_password};

/// How long a login lasts (one long clinic shift).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// Who is calling the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A logged-in member of staff.
    User {
        /// Extension.
        extension: String,
        /// Role.
        role: Role,
    },
    /// A machine client holding the operator token.
    Operator,
}

impl Principal {
    /// The role, for messages (`operator` for the token).
    pub fn role_name(&self) -> &'static str {
        match self {
            Principal::User { role, .. } => role.as_str(),
            Principal::Operator => "operator",
        }
    }

    /// The name recorded in the audit trail.
    pub fn audit_name(&self) -> String {
        match self {
            Principal::User { extension, .. } => extension.clone(),
            Principal::Operator => "operator-token".into(),
        }
    }

    /// Supervisors and the operator token see every call, event and task.
    /// Admins do not: they run the system (users, patients' import,
    /// appointments), and calls carry patients' numbers.
    pub fn sees_everything(&self) -> bool {
        matches!(
            self,
            Principal::Operator
                | Principal::User {
                    role: Role::Supervisor,
                    ..
                }
        )
    }

    /// Refused unless the role is one of `roles` (the operator token always passes).
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        match self {
            Principal::Operator => Ok(()),
            Principal::User { role, .. } if roles.contains(role) => Ok(()),
            Principal::User { role, .. } => Err(ApiError::Forbidden(format!(
                "{what} is not open to the {role} role"
            ))),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Who holds the request's bearer token: 401 when nobody does.
pub(crate) async fn principal(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    principal_from_token(state, token).await
}

/// Who holds `token`: 401 when nobody does.
pub(crate) async fn principal_from_token(
    state: &AppState,
    token: &str,
) -> Result<Principal, ApiError> {
    if let Some(op) = state.api_token.as_deref()
        && constant_time_eq(token.as_bytes(), op.as_bytes())
    {
        return Ok(Principal::Operator);
    }
    match state.store.session(token, crate::store::now_ms()).await? {
        Some(s) => Ok(Principal::User {
            extension: s.extension,
            role: s.role,
        }),
        None => Err(ApiError::Unauthorized),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    extension: String,
    password: String,
}

/// `POST /api/login` with `{"extension": "1001", "password": "…"}`.
pub(crate) async fn login(
    State(state): State<AppState>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest {
        message: format!(
            "expected {{\"extension\": \"1001\", \"password\": \"…\"}}: {}",
            e.body_text()
        ),
        field: None,
    })?;
    let record = state.store.login_record(&body.extension).await?;
    // An unknown extension costs the same argon2 work as a wrong password.
    let hash = record.as_ref().map_or_else(
        || crate::store::users::dummy_password_hash().to_string(),
        |r| r.password_hash.clone(),
    );
    let password = body.password;
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = crate::store::now_ms();
    let ok = matches && record.as_ref().is_some_and(|r| !r.disabled);
    record_fact(
        &state,
        if ok { "login" } else { "login_failed" },
        ok.then(|| body.extension.clone()),
        json!({ "extension": body.extension }),
    )
    .await?;
    let Some(record) = record.filter(|_| ok) else {
        return Err(ApiError::LoginFailed);
    };
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let expires_at = now + SESSION_TTL_MS;
    state
        .store
        .create_session(&token, &body.extension, now, expires_at)
        .await?;
    Ok(Json(json!({
        "token": token,
        "extension": body.extension,
        "name": record.name,
        "role": record.role.as_str(),
        "expires_at": expires_at,
    }))
    .into_response())
}

/// `GET /api/session`: who the token belongs to (401 once it has ended).
pub(crate) async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let extension = match &who {
        Principal::User { extension, .. } => Some(extension.clone()),
        Principal::Operator => None,
    };
    Ok(Json(json!({ "extension": extension, "role": who.role_name() })).into_response())
}

/// `POST /api/logout`: the token stops working.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    if let (Principal::User { extension, .. }, Some(token)) = (&who, bearer(&headers)) {
        state.store.delete_session(token).await?;
        record_fact(&state, "logout", Some(extension.clone()), json!({})).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Appends one non-call fact (login, card view …) to the audit trail.
pub(crate) async fn record_fact(
    state: &AppState,
    kind: &str,
    agent: Option<String>,
    data: serde_json::Value,
) -> Result<(), ApiError> {
    record_call_fact(state, kind, None, agent, data).await
}

/// [`record_fact`] about a call.
pub(crate) async fn record_call_fact(
    state: &AppState,
    kind: &str,
    call_id: Option<String>,
    agent: Option<String>,
    data: serde_json::Value,
) -> Result<(), ApiError> {
    let fact = EventRecord {
        seq: 0,
        at: crate::store::now_ms(),
        kind: kind.into(),
        call_id,
        agent,
        data,
        hash: None,
    };
    state
        .events
        .commit(fact)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::Value;

    use super::super::tests::{call, state};
    use super::*;
    use crate::store::users::NewUser;

    fn json_req(method: &str, path: &str, token: Option<&str>, body: Value) -> Request<Body> {
        super::super::tests::request(method, path, token, Some(&body.to_string()))
    }

    fn get(path: &str, token: &str) -> Request<Body> {
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    }

    /// Staff of every role, and one call from +79211234567 offered to 1001.
    async fn clinic(pool: sqlx::SqlitePool) -> AppState {
        let s = state(pool);
        let staff: Vec<_> = [
            ("1001", Role::Agent),
            ("1002", Role::Agent),
            ("9001", Role::Supervisor),
            ("9999", Role::Admin),
        ]
        .into_iter()
        .map(|(ext, role)| {
            NewUser {
                extension: ext.into(),
                name: format!("user {ext}"),
                role,
                password: format!("password-{ext}"),
            }
            .prepare("127.0.0.1", 8)
            .unwrap()
        })
        .collect();
        s.store.insert_users(&staff).await.unwrap();
        let fact = |kind: &str, agent: Option<&str>| EventRecord {
            seq: 0,
            at: crate::store::now_ms(),
            kind: kind.into(),
            call_id: Some("call-00000001".into()),
            agent: agent.map(Into::into),
            data: json!({ "queue": "reception", "caller": "89211234567" }),
            hash: None,
        };
        s.store
            .append_events(&mut [
                fact("call_arrived", None),
                fact("agent_offered", Some("1001")),
            ])
            .await
            .unwrap();
        s
    }

    async fn login_as(s: &AppState, ext: &str) -> String {
        let (status, body) = call(
            s,
            json_req(
                "POST",
                "/api/login",
                None,
                json!({ "extension": ext, "password": format!("password-{ext}") }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn login_gives_a_token_and_failures_look_alike(pool: sqlx::SqlitePool) {
        let s = clinic(pool).await;
        let (status, body) = call(
            &s,
            json_req(
                "POST",
                "/api/login",
                None,
                json!({ "extension": "1001", "password": "password-1001" }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["role"], "agent");
        assert!(body["token"].as_str().unwrap().len() >= 40);
        let wrong = call(
            &s,
            json_req(
                "POST",
                "/api/login",
                None,
                json!({ "extension": "1001", "password": "nope-nope" }),
            ),
        )
        .await;
        let unknown = call(
            &s,
            json_req(
                "POST",
                "/api/login",
                None,
                json!({ "extension": "7777", "password": "nope-nope" }),
            ),
        )
        .await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            wrong, unknown,
            "an unknown extension is answered like a wrong password"
        );
        let (status, body) = call(
            &s,
            json_req("POST", "/api/login", None, json!({ "ext": "1001" })),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("extension"));

        let kinds: Vec<String> = s
            .store
            .events_after(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .filter(|k| k.starts_with("login"))
            .collect();
        assert_eq!(kinds, ["login", "login_failed", "login_failed"]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn logout_ends_the_session(pool: sqlx::SqlitePool) {
        let s = clinic(pool).await;
        let token = login_as(&s, "1001").await;
        assert_eq!(
            call(&s, get("/api/calls/call-00000001", &token)).await.0,
            StatusCode::OK
        );
        let (status, _) = call(&s, json_req("POST", "/api/logout", Some(&token), json!({}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            call(&s, get("/api/calls/call-00000001", &token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_softphone_learns_its_settings_from_the_login(pool: sqlx::SqlitePool) {
        let s = clinic(pool).await;
        let token = login_as(&s, "1002").await;
        let (status, body) = call(&s, get("/api/phone", &token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({
                "extension": "1002",
                "domain": "clinic.test",
                "listen": ["udp://127.0.0.1:5060"],
                "register_expires": 300,
            })
        );
        let operator = s.api_token.clone().unwrap();
        let (status, body) = call(&s, get("/api/phone", &operator)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body["error"].as_str().unwrap().contains("no phone"));
        let (status, _) = call(&s, get("/api/phone", "not-a-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn the_card_shows_the_callers_earlier_calls_to_those_on_the_call(pool: sqlx::SqlitePool) {
        let s = clinic(pool).await;
        // The same caller a day earlier (answered by 1002), and someone else.
        let arrived = |id: &str, caller: &str, at: i64| EventRecord {
            seq: 0,
            at,
            kind: "call_arrived".into(),
            call_id: Some(id.into()),
            agent: None,
            data: json!({ "queue": "reception", "caller": caller }),
            hash: None,
        };
        let day = 86_400_000;
        let now = crate::store::now_ms();
        s.store
            .append_events(&mut [
                arrived("call-00000000", "89211234567", now - day),
                arrived("call-00000009", "89990000000", now - day),
            ])
            .await
            .unwrap();
        let token = login_as(&s, "1001").await;
        // Not before the caller's identity is confirmed on the call.
        let (status, body) = call(&s, get("/api/calls/call-00000001/history", &token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["error"].as_str().unwrap().contains("identity"));
        s.store
            .append_events(&mut [EventRecord {
                seq: 0,
                at: now,
                kind: "identity_confirmed".into(),
                call_id: Some("call-00000001".into()),
                agent: Some("1001".into()),
                data: json!({ "call": "call-00000001", "patient": "mis-1" }),
                hash: None,
            }])
            .await
            .unwrap();
        let (status, body) = call(&s, get("/api/calls/call-00000001/history", &token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let earlier: Vec<&str> = body["earlier_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(earlier, ["call-00000000"]);
        assert_eq!(body["open_callbacks"], json!([]));
        // A withheld number has no past: nobody else's calls show.
        s.store
            .append_events(&mut [
                arrived("call-00000020", "anonymous", now - day),
                arrived("call-00000021", "anonymous", now),
                EventRecord {
                    seq: 0,
                    at: now,
                    kind: "identity_confirmed".into(),
                    call_id: Some("call-00000021".into()),
                    agent: Some("1001".into()),
                    data: json!({ "call": "call-00000021", "patient": "mis-1" }),
                    hash: None,
                },
            ])
            .await
            .unwrap();
        let (status, body) = call(&s, get("/api/calls/call-00000021/history", &token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["earlier_calls"], json!([]));
        // 1002 had no part in this call: it does not exist for them.
        let other = login_as(&s, "1002").await;
        let (status, _) = call(&s, get("/api/calls/call-00000001/history", &other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The look is in the audit trail.
        let all = s.store.events_after(0, 100).await.unwrap();
        assert!(all.iter().any(|e| e.kind == "call_history_viewed"
            && e.agent.as_deref() == Some("1001")
            && e.data["call"] == "call-00000001"));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn roles_decide_what_each_may_see_and_do(pool: sqlx::SqlitePool) {
        let s = clinic(pool).await;
        let agent = login_as(&s, "1001").await;
        let other = login_as(&s, "1002").await;
        let supervisor = login_as(&s, "9001").await;
        let admin = login_as(&s, "9999").await;

        // Calls: one's own, or everything for supervisors.
        assert_eq!(
            call(&s, get("/api/calls/call-00000001", &agent)).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&s, get("/api/calls/call-00000001", &other)).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&s, get("/api/calls/call-00000001", &supervisor))
                .await
                .0,
            StatusCode::OK
        );
        // Admins run the system; calls carry patients' numbers.
        for path in [
            "/api/calls/call-00000001",
            "/api/calls/call-00000001/history",
        ] {
            assert_eq!(
                call(&s, get(path, &admin)).await.0,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        // The agent board is for supervisors and admins.
        let (status, body) = call(&s, get("/api/agents", &agent)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body["error"].as_str().unwrap().contains("agent role"),
            "{body}"
        );
        // An agent sets only their own state.
        let (status, _) = call(
            &s,
            json_req(
                "PUT",
                "/api/agents/1002/state",
                Some(&agent),
                json!({ "state": "paused" }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Patient records: written by admins, read by those on the patient's calls.
        let anna = json!({ "full_name": "Anna Petrova", "phones": ["+7 921 123-45-67"] });
        assert_eq!(
            call(
                &s,
                json_req("PUT", "/api/patients/mis-42", Some(&agent), anna.clone())
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(
                &s,
                json_req("PUT", "/api/patients/mis-42", Some(&admin), anna)
            )
            .await
            .0,
            StatusCode::CREATED
        );
        let lookup = "/api/patients?phone=%2B79211234567";
        let (status, body) = call(&s, get(lookup, &agent)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["patients"][0]["mis_id"], "mis-42",
            "the caller on 1001's call"
        );
        let (_, body) = call(&s, get(lookup, &other)).await;
        assert_eq!(
            body["patients"],
            json!([]),
            "1002 never had a call from her"
        );
        assert_eq!(
            call(&s, get("/api/patients/mis-42", &other)).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&s, get("/api/patients/mis-42", &admin)).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&s, get("/api/patients/mis-42", &supervisor)).await.0,
            StatusCode::OK
        );

        // Who saw the card, and on which call: the agent on the call that
        // let them open it; a supervisor on none.
        assert_eq!(
            super::super::tests::card_views(&s).await,
            [
                (Some("1001".into()), Some("call-00000001".into())),
                (Some("9001".into()), None)
            ]
        );
        assert_eq!(s.store.verify_chain().await.unwrap().broken, None);
    }
}
