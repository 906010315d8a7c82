//! Coherency under concurrent writers: 4 processes × 4 threads write overlapping random
//! ranges of one 1 MiB file through the shim (pwrite, lseek + write, writev, pwritev), 20
//! times over; after each round the primary and the mirror must be byte-identical.

use std::ffi::OsString;

use mfs_tests::{c_program, compare_trees, Mirroring, Scratch, CHILD_TIMEOUT};

const PROCESSES: usize = 4;
const THREADS: usize = 4;
const OPS_PER_THREAD: usize = 250;
const ROUNDS: usize = 20;

#[test]
fn concurrent_overlapping_writers_leave_identical_copies() {
    let prog = c_program("conc_writers").unwrap_or_else(|e| panic!("{e}"));
    let scratch = Scratch::new("concurrency").expect("scratch directory");
    for round in 0..ROUNDS {
        let running: Vec<_> = (0..PROCESSES)
            .map(|p| {
                let seed = (round * PROCESSES + p + 1).to_string();
                let args: Vec<OsString> = vec![
                    scratch.primary().into(),
                    scratch.mirror().into(),
                    seed.into(),
                    THREADS.to_string().into(),
                    OPS_PER_THREAD.to_string().into(),
                ];
                scratch.spawn(scratch.command(&prog, &args, &Mirroring::Env)).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for (p, r) in running.into_iter().enumerate() {
            let outcome = r.wait(CHILD_TIMEOUT).unwrap_or_else(|e| panic!("round {round}, process {p}: {e}"));
            assert!(
                outcome.success(),
                "round {round}, process {p}: {}\n{}",
                outcome.status_text(),
                scratch.report(&outcome)
            );
        }
        let diffs = compare_trees(&scratch.primary(), &scratch.mirror());
        assert!(
            diffs.is_empty(),
            "round {round}: primary and mirror differ after concurrent writes:\n{}\n--- shim log ---\n{}",
            diffs.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"),
            scratch.shim_log()
        );
        let size = std::fs::metadata(scratch.primary().join("shared")).expect("shared file").len();
        assert!(size > 0 && size <= 1 << 20, "round {round}: unexpected size {size}");
    }
}
