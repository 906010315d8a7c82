//! open, openat, creat and their 64-bit and fortified aliases; the mkstemp family and
//! mkdtemp; tmpfile.

use std::os::fd::RawFd;

use libc::{c_char, c_int, mode_t};
use mfs_core::config::ReadFrom;
use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::path::{has_dotdot_from, PATH_MAX};
use mfs_core::sys::{self, Errno, ErrnoGuard};

use super::{cbytes, hooks};
use crate::coherency;
use crate::edge::protect;
use crate::fanout::{self, record, Loc};
use crate::fdtable::{self, flag, Entry, FdKind, LOST_TWIN, NO_TWIN};
use crate::intents;
use crate::life;
use crate::lockstep;
use crate::owner::owns_memory;
use crate::place::Class;
use crate::real::{
    self,
    variadic::{call_open, call_openat, OpenAlias},
};
use crate::state::{JournalPath, State};

/// The shared body of every open-like hook: make the real call, then, when it succeeded,
/// classify the path and for a path in a pair open the twins. Returns the program's result (fd
/// or -1 with errno).
///
/// Classifying after the call changes nothing (the classification is lexical, against the
/// current directory or the dirfd, which the call does not change), and a failed open is then
/// not classified at all.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn open_like(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    real: impl FnOnce() -> c_int,
) -> c_int {
    let Some(st) = life::get() else { return real() };
    if flags & (libc::O_CREAT | libc::O_TRUNC) != 0 && !path.is_null() {
        // SAFETY: the caller's contract.
        return unsafe { open_changing(st, dirfd, path, flags, mode, real) };
    }
    let fd = real();
    if fd < 0 {
        return fd;
    }
    // SAFETY: the call succeeded, so `path` is a C string.
    if unsafe { st.place.quick_outside(dirfd, path) } {
        if may_write(flags) {
            opened_elsewhere(st, fd, flags, mode, FdKind::Outside);
        } else {
            fdtable::set_kind(fd, FdKind::Outside);
        }
        return fd;
    }
    // SAFETY: as above.
    unsafe { opened_unplaced(st, dirfd, path, flags, mode, fd) }
}

/// [`open_like`] for a path the quick test left undecided: the fast test on its bytes, then
/// full classification. Out of line, so the quick path keeps a small stack frame.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
#[inline(never)]
unsafe fn opened_unplaced(
    st: &State,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    fd: RawFd,
) -> c_int {
    // SAFETY: the caller's contract.
    let Some(bytes) = (unsafe { cbytes(path) }) else { return fd };
    if protect(|| false, || st.place.surely_outside(dirfd, bytes)) {
        if may_write(flags) {
            opened_elsewhere(st, fd, flags, mode, FdKind::Outside);
        } else {
            fdtable::set_kind(fd, FdKind::Outside);
        }
        return fd;
    }
    opened_classified(st, dirfd, bytes, flags, mode, fd)
}

/// [`open_like`] for an open that may create or truncate: placed before the call (as the
/// namespace hooks place theirs), so that an intent names a path in a pair while the primary
/// changes and its twins do not yet: a process killed right after the kernel's open leaves it
/// marked. The intent the opened descriptor keeps is claimed before this one goes.
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[inline(never)]
unsafe fn open_changing(
    st: &State,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    real: impl FnOnce() -> c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    let outside = unsafe { st.place.quick_outside(dirfd, path) };
    // SAFETY: as above.
    let bytes = unsafe { cbytes(path) }.unwrap_or_default();
    if outside || protect(|| false, || st.place.surely_outside(dirfd, bytes)) {
        let fd = real();
        if fd >= 0 {
            opened_elsewhere(st, fd, flags, mode, FdKind::Outside);
        }
        return fd;
    }
    let mut scratch = None;
    let class = classify(st, dirfd, bytes, &mut scratch);
    let _changing = intents::during(st, &class);
    let fd = real();
    if fd < 0 {
        return fd;
    }
    opened_with(st, class, dirfd, bytes, flags, mode, fd)
}

fn classify<'a>(
    st: &State,
    dirfd: c_int,
    bytes: &'a [u8],
    scratch: &'a mut Option<mfs_core::path::AbsPath>,
) -> Class<'a> {
    let _errno = ErrnoGuard::save();
    protect(|| Class::Unknown, || st.place.classify_at(dirfd, bytes, scratch))
}

/// [`open_like`] for a path the fast tests could not place: full classification, then the
/// twins.
fn opened_classified(st: &State, dirfd: c_int, bytes: &[u8], flags: c_int, mode: mode_t, fd: RawFd) -> c_int {
    let mut scratch = None;
    let class = classify(st, dirfd, bytes, &mut scratch);
    opened_with(st, class, dirfd, bytes, flags, mode, fd)
}

/// The twins of `fd`, opened at a path of class `class`.
fn opened_with(
    st: &State,
    class: Class<'_>,
    dirfd: c_int,
    bytes: &[u8],
    flags: c_int,
    mode: mode_t,
    fd: RawFd,
) -> c_int {
    match class {
        // The kernel resolves `..` after symlinks: what it opened decides.
        Class::In { .. } if has_dotdot_from(bytes, 0) => opened_elsewhere(st, fd, flags, mode, FdKind::Outside),
        Class::In { hit, .. } => {
            let mut errno = ErrnoGuard::save();
            let loc = Loc::from(hit);
            let r = protect(
                || {
                    st.journal_others(loc.pair, loc.origin, Kind::Dirty, JournalPath::Path(loc.rel));
                    Ok(())
                },
                || opened(st, fd, loc, flags, mode),
            );
            if let Err(Errno(e)) = r {
                // Fail mode: the program sees the mirror's error and no descriptor. With
                // O_CREAT | O_EXCL this call created the primary file: take it back, so
                // nothing is left half-applied.
                let _ = unsafe { real::close(fd) };
                if flags & (libc::O_CREAT | libc::O_EXCL) == (libc::O_CREAT | libc::O_EXCL)
                    && flags & libc::O_TMPFILE != libc::O_TMPFILE
                {
                    if let Ok(name) = std::ffi::CString::new(bytes) {
                        let _ = sys::unlinkat(dirfd, &name, 0);
                    }
                }
                errno.set(e);
                return -1;
            }
        }
        Class::TooLong if flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_WRONLY | libc::O_RDWR) != 0 => {
            let _errno = ErrnoGuard::save();
            st.unplaced_change();
        }
        Class::FdAlias => {
            let _errno = ErrnoGuard::save();
            protect(|| false, || opened_by_kernel_path(st, fd, flags, mode));
        }
        other if may_write(flags) => opened_elsewhere(st, fd, flags, mode, other.fd_kind()),
        other => fdtable::set_kind(fd, other.fd_kind()),
    }
    fd
}

/// True for open flags that may change what they open.
#[inline(always)]
pub fn may_write(flags: c_int) -> bool {
    flags & (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) != 0
}

/// Classifies a new fd by the kernel's path of what it opened (for `/dev/stdout` and the
/// like, which reach files only through magic links); true when that is in a pair.
fn opened_by_kernel_path(st: &State, fd: RawFd, flags: c_int, mode: mode_t) -> bool {
    let mut path = [0u8; PATH_MAX];
    match st.place.of_fd(fd, &mut path) {
        Some((hit, _)) => {
            let _ = opened(st, fd, Loc::from(hit), flags, mode);
            true
        }
        None => {
            fdtable::set_kind(fd, FdKind::Empty);
            false
        }
    }
}

/// A descriptor opened for writing at a path outside every pair as spelled, which may still
/// reach one (through a symlink to a root, a bind mount, `/proc/self/cwd`, `..` after a
/// symlink): what it opened is placed by the kernel's path when it lies on a root's device,
/// else the slot gets `kind`.
#[cold]
#[inline(never)]
pub fn opened_elsewhere(st: &State, fd: RawFd, flags: c_int, mode: mode_t, kind: FdKind) {
    let _errno = ErrnoGuard::save();
    let placed = protect(
        || false,
        || sys::fstat(fd).is_ok_and(|s| st.place.may_hold(s.st_dev)) && opened_by_kernel_path(st, fd, flags, mode),
    );
    if !placed {
        fdtable::set_kind(fd, kind);
    }
}

/// After the primary open of a path in a pair succeeded: open (or create, truncate) the twins
/// and record the fd.
pub fn opened(st: &State, fd: RawFd, loc: Loc<'_>, flags: c_int, mode: mode_t) -> Result<(), Errno> {
    let acc = flags & libc::O_ACCMODE;
    let writable = acc == libc::O_WRONLY || acc == libc::O_RDWR;
    let creates = flags & libc::O_CREAT != 0;
    let truncates = flags & libc::O_TRUNC != 0;
    let pair = st.pair(loc.pair);
    let read_mirror = pair.read_from == ReadFrom::Mirror && !writable;

    if flags & libc::O_PATH != 0 {
        record(fd, Entry::new(loc.pair, loc.origin, 0, 0));
        return Ok(());
    }
    let mut entry_flags = 0u8;
    let mut key = 0;
    let mut regular = false;
    if writable || creates || truncates || read_mirror {
        let Ok(stat) = sys::fstat(fd) else {
            return Ok(());
        };
        let fmt = stat.st_mode & libc::S_IFMT;
        regular = fmt == libc::S_IFREG;
        if fmt == libc::S_IFDIR {
            entry_flags |= flag::DIR;
        }
        key = mfs_core::locks::key_of(&stat);
    } else if flags & libc::O_DIRECTORY != 0 {
        entry_flags |= flag::DIR;
    }
    // Only regular files have their data mirrored (a FIFO or device in the tree is not).
    if writable && regular {
        entry_flags |= flag::WRITABLE;
    }
    if flags & libc::O_APPEND != 0 {
        entry_flags |= flag::APPEND;
    }
    if read_mirror {
        entry_flags |= flag::READ_MIRROR;
    }
    let mut entry = Entry::new(loc.pair, loc.origin, entry_flags, key);
    if !regular || !(writable || creates || truncates || read_mirror) {
        record(fd, entry);
        return Ok(());
    }

    // The twin: same access, no O_APPEND (twins are written at the primary's offsets, and
    // pwrite on an O_APPEND descriptor appends), no O_EXCL (the primary was just created
    // empty, so the twin is created or emptied to match).
    let mut tflags = flags & !(libc::O_APPEND | libc::O_EXCL | libc::O_NOCTTY);
    if flags & libc::O_EXCL != 0 && creates {
        tflags |= libc::O_TRUNC;
    }
    if read_mirror {
        tflags = (tflags & !libc::O_ACCMODE) | libc::O_RDONLY;
    }
    let keep = writable || read_mirror;
    let owner = owns_memory();
    if owner && (writable || creates || truncates) {
        // Named from before the twins change until the last descriptor closes: a crash in
        // between leaves the path marked.
        entry.intent = intents::claim(st, loc.pair, loc.origin, loc.rel, key);
    }
    let twins = TwinOpen { st, tflags, mode, keep: keep && owner };
    let result = match twins.open_all(loc, &mut entry) {
        Opened::Done(r) => r,
        Opened::Escaped => {
            // The lexical path crossed a symlink that leaves the root on some copy: the
            // kernel's path of the opened file decides where (and whether) it is mirrored.
            close_twins(&mut entry);
            let mut buf = [0u8; PATH_MAX];
            match st.place.of_fd(fd, &mut buf) {
                Some((hit, _)) if hit.pair == loc.pair => {
                    entry.origin = hit.copy;
                    match twins.open_all(Loc::from(hit), &mut entry) {
                        Opened::Done(r) => r,
                        Opened::Escaped => return outside(st, fd, &mut entry),
                    }
                }
                _ => return outside(st, fd, &mut entry),
            }
        }
    };
    if result.is_err() {
        close_twins(&mut entry);
        intents::release(st, entry.intent);
        return result;
    }
    if !writable && entry.intent != intents::NONE {
        // Created or truncated, and done with: nothing more will be written through it.
        intents::release(st, entry.intent);
        entry.intent = intents::NONE;
    }
    if owner {
        let every_twin = st.others(loc.pair, entry.origin).all(|o| entry.twins[o.copy] >= 0);
        if acc == libc::O_WRONLY && flags & libc::O_APPEND == 0 && lockstep::allowed_on(fd) && every_twin {
            entry.flags |= flag::LOCKSTEP;
            entry.level_at = coherency::generation(key);
        }
        record(fd, entry);
    }
    Ok(())
}

/// The opened file lies outside every pair after all.
fn outside(st: &State, fd: RawFd, entry: &mut Entry) -> Result<(), Errno> {
    close_twins(entry);
    intents::release(st, entry.intent);
    entry.intent = intents::NONE;
    fdtable::set_kind(fd, FdKind::Outside);
    Ok(())
}

enum Opened {
    /// Every copy was handled; `Err` carries the error the program should see (fail mode).
    Done(Result<(), Errno>),
    /// A copy refused the path because it would leave the root.
    Escaped,
}

/// Opens the twins of one primary fd.
struct TwinOpen<'a> {
    st: &'a State,
    tflags: c_int,
    mode: mode_t,
    /// Keep the twins open (false: only create or truncate, then close).
    keep: bool,
}

impl TwinOpen<'_> {
    fn open_all(&self, loc: Loc<'_>, entry: &mut Entry) -> Opened {
        let st = self.st;
        let mut result = Ok(());
        for other in st.others(loc.pair, loc.origin) {
            let copy = other.copy;
            if !other.online {
                // Creating or truncating changed the file; a plain open did not, and what is
                // written through it is journaled write by write.
                if self.tflags & (libc::O_CREAT | libc::O_TRUNC) != 0 {
                    st.journal(loc.pair, copy, Kind::Dirty, JournalPath::Path(loc.rel));
                }
                entry.twins[copy] = LOST_TWIN;
                continue;
            }
            match fanout::open_on(st, loc.pair, copy, loc.rel, self.tflags, self.mode) {
                Ok(Some(t)) if self.keep => entry.twins[copy] = t,
                Ok(Some(t)) => fanout::close_own(t),
                // Applied, but no descriptor can be kept: this fd is mirrored by path.
                Ok(None) => entry.twins[copy] = NO_TWIN,
                Err(e) if fanout::is_escape(e) => return Opened::Escaped,
                Err(e) => {
                    entry.twins[copy] = LOST_TWIN;
                    if let Some(fail) = st.mirror_failed(loc.pair, copy, JournalPath::Path(loc.rel), Op::Open, e).fail {
                        result = Err(fail);
                    }
                }
            }
        }
        Opened::Done(result)
    }
}

fn close_twins(e: &mut Entry) {
    for t in e.twins.iter_mut() {
        if *t >= 0 {
            fanout::close_own(*t);
        }
        *t = fdtable::NO_TWIN;
    }
}

/// Opens through a mkstemp-like call: the real call creates the file, then the twin is
/// created the same way (empty, mode 0600) when the template names a path in a pair.
unsafe fn mkstemp_like(tmpl: *mut c_char, flags: c_int, real: impl FnOnce() -> c_int) -> c_int {
    let fd = real();
    if fd < 0 || tmpl.is_null() {
        return fd;
    }
    let Some(st) = life::get() else { return fd };
    let _errno = ErrnoGuard::save();
    // SAFETY: the real call succeeded, so tmpl holds the NUL-terminated name it created.
    let Some(bytes) = (unsafe { cbytes(tmpl) }) else { return fd };
    let mut scratch = None;
    protect(
        || (),
        || {
            let f =
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | (flags & (libc::O_APPEND | libc::O_SYNC | libc::O_DSYNC));
            match st.place.classify_at(libc::AT_FDCWD, bytes, &mut scratch) {
                Class::In { hit, .. } if !has_dotdot_from(bytes, 0) => {
                    let _ = opened(st, fd, Loc::from(hit), f, 0o600);
                }
                other => opened_elsewhere(st, fd, f, 0o600, other.fd_kind()),
            }
        },
    );
    fd
}

/// The mode argument of open and openat exists only with O_CREAT or O_TMPFILE (which includes
/// O_DIRECTORY).
#[inline(always)]
fn mode_arg(flags: c_int, mode: mode_t) -> mode_t {
    if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        mode
    } else {
        0
    }
}

// open and openat are C-variadic (`int open(const char *, int, ...)`). On the Linux ABIs the
// shim builds for (x86-64 System V, AArch64 AAPCS64) an integer variadic argument travels in
// the same register as a fixed one in that position, so these fixed-argument definitions
// receive the mode where the caller put it; it is read only when the flags say it was passed.
hooks! {
    fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
        let mode = mode_arg(flags, mode);
        unsafe { open_like(libc::AT_FDCWD, path, flags, mode, move || call_open(OpenAlias::Open, path, flags, mode)) }
    }
    fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
        let mode = mode_arg(flags, mode);
        unsafe { open_like(libc::AT_FDCWD, path, flags, mode, move || call_open(OpenAlias::Open64, path, flags, mode)) }
    }
    fn __open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
        let mode = mode_arg(flags, mode);
        unsafe { open_like(libc::AT_FDCWD, path, flags, mode, move || call_open(OpenAlias::Open64, path, flags, mode)) }
    }
    fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
        let mode = mode_arg(flags, mode);
        unsafe { open_like(dirfd, path, flags, mode, move || call_openat(OpenAlias::Open, dirfd, path, flags, mode)) }
    }
    fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
        let mode = mode_arg(flags, mode);
        unsafe {
            open_like(dirfd, path, flags, mode, move || call_openat(OpenAlias::Open64, dirfd, path, flags, mode))
        }
    }
}

hooks! {
    fn __open_2(path: *const c_char, flags: c_int) -> c_int {
        unsafe { open_like(libc::AT_FDCWD, path, flags, 0, || real::__open_2(path, flags)) }
    }
    fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
        unsafe { open_like(libc::AT_FDCWD, path, flags, 0, || real::__open64_2(path, flags)) }
    }
    fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
        unsafe { open_like(dirfd, path, flags, 0, || real::__openat_2(dirfd, path, flags)) }
    }
    fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
        unsafe { open_like(dirfd, path, flags, 0, || real::__openat64_2(dirfd, path, flags)) }
    }
    fn creat(path: *const c_char, mode: mode_t) -> c_int {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        unsafe { open_like(libc::AT_FDCWD, path, flags, mode, || real::creat(path, mode)) }
    }
    fn creat64(path: *const c_char, mode: mode_t) -> c_int {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        unsafe { open_like(libc::AT_FDCWD, path, flags, mode, || real::creat64(path, mode)) }
    }
    fn mkstemp(tmpl: *mut c_char) -> c_int {
        unsafe { mkstemp_like(tmpl, 0, || real::mkstemp(tmpl)) }
    }
    fn mkstemp64(tmpl: *mut c_char) -> c_int {
        unsafe { mkstemp_like(tmpl, 0, || real::mkstemp64(tmpl)) }
    }
    fn mkostemp(tmpl: *mut c_char, flags: c_int) -> c_int {
        unsafe { mkstemp_like(tmpl, flags, || real::mkostemp(tmpl, flags)) }
    }
    fn mkostemp64(tmpl: *mut c_char, flags: c_int) -> c_int {
        unsafe { mkstemp_like(tmpl, flags, || real::mkostemp64(tmpl, flags)) }
    }
    fn mkstemps(tmpl: *mut c_char, suffixlen: c_int) -> c_int {
        unsafe { mkstemp_like(tmpl, 0, || real::mkstemps(tmpl, suffixlen)) }
    }
    fn mkstemps64(tmpl: *mut c_char, suffixlen: c_int) -> c_int {
        unsafe { mkstemp_like(tmpl, 0, || real::mkstemps64(tmpl, suffixlen)) }
    }
    fn mkostemps(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int {
        unsafe { mkstemp_like(tmpl, flags, || real::mkostemps(tmpl, suffixlen, flags)) }
    }
    fn mkostemps64(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int {
        unsafe { mkstemp_like(tmpl, flags, || real::mkostemps64(tmpl, suffixlen, flags)) }
    }
    fn mkdtemp(tmpl: *mut c_char) -> *mut c_char {
        let r = unsafe { real::mkdtemp(tmpl) };
        if !r.is_null() {
            // SAFETY: mkdtemp returned the template, now naming the new directory.
            unsafe { super::namespace::mirror_mkdir(libc::AT_FDCWD, r, 0o700) };
        }
        r
    }
    fn tmpfile() -> *mut libc::FILE {
        // An unnamed file in /tmp: nothing appears in any tree, so nothing is mirrored.
        unsafe { real::tmpfile() }
    }
    fn tmpfile64() -> *mut libc::FILE {
        unsafe { real::tmpfile64() }
    }
}
