//! The exported hooks, one module per family of calls. Hooks are adapters: classify the fd or
//! path, make the real call, then hand the mirroring to the engine ([`crate::writes`],
//! [`crate::fanout`], [`crate::streams`], [`crate::mappings`], ...), with errno saved and
//! restored and panics caught at this edge ([`crate::edge`]).

pub mod aio;
pub mod fd;
pub mod io;
pub mod meta;
pub mod mmap;
pub mod namespace;
pub mod open;
pub mod stdio;
pub mod syscall;

use crate::fanout::Loc;
use crate::place::Class;
use crate::state::State;

/// Where a change that just succeeded belongs: its place in a pair and its absolute path, or
/// `None` when it is not mirrored. A change at a path the shim cannot place (deeper than
/// PATH_MAX) is journaled for a full resync on the way.
pub fn placed<'a>(st: &State, class: Class<'a>) -> Option<(Loc<'a>, &'a [u8])> {
    match class {
        Class::In { hit, abs } => Some((Loc::from(hit), abs)),
        Class::TooLong => {
            st.unplaced_change();
            None
        }
        _ => None,
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
        pub fn mfs_c_syscall();
    }
}
