//! The descriptor table: what the shim knows about each fd number, readable without locks.
//!
//! One slot per fd number in an anonymous mapping sized at start-up. A hook on an fd that is
//! not mirrored pays one relaxed load of the slot's kind. Mirrored slots are written under a
//! per-slot sequence counter (odd while being written), so readers take a consistent copy
//! without locking and a signal handler can never deadlock on the table.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use mfs_core::config::MAX_COPIES;

use crate::sync::SeqCount;

/// What a slot says about its fd number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FdKind {
    /// Nothing known: the fd was opened where no hook saw it (or is closed).
    Empty = 0,
    /// Seen opened, and outside every pair and not above any root.
    Outside = 1,
    /// Seen opened: a directory above a root, so paths relative to it may enter a pair.
    Related = 2,
    /// A descriptor in a pair.
    Mirrored = 3,
    /// One of the shim's own twin descriptors.
    Twin = 4,
    /// Another descriptor of the shim's own (copy roots, journals, the log file).
    Private = 5,
}

impl FdKind {
    #[inline(always)]
    fn from_u8(k: u8) -> FdKind {
        match k {
            1 => FdKind::Outside,
            2 => FdKind::Related,
            3 => FdKind::Mirrored,
            4 => FdKind::Twin,
            5 => FdKind::Private,
            _ => FdKind::Empty,
        }
    }

    /// True for kinds whose numbers belong to the shim, not the program.
    #[inline(always)]
    pub fn is_shims(self) -> bool {
        matches!(self, FdKind::Twin | FdKind::Private)
    }

    /// True for the kinds that carry no entry and only tell where a path opened: OUTSIDE and
    /// RELATED.
    #[inline(always)]
    pub fn is_plain(self) -> bool {
        matches!(self, FdKind::Outside | FdKind::Related)
    }
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
    /// The twins' file offsets may be kept in lockstep with the primary's, so a write can go
    /// to each twin as a plain write: see [`crate::lockstep`]. Set for write-only,
    /// non-appending descriptors above 2 that this process opened; cleared for good by
    /// anything that could let the primary's offset move where no hook sees it.
    pub const LOCKSTEP: u8 = 32;
    /// Asynchronous writes were submitted through it (see [`crate::hooks::aio`]): the file
    /// is journaled once, as the copies can differ until an overlapping pair of them has
    /// completed.
    pub const ASYNC: u8 = 64;
}

/// No twin descriptor for this copy (the origin itself, or not opened).
pub const NO_TWIN: RawFd = -1;
/// The copy was unreachable when the fd was opened; its path is journaled.
pub const LOST_TWIN: RawFd = -2;
/// An entry naming no intent slot.
pub const NO_INTENT: u16 = u16::MAX;

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
    /// With [`flag::LOCKSTEP`]: the file's offset generation when the twins' offsets were last
    /// known to equal the primary's (see [`crate::lockstep`]).
    pub level_at: u32,
    /// The intent slot naming this file while it is open for writing (see
    /// [`crate::intents`]), [`NO_INTENT`] without one.
    pub intent: u16,
}

impl Entry {
    pub fn new(pair: usize, origin: usize, flags: u8, key: u64) -> Entry {
        Entry { pair, origin, flags, key, twins: [NO_TWIN; MAX_COPIES], level_at: 0, intent: NO_INTENT }
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
    seq: SeqCount,
    kind: AtomicU8,
    pair: AtomicU8,
    origin: AtomicU8,
    flags: AtomicU8,
    key: AtomicU64,
    twins: [AtomicI32; MAX_COPIES],
    level_at: AtomicU32,
    intent: AtomicU16,
    /// Plain twin writes since the offsets were last compared (see [`count_plain_write`]).
    plain_writes: AtomicU32,
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
pub fn kind_of(fd: RawFd) -> FdKind {
    slot(fd).map_or(FdKind::Empty, |s| FdKind::from_u8(s.kind.load(Ordering::Acquire)))
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
    if s.kind.load(Ordering::Acquire) != FdKind::Mirrored as u8 {
        return None;
    }
    Some(s.flags.load(Ordering::Relaxed))
}

/// A consistent copy of a mirrored slot, or `None` for every other kind.
#[inline(always)]
pub fn get(fd: RawFd) -> Option<Entry> {
    let s = slot(fd)?;
    if s.kind.load(Ordering::Acquire) != FdKind::Mirrored as u8 {
        return None;
    }
    read_consistent(s)
}

#[inline]
fn read_consistent(s: &Slot) -> Option<Entry> {
    let (kind, e) = s.seq.read(|| {
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
        e.level_at = s.level_at.load(Ordering::Relaxed);
        e.intent = s.intent.load(Ordering::Relaxed);
        (kind, e)
    });
    (kind == FdKind::Mirrored as u8).then_some(e)
}

/// Writes a slot's fields. Writers of one fd number are serialised by the program (it owns
/// the number); the sequence counter keeps readers from seeing a half-written entry.
fn write_with(s: &Slot, f: impl FnOnce(&Slot)) {
    s.seq.write(|| f(s));
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
        s.level_at.store(e.level_at, Ordering::Relaxed);
        s.intent.store(e.intent, Ordering::Relaxed);
        s.plain_writes.store(0, Ordering::Relaxed);
        s.kind.store(FdKind::Mirrored as u8, Ordering::Release);
    });
}

/// What `close` needs, in one lookup: `None` for a number the shim tracks nothing for
/// (EMPTY, or OUTSIDE and RELATED, which carry no entry and are emptied on the way), else the
/// slot's kind (MIRRORED or one of the shim's own).
#[inline(always)]
pub fn forget_plain(fd: RawFd) -> Option<FdKind> {
    let s = slot(fd)?;
    let k = s.kind.load(Ordering::Acquire);
    if k < FdKind::Mirrored as u8 {
        if k != FdKind::Empty as u8 {
            s.kind.store(FdKind::Empty as u8, Ordering::Release);
        }
        return None;
    }
    Some(FdKind::from_u8(k))
}

/// Sets a slot's kind, dropping any entry it held (a MIRRORED slot is recorded with [`set`]).
#[inline(always)]
pub fn set_kind(fd: RawFd, k: FdKind) {
    if let Some(s) = slot(fd) {
        let cur = s.kind.load(Ordering::Relaxed);
        if cur == k as u8 {
            return;
        }
        if cur == FdKind::Mirrored as u8 || k == FdKind::Mirrored {
            write_with(s, |s| s.kind.store(k as u8, Ordering::Release));
        } else {
            // No multi-field entry is involved: a plain store is consistent.
            s.kind.store(k as u8, Ordering::Release);
        }
    }
}

/// Marks `twin` as a twin descriptor owned by primary fd `owner`.
pub fn set_twin(twin: RawFd, owner: RawFd) {
    let Some(s) = slot(twin) else { return };
    write_with(s, |s| {
        s.twins[0].store(owner, Ordering::Relaxed);
        s.kind.store(FdKind::Twin as u8, Ordering::Release);
    });
}

/// The primary fd that owns twin `fd`.
pub fn twin_owner(fd: RawFd) -> Option<RawFd> {
    let s = slot(fd)?;
    (s.kind.load(Ordering::Acquire) == FdKind::Twin as u8).then(|| s.twins[0].load(Ordering::Relaxed))
}

/// Sets flag bits on a mirrored slot.
pub fn add_flags(fd: RawFd, f: u8) {
    if let Some(s) = slot(fd) {
        if s.kind.load(Ordering::Acquire) == FdKind::Mirrored as u8 {
            s.flags.fetch_or(f, Ordering::AcqRel);
        }
    }
}

/// Clears flag bits on a mirrored slot.
pub fn clear_flags(fd: RawFd, f: u8) {
    if let Some(s) = slot(fd) {
        if s.kind.load(Ordering::Acquire) == FdKind::Mirrored as u8 {
            s.flags.fetch_and(!f, Ordering::AcqRel);
        }
    }
}

/// Records that the twins of `fd` are level in offset with it as of offset generation `gen`.
/// Called under the file's coherency lock.
pub fn set_level_at(fd: RawFd, gen: u32) {
    if let Some(s) = slot(fd) {
        s.level_at.store(gen, Ordering::Relaxed);
    }
}

/// Counts one plain twin write on `fd`; true every [`OFFSET_CHECK_EVERY`] writes, when the
/// caller compares the offsets. Called under the file's coherency lock.
#[inline(always)]
pub fn count_plain_write(fd: RawFd) -> bool {
    let Some(s) = slot(fd) else { return false };
    let n = s.plain_writes.load(Ordering::Relaxed).wrapping_add(1);
    s.plain_writes.store(n, Ordering::Relaxed);
    n % OFFSET_CHECK_EVERY == 0
}

/// How often plain twin writes on one descriptor are followed by a comparison of offsets.
pub const OFFSET_CHECK_EVERY: u32 = 64;

/// Replaces one twin of a mirrored slot. A slot left without a twin for a copy loses
/// [`flag::LOCKSTEP`], which promises one on every copy.
pub fn set_twin_of(fd: RawFd, copy: usize, twin: RawFd) {
    if let Some(s) = slot(fd) {
        write_with(s, |s| {
            s.twins[copy].store(twin, Ordering::Relaxed);
            if twin < 0 {
                s.flags.fetch_and(!flag::LOCKSTEP, Ordering::Relaxed);
            }
        });
    }
}

/// Forgets every intent slot the table names (in a fork child: they are the parent's).
pub fn forget_intents() {
    for fd in 0..HIGH.load(Ordering::Relaxed).min(capacity()) {
        if let Some(s) = slot(fd as RawFd) {
            if s.intent.load(Ordering::Relaxed) != NO_INTENT {
                write_with(s, |s| s.intent.store(NO_INTENT, Ordering::Relaxed));
            }
        }
    }
}

/// Mirrored fds currently in the table (for the exit-time flush and fork).
pub fn mirrored_fds() -> impl Iterator<Item = (RawFd, Entry)> {
    (0..HIGH.load(Ordering::Relaxed).min(capacity()) as RawFd).filter_map(|fd| get(fd).map(|e| (fd, e)))
}

const _: () = assert!(std::mem::size_of::<Slot>() == 64);
