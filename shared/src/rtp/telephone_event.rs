//! DTMF and other named telephone events carried in RTP (RFC 4733 §2.3).
//!
//! ```text
//! |     event     |E|R| volume    |          duration             |
//! ```
//! One event lasts several packets with the same RTP timestamp and a growing
//! duration; the last three carry the E bit. A receiver that wants one report
//! per key press keys on the timestamp.

use thiserror::Error;

/// The payload is not a telephone event.
#[derive(Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("telephone-event payload shorter than 4 bytes")]
pub struct TelephoneEventError;

/// One telephone-event payload block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D, 16 flash.
    pub event: u8,
    /// The E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level in −dBm0, 0–63 (higher is quieter).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event block of a payload; redundant blocks after it
    /// (RFC 4733 §2.5.1.3) are ignored.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, TelephoneEventError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(TelephoneEventError);
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload (R bit clear, volume clamped to 63).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        let end = if self.end { 0x80 } else { 0 };
        [self.event, end | self.volume.min(63), d[0], d[1]]
    }

    /// The key this event stands for, when it is a DTMF key.
    pub fn digit(&self) -> Option<char> {
        Some(match self.event {
            0..=9 => char::from(b'0' + self.event),
            10 => '*',
            11 => '#',
            12..=15 => char::from(b'A' + self.event - 12),
            _ => return None,
        })
    }

    /// The event code of a DTMF key (`0`–`9`, `*`, `#`, `A`–`D`, either case).
    pub fn code_of(digit: char) -> Option<u8> {
        Some(match digit {
            '0'..='9' => digit as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => digit as u8 - b'A' + 12,
            'a'..='d' => digit as u8 - b'a' + 12,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_example_end_packet() {
        // Digit 1, end, volume 10 (-10 dBm0), 1760 units (220 ms at 8 kHz).
        let e = TelephoneEvent::parse(&[1, 0x8a, 0x06, 0xe0]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 1,
                end: true,
                volume: 10,
                duration: 1760
            }
        );
        assert_eq!(e.digit(), Some('1'));
        assert_eq!(e.to_bytes(), [1, 0x8a, 0x06, 0xe0]);
    }

    #[test]
    fn reserved_bit_is_ignored_and_short_payloads_fail() {
        let e = TelephoneEvent::parse(&[11, 0x40 | 5, 0, 160, 9, 9]).unwrap();
        assert!(!e.end);
        assert_eq!(e.volume, 5);
        assert_eq!(e.digit(), Some('#'));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(TelephoneEventError));
        assert_eq!(TelephoneEvent::parse(&[]), Err(TelephoneEventError));
    }

    #[test]
    fn every_key_maps_both_ways() {
        for key in "0123456789*#ABCD".chars() {
            let code = TelephoneEvent::code_of(key).unwrap();
            let e = TelephoneEvent {
                event: code,
                end: false,
                volume: 63,
                duration: 0,
            };
            assert_eq!(e.digit(), Some(key));
            assert_eq!(TelephoneEvent::parse(&e.to_bytes()).unwrap(), e);
        }
        assert_eq!(TelephoneEvent::code_of('b'), Some(13));
        assert_eq!(TelephoneEvent::code_of('x'), None);
        let flash = TelephoneEvent::parse(&[16, 0, 0, 0]).unwrap();
        assert_eq!(flash.digit(), None);
    }
}
