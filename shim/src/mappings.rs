//! The registry of shared writable memory maps of mirrored files, and their synchronisation.
//!
//! A store into a `MAP_SHARED` mapping changes the primary file without any call the shim
//! could see (rust-lld writes executables this way: create, ftruncate, mmap, store, munmap,
//! rename; SQLite maps its WAL index). Each such mapping of a mirrored file is recorded with
//! the shim's own duplicates of the primary descriptor and of each twin, so the program may
//! close its descriptor while the mapping lives. The file is journaled as mapped (dirty until
//! released) on every other copy. At msync, at munmap of any part and at exit, the file range
//! behind the affected part, clipped to the primary's size, is copied from the primary (whose
//! page cache holds the stores) to each twin, and each twin is cut or extended to the
//! primary's size. When the last part of a mapping is unmapped the file is journaled clean and
//! the duplicates are closed.
//!
//! The registry is a small list behind an [`OwnerLock`] (it survives fork) and is never held
//! across a call that could re-enter a hook. munmap of memory with no recorded mapping costs
//! one atomic load ([`any`]).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use libc::{c_int, c_void, off_t, size_t};
use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::path::PATH_MAX;
use mfs_core::sys::{self, Errno, ErrnoGuard};

use crate::coherency;
use crate::edge::protect;
use crate::fanout;
use crate::fdtable::{self, flag, Entry, FdKind, LOST_TWIN};
use crate::owner::owns_memory;
use crate::state::{JournalPath, State};
use crate::sync::OwnerLock;

/// A range of memory mapped from a file at offset `off`, with what it maps (`T`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Span<T> {
    addr: usize,
    len: usize,
    off: off_t,
    data: T,
}

impl<T: Clone> Span<T> {
    fn end(&self) -> usize {
        self.addr.saturating_add(self.len)
    }

    /// The part of this span inside `[a, b)` (which must overlap it).
    fn clip(&self, a: usize, b: usize) -> Span<T> {
        let lo = self.addr.max(a);
        let hi = self.end().min(b);
        Span { addr: lo, len: hi - lo, off: self.off + (lo - self.addr) as off_t, data: self.data.clone() }
    }

    fn overlaps(&self, a: usize, b: usize) -> bool {
        self.addr < b && a < self.end()
    }
}

/// Removes `[a, b)` from the spans: the parts outside stay (split when needed), the parts
/// inside are returned.
fn cut<T: Clone>(spans: &mut Vec<Span<T>>, a: usize, b: usize) -> Vec<Span<T>> {
    let mut removed = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        if !spans[i].overlaps(a, b) {
            i += 1;
            continue;
        }
        let s = spans.swap_remove(i);
        if s.addr < a {
            spans.push(s.clip(s.addr, a));
        }
        if b < s.end() {
            spans.push(s.clip(b, s.end()));
        }
        removed.push(s.clip(a, b));
    }
    removed
}

/// The parts of the spans inside `[a, b)`, left in place.
fn overlapping<T: Clone>(spans: &[Span<T>], a: usize, b: usize) -> Vec<Span<T>> {
    spans.iter().filter(|s| s.overlaps(a, b)).map(|s| s.clip(a, b)).collect()
}

/// One mapping of a mirrored file: the descriptors the shim keeps for it, for as long as any
/// part of it is mapped.
struct MappedFile {
    st: &'static State,
    /// The process that mapped it: only it journals the mapping clean.
    pid: libc::pid_t,
    /// The shim's duplicate of the program's descriptor.
    primary: RawFd,
    /// The file's path relative to the pair's roots when it was mapped: the mapped and clean
    /// journal records name the same path even when the file is renamed or unlinked since.
    rel: Option<Vec<u8>>,
    /// Pair, origin, lock key, and the shim's duplicates of the twins.
    entry: Entry,
}

impl MappedFile {
    /// Journals the file for every other copy: a mapped or clean record under the path it was
    /// mapped at, a dirty record under its current path.
    fn journal(&self, kind: Kind) {
        let what = match (&self.rel, kind) {
            (Some(rel), Kind::Mapped | Kind::Clean) => JournalPath::Path(rel),
            _ => JournalPath::Fd(self.primary),
        };
        self.st.journal_others(self.entry.pair, self.entry.origin, kind, what);
    }

    /// Copies the file range behind `span` (clipped to the primary's size) to every twin and
    /// gives each twin the primary's size; `durable` also syncs the twins to disk.
    fn sync(&self, span: &Mapping, durable: bool) -> Result<(), Errno> {
        let (st, fd) = (self.st, self.primary);
        let _held = coherency::lock(st, fd, &self.entry);
        let Ok(size) = sys::fstat(fd).map(|s| s.st_size) else {
            self.journal(Kind::Dirty);
            return Ok(());
        };
        let start = span.off;
        let end = span.off.saturating_add(span.len as off_t).min(size);
        fanout::fanout_fd(
            st,
            fd,
            &self.entry,
            Op::Write,
            |twin| {
                if end > start {
                    sys::copy_range(fd, start, twin, start, (end - start) as u64)?;
                }
                if sys::fstat(twin)?.st_size != size {
                    sys::ftruncate(twin, size)?;
                }
                if durable {
                    sys::fdatasync(twin)?;
                }
                Ok(())
            },
            None,
        )
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if sys::getpid() == self.pid {
            self.journal(Kind::Clean);
        }
        fanout::close_own(self.primary);
        for (_, t) in self.entry.open_twins() {
            fanout::close_own(t);
        }
    }
}

type Mapping = Span<Arc<MappedFile>>;

/// The recorded mappings.
static REGISTRY: OwnerLock<Vec<Mapping>> = OwnerLock::new(Vec::new());
/// Number of recorded mappings, readable without the lock (the munmap fast path).
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` on the recorded mappings; `None` when this thread holds them already (a signal
/// handler interrupted it).
fn with_maps<R>(f: impl FnOnce(&mut Vec<Mapping>) -> R) -> Option<R> {
    REGISTRY.with(|v| {
        let r = f(v);
        COUNT.store(v.len(), Ordering::Relaxed);
        r
    })
}

/// True when any mapping is recorded (one load).
#[inline(always)]
pub fn any() -> bool {
    COUNT.load(Ordering::Relaxed) > 0
}

fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let p = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
            PAGE.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// `len` rounded up to whole pages, as the kernel maps and unmaps.
fn pages(len: usize) -> usize {
    let p = page_size();
    len.saturating_add(p - 1) / p * p
}

/// Synchronises mapping parts and then drops them (the last part of a mapping journals it
/// clean and closes its descriptors). Returns the first error fail mode must report.
fn sync_all(parts: Vec<Mapping>, durable: bool) -> Result<(), Errno> {
    let mut result = Ok(());
    for p in &parts {
        let r = protect(
            || {
                p.data.journal(Kind::Dirty);
                Ok(())
            },
            || p.data.sync(p, durable),
        );
        if result.is_ok() {
            result = r;
        }
    }
    drop(parts);
    result
}

/// Whether a successful mmap of `fd` with these arguments concerns the registry: a shared
/// writable mapping of a file, or a fixed one that may replace recorded mappings.
#[inline(always)]
pub fn concerns(prot: c_int, flags: c_int, fd: c_int) -> bool {
    let fixed = flags & libc::MAP_FIXED != 0;
    let shared = matches!(flags & 0x0f, libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE);
    shared && prot & libc::PROT_WRITE != 0 && fd >= 0 || fixed && any()
}

/// After a successful mmap at `addr`: records a shared writable mapping of a mirrored file.
pub fn mapped(st: &'static State, addr: usize, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) {
    let fixed = flags & libc::MAP_FIXED != 0;
    let shared = matches!(flags & 0x0f, libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE);
    let candidate = shared && prot & libc::PROT_WRITE != 0 && fd >= 0;
    if !owns_memory() {
        return;
    }
    let _errno = ErrnoGuard::save();
    if fixed && any() {
        // MAP_FIXED replaced whatever was mapped there.
        if let Some(parts) = with_maps(|v| cut(v, addr, addr.saturating_add(pages(len)))) {
            let _ = sync_all(parts, false);
        }
    }
    if !candidate {
        return;
    }
    let Some(e) = fdtable::get(fd) else { return };
    if !e.has(flag::WRITABLE) || e.has(flag::DIR) {
        return;
    }
    let dirty = || st.journal_others(e.pair, e.origin, Kind::Dirty, JournalPath::Fd(fd));
    protect(dirty, || record(st, fd, &e, addr, len, off));
}

/// Keeps duplicates of the descriptors behind a new mapping and journals it as mapped.
fn record(st: &'static State, fd: RawFd, e: &Entry, addr: usize, len: usize, off: off_t) {
    let dirty = || st.journal_others(e.pair, e.origin, Kind::Dirty, JournalPath::Fd(fd));
    if !e.has_twins() {
        // No twin to keep level: the copies are already journaled or offline.
        return dirty();
    }
    let Ok(primary) = sys::dup_at_least(fd, st.fd_base) else {
        return dirty();
    };
    fdtable::set_kind(primary, FdKind::Private);
    let mut entry = *e;
    for t in entry.twins.iter_mut().filter(|t| **t >= 0) {
        *t = match sys::dup_at_least(*t, st.fd_base) {
            Ok(d) => {
                fdtable::set_kind(d, FdKind::Private);
                d
            }
            Err(_) => LOST_TWIN,
        };
    }
    let mut buf = [0u8; PATH_MAX];
    let rel = st.place.rel_of_fd(fd, &mut buf).map(<[u8]>::to_vec);
    let file = Arc::new(MappedFile { st, pid: sys::getpid(), primary, rel, entry });
    file.journal(Kind::Mapped);
    let span = Span { addr, len: pages(len), off, data: file };
    if with_maps(move |v| v.push(span)).is_none() {
        // Re-entered from a signal handler: the mapping is not tracked, so resync must fix it.
        dirty();
    }
}

/// After a successful munmap: synchronises and forgets the recorded parts of the range.
pub fn unmapped(addr: *mut c_void, len: size_t) {
    if !owns_memory() {
        return;
    }
    let _errno = ErrnoGuard::save();
    let a = addr as usize;
    if let Some(parts) = with_maps(|v| cut(v, a, a.saturating_add(pages(len)))) {
        let _ = sync_all(parts, false);
    }
}

/// After a successful msync: synchronises the recorded parts of the range. Returns the
/// error fail mode must report.
pub fn synced(addr: *mut c_void, len: size_t, flags: c_int) -> Result<(), Errno> {
    if !owns_memory() {
        return Ok(());
    }
    let a = addr as usize;
    match with_maps(|v| overlapping(v, a, a.saturating_add(pages(len)))) {
        Some(parts) => sync_all(parts, flags & libc::MS_SYNC != 0),
        None => Ok(()),
    }
}

/// After a successful mremap: the recorded mapping moves to its new place and size; a part
/// cut off by shrinking is synchronised.
pub fn remapped(old: *mut c_void, old_size: size_t, new: *mut c_void, new_size: size_t, flags: c_int) {
    if !owns_memory() {
        return;
    }
    let _errno = ErrnoGuard::save();
    let (a, n) = (old as usize, new as usize);
    let (old_len, new_len) = (pages(old_size), pages(new_size));
    let tails = with_maps(|v| {
        if old_len == 0 {
            // A second mapping of the same shared pages; the old one stays.
            if let Some(s) = v.iter().find(|s| s.overlaps(a, a + 1)).map(|s| s.clip(a, s.end())) {
                v.push(Span { addr: n, len: new_len, off: s.off, data: s.data });
            }
            return Vec::new();
        }
        let parts = cut(v, a, a.saturating_add(old_len));
        let mut tails = Vec::new();
        for p in parts {
            if flags & libc::MREMAP_DONTUNMAP != 0 {
                v.push(p.clone());
            }
            let moved = Span { addr: n, len: new_len, off: p.off, data: p.data.clone() };
            if new_len < p.len {
                tails.push(Span {
                    addr: p.addr + new_len,
                    len: p.len - new_len,
                    off: p.off + new_len as off_t,
                    data: p.data,
                });
            }
            v.push(moved);
        }
        tails
    });
    if let Some(tails) = tails {
        let _ = sync_all(tails, false);
    }
}

/// Synchronises every mapping of the file with coherency key `key` (the program is closing a
/// descriptor of it); the mappings stay recorded.
pub fn sync_file(key: u64) {
    if !any() || key == 0 {
        return;
    }
    let _errno = ErrnoGuard::save();
    let parts: Vec<Mapping> =
        with_maps(|maps| maps.iter().filter(|m| m.data.entry.key == key).cloned().collect()).unwrap_or_default();
    for p in &parts {
        protect(
            || p.data.journal(Kind::Dirty),
            || {
                let _ = p.data.sync(p, false);
            },
        );
    }
}

/// Synchronises and forgets every recorded mapping (from the library's destructor).
pub fn at_exit() {
    if !any() {
        return;
    }
    let _errno = ErrnoGuard::save();
    if let Some(all) = with_maps(std::mem::take) {
        let _ = sync_all(all, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(addr: usize, len: usize, off: off_t) -> Span<u8> {
        Span { addr, len, off, data: 7 }
    }

    #[test]
    fn cut_whole_and_middle() {
        let mut v = vec![span(0x1000, 0x4000, 0), span(0x10000, 0x1000, 0x8000)];
        let removed = cut(&mut v, 0x2000, 0x3000);
        assert_eq!(removed, vec![span(0x2000, 0x1000, 0x1000)]);
        v.sort_by_key(|s| s.addr);
        assert_eq!(v, vec![span(0x1000, 0x1000, 0), span(0x3000, 0x2000, 0x2000), span(0x10000, 0x1000, 0x8000)]);

        let removed = cut(&mut v, 0, usize::MAX);
        assert_eq!(removed.len(), 3);
        assert!(v.is_empty());
    }

    #[test]
    fn cut_edges_and_misses() {
        let mut v = vec![span(0x1000, 0x2000, 0x5000)];
        assert!(cut(&mut v, 0x3000, 0x4000).is_empty(), "touching the end is not overlapping");
        assert_eq!(cut(&mut v, 0, 0x2000), vec![span(0x1000, 0x1000, 0x5000)]);
        assert_eq!(v, vec![span(0x2000, 0x1000, 0x6000)]);
    }

    #[test]
    fn overlapping_leaves_spans() {
        let v = vec![span(0x1000, 0x3000, 0)];
        assert_eq!(overlapping(&v, 0x2000, 0x10000), vec![span(0x2000, 0x2000, 0x1000)]);
        assert_eq!(v.len(), 1);
        assert!(overlapping(&v, 0x4000, 0x5000).is_empty());
    }

    #[test]
    fn page_rounding() {
        let p = page_size();
        assert_eq!(pages(0), 0);
        assert_eq!(pages(1), p);
        assert_eq!(pages(p), p);
        assert_eq!(pages(p + 1), 2 * p);
        assert_eq!(pages(usize::MAX), usize::MAX / p * p);
    }
}
