//! The coherency lock: one futex word per slot of the shared state file, taken around every
//! change that must reach all copies together.
//!
//! A write takes the slot of its file (hash of device and inode), writes the primary, writes
//! the twins at the offset the primary write landed on, and releases: two writers of one
//! region can never leave the copies different. An uncontended lock is one compare-and-swap on
//! the slot's word, a release one swap. The daemon's resync takes the same slots.
//!
//! - The program's own locks are untouched: nothing is locked on the program's files.
//! - The word holds the holder's thread id. A waiter sleeps on the word (a futex shared between
//!   processes) at most a second at a time, and then checks whether the holder still exists: a
//!   holder killed mid-write is found dead, its slot taken over, and the file it was writing
//!   reported ([`Recovered::Died`]) so the caller journals it. A live holder that does not let
//!   go within [`MAX_WAIT_SECS`] (a stopped process) stops being waited for: the caller goes
//!   ahead unserialised ([`Held::Unprotected`]) and journals the file.
//! - Signal handlers: a take entered from a signal handler while its thread is acquiring,
//!   holding or releasing a slot never waits. If the interrupted code holds the very slot
//!   needed, the nested take is covered by it; otherwise it is unprotected.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sys;

/// Number of slots (files hash onto them).
pub const SLOTS: usize = 4096;

/// Longest wait for a live holder before a write goes ahead without the lock.
pub const MAX_WAIT_SECS: u32 = 10;

/// One lock slot, as laid out in the shared state file.
#[repr(C, align(64))]
pub struct LockSlot {
    /// 0 when free, else the holder's thread id, with [`WAITERS`] set when some thread may be
    /// sleeping on the word.
    word: AtomicU32,
    /// Key of the file the holder is writing, 0 when free.
    key: AtomicU64,
}

impl LockSlot {
    /// The holder's thread id, 0 when free (for waiting until changes in flight are done).
    pub fn holder(&self) -> u32 {
        self.word.load(Ordering::Acquire) & TID_MASK
    }

    /// A free slot.
    pub const fn new() -> LockSlot {
        LockSlot { word: AtomicU32::new(0), key: AtomicU64::new(0) }
    }

    /// Frees the slot whatever it holds (when the shared state file is first initialised).
    pub fn reset(&self) {
        self.word.store(0, Ordering::Relaxed);
        self.key.store(0, Ordering::Relaxed);
    }
}

impl Default for LockSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// Set in a slot's word while threads may wait for it: the release wakes one.
const WAITERS: u32 = 1 << 31;

/// The thread-id bits of a slot's word.
const TID_MASK: u32 = 0x3fff_ffff;

/// This thread's part in the lock slots.
struct ThreadState {
    /// 0 none, else the index + 1 of the slot held, with [`BUSY`] set while it is being
    /// acquired or released.
    slot: Cell<u32>,
    /// The thread's id, once known (0 before; reset in a fork child).
    tid: Cell<u32>,
}

const BUSY: u32 = 1 << 31;

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

#[inline]
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
    /// A signal handler's take while its thread already holds this very slot: covered.
    Covered,
    /// A signal handler's take while its thread is busy with another slot, a live holder that
    /// kept the slot too long, or no slots at all: not serialised, so the caller journals.
    Unprotected,
}

impl Held<'_> {
    /// True when the caller holds the slot outright: not nested in a holder of this thread,
    /// not taken over from a holder that died, not given up on.
    #[inline(always)]
    pub fn exclusive(&self) -> bool {
        matches!(self, Held::Locked { recovered: Recovered::Clean, .. })
    }

    /// True when the change is serialised against every other writer of the file and no
    /// earlier writer left it half done: nothing needs journaling.
    #[inline(always)]
    pub fn clean(&self) -> bool {
        matches!(self, Held::Locked { recovered: Recovered::Clean, .. } | Held::Covered)
    }
}

/// The slot a file's key hashes onto.
#[inline(always)]
pub fn index(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS
}

/// Takes the slot for `key` among `slots`.
#[inline]
pub fn lock(slots: &[LockSlot; SLOTS], key: u64) -> Held<'_> {
    // One look-up of the thread's state for the whole call.
    STATE.try_with(|state| lock_as(slots, state, key)).unwrap_or(Held::Unprotected)
}

#[inline]
fn lock_as<'a>(slots: &'a [LockSlot; SLOTS], state: &ThreadState, key: u64) -> Held<'a> {
    let i = index(key);
    let me = i as u32 + 1;
    let cur = state.slot.get();
    if cur != 0 {
        return if cur == me { Held::Covered } else { Held::Unprotected };
    }
    state.slot.set(me | BUSY);
    let slot = &slots[i];
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

impl Drop for Held<'_> {
    #[inline]
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
/// processes: the slots are in a shared mapping).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    fn slots() -> Box<[LockSlot; SLOTS]> {
        let v: Vec<LockSlot> = (0..SLOTS).map(|_| LockSlot::new()).collect();
        v.into_boxed_slice().try_into().unwrap_or_else(|_| unreachable!())
    }

    /// Threads taking one slot in turn never overlap: a read-modify-write of a plain counter
    /// under the slot loses no update, and every waiter is woken.
    #[test]
    fn one_holder_at_a_time() {
        let t = slots();
        let inside = AtomicUsize::new(0);
        let mut count = 0u64;
        let count_at = std::ptr::addr_of_mut!(count) as usize;
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        let held = lock(&t, 42);
                        assert!(held.exclusive());
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
    }

    /// A slot whose word names a thread that no longer exists is taken over after at most
    /// about a second, and the key its holder was writing is reported.
    #[test]
    fn a_dead_holder_is_taken_over() {
        let t = slots();
        let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let key = 7u64;
        let slot = &t[index(key)];
        slot.word.store(dead, Ordering::SeqCst);
        slot.key.store(99, Ordering::SeqCst);
        let start = Instant::now();
        let held = lock(&t, key);
        assert!(matches!(held, Held::Locked { recovered: Recovered::Died(99), .. }));
        assert!(!held.exclusive() && !held.clean());
        assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
        drop(held);
        assert_eq!(slot.word.load(Ordering::SeqCst), 0, "released");
    }

    /// A nested take of the slot this thread holds (a signal handler's write) is covered; of
    /// another slot, unprotected.
    #[test]
    fn nested_takes_never_wait() {
        let t = slots();
        let held = lock(&t, 1);
        assert!(matches!(held, Held::Locked { .. }));
        let covered = lock(&t, 1);
        assert!(matches!(covered, Held::Covered) && covered.clean() && !covered.exclusive());
        let other = (2..).find(|&k| index(k) != index(1)).unwrap();
        assert!(matches!(lock(&t, other), Held::Unprotected));
        drop(held);
        assert!(matches!(lock(&t, other), Held::Locked { .. }));
    }
}
