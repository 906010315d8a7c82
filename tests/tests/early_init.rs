//! Hooks work before the shim's own constructor has run: a library loaded by the program has
//! its constructor run first, and what it writes through stdio and open/write must reach the
//! mirror all the same.

use std::path::Path;

use mfs_tests::{cc, compare_trees, target_dir, workspace_root, Mirroring, Scratch};

#[test]
fn a_library_constructor_that_runs_first_is_mirrored() {
    let data = workspace_root().join("tests/data");
    let out = target_dir().join("early-init");
    std::fs::create_dir_all(&out).unwrap();
    let lib = out.join("libearly.so");
    let prog = out.join("early_main");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    cc(&["-O1", "-Wall", "-Werror", "-shared", "-fPIC", "-o", &s(&lib), &s(&data.join("early_lib.c"))]);
    cc(&[
        "-O1",
        "-Wall",
        "-Werror",
        "-o",
        &s(&prog),
        &s(&data.join("early_main.c")),
        &format!("-L{}", s(&out)),
        "-learly",
        &format!("-Wl,-rpath,{}", s(&out)),
    ]);

    let scratch = Scratch::new("early-init").unwrap();
    let mut cmd = scratch.command(&prog, &[], &Mirroring::Env);
    cmd.env("EARLY_DIR", scratch.primary());
    let o = scratch.run_command(cmd).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.success(), "{}", scratch.report(&o));
    assert_eq!(o.stdout_text(), "early_status=0\n");
    let got = std::fs::read(scratch.mirror().join("from-constructor.txt")).expect("the constructor's file is mirrored");
    assert_eq!(got, b"written before the shim's constructor\n");
    assert_eq!(std::fs::read(scratch.mirror().join("open-in-constructor.txt")).unwrap(), b"raw\n");
    let diffs = compare_trees(&scratch.primary(), &scratch.mirror());
    assert!(diffs.is_empty(), "{diffs:?}");
}
