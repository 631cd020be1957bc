//! Calls the queue did not give an agent (a call-back they placed, a
//! doctor's teleconsult): while one lasts the agent is on a call and is
//! offered nothing.

use std::time::Instant;

use super::{Acd, AcdError, AgentState, Timer};

impl Acd {
    /// An agent's phone took a call the queue did not give them (a call
    /// back they placed): they are on a call and offered nothing until
    /// [`Acd::handle_outside_call_ended`]; a state they had chosen (paused,
    /// with a patient) comes back after it. Extensions outside every queue
    /// pass. Refused while their phone rings or is on a queue call.
    pub fn handle_outside_call_started(&mut self, now: Instant, ext: &str) -> Result<(), AcdError> {
        let Some(&agent) = self.by_ext.get(ext) else {
            return Ok(());
        };
        let a = &mut self.agents[agent];
        match a.state {
            AgentState::Available => {}
            AgentState::WithPatient | AgentState::Paused => {
                a.after_call = a.after_call.or(Some(a.state));
            }
            AgentState::WrapUp => self.timers.stop(Timer::WrapUp(agent)),
            other => return Err(AcdError::Busy(ext.to_string(), other)),
        }
        self.set_state(now, agent, AgentState::OnCall);
        Ok(())
    }

    /// The outside call is over: the agent is free again (or back in the
    /// state they chose).
    pub fn handle_outside_call_ended(&mut self, now: Instant, ext: &str) {
        let Some(&agent) = self.by_ext.get(ext) else {
            return;
        };
        let a = &self.agents[agent];
        if a.state == AgentState::OnCall && a.call.is_none() {
            self.after_busy(now, agent);
            self.dispatch(now);
        }
    }
}
