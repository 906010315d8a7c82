//! `mfsctl` as a user runs it: the release binary beside the release `libmfs.so` (built by
//! the test harness when missing or stale), real programs under `mfsctl run`, and
//! `mfsctl verify` checked against the harness's independent tree comparison.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with `A` (primary) and `B` (mirror), removed on success.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let root = std::env::temp_dir().join(format!("mfsctl-cli-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("A")).unwrap();
        fs::create_dir_all(root.join("B")).unwrap();
        Tmp(root)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
    /// `mfsctl ARGS` with the scratch directory as working directory and a clean environment.
    fn mfsctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(mfs_tests::mfsctl());
        cmd.args(args).current_dir(&self.0);
        for var in ["LD_PRELOAD", "MFS_MIRROR", "MFS_CONFIG", "MFS_SOCKET", "MFS_LOG", "MFS_LOG_FILE", "MFS_SHIM"] {
            cmd.env_remove(var);
        }
        // Journals of these runs stay inside the scratch directory.
        cmd.env("XDG_RUNTIME_DIR", self.path("run"));
        cmd
    }
    fn out(&self, args: &[&str]) -> Output {
        self.mfsctl(args).output().expect("mfsctl starts")
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a bad-input failure: exit 2, nothing on stdout, one `mfsctl: ` line on stderr
/// containing `want`.
fn assert_bad_input(out: &Output, want: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("mfsctl: ") && err.contains(want), "{err:?} should mention {want:?}");
}

/// Asserts that the harness's own comparison finds the trees identical.
fn assert_same_trees(primary: &Path, mirror: &Path) {
    let diffs = mfs_tests::compare_trees(primary, mirror);
    assert!(diffs.is_empty(), "independent comparison: {:?}", diffs.iter().map(|d| d.to_string()).collect::<Vec<_>>());
}

#[test]
fn run_mirrors_a_shell_session_and_verify_agrees() {
    let t = Tmp::new("session");
    fs::write(t.path("source.txt"), b"some bytes\n").unwrap();
    let out = t.out(&["run", "--mirror", "A:B", "--", "sh", "-c", "mkdir A/d && cp source.txt A/d/x && echo hi > A/f"]);
    assert!(out.status.success(), "run failed: {}", text(&out.stderr));
    assert_eq!(fs::read(t.path("B/d/x")).unwrap(), b"some bytes\n");
    assert_eq!(fs::read(t.path("B/f")).unwrap(), b"hi\n");
    assert_same_trees(&t.path("A"), &t.path("B"));

    let out = t.out(&["verify", "A", "B"]);
    assert_eq!(out.status.code(), Some(0), "verify: {}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.stdout.is_empty(), "no differences expected: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("are identical (3 entries"), "{}", text(&out.stderr));
}

#[test]
fn verify_lists_each_difference_and_exits_1() {
    let t = Tmp::new("differences");
    for root in ["A", "B"] {
        fs::create_dir(t.path(root).join("sub")).unwrap();
        fs::write(t.path(root).join("same"), b"equal").unwrap();
    }
    fs::write(t.path("A/sub/changed"), b"one").unwrap();
    fs::write(t.path("B/sub/changed"), b"two").unwrap();
    fs::write(t.path("A/new"), b"").unwrap();
    fs::write(t.path("B/stale"), b"").unwrap();
    fs::set_permissions(t.path("B/same"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(t.path("A/same"), fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink("same", t.path("A/link")).unwrap();
    fs::create_dir(t.path("B/link")).unwrap();

    let out = t.out(&["verify", "A", "B"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "type differs: link (symlink vs directory)\n\
         only in primary: new\n\
         mode differs: same (0644 vs 0600)\n\
         only in mirror: stale\n\
         content differs: sub/changed\n"
    );
    assert!(text(&out.stderr).contains("5 differences"), "{}", text(&out.stderr));
}

#[test]
fn verify_by_pair_name_compares_every_mirror() {
    let t = Tmp::new("byname");
    fs::create_dir(t.path("C")).unwrap();
    let config = t.path("mfs.toml");
    fs::write(
        &config,
        format!(
            "[daemon]\nstate_dir = \"{0}/state\"\n\n[[pair]]\nname = \"data\"\nprimary = \"{0}/A\"\nmirror = [\"{0}/B\", \"{0}/C\"]\n",
            t.0.display()
        ),
    )
    .unwrap();
    let out = t.out(&["run", "--config", "mfs.toml", "--", "sh", "-c", "echo data > A/file"]);
    assert!(out.status.success(), "run failed: {}", text(&out.stderr));
    assert_eq!(fs::read(t.path("C/file")).unwrap(), b"data\n");

    let out = t.out(&["verify", "--config", "mfs.toml", "data"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));

    fs::remove_file(t.path("C/file")).unwrap();
    let out = t.out(&["verify", "--config", "mfs.toml", "data"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), format!("{}: only in primary: file\n", t.path("C").display()));

    assert_bad_input(&t.out(&["verify", "--config", "mfs.toml", "nosuch"]), "unknown pair \"nosuch\"");
    assert_bad_input(&t.out(&["verify", "nosuch"]), "no configuration");
}

#[test]
fn verify_refuses_missing_directories() {
    let t = Tmp::new("missing");
    assert_bad_input(&t.out(&["verify", "A", "nowhere"]), "mirror nowhere does not exist");
    fs::write(t.path("file"), b"").unwrap();
    assert_bad_input(&t.out(&["verify", "file", "B"]), "primary file is not a directory");
}

#[test]
fn exit_status_and_signals_pass_through() {
    let t = Tmp::new("status");
    let out = t.out(&["run", "--mirror", "A:B", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = t.out(&["run", "--mirror", "A:B", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.signal(), Some(9), "{:?}", out.status);
    let out = t.out(&["run", "--mirror", "A:B", "--", "./no-such-program"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).starts_with("mfsctl: cannot run ./no-such-program: "), "{}", text(&out.stderr));
}

#[test]
fn bad_configuration_stops_before_the_command_runs() {
    let t = Tmp::new("badcfg");
    let marker = "touch ran";
    for (mirror, want) in [
        ("A", "is not PRIMARY:MIRROR"),
        ("A:", "empty path"),
        ("A:nowhere", "does not exist"),
        ("A:A/inner", "does not exist"),
        ("A:A", "same directory"),
    ] {
        let out = t.out(&["run", "--mirror", mirror, "--", "sh", "-c", marker]);
        assert_bad_input(&out, want);
        assert!(!t.path("ran").exists(), "{mirror}: the command ran");
    }
    assert_bad_input(&t.out(&["run", "--", "true"]), "nothing to mirror");
    assert_bad_input(&t.out(&["run", "--config", "absent.toml", "--", "true"]), "cannot read configuration file");
}

#[test]
fn child_environment_names_the_shim_and_the_pairs() {
    let t = Tmp::new("env");
    fs::create_dir(t.path("odd:name")).unwrap();
    let out = t
        .mfsctl(&[
            "run",
            "--mirror",
            "odd\\:name:B",
            "--",
            "sh",
            "-c",
            "printf '%s\\n' \"$LD_PRELOAD\" \"$MFS_MIRROR\"",
        ])
        .env("LD_PRELOAD", "libm.so.6")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shim = mfs_tests::shim();
    assert_eq!(
        text(&out.stdout),
        format!("libm.so.6:{}\n{}/odd\\:name:{}/B\n", shim.display(), t.0.display(), t.0.display())
    );
}

#[test]
fn shim_is_taken_from_mfs_shim_when_not_beside_mfsctl() {
    let t = Tmp::new("shimpath");
    let lone = t.path("bin/mfsctl");
    fs::create_dir(t.path("bin")).unwrap();
    fs::copy(mfs_tests::mfsctl(), &lone).unwrap();
    let run = |shim: Option<&Path>| {
        let mut cmd = t.mfsctl(&["run", "--mirror", "A:B", "--", "sh", "-c", "echo x > A/f"]);
        if let Some(s) = shim {
            cmd.env("MFS_SHIM", s);
        }
        // The same arguments and environment, but the copy of mfsctl with no shim beside it.
        let mut lone_cmd = Command::new(&lone);
        lone_cmd.args(cmd.get_args()).current_dir(&t.0);
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => lone_cmd.env(key, v),
                None => lone_cmd.env_remove(key),
            };
        }
        lone_cmd.output().unwrap()
    };
    assert_bad_input(&run(None), "cannot find libmfs.so");
    assert!(!t.path("A/f").exists(), "the command ran without the shim");
    let out = run(Some(mfs_tests::shim()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fs::read(t.path("B/f")).unwrap(), b"x\n");
}

#[test]
fn programs_that_cannot_be_interposed_are_named() {
    let t = Tmp::new("static");
    fs::write(t.path("s.c"), "int main(void) { return 5; }\n").unwrap();
    let built = Command::new("cc").args(["-static", "-o", "static-prog", "s.c"]).current_dir(&t.0).output();
    if !built.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED programs_that_cannot_be_interposed_are_named: `cc -static` does not work here (libc6-dev provides libc.a)");
        return;
    }
    let out = t.out(&["run", "--mirror", "A:B", "--", "./static-prog"]);
    assert_eq!(out.status.code(), Some(5), "the program still runs");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("mfsctl: warning: ./static-prog is statically linked"), "{err}");
    // A dynamically linked program gets no warning.
    let out = t.out(&["run", "--mirror", "A:B", "--", "true"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn help_answers_the_questions() {
    let t = Tmp::new("help");
    let top = text(&t.out(&["--help"]).stdout);
    for want in ["run", "verify", "daemon", "status", "offline", "online", "resync", "Exit status", "Example"] {
        assert!(top.contains(want), "mfsctl --help lacks {want:?}:\n{top}");
    }
    for absent in ["mount", "unmount"] {
        assert!(!top.lines().any(|l| l.trim_start().starts_with(absent)), "lists {absent}:\n{top}");
    }
    let run = text(&t.out(&["run", "--help"]).stdout);
    for want in ["MFS_SHIM", "LD_PRELOAD", "needs no daemon", "127", "statically linked", "Examples"] {
        assert!(run.contains(want), "mfsctl run --help lacks {want:?}:\n{run}");
    }
    let online = text(&t.out(&["online", "--help"]).stdout);
    for want in ["journal", "--copy", "resumes", "3 when no daemon answers"] {
        assert!(online.contains(want), "mfsctl online --help lacks {want:?}:\n{online}");
    }
    let verify = text(&t.out(&["verify", "--help"]).stdout);
    for want in ["0 when the copies are identical", "1 when differences", "2 on bad", "content differs"] {
        assert!(verify.contains(want), "mfsctl verify --help lacks {want:?}:\n{verify}");
    }
}
