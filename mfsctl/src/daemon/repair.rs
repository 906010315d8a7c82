//! Bringing one copy level with another, path by path: what a journal replay and a full resync
//! do. Every change on the target is made relative to directory descriptors opened with
//! O_NOFOLLOW from the target's root, so nothing outside the target's root is ever touched;
//! a regular file is repaired under its coherency lock (the lock writers take around each
//! change), so programs keep writing while it runs. Data is compared before it is written:
//! only the bytes that differ reach the target.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use mfs_core::journal::Work;
use mfs_core::locks;
use mfs_core::objects;
use mfs_core::shared::SharedState;
use mfs_core::sys::{self, Errno, SysResult};
use rayon::prelude::*;

use crate::proto::Conflict;

/// Bytes compared at a time.
const CHUNK: usize = 1 << 20;

/// A directory with more entries than this has them repaired in parallel.
const PARALLEL_FROM: usize = 8;

/// One repair run from a source copy to a target copy.
pub struct Repair<'a> {
    pub shared: &'a SharedState,
    pub src_root: RawFd,
    pub dst_root: RawFd,
    /// Paths done and known.
    pub done: AtomicU64,
    pub total: AtomicU64,
    /// Bytes written to the target.
    pub bytes: AtomicU64,
    pub cancel: &'a AtomicBool,
    /// Two-way pairs: a target file modified after this time (Unix nanoseconds: the copy
    /// went out of service then) was changed on both sides: a conflict.
    pub conflicts_since: Option<u64>,
    pub conflicts: Mutex<Vec<Conflict>>,
    /// The first failure of the target itself: the run stops there.
    pub fault: Mutex<Option<Errno>>,
    /// A whole-tree walk: a regular file whose size, modification time, mode and owner are
    /// the source's is taken as level without reading it (as `rsync -a` does). Paths a
    /// journal names are always compared.
    pub quick: bool,
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
    /// The target failed (full, read-only, gone): it stays out of service.
    Fault(Errno),
}

fn cstr(b: &[u8]) -> SysResult<CString> {
    CString::new(b).map_err(|_| Errno(libc::EINVAL))
}

fn kind(st: &libc::stat) -> u32 {
    st.st_mode & libc::S_IFMT
}

/// A failure of the target's file system (not of one path on it).
fn is_fault(e: Errno) -> bool {
    matches!(
        e.0,
        libc::EIO
            | libc::ENOSPC
            | libc::EDQUOT
            | libc::EROFS
            | libc::ENOTCONN
            | libc::ESTALE
            | libc::ENODEV
            | libc::ENXIO
            | libc::ETIMEDOUT
            | libc::ECONNABORTED
            | libc::EHOSTDOWN
            | libc::EACCES
    )
}

/// An open directory descriptor, closed on drop.
struct Dir(RawFd);

impl Drop for Dir {
    fn drop(&mut self) {
        sys::close(self.0);
    }
}

impl<'a> Repair<'a> {
    pub fn new(shared: &'a SharedState, src_root: RawFd, dst_root: RawFd, cancel: &'a AtomicBool) -> Repair<'a> {
        Repair {
            shared,
            src_root,
            dst_root,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            cancel,
            conflicts_since: None,
            conflicts: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
            quick: false,
        }
    }

    fn stopped(&self) -> Option<Stopped> {
        if let Some(e) = *self.fault.lock().unwrap() {
            return Some(Stopped::Fault(e));
        }
        self.cancel.load(Ordering::Relaxed).then_some(Stopped::Cancelled)
    }

    /// Notes an error of a change on the target; true when the run must stop.
    fn note(&self, r: SysResult<()>) -> bool {
        match r {
            Err(e) if is_fault(e) => {
                self.fault.lock().unwrap().get_or_insert(e);
                true
            }
            _ => false,
        }
    }

    /// Repairs `rel` (relative to both roots; empty for the roots themselves) as `work` says.
    pub fn path(&self, rel: &[u8], work: &Work) -> Result<(), Stopped> {
        if let Some(s) = self.stopped() {
            return Err(s);
        }
        let r = self.path_inner(rel, work);
        self.note(r);
        self.done.fetch_add(1, Ordering::Relaxed);
        self.stopped().map_or(Ok(()), Err)
    }

    fn path_inner(&self, rel: &[u8], work: &Work) -> SysResult<()> {
        if rel.is_empty() {
            self.children(self.src_root, self.dst_root, b"")?;
            return self.dir_meta(self.src_root, self.dst_root);
        }
        let comps: Vec<&[u8]> = rel.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
        let Some((last, parents)) = comps.split_last() else { return Ok(()) };
        let mut at = Vec::with_capacity(rel.len());
        let mut sdir = Dir(sys::dup_at_least(self.src_root, 3)?);
        let mut ddir = Dir(sys::dup_at_least(self.dst_root, 3)?);
        for comp in parents {
            let name = cstr(comp)?;
            if !at.is_empty() {
                at.push(b'/');
            }
            at.extend_from_slice(comp);
            match sys::fstatat(sdir.0, &name, libc::AT_SYMLINK_NOFOLLOW) {
                Ok(s) if kind(&s) == libc::S_IFDIR => {
                    self.ensure_dir(ddir.0, &name, &s)?;
                    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                    let ns = Dir(sys::openat(sdir.0, &name, flags, 0)?);
                    let nd = Dir(sys::openat(ddir.0, &name, flags, 0)?);
                    sdir = ns;
                    ddir = nd;
                }
                // No directory here on the source: what is at this prefix is what changed.
                _ => return self.entry(sdir.0, ddir.0, &name, &at, &Work::Whole),
            }
        }
        self.entry(sdir.0, ddir.0, &cstr(last)?, rel, work)
    }

    /// Makes `name` in `ddir` a directory (replacing anything else there).
    fn ensure_dir(&self, ddir: RawFd, name: &CStr, s: &libc::stat) -> SysResult<()> {
        match sys::fstatat(ddir, name, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(d) if kind(&d) == libc::S_IFDIR => Ok(()),
            Ok(_) => {
                objects::remove_object(ddir, name)?;
                sys::mkdirat(ddir, name, s.st_mode & 0o7777)
            }
            Err(_) => sys::mkdirat(ddir, name, s.st_mode & 0o7777),
        }
    }

    /// Repairs entry `name` of directory `sdir` into `ddir`; `rel` is its path from the roots.
    fn entry(&self, sdir: RawFd, ddir: RawFd, name: &CStr, rel: &[u8], work: &Work) -> SysResult<()> {
        let s = match sys::fstatat(sdir, name, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(s) => s,
            Err(Errno(libc::ENOENT | libc::ENOTDIR)) => {
                // Gone from the source: gone from the target.
                return match objects::remove_object(ddir, name) {
                    Err(Errno(libc::ENOENT)) => Ok(()),
                    r => r,
                };
            }
            Err(e) => return Err(e),
        };
        let d = sys::fstatat(ddir, name, libc::AT_SYMLINK_NOFOLLOW).ok();
        if let Some(d) = &d {
            if kind(d) != kind(&s) {
                objects::remove_object(ddir, name)?;
            }
        }
        let d = d.filter(|d| kind(d) == kind(&s));
        if self.quick && kind(&s) == libc::S_IFREG && d.as_ref().is_some_and(|d| looks_level(&s, d)) {
            return Ok(());
        }
        match kind(&s) {
            libc::S_IFREG => self.file(sdir, ddir, name, rel, &s, d.as_ref(), work),
            libc::S_IFDIR => {
                if d.is_none() {
                    sys::mkdirat(ddir, name, 0o700)?;
                }
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let sd = Dir(sys::openat(sdir, name, flags, 0)?);
                let dd = Dir(sys::openat(ddir, name, flags, 0)?);
                self.children(sd.0, dd.0, rel)?;
                self.dir_meta(sd.0, dd.0)
            }
            libc::S_IFLNK => {
                let mut a = vec![0u8; 4096];
                let n = sys::readlinkat(sdir, name, &mut a)?;
                a.truncate(n);
                if d.is_some() {
                    let mut b = vec![0u8; 4096];
                    let m = sys::readlinkat(ddir, name, &mut b)?;
                    if b[..m] == a[..] {
                        return self.meta(ddir, name, &s, d.as_ref());
                    }
                    objects::remove_object(ddir, name)?;
                }
                sys::symlinkat(&cstr(&a)?, ddir, name)?;
                self.meta(ddir, name, &s, None)
            }
            _ => {
                if d.is_some_and(|d| d.st_rdev != s.st_rdev) {
                    objects::remove_object(ddir, name)?;
                }
                if d.is_none() || d.is_some_and(|d| d.st_rdev != s.st_rdev) {
                    sys::mknodat(ddir, name, s.st_mode, s.st_rdev)?;
                }
                self.meta(ddir, name, &s, None)
            }
        }
    }

    /// Every entry under a directory pair: the source's repaired, the target's extra ones
    /// removed.
    fn children(&self, sdir: RawFd, ddir: RawFd, rel: &[u8]) -> SysResult<()> {
        let src = names(sdir)?;
        let dst = names(ddir)?;
        self.total.fetch_add(src.len() as u64, Ordering::Relaxed);
        let one = |n: &CString| -> Result<(), Stopped> {
            if let Some(s) = self.stopped() {
                return Err(s);
            }
            let mut child = rel.to_vec();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(n.to_bytes());
            let r = self.entry(sdir, ddir, n, &child, &Work::Whole);
            self.done.fetch_add(1, Ordering::Relaxed);
            if self.note(r) {
                return Err(self.stopped().unwrap_or(Stopped::Cancelled));
            }
            Ok(())
        };
        let r =
            if src.len() >= PARALLEL_FROM { src.par_iter().try_for_each(one) } else { src.iter().try_for_each(one) };
        if r.is_err() {
            return Ok(()); // the reason is kept in `fault` or `cancel`
        }
        let keep: std::collections::HashSet<&CString> = src.iter().collect();
        for n in dst.iter().filter(|n| !keep.contains(n)) {
            if self.note(objects::remove_object(ddir, n)) {
                break;
            }
        }
        Ok(())
    }

    fn dir_meta(&self, sdir: RawFd, ddir: RawFd) -> SysResult<()> {
        let s = sys::fstat(sdir)?;
        let d = sys::fstat(ddir)?;
        if d.st_mode & 0o7777 != s.st_mode & 0o7777 {
            sys::fchmod(ddir, s.st_mode & 0o7777)?;
        }
        if (d.st_uid, d.st_gid) != (s.st_uid, s.st_gid) {
            let _ = sys::fchown(ddir, s.st_uid, s.st_gid);
        }
        Ok(())
    }

    /// Mode (not of a symlink), owner and modification time of `name` in `ddir`, as `s`.
    fn meta(&self, ddir: RawFd, name: &CStr, s: &libc::stat, d: Option<&libc::stat>) -> SysResult<()> {
        let link = kind(s) == libc::S_IFLNK;
        if !link && d.is_none_or(|d| d.st_mode & 0o7777 != s.st_mode & 0o7777) {
            sys::fchmodat(ddir, name, s.st_mode & 0o7777)?;
        }
        if d.is_none_or(|d| (d.st_uid, d.st_gid) != (s.st_uid, s.st_gid)) {
            // Only root may give a file away: where that is refused the copy keeps its owner.
            let _ = sys::fchownat(ddir, name, s.st_uid, s.st_gid, libc::AT_SYMLINK_NOFOLLOW);
        }
        let times = [
            libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
            libc::timespec { tv_sec: s.st_mtime, tv_nsec: s.st_mtime_nsec },
        ];
        let _ = sys::utimensat(ddir, Some(name), &times, libc::AT_SYMLINK_NOFOLLOW);
        Ok(())
    }

    /// Repairs a regular file under its coherency lock.
    #[allow(clippy::too_many_arguments)]
    fn file(
        &self,
        sdir: RawFd,
        ddir: RawFd,
        name: &CStr,
        rel: &[u8],
        s: &libc::stat,
        d: Option<&libc::stat>,
        work: &Work,
    ) -> SysResult<()> {
        let _held = self.shared.lock(locks::key_of(s));
        if let (Some(since), Some(d)) = (self.conflicts_since, d) {
            let ns = |st: &libc::stat| st.st_mtime as u64 * 1_000_000_000 + st.st_mtime_nsec as u64;
            if ns(d) > since && ns(s) > since {
                return self.conflict(sdir, ddir, name, rel, s, d);
            }
        }
        let sfd = Dir(sys::openat(sdir, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?);
        let dfd = Dir(sys::openat(ddir, name, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, 0o600)?);
        let size = sys::fstat(sfd.0)?.st_size as u64;
        match work {
            Work::Ranges(ranges) => {
                for &(off, len) in ranges {
                    if off < size {
                        self.level(sfd.0, dfd.0, off, len.min(size - off))?;
                    }
                }
            }
            Work::Whole => self.level_sparse(sfd.0, dfd.0, size)?,
        }
        let now = sys::fstat(dfd.0)?;
        if now.st_size as u64 != size {
            sys::ftruncate(dfd.0, size as libc::off_t)?;
        }
        // Through the descriptor, not the name: a program may rename the file meanwhile
        // (renames take no file lock), and what is set must follow the file.
        fd_meta(dfd.0, s, &now)
    }

    /// Makes bytes `[off, off+len)` of `dst` equal those of `src`, writing only the chunks
    /// that differ.
    fn level(&self, src: RawFd, dst: RawFd, mut off: u64, len: u64) -> SysResult<()> {
        let end = off + len;
        let mut a = vec![0u8; CHUNK.min(len as usize).max(1)];
        let mut b = vec![0u8; a.len()];
        while off < end {
            let want = (end - off).min(a.len() as u64) as usize;
            let n = sys::pread(src, &mut a[..want], off as libc::off_t)?;
            if n == 0 {
                break;
            }
            let m = read_full(dst, &mut b[..n], off)?;
            if m != n || a[..n] != b[..n] {
                sys::pwrite_all(dst, &a[..n], off as libc::off_t)?;
                self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            off += n as u64;
        }
        Ok(())
    }

    /// [`Repair::level`] over a whole file, going by the source's data and holes: a hole
    /// on the source is made a hole (or zeros) on the target where the target has data.
    fn level_sparse(&self, src: RawFd, dst: RawFd, size: u64) -> SysResult<()> {
        let mut off = 0u64;
        while off < size {
            let data = match sys::lseek(src, off as libc::off_t, libc::SEEK_DATA) {
                Ok(d) => d as u64,
                Err(Errno(libc::ENXIO)) => size,
                // No SEEK_DATA here: all data.
                Err(_) => return self.level(src, dst, off, size - off),
            };
            if data > off {
                self.clear(dst, off, data.min(size))?;
            }
            if data >= size {
                break;
            }
            let hole = sys::lseek(src, data as libc::off_t, libc::SEEK_HOLE).map_or(size, |h| h as u64).min(size);
            self.level(src, dst, data, hole - data)?;
            off = hole;
        }
        Ok(())
    }

    /// Makes `[from, to)` of `dst` read as zeros, touching only where it has data.
    fn clear(&self, dst: RawFd, from: u64, to: u64) -> SysResult<()> {
        let dsize = sys::fstat(dst)?.st_size as u64;
        let to = to.min(dsize);
        let mut off = from;
        let zeros = vec![0u8; CHUNK];
        let mut buf = vec![0u8; CHUNK];
        while off < to {
            let data = match sys::lseek(dst, off as libc::off_t, libc::SEEK_DATA) {
                Ok(d) => d as u64,
                Err(Errno(libc::ENXIO)) => return Ok(()),
                Err(_) => off,
            };
            if data >= to {
                return Ok(());
            }
            let hole = sys::lseek(dst, data as libc::off_t, libc::SEEK_HOLE).map_or(to, |h| h as u64).min(to);
            let mut at = data;
            while at < hole {
                let n = (hole - at).min(CHUNK as u64) as usize;
                let m = read_full(dst, &mut buf[..n], at)?;
                if buf[..m].iter().any(|&b| b != 0) {
                    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
                    if sys::fallocate(dst, mode, at as libc::off_t, n as libc::off_t).is_err() {
                        sys::pwrite_all(dst, &zeros[..n], at as libc::off_t)?;
                    }
                    self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                at += n as u64;
            }
            off = hole;
        }
        Ok(())
    }

    /// A regular file changed on both copies while the target was out of service: the newer
    /// modification time wins, and the other version is kept on both copies beside it as
    /// `NAME.mfs-conflict-<time>`.
    fn conflict(
        &self,
        sdir: RawFd,
        ddir: RawFd,
        name: &CStr,
        rel: &[u8],
        s: &libc::stat,
        d: &libc::stat,
    ) -> SysResult<()> {
        let sfd = Dir(sys::openat(sdir, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?);
        let dfd = Dir(sys::openat(ddir, name, libc::O_RDWR | libc::O_NOFOLLOW, 0)?);
        if same_content(sfd.0, dfd.0)? {
            return self.meta(ddir, name, s, Some(d));
        }
        let now = mfs_core::shared::unix_now();
        let mut kept = name.to_bytes().to_vec();
        kept.extend_from_slice(format!(".mfs-conflict-{now}").as_bytes());
        let kept = cstr(&kept)?;
        let source_wins = (s.st_mtime, s.st_mtime_nsec) >= (d.st_mtime, d.st_mtime_nsec);
        // The losing version goes beside the file on both copies; then the winner over the
        // loser.
        let (win, win_st, lose_dir, lose) = if source_wins { (&sfd, s, ddir, &dfd) } else { (&dfd, d, sdir, &sfd) };
        for dir in [sdir, ddir] {
            let k =
                Dir(sys::openat(dir, &kept, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o600)?);
            let n = sys::fstat(lose.0)?.st_size as u64;
            sys::copy_range(lose.0, 0, k.0, 0, n)?;
            let _ = sys::fchmod(k.0, s.st_mode & 0o7777);
        }
        let n = sys::fstat(win.0)?.st_size as u64;
        let lose_rw = Dir(sys::openat(lose_dir, name, libc::O_RDWR | libc::O_NOFOLLOW, 0)?);
        self.level(win.0, lose_rw.0, 0, n)?;
        sys::ftruncate(lose_rw.0, n as libc::off_t)?;
        self.meta(lose_dir, name, win_st, None)?;
        let path = String::from_utf8_lossy(rel).into_owned();
        let mut kept_rel = rel.to_vec();
        kept_rel.extend_from_slice(&kept.to_bytes()[name.to_bytes().len()..]);
        let kept_as = String::from_utf8_lossy(&kept_rel).into_owned();
        self.conflicts.lock().unwrap().push(Conflict { path, kept_as, at: now });
        Ok(())
    }
}

/// Mode, owner (where permitted) and modification time of the open file `fd` (whose stat is
/// `d`), as `s`.
fn fd_meta(fd: RawFd, s: &libc::stat, d: &libc::stat) -> SysResult<()> {
    // Owner first: a change of owner clears set-user-ID bits that the mode then sets.
    if (d.st_uid, d.st_gid) != (s.st_uid, s.st_gid) {
        let _ = sys::fchown(fd, s.st_uid, s.st_gid);
    }
    if d.st_mode & 0o7777 != s.st_mode & 0o7777 {
        sys::fchmod(fd, s.st_mode & 0o7777)?;
    }
    let times = [
        libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
        libc::timespec { tv_sec: s.st_mtime, tv_nsec: s.st_mtime_nsec },
    ];
    let _ = sys::utimensat(fd, None, &times, 0);
    Ok(())
}

/// Same size, modification time, mode and owner.
fn looks_level(s: &libc::stat, d: &libc::stat) -> bool {
    s.st_size == d.st_size
        && (s.st_mtime, s.st_mtime_nsec) == (d.st_mtime, d.st_mtime_nsec)
        && s.st_mode == d.st_mode
        && (s.st_uid, s.st_gid) == (d.st_uid, d.st_gid)
}

/// Reads up to `buf.len()` bytes at `off`, short only at the end of the file.
fn read_full(fd: RawFd, buf: &mut [u8], off: u64) -> SysResult<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = sys::pread(fd, &mut buf[got..], (off + got as u64) as libc::off_t)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

fn same_content(a: RawFd, b: RawFd) -> SysResult<bool> {
    let (sa, sb) = (sys::fstat(a)?.st_size, sys::fstat(b)?.st_size);
    if sa != sb {
        return Ok(false);
    }
    let mut x = vec![0u8; CHUNK];
    let mut y = vec![0u8; CHUNK];
    let mut off = 0u64;
    loop {
        let n = read_full(a, &mut x, off)?;
        let m = read_full(b, &mut y, off)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
        off += n as u64;
    }
}

/// The entry names of an open directory, without `.` and `..`.
fn names(dir: RawFd) -> SysResult<Vec<CString>> {
    let fd = sys::openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let fd = Dir(fd);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = sys::getdents64(fd.0, &mut buf)?;
        if n == 0 {
            break;
        }
        for raw in sys::dirent_names(&buf[..n]).filter(|&r| r != b"." && r != b"..") {
            out.push(cstr(raw)?);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn setup(tag: &str) -> (std::path::PathBuf, SharedState) {
        let t = std::env::temp_dir().join(format!("mfs-repair-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        for d in ["p", "m", "state"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        let state = CString::new(t.join("state").to_str().unwrap()).unwrap();
        (t.clone(), SharedState::open(&state, 3).unwrap())
    }

    fn root(p: &Path) -> RawFd {
        let c = CString::new(p.to_str().unwrap()).unwrap();
        sys::openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap()
    }

    /// A whole-tree repair makes the target equal the source: files, directories, symlinks
    /// (never followed out of the target), modes, extra entries removed, types replaced.
    #[test]
    fn a_whole_tree_repair_makes_the_copies_identical() {
        let (t, shared) = setup("tree");
        let (p, m) = (t.join("p"), t.join("m"));
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::write(p.join("a/b/f"), vec![7u8; 3 * CHUNK + 5]).unwrap();
        std::fs::write(p.join("same"), b"same").unwrap();
        std::fs::write(m.join("same"), b"same").unwrap();
        symlink("a/b/f", p.join("link")).unwrap();
        std::fs::create_dir_all(m.join("extra/deep")).unwrap();
        std::fs::write(m.join("a"), b"a file where a directory belongs").unwrap();
        std::fs::create_dir_all(t.join("outside")).unwrap();
        symlink(t.join("outside"), m.join("esc")).unwrap();
        std::fs::create_dir_all(p.join("esc")).unwrap();
        std::fs::write(p.join("esc/x"), b"x").unwrap();
        let cancel = AtomicBool::new(false);
        let (sp, sm) = (root(&p), root(&m));
        let r = Repair::new(&shared, sp, sm, &cancel);
        r.path(b"", &Work::Whole).unwrap();
        assert!(std::fs::read_dir(t.join("outside")).unwrap().next().is_none(), "followed a symlink out");
        let diffs = mfs_core::tree::diff_trees(&p, &m).unwrap();
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(r.bytes.load(Ordering::Relaxed), 3 * CHUNK as u64 + 5 + 1);
        // A second run writes nothing.
        let again = Repair::new(&shared, sp, sm, &cancel);
        again.path(b"", &Work::Whole).unwrap();
        assert_eq!(again.bytes.load(Ordering::Relaxed), 0);
        // A quick walk takes same size and time for level; a journal-named path is compared.
        std::fs::write(m.join("same"), b"SAME").unwrap();
        let when = std::fs::metadata(p.join("same")).unwrap().modified().unwrap();
        std::fs::File::options().write(true).open(m.join("same")).unwrap().set_modified(when).unwrap();
        let mut quick = Repair::new(&shared, sp, sm, &cancel);
        quick.quick = true;
        quick.path(b"", &Work::Whole).unwrap();
        assert_eq!(std::fs::read(m.join("same")).unwrap(), b"SAME");
        let named = Repair::new(&shared, sp, sm, &cancel);
        named.path(b"same", &Work::Whole).unwrap();
        assert_eq!(std::fs::read(m.join("same")).unwrap(), b"same");
        std::fs::remove_dir_all(t).unwrap();
    }

    /// A file's mode and time are set through its descriptor: a program renaming the file while
    /// it is repaired (renames take no file lock) still gets them on the file.
    #[test]
    fn metadata_follows_a_file_renamed_during_its_repair() {
        use std::os::unix::fs::PermissionsExt;
        let (t, _shared) = setup("renamed");
        let (p, m) = (t.join("p"), t.join("m"));
        std::fs::write(p.join("f"), b"x").unwrap();
        std::fs::set_permissions(p.join("f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        let c = |path: &Path| CString::new(path.to_str().unwrap()).unwrap();
        let s = sys::fstatat(libc::AT_FDCWD, &c(&p.join("f")), 0).unwrap();
        let fd = sys::openat(libc::AT_FDCWD, &c(&m.join("f")), libc::O_RDWR | libc::O_CREAT, 0o600).unwrap();
        std::fs::rename(m.join("f"), m.join("g")).unwrap();
        let d = sys::fstat(fd).unwrap();
        fd_meta(fd, &s, &d).unwrap();
        sys::close(fd);
        let g = std::fs::metadata(m.join("g")).unwrap();
        assert_eq!(g.permissions().mode() & 0o7777, 0o640);
        assert_eq!(g.modified().unwrap(), std::fs::metadata(p.join("f")).unwrap().modified().unwrap());
        std::fs::remove_dir_all(t).unwrap();
    }

    /// Ranges copy only what they name; a path gone from the source is removed.
    #[test]
    fn ranges_copy_only_their_bytes() {
        let (t, shared) = setup("ranges");
        let (p, m) = (t.join("p"), t.join("m"));
        let mut data = vec![1u8; 1 << 20];
        std::fs::write(m.join("f"), &data).unwrap();
        data[4096..8192].fill(2);
        data[500_000..500_010].fill(3);
        std::fs::write(p.join("f"), &data).unwrap();
        std::fs::write(m.join("gone"), b"x").unwrap();
        let cancel = AtomicBool::new(false);
        let r = Repair::new(&shared, root(&p), root(&m), &cancel);
        r.path(b"f", &Work::Ranges(vec![(4096, 4096), (500_000, 10)])).unwrap();
        r.path(b"gone", &Work::Whole).unwrap();
        assert_eq!(std::fs::read(m.join("f")).unwrap(), data);
        assert_eq!(r.bytes.load(Ordering::Relaxed), 4096 + 10);
        assert!(!m.join("gone").exists());
        std::fs::remove_dir_all(t).unwrap();
    }

    /// Holes of the source become holes (or zeros) on the target; data is compared, not
    /// rewritten.
    #[test]
    fn sparse_files_are_levelled_by_their_data() {
        let (t, shared) = setup("sparse");
        let (p, m) = (t.join("p"), t.join("m"));
        let f = std::fs::File::create(p.join("s")).unwrap();
        f.set_len(64 << 20).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"tail", (64 << 20) - 4).unwrap();
        std::fs::write(m.join("s"), vec![9u8; 8192]).unwrap();
        let cancel = AtomicBool::new(false);
        let r = Repair::new(&shared, root(&p), root(&m), &cancel);
        r.path(b"s", &Work::Whole).unwrap();
        assert!(mfs_core::tree::diff_trees(&p, &m).unwrap().is_empty());
        assert!(
            r.bytes.load(Ordering::Relaxed) < 1 << 20,
            "{} bytes for a sparse file",
            r.bytes.load(Ordering::Relaxed)
        );
        std::fs::remove_dir_all(t).unwrap();
    }

    /// Changed on both sides while the target was away: the newer version wins on both
    /// copies and the older is kept beside it on both.
    #[test]
    fn a_file_changed_on_both_sides_is_a_conflict() {
        let (t, shared) = setup("conflict");
        let (p, m) = (t.join("p"), t.join("m"));
        std::fs::write(p.join("c"), b"older, primary").unwrap();
        std::fs::write(m.join("c"), b"newer, mirror").unwrap();
        let old = libc::timespec { tv_sec: 1_000_000, tv_nsec: 0 };
        let times = [old, old];
        let c = CString::new(p.join("c").to_str().unwrap()).unwrap();
        sys::utimensat(libc::AT_FDCWD, Some(&c), &times, 0).unwrap();
        let cancel = AtomicBool::new(false);
        let mut r = Repair::new(&shared, root(&p), root(&m), &cancel);
        r.conflicts_since = Some(1);
        r.path(b"c", &Work::Whole).unwrap();
        assert_eq!(std::fs::read(p.join("c")).unwrap(), b"newer, mirror");
        assert_eq!(std::fs::read(m.join("c")).unwrap(), b"newer, mirror");
        let conflicts = r.conflicts.lock().unwrap().clone();
        assert_eq!(conflicts.len(), 1);
        for side in [&p, &m] {
            assert_eq!(std::fs::read(side.join(&conflicts[0].kept_as)).unwrap(), b"older, primary");
            assert!(conflicts[0].kept_as.starts_with("c.mfs-conflict-"));
        }
        assert!(mfs_core::tree::diff_trees(&p, &m).unwrap().is_empty());
        std::fs::remove_dir_all(t).unwrap();
    }
}
