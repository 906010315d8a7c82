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
use crate::sys::{self, Errno, ErrnoGuard, SysResult};

/// Takes the coherency lock of a mirrored file (none when no lock table is available).
pub(crate) fn lock<'a>(st: &'a State, fd: RawFd, e: &Entry) -> Option<Held<'a>> {
    let _errno = ErrnoGuard::save();
    let held = match st.locks() {
        Some(t) => t.lock(e.key),
        None => Held::Unprotected,
    };
    let journal = match &held {
        // A writer died between its primary and twin writes: that file may differ.
        Held::Locked { recovered: Recovered::Died(k), .. } => {
            Some(if *k == e.key { Rel::Fd(fd) } else { Rel::Path(b"") })
        }
        Held::Locked { .. } | Held::Covered => None,
        Held::Unprotected => Some(Rel::Fd(fd)),
    };
    if let Some(rel) = journal {
        for copy in (0..st.pair(e.pair).copies.len()).filter(|&c| c != e.origin) {
            st.journal(e.pair, copy, mfs_core::journal::Kind::Dirty, rel);
        }
    }
    Some(held)
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
    /// Writes the first `n` bytes at `off` on `t`.
    fn pwrite_prefix(&self, t: RawFd, n: usize, off: off_t) -> SysResult<()> {
        match *self {
            Bufs::One(p) => {
                // SAFETY: the primary write just read `n` bytes from this buffer.
                let b = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) };
                sys::pwrite_all(t, b, off)
            }
            Bufs::Vec(iov) => {
                let mut left = n;
                let mut at = off;
                for v in iov {
                    if left == 0 {
                        break;
                    }
                    let k = v.iov_len.min(left);
                    if k == 0 {
                        continue;
                    }
                    // SAFETY: as above, for each vector element the primary consumed.
                    let b = unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), k) };
                    sys::pwrite_all(t, b, at)?;
                    left -= k;
                    at += k as off_t;
                }
                Ok(())
            }
        }
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
    write_mirrored(st, fd, &e, bufs, None, real)
}

#[inline(never)]
fn write_mirrored(
    st: &State,
    fd: RawFd,
    e: &Entry,
    bufs: Bufs<'_>,
    at: Option<off_t>,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let held = lock(st, fd, e);
    let r = real();
    if r <= 0 {
        return r;
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
                Ok(off) => write_twins(st, fd, e, bufs, r as usize, off),
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
    write_mirrored(st, fd, &e, bufs, Some(off), real)
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
    write_mirrored(st, fd, &e, bufs, Some(0), real)
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
