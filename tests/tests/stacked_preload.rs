//! A second interposer preloaded after the shim still sees every open, openat, close and write
//! the program makes, outside the pair as inside it (the shim calls the next definition, never
//! around it), and mirroring works as usual.

use std::path::Path;

use mfs_tests::{cc, compare_trees, target_dir, workspace_root, Mirroring, Scratch};

/// Runs count_main under the shim and the counting library `lib`; returns the counts it
/// wrote (opens, closes, writes) after checking the mirror.
fn run_stacked(name: &str, lib: &Path, prog: &Path, n: u64) -> [u64; 3] {
    let scratch = Scratch::new(name).unwrap();
    let outside = scratch.cwd().join("outside.txt");
    std::fs::write(&outside, "outside\n").unwrap();
    let counts = scratch.root().join("counts");
    let args = [outside.clone().into_os_string(), scratch.primary().join("f").into_os_string(), n.to_string().into()];
    let mut cmd = scratch.command(prog, &args, &Mirroring::Env);
    let mut preload = mfs_tests::shim().as_os_str().to_owned();
    preload.push(" ");
    preload.push(lib);
    cmd.env("LD_PRELOAD", preload).env("COUNT_FILE", &counts);
    let o = scratch.run_command(cmd).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.success(), "{}", scratch.report(&o));
    assert_eq!(std::fs::read(&outside).unwrap().len(), "outside\n".len() + n as usize / 2);
    assert_eq!(std::fs::read(scratch.mirror().join("f")).unwrap(), b"stacked\n");
    let diffs = compare_trees(&scratch.primary(), &scratch.mirror());
    assert!(diffs.is_empty(), "{diffs:?}");

    let text = std::fs::read_to_string(&counts).expect("the counting library wrote its counts");
    let words: Vec<&str> = text.split_whitespace().collect();
    let [_, opens, _, closes, _, writes] = words[..] else { panic!("counts: {text:?}") };
    [opens, closes, writes].map(|w| w.parse().unwrap())
}

#[test]
fn an_interposer_after_the_shim_sees_every_call() {
    let data = workspace_root().join("tests/data");
    let out = target_dir().join("stacked-preload");
    std::fs::create_dir_all(&out).unwrap();
    let (lib, only_write, prog) =
        (out.join("libcount_calls.so"), out.join("libcount_writes.so"), out.join("count_main"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let source = s(&data.join("count_calls.c"));
    cc(&["-O1", "-Wall", "-Werror", "-shared", "-fPIC", "-o", &s(&lib), &source, "-ldl"]);
    cc(&["-O1", "-Wall", "-Werror", "-DONLY_WRITE", "-shared", "-fPIC", "-o", &s(&only_write), &source, "-ldl"]);
    cc(&["-O1", "-Wall", "-Werror", "-o", &s(&prog), &s(&data.join("count_main.c"))]);
    let n = 100;

    let [opens, closes, writes] = run_stacked("stacked-preload", &lib, &prog, n);
    assert!(opens > n && closes > n, "the second interposer saw {opens} opens and {closes} closes of {}", n + 1);
    assert!(writes > n / 2, "the second interposer saw {writes} writes of {}", n / 2 + 1);

    // An interposer of write alone: the shim's other calls may go to the kernel directly,
    // write must not.
    let [_, _, writes] = run_stacked("stacked-preload-write", &only_write, &prog, n);
    assert!(writes > n / 2, "the write interposer saw {writes} writes of {}", n / 2 + 1);
}
