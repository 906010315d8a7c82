//! A coherency lock left held by a process that no longer exists (killed mid-write) must not
//! hang writers: they notice the dead owner, take the lock over, mirror, and journal what the
//! holder may have left half-done.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use mfs_tests::{compare_trees, Mirroring, Scratch};

/// Layout of `STATE/shared.v4` (core/src/shared.rs): a 4096-byte header, then 4096 slots of 64
/// bytes, each starting with the 32-bit lock word (the holder's thread id) and, at byte 8, the
/// 64-bit key of the file being written.
const HEADER: u64 = 4096;
const SLOTS: u64 = 4096;
const SLOT: u64 = 64;

#[test]
fn a_lock_held_by_a_vanished_process_is_recovered() {
    let s = Scratch::new("stale-lock").unwrap();
    // A first mirrored write creates the lock table.
    let script = "printf first > \"$1/f\"";
    let args: Vec<OsString> = vec!["-c".into(), script.into(), "sh".into(), s.primary().into()];
    let o = s.run("/bin/sh", &args, &Mirroring::Env).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.success(), "{}", s.report(&o));
    let table = s.state().join("shared.v4");
    assert!(table.exists(), "the lock table is created in the state directory");

    // A process id that no longer exists: a child that has been reaped.
    let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
    let dead = child.id() as i32;
    child.wait().unwrap();

    // Every slot now looks held by the vanished process (lock word = its tid, a key set), as
    // if it died mid-write.
    let f = OpenOptions::new().read(true).write(true).open(&table).unwrap();
    for i in 0..SLOTS {
        let at = HEADER + i * SLOT;
        let mut fields = [0u8; 16];
        fields[0..4].copy_from_slice(&dead.to_ne_bytes());
        fields[8..16].copy_from_slice(&(i + 1).to_ne_bytes());
        f.write_all_at(&fields, at).unwrap();
    }
    drop(f);

    let script = "printf 'second write, after recovery\\n' >> \"$1/f\"; echo other > \"$1/g\"";
    let args: Vec<OsString> = vec!["-c".into(), script.into(), "sh".into(), s.primary().into()];
    let start = Instant::now();
    let o = s.run("/bin/sh", &args, &Mirroring::Env).unwrap_or_else(|e| panic!("{e}"));
    let took = start.elapsed();
    assert!(o.success(), "{}", s.report(&o));
    assert!(took < Duration::from_secs(20), "writers waited {took:?} for a vanished holder");
    assert_eq!(std::fs::read(s.mirror().join("f")).unwrap(), b"firstsecond write, after recovery\n");
    let diffs = compare_trees(&s.primary(), &s.mirror());
    assert!(diffs.is_empty(), "{diffs:?}");
    // The holder may have left a file half-written: the recovery is journaled.
    let journal: String = std::fs::read_dir(s.state())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".journal"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(journal.lines().any(|l| l.starts_with("D ")), "journal after recovery: {journal:?}");
}
