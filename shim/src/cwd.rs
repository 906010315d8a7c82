//! The current directory, cached for placing relative paths without a system call: refreshed
//! by the chdir hooks, read under a sequence counter.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mfs_core::path::PATH_MAX;
use mfs_core::sys;

use crate::sync::SeqCount;

struct Cwd {
    seq: SeqCount,
    outside: AtomicBool,
    len: AtomicUsize,
    buf: UnsafeCell<[u8; PATH_MAX]>,
}

// SAFETY: `buf` is written only inside `seq.write` (one writer at a time); readers copy it
// inside `seq.read` and discard a copy a write overlapped.
unsafe impl Sync for Cwd {}

static CWD: Cwd = Cwd {
    seq: SeqCount::new(),
    outside: AtomicBool::new(false),
    len: AtomicUsize::new(0),
    buf: UnsafeCell::new([0; PATH_MAX]),
};

/// True when the current directory is known to be outside every pair and not above any root
/// (so a relative path without `..` is outside too).
#[inline(always)]
pub fn is_outside() -> bool {
    CWD.outside.load(Ordering::Acquire)
}

/// Copies the current directory into `out`; `None` when unknown.
pub fn copy(out: &mut [u8; PATH_MAX]) -> Option<usize> {
    let len = CWD.seq.read(|| {
        let len = CWD.len.load(Ordering::Relaxed);
        // SAFETY: a copy of the buffer under the sequence protocol; a torn copy is discarded
        // by `read` and taken again.
        unsafe { std::ptr::copy_nonoverlapping(CWD.buf.get().cast::<u8>(), out.as_mut_ptr(), len) };
        len
    });
    (len > 0).then_some(len)
}

/// Re-reads the current directory from the kernel (at start-up, after chdir and fchdir);
/// `outside` tells whether an absolute path lies outside every pair and above none.
pub fn refresh(outside: impl FnOnce(&[u8]) -> bool) {
    let mut buf = [0u8; PATH_MAX];
    let n = sys::getcwd(&mut buf).unwrap_or(0);
    let valid = n > 0 && buf[0] == b'/';
    let out = valid && outside(&buf[..n]);
    CWD.seq.write(|| {
        // SAFETY: the only writer (inside `seq.write`); readers retry on odd sequences.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), CWD.buf.get().cast::<u8>(), n) };
        CWD.len.store(if valid { n } else { 0 }, Ordering::Relaxed);
        CWD.outside.store(out, Ordering::Release);
    });
}

/// In a fork child: true when another thread of the parent was refreshing the cache at the
/// fork, so the child must refresh it.
pub fn torn_by_fork() -> bool {
    CWD.seq.reset_after_fork()
}
