//! Write coherency across threads and processes.
//!
//! A table of process-shared, robust, recursive pthread mutexes in a file under the state
//! directory, mapped by every process of the user. A write takes the slot of its file (hash of
//! device and inode), writes the primary, writes the twins at the offset the primary write
//! landed on, and releases: two writers of one region can never leave the copies different.
//!
//! - The program's own locks are untouched: nothing is locked on the program's files.
//! - A holder killed mid-write is detected by the next locker (EOWNERDEAD); the mutex is
//!   made consistent again and the file the holder was writing is journaled as dirty. The
//!   kernel reports a dead owner only when the mutex was on that thread's robust list; a waiter
//!   therefore also checks, once a second, whether the owner recorded in the lock word still
//!   exists, and marks the word owner-died itself when it does not. A live holder that does
//!   not let go within [`MAX_WAIT_SECS`] (a stopped process) stops being waited for: the write
//!   goes ahead unserialised and the file is journaled.
//! - Signal handlers: pthread mutex calls are not async-signal-safe, so a hook entered from a
//!   signal handler while its thread is acquiring, holding or releasing a slot never calls
//!   them. If the interrupted code holds the very slot needed, the nested write is covered by
//!   it; otherwise the nested write proceeds unserialised and the caller journals the file.

use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys;

const MAGIC: u64 = 0x4d46_534c_4f43_4b32; // "MFSLOCK2"
const SLOTS: usize = 4096;
/// Name of the lock table file in the state directory.
pub const FILE_NAME: &CStr = c"locks.v2";

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
    mutex: libc::pthread_mutex_t,
    /// Key of the file the holder is writing, 0 when free.
    key: AtomicU64,
}

#[repr(C)]
struct Shared {
    header: Header,
    slots: [LockSlot; SLOTS],
}

/// The mapped lock table.
pub struct LockTable {
    shared: *mut Shared,
}

// SAFETY: the table is shared memory designed for concurrent use through pthread mutexes and
// atomics only.
unsafe impl Send for LockTable {}
// SAFETY: as above.
unsafe impl Sync for LockTable {}

thread_local! {
    /// This thread's lock activity: 0 none, else the slot index + 1, with [`BUSY`] set while
    /// a pthread call on it is in progress (acquiring or releasing).
    static STATE: Cell<u32> = const { Cell::new(0) };
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
            // SAFETY: we hold the file's flock, so no other process initialises concurrently,
            // and no process uses the slots before the magic is published.
            unsafe { init_slots(shared) };
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

    fn index(key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS
    }

    /// Takes the slot for `key`.
    pub fn lock(&self, key: u64) -> Held<'_> {
        let i = Self::index(key);
        let me = i as u32 + 1;
        let cur = STATE.try_with(Cell::get).unwrap_or(BUSY);
        if cur != 0 {
            return if cur == me { Held::Covered } else { Held::Unprotected };
        }
        let _ = STATE.try_with(|s| s.set(me | BUSY));
        // SAFETY: the mapping stays for the process's lifetime; i < SLOTS.
        let slot = unsafe { &(*self.shared).slots[i] };
        let m = &slot.mutex as *const _ as *mut libc::pthread_mutex_t;
        let rc = lock_bounded(m);
        let recovered = match rc {
            0 => Recovered::Clean,
            libc::EOWNERDEAD => {
                // SAFETY: we own the mutex after EOWNERDEAD; marking it consistent is the
                // documented recovery.
                unsafe { libc::pthread_mutex_consistent(m) };
                Recovered::Died(slot.key.load(Ordering::Relaxed))
            }
            _ => {
                let _ = STATE.try_with(|s| s.set(0));
                return Held::Unprotected;
            }
        };
        slot.key.store(key, Ordering::Relaxed);
        let _ = STATE.try_with(|s| s.set(me));
        Held::Locked { slot, recovered }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Held::Locked { slot, .. } = self {
            let _ = STATE.try_with(|s| s.set(s.get() | BUSY));
            slot.key.store(0, Ordering::Relaxed);
            let m = &slot.mutex as *const _ as *mut libc::pthread_mutex_t;
            // SAFETY: this thread holds the mutex (Locked exists only after a successful lock).
            unsafe { libc::pthread_mutex_unlock(m) };
            let _ = STATE.try_with(|s| s.set(0));
        }
    }
}

/// Initialises every slot's mutex as process-shared, robust and recursive.
///
/// # Safety
/// `shared` must point to a writable mapping of a whole `Shared` that nobody else uses yet.
unsafe fn init_slots(shared: *mut Shared) {
    // SAFETY: attribute object on our stack, initialised before use and destroyed after.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_RECURSIVE);
        for i in 0..SLOTS {
            let s = std::ptr::addr_of_mut!((*shared).slots[i]);
            libc::pthread_mutex_init(std::ptr::addr_of_mut!((*s).mutex), &attr);
            (*s).key.store(0, Ordering::Relaxed);
        }
        libc::pthread_mutexattr_destroy(&mut attr);
    }
}

/// Longest wait for a live holder before a write goes ahead without the lock.
pub const MAX_WAIT_SECS: u32 = 10;

/// Bits of a robust mutex's futex word (the first field of glibc's `pthread_mutex_t`).
const FUTEX_OWNER_DIED: i32 = 0x4000_0000;
const FUTEX_TID_MASK: i32 = 0x3fff_ffff;

/// Locks `m`, waiting at most [`MAX_WAIT_SECS`] for a live holder and recovering the lock
/// from a holder that no longer exists. Returns pthread's result (0, EOWNERDEAD, or an error
/// such as ETIMEDOUT when the wait was abandoned).
fn lock_bounded(m: *mut libc::pthread_mutex_t) -> i32 {
    // SAFETY: `m` points to an initialised process-shared mutex; its first field is the futex
    // word (glibc's layout on Linux), which the kernel and other processes update atomically.
    let word = unsafe { &*m.cast::<std::sync::atomic::AtomicI32>() };
    // Uncontended (nearly always): no deadline to compute.
    // SAFETY: as above.
    let rc = unsafe { libc::pthread_mutex_trylock(m) };
    if rc != libc::EBUSY {
        return rc;
    }
    for _ in 0..MAX_WAIT_SECS {
        // SAFETY: a zeroed timespec is valid; clock_gettime fills it.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a local.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        ts.tv_sec += 1;
        // SAFETY: as above; the timeout is an absolute CLOCK_REALTIME time.
        let rc = unsafe { libc::pthread_mutex_timedlock(m, &ts) };
        if rc != libc::ETIMEDOUT {
            return rc;
        }
        let seen = word.load(Ordering::Acquire);
        let owner = seen & FUTEX_TID_MASK;
        if owner != 0 && seen & FUTEX_OWNER_DIED == 0 && !thread_exists(owner) {
            // The holder is gone without the kernel noticing: mark the word as the kernel
            // would, so the next attempt gets EOWNERDEAD and recovers the mutex.
            if word.compare_exchange(seen, seen | FUTEX_OWNER_DIED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                // SAFETY: FUTEX_WAKE on the futex word wakes the other waiters to retry.
                unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
            }
        }
    }
    libc::ETIMEDOUT
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
