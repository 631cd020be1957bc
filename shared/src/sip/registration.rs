//! A user agent registering itself, sans-IO: the server to its provider's
//! trunks (`[[trunks]] register = true`), the desktop agent's phone to the
//! server. A REGISTER for `username@domain` with our contact, the digest
//! answer when the registrar challenges, a refresh at four fifths of the
//! interval granted (held to 30 s–1 day, read from our own contact), `423`
//! answered with its `Min-Expires`, and after a failure a retry 30 s later,
//! doubling up to 30 min (the backoff of RFC 5626 §4.5). Time is always an
//! argument; REGISTERs go out through the transaction layer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::transaction::{Key, TransactionLayer};
use super::{
    Challenge, Contact, HeaderName, Host, Message, MessageWriter, Method, SipUri, Uri,
    parse_datagram,
};

/// The first retry after a failure, and the most the wait grows to.
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(1800);
/// What a provider's grant is held to, whatever it says (no REGISTER
/// storm for a grant of 1 s, no overflow for an absurd one).
const GRANT_MIN: Duration = Duration::from_secs(30);
const GRANT_MAX: Duration = Duration::from_secs(86_400);

/// What registering one account needs. (Its `Debug` leaves the password
/// out.)
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// A name for events (the trunk's, the phone's).
    pub name: String,
    /// Where REGISTERs go.
    pub remote: SocketAddr,
    /// Over a reliable transport (TCP) rather than UDP.
    pub reliable: bool,
    /// The provider's domain (our address of record is `username@domain`).
    pub domain: String,
    /// Digest user name.
    pub username: String,
    /// Digest password.
    pub password: String,
    /// The interval asked for.
    pub expires: Duration,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("remote", &self.remote)
            .field("domain", &self.domain)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What happened to a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// The provider accepted it for `expires`.
    Registered {
        /// The account's name.
        name: String,
        /// The interval granted.
        expires: Duration,
    },
    /// The registrar removed it, as asked ([`Registrations::unregister_all`]).
    Unregistered {
        /// The account's name.
        name: String,
    },
    /// It failed (`status`: the provider's answer, `None`: no answer);
    /// tried again after `retry_in`.
    Failed {
        /// The account's name.
        name: String,
        /// The final status, if one came.
        status: Option<u16>,
        /// When the next try goes.
        retry_in: Duration,
    },
}

#[derive(Debug)]
struct Registration {
    account: Account,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The interval to ask for (raised by a 423).
    asking: Duration,
    /// The REGISTER in flight, and whether it carries credentials.
    pending: Option<(Key, bool)>,
    /// When the next REGISTER goes (none while one is in flight).
    next: Option<Instant>,
    /// Failures in a row.
    failures: u32,
    registered: bool,
    /// Leaving: the REGISTERs say `Expires: 0` and nothing is retried.
    leaving: bool,
    /// The REGISTER in flight is the removal (not a refresh sent before
    /// we started leaving).
    removing: bool,
    /// The registrar has accepted us at some time (a binding may be live
    /// even after a failed refresh).
    ever: bool,
}

/// Every registration of this user agent.
#[derive(Debug, Default)]
pub struct Registrations {
    regs: Vec<Registration>,
    events: VecDeque<RegistrationEvent>,
    /// Our addresses per transport (Via, Contact).
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    /// Makes Call-IDs, tags and cnonces unique to this run.
    seed: u64,
}

impl Registrations {
    /// Registrations for `accounts`, the first REGISTERs due at `now`;
    /// `seed` makes Call-IDs and tags unique to this run.
    pub fn new(
        accounts: Vec<Account>,
        udp: Option<SocketAddr>,
        tcp: Option<SocketAddr>,
        now: Instant,
        seed: u64,
    ) -> Registrations {
        let regs = accounts
            .into_iter()
            .enumerate()
            .map(|(i, account)| Registration {
                call_id: format!("reg-{seed:016x}-{i}@careline"),
                from_tag: format!("tr{:012x}", seed.rotate_left(i as u32 * 7) >> 16),
                cseq: 0,
                asking: account.expires,
                account,
                pending: None,
                next: Some(now),
                failures: 0,
                registered: false,
                leaving: false,
                removing: false,
                ever: false,
            })
            .collect();
        Registrations {
            regs,
            events: VecDeque::new(),
            udp,
            tcp,
            seed,
        }
    }

    /// Whether each account is registered now, by name.
    pub fn status(&self) -> impl Iterator<Item = (&str, bool)> {
        self.regs
            .iter()
            .map(|r| (r.account.name.as_str(), r.registered))
    }

    /// Removes every registration the registrar holds (REGISTER with
    /// `Expires: 0`, answering a challenge as usual), at shutdown: the
    /// registrar stops sending calls to a contact that has gone. Nothing is
    /// refreshed or retried afterwards.
    pub fn unregister_all(&mut self, now: Instant, layer: &mut TransactionLayer) {
        for i in 0..self.regs.len() {
            let r = &mut self.regs[i];
            r.leaving = true;
            r.next = None;
            // A REGISTER already in flight is followed by the removal once
            // it is answered (below).
            if r.ever && r.pending.is_none() {
                self.send(now, layer, i, None);
            }
        }
    }

    /// Whether nothing is in flight any more (after [`Self::unregister_all`]:
    /// every removal has been answered or has failed).
    pub fn is_idle(&self) -> bool {
        self.regs.iter().all(|r| r.pending.is_none())
    }

    /// The next fact.
    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    /// The next REGISTER due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.regs.iter().filter_map(|r| r.next).min()
    }

    /// Sends the REGISTERs due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer) {
        for i in 0..self.regs.len() {
            if self.regs[i].next.is_some_and(|t| t <= now) {
                self.regs[i].next = None;
                self.send(now, layer, i, None);
            }
        }
    }

    /// A response to one of our REGISTERs; `false` when it is not ours.
    pub fn handle_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: Key,
        msg: &Message,
    ) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        let Some(status) = msg.status() else {
            return true;
        };
        if status.is_provisional() {
            return true;
        }
        let authed = self.regs[i].pending.take().is_some_and(|(_, a)| a);
        let code = status.as_u16();
        if status.is_success() && self.regs[i].leaving && !self.regs[i].removing {
            // A refresh answered after we started leaving: the binding is
            // fresh, so remove it now.
            self.regs[i].ever = true;
            self.send(now, layer, i, None);
            return true;
        }
        if status.is_success() && self.regs[i].leaving {
            let r = &mut self.regs[i];
            r.registered = false;
            self.events.push_back(RegistrationEvent::Unregistered {
                name: r.account.name.clone(),
            });
            return true;
        }
        if status.is_success() {
            let ours = self.our_contact(i);
            let r = &mut self.regs[i];
            let granted = granted_expires(msg, r.asking, &ours).clamp(GRANT_MIN, GRANT_MAX);
            r.failures = 0;
            r.registered = true;
            r.ever = true;
            r.next = Some(now + granted * 4 / 5);
            self.events.push_back(RegistrationEvent::Registered {
                name: r.account.name.clone(),
                expires: granted,
            });
            return true;
        }
        if matches!(code, 401 | 407) && !authed {
            let (asked, answer) = if code == 407 {
                (
                    HeaderName::ProxyAuthenticate,
                    HeaderName::ProxyAuthorization,
                )
            } else {
                (HeaderName::WwwAuthenticate, HeaderName::Authorization)
            };
            let challenge = msg
                .headers
                .all
                .iter()
                .filter(|h| h.name == asked)
                .find_map(|h| Challenge::parse(h.value_str().as_bytes()));
            if let Some(c) = challenge {
                let r = &self.regs[i];
                let uri = format!("sip:{}", r.account.domain);
                let cnonce = format!(
                    "{:016x}",
                    self.seed
                        .wrapping_mul(u64::from(r.cseq) * 2 + 1)
                        .rotate_left(17)
                );
                let value = c.authorization(
                    &r.account.username,
                    &r.account.password,
                    "REGISTER",
                    &uri,
                    &cnonce,
                );
                self.send(now, layer, i, Some((answer, value)));
                return true;
            }
        }
        if code == 423
            && let Some(min) = msg
                .headers
                .get(&HeaderName::MinExpires)
                .and_then(|h| h.value_str().trim().parse::<u64>().ok())
        {
            let r = &mut self.regs[i];
            let min = Duration::from_secs(min);
            if min > r.asking && min <= GRANT_MAX {
                r.asking = min;
                self.send(now, layer, i, None);
                return true;
            }
        }
        self.failed(now, i, Some(code));
        true
    }

    /// A REGISTER got no answer at all; `false` when it is not ours.
    pub fn handle_transaction_timeout(&mut self, now: Instant, key: Key) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        self.regs[i].pending = None;
        self.failed(now, i, None);
        true
    }

    /// `user@host:port` of the contact we register (to find our grant
    /// among the provider's list of contacts).
    fn our_contact(&self, i: usize) -> String {
        let r = &self.regs[i];
        let local = if r.account.reliable {
            self.tcp.or(self.udp)
        } else {
            self.udp.or(self.tcp)
        };
        match local {
            Some(l) => format!("{}@{l}", r.account.username),
            None => r.account.username.clone(),
        }
    }

    fn find(&self, key: Key) -> Option<usize> {
        self.regs
            .iter()
            .position(|r| r.pending.is_some_and(|(k, _)| k == key))
    }

    fn failed(&mut self, now: Instant, i: usize, status: Option<u16>) {
        let r = &mut self.regs[i];
        if r.leaving {
            // Going away: the registration lapses by itself; no retry.
            r.registered = false;
            return;
        }
        let retry_in = RETRY_BASE
            .saturating_mul(1 << r.failures.min(10))
            .min(RETRY_MAX);
        r.failures += 1;
        r.registered = false;
        r.next = Some(now + retry_in);
        self.events.push_back(RegistrationEvent::Failed {
            name: r.account.name.clone(),
            status,
            retry_in,
        });
    }

    fn send(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        i: usize,
        authorization: Option<(HeaderName, String)>,
    ) {
        let (udp, tcp) = (self.udp, self.tcp);
        let r = &mut self.regs[i];
        let tcp_flow = r.account.reliable;
        let Some(local) = (if tcp_flow { tcp.or(udp) } else { udp.or(tcp) }) else {
            self.failed(now, i, None);
            return;
        };
        r.cseq += 1;
        r.removing = r.leaving;
        let branch = layer.new_branch();
        let transport = if tcp_flow { "TCP" } else { "UDP" };
        let aor = format!("sip:{}@{}", r.account.username, r.account.domain);
        let host = match r.account.domain.parse::<std::net::IpAddr>() {
            Ok(ip) => Host::from(ip),
            Err(_) => Host::Domain(r.account.domain.as_str().into()),
        };
        let request_uri = Uri::Sip(SipUri::new(None, host, None));
        let mut w = MessageWriter::request(&Method::Register, &request_uri);
        w.header(
            &HeaderName::Via,
            format_args!(
                "SIP/2.0/{transport} {local};branch={};rport",
                branch.as_str()
            ),
        )
        .header(&HeaderName::MaxForwards, 70)
        .header(
            &HeaderName::From,
            format_args!("<{aor}>;tag={}", r.from_tag),
        )
        .header(&HeaderName::To, format_args!("<{aor}>"))
        .header(&HeaderName::CallId, &r.call_id)
        .header(&HeaderName::CSeq, format_args!("{} REGISTER", r.cseq))
        .header(
            &HeaderName::Contact,
            format_args!(
                "<sip:{}@{local};transport={}>",
                r.account.username,
                transport.to_ascii_lowercase()
            ),
        )
        .header(
            &HeaderName::Expires,
            if r.leaving { 0 } else { r.asking.as_secs() },
        )
        .header(&HeaderName::UserAgent, "Careline");
        let authed = authorization.is_some();
        if let Some((name, value)) = &authorization {
            w.header(name, value);
        }
        let bytes = w.finish();
        // We wrote it; should it not read back, or not go out, that is a
        // failure like any other, retried later.
        let Ok(msg) = parse_datagram(bytes.clone()) else {
            self.failed(now, i, None);
            return;
        };
        match layer.send_request(now, &msg, bytes, r.account.remote, tcp_flow) {
            Ok(key) => r.pending = Some((key, authed)),
            Err(_) => self.failed(now, i, None),
        }
    }
}

/// The interval the provider granted: our contact's `expires` (`ours`:
/// its `user@host:port`; other devices' grants are theirs), else the
/// Expires header, else what we asked for.
fn granted_expires(msg: &Message, asked: Duration, ours: &str) -> Duration {
    let from_contact = msg.headers.contact.iter().find_map(|c| match c {
        Contact::Addr(a) if a.uri.to_string().contains(ours) => a
            .params
            .get("expires")
            .flatten()
            .and_then(|v| v.trim().parse::<u64>().ok()),
        _ => None,
    });
    let header = msg
        .headers
        .get(&HeaderName::Expires)
        .and_then(|h| h.value_str().trim().parse::<u64>().ok());
    from_contact
        .or(header)
        .map(Duration::from_secs)
        .filter(|d| !d.is_zero())
        .unwrap_or(asked)
}
