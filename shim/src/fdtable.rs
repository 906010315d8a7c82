//! The descriptor table: what the shim knows about each fd number, readable without locks.
//!
//! One slot per fd number in an anonymous mapping sized at start-up. A hook on an fd that is
//! not mirrored pays one relaxed load of the slot's kind. Mirrored slots are written under a
//! per-slot sequence counter (odd while being written), so readers take a consistent copy
//! without locking and a signal handler can never deadlock on the table.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use mfs_core::config::MAX_COPIES;

/// What a slot says about its fd number.
pub mod kind {
    /// Nothing known: the fd was opened where no hook saw it (or is closed).
    pub const EMPTY: u8 = 0;
    /// Seen opened, and outside every pair and not above any root.
    pub const OUTSIDE: u8 = 1;
    /// Seen opened: a directory above a root, so paths relative to it may enter a pair.
    pub const RELATED: u8 = 2;
    /// A descriptor in a pair.
    pub const MIRRORED: u8 = 3;
    /// One of the shim's own twin descriptors.
    pub const TWIN: u8 = 4;
    /// Another descriptor of the shim's own (copy roots, journals, the log file).
    pub const PRIVATE: u8 = 5;
}

/// True for kinds whose numbers belong to the shim, not the program.
#[inline(always)]
pub fn is_shims(k: u8) -> bool {
    k == kind::TWIN || k == kind::PRIVATE
}

/// Flag bits of a mirrored slot.
pub mod flag {
    /// Opened with O_APPEND (or set later by F_SETFL).
    pub const APPEND: u8 = 1;
    /// Opened for writing.
    pub const WRITABLE: u8 = 2;
    /// A stdio stream writes through it: re-level the twin at stream sync points.
    pub const STDIO: u8 = 4;
    /// A directory.
    pub const DIR: u8 = 8;
    /// Reads are served from the first online twin.
    pub const READ_MIRROR: u8 = 16;
    /// The twins' file offsets may be kept in step with the primary's, so a write can go to
    /// each twin as a plain write: see [`crate::step`]. Set for write-only, non-appending
    /// descriptors above 2 that this process opened; cleared for good by anything that could
    /// let the primary's offset move where no hook sees it.
    pub const STEP: u8 = 32;
}

/// No twin descriptor for this copy (the origin itself, or not opened).
pub const NO_TWIN: RawFd = -1;
/// The copy was unreachable when the fd was opened; its path is journaled.
pub const LOST_TWIN: RawFd = -2;

/// A consistent copy of a mirrored slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub pair: usize,
    /// The copy whose tree the program's fd is in.
    pub origin: usize,
    pub flags: u8,
    /// Coherency-lock key (hash of device and inode), 0 when unknown.
    pub key: u64,
    /// Twin fd per copy index (`NO_TWIN` for the origin).
    pub twins: [RawFd; MAX_COPIES],
    /// With [`flag::STEP`]: the file's step generation when the twins' offsets were last
    /// known to equal the primary's (see [`crate::step`]).
    pub step: u32,
}

impl Entry {
    pub fn new(pair: usize, origin: usize, flags: u8, key: u64) -> Entry {
        Entry { pair, origin, flags, key, twins: [NO_TWIN; MAX_COPIES], step: 0 }
    }

    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// True when at least one twin descriptor is open.
    pub fn has_twins(&self) -> bool {
        self.twins.iter().any(|&t| t >= 0)
    }

    /// Twin descriptors that are open, with their copy index.
    pub fn open_twins(&self) -> impl Iterator<Item = (usize, RawFd)> + '_ {
        self.twins.iter().enumerate().filter(|(_, &t)| t >= 0).map(|(c, &t)| (c, t))
    }
}

#[repr(C, align(64))]
struct Slot {
    seq: AtomicU32,
    kind: AtomicU8,
    pair: AtomicU8,
    origin: AtomicU8,
    flags: AtomicU8,
    key: AtomicU64,
    twins: [AtomicI32; MAX_COPIES],
    step: AtomicU32,
    /// Plain twin writes since the offsets were last compared (see [`count_step_write`]).
    step_writes: AtomicU32,
}

static TABLE: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());
static CAP: AtomicUsize = AtomicUsize::new(0);
/// One above the highest fd number ever recorded as mirrored (bounds whole-table scans).
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// Allocates the table for fd numbers below `cap` (pages are touched only when used).
pub fn init(cap: usize) -> bool {
    if !TABLE.load(Ordering::Acquire).is_null() {
        return true;
    }
    let bytes = cap * std::mem::size_of::<Slot>();
    // SAFETY: an anonymous private mapping; zeroed memory is a valid table of EMPTY slots
    // (all-zero atomics).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    CAP.store(cap, Ordering::Relaxed);
    TABLE.store(p.cast(), Ordering::Release);
    true
}

/// Number of fd numbers the table covers.
pub fn capacity() -> usize {
    CAP.load(Ordering::Relaxed)
}

#[inline(always)]
fn slot(fd: RawFd) -> Option<&'static Slot> {
    let t = TABLE.load(Ordering::Acquire);
    if fd < 0 || (fd as usize) >= CAP.load(Ordering::Relaxed) || t.is_null() {
        return None;
    }
    // SAFETY: the table holds CAP slots and is never unmapped; fd is in range.
    Some(unsafe { &*t.add(fd as usize) })
}

/// The slot's kind (EMPTY for numbers the table does not cover).
#[inline(always)]
pub fn kind_of(fd: RawFd) -> u8 {
    slot(fd).map_or(kind::EMPTY, |s| s.kind.load(Ordering::Acquire))
}

/// True when the table covers `fd`.
pub fn covers(fd: RawFd) -> bool {
    slot(fd).is_some()
}

/// The flag bits of a mirrored slot (one load each for kind and flags), or `None` for every
/// other kind: the cheap test hooks make before taking a full [`get`].
#[inline(always)]
pub fn flags_of(fd: RawFd) -> Option<u8> {
    let s = slot(fd)?;
    if s.kind.load(Ordering::Acquire) != kind::MIRRORED {
        return None;
    }
    Some(s.flags.load(Ordering::Relaxed))
}

/// A consistent copy of a mirrored slot, or `None` for every other kind.
#[inline(always)]
pub fn get(fd: RawFd) -> Option<Entry> {
    let s = slot(fd)?;
    if s.kind.load(Ordering::Acquire) != kind::MIRRORED {
        return None;
    }
    read_consistent(s)
}

#[inline]
fn read_consistent(s: &Slot) -> Option<Entry> {
    loop {
        let seq = s.seq.load(Ordering::Acquire);
        if seq & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let kind = s.kind.load(Ordering::Acquire);
        let mut e = Entry::new(
            s.pair.load(Ordering::Relaxed) as usize,
            s.origin.load(Ordering::Relaxed) as usize,
            s.flags.load(Ordering::Relaxed),
            s.key.load(Ordering::Relaxed),
        );
        for (t, a) in e.twins.iter_mut().zip(&s.twins) {
            *t = a.load(Ordering::Relaxed);
        }
        e.step = s.step.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        if s.seq.load(Ordering::Relaxed) == seq {
            return (kind == kind::MIRRORED).then_some(e);
        }
    }
}

fn write_with(s: &Slot, f: impl FnOnce(&Slot)) {
    // Writers of one fd number are serialised by the program (it owns the number); the CAS
    // only guards against a signal handler re-entering mid-write.
    let mut seq = s.seq.load(Ordering::Relaxed);
    loop {
        if seq & 1 == 1 {
            std::hint::spin_loop();
            seq = s.seq.load(Ordering::Relaxed);
            continue;
        }
        match s.seq.compare_exchange_weak(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(cur) => seq = cur,
        }
    }
    std::sync::atomic::fence(Ordering::Release);
    f(s);
    s.seq.store(seq + 2, Ordering::Release);
}

/// Records a mirrored fd.
pub fn set(fd: RawFd, e: &Entry) {
    let Some(s) = slot(fd) else { return };
    HIGH.fetch_max(fd as usize + 1, Ordering::Relaxed);
    write_with(s, |s| {
        s.pair.store(e.pair as u8, Ordering::Relaxed);
        s.origin.store(e.origin as u8, Ordering::Relaxed);
        s.flags.store(e.flags, Ordering::Relaxed);
        s.key.store(e.key, Ordering::Relaxed);
        for (a, &t) in s.twins.iter().zip(&e.twins) {
            a.store(t, Ordering::Relaxed);
        }
        s.step.store(e.step, Ordering::Relaxed);
        s.step_writes.store(0, Ordering::Relaxed);
        s.kind.store(kind::MIRRORED, Ordering::Release);
    });
}

/// The slot's kind, and when it is OUTSIDE or RELATED (a plain kind, no entry), the slot is
/// emptied: what `close` needs, in one lookup.
#[inline(always)]
pub fn forget_plain(fd: RawFd) -> u8 {
    let Some(s) = slot(fd) else { return kind::EMPTY };
    let k = s.kind.load(Ordering::Acquire);
    if k == kind::OUTSIDE || k == kind::RELATED {
        s.kind.store(kind::EMPTY, Ordering::Release);
    }
    k
}

/// Sets a slot's kind (EMPTY, OUTSIDE, RELATED), dropping anything it held.
#[inline(always)]
pub fn set_kind(fd: RawFd, k: u8) {
    if let Some(s) = slot(fd) {
        let cur = s.kind.load(Ordering::Relaxed);
        if cur == k {
            return;
        }
        if cur == kind::MIRRORED || k == kind::MIRRORED {
            write_with(s, |s| s.kind.store(k, Ordering::Release));
        } else {
            // No multi-field entry is involved: a plain store is consistent.
            s.kind.store(k, Ordering::Release);
        }
    }
}

/// Marks `twin` as a twin descriptor owned by primary fd `owner`.
pub fn set_twin(twin: RawFd, owner: RawFd) {
    let Some(s) = slot(twin) else { return };
    write_with(s, |s| {
        s.twins[0].store(owner, Ordering::Relaxed);
        s.kind.store(kind::TWIN, Ordering::Release);
    });
}

/// The primary fd that owns twin `fd`.
pub fn twin_owner(fd: RawFd) -> Option<RawFd> {
    let s = slot(fd)?;
    (s.kind.load(Ordering::Acquire) == kind::TWIN).then(|| s.twins[0].load(Ordering::Relaxed))
}

/// Sets flag bits on a mirrored slot.
pub fn add_flags(fd: RawFd, f: u8) {
    if let Some(s) = slot(fd) {
        if s.kind.load(Ordering::Acquire) == kind::MIRRORED {
            s.flags.fetch_or(f, Ordering::AcqRel);
        }
    }
}

/// Clears flag bits on a mirrored slot.
pub fn clear_flags(fd: RawFd, f: u8) {
    if let Some(s) = slot(fd) {
        if s.kind.load(Ordering::Acquire) == kind::MIRRORED {
            s.flags.fetch_and(!f, Ordering::AcqRel);
        }
    }
}

/// Records that the twins of `fd` are level in offset with it as of step generation `gen`.
/// Called under the file's coherency lock.
pub fn set_step(fd: RawFd, gen: u32) {
    if let Some(s) = slot(fd) {
        s.step.store(gen, Ordering::Relaxed);
    }
}

/// Counts one plain twin write on `fd`; true every [`STEP_CHECK_EVERY`] writes, when the
/// caller compares the offsets. Called under the file's coherency lock.
#[inline(always)]
pub fn count_step_write(fd: RawFd) -> bool {
    let Some(s) = slot(fd) else { return false };
    let n = s.step_writes.load(Ordering::Relaxed).wrapping_add(1);
    s.step_writes.store(n, Ordering::Relaxed);
    n % STEP_CHECK_EVERY == 0
}

/// How often plain twin writes on one descriptor are followed by a comparison of offsets.
pub const STEP_CHECK_EVERY: u32 = 64;

/// Replaces one twin of a mirrored slot. A slot left without a twin for a copy loses
/// [`flag::STEP`], which promises one on every copy.
pub fn set_twin_of(fd: RawFd, copy: usize, twin: RawFd) {
    if let Some(s) = slot(fd) {
        write_with(s, |s| {
            s.twins[copy].store(twin, Ordering::Relaxed);
            if twin < 0 {
                s.flags.fetch_and(!flag::STEP, Ordering::Relaxed);
            }
        });
    }
}

/// Mirrored fds currently in the table (for the exit-time flush and fork).
pub fn mirrored_fds() -> impl Iterator<Item = (RawFd, Entry)> {
    (0..HIGH.load(Ordering::Relaxed).min(capacity()) as RawFd).filter_map(|fd| get(fd).map(|e| (fd, e)))
}

const _: () = assert!(std::mem::size_of::<Slot>() == 64);
