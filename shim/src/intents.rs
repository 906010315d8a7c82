//! Intent records: a file open for writing in a pair is named in an intent slot of the shared
//! state from before its twins are opened until its last descriptor in this process closes.
//! A process killed between writing the primary and its twins leaves the slot behind with a
//! pid that no longer exists, and the daemon journals the path for the copies that may have
//! missed the change (GlusterFS's pre-op/post-op and DRBD's activity log do the same job).
//!
//! Claiming and releasing are stores into the shared mapping, no system call. Duplicated
//! descriptors share their slot through a per-process count. A fork child does not own its
//! parent's slots; a process that exits normally gives its slots back.

use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

use mfs_core::journal::Kind;
use mfs_core::shared::INTENTS;
use mfs_core::sys;

use crate::place::Class;
use crate::state::{JournalPath, State};

/// No intent slot.
pub const NONE: u16 = crate::fdtable::NO_INTENT;

/// Descriptors of this process naming each slot.
static REFS: [AtomicU16; INTENTS] = [const { AtomicU16::new(0) }; INTENTS];

/// This process's pid once known (0 before; forgotten in a fork child): no system call per
/// claim.
static PID: AtomicU32 = AtomicU32::new(0);

fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let p = sys::getpid() as u32;
            PID.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// Claims a slot for `loc` (about to be opened for writing); `NONE` when no slot can be had,
/// in which case the path is journaled for the other copies instead, so a crash still leaves
/// it marked.
pub fn claim(st: &State, pair: usize, origin: usize, rel: &[u8], key: u64) -> u16 {
    let (Some(shared), Some(index)) = (st.shared(), st.pair_index(pair)) else { return NONE };
    let tag = index | (origin << 16);
    // Each process starts at its own place and reuses the slots it released: few pages of
    // the mapping are touched, and processes rarely meet on a slot.
    let pid = pid();
    match shared.claim_intent(tag, pid, rel, key, pid as usize * 8) {
        Some(i) => {
            REFS[i].store(1, Ordering::Relaxed);
            i as u16
        }
        None => {
            st.journal_others(pair, origin, Kind::Dirty, JournalPath::Path(rel));
            NONE
        }
    }
}

/// An intent held for the length of one namespace change (rename, unlink, mkdir, ...),
/// claimed before the primary's call: a process killed before the change reached the other
/// copies leaves the path marked.
pub struct During<'a> {
    st: &'a State,
    slot: u16,
}

impl Drop for During<'_> {
    fn drop(&mut self) {
        release(self.st, self.slot);
    }
}

/// Claims an intent for a change of the path `class` placed in a pair (none for a path
/// outside every pair, nor in a vfork child, whose memory is its parent's).
pub fn during<'a>(st: &'a State, class: &Class<'_>) -> Option<During<'a>> {
    let Class::In { hit, .. } = class else { return None };
    if !crate::owner::owns_memory() {
        return None;
    }
    let slot = claim(st, hit.pair, hit.copy, hit.rel, 0);
    (slot != NONE).then_some(During { st, slot })
}

/// One more descriptor names slot `i` (a dup).
pub fn share(i: u16) {
    if let Some(r) = REFS.get(i as usize) {
        r.fetch_add(1, Ordering::Relaxed);
    }
}

/// A descriptor naming slot `i` is gone: the last one releases it.
pub fn release(st: &State, i: u16) {
    let Some(r) = REFS.get(i as usize) else { return };
    if r.fetch_sub(1, Ordering::Relaxed) <= 1 {
        r.store(0, Ordering::Relaxed);
        if let Some(shared) = st.shared() {
            shared.release_intent(i as usize);
        }
    }
}

/// In a fork child: the slots are the parent's.
pub fn after_fork_child() {
    PID.store(0, Ordering::Relaxed);
    for r in &REFS {
        r.store(0, Ordering::Relaxed);
    }
    crate::fdtable::forget_intents();
}

/// At a normal exit: every change reached the copies it could, so the slots go back.
pub fn at_exit(st: &State) {
    if let Some(shared) = st.shared_if_open() {
        shared.release_intents_of(pid());
    }
}
