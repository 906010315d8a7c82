//! Data calls: the write family, reads (for `read_from = "mirror"`), truncation, allocation,
//! syncing, and the in-kernel copies (copy_file_range, sendfile, splice, FICLONE).
//!
//! The write path uses only the fd table, the coherency lock and raw system calls: no
//! allocation and no lock a signal handler could deadlock on.

use std::os::fd::RawFd;

use libc::{c_int, c_uint, c_ulong, c_void, iovec, off64_t, off_t, size_t, ssize_t};

use super::{hooks, protect, trampolines};
use crate::fdtable::{self, flag, Entry};
use crate::lock::{Held, Recovered};
use crate::mirror;
use crate::real;
use crate::state::{self, Rel, State};
use crate::step;
use crate::sys::{self, Errno, ErrnoGuard, SysResult};

/// The coherency lock of one file, held for one change.
///
/// Dropping it releases the lock. Unless [`Locked::keep_step`] was called, the file's step
/// generation advances first: the change may have moved the primary's offset without the
/// twins' (see [`crate::step`]).
pub(crate) struct Locked<'a> {
    held: Held<'a>,
    key: u64,
    in_step: bool,
}

impl Locked<'_> {
    /// True when this call holds the lock outright: not nested in a holder of this thread,
    /// not taken over from a holder that died, not given up on.
    #[inline(always)]
    fn exclusive(&self) -> bool {
        matches!(self.held, Held::Locked { recovered: Recovered::Clean, .. })
    }

    /// The change left every descriptor's offset as level with its twins' as it found it.
    #[inline(always)]
    fn keep_step(&mut self) {
        self.in_step = true;
    }
}

impl Drop for Locked<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.in_step {
            step::moved(self.key);
        }
    }
}

/// Takes the coherency lock of a mirrored file (held as unprotected when no lock table is
/// available, and the file journaled).
#[inline(always)]
pub(crate) fn lock<'a>(st: &'a State, fd: RawFd, e: &Entry) -> Locked<'a> {
    let held = match st.locks() {
        Some(t) => t.lock(e.key),
        None => Held::Unprotected,
    };
    if !matches!(held, Held::Locked { recovered: Recovered::Clean, .. } | Held::Covered) {
        journal_unsafe(st, fd, e, &held);
    }
    Locked { held, key: e.key, in_step: false }
}

/// Journals the file of a write the lock could not protect, or the file a dead holder left
/// half written.
#[cold]
#[inline(never)]
fn journal_unsafe(st: &State, fd: RawFd, e: &Entry, held: &Held<'_>) {
    let _errno = ErrnoGuard::save();
    let rel = match held {
        // A writer died between its primary and twin writes: that file may differ.
        Held::Locked { recovered: Recovered::Died(k), .. } if *k != e.key => Rel::Path(b""),
        _ => Rel::Fd(fd),
    };
    for copy in (0..st.pair(e.pair).copies.len()).filter(|&c| c != e.origin) {
        st.journal(e.pair, copy, mfs_core::journal::Kind::Dirty, rel);
    }
}

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
    mirror::fanout_fd(st, fd, e, |t| bufs.pwrite_prefix(t, n, off), Some(&mut by_path))
}

/// Where the bytes of a write come from.
#[derive(Clone, Copy)]
enum Bufs<'a> {
    One(*const c_void),
    Vec(&'a [iovec]),
}

impl Bufs<'_> {
    /// Calls `f` on each non-empty piece of the first `n` bytes, in order, with the piece's
    /// position from the start.
    #[inline(always)]
    fn pieces(&self, n: usize, mut f: impl FnMut(&[u8], usize) -> SysResult<()>) -> SysResult<()> {
        match *self {
            Bufs::One(p) => {
                // SAFETY: the primary write just read `n` bytes from this buffer.
                f(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) }, 0)
            }
            Bufs::Vec(iov) => {
                let mut at = 0;
                for v in iov {
                    if at == n {
                        break;
                    }
                    let k = v.iov_len.min(n - at);
                    if k == 0 {
                        continue;
                    }
                    // SAFETY: as above, for each vector element the primary consumed.
                    f(unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), k) }, at)?;
                    at += k;
                }
                Ok(())
            }
        }
    }

    /// Writes the first `n` bytes at `off` on `t`.
    fn pwrite_prefix(&self, t: RawFd, n: usize, off: off_t) -> SysResult<()> {
        self.pieces(n, |b, at| sys::pwrite_all(t, b, off + at as off_t))
    }

    /// Writes the first `n` bytes at `t`'s own offset.
    #[inline(always)]
    fn write_prefix(&self, t: RawFd, n: usize) -> SysResult<()> {
        self.pieces(n, |b, _| sys::write_all(t, b))
    }
}

/// The shared body of write and writev: lock, write the primary, mirror at the offset the
/// bytes landed on.
#[inline(always)]
fn write_like(fd: c_int, bufs: Bufs<'_>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if fdtable::flags_of(fd).is_none_or(|f| f & flag::WRITABLE == 0) {
        return real();
    }
    write_tracked(fd, bufs, real)
}

/// [`write_like`] on a descriptor the table marks writable.
#[inline(never)]
fn write_tracked(fd: c_int, bufs: Bufs<'_>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(e) = fdtable::get(fd) else { return real() };
    let Some(st) = state::get() else { return real() };
    write_mirrored(st, fd, &e, bufs, None, true, real)
}

/// Writes to a mirrored descriptor: at `at`, or at its offset when `None`; `moves` tells
/// whether the call moves the descriptor's offset.
#[inline(never)]
fn write_mirrored(
    st: &State,
    fd: RawFd,
    e: &Entry,
    bufs: Bufs<'_>,
    at: Option<off_t>,
    moves: bool,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let mut held = lock(st, fd, e);
    if at.is_none() && in_step(st, e, &held) {
        return write_in_step(st, fd, e, bufs, held, real);
    }
    let r = real();
    if r <= 0 || !moves {
        // Nothing was written, or the offset stays where it was.
        held.keep_step();
        if r <= 0 {
            return r;
        }
    }
    let mut errno = ErrnoGuard::save();
    let result = protect(
        || {
            mirror_journal(st, fd, e);
            Ok(())
        },
        || {
            let off = match at {
                // pwrite on an O_APPEND descriptor appends (Linux): the bytes are at the end.
                Some(_) if e.has(flag::APPEND) => sys::fstat(fd).map(|s| s.st_size - r as off_t),
                Some(o) => Ok(o),
                None => sys::lseek(fd, 0, libc::SEEK_CUR).map(|end| end - r as off_t),
            };
            match off {
                Ok(off) => {
                    let res = write_twins(st, fd, e, bufs, r as usize, off);
                    if res.is_ok() && at.is_none() && e.has(flag::STEP) && held.exclusive() {
                        level_offsets(st, fd, e, off + r as off_t, &mut held);
                    }
                    res
                }
                Err(_) => {
                    mirror_journal(st, fd, e);
                    Ok(())
                }
            }
        },
    );
    drop(held);
    match result {
        Ok(()) => r,
        Err(Errno(code)) => {
            errno.set(code);
            -1
        }
    }
}

/// True when a write at the descriptor's offset can go to every twin as a plain write: the
/// descriptor may use them (which implies a twin open on every other copy), its twins were
/// level with it at the file's current step generation, and every copy is online.
#[inline(always)]
fn in_step(st: &State, e: &Entry, held: &Locked<'_>) -> bool {
    e.flags & (flag::STEP | flag::APPEND | flag::STDIO) == flag::STEP
        && held.exclusive()
        && e.step == step::generation(e.key)
        && st.all_online()
}

/// Every copy other than the origin has an open twin and is online.
#[inline(always)]
fn twins_ready(st: &State, e: &Entry) -> bool {
    (0..st.pair(e.pair).copies.len()).all(|c| c == e.origin || (e.twins[c] >= 0 && st.online(e.pair, c)))
}

/// A write whose twins' offsets are level with the primary's: the bytes go to each twin as a
/// plain write, which keeps them level. Raw system calls leave errno alone, so it is saved
/// only where journaling might change it.
#[inline(always)]
fn write_in_step(
    st: &State,
    fd: RawFd,
    e: &Entry,
    bufs: Bufs<'_>,
    mut held: Locked<'_>,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let r = real();
    if r <= 0 {
        held.keep_step();
        return r;
    }
    let ncopies = st.pair(e.pair).copies.len();
    let result = protect(
        || {
            let _errno = ErrnoGuard::save();
            mirror_journal(st, fd, e);
            Err(None)
        },
        || {
            let mut result = Ok(());
            for (copy, &t) in e.twins.iter().enumerate().take(ncopies) {
                if copy != e.origin {
                    if let Err(err) = bufs.write_prefix(t, r as usize) {
                        let fail = twin_write_failed(st, fd, e, copy, t, err);
                        if !matches!(result, Err(Some(_))) {
                            result = Err(fail);
                        }
                    }
                }
            }
            result
        },
    );
    match result {
        Ok(()) => {
            held.keep_step();
            if fdtable::count_step_write(fd) {
                check_offsets(st, fd, e);
            }
            r
        }
        Err(None) => r,
        Err(Some(Errno(code))) => {
            drop(held);
            sys::set_errno(code);
            -1
        }
    }
}

/// A plain twin write failed: the twin's offset is now unknown (and dups share its
/// description), so the twin is dropped and the step ends. Returns the error the program
/// should see (fail mode).
#[cold]
#[inline(never)]
fn twin_write_failed(st: &State, fd: RawFd, e: &Entry, copy: usize, t: RawFd, err: Errno) -> Option<Errno> {
    let _errno = ErrnoGuard::save();
    let fail = st.mirror_failed(e.pair, copy, Rel::Fd(fd), err);
    mirror::lose_twin(fd, copy, t);
    fail
}

/// Sets every twin's offset to `end` (the primary's, after a write mirrored at the queried
/// offset) and records the file's current step generation for `fd`. Holds the lock. `was` is
/// the entry the write used: nothing is done unless the slot still holds the same twins (a
/// failed twin was dropped meanwhile, or the program closed the number under the write).
#[cold]
fn level_offsets(st: &State, fd: RawFd, was: &Entry, end: off_t, held: &mut Locked<'_>) {
    let Some(e) = fdtable::get(fd) else { return };
    if !e.has(flag::STEP) || e.key != was.key || e.twins != was.twins || !twins_ready(st, &e) {
        return;
    }
    if e.open_twins().all(|(_, t)| sys::lseek(t, end, libc::SEEK_SET).is_ok()) {
        fdtable::set_step(fd, step::generation(e.key));
        held.keep_step();
    }
}

/// Compares the twins' offsets with the primary's. A twin found elsewhere (the description
/// was written where no hook saw it) is journaled for resynchronisation and set level.
#[cold]
#[inline(never)]
fn check_offsets(st: &State, fd: RawFd, e: &Entry) {
    let _errno = ErrnoGuard::save();
    let Ok(want) = sys::lseek(fd, 0, libc::SEEK_CUR) else { return };
    for (copy, t) in e.open_twins() {
        if sys::lseek(t, 0, libc::SEEK_CUR).is_ok_and(|o| o != want) {
            st.journal(e.pair, copy, mfs_core::journal::Kind::Dirty, Rel::Fd(fd));
            let _ = sys::lseek(t, want, libc::SEEK_SET);
        }
    }
}

/// Journals a mirrored fd's path for every other copy.
fn mirror_journal(st: &State, fd: RawFd, e: &Entry) {
    for copy in (0..st.pair(e.pair).copies.len()).filter(|&c| c != e.origin) {
        st.journal(e.pair, copy, mfs_core::journal::Kind::Dirty, Rel::Fd(fd));
    }
}

#[inline(always)]
fn pwrite_like(fd: c_int, bufs: Bufs<'_>, off: off_t, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if fdtable::flags_of(fd).is_none_or(|f| f & flag::WRITABLE == 0) {
        return real();
    }
    let Some(e) = fdtable::get(fd) else { return real() };
    let Some(st) = state::get() else { return real() };
    write_mirrored(st, fd, &e, bufs, Some(off), false, real)
}

/// A write that lands at the end of the file whatever the descriptor's mode and the offset
/// given (pwritev2 with RWF_APPEND): mirrored like a write on an O_APPEND descriptor.
fn appending_write(fd: c_int, bufs: Bufs<'_>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(mut e) = fdtable::get(fd) else { return real() };
    if !e.has(flag::WRITABLE) {
        return real();
    }
    let Some(st) = state::get() else { return real() };
    e.flags |= flag::APPEND;
    write_mirrored(st, fd, &e, bufs, Some(0), true, real)
}

/// lseek and its aliases. The twins' offsets are not moved: a seek on a written descriptor
/// advances the file's step generation under the coherency lock, and the next write mirrors at
/// the queried offset and sets the twins level (see [`crate::step`]).
#[inline(always)]
fn seek_like(fd: c_int, off: off_t, whence: c_int, real: impl FnOnce() -> off_t) -> off_t {
    if (whence == libc::SEEK_CUR && off == 0) || fdtable::flags_of(fd).is_none_or(|f| f & flag::WRITABLE == 0) {
        return real();
    }
    seek_tracked(fd, real)
}

#[inline(never)]
fn seek_tracked(fd: c_int, real: impl FnOnce() -> off_t) -> off_t {
    let Some(e) = fdtable::get(fd) else { return real() };
    let Some(st) = state::get() else { return real() };
    // Released after the seek, advancing the step generation (and journaling what a dead
    // holder of the slot left behind, like any taker of the lock).
    let held = lock(st, fd, &e);
    let r = real();
    drop(held);
    r
}

/// For `read_from = "mirror"`: reads at the primary's offset from the first online twin and
/// moves the primary's offset by what was read. `None` falls back to the primary.
fn read_from_twin(fd: c_int, e: &Entry, buf: *mut c_void, n: size_t, at: Option<off_t>) -> Option<ssize_t> {
    let st = state::get()?;
    let (_, t) = e.open_twins().find(|&(c, _)| st.online(e.pair, c))?;
    let _errno = ErrnoGuard::save();
    let off = match at {
        Some(o) => o,
        None => sys::lseek(fd, 0, libc::SEEK_CUR).ok()?,
    };
    // SAFETY: the program handed us a buffer of `n` writable bytes.
    let b = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), n) };
    let got = sys::pread(t, b, off).ok()?;
    if at.is_none() {
        sys::lseek(fd, off + got as off_t, libc::SEEK_SET).ok()?;
    }
    Some(got as ssize_t)
}

#[inline(always)]
fn read_like(fd: c_int, buf: *mut c_void, n: size_t, at: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if fdtable::flags_of(fd).is_none_or(|f| f & flag::READ_MIRROR == 0) {
        return real();
    }
    if let Some(e) = fdtable::get(fd) {
        if e.has(flag::READ_MIRROR) {
            if let Some(r) = read_from_twin(fd, &e, buf, n, at) {
                return r;
            }
        }
    }
    real()
}

/// For vectored reads from a mirror: the vector is read into in order.
fn readv_like(fd: c_int, iov: *const iovec, cnt: c_int, at: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if fdtable::flags_of(fd).is_none_or(|f| f & flag::READ_MIRROR == 0) {
        return real();
    }
    let Some(e) = fdtable::get(fd).filter(|e| e.has(flag::READ_MIRROR)) else { return real() };
    if iov.is_null() || cnt <= 0 {
        return real();
    }
    let Some(st) = state::get() else { return real() };
    let Some((_, t)) = e.open_twins().find(|&(c, _)| st.online(e.pair, c)) else { return real() };
    let _errno = ErrnoGuard::save();
    let Ok(start) = at.map_or_else(|| sys::lseek(fd, 0, libc::SEEK_CUR), Ok) else { return real() };
    // SAFETY: the program passes `cnt` valid iovecs.
    let vecs = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    let mut total = 0usize;
    for v in vecs {
        // SAFETY: each iovec names a writable buffer of iov_len bytes.
        let b = unsafe { std::slice::from_raw_parts_mut(v.iov_base.cast::<u8>(), v.iov_len) };
        match sys::pread(t, b, start + total as off_t) {
            Ok(k) => {
                total += k;
                if k < b.len() {
                    break;
                }
            }
            Err(_) if total == 0 => return real(),
            Err(_) => break,
        }
    }
    if at.is_none() && sys::lseek(fd, start + total as off_t, libc::SEEK_SET).is_err() {
        return real();
    }
    total as ssize_t
}

/// Applies an fd-level change that has a direct twin form (ftruncate, fallocate, fsync...)
/// after the primary succeeded; `ok` tells success from the real call's result.
fn mirror_fd_op<R: Copy>(
    fd: c_int,
    r: R,
    ok: bool,
    mut op: impl FnMut(RawFd) -> SysResult<()>,
    by_path: Option<mirror::PathOp<'_>>,
) -> Result<R, Errno> {
    if !ok {
        return Ok(r);
    }
    let Some(e) = fdtable::get(fd) else { return Ok(r) };
    let Some(st) = state::get() else { return Ok(r) };
    protect(
        || {
            mirror_journal(st, fd, &e);
            Ok(r)
        },
        || mirror::fanout_fd(st, fd, &e, &mut op, by_path).map(|()| r),
    )
}

/// Finishes a hook whose mirroring may fail the call (fail mode): returns the result, or -1
/// with the mirror's errno.
fn finish<R: From<i8>>(r: Result<R, Errno>, errno: &mut ErrnoGuard) -> R {
    match r {
        Ok(v) => v,
        Err(Errno(e)) => {
            errno.set(e);
            R::from(-1)
        }
    }
}

/// Copies a byte range the kernel just wrote into a mirrored fd (by copy_file_range,
/// sendfile, splice or a clone) from the primary to every twin.
fn mirror_range(fd_out: c_int, off: off_t, n: u64) -> Result<(), Errno> {
    let Some(e) = fdtable::get(fd_out).filter(|e| e.has(flag::WRITABLE)) else { return Ok(()) };
    let Some(st) = state::get() else { return Ok(()) };
    protect(
        || {
            mirror_journal(st, fd_out, &e);
            Ok(())
        },
        || mirror::fanout_fd(st, fd_out, &e, |t| sys::copy_out(fd_out, t, off, n).map(drop), None),
    )
}

/// The body of the in-kernel copy calls: the destination's write offset comes from the
/// caller's offset pointer or from the descriptor's position before the call.
fn copy_into(fd_out: c_int, off_out: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(e) = fdtable::get(fd_out).filter(|e| e.has(flag::WRITABLE)) else { return real() };
    let Some(st) = state::get() else { return real() };
    let held = lock(st, fd_out, &e);
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
        Some(o) => mirror_range(fd_out, o, r as u64),
        None => {
            mirror_journal(st, fd_out, &e);
            Ok(())
        }
    };
    drop(held);
    finish(res.map(|()| r), &mut errno)
}

fn off_ptr(p: *mut off64_t) -> Option<off_t> {
    // SAFETY: the caller's offset pointer, read before the real call updates it.
    (!p.is_null()).then(|| unsafe { *p })
}

fn truncated(fd: c_int, r: c_int, len: off_t) -> c_int {
    let mut errno = ErrnoGuard::save();
    let res = mirror_fd_op(fd, r, r == 0, |t| sys::ftruncate(t, len), None);
    finish(res, &mut errno)
}

fn allocated(fd: c_int, r: c_int, ok: bool, mode: c_int, off: off_t, len: off_t) -> c_int {
    let mut errno = ErrnoGuard::save();
    let res = mirror_fd_op(fd, r, ok, |t| sys::fallocate(t, mode, off, len), None);
    finish(res, &mut errno)
}

/// fsync and friends: the twins are synced too; a directory without a twin is opened on
/// the mirror for the sync.
fn synced(fd: c_int, r: c_int, op: fn(RawFd) -> SysResult<()>) -> c_int {
    let mut errno = ErrnoGuard::save();
    let mut by_path = |_copy: usize, dir: RawFd, name: &std::ffi::CStr| -> SysResult<()> {
        let f = sys::openat(dir, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
        let r = op(f);
        sys::close(f);
        r
    };
    let res = mirror_fd_op(fd, r, r == 0, op, Some(&mut by_path));
    finish(res, &mut errno)
}

const FICLONE: c_ulong = 0x4004_9409;
const FICLONERANGE: c_ulong = 0x4020_940d;

#[repr(C)]
struct FileCloneRange {
    src_fd: i64,
    src_offset: u64,
    src_length: u64,
    dest_offset: u64,
}

hooks! {
    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
        write_like(fd, Bufs::One(buf), move || unsafe { real::direct::write(fd, buf, n).unwrap_or_else(|| real::write(fd, buf, n)) })
    }
    fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t {
        pwrite_like(fd, Bufs::One(buf), off, || unsafe { real::pwrite(fd, buf, n, off) })
    }
    fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off64_t) -> ssize_t {
        pwrite_like(fd, Bufs::One(buf), off, || unsafe { real::pwrite64(fd, buf, n, off) })
    }
    fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
        let v = iovs(iov, cnt);
        write_like(fd, Bufs::Vec(v), || unsafe { real::writev(fd, iov, cnt) })
    }
    fn pwritev(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t {
        let v = iovs(iov, cnt);
        pwrite_like(fd, Bufs::Vec(v), off, || unsafe { real::pwritev(fd, iov, cnt, off) })
    }
    fn pwritev64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t {
        let v = iovs(iov, cnt);
        pwrite_like(fd, Bufs::Vec(v), off, || unsafe { real::pwritev64(fd, iov, cnt, off) })
    }
    fn pwritev2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t {
        let v = iovs(iov, cnt);
        if flags & libc::RWF_APPEND != 0 {
            appending_write(fd, Bufs::Vec(v), || unsafe { real::pwritev2(fd, iov, cnt, off, flags) })
        } else if off == -1 {
            write_like(fd, Bufs::Vec(v), || unsafe { real::pwritev2(fd, iov, cnt, off, flags) })
        } else {
            pwrite_like(fd, Bufs::Vec(v), off, || unsafe { real::pwritev2(fd, iov, cnt, off, flags) })
        }
    }
    fn pwritev64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t {
        let v = iovs(iov, cnt);
        if flags & libc::RWF_APPEND != 0 {
            appending_write(fd, Bufs::Vec(v), || unsafe { real::pwritev64v2(fd, iov, cnt, off, flags) })
        } else if off == -1 {
            write_like(fd, Bufs::Vec(v), || unsafe { real::pwritev64v2(fd, iov, cnt, off, flags) })
        } else {
            pwrite_like(fd, Bufs::Vec(v), off, || unsafe { real::pwritev64v2(fd, iov, cnt, off, flags) })
        }
    }

    fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t {
        seek_like(fd, off, whence, || unsafe { real::lseek(fd, off, whence) })
    }
    fn lseek64(fd: c_int, off: off64_t, whence: c_int) -> off64_t {
        seek_like(fd, off, whence, || unsafe { real::lseek64(fd, off, whence) })
    }
    fn __lseek(fd: c_int, off: off_t, whence: c_int) -> off_t {
        seek_like(fd, off, whence, || unsafe { real::__lseek(fd, off, whence) })
    }
    fn llseek(fd: c_int, off: off64_t, whence: c_int) -> off64_t {
        seek_like(fd, off, whence, || unsafe { real::llseek(fd, off, whence) })
    }

    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
        read_like(fd, buf, n, None, || unsafe { real::read(fd, buf, n) })
    }
    fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t {
        read_like(fd, buf, n, Some(off), || unsafe { real::pread(fd, buf, n, off) })
    }
    fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off64_t) -> ssize_t {
        read_like(fd, buf, n, Some(off), || unsafe { real::pread64(fd, buf, n, off) })
    }
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
        readv_like(fd, iov, cnt, None, || unsafe { real::readv(fd, iov, cnt) })
    }
    fn preadv(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t {
        readv_like(fd, iov, cnt, Some(off), || unsafe { real::preadv(fd, iov, cnt, off) })
    }
    fn preadv64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t {
        readv_like(fd, iov, cnt, Some(off), || unsafe { real::preadv64(fd, iov, cnt, off) })
    }
    fn preadv2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t {
        readv_like(fd, iov, cnt, (off != -1).then_some(off), || unsafe { real::preadv2(fd, iov, cnt, off, flags) })
    }
    fn preadv64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t {
        readv_like(fd, iov, cnt, (off != -1).then_some(off), || unsafe { real::preadv64v2(fd, iov, cnt, off, flags) })
    }

    fn ftruncate(fd: c_int, len: off_t) -> c_int {
        let r = unsafe { real::ftruncate(fd, len) };
        truncated(fd, r, len)
    }
    fn ftruncate64(fd: c_int, len: off64_t) -> c_int {
        let r = unsafe { real::ftruncate64(fd, len) };
        truncated(fd, r, len)
    }
    fn fallocate(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int {
        let r = unsafe { real::fallocate(fd, mode, off, len) };
        allocated(fd, r, r == 0, mode, off, len)
    }
    fn fallocate64(fd: c_int, mode: c_int, off: off64_t, len: off64_t) -> c_int {
        let r = unsafe { real::fallocate64(fd, mode, off, len) };
        allocated(fd, r, r == 0, mode, off, len)
    }
    fn posix_fallocate(fd: c_int, off: off_t, len: off_t) -> c_int {
        // Returns an error number instead of setting errno; 0 on success.
        let r = unsafe { real::posix_fallocate(fd, off, len) };
        let m = allocated(fd, r, r == 0, 0, off, len);
        if m == -1 { sys::errno() } else { m }
    }
    fn posix_fallocate64(fd: c_int, off: off64_t, len: off64_t) -> c_int {
        let r = unsafe { real::posix_fallocate64(fd, off, len) };
        let m = allocated(fd, r, r == 0, 0, off, len);
        if m == -1 { sys::errno() } else { m }
    }
    fn fsync(fd: c_int) -> c_int {
        let r = unsafe { real::fsync(fd) };
        synced(fd, r, sys::fsync)
    }
    fn fdatasync(fd: c_int) -> c_int {
        let r = unsafe { real::fdatasync(fd) };
        synced(fd, r, sys::fdatasync)
    }
    fn sync_file_range(fd: c_int, off: off64_t, n: off64_t, flags: c_uint) -> c_int {
        let r = unsafe { real::sync_file_range(fd, off, n, flags) };
        let mut errno = ErrnoGuard::save();
        let res = mirror_fd_op(fd, r, r == 0, |t| sys::sync_file_range(t, off, n, flags), None);
        finish(res, &mut errno)
    }

    fn copy_file_range(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t {
        copy_into(fd_out, off_ptr(off_out), || unsafe { real::copy_file_range(fd_in, off_in, fd_out, off_out, len, flags) })
    }
    fn sendfile(out_fd: c_int, in_fd: c_int, off: *mut off_t, count: size_t) -> ssize_t {
        copy_into(out_fd, None, || unsafe { real::sendfile(out_fd, in_fd, off, count) })
    }
    fn sendfile64(out_fd: c_int, in_fd: c_int, off: *mut off64_t, count: size_t) -> ssize_t {
        copy_into(out_fd, None, || unsafe { real::sendfile64(out_fd, in_fd, off, count) })
    }
    fn splice(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t {
        copy_into(fd_out, off_ptr(off_out), || unsafe { real::splice(fd_in, off_in, fd_out, off_out, len, flags) })
    }

    fn mfs_rs_ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
        let r = unsafe { real::variadic::call_ioctl(fd, req, arg) };
        if r != 0 || (req != FICLONE && req != FICLONERANGE) {
            return r;
        }
        let mut errno = ErrnoGuard::save();
        let res = if req == FICLONE {
            // The whole destination now equals the source: copy it, and cut the twin to size.
            match sys::fstat(fd) {
                Ok(s) => mirror_range(fd, 0, s.st_size as u64).and_then(|()| {
                    mirror_fd_op(fd, (), true, |t| sys::ftruncate(t, s.st_size), None)
                }),
                Err(_) => Ok(()),
            }
        } else if arg.is_null() {
            Ok(())
        } else {
            // SAFETY: FICLONERANGE takes a struct file_clone_range, which the kernel just read.
            let range = unsafe { &*arg.cast::<FileCloneRange>() };
            let len = if range.src_length == 0 {
                sys::fstat(range.src_fd as RawFd).map(|s| (s.st_size as u64).saturating_sub(range.src_offset)).unwrap_or(0)
            } else {
                range.src_length
            };
            mirror_range(fd, range.dest_offset as off_t, len)
        };
        finish(res.map(|()| r), &mut errno)
    }
}

/// The program's iovec array as a slice (empty for a null or empty vector).
fn iovs<'a>(iov: *const iovec, cnt: c_int) -> &'a [iovec] {
    if iov.is_null() || cnt <= 0 {
        return &[];
    }
    // SAFETY: the program passes `cnt` iovecs; the real call validates them too.
    unsafe { std::slice::from_raw_parts(iov, cnt as usize) }
}

trampolines! {
    ioctl => mfs_c_ioctl;
}
