//! Media anchoring: the RTP relay between the two legs of every call, the
//! ringback and music on hold the server plays, and the silence watch that
//! tells a dropped line from a quiet one.
//!
//! # Where it sits
//!
//! The call core (`calls/`) decides; this module moves packets. The core reads
//! each peer's SDP with `careline_shared::sdp`, creates a session here, gives
//! each leg our port instead of the peer's ([`Sdp::anchor`], [`answer`],
//! [`offer`]), and then tells the session where the peers are
//! ([`MediaEngine::set_remote`]), which codecs each leg uses
//! ([`MediaEngine::set_codecs`]) and what to do ([`MediaEngine::set_mode`]).
//! The engine reports back through one callback ([`MediaEvent`]).
//!
//! An inbound call, step by step:
//!
//! 1. INVITE from the caller with an offer: `create_session()`;
//!    `set_remote(id, A, offer.remote_rtp())`, `set_codecs(id, A, …)` with
//!    the offer's codecs; forward the offer to the agent after
//!    `offer.anchor(our_ip, port_b)`.
//! 2. While the agent rings: answer the caller early (183) with
//!    `answer(&offer, G.711, our_ip, port_a, …)` and
//!    `set_mode(id, Ringback { codec })` so the caller hears the ring.
//! 3. The agent's 200 OK with its answer: `set_remote(id, B, …)`,
//!    `set_codecs(id, B, …)`; answer the caller with the agent's codecs
//!    (`answer(&offer, &agent_codecs, our_ip, port_a, …)`), set leg A's codecs
//!    to that answer's, and `set_mode(id, Relay)`.
//! 4. Hold (a re-INVITE with `a=sendonly` from the agent, [`Sdp::is_hold`]):
//!    `set_mode(id, Hold { held: A, codec })`; resume: `Relay` again.
//! 5. BYE, CANCEL or a dropped line: `destroy(id)`.
//!
//! # Threads
//!
//! Media never shares a thread with SIP or with tokio: an engine runs
//! `workers` OS threads (default 1), each with a `mio` poll over the
//! non-blocking sockets of its sessions (sessions are spread by id). The API
//! binds sockets in the caller's thread and queues everything else to the
//! session's worker, waking its poll; nothing the API does waits on a worker.
//! The worker applies commands before reading sockets, so a packet sent after
//! `set_mode` returned is handled in the new mode (packets the WebRTC gateway
//! hands over in memory too). A packet between two sockets allocates
//! nothing: one buffer per worker, packets rewritten in place, counters are
//! relaxed atomics the API reads without asking the worker. A packet to or
//! from the gateway is one `Vec`, moved between the threads (`handoff`).
//!
//! # Ports
//!
//! Each leg takes an even port from the configured range and leaves the odd
//! one after it unbound, so a phone's RTCP (sent to port + 1) never lands on
//! another call's RTP socket. Ports are reused oldest-freed first. A socket
//! and its port lease are one value: dropped anywhere, the socket closes and
//! the port returns ([`MediaEngine::open_sockets`] counts what is open).
//!
//! # Latching (symmetric RTP)
//!
//! Agents' phones sit behind NAT and write private addresses into SDP. With
//! latching on, the first packet a leg receives fixes where that leg's media
//! is sent; from then on the leg accepts packets only from that source or
//! from its SDP address (which takes the latch back). A new SDP address
//! clears the latch. Everything else is dropped and counted as `rejected`.
//!
//! # Modes
//!
//! [`Mode::Idle`] counts and drops. [`Mode::Relay`] forwards A ↔ B without
//! transcoding, renumbering payload types when the legs numbered the same
//! codec differently, and passing multiplexed RTCP through untouched.
//! [`Mode::Ringback`] plays the ring (425 Hz, 1 s on, 4 s off, or a file) to
//! leg A, and [`Mode::Hold`] plays music to the held leg, both as 20 ms
//! PCMU/PCMA packets on one SSRC per session; nothing is relayed meanwhile.
//! Only in `Relay` does a leg silent for `rtp_timeout` raise
//! [`MediaEvent::Inactive`]; DTMF is reported in every mode.
//!
//! A browser's leg goes through the WebRTC gateway ([`webrtc`]: ICE, SRTP,
//! Opus ↔ G.711), which stands in for the browser on the session's leg and
//! passes plain RTP to it in memory (`handoff`); the session treats it as
//! any peer. Not here yet: RTCP on the odd ports.
//!
//! [`Sdp::anchor`]: careline_shared::sdp::Sdp::anchor
//! [`Sdp::is_hold`]: careline_shared::sdp::Sdp::is_hold
//! [`answer`]: careline_shared::sdp::answer
//! [`offer`]: careline_shared::sdp::offer

mod audio_file;
mod config;
mod engine;
mod handoff;
mod ports;
mod session;
mod stats;
mod tones;
pub mod transcode;
pub mod webrtc;
mod webrtc_io;
mod worker;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod webrtc_tests;

/// The maps looked up for every packet: a fast hasher, seeded per process
/// (the gateway's sources are chosen by whoever sends to its public port).
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use config::MediaConfig;
pub use engine::{Leg, MediaEngine, MediaError, MediaEvent, Mode, SessionHandle, SessionId};
pub use stats::{LegStats, Stats};
pub use webrtc_io::WebRtcGateway;
