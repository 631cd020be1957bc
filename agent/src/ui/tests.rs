//! The window's screen driven by egui_kittest, in virtual time: the engine's
//! notices go in, clicks and keys are made through the AccessKit tree, and
//! the commands left for the engine are checked.

use std::time::{Duration, Instant};

use careline_shared::script::Lang;
use careline_shared::sdp::Codec;
use careline_shared::testing::virtual_epoch;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use serde_json::json;

use super::*;
use crate::phone::Media;
use crate::stream::Counters;

pub(super) const LINE: LineId = LineId(1);

pub(super) struct Rig {
    pub(super) app: AgentApp,
    pub(super) now: Instant,
}

pub(super) fn harness(lang: Lang) -> Harness<'static, Rig> {
    let mut app = AgentApp::new(
        lang,
        LoginForm {
            server: "http://127.0.0.1:8080".into(),
            extension: "1001".into(),
            password: String::new(),
        },
    );
    let now = virtual_epoch();
    app.notice(
        Notice::LoggedIn {
            name: "Maria Ivanova".into(),
            role: "agent".into(),
        },
        now,
    );
    app.notice(
        Notice::Registration {
            ok: true,
            text: "registered".into(),
        },
        now,
    );
    app.notice(Notice::Link(true), now);
    let h = Harness::builder()
        .with_size(egui::vec2(1200.0, 900.0))
        .build_ui_state(
            |ui, rig: &mut Rig| rig.app.ui(ui, rig.now),
            Rig { app, now },
        );
    // The window's font set-up: a missing glyph must not bring it down.
    window::setup_fonts(&h.ctx);
    h
}

pub(super) fn notice(h: &mut Harness<'_, Rig>, n: Notice) {
    let rig = h.state_mut();
    let now = rig.now;
    rig.app.notice(n, now);
    h.run();
}

pub(super) fn advance(h: &mut Harness<'_, Rig>, by: Duration) {
    h.state_mut().now += by;
    h.run();
}

pub(super) fn commands(h: &mut Harness<'_, Rig>) -> Vec<Command> {
    h.state_mut().app.take_commands()
}

/// The card the server sends as the phone rings.
pub(super) fn offered() -> Value {
    json!({
        "type": "call_offered",
        "call_id": "call-00000007",
        "caller": "+79211234567",
        "unknown_caller": false,
        "patients": [{
            "mis_id": "mis-42",
            "full_name": "Anna Petrova",
            "address_as": "Anna Sergeevna",
            "birth_date": "1990-11-25",
            "notes": { "reminders": "bring the scan", "difficulties": "hard of hearing" },
            "today": { "age": 36, "pregnancy_week": 25, "pregnancy_day": 1, "edd": "2027-03-08" },
            "appointments": { "next": { "starts_at": "2026-12-03 10:00", "service": "Ultrasound", "doctor": "Dr Orlova" }, "last": null }
        }]
    })
}

/// A call rings line 1, its card arrives.
pub(super) fn ring(h: &mut Harness<'_, Rig>) {
    notice(
        h,
        Notice::Ringing {
            line: LINE,
            call_id: Some("call-00000007".into()),
            from: "\"+79211234567\" <sip:+79211234567@clinic>;tag=x".into(),
        },
    );
    notice(h, Notice::Ws(offered()));
}

/// What confirming `patient` on call-00000007 leaves for the engine: the
/// audit fact, then the request for the caller's past.
pub(super) fn confirmed(patient: &str) -> Vec<Command> {
    vec![
        Command::Ws(json!({
            "type": "identity", "call_id": "call-00000007", "patient": patient,
        })),
        Command::Api {
            method: "GET",
            path: "/api/calls/call-00000007/history".into(),
            body: None,
            tag: "history:call-00000007".into(),
        },
    ]
}

/// The caller gives her date of birth; the agent types it and ticks.
pub(super) fn confirm(h: &mut Harness<'_, Rig>) {
    h.state_mut().app.dob_said = "25/11/1990".into();
    h.run();
    h.get_by_label("Identity confirmed").click();
    h.run();
}

pub(super) fn talking(h: &mut Harness<'_, Rig>) {
    notice(
        h,
        Notice::Talking {
            line: LINE,
            media: Media {
                remote: Some("127.0.0.1:4000".parse().unwrap()),
                codec: Codec::PCMA,
                dtmf_pt: Some(101),
                send: true,
            },
        },
    );
}

#[test]
fn a_ringing_call_shows_the_caller_and_the_answer_button_answers_it() {
    let mut h = harness(Lang::En);
    assert!(h.query_by_label("Answer").is_none(), "nothing rings yet");
    ring(&mut h);
    h.get_by_label("Ringing");
    h.get_by_label("+79211234567");
    // The card has come, but the name waits for the identity check.
    assert!(h.query_by_label_contains("Anna").is_none());
    h.get_by_label("Answer").click();
    h.run();
    assert_eq!(commands(&mut h), vec![Command::Answer(LINE)]);
    talking(&mut h);
    h.get_by_label("On the call 0:00");
    advance(&mut h, Duration::from_secs(75));
    h.get_by_label("On the call 1:15");
    assert!(h.query_by_label("Answer").is_none());
    h.get_by_label("Hang up").click();
    h.run();
    assert_eq!(commands(&mut h), vec![Command::HangUp(LINE)]);
}

#[test]
fn the_identity_gate_hides_the_card_until_ticked_and_the_tick_is_reported() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.get_by_label("Ask for the date of birth, then confirm");
    assert!(h.query_by_label("Anna Petrova").is_none());
    assert!(h.query_by_label_contains("bring the scan").is_none());
    // The greeting's form of address is not filled in before the check.
    h.state_mut().app.stage = Stage::Purpose;
    h.run();
    h.get_by_label_contains("[address_as]");

    confirm(&mut h);
    h.get_by_label("Anna Petrova");
    h.get_by_label("Anna Sergeevna");
    h.get_by_label("Age: 36 (1990-11-25)");
    h.get_by_label("Pregnancy: 25+1 · EDD 2027-03-08");
    h.get_by_label("Next visit: 2026-12-03 10:00 · Ultrasound · Dr Orlova");
    h.get_by_label("• bring the scan");
    h.get_by_label_contains("How may I help you, Anna Sergeevna?");
    assert_eq!(commands(&mut h), confirmed("mis-42"));
}

#[test]
fn the_hold_reminder_appears_at_exactly_thirty_seconds() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.get_by_label("Hold").click();
    h.run();
    assert_eq!(
        commands(&mut h),
        vec![Command::Api {
            method: "PUT",
            path: "/api/calls/call-00000007/hold".into(),
            body: Some(json!({ "hold": true })),
            tag: "hold".into(),
        }]
    );
    h.get_by_label("On hold 0:00");
    advance(&mut h, Duration::from_millis(29_999));
    h.get_by_label("On hold 0:29");
    assert!(h.query_by_label_contains("Go back to the caller").is_none());
    advance(&mut h, Duration::from_millis(1));
    h.get_by_label("Go back to the caller (0:30 · 1)");
    advance(&mut h, Duration::from_secs(30));
    h.get_by_label("Go back to the caller (1:00 · 2)");
    h.get_by_label("Resume").click();
    h.run();
    assert!(h.query_by_label_contains("Go back to the caller").is_none());
    h.get_by_label_contains("On the call");
}

#[test]
fn transfer_to_senior_sends_the_note_and_the_keyboard_works_too() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    // F2 answers.
    h.key_press(egui::Key::F2);
    h.run();
    assert_eq!(commands(&mut h), vec![Command::Answer(LINE)]);
    talking(&mut h);
    h.state_mut().app.transfer_note = "asks about her scan results".into();
    h.get_by_label("Transfer to senior").click();
    h.run();
    assert_eq!(
        commands(&mut h),
        vec![Command::Api {
            method: "POST",
            path: "/api/calls/call-00000007/transfer".into(),
            body: Some(json!({ "to": "senior", "note": "asks about her scan results" })),
            tag: "transfer".into(),
        }]
    );
    // The script moved to the transfer phrase.
    assert_eq!(h.state().app.stage, Stage::Transfer);
    // A refused transfer is said plainly.
    notice(
        &mut h,
        Notice::ApiDone {
            tag: "transfer".into(),
            status: 409,
            body: json!({ "error": "2001 is busy" }),
        },
    );
    h.get_by_label("transfer: 2001 is busy");
}

#[test]
fn consult_holds_the_caller_calls_the_colleague_and_completes() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.state_mut().app.transfer_target = "2001".into();
    h.get_by_label("Consult").click();
    h.run();
    let hold = commands(&mut h);
    assert_eq!(
        hold,
        vec![Command::Api {
            method: "PUT",
            path: "/api/calls/call-00000007/hold".into(),
            body: Some(json!({ "hold": true })),
            tag: "consult:2001".into(),
        }]
    );
    // Once the server holds the caller, the phone calls the colleague.
    notice(
        &mut h,
        Notice::ApiDone {
            tag: "consult:2001".into(),
            status: 204,
            body: Value::Null,
        },
    );
    assert_eq!(commands(&mut h), vec![Command::Dial("2001".into())]);
    notice(
        &mut h,
        Notice::Dialling {
            line: LineId(2),
            target: "2001".into(),
        },
    );
    h.get_by_label("Consulting 2001");
    h.get_by_label("Complete transfer").click();
    h.run();
    assert_eq!(
        commands(&mut h),
        vec![Command::Api {
            method: "POST",
            path: "/api/calls/call-00000007/transfer/complete".into(),
            body: None,
            tag: "transfer complete".into(),
        }]
    );
    // The consultation line ends; the patient's call is still the one on screen.
    notice(
        &mut h,
        Notice::Ended {
            line: LineId(2),
            reason: EndReason::RemoteHangUp,
            counters: Counters::default(),
        },
    );
    h.get_by_label("Consult");
}

#[test]
fn the_screen_speaks_each_language_and_switches_at_once() {
    let mut h = harness(Lang::Ru);
    ring(&mut h);
    h.get_by_label("Ответить");
    for (menu, choice, answer) in [
        ("Язык", "Français", "Répondre"),
        ("Langue", "中文", "接听"),
        ("语言", "English", "Answer"),
    ] {
        h.get_by_label(menu).click();
        h.run();
        h.get_by_label(choice).click();
        h.run();
        h.get_by_label(answer);
    }
    assert_eq!(h.state().app.lang, Lang::En);
}

#[test]
fn after_the_call_the_outcome_is_saved_and_wrap_up_counts_down() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    advance(&mut h, Duration::from_secs(60));
    notice(
        &mut h,
        Notice::Ended {
            line: LINE,
            reason: EndReason::RemoteHangUp,
            counters: Counters::default(),
        },
    );
    h.get_by_label("Wrap-up 0:10");
    h.get_by_label("call-00000007 · +79211234567 · remote_hang_up");
    {
        let d = &mut h.state_mut().app.disposition;
        d.reason = "booked".into();
        d.date = "2026-12-03".into();
        d.time = "10:00".into();
        d.service = "Ultrasound".into();
    }
    h.get_by_label("Save").click();
    h.run();
    assert_eq!(
        commands(&mut h),
        vec![Command::Ws(json!({
            "type": "disposition",
            "call_id": "call-00000007",
            "reason": "booked",
            "note": "",
            "appointment": { "date": "2026-12-03", "time": "10:00", "service": "Ultrasound" },
        }))]
    );
    notice(
        &mut h,
        Notice::Ws(json!({ "type": "ok", "for": "disposition" })),
    );
    h.get_by_label("Saved");
    advance(&mut h, Duration::from_secs(4));
    h.get_by_label_contains("0:06");
    advance(&mut h, Duration::from_secs(6));
    assert!(h.query_by_label_contains("Wrap-up").is_none());
}
