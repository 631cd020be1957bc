//! The SDP data model: a session, its media sections and their attributes.
//!
//! The lines the B2BUA acts on (`o=`, `c=`, `m=`, `a=rtpmap`, `a=fmtp`,
//! direction, `a=ptime`, `a=rtcp`) are typed; every other line and attribute
//! is kept as written, so a description that is parsed, changed and written
//! again loses nothing the server did not mean to change.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A whole session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    /// `o=`: who made this description and which version of it this is.
    pub origin: Origin,
    /// `s=`; `-` when there is nothing to say.
    pub session_name: String,
    /// The session-level `c=`, the default for media sections without one.
    pub connection: Option<Connection>,
    /// Session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Other session-level lines (`i= u= e= p= b= t= r= z= k=` and unknown
    /// letters), in order. Parsing adds `t=0 0` when there is no `t=`, and so
    /// does the writer.
    pub lines: Vec<Line>,
    /// The `m=` sections, in order (their index is their identity in offer/answer).
    pub media: Vec<Media>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `-` when the sender has no user name to give.
    pub username: String,
    /// A numeric string, constant for the life of the session.
    pub session_id: String,
    /// Grows by at least one with every change to the description (RFC 3264 §8).
    pub session_version: u64,
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The originator's address or host name.
    pub address: String,
}

impl Origin {
    /// The origin the server writes: `- <session_id> <version> IN IP4|IP6 <addr>`.
    pub fn ours(session_id: u64, session_version: u64, addr: IpAddr) -> Origin {
        Origin {
            username: "-".to_owned(),
            session_id: session_id.to_string(),
            session_version,
            net_type: "IN".to_owned(),
            addr_type: addr_type(addr).to_owned(),
            address: addr.to_string(),
        }
    }
}

/// `c=<nettype> <addrtype> <connection-address>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written, with any multicast `/ttl/count` suffix.
    pub address: String,
}

impl Connection {
    /// `IN IP4 <ip>` or `IN IP6 <ip>`.
    pub fn new(ip: IpAddr) -> Connection {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type(ip).to_owned(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, when it is one (not a host name).
    pub fn ip(&self) -> Option<IpAddr> {
        let bare = self.address.split('/').next().unwrap_or_default();
        bare.parse().ok()
    }

    /// `0.0.0.0` (or `::`): the pre-RFC 3264 way of saying "hold" (RFC 2543).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// `IP4` or `IP6` for an address.
pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// One `m=` section with the lines that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `application`, …
    pub kind: String,
    /// The transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix, when written.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, …
    pub proto: String,
    /// The format list; for RTP these are payload type numbers, most preferred first.
    pub formats: Vec<String>,
    /// The media-level `c=`, overriding the session's.
    pub connection: Option<Connection>,
    /// Media-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Other media-level lines (`i= b= k=`, further `c=`, unknown), in order.
    pub lines: Vec<Line>,
}

impl Media {
    /// The direction attribute written in this section, if any.
    pub fn direction_attr(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// Replaces any direction attribute with `direction`.
    pub fn set_direction(&mut self, direction: Direction) {
        self.attributes
            .retain(|a| !matches!(a, Attribute::Direction(_)));
        self.attributes.push(Attribute::Direction(direction));
    }

    /// `a=ptime`, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=rtcp` (RFC 3605): where the peer wants RTCP when not port + 1.
    pub fn rtcp(&self) -> Option<&Rtcp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r),
            _ => None,
        })
    }

    /// Whether this is plain RTP the relay can carry: `RTP/AVP` or `RTP/AVPF`.
    pub fn is_plain_rtp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/AVP") || self.proto.eq_ignore_ascii_case("RTP/AVPF")
    }
}

/// The first direction attribute in a list.
pub(crate) fn direction_in(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

/// A line other than `v= o= s= c= m= a=`, kept as written: `kind=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The type letter (`b`, `t`, `i`, …).
    pub kind: char,
    /// Everything after the `=`.
    pub value: String,
}

/// One `a=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
    Rtpmap(Rtpmap),
    /// `a=fmtp:<pt> <parameters>`.
    Fmtp {
        /// The payload type the parameters apply to.
        pt: u8,
        /// The parameters, as written (`0-16`, `useinbandfec=1`, …).
        params: String,
    },
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly` or `a=inactive`.
    Direction(Direction),
    /// `a=ptime:<milliseconds>`.
    Ptime(u32),
    /// `a=rtcp:<port> [<nettype> <addrtype> <address>]`.
    Rtcp(Rtcp),
    /// Anything else (`a=<name>` or `a=<name>:<value>`), and typed attributes
    /// whose value did not parse, kept as written.
    Other {
        /// The attribute name.
        name: String,
        /// The value after the first `:`, if there was one.
        value: Option<String>,
    },
}

impl Attribute {
    /// The attribute's name (`rtpmap`, `sendonly`, `ice-ufrag`, …).
    pub fn name(&self) -> &str {
        match self {
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp { .. } => "fmtp",
            Attribute::Direction(d) => d.as_str(),
            Attribute::Ptime(_) => "ptime",
            Attribute::Rtcp(_) => "rtcp",
            Attribute::Other { name, .. } => name,
        }
    }
}

/// `a=rtpmap` (RFC 8866 §6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtpmap {
    /// The payload type number.
    pub pt: u8,
    /// The encoding name as written (`PCMU`, `opus`, `telephone-event`).
    pub encoding: String,
    /// Samples per second of the RTP clock.
    pub clock_rate: u32,
    /// The channel count, when written.
    pub channels: Option<u16>,
}

/// `a=rtcp` (RFC 3605).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the media's.
    pub connection: Option<Connection>,
}

/// Which way media flows, seen from the side that wrote the description
/// (RFC 3264 §5.1). Absent means `sendrecv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// The writer sends only: it is putting the other side on hold.
    SendOnly,
    /// The writer receives only.
    RecvOnly,
    /// Neither way.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Reads an attribute name.
    pub fn parse(name: &str) -> Option<Direction> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The direction from two flags.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same flow seen from the other end (`sendonly` ↔ `recvonly`).
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What an answerer who wants `self` may answer to an offer of `offered`
    /// (RFC 3264 §6.1): it can only send if the offerer receives, and only
    /// receive if the offerer sends.
    pub fn answer_to(self, offered: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && offered.receives(),
            self.receives() && offered.sends(),
        )
    }
}

impl Sdp {
    /// The audio section the relay anchors: the first `m=audio` with a
    /// non-zero port, or failing that the first `m=audio` at all.
    pub fn audio(&self) -> Option<&Media> {
        self.audio_index().map(|i| &self.media[i])
    }

    /// Mutable access to the section [`Sdp::audio`] returns.
    pub fn audio_mut(&mut self) -> Option<&mut Media> {
        self.audio_index().map(|i| &mut self.media[i])
    }

    /// The index of the section [`Sdp::audio`] returns.
    pub fn audio_index(&self) -> Option<usize> {
        let is_audio = |m: &Media| m.kind.eq_ignore_ascii_case("audio");
        self.media
            .iter()
            .position(|m| is_audio(m) && m.port != 0)
            .or_else(|| self.media.iter().position(is_audio))
    }

    /// The connection that applies to a section: its own, else the session's.
    pub fn connection_of<'a>(&'a self, media: &'a Media) -> Option<&'a Connection> {
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// Where the writer wants to receive audio RTP: the audio `c=` address and
    /// the `m=` port. `None` when there is no audio, the port is 0, the
    /// address is a host name, or it is `0.0.0.0` (hold).
    pub fn remote_rtp(&self) -> Option<SocketAddr> {
        let media = self.audio()?;
        let ip = self.connection_of(media)?.ip()?;
        (media.port != 0 && !ip.is_unspecified()).then(|| SocketAddr::new(ip, media.port))
    }

    /// The audio direction: the section's attribute, else the session's,
    /// else `sendrecv`.
    pub fn direction(&self) -> Direction {
        self.audio()
            .and_then(Media::direction_attr)
            .or_else(|| direction_in(&self.attributes))
            .unwrap_or_default()
    }

    /// Sets the audio direction on the audio section and drops any
    /// session-level direction, so the two cannot disagree.
    pub fn set_direction(&mut self, direction: Direction) {
        self.attributes
            .retain(|a| !matches!(a, Attribute::Direction(_)));
        if let Some(media) = self.audio_mut() {
            media.set_direction(direction);
        }
    }

    /// Whether this description puts the other side on hold: audio
    /// `sendonly` or `inactive`, or the RFC 2543 style `c=0.0.0.0`.
    pub fn is_hold(&self) -> bool {
        let zero_address = self
            .audio()
            .and_then(|m| self.connection_of(m))
            .is_some_and(Connection::is_unspecified);
        zero_address || matches!(self.direction(), Direction::SendOnly | Direction::Inactive)
    }
}

impl Default for Sdp {
    /// An empty description from `0.0.0.0`, to be filled in.
    fn default() -> Sdp {
        Sdp {
            origin: Origin::ours(0, 0, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            session_name: "-".to_owned(),
            connection: None,
            attributes: Vec::new(),
            lines: Vec::new(),
            media: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_direction_narrows_to_what_the_offer_allows() {
        use Direction::*;
        assert_eq!(SendRecv.answer_to(SendOnly), RecvOnly);
        assert_eq!(SendRecv.answer_to(RecvOnly), SendOnly);
        assert_eq!(SendRecv.answer_to(Inactive), Inactive);
        assert_eq!(SendRecv.answer_to(SendRecv), SendRecv);
        assert_eq!(RecvOnly.answer_to(SendRecv), RecvOnly);
        assert_eq!(SendOnly.answer_to(SendOnly), Inactive);
        for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
            assert_eq!(d.reversed().reversed(), d);
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn connection_ip_ignores_multicast_suffix_and_host_names() {
        let mut c = Connection::new("233.252.0.1".parse().unwrap());
        c.address.push_str("/127/3");
        assert_eq!(c.ip(), Some("233.252.0.1".parse().unwrap()));
        c.address = "media.example.com".to_owned();
        assert_eq!(c.ip(), None);
        assert!(Connection::new("::".parse().unwrap()).is_unspecified());
        assert_eq!(Connection::new("::1".parse().unwrap()).addr_type, "IP6");
    }
}
