//! mmap, munmap, msync and mremap: shared writable mappings of mirrored files are recorded
//! and synchronised by [`crate::mappings`].

use libc::{c_int, c_void, off64_t, off_t, size_t};
use mfs_core::sys::ErrnoGuard;

use super::{hooks, trampolines};
use crate::edge::finish;
use crate::life;
use crate::mappings::{self, any};
use crate::real;

/// After mmap returned `r`: a shared writable mapping of a mirrored file is recorded.
#[inline(always)]
fn mapped(r: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) {
    if r == libc::MAP_FAILED || !mappings::concerns(prot, flags, fd) {
        return;
    }
    if let Some(st) = life::get() {
        mappings::mapped(st, r as usize, len, prot, flags, fd, off);
    }
}

hooks! {
    fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void {
        let r = unsafe { real::mmap(addr, len, prot, flags, fd, off) };
        mapped(r, len, prot, flags, fd, off);
        r
    }
    fn mmap64(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off64_t) -> *mut c_void {
        let r = unsafe { real::mmap64(addr, len, prot, flags, fd, off) };
        mapped(r, len, prot, flags, fd, off);
        r
    }
    fn munmap(addr: *mut c_void, len: size_t) -> c_int {
        let r = unsafe { real::munmap(addr, len) };
        if r == 0 && any() && life::get().is_some() {
            mappings::unmapped(addr, len);
        }
        r
    }
    fn msync(addr: *mut c_void, len: size_t, flags: c_int) -> c_int {
        let r = unsafe { real::msync(addr, len, flags) };
        if r != 0 || !any() || life::get().is_none() {
            return r;
        }
        let mut errno = ErrnoGuard::save();
        finish(r, mappings::synced(addr, len, flags), -1, &mut errno)
    }
    fn mfs_rs_mremap(old: *mut c_void, old_size: size_t, new_size: size_t, flags: c_int, new_addr: *mut c_void) -> *mut c_void {
        let r = unsafe { real::variadic::call_mremap(old, old_size, new_size, flags, new_addr) };
        if r != libc::MAP_FAILED && any() && life::get().is_some() {
            mappings::remapped(old, old_size, r, new_size, flags);
        }
        r
    }
}

trampolines! {
    mremap => mfs_c_mremap;
}
