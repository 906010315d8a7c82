//! Twin offsets kept in step with the primary's, so a sequential write needs no offset query.
//!
//! A write at the descriptor's offset must land at the same offset on every twin. In general
//! the shim learns that offset from the kernel after the primary write (one `lseek`), because
//! the primary's open file description may be shared with descriptors the shim cannot follow:
//! another process's (fork, exec, posix_spawn file actions, system), or libc's own writes to
//! stderr. A twin's offset moves with the twin's own writes only.
//!
//! For a descriptor whose description no other process can reach, the shim can do better: if
//! every change of the primary's offset is matched on the twins, the twins' offsets simply
//! equal the primary's, and a write can go to each twin as a plain `write`. Such descriptors
//! carry [`flag::STEP`]:
//!
//! - set when this process opens a regular file write-only (so nothing reads through the
//!   description) without O_APPEND, on a number above 2 (libc writes to stderr where no hook
//!   sees it); a dup of one keeps it unless either number is 0 to 2;
//! - cleared on every descriptor of the process when it creates another process (fork,
//!   vfork, posix_spawn, system, popen): the child may pass the description to a new program
//!   image, which gets twins of its own;
//! - cleared on every descriptor of a file when one of them is put on 0 to 2, gets O_APPEND
//!   (F_SETFL) or a stdio stream (fdopen).
//!
//! Within the process, the other descriptors that share the description (dups) may still move
//! its offset without moving the twins': a write through a descriptor without the flag, an
//! lseek, a stdio flush, sendfile into it. Each such change happens under the file's coherency
//! lock and advances the file's *step generation* here when the lock is released. A descriptor
//! records the generation at which its twins were last level with it; a write uses plain twin
//! writes only while the generation is unchanged, and otherwise mirrors at the queried offset
//! and sets the twins' offsets level again (one `lseek` each) before recording the current
//! generation.
//!
//! The generations live in process memory, indexed like the lock table: files that share an
//! index share a generation, which costs only an occasional re-levelling.
//!
//! As a safeguard against a change no hook saw (a raw `syscall(SYS_write)` through the same
//! description), every [`fdtable::STEP_CHECK_EVERY`]th plain write compares the offsets; a
//! twin found out of step is journaled for resynchronisation and set level.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::fdtable::{self, flag};

const SLOTS: usize = crate::lock::SLOTS;

static GENERATION: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];

/// The step generation of the file with coherency key `key`.
#[inline(always)]
pub fn generation(key: u64) -> u32 {
    GENERATION[crate::lock::index(key)].load(Ordering::Relaxed)
}

/// Some descriptor of the file may have moved its offset without its twins' moving.
pub fn moved(key: u64) {
    GENERATION[crate::lock::index(key)].fetch_add(1, Ordering::Relaxed);
}

/// No descriptor of the file may use plain twin writes any more (its description can now be
/// moved where no hook sees it).
pub fn end_for_file(key: u64) {
    for (fd, e) in fdtable::mirrored_fds() {
        if e.key == key && e.has(flag::STEP) {
            fdtable::clear_flags(fd, flag::STEP);
        }
    }
    moved(key);
}

/// No descriptor open now may use plain twin writes any more: the process is creating another
/// process, which inherits them all.
pub fn end_for_all() {
    if !crate::state::owns_memory() {
        return;
    }
    for (fd, e) in fdtable::mirrored_fds() {
        if e.has(flag::STEP) {
            fdtable::clear_flags(fd, flag::STEP);
        }
    }
}

/// True when a descriptor numbered `fd` may carry [`flag::STEP`].
#[inline(always)]
pub fn allowed_on(fd: RawFd) -> bool {
    fd > 2
}
