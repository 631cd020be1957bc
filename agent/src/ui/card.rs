//! The caller's card on the screen: the number and the identity check
//! until it is done, then the card (age, pathway, appointments, the
//! service-card notes) and the caller's past (earlier calls, open
//! call-backs).

use std::time::Instant;

use eframe::egui::{self, Key, RichText, Ui};

use super::AgentApp;
use super::draw::{ATTENTION, WARN};
use super::text::T;
use crate::screen::{Caller, Phase};

impl AgentApp {
    pub(super) fn card_panel(&mut self, ui: &mut Ui, now: Instant) {
        let Some(screen) = &self.screen else {
            ui.label(self.t(T::Idle));
            return;
        };
        let answered = !matches!(screen.phase(), Phase::Ringing);
        match screen.caller() {
            Caller::Unknown { number } => {
                ui.heading(self.t(T::UnknownCaller));
                ui.label(number);
            }
            Caller::Unconfirmed { number } => {
                ui.heading(self.t(T::Caller));
                ui.label(number);
                ui.label(self.t(T::CheckBirthDate));
                let dob = self.t(T::BirthDateSaid);
                let field = ui
                    .horizontal(|ui| {
                        let l = ui.label(dob);
                        ui.add(egui::TextEdit::singleline(&mut self.dob_said).desired_width(110.0))
                            .labelled_by(l.id)
                    })
                    .inner;
                // Once answered, the cursor waits in the field: the agent
                // types what the caller says and presses Enter.
                if answered && !self.dob_focused {
                    field.request_focus();
                    self.dob_focused = true;
                }
                if field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                    self.confirm_identity(now);
                }
                if self.dob_mismatch {
                    ui.colored_label(WARN, self.t(T::BirthDateMismatch));
                }
                let mut ticked = false;
                if ui
                    .add_enabled(
                        answered,
                        egui::Checkbox::new(&mut ticked, self.t(T::IdentityConfirmed)),
                    )
                    .on_hover_text("F10")
                    .clicked()
                {
                    self.confirm_identity(now);
                }
            }
            Caller::Confirmed(card) => {
                let raw = self.confirmed_raw().cloned().unwrap_or_default();
                ui.heading(&card.full_name);
                let mut ticked = true;
                ui.add_enabled(
                    false,
                    egui::Checkbox::new(&mut ticked, self.t(T::IdentityConfirmed)),
                );
                if let Some(a) = &card.address_as {
                    ui.label(RichText::new(a).italics());
                }
                if let Some(age) = raw["today"]["age"].as_u64() {
                    ui.label(format!(
                        "{}: {age} ({})",
                        self.t(T::Age),
                        card.birth_date.as_deref().unwrap_or("")
                    ));
                }
                if let Some(week) = raw["today"]["pregnancy_week"].as_i64() {
                    ui.label(format!(
                        "{}: {week}+{} · EDD {}",
                        self.t(T::Pregnancy),
                        raw["today"]["pregnancy_day"].as_i64().unwrap_or(0),
                        raw["today"]["edd"].as_str().unwrap_or("")
                    ));
                }
                for (label, key) in [(T::NextAppointment, "next"), (T::LastAppointment, "last")] {
                    let a = &raw["appointments"][key];
                    if !a.is_null() {
                        ui.label(format!("{}: {}", self.t(label), appointment_line(a)));
                    }
                }
                if !card.notes.is_empty() {
                    ui.strong(self.t(T::Notes));
                    for n in &card.notes {
                        ui.label(format!("• {n}"));
                    }
                }
                self.history_panel(ui);
            }
        }
    }

    /// The caller's earlier calls and open call-backs (fetched once the
    /// identity is confirmed).
    pub(super) fn history_panel(&self, ui: &mut Ui) {
        let Some(h) = &self.history else { return };
        let offset = self.utc_offset_minutes();
        let open = h["open_callbacks"].as_array().map_or(0, Vec::len);
        if open > 0 {
            ui.colored_label(ATTENTION, format!("{}: {open}", self.t(T::OpenCallbacks)));
        }
        let earlier = h["earlier_calls"].as_array().map_or(&[][..], Vec::as_slice);
        ui.strong(self.t(T::PreviousCalls));
        if earlier.is_empty() {
            ui.weak(self.t(T::None));
        }
        for c in earlier.iter().take(5) {
            ui.label(format!(
                "{} · {} · {}",
                local_time(c["arrived_at"].as_i64().unwrap_or(0), offset),
                c["answered_by"].as_str().unwrap_or("—"),
                c["end_reason"].as_str().unwrap_or("—"),
            ));
        }
    }

    /// A field of the confirmed caller's next appointment.
    pub(super) fn next_appointment_field(&self, key: &str) -> Option<String> {
        if !matches!(
            self.screen.as_ref().map(|s| s.caller()),
            Some(Caller::Confirmed(_))
        ) {
            return None;
        }
        self.confirmed_raw()?["appointments"]["next"][key]
            .as_str()
            .map(str::to_string)
    }
}

fn appointment_line(a: &serde_json::Value) -> String {
    let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
    [text("starts_at"), text("service"), text("doctor")]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `YYYY-MM-DD HH:MM` of an epoch-ms time at the clinic's offset.
pub(super) fn local_time(ms: i64, utc_offset_minutes: i64) -> String {
    let minutes = ms.div_euclid(60_000) + utc_offset_minutes;
    let (days, m) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian
    // calendar, by eras of 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}", m / 60, m % 60)
}
