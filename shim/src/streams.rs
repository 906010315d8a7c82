//! Mirroring what stdio streams write.
//!
//! glibc's stdio reaches the kernel through libc-internal open, write, lseek and close calls
//! that no hook sees: `echo x > f` in bash, `as` and `ld` output, tee and git all write files
//! this way. The shim hooks the stream creators (fopen, freopen, fdopen), which tells it which
//! streams write a mirrored file, and every output, flush, seek and close entry point. After
//! each such call on a mirrored stream it copies the bytes the call flushed to the primary
//! from the primary onto every twin, before the call returns.
//!
//! Which bytes: a call flushed `pending before + bytes it produced - pending after`, where
//! *pending* is what waits in the stream's put area. glibc writes a flush and any direct
//! write back to back at the descriptor's offset (after seeking back over unread input on an
//! update stream), so the bytes of one call are contiguous and end at the descriptor's offset
//! after the call: the range is `[offset - flushed, offset)`, for O_APPEND descriptors too.
//! A call that only fills the buffer costs no system call: when the bytes fit in the buffer
//! the call runs without the coherency lock; otherwise the lock is held across the real call
//! and the copy, so another writer's bytes never land between the flush and the measurement.
//! Seeks and closes first flush the stream through the same accounting, then make the real
//! call, which has nothing left to write.
//!
//! There is no gap between what reached a primary through an intercepted call and its twins.
//! [`sync_fd`] (the program closes a stream's descriptor) and [`at_exit`] additionally level
//! each twin's size with its primary's, which catches bytes libc wrote where no hook runs
//! (perror, error(), psignal and other libc-internal users of stderr).

use std::os::fd::RawFd;

use libc::{c_int, off_t, FILE};
use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::sys::{self, Errno, ErrnoGuard};

use crate::coherency;
use crate::edge::{finish, protect};
use crate::fanout;
use crate::fdtable::{self, flag, Entry, LOST_TWIN};
use crate::glibc_file::{self as file, StreamLock};
use crate::owner::owns_memory;
use crate::real;
use crate::state::{JournalPath, State};

pub const EOF: c_int = libc::EOF;

/// A stream (or descriptor) that writes a regular file in a pair.
pub struct Tracked {
    st: &'static State,
    fd: RawFd,
    e: Entry,
}

impl Tracked {
    /// The descriptor when it is mirrored, writable and has (or lost) twins.
    #[inline(always)]
    pub fn of_fd(fd: RawFd) -> Option<Tracked> {
        let e = fdtable::get(fd)?;
        let has_copies = e.twins.iter().any(|&t| t >= 0 || t == LOST_TWIN);
        if !e.has(flag::WRITABLE) || e.has(flag::DIR) || !has_copies {
            return None;
        }
        Some(Tracked { st: crate::life::get()?, fd, e })
    }

    #[inline(always)]
    pub fn of(f: *mut FILE) -> Option<Tracked> {
        Tracked::of_fd(file::fileno(f))
    }

    /// Journals the file as possibly different on every other copy.
    fn journal(&self) {
        self.st.journal_others(self.e.pair, self.e.origin, Kind::Dirty, JournalPath::Fd(self.fd));
    }

    /// Copies `[off, off + len)` of the primary to every twin. The caller holds the lock.
    fn copy_to_twins(&self, off: off_t, len: u64) -> Result<(), Errno> {
        let Ok((src, owned)) = sys::readable(self.fd) else {
            self.journal();
            return Ok(());
        };
        let res = fanout::fanout_fd(
            self.st,
            self.fd,
            &self.e,
            Op::Write,
            |twin| sys::copy_range(src, off, twin, off, len).map(drop),
            None,
        );
        if owned {
            sys::close(src);
        }
        res
    }

    /// Mirrors the `flushed` bytes that end at the descriptor's offset.
    fn mirror_flushed(&self, flushed: u64) -> Result<(), Errno> {
        if flushed == 0 {
            return Ok(());
        }
        let Ok(end) = sys::lseek(self.fd, 0, libc::SEEK_CUR) else {
            self.journal();
            return Ok(());
        };
        let start = end.saturating_sub(flushed as off_t).max(0);
        if end <= start {
            return Ok(());
        }
        self.copy_to_twins(start, (end - start) as u64)
    }

    /// Makes every twin as long as the primary, copying a missing tail. Holds the lock.
    fn level(&self) -> Result<(), Errno> {
        let _held = coherency::lock(self.st, self.fd, &self.e);
        let Ok(size) = sys::fstat(self.fd).map(|s| s.st_size) else {
            return Ok(());
        };
        let mut src: Option<(RawFd, bool)> = None;
        let res = fanout::fanout_fd(
            self.st,
            self.fd,
            &self.e,
            Op::Write,
            |twin| {
                let (r, _) = match src {
                    Some(s) => s,
                    None => *src.insert(sys::readable(self.fd)?),
                };
                fanout::level_twin(r, twin, size, false)
            },
            None,
        );
        if let Some((r, true)) = src {
            sys::close(r);
        }
        res
    }
}

/// Runs an output or flush call on `f` and mirrors what it flushed. `hint` is how many bytes
/// the call will produce when known in advance (so a call that only fills the buffer can
/// skip the coherency lock); `produced` says how many it did produce given its result (an
/// upper bound on failure, `None` when unknown); `failed` is the call's failure value, used
/// when a mirror error must fail the call (fail mode).
#[inline(always)]
pub fn measured<R: Copy>(
    f: *mut FILE,
    hint: Option<u64>,
    real: impl FnOnce() -> R,
    produced: impl FnOnce(R) -> Option<u64>,
    failed: R,
) -> R {
    let Some(t) = Tracked::of(f) else {
        return real();
    };
    // Bytes that fit in the buffer of a stream no other thread can use reach no file.
    if hint.is_some_and(|n| !file::needs_lock(f) && file::fits(f, n)) {
        return real();
    }
    measured_slow(f, &t, hint, real, produced, failed)
}

#[inline(never)]
fn measured_slow<R: Copy>(
    f: *mut FILE,
    t: &Tracked,
    hint: Option<u64>,
    real: impl FnOnce() -> R,
    produced: impl FnOnce(R) -> Option<u64>,
    failed: R,
) -> R {
    let _stream = StreamLock::new(f);
    let before = file::pending(f);
    let quiet = hint.is_some_and(|n| file::fits(f, n));
    let mut held = if quiet { None } else { Some(coherency::lock(t.st, t.fd, &t.e)) };
    let r = real();
    let mut errno = ErrnoGuard::save();
    let after = file::pending(f);
    let res = protect(
        || {
            t.journal();
            Ok(())
        },
        || match (before, produced(r), after) {
            (Some(b), Some(n), Some(a)) => {
                let flushed = (b + n).saturating_sub(a);
                if flushed > 0 && quiet {
                    held = Some(coherency::lock(t.st, t.fd, &t.e));
                }
                t.mirror_flushed(flushed)
            }
            _ => {
                t.journal();
                Ok(())
            }
        },
    );
    drop(held);
    finish(r, res, failed, &mut errno)
}

/// Flushes a tracked stream's pending output through the accounting (before a seek, close
/// or reopen). Returns 0, or EOF with errno set as fflush left it.
pub(crate) fn flush_pending(f: *mut FILE, t: &Tracked) -> c_int {
    let _stream = StreamLock::new(f);
    if file::pending(f) == Some(0) {
        return 0;
    }
    // SAFETY: `f` is a live stream.
    measured_slow(f, t, Some(0), || unsafe { real::fflush(f) }, |_| Some(0), EOF)
}

/// A seek-like call: flush through the accounting first, then seek with nothing left to
/// write. A failed flush fails the call as glibc's own flush inside the seek would.
pub fn seek_like<R>(f: *mut FILE, failed: R, real: impl FnOnce() -> R) -> R {
    let Some(t) = Tracked::of(f) else {
        return real();
    };
    let _stream = StreamLock::new(f);
    if flush_pending(f, &t) != 0 {
        return failed;
    }
    real()
}

/// fflush(NULL) and fcloseall: every tracked stream is flushed through the accounting, then
/// the real call handles the rest. A failure of ours is reported as the real call would.
pub fn all_streams(real: impl FnOnce() -> c_int) -> c_int {
    if crate::life::get().is_none() {
        return real();
    }
    let failed = flush_tracked_streams();
    let r = real();
    match failed {
        Some(e) if r == 0 => {
            sys::set_errno(e);
            EOF
        }
        _ => r,
    }
}

/// Flushes every open stream on a mirrored file; the errno of the first failure, if any.
fn flush_tracked_streams() -> Option<c_int> {
    let mut failed = None;
    file::for_each_stream(|f| {
        if let Some(t) = Tracked::of(f) {
            if flush_pending(f, &t) != 0 {
                failed.get_or_insert(sys::errno());
            }
        }
    });
    failed
}

/// Forgets a descriptor that a stdio call closed internally (fclose, freopen), closing its
/// twins.
pub fn forget(fd: RawFd, e: Option<Entry>) {
    if fd < 0 || !owns_memory() || fdtable::kind_of(fd).is_shims() {
        return;
    }
    match e {
        Some(e) => match crate::life::get() {
            Some(st) => fanout::forget(st, fd, &e),
            None => fdtable::set_kind(fd, fdtable::FdKind::Empty),
        },
        None => fdtable::set_kind(fd, fdtable::FdKind::Empty),
    }
}

/// dprintf and friends write through a temporary stream on `fd` and flush it before
/// returning: the `r` bytes they report end at the descriptor's offset.
pub fn dprintf_like(fd: c_int, real: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = Tracked::of_fd(fd) else {
        return real();
    };
    let held = coherency::lock(t.st, t.fd, &t.e);
    let r = real();
    let mut errno = ErrnoGuard::save();
    let res = protect(
        || {
            t.journal();
            Ok(())
        },
        || {
            if r >= 0 {
                t.mirror_flushed(r as u64)
            } else {
                t.journal();
                Ok(())
            }
        },
    );
    drop(held);
    finish(r, res, -1, &mut errno)
}

/// Brings the twins of a stdio-written fd level with its primary, before the program's
/// close or dup2 ends the descriptor.
///
/// Every byte an intercepted stdio call flushed was mirrored by that call, so nothing is
/// owed here; the stream itself is gone or no longer ours to flush. What remains is output
/// libc produced where no hook runs: the twin's size is levelled with the primary's (a
/// missing tail is copied, an excess cut), under the coherency lock.
pub fn sync_fd(fd: RawFd) {
    let Some(t) = Tracked::of_fd(fd) else { return };
    let _errno = ErrnoGuard::save();
    let _ = protect(
        || {
            t.journal();
            Ok(())
        },
        || t.level(),
    );
}

/// Flushes every stream on a mirrored file and mirrors what reached the primaries; then
/// levels the descriptors stdio writes (0 to 2 and every stream's) with their primaries.
/// Runs from the library's destructor, after the program's own destructors and before
/// glibc's final flush of all streams.
pub fn at_exit() {
    if crate::life::get().is_none() {
        return;
    }
    let _errno = ErrnoGuard::save();
    protect(
        || (),
        || {
            flush_tracked_streams();
            for (fd, e) in fdtable::mirrored_fds() {
                if fd <= 2 || e.has(flag::STDIO) {
                    if let Some(t) = Tracked::of_fd(fd) {
                        let _ = t.level();
                    }
                }
            }
        },
    );
}
