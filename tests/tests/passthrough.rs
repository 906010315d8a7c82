//! With the shim preloaded but neither `MFS_MIRROR` nor `MFS_CONFIG` set, programs behave
//! exactly as without it: same output, same exit status, same files.

use std::ffi::OsString;
use std::process::Command;

use mfs_tests::{c_program, compare_trees, Mirroring, Outcome, Scratch};

/// Runs `program args` natively and under the unconfigured shim, each in a scratch of its own.
fn both(program: &str, args: &[&str]) -> (Outcome, Outcome) {
    let native_dir = Scratch::new("native").unwrap();
    let mut native = Command::new(program);
    native.args(args).current_dir(native_dir.cwd()).env_remove("LD_PRELOAD");
    let native = native_dir.run_command(native).unwrap_or_else(|e| panic!("{e}"));
    let shimmed_dir = Scratch::new("shimmed").unwrap();
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let shimmed = shimmed_dir.run(program, &args, &Mirroring::Off).unwrap_or_else(|e| panic!("{e}"));
    (native, shimmed)
}

fn assert_same(native: &Outcome, shimmed: &Outcome) {
    assert_eq!(native.status.code(), shimmed.status.code());
    assert_eq!(native.stdout_text(), shimmed.stdout_text());
    assert_eq!(native.stderr_text(), shimmed.stderr_text());
}

#[test]
fn shell_output_and_exit_status_are_unchanged() {
    let (native, shimmed) = both("/bin/sh", &["-c", "echo hi; echo err >&2; exit 3"]);
    assert_eq!(native.status.code(), Some(3));
    assert_eq!(native.stdout_text(), "hi\n");
    assert_same(&native, &shimmed);
}

#[test]
fn empty_variables_mean_unset() {
    let s = Scratch::new("empty-vars").unwrap();
    let mut cmd = s.command("/bin/sh", &["-c".into(), "echo hi; exit 5".into()], &Mirroring::Off);
    cmd.env("MFS_MIRROR", "").env("MFS_CONFIG", "");
    let o = s.run_command(cmd).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(o.stdout_text(), "hi\n");
    assert_eq!(o.stderr_text(), "");
}

#[test]
fn file_operations_are_unchanged_and_unmirrored() {
    let s = Scratch::new("unconfigured").unwrap();
    let script = "mkdir \"$1/d\" && echo abc > \"$1/d/f\" && cat \"$1/d/f\" && cp \"$1/d/f\" \"$1/g\" && ln -s d/f \"$1/l\" && rm \"$1/g\"; echo done";
    let args: Vec<OsString> = vec!["-c".into(), script.into(), "sh".into(), s.primary().into()];
    let o = s.run("/bin/sh", &args, &Mirroring::Off).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.success(), "{}", s.report(&o));
    assert_eq!(o.stdout_text(), "abc\ndone\n");
    assert_eq!(o.stderr_text(), "");
    assert_eq!(std::fs::read(s.primary().join("d/f")).unwrap(), b"abc\n");
    assert_eq!(std::fs::read_dir(s.mirror()).unwrap().count(), 0, "nothing may reach the mirror");
    assert!(!s.log_path().exists(), "an unconfigured shim writes no log");
    // The primary tree is what a native run makes.
    let n = Scratch::new("unconfigured-native").unwrap();
    let args: Vec<String> = vec!["-c".into(), script.into(), "sh".into(), n.primary().to_string_lossy().into_owned()];
    let mut native = Command::new("/bin/sh");
    native.args(&args).current_dir(n.cwd()).env_remove("LD_PRELOAD");
    let no = n.run_command(native).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(no.stdout_text(), o.stdout_text());
    assert_eq!(compare_trees(&n.primary(), &s.primary()), vec![]);
}

#[test]
fn a_c_program_fails_the_same_way_without_mirroring() {
    // open_basic checks the mirror: with mirroring off those checks fail, and must fail
    // identically with and without the preloaded shim.
    let prog = c_program("open_basic").unwrap_or_else(|e| panic!("{e}"));
    let prog = prog.to_str().unwrap();
    let native_dir = Scratch::new("native-c").unwrap();
    let shim_dir = Scratch::new("shim-c").unwrap();
    let mut native = Command::new(prog);
    native.arg(native_dir.primary()).arg(native_dir.mirror()).current_dir(native_dir.cwd()).env_remove("LD_PRELOAD");
    let native = native_dir.run_command(native).unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<OsString> = vec![shim_dir.primary().into(), shim_dir.mirror().into()];
    let shimmed = shim_dir.run(prog, &args, &Mirroring::Off).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(native.status.code(), shimmed.status.code());
    let scrub = |o: &Outcome, dir: &Scratch| o.stderr_text().replace(dir.root().to_str().unwrap(), "SCRATCH");
    assert_eq!(scrub(&native, &native_dir), scrub(&shimmed, &shim_dir));
    assert_eq!(compare_trees(&native_dir.primary(), &shim_dir.primary()), vec![]);
    assert_eq!(compare_trees(&native_dir.mirror(), &shim_dir.mirror()), vec![]);
}
