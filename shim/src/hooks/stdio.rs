//! stdio streams on mirrored files.
//!
//! glibc's stdio reaches the kernel through libc-internal open, write, lseek and close calls
//! that no hook sees: `echo x > f` in bash, `as` and `ld` output, tee and git all write files
//! this way. The shim hooks the stream creators (fopen, freopen, fdopen), which tells it which
//! streams write a mirrored file, and every output, flush, seek and close entry point. After
//! each such call on a mirrored stream it copies the bytes the call flushed to the primary
//! from the primary onto every twin, before the call returns.
//!
//! Which bytes: a call flushed `pending before + bytes it produced - pending after`, where
//! *pending* is what waits in the stream's put area. glibc writes a flush and any direct
//! write back to back at the descriptor's offset (after seeking back over unread input on an
//! update stream), so the bytes of one call are contiguous and end at the descriptor's offset
//! after the call: the range is `[offset - flushed, offset)`, for O_APPEND descriptors too.
//! A call that only fills the buffer costs no system call: when the bytes fit in the buffer
//! the call runs without the coherency lock; otherwise the lock is held across the real call
//! and the copy, so another writer's bytes never land between the flush and the measurement.
//! Seeks and closes first flush the stream through the same accounting, then make the real
//! call, which has nothing left to write.
//!
//! There is no gap between what reached a primary through an intercepted call and its twins.
//! [`sync_fd`] (the program closes a stream's descriptor) and [`at_exit`] additionally level
//! each twin's size with its primary's, which catches bytes libc wrote where no hook runs
//! (perror, error(), psignal and other libc-internal users of stderr).

use std::os::fd::RawFd;

use libc::{c_char, c_int, c_long, c_void, off64_t, off_t, size_t, FILE};

use super::{cbytes, hooks, protect, trampolines};
use crate::fdtable::{self, flag, is_shims, kind, Entry, LOST_TWIN};
use crate::hooks::io::lock;
use crate::mirror::{self, Loc};
use crate::real;
use crate::state::{self, Class, Rel, State};
use crate::sys::{self, Errno, ErrnoGuard};

extern "C" {
    fn flockfile(f: *mut FILE);
    fn funlockfile(f: *mut FILE);
    fn _IO_list_lock();
    fn _IO_list_unlock();
    /// Head of glibc's list of every open stream (what `fflush(NULL)` walks).
    static mut _IO_list_all: *mut FILE;
    static mut stdout: *mut FILE;
}

const EOF: c_int = libc::EOF;

/// A read-only view of the leading fields of glibc's `struct _IO_FILE`.
///
/// The layout is public ABI: it is declared in `<bits/types/struct_FILE.h>`, and glibc's own
/// `putc_unlocked`/`getc_unlocked` macros read these fields from programs compiled against
/// it. A stream whose flags lack glibc's magic number is treated as unknown.
mod file {
    use std::os::fd::RawFd;
    use std::ptr::addr_of;

    use libc::{c_char, c_int, c_long, c_void, FILE};

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
}

/// A stream (or descriptor) that writes a regular file in a pair.
struct Tracked {
    st: &'static State,
    fd: RawFd,
    e: Entry,
}

impl Tracked {
    /// The descriptor when it is mirrored, writable and has (or lost) twins.
    #[inline(always)]
    fn of_fd(fd: RawFd) -> Option<Tracked> {
        let e = fdtable::get(fd)?;
        let has_copies = e.twins.iter().any(|&t| t >= 0 || t == LOST_TWIN);
        if !e.has(flag::WRITABLE) || e.has(flag::DIR) || !has_copies {
            return None;
        }
        Some(Tracked { st: state::get()?, fd, e })
    }

    #[inline(always)]
    fn of(f: *mut FILE) -> Option<Tracked> {
        Tracked::of_fd(file::fileno(f))
    }

    /// Journals the file as possibly different on every other copy.
    fn journal(&self) {
        for copy in (0..self.st.pair(self.e.pair).copies.len()).filter(|&c| c != self.e.origin) {
            self.st.journal(self.e.pair, copy, mfs_core::journal::Kind::Dirty, Rel::Fd(self.fd));
        }
    }

    /// Copies `[off, off + len)` of the primary to every twin. The caller holds the lock.
    fn copy_to_twins(&self, off: off_t, len: u64) -> Result<(), Errno> {
        let Ok((src, owned)) = sys::readable(self.fd) else {
            self.journal();
            return Ok(());
        };
        let res = mirror::fanout_fd(
            self.st,
            self.fd,
            &self.e,
            |twin| sys::copy_range(src, off, twin, off, len).map(drop),
            None,
        );
        if owned {
            sys::close(src);
        }
        res
    }

    /// Mirrors the `flushed` bytes that end at the descriptor's offset.
    fn mirror_flushed(&self, flushed: u64) -> Result<(), Errno> {
        if flushed == 0 {
            return Ok(());
        }
        let Ok(end) = sys::lseek(self.fd, 0, libc::SEEK_CUR) else {
            self.journal();
            return Ok(());
        };
        let start = end.saturating_sub(flushed as off_t).max(0);
        if end <= start {
            return Ok(());
        }
        self.copy_to_twins(start, (end - start) as u64)
    }

    /// Makes every twin as long as the primary, copying a missing tail. Holds the lock.
    fn level(&self) -> Result<(), Errno> {
        let _held = lock(self.st, self.fd, &self.e);
        let Ok(size) = sys::fstat(self.fd).map(|s| s.st_size) else {
            return Ok(());
        };
        let mut src: Option<(RawFd, bool)> = None;
        let res = mirror::fanout_fd(
            self.st,
            self.fd,
            &self.e,
            |twin| {
                let (r, _) = match src {
                    Some(s) => s,
                    None => *src.insert(sys::readable(self.fd)?),
                };
                mirror::level_twin(r, twin, size, false)
            },
            None,
        );
        if let Some((r, true)) = src {
            sys::close(r);
        }
        res
    }
}

/// Holds a stream's own lock (recursive, as flockfile is) so the accounting around a call is
/// not disturbed by another thread using the same stream. A single-threaded process needs
/// no lock (as glibc's own stdio skips it then).
struct StreamLock(Option<*mut FILE>);

impl StreamLock {
    fn new(f: *mut FILE) -> StreamLock {
        if !file::needs_lock(f) {
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

/// Runs an output or flush call on `f` and mirrors what it flushed. `hint` is how many bytes
/// the call will produce when known in advance (so a call that only fills the buffer can
/// skip the coherency lock); `produced` says how many it did produce given its result (an
/// upper bound on failure, `None` when unknown); `failed` is the call's failure value, used
/// when a mirror error must fail the call (fail mode).
#[inline(always)]
fn measured<R: Copy>(
    f: *mut FILE,
    hint: Option<u64>,
    real: impl FnOnce() -> R,
    produced: impl FnOnce(R) -> Option<u64>,
    failed: R,
) -> R {
    let Some(t) = Tracked::of(f) else {
        return real();
    };
    // Bytes that fit in the buffer of a stream no other thread can use reach no file.
    if hint.is_some_and(|n| !file::needs_lock(f) && file::fits(f, n)) {
        return real();
    }
    measured_slow(f, &t, hint, real, produced, failed)
}

#[inline(never)]
fn measured_slow<R: Copy>(
    f: *mut FILE,
    t: &Tracked,
    hint: Option<u64>,
    real: impl FnOnce() -> R,
    produced: impl FnOnce(R) -> Option<u64>,
    failed: R,
) -> R {
    let _stream = StreamLock::new(f);
    let before = file::pending(f);
    let quiet = hint.is_some_and(|n| file::fits(f, n));
    let mut held = if quiet { None } else { Some(lock(t.st, t.fd, &t.e)) };
    let r = real();
    let mut errno = ErrnoGuard::save();
    let after = file::pending(f);
    let res = protect(
        || {
            t.journal();
            Ok(())
        },
        || match (before, produced(r), after) {
            (Some(b), Some(n), Some(a)) => {
                let flushed = (b + n).saturating_sub(a);
                if flushed > 0 && quiet {
                    held = Some(lock(t.st, t.fd, &t.e));
                }
                t.mirror_flushed(flushed)
            }
            _ => {
                t.journal();
                Ok(())
            }
        },
    );
    drop(held);
    match res {
        Ok(()) => r,
        Err(Errno(e)) => {
            errno.set(e);
            failed
        }
    }
}

/// Flushes a tracked stream's pending output through the accounting (before a seek, close
/// or reopen). Returns 0, or EOF with errno set as fflush left it.
fn flush_pending(f: *mut FILE, t: &Tracked) -> c_int {
    let _stream = StreamLock::new(f);
    if file::pending(f) == Some(0) {
        return 0;
    }
    // SAFETY: `f` is a live stream.
    measured_slow(f, t, Some(0), || unsafe { real::fflush(f) }, |_| Some(0), EOF)
}

/// A seek-like call: flush through the accounting first, then seek with nothing left to
/// write. A failed flush fails the call as glibc's own flush inside the seek would.
fn seek_like<R>(f: *mut FILE, failed: R, real: impl FnOnce() -> R) -> R {
    let Some(t) = Tracked::of(f) else {
        return real();
    };
    let _stream = StreamLock::new(f);
    if flush_pending(f, &t) != 0 {
        return failed;
    }
    real()
}

/// fflush(NULL) and fcloseall: every tracked stream is flushed through the accounting, then
/// the real call handles the rest. A failure of ours is reported as the real call would.
fn all_streams(real: impl FnOnce() -> c_int) -> c_int {
    if state::get().is_none() {
        return real();
    }
    let failed = flush_tracked_streams();
    let r = real();
    match failed {
        Some(e) if r == 0 => {
            sys::set_errno(e);
            EOF
        }
        _ => r,
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

/// Flushes every open stream on a mirrored file; the errno of the first failure, if any.
fn flush_tracked_streams() -> Option<c_int> {
    let mut failed = None;
    let _list = ListLock::new();
    // SAFETY: reading glibc's list head while holding the list lock.
    let mut f = unsafe { std::ptr::addr_of!(_IO_list_all).read_volatile() };
    // A bound against a corrupted list: no process has this many streams.
    for _ in 0..(1 << 20) {
        if f.is_null() {
            break;
        }
        if let Some(t) = Tracked::of(f) {
            if flush_pending(f, &t) != 0 {
                failed.get_or_insert(sys::errno());
            }
        }
        f = file::next(f);
    }
    failed
}

/// Forgets a descriptor that a stdio call closed internally (fclose, freopen), closing its
/// twins.
fn forget(fd: RawFd, e: Option<Entry>) {
    if fd < 0 || !state::owns_memory() || is_shims(fdtable::kind_of(fd)) {
        return;
    }
    fdtable::set_kind(fd, kind::EMPTY);
    if let Some(e) = e {
        for (_, t) in e.open_twins() {
            mirror::close_own(t);
        }
    }
}

/// The open(2) flags glibc derives from an fopen mode string.
pub fn mode_flags(mode: &[u8]) -> c_int {
    let mut flags = match mode.first() {
        Some(b'w') => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        Some(b'a') => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
        _ => libc::O_RDONLY,
    };
    // glibc reads at most six modifiers and stops at the end or at ",ccs=".
    for &c in mode.iter().skip(1).take(6) {
        match c {
            b',' => break,
            b'+' => flags = (flags & !libc::O_ACCMODE) | libc::O_RDWR,
            b'x' => flags |= libc::O_EXCL,
            b'e' => flags |= libc::O_CLOEXEC,
            _ => {}
        }
    }
    flags
}

/// After a stream was opened on `path` (`None`: reopened on its own file): mirror the open
/// like open(2) would and mark the descriptor as written by stdio.
fn register(st: &State, f: *mut FILE, path: Option<&[u8]>, mode: &[u8]) -> Result<(), Errno> {
    let fd = file::fileno(f);
    if fd < 0 || !fdtable::covers(fd) {
        return Ok(());
    }
    let mut own = [0u8; mfs_core::path::PATH_MAX];
    let path = match path {
        Some(p) => p,
        None => match sys::fd_path(fd, &mut own) {
            Ok(n) => &own[..n],
            Err(_) => {
                fdtable::set_kind(fd, kind::EMPTY);
                return Ok(());
            }
        },
    };
    let mut scratch = None;
    match st.classify_at(libc::AT_FDCWD, path, &mut scratch) {
        Class::In { hit, .. } => {
            crate::hooks::open::opened(st, fd, Loc::from(hit), mode_flags(mode), 0o666)?;
            if state::owns_memory() {
                fdtable::add_flags(fd, flag::STDIO);
            }
        }
        other => {
            if state::owns_memory() {
                fdtable::set_kind(fd, other.fd_kind());
            }
        }
    }
    Ok(())
}

/// The body of fopen and fopen64.
///
/// # Safety
/// `path` and `mode` must be null or NUL-terminated strings.
unsafe fn fopen_like(path: *const c_char, mode: *const c_char, real: impl FnOnce() -> *mut FILE) -> *mut FILE {
    let f = real();
    if f.is_null() {
        return f;
    }
    let Some(st) = state::get() else { return f };
    // SAFETY: libc's string arguments.
    let (path, mode) = unsafe { (cbytes(path), cbytes(mode).unwrap_or(b"r")) };
    let Some(path) = path else { return f };
    opened_stream(st, f, Some(path), mode)
}

/// Registers a freshly opened stream; in fail mode a mirror error closes it again.
fn opened_stream(st: &State, f: *mut FILE, path: Option<&[u8]>, mode: &[u8]) -> *mut FILE {
    let mut errno = ErrnoGuard::save();
    match protect(|| Ok(()), || register(st, f, path, mode)) {
        Ok(()) => f,
        Err(Errno(e)) => {
            forget(file::fileno(f), None);
            // SAFETY: the stream was just opened and not yet returned to the program.
            unsafe { real::fclose(f) };
            errno.set(e);
            std::ptr::null_mut()
        }
    }
}

/// The body of freopen and freopen64: the old stream is flushed and its descriptor closed
/// (or reused for the new file) inside libc.
///
/// # Safety
/// As for [`fopen_like`]; `f` must be a live stream.
unsafe fn freopen_like(
    path: *const c_char,
    mode: *const c_char,
    f: *mut FILE,
    real: impl FnOnce() -> *mut FILE,
) -> *mut FILE {
    let Some(st) = state::get() else {
        return real();
    };
    let old = file::fileno(f);
    if let Some(t) = Tracked::of_fd(old) {
        flush_pending(f, &t);
    }
    // The old descriptor is forgotten before libc closes it (see `fclose_like`); freopen
    // closes it whether or not the new open succeeds.
    if fdtable::kind_of(old) != kind::EMPTY {
        let _errno = ErrnoGuard::save();
        forget(old, fdtable::get(old));
    }
    let r = real();
    if r.is_null() {
        return r;
    }
    // SAFETY: libc's string arguments.
    let (path, mode) = unsafe { (cbytes(path), cbytes(mode).unwrap_or(b"r")) };
    opened_stream(st, r, path, mode)
}

/// The body of fclose: flush through the accounting, close, forget the descriptor.
fn fclose_like(f: *mut FILE) -> c_int {
    let fd = file::fileno(f);
    let k = fdtable::kind_of(fd);
    if k == kind::EMPTY || is_shims(k) {
        // SAFETY: the program's stream.
        return unsafe { real::fclose(f) };
    }
    let mut flush_error = None;
    if let Some(t) = Tracked::of_fd(fd) {
        if flush_pending(f, &t) != 0 {
            flush_error = Some(sys::errno());
        }
    }
    let entry = fdtable::get(fd);
    if fd <= 2 && entry.is_some() {
        // Output libc wrote to this descriptor outside any stream call (error(), perror()).
        sync_fd(fd);
    }
    // Forgotten while the number is still the stream's: once libc closes it, another
    // thread's open may get it and record its own file there. The pending bytes were
    // flushed above, so libc's close writes nothing more.
    {
        let _errno = ErrnoGuard::save();
        forget(fd, entry);
    }
    // SAFETY: the program's stream.
    let r = unsafe { real::fclose(f) };
    let mut errno = ErrnoGuard::save();
    match flush_error {
        Some(e) if r == 0 => {
            errno.set(e);
            EOF
        }
        _ => r,
    }
}

/// dprintf and friends write through a temporary stream on `fd` and flush it before
/// returning: the `r` bytes they report end at the descriptor's offset.
fn dprintf_like(fd: c_int, real: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = Tracked::of_fd(fd) else {
        return real();
    };
    let held = lock(t.st, t.fd, &t.e);
    let r = real();
    let mut errno = ErrnoGuard::save();
    let res = protect(
        || {
            t.journal();
            Ok(())
        },
        || {
            if r >= 0 {
                t.mirror_flushed(r as u64)
            } else {
                t.journal();
                Ok(())
            }
        },
    );
    drop(held);
    match res {
        Ok(()) => r,
        Err(Errno(e)) => {
            errno.set(e);
            -1
        }
    }
}

/// The stream printf, puts and putchar write to.
fn stdout_stream() -> *mut FILE {
    // SAFETY: reading glibc's `stdout` pointer (the program may reassign it).
    unsafe { std::ptr::addr_of!(stdout).read_volatile() }
}

/// Length of a C string (0 for null, which the real call reports).
fn strlen(s: *const c_char) -> u64 {
    // SAFETY: a string argument the program passed to libc.
    unsafe { cbytes(s) }.map_or(0, |b| b.len() as u64)
}

/// printf's result as a byte count (`None` on failure: how much was written is unknown).
fn printed(r: c_int) -> Option<u64> {
    u64::try_from(r).ok()
}

fn one(_: c_int) -> Option<u64> {
    Some(1)
}

/// Brings the twins of a stdio-written fd level with its primary, before the program's
/// close or dup2 ends the descriptor.
///
/// Every byte an intercepted stdio call flushed was mirrored by that call, so nothing is
/// owed here; the stream itself is gone or no longer ours to flush. What remains is output
/// libc produced where no hook runs: the twin's size is levelled with the primary's (a
/// missing tail is copied, an excess cut), under the coherency lock.
pub fn sync_fd(fd: RawFd) {
    let Some(t) = Tracked::of_fd(fd) else { return };
    let _errno = ErrnoGuard::save();
    let _ = protect(
        || {
            t.journal();
            Ok(())
        },
        || t.level(),
    );
}

/// Flushes every stream on a mirrored file and mirrors what reached the primaries; then
/// levels the descriptors stdio writes (0 to 2 and every stream's) with their primaries.
/// Runs from the library's destructor, after the program's own destructors and before
/// glibc's final flush of all streams.
pub fn at_exit() {
    if state::get().is_none() {
        return;
    }
    let _errno = ErrnoGuard::save();
    protect(
        || (),
        || {
            flush_tracked_streams();
            for (fd, e) in fdtable::mirrored_fds() {
                if fd <= 2 || e.has(flag::STDIO) {
                    if let Some(t) = Tracked::of_fd(fd) {
                        let _ = t.level();
                    }
                }
            }
        },
    );
}

hooks! {
    fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE {
        unsafe { fopen_like(path, mode, || real::fopen(path, mode)) }
    }
    fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE {
        unsafe { fopen_like(path, mode, || real::fopen64(path, mode)) }
    }
    fn freopen(path: *const c_char, mode: *const c_char, f: *mut FILE) -> *mut FILE {
        unsafe { freopen_like(path, mode, f, || real::freopen(path, mode, f)) }
    }
    fn freopen64(path: *const c_char, mode: *const c_char, f: *mut FILE) -> *mut FILE {
        unsafe { freopen_like(path, mode, f, || real::freopen64(path, mode, f)) }
    }
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE {
        let f = unsafe { real::fdopen(fd, mode) };
        if !f.is_null() && fdtable::kind_of(fd) == kind::MIRRORED && state::owns_memory() {
            // The stream writes the description where no hook sees it.
            if let Some(e) = fdtable::get(fd) {
                let _errno = ErrnoGuard::save();
                crate::step::end_for_file(e.key);
            }
            // An "a" stream sets O_APPEND on the descriptor inside libc.
            let append = unsafe { cbytes(mode) }.is_some_and(|m| m.first() == Some(&b'a'));
            fdtable::add_flags(fd, flag::STDIO | if append { flag::APPEND } else { 0 });
        }
        f
    }

    fn fwrite(p: *const c_void, size: size_t, n: size_t, f: *mut FILE) -> size_t {
        let bytes = size.saturating_mul(n) as u64;
        measured(f, Some(bytes), || unsafe { real::fwrite(p, size, n, f) }, |_| Some(bytes), 0)
    }
    fn fwrite_unlocked(p: *const c_void, size: size_t, n: size_t, f: *mut FILE) -> size_t {
        let bytes = size.saturating_mul(n) as u64;
        measured(f, Some(bytes), || unsafe { real::fwrite_unlocked(p, size, n, f) }, |_| Some(bytes), 0)
    }
    fn fputs(s: *const c_char, f: *mut FILE) -> c_int {
        measured(f, Some(strlen(s)), || unsafe { real::fputs(s, f) }, |_| Some(strlen(s)), EOF)
    }
    fn fputs_unlocked(s: *const c_char, f: *mut FILE) -> c_int {
        measured(f, Some(strlen(s)), || unsafe { real::fputs_unlocked(s, f) }, |_| Some(strlen(s)), EOF)
    }
    fn fputc(c: c_int, f: *mut FILE) -> c_int {
        measured(f, Some(1), || unsafe { real::fputc(c, f) }, one, EOF)
    }
    fn fputc_unlocked(c: c_int, f: *mut FILE) -> c_int {
        measured(f, Some(1), || unsafe { real::fputc_unlocked(c, f) }, one, EOF)
    }
    fn putc(c: c_int, f: *mut FILE) -> c_int {
        measured(f, Some(1), || unsafe { real::putc(c, f) }, one, EOF)
    }
    fn putc_unlocked(c: c_int, f: *mut FILE) -> c_int {
        measured(f, Some(1), || unsafe { real::putc_unlocked(c, f) }, one, EOF)
    }
    fn putchar(c: c_int) -> c_int {
        measured(stdout_stream(), Some(1), || unsafe { real::putchar(c) }, one, EOF)
    }
    fn putchar_unlocked(c: c_int) -> c_int {
        measured(stdout_stream(), Some(1), || unsafe { real::putchar_unlocked(c) }, one, EOF)
    }
    fn puts(s: *const c_char) -> c_int {
        let n = strlen(s) + 1;
        measured(stdout_stream(), Some(n), || unsafe { real::puts(s) }, |_| Some(n), EOF)
    }
    fn __overflow(f: *mut FILE, c: c_int) -> c_int {
        let n = u64::from(c != EOF);
        measured(f, None, || unsafe { real::__overflow(f, c) }, |_| Some(n), EOF)
    }

    fn vfprintf(f: *mut FILE, fmt: *const c_char, ap: *mut c_void) -> c_int {
        measured(f, None, || unsafe { real::vfprintf(f, fmt, ap) }, printed, -1)
    }
    fn __vfprintf_chk(f: *mut FILE, flag: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int {
        measured(f, None, || unsafe { real::__vfprintf_chk(f, flag, fmt, ap) }, printed, -1)
    }
    fn mfs_rs_vfprintf(f: *mut FILE, fmt: *const c_char, ap: *mut c_void) -> c_int {
        measured(f, None, || unsafe { real::vfprintf(f, fmt, ap) }, printed, -1)
    }
    fn mfs_rs_vfprintf_chk(f: *mut FILE, flag: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int {
        measured(f, None, || unsafe { real::__vfprintf_chk(f, flag, fmt, ap) }, printed, -1)
    }
    fn vdprintf(fd: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int {
        dprintf_like(fd, || unsafe { real::vdprintf(fd, fmt, ap) })
    }
    fn __vdprintf_chk(fd: c_int, flag: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int {
        dprintf_like(fd, || unsafe { real::__vdprintf_chk(fd, flag, fmt, ap) })
    }
    fn mfs_rs_vdprintf(fd: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int {
        dprintf_like(fd, || unsafe { real::vdprintf(fd, fmt, ap) })
    }
    fn mfs_rs_vdprintf_chk(fd: c_int, flag: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int {
        dprintf_like(fd, || unsafe { real::__vdprintf_chk(fd, flag, fmt, ap) })
    }

    fn fflush(f: *mut FILE) -> c_int {
        if f.is_null() {
            return all_streams(|| unsafe { real::fflush(f) });
        }
        measured(f, None, || unsafe { real::fflush(f) }, |_| Some(0), EOF)
    }
    fn fflush_unlocked(f: *mut FILE) -> c_int {
        if f.is_null() {
            return all_streams(|| unsafe { real::fflush_unlocked(f) });
        }
        measured(f, None, || unsafe { real::fflush_unlocked(f) }, |_| Some(0), EOF)
    }
    fn fseek(f: *mut FILE, off: c_long, whence: c_int) -> c_int {
        seek_like(f, -1, || unsafe { real::fseek(f, off, whence) })
    }
    fn fseeko(f: *mut FILE, off: off_t, whence: c_int) -> c_int {
        seek_like(f, -1, || unsafe { real::fseeko(f, off, whence) })
    }
    fn fseeko64(f: *mut FILE, off: off64_t, whence: c_int) -> c_int {
        seek_like(f, -1, || unsafe { real::fseeko64(f, off, whence) })
    }
    fn fsetpos(f: *mut FILE, pos: *const libc::fpos_t) -> c_int {
        seek_like(f, -1, || unsafe { real::fsetpos(f, pos) })
    }
    fn fsetpos64(f: *mut FILE, pos: *const libc::fpos64_t) -> c_int {
        seek_like(f, -1, || unsafe { real::fsetpos64(f, pos) })
    }
    fn rewind(f: *mut FILE) -> () {
        // rewind reports nothing; after a failed flush it still rewinds and clears the error.
        let Some(t) = Tracked::of(f) else { return unsafe { real::rewind(f) } };
        let _stream = StreamLock::new(f);
        let saved = ErrnoGuard::save();
        flush_pending(f, &t);
        drop(saved);
        unsafe { real::rewind(f) }
    }
    fn fclose(f: *mut FILE) -> c_int {
        fclose_like(f)
    }
    fn fcloseall() -> c_int {
        // glibc's fcloseall flushes every stream and makes it unbuffered; descriptors stay open.
        all_streams(|| unsafe { real::fcloseall() })
    }
}

trampolines! {
    printf => mfs_c_printf;
    fprintf => mfs_c_fprintf;
    __printf_chk => mfs_c_printf_chk;
    __fprintf_chk => mfs_c_fprintf_chk;
    dprintf => mfs_c_dprintf;
    __dprintf_chk => mfs_c_dprintf_chk;
    vprintf => mfs_c_vprintf;
    __vprintf_chk => mfs_c_vprintf_chk;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fopen_modes() {
        use libc::{O_APPEND, O_CLOEXEC, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
        assert_eq!(mode_flags(b"r"), O_RDONLY);
        assert_eq!(mode_flags(b"rb"), O_RDONLY);
        assert_eq!(mode_flags(b"r+"), O_RDWR);
        assert_eq!(mode_flags(b"w"), O_WRONLY | O_CREAT | O_TRUNC);
        assert_eq!(mode_flags(b"wb+"), O_RDWR | O_CREAT | O_TRUNC);
        assert_eq!(mode_flags(b"w+x"), O_RDWR | O_CREAT | O_TRUNC | O_EXCL);
        assert_eq!(mode_flags(b"a"), O_WRONLY | O_CREAT | O_APPEND);
        assert_eq!(mode_flags(b"a+e"), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC);
        assert_eq!(mode_flags(b"w,ccs=UTF-8+"), O_WRONLY | O_CREAT | O_TRUNC);
        assert_eq!(mode_flags(b"rbbbbbb+"), O_RDONLY, "only six modifiers are read");
        assert_eq!(mode_flags(b""), O_RDONLY);
    }
}
