//! The shim's diagnostics: off unless `MFS_LOG` asks, written with raw system calls to
//! `MFS_LOG_FILE` (or stderr), never through the program's stdio.
//!
//! `MFS_LOG` takes the tracing `EnvFilter` syntax: comma-separated directives, each a level
//! (`debug`) or `target=level` (`mfs=trace`, `mfs::io=debug`); the most verbose directive that
//! names no target or a target starting with `mfs` sets the level.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Level {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Off as u8);
static FD: AtomicI32 = AtomicI32::new(2);

fn parse_level(s: &str) -> Option<Level> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "off" => Level::Off,
        "error" => Level::Error,
        "warn" => Level::Warn,
        "info" => Level::Info,
        "debug" => Level::Debug,
        "trace" => Level::Trace,
        _ => return None,
    })
}

/// The level an `MFS_LOG` value asks for.
pub fn level_from_filter(filter: &str) -> Level {
    let mut level = Level::Off;
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, lvl) = match directive.split_once('=') {
            Some((t, l)) => (t.trim(), l),
            None => match parse_level(directive) {
                Some(_) => ("", directive),
                // A bare target enables everything for it.
                None => (directive, "trace"),
            },
        };
        let target = target.split('[').next().unwrap_or("");
        if !(target.is_empty() || target.starts_with("mfs")) {
            continue;
        }
        if let Some(l) = parse_level(lvl) {
            level = level.max(l);
        }
    }
    level
}

/// Sets up logging from the environment (called once from the shim's initialisation).
pub fn init(filter: Option<&str>, file: Option<&std::ffi::CStr>, fd_base: i32) {
    let level = filter.map(level_from_filter).unwrap_or(Level::Off);
    if level == Level::Off {
        return;
    }
    if let Some(path) = file {
        let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT;
        if let Ok(fd) = mfs_core::sys::openat(libc::AT_FDCWD, path, flags, 0o600) {
            let fd = mfs_core::sys::move_high(fd, fd_base);
            crate::fdtable::set_kind(fd, crate::fdtable::FdKind::Private);
            FD.store(fd, Ordering::Relaxed);
        }
    }
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Moves the log descriptor from `old` to `new` when it is `old`.
pub fn relocate(old: i32, new: i32) -> bool {
    old != 2 && FD.compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed).is_ok()
}

#[inline(always)]
pub fn enabled(level: Level) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level as u8
}

struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes one line (used by the macros; formatting happens in a stack buffer).
pub fn emit(level: Level, args: std::fmt::Arguments<'_>) {
    let mut line = Line { buf: [0; 1024], len: 0 };
    let _ = write!(line, "mfs[{}] {:?}: ", mfs_core::sys::getpid(), level);
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    let _ = mfs_core::sys::write(FD.load(Ordering::Relaxed), &line.buf[..=line.len]);
}

#[macro_export]
macro_rules! log {
    ($lvl:expr, $($arg:tt)*) => {
        if $crate::log::enabled($lvl) {
            $crate::log::emit($lvl, format_args!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(level_from_filter("debug"), Level::Debug);
        assert_eq!(level_from_filter("warn,mfs=trace"), Level::Trace);
        assert_eq!(level_from_filter("other=trace"), Level::Off);
        assert_eq!(level_from_filter("mfs::io=info"), Level::Info);
        assert_eq!(level_from_filter("mfs"), Level::Trace);
        assert_eq!(level_from_filter(""), Level::Off);
        assert_eq!(level_from_filter("bogus=debug,error"), Level::Error);
    }
}
