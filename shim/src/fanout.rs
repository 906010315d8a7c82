//! Applying one change to the other copies of a pair: by path beneath each copy's root, or
//! through the twin descriptors of a mirrored fd.
//!
//! Every mirror-side path is resolved beneath the copy's root with openat2(RESOLVE_BENEATH):
//! a symlink or `..` in a mirror tree can never make the shim write outside it. When the
//! lexical path crosses a symlink that RESOLVE_BENEATH refuses (an absolute link inside the
//! tree, or one leading out), the object the kernel actually reached on the origin side is
//! asked for its real path, and that path decides: mirrored at its place in the tree, or not
//! mirrored at all when it lies outside.

use std::ffi::CStr;
use std::os::fd::RawFd;

use mfs_core::classify::Hit;
use mfs_core::failure::{Op, Verdict};
use mfs_core::path::{split_parent, PATH_MAX};
use mfs_core::sys::{self, Errno, SysResult};

use crate::fdtable::{self, Entry, FdKind};
use crate::owner;
use crate::state::{JournalPath, State};

/// A NUL-terminated copy of a relative path (`.` for the root): on the stack when short (as
/// nearly all are), on the heap otherwise, so the common case neither zeroes nor moves a
/// PATH_MAX buffer.
pub struct CRel {
    inline: [u8; CREL_INLINE],
    heap: Option<std::ffi::CString>,
}

const CREL_INLINE: usize = 192;

impl CRel {
    pub fn new(rel: &[u8]) -> Option<CRel> {
        let rel = if rel.is_empty() { &b"."[..] } else { rel };
        if rel.len() > PATH_MAX || rel.contains(&0) {
            return None;
        }
        let mut c = CRel { inline: [0u8; CREL_INLINE], heap: None };
        if rel.len() < CREL_INLINE {
            c.inline[..rel.len()].copy_from_slice(rel);
        } else {
            c.heap = Some(std::ffi::CString::new(rel).ok()?);
        }
        Some(c)
    }

    pub fn as_cstr(&self) -> &CStr {
        match &self.heap {
            Some(h) => h.as_c_str(),
            None => CStr::from_bytes_until_nul(&self.inline).unwrap_or(c"."),
        }
    }
}

/// Where a change happened: pair, the copy it was made through, and the path relative to
/// the roots.
#[derive(Clone, Copy, Debug)]
pub struct Loc<'a> {
    pub pair: usize,
    pub origin: usize,
    pub rel: &'a [u8],
}

impl<'a> From<Hit<'a>> for Loc<'a> {
    fn from(h: Hit<'a>) -> Self {
        Loc { pair: h.pair, origin: h.copy, rel: h.rel }
    }
}

/// Makes `twin` as long as its primary's `size` (taken under the file's coherency lock, which
/// the caller holds): a shorter twin gets the missing bytes from `readable` (a readable
/// descriptor of the primary), from offset 0 when `whole` (its content is not known to match)
/// or from its own end; a longer one is cut.
pub fn level_twin(readable: RawFd, twin: RawFd, size: libc::off_t, whole: bool) -> SysResult<()> {
    let have = sys::fstat(twin)?.st_size;
    if have == size && !whole {
        return Ok(());
    }
    let from = if whole { 0 } else { have.min(size) };
    if size > from {
        sys::copy_range(readable, from, twin, from, (size - from) as u64)?;
    }
    if have > size {
        sys::ftruncate(twin, size)?;
    }
    Ok(())
}

/// Opens `rel` on `copy`, beneath its root; the result is moved into the shim's range and
/// marked as the shim's.
/// `Ok(None)` when the open (and so any O_CREAT/O_TRUNC effect) happened but the descriptor
/// could not be kept: a descriptor the shim keeps must not take a number the program could
/// get, and with the high range unavailable (RLIMIT_NOFILE lowered below it) the twin is given
/// up; the caller then mirrors that fd by path.
pub fn open_on(
    st: &State,
    pair: usize,
    copy: usize,
    rel: &[u8],
    flags: i32,
    mode: libc::mode_t,
) -> SysResult<Option<RawFd>> {
    let fd = open_transient(st, pair, copy, rel, flags, mode)?;
    if fd >= st.fd_base {
        return Ok(Some(fd));
    }
    let high = sys::dup_at_least(fd, st.fd_base).ok();
    close_own(fd);
    if let Some(h) = high {
        fdtable::set_kind(h, FdKind::Private);
    }
    Ok(high)
}

/// Opens `rel` on `copy` for a moment (closed before the hook returns): it may keep a low
/// number, as the program cannot observe it.
pub fn open_transient(
    st: &State,
    pair: usize,
    copy: usize,
    rel: &[u8],
    flags: i32,
    mode: libc::mode_t,
) -> SysResult<RawFd> {
    let c = CRel::new(rel).ok_or(Errno(libc::ENAMETOOLONG))?;
    let root = st.copies.root_fd(pair, copy);
    let fd = match sys::open_beneath(root, c.as_cstr(), flags, mode) {
        // A file system without direct I/O (tmpfs, FUSE without it): the twin is buffered,
        // which changes no byte that reaches it.
        Err(Errno(libc::EINVAL)) if flags & libc::O_DIRECT != 0 => {
            sys::open_beneath(root, c.as_cstr(), flags & !libc::O_DIRECT, mode)?
        }
        r => r?,
    };
    fdtable::set_kind(fd, FdKind::Private);
    Ok(fd)
}

/// Closes a descriptor from [`open_on`].
pub fn close_own(fd: RawFd) {
    fdtable::set_kind(fd, FdKind::Empty);
    sys::close(fd);
}

/// Runs `f` with the parent directory of `rel` on `copy` (opened beneath the root) and the
/// final name. The root itself is passed as the root directory with the name `.`.
pub fn at_parent<R>(
    st: &State,
    pair: usize,
    copy: usize,
    rel: &[u8],
    f: impl FnOnce(RawFd, &CStr) -> SysResult<R>,
) -> SysResult<R> {
    if rel.is_empty() {
        return f(st.copies.root_fd(pair, copy), c".");
    }
    let (parent, name) = split_parent(rel);
    let name = CRel::new(name).ok_or(Errno(libc::ENAMETOOLONG))?;
    if parent.is_empty() {
        return f(st.copies.root_fd(pair, copy), name.as_cstr());
    }
    let dir = open_transient(st, pair, copy, parent, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let r = f(dir, name.as_cstr());
    close_own(dir);
    r
}

/// True for the errors RESOLVE_BENEATH gives when a path would leave the root.
pub fn is_escape(e: Errno) -> bool {
    matches!(e.0, libc::EXDEV | libc::ELOOP)
}

/// Re-resolves the parent directory of `abs` (an absolute origin-side path) through the
/// kernel: its real location decides where the change belongs. Writes the new relative path
/// (parent's real path + final name) into `out`.
pub fn canonical_rel<'b>(st: &State, abs: &[u8], out: &'b mut [u8; PATH_MAX]) -> Option<(usize, usize, &'b [u8])> {
    let (parent, name) = split_parent(abs);
    let parent = if parent.is_empty() { &b"/"[..] } else { parent };
    let c = CRel::new(parent)?;
    let mut real = [0u8; PATH_MAX];
    let (hit, _) = st.place.resolved(libc::AT_FDCWD, c.as_cstr(), libc::O_DIRECTORY, &mut real)?;
    let (pair, copy) = (hit.pair, hit.copy);
    let mut len = 0;
    for part in [hit.rel, if hit.rel.is_empty() { &b""[..] } else { &b"/"[..] }, name] {
        out.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    Some((pair, copy, &out[..len]))
}

/// Applies a path-based change to every other copy of the pair: `op(copy, dirfd, name)` runs
/// with the parent directory on that copy. Offline copies and failures are journaled.
/// `abs` is the origin-side absolute path, used when the lexical path crosses a symlink.
/// Returns the error the program should see (fail mode only).
pub fn fanout_path(
    st: &State,
    loc: Loc<'_>,
    abs: &[u8],
    kind: Op,
    op: impl FnMut(usize, RawFd, &CStr) -> SysResult<()>,
) -> Result<(), Errno> {
    fanout_path_range(st, loc, abs, kind, None, op)
}

/// [`fanout_path`] for a write of `range` of the file (journaled as such where it fails).
pub fn fanout_path_range(
    st: &State,
    loc: Loc<'_>,
    abs: &[u8],
    kind: Op,
    range: Option<(u64, u64)>,
    mut op: impl FnMut(usize, RawFd, &CStr) -> SysResult<()>,
) -> Result<(), Errno> {
    let mut canon = [0u8; PATH_MAX];
    let mut target = loc;
    let mut resolved = false;
    let mut result = Ok(());
    let mut others = st.others(loc.pair, loc.origin);
    while let Some(other) = others.next() {
        let copy = other.copy;
        if !other.online {
            st.journal_write(target.pair, copy, range, JournalPath::Path(target.rel));
            continue;
        }
        match at_parent(st, target.pair, copy, target.rel, |dir, name| op(copy, dir, name)) {
            Ok(()) => {}
            Err(e) if is_escape(e) && !resolved => {
                resolved = true;
                match canonical_rel(st, abs, &mut canon) {
                    Some((pair, origin, rel)) if pair == loc.pair => {
                        // Placed again by the kernel's path: start over from the first copy.
                        target = Loc { pair, origin, rel };
                        others = st.others(pair, origin);
                    }
                    // The path really leads out of the pair: nothing to mirror.
                    _ => return Ok(()),
                }
            }
            Err(e) => {
                let what = JournalPath::Path(target.rel);
                if let Some(fail) = st.mirror_failed_at(target.pair, copy, what, range, kind, e).fail {
                    result = Err(fail);
                }
            }
        }
    }
    result
}

/// A path-based form of a change: `op(copy, parent_dir, name)` on one copy.
pub type PathOp<'a> = &'a mut dyn FnMut(usize, RawFd, &CStr) -> SysResult<()>;

/// Applies an fd-based change to each twin of a mirrored fd; copies without a twin get the
/// path-based form `by_path` (when given) or are journaled.
pub fn fanout_fd(
    st: &State,
    fd: RawFd,
    e: &Entry,
    kind: Op,
    on_twin: impl FnMut(RawFd) -> SysResult<()>,
    by_path: Option<PathOp<'_>>,
) -> Result<(), Errno> {
    fanout_fd_range(st, fd, e, kind, None, on_twin, by_path)
}

/// [`fanout_fd`] for a write of `range` (offset, length) of the file: a copy that does not
/// take it has only those bytes journaled, so its resync copies them and nothing else.
pub fn fanout_fd_range(
    st: &State,
    fd: RawFd,
    e: &Entry,
    kind: Op,
    range: Option<(u64, u64)>,
    mut on_twin: impl FnMut(RawFd) -> SysResult<()>,
    by_path: Option<PathOp<'_>>,
) -> Result<(), Errno> {
    let mut result = Ok(());
    let mut need_path = false;
    for other in st.others(e.pair, e.origin) {
        let copy = other.copy;
        let t = e.twins[copy];
        if !other.online {
            st.journal_write(e.pair, copy, range, JournalPath::Fd(fd));
            if t >= 0 {
                lose_twin(fd, copy, t);
            }
            continue;
        }
        if t < 0 {
            // No twin (none could be kept, or it was lost to a failure or an outage of the
            // copy, which is in service again): by path, or journaled.
            need_path = true;
            continue;
        }
        if let Err(err) = on_twin(t) {
            let f = st.mirror_failed_at(e.pair, copy, JournalPath::Fd(fd), range, kind, err);
            if let Some(fail) = f.fail {
                result = Err(fail);
            }
            if f.verdict == Verdict::CopyFault {
                // The twin's state is unknown now: later changes are journaled instead.
                lose_twin(fd, copy, t);
            }
        }
    }
    if need_path {
        let r = fanout_fd_by_path(st, fd, e, kind, range, by_path);
        if r.is_err() {
            result = r;
        }
    }
    result
}

/// The part of [`fanout_fd`] for copies that have no twin descriptor: the change by path, or a
/// journal record. Out of line: its path buffer would otherwise be in every write's frame.
#[cold]
#[inline(never)]
fn fanout_fd_by_path(
    st: &State,
    fd: RawFd,
    e: &Entry,
    kind: Op,
    range: Option<(u64, u64)>,
    by_path: Option<PathOp<'_>>,
) -> Result<(), Errno> {
    let mut buf = [0u8; PATH_MAX];
    let Some((hit, abs)) = st.place.of_fd(fd, &mut buf) else { return Ok(()) };
    let loc = Loc { pair: e.pair, origin: e.origin, rel: hit.rel };
    match by_path {
        Some(op) => fanout_path_range(st, loc, abs, kind, range, |copy, dir, name| {
            if e.twins[copy] >= 0 {
                return Ok(()); // handled by the caller
            }
            op(copy, dir, name)
        }),
        None => {
            for other in st.others(e.pair, e.origin).filter(|o| e.twins[o.copy] < 0) {
                st.journal_write(e.pair, other.copy, range, JournalPath::Path(loc.rel));
            }
            Ok(())
        }
    }
}

/// Marks a twin of `fd` as lost (its copy failed); later calls journal instead of writing.
pub fn lose_twin(fd: RawFd, copy: usize, twin: RawFd) {
    if owner::owns_memory() {
        fdtable::set_twin_of(fd, copy, fdtable::LOST_TWIN);
        close_own(twin);
    }
}

/// Forgets mirrored fd `fd` (the program's descriptor is gone or going): closes its twins and
/// gives back its intent slot.
pub fn forget(st: &State, fd: RawFd, e: &Entry) {
    fdtable::set_kind(fd, FdKind::Empty);
    for (_, t) in e.open_twins() {
        close_own(t);
    }
    if e.intent != crate::intents::NONE {
        crate::intents::release(st, e.intent);
    }
}

/// Records a mirrored fd and marks its twins as the shim's.
pub fn record(fd: RawFd, e: Entry) {
    if !owner::owns_memory() {
        return;
    }
    for (_, t) in e.open_twins() {
        fdtable::set_twin(t, fd);
    }
    fdtable::set(fd, &e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfs_core::config::{Config, Env};
    use mfs_core::journal::{self, Kind};

    /// A state over a fresh primary and mirror (retries 2), without any hook involved.
    fn state(tag: &str) -> (std::path::PathBuf, State) {
        let t = std::env::temp_dir().join(format!("mfs-fanout-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        for d in ["p", "m", "state"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        let text = format!(
            "[daemon]\nstate_dir = \"{0}/state\"\n[[pair]]\nname = \"t\"\nprimary = \"{0}/p\"\nmirror = \"{0}/m\"\nretries = 2\n",
            t.display()
        );
        let cfg = Config::from_toml(&text, &Env::default()).unwrap();
        (t, State::new(cfg, 200).unwrap())
    }

    fn journal(t: &std::path::Path) -> Vec<(journal::Kind, usize, Vec<u8>)> {
        let data = std::fs::read(t.join("state/t.1.journal")).unwrap_or_default();
        journal::decode(&data).unwrap().into_iter().map(|r| (r.kind, r.copy, r.path)).collect()
    }

    /// A path change goes to the mirror beneath its root; failures are journaled, the copy goes
    /// offline after `retries` of them, and from then on changes are journaled for it without
    /// being tried.
    #[test]
    fn path_changes_reach_the_mirror_or_its_journal() {
        let (t, st) = state("path");
        let abs = t.join("p/d");
        let abs = abs.as_os_str().as_encoded_bytes();
        let loc = Loc { pair: 0, origin: 0, rel: b"d" };
        fanout_path(&st, loc, abs, Op::Create, |_, dir, name| sys::mkdirat(dir, name, 0o755)).unwrap();
        assert!(t.join("m/d").is_dir());
        assert!(journal(&t).is_empty());

        let mut tried = 0;
        for _ in 0..2 {
            fanout_path(&st, loc, abs, Op::Create, |_, _, _| {
                tried += 1;
                Err(Errno(libc::EIO))
            })
            .unwrap();
        }
        assert!(!st.online(0, 1));
        fanout_path(&st, Loc { rel: b"e", ..loc }, abs, Op::Create, |_, _, _| {
            tried += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(tried, 2, "an offline copy is not tried");
        let dirty = (Kind::Dirty, 1, b"d".to_vec());
        assert_eq!(journal(&t), vec![dirty.clone(), dirty, (Kind::Dirty, 1, b"e".to_vec())]);
        std::fs::remove_dir_all(t).unwrap();
    }

    /// A path that leaves the mirror's root through a symlink is never followed there.
    #[test]
    fn a_symlink_in_the_mirror_never_leads_out_of_it() {
        let (t, st) = state("escape");
        std::fs::create_dir_all(t.join("outside")).unwrap();
        std::os::unix::fs::symlink(t.join("outside"), t.join("m/link")).unwrap();
        let abs = t.join("p/link/f");
        let loc = Loc { pair: 0, origin: 0, rel: b"link/f" };
        let r = fanout_path(&st, loc, abs.as_os_str().as_encoded_bytes(), Op::Create, |_, dir, name| {
            sys::mkdirat(dir, name, 0o755)
        });
        assert!(r.is_ok());
        assert!(!t.join("outside/f").exists(), "wrote outside the mirror");
        std::fs::remove_dir_all(t).unwrap();
    }
}
