//! The media engine's typed configuration. The TOML side (a `[media]` section)
//! belongs to `config.rs`, which converts into this.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::MediaError;

/// How the media engine binds, times out and plays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaConfig {
    /// Where RTP sockets are bound (default `0.0.0.0`). The address written
    /// into SDP is the call core's business (it may be a public address).
    pub bind_ip: IpAddr,
    /// The UDP ports to use (default 20000–20999). Each leg takes an even port
    /// and keeps the odd one after it free for RTCP, so the range holds
    /// `len / 4` sessions (250 by default).
    pub ports: RangeInclusive<u16>,
    /// A leg that receives nothing this long while relaying is reported
    /// [`MediaEvent::Inactive`](super::MediaEvent::Inactive) (default 10 s).
    pub rtp_timeout: Duration,
    /// Symmetric RTP: send each leg's media back to where its packets come
    /// from, for phones behind NAT (default on).
    pub latching: bool,
    /// Worker threads; sessions are spread over them (default 1).
    pub workers: usize,
    /// Ringback instead of the generated 425 Hz ring: a `.wav` (8 kHz, 16-bit
    /// PCM, μ-law or A-law, mono or stereo), `.raw`/`.sln` (16-bit little-endian
    /// 8 kHz mono), `.ul` (μ-law) or `.al` (A-law) file, played in a loop.
    pub ringback_file: Option<PathBuf>,
    /// Music on hold instead of the generated chime, same formats.
    pub hold_file: Option<PathBuf>,
    /// What a caller hears when their agent's line breaks off, before the
    /// hang-up (a recorded apology), instead of the generated tones.
    pub dropped_file: Option<PathBuf>,
}

impl Default for MediaConfig {
    fn default() -> MediaConfig {
        MediaConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ports: 20000..=20999,
            rtp_timeout: Duration::from_secs(10),
            latching: true,
            workers: 1,
            ringback_file: None,
            hold_file: None,
            dropped_file: None,
        }
    }
}

impl MediaConfig {
    /// Refuses settings the engine cannot run with.
    pub fn validate(&self) -> Result<(), MediaError> {
        let (first, last) = (*self.ports.start(), *self.ports.end());
        // The range must hold at least one even port with its odd partner.
        if last < first || last - first < 1 || (first % 2 == 1 && last - first < 2) {
            return Err(MediaError::Config("ports must hold an even/odd pair"));
        }
        if self.workers == 0 {
            return Err(MediaError::Config("workers must be at least 1"));
        }
        if self.rtp_timeout.is_zero() {
            return Err(MediaError::Config("rtp_timeout must be above zero"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(MediaConfig::default().validate(), Ok(()));
        let bad = |c: MediaConfig| c.validate().unwrap_err();
        let base = MediaConfig::default;
        assert!(matches!(
            bad(MediaConfig {
                ports: 20001..=20002,
                ..base()
            }),
            MediaError::Config(_)
        ));
        assert!(matches!(
            bad(MediaConfig {
                ports: 20000..=20000,
                ..base()
            }),
            MediaError::Config(_)
        ));
        assert!(matches!(
            bad(MediaConfig {
                workers: 0,
                ..base()
            }),
            MediaError::Config(_)
        ));
        assert!(matches!(
            bad(MediaConfig {
                rtp_timeout: Duration::ZERO,
                ..base()
            }),
            MediaError::Config(_)
        ));
        let two = MediaConfig {
            ports: 20001..=20003,
            ..base()
        };
        assert_eq!(two.validate(), Ok(()));
    }
}
