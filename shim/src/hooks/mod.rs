//! The exported hooks, one module per family of calls. Hooks are thin: classify, make the
//! real call, then hand the mirroring to safe functions, with errno saved and restored and
//! panics caught at this edge.

pub mod fd;
pub mod io;
pub mod meta;
pub mod mmap;
pub mod namespace;
pub mod open;
pub mod stdio;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::log::Level;

/// Runs shim work after (or before) a real call. A panic inside is caught and logged, and
/// `on_panic` runs (journaling what may now differ); the program's call is never affected.
#[inline]
pub fn protect<R>(on_panic: impl FnOnce() -> R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            crate::log!(Level::Error, "internal error caught; the affected path is journaled");
            on_panic()
        }
    }
}

/// The bytes of a C string, or `None` for a null pointer.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string.
#[inline]
pub unsafe fn cbytes<'a>(p: *const libc::c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null and NUL-terminated by the caller's contract (a libc argument).
        Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes())
    }
}

/// Declares exported hooks; under `cfg(test)` they are not exported, so the crate's own test
/// binary is never interposed on.
macro_rules! hooks {
    ($( $(#[$m:meta])* fn $name:ident($($a:ident : $t:ty),* $(,)?) -> $r:ty $body:block )*) => {$(
        $(#[$m])*
        ///
        /// # Safety
        /// Called with the arguments and contract of the C function of this name.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name($($a: $t),*) -> $r $body
    )*};
}
pub(crate) use hooks;

/// Exported variadic names: each jumps, registers untouched, to its C entry in variadic.c.
macro_rules! trampolines {
    ($($name:ident => $target:ident;)*) => {
        $(
            /// # Safety
            /// Called with the arguments and contract of the C function of this name.
            #[unsafe(naked)]
            #[cfg_attr(not(test), no_mangle)]
            pub unsafe extern "C" fn $name() {
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!("jmp {}", sym $crate::hooks::centry::$target);
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $crate::hooks::centry::$target);
            }
        )*
    };
}
pub(crate) use trampolines;

/// The C entry points of variadic.c (hidden symbols; only their addresses are used).
#[allow(dead_code)]
pub(crate) mod centry {
    extern "C" {
        pub fn mfs_c_fcntl();
        pub fn mfs_c_ioctl();
        pub fn mfs_c_printf();
        pub fn mfs_c_fprintf();
        pub fn mfs_c_printf_chk();
        pub fn mfs_c_fprintf_chk();
        pub fn mfs_c_dprintf();
        pub fn mfs_c_dprintf_chk();
        pub fn mfs_c_vprintf();
        pub fn mfs_c_vprintf_chk();
        pub fn mfs_c_mremap();
    }
}

#[cfg(test)]
mod tests {
    use super::protect;

    #[test]
    fn a_panic_in_shim_work_runs_the_fallback_and_returns_its_value() {
        let mut journaled = false;
        let r: i32 = protect(
            || {
                journaled = true;
                -7
            },
            || panic!("internal error"),
        );
        assert_eq!(r, -7);
        assert!(journaled);
    }

    #[test]
    fn work_that_does_not_panic_is_returned_as_is() {
        let r: Result<u8, ()> = protect(|| Err(()), || Ok(3));
        assert_eq!(r, Ok(3));
    }
}
