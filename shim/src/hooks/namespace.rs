//! Namespace calls: mkdir, rmdir, unlink, remove, rename, link, symlink, mknod, mkfifo,
//! truncate. The primary call runs first; on success the same change runs on every other
//! copy, beneath its root.

use libc::{c_char, c_int, mode_t};

use super::{cbytes, protect};
use crate::mirror::{self, Loc};
use crate::state::{self, Class};
use crate::sys::{self, ErrnoGuard};

/// Mirrors a directory the primary just created.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn mirror_mkdir(dirfd: c_int, path: *const c_char, mode: mode_t) -> Option<sys::Errno> {
    let st = state::get()?;
    // SAFETY: caller's contract.
    let bytes = unsafe { cbytes(path) }?;
    let _errno = ErrnoGuard::save();
    let mut scratch = None;
    protect(
        || None,
        || match st.classify_at(dirfd, bytes, &mut scratch) {
            Class::In { hit, abs } => mirror::fanout_path(st, Loc::from(hit), abs, |_, dir, name| sys::mkdirat(dir, name, mode)).err(),
            _ => None,
        },
    )
}
