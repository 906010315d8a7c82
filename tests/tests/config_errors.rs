//! A bad configuration never breaks the program: the shim prints exactly one line on stderr
//! naming the problem, and the program runs unmirrored and returns its own exit status.

use std::ffi::OsString;
use std::fs;
use std::process::Command;

use mfs_tests::{shim, Outcome, Scratch};

/// The shell script every case runs: only builtins, so exactly one process loads the shim.
const SCRIPT: &str = "echo data > \"$1/f\"; echo out; exit 7";

/// Runs SCRIPT under the shim with `env` set, writing into the scratch primary.
fn run_with(scratch: &Scratch, env: &[(&str, OsString)]) -> Outcome {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(SCRIPT).arg("sh").arg(scratch.primary()).current_dir(scratch.cwd());
    for var in ["MFS_MIRROR", "MFS_CONFIG", "MFS_SOCKET", "MFS_LOG", "MFS_LOG_FILE"] {
        cmd.env_remove(var);
    }
    cmd.env("LD_PRELOAD", shim());
    for (k, v) in env {
        cmd.env(k, v);
    }
    scratch.run_command(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// The common assertions: exit status 7, "out" on stdout, the file written unmirrored, and
/// one stderr line that mentions every one of `needles`.
fn assert_one_line_and_unmirrored(scratch: &Scratch, outcome: &Outcome, needles: &[&str]) {
    assert_eq!(outcome.status.code(), Some(7), "{}", scratch.report(outcome));
    assert_eq!(outcome.stdout_text(), "out\n");
    let stderr = outcome.stderr_text();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want exactly one line on stderr, got:\n{stderr}");
    assert!(stderr.ends_with('\n'), "the line must end with a newline: {stderr:?}");
    for n in needles {
        assert!(lines[0].contains(n), "the message {:?} does not name {n:?}", lines[0]);
    }
    assert_eq!(fs::read(scratch.primary().join("f")).expect("the program wrote f"), b"data\n");
    assert!(!scratch.mirror().join("f").exists(), "nothing may be mirrored with a bad configuration");
}

#[test]
fn mirror_inside_primary() {
    let s = Scratch::new("cfg-inside").unwrap();
    let inner = s.primary().join("inner");
    fs::create_dir(&inner).unwrap();
    let mut spec = s.primary().into_os_string();
    spec.push(":");
    spec.push(&inner);
    let o = run_with(&s, &[("MFS_MIRROR", spec)]);
    assert_one_line_and_unmirrored(&s, &o, &[inner.to_str().unwrap()]);
    assert_eq!(fs::read_dir(&inner).unwrap().count(), 0);
}

#[test]
fn missing_mirror_directory() {
    let s = Scratch::new("cfg-missing").unwrap();
    let missing = s.root().join("no-such-mirror");
    let mut spec = s.primary().into_os_string();
    spec.push(":");
    spec.push(&missing);
    let o = run_with(&s, &[("MFS_MIRROR", spec)]);
    assert_one_line_and_unmirrored(&s, &o, &[missing.to_str().unwrap()]);
    assert!(!missing.exists(), "the shim must not create a missing mirror");
}

#[test]
fn missing_primary_directory_in_config_file() {
    let s = Scratch::new("cfg-missing-primary").unwrap();
    let missing = s.root().join("no-such-primary");
    let config = s.root().join("bad.toml");
    fs::write(
        &config,
        format!(
            "[daemon]\nstate_dir = {:?}\n\n[[pair]]\nprimary = {:?}\nmirror = {:?}\n",
            s.state(),
            missing,
            s.mirror()
        ),
    )
    .unwrap();
    let o = run_with(&s, &[("MFS_CONFIG", config.into())]);
    assert_one_line_and_unmirrored(&s, &o, &[missing.to_str().unwrap()]);
}

#[test]
fn unreadable_config_file() {
    let s = Scratch::new("cfg-nofile").unwrap();
    let config = s.root().join("absent.toml");
    let o = run_with(&s, &[("MFS_CONFIG", config.clone().into())]);
    assert_one_line_and_unmirrored(&s, &o, &[config.to_str().unwrap()]);
}

#[test]
fn malformed_config_file() {
    let s = Scratch::new("cfg-syntax").unwrap();
    let config = s.root().join("broken.toml");
    fs::write(&config, "[[pair]\nprimary = \n").unwrap();
    let o = run_with(&s, &[("MFS_CONFIG", config.clone().into())]);
    assert_one_line_and_unmirrored(&s, &o, &[config.to_str().unwrap()]);
}

#[test]
fn malformed_mirror_variable() {
    let s = Scratch::new("cfg-spec").unwrap();
    let o = run_with(&s, &[("MFS_MIRROR", s.primary().into())]);
    assert_one_line_and_unmirrored(&s, &o, &["MFS_MIRROR"]);
}
