//! mfs-core: everything the MFS shim, `mfsctl` and its daemon share that does not hook
//! anything.
//!
//! - [`config`]: `MFS_MIRROR`, `MFS_CONFIG` (TOML), defaults and validation;
//! - [`path`]: allocation-free lexical normalisation of byte paths;
//! - [`classify`]: which pair and copy a path belongs to;
//! - [`quick`]: the 64-byte block test that rules out most paths outside every pair;
//! - [`journal`]: the on-disk journal of paths a copy is behind on, and its appender;
//! - [`shared`]: the shared state file every process maps (journal counters, lock slots);
//! - [`locks`]: the coherency lock algorithm on those slots;
//! - [`failure`]: what an error from a copy means for it;
//! - [`sys`]: raw system calls, the FFI edge for the above;
//! - [`objects`]: copying and removing whole objects beneath a copy's root;
//! - [`tree`]: side-by-side comparison of two directory trees.
//!
//! This crate exports no C symbols, so linking it never interposes anything. `unsafe` is
//! confined to `sys`, `shared` and `locks`.

pub mod classify;
pub mod config;
pub mod failure;
pub mod journal;
pub mod locks;
pub mod objects;
pub mod path;
pub mod quick;
pub mod shared;
pub mod sys;
pub mod tree;
