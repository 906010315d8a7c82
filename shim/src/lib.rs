//! libmfs.so: a mirror file system in user space, loaded with `LD_PRELOAD`.
//!
//! Every change a program makes under a primary directory is made, before the call returns,
//! under each mirror directory of its pair. A hook classifies its fd or path (one table load
//! or one prefix check when it is outside every pair), makes the real call, and on success
//! repeats the change on each online copy through raw system calls, resolving every mirror
//! path beneath the mirror's root.
//!
//! Layout, from the edges inwards:
//! - the system: [`real`] resolves libc's functions; raw system calls are `mfs_core::sys`;
//! - the FFI edge: [`edge`] (re-entrancy guard, panic containment, the fail-mode result),
//!   [`hooks`], one module per family of intercepted calls, each an adapter;
//! - process-wide state: [`life`] (initialisation, fork, vfork), [`owner`], [`state`] and its
//!   parts [`place`] (where a path belongs), [`copies`] (each copy's state), [`cwd`];
//!   [`fdtable`] maps fd numbers to twins; [`sync`] holds the concurrency primitives;
//! - the engine: [`fanout`] applies a change to the other copies, [`writes`] mirrors the data
//!   path, [`coherency`] keeps concurrent writers coherent, [`lockstep`] keeps twin offsets
//!   level for plain twin writes, [`streams`] and [`mappings`] mirror stdio and shared maps,
//!   [`metadata`] applies metadata changes, [`adopt`] rebuilds the table after exec.

pub mod adopt;
pub mod bufs;
pub mod coherency;
pub mod copies;
pub mod cwd;
pub mod edge;
pub mod fanout;
pub mod fdtable;
pub mod glibc_file;
pub mod hooks;
pub mod intents;
pub mod life;
pub mod lockstep;
pub mod log;
pub mod mappings;
pub mod metadata;
pub mod owner;
pub mod place;
pub mod quick_scan;
pub mod real;
pub mod state;
pub mod streams;
pub mod sync;
pub mod writes;

/// Runs when the library is loaded: resolves real symbols and initialises the shim (which
/// does nothing when neither `MFS_MIRROR` nor `MFS_CONFIG` is set). Hooks that run earlier
/// (other libraries' constructors) initialise on first use instead.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn on_load() {
    life::resolve_vfork();
    if std::env::var_os(mfs_core::config::ENV_MIRROR).is_none()
        && std::env::var_os(mfs_core::config::ENV_CONFIG).is_none()
    {
        return;
    }
    // Real symbols resolve on first use of each (eager resolution of the whole table would
    // cost every program start about as much as the rest of initialisation).
    life::init();
}

/// Runs at exit, after the program's own destructors: flushes stdio streams and
/// synchronises shared mappings so every byte that reached a primary reaches its twins.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn on_unload() {
    if life::get().is_none() {
        return;
    }
    let _errno = mfs_core::sys::ErrnoGuard::save();
    streams::at_exit();
    mappings::at_exit();
    if let Some(st) = life::get() {
        intents::at_exit(st);
    }
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = on_load;

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = on_unload;
