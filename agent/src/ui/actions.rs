//! What the agent does: the buttons and the shortcuts call these. Each
//! leaves commands for the engine (SIP on the phone, requests to the
//! server's API, messages on the WebSocket) and moves the screen's state.

use std::time::Instant;

use careline_shared::script::{CallType, Stage};
use serde_json::{Value, json};

use super::{AgentApp, card_of, parse_birth_date};
use crate::engine::Command;
use crate::phone::LineId;

impl AgentApp {
    pub(super) fn current_call(&self) -> Option<String> {
        self.patient_line
            .and_then(|l| self.lines.get(&l))
            .and_then(|l| l.call_id.clone())
    }

    pub(super) fn answer(&mut self) {
        if let Some(line) = self
            .patient_line
            .filter(|l| self.lines.get(l).is_some_and(|v| v.ringing))
        {
            self.commands.push(Command::Answer(line));
        }
    }

    /// The line the agent is talking on: the consultation while there is
    /// one (the patient waits on hold), else the patient's.
    pub(super) fn active_line(&self) -> Option<LineId> {
        self.consult_line.or(self.patient_line)
    }

    pub(super) fn hang_up(&mut self) {
        if let Some(line) = self.active_line() {
            self.commands.push(Command::HangUp(line));
        }
    }

    pub(super) fn toggle_hold(&mut self, now: Instant) {
        let Some(call) = self.current_call().filter(|_| self.talking()) else {
            return;
        };
        self.held = !self.held;
        let Some(s) = &mut self.screen else { return };
        if self.held {
            s.hold(now);
            self.stage = Stage::Hold;
        } else {
            s.resume(now);
            self.reminder = None;
            self.stage = Stage::HoldReturn;
        }
        self.commands.push(Command::Api {
            method: "PUT",
            path: format!("/api/calls/{call}/hold"),
            body: Some(json!({ "hold": self.held })),
            tag: if self.held { "hold" } else { "resume" }.into(),
        });
    }

    pub(super) fn toggle_mute(&mut self) {
        if let Some(line) = self.active_line().filter(|_| self.talking()) {
            self.muted = !self.muted;
            self.commands.push(Command::Mute(line, self.muted));
        }
    }

    pub(super) fn key(&mut self, key: char) {
        if let Some(line) = self.active_line().filter(|_| self.talking()) {
            self.commands.push(Command::Key(line, key));
        }
    }

    pub(super) fn transfer(&mut self, to: &str) {
        let Some(call) = self.current_call().filter(|_| self.talking()) else {
            return;
        };
        if to.trim().is_empty() {
            self.problem = Some("whom to transfer to?".into());
            return;
        }
        self.stage = Stage::Transfer;
        let note = self.transfer_note.trim();
        self.commands.push(Command::Api {
            method: "POST",
            path: format!("/api/calls/{call}/transfer"),
            body: Some(json!({ "to": to.trim(), "note": (!note.is_empty()).then_some(note) })),
            tag: "transfer".into(),
        });
    }

    pub(super) fn consult(&mut self, now: Instant) {
        let target = self.transfer_target.trim().to_string();
        let Some(call) = self.current_call().filter(|_| self.talking()) else {
            return;
        };
        if target.is_empty() || self.consult_line.is_some() {
            return;
        }
        if !self.transfer_note.trim().is_empty() {
            self.commands.push(Command::Ws(json!({
                "type": "note", "call_id": call, "text": self.transfer_note.trim(),
            })));
        }
        if !self.held {
            self.held = true;
            if let Some(s) = &mut self.screen {
                s.hold(now);
            }
        }
        self.stage = Stage::Hold;
        self.commands.push(Command::Api {
            method: "PUT",
            path: format!("/api/calls/{call}/hold"),
            body: Some(json!({ "hold": true })),
            tag: format!("consult:{target}"),
        });
    }

    pub(super) fn consult_end(&mut self, complete: bool) {
        let Some(call) = self.current_call() else {
            return;
        };
        let what = if complete { "complete" } else { "cancel" };
        self.commands.push(Command::Api {
            method: "POST",
            path: format!("/api/calls/{call}/transfer/{what}"),
            body: None,
            tag: format!("transfer {what}"),
        });
    }

    pub(super) fn set_state(&mut self, state: &'static str) {
        self.agent_state = state;
        self.commands
            .push(Command::Ws(json!({ "type": "state", "state": state })));
    }

    /// The identity check: the date of birth the caller gives must be a
    /// card's (the patient whose it is is the one confirmed: a family may
    /// share a number); a card without a date of birth is confirmed on the
    /// agent's word. Nothing of the cards is revealed by a mismatch.
    pub(super) fn confirm_identity(&mut self, now: Instant) {
        let candidates: Vec<Value> = self
            .screen_call
            .as_ref()
            .and_then(|c| self.offered.get(c))
            .and_then(|o| o["patients"].as_array().cloned())
            .unwrap_or_default();
        let with_dates: Vec<&Value> = candidates
            .iter()
            .filter(|p| p["birth_date"].as_str().is_some_and(|d| !d.is_empty()))
            .collect();
        let chosen = if with_dates.is_empty() {
            candidates.first()
        } else {
            let said = parse_birth_date(&self.dob_said);
            let matching: Vec<&Value> = with_dates
                .iter()
                .filter(|p| {
                    said.is_some()
                        && parse_birth_date(p["birth_date"].as_str().unwrap_or("")) == said
                })
                .copied()
                .collect();
            // None, or twins on one number: not confirmed on a date alone.
            if matching.len() != 1 {
                self.dob_mismatch = true;
                return;
            }
            matching.first().copied()
        };
        self.dob_mismatch = false;
        if let (Some(s), Some(p)) = (&mut self.screen, chosen) {
            s.set_card(card_of(p));
            s.confirm_identity();
            self.confirmed_patient = p["mis_id"].as_str().map(str::to_string);
            // The confirmation (an audit fact) first, then the past.
            self.tick(now);
            if let Some(call) = self.screen_call.clone() {
                self.commands.push(Command::Api {
                    method: "GET",
                    path: format!("/api/calls/{call}/history"),
                    body: None,
                    tag: format!("history:{call}"),
                });
            }
        }
        self.tick(now);
    }

    pub(super) fn save_disposition(&mut self) {
        let d = &self.disposition;
        let Some(call) = d.call_id.clone() else {
            return;
        };
        if d.reason.trim().is_empty() {
            self.problem = Some("the outcome needs a reason".into());
            return;
        }
        let appointment = (!d.date.trim().is_empty()
            || !d.time.trim().is_empty()
            || !d.service.trim().is_empty())
        .then(
            || json!({ "date": d.date.trim(), "time": d.time.trim(), "service": d.service.trim() }),
        );
        let form = match self.call_type {
            CallType::NpsFollowUp => Some(json!({
                "type": "nps_follow_up",
                "score": self.nps.score.trim(),
                "comment": self.nps.comment.trim(),
                "outcome": self.nps.outcome.trim(),
            })),
            CallType::HomeVisit => {
                let v = &self.home_visit;
                Some(json!({
                    "type": "home_visit",
                    "name": v.name.trim(),
                    "birth_date": v.birth_date.trim(),
                    "phone": v.phone.trim(),
                    "address": v.address.trim(),
                    "district": v.district.trim(),
                    "symptoms": v.symptoms.trim(),
                    "epidemiology": v.epidemiology.trim(),
                }))
            }
            _ => None,
        };
        let mut msg = json!({
            "type": "disposition",
            "call_id": call,
            "reason": d.reason.trim(),
            "note": d.note.trim(),
            "appointment": appointment,
        });
        if let Some(form) = form {
            msg["form"] = form;
        }
        self.saving.push_back(call);
        self.commands.push(Command::Ws(msg));
    }
}
