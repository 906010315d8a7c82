//! mfs-core: everything the MFS shim and `mfsctl` share that does not hook anything.
//!
//! - [`config`]: `MFS_MIRROR`, `MFS_CONFIG` (TOML), defaults and validation;
//! - [`path`]: allocation-free lexical normalisation of byte paths;
//! - [`classify`]: which pair and copy a path belongs to;
//! - [`journal`]: the on-disk journal of paths a copy is behind on;
//! - [`tree`]: side-by-side comparison of two directory trees.
//!
//! This crate exports no C symbols, so linking it never interposes anything.

pub mod classify;
pub mod config;
pub mod journal;
pub mod path;
pub mod quick;
pub mod tree;
