//! Test support shared by every crate's tests (feature `test-util`).
//!
//! Cores never read the clock; their tests run in virtual time. Virtual time
//! still needs an origin, and `std::time::Instant` can only be made by reading
//! the clock, so this is the one place that does, once per process. Every
//! test instant is this origin plus an exact offset.

use std::sync::OnceLock;
use std::time::Instant;

/// The origin of virtual time for tests.
// The closure is spelled out so the one clock read in this crate is plain to see.
#[allow(clippy::redundant_closure)]
pub fn virtual_epoch() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(|| Instant::now())
}
