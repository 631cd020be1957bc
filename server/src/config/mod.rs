//! The configuration file: TOML into typed structs with documented defaults.
//!
//! Every key has a default, so an empty file is a working single-node setup on
//! loopback. Errors name the key and the line (`check-config` prints them).
//! Secrets may come from the environment instead of the file:
//! `CARELINE_DATABASE_URL` overrides `[database] url`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use careline_shared::sip::DigestAlgorithm;
use serde::Deserialize;

mod callbacks;
mod dashboard;
mod summary;
mod trunks;
mod values;
pub use callbacks::CallbacksConfig;
pub use dashboard::DashboardConfig;
pub use trunks::{TrunkConfig, digits as trunk_digits};
pub use values::{Algorithm, Dur, Listen, Transport};

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[sip]`
    pub sip: SipConfig,
    /// `[registrar]`
    pub registrar: RegistrarConfig,
    /// `[users]`
    pub users: UsersConfig,
    /// `[http]`
    pub http: HttpConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[media]`
    pub media: MediaSection,
    /// `[patients]`
    pub patients: PatientsConfig,
    /// `[calls]`
    pub calls: CallsConfig,
    /// `[dashboard]`
    pub dashboard: DashboardConfig,
    /// `[callbacks]`
    pub callbacks: CallbacksConfig,
    /// `[teleconsult]`
    pub teleconsult: TeleconsultConfig,
    /// `[scripts]`
    pub scripts: ScriptsConfig,
    /// `[[queues]]`: where patients' calls land and who answers them.
    pub queues: Vec<QueueConfig>,
    /// `[[trunks]]`: how patients' numbers are reached.
    pub trunks: Vec<TrunkConfig>,
    /// SHA-256 (hex) of the configuration text as read (before environment
    /// overrides): a change between runs is recorded in the audit trail.
    #[serde(skip)]
    pub fingerprint: String,
}

/// `[media]`: the RTP ports calls are anchored on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// Where RTP sockets are bound (default 127.0.0.1).
    pub bind_ip: std::net::IpAddr,
    /// The address written into SDP, when phones must reach another one
    /// (a static NAT mapping); default `bind_ip` (or the SIP address when
    /// `bind_ip` is 0.0.0.0).
    pub public_ip: Option<std::net::IpAddr>,
    /// First RTP port (default 20000).
    pub port_min: u16,
    /// Last RTP port (default 20999); each call takes four.
    pub port_max: u16,
    /// A leg silent this long while talking is reported (default 10 s).
    pub rtp_timeout: Dur,
    /// Send media back where a phone's packets come from (NAT; default on).
    pub latching: bool,
    /// Relay threads; calls are spread over them (default 1).
    pub workers: usize,
    /// Ringback played to waiting callers instead of the generated 425 Hz
    /// ring: .wav (8 kHz), .raw/.sln, .ul or .al.
    pub ringback_file: Option<std::path::PathBuf>,
    /// Music on hold, same formats.
    pub hold_file: Option<std::path::PathBuf>,
    /// Played to a caller whose agent's line broke off, before we hang up
    /// (a recorded "we will call you back"), same formats; by default
    /// three information tones.
    pub dropped_file: Option<std::path::PathBuf>,
    /// The UDP port of the WebRTC gateway, shared by every browser (default
    /// 21000, just past the RTP range; 0 picks a free one). Bound on `bind_ip`, announced at
    /// `public_ip` when set. Used only when `[sip] listen` has a `ws://`.
    pub webrtc_port: u16,
    /// Gateway threads, each on a port of its own from `webrtc_port` on
    /// (default 1; one per core for the most transcoded calls).
    pub webrtc_threads: usize,
    /// Give browsers Opus, transcoded to and from the caller's G.711,
    /// instead of relaying G.711 to them (default off). From a call's start
    /// and while the browser reports loss the caller's audio carries Opus's
    /// in-band FEC, better on a lossy Wi-Fi; it costs CPU per call (`bench/webrtc`).
    pub webrtc_opus: bool,
}

impl Default for MediaSection {
    fn default() -> Self {
        MediaSection {
            bind_ip: [127, 0, 0, 1].into(),
            public_ip: None,
            port_min: 20000,
            port_max: 20999,
            rtp_timeout: Dur(Duration::from_secs(10)),
            latching: true,
            workers: 1,
            ringback_file: None,
            hold_file: None,
            dropped_file: None,
            webrtc_port: 21000,
            webrtc_threads: 1,
            webrtc_opus: false,
        }
    }
}

impl MediaSection {
    /// The engine's configuration.
    pub fn engine_config(&self) -> crate::media::MediaConfig {
        crate::media::MediaConfig {
            bind_ip: self.bind_ip,
            ports: self.port_min..=self.port_max,
            rtp_timeout: self.rtp_timeout.0,
            latching: self.latching,
            workers: self.workers,
            ringback_file: self.ringback_file.clone(),
            hold_file: self.hold_file.clone(),
            dropped_file: self.dropped_file.clone(),
        }
    }
}

/// One `[[queues]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Its name (shown to supervisors).
    pub name: String,
    /// The number (or DID) that lands in it.
    pub number: String,
    /// Agent tier, by extension, tried first.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Senior tier, rung as well once the answer deadline passes.
    #[serde(default)]
    pub seniors: Vec<String>,
    /// One ring cycle (default 5 s).
    #[serde(default = "default_ring_cycle")]
    pub ring_cycle: Dur,
    /// Rings within which a call must be answered (default 3).
    #[serde(default = "default_rings")]
    pub rings_to_answer: u32,
    /// How long one agent rings before the next is tried (default two ring cycles).
    #[serde(default)]
    pub agent_ring_time: Option<Dur>,
    /// Wrap-up after each call (default 10 s).
    #[serde(default = "default_wrap_up")]
    pub wrap_up: Dur,
    /// Misses in a row that pause an agent (default 3).
    #[serde(default = "default_auto_pause")]
    pub auto_pause_after: u32,
    /// Longest wait before the call is ended (default 10 min).
    #[serde(default = "default_max_wait")]
    pub max_wait: Dur,
}

fn default_ring_cycle() -> Dur {
    Dur(Duration::from_secs(5))
}
fn default_rings() -> u32 {
    3
}
fn default_wrap_up() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_auto_pause() -> u32 {
    3
}
fn default_max_wait() -> Dur {
    Dur(Duration::from_secs(600))
}

impl QueueConfig {
    /// The ACD's view of this queue.
    pub fn settings(&self) -> crate::calls::acd::QueueSettings {
        crate::calls::acd::QueueSettings {
            name: self.name.clone(),
            number: self.number.clone(),
            agents: self.agents.clone(),
            seniors: self.seniors.clone(),
            ring_cycle: self.ring_cycle.0,
            rings_to_answer: self.rings_to_answer,
            agent_ring_time: self.agent_ring_time.map_or(self.ring_cycle.0 * 2, |d| d.0),
            wrap_up: self.wrap_up.0,
            auto_pause_after: self.auto_pause_after,
            max_wait: self.max_wait.0,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// sqlx URL; `sqlite://careline.db` (created when missing) by default.
    pub url: String,
    /// `full` (default): a commit is on disk before it counts; `normal`:
    /// a power cut may lose the last commits.
    pub durability: Durability,
}

/// `[database] durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Synced on every commit (group commit makes that one sync per batch).
    #[default]
    Full,
    /// Synced at checkpoints.
    Normal,
}

impl From<Durability> for crate::store::Durability {
    fn from(d: Durability) -> Self {
        match d {
            Durability::Full => crate::store::Durability::Full,
            Durability::Normal => crate::store::Durability::Normal,
        }
    }
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Listening sockets, `udp://HOST:PORT`, `tcp://HOST:PORT`,
    /// `ws://HOST:PORT` (SIP over WebSocket) or `wss://HOST:PORT` (the same
    /// over TLS, with `tls_cert` and `tls_key`).
    pub listen: Vec<Listen>,
    /// The certificate chain for `wss://` listeners (PEM).
    pub tls_cert: Option<std::path::PathBuf>,
    /// Its private key (PEM: PKCS #8, PKCS #1 or SEC 1).
    pub tls_key: Option<std::path::PathBuf>,
    /// The SIP domain; also the digest realm.
    pub domain: String,
    /// RFC 3261 T1 (round-trip estimate), default 500 ms.
    pub t1: Dur,
    /// RFC 3261 T2 (longest retransmit interval), default 4 s.
    pub t2: Dur,
    /// RFC 3261 T4 (how long a message lives in the network), default 5 s.
    pub t4: Dur,
    /// The `User-Agent`/`Server` header value.
    pub server_name: String,
}

/// `[registrar]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// Shorter registrations get 423 Interval Too Brief (default 60 s).
    pub min_expires: Dur,
    /// Longer ones are shortened to this (default 3600 s).
    pub max_expires: Dur,
    /// When the phone asks for none (default 3600 s).
    pub default_expires: Dur,
    /// Contacts one extension may register at once (default 10).
    pub max_contacts: usize,
    /// Failed digest attempts in a row, per extension and source or per
    /// source, before the source is locked out (default 5).
    pub lockout_after: u32,
    /// How long a lock-out lasts (default 300 s).
    pub lockout_time: Dur,
    /// How long a nonce is accepted before `stale=true` (default 300 s).
    pub nonce_ttl: Dur,
    /// Digest algorithms offered, most preferred first (RFC 8760); default MD5.
    pub algorithms: Vec<Algorithm>,
}

/// `[users]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsersConfig {
    /// Shortest password `user add` and `users import` accept (default 8).
    pub min_password_length: usize,
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the API, `/health` and `/metrics` listen (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// A bearer token for the operator routes under `/api` until staff
    /// logins arrive; best given as `CARELINE_API_TOKEN`. Without one those
    /// routes are closed.
    pub api_token: Option<String>,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `careline_server=debug` (default
    /// `info`; `RUST_LOG` overrides it).
    pub level: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://careline.db".into(),
            durability: Durability::Full,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: vec![
                Listen {
                    transport: Transport::Udp,
                    addr: ([127, 0, 0, 1], 5060).into(),
                },
                Listen {
                    transport: Transport::Tcp,
                    addr: ([127, 0, 0, 1], 5060).into(),
                },
            ],
            domain: "127.0.0.1".into(),
            t1: Dur(Duration::from_millis(500)),
            t2: Dur(Duration::from_secs(4)),
            t4: Dur(Duration::from_secs(5)),
            server_name: concat!("Careline/", env!("CARGO_PKG_VERSION")).into(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: Dur(Duration::from_secs(60)),
            max_expires: Dur(Duration::from_secs(3600)),
            default_expires: Dur(Duration::from_secs(3600)),
            max_contacts: 10,
            lockout_after: 5,
            lockout_time: Dur(Duration::from_secs(300)),
            nonce_ttl: Dur(Duration::from_secs(300)),
            // MD5 alone by default: phones that know only MD5 (baresip 1.0
            // among them) fail outright when a SHA-256 challenge is listed too.
            algorithms: vec![Algorithm(DigestAlgorithm::Md5)],
        }
    }
}

/// `[calls]`: how calls in progress are looked after.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// A caller on hold this long gets the agent a reminder, and again
    /// every as long after: the clinics' rule is to return to them every
    /// 30–40 s, so this must lie in that range.
    pub hold_reminder: Dur,
    /// An OPTIONS goes in each connected leg's dialog this often; a leg
    /// that answers 481 or 408, or not at all, has dropped (default 60 s;
    /// `0s` turns it off).
    pub keepalive: Dur,
    /// A caller whose agent's line broke off hears the dropped-line
    /// message (`[media] dropped_file`, or tones) this long before the
    /// hang-up (default 4 s; `0s` hangs up at once).
    pub dropped_announcement: Dur,
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            hold_reminder: Dur(Duration::from_secs(30)),
            keepalive: Dur(Duration::from_secs(60)),
            dropped_announcement: Dur(Duration::from_secs(4)),
        }
    }
}

/// `[scripts]`: what agents' screens prompt them to say.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptsConfig {
    /// The clinic's name, as the scripts say it (`{clinic}`).
    pub clinic: String,
    /// A TOML file of the clinic's own phrases, laid over the default set
    /// (see `api::scripts`).
    pub file: Option<std::path::PathBuf>,
}

impl Default for ScriptsConfig {
    fn default() -> Self {
        ScriptsConfig {
            clinic: "Careline clinic".into(),
            file: None,
        }
    }
}

impl ScriptsConfig {
    /// The scripts document: the default set, the file laid over it.
    pub fn document(&self) -> Result<serde_json::Value, String> {
        let doc = crate::api::scripts::default_document(&self.clinic);
        let Some(path) = &self.file else {
            return Ok(doc);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        crate::api::scripts::with_overrides(doc, &text)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// `[teleconsult]`: doctors' calls to patients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeleconsultConfig {
    /// A teleconsult whose appointment lacks the patient's informed consent
    /// or payment is `refuse`d (default) or goes ahead with a `warn`ing.
    pub missing_flags: String,
}

impl Default for TeleconsultConfig {
    fn default() -> Self {
        TeleconsultConfig {
            missing_flags: "refuse".into(),
        }
    }
}

/// `[patients]`: the patient directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatientsConfig {
    /// The country (ISO 3166 code) whose national formats phone numbers
    /// without a `+` are read in: with `RU`, `8 921 …` and `921 …` are
    /// `+7921…`.
    pub default_region: String,
}

impl Default for PatientsConfig {
    fn default() -> Self {
        PatientsConfig {
            default_region: "RU".into(),
        }
    }
}

impl Default for UsersConfig {
    fn default() -> Self {
        UsersConfig {
            min_password_length: 8,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: ([127, 0, 0, 1], 8080).into(),
            api_token: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

/// A configuration that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path given.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// TOML syntax or a value of the wrong type; the message names the line.
    #[error("{0}")]
    Syntax(String),
    /// A value that parsed but makes no sense.
    #[error("{key} (line {line}): {reason}")]
    Invalid {
        /// The dotted key, e.g. `registrar.min_expires`.
        key: &'static str,
        /// The line it is on (0 when it came from a default).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Config {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Config::parse(&text)
    }

    /// Parses and checks TOML text, then applies environment overrides.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax(e.to_string().trim_end().to_string()))?;
        config.check(text)?;
        config.fingerprint = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        };
        if let Ok(url) = std::env::var("CARELINE_DATABASE_URL") {
            config.database.url = url;
        }
        if let Ok(token) = std::env::var("CARELINE_API_TOKEN") {
            config.http.api_token = Some(token);
        }
        if config
            .http
            .api_token
            .as_deref()
            .is_some_and(|t| t.len() < 16)
        {
            return Err(ConfigError::Invalid {
                key: "http.api_token",
                line: line_of(text, "http.api_token"),
                reason: "use at least 16 characters".into(),
            });
        }
        Ok(config)
    }

    fn check(&self, text: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            key,
            line: line_of(text, key),
            reason,
        };
        let wss = self
            .sip
            .listen
            .iter()
            .any(|l| l.transport == Transport::Wss);
        if wss {
            for (key, path) in [
                ("sip.tls_cert", &self.sip.tls_cert),
                ("sip.tls_key", &self.sip.tls_key),
            ] {
                match path {
                    None => {
                        return Err(invalid(
                            key,
                            "a wss:// listener needs a certificate and its key (PEM files)".into(),
                        ));
                    }
                    Some(p) if !p.is_file() => {
                        return Err(invalid(
                            key,
                            format!("{} is not a readable file", p.display()),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let keepalive = self.calls.keepalive.0;
        if !keepalive.is_zero() && keepalive < Duration::from_secs(10) {
            return Err(invalid(
                "calls.keepalive",
                format!(
                    "{} is too often (10s or more, or 0s for none)",
                    self.calls.keepalive
                ),
            ));
        }
        let reminder = self.calls.hold_reminder.0;
        if reminder < Duration::from_secs(30) || reminder > Duration::from_secs(40) {
            return Err(invalid(
                "calls.hold_reminder",
                format!(
                    "{} is outside 30s–40s (return to a caller on hold every 30–40 s)",
                    self.calls.hold_reminder
                ),
            ));
        }
        self.dashboard
            .check()
            .map_err(|(key, reason)| invalid(key, reason))?;
        self.callbacks
            .check()
            .map_err(|(key, reason)| invalid(key, reason))?;
        let numbers: Vec<&str> = self.queues.iter().map(|q| q.number.as_str()).collect();
        trunks::check(&self.trunks, &numbers).map_err(|(key, reason)| invalid(key, reason))?;
        if !matches!(self.teleconsult.missing_flags.as_str(), "refuse" | "warn") {
            return Err(invalid(
                "teleconsult.missing_flags",
                format!("`{}` is not refuse or warn", self.teleconsult.missing_flags),
            ));
        }
        if let Err(reason) = self.scripts.document() {
            return Err(invalid("scripts.file", reason));
        }
        if let Err(reason) = crate::patients::PhoneNormalizer::new(&self.patients.default_region) {
            return Err(invalid("patients.default_region", reason));
        }
        let r = &self.registrar;
        if r.min_expires.0 > r.max_expires.0 {
            return Err(invalid(
                "registrar.min_expires",
                format!(
                    "{} is longer than registrar.max_expires ({})",
                    r.min_expires, r.max_expires
                ),
            ));
        }
        if r.default_expires.0 < r.min_expires.0 || r.default_expires.0 > r.max_expires.0 {
            return Err(invalid(
                "registrar.default_expires",
                "must lie between min_expires and max_expires".into(),
            ));
        }
        if r.lockout_after == 0 {
            return Err(invalid(
                "registrar.lockout_after",
                "must be at least 1".into(),
            ));
        }
        if r.algorithms.is_empty() {
            return Err(invalid(
                "registrar.algorithms",
                "offer at least one algorithm".into(),
            ));
        }
        if r.max_contacts == 0 {
            return Err(invalid(
                "registrar.max_contacts",
                "must be at least 1".into(),
            ));
        }
        if self.sip.listen.is_empty() {
            return Err(invalid(
                "sip.listen",
                "listen on at least one socket".into(),
            ));
        }
        if self.sip.domain.trim().is_empty() || self.sip.domain.contains(['"', ' ', '\\']) {
            return Err(invalid(
                "sip.domain",
                "must be a host name or address".into(),
            ));
        }
        if self.sip.t1.0.is_zero() || self.sip.t2.0 < self.sip.t1.0 {
            return Err(invalid(
                "sip.t2",
                "t1 must be positive and t2 at least t1".into(),
            ));
        }
        if self.media.port_max < self.media.port_min.saturating_add(3) {
            return Err(invalid(
                "media.port_max",
                "the RTP port range needs at least four ports (one call)".into(),
            ));
        }
        let browsers = self.sip.listen.iter().any(|l| l.transport.is_websocket());
        let threads = self.media.webrtc_threads;
        let most = crate::media::WebRtcGateway::MAX_THREADS;
        if !(1..=most).contains(&threads) {
            return Err(invalid("media.webrtc_threads", format!("use 1 to {most}")));
        }
        let (first, rtp) = (
            self.media.webrtc_port,
            self.media.port_min..=self.media.port_max,
        );
        let last = u32::from(first) + threads as u32 - 1;
        let overlaps = first <= *rtp.end() && last >= u32::from(*rtp.start());
        if browsers && first != 0 && (overlaps || last > 65535) {
            return Err(invalid(
                "media.webrtc_port",
                format!(
                    "the gateway's ports {first}-{last} must be below 65536 and outside the RTP port range {}-{}",
                    rtp.start(),
                    rtp.end()
                ),
            ));
        }
        if self.media.workers == 0 || self.media.workers > 64 {
            return Err(invalid("media.workers", "use 1 to 64 relay threads".into()));
        }
        if self.media.rtp_timeout.0.is_zero() {
            return Err(invalid("media.rtp_timeout", "must be above zero".into()));
        }
        let mut numbers = std::collections::HashSet::new();
        for q in &self.queues {
            let invalid_q = |key: &'static str, reason: String| ConfigError::Invalid {
                key,
                line: line_of_value(text, &q.name),
                reason: format!("queue {:?}: {reason}", q.name),
            };
            if q.number.is_empty()
                || !q
                    .number
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            {
                return Err(invalid_q(
                    "queues.number",
                    "the number must be digits (or a DID such as +74951234567)".into(),
                ));
            }
            if !numbers.insert(q.number.clone()) {
                return Err(invalid_q(
                    "queues.number",
                    format!("number {} is used by another queue", q.number),
                ));
            }
            if q.rings_to_answer == 0 || q.ring_cycle.0.is_zero() {
                return Err(invalid_q(
                    "queues.rings_to_answer",
                    "ring_cycle and rings_to_answer must be positive".into(),
                ));
            }
            if q.agents.is_empty() && q.seniors.is_empty() {
                return Err(invalid_q(
                    "queues.agents",
                    "list at least one agent or senior".into(),
                ));
            }
            if q.auto_pause_after == 0 {
                return Err(invalid_q(
                    "queues.auto_pause_after",
                    "must be at least 1".into(),
                ));
            }
        }
        if !self.database.url.starts_with("sqlite:") {
            return Err(invalid(
                "database.url",
                "only sqlite: URLs are supported by this build".into(),
            ));
        }
        Ok(())
    }
}

/// The line of `table.key` in the text (1-based), or 0 when not written.
fn line_of(text: &str, dotted: &str) -> usize {
    let (table, key) = dotted.split_once('.').unwrap_or(("", dotted));
    let mut in_table = table.is_empty();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_table = l.trim_matches(|c| c == '[' || c == ']').trim() == table;
            continue;
        }
        if in_table && l.split('=').next().is_some_and(|k| k.trim() == key) {
            return i + 1;
        }
    }
    0
}

/// The line where a quoted value first appears (1-based), or 0.
fn line_of_value(text: &str, value: &str) -> usize {
    let quoted = format!("\"{value}\"");
    text.lines()
        .position(|l| l.contains(&quoted))
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests;
