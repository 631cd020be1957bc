//! Transparent huge pages, off for this process.
//!
//! mimalloc asks the kernel for huge pages on its memory
//! (`madvise(MADV_HUGEPAGE)`, which counts even where the system setting is
//! `madvise`), and hands freed memory back and takes it again as calls come
//! and go. Each first touch of such memory then has the kernel zero a whole
//! 2 MiB page: 8.6 % of the call core's samples at 1,500 calls/s. A/B runs
//! (BENCHMARKS.md, queue) showed lower CPU and steadier call set-up without.

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
    let one: libc::c_ulong = 1;
    let zero: libc::c_ulong = 0;
    // SAFETY: prctl is variadic; the kernel reads arguments 2–5 as unsigned
    // longs (passed as such here, the unused ones zero, as it requires) and
    // PR_SET_THP_DISABLE only sets a flag on the process's address space.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, one, zero, zero, zero) };
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

    /// The process's flag, as the kernel reports it (1: huge pages off).
    fn thp_disabled() -> i32 {
        let zero: libc::c_ulong = 0;
        // SAFETY: as above; PR_GET_THP_DISABLE returns the flag.
        let r = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, zero, zero, zero, zero) };
        assert!(r >= 0, "{}", io::Error::last_os_error());
        r
    }

    #[test]
    fn an_explicit_choice_is_left_alone_otherwise_huge_pages_go_off() {
        // The flag may come set from a parent process; the choice must not
        // change it either way.
        let before = thp_disabled();
        assert!(!disable_unless(Some(OsStr::new("1"))).unwrap());
        assert_eq!(thp_disabled(), before);
        assert!(disable_unless(None).unwrap());
        assert_eq!(thp_disabled(), 1);
    }
}
