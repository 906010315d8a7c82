//! Metadata calls: modes, owners, times and extended attributes.
//!
//! Each hook makes the real call first. When it succeeded on an object in a pair, the same
//! change ([`crate::metadata::Change`]) is applied to that object on every other online copy:
//! through the twin descriptor when the program's fd has one, otherwise by path beneath the
//! copy's root. A call that followed a symlink on the origin side (chmod, chown, utimes,
//! setxattr...) is mirrored onto the object the kernel actually reached, wherever in the tree
//! that lies, or not at all when it lies outside every pair.

// The exported hooks implement libc functions; their safety contract is libc's.
#![allow(clippy::missing_safety_doc)]

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_char, c_int, c_void, gid_t, mode_t, size_t, timespec, timeval, uid_t, utimbuf};
use mfs_core::journal::Kind;
use mfs_core::path::PATH_MAX;
use mfs_core::sys::{self, Errno, ErrnoGuard, SysResult};

use super::{cbytes, hooks, placed};
use crate::edge::{finish, protect};
use crate::fanout::{self, Loc};
use crate::fdtable::{self, Entry};
use crate::life;
use crate::metadata::{Change, Origin, Times};
use crate::place::Class;
use crate::real;
use crate::state::{JournalPath, State};

/// Journals the path for every other copy of its pair (the shim could not mirror it).
fn journal_path(st: &State, loc: Loc<'_>) {
    st.journal_others(loc.pair, loc.origin, Kind::Dirty, JournalPath::Path(loc.rel));
}

/// Journals a mirrored descriptor's path for every other copy.
fn journal_fd(st: &State, fd: RawFd, e: &Entry) {
    st.journal_others(e.pair, e.origin, Kind::Dirty, JournalPath::Fd(fd));
}

/// The tail of a path-based hook: when the real call succeeded (`r == 0`) on a path in a
/// pair, builds the change (only then: it may look at the origin) and applies it to the
/// other copies. `follow`: the call followed a final symlink.
///
/// # Safety
/// `path` must be null or a NUL-terminated string that outlives the call.
unsafe fn path_changed<'p>(
    r: c_int,
    dirfd: c_int,
    path: *const c_char,
    follow: bool,
    change: impl FnOnce(Origin<'p>) -> SysResult<Change<'p>>,
) -> c_int {
    if r != 0 {
        return r;
    }
    let Some(st) = life::get() else { return r };
    // SAFETY: a libc path argument the real call just accepted.
    let Some(bytes) = (unsafe { cbytes(path) }) else {
        return r;
    };
    let mut errno = ErrnoGuard::save();
    let (mut scratch, mut resolved) = (None, None);
    let class = protect(|| Class::Unknown, || st.place.classify_change(dirfd, bytes, &mut scratch, &mut resolved));
    let Some((loc, abs)) = placed(st, class) else { return r };
    // SAFETY: non-null (checked above) and NUL-terminated; it lives as long as the call.
    let cpath: &'p CStr = unsafe { CStr::from_ptr(path) };
    let origin = Origin::At(dirfd, cpath, if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW });
    let res = protect(
        || {
            journal_path(st, loc);
            Ok(())
        },
        || match change(origin) {
            Ok(ch) if follow => fanout_followed(st, loc, abs, dirfd, cpath, &ch),
            Ok(ch) => fanout::fanout_path(st, loc, abs, ch.op(), |_, dir, name| ch.at(dir, name)),
            Err(_) => {
                journal_path(st, loc);
                Ok(())
            }
        },
    );
    finish(r, res, -1, &mut errno)
}

/// Mirrors a change made by a call that follows a final symlink: when the path's last
/// component is a symlink on the origin, the change belongs to the object it leads to.
fn fanout_followed(
    st: &State,
    loc: Loc<'_>,
    abs: &[u8],
    dirfd: RawFd,
    path: &CStr,
    ch: &Change<'_>,
) -> Result<(), Errno> {
    let is_link =
        sys::fstatat(dirfd, path, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFLNK);
    if !is_link {
        return fanout::fanout_path(st, loc, abs, ch.op(), |_, dir, name| ch.at(dir, name));
    }
    let mut real = [0u8; PATH_MAX];
    let Ok(fd) = sys::openat(dirfd, path, libc::O_PATH, 0) else {
        journal_path(st, loc);
        return Ok(());
    };
    let n = sys::fd_path(fd, &mut real);
    sys::close(fd);
    let Ok(n) = n else {
        journal_path(st, loc);
        return Ok(());
    };
    match st.place.classifier.classify(&real[..n]) {
        Some(hit) => fanout::fanout_path(st, Loc::from(hit), &real[..n], ch.op(), |_, dir, name| ch.at(dir, name)),
        // The link leads out of every pair: nothing to mirror.
        None => Ok(()),
    }
}

/// The tail of an fd-based hook: when the real call succeeded on a mirrored descriptor,
/// applies the change to its twins, or by path on copies where it has none (read-only files,
/// directories, O_PATH descriptors).
fn fd_changed<'a>(r: c_int, fd: c_int, change: impl FnOnce(Origin<'a>) -> SysResult<Change<'a>>) -> c_int {
    if r != 0 {
        return r;
    }
    let Some(e) = fdtable::get(fd) else { return r };
    let Some(st) = life::get() else { return r };
    let mut errno = ErrnoGuard::save();
    let res = protect(
        || {
            journal_fd(st, fd, &e);
            Ok(())
        },
        || match change(Origin::Fd(fd)) {
            Ok(ch) => {
                let mut by_path = |_: usize, dir: RawFd, name: &CStr| ch.at(dir, name);
                fanout::fanout_fd(st, fd, &e, ch.op(), |t| ch.on_fd(t), Some(&mut by_path))
            }
            Err(_) => {
                journal_fd(st, fd, &e);
                Ok(())
            }
        },
    );
    finish(r, res, -1, &mut errno)
}

/// The tail of an *at hook that may act on `dirfd` itself: a null path, or an empty one with
/// AT_EMPTY_PATH.
///
/// # Safety
/// As for [`path_changed`].
unsafe fn at_changed<'p>(
    r: c_int,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    change: impl FnOnce(Origin<'p>) -> SysResult<Change<'p>>,
) -> c_int {
    // SAFETY: caller's contract.
    let itself = match unsafe { cbytes(path) } {
        None => true,
        Some(b) => b.is_empty() && flags & libc::AT_EMPTY_PATH != 0,
    };
    if !itself {
        // SAFETY: caller's contract.
        return unsafe { path_changed(r, dirfd, path, flags & libc::AT_SYMLINK_NOFOLLOW == 0, change) };
    }
    if dirfd == libc::AT_FDCWD {
        // SAFETY: a static C string.
        return unsafe { path_changed(r, dirfd, c".".as_ptr(), false, change) };
    }
    fd_changed(r, dirfd, change)
}

/// Timestamps from a `utimbuf` (seconds).
fn from_utimbuf(t: *const utimbuf) -> Option<[timespec; 2]> {
    // SAFETY: the program's argument, which the real call just read.
    let t = unsafe { t.as_ref() }?;
    Some([timespec { tv_sec: t.actime, tv_nsec: 0 }, timespec { tv_sec: t.modtime, tv_nsec: 0 }])
}

/// Timestamps from a `timeval[2]` (microseconds).
fn from_timevals(t: *const timeval) -> Option<[timespec; 2]> {
    if t.is_null() {
        return None;
    }
    // SAFETY: non-null, and the real call just read two timevals from it.
    let tv = unsafe { std::slice::from_raw_parts(t, 2) };
    Some([0, 1].map(|i| timespec { tv_sec: tv[i].tv_sec, tv_nsec: tv[i].tv_usec * 1000 }))
}

/// Timestamps from a `timespec[2]`.
fn from_timespecs(t: *const timespec) -> Option<[timespec; 2]> {
    if t.is_null() {
        return None;
    }
    // SAFETY: non-null, and the real call just read two timespecs from it.
    Some(unsafe { [*t, *t.add(1)] })
}

/// The attribute name of an xattr call (the real call accepted it, so it is non-null).
///
/// # Safety
/// `name` must be null or a NUL-terminated string that outlives the call.
unsafe fn attr<'a>(name: *const c_char) -> SysResult<&'a CStr> {
    if name.is_null() {
        return Err(Errno(libc::EFAULT));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    Ok(unsafe { CStr::from_ptr(name) })
}

/// The value of a setxattr call.
///
/// # Safety
/// `value` must be null or point to `size` readable bytes that outlive the call.
unsafe fn bytes<'a>(value: *const c_void, size: size_t) -> &'a [u8] {
    if value.is_null() || size == 0 {
        return &[];
    }
    // SAFETY: the caller's contract (the real call just read these bytes).
    unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) }
}

hooks! {
    fn chmod(path: *const c_char, mode: mode_t) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::chmod(path, mode) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, true, |_| Ok(Change::Mode(mode))) }
    }
    fn lchmod(path: *const c_char, mode: mode_t) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::lchmod(path, mode) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, false, |_| Ok(Change::Mode(mode))) }
    }
    fn fchmodat(dirfd: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::fchmodat(dirfd, path, mode, flags) };
        let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, dirfd, path, follow, |_| Ok(Change::Mode(mode))) }
    }
    fn fchmod(fd: c_int, mode: mode_t) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::fchmod(fd, mode) };
        fd_changed(r, fd, |_| Ok(Change::Mode(mode)))
    }

    fn chown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::chown(path, uid, gid) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, true, |_| Ok(Change::Owner(uid, gid))) }
    }
    fn lchown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::lchown(path, uid, gid) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, false, |_| Ok(Change::Owner(uid, gid))) }
    }
    fn fchownat(dirfd: c_int, path: *const c_char, uid: uid_t, gid: gid_t, flags: c_int) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::fchownat(dirfd, path, uid, gid, flags) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { at_changed(r, dirfd, path, flags, |_| Ok(Change::Owner(uid, gid))) }
    }
    fn fchown(fd: c_int, uid: uid_t, gid: gid_t) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::fchown(fd, uid, gid) };
        fd_changed(r, fd, |_| Ok(Change::Owner(uid, gid)))
    }

    fn utime(path: *const c_char, times: *const utimbuf) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::utime(path, times) };
        let req = if r == 0 { from_utimbuf(times) } else { None };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, true, |o| Times::for_copies(req, o).map(Change::Times)) }
    }
    fn utimes(path: *const c_char, times: *const timeval) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::utimes(path, times) };
        let req = if r == 0 { from_timevals(times) } else { None };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, true, |o| Times::for_copies(req, o).map(Change::Times)) }
    }
    fn lutimes(path: *const c_char, times: *const timeval) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::lutimes(path, times) };
        let req = if r == 0 { from_timevals(times) } else { None };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, false, |o| Times::for_copies(req, o).map(Change::Times)) }
    }
    fn futimesat(dirfd: c_int, path: *const c_char, times: *const timeval) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::futimesat(dirfd, path, times) };
        let req = if r == 0 { from_timevals(times) } else { None };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { at_changed(r, dirfd, path, 0, |o| Times::for_copies(req, o).map(Change::Times)) }
    }
    fn utimensat(dirfd: c_int, path: *const c_char, times: *const timespec, flags: c_int) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::utimensat(dirfd, path, times, flags) };
        let req = if r == 0 { from_timespecs(times) } else { None };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { at_changed(r, dirfd, path, flags, |o| Times::for_copies(req, o).map(Change::Times)) }
    }
    fn futimes(fd: c_int, times: *const timeval) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::futimes(fd, times) };
        let req = if r == 0 { from_timevals(times) } else { None };
        fd_changed(r, fd, |o| Times::for_copies(req, o).map(Change::Times))
    }
    fn futimens(fd: c_int, times: *const timespec) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::futimens(fd, times) };
        let req = if r == 0 { from_timespecs(times) } else { None };
        fd_changed(r, fd, |o| Times::for_copies(req, o).map(Change::Times))
    }

    fn setxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::setxattr(path, name, value, size, flags) };
        // SAFETY: `path`, `name` and `value` are the arguments the real call just accepted.
        unsafe {
            path_changed(r, libc::AT_FDCWD, path, true, |origin| {
                Ok(Change::SetXattr { name: attr(name)?, value: bytes(value, size), origin })
            })
        }
    }
    fn lsetxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::lsetxattr(path, name, value, size, flags) };
        // SAFETY: `path`, `name` and `value` are the arguments the real call just accepted.
        unsafe {
            path_changed(r, libc::AT_FDCWD, path, false, |origin| {
                Ok(Change::SetXattr { name: attr(name)?, value: bytes(value, size), origin })
            })
        }
    }
    fn fsetxattr(fd: c_int, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::fsetxattr(fd, name, value, size, flags) };
        // SAFETY: `name` and `value` are the arguments the real call just accepted.
        fd_changed(r, fd, |origin| Ok(Change::SetXattr { name: unsafe { attr(name) }?, value: unsafe { bytes(value, size) }, origin }))
    }
    fn removexattr(path: *const c_char, name: *const c_char) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::removexattr(path, name) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, true, |_| Ok(Change::RemoveXattr(attr(name)?))) }
    }
    fn lremovexattr(path: *const c_char, name: *const c_char) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::lremovexattr(path, name) };
        // SAFETY: `path` is the C string the real call just accepted.
        unsafe { path_changed(r, libc::AT_FDCWD, path, false, |_| Ok(Change::RemoveXattr(attr(name)?))) }
    }
    fn fremovexattr(fd: c_int, name: *const c_char) -> c_int {
        // SAFETY: the program's arguments, passed on unchanged to libc.
        let r = unsafe { real::fremovexattr(fd, name) };
        // SAFETY: `name` is the C string the real call just accepted.
        fd_changed(r, fd, |_| Ok(Change::RemoveXattr(unsafe { attr(name) }?)))
    }
}
