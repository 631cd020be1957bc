//! Every role × every API route: admitted or refused. One table, checked
//! against `ROUTES`, so a new route without a row fails here.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};

use self::Access::{LoggedIn, Open, Roles};
use super::super::tests::{call, staff, state};
use super::ROUTES;
use crate::store::users::Role;
use crate::store::users::Role::{Admin, Agent, Doctor, Senior, Supervisor};

/// Who a route lets through; every other logged-in caller gets 403.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// No token needed.
    Open,
    /// These roles, and the operator token (`Principal::require`).
    Roles(&'static [Role]),
    /// These roles only: the operator token has no extension to act as.
    LoggedIn(&'static [Role]),
}

const EVERY: &[Role] = &Role::ALL;
/// Those who ring patients back.
const FRONT_LINE: &[Role] = &[Agent, Senior, Doctor];
/// The agent board, the audit trail, the list of users.
const OVERSEERS: &[Role] = &[Supervisor, Admin];
/// Appointments and teleconsults (a doctor sees their own).
const SCHEDULE: &[Role] = &[Doctor, Supervisor, Admin];
/// Who may set 1001's state: 1001 itself (an agent) and supervisors.
const STATE_OF_1001: &[Role] = &[Agent, Supervisor];

/// Path parameters: `{ext}` is 1001 (the agent's own), `{id}` and
/// `{mis_id}` name nothing, so an admitted caller may get 404. A query
/// after `?` tests another face of the same route.
const MATRIX: &[(&str, &str, Access)] = &[
    ("get", "/health", Open),
    ("get", "/metrics", Open),
    ("get", "/api/openapi.json", Open),
    ("post", "/api/login", Open),
    ("post", "/api/logout", Roles(EVERY)),
    ("get", "/api/session", Roles(EVERY)),
    ("get", "/api/ws", Roles(EVERY)),
    ("get", "/api/ws?feed=indicators", Roles(&[Supervisor])),
    ("get", "/api/phone", LoggedIn(EVERY)),
    ("get", "/api/scripts", Roles(EVERY)),
    ("get", "/api/agents", Roles(OVERSEERS)),
    // Staff set their own state only.
    ("put", "/api/agents/{ext}/state", Roles(STATE_OF_1001)),
    // Calls staff had no part in are 404, not 403.
    ("get", "/api/calls/{id}", Roles(EVERY)),
    ("get", "/api/calls/{id}/history", Roles(EVERY)),
    // Whether it is their call is the call core's answer.
    ("put", "/api/calls/{id}/hold", LoggedIn(EVERY)),
    ("post", "/api/calls/{id}/transfer", LoggedIn(EVERY)),
    ("post", "/api/calls/{id}/transfer/complete", LoggedIn(EVERY)),
    ("post", "/api/calls/{id}/transfer/cancel", LoggedIn(EVERY)),
    // Cards staff may not open are 404 (admins open none).
    ("get", "/api/patients", Roles(EVERY)),
    ("get", "/api/patients/{mis_id}", Roles(EVERY)),
    ("put", "/api/patients/{mis_id}", Roles(&[Admin])),
    ("get", "/api/callbacks", Roles(EVERY)),
    ("post", "/api/callbacks/{id}/attempts", Roles(FRONT_LINE)),
    ("post", "/api/callbacks/{id}/call", LoggedIn(FRONT_LINE)),
    ("get", "/api/appointments", Roles(SCHEDULE)),
    ("put", "/api/appointments/{id}", Roles(&[Admin])),
    ("get", "/api/teleconsults", Roles(SCHEDULE)),
    ("post", "/api/teleconsults/{id}/call", LoggedIn(&[Doctor])),
    ("get", "/api/indicators", Roles(&[Supervisor])),
    ("get", "/api/indicators/live", Roles(&[Supervisor])),
    ("get", "/api/audit/status", Roles(OVERSEERS)),
    ("get", "/api/users", Roles(OVERSEERS)),
    ("post", "/api/users", LoggedIn(&[Admin])),
    // `{}` changes nothing: 400 for admins, no user is touched.
    ("patch", "/api/users/{ext}", LoggedIn(&[Admin])),
    ("get", "/api/config", Roles(OVERSEERS)),
];

const STAFF: &[(&str, Role)] = &[
    ("1001", Agent),
    ("2001", Senior),
    ("3001", Doctor),
    ("9001", Supervisor),
    ("9999", Admin),
];

/// Who calls.
#[derive(Debug, Clone, Copy)]
enum Who {
    Nobody,
    Staff(&'static str, Role),
    Operator,
}

/// What the caller should get.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Anything but 401 and 403 (400 for the dummy body, 404 …).
    Admitted,
    /// 401.
    Unauthorized,
    /// 403 with an `error` message.
    Forbidden,
}

fn expect(access: Access, who: Who) -> Expect {
    match (access, who) {
        (Open, _) => Expect::Admitted,
        (_, Who::Nobody) => Expect::Unauthorized,
        (Roles(_), Who::Operator) => Expect::Admitted,
        (LoggedIn(_), Who::Operator) => Expect::Forbidden,
        (Roles(roles) | LoggedIn(roles), Who::Staff(_, role)) if roles.contains(&role) => {
            Expect::Admitted
        }
        (Roles(_) | LoggedIn(_), Who::Staff(..)) => Expect::Forbidden,
    }
}

/// `method path` with the dummy parameters, `{}` as the body of writes.
fn request(method: &str, path: &str, token: Option<&str>) -> Request<Body> {
    let uri = path
        .replace("{ext}", "1001")
        .replace("{id}", "call-1")
        .replace("{mis_id}", "mis-1");
    let method = method.to_uppercase();
    let mut r = Request::builder().method(method.as_str()).uri(uri);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let ws = path.starts_with("/api/ws");
    if ws {
        r = r
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    let body = if method == "GET" {
        Body::empty()
    } else {
        r = r.header("content-type", "application/json");
        Body::from("{}")
    };
    let mut req = r.body(body).unwrap();
    if ws {
        // Without hyper's upgrade handle the extractor answers 426 before
        // the handler looks at the token; this one never upgrades (the
        // admitted get 101 and the socket task ends at once).
        let inert = hyper::upgrade::on(&mut req);
        req.extensions_mut().insert(inert);
    }
    req
}

#[test]
fn the_matrix_names_every_route_and_nothing_else() {
    let listed: BTreeSet<(&str, &str)> = ROUTES.iter().copied().collect();
    let matrix: BTreeSet<(&str, &str)> = MATRIX
        .iter()
        .map(|&(method, path, _)| (method, path.split('?').next().unwrap()))
        .collect();
    assert_eq!(matrix, listed);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_role_is_admitted_or_refused_as_the_matrix_says(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let tokens = staff(&s, STAFF).await;
    let mut callers: Vec<(Who, Option<String>)> = vec![(Who::Nobody, None)];
    for (&(ext, role), token) in STAFF.iter().zip(tokens) {
        callers.push((Who::Staff(ext, role), Some(token)));
    }
    callers.push((Who::Operator, s.api_token.clone()));

    let mut wrong = Vec::new();
    for &(method, path, access) in MATRIX {
        for (who, token) in &callers {
            let token = match who {
                // Logging out ends the session: a fresh one, so the
                // caller's own token stays for the other routes.
                Who::Staff(ext, _) if path == "/api/logout" => {
                    let t = format!("logout-of-{ext}-0123456789");
                    s.store.create_session(&t, ext, 0, i64::MAX).await.unwrap();
                    Some(t)
                }
                _ => token.clone(),
            };
            let (status, body) = call(&s, request(method, path, token.as_deref())).await;
            let expected = expect(access, *who);
            let ok = match expected {
                Expect::Admitted => {
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
                }
                Expect::Unauthorized => status == StatusCode::UNAUTHORIZED,
                Expect::Forbidden => {
                    status == StatusCode::FORBIDDEN
                        && body["error"].as_str().is_some_and(|e| !e.is_empty())
                }
            };
            if !ok {
                wrong.push(format!(
                    "{method} {path} as {who:?}: expected {expected:?}, got {status} {body}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong cells:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
