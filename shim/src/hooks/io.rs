//! Data calls: the write family, seeks, reads (for `read_from = "mirror"`), truncation,
//! allocation, syncing, and the in-kernel copies (copy_file_range, sendfile, splice, FICLONE).
//! The mirroring itself is [`crate::writes`].

use std::os::fd::RawFd;

use libc::{c_int, c_uint, c_ulong, c_void, iovec, off64_t, off_t, size_t, ssize_t};
use mfs_core::failure::Op;
use mfs_core::sys::{self, ErrnoGuard, SysResult};

use super::{hooks, trampolines};
use crate::bufs::{iovs, Bufs};
use crate::coherency::{self, FileLock};
use crate::edge::finish;
use crate::fanout::PathOp;
use crate::fdtable::{self, flag, Entry};
use crate::life;
use crate::real;
use crate::state::State;
use crate::writes::{self, copy_into, mirror_fd_op, mirror_range};

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
    let Some(st) = life::get() else { return real() };
    writes::write_mirrored(st, fd, &e, bufs, None, true, real)
}

#[inline(always)]
fn pwrite_like(fd: c_int, bufs: Bufs<'_>, off: off_t, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if fdtable::flags_of(fd).is_none_or(|f| f & flag::WRITABLE == 0) {
        return real();
    }
    let Some(e) = fdtable::get(fd) else { return real() };
    let Some(st) = life::get() else { return real() };
    writes::write_mirrored(st, fd, &e, bufs, Some(off), false, real)
}

/// A write that lands at the end of the file whatever the descriptor's mode and the offset
/// given (pwritev2 with RWF_APPEND): mirrored like a write on an O_APPEND descriptor.
fn appending_write(fd: c_int, bufs: Bufs<'_>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    let Some(mut e) = fdtable::get(fd) else { return real() };
    if !e.has(flag::WRITABLE) {
        return real();
    }
    let Some(st) = life::get() else { return real() };
    e.flags |= flag::APPEND;
    writes::write_mirrored(st, fd, &e, bufs, Some(0), true, real)
}

/// lseek and its aliases. The twins' offsets are not moved: a seek on a written descriptor
/// advances the file's offset generation under the coherency lock, and the next write mirrors
/// at the queried offset and sets the twins level (see [`crate::lockstep`]).
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
    let Some(st) = life::get() else { return real() };
    // Released after the seek, advancing the offset generation (and journaling what a dead
    // holder of the slot left behind, like any taker of the lock).
    let held = coherency::lock(st, fd, &e);
    let r = real();
    drop(held);
    r
}

/// The twin reads are served from with `read_from = "mirror"`: the first one whose copy is
/// online.
fn read_twin(e: &Entry) -> Option<RawFd> {
    let st = life::get()?;
    e.open_twins().find(|&(c, _)| st.online(e.pair, c)).map(|(_, t)| t)
}

/// For `read_from = "mirror"`: reads at the primary's offset from the first online twin and
/// moves the primary's offset by what was read. `None` falls back to the primary.
fn read_from_twin(fd: c_int, e: &Entry, buf: *mut c_void, n: size_t, at: Option<off_t>) -> Option<ssize_t> {
    let t = read_twin(e)?;
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

/// True when a read at `at` (the descriptor's offset when `None`) on a descriptor with these
/// flags needs the shim: it is served from a mirror, or it moves the offset of a description
/// mirrored writes go through.
#[inline(always)]
fn read_needs_shim(flags: Option<u8>, at: Option<off_t>) -> bool {
    flags.is_some_and(|f| f & flag::READ_MIRROR != 0 || (at.is_none() && f & flag::WRITABLE != 0))
}

/// The coherency lock of a writable mirrored descriptor whose offset a read is about to move.
/// Other processes may share the description (open, then fork) and write through it: a
/// mirrored write finds where its bytes landed from the offset, so no read may move it
/// between the primary write and that query.
fn lock_for_read<'a>(st: &'a State, fd: c_int, e: &Entry, at: Option<off_t>) -> Option<FileLock<'a>> {
    (at.is_none() && e.has(flag::WRITABLE)).then(|| coherency::lock(st, fd, e))
}

#[inline(always)]
fn read_like(fd: c_int, buf: *mut c_void, n: size_t, at: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if !read_needs_shim(fdtable::flags_of(fd), at) {
        return real();
    }
    read_tracked(fd, buf, n, at, real)
}

#[inline(never)]
fn read_tracked(fd: c_int, buf: *mut c_void, n: size_t, at: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    let (Some(e), Some(st)) = (fdtable::get(fd), life::get()) else { return real() };
    let _held = lock_for_read(st, fd, &e, at);
    if e.has(flag::READ_MIRROR) {
        if let Some(r) = read_from_twin(fd, &e, buf, n, at) {
            return r;
        }
    }
    real()
}

/// For vectored reads from a mirror: the vector is read into in order.
fn readv_like(fd: c_int, iov: *const iovec, cnt: c_int, at: Option<off_t>, real: impl FnOnce() -> ssize_t) -> ssize_t {
    if !read_needs_shim(fdtable::flags_of(fd), at) {
        return real();
    }
    let (Some(e), Some(st)) = (fdtable::get(fd), life::get()) else { return real() };
    let _held = lock_for_read(st, fd, &e, at);
    if !e.has(flag::READ_MIRROR) {
        return real();
    }
    if iov.is_null() || cnt <= 0 {
        return real();
    }
    let Some(t) = read_twin(&e) else { return real() };
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

/// The state when `fd` is a mirrored descriptor, whose changes may need mirroring.
#[inline(always)]
fn mirrored(fd: c_int) -> Option<&'static State> {
    fdtable::flags_of(fd)?;
    life::get()
}

/// The body of the in-kernel copy calls from `fd_in` (`in_moves`: at its offset, which the
/// call moves) into `fd_out` (see [`writes::copy_into`]). Reading at a writable mirrored
/// descriptor's offset takes its coherency lock first, as [`read_like`] does. A thread holds
/// one lock at a time: when the output is another mirrored file, its lock is then taken as
/// unprotected, and the output is journaled.
fn copied(
    fd_in: c_int,
    in_moves: bool,
    fd_out: c_int,
    off_out: Option<off_t>,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let in_held = if in_moves && read_needs_shim(fdtable::flags_of(fd_in), None) {
        match (fdtable::get(fd_in), life::get()) {
            (Some(e), Some(st)) => lock_for_read(st, fd_in, &e, None),
            _ => None,
        }
    } else {
        None
    };
    let r = match mirrored(fd_out) {
        Some(st) => copy_into(st, fd_out, off_out, real),
        None => real(),
    };
    drop(in_held);
    r
}

/// An fd-level change with a direct twin form (see [`writes::mirror_fd_op`]) after the real
/// call returned `r`, successfully when `ok`.
fn fd_op(
    fd: c_int,
    r: c_int,
    ok: bool,
    kind: Op,
    op: impl FnMut(RawFd) -> SysResult<()>,
    by_path: Option<PathOp<'_>>,
) -> c_int {
    let Some(st) = mirrored(fd).filter(|_| ok) else { return r };
    let mut errno = ErrnoGuard::save();
    let res = mirror_fd_op(st, fd, kind, r, ok, op, by_path).map(drop);
    finish(r, res, -1, &mut errno)
}

fn off_ptr(p: *mut off64_t) -> Option<off_t> {
    // SAFETY: the caller's offset pointer, read before the real call updates it.
    (!p.is_null()).then(|| unsafe { *p })
}

/// Runs a call that changes a mirrored file's data in place (ftruncate, fallocate) and its
/// mirroring `then(result)` under the file's coherency lock, so that no mirrored write of
/// another descriptor or process falls between the primary's change and the twins'.
#[inline(always)]
fn data_change(fd: c_int, real: impl FnOnce() -> c_int, then: impl FnOnce(c_int) -> c_int) -> c_int {
    if fdtable::flags_of(fd).is_none_or(|f| f & flag::WRITABLE == 0) {
        return then(real());
    }
    let (Some(e), Some(st)) = (fdtable::get(fd), life::get()) else { return then(real()) };
    let mut held = coherency::lock(st, fd, &e);
    // The offset stays where it is.
    held.offsets_kept();
    then(real())
}

fn truncated(fd: c_int, r: c_int, len: off_t) -> c_int {
    fd_op(fd, r, r == 0, Op::Write, |t| sys::ftruncate(t, len), None)
}

fn allocated(fd: c_int, r: c_int, ok: bool, mode: c_int, off: off_t, len: off_t) -> c_int {
    fd_op(fd, r, ok, Op::Allocate, |t| writes::allocate_twin(fd, t, mode, off, len), None)
}

/// fsync and friends: the twins are synced too; a directory without a twin is opened on
/// the mirror for the sync.
fn synced(fd: c_int, r: c_int, op: fn(RawFd) -> SysResult<()>) -> c_int {
    let mut by_path = |_copy: usize, dir: RawFd, name: &std::ffi::CStr| -> SysResult<()> {
        let f = sys::openat(dir, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
        let r = op(f);
        sys::close(f);
        r
    };
    fd_op(fd, r, r == 0, Op::Write, op, Some(&mut by_path))
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
        data_change(fd, || unsafe { real::ftruncate(fd, len) }, |r| truncated(fd, r, len))
    }
    fn ftruncate64(fd: c_int, len: off64_t) -> c_int {
        data_change(fd, || unsafe { real::ftruncate64(fd, len) }, |r| truncated(fd, r, len))
    }
    fn fallocate(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int {
        data_change(fd, || unsafe { real::fallocate(fd, mode, off, len) }, |r| allocated(fd, r, r == 0, mode, off, len))
    }
    fn fallocate64(fd: c_int, mode: c_int, off: off64_t, len: off64_t) -> c_int {
        data_change(fd, || unsafe { real::fallocate64(fd, mode, off, len) }, |r| allocated(fd, r, r == 0, mode, off, len))
    }
    fn posix_fallocate(fd: c_int, off: off_t, len: off_t) -> c_int {
        // Returns an error number instead of setting errno; 0 on success.
        data_change(fd, || unsafe { real::posix_fallocate(fd, off, len) }, |r| {
            let m = allocated(fd, r, r == 0, 0, off, len);
            if m == -1 { sys::errno() } else { m }
        })
    }
    fn posix_fallocate64(fd: c_int, off: off64_t, len: off64_t) -> c_int {
        data_change(fd, || unsafe { real::posix_fallocate64(fd, off, len) }, |r| {
            let m = allocated(fd, r, r == 0, 0, off, len);
            if m == -1 { sys::errno() } else { m }
        })
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
        fd_op(fd, r, r == 0, Op::Write, |t| sys::sync_file_range(t, off, n, flags), None)
    }

    fn copy_file_range(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t {
        copied(fd_in, off_in.is_null(), fd_out, off_ptr(off_out), || unsafe { real::copy_file_range(fd_in, off_in, fd_out, off_out, len, flags) })
    }
    fn sendfile(out_fd: c_int, in_fd: c_int, off: *mut off_t, count: size_t) -> ssize_t {
        copied(in_fd, off.is_null(), out_fd, None, || unsafe { real::sendfile(out_fd, in_fd, off, count) })
    }
    fn sendfile64(out_fd: c_int, in_fd: c_int, off: *mut off64_t, count: size_t) -> ssize_t {
        copied(in_fd, off.is_null(), out_fd, None, || unsafe { real::sendfile64(out_fd, in_fd, off, count) })
    }
    fn splice(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t {
        copied(fd_in, off_in.is_null(), fd_out, off_ptr(off_out), || unsafe { real::splice(fd_in, off_in, fd_out, off_out, len, flags) })
    }

    fn mfs_rs_ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
        let r = unsafe { real::variadic::call_ioctl(fd, req, arg) };
        if r != 0 || (req != FICLONE && req != FICLONERANGE) {
            return r;
        }
        let Some(st) = mirrored(fd) else { return r };
        let mut errno = ErrnoGuard::save();
        let res = if req == FICLONE {
            // The whole destination now equals the source: copy it, and cut the twin to size.
            match sys::fstat(fd) {
                Ok(s) => mirror_range(st, fd, 0, s.st_size as u64).and_then(|()| {
                    mirror_fd_op(st, fd, Op::Write, (), true, |t| sys::ftruncate(t, s.st_size), None)
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
            mirror_range(st, fd, range.dest_offset as off_t, len)
        };
        finish(r, res, -1, &mut errno)
    }
}

trampolines! {
    ioctl => mfs_c_ioctl;
}
