//! One metadata change (mode, owner, times, an extended attribute), as applied to the other
//! copies: through a twin descriptor, or by name beneath a directory of the copy, never
//! following a final symlink there. Times the program asked to be "now" are read back from
//! the origin after its call and given to the copies explicitly, so every copy carries the
//! same timestamps.

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_int, gid_t, mode_t, timespec, uid_t};
use mfs_core::failure::Op;
use mfs_core::sys::{self, Errno, ProcFd, SysResult};

use crate::fanout;
use crate::fdtable::{self, FdKind};

/// The access ACL: `cp -a`, `install` and `setfacl` set modes through it.
const ACL_ACCESS: &CStr = c"system.posix_acl_access";

/// Where the origin's object can be examined after the call (for "now" times and for the
/// mode behind an ACL).
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    /// The program's descriptor.
    Fd(RawFd),
    /// The program's dirfd and path, with the `fstatat` flags matching the call.
    At(RawFd, &'a CStr, c_int),
}

impl Origin<'_> {
    pub fn stat(&self) -> SysResult<libc::stat> {
        match *self {
            Origin::Fd(fd) => sys::fstat(fd),
            Origin::At(dir, path, flags) => sys::fstatat(dir, path, flags),
        }
    }
}

/// Timestamps for the other copies.
#[derive(Clone, Copy)]
pub struct Times {
    pub ts: [timespec; 2],
    /// Every timestamp set was "now": a copy that refuses explicit times (the program may
    /// write the file but does not own it) gets its own current time instead.
    pub now: bool,
}

impl Times {
    /// The times to apply, given what the program passed (`None`: both "now"). "Now" becomes
    /// the origin's resulting time; UTIME_OMIT entries stay omitted.
    pub fn for_copies(req: Option<[timespec; 2]>, origin: Origin<'_>) -> SysResult<Times> {
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
    pub fn apply(&self, mut set: impl FnMut(&[timespec; 2]) -> SysResult<()>) -> SysResult<()> {
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
pub enum Change<'a> {
    Mode(mode_t),
    Owner(uid_t, gid_t),
    Times(Times),
    SetXattr { name: &'a CStr, value: &'a [u8], origin: Origin<'a> },
    RemoveXattr(&'a CStr),
}

impl Change<'_> {
    /// The kind of operation, for judging a copy's error.
    pub fn op(&self) -> Op {
        match *self {
            Change::Mode(_) => Op::Mode,
            Change::Owner(..) => Op::Owner,
            Change::Times(_) => Op::Times,
            Change::SetXattr { name, .. } if name == ACL_ACCESS || name == ACL_DEFAULT => Op::Acl,
            Change::SetXattr { .. } | Change::RemoveXattr(_) => Op::Xattr,
        }
    }

    /// Applies the change to a twin descriptor.
    pub fn on_fd(&self, t: RawFd) -> SysResult<()> {
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
    pub fn at(&self, dir: RawFd, name: &CStr) -> SysResult<()> {
        match *self {
            Change::Mode(m) => chmod_at(dir, name, m),
            Change::Owner(u, g) => {
                sys::fchownat(dir, name, u, g, libc::AT_SYMLINK_NOFOLLOW).map_err(|e| of_symlink(dir, name, e))
            }
            Change::Times(ref times) => times
                .apply(|ts| sys::utimensat(dir, Some(name), ts, libc::AT_SYMLINK_NOFOLLOW))
                .map_err(|e| of_symlink(dir, name, e)),
            Change::SetXattr { name: attr, value, .. } => with_object(dir, name, |p| sys::setxattr(p, attr, value, 0))
                .or_else(|e| self.without_acls(e, |m| chmod_at(dir, name, m))),
            Change::RemoveXattr(attr) => with_object(dir, name, |p| sys::removexattr(p, attr)).or_else(absent_is_done),
        }
    }

    /// A copy whose file system has no ACLs still gets the mode an access ACL gave the
    /// origin: all of a minimal ACL (owner, group, other), which the mode carries; of an
    /// extended one the rest stays unrepresented (EOPNOTSUPP after the mode is set).
    fn without_acls(&self, e: Errno, chmod: impl FnOnce(mode_t) -> SysResult<()>) -> SysResult<()> {
        match *self {
            Change::SetXattr { name, value, origin } if e.0 == libc::EOPNOTSUPP && name == ACL_ACCESS => {
                chmod(origin.stat()?.st_mode & 0o7777)?;
                if acl_is_minimal(value) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            _ => Err(e),
        }
    }
}

/// The default ACL of a directory.
const ACL_DEFAULT: &CStr = c"system.posix_acl_default";

/// True for an ACL in the kernel's xattr form (a 4-byte version, then 8-byte entries) whose
/// entries are only the owner, group and other ones: exactly what permission bits hold.
fn acl_is_minimal(value: &[u8]) -> bool {
    const USER_OBJ: u16 = 0x01;
    const GROUP_OBJ: u16 = 0x04;
    const OTHER: u16 = 0x20;
    let Some(entries) = value.get(4..) else { return false };
    entries.len() % 8 == 0
        && entries.chunks(8).all(|e| matches!(u16::from_ne_bytes([e[0], e[1]]), USER_OBJ | GROUP_OBJ | OTHER))
}

/// An error changing the times or owner of `name` in `dir` of a copy: when the object there
/// is a symlink, the copy's file system cannot change a symlink itself (sftp follows it, and
/// fails when it dangles), so the error becomes EOPNOTSUPP: not representable.
fn of_symlink(dir: RawFd, name: &CStr, e: Errno) -> Errno {
    let is_link =
        sys::fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFLNK);
    if is_link && matches!(e.0, libc::ENOENT | libc::EPERM | libc::EOPNOTSUPP | libc::EINVAL) {
        Errno(libc::EOPNOTSUPP)
    } else {
        e
    }
}

/// Removing an attribute a copy does not have (or cannot have: its file system holds none)
/// leaves it as the origin: done.
fn absent_is_done(e: Errno) -> SysResult<()> {
    if e.0 == libc::ENODATA || e.0 == libc::EOPNOTSUPP {
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

/// Runs `f` with a `/proc/self/fd` path for `name` in `dir` (opened O_PATH, not following a
/// final symlink, for a moment): the xattr calls have no *at form.
fn with_object<R>(dir: RawFd, name: &CStr, f: impl FnOnce(&CStr) -> SysResult<R>) -> SysResult<R> {
    let fd = sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    fdtable::set_kind(fd, FdKind::Private);
    let r = f(ProcFd::new(fd).as_cstr());
    fanout::close_own(fd);
    r
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
        // A minimal ACL: version 2, then owner rw-, group r--, other r--.
        let minimal: &[u8] = &[
            2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 4, 0, 4, 0, 255, 255, 255, 255, 0x20, 0, 4, 0, 255, 255, 255,
            255,
        ];
        let ch = Change::SetXattr { name: ACL_ACCESS, value: minimal, origin: Origin::At(libc::AT_FDCWD, &cf, 0) };
        let mut seen = None;
        ch.without_acls(Errno(libc::EOPNOTSUPP), |m| {
            seen = Some(m);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, Some(0o604));
        assert_eq!(ch.without_acls(Errno(libc::EIO), |_| Ok(())), Err(Errno(libc::EIO)));
        // An ACL naming a user (tag 2) and a mask (0x10): the mode is set, the rest is refused.
        let extended: &[u8] = &[
            2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 6, 0, 232, 3, 0, 0, 4, 0, 4, 0, 255, 255, 255, 255, 0x10,
            0, 6, 0, 255, 255, 255, 255, 0x20, 0, 4, 0, 255, 255, 255, 255,
        ];
        let ext = Change::SetXattr { name: ACL_ACCESS, value: extended, origin: Origin::At(libc::AT_FDCWD, &cf, 0) };
        let mut seen = None;
        let r = ext.without_acls(Errno(libc::EOPNOTSUPP), |m| {
            seen = Some(m);
            Ok(())
        });
        assert_eq!((r, seen), (Err(Errno(libc::EOPNOTSUPP)), Some(0o604)));
        assert_eq!(ext.op(), Op::Acl);
        let other = Change::SetXattr { name: c"user.x", value: b"", origin: Origin::Fd(-1) };
        assert_eq!(other.op(), Op::Xattr);
        assert_eq!(other.without_acls(Errno(libc::EOPNOTSUPP), |_| Ok(())), Err(Errno(libc::EOPNOTSUPP)));
        sys::close(dfd);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
