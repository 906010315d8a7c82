//! Raw system calls: the FFI edge for everything the shim does to twins, journals and the
//! shared state file, and for the daemon's work on the same files.
//!
//! Each call is made with the `syscall` instruction on x86-64 and AArch64 (through
//! `libc::syscall` elsewhere): no hook intercepts it, so the shim never re-enters itself,
//! never depends on a real symbol having been resolved, and never touches the program's
//! errno.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{c_int, c_long, off_t};

/// An errno value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type SysResult<T> = Result<T, Errno>;

/// The calling thread's errno.
#[inline]
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns the valid thread-local errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline]
pub fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e }
}

/// Saves errno on creation and puts it back when dropped: the program's errno survives
/// whatever the shim does after the primary call.
pub struct ErrnoGuard(c_int);

impl ErrnoGuard {
    #[inline]
    pub fn save() -> Self {
        ErrnoGuard(errno())
    }
    /// Replaces the value restored on drop (the primary call's errno).
    #[inline]
    pub fn set(&mut self, e: c_int) {
        self.0 = e;
    }
}

impl Drop for ErrnoGuard {
    #[inline]
    fn drop(&mut self) {
        set_errno(self.0);
    }
}

/// System call `nr` with up to six arguments (unused ones are 0), in the kernel's convention:
/// a result in -4095..=-1 is an errno value, negated.
///
/// # Safety
/// The arguments must satisfy the system call's contract: pointers point to buffers that are
/// valid, for the access the call makes, until it returns.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn raw(nr: c_long, a: [c_long; 6]) -> c_long {
    let r: c_long;
    // SAFETY: the x86-64 Linux system call convention (the kernel clobbers rcx and r11); the
    // arguments are the caller's contract.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr => r,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// # Safety
/// As on x86-64.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn raw(nr: c_long, a: [c_long; 6]) -> c_long {
    let r: c_long;
    // SAFETY: the AArch64 Linux system call convention; the arguments are the caller's
    // contract.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] => r,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            options(nostack),
        );
    }
    r
}

/// # Safety
/// As on x86-64.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub unsafe fn raw(nr: c_long, a: [c_long; 6]) -> c_long {
    let _errno = ErrnoGuard::save();
    // SAFETY: the caller's contract, through libc's generic entry.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -c_long::from(errno())
    } else {
        r
    }
}

/// A raw result in the kernel's convention as a `SysResult`.
#[inline(always)]
pub fn check(r: c_long) -> SysResult<c_long> {
    if (-4095..0).contains(&r) {
        Err(Errno(-r as c_int))
    } else {
        Ok(r)
    }
}

macro_rules! syscall {
    ($nr:expr $(, $a:expr)* $(,)?) => {{
        let mut args = [0 as c_long; 6];
        let given = [$($a as c_long),*];
        args[..given.len()].copy_from_slice(&given);
        // SAFETY: a raw system call with arguments the kernel validates; pointers passed are
        // valid for the duration of the call (callers pass live references).
        check(unsafe { raw($nr, args) })
    }};
}

/// Retries a call that failed with EINTR.
#[inline]
fn retry<T>(mut f: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        match f() {
            Err(Errno(libc::EINTR)) => continue,
            r => return r,
        }
    }
}

#[inline]
pub fn getpid() -> libc::pid_t {
    syscall!(libc::SYS_getpid).unwrap_or(0) as libc::pid_t
}

#[inline]
pub fn gettid() -> libc::pid_t {
    syscall!(libc::SYS_gettid).unwrap_or(0) as libc::pid_t
}

/// True when thread `tid` belongs to this process (signal 0 only checks).
pub fn thread_in_process(tid: libc::pid_t) -> bool {
    !matches!(syscall!(libc::SYS_tgkill, getpid(), tid, 0), Err(Errno(libc::ESRCH)))
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_BENEATH: u64 = 0x08;

/// Set once openat2 is known to be unusable in this process (a kernel before 5.6, or a
/// seccomp profile that refuses it, as older container runtimes do): [`open_beneath`] then
/// walks the path itself.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `path` (relative) beneath `dirfd`: the path can never leave `dirfd`, whatever symlinks
/// or `..` it contains. Always close-on-exec.
///
/// openat2 with `RESOLVE_BENEATH` where the kernel has it; otherwise [`open_beneath_walk`],
/// which gives the same guarantee by following no symlink at all.
pub fn open_beneath(dirfd: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2_beneath(dirfd, path, flags, mode) {
            // EPERM is also an ordinary answer (O_NOATIME, a sealed file...): only a refused
            // probe says that the call itself is unavailable.
            Err(Errno(libc::ENOSYS | libc::EPERM)) if !openat2_usable(dirfd) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    open_beneath_walk(dirfd, path, flags, mode)
}

fn openat2_beneath(dirfd: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u32 as u64,
        mode: if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
            u64::from(mode & 0o7777)
        } else {
            0
        },
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    retry(|| syscall!(libc::SYS_openat2, dirfd, path.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()))
        .map(|fd| fd as RawFd)
}

/// True when openat2 works at all here (opening `dirfd` itself again).
fn openat2_usable(dirfd: RawFd) -> bool {
    match openat2_beneath(dirfd, c".", libc::O_PATH | libc::O_DIRECTORY, 0) {
        Ok(fd) => {
            close(fd);
            true
        }
        Err(Errno(e)) => e != libc::ENOSYS && e != libc::EPERM,
    }
}

/// [`open_beneath`] without openat2, for the normalised relative paths the shim opens (no
/// `..` or empty components; `.` alone for `dirfd` itself). Every directory on the way is
/// opened with O_NOFOLLOW, and so is the final name: no symlink is followed, and one on the
/// path gives EXDEV (ELOOP for the final name), the answers RESOLVE_BENEATH gives for a path
/// that leaves the root, after which the callers place the change by the kernel's path of the
/// origin-side object. Symlinks that openat2 would follow inside the root are treated the
/// same way: slower, never unsafe.
pub fn open_beneath_walk(dirfd: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    let bytes = path.to_bytes();
    if crate::path::has_dotdot(bytes) || bytes.first() == Some(&b'/') {
        return Err(Errno(libc::EXDEV));
    }
    let (parent, name) = crate::path::split_parent(bytes);
    let mut dir = dirfd;
    for comp in parent.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".") {
        let next = component_at(dir, comp, |c| openat(dir, c, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0));
        if dir != dirfd {
            close(dir);
        }
        dir = next?;
    }
    let name = if name.is_empty() { &b"."[..] } else { name };
    let r = component_at(dir, name, |c| openat(dir, c, flags | libc::O_NOFOLLOW, mode));
    if dir != dirfd {
        close(dir);
    }
    r
}

/// Runs an open of one path component (`comp`, NUL-terminated on the stack); ENOTDIR from
/// a symlink (O_NOFOLLOW with O_DIRECTORY) becomes EXDEV, the answer for a path that would
/// leave the root.
fn component_at(dir: RawFd, comp: &[u8], open: impl Fn(&CStr) -> SysResult<RawFd>) -> SysResult<RawFd> {
    let mut buf = [0u8; 256];
    if comp.len() >= buf.len() || comp.contains(&0) {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    buf[..comp.len()].copy_from_slice(comp);
    let c = CStr::from_bytes_until_nul(&buf).map_err(|_| Errno(libc::EINVAL))?;
    match open(c) {
        Err(Errno(libc::ENOTDIR))
            if fstatat(dir, c, libc::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK) =>
        {
            Err(Errno(libc::EXDEV))
        }
        r => r,
    }
}

pub fn openat(dirfd: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    retry(|| syscall!(libc::SYS_openat, dirfd, path.as_ptr(), flags | libc::O_CLOEXEC, mode)).map(|fd| fd as RawFd)
}

#[inline]
pub fn close(fd: RawFd) {
    let _ = syscall!(libc::SYS_close, fd);
}

/// Writes all of `buf` at `off`, retrying short writes and EINTR.
#[inline]
pub fn pwrite_all(fd: RawFd, mut buf: &[u8], mut off: off_t) -> SysResult<()> {
    while !buf.is_empty() {
        let n = retry(|| syscall!(libc::SYS_pwrite64, fd, buf.as_ptr(), buf.len(), off))? as usize;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = &buf[n..];
        off += n as off_t;
    }
    Ok(())
}

/// Writes all of `buf` at `fd`'s offset, retrying short writes and EINTR.
#[inline]
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        let n = retry(|| syscall!(libc::SYS_write, fd, buf.as_ptr(), buf.len()))? as usize;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = &buf[n..];
    }
    Ok(())
}

pub fn pread(fd: RawFd, buf: &mut [u8], off: off_t) -> SysResult<usize> {
    retry(|| syscall!(libc::SYS_pread64, fd, buf.as_mut_ptr(), buf.len(), off)).map(|n| n as usize)
}

#[inline]
pub fn lseek(fd: RawFd, off: off_t, whence: c_int) -> SysResult<off_t> {
    syscall!(libc::SYS_lseek, fd, off, whence).map(|o| o as off_t)
}

#[inline]
pub fn fstat(fd: RawFd) -> SysResult<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value of the plain-data struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    syscall!(libc::SYS_fstat, fd, &mut st as *mut libc::stat)?;
    Ok(st)
}

pub fn fstatat(dirfd: RawFd, path: &CStr, flags: c_int) -> SysResult<libc::stat> {
    // SAFETY: as in `fstat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    syscall!(libc::SYS_newfstatat, dirfd, path.as_ptr(), &mut st as *mut libc::stat, flags)?;
    Ok(st)
}

/// Which object a path names, as the kernel tells: device and inode, and the id of the mount
/// it was reached through (`None` before Linux 5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub mnt: Option<u64>,
}

/// statx of `path` relative to `dirfd` (`AT_EMPTY_PATH` with an empty path for `dirfd`
/// itself), for its [`Identity`].
pub fn identity_at(dirfd: RawFd, path: &CStr, flags: c_int) -> SysResult<Identity> {
    // SAFETY: an all-zero statx is a valid value of the plain-data struct.
    let mut sx: libc::statx = unsafe { std::mem::zeroed() };
    let mask = libc::STATX_INO | libc::STATX_MNT_ID;
    syscall!(libc::SYS_statx, dirfd, path.as_ptr(), flags, mask, &mut sx as *mut libc::statx)?;
    Ok(Identity {
        dev: libc::makedev(sx.stx_dev_major, sx.stx_dev_minor),
        ino: sx.stx_ino,
        mnt: (sx.stx_mask & libc::STATX_MNT_ID != 0).then_some(sx.stx_mnt_id),
    })
}

/// The path the kernel has for an open descriptor (`/proc/self/fd/N`), into `buf`.
pub fn fd_path(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    readlinkat(libc::AT_FDCWD, ProcFd::new(fd).as_cstr(), buf)
}

pub fn readlinkat(dirfd: RawFd, path: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    let n = syscall!(libc::SYS_readlinkat, dirfd, path.as_ptr(), buf.as_mut_ptr(), buf.len())? as usize;
    if n >= buf.len() {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    Ok(n)
}

/// Duplicates `fd` to the lowest free number at or above `base`, close-on-exec.
pub fn dup_at_least(fd: RawFd, base: RawFd) -> SysResult<RawFd> {
    syscall!(libc::SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, base).map(|f| f as RawFd)
}

/// Makes descriptor number `to` refer to what `fd` refers to, atomically.
pub fn dup3(fd: RawFd, to: RawFd, flags: c_int) -> SysResult<RawFd> {
    syscall!(libc::SYS_dup3, fd, to, flags).map(|f| f as RawFd)
}

/// Moves a freshly opened shim descriptor up to `base` or above, closing the original.
/// Falls back to the original number when the high range is full.
pub fn move_high(fd: RawFd, base: RawFd) -> RawFd {
    if fd >= base {
        return fd;
    }
    match dup_at_least(fd, base) {
        Ok(high) => {
            close(fd);
            high
        }
        Err(_) => fd,
    }
}

pub fn fcntl(fd: RawFd, cmd: c_int, arg: c_long) -> SysResult<c_long> {
    syscall!(libc::SYS_fcntl, fd, cmd, arg)
}

pub fn ftruncate(fd: RawFd, len: off_t) -> SysResult<()> {
    retry(|| syscall!(libc::SYS_ftruncate, fd, len)).map(drop)
}

pub fn fallocate(fd: RawFd, mode: c_int, off: off_t, len: off_t) -> SysResult<()> {
    retry(|| syscall!(libc::SYS_fallocate, fd, mode, off, len)).map(drop)
}

pub fn fsync(fd: RawFd) -> SysResult<()> {
    retry(|| syscall!(libc::SYS_fsync, fd)).map(drop)
}

pub fn fdatasync(fd: RawFd) -> SysResult<()> {
    retry(|| syscall!(libc::SYS_fdatasync, fd)).map(drop)
}

pub fn sync_file_range(fd: RawFd, off: off_t, n: off_t, flags: libc::c_uint) -> SysResult<()> {
    retry(|| syscall!(libc::SYS_sync_file_range, fd, off, n, flags)).map(drop)
}

pub fn mkdirat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    syscall!(libc::SYS_mkdirat, dirfd, name.as_ptr(), mode).map(drop)
}

/// Creates `dir` and its missing parents with `mode` (errors ignored: the caller's next call
/// on the directory reports what matters).
pub fn mkdir_all(dir: &CStr, mode: libc::mode_t) {
    let bytes = dir.to_bytes();
    let mut buf = [0u8; crate::path::PATH_MAX + 1];
    if bytes.len() >= buf.len() {
        return;
    }
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if b == b'/' {
            buf[..i].copy_from_slice(&bytes[..i]);
            buf[i] = 0;
            if let Ok(p) = CStr::from_bytes_with_nul(&buf[..=i]) {
                let _ = mkdirat(libc::AT_FDCWD, p, mode);
            }
        }
    }
    let _ = mkdirat(libc::AT_FDCWD, dir, mode);
}

pub fn unlinkat(dirfd: RawFd, name: &CStr, flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_unlinkat, dirfd, name.as_ptr(), flags).map(drop)
}

pub fn renameat2(olddir: RawFd, old: &CStr, newdir: RawFd, new: &CStr, flags: libc::c_uint) -> SysResult<()> {
    syscall!(libc::SYS_renameat2, olddir, old.as_ptr(), newdir, new.as_ptr(), flags).map(drop)
}

pub fn linkat(olddir: RawFd, old: &CStr, newdir: RawFd, new: &CStr, flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_linkat, olddir, old.as_ptr(), newdir, new.as_ptr(), flags).map(drop)
}

pub fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> SysResult<()> {
    syscall!(libc::SYS_symlinkat, target.as_ptr(), dirfd, name.as_ptr()).map(drop)
}

pub fn mknodat(dirfd: RawFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    syscall!(libc::SYS_mknodat, dirfd, name.as_ptr(), mode, dev).map(drop)
}

pub fn fchmod(fd: RawFd, mode: libc::mode_t) -> SysResult<()> {
    syscall!(libc::SYS_fchmod, fd, mode).map(drop)
}

pub fn fchmodat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    syscall!(libc::SYS_fchmodat, dirfd, name.as_ptr(), mode).map(drop)
}

/// fchmodat2 (Linux 6.6+), which takes `AT_SYMLINK_NOFOLLOW`; ENOSYS on older kernels.
pub fn fchmodat2(dirfd: RawFd, name: &CStr, mode: libc::mode_t, flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_fchmodat2, dirfd, name.as_ptr(), mode, flags).map(drop)
}

pub fn fchown(fd: RawFd, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    syscall!(libc::SYS_fchown, fd, uid, gid).map(drop)
}

pub fn fchownat(dirfd: RawFd, name: &CStr, uid: libc::uid_t, gid: libc::gid_t, flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_fchownat, dirfd, name.as_ptr(), uid, gid, flags).map(drop)
}

/// utimensat; `name` may be `None` to act on `dirfd` itself.
pub fn utimensat(dirfd: RawFd, name: Option<&CStr>, times: &[libc::timespec; 2], flags: c_int) -> SysResult<()> {
    let p = name.map_or(std::ptr::null(), CStr::as_ptr);
    syscall!(libc::SYS_utimensat, dirfd, p, times.as_ptr(), flags).map(drop)
}

pub fn setxattr(path: &CStr, name: &CStr, value: &[u8], flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_setxattr, path.as_ptr(), name.as_ptr(), value.as_ptr(), value.len(), flags).map(drop)
}

pub fn lsetxattr(path: &CStr, name: &CStr, value: &[u8], flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_lsetxattr, path.as_ptr(), name.as_ptr(), value.as_ptr(), value.len(), flags).map(drop)
}

pub fn fsetxattr(fd: RawFd, name: &CStr, value: &[u8], flags: c_int) -> SysResult<()> {
    syscall!(libc::SYS_fsetxattr, fd, name.as_ptr(), value.as_ptr(), value.len(), flags).map(drop)
}

pub fn removexattr(path: &CStr, name: &CStr) -> SysResult<()> {
    syscall!(libc::SYS_removexattr, path.as_ptr(), name.as_ptr()).map(drop)
}

pub fn lremovexattr(path: &CStr, name: &CStr) -> SysResult<()> {
    syscall!(libc::SYS_lremovexattr, path.as_ptr(), name.as_ptr()).map(drop)
}

pub fn fremovexattr(fd: RawFd, name: &CStr) -> SysResult<()> {
    syscall!(libc::SYS_fremovexattr, fd, name.as_ptr()).map(drop)
}

/// Copies `len` bytes from `src` at `src_off` to `dst` at `dst_off` inside the kernel, falling
/// back to a read/write loop where copy_file_range is refused (cross-device, pipes, old
/// kernels).
pub fn copy_range(src: RawFd, src_off: off_t, dst: RawFd, dst_off: off_t, len: u64) -> SysResult<u64> {
    let mut done: u64 = 0;
    let mut use_cfr = true;
    while done < len {
        let want = (len - done).min(1 << 30) as usize;
        if use_cfr {
            let mut so = src_off + done as off_t;
            let mut dof = dst_off + done as off_t;
            match retry(|| {
                syscall!(libc::SYS_copy_file_range, src, &mut so as *mut off_t, dst, &mut dof as *mut off_t, want, 0)
            }) {
                Ok(0) => break, // end of the source
                Ok(n) => {
                    done += n as u64;
                    continue;
                }
                Err(Errno(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EBADF)) => {
                    use_cfr = false
                }
                Err(e) => return Err(e),
            }
        }
        let mut buf = [0u8; 64 * 1024];
        let chunk = want.min(buf.len());
        let n = pread(src, &mut buf[..chunk], src_off + done as off_t)?;
        if n == 0 {
            break;
        }
        pwrite_all(dst, &buf[..n], dst_off + done as off_t)?;
        done += n as u64;
    }
    Ok(done)
}

/// A readable descriptor for the file behind `fd`: `fd` itself, or a fresh read-only open of
/// `/proc/self/fd/N` when `fd` is write-only. The flag says whether the caller must close it.
pub fn readable(fd: RawFd) -> SysResult<(RawFd, bool)> {
    let fl = fcntl(fd, libc::F_GETFL, 0)? as c_int;
    if fl & libc::O_ACCMODE != libc::O_WRONLY {
        return Ok((fd, false));
    }
    Ok((openat(libc::AT_FDCWD, ProcFd::new(fd).as_cstr(), libc::O_RDONLY, 0)?, true))
}

/// Copies `[off, off + len)` of the file behind `src` (which may be write-only) to `dst`.
pub fn copy_out(src: RawFd, dst: RawFd, off: off_t, len: u64) -> SysResult<u64> {
    let (r, owned) = readable(src)?;
    let res = copy_range(r, off, dst, off, len);
    if owned {
        close(r);
    }
    res
}

/// futex(2) with `op` on a word shared between processes (no FUTEX_PRIVATE_FLAG).
#[inline]
pub fn futex(word: *mut u32, op: c_int, val: u32, timeout: *const libc::timespec) -> SysResult<c_long> {
    syscall!(libc::SYS_futex, word, op, val, timeout)
}

/// CLOCK_MONOTONIC in nanoseconds (through the vDSO).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn flock(fd: RawFd, op: c_int) -> SysResult<()> {
    retry(|| syscall!(libc::SYS_flock, fd, op)).map(drop)
}

pub fn write(fd: RawFd, buf: &[u8]) -> SysResult<usize> {
    syscall!(libc::SYS_write, fd, buf.as_ptr(), buf.len()).map(|n| n as usize)
}

pub fn getcwd(buf: &mut [u8]) -> SysResult<usize> {
    // The raw syscall returns the length including the terminating NUL.
    let n = syscall!(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len())? as usize;
    Ok(n.saturating_sub(1))
}

pub fn getdents64(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    syscall!(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()).map(|n| n as usize)
}

/// The entry names in the bytes one `getdents64` call filled, in order (`.` and `..`
/// included).
pub fn dirent_names(filled: &[u8]) -> impl Iterator<Item = &[u8]> {
    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + 19 >= filled.len() {
            return None;
        }
        let reclen = usize::from(u16::from_ne_bytes([filled[off + 16], filled[off + 17]]));
        let name = filled.get(off + 19..off + reclen.max(19)).unwrap_or(&[]);
        off += reclen.max(1);
        Some(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())])
    })
}

/// `/proc/self/fd/N`: the kernel's name for an open descriptor, built without allocating.
pub struct ProcFd([u8; 32]);

const PROC_SELF_FD: &[u8] = b"/proc/self/fd/";

impl ProcFd {
    pub fn new(fd: RawFd) -> ProcFd {
        let mut buf = [0u8; 32];
        buf[..PROC_SELF_FD.len()].copy_from_slice(PROC_SELF_FD);
        let mut digits = [0u8; 20];
        let d = decimal(u64::from(fd.max(0) as u32), &mut digits);
        buf[PROC_SELF_FD.len()..PROC_SELF_FD.len() + d.len()].copy_from_slice(d);
        ProcFd(buf)
    }

    pub fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.0).unwrap_or(c"/proc/self/fd")
    }

    /// The descriptor a `/proc/self/fd/N` path names (exactly that form), or `None`.
    pub fn parse(path: &[u8]) -> Option<RawFd> {
        parse_fd_number(path.strip_prefix(PROC_SELF_FD)?)
    }
}

/// The decimal digits of `n`, written into `buf` without allocating (for `/proc` paths and journal records).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A descriptor number written in decimal, as in a `/proc/self/fd` entry's name.
pub fn parse_fd_number(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(name.iter().fold(0, |acc, &b| acc * 10 + RawFd::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_agrees_with_stat() {
        let st = fstatat(libc::AT_FDCWD, c"/", 0).unwrap();
        let id = identity_at(libc::AT_FDCWD, c"/", 0).unwrap();
        assert_eq!((id.dev, id.ino), (st.st_dev, st.st_ino));
        let dir = openat(libc::AT_FDCWD, c"/proc", libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let proc_id = identity_at(dir, c"", libc::AT_EMPTY_PATH).unwrap();
        close(dir);
        assert_ne!(proc_id.dev, id.dev, "/proc is another file system");
        if let (Some(a), Some(b)) = (id.mnt, proc_id.mnt) {
            assert_ne!(a, b);
        }
    }

    #[test]
    fn proc_fd_paths_are_built_and_parsed() {
        assert_eq!(ProcFd::new(15003).as_cstr(), c"/proc/self/fd/15003");
        assert_eq!(ProcFd::new(0).as_cstr(), c"/proc/self/fd/0");
        assert_eq!(ProcFd::parse(b"/proc/self/fd/42"), Some(42));
        assert_eq!(ProcFd::parse(b"/proc/self/fd/"), None);
        assert_eq!(ProcFd::parse(b"/proc/self/fd/4x"), None);
        assert_eq!(ProcFd::parse(b"/proc/self/fd/1234567890"), None);
        assert_eq!(ProcFd::parse(b"/dev/fd/3"), None);
        assert_eq!(parse_fd_number(b"007"), Some(7));
    }

    #[test]
    fn dirent_names_lists_a_directory() {
        let dir = std::env::temp_dir().join(format!("mfs-dirents-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["a", "bb", "a long name with spaces"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        let fd = openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        let mut buf = [0u8; 4096];
        let mut names = Vec::new();
        loop {
            match getdents64(fd, &mut buf).unwrap() {
                0 => break,
                n => names.extend(dirent_names(&buf[..n]).map(<[u8]>::to_vec)),
            }
        }
        close(fd);
        names.sort();
        let want: Vec<&[u8]> = vec![b".", b"..", b"a", b"a long name with spaces", b"bb"];
        assert_eq!(names, want);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
