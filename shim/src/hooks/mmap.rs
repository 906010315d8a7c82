//! Shared writable memory maps of mirrored files.

/// Synchronises every shared writable mapping of a mirrored file.
pub fn at_exit() {}
