//! stress-ng's file system and I/O stressors under the shim, each for two seconds in a
//! scratch primary: afterwards the mirror is identical, or every file that differs is known
//! to be behind: journaled, or the file a writer was killed in the middle of (its coherency
//! lock slot still names a thread that no longer exists; stress-ng ends its workers with
//! SIGKILL, and the next resynchronisation repairs what one left half written).
//!
//! Skipped with a notice where stress-ng is not installed (`.ci/run` installs it).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mfs_tests::{compare_trees, Mirroring, Scratch};

fn stress_ng() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("stress-ng")).find(|p| p.is_file())
}

/// Coherency keys whose lock slot is held by a thread that no longer exists (layout of
/// core/src/shared.rs and core/src/locks.rs: a 4096-byte header, then 64-byte slots, each
/// a 32-bit word with the holder's thread id in its low 30 bits and the file's key at 8).
fn keys_of_dead_holders(state: &Path) -> Vec<u64> {
    let Ok(table) = std::fs::read(state.join("shared.v4")) else { return Vec::new() };
    table
        .get(4096..4096 + 4096 * 64)
        .unwrap_or(&[])
        .chunks_exact(64)
        .filter_map(|slot| {
            let word = u32::from_ne_bytes(slot[0..4].try_into().unwrap());
            let key = u64::from_ne_bytes(slot[8..16].try_into().unwrap());
            let tid = (word & 0x3fff_ffff) as i32;
            let alive = tid != 0 && std::path::Path::new(&format!("/proc/{tid}")).exists();
            (tid != 0 && !alive).then_some(key)
        })
        .collect()
}

fn key_of(path: &Path) -> Option<u64> {
    let m = std::fs::symlink_metadata(path).ok()?;
    let k = m.dev().rotate_left(32) ^ m.ino();
    Some(if k == 0 { 1 } else { k })
}

fn run(stressor: &str, extra: &[&str]) {
    let Some(stress) = stress_ng() else {
        return eprintln!("stress-ng is not installed: {stressor} skipped");
    };
    let s = Scratch::new(&format!("stress-{stressor}")).unwrap();
    let mut args: Vec<OsString> =
        vec!["--temp-path".into(), s.primary().into(), "--keep-files".into(), "--timeout".into(), "2s".into()];
    args.push(format!("--{stressor}").into());
    args.push("1".into());
    args.extend(extra.iter().map(OsString::from));
    let o = s.run(&stress, &args, &Mirroring::Env).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.success(), "stress-ng --{stressor}: {}\n{}", o.status_text(), s.report(&o));
    let journal = std::fs::read_to_string(s.state().join("primary.1.journal")).unwrap_or_default();
    let dead = keys_of_dead_holders(&s.state());
    let silent: Vec<String> = compare_trees(&s.primary(), &s.mirror())
        .into_iter()
        .filter(|d| {
            let rel = String::from_utf8_lossy(d.path()).into_owned();
            let journaled = journal.lines().any(|l| l.starts_with("D ") && l.ends_with(&format!(" {rel}")));
            let half_written = key_of(&s.primary().join(&rel)).is_some_and(|k| dead.contains(&k));
            !(journaled || half_written)
        })
        .map(|d| format!("  {d}"))
        .collect();
    if !silent.is_empty() {
        s.keep();
        panic!("stress-ng --{stressor} left differences nothing records:\n{}\n{}", silent.join("\n"), s.report(&o));
    }
}

macro_rules! stressors {
    ($($test:ident: $name:literal $(, $arg:literal)*;)*) => {$(
        #[test]
        fn $test() {
            run($name, &[$($arg),*]);
        }
    )*};
}

stressors! {
    iomix: "iomix", "--iomix-bytes", "8M", "--iomix-ops", "50000", "--timeout", "30s";
    fpunch: "fpunch";
    open: "open";
    aio: "aio";
    aiol: "aiol";
    io_uring: "io-uring";
    hdd: "hdd", "--hdd-bytes", "16M";
    seek: "seek", "--seek-size", "16M";
    readahead: "readahead", "--readahead-bytes", "16M";
    revio: "revio", "--revio-bytes", "16M";
    sync_file: "sync-file", "--sync-file-bytes", "16M";
    fallocate: "fallocate", "--fallocate-bytes", "16M";
    copy_file: "copy-file", "--copy-file-bytes", "128M";
    rename: "rename";
    link: "link";
    symlink: "symlink";
    touch: "touch";
    utime: "utime";
    xattr: "xattr";
    chmod: "chmod";
    mknod: "mknod";
    dir: "dir";
    dentry: "dentry";
    filename: "filename";
    fiemap: "fiemap";
    lockf: "lockf";
    fcntl: "fcntl";
    dup: "dup";
}
