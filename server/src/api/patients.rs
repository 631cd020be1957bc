//! The patient directory over HTTP: `PUT /api/patients/{mis_id}`
//! (idempotent upsert from the clinic's information system: admin or the
//! operator token), `GET /api/patients/{mis_id}` and
//! `GET /api/patients?phone=…` (any way of writing the number).
//!
//! Who sees a card: supervisors and the operator token, every card; agents,
//! seniors and doctors, the cards of callers on calls they were offered or
//! took in the last day (others are simply not found); admins, none — they run the system,
//! not the patients' care. Every card shown is recorded in the audit trail.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Principal, principal, record_call_fact};
use super::error::ApiError;
use crate::callbacks::Status;
use crate::patients::{PatientInput, card_dates};
use crate::store::callbacks::Scope;
use crate::store::patients::StoredPatient;
use crate::store::users::Role;

fn today() -> i64 {
    crate::store::now_ms().div_euclid(86_400_000)
}

/// `PUT /api/patients/{mis_id}`: 201 when created, 200 when changed or
/// sent again unchanged (`"changed": false`).
pub(crate) async fn put_patient(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(mis_id): Path<String>,
    body: Result<Json<PatientInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    principal(&state, &headers)
        .await?
        .require(&[Role::Admin], "changing patient records")?;
    let Json(input) = body.map_err(|e| ApiError::BadRequest {
        message: format!(
            "expected a patient as JSON ({{\"full_name\": …, \"phones\": [...]}}): {}",
            e.body_text()
        ),
        field: None,
    })?;
    let patient = input
        .validate(&mis_id, &state.phones, today())
        .map_err(|e| ApiError::BadRequest {
            message: e.reason,
            field: Some(e.field),
        })?;
    let counts = state.store.upsert_patients(&[patient]).await?;
    let status = if counts.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let stored = state
        .store
        .patient(&mis_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("patient {mis_id} vanished after upsert")))?;
    let mut body = card(&stored);
    body["changed"] = (counts.unchanged == 0).into();
    Ok((status, Json(body)).into_response())
}

/// `GET /api/patients/{mis_id}`
pub(crate) async fn get_patient(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(mis_id): Path<String>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let seen = Visibility::of(&state, &who).await?;
    let p = state
        .store
        .patient(&mis_id)
        .await?
        .filter(|p| seen.allows(p))
        .ok_or_else(|| ApiError::NotFound(format!("no patient {mis_id}")))?;
    record_views(&state, &who, &seen, &[&p], "by_id").await?;
    let card = cards(&state.store, std::slice::from_ref(&p))
        .await?
        .remove(0);
    Ok(Json(card).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ByPhone {
    phone: String,
}

/// `GET /api/patients?phone=…`: every card with that number (a family may
/// share one); an empty list for a number nobody has.
pub(crate) async fn find_patients(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ByPhone>, QueryRejection>,
) -> Result<Response, ApiError> {
    let who = principal(&state, &headers).await?;
    let Query(q) = query.map_err(|_| ApiError::BadRequest {
        message: "give the number to look up: /api/patients?phone=+79211234567".into(),
        field: Some("phone"),
    })?;
    let e164 = state
        .phones
        .e164(&q.phone)
        .map_err(|reason| ApiError::BadRequest {
            message: reason,
            field: Some("phone"),
        })?;
    let seen = Visibility::of(&state, &who).await?;
    let mut found = state
        .store
        .cards_by_phone(&e164, crate::store::now_ms())
        .await?;
    found.retain(|p| seen.allows(p));
    let refs: Vec<&StoredPatient> = found.iter().collect();
    record_views(&state, &who, &seen, &refs, "by_phone").await?;
    Ok(Json(json!({
        "phone": e164,
        "patients": cards(&state.store, &found).await?,
    }))
    .into_response())
}

/// Staff open the cards of callers on their calls of the last day (after-
/// call work included), not of everyone they ever spoke to; of the patients
/// on the call-back tasks they may take; and doctors those of their
/// teleconsults from a day before to a day after.
const CARD_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// How many open call-back tasks grant cards (the list an agent works from
/// is far shorter).
const TASKS_LIMIT: i64 = 1_000;

/// Which cards a caller of the API may open.
enum Visibility {
    All,
    None,
    Staff {
        /// Cards with one of these E.164 numbers, each with the call that
        /// grants it (their callers', newest first; then their tasks').
        calls: Vec<(String, String)>,
        /// Patients of their teleconsults, by the clinic's id.
        patients: Vec<String>,
    },
}

impl Visibility {
    async fn of(state: &AppState, who: &Principal) -> Result<Visibility, ApiError> {
        let extension = match who {
            Principal::Operator
            | Principal::User {
                role: Role::Supervisor,
                ..
            } => return Ok(Visibility::All),
            Principal::User {
                role: Role::Admin, ..
            } => return Ok(Visibility::None),
            Principal::User { extension, .. } => extension,
        };
        let now = crate::store::now_ms();
        let numbered = |number: String, call: String| Some((state.phones.caller(&number)?, call));
        let mut calls: Vec<(String, String)> = state
            .store
            .callers_of(extension, now - CARD_WINDOW_MS)
            .await?
            .into_iter()
            .filter_map(|(number, call)| numbered(number, call))
            .collect();
        let queues = super::callbacks::queues_of(state, extension);
        let scope = Scope::Agent {
            extension,
            queues: &queues,
        };
        let tasks = state
            .store
            .callbacks(Some(Status::Open), scope, TASKS_LIMIT)
            .await?;
        calls.extend(
            tasks
                .into_iter()
                .filter_map(|t| numbered(t.number, t.call_id)),
        );
        let patients = state
            .store
            .appointments(Some(extension), now - CARD_WINDOW_MS, now + CARD_WINDOW_MS)
            .await?
            .into_iter()
            .filter(|a| a.teleconsult)
            .map(|a| a.patient_id)
            .collect();
        Ok(Visibility::Staff { calls, patients })
    }

    fn allows(&self, p: &StoredPatient) -> bool {
        match self {
            Visibility::All => true,
            Visibility::None => false,
            Visibility::Staff { calls, patients } => {
                calls.iter().any(|(n, _)| p.phones_e164.contains(n)) || patients.contains(&p.mis_id)
            }
        }
    }

    /// The call that lets staff open this card: their latest with one of
    /// its numbers (none for a teleconsult's patient, or for those who see
    /// every card).
    fn on_call(&self, p: &StoredPatient) -> Option<String> {
        match self {
            Visibility::Staff { calls, .. } => calls
                .iter()
                .find(|(n, _)| p.phones_e164.contains(n))
                .map(|(_, call)| call.clone()),
            Visibility::All | Visibility::None => None,
        }
    }
}

/// One `card_viewed` event per card shown: who saw which patient, when,
/// and on which call.
async fn record_views(
    state: &AppState,
    who: &Principal,
    seen: &Visibility,
    cards: &[&StoredPatient],
    how: &str,
) -> Result<(), ApiError> {
    for p in cards {
        record_call_fact(
            state,
            "card_viewed",
            seen.on_call(p),
            match who {
                Principal::User { extension, .. } => Some(extension.clone()),
                Principal::Operator => None,
            },
            json!({ "patient": p.mis_id, "by": who.audit_name(), "lookup": how }),
        )
        .await?;
    }
    Ok(())
}

/// The cards with each patient's last and next appointments (what an agent
/// is asked about most).
pub(super) async fn cards(
    store: &crate::store::Store,
    patients: &[StoredPatient],
) -> Result<Vec<Value>, crate::store::StoreError> {
    let now = crate::store::now_ms();
    let mut out = Vec::with_capacity(patients.len());
    for p in patients {
        let mut v = card(p);
        let (last, next) = match &p.appointments {
            Some(both) => both.clone(),
            None => store.last_and_next_appointments(&p.mis_id, now).await?,
        };
        v["appointments"] = serde_json::json!({ "last": last, "next": next });
        out.push(v);
    }
    Ok(out)
}

/// The card as the API shows it: what was stored, plus age and pathway
/// dates worked out for today.
pub(super) fn card(p: &StoredPatient) -> Value {
    let mut v = serde_json::to_value(&p.input).unwrap_or(Value::Null);
    v["mis_id"] = p.mis_id.clone().into();
    v["phones_e164"] = p.phones_e164.clone().into();
    v["updated_at"] = p.updated_at.into();
    v["today"] = serde_json::to_value(card_dates(&p.input, today())).unwrap_or(Value::Null);
    v
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;

    use super::super::tests::{call, state};
    use super::*;
    use crate::store::events::EventRecord;

    const TOKEN: &str = "Bearer test-token-0123456789";

    fn put(id: &str, body: Value) -> Request<Body> {
        Request::put(format!("/api/patients/{id}"))
            .header("authorization", TOKEN)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path)
            .header("authorization", TOKEN)
            .body(Body::empty())
            .unwrap()
    }

    fn anna() -> Value {
        json!({
            "full_name": "Anna Petrova",
            "birth_date": "1990-11-25",
            "address_as": "Anna Sergeevna",
            "phones": ["+7 921 123-45-67"],
            "notes": { "reminders": "bring the scan" },
            "pathway": { "kind": "pregnancy", "lmp": "2026-06-01" },
            "consent": true
        })
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn put_is_an_idempotent_upsert(pool: sqlx::SqlitePool) {
        let s = state(pool);
        let (status, body) = call(&s, put("mis-42", anna())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["phones_e164"][0], "+79211234567");
        assert_eq!(body["changed"], true);
        let (status, body) = call(&s, put("mis-42", anna())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["changed"], false);
        let mut moved = anna();
        moved["phones"] = json!(["8 921 000 00 01"]);
        let (status, body) = call(&s, put("mis-42", moved)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["changed"], true);
        assert_eq!(body["phones_e164"], json!(["+79210000001"]));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn any_way_of_writing_the_number_finds_the_card_and_the_view_is_audited(
        pool: sqlx::SqlitePool,
    ) {
        let s = state(pool);
        call(&s, put("mis-42", anna())).await;
        for written in ["%2B79211234567", "8%20921%20123%2045%2067", "921-123-45-67"] {
            let (status, body) = call(&s, get(&format!("/api/patients?phone={written}"))).await;
            assert_eq!(status, StatusCode::OK, "{written}: {body}");
            assert_eq!(body["phone"], "+79211234567");
            assert_eq!(body["patients"][0]["mis_id"], "mis-42", "{written}");
            assert_eq!(body["patients"][0]["notes"]["reminders"], "bring the scan");
            assert!(body["patients"][0]["today"]["pregnancy_week"].is_i64());
        }
        let (status, body) = call(&s, get("/api/patients?phone=%2B79990000000")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["patients"], json!([]));
        let (status, _) = call(&s, get("/api/patients/mis-42")).await;
        assert_eq!(status, StatusCode::OK);

        let views = s.store.events_after(0, 100).await.unwrap();
        let views: Vec<&EventRecord> = views.iter().filter(|e| e.kind == "card_viewed").collect();
        assert_eq!(views.len(), 4, "three lookups by phone and one by id");
        assert!(views.iter().all(|e| e.data["patient"] == "mis-42"));
        assert_eq!(s.store.verify_chain().await.unwrap().broken, None);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn bad_input_gets_a_400_naming_the_field(pool: sqlx::SqlitePool) {
        let s = state(pool);
        let mut no_phone = anna();
        no_phone["phones"] = json!(["call reception"]);
        let mut future = anna();
        future["birth_date"] = json!("2099-01-01");
        let mut unknown = anna();
        unknown["shoe_size"] = json!(42);
        for (id, body, field) in [
            ("mis-1", no_phone, Some("phones")),
            ("mis-1", future, Some("birth_date")),
            ("bad id", anna(), Some("mis_id")),
            ("mis-1", unknown, None),
        ] {
            let (status, reply) = call(&s, put(&id.replace(' ', "%20"), body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
            assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()));
            assert_eq!(reply["field"].as_str(), field, "{reply}");
        }
        let (status, reply) = call(&s, get("/api/patients?phone=hello")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(reply["field"], "phone");
        let (status, _) = call(&s, get("/api/patients?name=anna")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = call(&s, get("/api/patients/mis-404")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            &s,
            Request::get("/api/patients/mis-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            s.store.patient("mis-1").await.unwrap(),
            None,
            "nothing half-written"
        );
    }
}
