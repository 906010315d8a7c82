//! Tree comparison: walks two directory trees side by side and reports every way in which they
//! differ (entries present on one side only, file types, sizes, permission bits, owners, symlink
//! targets, device numbers and file contents).
//!
//! The walk never follows symbolic links: a symlink is compared as a symlink (its target text),
//! never through. File names are handled as raw bytes, so names that are not UTF-8 compare and
//! report like any other. Entries of a directory are visited in byte order, so the report is
//! deterministic. Modification times, link counts and extended attributes are not compared.
//!
//! `mfsctl verify` is built on [`compare_trees`]; a resynchronisation can reuse it to find the
//! paths a copy is behind on.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes read from each file per comparison step.
const CHUNK: usize = 256 * 1024;

/// The type of a directory entry, as `lstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    /// The type of `meta` (from `symlink_metadata`).
    pub fn of(meta: &Metadata) -> Kind {
        let t = meta.file_type();
        if t.is_file() {
            Kind::File
        } else if t.is_dir() {
            Kind::Directory
        } else if t.is_symlink() {
            Kind::Symlink
        } else if t.is_fifo() {
            Kind::Fifo
        } else if t.is_socket() {
            Kind::Socket
        } else if t.is_char_device() {
            Kind::CharDevice
        } else if t.is_block_device() {
            Kind::BlockDevice
        } else {
            Kind::Unknown
        }
    }

    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Directory => "directory",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::CharDevice => "character device",
            Kind::BlockDevice => "block device",
            Kind::Unknown => "unknown type",
        }
    }
}

/// Which of the two trees an observation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Primary,
    Mirror,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Mirror => "mirror",
        }
    }
}

/// One difference between the trees. Every `path` is relative to the roots; the roots
/// themselves are `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The path exists under the primary root only (its contents are not listed).
    OnlyInPrimary { path: PathBuf },
    /// The path exists under the mirror root only (its contents are not listed).
    OnlyInMirror { path: PathBuf },
    /// The path has a different type on each side (nothing further is compared).
    TypeDiffers { path: PathBuf, primary: Kind, mirror: Kind },
    /// Regular files of different sizes (contents are not compared).
    SizeDiffers { path: PathBuf, primary: u64, mirror: u64 },
    /// Permission bits (including set-user-ID, set-group-ID and sticky) differ.
    ModeDiffers { path: PathBuf, primary: u32, mirror: u32 },
    /// Owner or group differ (`(uid, gid)`).
    OwnerDiffers { path: PathBuf, primary: (u32, u32), mirror: (u32, u32) },
    /// Regular files of equal size with different bytes.
    ContentDiffers { path: PathBuf },
    /// Symlinks with different target text.
    SymlinkTargetDiffers { path: PathBuf, primary: PathBuf, mirror: PathBuf },
    /// Device files with different device numbers.
    DeviceDiffers { path: PathBuf, primary: u64, mirror: u64 },
    /// The path could not be read on one side, so it could not be compared.
    Unreadable { path: PathBuf, side: Side, error: String },
}

impl Difference {
    /// The relative path the difference is about.
    pub fn path(&self) -> &Path {
        match self {
            Difference::OnlyInPrimary { path }
            | Difference::OnlyInMirror { path }
            | Difference::TypeDiffers { path, .. }
            | Difference::SizeDiffers { path, .. }
            | Difference::ModeDiffers { path, .. }
            | Difference::OwnerDiffers { path, .. }
            | Difference::ContentDiffers { path }
            | Difference::SymlinkTargetDiffers { path, .. }
            | Difference::DeviceDiffers { path, .. }
            | Difference::Unreadable { path, .. } => path,
        }
    }

    /// The report line, without a newline, with file names as their exact bytes (so a
    /// non-UTF-8 name can be copied from the report). [`fmt::Display`] gives the same line
    /// with invalid UTF-8 replaced.
    pub fn line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut push = |s: &[u8]| out.extend_from_slice(s);
        match self {
            Difference::OnlyInPrimary { path } => {
                push(b"only in primary: ");
                push(bytes(path));
            }
            Difference::OnlyInMirror { path } => {
                push(b"only in mirror: ");
                push(bytes(path));
            }
            Difference::TypeDiffers { path, primary, mirror } => {
                push(b"type differs: ");
                push(bytes(path));
                push(format!(" ({} vs {})", primary.as_str(), mirror.as_str()).as_bytes());
            }
            Difference::SizeDiffers { path, primary, mirror } => {
                push(b"size differs: ");
                push(bytes(path));
                push(format!(" ({primary} vs {mirror} bytes)").as_bytes());
            }
            Difference::ModeDiffers { path, primary, mirror } => {
                push(b"mode differs: ");
                push(bytes(path));
                push(format!(" ({primary:04o} vs {mirror:04o})").as_bytes());
            }
            Difference::OwnerDiffers { path, primary, mirror } => {
                push(b"owner differs: ");
                push(bytes(path));
                push(format!(" ({}:{} vs {}:{})", primary.0, primary.1, mirror.0, mirror.1).as_bytes());
            }
            Difference::ContentDiffers { path } => {
                push(b"content differs: ");
                push(bytes(path));
            }
            Difference::SymlinkTargetDiffers { path, primary, mirror } => {
                push(b"symlink target differs: ");
                push(bytes(path));
                push(b" (");
                push(bytes(primary));
                push(b" vs ");
                push(bytes(mirror));
                push(b")");
            }
            Difference::DeviceDiffers { path, primary, mirror } => {
                push(b"device differs: ");
                push(bytes(path));
                push(format!(" ({primary:#x} vs {mirror:#x})").as_bytes());
            }
            Difference::Unreadable { path, side, error } => {
                push(b"cannot compare: ");
                push(bytes(path));
                push(format!(" ({} side: {error})", side.as_str()).as_bytes());
            }
        }
        out
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.line()))
    }
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// Running totals of a comparison, passed to the observer as the walk goes on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Paths looked at (present on either side).
    pub entries: u64,
    /// File bytes read from both sides together.
    pub bytes: u64,
    /// Differences found.
    pub differences: u64,
}

/// What [`compare_trees`] tells its observer.
#[derive(Debug)]
pub enum Event<'a> {
    /// A difference, in walk order.
    Difference(Difference),
    /// The walk moved on: `path` (relative) was just compared.
    Progress { stats: &'a Stats, path: &'a Path },
}

/// Why a comparison could not be made at all.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{} {} {}", side.as_str(), path.display(), describe(.source))]
    Root { side: Side, path: PathBuf, source: io::Error },
    #[error("{} {} is not a directory", side.as_str(), path.display())]
    NotADirectory { side: Side, path: PathBuf },
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "does not exist".into(),
        _ => format!("cannot be read: {e}"),
    }
}

/// Compares the tree under `primary` with the tree under `mirror`, reporting each difference
/// and progress to `observe`. Returns the totals. Only a missing or unreadable root is an
/// error; anything unreadable inside the trees is reported as [`Difference::Unreadable`].
pub fn compare_trees(primary: &Path, mirror: &Path, mut observe: impl FnMut(Event<'_>)) -> Result<Stats, TreeError> {
    let roots = [primary, mirror];
    let mut metas = Vec::with_capacity(2);
    for (root, side) in roots.iter().zip([Side::Primary, Side::Mirror]) {
        // The roots themselves may be symlinks to the directories to compare.
        let meta = fs::metadata(root).map_err(|source| TreeError::Root { side, path: root.to_path_buf(), source })?;
        if !meta.is_dir() {
            return Err(TreeError::NotADirectory { side, path: root.to_path_buf() });
        }
        metas.push(meta);
    }
    let mut walk = Walk { primary, mirror, stats: Stats::default(), observe: &mut observe, buffers: None };
    let root = PathBuf::from(".");
    walk.compare_meta(&root, &metas[0], &metas[1]);
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        walk.compare_dir(&dir, &mut pending);
    }
    Ok(walk.stats)
}

/// Convenience form of [`compare_trees`]: all differences, in walk order.
pub fn diff_trees(primary: &Path, mirror: &Path) -> Result<Vec<Difference>, TreeError> {
    let mut out = Vec::new();
    compare_trees(primary, mirror, |e| {
        if let Event::Difference(d) = e {
            out.push(d);
        }
    })?;
    Ok(out)
}

struct Walk<'a, F: FnMut(Event<'_>)> {
    primary: &'a Path,
    mirror: &'a Path,
    stats: Stats,
    observe: &'a mut F,
    /// Read buffers for content comparison, allocated on first use.
    buffers: Option<(Vec<u8>, Vec<u8>)>,
}

impl<F: FnMut(Event<'_>)> Walk<'_, F> {
    fn report(&mut self, d: Difference) {
        self.stats.differences += 1;
        (self.observe)(Event::Difference(d));
    }

    fn progress(&mut self, path: &Path) {
        (self.observe)(Event::Progress { stats: &self.stats, path });
    }

    /// Compares the entries of the directory `rel` (empty for the roots) and queues the
    /// subdirectories present on both sides. Subdirectories are queued in reverse so the
    /// walk visits them in byte order.
    fn compare_dir(&mut self, rel: &Path, pending: &mut Vec<PathBuf>) {
        let (p_dir, m_dir) = (self.primary.join(rel), self.mirror.join(rel));
        let shown = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let p_names = match list(&p_dir) {
            Ok(n) => n,
            Err(e) => return self.unreadable(shown, Side::Primary, &e),
        };
        let m_names = match list(&m_dir) {
            Ok(n) => n,
            Err(e) => return self.unreadable(shown, Side::Mirror, &e),
        };
        let mut subdirs = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < p_names.len() || j < m_names.len() {
            let order = match (p_names.get(i), m_names.get(j)) {
                (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            self.stats.entries += 1;
            match order {
                std::cmp::Ordering::Less => {
                    let path = rel.join(&p_names[i]);
                    self.report(Difference::OnlyInPrimary { path });
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let path = rel.join(&m_names[j]);
                    self.report(Difference::OnlyInMirror { path });
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let path = rel.join(&p_names[i]);
                    if self.compare_entry(&path) {
                        subdirs.push(path);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        self.progress(shown);
        pending.extend(subdirs.into_iter().rev());
    }

    /// Compares one path present on both sides; true when both are directories to descend.
    fn compare_entry(&mut self, rel: &Path) -> bool {
        let p_meta = match fs::symlink_metadata(self.primary.join(rel)) {
            Ok(m) => m,
            Err(e) => {
                self.unreadable(rel, Side::Primary, &e);
                return false;
            }
        };
        let m_meta = match fs::symlink_metadata(self.mirror.join(rel)) {
            Ok(m) => m,
            Err(e) => {
                self.unreadable(rel, Side::Mirror, &e);
                return false;
            }
        };
        self.compare_meta(rel, &p_meta, &m_meta)
    }

    /// Compares type, metadata and (for files and symlinks) contents; true when both are
    /// directories.
    fn compare_meta(&mut self, rel: &Path, p: &Metadata, m: &Metadata) -> bool {
        let (pk, mk) = (Kind::of(p), Kind::of(m));
        if pk != mk {
            self.report(Difference::TypeDiffers { path: rel.to_path_buf(), primary: pk, mirror: mk });
            return false;
        }
        // A symlink's own permission bits are fixed on Linux and never meaningful.
        if pk != Kind::Symlink && p.mode() & 0o7777 != m.mode() & 0o7777 {
            self.report(Difference::ModeDiffers {
                path: rel.to_path_buf(),
                primary: p.mode() & 0o7777,
                mirror: m.mode() & 0o7777,
            });
        }
        if (p.uid(), p.gid()) != (m.uid(), m.gid()) {
            self.report(Difference::OwnerDiffers {
                path: rel.to_path_buf(),
                primary: (p.uid(), p.gid()),
                mirror: (m.uid(), m.gid()),
            });
        }
        match pk {
            Kind::Directory => return true,
            Kind::File if p.len() != m.len() => {
                self.report(Difference::SizeDiffers { path: rel.to_path_buf(), primary: p.len(), mirror: m.len() });
            }
            Kind::File => self.compare_contents(rel),
            Kind::Symlink => self.compare_links(rel),
            Kind::CharDevice | Kind::BlockDevice if p.rdev() != m.rdev() => {
                self.report(Difference::DeviceDiffers { path: rel.to_path_buf(), primary: p.rdev(), mirror: m.rdev() });
            }
            _ => {}
        }
        false
    }

    fn compare_links(&mut self, rel: &Path) {
        let targets = fs::read_link(self.primary.join(rel))
            .map_err(|e| (Side::Primary, e))
            .and_then(|p| fs::read_link(self.mirror.join(rel)).map(|m| (p, m)).map_err(|e| (Side::Mirror, e)));
        match targets {
            Ok((p, m)) if p != m => {
                self.report(Difference::SymlinkTargetDiffers { path: rel.to_path_buf(), primary: p, mirror: m })
            }
            Ok(_) => {}
            Err((side, e)) => self.unreadable(rel, side, &e),
        }
    }

    fn compare_contents(&mut self, rel: &Path) {
        let open = |root: &Path, side| File::open(root.join(rel)).map_err(|e| (side, e));
        let files = open(self.primary, Side::Primary).and_then(|p| open(self.mirror, Side::Mirror).map(|m| (p, m)));
        let (mut p, mut m) = match files {
            Ok(f) => f,
            Err((side, e)) => return self.unreadable(rel, side, &e),
        };
        let (mut pb, mut mb) = self.buffers.take().unwrap_or_else(|| (vec![0; CHUNK], vec![0; CHUNK]));
        let mut pos = 0u64;
        let outcome = loop {
            // Holes on both sides read as zeros on both: only where either side has data is
            // read (a sparse file of terabytes costs what its data does).
            let start = next_data(&p, pos).min(next_data(&m, pos));
            if start != pos {
                if let Err(e) = p.seek(SeekFrom::Start(start)).and_then(|_| m.seek(SeekFrom::Start(start))) {
                    break Err((Side::Primary, e));
                }
                pos = start;
            }
            let pn = match read_full(&mut p, &mut pb) {
                Ok(n) => n,
                Err(e) => break Err((Side::Primary, e)),
            };
            let mn = match read_full(&mut m, &mut mb) {
                Ok(n) => n,
                Err(e) => break Err((Side::Mirror, e)),
            };
            self.stats.bytes += (pn + mn) as u64;
            if pn != mn || pb[..pn] != mb[..mn] {
                break Ok(false);
            }
            if pn < CHUNK {
                break Ok(true);
            }
            pos += pn as u64;
            // Large files: keep the observer informed while their contents are compared.
            self.progress(rel);
        };
        self.buffers = Some((pb, mb));
        match outcome {
            Ok(true) => {}
            Ok(false) => self.report(Difference::ContentDiffers { path: rel.to_path_buf() }),
            Err((side, e)) => self.unreadable(rel, side, &e),
        }
        self.progress(rel);
    }

    fn unreadable(&mut self, rel: &Path, side: Side, e: &io::Error) {
        self.report(Difference::Unreadable { path: rel.to_path_buf(), side, error: e.to_string() });
    }
}

/// The names in a directory, sorted by their bytes.
fn list(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<Vec<_>>>()?;
    names.sort_unstable_by(|a: &OsString, b: &OsString| OsStr::as_bytes(a).cmp(OsStr::as_bytes(b)));
    Ok(names)
}

/// The first offset at or after `pos` where `f` has data (its size when only a hole follows);
/// `pos` itself where the file system cannot tell.
fn next_data(f: &File, pos: u64) -> u64 {
    use std::os::fd::AsRawFd;
    match crate::sys::lseek(f.as_raw_fd(), pos as libc::off_t, libc::SEEK_DATA) {
        Ok(off) => off as u64,
        // No data at or after `pos`.
        Err(crate::sys::Errno(libc::ENXIO)) => f.metadata().map_or(pos, |m| m.len().max(pos)),
        Err(_) => pos,
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::{symlink, PermissionsExt};

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p = std::env::temp_dir().join(format!("mfs-core-tree-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(p.join("p")).unwrap();
            fs::create_dir_all(p.join("m")).unwrap();
            Tmp(p)
        }
        fn p(&self) -> PathBuf {
            self.0.join("p")
        }
        fn m(&self) -> PathBuf {
            self.0.join("m")
        }
        /// Writes the same file under both roots.
        fn both(&self, rel: &str, data: &[u8]) {
            for root in [self.p(), self.m()] {
                let path = root.join(rel);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, data).unwrap();
            }
        }
        fn diff(&self) -> Vec<String> {
            diff_trees(&self.p(), &self.m()).unwrap().iter().map(|d| d.to_string()).collect()
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn identical_trees_have_no_differences() {
        let t = Tmp::new("same");
        t.both("a/b/c.txt", b"hello");
        t.both("a/empty", b"");
        t.both("top", &vec![7u8; 3 * CHUNK + 11]);
        for root in [t.p(), t.m()] {
            symlink("a/b/c.txt", root.join("link")).unwrap();
            symlink("/nonexistent/elsewhere", root.join("dangling")).unwrap();
        }
        let mut stats = Stats::default();
        let mut seen = 0;
        let out = compare_trees(&t.p(), &t.m(), |e| match e {
            Event::Difference(d) => panic!("unexpected difference: {d}"),
            Event::Progress { stats: s, .. } => {
                stats = *s;
                seen += 1;
            }
        })
        .unwrap();
        assert_eq!(out.differences, 0);
        assert_eq!(out.entries, 7); // a, a/b, a/b/c.txt, a/empty, top, link, dangling
        assert_eq!(out.bytes, 2 * (5 + 3 * CHUNK as u64 + 11));
        assert!(seen > 0);
        assert_eq!(stats.entries, out.entries);
    }

    #[test]
    fn entries_on_one_side_are_listed_once() {
        let t = Tmp::new("only");
        t.both("common", b"x");
        fs::create_dir_all(t.p().join("pdir/deep")).unwrap();
        fs::write(t.p().join("pdir/deep/f"), b"x").unwrap();
        fs::write(t.m().join("mfile"), b"x").unwrap();
        assert_eq!(t.diff(), ["only in mirror: mfile", "only in primary: pdir"]);
    }

    #[test]
    fn types_sizes_contents_and_links_are_compared() {
        let t = Tmp::new("kinds");
        fs::write(t.p().join("t"), b"x").unwrap();
        fs::create_dir(t.m().join("t")).unwrap();
        fs::write(t.p().join("size"), b"abc").unwrap();
        fs::write(t.m().join("size"), b"abcd").unwrap();
        let mut big = vec![1u8; 2 * CHUNK + 5];
        fs::write(t.p().join("content"), &big).unwrap();
        *big.last_mut().unwrap() = 2;
        fs::write(t.m().join("content"), &big).unwrap();
        symlink("one", t.p().join("link")).unwrap();
        symlink("two", t.m().join("link")).unwrap();
        assert_eq!(
            t.diff(),
            [
                "content differs: content",
                "symlink target differs: link (one vs two)",
                "size differs: size (3 vs 4 bytes)",
                "type differs: t (file vs directory)",
            ]
        );
    }

    #[test]
    fn symlinks_are_not_followed() {
        let t = Tmp::new("nofollow");
        // Same target text on both sides, but the targets' contents differ: still identical,
        // because the walk compares links, not what they point to.
        fs::create_dir(t.p().join("real")).unwrap();
        fs::write(t.p().join("real/f"), b"1").unwrap();
        fs::create_dir(t.m().join("real")).unwrap();
        fs::write(t.m().join("real/f"), b"1").unwrap();
        fs::write(t.0.join("outside"), b"o").unwrap();
        for root in [t.p(), t.m()] {
            symlink("real", root.join("dirlink")).unwrap();
            symlink(t.0.join("outside"), root.join("out")).unwrap();
        }
        assert!(t.diff().is_empty());
        // A symlink on one side and a directory on the other is a type difference.
        fs::remove_file(t.m().join("dirlink")).unwrap();
        fs::create_dir(t.m().join("dirlink")).unwrap();
        assert_eq!(t.diff(), ["type differs: dirlink (symlink vs directory)"]);
    }

    #[test]
    fn modes_and_owners_are_compared() {
        let t = Tmp::new("modes");
        t.both("f", b"x");
        fs::set_permissions(t.p().join("f"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(t.m().join("f"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(t.m(), fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(t.p(), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(t.diff(), ["mode differs: . (0755 vs 0700)", "mode differs: f (0644 vs 0600)"]);
        fs::set_permissions(t.m(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(t.m().join("f"), fs::Permissions::from_mode(0o644)).unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::lchown(t.m().join("f"), Some(12345), Some(54321)).unwrap();
            assert_eq!(t.diff(), ["owner differs: f (0:0 vs 12345:54321)"]);
        }
    }

    #[test]
    fn non_utf8_names_are_compared_as_bytes() {
        let t = Tmp::new("bytes");
        let name = OsString::from_vec(vec![b'n', 0xff, 0xfe, b'\n']);
        fs::write(t.p().join(&name), b"1").unwrap();
        fs::write(t.m().join(&name), b"2").unwrap();
        let only = OsString::from_vec(vec![0xc3, 0x28]);
        fs::write(t.p().join(&only), b"").unwrap();
        let d = diff_trees(&t.p(), &t.m()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0], Difference::ContentDiffers { path: PathBuf::from(&name) });
        assert_eq!(d[0].line(), b"content differs: n\xff\xfe\n");
        assert_eq!(d[1].line(), b"only in primary: \xc3\x28");
    }

    #[test]
    fn walk_order_is_by_bytes_and_depth_first() {
        let t = Tmp::new("order");
        for rel in ["b/2", "a/1", "a/z/3", "c"] {
            fs::create_dir_all(t.p().join(rel).parent().unwrap()).unwrap();
            fs::write(t.p().join(rel), b"p").unwrap();
            fs::create_dir_all(t.m().join(rel).parent().unwrap()).unwrap();
            fs::write(t.m().join(rel), b"m").unwrap();
        }
        assert_eq!(
            t.diff(),
            ["content differs: c", "content differs: a/1", "content differs: a/z/3", "content differs: b/2"]
        );
    }

    #[test]
    fn bad_roots_are_errors() {
        let t = Tmp::new("roots");
        let e = diff_trees(&t.0.join("absent"), &t.m()).unwrap_err().to_string();
        assert_eq!(e, format!("primary {} does not exist", t.0.join("absent").display()));
        fs::write(t.0.join("file"), b"x").unwrap();
        let e = diff_trees(&t.p(), &t.0.join("file")).unwrap_err().to_string();
        assert!(e.starts_with("mirror ") && e.ends_with("is not a directory"), "{e}");
    }

    #[test]
    fn unreadable_entries_are_reported() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            // root reads everything regardless of permission bits; nothing to test.
            return;
        }
        let t = Tmp::new("unreadable");
        t.both("f", b"x");
        fs::set_permissions(t.m().join("f"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(t.p().join("f"), fs::Permissions::from_mode(0o000)).unwrap();
        let d = t.diff();
        assert_eq!(d.len(), 1);
        assert!(d[0].starts_with("cannot compare: f (primary side:"), "{d:?}");
    }

    /// Files of a terabyte, nearly all hole, are compared by their data: one byte differing
    /// at the end is found, and equal ones are equal, without reading the holes.
    #[test]
    fn sparse_files_are_compared_by_their_data() {
        use std::os::unix::fs::FileExt;
        let t = Tmp::new("sparse");
        let size = 1u64 << 40;
        let make = |root: &Path, last: u8, hole_on_mirror_side: bool| {
            let f = File::create(root.join("s")).unwrap();
            if f.set_len(size).is_err() {
                return false; // a file system without files this large
            }
            f.write_at(b"head", 4096).unwrap();
            if !hole_on_mirror_side {
                f.write_at(&[0u8; 4096], 1 << 30).unwrap(); // zeros as data, a hole on the other side
            }
            f.write_at(&[last], size - 1).unwrap();
            true
        };
        if !make(&t.p(), 1, true) || !make(&t.m(), 1, false) {
            return;
        }
        let stats = compare_trees(&t.p(), &t.m(), |_| {}).unwrap();
        assert_eq!(stats.differences, 0);
        assert!(stats.bytes < 16 << 20, "{} bytes read: the holes were read", stats.bytes);
        make(&t.m(), 2, false);
        assert_eq!(t.diff(), vec!["content differs: s"]);
    }
}
