//! `[dashboard]`: the clinic's local time for "today" and for day
//! intervals, and the thresholds that colour the supervisors' tiles.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Dur;

/// `[dashboard]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// The clinic's offset from UTC, `+03:00` (default `+00:00`): "today"
    /// and day intervals run from its local midnight.
    pub utc_offset: String,
    /// Service level (answered within three rings, %) below which a tile
    /// turns amber (default 80) …
    pub service_level_amber: f64,
    /// … and red (default 60).
    pub service_level_red: f64,
    /// A wait longer than this turns the longest-wait tile amber (default
    /// 15 s, the answer deadline) …
    pub longest_wait_amber: Dur,
    /// … and red (default 60 s).
    pub longest_wait_red: Dur,
    /// Abandonment (%) above which a tile turns amber (default 5) …
    pub abandoned_amber: f64,
    /// … and red (default 10).
    pub abandoned_red: f64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            utc_offset: "+00:00".into(),
            service_level_amber: 80.0,
            service_level_red: 60.0,
            longest_wait_amber: Dur(std::time::Duration::from_secs(15)),
            longest_wait_red: Dur(std::time::Duration::from_secs(60)),
            abandoned_amber: 5.0,
            abandoned_red: 10.0,
        }
    }
}

/// `+03:00`, `-05:30`, `+00:00` → milliseconds ahead of UTC.
pub fn parse_utc_offset(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not an offset from UTC (write it like \"+03:00\")");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if h > 14 || m >= 60 || (m % 15) != 0 {
        return Err(format!(
            "`{s}` is not a time zone offset (hours up to 14, minutes 00, 15, 30 or 45)"
        ));
    }
    Ok(sign * (h * 3_600_000 + m * 60_000))
}

impl DashboardConfig {
    /// The offset in milliseconds (checked at load).
    pub fn utc_offset_ms(&self) -> i64 {
        parse_utc_offset(&self.utc_offset).unwrap_or(0)
    }

    /// The thresholds as the page reads them.
    pub fn thresholds_json(&self) -> Value {
        json!({
            "service_level": { "amber": self.service_level_amber / 100.0, "red": self.service_level_red / 100.0 },
            "longest_wait_ms": { "amber": self.longest_wait_amber.0.as_millis() as u64, "red": self.longest_wait_red.0.as_millis() as u64 },
            "abandonment_rate": { "amber": self.abandoned_amber / 100.0, "red": self.abandoned_red / 100.0 },
        })
    }

    /// The first key that makes no sense, and why.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        parse_utc_offset(&self.utc_offset).map_err(|r| ("dashboard.utc_offset", r))?;
        let percent = |key: &'static str, v: f64| {
            if (0.0..=100.0).contains(&v) {
                Ok(())
            } else {
                Err((key, format!("{v} is not a percentage (0–100)")))
            }
        };
        percent("dashboard.service_level_amber", self.service_level_amber)?;
        percent("dashboard.service_level_red", self.service_level_red)?;
        percent("dashboard.abandoned_amber", self.abandoned_amber)?;
        percent("dashboard.abandoned_red", self.abandoned_red)?;
        if self.service_level_red > self.service_level_amber {
            return Err((
                "dashboard.service_level_red",
                "must not be above dashboard.service_level_amber (red is the worse level)".into(),
            ));
        }
        if self.abandoned_red < self.abandoned_amber {
            return Err((
                "dashboard.abandoned_red",
                "must not be below dashboard.abandoned_amber (red is the worse level)".into(),
            ));
        }
        if self.longest_wait_red.0 < self.longest_wait_amber.0 {
            return Err((
                "dashboard.longest_wait_red",
                "must not be shorter than dashboard.longest_wait_amber".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use super::*;

    #[test]
    fn offsets_in_hours_and_quarters() {
        assert_eq!(parse_utc_offset("+03:00"), Ok(3 * 3_600_000));
        assert_eq!(
            parse_utc_offset("-05:30"),
            Ok(-(5 * 3_600_000 + 30 * 60_000))
        );
        assert_eq!(parse_utc_offset("+00:00"), Ok(0));
        for bad in ["3", "+3:00", "+03:07", "+15:00", "UTC", ""] {
            assert!(parse_utc_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let err = Config::parse("[dashboard]\nutc_offset = \"MSK\"\n").unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Invalid {
                    key: "dashboard.utc_offset",
                    line: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = Config::parse("[dashboard]\nservice_level_amber = 70\nservice_level_red = 75\n")
            .unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Invalid {
                    key: "dashboard.service_level_red",
                    line: 3,
                    ..
                }
            ),
            "{err}"
        );
        let c = Config::parse("[dashboard]\nutc_offset = \"+03:00\"\n").unwrap();
        assert_eq!(c.dashboard.utc_offset_ms(), 10_800_000);
        assert_eq!(c.dashboard.thresholds_json()["service_level"]["amber"], 0.8);
    }
}
