//! An independent tree comparator: walks two trees with `symlink_metadata` (never following a
//! symlink) and reports every difference in the set of names (compared as raw bytes, so
//! names that are not UTF-8 are compared too), file types, sizes, permission bits, owners,
//! link counts, device numbers, symlink targets and regular-file contents.
//!
//! It shares no code with mfs-core or mfsctl on purpose: the product's own comparison must
//! not be the judge of its own correctness.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Primary,
    Mirror,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Primary => "primary",
            Side::Mirror => "mirror",
        })
    }
}

/// One difference between the trees; `path` is relative to the roots (`.` for the roots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A name exists on one side only.
    OnlyIn {
        side: Side,
        path: Vec<u8>,
        kind: &'static str,
    },
    /// The two objects are of different types.
    Type {
        path: Vec<u8>,
        primary: &'static str,
        mirror: &'static str,
    },
    Size {
        path: Vec<u8>,
        primary: u64,
        mirror: u64,
    },
    /// Permission bits (`mode & 0o7777`).
    Mode {
        path: Vec<u8>,
        primary: u32,
        mirror: u32,
    },
    /// Owner and group.
    Owner {
        path: Vec<u8>,
        primary: (u32, u32),
        mirror: (u32, u32),
    },
    /// Number of names a non-directory has inside its tree (hard links within the tree;
    /// links from outside the tree are not part of what is mirrored).
    Links {
        path: Vec<u8>,
        primary: u64,
        mirror: u64,
    },
    /// Device numbers of a device node.
    Device {
        path: Vec<u8>,
        primary: u64,
        mirror: u64,
    },
    SymlinkTarget {
        path: Vec<u8>,
        primary: Vec<u8>,
        mirror: Vec<u8>,
    },
    /// Same-sized regular files whose bytes differ, from `offset` on.
    Content {
        path: Vec<u8>,
        offset: u64,
    },
    /// Something could not be read.
    Unreadable {
        side: Side,
        path: Vec<u8>,
        error: String,
    },
}

impl Difference {
    /// The relative path the difference is about.
    pub fn path(&self) -> &[u8] {
        match self {
            Difference::OnlyIn { path, .. }
            | Difference::Type { path, .. }
            | Difference::Size { path, .. }
            | Difference::Mode { path, .. }
            | Difference::Owner { path, .. }
            | Difference::Links { path, .. }
            | Difference::Device { path, .. }
            | Difference::SymlinkTarget { path, .. }
            | Difference::Content { path, .. }
            | Difference::Unreadable { path, .. } => path,
        }
    }
}

/// Shows bytes as text: valid UTF-8 as is (escaped like a Rust string), others as `\xNN`.
pub fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().chars().flat_map(char::escape_debug));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn show_path(path: &[u8]) -> String {
    if path.is_empty() {
        ".".into()
    } else {
        show_bytes(path)
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::OnlyIn { side, path, kind } => {
                write!(f, "{}: {kind} only in {side}", show_path(path))
            }
            Difference::Type { path, primary, mirror } => {
                write!(f, "{}: type differs (primary {primary}, mirror {mirror})", show_path(path))
            }
            Difference::Size { path, primary, mirror } => {
                write!(f, "{}: size differs (primary {primary}, mirror {mirror})", show_path(path))
            }
            Difference::Mode { path, primary, mirror } => {
                write!(f, "{}: permissions differ (primary {primary:04o}, mirror {mirror:04o})", show_path(path))
            }
            Difference::Owner { path, primary, mirror } => write!(
                f,
                "{}: owner differs (primary {}:{}, mirror {}:{})",
                show_path(path),
                primary.0,
                primary.1,
                mirror.0,
                mirror.1
            ),
            Difference::Links { path, primary, mirror } => {
                write!(f, "{}: in-tree link count differs (primary {primary}, mirror {mirror})", show_path(path))
            }
            Difference::Device { path, primary, mirror } => {
                write!(f, "{}: device number differs (primary {primary:#x}, mirror {mirror:#x})", show_path(path))
            }
            Difference::SymlinkTarget { path, primary, mirror } => write!(
                f,
                "{}: symlink target differs (primary \"{}\", mirror \"{}\")",
                show_path(path),
                show_bytes(primary),
                show_bytes(mirror)
            ),
            Difference::Content { path, offset } => {
                write!(f, "{}: contents differ from byte {offset}", show_path(path))
            }
            Difference::Unreadable { side, path, error } => {
                write!(f, "{}: cannot read the {side} side: {error}", show_path(path))
            }
        }
    }
}

fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "unknown"
    }
}

/// Compares the trees rooted at `primary` and `mirror`; an empty list means identical.
pub fn compare_trees(primary: &Path, mirror: &Path) -> Vec<Difference> {
    let mut out = Vec::new();
    match (fs::symlink_metadata(primary), fs::symlink_metadata(mirror)) {
        (Ok(a), Ok(b)) => {
            let links = (in_tree_links(primary), in_tree_links(mirror));
            compare_entry(primary, mirror, &a, &b, Vec::new(), &links, &mut out)
        }
        (Err(e), _) => out.push(Difference::Unreadable { side: Side::Primary, path: Vec::new(), error: e.to_string() }),
        (_, Err(e)) => out.push(Difference::Unreadable { side: Side::Mirror, path: Vec::new(), error: e.to_string() }),
    }
    out
}

/// For every non-directory inode in a tree, how many names it has inside the tree.
type LinkCounts = std::collections::HashMap<(u64, u64), u64>;

fn in_tree_links(root: &Path) -> LinkCounts {
    fn walk(dir: &Path, out: &mut LinkCounts) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                walk(&e.path(), out);
            } else if m.nlink() > 1 {
                *out.entry((m.dev(), m.ino())).or_default() += 1;
            }
        }
    }
    let mut out = LinkCounts::new();
    walk(root, &mut out);
    out
}

fn names(dir: &Path) -> io::Result<BTreeSet<Vec<u8>>> {
    fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name().as_bytes().to_vec())).collect()
}

fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = rel.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn compare_entry(
    a: &Path,
    b: &Path,
    ma: &Metadata,
    mb: &Metadata,
    rel: Vec<u8>,
    links: &(LinkCounts, LinkCounts),
    out: &mut Vec<Difference>,
) {
    let (ka, kb) = (kind_of(ma), kind_of(mb));
    if ka != kb {
        out.push(Difference::Type { path: rel, primary: ka, mirror: kb });
        return;
    }
    let is_dir = ma.is_dir();
    let is_symlink = ma.file_type().is_symlink();
    if !is_symlink && ma.mode() & 0o7777 != mb.mode() & 0o7777 {
        out.push(Difference::Mode { path: rel.clone(), primary: ma.mode() & 0o7777, mirror: mb.mode() & 0o7777 });
    }
    if (ma.uid(), ma.gid()) != (mb.uid(), mb.gid()) {
        out.push(Difference::Owner { path: rel.clone(), primary: (ma.uid(), ma.gid()), mirror: (mb.uid(), mb.gid()) });
    }
    let in_tree = |m: &Metadata, counts: &LinkCounts| counts.get(&(m.dev(), m.ino())).copied().unwrap_or(1);
    let (la, lb) = (in_tree(ma, &links.0), in_tree(mb, &links.1));
    if !is_dir && la != lb {
        out.push(Difference::Links { path: rel.clone(), primary: la, mirror: lb });
    }
    let t = ma.file_type();
    if (t.is_char_device() || t.is_block_device()) && ma.rdev() != mb.rdev() {
        out.push(Difference::Device { path: rel.clone(), primary: ma.rdev(), mirror: mb.rdev() });
    }
    if is_symlink {
        match (fs::read_link(a), fs::read_link(b)) {
            (Ok(ta), Ok(tb)) if ta != tb => out.push(Difference::SymlinkTarget {
                path: rel,
                primary: ta.as_os_str().as_bytes().to_vec(),
                mirror: tb.as_os_str().as_bytes().to_vec(),
            }),
            (Ok(_), Ok(_)) => {}
            (Err(e), _) => out.push(Difference::Unreadable { side: Side::Primary, path: rel, error: e.to_string() }),
            (_, Err(e)) => out.push(Difference::Unreadable { side: Side::Mirror, path: rel, error: e.to_string() }),
        }
    } else if t.is_file() {
        if ma.len() != mb.len() {
            out.push(Difference::Size { path: rel, primary: ma.len(), mirror: mb.len() });
        } else {
            compare_contents(a, b, rel, out);
        }
    } else if is_dir {
        compare_dirs(a, b, rel, links, out);
    }
}

fn compare_dirs(a: &Path, b: &Path, rel: Vec<u8>, links: &(LinkCounts, LinkCounts), out: &mut Vec<Difference>) {
    let (na, nb) = match (names(a), names(b)) {
        (Ok(na), Ok(nb)) => (na, nb),
        (Err(e), _) => {
            return out.push(Difference::Unreadable { side: Side::Primary, path: rel, error: e.to_string() })
        }
        (_, Err(e)) => return out.push(Difference::Unreadable { side: Side::Mirror, path: rel, error: e.to_string() }),
    };
    for name in na.union(&nb) {
        let os = std::ffi::OsStr::from_bytes(name);
        let (pa, pb) = (a.join(os), b.join(os));
        let child = join(&rel, name);
        match (fs::symlink_metadata(&pa), fs::symlink_metadata(&pb)) {
            (Ok(ma), Ok(mb)) => compare_entry(&pa, &pb, &ma, &mb, child, links, out),
            (Ok(ma), Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                out.push(Difference::OnlyIn { side: Side::Primary, path: child, kind: kind_of(&ma) })
            }
            (Err(e), Ok(mb)) if e.kind() == io::ErrorKind::NotFound => {
                out.push(Difference::OnlyIn { side: Side::Mirror, path: child, kind: kind_of(&mb) })
            }
            (Err(e), _) => out.push(Difference::Unreadable { side: Side::Primary, path: child, error: e.to_string() }),
            (_, Err(e)) => out.push(Difference::Unreadable { side: Side::Mirror, path: child, error: e.to_string() }),
        }
    }
}

/// Reads as much as fits into `buf` (short only at end of file).
fn fill(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
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

fn compare_contents(a: &Path, b: &Path, rel: Vec<u8>, out: &mut Vec<Difference>) {
    let (mut fa, mut fb) = match (File::open(a), File::open(b)) {
        (Ok(fa), Ok(fb)) => (fa, fb),
        (Err(e), _) => {
            return out.push(Difference::Unreadable { side: Side::Primary, path: rel, error: e.to_string() })
        }
        (_, Err(e)) => return out.push(Difference::Unreadable { side: Side::Mirror, path: rel, error: e.to_string() }),
    };
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    loop {
        let (na, nb) = match (fill(&mut fa, &mut ba), fill(&mut fb, &mut bb)) {
            (Ok(na), Ok(nb)) => (na, nb),
            (Err(e), _) => {
                return out.push(Difference::Unreadable { side: Side::Primary, path: rel, error: e.to_string() })
            }
            (_, Err(e)) => {
                return out.push(Difference::Unreadable { side: Side::Mirror, path: rel, error: e.to_string() })
            }
        };
        let common = na.min(nb);
        if let Some(i) = ba[..common].iter().zip(&bb[..common]).position(|(x, y)| x != y) {
            return out.push(Difference::Content { path: rel, offset: offset + i as u64 });
        }
        if na != nb {
            // The files changed size while being read.
            return out.push(Difference::Content { path: rel, offset: offset + common as u64 });
        }
        if na == 0 {
            return;
        }
        offset += na as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::PathBuf;

    /// Two empty trees in a fresh directory, removed at the end of the test.
    struct Trees {
        root: PathBuf,
    }

    impl Trees {
        fn new(label: &str) -> Trees {
            let root = std::env::temp_dir().join(format!("mfs-compare-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("a")).unwrap();
            fs::create_dir_all(root.join("b")).unwrap();
            Trees { root }
        }
        fn a(&self, rel: &str) -> PathBuf {
            self.root.join("a").join(rel)
        }
        fn b(&self, rel: &str) -> PathBuf {
            self.root.join("b").join(rel)
        }
        /// Writes the same file on both sides.
        fn both(&self, rel: &str, data: &[u8]) {
            fs::write(self.a(rel), data).unwrap();
            fs::write(self.b(rel), data).unwrap();
        }
        fn diff(&self) -> Vec<Difference> {
            compare_trees(&self.root.join("a"), &self.root.join("b"))
        }
    }

    impl Drop for Trees {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn identical_trees_have_no_differences() {
        let t = Trees::new("same");
        for side in ["a", "b"] {
            let r = t.root.join(side);
            fs::create_dir_all(r.join("d/e")).unwrap();
            fs::write(r.join("d/e/f"), vec![7u8; 200_000]).unwrap();
            symlink("d/e/f", r.join("l")).unwrap();
            fs::write(r.join("empty"), b"").unwrap();
        }
        assert_eq!(t.diff(), vec![]);
    }

    #[test]
    fn reports_names_on_one_side() {
        let t = Trees::new("only");
        fs::write(t.a("x"), b"1").unwrap();
        fs::create_dir(t.b("y")).unwrap();
        let d = t.diff();
        assert_eq!(
            d,
            vec![
                Difference::OnlyIn { side: Side::Primary, path: b"x".to_vec(), kind: "regular file" },
                Difference::OnlyIn { side: Side::Mirror, path: b"y".to_vec(), kind: "directory" },
            ]
        );
        assert_eq!(d[0].to_string(), "x: regular file only in primary");
    }

    #[test]
    fn reports_type_differences_without_following_symlinks() {
        let t = Trees::new("type");
        t.both("target", b"data");
        fs::write(t.a("n"), b"data").unwrap();
        symlink("target", t.b("n")).unwrap();
        assert_eq!(
            t.diff(),
            vec![Difference::Type { path: b"n".to_vec(), primary: "regular file", mirror: "symlink" }]
        );
    }

    #[test]
    fn reports_size_differences() {
        let t = Trees::new("size");
        fs::write(t.a("f"), b"abc").unwrap();
        fs::write(t.b("f"), b"abcd").unwrap();
        assert_eq!(t.diff(), vec![Difference::Size { path: b"f".to_vec(), primary: 3, mirror: 4 }]);
    }

    #[test]
    fn reports_content_differences_with_offset() {
        let t = Trees::new("content");
        let mut data = vec![1u8; 100_000];
        fs::write(t.a("f"), &data).unwrap();
        data[70_000] = 2;
        fs::write(t.b("f"), &data).unwrap();
        assert_eq!(t.diff(), vec![Difference::Content { path: b"f".to_vec(), offset: 70_000 }]);
    }

    #[test]
    fn reports_permission_differences() {
        let t = Trees::new("mode");
        t.both("f", b"x");
        fs::set_permissions(t.a("f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(t.b("f"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(t.diff(), vec![Difference::Mode { path: b"f".to_vec(), primary: 0o640, mirror: 0o644 }]);
    }

    #[test]
    fn reports_root_permission_differences() {
        let t = Trees::new("rootmode");
        fs::set_permissions(t.a(""), fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(t.b(""), fs::Permissions::from_mode(0o755)).unwrap();
        let d = t.diff();
        assert_eq!(d, vec![Difference::Mode { path: vec![], primary: 0o700, mirror: 0o755 }]);
        assert!(d[0].to_string().starts_with(".: permissions differ"));
    }

    #[test]
    fn reports_symlink_target_differences() {
        let t = Trees::new("link");
        symlink("one", t.a("l")).unwrap();
        symlink("two", t.b("l")).unwrap();
        assert_eq!(
            t.diff(),
            vec![Difference::SymlinkTarget { path: b"l".to_vec(), primary: b"one".to_vec(), mirror: b"two".to_vec() }]
        );
    }

    #[test]
    fn compares_non_utf8_names_as_bytes() {
        let t = Trees::new("bytes");
        let name_a = std::ffi::OsStr::from_bytes(b"n\xff\xfe");
        let name_b = std::ffi::OsStr::from_bytes(b"n\xff\xfd");
        fs::write(t.root.join("a").join(name_a), b"").unwrap();
        fs::write(t.root.join("b").join(name_b), b"").unwrap();
        let d = t.diff();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].to_string(), "n\\xff\\xfd: regular file only in mirror");
        assert_eq!(d[1].to_string(), "n\\xff\\xfe: regular file only in primary");
    }

    #[test]
    fn reports_differences_deep_in_the_tree() {
        let t = Trees::new("deep");
        fs::create_dir_all(t.a("x/y")).unwrap();
        fs::create_dir_all(t.b("x/y")).unwrap();
        fs::write(t.a("x/y/z"), b"1").unwrap();
        assert_eq!(
            t.diff(),
            vec![Difference::OnlyIn { side: Side::Primary, path: b"x/y/z".to_vec(), kind: "regular file" }]
        );
    }

    #[test]
    fn reports_link_count_differences() {
        let t = Trees::new("nlink");
        t.both("f", b"x");
        fs::hard_link(t.a("f"), t.a("g")).unwrap();
        fs::write(t.b("g"), b"x").unwrap();
        let d = t.diff();
        assert_eq!(
            d,
            vec![
                Difference::Links { path: b"f".to_vec(), primary: 2, mirror: 1 },
                Difference::Links { path: b"g".to_vec(), primary: 2, mirror: 1 },
            ]
        );
    }

    #[test]
    fn links_from_outside_the_tree_do_not_count() {
        let t = Trees::new("nlink-out");
        t.both("f", b"x");
        fs::hard_link(t.a("f"), t.root.join("a-outside")).unwrap();
        let d = t.diff();
        let _ = fs::remove_file(t.root.join("a-outside"));
        assert_eq!(d, vec![]);
    }

    #[test]
    fn reports_owner_differences() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: chown is not possible, owner comparison not exercised");
            return;
        }
        let t = Trees::new("owner");
        t.both("f", b"x");
        std::os::unix::fs::chown(t.b("f"), Some(1234), Some(5678)).unwrap();
        let d = t.diff();
        assert_eq!(d, vec![Difference::Owner { path: b"f".to_vec(), primary: (0, 0), mirror: (1234, 5678) }]);
    }

    #[test]
    fn reports_fifos_versus_files() {
        let t = Trees::new("fifo");
        let c = std::ffi::CString::new(t.a("p").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        fs::write(t.b("p"), b"").unwrap();
        fs::set_permissions(t.b("p"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(t.diff(), vec![Difference::Type { path: b"p".to_vec(), primary: "fifo", mirror: "regular file" }]);
    }
}
