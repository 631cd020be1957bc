//! Agents as the ACD sees them: their state, how long they have been idle,
//! and how many offers they have missed in a row.

use std::fmt;
use std::time::Instant;

/// An agent's state (DESIGN §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// No phone registered.
    Offline,
    /// Free for calls.
    Available,
    /// Serving a patient at the desk: offered calls only when nobody else is free.
    WithPatient,
    /// Their phone is ringing with a call.
    Ringing,
    /// On a call.
    OnCall,
    /// After a call, finishing notes.
    WrapUp,
    /// Not taking calls (by choice, or after missing several in a row).
    Paused,
}

impl AgentState {
    /// The name used in events and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::WithPatient => "with_patient",
            AgentState::Ringing => "ringing",
            AgentState::OnCall => "on_call",
            AgentState::WrapUp => "wrap_up",
            AgentState::Paused => "paused",
        }
    }

    /// Parses an API name.
    pub fn from_name(s: &str) -> Option<AgentState> {
        [
            AgentState::Offline,
            AgentState::Available,
            AgentState::WithPatient,
            AgentState::Ringing,
            AgentState::OnCall,
            AgentState::WrapUp,
            AgentState::Paused,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One agent.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) ext: String,
    pub(crate) state: AgentState,
    /// Since when they have been free; longest idle is offered first.
    pub(crate) idle_since: Instant,
    /// Offers missed in a row (answering resets it).
    pub(crate) misses: u32,
    /// Whether a phone is registered for them.
    pub(crate) registered: bool,
    /// The state to return to when ringing stops without an answer.
    pub(crate) before_ring: AgentState,
    /// A state chosen while busy (on a call, wrapping up), applied after.
    pub(crate) after_call: Option<AgentState>,
    /// The call they are ringing for or talking on.
    pub(crate) call: Option<u64>,
}

impl Agent {
    pub(crate) fn new(ext: String, now: Instant) -> Agent {
        Agent {
            ext,
            state: AgentState::Offline,
            idle_since: now,
            misses: 0,
            registered: false,
            before_ring: AgentState::Available,
            after_call: None,
            call: None,
        }
    }
}
