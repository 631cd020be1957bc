//! `[callbacks]`: when dropped and abandoned calls are called back.

use std::time::Duration;

use serde::Deserialize;

use super::Dur;
use crate::callbacks::Policy;

/// `[callbacks]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksConfig {
    /// Patients who hang up sooner than this while waiting get no call-back
    /// (misdials; default 5 s).
    pub abandoned_min_wait: Dur,
    /// A dropped call's task is due this long after the drop (default 0:
    /// at once, by the same agent).
    pub dropped_due: Dur,
    /// An abandoned call's task is due this long after (default 15 min).
    pub abandoned_due: Dur,
    /// A dropped call's task stays with the agent who had it this long,
    /// then any agent of the queue may take it (default 5 min).
    pub grace: Dur,
    /// Between an unanswered attempt and the next (default 10 min).
    pub retry_spacing: Dur,
    /// Attempts before giving up (default 3).
    pub max_attempts: u32,
    /// Service level: a dropped call's patient is called back within this
    /// (default 15 min) …
    pub sla_dropped: Dur,
    /// … an abandoned call's within this (default 2 h) …
    pub sla_abandoned: Dur,
    /// … a patient who pressed 1 while waiting within this (default 1 h).
    pub sla_requested: Dur,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        let p = Policy::default();
        let d = |ms: i64| Dur(Duration::from_millis(ms as u64));
        CallbacksConfig {
            abandoned_min_wait: d(p.abandoned_min_wait),
            dropped_due: d(p.dropped_due),
            abandoned_due: d(p.abandoned_due),
            grace: d(p.grace),
            retry_spacing: d(p.retry_spacing),
            max_attempts: p.max_attempts,
            sla_dropped: d(p.sla_dropped),
            sla_abandoned: d(p.sla_abandoned),
            sla_requested: d(p.sla_requested),
        }
    }
}

impl CallbacksConfig {
    /// The scheduler's rules.
    pub fn policy(&self) -> Policy {
        let ms = |d: &Dur| d.0.as_millis() as i64;
        Policy {
            abandoned_min_wait: ms(&self.abandoned_min_wait),
            dropped_due: ms(&self.dropped_due),
            abandoned_due: ms(&self.abandoned_due),
            grace: ms(&self.grace),
            retry_spacing: ms(&self.retry_spacing),
            max_attempts: self.max_attempts,
            sla_dropped: ms(&self.sla_dropped),
            sla_abandoned: ms(&self.sla_abandoned),
            sla_requested: ms(&self.sla_requested),
        }
    }

    /// The first key that makes no sense, and why.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if self.max_attempts == 0 {
            return Err(("callbacks.max_attempts", "must be at least 1".into()));
        }
        if self.retry_spacing.0 < Duration::from_secs(60) {
            return Err((
                "callbacks.retry_spacing",
                format!(
                    "{} is too short to call a patient again (1 min or more)",
                    self.retry_spacing
                ),
            ));
        }
        if self.sla_dropped.0 < self.dropped_due.0 {
            return Err((
                "callbacks.sla_dropped",
                "must not be before callbacks.dropped_due".into(),
            ));
        }
        if self.sla_abandoned.0 < self.abandoned_due.0 {
            return Err((
                "callbacks.sla_abandoned",
                "must not be before callbacks.abandoned_due".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};

    #[test]
    fn defaults_are_the_policy_and_bad_values_name_key_and_line() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.callbacks.policy(), crate::callbacks::Policy::default());
        let err = Config::parse("[callbacks]\nabandoned_due = \"1h\"\nsla_abandoned = \"30m\"\n")
            .unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Invalid {
                    key: "callbacks.sla_abandoned",
                    line: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = Config::parse("[callbacks]\nmax_attempts = 0\n").unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Invalid {
                    key: "callbacks.max_attempts",
                    line: 2,
                    ..
                }
            ),
            "{err}"
        );
    }
}
