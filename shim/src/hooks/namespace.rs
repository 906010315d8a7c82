//! Namespace calls: mkdir, rmdir, unlink, remove, rename, link, symlink, mknod, mkfifo,
//! truncate. The primary call runs first; only on its success does the same change run on
//! every other copy, beneath that copy's root.
//!
//! Objects crossing a pair's boundary are handled as what they are for the mirror: a rename
//! or hard link from outside into a primary creates the object on the mirrors (copied from
//! the primary), a rename out of a primary removes it from them.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use libc::{c_char, c_int, c_uint, dev_t, mode_t, off_t};
use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::objects;
use mfs_core::path::PATH_MAX;
use mfs_core::sys::{self, Errno, ErrnoGuard, ProcFd, SysResult};

use super::{cbytes, hooks, placed};
use crate::edge::{finish, protect, Guard};
use crate::fanout::{self, Loc};
use crate::fdtable;
use crate::intents;
use crate::life;
use crate::place::Class;
use crate::real;
use crate::state::{JournalPath, State};

/// Journals `loc` for every other copy (the shim itself failed while mirroring it).
fn journal_all(st: &State, loc: Loc<'_>) {
    st.journal_others(loc.pair, loc.origin, Kind::Dirty, JournalPath::Path(loc.rel));
}

/// Copies the origin-side object at `src` to `name` in `dir` on a copy (see
/// [`objects::copy_object`]), with the re-entrancy guard held: it reads through `std::fs`.
fn copy_object(src: &CStr, dir: RawFd, name: &CStr) -> SysResult<()> {
    let _guard = Guard::enter();
    objects::copy_object(src, dir, name)
}

/// The shared body of single-path namespace calls.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
unsafe fn path_op(
    dirfd: c_int,
    path: *const c_char,
    real: impl FnOnce() -> c_int,
    kind: Op,
    op: impl FnMut(usize, RawFd, &CStr) -> SysResult<()>,
) -> c_int {
    let Some(st) = life::get() else { return real() };
    // SAFETY: caller's contract.
    let Some(bytes) = (unsafe { cbytes(path) }) else { return real() };
    let (mut scratch, mut resolved) = (None, None);
    let class = protect(|| Class::Unknown, || st.place.classify_change(dirfd, bytes, &mut scratch, &mut resolved));
    let _intent = intents::during(st, &class);
    let r = real();
    if r != 0 {
        return r;
    }
    let mut errno = ErrnoGuard::save();
    let Some((loc, abs)) = placed(st, class) else { return r };
    let res = protect(
        || {
            journal_all(st, loc);
            Ok(())
        },
        || fanout::fanout_path(st, loc, abs, kind, op),
    );
    finish(r, res, -1, &mut errno)
}

/// Mirrors a directory the primary just created (also used by mkdtemp).
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn mirror_mkdir(dirfd: c_int, path: *const c_char, mode: mode_t) -> Option<Errno> {
    let mut r = None;
    // SAFETY: caller's contract.
    unsafe {
        path_op(
            dirfd,
            path,
            || 0,
            Op::Create,
            |_, dir, name| sys::mkdirat(dir, name, mode).inspect_err(|&e| r = Some(e)),
        )
    };
    r
}

/// unlink then rmdir: `remove` does whichever applies, and the mirror does the same.
fn remove_entry(dir: RawFd, name: &CStr) -> SysResult<()> {
    match sys::unlinkat(dir, name, 0) {
        Err(Errno(libc::EISDIR | libc::EPERM)) => sys::unlinkat(dir, name, libc::AT_REMOVEDIR),
        r => r,
    }
}

/// Where one side of a two-path call (rename, link) lies.
struct Side<'a> {
    class: Class<'a>,
}

impl Side<'_> {
    fn loc(&self) -> Option<(Loc<'_>, &[u8])> {
        match self.class {
            Class::In { hit, abs } => Some((Loc::from(hit), abs)),
            _ => None,
        }
    }
}

/// A NUL-terminated copy of an absolute path.
fn c_abs(abs: &[u8]) -> Option<CString> {
    CString::new(abs).ok()
}

/// The object at origin-side `new_abs` has entered the pair: create it on every other copy.
fn entered(st: &State, loc: Loc<'_>, new_abs: &[u8]) -> Result<(), Errno> {
    let Some(src) = c_abs(new_abs) else {
        journal_all(st, loc);
        return Ok(());
    };
    fanout::fanout_path(st, loc, new_abs, Op::Create, |_, dir, name| copy_object(&src, dir, name))
}

/// The object at `loc` has left the pair: remove it from every other copy.
fn left(st: &State, loc: Loc<'_>, abs: &[u8]) -> Result<(), Errno> {
    fanout::fanout_path(st, loc, abs, Op::Remove, |_, dir, name| match objects::remove_object(dir, name) {
        Err(Errno(libc::ENOENT)) => Ok(()),
        r => r,
    })
}

/// Applies a two-path change within one pair on every other copy: `op(old_dir, old_name,
/// new_dir, new_name)`. A copy that refuses a parent because the lexical path would leave its
/// root (a symlink on the way) is reported as `Err(Escaped)` so the caller can place both
/// paths by the kernel's view and try again.
fn two_path(
    st: &State,
    old: Loc<'_>,
    new: Loc<'_>,
    kind: Op,
    mut op: impl FnMut(RawFd, &CStr, RawFd, &CStr) -> SysResult<()>,
) -> Result<Result<(), Errno>, Escaped> {
    let mut result = Ok(());
    for other in st.others(old.pair, old.origin) {
        let copy = other.copy;
        if !other.online {
            st.journal(old.pair, copy, Kind::Dirty, JournalPath::Path(old.rel));
            st.journal(old.pair, copy, Kind::Dirty, JournalPath::Path(new.rel));
            continue;
        }
        let r = fanout::at_parent(st, old.pair, copy, old.rel, |od, on| {
            fanout::at_parent(st, new.pair, copy, new.rel, |nd, nn| op(od, on, nd, nn))
        });
        match r {
            Ok(()) => {}
            Err(e) if fanout::is_escape(e) => return Err(Escaped),
            Err(e) => {
                st.journal(old.pair, copy, Kind::Dirty, JournalPath::Path(old.rel));
                if let Some(fail) = st.mirror_failed(new.pair, copy, JournalPath::Path(new.rel), kind, e).fail {
                    result = Err(fail);
                }
            }
        }
    }
    Ok(result)
}

/// renameat2 on a copy, with the equivalent of a flag its file system lacks (sftp, some
/// FUSE and network file systems answer EINVAL to any flag): RENAME_NOREPLACE becomes a check
/// and a plain rename, RENAME_EXCHANGE three renames through a temporary name beside the new
/// one. The primary's call succeeded with the same flags, so the names are as it left them.
fn rename_on_copy(od: RawFd, on: &CStr, nd: RawFd, nn: &CStr, flags: c_uint) -> SysResult<()> {
    match sys::renameat2(od, on, nd, nn, flags) {
        Err(Errno(libc::EINVAL)) if flags == libc::RENAME_NOREPLACE => {
            match sys::fstatat(nd, nn, libc::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => Err(Errno(libc::EEXIST)),
                Err(Errno(libc::ENOENT)) => sys::renameat2(od, on, nd, nn, 0),
                Err(e) => Err(e),
            }
        }
        Err(Errno(libc::EINVAL)) if flags == libc::RENAME_EXCHANGE => {
            let mut buf = [0u8; 40];
            let tmp = exchange_name(&mut buf);
            sys::renameat2(nd, nn, nd, tmp, libc::RENAME_NOREPLACE).or_else(|_| {
                match sys::fstatat(nd, tmp, libc::AT_SYMLINK_NOFOLLOW) {
                    Err(Errno(libc::ENOENT)) => sys::renameat2(nd, nn, nd, tmp, 0),
                    _ => Err(Errno(libc::EEXIST)),
                }
            })?;
            if let Err(e) = sys::renameat2(od, on, nd, nn, 0) {
                let _ = sys::renameat2(nd, tmp, nd, nn, 0);
                return Err(e);
            }
            sys::renameat2(nd, tmp, od, on, 0)
        }
        r => r,
    }
}

/// A temporary name for an emulated exchange, unique to this process and thread.
fn exchange_name(buf: &mut [u8; 40]) -> &CStr {
    let mut d = [0u8; 20];
    let mut len = 0;
    for part in [&b".mfs-exchange-"[..], sys::decimal(sys::gettid() as u64, &mut d)] {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c".mfs-exchange")
}

/// A mirror-side parent could not be reached beneath the root along the lexical path.
struct Escaped;

/// The operation a two-path call performs on the mirrors.
#[derive(Clone, Copy)]
enum TwoPathOp {
    Rename(c_uint),
    Link,
}

/// Mirrors a rename or link whose two sides were classified as `old` and `new` (each with
/// its absolute origin-side path). When a side's parent was reached through a symlink the
/// mirrors refuse, both sides are placed again by their parents' real paths.
fn two_path_change(
    st: &State,
    old: Option<(Loc<'_>, &[u8])>,
    new: Option<(Loc<'_>, &[u8])>,
    op: TwoPathOp,
    retry: bool,
) -> Result<(), Errno> {
    match (old, new) {
        (Some((ol, _)), Some((nl, _))) if ol.pair == nl.pair && ol.origin == nl.origin => {
            let done = match op {
                TwoPathOp::Rename(flags) => {
                    two_path(st, ol, nl, Op::Rename, |od, on, nd, nn| rename_on_copy(od, on, nd, nn, flags))
                }
                TwoPathOp::Link => two_path(st, ol, nl, Op::Create, |od, on, nd, nn| sys::linkat(od, on, nd, nn, 0)),
            };
            match done {
                Ok(r) => r,
                Err(Escaped) if retry => {
                    let (mut b1, mut b2) = ([0u8; PATH_MAX], [0u8; PATH_MAX]);
                    let (mut a1, mut a2) = ([0u8; PATH_MAX], [0u8; PATH_MAX]);
                    let o2 = canonical(st, old, &mut b1, &mut a1);
                    let n2 = canonical(st, new, &mut b2, &mut a2);
                    two_path_change(st, o2, n2, op, false)
                }
                Err(Escaped) => {
                    journal_all(st, ol);
                    journal_all(st, nl);
                    Ok(())
                }
            }
        }
        (ol, nl) => {
            // Crossing a pair boundary: what left is removed, what entered is copied. With
            // RENAME_EXCHANGE both objects crossed; a link leaves its source in place.
            let mut res = Ok(());
            if let Some((l, abs)) = ol {
                res = match op {
                    TwoPathOp::Rename(flags) if flags & libc::RENAME_EXCHANGE != 0 => entered(st, l, abs),
                    TwoPathOp::Rename(_) => left(st, l, abs),
                    TwoPathOp::Link => Ok(()),
                };
            }
            if let Some((l, abs)) = nl {
                let r2 = entered(st, l, abs);
                if res.is_ok() {
                    res = r2;
                }
            }
            res
        }
    }
}

/// Places one side of a two-path call by its parent directory's real path: `Some` when that
/// lies in a pair. `rel` and `abs` receive the new relative and absolute paths.
fn canonical<'b>(
    st: &State,
    side: Option<(Loc<'_>, &[u8])>,
    rel: &'b mut [u8; PATH_MAX],
    abs: &'b mut [u8; PATH_MAX],
) -> Option<(Loc<'b>, &'b [u8])> {
    let (_, lexical) = side?;
    let (pair, origin, r) = fanout::canonical_rel(st, lexical, rel)?;
    let copy = &st.pair(pair).copies[origin];
    let root = copy.canonical.as_os_str();
    let root = std::os::unix::ffi::OsStrExt::as_bytes(root);
    let mut len = 0;
    for part in [root, if r.is_empty() { &b""[..] } else { &b"/"[..] }, r] {
        abs.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    Some((Loc { pair, origin, rel: r }, &abs[..len]))
}

/// The shared body of rename, renameat and renameat2.
///
/// # Safety
/// Paths must be null or NUL-terminated strings.
unsafe fn rename_like(
    olddir: c_int,
    old: *const c_char,
    newdir: c_int,
    new: *const c_char,
    flags: c_uint,
    real: impl FnOnce() -> c_int,
) -> c_int {
    let Some(st) = life::get() else { return real() };
    // SAFETY: caller's contract.
    let (Some(ob), Some(nb)) = (unsafe { cbytes(old) }, unsafe { cbytes(new) }) else { return real() };
    let (mut s1, mut s2) = (None, None);
    let (mut r1, mut r2) = (None, None);
    let o = Side { class: protect(|| Class::Unknown, || st.place.classify_change(olddir, ob, &mut s1, &mut r1)) };
    let n = Side { class: protect(|| Class::Unknown, || st.place.classify_change(newdir, nb, &mut s2, &mut r2)) };
    let _intents = (intents::during(st, &o.class), intents::during(st, &n.class));
    let r = real();
    if r != 0 {
        return r;
    }
    if o.loc().is_none() && n.loc().is_none() {
        if o.class.is_too_long() || n.class.is_too_long() {
            let _errno = ErrnoGuard::save();
            st.unplaced_change();
        }
        return r;
    }
    let mut errno = ErrnoGuard::save();
    let res = protect(
        || {
            for (loc, _) in [o.loc(), n.loc()].into_iter().flatten() {
                journal_all(st, loc);
            }
            Ok(())
        },
        || two_path_change(st, o.loc(), n.loc(), TwoPathOp::Rename(flags), true),
    );
    finish(r, res, -1, &mut errno)
}

/// For linkat: the descriptor whose file is being linked when the source is given as an fd
/// (AT_EMPTY_PATH) or as `/proc/self/fd/N` (the O_TMPFILE idiom).
fn source_fd(olddir: c_int, old: &[u8], flags: c_int) -> Option<RawFd> {
    if old.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        return Some(olddir);
    }
    ProcFd::parse(old)
}

/// The shared body of link and linkat.
///
/// # Safety
/// Paths must be null or NUL-terminated strings.
unsafe fn link_like(
    olddir: c_int,
    old: *const c_char,
    newdir: c_int,
    new: *const c_char,
    flags: c_int,
    real: impl FnOnce() -> c_int,
) -> c_int {
    let Some(st) = life::get() else { return real() };
    // SAFETY: caller's contract.
    let (Some(ob), Some(nb)) = (unsafe { cbytes(old) }, unsafe { cbytes(new) }) else { return real() };
    let (mut s1, mut s2) = (None, None);
    let (mut r1, mut r2) = (None, None);
    let n = Side { class: protect(|| Class::Unknown, || st.place.classify_change(newdir, nb, &mut s2, &mut r2)) };
    let Some(_) = n.loc() else { return real() };
    let src_fd = source_fd(olddir, ob, flags);
    let o = Side {
        class: if src_fd.is_some() {
            Class::Unknown
        } else {
            protect(|| Class::Unknown, || st.place.classify_change(olddir, ob, &mut s1, &mut r1))
        },
    };
    let r = real();
    if r != 0 {
        return r;
    }
    let mut errno = ErrnoGuard::save();
    let (nl, nabs) = n.loc().expect("checked above");
    let res = protect(
        || {
            journal_all(st, nl);
            Ok(())
        },
        || {
            if let Some(e) = src_fd.and_then(fdtable::get).filter(|e| e.pair == nl.pair && e.has_twins()) {
                // Linking an open (typically O_TMPFILE) file: link each twin the same way.
                return fanout::fanout_path(st, nl, nabs, Op::Create, |copy, dir, name| {
                    let t = e.twins[copy];
                    if t < 0 {
                        return copy_object(&c_abs(nabs).ok_or(Errno(libc::EINVAL))?, dir, name);
                    }
                    sys::linkat(libc::AT_FDCWD, ProcFd::new(t).as_cstr(), dir, name, libc::AT_SYMLINK_FOLLOW)
                });
            }
            match o.loc() {
                Some(old) if flags & libc::AT_SYMLINK_FOLLOW == 0 => {
                    two_path_change(st, Some(old), Some((nl, nabs)), TwoPathOp::Link, true)
                }
                Some(_) => {
                    // Linking what a symlink leads to: the kernel's path of the target decides.
                    let (mut rel, mut abs) = ([0u8; PATH_MAX], [0u8; PATH_MAX]);
                    match followed(st, olddir, ob, &mut rel, &mut abs) {
                        Some(old) => two_path_change(st, Some(old), Some((nl, nabs)), TwoPathOp::Link, true),
                        None => entered(st, nl, nabs),
                    }
                }
                // From outside the pair or from an fd: the new name's object is copied (a
                // hard link cannot cross trees).
                _ => entered(st, nl, nabs),
            }
        },
    );
    finish(r, res, -1, &mut errno)
}

/// Where `path` (relative to `dirfd`) leads after following symlinks: `Some` when that is in
/// a pair, with its relative path in `rel` and absolute path in `abs`.
fn followed<'b>(
    st: &State,
    dirfd: c_int,
    path: &[u8],
    rel: &'b mut [u8; PATH_MAX],
    abs: &'b mut [u8; PATH_MAX],
) -> Option<(Loc<'b>, &'b [u8])> {
    let c = CString::new(path).ok()?;
    let (hit, real) = st.place.resolved(dirfd, &c, 0, abs)?;
    rel[..hit.rel.len()].copy_from_slice(hit.rel);
    let loc = Loc { pair: hit.pair, origin: hit.copy, rel: &rel[..hit.rel.len()] };
    Some((loc, real))
}

/// After a successful path truncate: truncate the object the kernel actually reached.
///
/// # Safety
/// `path` must be a NUL-terminated string.
unsafe fn truncated(path: *const c_char, len: off_t) -> Result<(), Errno> {
    let Some(st) = life::get() else { return Ok(()) };
    // SAFETY: caller's contract.
    let Some(bytes) = (unsafe { cbytes(path) }) else { return Ok(()) };
    let Ok(c) = CString::new(bytes) else { return Ok(()) };
    // What the path reaches, symlinks followed, decides: only a file on a root's device may
    // be in a pair.
    if !sys::fstatat(libc::AT_FDCWD, &c, 0).is_ok_and(|s| st.place.may_hold(s.st_dev)) {
        return Ok(());
    }
    let mut buf = [0u8; PATH_MAX];
    let Some((hit, real)) = st.place.resolved(libc::AT_FDCWD, &c, 0, &mut buf) else { return Ok(()) };
    let loc = Loc::from(hit);
    fanout::fanout_path(st, loc, real, Op::Write, |copy, _, _| {
        let t = fanout::open_transient(st, loc.pair, copy, loc.rel, libc::O_WRONLY, 0)?;
        let r = sys::ftruncate(t, len);
        fanout::close_own(t);
        r
    })
}

/// The kind of a mknod: a regular file (type 0 or S_IFREG) is a plain creation.
fn node_op(mode: mode_t) -> Op {
    match mode & libc::S_IFMT {
        0 | libc::S_IFREG => Op::Create,
        _ => Op::Special,
    }
}

fn truncate_done(r: c_int, path: *const c_char, len: off_t) -> c_int {
    if r != 0 {
        return r;
    }
    let mut errno = ErrnoGuard::save();
    // SAFETY: the program's path argument, just accepted by the real call.
    let res = protect(|| Ok(()), || unsafe { truncated(path, len) });
    finish(r, res, -1, &mut errno)
}

hooks! {
    fn mkdir(path: *const c_char, mode: mode_t) -> c_int {
        unsafe { path_op(libc::AT_FDCWD, path, || real::mkdir(path, mode), Op::Create, |_, d, n| sys::mkdirat(d, n, mode)) }
    }
    fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int {
        unsafe { path_op(dirfd, path, || real::mkdirat(dirfd, path, mode), Op::Create, |_, d, n| sys::mkdirat(d, n, mode)) }
    }
    fn rmdir(path: *const c_char) -> c_int {
        unsafe { path_op(libc::AT_FDCWD, path, || real::rmdir(path), Op::Remove, |_, d, n| sys::unlinkat(d, n, libc::AT_REMOVEDIR)) }
    }
    fn unlink(path: *const c_char) -> c_int {
        unsafe { path_op(libc::AT_FDCWD, path, || real::unlink(path), Op::Remove, |_, d, n| sys::unlinkat(d, n, 0)) }
    }
    fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
        unsafe { path_op(dirfd, path, || real::unlinkat(dirfd, path, flags), Op::Remove, |_, d, n| sys::unlinkat(d, n, flags)) }
    }
    fn remove(path: *const c_char) -> c_int {
        unsafe { path_op(libc::AT_FDCWD, path, || real::remove(path), Op::Remove, |_, d, n| remove_entry(d, n)) }
    }
    fn rename(old: *const c_char, new: *const c_char) -> c_int {
        unsafe { rename_like(libc::AT_FDCWD, old, libc::AT_FDCWD, new, 0, || real::rename(old, new)) }
    }
    fn renameat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char) -> c_int {
        unsafe { rename_like(olddir, old, newdir, new, 0, || real::renameat(olddir, old, newdir, new)) }
    }
    fn renameat2(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_uint) -> c_int {
        unsafe { rename_like(olddir, old, newdir, new, flags, || real::renameat2(olddir, old, newdir, new, flags)) }
    }
    fn link(old: *const c_char, new: *const c_char) -> c_int {
        unsafe { link_like(libc::AT_FDCWD, old, libc::AT_FDCWD, new, 0, || real::link(old, new)) }
    }
    fn linkat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_int) -> c_int {
        unsafe { link_like(olddir, old, newdir, new, flags, || real::linkat(olddir, old, newdir, new, flags)) }
    }
    fn symlink(target: *const c_char, path: *const c_char) -> c_int {
        if target.is_null() {
            return unsafe { real::symlink(target, path) };
        }
        // SAFETY: non-null C string from the program.
        let t = unsafe { CStr::from_ptr(target) };
        unsafe { path_op(libc::AT_FDCWD, path, || real::symlink(target, path), Op::Create, |_, d, n| sys::symlinkat(t, d, n)) }
    }
    fn symlinkat(target: *const c_char, dirfd: c_int, path: *const c_char) -> c_int {
        if target.is_null() {
            return unsafe { real::symlinkat(target, dirfd, path) };
        }
        // SAFETY: non-null C string from the program.
        let t = unsafe { CStr::from_ptr(target) };
        unsafe { path_op(dirfd, path, || real::symlinkat(target, dirfd, path), Op::Create, |_, d, n| sys::symlinkat(t, d, n)) }
    }
    fn mknod(path: *const c_char, mode: mode_t, dev: dev_t) -> c_int {
        unsafe { path_op(libc::AT_FDCWD, path, || real::mknod(path, mode, dev), node_op(mode), |_, d, n| sys::mknodat(d, n, mode, dev)) }
    }
    fn mknodat(dirfd: c_int, path: *const c_char, mode: mode_t, dev: dev_t) -> c_int {
        unsafe { path_op(dirfd, path, || real::mknodat(dirfd, path, mode, dev), node_op(mode), |_, d, n| sys::mknodat(d, n, mode, dev)) }
    }
    fn mkfifo(path: *const c_char, mode: mode_t) -> c_int {
        unsafe { path_op(libc::AT_FDCWD, path, || real::mkfifo(path, mode), Op::Special, |_, d, n| sys::mknodat(d, n, mode | libc::S_IFIFO, 0)) }
    }
    fn mkfifoat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int {
        unsafe { path_op(dirfd, path, || real::mkfifoat(dirfd, path, mode), Op::Special, |_, d, n| sys::mknodat(d, n, mode | libc::S_IFIFO, 0)) }
    }
    fn truncate(path: *const c_char, len: off_t) -> c_int {
        let r = unsafe { real::truncate(path, len) };
        truncate_done(r, path, len)
    }
    fn truncate64(path: *const c_char, len: off_t) -> c_int {
        let r = unsafe { real::truncate64(path, len) };
        truncate_done(r, path, len)
    }
}
