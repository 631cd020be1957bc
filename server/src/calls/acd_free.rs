//! The distributor's index of who is free, per queue and tier: kept in step
//! with every agent change, so offering a call never scans every agent.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{AgentState, Tier};

/// Who in one tier of one queue is free now, longest idle first.
#[derive(Debug, Default)]
pub(super) struct Free {
    pub(super) available: BTreeSet<(Instant, usize)>,
    pub(super) with_patient: BTreeSet<(Instant, usize)>,
}

impl Free {
    /// Available agents; those serving a patient only when nobody is.
    pub(super) fn best(&self) -> &BTreeSet<(Instant, usize)> {
        if self.available.is_empty() {
            &self.with_patient
        } else {
            &self.available
        }
    }

    pub(super) fn set(&mut self, state: AgentState) -> &mut BTreeSet<(Instant, usize)> {
        if state == AgentState::WithPatient {
            &mut self.with_patient
        } else {
            &mut self.available
        }
    }
}

pub(super) fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Agent => 0,
        Tier::Senior => 1,
    }
}
