//! The shim's own concurrency primitives, in one place. Each is usable from any hook, signal
//! handlers and fork children included: atomics and raw system calls only, no allocation on
//! the way in, no lock of libc's.
//!
//! - [`SeqCount`]: data written by one writer at a time and read without locking (the fd
//!   table's slots, the cached working directory);
//! - [`OwnerLock`]: a short lock that survives fork (the registry of shared mappings);
//! - [`OnceShared`]: a value opened on first use by one thread and published to all (the
//!   shared state file).

use std::cell::UnsafeCell;
use std::sync::atomic::{fence, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use mfs_core::sys;

/// A sequence counter: odd while a write is in progress. A reader copies the data and retries
/// when the counter moved meanwhile, so it never sees a torn copy and never blocks a writer.
pub struct SeqCount(AtomicU32);

impl SeqCount {
    pub const fn new() -> SeqCount {
        SeqCount(AtomicU32::new(0))
    }

    /// Runs `read` until it ran while no write was in progress, and returns what it read.
    /// `read` must only load (relaxed atomics or volatile copies): its result is discarded
    /// when a write overlapped it.
    #[inline(always)]
    pub fn read<T>(&self, mut read: impl FnMut() -> T) -> T {
        loop {
            let seq = self.0.load(Ordering::Acquire);
            if seq & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let v = read();
            fence(Ordering::Acquire);
            if self.0.load(Ordering::Relaxed) == seq {
                return v;
            }
        }
    }

    /// Runs `write` as the only writer, waiting for a write in progress to end first.
    pub fn write(&self, write: impl FnOnce()) {
        let mut seq = self.0.load(Ordering::Relaxed);
        loop {
            if seq & 1 == 1 {
                std::hint::spin_loop();
                seq = self.0.load(Ordering::Relaxed);
                continue;
            }
            match self.0.compare_exchange_weak(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(cur) => seq = cur,
            }
        }
        fence(Ordering::Release);
        write();
        self.0.store(seq + 2, Ordering::Release);
    }

    /// In a fork child: a write that another thread of the parent had in progress never ends
    /// here. Ends it; true when there was one (the data may be torn and must be rewritten).
    pub fn reset_after_fork(&self) -> bool {
        let seq = self.0.load(Ordering::Relaxed);
        if seq & 1 == 1 {
            self.0.store(seq + 1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

impl Default for SeqCount {
    fn default() -> Self {
        Self::new()
    }
}

/// A lock over `T` held briefly by one thread at a time. The word holds the holder's pid and
/// tid: a fork child that finds a holder of another pid (a thread that did not come along)
/// takes the lock over, and a thread that finds itself holding it (a signal handler that
/// interrupted the holder) is refused rather than deadlocked.
pub struct OwnerLock<T> {
    holder: AtomicU64,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is only touched by the thread that holds `holder`.
unsafe impl<T: Send> Sync for OwnerLock<T> {}

impl<T> OwnerLock<T> {
    pub const fn new(data: T) -> OwnerLock<T> {
        OwnerLock { holder: AtomicU64::new(0), data: UnsafeCell::new(data) }
    }

    /// Runs `f` on the data; `None` when this thread holds the lock already.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let pid = sys::getpid() as u32;
        let me = (u64::from(pid) << 32) | u64::from(sys::gettid() as u32);
        loop {
            match self.holder.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(cur) if cur == me => return None,
                Err(cur) if (cur >> 32) as u32 != pid => {
                    if self.holder.compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        break;
                    }
                }
                Err(_) => std::thread::yield_now(),
            }
        }
        struct Release<'a>(&'a AtomicU64);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(0, Ordering::Release);
            }
        }
        let _release = Release(&self.holder);
        // SAFETY: this thread holds the lock until `_release` drops.
        Some(f(unsafe { &mut *self.data.get() }))
    }
}

/// A value opened on first use and published to every thread, never freed. One thread opens
/// it while the others wait (at most a given time); a failed open is not remembered but tried
/// again on the next use.
pub struct OnceShared<T> {
    value: AtomicPtr<T>,
    /// Thread id of the thread opening it, 0 when none is.
    opening: AtomicI32,
}

impl<T> OnceShared<T> {
    pub const fn new() -> OnceShared<T> {
        OnceShared { value: AtomicPtr::new(std::ptr::null_mut()), opening: AtomicI32::new(0) }
    }

    /// The value when it has been opened.
    #[inline(always)]
    pub fn get(&self) -> Option<&T> {
        let p = self.value.load(Ordering::Acquire);
        // SAFETY: published once by `get_or_open`, never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The value, opening it with `open` when no thread has yet. A thread that arrives while
    /// another one opens it waits for that one, at most `max_wait_secs`; a signal handler that
    /// interrupted the opener on its own thread cannot wait and goes without.
    #[inline]
    pub fn get_or_open(&self, max_wait_secs: u32, open: impl FnOnce() -> Option<T>) -> Option<&T> {
        match self.get() {
            Some(v) => Some(v),
            None => self.open_slow(max_wait_secs, open),
        }
    }

    #[cold]
    fn open_slow(&self, max_wait_secs: u32, open: impl FnOnce() -> Option<T>) -> Option<&T> {
        let me = sys::gettid();
        let since = std::time::Instant::now();
        loop {
            match self.opening.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(t) if t == me => return None,
                Err(t) => {
                    if let Some(v) = self.get() {
                        return Some(v);
                    }
                    if !sys::thread_in_process(t) {
                        // A fork child inherits the mark, not the thread that set it.
                        let _ = self.opening.compare_exchange(t, 0, Ordering::AcqRel, Ordering::Acquire);
                    } else if since.elapsed().as_secs() >= u64::from(max_wait_secs) {
                        return None;
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
        let out = match self.get() {
            Some(v) => Some(v),
            None => open().map(|v| {
                let p = Box::into_raw(Box::new(v));
                self.value.store(p, Ordering::Release);
                // SAFETY: just published, never freed.
                unsafe { &*p }
            }),
        };
        self.opening.store(0, Ordering::Release);
        out
    }
}

impl<T> Default for OnceShared<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// Readers racing a writer that keeps two fields equal never see them differ.
    #[test]
    fn seqcount_readers_never_see_a_torn_write() {
        let seq = SeqCount::new();
        let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let mut seen = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let (x, y) = seq.read(|| (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)));
                        assert_eq!(x, y, "torn read");
                        assert!(x >= seen, "went backwards");
                        seen = x;
                    }
                });
            }
            for i in 1..=200_000u64 {
                seq.write(|| {
                    a.store(i, Ordering::Relaxed);
                    b.store(i, Ordering::Relaxed);
                });
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(seq.read(|| b.load(Ordering::Relaxed)), 200_000);
    }

    #[test]
    fn seqcount_write_left_open_by_a_fork_is_ended() {
        let seq = SeqCount::new();
        assert!(!seq.reset_after_fork());
        seq.0.store(7, Ordering::Relaxed); // as a fork child finds it mid-write
        assert!(seq.reset_after_fork());
        assert_eq!(seq.read(|| 1), 1, "readers no longer wait");
    }

    #[test]
    fn owner_lock_serialises_and_refuses_its_own_holder() {
        let lock = OwnerLock::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        lock.with(|n| *n += 1).unwrap();
                    }
                });
            }
        });
        assert_eq!(lock.with(|n| *n), Some(40_000));
        assert_eq!(lock.with(|_| lock.with(|_| ())), Some(None), "nested take refused");
        // A holder of another process (a fork child's view of the parent's thread) is taken over.
        lock.holder.store(u64::from(u32::MAX) << 32 | 5, Ordering::Relaxed);
        assert_eq!(lock.with(|n| *n), Some(40_000));
    }

    #[test]
    fn once_shared_opens_once_and_retries_failures() {
        let once = OnceShared::<u32>::new();
        assert!(once.get().is_none());
        assert!(once.get_or_open(1, || None).is_none(), "a failed open is not published");
        let opened = AtomicUsize::new(0);
        let ptrs: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        let v = once.get_or_open(5, || {
                            opened.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Some(42)
                        });
                        v.map(|r| r as *const u32 as usize).unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        assert!(ptrs.iter().all(|&p| p == ptrs[0]));
        assert_eq!(once.get(), Some(&42));
    }
}
