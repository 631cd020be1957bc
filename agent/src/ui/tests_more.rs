//! More of the screen in virtual time: call types, scripts from the
//! server, devices, the caller's past, shortcuts, and the agent's flows
//! around consultations and wrap-up.

use std::time::Duration;

use careline_shared::script::Lang;
use eframe::egui;
use egui_kittest::kittest::Queryable;
use serde_json::{Value, json};

use super::tests::*;
use super::*;
use crate::stream::Counters;

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
    assert_eq!(commands(&mut h), confirmed("mis-42"));
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
    // The server's "saved" is for the last call's outcome, not this one's.
    notice(
        &mut h,
        Notice::Ws(json!({ "type": "ok", "for": "disposition" })),
    );
    assert!(!h.state().app.disposition.saved);
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
        { "mis_id": "mis-41", "full_name": "Olga Petrova", "birth_date": "1962-04-03",
          "today": { "age": 64 }, "appointments": { "next": { "starts_at": "2026-12-09 12:00", "service": "Cardiology" } } },
        { "mis_id": "mis-42", "full_name": "Anna Petrova", "birth_date": "1990-11-25",
          "today": { "age": 36 }, "appointments": { "next": null, "last": null } },
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
    // Her age, and none of her mother's appointments.
    h.get_by_label("Age: 36 (1990-11-25)");
    assert!(h.query_by_label_contains("Cardiology").is_none());
    assert_eq!(commands(&mut h), confirmed("mis-42"));
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
    assert_eq!(card::local_time(0, 0), "1970-01-01 00:00");
    assert_eq!(card::local_time(951_782_400_000, 0), "2000-02-29 00:00");
}

#[test]
fn every_call_control_has_its_key() {
    let mut h = harness(Lang::En);
    ring(&mut h);
    h.key_press(egui::Key::F2);
    h.run();
    talking(&mut h);
    // The identity check first (its field has the keyboard until then:
    // digits typed there are not DTMF).
    h.key_press(egui::Key::F9);
    h.key_press(egui::Key::Num7);
    h.run();
    confirm(&mut h);
    let sent = commands(&mut h);
    assert!(
        !sent.iter().any(|c| matches!(c, Command::Key(..))),
        "{sent:?}"
    );
    h.key_press(egui::Key::F9);
    h.run();
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

#[test]
fn twins_on_one_number_are_not_told_apart_by_a_date_alone() {
    let mut h = harness(Lang::En);
    notice(
        &mut h,
        Notice::Ringing {
            line: LINE,
            call_id: Some("call-00000007".into()),
            from: "<sip:+79211234567@clinic>".into(),
        },
    );
    let mut twins = offered();
    twins["patients"] = json!([
        { "mis_id": "mis-51", "full_name": "Ivan Orlov", "birth_date": "2015-06-01" },
        { "mis_id": "mis-52", "full_name": "Petr Orlov", "birth_date": "2015-06-01" },
    ]);
    notice(&mut h, Notice::Ws(twins));
    talking(&mut h);
    h.state_mut().app.dob_said = "01.06.2015".into();
    h.get_by_label("Identity confirmed").click();
    h.run();
    h.get_by_label("Does not match the card: ask again");
    assert!(h.query_by_label_contains("Orlov").is_none());
    assert!(commands(&mut h).is_empty());
}
