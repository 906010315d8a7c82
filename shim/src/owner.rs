//! Which process owns the shim's memory.
//!
//! A vfork child runs in its parent's memory (python's subprocess, glibc's posix_spawn and
//! system) and calls hooked functions there (close_range, dup2) before it execs. Such a child
//! must not change the parent's bookkeeping. The vfork hook notes the vforking thread before
//! the real vfork; while that note stands, [`owns_memory`] compares the raw pid with the
//! owner's, and the vforking thread's next call in the parent clears it. Otherwise the check
//! is one load.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use mfs_core::sys;

/// The process whose memory this is.
static OWNER: AtomicI32 = AtomicI32::new(0);
/// Set just before a vfork; cleared when the vforking thread is back in the parent.
static VFORK_PENDING: AtomicBool = AtomicBool::new(false);
/// The thread that called vfork last.
static VFORK_TID: AtomicI32 = AtomicI32::new(0);

/// This process owns the memory (at activation, and in a fork child, whose copy is its own).
pub fn claim() {
    OWNER.store(sys::getpid(), Ordering::Relaxed);
    VFORK_PENDING.store(false, Ordering::Relaxed);
}

/// The calling thread is about to vfork.
pub fn vfork_starting() {
    VFORK_TID.store(sys::gettid(), Ordering::Relaxed);
    VFORK_PENDING.store(true, Ordering::SeqCst);
}

/// True when this process owns the shim's memory; false in a vfork child.
#[inline]
pub fn owns_memory() -> bool {
    if !VFORK_PENDING.load(Ordering::Acquire) {
        return true;
    }
    owns_memory_slow()
}

#[cold]
fn owns_memory_slow() -> bool {
    if OWNER.load(Ordering::Relaxed) != sys::getpid() {
        return false;
    }
    if VFORK_TID.load(Ordering::Relaxed) == sys::gettid() {
        // The vforking thread is back in the parent: its child has exec'd or exited.
        VFORK_PENDING.store(false, Ordering::Release);
    }
    true
}
