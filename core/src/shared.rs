//! The shared state file, `STATE_DIR/shared.v4`: mapped by every process of the user that
//! mirrors and by the daemon. It holds, in this order:
//!
//! - a 4096-byte header: magic, a generation counter bumped at every change of a copy's
//!   state, the number of copies out of service, and the daemon's pid;
//! - the coherency lock slots ([`crate::locks`]);
//! - one [`PairState`] per pair name in use: which copies are out of service (and why), the
//!   journal's entry counter and epoch, failure counts and the last error of each copy;
//! - the intent slots ([`Intent`]): each names a path a live process may be changing on one
//!   copy and not yet on the others. A process that dies holding one leaves the path marked.
//!
//! The file is created 0600 and initialised once, under an `flock` of it, by the first process
//! that maps it; a magic number tells an initialised file. Everything in it is an atomic, so
//! processes use it without any further locking. A writer reads one word of its pair's state
//! on each change (which copies are in service); nothing here needs the daemon.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::config::MAX_COPIES;
use crate::locks::{self, Held, LockSlot, SLOTS};
use crate::sys;

const MAGIC: u64 = 0x4d46_5353_4852_4434; // "MFSSHRD4"
/// Name of the shared state file in the state directory.
pub const FILE_NAME: &CStr = c"shared.v4";

/// Pair states: one per pair name in use.
pub const PAIRS: usize = 255;
/// Intent slots: paths being changed right now, across every process.
pub const INTENTS: usize = 1024;
/// Longest path an intent slot holds (longer ones are journaled instead).
pub const INTENT_PATH: usize = 4096 - 24;

#[repr(C)]
struct Header {
    magic: AtomicU64,
    /// Size of the whole layout: a file of another build's layout is initialised again.
    layout: AtomicU64,
    /// Bumped whenever a copy changes state: a cache of the copy states is current while it
    /// is unchanged.
    generation: AtomicU64,
    /// Copies out of service, over every pair.
    offline_copies: AtomicU32,
    /// The running daemon's pid, 0 when none has registered.
    daemon_pid: AtomicU32,
    _reserved: [u8; 4096 - 32],
}

/// The shared state of one pair.
#[repr(C, align(64))]
pub struct PairState {
    /// Hash of the pair name owning this entry, 0 when free.
    name_hash: AtomicU64,
    /// Copies out of service (bit = copy index): changes skip them and are journaled.
    offline: AtomicU32,
    /// The subset of `offline` taken down by an administrator: never brought back by a probe.
    admin: AtomicU32,
    /// Copies being resynchronised now.
    resyncing: AtomicU32,
    /// Journal appends in flight (see [`PairState::begin_append`]).
    appenders: AtomicU32,
    /// Bumped when the daemon takes the journal file for replay: appenders reopen it.
    epoch: AtomicU32,
    _pad: u32,
    /// Per copy: journal entries written since its journal was last taken for replay.
    journal_entries: [AtomicU64; MAX_COPIES],
    failures: [AtomicU32; MAX_COPIES],
    last_errno: [AtomicU32; MAX_COPIES],
    /// Unix time of the last error, seconds.
    last_error_at: [AtomicU64; MAX_COPIES],
    /// Unix time the copy went out of service, nanoseconds.
    offline_at: [AtomicU64; MAX_COPIES],
}

/// One intent slot: a path a process may be changing on some copies and not yet on others.
#[repr(C, align(64))]
pub struct IntentSlot {
    /// Owner pid; 0 when free, `u32::MAX` while being filled.
    pid: AtomicU32,
    /// Bumped at each claim: a reader that sees it unchanged read one consistent claim.
    seq: AtomicU32,
    /// Index of the pair's [`PairState`].
    pair: AtomicU32,
    len: AtomicU32,
    /// Coherency key (device and inode, [`crate::locks::key_of`]) of the file: tells whether
    /// the path still names it.
    key: AtomicU64,
    path: [AtomicU64; INTENT_PATH / 8],
}

const FILLING: u32 = u32::MAX;

#[repr(C)]
struct Layout {
    header: Header,
    slots: [LockSlot; SLOTS],
    pairs: [PairState; PAIRS],
    intents: [IntentSlot; INTENTS],
}

const _: () = assert!(std::mem::size_of::<Header>() == 4096);
const _: () = assert!(std::mem::size_of::<IntentSlot>() == 4096);

/// A copy's state as the shared file tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyState {
    pub offline: bool,
    /// Taken down by an administrator (else by failures).
    pub admin: bool,
    pub resyncing: bool,
    pub failures: u32,
    /// Last error (errno) and when (Unix seconds), 0 when none.
    pub last_errno: u32,
    pub last_error_at: u64,
    /// When it went out of service (Unix nanoseconds), 0 when in service: changes that no
    /// process under the shim could have made happened on it after this.
    pub offline_at: u64,
}

/// A claimed intent as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub slot: usize,
    pub seq: u32,
    pub pid: u32,
    pub pair: usize,
    /// The file's coherency key, 0 when unknown.
    pub key: u64,
    pub path: Vec<u8>,
}

/// The mapped shared state file.
pub struct SharedState {
    map: *mut Layout,
}

// SAFETY: the mapping is shared memory designed for concurrent use through atomics only.
unsafe impl Send for SharedState {}
// SAFETY: as above.
unsafe impl Sync for SharedState {}

impl SharedState {
    /// Opens (creating and initialising when needed) the shared state file in `dir`. The
    /// descriptor is used only while mapping; `fd_floor` keeps it out of the program's range.
    pub fn open(dir: &CStr, fd_floor: i32) -> Option<SharedState> {
        let dirfd = sys::openat(libc::AT_FDCWD, dir, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
        let fd = sys::openat(dirfd, FILE_NAME, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, 0o600);
        sys::close(dirfd);
        let fd = sys::move_high(fd.ok()?, fd_floor);
        let table = Self::map(fd);
        sys::close(fd);
        table
    }

    fn map(fd: i32) -> Option<SharedState> {
        let size = std::mem::size_of::<Layout>();
        sys::flock(fd, libc::LOCK_EX).ok()?;
        let st = sys::fstat(fd).ok();
        if st.is_none_or(|s| (s.st_size as usize) < size) && sys::ftruncate(fd, size as libc::off_t).is_err() {
            let _ = sys::flock(fd, libc::LOCK_UN);
            return None;
        }
        // SAFETY: a shared mapping of a file just sized to `size` bytes.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if p == libc::MAP_FAILED {
            let _ = sys::flock(fd, libc::LOCK_UN);
            return None;
        }
        let shared = SharedState { map: p.cast() };
        let header = shared.header();
        if header.magic.load(Ordering::Acquire) != MAGIC || header.layout.load(Ordering::Acquire) != size as u64 {
            // We hold the file's flock, so no other process initialises concurrently, and no
            // process uses the file before the magic is published. A new file is all zeros,
            // which is every field's initial value; an old one is cleared.
            for slot in shared.slots() {
                slot.reset();
            }
            for p in shared.layout().pairs.iter() {
                p.clear();
            }
            for i in shared.layout().intents.iter() {
                i.pid.store(0, Ordering::Relaxed);
            }
            header.generation.store(0, Ordering::Relaxed);
            header.offline_copies.store(0, Ordering::Relaxed);
            header.daemon_pid.store(0, Ordering::Relaxed);
            header.layout.store(size as u64, Ordering::Relaxed);
            header.magic.store(MAGIC, Ordering::Release);
        }
        let _ = sys::flock(fd, libc::LOCK_UN);
        Some(shared)
    }

    fn layout(&self) -> &Layout {
        // SAFETY: the mapping is as large as `Layout` and stays for the life of `self`.
        unsafe { &*self.map }
    }

    fn header(&self) -> &Header {
        &self.layout().header
    }

    /// The coherency lock slots.
    #[inline(always)]
    pub fn slots(&self) -> &[LockSlot; SLOTS] {
        // SAFETY: as in `layout`.
        unsafe { &(*self.map).slots }
    }

    /// Takes the coherency lock of the file with key `key` (see [`crate::locks`]).
    #[inline(always)]
    pub fn lock(&self, key: u64) -> Held<'_> {
        locks::lock(self.slots(), key)
    }

    /// The generation: changes whenever any copy changes state.
    pub fn generation(&self) -> u64 {
        self.header().generation.load(Ordering::Acquire)
    }

    /// Copies out of service over every pair (0 in normal operation: one load tells it).
    #[inline(always)]
    pub fn offline_copies(&self) -> u32 {
        self.header().offline_copies.load(Ordering::Relaxed)
    }

    pub fn daemon_pid(&self) -> u32 {
        self.header().daemon_pid.load(Ordering::Acquire)
    }

    /// Records `pid` as the running daemon (0: none).
    pub fn set_daemon_pid(&self, pid: u32) {
        self.header().daemon_pid.store(pid, Ordering::Release);
    }

    /// The index of the state of the pair whose name hashes to `name_hash`, claiming a free
    /// entry for a new name; `None` when every entry belongs to another name.
    pub fn pair_index(&self, name_hash: u64) -> Option<usize> {
        let h = name_hash.max(1);
        let pairs = &self.layout().pairs;
        let start = (h % PAIRS as u64) as usize;
        (0..PAIRS).map(|i| (start + i) % PAIRS).find(|&i| {
            match pairs[i].name_hash.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => true,
                Err(o) => o == h,
            }
        })
    }

    /// The state of pair entry `index` (from [`SharedState::pair_index`]).
    #[inline(always)]
    pub fn pair(&self, index: usize) -> &PairState {
        &self.layout().pairs[index]
    }

    /// Takes `copy` of pair `index` out of service (`admin`: by an administrator); true when
    /// it was in service.
    pub fn mark_offline(&self, index: usize, copy: usize, admin: bool) -> bool {
        let p = self.pair(index);
        let bit = 1u32 << copy;
        if admin {
            p.admin.fetch_or(bit, Ordering::AcqRel);
        }
        let was = p.offline.fetch_or(bit, Ordering::AcqRel) & bit == 0;
        if was {
            p.offline_at[copy].store(unix_now_ns(), Ordering::Release);
            self.header().offline_copies.fetch_add(1, Ordering::AcqRel);
        }
        self.header().generation.fetch_add(1, Ordering::AcqRel);
        was
    }

    /// Moves the time `copy` of pair `index` went out of service to now (once the changes in
    /// flight at that moment are known to be done).
    pub fn restamp_offline(&self, index: usize, copy: usize) {
        self.pair(index).offline_at[copy].store(unix_now_ns(), Ordering::Release);
    }

    /// Puts `copy` of pair `index` back in service; true when it was out of service. Its
    /// failure count starts again.
    pub fn mark_online(&self, index: usize, copy: usize) -> bool {
        let p = self.pair(index);
        let bit = 1u32 << copy;
        p.admin.fetch_and(!bit, Ordering::AcqRel);
        p.failures[copy].store(0, Ordering::Release);
        let was = p.offline.fetch_and(!bit, Ordering::AcqRel) & bit != 0;
        if was {
            p.offline_at[copy].store(0, Ordering::Release);
            self.header().offline_copies.fetch_sub(1, Ordering::AcqRel);
        }
        self.header().generation.fetch_add(1, Ordering::AcqRel);
        was
    }

    /// Marks `copy` of pair `index` as being resynchronised (or no longer).
    pub fn set_resyncing(&self, index: usize, copy: usize, on: bool) {
        let p = self.pair(index);
        let bit = 1u32 << copy;
        if on {
            p.resyncing.fetch_or(bit, Ordering::AcqRel);
        } else {
            p.resyncing.fetch_and(!bit, Ordering::AcqRel);
        }
        self.header().generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Claims an intent slot for `path` of pair entry `pair` on behalf of process `pid`;
    /// `None` when the path is too long or every slot is taken (the caller journals instead).
    /// No system call: a store into shared memory.
    pub fn claim_intent(&self, pair: usize, pid: u32, path: &[u8], key: u64, hint: usize) -> Option<usize> {
        if path.len() > INTENT_PATH {
            return None;
        }
        let intents = &self.layout().intents;
        for i in 0..INTENTS {
            let idx = (hint + i) % INTENTS;
            let s = &intents[idx];
            if s.pid.load(Ordering::Relaxed) != 0
                || s.pid.compare_exchange(0, FILLING, Ordering::Acquire, Ordering::Relaxed).is_err()
            {
                continue;
            }
            s.seq.fetch_add(1, Ordering::Relaxed);
            s.pair.store(pair as u32, Ordering::Relaxed);
            s.len.store(path.len() as u32, Ordering::Relaxed);
            s.key.store(key, Ordering::Relaxed);
            for (w, chunk) in s.path.iter().zip(path.chunks(8)) {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                w.store(u64::from_le_bytes(b), Ordering::Relaxed);
            }
            s.pid.store(pid, Ordering::Release);
            return Some(idx);
        }
        None
    }

    /// Releases intent slot `slot` (the change reached every copy).
    pub fn release_intent(&self, slot: usize) {
        if let Some(s) = self.layout().intents.get(slot) {
            s.pid.store(0, Ordering::Release);
        }
    }

    /// Gives the intent slots of `pid` back (the process is about to exit, or is a fork child
    /// that does not own its parent's).
    pub fn release_intents_of(&self, pid: u32) {
        for s in self.layout().intents.iter() {
            if s.pid.load(Ordering::Relaxed) == pid {
                let _ = s.pid.compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    /// Every claimed intent, read consistently.
    pub fn intents(&self) -> Vec<Intent> {
        let mut out = Vec::new();
        for (slot, s) in self.layout().intents.iter().enumerate() {
            let pid = s.pid.load(Ordering::Acquire);
            if pid == 0 || pid == FILLING {
                continue;
            }
            let seq = s.seq.load(Ordering::Acquire);
            let pair = s.pair.load(Ordering::Relaxed) as usize;
            let len = (s.len.load(Ordering::Relaxed) as usize).min(INTENT_PATH);
            let key = s.key.load(Ordering::Relaxed);
            let mut path = Vec::with_capacity(len);
            for w in s.path.iter().take(len.div_ceil(8)) {
                path.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            path.truncate(len);
            if s.seq.load(Ordering::Acquire) == seq && s.pid.load(Ordering::Acquire) == pid && pair < PAIRS {
                out.push(Intent { slot, seq, pid, pair, key, path });
            }
        }
        out
    }

    /// Frees an intent read by [`SharedState::intents`] if it is still the same claim.
    pub fn clear_intent(&self, i: &Intent) -> bool {
        let s = &self.layout().intents[i.slot];
        s.seq.load(Ordering::Acquire) == i.seq
            && s.pid.compare_exchange(i.pid, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

impl PairState {
    fn clear(&self) {
        self.name_hash.store(0, Ordering::Relaxed);
        for a in [&self.offline, &self.admin, &self.resyncing, &self.appenders, &self.epoch] {
            a.store(0, Ordering::Relaxed);
        }
        for c in 0..MAX_COPIES {
            self.journal_entries[c].store(0, Ordering::Relaxed);
            self.failures[c].store(0, Ordering::Relaxed);
            self.last_errno[c].store(0, Ordering::Relaxed);
            self.last_error_at[c].store(0, Ordering::Relaxed);
            self.offline_at[c].store(0, Ordering::Relaxed);
        }
    }

    /// The copies out of service (bit = copy index): the one word a change reads.
    #[inline(always)]
    pub fn offline_mask(&self) -> u32 {
        self.offline.load(Ordering::Acquire)
    }

    /// The state of `copy`.
    pub fn copy(&self, copy: usize) -> CopyState {
        let bit = 1u32 << copy;
        CopyState {
            offline: self.offline.load(Ordering::Acquire) & bit != 0,
            admin: self.admin.load(Ordering::Acquire) & bit != 0,
            resyncing: self.resyncing.load(Ordering::Acquire) & bit != 0,
            failures: self.failures[copy].load(Ordering::Relaxed),
            last_errno: self.last_errno[copy].load(Ordering::Relaxed),
            last_error_at: self.last_error_at[copy].load(Ordering::Relaxed),
            offline_at: self.offline_at[copy].load(Ordering::Acquire),
        }
    }

    /// Counts one failure of `copy` with `errno`; returns the failures counted so far.
    pub fn note_failure(&self, copy: usize, errno: i32, counted: bool, now: u64) -> u32 {
        self.last_errno[copy].store(errno as u32, Ordering::Relaxed);
        self.last_error_at[copy].store(now, Ordering::Relaxed);
        if counted {
            self.failures[copy].fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.failures[copy].load(Ordering::Relaxed)
        }
    }

    /// Counts one more journal entry; returns the new count.
    pub fn count_journal(&self, copy: usize) -> u64 {
        self.journal_entries[copy].fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Journal entries written since the journal was last taken.
    pub fn journal_entries(&self, copy: usize) -> u64 {
        self.journal_entries[copy].load(Ordering::Acquire)
    }

    /// An append is about to be made: returns the journal epoch it must go to. Paired with
    /// [`PairState::end_append`]; the daemon waits for appends in flight before reading a
    /// journal it took.
    pub fn begin_append(&self) -> u32 {
        self.appenders.fetch_add(1, Ordering::AcqRel);
        self.epoch.load(Ordering::Acquire)
    }

    pub fn end_append(&self) {
        self.appenders.fetch_sub(1, Ordering::AcqRel);
    }

    /// The journal was taken (renamed away) for replay: later appends reopen the journal
    /// file, and its entry count starts again. Returns once no append is in flight, or after
    /// `max_wait` (an appender killed mid-append never ends its count).
    pub fn take_journal(&self, copy: usize, max_wait: std::time::Duration) -> bool {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.journal_entries[copy].store(0, Ordering::Release);
        let start = std::time::Instant::now();
        while self.appenders.load(Ordering::Acquire) != 0 {
            if start.elapsed() >= max_wait {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }

    /// The journal epoch (changes when the journal is taken).
    pub fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Acquire)
    }
}

/// Nanoseconds since the Unix epoch.
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// FNV-1a hash of a pair name, the key of its shared state.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn dir(name: &str) -> (std::path::PathBuf, CString) {
        let dir = std::env::temp_dir().join(format!("mfs-shared-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = CString::new(dir.to_str().unwrap()).unwrap();
        (dir, c)
    }

    /// Two mappings of one file are one state: a lock taken through one is seen held through
    /// the other, journal counters add up, and a copy taken offline through one is offline
    /// in the other.
    #[test]
    fn two_mappings_share_locks_states_and_counters() {
        let (d, c) = dir("two");
        let a = SharedState::open(&c, 100).expect("first mapping");
        let b = SharedState::open(&c, 100).expect("second mapping");
        let ia = a.pair_index(name_hash("data")).unwrap();
        assert_eq!(b.pair_index(name_hash("data")), Some(ia));
        let other = a.pair_index(name_hash("other")).unwrap();
        assert_ne!(other, ia);
        assert_eq!(a.pair(ia).count_journal(1), 1);
        assert_eq!(b.pair(ia).count_journal(1), 2);
        assert_eq!(a.pair(other).count_journal(1), 1);

        let g = a.generation();
        assert_eq!(b.offline_copies(), 0);
        assert!(a.mark_offline(ia, 1, false));
        assert!(!b.mark_offline(ia, 1, true), "already offline");
        assert_eq!(b.pair(ia).offline_mask(), 0b10);
        assert_eq!(b.offline_copies(), 1);
        assert!(b.generation() > g);
        let s = b.pair(ia).copy(1);
        assert!(s.offline && s.admin && !s.resyncing);
        assert!(s.offline_at > 0);
        assert_eq!(a.pair(ia).note_failure(1, libc::EIO, true, 7), 1);
        assert_eq!(b.pair(ia).copy(1).last_errno, libc::EIO as u32);
        assert!(b.mark_online(ia, 1));
        assert_eq!(a.pair(ia).offline_mask(), 0);
        assert_eq!(a.offline_copies(), 0);
        assert_eq!(a.pair(ia).copy(1).failures, 0);

        assert!(a.pair(ia).take_journal(1, std::time::Duration::from_millis(10)));
        assert_eq!(b.pair(ia).journal_entries(1), 0);
        let e = b.pair(ia).begin_append();
        assert_eq!(e, a.pair(ia).epoch());
        assert!(!a.pair(ia).take_journal(1, std::time::Duration::from_millis(20)), "waits for the append");
        b.pair(ia).end_append();
        assert_ne!(a.pair(ia).epoch(), e);

        let held = a.lock(5);
        assert!(held.exclusive());
        // The same thread taking the same slot through the other mapping is a nested take.
        assert!(matches!(b.lock(5), Held::Covered));
        std::thread::scope(|s| {
            s.spawn(|| {
                let start = std::time::Instant::now();
                let h2 = b.lock(5);
                assert!(h2.exclusive());
                assert!(start.elapsed() >= std::time::Duration::from_millis(150), "not serialised");
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn intents_are_claimed_read_and_released() {
        let (d, c) = dir("intents");
        let a = SharedState::open(&c, 100).unwrap();
        let b = SharedState::open(&c, 100).unwrap();
        let long = vec![b'x'; 300];
        let i1 = a.claim_intent(3, 41, b"dir/file name", 99, 7).unwrap();
        let i2 = a.claim_intent(3, 42, &long, 0, 7).unwrap();
        assert_eq!(i1, 7);
        assert_ne!(i1, i2);
        let seen = b.intents();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].path, b"dir/file name");
        assert_eq!((seen[0].pid, seen[0].pair, seen[0].key), (41, 3, 99));
        assert_eq!(seen[1].path, long);
        a.release_intent(i1);
        assert_eq!(b.intents().len(), 1);
        assert!(a.claim_intent(0, 1, &vec![0; INTENT_PATH + 1], 0, 0).is_none());
        let stale = b.intents().remove(0);
        assert!(b.clear_intent(&stale));
        assert!(!b.clear_intent(&stale), "once");
        a.claim_intent(1, 50, b"a", 0, 0).unwrap();
        a.claim_intent(1, 50, b"b", 0, 0).unwrap();
        a.claim_intent(1, 51, b"c", 0, 0).unwrap();
        a.release_intents_of(50);
        let left: Vec<_> = b.intents().into_iter().map(|i| i.path).collect();
        assert_eq!(left, vec![b"c".to_vec()]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn an_unusable_directory_gives_no_state() {
        assert!(SharedState::open(c"/nonexistent/mfs", 100).is_none());
    }
}
