//! Staff accounts through the API.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::super::AppState;
use super::super::tests::{call, request as req, staff, state};
use crate::store::users::Role;

async fn login(s: &AppState, ext: &str, password: &str) -> Option<String> {
    let body = json!({ "extension": ext, "password": password }).to_string();
    let (status, body) = call(s, req("POST", "/api/login", None, Some(&body))).await;
    (status == StatusCode::OK).then(|| body["token"].as_str().unwrap().to_string())
}

/// The error and the field a refused request names.
async fn refused(s: &AppState, r: Request<Body>) -> (StatusCode, String, Value) {
    let (status, body) = call(s, r).await;
    (
        status,
        body["error"].as_str().unwrap_or("").to_string(),
        body["field"].clone(),
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_add_and_change_users_others_may_not(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let t = staff(
        &s,
        &[
            ("9999", Role::Admin),
            ("9001", Role::Supervisor),
            ("1001", Role::Agent),
        ],
    )
    .await;
    let (admin, supervisor, agent) = (t[0].as_str(), t[1].as_str(), t[2].as_str());
    let vera = r#"{"extension": "1005", "name": "Vera Orlova", "role": "agent", "password": "first-secret"}"#;

    // Who may do what.
    for token in [agent, supervisor] {
        assert_eq!(
            call(&s, req("POST", "/api/users", Some(token), Some(vera)))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        call(&s, req("GET", "/api/users", Some(agent), None))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, list) = call(&s, req("GET", "/api/users", Some(supervisor), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["users"].as_array().unwrap().len(), 3);
    assert_eq!(
        call(
            &s,
            req(
                "PATCH",
                "/api/users/1001",
                Some(supervisor),
                Some(r#"{"name": "X"}"#)
            )
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&s, req("POST", "/api/users", None, Some(vera)))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Added: she can log in; a second time is a conflict.
    let (status, body) = call(&s, req("POST", "/api/users", Some(admin), Some(vera))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body,
        json!({ "extension": "1005", "name": "Vera Orlova", "role": "agent", "disabled": false })
    );
    let first = login(&s, "1005", "first-secret")
        .await
        .expect("the new user logs in");
    let (status, body) = call(&s, req("POST", "/api/users", Some(admin), Some(vera))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let ha1_before = s
        .store
        .digest_credentials()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.extension == "1005")
        .expect("her phone may register")
        .ha1_md5;

    // Bad input names its field.
    for (body, field) in [
        (
            r#"{"extension": "10 05", "name": "V", "role": "agent", "password": "long-enough"}"#,
            json!("extension"),
        ),
        (
            r#"{"extension": "1006", "name": " ", "role": "agent", "password": "long-enough"}"#,
            json!("name"),
        ),
        (
            r#"{"extension": "1006", "name": "V", "role": "boss", "password": "long-enough"}"#,
            json!("role"),
        ),
        (
            r#"{"extension": "1006", "name": "V", "role": "agent", "password": "short"}"#,
            json!("password"),
        ),
        (
            r#"{"extension": "1006", "name": "V", "role": "agent", "password": "long-enough", "pin": 1}"#,
            Value::Null,
        ),
        (r#"{"extension": "1006""#, Value::Null),
    ] {
        let (status, error, got) =
            refused(&s, req("POST", "/api/users", Some(admin), Some(body))).await;
        assert_eq!(
            (status, &got),
            (StatusCode::BAD_REQUEST, &field),
            "{body}: {error}"
        );
        assert!(!error.is_empty(), "{body}");
    }
    assert_eq!(
        refused(
            &s,
            req(
                "POST",
                "/api/users",
                Some(admin),
                Some(r#"{"extension": "1006", "name": "V", "role": "agent", "password": "short"}"#)
            )
        )
        .await
        .1,
        "password must be at least 8 characters"
    );

    // A new role and password: her session ends, the old password no longer
    // works, her phone's credentials change.
    let (status, body) = call(
        &s,
        req(
            "PATCH",
            "/api/users/1005",
            Some(admin),
            Some(r#"{"role": "senior", "password": "second-secret"}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "senior");
    assert_eq!(
        call(&s, req("GET", "/api/session", Some(&first), None))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert!(login(&s, "1005", "first-secret").await.is_none());
    assert!(login(&s, "1005", "second-secret").await.is_some());
    let creds = s.store.digest_credentials().await.unwrap();
    let ha1_after = &creds
        .iter()
        .find(|c| c.extension == "1005")
        .unwrap()
        .ha1_md5;
    assert_ne!(*ha1_after, ha1_before);

    // Disabled: no login, no phone.
    let (status, body) = call(
        &s,
        req(
            "PATCH",
            "/api/users/1005",
            Some(admin),
            Some(r#"{"disabled": true}"#),
        ),
    )
    .await;
    assert_eq!(
        (status, &body["disabled"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );
    assert!(login(&s, "1005", "second-secret").await.is_none());
    assert!(
        !s.store
            .digest_credentials()
            .await
            .unwrap()
            .iter()
            .any(|c| c.extension == "1005")
    );

    // Nothing to change, an unknown field, an unknown user.
    for (path, body, status) in [
        ("/api/users/1005", "{}", StatusCode::BAD_REQUEST),
        (
            "/api/users/1005",
            r#"{"colour": "red"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/users/1005",
            r#"{"password": "short"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/users/4242",
            r#"{"name": "Nobody"}"#,
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(
            call(&s, req("PATCH", path, Some(admin), Some(body)))
                .await
                .0,
            status,
            "{path} {body}"
        );
    }

    // The trail: who added and changed whom, and never a password.
    let facts: Vec<_> = s
        .store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("user_"))
        .collect();
    let seen: Vec<(String, Value)> = facts
        .iter()
        .map(|e| (e.kind.clone(), e.data["changed"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("user_added".into(), Value::Null),
            ("user_changed".into(), json!(["password", "role"])),
            ("user_changed".into(), json!(["disabled"])),
        ]
    );
    for e in &facts {
        assert_eq!(e.data["by"], "9999");
        assert_eq!(e.data["extension"], "1005");
        let text = e.data.to_string();
        assert!(!text.contains("secret"), "a password in the trail: {text}");
    }
    assert_eq!(s.store.verify_chain().await.unwrap().broken, None);
}

/// The store refuses the change that would leave no enabled admin (inside
/// its transaction: `store::users` tests it); through the API an admin
/// cannot lock themselves out, and the operator token manages no user.
#[sqlx::test(migrations = "../migrations")]
async fn admins_cannot_lock_themselves_out_and_the_operator_token_manages_no_user(
    pool: sqlx::SqlitePool,
) {
    let s = state(pool);
    let t = staff(&s, &[("9999", Role::Admin), ("9998", Role::Admin)]).await;
    for body in [r#"{"role": "agent"}"#, r#"{"disabled": true}"#] {
        let (status, error, _) =
            refused(&s, req("PATCH", "/api/users/9999", Some(&t[0]), Some(body))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(error.contains("themselves"), "{error}");
    }
    let operator = s.api_token.clone().unwrap();
    let vera =
        r#"{"extension": "1005", "name": "Vera", "role": "admin", "password": "long-enough"}"#;
    for (method, path, body) in [
        ("POST", "/api/users", vera),
        (
            "PATCH",
            "/api/users/9998",
            r#"{"password": "operator-chosen"}"#,
        ),
    ] {
        let (status, error, _) = refused(&s, req(method, path, Some(&operator), Some(body))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(error.contains("operator token"), "{error}");
    }
    // Another admin may go, while one remains.
    let (status, body) = call(
        &s,
        req(
            "PATCH",
            "/api/users/9998",
            Some(&t[0]),
            Some(r#"{"role": "supervisor"}"#),
        ),
    )
    .await;
    assert_eq!(
        (status, &body["role"]),
        (StatusCode::OK, &serde_json::json!("supervisor"))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn overseers_read_the_configuration_without_its_secrets(pool: sqlx::SqlitePool) {
    let s = state(pool);
    let t = staff(&s, &[("9999", Role::Admin), ("9001", Role::Supervisor)]).await;
    for token in &t {
        let (status, body) = call(&s, req("GET", "/api/config", Some(token), None)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["http"]["api_token_set"], false);
        assert!(body["queues"].is_array(), "{body}");
    }
}
