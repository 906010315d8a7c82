//! Test support: building the shim and C programs, running them, comparing trees.
