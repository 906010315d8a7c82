//! Asynchronous writes: POSIX AIO (aio_write, lio_listio), which glibc carries out on threads
//! of its own through internal calls no hook sees, and Linux AIO (io_submit, reached through
//! `syscall`). Each write to a mirrored file is mirrored when it is submitted: the program
//! must keep the buffer as it is until the write completes, so the twins get the same bytes
//! at the same offset under the file's coherency lock. Writes still in flight complete in an
//! order the shim cannot see, so two overlapping ones (from different processes, say) can
//! leave the copies different: the first asynchronous write through a descriptor journals
//! its file for resynchronisation. A write through an appending descriptor, whose place is
//! known only when it completes, journals the file instead of being mirrored.

use libc::{aiocb, c_int, c_long, c_void, iovec, sigevent, ssize_t};
use mfs_core::journal::Kind;

use super::hooks;
use crate::bufs::{iovs, Bufs};
use crate::fdtable::{self, flag};
use crate::life;
use crate::real;
use crate::state::JournalPath;
use crate::writes;

/// Mirrors a write of `n` bytes at `off` submitted on `fd`, from `bufs`.
fn submitted(fd: c_int, bufs: Bufs<'_>, n: usize, off: i64) {
    if n == 0 || fdtable::flags_of(fd).is_none_or(|f| f & flag::WRITABLE == 0) {
        return;
    }
    let (Some(e), Some(st)) = (fdtable::get(fd), life::get()) else { return };
    let _errno = mfs_core::sys::ErrnoGuard::save();
    if !e.has(flag::ASYNC) || e.has(flag::APPEND) {
        st.journal_others(e.pair, e.origin, Kind::Dirty, JournalPath::Fd(fd));
        fdtable::add_flags(fd, flag::ASYNC);
    }
    if e.has(flag::APPEND) {
        return;
    }
    // The primary's write is in flight: the twins get the bytes now (the call itself is
    // "made" by the closure, which only reports the size submitted).
    let _ = writes::write_mirrored(st, fd, &e, bufs, Some(off), false, || n as ssize_t);
}

/// A submitted POSIX AIO request, when it writes.
fn posix_request(cb: *const aiocb, write_op: bool) {
    // SAFETY: the program passes a valid aiocb, which the real call just accepted.
    let Some(cb) = (unsafe { cb.as_ref() }) else { return };
    if write_op {
        submitted(cb.aio_fildes, Bufs::One(cb.aio_buf as *const c_void), cb.aio_nbytes, cb.aio_offset);
    }
}

/// After a successful io_submit of `n` of the control blocks at `list`: mirrors the writes
/// among them (IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV).
pub(crate) fn io_submitted(list: *const *const LinuxIocb, n: c_long) {
    if list.is_null() || n <= 0 || life::get().is_none() {
        return;
    }
    for i in 0..n as usize {
        // SAFETY: the kernel just read `n` control block pointers from the program's array.
        let Some(cb) = (unsafe { (*list.add(i)).as_ref() }) else { continue };
        let fd = cb.aio_fildes as c_int;
        match cb.aio_lio_opcode {
            IOCB_CMD_PWRITE => {
                submitted(fd, Bufs::One(cb.aio_buf as *const c_void), cb.aio_nbytes as usize, cb.aio_offset)
            }
            IOCB_CMD_PWRITEV => {
                let v = iovs(cb.aio_buf as *const iovec, cb.aio_nbytes as c_int);
                let n = v.iter().map(|v| v.iov_len).sum();
                submitted(fd, Bufs::Vec(v), n, cb.aio_offset);
            }
            _ => {}
        }
    }
}

const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_PWRITEV: u16 = 8;

/// `struct iocb` of `<linux/aio_abi.h>` (little-endian layout).
#[repr(C)]
pub struct LinuxIocb {
    aio_data: u64,
    aio_key: u32,
    aio_rw_flags: i32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

const _: () = assert!(std::mem::size_of::<LinuxIocb>() == 64);

hooks! {
    fn aio_write(cb: *mut aiocb) -> c_int {
        let r = unsafe { real::aio_write(cb) };
        if r == 0 {
            posix_request(cb, true);
        }
        r
    }
    fn aio_write64(cb: *mut aiocb) -> c_int {
        let r = unsafe { real::aio_write64(cb) };
        if r == 0 {
            posix_request(cb, true);
        }
        r
    }
    fn lio_listio(mode: c_int, list: *const *mut aiocb, n: c_int, sev: *mut sigevent) -> c_int {
        let r = unsafe { real::lio_listio(mode, list, n, sev) };
        listed(list, n);
        r
    }
    fn lio_listio64(mode: c_int, list: *const *mut aiocb, n: c_int, sev: *mut sigevent) -> c_int {
        let r = unsafe { real::lio_listio64(mode, list, n, sev) };
        listed(list, n);
        r
    }
}

/// After lio_listio: its write requests (submitted even when the call reports that some
/// request failed: each is judged by its own status).
fn listed(list: *const *mut aiocb, n: c_int) {
    if list.is_null() || n <= 0 || life::get().is_none() {
        return;
    }
    for i in 0..n as usize {
        // SAFETY: the program passes `n` entries, each null or a valid aiocb.
        let cb = unsafe { *list.add(i) };
        // SAFETY: as above.
        let Some(c) = (unsafe { cb.as_ref() }) else { continue };
        if c.aio_lio_opcode == libc::LIO_WRITE && c.aio_buf as usize != 0 {
            posix_request(cb, true);
        }
    }
}
