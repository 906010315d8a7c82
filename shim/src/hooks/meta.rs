//! Metadata calls: modes, owners, times and extended attributes.
//!
//! Each hook makes the real call first. When it succeeded on an object in a pair, the same
//! change is applied to that object on every other online copy: through the twin descriptor
//! when the program's fd has one, otherwise by path beneath the copy's root, never following
//! a final symlink there. A call that followed a symlink on the origin side (chmod, chown,
//! utimes, setxattr...) is mirrored onto the object the kernel actually reached, wherever in
//! the tree that lies, or not at all when it lies outside every pair.
//!
//! Times the program asked to be "now" are read back from the origin after the call and
//! given to the other copies explicitly, so every copy carries the same timestamps.

// The exported hooks implement libc functions; their safety contract is libc's.
#![allow(clippy::missing_safety_doc)]

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_char, c_int, c_void, gid_t, mode_t, size_t, timespec, timeval, uid_t, utimbuf};
use mfs_core::journal::Kind;
use mfs_core::path::PATH_MAX;

use super::{cbytes, hooks, protect};
use crate::fdtable::{self, kind, Entry};
use crate::fmt::Buf;
use crate::mirror::{self, Loc};
use crate::real;
use crate::state::{self, Class, Rel, State};
use crate::sys::{self, Errno, ErrnoGuard, SysResult};

/// The access ACL: `cp -a`, `install` and `setfacl` set modes through it.
const ACL_ACCESS: &CStr = c"system.posix_acl_access";

/// Where the origin's object can be examined after the call (for "now" times and for the
/// mode behind an ACL).
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// The program's descriptor.
    Fd(RawFd),
    /// The program's dirfd and path, with the `fstatat` flags matching the call.
    At(RawFd, &'a CStr, c_int),
}

impl Origin<'_> {
    fn stat(&self) -> SysResult<libc::stat> {
        match *self {
            Origin::Fd(fd) => sys::fstat(fd),
            Origin::At(dir, path, flags) => sys::fstatat(dir, path, flags),
        }
    }
}

/// Timestamps for the other copies.
#[derive(Clone, Copy)]
struct Times {
    ts: [timespec; 2],
    /// Every timestamp set was "now": a copy that refuses explicit times (the program may
    /// write the file but does not own it) gets its own current time instead.
    now: bool,
}

impl Times {
    /// The times to apply, given what the program passed (`None`: both "now"). "Now" becomes
    /// the origin's resulting time; UTIME_OMIT entries stay omitted.
    fn for_copies(req: Option<[timespec; 2]>, origin: Origin<'_>) -> SysResult<Times> {
        let is_now = |t: &timespec| t.tv_nsec == libc::UTIME_NOW;
        let mut ts = req.unwrap_or([timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW }; 2]);
        if !ts.iter().any(is_now) {
            // Explicit times pass through unchanged (each copy's kernel validates them).
            return Ok(Times { ts, now: false });
        }
        let now = ts.iter().all(|t| is_now(t) || t.tv_nsec == libc::UTIME_OMIT);
        let st = origin.stat()?;
        let cur = [
            timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec },
            timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec },
        ];
        for (t, c) in ts.iter_mut().zip(cur) {
            if is_now(t) {
                *t = c;
            }
        }
        Ok(Times { ts, now })
    }

    /// Runs `set` with the times, falling back to "now" where a copy refuses explicit ones.
    fn apply(&self, mut set: impl FnMut(&[timespec; 2]) -> SysResult<()>) -> SysResult<()> {
        match set(&self.ts) {
            Err(Errno(libc::EPERM | libc::EACCES)) if self.now => {
                let mut own = self.ts;
                for t in own.iter_mut().filter(|t| t.tv_nsec != libc::UTIME_OMIT) {
                    t.tv_nsec = libc::UTIME_NOW;
                }
                set(&own)
            }
            r => r,
        }
    }
}

/// One metadata change, as applied to the other copies.
enum Change<'a> {
    Mode(mode_t),
    Owner(uid_t, gid_t),
    Times(Times),
    SetXattr { name: &'a CStr, value: &'a [u8], origin: Origin<'a> },
    RemoveXattr(&'a CStr),
}

impl Change<'_> {
    /// Applies the change to a twin descriptor.
    fn on_fd(&self, t: RawFd) -> SysResult<()> {
        match *self {
            Change::Mode(m) => sys::fchmod(t, m),
            Change::Owner(u, g) => sys::fchown(t, u, g),
            Change::Times(ref times) => times.apply(|ts| sys::utimensat(t, None, ts, 0)),
            Change::SetXattr { name, value, .. } => {
                sys::fsetxattr(t, name, value, 0).or_else(|e| self.without_acls(e, |m| sys::fchmod(t, m)))
            }
            Change::RemoveXattr(name) => sys::fremovexattr(t, name).or_else(absent_is_done),
        }
    }

    /// Applies the change to `name` in directory `dir` of a copy, not following a final
    /// symlink.
    fn at(&self, dir: RawFd, name: &CStr) -> SysResult<()> {
        match *self {
            Change::Mode(m) => chmod_at(dir, name, m),
            Change::Owner(u, g) => sys::fchownat(dir, name, u, g, libc::AT_SYMLINK_NOFOLLOW),
            Change::Times(ref times) => {
                times.apply(|ts| sys::utimensat(dir, Some(name), ts, libc::AT_SYMLINK_NOFOLLOW))
            }
            Change::SetXattr { name: attr, value, .. } => with_object(dir, name, |p| sys::setxattr(p, attr, value, 0))
                .or_else(|e| self.without_acls(e, |m| chmod_at(dir, name, m))),
            Change::RemoveXattr(attr) => with_object(dir, name, |p| sys::removexattr(p, attr)).or_else(absent_is_done),
        }
    }

    /// A copy whose file system has no ACLs still gets the mode an access ACL gave the
    /// origin.
    fn without_acls(&self, e: Errno, chmod: impl FnOnce(mode_t) -> SysResult<()>) -> SysResult<()> {
        match *self {
            Change::SetXattr { name, origin, .. } if e.0 == libc::EOPNOTSUPP && name == ACL_ACCESS => {
                chmod(origin.stat()?.st_mode & 0o7777)
            }
            _ => Err(e),
        }
    }
}

/// Removing an attribute a copy does not have leaves it as the origin: done.
fn absent_is_done(e: Errno) -> SysResult<()> {
    if e.0 == libc::ENODATA {
        Ok(())
    } else {
        Err(e)
    }
}

/// chmod of `name` in `dir`, never through a final symlink.
fn chmod_at(dir: RawFd, name: &CStr, mode: mode_t) -> SysResult<()> {
    match sys::fchmodat2(dir, name, mode, libc::AT_SYMLINK_NOFOLLOW) {
        // Kernels before 6.6: chmod the object opened O_NOFOLLOW, as glibc's lchmod does.
        Err(Errno(libc::ENOSYS)) => with_object(dir, name, |p| {
            let st = sys::fstatat(libc::AT_FDCWD, p, 0)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Errno(libc::EOPNOTSUPP));
            }
            sys::fchmodat(libc::AT_FDCWD, p, mode)
        }),
        r => r,
    }
}

/// `/proc/self/fd/N`: the path through which path-only calls reach an object held O_PATH.
struct ProcFd([u8; 32]);

impl ProcFd {
    fn new(fd: RawFd) -> ProcFd {
        let mut buf = [0u8; 32];
        Buf::new(&mut buf).str("/proc/self/fd/").num(fd as u64).byte(0);
        ProcFd(buf)
    }

    fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.0).unwrap_or(c"/proc/self/fd")
    }
}

/// Runs `f` with a `/proc/self/fd` path for `name` in `dir` (opened O_PATH, not following a
/// final symlink): the xattr calls have no *at form.
fn with_object<R>(dir: RawFd, name: &CStr, f: impl FnOnce(&CStr) -> SysResult<R>) -> SysResult<R> {
    let fd = open_private(dir, name, libc::O_PATH | libc::O_NOFOLLOW)?;
    let r = f(ProcFd::new(fd).as_cstr());
    mirror::close_own(fd);
    r
}

/// Opens a descriptor of the shim's own, above the program's range.
fn open_private(dir: RawFd, name: &CStr, flags: c_int) -> SysResult<RawFd> {
    let fd = sys::openat(dir, name, flags, 0)?;
    let Some(st) = state::get() else {
        return Ok(fd);
    };
    let fd = sys::move_high(fd, st.fd_base);
    fdtable::set_kind(fd, kind::PRIVATE);
    Ok(fd)
}

/// Journals the path for every other copy of its pair (the shim could not mirror it).
fn journal_path(st: &State, loc: Loc<'_>) {
    for copy in (0..st.pair(loc.pair).copies.len()).filter(|&c| c != loc.origin) {
        st.journal(loc.pair, copy, Kind::Dirty, Rel::Path(loc.rel));
    }
}

/// Journals a mirrored descriptor's path for every other copy.
fn journal_fd(st: &State, fd: RawFd, e: &Entry) {
    for copy in (0..st.pair(e.pair).copies.len()).filter(|&c| c != e.origin) {
        st.journal(e.pair, copy, Kind::Dirty, Rel::Fd(fd));
    }
}

/// The program's result: `r`, or -1 with the mirror's errno in fail mode.
fn finish(r: c_int, res: Result<(), Errno>, errno: &mut ErrnoGuard) -> c_int {
    match res {
        Ok(()) => r,
        Err(Errno(e)) => {
            errno.set(e);
            -1
        }
    }
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
    let Some(st) = state::get() else { return r };
    // SAFETY: a libc path argument the real call just accepted.
    let Some(bytes) = (unsafe { cbytes(path) }) else {
        return r;
    };
    let mut errno = ErrnoGuard::save();
    let mut scratch = None;
    let class = protect(|| Class::Unknown, || st.classify_at(dirfd, bytes, &mut scratch));
    let Class::In { hit, abs } = class else {
        if matches!(class, Class::TooLong) {
            st.unplaced_change();
        }
        return r;
    };
    let loc = Loc::from(hit);
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
            Ok(ch) => mirror::fanout_path(st, loc, abs, |_, dir, name| ch.at(dir, name)),
            Err(_) => {
                journal_path(st, loc);
                Ok(())
            }
        },
    );
    finish(r, res, &mut errno)
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
        return mirror::fanout_path(st, loc, abs, |_, dir, name| ch.at(dir, name));
    }
    let mut real = [0u8; PATH_MAX];
    let resolved = open_private(dirfd, path, libc::O_PATH).and_then(|fd| {
        let n = sys::fd_path(fd, &mut real);
        mirror::close_own(fd);
        n
    });
    let Ok(n) = resolved else {
        journal_path(st, loc);
        return Ok(());
    };
    match st.classifier.classify(&real[..n]) {
        Some(hit) => mirror::fanout_path(st, Loc::from(hit), &real[..n], |_, dir, name| ch.at(dir, name)),
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
    let Some(st) = state::get() else { return r };
    let mut errno = ErrnoGuard::save();
    let res = protect(
        || {
            journal_fd(st, fd, &e);
            Ok(())
        },
        || match change(Origin::Fd(fd)) {
            Ok(ch) => {
                let mut by_path = |_: usize, dir: RawFd, name: &CStr| ch.at(dir, name);
                mirror::fanout_fd(st, fd, &e, |t| ch.on_fd(t), Some(&mut by_path))
            }
            Err(_) => {
                journal_fd(st, fd, &e);
                Ok(())
            }
        },
    );
    finish(r, res, &mut errno)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::PathBuf;

    /// A fresh scratch directory with one file `f` in it, and an O_PATH fd of the directory.
    fn scratch(tag: &str) -> (PathBuf, RawFd) {
        let dir = std::env::temp_dir().join(format!("mfs-meta-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), b"x").unwrap();
        let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let fd = sys::openat(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        (dir, fd)
    }

    fn ts(sec: i64, nsec: i64) -> timespec {
        timespec { tv_sec: sec, tv_nsec: nsec }
    }

    #[test]
    fn explicit_times_pass_through_without_looking_at_the_origin() {
        // An fd of -1 would make any stat fail: none is made.
        let t = Times::for_copies(Some([ts(1, 2), ts(3, 4)]), Origin::Fd(-1)).unwrap();
        assert_eq!((t.ts[0].tv_sec, t.ts[0].tv_nsec, t.ts[1].tv_sec, t.ts[1].tv_nsec), (1, 2, 3, 4));
        assert!(!t.now);
        let t = Times::for_copies(Some([ts(0, libc::UTIME_OMIT), ts(3, 4)]), Origin::Fd(-1)).unwrap();
        assert_eq!(t.ts[0].tv_nsec, libc::UTIME_OMIT);
    }

    #[test]
    fn now_becomes_the_origins_time_and_omit_stays_omitted() {
        let (dir, dfd) = scratch("now");
        let f = CString::new(dir.join("f").as_os_str().as_bytes()).unwrap();
        sys::utimensat(libc::AT_FDCWD, Some(&f), &[ts(100, 1), ts(200, 2)], 0).unwrap();
        let origin = Origin::At(libc::AT_FDCWD, &f, 0);
        let t = Times::for_copies(None, origin).unwrap();
        assert_eq!((t.ts[0].tv_sec, t.ts[0].tv_nsec, t.ts[1].tv_sec, t.ts[1].tv_nsec), (100, 1, 200, 2));
        assert!(t.now);
        let t = Times::for_copies(Some([ts(0, libc::UTIME_OMIT), ts(0, libc::UTIME_NOW)]), origin).unwrap();
        assert_eq!((t.ts[0].tv_nsec, t.ts[1].tv_sec, t.ts[1].tv_nsec), (libc::UTIME_OMIT, 200, 2));
        assert!(t.now);
        let t = Times::for_copies(Some([ts(5, 0), ts(0, libc::UTIME_NOW)]), origin).unwrap();
        assert_eq!((t.ts[0].tv_sec, t.ts[1].tv_sec), (5, 200));
        assert!(!t.now, "an explicit time needs ownership on the primary too");
        sys::close(dfd);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refused_explicit_now_times_fall_back_to_the_copys_clock() {
        let t = Times { ts: [ts(0, libc::UTIME_OMIT), ts(7, 8)], now: true };
        let mut calls = Vec::new();
        let r = t.apply(|p| {
            let got = *p;
            calls.push((got[0].tv_nsec, got[1].tv_nsec));
            if calls.len() == 1 {
                Err(Errno(libc::EPERM))
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Ok(()));
        assert_eq!(calls, vec![(libc::UTIME_OMIT, 8), (libc::UTIME_OMIT, libc::UTIME_NOW)]);
        let explicit = Times { now: false, ..t };
        assert_eq!(explicit.apply(|_| Err(Errno(libc::EPERM))), Err(Errno(libc::EPERM)));
    }

    #[test]
    fn changes_apply_by_name_beneath_a_directory() {
        let (dir, dfd) = scratch("at");
        let f = dir.join("f");
        Change::Mode(0o640).at(dfd, c"f").unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777, 0o640);
        Change::Times(Times { ts: [ts(10, 20), ts(30, 40)], now: false }).at(dfd, c"f").unwrap();
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!((m.atime(), m.atime_nsec(), m.mtime(), m.mtime_nsec()), (10, 20, 30, 40));
        let (uid, gid) = (m.uid(), m.gid());
        Change::Owner(uid, gid).at(dfd, c"f").unwrap();
        let cf = CString::new(f.as_os_str().as_bytes()).unwrap();
        let origin = Origin::At(libc::AT_FDCWD, &cf, 0);
        match (Change::SetXattr { name: c"user.mfs", value: b"v\0w", origin }).at(dfd, c"f") {
            Ok(()) => {
                let mut buf = [0u8; 8];
                // SAFETY: valid C strings and a buffer of the given size.
                let n =
                    unsafe { libc::getxattr(cf.as_ptr(), c"user.mfs".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
                assert_eq!(&buf[..n as usize], b"v\0w");
                Change::RemoveXattr(c"user.mfs").at(dfd, c"f").unwrap();
                // Removing it again: already as the origin.
                Change::RemoveXattr(c"user.mfs").at(dfd, c"f").unwrap();
            }
            // A file system without user xattrs (some tmpfs): nothing else to check.
            Err(Errno(libc::EOPNOTSUPP)) => {}
            Err(e) => panic!("setxattr beneath a directory failed: {e:?}"),
        }
        // The final component is never followed.
        std::os::unix::fs::symlink("f", dir.join("l")).unwrap();
        let r = Change::Mode(0o600).at(dfd, c"l");
        assert!(r.is_err(), "chmod through a final symlink on a copy");
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777, 0o640);
        sys::close(dfd);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_acl_refused_by_a_copy_still_gives_it_the_mode() {
        let (dir, dfd) = scratch("acl");
        let f = dir.join("f");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o604)).unwrap();
        let cf = CString::new(f.as_os_str().as_bytes()).unwrap();
        let ch = Change::SetXattr { name: ACL_ACCESS, value: b"", origin: Origin::At(libc::AT_FDCWD, &cf, 0) };
        let mut seen = None;
        ch.without_acls(Errno(libc::EOPNOTSUPP), |m| {
            seen = Some(m);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, Some(0o604));
        assert_eq!(ch.without_acls(Errno(libc::EIO), |_| Ok(())), Err(Errno(libc::EIO)));
        let other = Change::SetXattr { name: c"user.x", value: b"", origin: Origin::Fd(-1) };
        assert_eq!(other.without_acls(Errno(libc::EOPNOTSUPP), |_| Ok(())), Err(Errno(libc::EOPNOTSUPP)));
        sys::close(dfd);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn proc_fd_paths() {
        assert_eq!(ProcFd::new(15003).as_cstr(), c"/proc/self/fd/15003");
        assert_eq!(ProcFd::new(0).as_cstr(), c"/proc/self/fd/0");
    }
}
