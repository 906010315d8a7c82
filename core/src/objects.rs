//! Copying and removing whole objects on a copy: used when a file or tree enters a pair from
//! outside (rename or link into the primary) or leaves it (rename out), and by resync.
//!
//! The origin side is read through `std::fs`; inside the shim that calls hooked functions, so
//! the shim's callers hold its re-entrancy guard. Every change on the copy is made relative to
//! a directory descriptor with O_NOFOLLOW, beneath the copy's root.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::sys::{self, Errno, SysResult};

fn io_errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Copies the object at origin-side path `src` (not following a final symlink) to `name` in
/// directory `dst_dir`, replacing whatever is there.
pub fn copy_object(src: &CStr, dst_dir: RawFd, name: &CStr) -> SysResult<()> {
    let _ = remove_object(dst_dir, name);
    copy_rec(std::path::Path::new(std::ffi::OsStr::from_bytes(src.to_bytes())), dst_dir, name, 0)
}

fn copy_rec(src: &std::path::Path, dst_dir: RawFd, name: &CStr, depth: u32) -> SysResult<()> {
    if depth > 256 {
        return Err(Errno(libc::ELOOP));
    }
    let meta = std::fs::symlink_metadata(src).map_err(io_errno)?;
    let ft = meta.file_type();
    let mode = meta.mode() & 0o7777;
    if ft.is_dir() {
        sys::mkdirat(dst_dir, name, 0o700)?;
        let dir = sys::openat(dst_dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        let r = (|| {
            for entry in std::fs::read_dir(src).map_err(io_errno)? {
                let entry = entry.map_err(io_errno)?;
                let child = CString::new(entry.file_name().as_bytes()).map_err(|_| Errno(libc::EINVAL))?;
                copy_rec(&entry.path(), dir, &child, depth + 1)?;
            }
            sys::fchmod(dir, mode)
        })();
        sys::close(dir);
        r?;
    } else if ft.is_file() {
        let src_fd = {
            let c = CString::new(src.as_os_str().as_bytes()).map_err(|_| Errno(libc::EINVAL))?;
            sys::openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?
        };
        let dst = sys::openat(dst_dir, name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o600);
        let r = dst.and_then(|d| {
            let r = sys::copy_range(src_fd, 0, d, 0, meta.len()).and_then(|_| sys::fchmod(d, mode));
            sys::close(d);
            r
        });
        sys::close(src_fd);
        r?;
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src).map_err(io_errno)?;
        let target = CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno(libc::EINVAL))?;
        sys::symlinkat(&target, dst_dir, name)?;
    } else {
        let kind = if ft.is_fifo() {
            libc::S_IFIFO
        } else if ft.is_char_device() {
            libc::S_IFCHR
        } else if ft.is_block_device() {
            libc::S_IFBLK
        } else {
            libc::S_IFSOCK
        };
        sys::mknodat(dst_dir, name, kind | mode, meta.rdev() as libc::dev_t)?;
    }
    // Owner (when permitted) and times, on the object itself, never through a symlink.
    let _ = sys::fchownat(dst_dir, name, meta.uid(), meta.gid(), libc::AT_SYMLINK_NOFOLLOW);
    if !ft.is_symlink() && !ft.is_dir() {
        let _ = sys::fchmodat(dst_dir, name, mode);
    }
    let times = [
        libc::timespec { tv_sec: meta.atime(), tv_nsec: meta.atime_nsec() },
        libc::timespec { tv_sec: meta.mtime(), tv_nsec: meta.mtime_nsec() },
    ];
    let _ = sys::utimensat(dst_dir, Some(name), &times, libc::AT_SYMLINK_NOFOLLOW);
    Ok(())
}

/// Removes `name` in `dir` and, for a directory, everything below it. Symlinks are removed,
/// never followed.
pub fn remove_object(dir: RawFd, name: &CStr) -> SysResult<()> {
    match sys::unlinkat(dir, name, 0) {
        Ok(()) => Ok(()),
        Err(Errno(libc::EISDIR | libc::EPERM)) => remove_dir_rec(dir, name, 0),
        Err(e) => Err(e),
    }
}

fn remove_dir_rec(parent: RawFd, name: &CStr, depth: u32) -> SysResult<()> {
    if depth > 256 {
        return Err(Errno(libc::ELOOP));
    }
    let dir = sys::openat(parent, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
    let mut names: Vec<CString> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match sys::getdents64(dir, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                sys::close(dir);
                return Err(e);
            }
        };
        for raw in sys::dirent_names(&buf[..n]).filter(|&r| r != b"." && r != b"..") {
            if let Ok(c) = CString::new(raw) {
                names.push(c);
            }
        }
    }
    let mut result = Ok(());
    for child in &names {
        if let Err(e) = remove_object(dir, child) {
            result = Err(e);
        }
    }
    sys::close(dir);
    result?;
    sys::unlinkat(parent, name, libc::AT_REMOVEDIR)
}
