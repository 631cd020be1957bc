//! Drawing the screen with egui. Every control has a plain text label (what
//! screen readers and the UI tests find it by) and a keyboard shortcut:
//! F2 answer, F3 hang up, F4 hold/resume, F6 mute, F7 transfer to senior,
//! F5 transfer to the number typed, F8 consult / complete, F11 cancel the
//! consultation, F9 keypad (then the digit keys), F10 identity confirmed.

use std::time::{Duration, Instant};

use careline_shared::script::{self, CallType, Lang, Stage};
use eframe::egui::{self, Color32, Key, RichText, Ui};

use super::AgentApp;
use super::text::T;
use crate::screen::{Caller, Phase};

pub(super) const WARN: Color32 = Color32::from_rgb(0xb0, 0x3a, 0x2e);
/// The longest text a disposition or call-type field takes: a form of
/// them stays well within the server's 64 KiB per WebSocket message (a
/// longer message would close the session instead of being saved).
const FIELD_CHARS: usize = 1_000;
const CALM: Color32 = Color32::from_rgb(0x2e, 0x7d, 0x32);
pub(super) const ATTENTION: Color32 = Color32::from_rgb(0xc7, 0x7c, 0x02);

impl AgentApp {
    /// Draws the screen at `now` and reads the shortcuts.
    pub fn ui(&mut self, ui: &mut Ui, now: Instant) {
        self.tick(now);
        if self.name.is_none() {
            return self.login_screen(ui);
        }
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx, now);
        egui::Panel::top("status").show(ui, |ui| {
            self.status_bar(ui);
            ui.separator();
            self.call_bar(ui, now);
            if self.keypad {
                self.keypad_row(ui);
            }
            self.audio_row(ui);
            self.banners(ui);
        });
        egui::Panel::right("side")
            .resizable(true)
            .default_size(240.0)
            .show(ui, |ui| self.side(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.columns(2, |cols| {
                    self.card_panel(&mut cols[0], now);
                    self.script_panel(&mut cols[1]);
                });
                ui.separator();
                self.transfer_panel(ui, now);
                ui.separator();
                self.disposition_panel(ui);
            });
        });
    }

    pub(super) fn t(&self, t: T) -> &'static str {
        t.get(self.lang)
    }

    fn login_screen(&mut self, ui: &mut Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Careline");
            self.language_picker(ui);
            egui::Grid::new("login").num_columns(2).show(ui, |ui| {
                let l = ui.label(self.t(T::Server));
                ui.text_edit_singleline(&mut self.login.server)
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label(self.t(T::Extension));
                ui.text_edit_singleline(&mut self.login.extension)
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label(self.t(T::Password));
                ui.add(egui::TextEdit::singleline(&mut self.login.password).password(true))
                    .labelled_by(l.id);
                ui.end_row();
            });
            let ready = !self.login.extension.trim().is_empty() && !self.login.password.is_empty();
            if ui
                .add_enabled(ready, egui::Button::new(self.t(T::LogIn)))
                .clicked()
                || (ready && ui.input(|i| i.key_pressed(Key::Enter)))
            {
                self.login_requested = true;
                self.problem = None;
            }
            if let Some(p) = &self.problem {
                ui.colored_label(WARN, p);
            }
        });
    }

    fn language_picker(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label(self.t(T::Language));
            for (lang, name) in [
                (Lang::En, "English"),
                (Lang::Ru, "Русский"),
                (Lang::Fr, "Français"),
                (Lang::Zh, "中文"),
            ] {
                ui.selectable_value(&mut self.lang, lang, name);
            }
        });
    }

    fn shortcuts(&mut self, ctx: &egui::Context, now: Instant) {
        // Shortcuts stand while typing in a field: function keys only.
        let pressed = |k: Key| ctx.input(|i| i.key_pressed(k));
        if pressed(Key::F2) {
            self.answer();
        }
        if pressed(Key::F3) {
            self.hang_up();
        }
        if pressed(Key::F4) {
            self.toggle_hold(now);
        }
        if pressed(Key::F6) {
            self.toggle_mute();
        }
        if pressed(Key::F7) {
            self.transfer("senior");
        }
        if pressed(Key::F8) {
            if self.consult_line.is_some() {
                self.consult_end(true);
            } else {
                self.consult(now);
            }
        }
        if pressed(Key::F5) {
            let target = self.transfer_target.clone();
            self.transfer(&target);
        }
        if pressed(Key::F11) && self.consult_line.is_some() {
            self.consult_end(false);
        }
        if pressed(Key::F9) {
            self.keypad = !self.keypad;
        }
        if pressed(Key::F10) {
            self.confirm_identity(now);
        }
        // Digits typed into a field (the date of birth) are not DTMF.
        if self.keypad && !ctx.egui_wants_keyboard_input() {
            let keys = [
                (Key::Num0, '0'),
                (Key::Num1, '1'),
                (Key::Num2, '2'),
                (Key::Num3, '3'),
                (Key::Num4, '4'),
                (Key::Num5, '5'),
                (Key::Num6, '6'),
                (Key::Num7, '7'),
                (Key::Num8, '8'),
                (Key::Num9, '9'),
            ];
            for (k, c) in keys {
                if pressed(k) {
                    self.key(c);
                }
            }
        }
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.strong(format!(
                "{} · {}",
                self.name.as_deref().unwrap_or(""),
                self.login.extension
            ));
            if self.registered {
                ui.colored_label(CALM, self.t(T::Registered));
            } else {
                ui.colored_label(WARN, self.t(T::NotRegistered));
            }
            if !self.link_up {
                ui.colored_label(WARN, self.t(T::LinkDown));
            }
            ui.separator();
            for (state, label) in [
                ("available", T::Available),
                ("with_patient", T::WithPatient),
                ("paused", T::Paused),
            ] {
                if ui
                    .selectable_label(self.agent_state == state, self.t(label))
                    .clicked()
                {
                    self.set_state(state);
                }
            }
            let auto = self.t(T::AutoAnswer);
            ui.checkbox(&mut self.auto_answer, auto);
            ui.separator();
            egui::ComboBox::from_label(self.t(T::Language))
                .selected_text(match self.lang {
                    Lang::En => "English",
                    Lang::Ru => "Русский",
                    Lang::Fr => "Français",
                    Lang::Zh => "中文",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.lang, Lang::En, "English");
                    ui.selectable_value(&mut self.lang, Lang::Ru, "Русский");
                    ui.selectable_value(&mut self.lang, Lang::Fr, "Français");
                    ui.selectable_value(&mut self.lang, Lang::Zh, "中文");
                });
        });
    }

    fn call_bar(&mut self, ui: &mut Ui, now: Instant) {
        let phase = self.screen.as_ref().map(|s| s.phase());
        let ringing = self
            .patient_line
            .and_then(|l| self.lines.get(&l))
            .is_some_and(|l| l.ringing);
        ui.horizontal(|ui| {
            let (text, colour) = match phase {
                _ if ringing => (self.t(T::Ringing).to_string(), ATTENTION),
                Some(Phase::Talking) => {
                    let talked = self
                        .talking_since
                        .map(|t| now.saturating_duration_since(t))
                        .unwrap_or_default();
                    (format!("{} {}", self.t(T::Talking), clock(talked)), CALM)
                }
                Some(Phase::OnHold { .. }) => {
                    let held = self
                        .screen
                        .as_ref()
                        .and_then(|s| s.held_for(now))
                        .unwrap_or_default();
                    (format!("{} {}", self.t(T::OnHold), clock(held)), ATTENTION)
                }
                Some(Phase::WrapUp { .. }) => {
                    let left = self
                        .screen
                        .as_ref()
                        .map(|s| s.wrap_up_left(now))
                        .unwrap_or_default();
                    (format!("{} {}", self.t(T::WrapUp), clock(left)), CALM)
                }
                _ => (self.t(T::Idle).to_string(), Color32::GRAY),
            };
            ui.label(RichText::new(text).color(colour).strong().size(18.0));
            if ringing {
                if ui.button(self.t(T::Answer)).on_hover_text("F2").clicked() {
                    self.answer();
                }
                if ui.button(self.t(T::Decline)).on_hover_text("F3").clicked() {
                    self.hang_up();
                }
            }
            if self.talking() {
                if ui.button(self.t(T::HangUp)).on_hover_text("F3").clicked() {
                    self.hang_up();
                }
                let hold = if self.held { T::Resume } else { T::Hold };
                if ui.button(self.t(hold)).on_hover_text("F4").clicked() {
                    self.toggle_hold(now);
                }
                let mute = if self.muted { T::Unmute } else { T::Mute };
                if ui.button(self.t(mute)).on_hover_text("F6").clicked() {
                    self.toggle_mute();
                }
                if ui
                    .selectable_label(self.keypad, self.t(T::Keypad))
                    .on_hover_text("F9")
                    .clicked()
                {
                    self.keypad = !self.keypad;
                }
            }
        });
    }

    /// Device choices (folded away) and, during a call, the level meters.
    fn audio_row(&mut self, ui: &mut Ui) {
        if self.talking() {
            ui.horizontal(|ui| {
                for (label, level) in [
                    (T::Microphone, self.levels.mic),
                    (T::Speaker, self.levels.speaker),
                ] {
                    ui.label(self.t(label));
                    // RMS of full scale, shown on a speech-friendly scale.
                    let shown = (level * 4.0).min(1.0);
                    ui.add(egui::ProgressBar::new(shown).desired_width(120.0));
                }
            });
        }
        let default = self.t(T::SystemDefault).to_string();
        let inputs = self.devices.inputs.clone();
        let outputs = self.devices.outputs.clone();
        let labels = [
            self.t(T::Microphone),
            self.t(T::Speaker),
            self.t(T::Ringtone),
        ];
        egui::CollapsingHeader::new(self.t(T::Audio))
            .id_salt("audio")
            .show(ui, |ui| {
                let choices = [
                    (labels[0], &mut self.input_device, &inputs),
                    (labels[1], &mut self.output_device, &outputs),
                    (labels[2], &mut self.ring_device, &outputs),
                ];
                for (label, chosen, list) in choices {
                    let shown = chosen
                        .as_ref()
                        .and_then(|id| list.iter().find(|d| &d.id == id))
                        .map_or(default.clone(), |d| d.name.clone());
                    egui::ComboBox::from_label(label)
                        .selected_text(shown)
                        .show_ui(ui, |ui| {
                            ui.selectable_value(chosen, None, default.as_str());
                            for d in list {
                                ui.selectable_value(chosen, Some(d.id.clone()), d.name.as_str());
                            }
                        });
                }
            });
    }

    fn keypad_row(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            for k in "123456789*0#".chars() {
                if ui.button(k.to_string()).clicked() {
                    self.key(k);
                }
            }
        });
    }

    fn banners(&mut self, ui: &mut Ui) {
        if let Some((n, held)) = self.reminder {
            ui.colored_label(
                ATTENTION,
                RichText::new(format!(
                    "{} ({} · {})",
                    self.t(T::HoldReminder),
                    clock(held),
                    n
                ))
                .strong(),
            );
        }
        if let Some(p) = &self.problem {
            ui.colored_label(WARN, p);
        }
    }

    fn script_panel(&mut self, ui: &mut Ui) {
        ui.strong(self.t(T::Script));
        ui.horizontal_wrapped(|ui| {
            for call in CallType::ALL {
                ui.selectable_value(&mut self.call_type, call, call_type_name(call, self.lang));
            }
        });
        ui.horizontal_wrapped(|ui| {
            for stage in Stage::ALL {
                ui.selectable_value(&mut self.stage, stage, stage_name(stage, self.lang));
            }
        });
        let filled = self.script_text();
        ui.label(RichText::new(filled.text).size(16.0));
        if !filled.missing.is_empty() {
            ui.small(format!("? {}", filled.missing.join(", ")));
        }
    }

    /// The current stage's phrase, filled from the card (once identity is
    /// confirmed), the agent and the forms.
    pub(super) fn script_text(&self) -> script::Filled {
        let part = script::day_part(local_minutes(self.utc_offset_minutes()));
        // The clinic's wording from the server, else the built-in set.
        let theirs = self.scripts.as_ref().and_then(|doc| {
            let stage = &doc["phrases"][self.lang.code()][self.call_type.name()][self.stage.name()];
            match stage {
                serde_json::Value::Object(_) => stage[part.name()].as_str(),
                other => other.as_str(),
            }
        });
        let template =
            theirs.unwrap_or_else(|| script::phrase(self.lang, self.call_type, self.stage, part));
        let card = match self.screen.as_ref().map(|s| s.caller()) {
            Some(Caller::Confirmed(c)) => Some(c.clone()),
            _ => None,
        };
        let d = &self.disposition;
        script::fill(template, |name| match name {
            "clinic" => Some(self.clinic.clone()),
            "agent" => self.name.clone(),
            "address_as" => card.as_ref().and_then(|c| c.address_as.clone()),
            "target" => Some(self.transfer_target.clone()),
            "reason" => Some(d.reason.clone()),
            "service" => Some(d.service.clone()),
            "date" => Some(d.date.clone()),
            "time" => Some(d.time.clone()),
            "doctor" => self.next_appointment_field("doctor"),
            "score" => Some(self.nps.score.clone()),
            "comment" => Some(self.nps.comment.clone()),
            _ => None,
        })
    }

    /// The clinic's offset from UTC, from the server's scripts.
    pub(super) fn utc_offset_minutes(&self) -> i64 {
        self.scripts
            .as_ref()
            .and_then(|d| d["utc_offset_minutes"].as_i64())
            .unwrap_or(0)
    }

    fn transfer_panel(&mut self, ui: &mut Ui, now: Instant) {
        let talking = self.talking();
        ui.horizontal(|ui| {
            let l = ui.label(self.t(T::Target));
            ui.add(egui::TextEdit::singleline(&mut self.transfer_target).desired_width(80.0))
                .labelled_by(l.id);
            let l = ui.label(self.t(T::Note));
            ui.add(egui::TextEdit::singleline(&mut self.transfer_note).desired_width(220.0))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            ui.add_enabled_ui(talking, |ui| {
                if ui
                    .button(self.t(T::TransferToSenior))
                    .on_hover_text("F7")
                    .clicked()
                {
                    self.transfer("senior");
                }
                if ui.button(self.t(T::Transfer)).on_hover_text("F5").clicked() {
                    let target = self.transfer_target.clone();
                    self.transfer(&target);
                }
                if self.consult_line.is_none() {
                    if ui.button(self.t(T::Consult)).on_hover_text("F8").clicked() {
                        self.consult(now);
                    }
                } else {
                    ui.label(format!(
                        "{} {}",
                        self.t(T::ConsultationWith),
                        self.transfer_target
                    ));
                    if ui.button(self.t(T::Complete)).on_hover_text("F8").clicked() {
                        self.consult_end(true);
                    }
                    if ui.button(self.t(T::Cancel)).on_hover_text("F11").clicked() {
                        self.consult_end(false);
                    }
                }
            });
        });
    }

    fn disposition_panel(&mut self, ui: &mut Ui) {
        if self.disposition.call_id.is_none() {
            return;
        }
        ui.strong(self.t(T::Disposition));
        self.call_type_form(ui);
        let (reason, date, time, service, note) = (
            self.t(T::Reason),
            self.t(T::Date),
            self.t(T::Time),
            self.t(T::Service),
            self.t(T::Note),
        );
        let d = &mut self.disposition;
        egui::Grid::new("disposition")
            .num_columns(2)
            .show(ui, |ui| {
                for (label, field) in [
                    (reason, &mut d.reason),
                    (date, &mut d.date),
                    (time, &mut d.time),
                    (service, &mut d.service),
                    (note, &mut d.note),
                ] {
                    let l = ui.label(label);
                    ui.add(egui::TextEdit::singleline(field).char_limit(FIELD_CHARS))
                        .labelled_by(l.id);
                    ui.end_row();
                }
            });
        ui.horizontal(|ui| {
            if ui.button(self.t(T::Save)).clicked() {
                self.save_disposition();
            }
            if self.disposition.saved {
                ui.colored_label(CALM, self.t(T::Saved));
            }
        });
    }

    /// The call type's own fields: the NPS score and comment (shown before
    /// the call, the outcome after), or the home-visit request.
    fn call_type_form(&mut self, ui: &mut Ui) {
        let lang = self.lang;
        let fields: Vec<(&str, &mut String)> = match self.call_type {
            CallType::NpsFollowUp => {
                let n = &mut self.nps;
                vec![
                    (
                        pick(lang, ["NPS score", "Оценка NPS", "Note NPS", "NPS评分"]),
                        &mut n.score,
                    ),
                    (
                        pick(lang, ["Comment", "Комментарий", "Commentaire", "留言"]),
                        &mut n.comment,
                    ),
                    (
                        pick(
                            lang,
                            [
                                "Follow-up outcome",
                                "Итог опроса",
                                "Issue du suivi",
                                "回访结果",
                            ],
                        ),
                        &mut n.outcome,
                    ),
                ]
            }
            CallType::HomeVisit => {
                let v = &mut self.home_visit;
                vec![
                    (
                        pick(
                            lang,
                            [
                                "Patient's name",
                                "ФИО пациента",
                                "Nom du patient",
                                "患者姓名",
                            ],
                        ),
                        &mut v.name,
                    ),
                    (
                        pick(
                            lang,
                            [
                                "Date of birth",
                                "Дата рождения",
                                "Date de naissance",
                                "出生日期",
                            ],
                        ),
                        &mut v.birth_date,
                    ),
                    (
                        pick(lang, ["Phone", "Телефон", "Téléphone", "电话"]),
                        &mut v.phone,
                    ),
                    (
                        pick(lang, ["Address", "Адрес", "Adresse", "地址"]),
                        &mut v.address,
                    ),
                    (
                        pick(lang, ["District", "Район", "Quartier", "区"]),
                        &mut v.district,
                    ),
                    (
                        pick(lang, ["Symptoms", "Симптомы", "Symptômes", "症状"]),
                        &mut v.symptoms,
                    ),
                    (
                        pick(
                            lang,
                            [
                                "Epidemiological history",
                                "Эпиданамнез",
                                "Antécédents épidémiologiques",
                                "流行病学史",
                            ],
                        ),
                        &mut v.epidemiology,
                    ),
                ]
            }
            _ => return,
        };
        egui::Grid::new("call_type_form")
            .num_columns(2)
            .show(ui, |ui| {
                for (label, field) in fields {
                    let l = ui.label(label);
                    ui.add(egui::TextEdit::singleline(field).char_limit(FIELD_CHARS))
                        .labelled_by(l.id);
                    ui.end_row();
                }
            });
    }

    fn side(&mut self, ui: &mut Ui) {
        ui.strong(self.t(T::CallBackTasks));
        if self.tasks.is_empty() {
            ui.weak(self.t(T::None));
        }
        for task in self.tasks.values() {
            ui.label(format!("{} — {}", task.who, task.state));
        }
        ui.separator();
        ui.strong(self.t(T::RecentCalls));
        if self.recent.is_empty() {
            ui.weak(self.t(T::None));
        }
        for r in &self.recent {
            ui.label(format!("{} · {} · {}", r.call_id, r.who, r.outcome));
        }
    }
}

/// `m:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// Minutes after local midnight, for the greeting (UTC when the zone is
/// unknown to us; the clinic's zone comes with the server's scripts).
fn local_minutes(utc_offset_minutes: i64) -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (secs / 60 + utc_offset_minutes).rem_euclid(24 * 60) as u32
}

fn call_type_name(call: CallType, lang: Lang) -> &'static str {
    let [en, ru, fr, zh] = match call {
        CallType::Inbound => ["Inbound", "Входящий", "Entrant", "来电"],
        CallType::CallbackAfterDrop => ["Call-back", "Перезвон", "Rappel", "回拨"],
        CallType::AppointmentConfirmation => [
            "Confirmation",
            "Подтверждение записи",
            "Confirmation",
            "预约确认",
        ],
        CallType::NpsFollowUp => ["NPS follow-up", "Опрос NPS", "Suivi NPS", "NPS回访"],
        CallType::HomeVisit => [
            "Home visit",
            "Вызов на дом",
            "Visite à domicile",
            "上门出诊",
        ],
    };
    pick(lang, [en, ru, fr, zh])
}

fn stage_name(stage: Stage, lang: Lang) -> &'static str {
    let names = match stage {
        Stage::Greeting => ["Greeting", "Приветствие", "Accueil", "问候"],
        Stage::AddressAs => ["Form of address", "Обращение", "Appellation", "称呼"],
        Stage::Purpose => ["Purpose", "Цель", "Motif", "来意"],
        Stage::Hold => [
            "Before hold",
            "Перед удержанием",
            "Avant l'attente",
            "保持前",
        ],
        Stage::HoldReturn => [
            "Back from hold",
            "После удержания",
            "Après l'attente",
            "保持后",
        ],
        Stage::Transfer => ["Handing over", "Передача", "Passage de relais", "转交"],
        Stage::Closing => ["Closing", "Завершение", "Conclusion", "结束"],
    };
    pick(lang, names)
}

fn pick(lang: Lang, [en, ru, fr, zh]: [&'static str; 4]) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Ru => ru,
        Lang::Fr => fr,
        Lang::Zh => zh,
    }
}
