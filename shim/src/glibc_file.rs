//! glibc's stdio as the shim sees it: a read-only view of a stream's buffer state, the
//! stream's own lock, and the list of every open stream.
//!
//! The view reads the leading fields of glibc's `struct _IO_FILE`. The layout is public ABI:
//! it is declared in `<bits/types/struct_FILE.h>`, and glibc's own `putc_unlocked` and
//! `getc_unlocked` macros read these fields from programs compiled against it. A stream whose
//! flags lack glibc's magic number is treated as unknown.

use std::os::fd::RawFd;
use std::ptr::addr_of;

use libc::{c_char, c_int, c_long, c_void, FILE};

extern "C" {
    fn flockfile(f: *mut FILE);
    fn funlockfile(f: *mut FILE);
    fn _IO_list_lock();
    fn _IO_list_unlock();
    /// Head of glibc's list of every open stream (what `fflush(NULL)` walks).
    static mut _IO_list_all: *mut FILE;
    static mut stdout: *mut FILE;
}

const MAGIC_MASK: u32 = 0xFFFF_0000;
const MAGIC: u32 = 0xFBAD_0000;
const UNBUFFERED: u32 = 0x0002;
const LINE_BUF: u32 = 0x0200;
const CURRENTLY_PUTTING: u32 = 0x0800;
/// `_flags2` bit: the stream must be locked (the process has more than one thread).
const NEED_LOCK: u32 = 0x0080;

#[repr(C)]
#[allow(dead_code)]
struct IoFile {
    flags: c_int,
    read_ptr: *mut c_char,
    read_end: *mut c_char,
    read_base: *mut c_char,
    write_base: *mut c_char,
    write_ptr: *mut c_char,
    write_end: *mut c_char,
    buf_base: *mut c_char,
    buf_end: *mut c_char,
    save_base: *mut c_char,
    backup_base: *mut c_char,
    save_end: *mut c_char,
    markers: *mut c_void,
    chain: *mut FILE,
    fileno: c_int,
    flags2: c_int,
    old_offset: c_long,
    cur_column: u16,
    vtable_offset: i8,
    shortbuf: [c_char; 1],
    lock: *mut c_void,
    offset: i64,
    codecvt: *mut c_void,
    wide_data: *mut c_void,
    freeres_list: *mut c_void,
    freeres_buf: *mut c_void,
    pad5: usize,
    mode: c_int,
}

macro_rules! field {
    ($p:expr, $f:ident) => {
        // SAFETY: `$p` came from `view`, so it points to a live glibc FILE whose leading
        // fields have this layout; volatile because other threads may update them.
        unsafe { addr_of!((*$p).$f).read_volatile() }
    };
}

/// The stream as glibc's structure, with its flags; `None` for null or a foreign one.
fn view(f: *mut FILE) -> Option<(*const IoFile, u32)> {
    if f.is_null() {
        return None;
    }
    let p = f.cast::<IoFile>().cast_const();
    let flags = field!(p, flags) as u32;
    (flags & MAGIC_MASK == MAGIC).then_some((p, flags))
}

/// The stream's descriptor: -1 for memory and cookie streams and unknown structures.
#[inline(always)]
pub fn fileno(f: *mut FILE) -> RawFd {
    view(f).map_or(-1, |(p, _)| field!(p, fileno))
}

fn wide(p: *const IoFile) -> bool {
    field!(p, mode) > 0
}

/// Bytes waiting in the put area; `None` for wide-oriented or unknown streams.
pub fn pending(f: *mut FILE) -> Option<u64> {
    let (p, flags) = view(f)?;
    if wide(p) {
        return None;
    }
    if flags & CURRENTLY_PUTTING == 0 {
        return Some(0);
    }
    let base = field!(p, write_base) as usize;
    let ptr = field!(p, write_ptr) as usize;
    Some(ptr.saturating_sub(base) as u64)
}

/// True when `n` more bytes go into the buffer without any write reaching the file: a
/// fully buffered narrow stream in put mode with room for them.
pub fn fits(f: *mut FILE, n: u64) -> bool {
    let Some((p, flags)) = view(f) else {
        return false;
    };
    if flags & CURRENTLY_PUTTING == 0 || flags & (LINE_BUF | UNBUFFERED) != 0 || wide(p) {
        return false;
    }
    let ptr = field!(p, write_ptr) as usize;
    let end = field!(p, write_end) as usize;
    n <= end.saturating_sub(ptr) as u64
}

/// False while the process has a single thread: glibc then marks no stream as needing
/// its lock (it sets the flag on every stream when the first thread is created), and
/// nothing else can touch the stream during a call.
pub fn needs_lock(f: *mut FILE) -> bool {
    match view(f) {
        Some((p, _)) => field!(p, flags2) as u32 & NEED_LOCK != 0,
        None => true,
    }
}

/// The next stream in glibc's list of open streams.
pub fn next(f: *mut FILE) -> *mut FILE {
    view(f).map_or(std::ptr::null_mut(), |(p, _)| field!(p, chain))
}

/// Holds a stream's own lock (recursive, as flockfile is) so the accounting around a call is
/// not disturbed by another thread using the same stream. A single-threaded process needs
/// no lock (as glibc's own stdio skips it then).
pub struct StreamLock(Option<*mut FILE>);

impl StreamLock {
    pub(crate) fn new(f: *mut FILE) -> StreamLock {
        if !needs_lock(f) {
            return StreamLock(None);
        }
        // SAFETY: `f` is a live stream (the program just passed it to a stdio call).
        unsafe { flockfile(f) };
        StreamLock(Some(f))
    }
}

impl Drop for StreamLock {
    fn drop(&mut self) {
        if let Some(f) = self.0 {
            // SAFETY: this thread locked the stream in `new`.
            unsafe { funlockfile(f) };
        }
    }
}

/// Holds glibc's stream-list lock.
struct ListLock;

impl ListLock {
    fn new() -> ListLock {
        // SAFETY: glibc's recursive lock of its stream list; released in drop.
        unsafe { _IO_list_lock() };
        ListLock
    }
}

impl Drop for ListLock {
    fn drop(&mut self) {
        // SAFETY: taken in `new` by this thread.
        unsafe { _IO_list_unlock() };
    }
}

/// Calls `f` on every open stream, in glibc's list order, holding the list's lock.
pub fn for_each_stream(mut f: impl FnMut(*mut FILE)) {
    let _list = ListLock::new();
    // SAFETY: reading glibc's list head while holding the list lock.
    let mut s = unsafe { std::ptr::addr_of!(_IO_list_all).read_volatile() };
    // A bound against a corrupted list: no process has this many streams.
    for _ in 0..(1 << 20) {
        if s.is_null() {
            break;
        }
        f(s);
        s = next(s);
    }
}

/// The stream printf, puts and putchar write to.
pub fn stdout_stream() -> *mut FILE {
    // SAFETY: reading glibc's `stdout` pointer (the program may reassign it).
    unsafe { std::ptr::addr_of!(stdout).read_volatile() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_glibc() {
        assert_eq!(std::mem::offset_of!(IoFile, fileno), 112);
        assert_eq!(std::mem::offset_of!(IoFile, mode), 192);
        // SAFETY: plain libc stdio calls on a stream this test owns (the test binary's
        // hooks are not exported, so these are libc's own functions).
        unsafe {
            let f = libc::fopen(c"/dev/null".as_ptr(), c"w".as_ptr());
            assert!(!f.is_null());
            assert_eq!(fileno(f), libc::fileno(f));
            assert_eq!(pending(f), Some(0));
            assert!(!fits(f, 1), "not in put mode before the first write");
            assert!(libc::fputs(c"abc".as_ptr(), f) >= 0);
            assert_eq!(pending(f), Some(3));
            assert!(fits(f, 10));
            assert!(!fits(f, 1 << 20));
            assert_eq!(libc::fflush(f), 0);
            assert_eq!(pending(f), Some(0));
            libc::fclose(f);
        }
        assert_eq!(fileno(std::ptr::null_mut()), -1);
    }
}
