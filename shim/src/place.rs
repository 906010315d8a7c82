//! Where a path belongs: the pair, copy and relative path of the object a hook's path or
//! descriptor names, decided lexically (fast tests first) or from the kernel's path of an
//! open descriptor.

use std::ffi::CStr;
use std::os::fd::RawFd;

use mfs_core::classify::{Classifier, Hit};
use mfs_core::config::Config;
use mfs_core::path::{has_dotdot_from, normal_form, split_parent, AbsPath, PATH_MAX};
use mfs_core::quick::{Quick, QuickTest};
use mfs_core::sys::{self, Errno, Identity};

use crate::cwd;
use crate::fdtable::{self, FdKind};
use crate::quick_scan::Scanner;

/// What a path is to the shim.
#[derive(Debug, Clone, Copy)]
pub enum Class<'a> {
    /// Outside every pair and not above any root.
    Outside,
    /// Above a root: paths relative to it may enter a pair.
    Related,
    /// The shim could not tell (unreadable dirfd): treated as not mirrored.
    Unknown,
    /// Longer than PATH_MAX once made absolute: the shim cannot place it, so a change made
    /// through it is journaled as needing a full resync of every pair (see
    /// [`crate::state::State::unplaced_change`]).
    TooLong,
    /// In a pair; `abs` is the absolute origin-side path.
    In { hit: Hit<'a>, abs: &'a [u8] },
    /// A name for an open descriptor (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`): what it
    /// opens is known only from the kernel's path of the result.
    FdAlias,
}

impl Class<'_> {
    /// The table kind an fd opened at such a path gets.
    pub fn fd_kind(&self) -> FdKind {
        match self {
            Class::Outside => FdKind::Outside,
            Class::Related => FdKind::Related,
            Class::Unknown | Class::TooLong | Class::FdAlias => FdKind::Empty,
            Class::In { .. } => FdKind::Mirrored,
        }
    }

    pub fn is_too_long(&self) -> bool {
        matches!(self, Class::TooLong)
    }
}

/// The roots of every pair, as the classifier and as the quick test's scanner, and what the
/// kernel identifies them by.
pub struct Place {
    pub classifier: Classifier,
    scanner: Scanner,
    /// Every root a change may come from: its canonical path and identity. An object on
    /// another device is in no pair whatever path names it (a bind mount of a root has the
    /// root's device, and another mount id).
    roots: Vec<(Vec<u8>, Identity)>,
}

impl Place {
    pub fn new(cfg: &Config) -> Place {
        let classifier = Classifier::new(cfg);
        let mut roots = Vec::new();
        for pair in &cfg.pairs {
            for (_, copy) in pair.copies.iter().enumerate().filter(|&(i, _)| pair.mode.mirrors_from(i)) {
                let path = copy.canonical.as_os_str().as_encoded_bytes();
                let id = std::ffi::CString::new(path).ok().and_then(|c| sys::identity_at(libc::AT_FDCWD, &c, 0).ok());
                if let Some(id) = id {
                    roots.push((path.to_vec(), id));
                }
            }
        }
        Place { scanner: Scanner::new(QuickTest::new(&classifier)), classifier, roots }
    }

    /// True when an object on device `dev` may lie in a pair.
    #[inline]
    pub fn may_hold(&self, dev: u64) -> bool {
        self.roots.iter().any(|(_, id)| id.dev == dev)
    }

    /// True when an object with identity `id` is reached through another mount of a root's
    /// file system than the roots themselves (a bind mount): its kernel path names that mount.
    fn through_other_mount(&self, id: &Identity) -> bool {
        self.may_hold(id.dev) && id.mnt.is_some_and(|m| !self.roots.iter().any(|(_, r)| r.mnt == Some(m)))
    }

    /// The kernel's path of directory `dir` (its path `kernel`), placed where it lies below a
    /// root when it was reached through a bind mount: the nearest ancestor that is a root (by
    /// device and inode, walking `..` at most 64 levels) gives the path, the components below
    /// it are the kernel path's last ones. Written to `out`; its length.
    fn by_ancestry(&self, dir: RawFd, kernel: &[u8], out: &mut [u8; PATH_MAX]) -> Option<usize> {
        let mut cur = sys::dup_at_least(dir, 0).ok()?;
        let mut found = None;
        for level in 0..64 {
            let Ok(id) = sys::identity_at(cur, c"", libc::AT_EMPTY_PATH) else { break };
            if let Some((root, _)) = self.roots.iter().find(|(_, r)| r.dev == id.dev && r.ino == id.ino) {
                found = Some((root, level));
                break;
            }
            let up = sys::openat(cur, c"..", libc::O_PATH | libc::O_DIRECTORY, 0);
            sys::close(cur);
            let Ok(up) = up else { return None };
            cur = up;
            if sys::identity_at(cur, c"", libc::AT_EMPTY_PATH).is_ok_and(|u| u == id) {
                break; // the top of the tree
            }
        }
        sys::close(cur);
        let (root, level) = found?;
        let comps: Vec<&[u8]> = kernel.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
        let below = comps.get(comps.len().checked_sub(level)?..)?;
        let mut len = 0;
        for part in std::iter::once(&root[..]).chain(below.iter().flat_map(|c| [&b"/"[..], c])) {
            out.get_mut(len..len + part.len())?.copy_from_slice(part);
            len += part.len();
        }
        Some(len)
    }

    /// The kernel's path of open descriptor `fd`, placed below its root when it was reached
    /// through a bind mount of one (see [`Place::by_ancestry`]).
    fn real_path(&self, fd: RawFd, buf: &mut [u8; PATH_MAX]) -> Option<usize> {
        let n = sys::fd_path(fd, buf).ok()?;
        let Ok(id) = sys::identity_at(fd, c"", libc::AT_EMPTY_PATH) else { return Some(n) };
        if !self.through_other_mount(&id) {
            return Some(n);
        }
        let kernel = buf[..n].to_vec();
        let (dir_path, name) = split_parent(&kernel);
        let is_dir = sys::fstat(fd).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let placed = if is_dir {
            self.by_ancestry(fd, &kernel, buf)
        } else {
            let c = std::ffi::CString::new(if dir_path.is_empty() { &b"/"[..] } else { dir_path }).ok()?;
            let dir = sys::openat(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
            let r = self.by_ancestry(dir, dir_path, buf);
            sys::close(dir);
            r.and_then(|len| {
                buf.get_mut(len..len + 1 + name.len())?.copy_from_slice(&[b"/", name].concat());
                Some(len + 1 + name.len())
            })
        };
        match placed {
            Some(len) => Some(len),
            None => {
                buf[..n].copy_from_slice(&kernel);
                Some(n)
            }
        }
    }

    /// Where a change at `path` (relative to `dirfd`) happens, by what it touches rather than
    /// how it is spelled: a path in a pair as written is placed lexically; any other (through
    /// a symlink to a root, a bind mount of one, `/proc/self/fd/N/...`, `/proc/self/cwd/...`),
    /// and any path with `..` (which the kernel resolves after symlinks, not lexically), is
    /// placed by the kernel's path of its parent directory, looked up only when that directory
    /// lies on a root's device (one `stat` for a path outside on another device). Called
    /// before the change is made: the parent must exist. `scratch` holds a lexically built
    /// path, `resolved` the kernel's.
    pub fn classify_change<'b>(
        &self,
        dirfd: RawFd,
        path: &'b [u8],
        scratch: &'b mut Option<AbsPath>,
        resolved: &'b mut Option<AbsPath>,
    ) -> Class<'b> {
        let dotdot = has_dotdot_from(path, 0);
        let lexical = self.classify_at(dirfd, path, scratch);
        if !dotdot && matches!(lexical, Class::In { .. } | Class::TooLong) {
            return lexical;
        }
        match self.by_identity(dirfd, path, resolved) {
            Some(abs) => class_of(&self.classifier, abs.as_bytes()),
            None if dotdot => lexical,
            None => match lexical {
                // The kernel does not place it in a pair either.
                Class::Related | Class::Unknown | Class::FdAlias => Class::Outside,
                other => other,
            },
        }
    }

    /// The absolute path the kernel resolves `path` (relative to `dirfd`) to, in `out`: its
    /// parent directory's real path and the final name, when the parent lies on a root's
    /// device (a `stat` first, then an open and a readlink only on a match).
    fn by_identity<'b>(&self, dirfd: RawFd, path: &[u8], out: &'b mut Option<AbsPath>) -> Option<&'b AbsPath> {
        let _errno = sys::ErrnoGuard::save();
        let (parent, name) = parent_and_name(path);
        let parent = std::ffi::CString::new(parent).ok()?;
        if !sys::identity_at(dirfd, &parent, 0).is_ok_and(|id| self.may_hold(id.dev)) {
            return None;
        }
        let dir = sys::openat(dirfd, &parent, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
        let mut buf = [0u8; PATH_MAX];
        let n = self.real_path(dir, &mut buf);
        sys::close(dir);
        let n = n.filter(|&n| buf[..n].first() == Some(&b'/'))?;
        let abs = out.insert(AbsPath::new());
        abs.set_resolved(&buf[..n], name).ok()?;
        Some(abs)
    }

    /// Classifies the object a path names, relative to `dirfd` (AT_FDCWD for the current
    /// directory), lexically. `scratch` holds the absolute path when one had to be built.
    #[inline]
    pub fn classify_at<'b>(&self, dirfd: RawFd, path: &'b [u8], scratch: &'b mut Option<AbsPath>) -> Class<'b> {
        if self.surely_outside(dirfd, path) {
            return Class::Outside;
        }
        if let Some(p) = normal_form(path) {
            return class_of(&self.classifier, p);
        }
        self.classify_slow(dirfd, path, scratch)
    }

    /// The quick test on a path as the program passed it: true when it surely lies outside
    /// every pair (see [`mfs_core::quick`]). `/dev`, `/proc` and paths under them are never
    /// outside here: they reach files through magic links (see [`magic_class`]).
    ///
    /// # Safety
    /// `path` must be null or a NUL-terminated string.
    #[inline(always)]
    pub unsafe fn quick_outside(&self, dirfd: RawFd, path: *const libc::c_char) -> bool {
        // SAFETY: the caller's contract.
        match unsafe { self.scanner.judge(path) } {
            // SAFETY: an absolute path, so at least one byte long before its NUL.
            Quick::Outside => !unsafe { is_magic(path) },
            Quick::Below => base_is_outside(dirfd),
            Quick::Unknown => false,
        }
    }

    /// The test on the bytes of every path a hook receives (open-like hooks try
    /// [`Place::quick_outside`] first), and all that a path outside every pair costs: true
    /// only when `path` certainly lies outside every pair and above none (see
    /// [`Classifier::surely_outside`]) and names no open descriptor. A relative path without
    /// `..` is outside when its base is: the current directory or a dirfd opened at a path
    /// outside (both known without a system call).
    #[inline(always)]
    pub fn surely_outside(&self, dirfd: RawFd, path: &[u8]) -> bool {
        match path.first() {
            Some(b'/') => self.classifier.surely_outside(path) && !is_magic_bytes(path),
            Some(_) => base_is_outside(dirfd) && !has_dotdot_from(path, 0),
            None => false,
        }
    }

    /// Where the kernel says an open descriptor's object is: its pair, copy and relative path,
    /// and its absolute path, both in `buf`. `None` outside every pair.
    pub fn of_fd<'b>(&self, fd: RawFd, buf: &'b mut [u8; PATH_MAX]) -> Option<(Hit<'b>, &'b [u8])> {
        let n = self.real_path(fd, buf)?;
        let abs = &buf[..n];
        Some((self.classifier.classify(abs)?, abs))
    }

    /// The path of an open descriptor relative to its pair's roots, from the kernel.
    pub fn rel_of_fd<'b>(&self, fd: RawFd, buf: &'b mut [u8; PATH_MAX]) -> Option<&'b [u8]> {
        self.of_fd(fd, buf).map(|(hit, _)| hit.rel)
    }

    /// Where the object at `path` (relative to `dirfd`) really is, symlinks followed (except
    /// a final one with `O_NOFOLLOW` in `flags`): its place by the kernel's path, in `buf`.
    pub fn resolved<'b>(
        &self,
        dirfd: RawFd,
        path: &CStr,
        flags: libc::c_int,
        buf: &'b mut [u8; PATH_MAX],
    ) -> Option<(Hit<'b>, &'b [u8])> {
        let fd = sys::openat(dirfd, path, libc::O_PATH | flags, 0).ok()?;
        let r = self.of_fd(fd, buf);
        sys::close(fd);
        r
    }

    /// Re-reads the current directory into the cache (see [`crate::cwd`]).
    pub fn refresh_cwd(&self) {
        cwd::refresh(|abs| matches!(class_of(&self.classifier, abs), Class::Outside));
    }

    fn classify_slow<'b>(&self, dirfd: RawFd, path: &'b [u8], scratch: &'b mut Option<AbsPath>) -> Class<'b> {
        // Runs before the program's call: the syscalls here must not leave errno changed.
        let _errno = sys::ErrnoGuard::save();
        let mut base = [0u8; PATH_MAX];
        let base_len = if path.first() == Some(&b'/') {
            base[0] = b'/';
            1
        } else if dirfd == libc::AT_FDCWD {
            match cwd::copy(&mut base) {
                Some(n) => n,
                // getcwd failed: the working directory is deeper than PATH_MAX (or gone).
                None => return Class::TooLong,
            }
        } else {
            match sys::fd_path(dirfd, &mut base) {
                Ok(n) if base[0] == b'/' => n,
                Err(Errno(libc::ENAMETOOLONG)) => return Class::TooLong,
                _ => return Class::Unknown,
            }
        };
        let abs = scratch.insert(AbsPath::new());
        match abs.set_resolved(&base[..base_len], path) {
            Ok(()) => {}
            Err(mfs_core::path::PathError::TooLong) => return Class::TooLong,
            Err(_) => return Class::Unknown,
        }
        class_of(&self.classifier, abs.as_bytes())
    }
}

/// A path's parent directory (`.` for a bare name) and its final name; trailing slashes and
/// a final `.` or `..` leave the whole path as the directory and an empty name.
fn parent_and_name(path: &[u8]) -> (&[u8], &[u8]) {
    let trimmed = {
        let mut end = path.len();
        while end > 1 && path[end - 1] == b'/' {
            end -= 1;
        }
        &path[..end]
    };
    let (parent, name) = split_parent(trimmed);
    if name.is_empty() || name == b"." || name == b".." {
        return (path, b"");
    }
    let parent: &[u8] = if parent.is_empty() {
        if trimmed.first() == Some(&b'/') {
            b"/"
        } else {
            b"."
        }
    } else {
        parent
    };
    (parent, name)
}

/// True when relative paths from `dirfd` (or the working directory) start outside every pair
/// and above no root.
#[inline(always)]
fn base_is_outside(dirfd: RawFd) -> bool {
    if dirfd == libc::AT_FDCWD {
        cwd::is_outside()
    } else {
        fdtable::kind_of(dirfd) == FdKind::Outside
    }
}

/// True for `/dev`, `/proc` and paths under them (see [`magic_class`]).
///
/// # Safety
/// `path` must point to a NUL-terminated string of at least one byte before the NUL.
#[inline(always)]
unsafe fn is_magic(path: *const libc::c_char) -> bool {
    let p = path.cast::<u8>();
    // SAFETY: byte 1 is the string's second byte or its NUL.
    let second = unsafe { *p.add(1) };
    if second != b'd' && second != b'p' {
        return false;
    }
    // SAFETY: the caller's contract; `from_ptr` reads up to the NUL.
    is_magic_bytes(unsafe { CStr::from_ptr(path) }.to_bytes())
}

/// [`is_magic`] on a path's bytes.
#[inline(always)]
fn is_magic_bytes(path: &[u8]) -> bool {
    matches!(path.get(1), Some(b'd' | b'p'))
        && (path.starts_with(b"/dev/") || path.starts_with(b"/proc/") || path == b"/dev" || path == b"/proc")
}

/// The class of a normalised absolute path.
#[inline]
fn class_of<'b>(classifier: &Classifier, abs: &'b [u8]) -> Class<'b> {
    match classifier.locate(abs) {
        Ok(hit) => Class::In { hit, abs },
        Err(above) => match magic_class(abs) {
            Some(class) => class,
            None if above => Class::Related,
            None => Class::Outside,
        },
    }
}

/// The class of a normalised absolute path outside every pair that is under `/dev` or
/// `/proc`, where magic links lead to open descriptors and to processes' working and root
/// directories, which may be in a pair: such names are [`Class::FdAlias`] (what they open is
/// placed by the kernel's path of the result), and the directories on the way to them are
/// [`Class::Related`] (a path relative to them is placed again). `None` for every other path,
/// `/dev/null` and the like included.
fn magic_class(abs: &[u8]) -> Option<Class<'static>> {
    if abs == b"/dev" || abs == b"/proc" || abs == b"/dev/fd" {
        return Some(Class::Related);
    }
    if let Some(rest) = abs.strip_prefix(b"/dev/") {
        let alias = matches!(rest, b"stdin" | b"stdout" | b"stderr") || rest.starts_with(b"fd/");
        return alias.then_some(Class::FdAlias);
    }
    let rest = abs.strip_prefix(b"/proc/")?;
    // /proc/PID/fd/N, /proc/self/cwd/..., /proc/PID/task/TID/root/..., and the like.
    let magic =
        rest.split(|&b| b == b'/').skip(1).any(|c| matches!(c, b"fd" | b"cwd" | b"root" | b"exe" | b"map_files"));
    Some(if magic { Class::FdAlias } else { Class::Related })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_splits_into_its_parent_and_final_name() {
        assert_eq!(parent_and_name(b"/a/b/c"), (&b"/a/b"[..], &b"c"[..]));
        assert_eq!(parent_and_name(b"/a"), (&b"/"[..], &b"a"[..]));
        assert_eq!(parent_and_name(b"c"), (&b"."[..], &b"c"[..]));
        assert_eq!(parent_and_name(b"x/y/"), (&b"x"[..], &b"y"[..]));
        assert_eq!(parent_and_name(b"x/.."), (&b"x/.."[..], &b""[..]));
        assert_eq!(parent_and_name(b"/proc/self/fd/3/f"), (&b"/proc/self/fd/3"[..], &b"f"[..]));
    }

    #[test]
    fn magic_names_are_aliases_and_their_directories_related() {
        for alias in [&b"/dev/stdout"[..], b"/dev/fd/3", b"/proc/self/fd/3", b"/proc/12/cwd/x", b"/proc/1/task/2/root"]
        {
            assert!(matches!(magic_class(alias), Some(Class::FdAlias)), "{}", String::from_utf8_lossy(alias));
        }
        for related in [&b"/dev"[..], b"/proc", b"/dev/fd", b"/proc/self", b"/proc/12/task"] {
            assert!(matches!(magic_class(related), Some(Class::Related)), "{}", String::from_utf8_lossy(related));
        }
        assert!(magic_class(b"/dev/null").is_none());
        assert!(magic_class(b"/etc/passwd").is_none());
        assert!(is_magic_bytes(b"/proc/self/fd/1") && !is_magic_bytes(b"/dx/fd"));
    }
}
