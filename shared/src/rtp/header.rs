//! The RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).
//!
//! ```text
//!  0                   1                   2                   3
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |                             SSRC                              |
//! |                        CSRC list (CC × 32 bits)               |
//! |   profile-defined (16)        |   length in 32-bit words (16) |  ← when X
//! |                        extension data                         |
//! |                        payload …      | padding … | pad count |  ← when P
//! ```

use thiserror::Error;

/// The fixed part of every RTP header, in bytes.
const FIXED_LEN: usize = 12;

/// Why bytes are not an RTP packet, or a packet does not fit.
#[derive(Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Fewer bytes than the header says there are.
    #[error("rtp packet too short")]
    TooShort,
    /// The version field is not 2.
    #[error("rtp version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or longer than the payload.
    #[error("rtp padding count does not fit the packet")]
    BadPadding,
    /// More than 15 CSRCs, an extension longer than 65535 words or not a
    /// whole number of words, or padding of zero bytes requested.
    #[error("rtp header fields out of range")]
    OutOfRange,
    /// The output buffer is smaller than the packet.
    #[error("rtp output buffer too small")]
    BufferTooSmall,
}

/// A received RTP packet, read in place: every accessor reads the borrowed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    /// Where the payload starts (after CSRCs and extension).
    payload_start: usize,
    /// Where the payload ends (before padding).
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks the lengths the header announces against the bytes, so the
    /// accessors below cannot read out of bounds.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < FIXED_LEN {
            return Err(RtpError::TooShort);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut start = FIXED_LEN + 4 * csrc_count;
        if buf.len() < start {
            return Err(RtpError::TooShort);
        }
        if buf[0] & 0x10 != 0 {
            if buf.len() < start + 4 {
                return Err(RtpError::TooShort);
            }
            let words = usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]));
            start += 4 + 4 * words;
            if buf.len() < start {
                return Err(RtpError::TooShort);
            }
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            // The last byte counts the padding, itself included (§5.1).
            let pad = usize::from(buf[end - 1]);
            if pad == 0 || pad > end - start {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            buf,
            payload_start: start,
            payload_end: end,
        })
    }

    /// The marker bit (first packet of a talkspurt, end of a video frame).
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The payload type, 0–127.
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The media timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// Whether the P bit is set.
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let count = usize::from(self.buf[0] & 0x0f);
        self.buf[FIXED_LEN..FIXED_LEN + 4 * count]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension, when the X bit is set.
    pub fn extension(&self) -> Option<HeaderExtension<'a>> {
        if self.buf[0] & 0x10 == 0 {
            return None;
        }
        let at = FIXED_LEN + 4 * usize::from(self.buf[0] & 0x0f);
        Some(HeaderExtension {
            profile: u16::from_be_bytes([self.buf[at], self.buf[at + 1]]),
            data: &self.buf[at + 4..self.payload_start],
        })
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_start..self.payload_end]
    }

    /// Header length in bytes (fixed part, CSRCs and extension).
    pub fn header_len(&self) -> usize {
        self.payload_start
    }

    /// The header as an owned value, to change and write again.
    pub fn header(&self) -> RtpHeader<'a> {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence: self.sequence(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
            csrc: self.buf[FIXED_LEN..FIXED_LEN + 4 * usize::from(self.buf[0] & 0x0f)].into(),
            extension: self.extension(),
            padding: (self.buf.len() - self.payload_end) as u8,
        }
    }
}

/// An RTP header extension (RFC 3550 §5.3.1): a profile-defined number and
/// data that is a whole number of 32-bit words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// The 16 profile-defined bits (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// An RTP header to write. CSRCs are kept as their wire bytes so a header read
/// from a packet can be written back without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    /// The marker bit.
    pub marker: bool,
    /// The payload type, 0–127 (higher bits are ignored).
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// The CSRC list as big-endian bytes, 4 per source, at most 15 sources.
    pub csrc: std::borrow::Cow<'a, [u8]>,
    /// The header extension, if any.
    pub extension: Option<HeaderExtension<'a>>,
    /// Padding bytes to append after the payload (0 = none, P bit clear).
    pub padding: u8,
}

impl<'a> RtpHeader<'a> {
    /// A header with no CSRCs, extension or padding: what a sender of one
    /// stream (ringback, music on hold) writes.
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> RtpHeader<'a> {
        RtpHeader {
            marker: false,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrc: std::borrow::Cow::Borrowed(&[]),
            extension: None,
            padding: 0,
        }
    }

    /// The length of the header alone.
    pub fn len(&self) -> usize {
        FIXED_LEN + self.csrc.len() + self.extension.map_or(0, |e| 4 + e.data.len())
    }

    /// Always false: a header has at least its 12 fixed bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes header, payload and padding into `out`; returns the packet length.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let csrc_count = self.csrc.len() / 4;
        if self.csrc.len() & 3 != 0 || csrc_count > 15 {
            return Err(RtpError::OutOfRange);
        }
        let bad_extension = |e: HeaderExtension<'_>| {
            e.data.len() & 3 != 0 || e.data.len() / 4 > usize::from(u16::MAX)
        };
        if self.extension.is_some_and(bad_extension) {
            return Err(RtpError::OutOfRange);
        }
        let total = self.len() + payload.len() + usize::from(self.padding);
        if out.len() < total {
            return Err(RtpError::BufferTooSmall);
        }
        out[0] = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | csrc_count as u8;
        out[1] = if self.marker { 0x80 } else { 0 } | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_LEN;
        out[at..at + self.csrc.len()].copy_from_slice(&self.csrc);
        at += self.csrc.len();
        if let Some(ext) = self.extension {
            out[at..at + 2].copy_from_slice(&ext.profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            out[at + 4..at + 4 + ext.data.len()].copy_from_slice(ext.data);
            at += 4 + ext.data.len();
        }
        out[at..at + payload.len()].copy_from_slice(payload);
        at += payload.len();
        if self.padding > 0 {
            out[at..at + usize::from(self.padding) - 1].fill(0);
            at += usize::from(self.padding);
            out[at - 1] = self.padding;
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_pcmu_packet() {
        let mut pkt = vec![
            0x80, 0x80, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
        ];
        pkt.extend_from_slice(&[0xff; 160]);
        let p = RtpPacket::parse(&pkt).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 320);
        assert_eq!(p.ssrc(), 0xdead_beef);
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.extension(), None);
    }

    #[test]
    fn full_header_round_trips() {
        let csrc = [0, 0, 0, 1, 0, 0, 0, 2];
        let ext = [1, 2, 3, 4, 5, 6, 7, 8];
        let header = RtpHeader {
            marker: true,
            payload_type: 101,
            sequence: 65535,
            timestamp: u32::MAX,
            ssrc: 7,
            csrc: csrc[..].into(),
            extension: Some(HeaderExtension {
                profile: 0xbede,
                data: &ext,
            }),
            padding: 3,
        };
        let mut out = [0u8; 64];
        let n = header.write(b"abcd", &mut out).unwrap();
        assert_eq!(n, 12 + 8 + 4 + 8 + 4 + 3);
        let p = RtpPacket::parse(&out[..n]).unwrap();
        assert_eq!(p.payload(), b"abcd");
        assert!(p.has_padding());
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.header(), header);
    }

    #[test]
    fn new_header_writes_the_fixed_twelve_bytes() {
        let mut out = [0u8; 20];
        let n = RtpHeader::new(8, 1, 160, 0x0102_0304)
            .write(&[0xd5; 8], &mut out)
            .unwrap();
        assert_eq!(n, 20);
        assert_eq!(&out[..12], &[0x80, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4]);
    }

    #[test]
    fn rejects_what_does_not_fit() {
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::TooShort));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        // Two CSRCs announced, one present.
        let mut p = [0u8; 16];
        p[0] = 0x82;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::TooShort));
        // Extension announcing 10 words with none there.
        let mut p = [0u8; 16];
        p[0] = 0x90;
        p[15] = 10;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::TooShort));
        // Padding longer than the payload, and a zero padding count.
        let mut p = [0u8; 14];
        p[0] = 0xa0;
        p[13] = 5;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::BadPadding));
        p[13] = 0;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::BadPadding));
        let mut out = [0u8; 12];
        assert_eq!(
            RtpHeader::new(0, 0, 0, 0).write(b"x", &mut out),
            Err(RtpError::BufferTooSmall)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic generator; every length and first byte is tried.
        let mut x: u32 = 1;
        for len in 0..64 {
            for first in 0..=255u8 {
                let mut buf = vec![0u8; len];
                for b in buf.iter_mut() {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    *b = (x >> 16) as u8;
                }
                if let Some(b) = buf.first_mut() {
                    *b = first;
                }
                if let Ok(p) = RtpPacket::parse(&buf) {
                    let h = p.header();
                    let mut out = vec![0u8; 128];
                    let n = h.write(p.payload(), &mut out).unwrap();
                    assert_eq!(RtpPacket::parse(&out[..n]).unwrap().payload(), p.payload());
                }
            }
        }
    }
}
