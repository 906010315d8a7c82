//! The coherency lock of one mirrored file, held for one change, and the file's offset
//! generation that the lock's release advances.
//!
//! Taking the lock goes to the shared state file's slots (see [`mfs_core::locks`]); when no
//! slot can protect the change (no shared state yet, a signal handler nested in another
//! slot's holder, a holder that kept it too long) or an earlier holder died mid-write, the
//! file is journaled for every other copy.
//!
//! The offset generation serves [`crate::lockstep`]: a change made under the lock may have
//! moved the primary descriptor's offset without its twins', and unless the change says it
//! did not ([`FileLock::offsets_kept`]), the release advances the file's generation, so the
//! next lockstep write re-levels the twins first. The generations live in process memory,
//! indexed like the lock slots: files that share an index share a generation, which costs
//! only an occasional re-levelling.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use mfs_core::journal::Kind;
use mfs_core::locks::{self, Held, Recovered, SLOTS};
use mfs_core::sys::ErrnoGuard;

use crate::fdtable::Entry;
use crate::state::{JournalPath, State};

static GENERATION: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];

/// The offset generation of the file with coherency key `key`.
#[inline(always)]
pub fn generation(key: u64) -> u32 {
    GENERATION[locks::index(key)].load(Ordering::Relaxed)
}

/// Some descriptor of the file may have moved its offset without its twins' moving.
#[inline(always)]
pub fn moved(key: u64) {
    GENERATION[locks::index(key)].fetch_add(1, Ordering::Relaxed);
}

/// The coherency lock of one file, held for one change; released on drop.
pub struct FileLock<'a> {
    held: Held<'a>,
    key: u64,
    offsets_kept: bool,
}

impl FileLock<'_> {
    /// True when this change holds the lock outright (see [`Held::exclusive`]).
    #[inline(always)]
    pub fn exclusive(&self) -> bool {
        self.held.exclusive()
    }

    /// The change left every descriptor's offset as level with its twins' as it found it:
    /// the release does not advance the file's offset generation.
    #[inline(always)]
    pub fn offsets_kept(&mut self) {
        self.offsets_kept = true;
    }
}

impl Drop for FileLock<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.offsets_kept {
            moved(self.key);
        }
    }
}

/// Takes the coherency lock of mirrored descriptor `fd`'s file.
#[inline(always)]
pub fn lock<'a>(st: &'a State, fd: RawFd, e: &Entry) -> FileLock<'a> {
    let held = match st.shared() {
        Some(t) => t.lock(e.key),
        None => Held::Unprotected,
    };
    if !held.clean() {
        journal_unsafe(st, fd, e, &held);
    }
    FileLock { held, key: e.key, offsets_kept: false }
}

/// Journals the file of a change the lock could not protect, or the file a dead holder left
/// half written.
#[cold]
#[inline(never)]
fn journal_unsafe(st: &State, fd: RawFd, e: &Entry, held: &Held<'_>) {
    let _errno = ErrnoGuard::save();
    let what = match held {
        // A writer died between its primary and twin writes: that file may differ.
        Held::Locked { recovered: Recovered::Died(k), .. } if *k != e.key => JournalPath::Path(b""),
        _ => JournalPath::Fd(fd),
    };
    st.journal_others(e.pair, e.origin, Kind::Dirty, what);
}
