//! The agent's window. [`AgentApp`] is the whole screen's state and
//! drawing, with the clock passed in: it takes the engine's [`Notice`]s,
//! draws with egui, and leaves [`Command`]s for the engine. The eframe
//! glue in `window.rs` only pumps those; the UI tests drive `AgentApp`
//! directly in virtual time.
//!
//! One screen: status and call controls at the top; the caller's card
//! (behind the identity gate) and the script panel in the middle; call-back
//! tasks and recent calls at the side; the outcome form after the call.

mod actions;
mod card;
mod draw;
pub mod text;
pub mod window;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use careline_shared::script::{CallType, Lang, Stage};
use serde_json::{Value, json};

use crate::engine::{Command, Notice};
use crate::phone::{EndReason, LineId};
use crate::screen::{Action, CallScreen, Card};

/// How long the caller waits on hold before the reminder (the clinics' 30 s).
pub const HOLD_REMINDER: Duration = Duration::from_secs(30);
/// The wrap-up after a call, unless the server says otherwise.
pub const WRAP_UP: Duration = Duration::from_secs(10);

/// The login form.
#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    /// `http://host:port`.
    pub server: String,
    /// Extension.
    pub extension: String,
    /// Password (never logged, never kept after the login).
    pub password: String,
}

/// A line as the screen shows it.
#[derive(Debug, Clone)]
struct LineView {
    call_id: Option<String>,
    /// Who (the From header for calls in, the number for calls out).
    peer: String,
    ringing: bool,
    talking: bool,
}

/// The outcome form.
#[derive(Debug, Clone, Default)]
struct Disposition {
    call_id: Option<String>,
    reason: String,
    date: String,
    time: String,
    service: String,
    note: String,
    saved: bool,
}

/// An NPS follow-up: the score and comment the patient left (shown before
/// the call) and what came of the call.
#[derive(Debug, Clone, Default)]
struct NpsForm {
    score: String,
    comment: String,
    outcome: String,
}

/// A home-visit request, as the clinics take it down.
#[derive(Debug, Clone, Default)]
struct HomeVisitForm {
    name: String,
    birth_date: String,
    phone: String,
    address: String,
    district: String,
    symptoms: String,
    epidemiology: String,
}

/// A call in the recent list.
#[derive(Debug, Clone)]
struct Recent {
    call_id: String,
    who: String,
    outcome: String,
}

/// A call-back task as the switchboard reports it.
#[derive(Debug, Clone)]
struct Task {
    who: String,
    state: String,
}

/// The whole screen.
pub struct AgentApp {
    /// The screen's language.
    pub lang: Lang,
    /// The clinic's name (scripts say it).
    pub clinic: String,
    /// The login form, until logged in.
    pub login: LoginForm,
    /// Answer each call as it rings (headset users often work so).
    pub auto_answer: bool,
    /// The headset's microphone and speaker, and where the ringtone
    /// plays, by device id (`None`: the system's default).
    pub input_device: Option<String>,
    /// See `input_device`.
    pub output_device: Option<String>,
    /// See `input_device`.
    pub ring_device: Option<String>,
    /// The devices there are (listed by the window at start).
    pub devices: crate::audio::Devices,
    /// The current call's levels (set by the window each frame).
    pub levels: crate::audio::Levels,
    login_requested: bool,
    name: Option<String>,
    registered: bool,
    link_up: bool,
    problem: Option<String>,
    agent_state: &'static str,
    lines: BTreeMap<LineId, LineView>,
    /// The patient's call in hand, and our consultation line.
    patient_line: Option<LineId>,
    consult_line: Option<LineId>,
    /// Cards from `call_offered`, by the server's call id.
    offered: HashMap<String, Value>,
    screen: Option<CallScreen>,
    screen_call: Option<String>,
    held: bool,
    muted: bool,
    /// When the patient's call was answered (the call timer).
    talking_since: Option<Instant>,
    reminder: Option<(u32, Duration)>,
    stage: Stage,
    call_type: CallType,
    transfer_target: String,
    transfer_note: String,
    keypad: bool,
    disposition: Disposition,
    nps: NpsForm,
    home_visit: HomeVisitForm,
    tasks: BTreeMap<String, Task>,
    recent: VecDeque<Recent>,
    /// The server's scripts document, when it sent one.
    scripts: Option<Value>,
    /// The latest time seen (for answers that come without one).
    clock: Instant,
    /// The date of birth the caller gave, as the agent typed it.
    dob_said: String,
    /// It matched no card.
    dob_mismatch: bool,
    /// The field has had its focus on this call.
    dob_focused: bool,
    /// The MIS id of the patient confirmed on this call.
    confirmed_patient: Option<String>,
    /// Calls whose dispositions were sent and not yet answered, in order.
    saving: VecDeque<String>,
    /// The caller's past (`GET /api/calls/{id}/history`), once confirmed.
    history: Option<Value>,
    commands: Vec<Command>,
}

impl AgentApp {
    /// A screen in `lang`, before login.
    pub fn new(lang: Lang, login: LoginForm) -> AgentApp {
        AgentApp {
            lang,
            clinic: "Careline".into(),
            login,
            auto_answer: false,
            input_device: None,
            output_device: None,
            ring_device: None,
            devices: crate::audio::Devices::default(),
            levels: crate::audio::Levels::default(),
            login_requested: false,
            name: None,
            registered: false,
            link_up: false,
            problem: None,
            agent_state: "available",
            lines: BTreeMap::new(),
            patient_line: None,
            consult_line: None,
            offered: HashMap::new(),
            screen: None,
            screen_call: None,
            held: false,
            muted: false,
            talking_since: None,
            reminder: None,
            stage: Stage::Greeting,
            call_type: CallType::Inbound,
            transfer_target: String::new(),
            transfer_note: String::new(),
            keypad: false,
            disposition: Disposition::default(),
            nps: NpsForm::default(),
            home_visit: HomeVisitForm::default(),
            tasks: BTreeMap::new(),
            recent: VecDeque::new(),
            scripts: None,
            clock: Instant::now(),
            dob_said: String::new(),
            dob_mismatch: false,
            dob_focused: false,
            confirmed_patient: None,
            saving: VecDeque::new(),
            history: None,
            commands: Vec::new(),
        }
    }

    /// Logs in with the form as it is (a password given on the command
    /// line's standard input).
    pub fn log_in_now(&mut self) {
        self.login_requested = true;
    }

    /// Whether the agent pressed "Log in" (the window then starts the
    /// engine with the form); asked once.
    pub fn take_login(&mut self) -> bool {
        std::mem::take(&mut self.login_requested)
    }

    /// What the engine must do.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// When the screen next needs a redraw by itself (hold reminder,
    /// wrap-up end).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.screen.as_ref().and_then(CallScreen::poll_timeout)
    }

    /// Time passes: reminders and wrap-up.
    pub fn tick(&mut self, now: Instant) {
        self.clock = now;
        let Some(screen) = &mut self.screen else {
            return;
        };
        screen.handle_timeout(now);
        let actions: Vec<Action> = std::iter::from_fn(|| screen.poll_action()).collect();
        for action in actions {
            match action {
                Action::IdentityConfirmed { call_id, mis_id } => {
                    self.commands.push(Command::Ws(json!({
                        "type": "identity",
                        "call_id": call_id,
                        "patient": mis_id,
                    })));
                }
                Action::HoldReminder { n, held_for } => self.reminder = Some((n, held_for)),
                // An outcome filled in but not saved is saved as wrap-up
                // ends: nothing the agent wrote is lost.
                Action::WrapUpOver => {
                    if !self.disposition.saved && !self.disposition.reason.trim().is_empty() {
                        self.save_disposition();
                    }
                }
            }
        }
    }

    /// What the engine reported, at `now`.
    pub fn notice(&mut self, notice: Notice, now: Instant) {
        self.clock = now;
        match notice {
            Notice::LoggedIn { name, .. } => {
                self.name = Some(name);
                self.problem = None;
                self.login.password.clear();
            }
            Notice::ServerUnreachable { reason, retry_in } => {
                self.problem = Some(format!("{reason} (retrying in {} s)", retry_in.as_secs()));
            }
            Notice::Scripts(doc) => {
                if let Some(clinic) = doc["clinic"].as_str() {
                    self.clinic = clinic.to_string();
                }
                self.scripts = Some(doc);
            }
            Notice::Failed(why) => {
                self.name = None;
                self.problem = Some(why);
            }
            Notice::Registration { ok, text } => {
                self.registered = ok;
                self.problem = (!ok).then_some(text);
            }
            Notice::Link(up) => self.link_up = up,
            Notice::Ringing {
                line,
                call_id,
                from,
            } => {
                self.lines.insert(
                    line,
                    LineView {
                        call_id: call_id.clone(),
                        peer: caller_of(&from),
                        ringing: true,
                        talking: false,
                    },
                );
                if self.patient_line.is_none() {
                    self.patient_line = Some(line);
                    self.start_screen(call_id, &caller_of(&from));
                    if self.auto_answer {
                        self.commands.push(Command::Answer(line));
                    }
                }
            }
            Notice::Dialling { line, target } => {
                self.lines.insert(
                    line,
                    LineView {
                        call_id: None,
                        peer: target,
                        ringing: false,
                        talking: false,
                    },
                );
                if self.patient_line.is_some() {
                    self.consult_line = Some(line);
                }
            }
            Notice::Talking { line, .. } => {
                if let Some(l) = self.lines.get_mut(&line) {
                    l.ringing = false;
                    l.talking = true;
                }
                if Some(line) == self.patient_line
                    && let Some(s) = &mut self.screen
                {
                    s.answered(now);
                    self.talking_since.get_or_insert(now);
                }
            }
            Notice::Ended { line, reason, .. } => self.line_ended(line, reason, now),
            Notice::Ws(msg) => self.ws(msg),
            Notice::ApiDone { tag, status, body } => self.api_done(&tag, status, &body),
            Notice::Refused(why) => self.problem = Some(why),
            // The window transfers through the API; a REFER's progress
            // (from a phone-side transfer) needs nothing on screen.
            Notice::Stopped | Notice::Transfer { .. } => {}
        }
    }

    fn start_screen(&mut self, call_id: Option<String>, number: &str) {
        // The call before may still be in wrap-up: what the agent wrote
        // about it is saved before its form makes way for this one.
        if !self.disposition.saved && !self.disposition.reason.trim().is_empty() {
            self.save_disposition();
        }
        // Cards of calls gone by leave memory (this call's stays).
        self.offered
            .retain(|c, _| call_id.as_deref() == Some(c.as_str()));
        self.transfer_target.clear();
        self.transfer_note.clear();
        self.dob_said.clear();
        self.dob_mismatch = false;
        self.dob_focused = false;
        self.confirmed_patient = None;
        self.problem = None;
        self.history = None;
        let card = call_id
            .as_ref()
            .and_then(|c| self.offered.get(c))
            .and_then(|o| o["patients"].get(0))
            .map(card_of);
        self.screen = Some(CallScreen::offered(
            call_id.as_deref().unwrap_or("-"),
            number,
            card,
            HOLD_REMINDER,
            WRAP_UP,
        ));
        self.screen_call = call_id.clone();
        self.held = false;
        self.muted = false;
        self.talking_since = None;
        self.reminder = None;
        self.stage = Stage::Greeting;
        self.call_type = CallType::Inbound;
        self.disposition = Disposition {
            call_id,
            ..Disposition::default()
        };
        self.nps = NpsForm::default();
        self.home_visit = HomeVisitForm::default();
    }

    fn line_ended(&mut self, line: LineId, reason: EndReason, now: Instant) {
        let Some(view) = self.lines.remove(&line) else {
            return;
        };
        if Some(line) == self.consult_line {
            self.consult_line = None;
            return;
        }
        if Some(line) != self.patient_line {
            return;
        }
        self.patient_line = None;
        if let Some(s) = &mut self.screen {
            s.ended(now);
        }
        self.held = false;
        self.reminder = None;
        self.stage = Stage::Closing;
        self.recent.push_front(Recent {
            call_id: view.call_id.unwrap_or_else(|| "-".into()),
            who: view.peer,
            outcome: reason.name(),
        });
        self.recent.truncate(20);
    }

    fn ws(&mut self, msg: Value) {
        match msg["type"].as_str() {
            Some("call_offered") => {
                let Some(call) = msg["call_id"].as_str().map(str::to_string) else {
                    return;
                };
                // The card may come before the ring, or after it (even
                // after an auto-answer): either way it joins its call.
                let card = msg["patients"].get(0).map(card_of);
                let this_call = self.screen_call.as_deref() == Some(call.as_str());
                self.offered.insert(call, msg);
                if this_call && let (Some(card), Some(screen)) = (card, self.screen.as_mut()) {
                    screen.set_card(card);
                }
            }
            Some("event") => {
                let kind = msg["kind"].as_str().unwrap_or("");
                if kind.starts_with("callback_") {
                    let task = &msg["data"]["task"];
                    let Some(id) = task["id"].as_str().map(str::to_string) else {
                        return;
                    };
                    if kind == "callback_closed" || !task["closed_at"].is_null() {
                        self.tasks.remove(&id);
                    } else {
                        // The number by its tail, as everywhere on screen
                        // outside the card.
                        let tail =
                            crate::headless::number_tail(task["number"].as_str().unwrap_or(""));
                        let state = if task["overdue"] == true {
                            "overdue".to_string()
                        } else {
                            task["status"].as_str().unwrap_or("open").replace('_', " ")
                        };
                        self.tasks.insert(
                            id,
                            Task {
                                who: format!("…{tail} ({})", task["reason"].as_str().unwrap_or("")),
                                state,
                            },
                        );
                    }
                }
            }
            // Answers come in the order the dispositions went: this one
            // is for the oldest still waiting (which may be the last call's).
            Some("ok" | "error") if msg["for"] == "disposition" => {
                let call = self.saving.pop_front();
                if msg["type"] == "ok" && call.is_some() && call == self.disposition.call_id {
                    self.disposition.saved = true;
                }
                if msg["type"] == "error" {
                    self.problem = Some(msg["error"].as_str().unwrap_or("refused").to_string());
                }
            }
            Some("error") => {
                self.problem = Some(msg["error"].as_str().unwrap_or("refused").to_string());
            }
            _ => {}
        }
    }

    fn api_done(&mut self, tag: &str, status: u16, body: &Value) {
        if let Some(call) = tag.strip_prefix("history:") {
            // For the call still on screen only; a failure leaves the card as it is.
            if status == 200 && self.screen_call.as_deref() == Some(call) {
                self.history = Some(body.clone());
            }
            return;
        }
        if (200..300).contains(&status) {
            if let Some(target) = tag.strip_prefix("consult:") {
                // The caller is on hold now: call the colleague.
                self.commands.push(Command::Dial(target.to_string()));
            }
            return;
        }
        let why = body["error"]
            .as_str()
            .unwrap_or("no answer from the server");
        self.problem = Some(format!("{tag}: {why}"));
        let now = self.clock;
        if tag == "hold" || tag.starts_with("consult:") {
            // The hold did not happen: the screen must not say it did.
            self.held = false;
            self.reminder = None;
            if let Some(s) = &mut self.screen {
                s.resume(now);
            }
        } else if tag == "resume" {
            // Still on hold, as the server says.
            self.held = true;
            if let Some(s) = &mut self.screen {
                s.hold(now);
            }
        }
    }

    /// The raw card of the patient confirmed on this call.
    pub(super) fn confirmed_raw(&self) -> Option<&Value> {
        let call = self.screen_call.as_ref()?;
        let id = self.confirmed_patient.as_ref()?;
        self.offered.get(call)?["patients"]
            .as_array()?
            .iter()
            .find(|p| p["mis_id"].as_str() == Some(id.as_str()))
    }

    /// Whether the patient's line is ringing (the window rings then).
    pub fn ringing(&self) -> bool {
        self.patient_line
            .and_then(|l| self.lines.get(&l))
            .is_some_and(|l| l.ringing)
    }

    fn talking(&self) -> bool {
        self.patient_line
            .and_then(|l| self.lines.get(&l))
            .is_some_and(|l| l.talking)
    }
}

/// A date of birth as agents type what callers say: `1990-11-25`,
/// `25.11.1990`, `25/11/1990`, `25 11 1990`; (year, month, day).
pub fn parse_birth_date(s: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<&str> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let n = |t: &str| t.parse::<u32>().ok();
    let (y, m, d) = if a.len() == 4 {
        (n(a)?, n(b)?, n(c)?)
    } else if c.len() == 4 {
        (n(c)?, n(b)?, n(a)?)
    } else {
        return None;
    };
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// The number or name in a From header, for the screen.
fn caller_of(from: &str) -> String {
    let uri = from
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map_or(from, |(u, _)| u);
    uri.trim_start_matches("sip:")
        .split(['@', ';'])
        .next()
        .unwrap_or(uri)
        .to_string()
}

/// The screen's card from a `call_offered` patient.
fn card_of(p: &Value) -> Card {
    let s = |v: &Value| v.as_str().map(str::to_string);
    let notes = [
        "preferences",
        "reminders",
        "lateness",
        "difficulties",
        "negative",
    ]
    .iter()
    .filter_map(|k| p["notes"][*k].as_str().filter(|t| !t.is_empty()))
    .map(str::to_string)
    .collect();
    Card {
        mis_id: s(&p["mis_id"]).unwrap_or_default(),
        full_name: s(&p["full_name"]).unwrap_or_default(),
        address_as: s(&p["address_as"]),
        birth_date: s(&p["birth_date"]),
        notes,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tests_more.rs"]
mod tests_more;
