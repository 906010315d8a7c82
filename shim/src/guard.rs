//! The re-entrancy guard.
//!
//! Set while the shim runs foreign code that may call hooked functions (configuration loading
//! through `std::fs`, dlsym, libc stdio): any hook entered meanwhile on the same thread goes
//! straight to the real function. The flag is a const-initialised `Cell<bool>`, which needs no
//! destructor, so it stays usable while a thread exits.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

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
