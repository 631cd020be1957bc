//! Digest challenges that need no server state, and the lock-out that stops
//! password guessing.
//!
//! A nonce carries its own mint time and a MAC over it, so any nonce can be
//! checked without remembering it: forged ones fail the MAC, old ones are
//! stale. Lock-outs count failures in a row per (source, extension) and per
//! source; unknown extensions count exactly like wrong passwords.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Mints and checks nonces.
pub struct NonceMint {
    key: [u8; 32],
    epoch: Instant,
    counter: u32,
}

/// What a presented nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Ours and young enough.
    Fresh,
    /// Ours but older than the TTL: answer `stale=true` if the digest is right.
    Stale,
    /// Not ours (forged, garbled, or from before a restart).
    Invalid,
}

const MAC_LEN: usize = 16;

impl NonceMint {
    /// A mint with a secret key; `epoch` anchors the time inside nonces.
    pub fn new(key: [u8; 32], epoch: Instant) -> NonceMint {
        NonceMint {
            key,
            epoch,
            counter: 0,
        }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("hmac takes any key length");
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// A new nonce.
    pub fn mint(&mut self, now: Instant) -> String {
        self.counter = self.counter.wrapping_add(1);
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let mut raw = [0u8; 12 + MAC_LEN];
        raw[..8].copy_from_slice(&ms.to_be_bytes());
        raw[8..12].copy_from_slice(&self.counter.to_be_bytes());
        let mac = self.mac(&raw[..12]);
        raw[12..].copy_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether a nonce is ours and how old.
    pub fn check(&self, now: Instant, nonce: &str, ttl: Duration) -> NonceState {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return NonceState::Invalid;
        };
        if raw.len() != 12 + MAC_LEN {
            return NonceState::Invalid;
        }
        let expected = self.mac(&raw[..12]);
        // Constant-time comparison: the MAC must not leak through timing.
        if !constant_time_eq(&expected, &raw[12..]) {
            return NonceState::Invalid;
        }
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&raw[..8]);
        let minted = self.epoch + Duration::from_millis(u64::from_be_bytes(ms));
        if minted > now {
            NonceState::Invalid
        } else if now - minted > ttl {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }
}

/// Compares without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failure counting and lock-outs.
pub struct Lockouts {
    after: u32,
    duration: Duration,
    per_user: HashMap<(IpAddr, String), u32>,
    per_source: HashMap<IpAddr, u32>,
    locked: HashMap<IpAddr, Instant>,
}

/// Bound on remembered counters, so a flood of invented names cannot grow memory.
const MAX_TRACKED: usize = 100_000;

impl Lockouts {
    /// Locks a source out for `duration` after `after` failures in a row.
    pub fn new(after: u32, duration: Duration) -> Lockouts {
        Lockouts {
            after,
            duration,
            per_user: HashMap::new(),
            per_source: HashMap::new(),
            locked: HashMap::new(),
        }
    }

    /// Until when `source` is locked out, if it is.
    pub fn locked_until(&mut self, now: Instant, source: IpAddr) -> Option<Instant> {
        match self.locked.get(&source) {
            Some(&until) if until > now => Some(until),
            Some(_) => {
                self.locked.remove(&source);
                None
            }
            None => None,
        }
    }

    /// Records a failure; returns the end of the lock-out it caused, if any.
    pub fn failure(&mut self, now: Instant, source: IpAddr, user: &str) -> Option<Instant> {
        if self.per_user.len() >= MAX_TRACKED {
            self.per_user.clear();
        }
        if self.per_source.len() >= MAX_TRACKED {
            self.per_source.clear();
        }
        let user: String = user.chars().take(64).collect();
        let by_user = self.per_user.entry((source, user)).or_insert(0);
        *by_user += 1;
        let by_user = *by_user;
        let by_source = self.per_source.entry(source).or_insert(0);
        *by_source += 1;
        if by_user >= self.after || *by_source >= self.after {
            let until = now + self.duration;
            self.locked.insert(source, until);
            self.per_source.remove(&source);
            self.per_user.retain(|(ip, _), _| *ip != source);
            return Some(until);
        }
        None
    }

    /// A success clears the counters of that source and extension.
    pub fn success(&mut self, source: IpAddr, user: &str) {
        self.per_source.remove(&source);
        if !self.per_user.is_empty() {
            self.per_user.remove(&(source, user.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use careline_shared::testing::virtual_epoch;

    use super::*;

    #[test]
    fn nonce_is_fresh_then_stale_and_forgery_is_invalid() {
        let t0 = virtual_epoch();
        let mut mint = NonceMint::new([7; 32], t0);
        let n = mint.mint(t0 + Duration::from_secs(10));
        let ttl = Duration::from_secs(300);
        assert_eq!(
            mint.check(t0 + Duration::from_secs(310), &n, ttl),
            NonceState::Fresh
        );
        assert_eq!(
            mint.check(t0 + Duration::from_millis(310_001), &n, ttl),
            NonceState::Stale
        );
        let mut forged = n.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            mint.check(t0 + Duration::from_secs(11), &forged, ttl),
            NonceState::Invalid
        );
        let other = NonceMint::new([8; 32], t0);
        assert_eq!(
            other.check(t0 + Duration::from_secs(11), &n, ttl),
            NonceState::Invalid
        );
        assert_eq!(
            mint.check(t0, "not base64 at all!", ttl),
            NonceState::Invalid
        );
    }

    #[test]
    fn nonces_differ_within_one_millisecond() {
        let t0 = virtual_epoch();
        let mut mint = NonceMint::new([1; 32], t0);
        assert_ne!(mint.mint(t0), mint.mint(t0));
    }

    #[test]
    fn fifth_failure_locks_source_until_lockout_time() {
        let t0 = virtual_epoch();
        let src: IpAddr = "192.0.2.7".parse().unwrap();
        let mut l = Lockouts::new(5, Duration::from_secs(300));
        for _ in 0..4 {
            assert_eq!(l.failure(t0, src, "1001"), None);
        }
        assert_eq!(
            l.failure(t0, src, "1001"),
            Some(t0 + Duration::from_secs(300))
        );
        assert!(l.locked_until(t0 + Duration::from_secs(299), src).is_some());
        assert!(l.locked_until(t0 + Duration::from_secs(300), src).is_none());
    }

    #[test]
    fn success_resets_the_run() {
        let t0 = virtual_epoch();
        let src: IpAddr = "192.0.2.7".parse().unwrap();
        let mut l = Lockouts::new(5, Duration::from_secs(300));
        for _ in 0..4 {
            l.failure(t0, src, "1001");
        }
        l.success(src, "1001");
        for _ in 0..4 {
            assert_eq!(l.failure(t0, src, "1001"), None);
        }
    }

    #[test]
    fn many_extensions_from_one_source_lock_it_too() {
        let t0 = virtual_epoch();
        let src: IpAddr = "192.0.2.9".parse().unwrap();
        let other: IpAddr = "192.0.2.10".parse().unwrap();
        let mut l = Lockouts::new(5, Duration::from_secs(60));
        for ext in ["1001", "1002", "1003", "1004"] {
            assert_eq!(l.failure(t0, src, ext), None);
        }
        assert!(l.failure(t0, src, "1005").is_some());
        assert!(l.locked_until(t0, other).is_none());
    }
}
