//! libmfs.so: a mirror file system in user space, loaded with `LD_PRELOAD`.
//!
//! Every change a program makes under a primary directory is made, before the call returns,
//! under each mirror directory of its pair. A hook classifies its fd or path (one table load
//! or one prefix check when it is outside every pair), makes the real call, and on success
//! repeats the change on each online copy through raw system calls, resolving every mirror
//! path beneath the mirror's root.
//!
//! Layout: [`real`] resolves libc's functions; [`state`] holds configuration and the life
//! cycle; [`fdtable`] maps fd numbers to twins; [`lock`] keeps concurrent writers coherent;
//! [`step`] keeps twin offsets level with the primary's for plain twin writes;
//! [`mirror`] applies a change to the other copies; [`hooks`] has one module per family of
//! intercepted calls; [`adopt`] rebuilds the table from inherited descriptors after exec.

pub mod adopt;
pub mod cpath;
pub mod fdtable;
pub mod fmt;
pub mod guard;
pub mod hooks;
pub mod lock;
pub mod log;
pub mod mirror;
pub mod objects;
pub mod real;
pub mod state;
pub mod step;
pub mod sys;

/// Runs when the library is loaded: resolves real symbols and initialises the shim (which
/// does nothing when neither `MFS_MIRROR` nor `MFS_CONFIG` is set). Hooks that run earlier
/// (other libraries' constructors) initialise on first use instead.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn on_load() {
    hooks::fd::resolve_vfork();
    if std::env::var_os(mfs_core::config::ENV_MIRROR).is_none()
        && std::env::var_os(mfs_core::config::ENV_CONFIG).is_none()
    {
        return;
    }
    // Real symbols resolve on first use of each (eager resolution of the whole table would
    // cost every program start about as much as the rest of initialisation).
    state::init();
}

/// Runs at exit, after the program's own destructors: flushes stdio streams and
/// synchronises shared mappings so every byte that reached a primary reaches its twins.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn on_unload() {
    if state::get().is_none() {
        return;
    }
    let _errno = sys::ErrnoGuard::save();
    hooks::stdio::at_exit();
    hooks::mmap::at_exit();
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = on_load;

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = on_unload;
