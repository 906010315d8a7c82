//! Adopting descriptors a new program image inherits.
//!
//! exec keeps descriptors without FD_CLOEXEC but wipes the shim's memory (`cmd > f`: the shell
//! opens f, dup2s it onto 1 and execs cmd). At start-up the shim reads /proc/self/fd and
//! rebuilds its table: every inherited fd in a pair gets its twins again, and a twin that is
//! not level with its primary (the fd was opened where no hook saw it) is brought level first.

use std::os::fd::RawFd;

use mfs_core::failure::Op;
use mfs_core::journal::Kind;
use mfs_core::path::PATH_MAX;
use mfs_core::sys;

use crate::coherency;
use crate::fanout::{self, Loc};
use crate::fdtable::{self, flag, Entry, LOST_TWIN};
use crate::place::Class;
use crate::state::{JournalPath, State};

/// Scans /proc/self/fd and adopts every inherited descriptor.
pub fn adopt_inherited(st: &State) {
    let Ok(dir) = sys::openat(libc::AT_FDCWD, c"/proc/self/fd", libc::O_RDONLY | libc::O_DIRECTORY, 0) else { return };
    let mut fds = [0 as RawFd; 256];
    let mut count = 0;
    let mut buf = [0u8; 4096];
    'outer: loop {
        let n = match sys::getdents64(dir, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for fd in sys::dirent_names(&buf[..n]).filter_map(sys::parse_fd_number) {
            if fd != dir {
                if count == fds.len() {
                    break 'outer;
                }
                fds[count] = fd;
                count += 1;
            }
        }
    }
    sys::close(dir);
    for &fd in &fds[..count] {
        if fdtable::covers(fd) && !fdtable::kind_of(fd).is_shims() {
            adopt(st, fd);
        }
    }
}

fn adopt(st: &State, fd: RawFd) {
    let mut path = [0u8; PATH_MAX];
    let Ok(n) = sys::fd_path(fd, &mut path) else { return };
    if path[0] != b'/' {
        return; // pipes, sockets, anonymous inodes
    }
    let mut scratch = None;
    let hit = match st.place.classify_at(libc::AT_FDCWD, &path[..n], &mut scratch) {
        Class::In { hit, .. } => hit,
        other => {
            fdtable::set_kind(fd, other.fd_kind());
            return;
        }
    };
    let Ok(fl) = sys::fcntl(fd, libc::F_GETFL, 0) else { return };
    let fl = fl as i32;
    let Ok(stat) = sys::fstat(fd) else { return };
    let acc = fl & libc::O_ACCMODE;
    let writable = acc == libc::O_WRONLY || acc == libc::O_RDWR;
    let mut flags = 0;
    if writable {
        flags |= flag::WRITABLE;
    }
    if fl & libc::O_APPEND != 0 {
        flags |= flag::APPEND;
    }
    let fmt = stat.st_mode & libc::S_IFMT;
    if fmt == libc::S_IFDIR {
        flags |= flag::DIR;
    }
    let mut e = Entry::new(hit.pair, hit.copy, flags, mfs_core::locks::key_of(&stat));
    if writable && fmt == libc::S_IFREG {
        let loc = Loc::from(hit);
        for other in st.others(loc.pair, loc.origin) {
            let copy = other.copy;
            if !other.online {
                e.twins[copy] = LOST_TWIN;
                continue;
            }
            let tflags = libc::O_WRONLY | libc::O_CREAT;
            match fanout::open_on(st, loc.pair, copy, loc.rel, tflags, stat.st_mode & 0o7777) {
                Ok(Some(t)) => {
                    level(st, fd, &e, t);
                    e.twins[copy] = t;
                }
                Ok(None) => {
                    // No room for a twin descriptor: level it now, mirror by path later.
                    st.journal(loc.pair, copy, Kind::Dirty, JournalPath::Path(loc.rel));
                }
                Err(err) => {
                    e.twins[copy] = LOST_TWIN;
                    st.mirror_failed(loc.pair, copy, JournalPath::Path(loc.rel), Op::Open, err);
                }
            }
        }
    }
    fanout::record(fd, e);
}

/// Makes a twin's content equal to its primary's when their sizes differ.
///
/// Under the file's coherency lock, with both sizes taken inside it: other processes may be
/// writing the file through the same inherited description meanwhile (`make -j4 >> log 2>&1`
/// starts programs while others append), and a size taken before the lock may already be
/// stale; truncating the twin to it would cut bytes another writer has just mirrored.
fn level(st: &State, primary: RawFd, e: &Entry, twin: RawFd) {
    let _held = coherency::lock(st, primary, e);
    let Ok(size) = sys::fstat(primary).map(|s| s.st_size) else { return };
    if sys::fstat(twin).is_ok_and(|s| s.st_size == size) {
        return;
    }
    let Ok((readable, owned)) = sys::readable(primary) else { return };
    let _ = fanout::level_twin(readable, twin, size, true);
    if owned {
        sys::close(readable);
    }
}
