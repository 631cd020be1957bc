//! `GET /api/openapi.json`: the API described in OpenAPI 3.1, written by
//! hand beside the routes. The tests check that every route of the router
//! is described here and every path described here is routed.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Every route of [`super::app`], as (method, path): the tests hold the
/// document and the router to it.
#[cfg(test)]
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("post", "/api/login"),
    ("post", "/api/logout"),
    ("get", "/api/session"),
    ("get", "/api/ws"),
    ("get", "/api/phone"),
    ("get", "/api/scripts"),
    ("get", "/api/agents"),
    ("put", "/api/agents/{ext}/state"),
    ("get", "/api/calls/{id}"),
    ("get", "/api/calls/{id}/history"),
    ("put", "/api/calls/{id}/hold"),
    ("post", "/api/calls/{id}/transfer"),
    ("post", "/api/calls/{id}/transfer/complete"),
    ("post", "/api/calls/{id}/transfer/cancel"),
    ("get", "/api/patients"),
    ("get", "/api/patients/{mis_id}"),
    ("put", "/api/patients/{mis_id}"),
    ("get", "/api/callbacks"),
    ("post", "/api/callbacks/{id}/attempts"),
    ("post", "/api/callbacks/{id}/call"),
    ("get", "/api/appointments"),
    ("put", "/api/appointments/{id}"),
    ("get", "/api/teleconsults"),
    ("post", "/api/teleconsults/{id}/call"),
    ("get", "/api/indicators"),
    ("get", "/api/indicators/live"),
    ("get", "/api/audit/status"),
    ("get", "/api/users"),
    ("post", "/api/users"),
    ("patch", "/api/users/{ext}"),
    ("get", "/api/config"),
];

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

/// The document.
pub fn document() -> Value {
    let auth = json!([{ "bearer": [] }]);
    let unauthorized = error_response("No valid bearer token.");
    let forbidden = error_response("The caller's role may not do this.");
    let bad = error_response("Malformed request; `field` names the culprit when there is one.");
    let not_found = error_response("Not found (or not the caller's to see).");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Careline API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Call-centre API of the Careline call server. Log in with POST /api/login and send the token as `Authorization: Bearer …`. Roles: agent, senior, doctor (their own calls and the cards of callers on them), supervisor (everything, read-only), admin (configuration, users, patient records). A machine client may use the configured operator token."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": { "type": "string", "description": "What is wrong, for a person to read." },
                        "field": { "type": ["string", "null"], "description": "The field at fault." }
                    }
                },
                "Patient": {
                    "type": "object",
                    "required": ["full_name", "phones"],
                    "additionalProperties": false,
                    "properties": {
                        "full_name": { "type": "string" },
                        "birth_date": { "type": ["string", "null"], "format": "date" },
                        "address_as": { "type": ["string", "null"], "description": "Preferred form of address." },
                        "phones": { "type": "array", "items": { "type": "string" }, "description": "Any format; stored as E.164." },
                        "notes": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                                "preferences": { "type": "string" },
                                "reminders": { "type": "string" },
                                "lateness": { "type": "string" },
                                "difficulties": { "type": "string" },
                                "negative": { "type": "string" }
                            }
                        },
                        "pathway": {
                            "type": ["object", "null"],
                            "required": ["kind", "lmp"],
                            "properties": {
                                "kind": { "const": "pregnancy" },
                                "lmp": { "type": "string", "format": "date", "description": "Last menstrual period." }
                            }
                        },
                        "consent": { "type": "boolean" },
                        "marketing": { "type": "boolean" }
                    }
                },
                "Card": {
                    "allOf": [{ "$ref": "#/components/schemas/Patient" }],
                    "properties": {
                        "mis_id": { "type": "string" },
                        "phones_e164": { "type": "array", "items": { "type": "string" } },
                        "updated_at": { "type": "integer", "description": "Epoch ms." },
                        "today": {
                            "type": "object",
                            "properties": {
                                "age": { "type": ["integer", "null"] },
                                "edd": { "type": ["string", "null"], "description": "Estimated due date (LMP + 280 days)." },
                                "pregnancy_week": { "type": ["integer", "null"] },
                                "pregnancy_day": { "type": ["integer", "null"] }
                            }
                        }
                    }
                }
            }
        },
        "paths": {
            "/health": { "get": {
                "summary": "Liveness and database status.",
                "responses": { "200": { "description": "Up." }, "503": { "description": "The database is not answering." } }
            }},
            "/metrics": { "get": {
                "summary": "Prometheus metrics: calls, queue waits, registrations, events written, SIP traffic.",
                "responses": { "200": { "description": "Prometheus text format 0.0.4.", "content": { "text/plain": {} } } }
            }},
            "/api/openapi.json": { "get": {
                "summary": "This document.",
                "responses": { "200": { "description": "OpenAPI 3.1." } }
            }},
            "/api/login": { "post": {
                "summary": "Log in with extension and password; returns a bearer token (12 h). Recorded in the audit trail.",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["extension", "password"], "additionalProperties": false,
                    "properties": { "extension": { "type": "string" }, "password": { "type": "string" } }
                }}}},
                "responses": {
                    "200": { "description": "Logged in: token, extension, name, role, expires_at (epoch ms)." },
                    "400": bad,
                    "401": error_response("Wrong extension or password (the same answer for both).")
                }
            }},
            "/api/logout": { "post": {
                "summary": "End this token's session.",
                "security": auth,
                "responses": { "204": { "description": "Logged out." }, "401": unauthorized }
            }},
            "/api/session": { "get": {
                "summary": "Who this token belongs to: {extension, role}; 401 once the session has ended.",
                "security": auth,
                "responses": { "200": { "description": "{extension, role}" }, "401": unauthorized }
            }},
            "/api/phone": { "get": {
                "summary": "A softphone's settings for the logged-in member of staff: {extension, domain (also the digest realm), listen (the server's SIP sockets; a 0.0.0.0 host means the API's own), register_expires}. The SIP password is the login's. 403 for the operator token.",
                "security": auth,
                "responses": { "200": { "description": "{extension, domain, listen, register_expires}" }, "401": unauthorized, "403": forbidden }
            }},
            "/api/scripts": { "get": {
                "summary": "The script prompts as data: {clinic, languages, call_types, stages, day_parts, fields, phrases: {lang: {call_type: {stage: text, greeting: {day_part: text}}}}}, the default set with `[scripts] file` laid over it.",
                "security": auth,
                "responses": { "200": { "description": "The scripts document" }, "401": unauthorized }
            }},
            "/api/calls/{id}/history": { "get": {
                "summary": "The caller's past for the card: {call, earlier_calls: [{id, queue, arrived_at, answered_by, end_reason}] (newest first, at most 10), open_callbacks: [{id, reason, due_at, overdue, queue}]}. Staff who took part in the call, and supervisors; audited as call_history_viewed.",
                "security": auth,
                "parameters": [ { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "responses": { "200": { "description": "The history" }, "401": unauthorized, "404": error_response("No such call, or not one of yours.") }
            }},
            "/api/ws": { "get": {
                "summary": "Live WebSocket: hello, events by role, call_offered screen pops; client messages state, note, disposition, identity (the date-of-birth check, audited). `after` resumes from a seq. A client message may be at most 64 KiB; a longer one closes the socket with code 1009.",
                "parameters": [
                    { "name": "token", "in": "query", "required": false, "schema": { "type": "string" }, "description": "The bearer token (browsers cannot set headers on a WebSocket)." },
                    { "name": "after", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 }, "description": "Replay events after this seq first." },
                    { "name": "feed", "in": "query", "required": false, "schema": { "enum": ["events", "indicators"] }, "description": "indicators: the dashboard's snapshots only (supervisors)." }
                ],
                "responses": { "101": { "description": "Switching to the WebSocket." }, "400": bad, "401": unauthorized }
            }},
            "/api/agents": { "get": {
                "summary": "The agent board: every agent and their state (supervisor, admin).",
                "security": auth,
                "responses": { "200": { "description": "[{extension, state}]" }, "401": unauthorized, "403": forbidden, "503": error_response("The call core is not running.") }
            }},
            "/api/agents/{ext}/state": { "put": {
                "summary": "Set an agent's state: available, with_patient, paused or offline (one's own; supervisors anyone's).",
                "security": auth,
                "parameters": [path_param("ext", "The agent's extension.")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["state"], "additionalProperties": false,
                    "properties": { "state": { "enum": ["available", "with_patient", "paused", "offline"] } }
                }}}},
                "responses": { "204": { "description": "Set (or applied after the current call)." }, "400": bad, "401": unauthorized, "403": forbidden, "404": not_found }
            }},
            "/api/calls/{id}": { "get": {
                "summary": "A call's record and its events in order (one's own calls; supervisors any).",
                "security": auth,
                "parameters": [path_param("id", "call-xxxxxxxx")],
                "responses": { "200": { "description": "The call." }, "401": unauthorized, "404": not_found }
            }},
            "/api/calls/{id}/hold": { "put": {
                "summary": "Hold ({\"hold\": true}) or resume ({\"hold\": false}) the caller, by the agent on the call: music for the caller, hold reminders every hold_reminder.",
                "security": auth,
                "parameters": [path_param("id", "call-xxxxxxxx")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["hold"], "additionalProperties": false,
                    "properties": { "hold": { "type": "boolean" } }
                }}}},
                "responses": { "204": { "description": "Done (or already so)." }, "400": bad, "401": unauthorized, "403": forbidden, "404": not_found, "503": error_response("The call core is not running.") }
            }},
            "/api/calls/{id}/transfer": { "post": {
                "summary": "Blind transfer by the agent on the call: to a colleague (extension), \"senior\" (the senior tier of the call's queue) or \"queue:NUMBER\". The caller hears music meanwhile; the target's screen gets the card and the note; a colleague who does not answer sends the call back to the queue.",
                "security": auth,
                "parameters": [path_param("id", "call-xxxxxxxx")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["to"], "additionalProperties": false,
                    "properties": { "to": { "type": "string" }, "note": { "type": "string", "maxLength": 1000 } }
                }}}},
                "responses": { "202": { "description": "Handed on; the agent's phone is hung up." }, "400": bad, "401": unauthorized, "403": forbidden, "404": not_found, "409": error_response("The colleague cannot take a call now."), "503": error_response("The call core is not running.") }
            }},
            "/api/calls/{id}/transfer/complete": { "post": {
                "summary": "Completes an attended transfer: the agent put the caller on hold and called a colleague, a queue or \"senior\" from their phone; once that colleague answered, this hands the caller to them (as a REFER with Replaces from the phone would). The agent's calls are hung up.",
                "security": auth,
                "parameters": [path_param("id", "call-xxxxxxxx")],
                "responses": { "204": { "description": "Handed over." }, "401": unauthorized, "403": forbidden, "404": error_response("No consultation of yours on that call."), "409": error_response("The colleague has not answered yet."), "503": error_response("The call core is not running.") }
            }},
            "/api/calls/{id}/transfer/cancel": { "post": {
                "summary": "Calls an attended transfer off: the consulting call ends (or stops ringing) and the caller stays with the agent, on hold until they resume.",
                "security": auth,
                "parameters": [path_param("id", "call-xxxxxxxx")],
                "responses": { "204": { "description": "Called off." }, "401": unauthorized, "403": forbidden, "404": error_response("No consultation of yours on that call."), "503": error_response("The call core is not running.") }
            }},
            "/api/patients": { "get": {
                "summary": "Cards with this phone number, written any way. Each card shown is an audit event.",
                "security": auth,
                "parameters": [{ "name": "phone", "in": "query", "required": true, "schema": { "type": "string" } }],
                "responses": {
                    "200": { "description": "{phone (E.164), patients: [Card]} — only the cards the caller may see." },
                    "400": bad, "401": unauthorized
                }
            }},
            "/api/callbacks": { "get": {
                "summary": "Call-back tasks (dropped calls: first the agent who had the call, the queue after the grace time; abandoned calls: the queue). Agents see the tasks they may work, supervisors all.",
                "security": auth,
                "parameters": [{ "name": "status", "in": "query", "required": false, "schema": { "enum": ["open", "done", "failed", "all"] }, "description": "Default open." }],
                "responses": { "200": { "description": "{tasks: [{id, call_id, queue, number, reason, agent, owner, created_at, due_at, sla_at, attempts, status, overdue, closed_at}], my_queues}" }, "400": bad, "401": unauthorized }
            }},
            "/api/callbacks/{id}/attempts": { "post": {
                "summary": "Record a call-back attempt's outcome (the task's owner, or an agent of its queue). Unanswered attempts are retried after the spacing up to the maximum; reached closes the task as done, wrong_number as failed.",
                "security": auth,
                "parameters": [path_param("id", "cb-call-xxxxxxxx")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["outcome"], "additionalProperties": false,
                    "properties": { "outcome": { "enum": ["reached", "no_answer", "busy", "wrong_number"] } }
                }}}},
                "responses": { "201": { "description": "The task after the attempt." }, "400": bad, "401": unauthorized, "403": forbidden, "404": not_found, "409": error_response("The task is closed.") }
            }},
            "/api/callbacks/{id}/call": { "post": {
                "summary": "Call back now: rings the logged-in staff member's phone, then dials the patient (a phone registered under the number, or the trunk) and joins them. The call records its own attempt: reached, no_answer, busy or wrong_number.",
                "security": auth,
                "parameters": [path_param("id", "cb-call-xxxxxxxx")],
                "responses": { "202": { "description": "{call_id, task}: the staff member's phone is ringing." }, "401": unauthorized, "403": forbidden, "404": not_found, "409": error_response("The task is closed, or the phone is not registered or busy, or there is no route to the number."), "503": error_response("No media ports are free.") }
            }},
            "/api/appointments": { "get": {
                "summary": "Appointments in a range (default: from 12 h ago to a week ahead): a doctor their own, supervisors and admins everyone's (optionally ?doctor=).",
                "security": auth,
                "parameters": [
                    { "name": "from", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Epoch ms or YYYY-MM-DDTHH:MM:SSZ." },
                    { "name": "to", "in": "query", "required": false, "schema": { "type": "string" } },
                    { "name": "doctor", "in": "query", "required": false, "schema": { "type": "string" } }
                ],
                "responses": { "200": { "description": "{appointments: [{id, patient_id, doctor, starts_at, service, teleconsult, consent, paid, phone}]}" }, "400": bad, "401": unauthorized, "403": forbidden }
            }},
            "/api/appointments/{id}": { "put": {
                "summary": "Create or replace an appointment by the clinic's id (admin, operator token).",
                "security": auth,
                "parameters": [path_param("id", "The clinic's own id: 1–64 letters, digits, '-', '_' or '.'.")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["patient", "doctor", "starts_at", "service"], "additionalProperties": false,
                    "properties": {
                        "patient": { "type": "string", "description": "The patient's id (mis_id)." },
                        "doctor": { "type": "string", "description": "A doctor's extension." },
                        "starts_at": { "description": "Epoch ms or YYYY-MM-DDTHH:MM:SSZ." },
                        "service": { "type": "string" },
                        "teleconsult": { "type": "boolean" },
                        "consent": { "type": "boolean", "description": "Informed consent to a remote consultation." },
                        "paid": { "type": "boolean" },
                        "phone": { "type": "string", "description": "The number to call, when not the patient's first." }
                    }
                }}}},
                "responses": { "200": { "description": "Updated." }, "201": { "description": "Created." }, "400": bad, "401": unauthorized, "403": forbidden }
            }},
            "/api/teleconsults": { "get": {
                "summary": "The teleconsult record: doctor, extension, number, patient, appointment, INVITE/answer/end times, duration, outcome, and the line for the medical record (a doctor their own; supervisors and admins all). CSV exports are audited.",
                "security": auth,
                "parameters": [
                    { "name": "from", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Default a week ago." },
                    { "name": "to", "in": "query", "required": false, "schema": { "type": "string" } },
                    { "name": "doctor", "in": "query", "required": false, "schema": { "type": "string" } },
                    { "name": "format", "in": "query", "required": false, "schema": { "enum": ["json", "csv"] } }
                ],
                "responses": { "200": { "description": "{calls: [...]}", "content": { "application/json": {}, "text/csv": {} } }, "400": bad, "401": unauthorized, "403": forbidden }
            }},
            "/api/teleconsults/{id}/call": { "post": {
                "summary": "Start a teleconsult from an appointment (its doctor): rings the doctor's phone, then the patient. Refused without consent or payment unless [teleconsult] missing_flags = \"warn\".",
                "security": auth,
                "parameters": [path_param("id", "The appointment's id.")],
                "responses": { "202": { "description": "{call_id, appointment, warnings}" }, "401": unauthorized, "403": forbidden, "404": not_found, "409": error_response("Not a teleconsult slot, flags missing, no number, or the doctor's phone is not registered or busy."), "503": error_response("No media ports, or the call core is not running.") }
            }},
            "/api/indicators/live": { "get": {
                "summary": "The supervisors' dashboard now: calls waiting and the longest wait; today's and the last hour's service level (answered within three rings), ASA, abandonment, dropped calls, AHT; per-queue tiles; the agent board; tile thresholds (supervisor). Also pushed on /api/ws as `indicators` messages.",
                "security": auth,
                "responses": { "200": { "description": "The latest snapshot (`seq`: the last event folded in)." }, "401": unauthorized, "403": forbidden }
            }},
            "/api/indicators": { "get": {
                "summary": "Indicators per interval over a range, computed from the stored events (calls count in the interval they arrived in), with totals and per-agent figures (supervisor). CSV exports are recorded in the audit trail.",
                "security": auth,
                "parameters": [
                    { "name": "from", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Epoch ms, YYYY-MM-DD (the clinic's midnight) or YYYY-MM-DDTHH:MM:SSZ; default today's start." },
                    { "name": "to", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Exclusive end, same forms; default now." },
                    { "name": "step", "in": "query", "required": false, "schema": { "enum": ["15m", "1h", "1d"] }, "description": "Interval length (default 1h); at most 3000 intervals." },
                    { "name": "queue", "in": "query", "required": false, "schema": { "type": "string" } },
                    { "name": "agent", "in": "query", "required": false, "schema": { "type": "string" }, "description": "An extension: that agent's rings and answers." },
                    { "name": "format", "in": "query", "required": false, "schema": { "enum": ["json", "csv"] } }
                ],
                "responses": { "200": { "description": "{from, to, step, intervals: [{start, end, offered, answered, service_level, asa_ms, abandonment_rate, aht_ms …}], total, agents}", "content": { "application/json": {}, "text/csv": {} } }, "400": bad, "401": unauthorized, "403": forbidden }
            }},
            "/api/audit/status": { "get": {
                "summary": "Walks the audit chain: intact or not, verified up to which event, the first broken row (supervisor, admin).",
                "security": auth,
                "responses": { "200": { "description": "{intact, verified, verified_up_to, unchained, broken_at, reason}" }, "401": unauthorized, "403": forbidden }
            }},
            "/api/users": {
                "get": {
                    "summary": "Staff accounts: extension, name, role, disabled (supervisor, admin).",
                    "security": auth,
                    "responses": { "200": { "description": "{users: [{extension, name, role, disabled}]}" }, "401": unauthorized, "403": forbidden }
                },
                "post": {
                    "summary": "Add a user (an admin's login; not the operator token). The password is hashed (argon2id for logins, digest HA1 for the phone) and never stored or logged; the phone may register at once. A `user_added` audit event.",
                    "security": auth,
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object", "required": ["extension", "name", "role", "password"], "additionalProperties": false,
                        "properties": {
                            "extension": { "type": "string", "description": "1–32 letters, digits, '.', '_' or '-': the login and the SIP user name." },
                            "name": { "type": "string" },
                            "role": { "enum": ["agent", "senior", "doctor", "supervisor", "admin"] },
                            "password": { "type": "string", "description": "At least [users] min_password_length characters (default 8)." }
                        }
                    }}}},
                    "responses": { "201": { "description": "{extension, name, role, disabled}" }, "400": bad, "401": unauthorized, "403": forbidden, "409": error_response("The extension exists.") }
                }
            },
            "/api/config": { "get": {
                "summary": "The running configuration (supervisor, admin): queues with their answer deadlines, trunks and DIDs, SIP, registrar, media, the region for numbers; secrets only as whether they are set. `fingerprint` is the SHA-256 that `config_changed` audit events carry; the file is changed on disk and takes effect at restart.",
                "security": auth,
                "responses": { "200": { "description": "{fingerprint, sip, registrar, users, http, database, media, patients, teleconsult, queues, trunks}" }, "401": unauthorized, "403": forbidden }
            }},
            "/api/users/{ext}": { "patch": {
                "summary": "Change a user (an admin's login; not the operator token): any of name, role, password, disabled. A new role or password, or disabling, ends their sessions; the phone's credentials follow. An admin cannot demote or disable themselves, nor anyone the last enabled admin. A `user_changed` audit event naming the fields changed.",
                "security": auth,
                "parameters": [path_param("ext", "The user's extension.")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "minProperties": 1, "additionalProperties": false,
                    "properties": {
                        "name": { "type": "string" },
                        "role": { "enum": ["agent", "senior", "doctor", "supervisor", "admin"] },
                        "password": { "type": "string" },
                        "disabled": { "type": "boolean" }
                    }
                }}}},
                "responses": { "200": { "description": "{extension, name, role, disabled}" }, "400": bad, "401": unauthorized, "403": forbidden, "404": not_found, "409": error_response("Would leave no enabled admin, or an admin would lock themselves out.") }
            }},
            "/api/patients/{mis_id}": {
                "get": {
                    "summary": "One card by the clinic's id. An audit event.",
                    "security": auth,
                    "parameters": [path_param("mis_id", "The clinic's own id.")],
                    "responses": { "200": { "description": "The card.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Card" } } } }, "401": unauthorized, "404": not_found }
                },
                "put": {
                    "summary": "Create or replace a patient (admin, operator token). Idempotent.",
                    "security": auth,
                    "parameters": [path_param("mis_id", "The clinic's own id: 1–64 letters, digits, '-', '_' or '.'.")],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Patient" } } } },
                    "responses": {
                        "200": { "description": "Updated, or unchanged (`changed`: false)." },
                        "201": { "description": "Created." },
                        "400": bad, "401": unauthorized, "403": forbidden
                    }
                }
            }
        }
    })
}

/// `GET /api/openapi.json`
pub(crate) async fn serve() -> Response {
    Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::super::tests::state;
    use super::*;

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let doc = document();
        let mut described: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                described.push((method.clone(), path.clone()));
            }
        }
        described.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(described, routes);
    }

    /// And the other way round: every `/api`, `/health` and `/metrics`
    /// route that the router's source declares is listed (so described).
    #[test]
    fn every_route_the_router_declares_is_listed() {
        let source = include_str!("mod.rs");
        let app = &source[source.find("pub fn app(").unwrap()..];
        let app = &app[..app.find("\n}\n").unwrap()];
        let mut declared: Vec<(String, String)> = Vec::new();
        for part in app.split(".route(").skip(1) {
            let path = part.split('"').nth(1).unwrap();
            if !(path.starts_with("/api/") || path == "/health" || path == "/metrics") {
                continue;
            }
            for method in ["get", "post", "put", "patch", "delete"] {
                if part.contains(&format!("{method}(")) {
                    declared.push((method.into(), path.into()));
                }
            }
        }
        declared.sort();
        let mut listed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        listed.sort();
        assert_eq!(declared, listed);
    }

    /// Each listed route is really routed: the router's fallback (404
    /// "no such route") and 405 never answer it.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_listed_route_exists_in_the_router(pool: sqlx::SqlitePool) {
        let s = state(pool);
        for (method, path) in ROUTES {
            let uri = path
                .replace("{ext}", "1001")
                .replace("{id}", "call-1")
                .replace("{mis_id}", "mis-1");
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let resp = super::super::app(s.clone()).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&body);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert!(!text.contains("no such route"), "{method} {uri}: {text}");
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn the_document_is_served(pool: sqlx::SqlitePool) {
        let resp = super::super::app(state(pool))
            .oneshot(
                Request::get("/api/openapi.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
    }
}

#[cfg(test)]
#[path = "roles_tests.rs"]
mod roles_tests;
