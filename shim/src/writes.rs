//! The data path: a write, an in-kernel copy or an fd-level change (ftruncate, fallocate,
//! fsync...) made on a mirrored descriptor's primary, repeated on its twins.
//!
//! Uses only the fd table, the coherency lock and raw system calls: no allocation and no lock
//! a signal handler could deadlock on.

use std::os::fd::RawFd;

use libc::{off_t, ssize_t};
use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::sys::{self, Errno, ErrnoGuard, SysResult};

use crate::bufs::Bufs;
use crate::coherency;
use crate::edge::{finish, protect};
use crate::fanout::{self, PathOp};
use crate::fdtable::{self, flag, Entry};
use crate::lockstep;
use crate::state::{JournalPath, State};

/// Mirrors `n` bytes that the primary just took at `off` onto every twin.
fn write_twins(st: &State, fd: RawFd, e: &Entry, bufs: Bufs<'_>, n: usize, off: off_t) -> Result<(), Errno> {
    // Copies without a twin descriptor (none could be kept) are written through a moment's
    // open of the same file.
    let mut by_path = |_copy: usize, dir: RawFd, name: &std::ffi::CStr| -> SysResult<()> {
        let t = sys::openat(dir, name, libc::O_WRONLY | libc::O_NOFOLLOW, 0)?;
        let r = bufs.pwrite_prefix(t, n, off);
        sys::close(t);
        r
    };
    let range = Some((off as u64, n as u64));
    fanout::fanout_fd_range(st, fd, e, Op::Write, range, |t| bufs.pwrite_prefix(t, n, off), Some(&mut by_path))
}

/// Journals a mirrored fd's file for every other copy.
fn journal_fd(st: &State, fd: RawFd, e: &Entry) {
    st.journal_others(e.pair, e.origin, Kind::Dirty, JournalPath::Fd(fd));
}

/// Writes to a mirrored descriptor: lock, write the primary, mirror at the offset the bytes
/// landed on (at `at`, or at the descriptor's offset when `None`); `moves` tells whether the
/// call moves the descriptor's offset. A descriptor in lockstep writes its twins plainly.
#[inline(never)]
pub fn write_mirrored(
    st: &State,
    fd: RawFd,
    e: &Entry,
    bufs: Bufs<'_>,
    at: Option<off_t>,
    moves: bool,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let mut held = coherency::lock(st, fd, e);
    if at.is_none() && lockstep::usable(st, e, &held) {
        return lockstep::write_plain(st, fd, e, bufs, held, real);
    }
    // Where a write at the offset starts. Hooked calls that move a shared offset are
    // ordered against this one by the lock; one that no hook sees (another program's raw
    // system call) shows as an offset that did not move by exactly what was written.
    let before = if at.is_none() && !e.has(flag::APPEND) { sys::lseek(fd, 0, libc::SEEK_CUR).ok() } else { None };
    let r = real();
    if r <= 0 || !moves {
        // Nothing was written, or the offset stays where it was.
        held.offsets_kept();
        if r <= 0 {
            return r;
        }
    }
    let mut errno = ErrnoGuard::save();
    let result = protect(
        || {
            journal_fd(st, fd, e);
            Ok(())
        },
        || {
            let off = match at {
                // pwrite on an O_APPEND descriptor appends (Linux): the bytes are at the end.
                Some(_) if e.has(flag::APPEND) => sys::fstat(fd).map(|s| s.st_size - r as off_t),
                Some(o) => Ok(o),
                None => match (before, sys::lseek(fd, 0, libc::SEEK_CUR)) {
                    (Some(start), Ok(end)) if end - r as off_t == start => Ok(start),
                    // The description appends (O_APPEND set through another descriptor of
                    // it, or by libc for an "a" stream): the bytes end at the offset.
                    (Some(_), Ok(end)) if appends(fd) => Ok(end - r as off_t),
                    // The offset moved by more than this write: where it landed is unknown.
                    (Some(_), _) => Err(Errno(libc::ESPIPE)),
                    (None, end) => end.map(|end| end - r as off_t),
                },
            };
            match off {
                Ok(off) => {
                    let res = write_twins(st, fd, e, bufs, r as usize, off);
                    if res.is_ok() && at.is_none() && e.has(flag::LOCKSTEP) && held.exclusive() {
                        lockstep::level_offsets(st, fd, e, off + r as off_t, &mut held);
                    }
                    res
                }
                Err(_) => {
                    // Journaled rather than guessed: the next resync brings the file level.
                    journal_fd(st, fd, e);
                    Ok(())
                }
            }
        },
    );
    drop(held);
    finish(r, result, -1, &mut errno)
}

/// fallocate on a twin with the primary's arguments, or, where the twin's file system lacks
/// the mode (sftp and many FUSE file systems allow none but 0), its equivalent: the affected
/// range copied from the primary (zeros for a punched or zeroed range, the shifted tail for a
/// collapse or insert) and the twin's size set to the primary's.
pub fn allocate_twin(primary: RawFd, twin: RawFd, mode: libc::c_int, off: off_t, len: off_t) -> SysResult<()> {
    match sys::fallocate(twin, mode, off, len) {
        Err(Errno(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)) => {
            let size = sys::fstat(primary)?.st_size;
            let shifts = mode & (libc::FALLOC_FL_COLLAPSE_RANGE | libc::FALLOC_FL_INSERT_RANGE) != 0;
            let end = if shifts { size } else { off.saturating_add(len).min(size) };
            if end > off {
                sys::copy_out(primary, twin, off, (end - off) as u64)?;
            }
            if sys::fstat(twin)?.st_size != size {
                sys::ftruncate(twin, size)?;
            }
            Ok(())
        }
        r => r,
    }
}

/// True when `fd`'s open file description is in append mode.
fn appends(fd: RawFd) -> bool {
    sys::fcntl(fd, libc::F_GETFL, 0).is_ok_and(|fl| fl as libc::c_int & libc::O_APPEND != 0)
}

/// Applies an fd-level change that has a direct twin form (ftruncate, fallocate, fsync...)
/// after the primary succeeded; `ok` tells success from the real call's result.
pub fn mirror_fd_op<R: Copy>(
    st: &State,
    fd: RawFd,
    kind: Op,
    r: R,
    ok: bool,
    mut op: impl FnMut(RawFd) -> SysResult<()>,
    by_path: Option<PathOp<'_>>,
) -> Result<R, Errno> {
    if !ok {
        return Ok(r);
    }
    let Some(e) = fdtable::get(fd) else { return Ok(r) };
    protect(
        || {
            journal_fd(st, fd, &e);
            Ok(r)
        },
        || fanout::fanout_fd(st, fd, &e, kind, &mut op, by_path).map(|()| r),
    )
}

/// Copies a byte range the kernel just wrote into a mirrored fd (by copy_file_range,
/// sendfile, splice or a clone) from the primary to every twin.
pub fn mirror_range(st: &State, fd_out: RawFd, off: off_t, n: u64) -> Result<(), Errno> {
    let Some(e) = fdtable::get(fd_out).filter(|e| e.has(flag::WRITABLE)) else { return Ok(()) };
    protect(
        || {
            journal_fd(st, fd_out, &e);
            Ok(())
        },
        || {
            let range = Some((off as u64, n));
            fanout::fanout_fd_range(
                st,
                fd_out,
                &e,
                Op::Write,
                range,
                |t| sys::copy_out(fd_out, t, off, n).map(drop),
                None,
            )
        },
    )
}

/// The body of the in-kernel copy calls: the destination's write offset comes from the
/// caller's offset pointer or from the descriptor's position before the call.
pub fn copy_into(st: &State, fd_out: RawFd, off_out: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(e) = fdtable::get(fd_out).filter(|e| e.has(flag::WRITABLE)) else { return real() };
    let held = coherency::lock(st, fd_out, &e);
    let before = match off_out {
        Some(o) => Some(o),
        None if e.has(flag::APPEND) => None,
        None => sys::lseek(fd_out, 0, libc::SEEK_CUR).ok(),
    };
    let r = real();
    if r <= 0 {
        return r;
    }
    let mut errno = ErrnoGuard::save();
    let start = match before {
        Some(o) => Some(o),
        None => sys::lseek(fd_out, 0, libc::SEEK_CUR).ok().map(|end| end - r as off_t),
    };
    let res = match start {
        Some(o) => mirror_range(st, fd_out, o, r as u64),
        None => {
            journal_fd(st, fd_out, &e);
            Ok(())
        }
    };
    drop(held);
    finish(r, res, -1, &mut errno)
}
