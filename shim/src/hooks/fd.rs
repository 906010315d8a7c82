//! Descriptor management: close, close_range, closefrom, dup, dup2, dup3, fcntl; fork, vfork
//! and the spawning calls; the current directory (chdir, fchdir).
//!
//! Twin and other shim descriptors are invisible to the program: closing one of their numbers
//! fails with EBADF as if nothing were open there, dup2/dup3 onto one moves the shim's
//! descriptor away first, and close_range/closefrom close around them.

use std::os::fd::RawFd;

use libc::{c_char, c_int, c_uint, c_ulong};

use mfs_core::sys::{self, ErrnoGuard};

use super::{hooks, trampolines};
use crate::fanout;
use crate::fdtable::{self, flag, Entry, FdKind};
use crate::life;
use crate::lockstep;
use crate::owner::owns_memory;
use crate::real;

/// Forgets a mirrored fd and closes its twins (after the program's fd is gone).
fn forget(fd: RawFd, e: &Entry) {
    if let (true, Some(st)) = (owns_memory(), life::get()) {
        fanout::forget(st, fd, e);
    } else if owns_memory() {
        fdtable::set_kind(fd, FdKind::Empty);
    }
}

/// Before the program's descriptor `fd` goes away: bring stdio- and mmap-written data level.
fn before_close(fd: RawFd, e: &Entry) {
    // Descriptors 0 to 2 carry libc's own output (error(), perror()) written where no hook
    // sees it, like every stdio-written descriptor: level them before they go.
    if e.has(flag::STDIO) || fd <= 2 {
        crate::streams::sync_fd(fd);
    }
    if e.has(flag::WRITABLE) {
        crate::mappings::sync_file(e.key);
    }
}

/// Gives `newfd` the same mirroring as `oldfd` (after a successful dup of oldfd onto newfd).
fn inherit(oldfd: RawFd, newfd: RawFd) {
    let k = fdtable::kind_of(oldfd);
    if k != FdKind::Mirrored {
        if owns_memory() {
            fdtable::set_kind(newfd, if k.is_plain() { k } else { FdKind::Empty });
        }
        return;
    }
    let (Some(e), Some(st)) = (fdtable::get(oldfd), life::get()) else { return };
    if !owns_memory() {
        return;
    }
    let mut copy = e;
    if e.has(flag::LOCKSTEP) && !(lockstep::allowed_on(oldfd) && lockstep::allowed_on(newfd)) {
        // Onto 0 to 2, where libc writes without a hook: the description's offset can move
        // without the twins' from now on.
        copy.flags &= !flag::LOCKSTEP;
        lockstep::end_for_file(e.key);
    }
    for t in copy.twins.iter_mut().filter(|t| **t >= 0) {
        *t = match sys::dup_at_least(*t, st.fd_base) {
            Ok(d) => d,
            Err(_) => {
                copy.flags &= !flag::LOCKSTEP;
                fdtable::LOST_TWIN
            }
        };
    }
    crate::intents::share(copy.intent);
    fanout::record(newfd, copy);
}

/// The program is about to reuse number `fd` (dup2/dup3 target): move a shim descriptor off
/// it, or forget the mirrored fd that the implicit close will end.
fn clear_target(fd: RawFd) {
    if !fdtable::kind_of(fd).is_shims() || !owns_memory() {
        return;
    }
    let Some(st) = life::get() else { return };
    match fdtable::twin_owner(fd) {
        Some(owner) => {
            if let (Some(e), Ok(new)) = (fdtable::get(owner), sys::dup_at_least(fd, st.fd_base)) {
                if let Some(copy) = e.twins.iter().position(|&t| t == fd) {
                    fdtable::set_twin_of(owner, copy, new);
                    fdtable::set_twin(new, owner);
                    fdtable::set_kind(fd, FdKind::Empty);
                    sys::close(fd);
                } else {
                    sys::close(new);
                }
            }
        }
        None => st.relocate_private(fd),
    }
}

fn dup2_like(oldfd: c_int, newfd: c_int, real: impl FnOnce() -> c_int) -> c_int {
    if fdtable::covers(newfd) {
        let k = fdtable::kind_of(newfd);
        if fdtable::kind_of(oldfd).is_shims() {
            sys::set_errno(libc::EBADF);
            return -1;
        }
        if oldfd == newfd {
            return real();
        }
        clear_target(newfd);
        let prior = if k == FdKind::Mirrored { fdtable::get(newfd) } else { None };
        if let Some(e) = &prior {
            before_close(newfd, e);
        }
        let r = real();
        if r < 0 {
            return r;
        }
        let _errno = ErrnoGuard::save();
        if let Some(e) = prior {
            forget(newfd, &e);
        }
        inherit(oldfd, r);
        r
    } else {
        real()
    }
}

/// `close` of a mirrored descriptor or one of the shim's own.
#[inline(never)]
fn close_tracked(fd: RawFd, k: FdKind) -> c_int {
    if k != FdKind::Mirrored {
        // Not the program's descriptor: as far as it can tell, nothing is open here.
        sys::set_errno(libc::EBADF);
        return -1;
    }
    if let Some(e) = fdtable::get(fd) {
        before_close(fd, &e);
        // Forgotten while the number is still ours: once the real close frees it, another
        // thread's open may get it and record its own file there.
        let _errno = ErrnoGuard::save();
        forget(fd, &e);
    }
    unsafe { real::close(fd) }
}

/// Closes [first, last] around the shim's descriptors, forgetting mirrored ones.
fn close_range_around(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let cap = fdtable::capacity() as u64;
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int != 0 || !owns_memory() || cap == 0 {
        // Marking close-on-exec changes nothing for the shim (its descriptors already are),
        // and a vfork child's closes are its own: the parent's table is untouched.
        return unsafe { real::close_range(first, last, flags) };
    }
    let mut start = first as u64;
    let end = last as u64;
    let mut r = 0;
    let mut fd = start;
    while fd <= end && fd < cap {
        let k = fdtable::kind_of(fd as RawFd);
        if k.is_shims() {
            if fd > start {
                r |= unsafe { real::close_range(start as c_uint, (fd - 1) as c_uint, flags) };
            }
            start = fd + 1;
        } else if k == FdKind::Mirrored {
            if let Some(e) = fdtable::get(fd as RawFd) {
                before_close(fd as RawFd, &e);
                forget(fd as RawFd, &e);
            }
        } else if k != FdKind::Empty {
            fdtable::set_kind(fd as RawFd, FdKind::Empty);
        }
        fd += 1;
    }
    if start <= end {
        r |= unsafe { real::close_range(start as c_uint, end.min(u32::MAX as u64) as c_uint, flags) };
    }
    if r != 0 {
        -1
    } else {
        0
    }
}

fn after_chdir(r: c_int) -> c_int {
    if r == 0 {
        if let Some(st) = life::get() {
            let _errno = ErrnoGuard::save();
            st.place.refresh_cwd();
        }
    }
    r
}

fn duped(oldfd: c_int, r: c_int) -> c_int {
    if r >= 0 && fdtable::kind_of(oldfd) != FdKind::Empty {
        let _errno = ErrnoGuard::save();
        inherit(oldfd, r);
    }
    r
}

hooks! {
    fn close(fd: c_int) -> c_int {
        // OUTSIDE and RELATED slots are emptied on the way: forgetting one is harmless even
        // from a vfork child (the parent's next use of the number only takes the slow path).
        match fdtable::forget_plain(fd) {
            None => match real::direct::close(fd) {
                Some(r) => r,
                None => unsafe { real::close(fd) },
            },
            Some(k) => close_tracked(fd, k),
        }
    }
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
        if life::get().is_none() || first > last {
            return unsafe { real::close_range(first, last, flags) };
        }
        close_range_around(first, last, flags)
    }
    fn closefrom(lowfd: c_int) -> () {
        if life::get().is_none() || lowfd < 0 {
            return unsafe { real::closefrom(lowfd) };
        }
        let _errno = ErrnoGuard::save();
        close_range_around(lowfd as c_uint, c_uint::MAX, 0);
    }
    fn dup(fd: c_int) -> c_int {
        if fdtable::kind_of(fd).is_shims() {
            sys::set_errno(libc::EBADF);
            return -1;
        }
        let r = unsafe { real::dup(fd) };
        duped(fd, r)
    }
    fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
        dup2_like(oldfd, newfd, || unsafe { real::dup2(oldfd, newfd) })
    }
    fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
        dup2_like(oldfd, newfd, || unsafe { real::dup3(oldfd, newfd, flags) })
    }
    fn mfs_rs_fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
        let k = fdtable::kind_of(fd);
        if k == FdKind::Empty {
            return unsafe { real::variadic::call_fcntl(fd, cmd, arg) };
        }
        if k.is_shims() {
            sys::set_errno(libc::EBADF);
            return -1;
        }
        let r = unsafe { real::variadic::call_fcntl(fd, cmd, arg) };
        if r < 0 {
            return r;
        }
        match cmd {
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => duped(fd, r),
            libc::F_SETFL if k == FdKind::Mirrored && owns_memory() => {
                if arg as c_int & libc::O_APPEND != 0 {
                    // Every descriptor of the description now appends, whatever its flags say.
                    if let Some(e) = fdtable::get(fd) {
                        lockstep::end_for_file(e.key);
                    }
                    fdtable::add_flags(fd, flag::APPEND);
                } else {
                    fdtable::clear_flags(fd, flag::APPEND);
                }
                r
            }
            _ => r,
        }
    }
    fn fork() -> libc::pid_t {
        // libc's fork runs the atfork handlers, where plain twin writes end (see `life`).
        let r = unsafe { real::fork() };
        if r == 0 {
            let _errno = ErrnoGuard::save();
            life::after_fork_child();
        }
        r
    }
    #[allow(non_snake_case)]
    fn _Fork() -> libc::pid_t {
        // _Fork runs no atfork handler.
        life::before_spawn();
        let r = unsafe { real::_Fork() };
        if r == 0 {
            let _errno = ErrnoGuard::save();
            life::after_fork_child();
        }
        r
    }
    fn posix_spawn(
        pid: *mut libc::pid_t,
        path: *const c_char,
        actions: *const libc::posix_spawn_file_actions_t,
        attr: *const libc::posix_spawnattr_t,
        argv: *const *mut c_char,
        envp: *const *mut c_char,
    ) -> c_int {
        life::before_spawn();
        unsafe { real::posix_spawn(pid, path, actions, attr, argv, envp) }
    }
    fn posix_spawnp(
        pid: *mut libc::pid_t,
        file: *const c_char,
        actions: *const libc::posix_spawn_file_actions_t,
        attr: *const libc::posix_spawnattr_t,
        argv: *const *mut c_char,
        envp: *const *mut c_char,
    ) -> c_int {
        life::before_spawn();
        unsafe { real::posix_spawnp(pid, file, actions, attr, argv, envp) }
    }
    fn system(cmd: *const c_char) -> c_int {
        life::before_spawn();
        unsafe { real::system(cmd) }
    }
    fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
        life::before_spawn();
        unsafe { real::popen(cmd, mode) }
    }
    fn chdir(path: *const c_char) -> c_int {
        let r = unsafe { real::chdir(path) };
        after_chdir(r)
    }
    fn fchdir(fd: c_int) -> c_int {
        let r = unsafe { real::fchdir(fd) };
        after_chdir(r)
    }
    fn closedir(d: *mut libc::DIR) -> c_int {
        if !d.is_null() && life::get().is_some() && owns_memory() {
            // SAFETY: a DIR the program opened and has not closed yet.
            let fd = unsafe { libc::dirfd(d) };
            if fd >= 0 && !fdtable::kind_of(fd).is_shims() {
                fdtable::set_kind(fd, FdKind::Empty);
            }
        }
        unsafe { real::closedir(d) }
    }
}

trampolines! {
    fcntl => mfs_c_fcntl;
    fcntl64 => mfs_c_fcntl;
}

/// Falls back to fork when libc's vfork could not be resolved (fork is a valid vfork).
extern "C" fn vfork_fallback() -> libc::pid_t {
    unsafe { real::fork() }
}

/// vfork and __vfork: record that a vfork is in flight, then jump to libc's vfork with the
/// caller's stack and registers untouched, so the child returns straight to the program (a
/// wrapper frame would be overwritten by the child). The shim never wraps the call itself.
macro_rules! vfork_hook {
    ($($name:ident),*) => {$(
        /// # Safety
        /// Called as libc's vfork: the caller must follow vfork's rules in the child.
        #[unsafe(naked)]
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name() -> libc::pid_t {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!(
                "sub rsp, 8",
                "call {note}",
                "add rsp, 8",
                "mov rax, qword ptr [rip + {real}]",
                "test rax, rax",
                "jz 2f",
                "jmp rax",
                "2:",
                "jmp {fallback}",
                note = sym life::before_vfork,
                real = sym life::REAL_VFORK,
                fallback = sym vfork_fallback,
            );
        }
    )*};
}

vfork_hook!(vfork, __vfork);
