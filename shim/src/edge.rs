//! The shim's FFI edge, shared by every hook: the re-entrancy guard, [`protect`], which keeps
//! a panic in the shim's work from reaching the program, and [`finish`], the result the
//! program sees when a mirror's error must fail its call.
//!
//! The re-entrancy guard ([`Guard`]) is set while the shim runs foreign code that may call hooked functions (configuration loading
//! through `std::fs`, dlsym, libc stdio): any hook entered meanwhile on the same thread goes
//! straight to the real function. The flag is a const-initialised `Cell<bool>`, which needs no
//! destructor, so it stays usable while a thread exits.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use mfs_core::sys::{Errno, ErrnoGuard};

use crate::log::Level;

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Number of threads inside the shim's slow paths right now: while it is 0 (nearly always),
/// [`Guard::maybe_active`] answers without touching thread-local storage.
static HOLDERS: AtomicUsize = AtomicUsize::new(0);

/// Proof that this thread is inside the shim; dropping it leaves.
pub struct Guard(());

impl Guard {
    /// Enters the shim, or `None` when this thread is already inside (or its TLS is gone).
    #[inline(always)]
    pub fn enter() -> Option<Guard> {
        INSIDE
            .try_with(|c| {
                if c.get() {
                    None
                } else {
                    c.set(true);
                    HOLDERS.fetch_add(1, Ordering::AcqRel);
                    Some(Guard(()))
                }
            })
            .ok()
            .flatten()
    }

    /// True when this thread is inside the shim.
    #[inline(always)]
    pub fn active() -> bool {
        INSIDE.try_with(Cell::get).unwrap_or(true)
    }

    /// Like [`Guard::active`], but one relaxed load when no thread holds a guard.
    #[inline(always)]
    pub fn maybe_active() -> bool {
        HOLDERS.load(Ordering::Acquire) != 0 && Self::active_here()
    }

    /// [`Guard::active`] out of line, so the thread-local lookup stays off the fast path.
    #[cold]
    #[inline(never)]
    fn active_here() -> bool {
        Self::active()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|c| c.set(false));
        HOLDERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs shim work after (or before) a real call. A panic inside is caught and logged, and
/// `on_panic` runs (journaling what may now differ); the program's call is never affected.
#[inline]
pub fn protect<R>(on_panic: impl FnOnce() -> R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            crate::log!(Level::Error, "internal error caught; the affected path is journaled");
            on_panic()
        }
    }
}

/// The program's result after mirroring: `r`, or in fail mode (`mirrored` is the mirror's
/// error) the call's failure value `failed`, with errno set to the mirror's when `errno` is
/// restored.
#[inline]
pub fn finish<R>(r: R, mirrored: Result<(), Errno>, failed: R, errno: &mut ErrnoGuard) -> R {
    match mirrored {
        Ok(()) => r,
        Err(Errno(e)) => {
            errno.set(e);
            failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_mode_gives_the_failure_value_and_the_mirrors_errno() {
        mfs_core::sys::set_errno(0);
        {
            let mut errno = ErrnoGuard::save();
            assert_eq!(finish(5, Ok(()), -1, &mut errno), 5);
        }
        assert_eq!(mfs_core::sys::errno(), 0);
        {
            let mut errno = ErrnoGuard::save();
            assert_eq!(finish(5, Err(Errno(libc::ENOSPC)), -1, &mut errno), -1);
        }
        assert_eq!(mfs_core::sys::errno(), libc::ENOSPC);
    }

    #[test]
    fn a_panic_in_shim_work_runs_the_fallback_and_returns_its_value() {
        let mut journaled = false;
        let r: i32 = protect(
            || {
                journaled = true;
                -7
            },
            || panic!("internal error"),
        );
        assert_eq!(r, -7);
        assert!(journaled);
    }

    #[test]
    fn work_that_does_not_panic_is_returned_as_is() {
        let r: Result<u8, ()> = protect(|| Err(()), || Ok(3));
        assert_eq!(r, Ok(3));
    }
}
