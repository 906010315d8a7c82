//! stdio streams: the stream creators (fopen, freopen, fdopen) tell the shim which streams
//! write a mirrored file; every output, flush, seek and close entry point then goes through
//! [`crate::streams`], which mirrors the bytes each call flushed before it returns.

use libc::{c_char, c_int, c_long, c_void, off64_t, off_t, size_t, FILE};
use mfs_core::sys::{self, Errno, ErrnoGuard};

use super::{cbytes, hooks, trampolines};
use crate::edge::protect;
use crate::fanout::Loc;
use crate::fdtable::{self, flag, FdKind};
use crate::glibc_file::{self as file, stdout_stream, StreamLock};
use crate::life;
use crate::owner::owns_memory;
use crate::place::Class;
use crate::real;
use crate::state::State;
use crate::streams::{all_streams, dprintf_like, flush_pending, forget, measured, seek_like, sync_fd, Tracked, EOF};

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
                fdtable::set_kind(fd, FdKind::Empty);
                return Ok(());
            }
        },
    };
    let mut scratch = None;
    match st.place.classify_at(libc::AT_FDCWD, path, &mut scratch) {
        Class::In { hit, .. } => {
            super::open::opened(st, fd, Loc::from(hit), mode_flags(mode), 0o666)?;
            if owns_memory() {
                fdtable::add_flags(fd, flag::STDIO);
            }
        }
        other if owns_memory() && super::open::may_write(mode_flags(mode)) => {
            super::open::opened_elsewhere(st, fd, mode_flags(mode), 0o666, other.fd_kind());
            if fdtable::kind_of(fd) == FdKind::Mirrored {
                fdtable::add_flags(fd, flag::STDIO);
            }
        }
        other => {
            if owns_memory() {
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
    let Some(st) = life::get() else { return f };
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
    let Some(st) = life::get() else {
        return real();
    };
    let old = file::fileno(f);
    if let Some(t) = Tracked::of_fd(old) {
        flush_pending(f, &t);
    }
    // The old descriptor is forgotten before libc closes it (see `fclose_like`); freopen
    // closes it whether or not the new open succeeds.
    if fdtable::kind_of(old) != FdKind::Empty {
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
    if k == FdKind::Empty || k.is_shims() {
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
        if !f.is_null() && fdtable::kind_of(fd) == FdKind::Mirrored && owns_memory() {
            // The stream writes the description where no hook sees it.
            if let Some(e) = fdtable::get(fd) {
                let _errno = ErrnoGuard::save();
                crate::lockstep::end_for_file(e.key);
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
