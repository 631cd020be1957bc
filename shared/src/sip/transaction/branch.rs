//! Branch parameters for the requests this element sends (RFC 3261 §8.1.1.7).
//!
//! A branch must be unique across space and time, and should be hard to
//! guess: a forged response has to carry it to match a client transaction.
//! The core has no randomness of its own, so the caller gives a secret seed
//! at construction; each branch is the magic cookie, 64 bits of
//! SHA-256(seed, counter) and the counter itself, which makes branches from
//! one layer unique even if two hashes ever collided.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::sip::Branch;

/// Makes branches from a secret seed and a counter.
#[derive(Debug)]
pub(crate) struct BranchGenerator {
    seed: [u8; 16],
    counter: u64,
}

impl BranchGenerator {
    /// A generator; `seed` should come from the operating system's random
    /// source so two processes (or restarts) never share branches.
    pub(crate) fn new(seed: u128) -> BranchGenerator {
        BranchGenerator {
            seed: seed.to_be_bytes(),
            counter: 0,
        }
    }

    /// The next branch.
    pub(crate) fn next_branch(&mut self) -> Branch {
        self.counter += 1;
        let digest = Sha256::new()
            .chain_update(self.seed)
            .chain_update(self.counter.to_be_bytes())
            .finalize();
        let mut out = String::with_capacity(Branch::MAGIC_COOKIE.len() + 16 + 8);
        out.push_str(Branch::MAGIC_COOKIE);
        for b in &digest[..8] {
            let _ = write!(out, "{b:02x}");
        }
        let _ = write!(out, "{:x}", self.counter);
        Branch::new(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn branches_carry_the_magic_cookie_and_never_repeat() {
        let mut g = BranchGenerator::new(42);
        let all: HashSet<String> = (0..10_000).map(|_| g.next_branch().to_string()).collect();
        assert_eq!(all.len(), 10_000);
        assert!(all.iter().all(|b| Branch::new(b.as_str()).is_rfc3261()));
    }

    #[test]
    fn the_seed_changes_every_branch() {
        let a = BranchGenerator::new(1).next_branch();
        let b = BranchGenerator::new(2).next_branch();
        assert_ne!(a, b);
        // Same seed, same sequence: the core stays deterministic for tests.
        assert_eq!(a, BranchGenerator::new(1).next_branch());
    }
}
