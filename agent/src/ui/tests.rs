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

const LINE: LineId = LineId(1);

struct Rig {
    app: AgentApp,
    now: Instant,
}

fn harness(lang: Lang) -> Harness<'static, Rig> {
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

fn notice(h: &mut Harness<'_, Rig>, n: Notice) {
    let rig = h.state_mut();
    let now = rig.now;
    rig.app.notice(n, now);
    h.run();
}

fn advance(h: &mut Harness<'_, Rig>, by: Duration) {
    h.state_mut().now += by;
    h.run();
}

fn commands(h: &mut Harness<'_, Rig>) -> Vec<Command> {
    h.state_mut().app.take_commands()
}

/// The card the server sends as the phone rings.
fn offered() -> Value {
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
fn ring(h: &mut Harness<'_, Rig>) {
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

/// The caller gives her date of birth; the agent types it and ticks.
fn confirm(h: &mut Harness<'_, Rig>) {
    h.state_mut().app.dob_said = "25/11/1990".into();
    h.run();
    h.get_by_label("Identity confirmed").click();
    h.run();
}

fn talking(h: &mut Harness<'_, Rig>) {
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
    assert_eq!(
        commands(&mut h),
        vec![
            Command::Ws(json!({
                "type": "identity", "call_id": "call-00000007", "patient": "mis-42",
            })),
            Command::Api {
                method: "GET",
                path: "/api/calls/call-00000007/history".into(),
                body: None,
                tag: "history:call-00000007".into(),
            }
        ]
    );
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

#[test]
fn an_nps_follow_up_shows_the_score_first_and_a_home_visit_takes_its_form() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    confirm(&mut h);
    commands(&mut h);
    h.get_by_label("NPS follow-up").click();
    h.run();
    {
        let app = &mut h.state_mut().app;
        app.stage = Stage::Purpose;
        app.nps.score = "6".into();
        app.nps.comment = "waited 40 minutes".into();
    }
    h.run();
    h.get_by_label_contains("you gave us 6 out of 10 and wrote: \"waited 40 minutes\"");
    h.get_by_label("Follow-up outcome");

    h.get_by_label("Home visit").click();
    h.run();
    h.get_by_label_contains("doctor's visit at home");
    for label in [
        "Patient's name",
        "Date of birth",
        "Address",
        "District",
        "Symptoms",
        "Epidemiological history",
    ] {
        h.get_by_label(label);
    }
    {
        let app = &mut h.state_mut().app;
        app.home_visit.district = "Central".into();
        app.home_visit.symptoms = "fever since Monday".into();
        app.disposition.reason = "home_visit_booked".into();
    }
    h.get_by_label("Save").click();
    h.run();
    let sent = commands(&mut h);
    let [Command::Ws(msg)] = sent.as_slice() else {
        panic!("one disposition expected: {sent:?}");
    };
    assert_eq!(msg["reason"], "home_visit_booked");
    assert_eq!(msg["form"]["type"], "home_visit");
    assert_eq!(msg["form"]["district"], "Central");
    assert_eq!(msg["form"]["symptoms"], "fever since Monday");
}

#[test]
fn the_clinics_own_wording_from_the_server_replaces_the_built_in_phrase() {
    let mut h = harness(Lang::En);
    notice(
        &mut h,
        Notice::Scripts(json!({
            "clinic": "Clinic on Nevsky",
            "phrases": { "en": { "inbound": { "purpose": "{clinic} here. What brings you to us, {address_as}?" } } }
        })),
    );
    ring(&mut h);
    talking(&mut h);
    confirm(&mut h);
    h.state_mut().app.stage = Stage::Purpose;
    h.run();
    h.get_by_label("Clinic on Nevsky here. What brings you to us, Anna Sergeevna?");
    // A stage the clinic did not write keeps the built-in phrase.
    h.state_mut().app.stage = Stage::Hold;
    h.run();
    h.get_by_label("Please stay on the line, I will check that for you.");
}

#[test]
fn auto_answer_answers_as_it_rings_and_f10_confirms_identity() {
    let mut h = harness(Lang::En);
    h.get_by_label("Auto-answer").click();
    h.run();
    assert!(h.state().app.auto_answer);
    ring(&mut h);
    assert_eq!(commands(&mut h), vec![Command::Answer(LINE)]);
    talking(&mut h);
    h.state_mut().app.dob_said = "25.11.1990".into();
    h.key_press(egui::Key::F10);
    h.run();
    h.get_by_label("Anna Petrova");
    assert_eq!(
        commands(&mut h),
        vec![
            Command::Ws(json!({
                "type": "identity", "call_id": "call-00000007", "patient": "mis-42",
            })),
            Command::Api {
                method: "GET",
                path: "/api/calls/call-00000007/history".into(),
                body: None,
                tag: "history:call-00000007".into(),
            }
        ]
    );
}

#[test]
fn the_audio_devices_are_chosen_by_id_and_the_meters_show_during_a_call() {
    let mut h = harness(Lang::En);
    h.state_mut().app.devices = crate::audio::Devices {
        inputs: vec![crate::audio::Device {
            id: "alsa:hw:1,0".into(),
            name: "USB headset".into(),
        }],
        outputs: vec![
            crate::audio::Device {
                id: "alsa:hw:1,0".into(),
                name: "USB headset".into(),
            },
            crate::audio::Device {
                id: "alsa:hw:0,0".into(),
                name: "Desk speaker".into(),
            },
        ],
    };
    h.run();
    h.get_by_label("Audio devices").click();
    h.run();
    h.get_by_label("Ringtone on").click();
    h.run();
    h.get_by_label("Desk speaker").click();
    h.run();
    assert_eq!(h.state().app.ring_device.as_deref(), Some("alsa:hw:0,0"));
    assert_eq!(
        h.state().app.input_device,
        None,
        "the others stay on the default"
    );
    assert!(h.query_by_label("Microphone").is_some());
    ring(&mut h);
    assert!(h.state().app.ringing());
    talking(&mut h);
    assert!(!h.state().app.ringing());
    h.state_mut().app.levels = crate::audio::Levels {
        mic: 0.1,
        speaker: 0.05,
    };
    h.run();
    assert_eq!(
        h.get_all_by_label("Microphone").count(),
        2,
        "the meter's label and the picker's"
    );
}

#[test]
fn an_outcome_left_unsaved_is_saved_when_wrap_up_ends() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    notice(
        &mut h,
        Notice::Ended {
            line: LINE,
            reason: EndReason::RemoteHangUp,
            counters: Counters::default(),
        },
    );
    h.state_mut().app.disposition.reason = "question answered".into();
    advance(&mut h, Duration::from_millis(9_999));
    assert!(commands(&mut h).is_empty());
    advance(&mut h, Duration::from_millis(1));
    let sent = commands(&mut h);
    let [Command::Ws(msg)] = sent.as_slice() else {
        panic!("the disposition, once: {sent:?}");
    };
    assert_eq!(msg["reason"], "question answered");
    assert_eq!(msg["call_id"], "call-00000007");
}

#[test]
fn a_card_that_comes_after_the_answer_still_joins_its_call_behind_the_gate() {
    let mut h = harness(Lang::En);
    h.state_mut().app.auto_answer = true;
    notice(
        &mut h,
        Notice::Ringing {
            line: LINE,
            call_id: Some("call-00000007".into()),
            from: "<sip:+79211234567@clinic>".into(),
        },
    );
    talking(&mut h);
    h.get_by_label("Unknown caller");
    notice(&mut h, Notice::Ws(offered()));
    assert!(h.query_by_label("Unknown caller").is_none());
    assert!(
        h.query_by_label("Anna Petrova").is_none(),
        "still behind the gate"
    );
    confirm(&mut h);
    h.get_by_label("Anna Petrova");
}

#[test]
fn call_back_tasks_are_listed_by_number_tail_and_leave_when_closed() {
    let mut h = harness(Lang::En);
    let task = |kind: &str, closed: bool| {
        Notice::Ws(json!({
            "type": "event", "seq": 9, "kind": kind, "call_id": "call-00000003",
            "data": { "task": { "id": "cb-1", "number": "+79211234567", "reason": "dropped",
                "status": "open", "overdue": false, "closed_at": if closed { json!(1) } else { Value::Null } } }
        }))
    };
    notice(&mut h, task("callback_created", false));
    h.get_by_label("…67 (dropped) — open");
    notice(&mut h, task("callback_due", false));
    assert_eq!(
        h.query_all_by_label_contains("…67").count(),
        1,
        "one row per task"
    );
    assert!(
        h.query_by_label_contains("+7921").is_none(),
        "never the whole number"
    );
    notice(&mut h, task("callback_closed", true));
    assert!(h.query_by_label_contains("…67").is_none());
}

#[test]
fn during_a_consultation_hang_up_ends_the_consultation_not_the_patients_call() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.state_mut().app.transfer_target = "2001".into();
    h.get_by_label("Consult").click();
    h.run();
    commands(&mut h);
    notice(
        &mut h,
        Notice::ApiDone {
            tag: "consult:2001".into(),
            status: 204,
            body: Value::Null,
        },
    );
    commands(&mut h);
    notice(
        &mut h,
        Notice::Dialling {
            line: LineId(2),
            target: "2001".into(),
        },
    );
    h.key_press(egui::Key::F3);
    h.run();
    assert_eq!(commands(&mut h), vec![Command::HangUp(LineId(2))]);
}

#[test]
fn a_hold_the_server_refused_leaves_the_screen_on_the_call() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.get_by_label("Hold").click();
    h.run();
    commands(&mut h);
    notice(
        &mut h,
        Notice::ApiDone {
            tag: "hold".into(),
            status: 404,
            body: json!({ "error": "no call call-00000007 in progress" }),
        },
    );
    h.get_by_label_contains("On the call");
    h.get_by_label("Hold");
    advance(&mut h, Duration::from_secs(31));
    assert!(h.query_by_label_contains("Go back to the caller").is_none());
}

#[test]
fn the_next_call_during_wrap_up_saves_the_last_outcome_and_clears_the_transfer_note() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.state_mut().app.transfer_note = "asks about her scan".into();
    notice(
        &mut h,
        Notice::Ended {
            line: LINE,
            reason: EndReason::RemoteHangUp,
            counters: Counters::default(),
        },
    );
    h.state_mut().app.disposition.reason = "advice given".into();
    notice(
        &mut h,
        Notice::Ringing {
            line: LineId(3),
            call_id: Some("call-00000008".into()),
            from: "<sip:+79990000000@clinic>".into(),
        },
    );
    let sent = commands(&mut h);
    let [Command::Ws(msg)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (msg["call_id"].as_str(), msg["reason"].as_str()),
        (Some("call-00000007"), Some("advice given"))
    );
    assert_eq!(h.state().app.transfer_note, "");
    assert!(
        !h.state().app.offered.contains_key("call-00000007"),
        "the last caller's card is gone"
    );
}

#[test]
fn the_identity_check_needs_the_cards_date_of_birth_and_picks_the_patient_who_has_it() {
    let mut h = harness(Lang::En);
    notice(
        &mut h,
        Notice::Ringing {
            line: LINE,
            call_id: Some("call-00000007".into()),
            from: "<sip:+79211234567@clinic>".into(),
        },
    );
    // A family's shared number: two cards.
    let mut family = offered();
    family["patients"] = json!([
        { "mis_id": "mis-41", "full_name": "Olga Petrova", "birth_date": "1962-04-03" },
        { "mis_id": "mis-42", "full_name": "Anna Petrova", "birth_date": "1990-11-25" },
    ]);
    notice(&mut h, Notice::Ws(family));
    talking(&mut h);
    // Nothing typed, or a wrong date: not confirmed, and nothing shown.
    h.get_by_label("Identity confirmed").click();
    h.run();
    h.get_by_label("Does not match the card: ask again");
    h.state_mut().app.dob_said = "1990-11-26".into();
    h.get_by_label("Identity confirmed").click();
    h.run();
    assert!(h.query_by_label_contains("Petrova").is_none());
    assert!(commands(&mut h).is_empty());
    // The daughter's date: her card, and her id in the audit fact.
    h.state_mut().app.dob_said = "25 11 1990".into();
    h.get_by_label("Identity confirmed").click();
    h.run();
    h.get_by_label("Anna Petrova");
    assert!(h.query_by_label("Olga Petrova").is_none());
    assert_eq!(
        commands(&mut h),
        vec![
            Command::Ws(
                json!({ "type": "identity", "call_id": "call-00000007", "patient": "mis-42" })
            ),
            Command::Api {
                method: "GET",
                path: "/api/calls/call-00000007/history".into(),
                body: None,
                tag: "history:call-00000007".into(),
            }
        ]
    );
    assert_eq!(parse_birth_date("03.04.1962"), Some((1962, 4, 3)));
    assert_eq!(parse_birth_date("1962-13-03"), None);
    assert_eq!(parse_birth_date("03.04"), None);
}

#[test]
fn once_confirmed_the_card_shows_earlier_calls_in_the_clinics_time_and_open_call_backs() {
    let mut h = harness(Lang::En);
    notice(
        &mut h,
        Notice::Scripts(json!({ "clinic": "Nevsky", "utc_offset_minutes": 180 })),
    );
    ring(&mut h);
    talking(&mut h);
    confirm(&mut h);
    commands(&mut h);
    notice(
        &mut h,
        Notice::ApiDone {
            tag: "history:call-00000007".into(),
            status: 200,
            body: json!({
                "call": "call-00000007",
                // 2025-11-30 07:05 UTC is 10:05 in the clinic (UTC+3).
                "earlier_calls": [{ "id": "call-00000002", "arrived_at": 1_764_486_300_000i64, "answered_by": "1002", "end_reason": "completed" }],
                "open_callbacks": [{ "id": "cb-1", "reason": "dropped" }],
            }),
        },
    );
    h.get_by_label("Previous calls");
    h.get_by_label("2025-11-30 10:05 · 1002 · completed");
    h.get_by_label("Call-backs still open for this number: 1");
    // A history for another call (one gone by) is not shown on this one.
    notice(
        &mut h,
        Notice::Ended {
            line: LINE,
            reason: EndReason::RemoteHangUp,
            counters: Counters::default(),
        },
    );
    notice(
        &mut h,
        Notice::Ringing {
            line: LineId(4),
            call_id: Some("call-00000010".into()),
            from: "<sip:+79990000001@clinic>".into(),
        },
    );
    notice(
        &mut h,
        Notice::ApiDone {
            tag: "history:call-00000007".into(),
            status: 200,
            body: json!({ "earlier_calls": [], "open_callbacks": [] }),
        },
    );
    assert!(h.query_by_label("Previous calls").is_none());
    assert_eq!(draw::local_time(0, 0), "1970-01-01 00:00");
    assert_eq!(draw::local_time(951_782_400_000, 0), "2000-02-29 00:00");
}

#[test]
fn every_call_control_has_its_key() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    h.key_press(egui::Key::F2);
    h.run();
    talking(&mut h);
    commands(&mut h);
    h.state_mut().app.transfer_target = "2002".into();
    h.key_press(egui::Key::F5);
    h.run();
    let sent = commands(&mut h);
    assert!(
        matches!(&sent[..], [Command::Api { path, body: Some(b), .. }] if path.ends_with("/transfer") && b["to"] == "2002"),
        "{sent:?}"
    );
    h.key_press(egui::Key::F6);
    h.run();
    assert_eq!(commands(&mut h), vec![Command::Mute(LINE, true)]);
    h.key_press(egui::Key::F9);
    h.key_press(egui::Key::Num7);
    h.run();
    assert_eq!(commands(&mut h), vec![Command::Key(LINE, '7')]);
    h.key_press(egui::Key::F4);
    h.run();
    assert!(matches!(&commands(&mut h)[..], [Command::Api { tag, .. }] if tag == "hold"));
    h.key_press(egui::Key::F8);
    h.run();
    assert!(matches!(&commands(&mut h)[..], [Command::Api { tag, .. }] if tag == "consult:2002"));
    notice(
        &mut h,
        Notice::Dialling {
            line: LineId(2),
            target: "2002".into(),
        },
    );
    h.key_press(egui::Key::F11);
    h.run();
    assert!(
        matches!(&commands(&mut h)[..], [Command::Api { path, .. }] if path.ends_with("/transfer/cancel"))
    );
    h.key_press(egui::Key::F7);
    h.run();
    assert!(
        matches!(&commands(&mut h)[..], [Command::Api { body: Some(b), .. }] if b["to"] == "senior")
    );
    h.key_press(egui::Key::F3);
    h.run();
    assert_eq!(
        commands(&mut h),
        vec![Command::HangUp(LineId(2))],
        "the consultation first"
    );
}

#[test]
fn the_date_of_birth_is_typed_straight_in_and_enter_confirms() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    talking(&mut h);
    h.run();
    // The field has the focus by itself: typing goes into it.
    h.get_by_label("Date of birth given")
        .type_text("25.11.1990");
    h.run();
    assert_eq!(h.state().app.dob_said, "25.11.1990");
    h.key_press(egui::Key::Enter);
    h.run();
    h.get_by_label("Anna Petrova");
}
