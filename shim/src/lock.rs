//! Write coherency across threads and processes.
//!
//! A table of futex words in a file under the state directory, mapped by every process of the
//! user. A write takes the slot of its file (hash of device and inode), writes the primary,
//! writes the twins at the offset the primary write landed on, and releases: two writers of one
//! region can never leave the copies different. An uncontended lock is one compare-and-swap on
//! the slot's word, a release one swap.
//!
//! - The program's own locks are untouched: nothing is locked on the program's files.
//! - The word holds the holder's thread id. A waiter sleeps on the word (a futex shared between
//!   processes) at most a second at a time, and then checks whether the holder still exists: a
//!   holder killed mid-write is found dead, its slot taken over, and the file it was writing
//!   journaled as dirty. A live holder that does not let go within [`MAX_WAIT_SECS`] (a
//!   stopped process) stops being waited for: the write goes ahead unserialised and the file is
//!   journaled.
//! - Signal handlers: a hook entered from a signal handler while its thread is acquiring,
//!   holding or releasing a slot never waits for a slot. If the interrupted code holds the very
//!   slot needed, the nested write is covered by it; otherwise the nested write proceeds
//!   unserialised and the caller journals the file.

use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sys;

const MAGIC: u64 = 0x4d46_534c_4f43_4b33; // "MFSLOCK3"
/// Number of slots (files hash onto them).
pub const SLOTS: usize = 4096;
/// Name of the lock table file in the state directory.
pub const FILE_NAME: &CStr = c"locks.v3";

#[repr(C)]
struct Header {
    magic: AtomicU64,
    slots: u64,
    /// Journal entry counters, one per (pair name) in use: see [`LockTable::count_journal`].
    journals: [JournalCounter; JOURNAL_COUNTERS],
}

const JOURNAL_COUNTERS: usize = 255;

#[repr(C)]
struct JournalCounter {
    /// Hash of the pair name owning this counter, 0 when free.
    owner: AtomicU64,
    entries: AtomicU64,
}

#[repr(C, align(64))]
pub struct LockSlot {
    /// 0 when free, else the holder's thread id, with [`WAITERS`] set when some thread may be
    /// sleeping on the word.
    word: AtomicU32,
    /// Key of the file the holder is writing, 0 when free.
    key: AtomicU64,
}

/// Set in a slot's word while threads may wait for it: the release wakes one.
const WAITERS: u32 = 1 << 31;

#[repr(C)]
struct Shared {
    header: Header,
    slots: [LockSlot; SLOTS],
}

/// The mapped lock table.
pub struct LockTable {
    shared: *mut Shared,
}

// SAFETY: the table is shared memory designed for concurrent use through atomics only.
unsafe impl Send for LockTable {}
// SAFETY: as above.
unsafe impl Sync for LockTable {}

/// This thread's part in the lock table.
struct ThreadState {
    /// 0 none, else the index + 1 of the slot held, with [`BUSY`] set while it is being
    /// acquired or released.
    slot: Cell<u32>,
    /// The thread's id, once known (0 before; reset in a fork child).
    tid: Cell<u32>,
}

thread_local! {
    static STATE: ThreadState = const { ThreadState { slot: Cell::new(0), tid: Cell::new(0) } };
}

/// Forgets the thread id this thread cached: in a fork child, whose only thread has a new one.
pub fn after_fork_child() {
    let _ = STATE.try_with(|s| s.tid.set(0));
}

/// Makes sure this thread's id is cached (before a vfork, whose child shares the cache and
/// must not fill it with its own id).
pub fn cache_thread_id() {
    let _ = STATE.try_with(thread_id);
}

fn thread_id(s: &ThreadState) -> u32 {
    match s.tid.get() {
        0 => {
            let tid = sys::gettid() as u32;
            s.tid.set(tid);
            tid
        }
        tid => tid,
    }
}

const BUSY: u32 = 1 << 31;

/// What the previous holder left behind when it died holding the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    /// Nothing: the slot was released normally.
    Clean,
    /// The holder died while writing the file with this key.
    Died(u64),
}

/// The outcome of taking a slot.
pub enum Held<'a> {
    /// The slot is held; released on drop.
    Locked { slot: &'a LockSlot, recovered: Recovered },
    /// A signal handler's write while its thread already holds this very slot: covered.
    Covered,
    /// A signal handler's write while its thread is busy with another slot, or a mutex that
    /// could not be used: not serialised, so the caller journals the file.
    Unprotected,
}

impl LockTable {
    /// Opens (creating and initialising when needed) the lock table in `dir`.
    pub fn open(dir: &CStr, fd_base: i32) -> Option<LockTable> {
        let dirfd = sys::openat(libc::AT_FDCWD, dir, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
        let fd = sys::openat(dirfd, FILE_NAME, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, 0o600);
        sys::close(dirfd);
        let fd = sys::move_high(fd.ok()?, fd_base);
        let size = std::mem::size_of::<Shared>();
        let table = Self::map(fd, size);
        sys::close(fd);
        table
    }

    fn map(fd: i32, size: usize) -> Option<LockTable> {
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
        let shared = p.cast::<Shared>();
        // SAFETY: the mapping is at least `size` bytes and page aligned.
        let header = unsafe { &(*shared).header };
        if header.magic.load(Ordering::Acquire) != MAGIC {
            // We hold the file's flock, so no other process initialises concurrently, and no
            // process uses the slots before the magic is published.
            // SAFETY: the mapping stays for the process's lifetime.
            for slot in unsafe { &(*shared).slots } {
                slot.word.store(0, Ordering::Relaxed);
                slot.key.store(0, Ordering::Relaxed);
            }
            for c in &header.journals {
                c.owner.store(0, Ordering::Relaxed);
                c.entries.store(0, Ordering::Relaxed);
            }
            header.magic.store(MAGIC, Ordering::Release);
        }
        let _ = sys::flock(fd, libc::LOCK_UN);
        Some(LockTable { shared })
    }

    /// Counts one more journal entry for the pair whose name hashes to `name_hash`; returns
    /// the new count. Counters are shared by every process using this state directory, so the
    /// journal limit holds across processes. A full counter table counts in the last slot.
    pub fn count_journal(&self, name_hash: u64) -> u64 {
        let h = name_hash.max(1);
        // SAFETY: the mapping stays for the process's lifetime.
        let counters = unsafe { &(*self.shared).header.journals };
        let start = (h % JOURNAL_COUNTERS as u64) as usize;
        for i in 0..JOURNAL_COUNTERS {
            let c = &counters[(start + i) % JOURNAL_COUNTERS];
            match c.owner.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return c.entries.fetch_add(1, Ordering::AcqRel) + 1,
                Err(o) if o == h => return c.entries.fetch_add(1, Ordering::AcqRel) + 1,
                Err(_) => continue,
            }
        }
        counters[start].entries.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Resets the journal counter of a pair (after its journal was replayed and emptied).
    pub fn reset_journal(&self, name_hash: u64) {
        let h = name_hash.max(1);
        // SAFETY: as above.
        let counters = unsafe { &(*self.shared).header.journals };
        for c in counters.iter().filter(|c| c.owner.load(Ordering::Acquire) == h) {
            c.entries.store(0, Ordering::Release);
        }
    }

    /// Takes the slot for `key`.
    pub fn lock(&self, key: u64) -> Held<'_> {
        // One look-up of the thread's state for the whole call.
        STATE.try_with(|state| self.lock_as(state, key)).unwrap_or(Held::Unprotected)
    }

    fn lock_as(&self, state: &ThreadState, key: u64) -> Held<'_> {
        let i = index(key);
        let me = i as u32 + 1;
        let cur = state.slot.get();
        if cur != 0 {
            return if cur == me { Held::Covered } else { Held::Unprotected };
        }
        state.slot.set(me | BUSY);
        // SAFETY: the mapping stays for the process's lifetime; i < SLOTS.
        let slot = unsafe { &(*self.shared).slots[i] };
        let tid = thread_id(state);
        let recovered = if slot.word.compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            Some(Recovered::Clean)
        } else {
            acquire_contended(slot, tid)
        };
        let Some(recovered) = recovered else {
            state.slot.set(0);
            return Held::Unprotected;
        };
        slot.key.store(key, Ordering::Relaxed);
        state.slot.set(me);
        Held::Locked { slot, recovered }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Held::Locked { slot, .. } = self else { return };
        let release = |state: Option<&ThreadState>| {
            if let Some(s) = state {
                s.slot.set(s.slot.get() | BUSY);
            }
            slot.key.store(0, Ordering::Relaxed);
            if slot.word.swap(0, Ordering::Release) & WAITERS != 0 {
                futex_wake(&slot.word, 1);
            }
            if let Some(s) = state {
                s.slot.set(0);
            }
        };
        // One look-up of the thread's state; the slot is released even without it.
        if STATE.try_with(|s| release(Some(s))).is_err() {
            release(None);
        }
    }
}

/// The slot a file's key hashes onto.
#[inline(always)]
pub fn index(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS
}

/// Longest wait for a live holder before a write goes ahead without the lock.
pub const MAX_WAIT_SECS: u32 = 10;

/// The thread-id bits of a slot's word.
const TID_MASK: u32 = 0x3fff_ffff;

/// Takes a slot some thread holds: sleeps on its word, a second at a time, until it is free;
/// after each second, takes it over when its holder no longer exists. `None` when a live
/// holder kept it for [`MAX_WAIT_SECS`].
#[cold]
fn acquire_contended(slot: &LockSlot, tid: u32) -> Option<Recovered> {
    // `thread_exists` goes through libc, which sets errno.
    let _errno = sys::ErrnoGuard::save();
    for _ in 0..MAX_WAIT_SECS {
        let start = sys::monotonic_ns();
        loop {
            let seen = slot.word.load(Ordering::Relaxed);
            if seen == 0 {
                // Other threads may still be waiting: keep the bit, so the release wakes one.
                if slot.word.compare_exchange(0, tid | WAITERS, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return Some(Recovered::Clean);
                }
                continue;
            }
            if seen & WAITERS == 0
                && slot.word.compare_exchange(seen, seen | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            let waited = sys::monotonic_ns().saturating_sub(start);
            if waited >= 1_000_000_000 {
                break;
            }
            futex_wait(&slot.word, seen | WAITERS, 1_000_000_000 - waited);
        }
        let seen = slot.word.load(Ordering::Acquire);
        let owner = seen & TID_MASK;
        if owner != 0 && !thread_exists(owner as i32) {
            // The holder is gone: take the slot over, keeping the bit for other waiters.
            if slot.word.compare_exchange(seen, tid | WAITERS, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Some(Recovered::Died(slot.key.load(Ordering::Relaxed)));
            }
        }
    }
    None
}

/// Sleeps on `word` while it holds `expected`, at most `ns` nanoseconds (a futex shared between
/// processes: the table is a shared mapping).
fn futex_wait(word: &AtomicU32, expected: u32, ns: u64) {
    let ts = libc::timespec { tv_sec: (ns / 1_000_000_000) as libc::time_t, tv_nsec: (ns % 1_000_000_000) as _ };
    // Any outcome (woken, timed out, interrupted, the word changed) sends the caller round its
    // loop again.
    let _ = sys::futex(word.as_ptr(), libc::FUTEX_WAIT, expected, &ts);
}

/// Wakes at most `n` threads sleeping on `word`.
fn futex_wake(word: &AtomicU32, n: u32) {
    let _ = sys::futex(word.as_ptr(), libc::FUTEX_WAKE, n, std::ptr::null());
}

/// True when a thread with this id exists (in any process).
fn thread_exists(tid: i32) -> bool {
    // SAFETY: signal 0 only checks that the target exists.
    let r = unsafe { libc::kill(tid, 0) };
    r == 0 || sys::errno() == libc::EPERM
}

/// The coherency key of a file.
pub fn key_of(st: &libc::stat) -> u64 {
    let k = st.st_dev.rotate_left(32) ^ st.st_ino;
    if k == 0 {
        1
    } else {
        k
    }
}

/// FNV-1a hash of a pair name, the key of its journal counter.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

const _: () = assert!(std::mem::size_of::<Header>() == 4096);

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    fn table(name: &str) -> (std::path::PathBuf, LockTable) {
        let dir = std::env::temp_dir().join(format!("mfs-lock-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = CString::new(dir.to_str().unwrap()).unwrap();
        let t = LockTable::open(&c, 100).expect("lock table");
        (dir, t)
    }

    /// Threads taking one slot in turn never overlap: a read-modify-write of a plain counter
    /// under the slot loses no update, and every waiter is woken.
    #[test]
    fn one_holder_at_a_time() {
        let (dir, t) = table("mutex");
        let inside = AtomicUsize::new(0);
        let mut count = 0u64;
        let count_at = std::ptr::addr_of_mut!(count) as usize;
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        let held = t.lock(42);
                        assert!(matches!(held, Held::Locked { recovered: Recovered::Clean, .. }));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                        // SAFETY: the slot serialises every access to the counter.
                        unsafe { *(count_at as *mut u64) += 1 };
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(held);
                    }
                });
            }
        });
        assert_eq!(count, 6 * 20_000);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A slot whose word names a thread that no longer exists is taken over after at most
    /// about a second, and the key its holder was writing is reported.
    #[test]
    fn a_dead_holder_is_taken_over() {
        let (dir, t) = table("dead");
        let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let key = 7u64;
        // SAFETY: the mapping stays for the process's lifetime.
        let slot = unsafe { &(*t.shared).slots[index(key)] };
        slot.word.store(dead, Ordering::SeqCst);
        slot.key.store(99, Ordering::SeqCst);
        let start = Instant::now();
        let held = t.lock(key);
        assert!(matches!(held, Held::Locked { recovered: Recovered::Died(99), .. }));
        assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
        drop(held);
        assert_eq!(slot.word.load(Ordering::SeqCst), 0, "released");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A nested take of the slot this thread holds (a signal handler's write) is covered; of
    /// another slot, unprotected.
    #[test]
    fn nested_takes_never_wait() {
        let (dir, t) = table("nested");
        let held = t.lock(1);
        assert!(matches!(held, Held::Locked { .. }));
        assert!(matches!(t.lock(1), Held::Covered));
        let other = (2..).find(|&k| index(k) != index(1)).unwrap();
        assert!(matches!(t.lock(other), Held::Unprotected));
        drop(held);
        assert!(matches!(t.lock(other), Held::Locked { .. }));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
