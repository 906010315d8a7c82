//! The real libc functions behind every hook.
//!
//! One declarative table: each line names a libc function and its C signature, and generates a
//! lazily resolved slot (`dlsym(RTLD_NEXT, name)` on first use, then one relaxed load) and a
//! typed `real::name(..)` caller. A symbol libc does not have makes the caller fail with
//! ENOSYS instead of crashing. dlsym is safe to call from a hook here: the shim intercepts no
//! allocator or loader function, so resolving cannot re-enter itself.

#![allow(non_upper_case_globals, non_snake_case, clippy::missing_safety_doc)]

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    c_char, c_int, c_long, c_uint, c_ulong, c_void, dev_t, gid_t, iovec, mode_t, off64_t, off_t, size_t, ssize_t,
    uid_t, FILE,
};

/// One lazily resolved libc symbol.
pub struct Sym {
    name: &'static CStr,
    addr: AtomicUsize,
}

/// Marks a symbol that dlsym could not find, so it is not looked up again.
const MISSING: usize = 1;

impl Sym {
    pub const fn new(name: &'static CStr) -> Sym {
        Sym { name, addr: AtomicUsize::new(0) }
    }

    /// The function's address, or 0 when libc has no such symbol.
    #[inline(always)]
    pub fn addr(&self) -> usize {
        match self.addr.load(Ordering::Relaxed) {
            0 => self.resolve(),
            MISSING => 0,
            a => a,
        }
    }

    #[cold]
    fn resolve(&self) -> usize {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds the definition after this
        // library, i.e. libc's.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.addr.store(if p == 0 { MISSING } else { p }, Ordering::Relaxed);
        p
    }

    pub fn name(&self) -> &'static CStr {
        self.name
    }
}

/// What a call returns when its real function is missing: -1 or null, with errno ENOSYS.
pub trait Missing {
    fn missing() -> Self;
}

macro_rules! missing_minus_one {
    ($($t:ty),*) => {$(
        impl Missing for $t {
            fn missing() -> Self {
                mfs_core::sys::set_errno(libc::ENOSYS);
                -1
            }
        }
    )*};
}
missing_minus_one!(i32, i64, isize);

impl<T> Missing for *mut T {
    fn missing() -> Self {
        mfs_core::sys::set_errno(libc::ENOSYS);
        std::ptr::null_mut()
    }
}

impl Missing for usize {
    fn missing() -> Self {
        mfs_core::sys::set_errno(libc::ENOSYS);
        0
    }
}

impl Missing for () {
    fn missing() {}
}

macro_rules! real_fns {
    ($( fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty; )*) => {
        mod slots {
            $( pub static $name: super::Sym = super::Sym::new(
                // SAFETY: the literal ends in exactly one NUL.
                unsafe { std::ffi::CStr::from_bytes_with_nul_unchecked(concat!(stringify!($name), "\0").as_bytes()) }
            ); )*
        }


        $(
            /// Calls the real libc function of this name.
            #[inline(always)]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                let a = slots::$name.addr();
                if a == 0 {
                    return <$ret as Missing>::missing();
                }
                // SAFETY: the address came from dlsym for a symbol with exactly this C
                // signature (declared in the table above).
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(a) };
                unsafe { f($($arg),*) }
            }
        )*
    };
}

real_fns! {
    fn __open_2(path: *const c_char, flags: c_int) -> c_int;
    fn __open64_2(path: *const c_char, flags: c_int) -> c_int;
    fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn creat(path: *const c_char, mode: mode_t) -> c_int;
    fn creat64(path: *const c_char, mode: mode_t) -> c_int;
    fn mkstemp(tmpl: *mut c_char) -> c_int;
    fn mkstemp64(tmpl: *mut c_char) -> c_int;
    fn mkostemp(tmpl: *mut c_char, flags: c_int) -> c_int;
    fn mkostemp64(tmpl: *mut c_char, flags: c_int) -> c_int;
    fn mkstemps(tmpl: *mut c_char, suffixlen: c_int) -> c_int;
    fn mkstemps64(tmpl: *mut c_char, suffixlen: c_int) -> c_int;
    fn mkostemps(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int;
    fn mkostemps64(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int;
    fn mkdtemp(tmpl: *mut c_char) -> *mut c_char;
    fn tmpfile() -> *mut FILE;
    fn tmpfile64() -> *mut FILE;

    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
    fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off64_t) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn pwritev(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t;
    fn pwritev64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t;
    fn pwritev2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t;
    fn pwritev64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t;
    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
    fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off64_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn preadv(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t;
    fn preadv64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t;
    fn preadv2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t;
    fn preadv64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t;
    fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t;
    fn lseek64(fd: c_int, off: off64_t, whence: c_int) -> off64_t;
    fn __lseek(fd: c_int, off: off_t, whence: c_int) -> off_t;
    fn llseek(fd: c_int, off: off64_t, whence: c_int) -> off64_t;
    fn ftruncate(fd: c_int, len: off_t) -> c_int;
    fn ftruncate64(fd: c_int, len: off64_t) -> c_int;
    fn truncate(path: *const c_char, len: off_t) -> c_int;
    fn truncate64(path: *const c_char, len: off64_t) -> c_int;
    fn fallocate(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int;
    fn fallocate64(fd: c_int, mode: c_int, off: off64_t, len: off64_t) -> c_int;
    fn posix_fallocate(fd: c_int, off: off_t, len: off_t) -> c_int;
    fn posix_fallocate64(fd: c_int, off: off64_t, len: off64_t) -> c_int;
    fn fsync(fd: c_int) -> c_int;
    fn fdatasync(fd: c_int) -> c_int;
    fn sync_file_range(fd: c_int, off: off64_t, n: off64_t, flags: c_uint) -> c_int;
    fn aio_write(cb: *mut libc::aiocb) -> c_int;
    fn aio_write64(cb: *mut libc::aiocb) -> c_int;
    fn lio_listio(mode: c_int, list: *const *mut libc::aiocb, n: c_int, sev: *mut libc::sigevent) -> c_int;
    fn lio_listio64(mode: c_int, list: *const *mut libc::aiocb, n: c_int, sev: *mut libc::sigevent) -> c_int;
    fn copy_file_range(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t;
    fn sendfile(out_fd: c_int, in_fd: c_int, off: *mut off_t, count: size_t) -> ssize_t;
    fn sendfile64(out_fd: c_int, in_fd: c_int, off: *mut off64_t, count: size_t) -> ssize_t;
    fn splice(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t;

    fn close(fd: c_int) -> c_int;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    fn closefrom(lowfd: c_int) -> ();
    fn dup(fd: c_int) -> c_int;
    fn dup2(fd: c_int, newfd: c_int) -> c_int;
    fn dup3(fd: c_int, newfd: c_int, flags: c_int) -> c_int;
    fn fork() -> libc::pid_t;
    fn _Fork() -> libc::pid_t;
    fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, actions: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, actions: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn system(cmd: *const c_char) -> c_int;
    fn popen(cmd: *const c_char, mode: *const c_char) -> *mut FILE;

    fn mkdir(path: *const c_char, mode: mode_t) -> c_int;
    fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    fn rmdir(path: *const c_char) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn remove(path: *const c_char) -> c_int;
    fn rename(old: *const c_char, new: *const c_char) -> c_int;
    fn renameat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char) -> c_int;
    fn renameat2(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_uint) -> c_int;
    fn link(old: *const c_char, new: *const c_char) -> c_int;
    fn linkat(olddir: c_int, old: *const c_char, newdir: c_int, new: *const c_char, flags: c_int) -> c_int;
    fn symlink(target: *const c_char, path: *const c_char) -> c_int;
    fn symlinkat(target: *const c_char, dirfd: c_int, path: *const c_char) -> c_int;
    fn mknod(path: *const c_char, mode: mode_t, dev: dev_t) -> c_int;
    fn mknodat(dirfd: c_int, path: *const c_char, mode: mode_t, dev: dev_t) -> c_int;
    fn mkfifo(path: *const c_char, mode: mode_t) -> c_int;
    fn mkfifoat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    fn chdir(path: *const c_char) -> c_int;
    fn fchdir(fd: c_int) -> c_int;

    fn chmod(path: *const c_char, mode: mode_t) -> c_int;
    fn fchmod(fd: c_int, mode: mode_t) -> c_int;
    fn fchmodat(dirfd: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int;
    fn lchmod(path: *const c_char, mode: mode_t) -> c_int;
    fn chown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int;
    fn fchown(fd: c_int, uid: uid_t, gid: gid_t) -> c_int;
    fn lchown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int;
    fn fchownat(dirfd: c_int, path: *const c_char, uid: uid_t, gid: gid_t, flags: c_int) -> c_int;
    fn utime(path: *const c_char, times: *const libc::utimbuf) -> c_int;
    fn utimes(path: *const c_char, times: *const libc::timeval) -> c_int;
    fn lutimes(path: *const c_char, times: *const libc::timeval) -> c_int;
    fn futimes(fd: c_int, times: *const libc::timeval) -> c_int;
    fn futimesat(dirfd: c_int, path: *const c_char, times: *const libc::timeval) -> c_int;
    fn utimensat(dirfd: c_int, path: *const c_char, times: *const libc::timespec, flags: c_int) -> c_int;
    fn futimens(fd: c_int, times: *const libc::timespec) -> c_int;
    fn setxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    fn lsetxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    fn fsetxattr(fd: c_int, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    fn removexattr(path: *const c_char, name: *const c_char) -> c_int;
    fn lremovexattr(path: *const c_char, name: *const c_char) -> c_int;
    fn fremovexattr(fd: c_int, name: *const c_char) -> c_int;

    fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE;
    fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE;
    fn freopen(path: *const c_char, mode: *const c_char, f: *mut FILE) -> *mut FILE;
    fn freopen64(path: *const c_char, mode: *const c_char, f: *mut FILE) -> *mut FILE;
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE;
    fn fileno(f: *mut FILE) -> c_int;
    fn fwrite(p: *const c_void, size: size_t, n: size_t, f: *mut FILE) -> size_t;
    fn fwrite_unlocked(p: *const c_void, size: size_t, n: size_t, f: *mut FILE) -> size_t;
    fn fputs(s: *const c_char, f: *mut FILE) -> c_int;
    fn fputs_unlocked(s: *const c_char, f: *mut FILE) -> c_int;
    fn fputc(c: c_int, f: *mut FILE) -> c_int;
    fn fputc_unlocked(c: c_int, f: *mut FILE) -> c_int;
    fn putc(c: c_int, f: *mut FILE) -> c_int;
    fn putc_unlocked(c: c_int, f: *mut FILE) -> c_int;
    fn putchar(c: c_int) -> c_int;
    fn putchar_unlocked(c: c_int) -> c_int;
    fn puts(s: *const c_char) -> c_int;
    fn __overflow(f: *mut FILE, c: c_int) -> c_int;
    fn vfprintf(f: *mut FILE, fmt: *const c_char, ap: *mut c_void) -> c_int;
    fn __vfprintf_chk(f: *mut FILE, flag: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int;
    fn vdprintf(fd: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int;
    fn __vdprintf_chk(fd: c_int, flag: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int;
    fn fflush(f: *mut FILE) -> c_int;
    fn fflush_unlocked(f: *mut FILE) -> c_int;
    fn fseek(f: *mut FILE, off: c_long, whence: c_int) -> c_int;
    fn fseeko(f: *mut FILE, off: off_t, whence: c_int) -> c_int;
    fn fseeko64(f: *mut FILE, off: off64_t, whence: c_int) -> c_int;
    fn fsetpos(f: *mut FILE, pos: *const libc::fpos_t) -> c_int;
    fn fsetpos64(f: *mut FILE, pos: *const libc::fpos64_t) -> c_int;
    fn rewind(f: *mut FILE) -> ();
    fn fclose(f: *mut FILE) -> c_int;
    fn fcloseall() -> c_int;
    fn closedir(d: *mut libc::DIR) -> c_int;

    fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void;
    fn mmap64(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off64_t) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: size_t) -> c_int;
    fn msync(addr: *mut c_void, len: size_t, flags: c_int) -> c_int;

    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
}

/// The real variadic functions, called with their full argument lists.
pub mod variadic {
    use super::*;

    static open: Sym = Sym::new(c"open");
    static open64: Sym = Sym::new(c"open64");
    static openat: Sym = Sym::new(c"openat");
    static openat64: Sym = Sym::new(c"openat64");
    static fcntl: Sym = Sym::new(c"fcntl");
    static fcntl64: Sym = Sym::new(c"fcntl64");
    static ioctl: Sym = Sym::new(c"ioctl");
    static mremap: Sym = Sym::new(c"mremap");
    static syscall: Sym = Sym::new(c"syscall");

    type OpenFn = unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
    type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
    type FcntlFn = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    type IoctlFn = unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int;
    type MremapFn = unsafe extern "C" fn(*mut c_void, size_t, size_t, c_int, ...) -> *mut c_void;
    type SyscallFn = unsafe extern "C" fn(c_long, ...) -> c_long;

    /// Which alias of open a hook was entered through (all share one libc address).
    #[derive(Clone, Copy)]
    pub enum OpenAlias {
        Open,
        Open64,
    }

    #[inline(always)]
    pub unsafe fn call_open(alias: OpenAlias, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
        // SAFETY: the program's arguments, passed on.
        if let Some(r) = unsafe { super::direct::openat(libc::AT_FDCWD, path, flags, mode) } {
            return r;
        }
        let sym = match alias {
            OpenAlias::Open => &open,
            OpenAlias::Open64 => &open64,
        };
        let a = sym.addr();
        if a == 0 {
            return c_int::missing();
        }
        // SAFETY: dlsym result for open/open64, whose C type is OpenFn.
        let f: OpenFn = unsafe { std::mem::transmute(a) };
        unsafe { f(path, flags, mode as c_uint) }
    }

    #[inline(always)]
    pub unsafe fn call_openat(
        alias: OpenAlias,
        dirfd: c_int,
        path: *const c_char,
        flags: c_int,
        mode: mode_t,
    ) -> c_int {
        // SAFETY: the program's arguments, passed on.
        if let Some(r) = unsafe { super::direct::openat(dirfd, path, flags, mode) } {
            return r;
        }
        let sym = match alias {
            OpenAlias::Open => &openat,
            OpenAlias::Open64 => &openat64,
        };
        let a = sym.addr();
        if a == 0 {
            return c_int::missing();
        }
        // SAFETY: dlsym result for openat/openat64, whose C type is OpenatFn.
        let f: OpenatFn = unsafe { std::mem::transmute(a) };
        unsafe { f(dirfd, path, flags, mode as c_uint) }
    }

    pub unsafe fn call_fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
        let a = match fcntl64.addr() {
            0 => fcntl.addr(),
            a => a,
        };
        if a == 0 {
            return c_int::missing();
        }
        // SAFETY: dlsym result for fcntl64/fcntl, whose C type is FcntlFn.
        let f: FcntlFn = unsafe { std::mem::transmute(a) };
        unsafe { f(fd, cmd, arg) }
    }

    pub unsafe fn call_ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
        let a = ioctl.addr();
        if a == 0 {
            return c_int::missing();
        }
        // SAFETY: dlsym result for ioctl, whose C type is IoctlFn.
        let f: IoctlFn = unsafe { std::mem::transmute(a) };
        unsafe { f(fd, req, arg) }
    }

    /// libc's `syscall(nr, a0..a5)`.
    pub unsafe fn call_syscall(nr: c_long, a: [c_long; 6]) -> c_long {
        let s = syscall.addr();
        if s == 0 {
            return c_long::missing();
        }
        // SAFETY: dlsym result for syscall, whose C type is SyscallFn; six arguments, as
        // libc's own syscall always reads.
        let f: SyscallFn = unsafe { std::mem::transmute(s) };
        unsafe { f(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
    }

    pub unsafe fn call_mremap(
        old: *mut c_void,
        old_size: size_t,
        new_size: size_t,
        flags: c_int,
        new_addr: *mut c_void,
    ) -> *mut c_void {
        let a = mremap.addr();
        if a == 0 {
            return <*mut c_void>::missing();
        }
        // SAFETY: dlsym result for mremap, whose C type is MremapFn.
        let f: MremapFn = unsafe { std::mem::transmute(a) };
        unsafe { f(old, old_size, new_size, flags, new_addr) }
    }
}

/// Plain system calls in place of libc's open, openat, close and write wrappers.
///
/// glibc's wrappers for these calls make the plain system call while the process has a single
/// thread (`__libc_single_threaded`), and handle thread cancellation otherwise. While that flag
/// is set, and when libc's own wrappers are what the shim would call (no library after the
/// shim interposes on them), making the system call here is the same call, one function call
/// shorter; in every other case the hooks call libc.
pub mod direct {
    use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

    use libc::{c_char, c_int, c_long, c_void, mode_t, size_t, ssize_t};

    use mfs_core::sys;

    /// `__libc_single_threaded` when the conditions above hold, else null.
    static SINGLE: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());

    /// Checks the conditions once (at initialisation; dlopen and dlsym may allocate).
    pub fn probe() {
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return;
        }
        // SAFETY: dlopen of an already loaded library with RTLD_NOLOAD, then dlsym with
        // NUL-terminated names; the handle is never closed (it only pins a library that
        // stays loaded anyway).
        unsafe {
            let libc_handle = libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
            if libc_handle.is_null() {
                return;
            }
            for name in [c"open", c"open64", c"openat", c"openat64", c"close", c"write"] {
                let next = libc::dlsym(libc::RTLD_NEXT, name.as_ptr());
                if next.is_null() || next != libc::dlsym(libc_handle, name.as_ptr()) {
                    return;
                }
            }
            let flag = libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr());
            SINGLE.store(flag.cast(), Ordering::Release);
        }
    }

    /// True when the next open, openat, close or write can be made directly.
    #[inline(always)]
    fn usable() -> bool {
        let p = SINGLE.load(Ordering::Relaxed);
        // SAFETY: a pointer to libc's `char __libc_single_threaded`, which lives as long as
        // the process; read as an atomic byte.
        !p.is_null() && unsafe { (*p).load(Ordering::Relaxed) } != 0
    }

    /// openat(2), or `None` when libc must make the call.
    ///
    /// # Safety
    /// `path` is passed to the kernel as is: the contract of openat(2).
    #[inline(always)]
    pub unsafe fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> Option<c_int> {
        if !usable() {
            return None;
        }
        // SAFETY: the arguments of openat(2), as the program passed them.
        let r = unsafe {
            sys::raw(libc::SYS_openat, [dirfd as c_long, path as c_long, flags as c_long, mode as c_long, 0, 0])
        };
        Some(result(r) as c_int)
    }

    /// close(2), or `None` when libc must make the call.
    #[inline(always)]
    pub fn close(fd: c_int) -> Option<c_int> {
        if !usable() {
            return None;
        }
        // SAFETY: close(2) takes a number; closing the program's own fd is the program's call.
        Some(result(unsafe { sys::raw(libc::SYS_close, [fd as c_long, 0, 0, 0, 0, 0]) }) as c_int)
    }

    /// write(2), or `None` when libc must make the call.
    ///
    /// # Safety
    /// `buf` and `n` are passed to the kernel as they are: the contract of write(2).
    #[inline(always)]
    pub unsafe fn write(fd: c_int, buf: *const c_void, n: size_t) -> Option<ssize_t> {
        if !usable() {
            return None;
        }
        // SAFETY: the arguments of write(2), as the program passed them.
        let r = unsafe { sys::raw(libc::SYS_write, [fd as c_long, buf as c_long, n as c_long, 0, 0, 0]) };
        Some(result(r) as ssize_t)
    }

    /// The C convention: -1 with errno for the kernel's -errno.
    #[inline(always)]
    fn result(r: c_long) -> c_long {
        match sys::check(r) {
            Ok(v) => v,
            Err(sys::Errno(e)) => {
                sys::set_errno(e);
                -1
            }
        }
    }
}
