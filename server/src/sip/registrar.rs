//! The registrar (RFC 3261 §10.3) with digest authentication (RFC 8760), sans-IO.
//!
//! `handle_register(now, request, source)` returns the response to send;
//! binding changes and security facts come out of `poll_event`, and expiry
//! is driven by `handle_timeout`/`poll_timeout`. An unknown extension is
//! treated exactly like a wrong password: same status, same headers, and the
//! same work (a digest is computed against a dummy HA1).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use careline_shared::sip::{
    CallId, Challenge, Contact, Credentials, DigestAlgorithm, HeaderName, Message, MessageWriter,
    NameAddr, StatusCode, Tag, Uri, response_to,
};

use super::digest::{Lockouts, NonceMint, NonceState, constant_time_eq};

/// Registrar settings (from `[registrar]` and `[sip] domain`).
#[derive(Debug, Clone)]
pub struct RegistrarSettings {
    /// The digest realm.
    pub realm: String,
    /// Shortest registration accepted.
    pub min_expires: Duration,
    /// Longest registration granted.
    pub max_expires: Duration,
    /// When the phone asks for none.
    pub default_expires: Duration,
    /// Contacts per extension.
    pub max_contacts: usize,
    /// Failures in a row before a lock-out.
    pub lockout_after: u32,
    /// Lock-out length.
    pub lockout_time: Duration,
    /// Nonce lifetime.
    pub nonce_ttl: Duration,
    /// Algorithms offered, preferred first.
    pub algorithms: Vec<DigestAlgorithm>,
}

/// The two HA1 values of one extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ha1 {
    /// MD5 HA1, lower-case hex.
    pub md5: String,
    /// SHA-256 HA1, lower-case hex.
    pub sha256: String,
}

impl Ha1 {
    fn get(&self, alg: DigestAlgorithm) -> &str {
        match alg {
            DigestAlgorithm::Md5 => &self.md5,
            DigestAlgorithm::Sha256 => &self.sha256,
        }
    }
}

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact as registered (its `expires` parameter removed).
    pub contact: NameAddr,
    /// The contact URI as text: the binding's identity.
    pub uri: String,
    /// When it lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER.
    pub call_id: CallId,
    /// CSeq of the REGISTER.
    pub cseq: u32,
    /// Where the REGISTER came from (the flow to reach the phone behind NAT).
    pub source: SocketAddr,
    /// `udp`, `tcp` or `ws`.
    pub transport: &'static str,
    /// The phone's User-Agent, if it sent one.
    pub user_agent: Option<String>,
}

/// Why a binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnbindReason {
    /// The phone unregistered (expires=0 or `*`).
    Unregistered,
    /// It was not refreshed in time.
    Expired,
    /// Pushed out by a newer contact over `max_contacts`.
    Replaced,
    /// Its WebSocket closed: the phone cannot be reached any more.
    FlowClosed,
}

/// Facts the registrar reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// A contact was bound or refreshed.
    Bound {
        /// The extension.
        extension: String,
        /// The binding as it now stands.
        binding: Binding,
        /// Whether it existed before.
        refreshed: bool,
    },
    /// A contact went away.
    Unbound {
        /// The extension.
        extension: String,
        /// The contact URI.
        uri: String,
        /// Why.
        reason: UnbindReason,
    },
    /// A digest did not verify (wrong password or unknown extension: the
    /// registrar does not tell them apart, here either).
    AuthFailed {
        /// The user name the phone claimed.
        claimed: String,
        /// Where from.
        source: IpAddr,
    },
    /// A source was locked out.
    LockedOut {
        /// The address.
        source: IpAddr,
        /// Until when.
        until: Instant,
    },
}

/// The registrar.
pub struct Registrar {
    settings: RegistrarSettings,
    credentials: HashMap<String, Ha1>,
    dummy: Ha1,
    bindings: HashMap<String, Vec<Binding>>,
    /// One entry per live binding, by expiry: the next to lapse is first.
    expiry: BTreeSet<(Instant, String, String)>,
    mint: NonceMint,
    lockouts: Lockouts,
    events: VecDeque<RegistrarEvent>,
    tags: u64,
}

/// What `handle_register` decided, for the caller's log and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// The status sent.
    pub status: StatusCode,
    /// The response bytes.
    pub response: Bytes,
}

impl Registrar {
    /// A registrar with a secret `key` (for nonces) and a clock origin.
    pub fn new(settings: RegistrarSettings, key: [u8; 32], now: Instant) -> Registrar {
        let dummy_secret = key.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let dummy = Ha1 {
            md5: DigestAlgorithm::Md5.ha1("nobody", &settings.realm, &dummy_secret),
            sha256: DigestAlgorithm::Sha256.ha1("nobody", &settings.realm, &dummy_secret),
        };
        Registrar {
            lockouts: Lockouts::new(settings.lockout_after, settings.lockout_time),
            settings,
            credentials: HashMap::new(),
            dummy,
            bindings: HashMap::new(),
            expiry: BTreeSet::new(),
            mint: NonceMint::new(key, now),
            events: VecDeque::new(),
            tags: u64::from_le_bytes(key[..8].try_into().unwrap_or([0; 8])),
        }
    }

    /// Replaces the credential table (after a reload from the store).
    pub fn set_credentials(&mut self, credentials: HashMap<String, Ha1>) {
        self.credentials = credentials;
    }

    /// Restores a binding saved before a restart.
    pub fn restore(&mut self, extension: String, binding: Binding) {
        self.expiry
            .insert((binding.expires_at, extension.clone(), binding.uri.clone()));
        self.bindings.entry(extension).or_default().push(binding);
    }

    /// The live contacts of an extension.
    pub fn bindings(&self, extension: &str) -> &[Binding] {
        self.bindings.get(extension).map_or(&[], Vec::as_slice)
    }

    /// How many contacts are bound in all.
    pub fn binding_count(&self) -> usize {
        self.expiry.len()
    }

    /// The next fact to report.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    /// When the next binding lapses.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.first().map(|(t, _, _)| *t)
    }

    /// Removes bindings that have lapsed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.expiry.first().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, ext, uri)) = self.expiry.pop_first() else {
                break;
            };
            let Some(list) = self.bindings.get_mut(&ext) else {
                continue;
            };
            if let Some(i) = list.iter().position(|b| b.uri == uri) {
                list.remove(i);
                if list.is_empty() {
                    self.bindings.remove(&ext);
                }
                self.events.push_back(RegistrarEvent::Unbound {
                    extension: ext,
                    uri,
                    reason: UnbindReason::Expired,
                });
            }
        }
    }

    /// Removes the WebSocket bindings registered over the connection from
    /// `remote`, which has closed. UDP and TCP bindings stay: a phone on
    /// those can be reached on a new connection.
    pub fn remove_flow(&mut self, remote: SocketAddr) {
        let mut gone = Vec::new();
        for (ext, list) in &mut self.bindings {
            list.retain(|b| {
                let lost = (b.transport == "ws" || b.transport == "wss") && b.source == remote;
                if lost {
                    gone.push((ext.clone(), b.uri.clone(), b.expires_at));
                }
                !lost
            });
        }
        self.bindings.retain(|_, list| !list.is_empty());
        for (extension, uri, at) in gone {
            self.expiry.remove(&(at, extension.clone(), uri.clone()));
            self.events.push_back(RegistrarEvent::Unbound {
                extension,
                uri,
                reason: UnbindReason::FlowClosed,
            });
        }
    }

    fn next_tag(&mut self) -> Tag {
        self.tags = self
            .tags
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Tag::new(format!("{:016x}", self.tags))
    }

    fn reply(
        &mut self,
        req: &Message,
        status: StatusCode,
        add: impl FnOnce(&mut MessageWriter),
    ) -> RegisterOutcome {
        let tag = self.next_tag();
        let mut w = response_to(req, status, Some(&tag));
        add(&mut w);
        RegisterOutcome {
            status,
            response: w.finish(),
        }
    }

    fn challenge(&mut self, now: Instant, req: &Message, stale: bool) -> RegisterOutcome {
        let nonce = self.mint.mint(now);
        let challenges: Vec<Challenge> = self
            .settings
            .algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.settings.realm.clone(),
                nonce: nonce.clone(),
                algorithm,
                qop_auth: true,
                stale,
                opaque: None,
            })
            .collect();
        self.reply(req, StatusCode::UNAUTHORIZED, |w| {
            for c in challenges {
                w.header(&HeaderName::WwwAuthenticate, c);
            }
        })
    }

    /// Handles a REGISTER that passed the generic checks.
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Message,
        source: SocketAddr,
        transport: &'static str,
    ) -> RegisterOutcome {
        if self.lockouts.locked_until(now, source.ip()).is_some() {
            return self.reply(req, StatusCode::FORBIDDEN, |_| {});
        }
        let Some(creds) = self.our_credentials(req) else {
            return self.challenge(now, req, false);
        };
        let (Some(user), Some(nonce), Some(uri), Some(response)) = (
            creds.param("username"),
            creds.param("nonce"),
            creds.param("uri"),
            creds.param("response"),
        ) else {
            return self.reply(req, StatusCode::BAD_REQUEST, |w| {
                w.header_named("Warning", "399 careline \"incomplete digest credentials\"");
            });
        };
        let Some(algorithm) = creds
            .param("algorithm")
            .map_or(Some(DigestAlgorithm::Md5), DigestAlgorithm::from_name)
            .filter(|a| self.settings.algorithms.contains(a))
        else {
            return self.challenge(now, req, false);
        };
        let nonce_state = self.mint.check(now, nonce, self.settings.nonce_ttl);
        if nonce_state == NonceState::Invalid {
            return self.challenge(now, req, false);
        }
        let qop = match creds.param("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                match (creds.param("nc"), creds.param("cnonce")) {
                    (Some(nc), Some(cnonce)) => Some((nc, cnonce, q)),
                    _ => {
                        return self.reply(req, StatusCode::BAD_REQUEST, |w| {
                            w.header_named(
                                "Warning",
                                "399 careline \"qop=auth needs nc and cnonce\"",
                            );
                        });
                    }
                }
            }
            Some(_) => return self.challenge(now, req, false),
            None => None,
        };
        // Unknown extensions are checked against a dummy HA1: same work, same answer.
        let known = self.credentials.get(user);
        let ha1 = known.unwrap_or(&self.dummy).get(algorithm);
        let expected = algorithm.response(
            ha1,
            nonce,
            req.method().map_or("", |m| m.as_str()),
            uri,
            qop,
        );
        let ok = constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) && known.is_some();
        let user = user.to_string();
        if !ok {
            self.events.push_back(RegistrarEvent::AuthFailed {
                claimed: user.clone(),
                source: source.ip(),
            });
            if let Some(until) = self.lockouts.failure(now, source.ip(), &user) {
                self.events.push_back(RegistrarEvent::LockedOut {
                    source: source.ip(),
                    until,
                });
            }
            return self.challenge(now, req, false);
        }
        if nonce_state == NonceState::Stale {
            return self.challenge(now, req, true);
        }
        self.lockouts.success(source.ip(), &user);
        let aor_user = req
            .headers
            .to
            .as_ref()
            .and_then(|to| to.uri.as_sip())
            .and_then(|u| u.user.as_ref())
            .map(|u| u.to_string());
        if aor_user.as_deref() != Some(user.as_str()) {
            return self.reply(req, StatusCode::FORBIDDEN, |w| {
                w.header_named(
                    "Warning",
                    "399 careline \"credentials do not match the To user\"",
                );
            });
        }
        self.update_bindings(now, req, source, transport, user)
    }

    /// The Digest credentials for our realm, if the request carries them.
    fn our_credentials(&self, req: &Message) -> Option<Credentials> {
        req.headers
            .get_all(&HeaderName::Authorization)
            .filter_map(|h| Credentials::parse(&h.value_unfolded()))
            .find(|c| c.is_digest() && c.param("realm") == Some(self.settings.realm.as_str()))
    }

    fn update_bindings(
        &mut self,
        now: Instant,
        req: &Message,
        source: SocketAddr,
        transport: &'static str,
        extension: String,
    ) -> RegisterOutcome {
        let contacts = &req.headers.contact;
        let header_expires = req
            .headers
            .expires
            .map(|s| Duration::from_secs(u64::from(s)));
        if contacts.iter().any(|c| matches!(c, Contact::Star)) {
            if contacts.len() != 1 || header_expires != Some(Duration::ZERO) {
                return self.reply(req, StatusCode::BAD_REQUEST, |w| {
                    w.header_named(
                        "Warning",
                        "399 careline \"Contact: * needs Expires: 0 and no other contact\"",
                    );
                });
            }
            for b in self.bindings.remove(&extension).unwrap_or_default() {
                self.expiry
                    .remove(&(b.expires_at, extension.clone(), b.uri.clone()));
                self.events.push_back(RegistrarEvent::Unbound {
                    extension: extension.clone(),
                    uri: b.uri,
                    reason: UnbindReason::Unregistered,
                });
            }
            return self.ok_with_bindings(now, req, &extension);
        }
        // Validate every contact before changing anything (all or nothing).
        let mut wanted = Vec::with_capacity(contacts.len());
        for c in contacts {
            let Contact::Addr(addr) = c else { continue };
            if !matches!(addr.uri, Uri::Sip(_)) {
                return self.reply(req, StatusCode::BAD_REQUEST, |w| {
                    w.header_named(
                        "Warning",
                        "399 careline \"contacts must be sip or sips uris\"",
                    );
                });
            }
            let asked = addr
                .params
                .value("expires")
                .map(|v| Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX / 4)))
                .or(header_expires)
                .unwrap_or(self.settings.default_expires);
            if !asked.is_zero() && asked < self.settings.min_expires {
                let min = self.settings.min_expires.as_secs();
                return self.reply(req, StatusCode::INTERVAL_TOO_BRIEF, |w| {
                    w.header(&HeaderName::MinExpires, min);
                });
            }
            wanted.push((addr, asked.min(self.settings.max_expires)));
        }
        let (Some(call_id), Some(cseq)) = (req.call_id(), req.cseq()) else {
            return self.reply(req, StatusCode::BAD_REQUEST, |_| {});
        };
        let user_agent = req
            .headers
            .get(&HeaderName::UserAgent)
            .map(|h| h.value_str().chars().take(128).collect::<String>());
        for (addr, expires) in wanted {
            let uri = addr.uri.to_string();
            let list = self.bindings.entry(extension.clone()).or_default();
            let existing = list.iter().position(|b| b.uri == uri);
            if let Some(i) = existing {
                // RFC 3261 §10.3 step 7: an older or repeated CSeq of the same
                // Call-ID must not roll the binding back.
                if list[i].call_id == *call_id && list[i].cseq >= cseq.seq {
                    continue;
                }
            }
            if let Some(i) = existing {
                // The binding's old deadline goes; a refresh sets a new one.
                self.expiry
                    .remove(&(list[i].expires_at, extension.clone(), uri.clone()));
            }
            if expires.is_zero() {
                if let Some(i) = existing {
                    list.remove(i);
                    self.events.push_back(RegistrarEvent::Unbound {
                        extension: extension.clone(),
                        uri,
                        reason: UnbindReason::Unregistered,
                    });
                }
                continue;
            }
            let mut contact = addr.clone();
            contact.params.remove("expires");
            let binding = Binding {
                contact,
                uri: uri.clone(),
                expires_at: now + expires,
                call_id: call_id.clone(),
                cseq: cseq.seq,
                source,
                transport,
                user_agent: user_agent.clone(),
            };
            let refreshed = existing.is_some();
            match existing {
                Some(i) => list[i] = binding.clone(),
                None => list.push(binding.clone()),
            }
            let mut pushed_out = Vec::new();
            while list.len() > self.settings.max_contacts {
                let oldest = list
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.uri != uri)
                    .min_by_key(|(_, b)| b.expires_at)
                    .map(|(i, _)| i);
                match oldest {
                    Some(i) => {
                        let old = list.remove(i);
                        self.expiry
                            .remove(&(old.expires_at, extension.clone(), old.uri.clone()));
                        pushed_out.push(old.uri);
                    }
                    None => break,
                }
            }
            self.expiry
                .insert((binding.expires_at, extension.clone(), uri));
            self.events.push_back(RegistrarEvent::Bound {
                extension: extension.clone(),
                binding,
                refreshed,
            });
            for uri in pushed_out {
                self.events.push_back(RegistrarEvent::Unbound {
                    extension: extension.clone(),
                    uri,
                    reason: UnbindReason::Replaced,
                });
            }
        }
        if self.bindings.get(&extension).is_some_and(Vec::is_empty) {
            self.bindings.remove(&extension);
        }
        self.ok_with_bindings(now, req, &extension)
    }

    fn ok_with_bindings(
        &mut self,
        now: Instant,
        req: &Message,
        extension: &str,
    ) -> RegisterOutcome {
        let contacts: Vec<String> = self
            .bindings(extension)
            .iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now);
                // Round up so a phone never sees 0 for a live binding.
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                format!("{};expires={secs}", b.contact)
            })
            .collect();
        self.reply(req, StatusCode::OK, |w| {
            for c in contacts {
                w.header(&HeaderName::Contact, c);
            }
        })
    }
}

#[cfg(test)]
#[path = "registrar_tests.rs"]
mod tests;
