//! `syscall(2)`: system calls made by number through libc's `syscall` (stress-ng's wrappers,
//! openat2 in programs whose libc has no wrapper for it, ...). A call that changes files, or
//! that moves a descriptor's offset, goes to the hook of its libc wrapper, with the same
//! result and errno the wrapper gives. `openat2` is made as asked and its descriptor then
//! classified like an openat's. `io_submit` (Linux AIO) is made and its writes mirrored.
//! `io_uring_setup` fails with ENOSYS while mirroring is active: the shim cannot follow what a
//! ring submits, and programs take their ordinary path when the kernel has no io_uring. Every
//! other number passes through unchanged.
//!
//! A system call made without libc (a `syscall` instruction of the program's own, as in
//! static and Go binaries or liburing's raw wrappers) is not seen at all; see the README's
//! limitations.

use libc::{c_char, c_int, c_long, c_uint, c_ulong, c_void, iovec, mode_t, off64_t, size_t};

use super::{aio, fd, hooks, io, meta, mmap, namespace, open, trampolines};
use crate::life;
use crate::real;

/// `struct open_how` of openat2.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The system call `nr` with arguments `a`, through the hook of its wrapper where it has one.
///
/// # Safety
/// The arguments must satisfy the system call's contract, as for `syscall(2)` itself.
unsafe fn dispatch(nr: c_long, a: [c_long; 6]) -> Option<c_long> {
    let i = |k: usize| a[k] as c_int;
    let p = |k: usize| a[k] as *const c_char;
    let v = |k: usize| a[k] as *mut c_void;
    // SAFETY: each hook gets the arguments the program passed for its system call, with the
    // C types of the wrapper, whose contract is the system call's.
    let r: c_long = unsafe {
        match nr {
            libc::SYS_write => io::write(i(0), v(1), a[2] as size_t) as c_long,
            libc::SYS_pwrite64 => io::pwrite64(i(0), v(1), a[2] as size_t, a[3] as off64_t) as c_long,
            libc::SYS_writev => io::writev(i(0), a[1] as *const iovec, i(2)) as c_long,
            libc::SYS_pwritev => io::pwritev64(i(0), a[1] as *const iovec, i(2), a[3] as off64_t) as c_long,
            libc::SYS_pwritev2 => io::pwritev64v2(i(0), a[1] as *const iovec, i(2), a[3] as off64_t, i(5)) as c_long,
            libc::SYS_read => io::read(i(0), v(1), a[2] as size_t) as c_long,
            libc::SYS_readv => io::readv(i(0), a[1] as *const iovec, i(2)) as c_long,
            libc::SYS_preadv2 => io::preadv64v2(i(0), a[1] as *const iovec, i(2), a[3] as off64_t, i(5)) as c_long,
            libc::SYS_lseek => io::lseek64(i(0), a[1] as off64_t, i(2)) as c_long,
            libc::SYS_ftruncate => io::ftruncate64(i(0), a[1] as off64_t) as c_long,
            libc::SYS_fallocate => io::fallocate64(i(0), i(1), a[2] as off64_t, a[3] as off64_t) as c_long,
            libc::SYS_fsync => io::fsync(i(0)) as c_long,
            libc::SYS_fdatasync => io::fdatasync(i(0)) as c_long,
            libc::SYS_sync_file_range => {
                io::sync_file_range(i(0), a[1] as off64_t, a[2] as off64_t, a[3] as c_uint) as c_long
            }
            libc::SYS_copy_file_range => io::copy_file_range(
                i(0),
                a[1] as *mut off64_t,
                i(2),
                a[3] as *mut off64_t,
                a[4] as size_t,
                a[5] as c_uint,
            ) as c_long,
            libc::SYS_sendfile => io::sendfile64(i(0), i(1), a[2] as *mut off64_t, a[3] as size_t) as c_long,
            libc::SYS_splice => {
                io::splice(i(0), a[1] as *mut off64_t, i(2), a[3] as *mut off64_t, a[4] as size_t, a[5] as c_uint)
                    as c_long
            }
            libc::SYS_open => open::open(p(0), i(1), a[2] as mode_t) as c_long,
            libc::SYS_openat => open::openat(i(0), p(1), i(2), a[3] as mode_t) as c_long,
            libc::SYS_creat => open::creat(p(0), a[1] as mode_t) as c_long,
            libc::SYS_openat2 => openat2(i(0), p(1), a[2] as *const OpenHow, a[3] as size_t, a),
            libc::SYS_close => fd::close(i(0)) as c_long,
            libc::SYS_close_range => fd::close_range(a[0] as c_uint, a[1] as c_uint, i(2)) as c_long,
            libc::SYS_dup => fd::dup(i(0)) as c_long,
            libc::SYS_dup2 => fd::dup2(i(0), i(1)) as c_long,
            libc::SYS_dup3 => fd::dup3(i(0), i(1), i(2)) as c_long,
            libc::SYS_fcntl => fd::mfs_rs_fcntl(i(0), i(1), a[2] as c_ulong) as c_long,
            libc::SYS_unlink => namespace::unlink(p(0)) as c_long,
            libc::SYS_unlinkat => namespace::unlinkat(i(0), p(1), i(2)) as c_long,
            libc::SYS_rmdir => namespace::rmdir(p(0)) as c_long,
            libc::SYS_mkdir => namespace::mkdir(p(0), a[1] as mode_t) as c_long,
            libc::SYS_mkdirat => namespace::mkdirat(i(0), p(1), a[2] as mode_t) as c_long,
            libc::SYS_rename => namespace::rename(p(0), p(1)) as c_long,
            libc::SYS_renameat => namespace::renameat(i(0), p(1), i(2), p(3)) as c_long,
            libc::SYS_renameat2 => namespace::renameat2(i(0), p(1), i(2), p(3), a[4] as c_uint) as c_long,
            libc::SYS_link => namespace::link(p(0), p(1)) as c_long,
            libc::SYS_linkat => namespace::linkat(i(0), p(1), i(2), p(3), i(4)) as c_long,
            libc::SYS_symlink => namespace::symlink(p(0), p(1)) as c_long,
            libc::SYS_symlinkat => namespace::symlinkat(p(0), i(1), p(2)) as c_long,
            libc::SYS_mknod => namespace::mknod(p(0), a[1] as mode_t, a[2] as libc::dev_t) as c_long,
            libc::SYS_mknodat => namespace::mknodat(i(0), p(1), a[2] as mode_t, a[3] as libc::dev_t) as c_long,
            libc::SYS_truncate => namespace::truncate(p(0), a[1] as libc::off_t) as c_long,
            libc::SYS_chmod => meta::chmod(p(0), a[1] as mode_t) as c_long,
            libc::SYS_fchmod => meta::fchmod(i(0), a[1] as mode_t) as c_long,
            libc::SYS_fchmodat => meta::fchmodat(i(0), p(1), a[2] as mode_t, 0) as c_long,
            libc::SYS_chown => meta::chown(p(0), a[1] as libc::uid_t, a[2] as libc::gid_t) as c_long,
            libc::SYS_fchown => meta::fchown(i(0), a[1] as libc::uid_t, a[2] as libc::gid_t) as c_long,
            libc::SYS_lchown => meta::lchown(p(0), a[1] as libc::uid_t, a[2] as libc::gid_t) as c_long,
            libc::SYS_fchownat => meta::fchownat(i(0), p(1), a[2] as libc::uid_t, a[3] as libc::gid_t, i(4)) as c_long,
            libc::SYS_utimensat => meta::utimensat(i(0), p(1), a[2] as *const libc::timespec, i(3)) as c_long,
            libc::SYS_utimes => meta::utimes(p(0), a[1] as *const libc::timeval) as c_long,
            libc::SYS_futimesat => meta::futimesat(i(0), p(1), a[2] as *const libc::timeval) as c_long,
            libc::SYS_setxattr => meta::setxattr(p(0), p(1), v(2), a[3] as size_t, i(4)) as c_long,
            libc::SYS_lsetxattr => meta::lsetxattr(p(0), p(1), v(2), a[3] as size_t, i(4)) as c_long,
            libc::SYS_fsetxattr => meta::fsetxattr(i(0), p(1), v(2), a[3] as size_t, i(4)) as c_long,
            libc::SYS_removexattr => meta::removexattr(p(0), p(1)) as c_long,
            libc::SYS_lremovexattr => meta::lremovexattr(p(0), p(1)) as c_long,
            libc::SYS_fremovexattr => meta::fremovexattr(i(0), p(1)) as c_long,
            libc::SYS_munmap => mmap::munmap(v(0), a[1] as size_t) as c_long,
            libc::SYS_msync => mmap::msync(v(0), a[1] as size_t, i(2)) as c_long,
            libc::SYS_io_submit => {
                let r = real::variadic::call_syscall(nr, a);
                aio::io_submitted(a[2] as *const *const aio::LinuxIocb, r);
                r
            }
            libc::SYS_io_uring_setup if life::get().is_some() => {
                mfs_core::sys::set_errno(libc::ENOSYS);
                -1
            }
            _ => return None,
        }
    };
    Some(r)
}

/// openat2, then the new descriptor classified as an openat with the same flags would be.
///
/// # Safety
/// As for [`dispatch`].
unsafe fn openat2(dirfd: c_int, path: *const c_char, how: *const OpenHow, size: size_t, a: [c_long; 6]) -> c_long {
    // SAFETY: the program's arguments, passed on.
    let r = unsafe { real::variadic::call_syscall(libc::SYS_openat2, a) };
    if r < 0 || how.is_null() || size < std::mem::size_of::<OpenHow>() {
        return r;
    }
    // SAFETY: the kernel just read a whole open_how from `how`.
    let how = unsafe { &*how };
    let fd = r as c_int;
    // SAFETY: the call succeeded, so `path` is a C string.
    unsafe { open::open_like(dirfd, path, how.flags as c_int, how.mode as mode_t, || fd) as c_long }
}

hooks! {
    fn mfs_rs_syscall(nr: c_long, a0: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long) -> c_long {
        let a = [a0, a1, a2, a3, a4, a5];
        match unsafe { dispatch(nr, a) } {
            Some(r) => r,
            None => unsafe { real::variadic::call_syscall(nr, a) },
        }
    }
}

trampolines! {
    syscall => mfs_c_syscall;
}
