//! A second interposer preloaded after the shim still sees every open, openat and close the
//! program makes, outside the pair as inside it (the shim calls the next definition, never
//! around it), and mirroring works as usual.

use std::path::Path;

use mfs_tests::{cc, compare_trees, target_dir, workspace_root, Mirroring, Scratch};

#[test]
fn an_interposer_after_the_shim_sees_every_call() {
    let data = workspace_root().join("tests/data");
    let out = target_dir().join("stacked-preload");
    std::fs::create_dir_all(&out).unwrap();
    let lib = out.join("libcount_calls.so");
    let prog = out.join("count_main");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    cc(&["-O1", "-Wall", "-Werror", "-shared", "-fPIC", "-o", &s(&lib), &s(&data.join("count_calls.c")), "-ldl"]);
    cc(&["-O1", "-Wall", "-Werror", "-o", &s(&prog), &s(&data.join("count_main.c"))]);

    let scratch = Scratch::new("stacked-preload").unwrap();
    let outside = scratch.cwd().join("outside.txt");
    std::fs::write(&outside, "outside\n").unwrap();
    let counts = scratch.root().join("counts");
    let n = 100;
    let args = [outside.clone().into_os_string(), scratch.primary().join("f").into_os_string(), n.to_string().into()];
    let mut cmd = scratch.command(&prog, &args, &Mirroring::Env);
    let mut preload = mfs_tests::shim().as_os_str().to_owned();
    preload.push(" ");
    preload.push(&lib);
    cmd.env("LD_PRELOAD", preload).env("COUNT_FILE", &counts);
    let o = scratch.run_command(cmd).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.success(), "{}", scratch.report(&o));

    let text = std::fs::read_to_string(&counts).expect("the counting library wrote its counts");
    let words: Vec<&str> = text.split_whitespace().collect();
    let [_, opens, _, closes] = words[..] else { panic!("counts: {text:?}") };
    let (opens, closes): (u64, u64) = (opens.parse().unwrap(), closes.parse().unwrap());
    assert!(opens > n && closes > n, "the second interposer saw {opens} opens and {closes} closes of {}", n + 1);
    assert_eq!(std::fs::read(scratch.mirror().join("f")).unwrap(), b"stacked\n");
    let diffs = compare_trees(&scratch.primary(), &scratch.mirror());
    assert!(diffs.is_empty(), "{diffs:?}");
}
