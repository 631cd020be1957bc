//! Transparent huge pages, off for this process.
//!
//! mimalloc hands freed memory back to the kernel and takes it again as
//! calls come and go. With transparent huge pages on (Debian's default is
//! `always`), each first touch of such memory has the kernel zero a whole
//! 2 MiB page: 8.6 % of the call core's samples at 1,500 calls/s. Three
//! alternating A/B pairs (BENCHMARKS.md, queue) showed the server's CPU
//! lower and call set-up steadier without them.

use std::ffi::OsStr;
use std::io;

/// Turns transparent huge pages off for the whole process, from now on,
/// unless `allowed` (the `MIMALLOC_ALLOW_THP` variable) is set: whoever
/// sets it has decided, and mimalloc follows it. True when turned off.
pub fn disable_unless(allowed: Option<&OsStr>) -> io::Result<bool> {
    if allowed.is_some() {
        return Ok(false);
    }
    disable()
}

#[cfg(target_os = "linux")]
fn disable() -> io::Result<bool> {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches none of
    // our memory; it sets a flag on the process's address space.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

#[cfg(not(target_os = "linux"))]
fn disable() -> io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// `THP_enabled` in /proc/self/status: 0 once turned off.
    fn thp_enabled() -> Option<String> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .map(|v| v.trim().to_string())
    }

    #[test]
    fn an_explicit_choice_is_left_alone_otherwise_huge_pages_go_off() {
        // nextest runs each test in a process of its own, so this one's
        // flag is its own.
        assert!(!disable_unless(Some(OsStr::new("1"))).unwrap());
        if thp_enabled().is_none() {
            // A kernel older than 5.0 does not show the flag; the call
            // itself must still succeed.
            assert!(disable_unless(None).unwrap());
            return;
        }
        assert_eq!(thp_enabled().as_deref(), Some("1"));
        assert!(disable_unless(None).unwrap());
        assert_eq!(thp_enabled().as_deref(), Some("0"));
    }
}
