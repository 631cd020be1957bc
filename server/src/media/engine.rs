//! The media engine's public face: create a session, tell it where each leg's
//! peer is and what it should do, read its counters, destroy it.
//!
//! Every method takes `&self` and returns at once: sockets are bound in the
//! caller's thread (so port exhaustion is reported right away), everything
//! else is a command queued to the session's worker. The engine is `Sync`;
//! the runtime can share it behind an `Arc`.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use careline_shared::sdp::{Codec, CodecKind};
use thiserror::Error;

use super::MediaConfig;
use super::handoff::Handoff;
use super::ports::PortPool;
use super::stats::{SharedStats, Stats};
use super::tones::Prompts;
use super::worker::{Command, Shared, Wake, WorkerHandle};

/// A media session's id, unique for the engine's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// The two sides of an anchored call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller's side (trunk, patient's phone).
    A,
    /// The agent's side (the phone or softphone that answers).
    B,
}

impl Leg {
    /// The opposite leg.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// What [`MediaEngine::create_session`] gives back: the ports to write into
/// each leg's SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionHandle {
    /// The session's id, for every later call.
    pub id: SessionId,
    /// Our RTP port towards the caller (leg A).
    pub port_a: u16,
    /// Our RTP port towards the agent (leg B).
    pub port_b: u16,
}

impl SessionHandle {
    /// Our RTP port towards `leg`.
    pub fn port(&self, leg: Leg) -> u16 {
        match leg {
            Leg::A => self.port_a,
            Leg::B => self.port_b,
        }
    }
}

/// What a session does with media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Receive and count, send nothing (the state after creation).
    Idle,
    /// Relay A ↔ B unchanged except for payload type numbers that differ
    /// between the legs' codec lists; watch both legs for silence.
    Relay,
    /// Play ringback to leg A in `codec` (PCMU or PCMA, on the payload type
    /// leg A negotiated for it); nothing is relayed.
    Ringback {
        /// The caller's G.711 codec.
        codec: Codec,
    },
    /// Play music on hold to the `held` leg in `codec` (PCMU or PCMA);
    /// nothing is relayed and silence is not reported.
    Hold {
        /// The leg that hears the music.
        held: Leg,
        /// That leg's G.711 codec.
        codec: Codec,
    },
    /// Tell `leg` its other side is gone (the dropped-line message), in
    /// `codec`; nothing is relayed.
    Announce {
        /// The leg that hears it.
        leg: Leg,
        /// That leg's G.711 codec.
        codec: Codec,
    },
}

/// What the engine reports, from its worker threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// `leg` has sent nothing for `silent_for` (at least the configured
    /// `rtp_timeout`) while the session relays. Reported once per silence;
    /// the call core decides whether the line dropped.
    Inactive {
        /// The session.
        id: SessionId,
        /// The silent leg.
        leg: Leg,
        /// How long it has been silent.
        silent_for: Duration,
    },
    /// `leg` pressed a key (RFC 4733 telephone-event on the payload type in
    /// the leg's codec list), reported once per press, in every mode.
    Dtmf {
        /// The session.
        id: SessionId,
        /// The leg that pressed it.
        leg: Leg,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
}

/// Why the engine could not do what was asked.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// Every port in the configured range is in use.
    #[error("no free rtp port in the configured range")]
    NoFreePorts,
    /// A socket operation failed.
    #[error("rtp socket {op} failed: {kind}")]
    Io {
        /// The operation (`bind`, `poll`, …).
        op: &'static str,
        /// The OS error.
        kind: io::ErrorKind,
    },
    /// No session has this id (never created, or destroyed).
    #[error("unknown media session {0}")]
    UnknownSession(SessionId),
    /// Tones are generated in G.711 only.
    #[error("tones are played as PCMU or PCMA, not {0}")]
    ToneCodec(String),
    /// The worker thread is gone.
    #[error("media worker stopped")]
    Stopped,
    /// A ringback or hold file cannot be played.
    #[error("audio file {path} {reason}")]
    AudioFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration cannot work.
    #[error("media config: {0}")]
    Config(&'static str),
}

/// The RTP relay: owns the port range and the worker threads.
pub struct MediaEngine {
    bind_ip: IpAddr,
    shared: Arc<Shared>,
    pool: Arc<PortPool>,
    workers: Vec<WorkerHandle>,
    sessions: Mutex<HashMap<SessionId, Arc<SharedStats>>>,
    next_id: AtomicU64,
    epoch: Instant,
    /// Commands wait for [`MediaEngine::wake_deferred`] to wake their worker.
    deferred: AtomicBool,
}

impl MediaEngine {
    /// Loads the sounds, starts the workers. `on_event` runs on a worker
    /// thread and must not block: hand the event to a channel (a tokio
    /// `UnboundedSender::send` or a `std::sync::mpsc::Sender` both fit).
    pub fn start(
        config: MediaConfig,
        on_event: impl Fn(MediaEvent) + Send + Sync + 'static,
    ) -> Result<MediaEngine, MediaError> {
        config.validate()?;
        let shared = Arc::new(Shared {
            latching: config.latching,
            rtp_timeout: config.rtp_timeout,
            prompts: Prompts::load(&config)?,
            on_event: Box::new(on_event),
            handoff: Arc::default(),
        });
        let workers = (0..config.workers)
            .map(|i| WorkerHandle::spawn(i, Arc::clone(&shared)))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| MediaError::Io {
                op: "start worker",
                kind: e.kind(),
            })?;
        Ok(MediaEngine {
            bind_ip: config.bind_ip,
            shared,
            pool: PortPool::new(config.ports),
            workers,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            epoch: Instant::now(),
            deferred: AtomicBool::new(false),
        })
    }

    /// Binds two sockets (leg A, leg B) and starts a session in [`Mode::Idle`].
    pub fn create_session(&self) -> Result<SessionHandle, MediaError> {
        let a = self.pool.bind(self.bind_ip)?;
        let b = self.pool.bind(self.bind_ip)?;
        let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let handle = SessionHandle {
            id,
            port_a: a.port(),
            port_b: b.port(),
        };
        let stats = Arc::new(SharedStats::new(self.epoch));
        self.lock().insert(id, Arc::clone(&stats));
        let sent = self.worker(id).send(
            Command::Create {
                id,
                sockets: Box::new([a, b]),
                stats,
            },
            self.wake(),
        );
        if let Err(e) = sent {
            // The unsent command, sockets included, was dropped with the error.
            self.lock().remove(&id);
            return Err(e);
        }
        Ok(handle)
    }

    /// Where `leg`'s peer wants RTP, from its SDP ([`Sdp::remote_rtp`]).
    /// With latching, the leg may send elsewhere once the peer's packets
    /// arrive; a different address from the last one clears the latch.
    ///
    /// [`Sdp::remote_rtp`]: careline_shared::sdp::Sdp::remote_rtp
    pub fn set_remote(&self, id: SessionId, leg: Leg, addr: SocketAddr) -> Result<(), MediaError> {
        self.command(id, Command::SetRemote { id, leg, addr })
    }

    /// The codecs negotiated on `leg`, with that leg's payload type numbers:
    /// used to renumber relayed packets and to find DTMF.
    pub fn set_codecs(&self, id: SessionId, leg: Leg, codecs: &[Codec]) -> Result<(), MediaError> {
        let codecs = codecs.to_vec();
        self.command(id, Command::SetCodecs { id, leg, codecs })
    }

    /// Switches the session's mode; tones must be PCMU or PCMA.
    pub fn set_mode(&self, id: SessionId, mode: Mode) -> Result<(), MediaError> {
        let tone = match &mode {
            Mode::Ringback { codec } | Mode::Hold { codec, .. } | Mode::Announce { codec, .. } => {
                Some(codec)
            }
            Mode::Idle | Mode::Relay => None,
        };
        if let Some(codec) = tone.filter(|c| !matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma))
        {
            return Err(MediaError::ToneCodec(codec.name.to_string()));
        }
        self.command(id, Command::SetMode { id, mode })
    }

    /// The session's counters, or `None` for an unknown session.
    pub fn stats(&self, id: SessionId) -> Option<Stats> {
        self.lock().get(&id).map(|s| s.snapshot())
    }

    /// Ends the session; its sockets close and its ports return to the pool
    /// as soon as its worker gets the command. False if it did not exist.
    pub fn destroy(&self, id: SessionId) -> bool {
        if self.lock().remove(&id).is_none() {
            return false;
        }
        // A stopped worker has already closed everything it had.
        let _ = self.worker(id).send(Command::Destroy { id }, self.wake());
        true
    }

    /// Sessions created and not destroyed.
    pub fn session_count(&self) -> usize {
        self.lock().len()
    }

    /// RTP sockets currently open (two per live session once the workers
    /// have caught up).
    pub fn open_sockets(&self) -> usize {
        self.pool.open_sockets()
    }

    /// Leg ports that can be handed out now.
    pub fn free_ports(&self) -> usize {
        self.pool.free_ports()
    }

    /// The address the sockets are bound to.
    pub fn bind_ip(&self) -> IpAddr {
        self.bind_ip
    }

    /// Where the sessions and an attached WebRTC gateway hand packets over.
    pub(crate) fn handoff(&self) -> &Arc<Handoff> {
        &self.shared.handoff
    }

    /// Packets handed between the sessions and the WebRTC gateway in
    /// memory so far (both ways), and those dropped because the receiving
    /// thread had fallen [`MAILBOX_LIMIT`] packets behind.
    ///
    /// [`MAILBOX_LIMIT`]: super::handoff::MAILBOX_LIMIT
    pub fn handed_packets(&self) -> (u64, u64) {
        self.shared.handoff.counts()
    }

    fn command(&self, id: SessionId, command: Command) -> Result<(), MediaError> {
        if !self.lock().contains_key(&id) {
            return Err(MediaError::UnknownSession(id));
        }
        self.worker(id).send(command, self.wake())
    }

    /// From now on commands wake their worker only at [`wake_deferred`]:
    /// for a driver that issues a burst of commands per turn (the call
    /// core) and calls it at the end of every turn.
    ///
    /// [`wake_deferred`]: MediaEngine::wake_deferred
    pub fn defer_wakes(&self) {
        self.deferred.store(true, Ordering::Release);
    }

    /// Wakes each worker that has commands queued since the last call, once.
    pub fn wake_deferred(&self) {
        for worker in &self.workers {
            worker.wake_owed();
        }
    }

    /// Workers with commands waiting for [`MediaEngine::wake_deferred`].
    #[cfg(test)]
    pub(crate) fn wakes_owed(&self) -> usize {
        self.workers.iter().filter(|w| w.owes_wake()).count()
    }

    fn wake(&self) -> Wake {
        if self.deferred.load(Ordering::Acquire) {
            Wake::Later
        } else {
            Wake::Now
        }
    }

    fn worker(&self, id: SessionId) -> &WorkerHandle {
        &self.workers[(id.0 % self.workers.len() as u64) as usize]
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Arc<SharedStats>>> {
        // A map of counters cannot be left half-updated by a panic.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for MediaEngine {
    /// Stops and joins every worker; all sockets are closed when this returns.
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.stop();
        }
    }
}

impl fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaEngine")
            .field("bind_ip", &self.bind_ip)
            .field("sessions", &self.session_count())
            .field("open_sockets", &self.open_sockets())
            .finish()
    }
}
