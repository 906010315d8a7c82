//! Twin offsets kept in lockstep with the primary's, so a sequential write needs no offset
//! query.
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
//! carry [`flag::LOCKSTEP`]:
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
//! lock and advances the file's *offset generation* when the lock is released (see
//! [`crate::coherency`]). A descriptor records the generation at which its twins were last
//! level with it; a write uses plain twin writes only while the generation is unchanged, and
//! otherwise mirrors at the queried offset and sets the twins' offsets level again (one
//! `lseek` each) before recording the current generation.
//!
//! As a safeguard against a change no hook saw (a raw `syscall(SYS_write)` through the same
//! description), every [`fdtable::OFFSET_CHECK_EVERY`]th plain write compares the offsets; a
//! twin found out of step is journaled for resynchronisation and set level.

use std::os::fd::RawFd;

use libc::{off_t, ssize_t};
use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::sys::{self, Errno, ErrnoGuard};

use crate::bufs::Bufs;
use crate::coherency::{self, FileLock};
use crate::edge::protect;
use crate::fanout;
use crate::fdtable::{self, flag, Entry};
use crate::owner;
use crate::state::{JournalPath, State};

/// No descriptor of the file may use plain twin writes any more (its description can now be
/// moved where no hook sees it).
pub fn end_for_file(key: u64) {
    for (fd, e) in fdtable::mirrored_fds() {
        if e.key == key && e.has(flag::LOCKSTEP) {
            fdtable::clear_flags(fd, flag::LOCKSTEP);
        }
    }
    coherency::moved(key);
}

/// No descriptor open now may use plain twin writes any more: the process is creating another
/// process, which inherits them all.
pub fn end_for_all() {
    if !owner::owns_memory() {
        return;
    }
    for (fd, e) in fdtable::mirrored_fds() {
        if e.has(flag::LOCKSTEP) {
            fdtable::clear_flags(fd, flag::LOCKSTEP);
        }
    }
}

/// True when a descriptor numbered `fd` may carry [`flag::LOCKSTEP`].
#[inline(always)]
pub fn allowed_on(fd: RawFd) -> bool {
    fd > 2
}

/// True when a write at the descriptor's offset can go to every twin as a plain write: the
/// descriptor may use them (which implies a twin open on every other copy), its twins were
/// level with it at the file's current offset generation, and every copy is online.
#[inline(always)]
pub fn usable(st: &State, e: &Entry, held: &FileLock<'_>) -> bool {
    e.flags & (flag::LOCKSTEP | flag::APPEND | flag::STDIO) == flag::LOCKSTEP
        && held.exclusive()
        && e.level_at == coherency::generation(e.key)
        && st.all_online()
}

/// Every copy other than the origin has an open twin and is online.
#[inline(always)]
fn twins_ready(st: &State, e: &Entry) -> bool {
    st.others(e.pair, e.origin).all(|o| o.online && e.twins[o.copy] >= 0)
}

/// A write whose twins' offsets are level with the primary's: the bytes go to each twin as a
/// plain write, which keeps them level. Raw system calls leave errno alone, so it is saved
/// only where journaling might change it.
#[inline(always)]
pub fn write_plain(
    st: &State,
    fd: RawFd,
    e: &Entry,
    bufs: Bufs<'_>,
    mut held: FileLock<'_>,
    real: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let r = real();
    if r <= 0 {
        held.offsets_kept();
        return r;
    }
    let ncopies = st.copies.count(e.pair);
    let result = protect(
        || {
            let _errno = ErrnoGuard::save();
            st.journal_others(e.pair, e.origin, Kind::Dirty, JournalPath::Fd(fd));
            Err(None)
        },
        || {
            let mut result = Ok(());
            for (copy, &t) in e.twins.iter().enumerate().take(ncopies) {
                if copy != e.origin {
                    if let Err(err) = bufs.write_prefix(t, r as usize) {
                        let fail = twin_write_failed(st, fd, e, copy, t, err);
                        if !matches!(result, Err(Some(_))) {
                            result = Err(fail);
                        }
                    }
                }
            }
            result
        },
    );
    match result {
        Ok(()) => {
            held.offsets_kept();
            if fdtable::count_plain_write(fd) {
                check_offsets(st, fd, e);
            }
            r
        }
        Err(None) => r,
        Err(Some(Errno(code))) => {
            drop(held);
            sys::set_errno(code);
            -1
        }
    }
}

/// A plain twin write failed: the twin's offset is now unknown (and dups share its
/// description), so the twin is dropped and lockstep ends. Returns the error the program
/// should see (fail mode).
#[cold]
#[inline(never)]
fn twin_write_failed(st: &State, fd: RawFd, e: &Entry, copy: usize, t: RawFd, err: Errno) -> Option<Errno> {
    let _errno = ErrnoGuard::save();
    let fail = st.mirror_failed(e.pair, copy, JournalPath::Fd(fd), Op::Write, err).fail;
    fanout::lose_twin(fd, copy, t);
    fail
}

/// Sets every twin's offset to `end` (the primary's, after a write mirrored at the queried
/// offset) and records the file's current offset generation for `fd`. Holds the lock. `was`
/// is the entry the write used: nothing is done unless the slot still holds the same twins (a
/// failed twin was dropped meanwhile, or the program closed the number under the write).
#[cold]
pub fn level_offsets(st: &State, fd: RawFd, was: &Entry, end: off_t, held: &mut FileLock<'_>) {
    let Some(e) = fdtable::get(fd) else { return };
    if !e.has(flag::LOCKSTEP) || e.key != was.key || e.twins != was.twins || !twins_ready(st, &e) {
        return;
    }
    if e.open_twins().all(|(_, t)| sys::lseek(t, end, libc::SEEK_SET).is_ok()) {
        fdtable::set_level_at(fd, coherency::generation(e.key));
        held.offsets_kept();
    }
}

/// Compares the twins' offsets with the primary's. A twin found elsewhere (the description
/// was written where no hook saw it) is journaled for resynchronisation and set level.
#[cold]
#[inline(never)]
fn check_offsets(st: &State, fd: RawFd, e: &Entry) {
    let _errno = ErrnoGuard::save();
    let Ok(want) = sys::lseek(fd, 0, libc::SEEK_CUR) else { return };
    for (copy, t) in e.open_twins() {
        if sys::lseek(t, 0, libc::SEEK_CUR).is_ok_and(|o| o != want) {
            st.journal(e.pair, copy, Kind::Dirty, JournalPath::Fd(fd));
            let _ = sys::lseek(t, want, libc::SEEK_SET);
        }
    }
}
