//! Every C program in `c-tests/` run under the shim: exit status 0 (the program checked the
//! result and errno of each of its calls), then identical primary and mirror trees.
//!
//! The open, data and descriptor families have one named test each; every other program
//! found in `c-tests/` at test time is run by `discovered_programs`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use mfs_tests::{c_program_names, run_c_test};

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        /// The programs that have a test of their own below.
        const NAMED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                if let Err(e) = run_c_test(stringify!($name)) {
                    panic!("{e}");
                }
            }
        )*
    };
}

c_tests! {
    open_basic,
    open_at,
    open_fortify,
    open_tmpfile,
    open_mkstemp,
    open_errors,
    open_direct,
    io_write,
    io_pwrite,
    io_writev,
    io_append,
    io_truncate,
    io_fallocate,
    io_sync,
    io_copy,
    io_ficlone,
    io_read_mirror,
    io_offsets,
    io_offsets_unhooked,
    proc_offsets,
    fd_dup,
    fd_close,
    fd_proc_iterate,
    fd_fork,
    fd_rlimit,
    cfg_fail_mode,
    cfg_degrade,
    path_no_openat2,
}

/// Programs with a test of their own elsewhere (they take other arguments or need a fault
/// set up around them).
fn has_own_test(name: &str) -> bool {
    NAMED.contains(&name) || name.starts_with("conc_") || name.starts_with("fault_")
}

/// Runs every other `c-tests/*.c` (written for other families of calls), a few at a time,
/// and reports every failure by program name.
#[test]
fn discovered_programs() {
    let names: Vec<String> = c_program_names().into_iter().filter(|n| !has_own_test(n)).collect();
    if names.is_empty() {
        return;
    }
    let queue = Mutex::new(names.clone());
    let failures = Mutex::new(BTreeMap::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2).min(names.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(name) = queue.lock().unwrap().pop() else {
                    break;
                };
                if let Err(e) = run_c_test(&name) {
                    failures.lock().unwrap().insert(name, e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!("ran {} discovered program(s): {}", names.len(), names.join(" "));
    if !failures.is_empty() {
        let mut msg = format!(
            "{} of {} discovered program(s) failed: {}\n",
            failures.len(),
            names.len(),
            failures.keys().cloned().collect::<Vec<_>>().join(" ")
        );
        for (name, e) in &failures {
            msg.push_str(&format!("\n===== {name} =====\n{e}\n"));
        }
        panic!("{msg}");
    }
}
