//! Staff accounts under `/api/users`: admins add and change them
//! (supervisors may look); and `/api/config`, the running configuration. Each change is a fact in the audit trail; a new
//! role or password, or disabling, ends the user's sessions, and the phones'
//! credentials reload by themselves (the registrar watches the table).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Principal, principal, record_fact};
use super::error::ApiError;
use crate::store::users::{NewUser, PreparedPassword, Role, Updated, User, UserChange, UserError};

fn user_json(u: &User) -> Value {
    json!({
        "extension": u.extension,
        "name": u.name,
        "role": u.role.as_str(),
        "disabled": u.disabled,
    })
}

/// `GET /api/users`
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Supervisor, Role::Admin], "the list of users")?;
    let users: Vec<Value> = state
        .store
        .list_users()
        .await?
        .iter()
        .map(user_json)
        .collect();
    Ok(Json(json!({ "users": users })).into_response())
}

/// `GET /api/config`: the running configuration without its secrets, with
/// the fingerprint that `config_changed` audit events carry.
pub(crate) async fn config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Supervisor, Role::Admin], "the configuration")?;
    Ok(Json(state.config.as_ref().clone()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserBody {
    extension: String,
    name: String,
    role: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeBody {
    name: Option<String>,
    role: Option<String>,
    password: Option<String>,
    disabled: Option<bool>,
}

fn bad_body(e: JsonRejection, shape: &str) -> ApiError {
    ApiError::BadRequest {
        message: format!("expected {shape}: {}", e.body_text()),
        field: None,
    }
}

fn role(text: &str) -> Result<Role, ApiError> {
    text.parse().map_err(|e: UserError| ApiError::BadRequest {
        message: e.to_string(),
        field: Some("role"),
    })
}

/// Users are managed by an admin's own login, so every change names a
/// person: not by the operator token (a machine's), which could otherwise
/// make itself an admin login.
fn admin_only(who: &Principal) -> Result<(), ApiError> {
    match who {
        Principal::User {
            role: Role::Admin, ..
        } => Ok(()),
        Principal::Operator => Err(ApiError::Forbidden(
            "managing users takes an admin's login, not the operator token".into(),
        )),
        Principal::User { role, .. } => Err(ApiError::Forbidden(format!(
            "managing users is not open to the {role} role"
        ))),
    }
}

/// A refused user, as the API says it.
fn refused(e: UserError) -> ApiError {
    let field = match &e {
        UserError::Extension(_) => Some("extension"),
        UserError::Name => Some("name"),
        UserError::Role(_) => Some("role"),
        UserError::Password(_) => Some("password"),
        UserError::Duplicate(_) => return ApiError::Conflict(e.to_string()),
        UserError::Hash(_) | UserError::Store(_) => return ApiError::Internal(e.to_string()),
    };
    ApiError::BadRequest {
        message: e.to_string(),
        field,
    }
}

/// Runs argon2 (slow on purpose) off the request workers.
async fn hashed<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UserError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(refused)
}

/// `POST /api/users` with `{extension, name, role, password}`
pub(crate) async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    admin_only(&who)?;
    let Json(body) =
        body.map_err(|e| bad_body(e, "{\"extension\", \"name\", \"role\", \"password\"}"))?;
    let new = NewUser {
        role: role(&body.role)?,
        extension: body.extension,
        name: body.name,
        password: body.password,
    };
    let (realm, min) = (state.phone.domain.clone(), state.min_password);
    let prepared = hashed(move || new.prepare(&realm, min)).await?;
    state
        .store
        .insert_users(std::slice::from_ref(&prepared))
        .await
        .map_err(refused)?;
    let user = find(&state, prepared.extension()).await?;
    record_fact(
        &state,
        "user_added",
        None,
        json!({ "extension": user.extension, "role": user.role.as_str(), "by": who.audit_name() }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))).into_response())
}

async fn find(state: &AppState, extension: &str) -> Result<User, ApiError> {
    state
        .store
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.extension == extension)
        .ok_or_else(|| ApiError::NotFound(format!("no user {extension}")))
}

/// `PATCH /api/users/{ext}` with any of `{name, role, password, disabled}`
pub(crate) async fn change(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ext): Path<String>,
    body: Result<Json<ChangeBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    admin_only(&who)?;
    let Json(body) =
        body.map_err(|e| bad_body(e, "any of {\"name\", \"role\", \"password\", \"disabled\"}"))?;
    let before = find(&state, &ext).await?;
    let mut change = UserChange {
        role: body.role.as_deref().map(role).transpose()?,
        disabled: body.disabled,
        ..UserChange::default()
    };
    if let Some(name) = body.name {
        if name.trim().is_empty() {
            return Err(refused(UserError::Name));
        }
        change.name = Some(name);
    }
    let mut changed: Vec<&str> = [
        ("name", change.name.is_some()),
        ("role", change.role.is_some()),
        ("password", body.password.is_some()),
        ("disabled", change.disabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    if changed.is_empty() {
        return Err(ApiError::BadRequest {
            message: "nothing to change: give name, role, password or disabled".into(),
            field: None,
        });
    }
    let stays_admin = change.role.unwrap_or(before.role) == Role::Admin
        && !change.disabled.unwrap_or(before.disabled);
    let is_self = matches!(&who, Principal::User { extension, .. } if *extension == ext);
    if before.role == Role::Admin && !before.disabled && !stays_admin && is_self {
        return Err(ApiError::Conflict(
            "an admin may not take their own admin rights away or disable themselves".into(),
        ));
    }
    if let Some(password) = body.password {
        let (realm, min, extension) = (state.phone.domain.clone(), state.min_password, ext.clone());
        change.password =
            Some(hashed(move || PreparedPassword::new(&extension, &password, &realm, min)).await?);
    }
    match state.store.update_user(&ext, &change).await? {
        Updated::Done => {}
        Updated::NoSuchUser => return Err(ApiError::NotFound(format!("no user {ext}"))),
        Updated::LastAdmin => {
            return Err(ApiError::Conflict(format!(
                "{ext} is the last enabled admin: make another admin first"
            )));
        }
    }
    let after = find(&state, &ext).await?;
    changed.sort_unstable();
    // The changed user is the fact's agent (the admin who changed them is
    // `by`): that reaches their open WebSockets, which close when the
    // change ended their login.
    record_fact(
        &state,
        "user_changed",
        Some(ext.clone()),
        json!({
            "extension": ext,
            "changed": changed,
            "role": after.role.as_str(),
            "disabled": after.disabled,
            "by": who.audit_name(),
        }),
    )
    .await?;
    Ok(Json(user_json(&after)).into_response())
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
