//! The control plane with real faults: a writer of real programs keeps changing the primary
//! while the mirror is taken offline by the administrator, fills up (a tiny tmpfs), turns
//! read-only (a loop-mounted ext4), loses its server (sshfs), or while the daemon is killed;
//! nothing lands on the mirror while it is out of service, the writer never fails nor blocks,
//! and after the resync, with the writer stopped, the trees are identical. Also: writers
//! SIGKILLed mid-write, conflicts in two-way mode, and the commands' errors.
//!
//! The mount tests need root (as `.ci/run` has); without it they say so and skip.

use std::path::Path;
use std::time::Duration;

use mfs_tests::control::{copy_status, mfsctl, mfsctl_ok, snapshot, status, wait_for, Daemon, Mount, Writer};
use mfs_tests::netfs::{FuseMount, SshServer};
use mfs_tests::{compare_trees, Scratch};

fn identical(s: &Scratch, mirror: &Path) {
    let diffs = compare_trees(&s.primary(), mirror);
    if !diffs.is_empty() {
        s.keep();
        panic!("{} differences after the resync, first: {:?}", diffs.len(), &diffs[..diffs.len().min(10)]);
    }
}

fn state_of(config: &Path) -> String {
    copy_status(config, 1)["state"].as_str().unwrap_or("?").to_string()
}

/// While the copy is out of service, nothing on it changes.
fn untouched_while_offline(s: &Scratch, tree: &Path, writer: &Writer) {
    let before = snapshot(tree);
    writer.wait_rounds(20, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    let after = snapshot(tree);
    if before != after {
        s.keep();
        let changed: Vec<_> = after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k).take(5).collect();
        panic!("a change reached the copy while it was offline: {changed:?}");
    }
}

/// Stops the writer, resyncs, and compares.
fn settle(s: &Scratch, config: &Path, writer: Writer, mirror: &Path) {
    let rounds = writer.stop().unwrap_or_else(|e| {
        s.keep();
        panic!("{e}\n{}", s.shim_log())
    });
    assert!(rounds > 40, "the writer did only {rounds} rounds");
    mfsctl_ok(config, &["resync", "test"]);
    identical(s, mirror);
    let c = copy_status(config, 1);
    assert_eq!(c["state"], "online", "{c}");
    assert_eq!(c["journal_entries"], 0, "{c}");
}

#[test]
fn administrator_offline_and_online_while_writing() {
    let s = Scratch::new("cp-admin").unwrap();
    let config = s.write_config(&[]).unwrap();
    let d = Daemon::start(&s, &config);
    let w = Writer::start(&s, &config, 0);
    w.wait_rounds(30, Duration::from_secs(30)).unwrap();
    let out = mfsctl_ok(&config, &["offline", "test"]);
    assert!(out.contains("is offline"), "{out}");
    let c = copy_status(&config, 1);
    assert_eq!((c["state"].as_str(), c["offline_reason"].as_str()), (Some("offline"), Some("administrator")), "{c}");
    untouched_while_offline(&s, &s.mirror(), &w);
    let c = copy_status(&config, 1);
    assert!(c["journal_entries"].as_u64() > Some(0) && c["dirty_paths"].as_u64() > Some(0), "{c}");
    let out = mfsctl(&config, &["online", "test"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("back online"));
    assert_eq!(state_of(&config), "online");
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    settle(&s, &config, w, &s.mirror());
    assert!(d.log_text().contains("taken offline by the administrator"));
}

#[test]
fn a_mirror_that_fills_up_goes_offline_and_comes_back_when_enlarged() {
    let s = Scratch::new("cp-enospc").unwrap();
    let mount = match Mount::tmpfs(&s.mirror(), "1m") {
        Ok(m) => m,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    // A tmpfs root is 1777; the primary's is not.
    std::fs::set_permissions(s.mirror(), std::fs::metadata(s.primary()).unwrap().permissions()).unwrap();
    let config = s.write_config(&[]).unwrap();
    let _d = Daemon::start(&s, &config);
    // 40 files of 48 KiB: about 2 MiB, twice what the mirror holds.
    let w = Writer::start(&s, &config, 48 * 1024);
    wait_for("the full mirror to go offline", Duration::from_secs(60), || state_of(&config) == "offline")
        .unwrap_or_else(|e| panic!("{e}: {}", status(&config)));
    let c = copy_status(&config, 1);
    assert_eq!(c["offline_reason"], "failures", "{c}");
    assert_eq!(c["last_error"]["errno"], libc::ENOSPC, "{c}");
    untouched_while_offline(&s, &s.mirror(), &w);
    mount.remount("remount,size=64m").unwrap();
    wait_for("the enlarged mirror to come back", Duration::from_secs(60), || state_of(&config) == "online")
        .unwrap_or_else(|e| panic!("{e}: {}", status(&config)));
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    settle(&s, &config, w, &s.mirror());
}

#[test]
fn a_mirror_remounted_read_only_goes_offline_and_comes_back() {
    let s = Scratch::new("cp-erofs").unwrap();
    let mount = match Mount::ext4(&s.root().join("mirror.img"), 64, &s.mirror()) {
        Ok(m) => m,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let _ = std::fs::remove_dir(s.mirror().join("lost+found"));
    let config = s.write_config(&[]).unwrap();
    let _d = Daemon::start(&s, &config);
    let w = Writer::start(&s, &config, 0);
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    mount.remount("remount,ro").unwrap();
    wait_for("the read-only mirror to go offline", Duration::from_secs(60), || state_of(&config) == "offline")
        .unwrap_or_else(|e| panic!("{e}: {}", status(&config)));
    assert_eq!(copy_status(&config, 1)["last_error"]["errno"], libc::EROFS);
    untouched_while_offline(&s, &s.mirror(), &w);
    mount.remount("remount,rw").unwrap();
    wait_for("the writable mirror to come back", Duration::from_secs(60), || state_of(&config) == "online")
        .unwrap_or_else(|e| panic!("{e}: {}", status(&config)));
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    settle(&s, &config, w, &s.mirror());
}

#[test]
fn an_sshfs_mirror_whose_server_stops_comes_back_with_it() {
    let s = Scratch::new("cp-sshfs").unwrap();
    let remote = s.root().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let mut server = match SshServer::start(&s.root().join("sshd")) {
        Ok(v) => v,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let _fuse = match FuseMount::sshfs(&server, &remote, &s.mirror()) {
        Ok(v) => v,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let config = s.write_config(&[]).unwrap();
    let _d = Daemon::start(&s, &config);
    let w = Writer::start(&s, &config, 0);
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    server.stop();
    wait_for("the mirror of a stopped server to go offline", Duration::from_secs(90), || {
        state_of(&config) == "offline"
    })
    .unwrap_or_else(|e| panic!("{e}: {}", status(&config)));
    // The server's own directory: nothing reaches it (the mount cannot be read meanwhile).
    untouched_while_offline(&s, &remote, &w);
    server.resume().unwrap();
    wait_for("the mirror to come back with its server", Duration::from_secs(90), || state_of(&config) == "online")
        .unwrap_or_else(|e| panic!("{e}: {}", status(&config)));
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    settle(&s, &config, w, &remote);
}

#[test]
fn the_daemon_killed_mid_run_blocks_no_writer_and_picks_up_again() {
    let s = Scratch::new("cp-daemon-kill").unwrap();
    let config = s.write_config(&[]).unwrap();
    let mut d = Daemon::start(&s, &config);
    let w = Writer::start(&s, &config, 0);
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    mfsctl_ok(&config, &["offline", "test"]);
    d.kill();
    // No daemon: the writer goes on, the copy stays offline for it.
    w.wait_rounds(30, Duration::from_secs(30)).unwrap();
    assert_eq!(mfsctl(&config, &["status"]).status.code(), Some(3), "no daemon answers");
    let d2 = Daemon::start(&s, &config);
    let c = copy_status(&config, 1);
    assert_eq!(c["state"], "offline", "{c}");
    assert!(c["journal_entries"].as_u64() > Some(0), "{c}");
    mfsctl_ok(&config, &["online", "test"]);
    // Killed in the middle of a resync: the next one finishes it.
    mfsctl_ok(&config, &["offline", "test"]);
    w.wait_rounds(20, Duration::from_secs(30)).unwrap();
    drop(d2);
    let _d3 = Daemon::start(&s, &config);
    mfsctl_ok(&config, &["online", "test"]);
    settle(&s, &config, w, &s.mirror());
}

/// Writers killed with SIGKILL at random moments, 50 times, some between the primary and the
/// mirror of a write: their intents are found and `mfsctl resync` repairs every file.
#[test]
fn writers_killed_mid_write_are_repaired_by_resync() {
    let Some(python) = ["/usr/bin/python3", "/bin/python3"].into_iter().find(|p| Path::new(p).exists()) else {
        return eprintln!("skipped: python3 is not installed");
    };
    let s = Scratch::new("cp-sigkill").unwrap();
    let config = s.write_config(&[]).unwrap();
    let d = Daemon::start(&s, &config);
    let script = r#"
import os, random, sys
p = sys.argv[1]
random.seed(os.getpid())
os.makedirs(p + "/k", exist_ok=True)
block = os.urandom(1 << 20)
while True:
    n = random.randrange(8)
    fd = os.open(f"{p}/k/f{n}", os.O_WRONLY | os.O_CREAT, 0o644)
    for _ in range(4):
        os.pwrite(fd, block[: random.randrange(1, 1 << 20)], random.randrange(8 << 20))
    os.ftruncate(fd, random.randrange(1, 9 << 20))
    os.close(fd)
    os.rename(f"{p}/k/f{n}", f"{p}/k/g{n}")
"#;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..50 {
        let args = vec!["-c".into(), script.into(), s.primary().into()];
        let mut cmd = s.command(python, &args, &mfs_tests::Mirroring::Off);
        cmd.env("MFS_CONFIG", &config).env("MFS_LOG", "warn").env("MFS_LOG_FILE", s.log_path());
        let r = s.spawn(cmd).unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(150 + rng % 250));
        // SAFETY: SIGKILLs the process group this test started, by its pid.
        unsafe { libc::kill(-(r.pid() as i32), libc::SIGKILL) };
        let o = r.wait(Duration::from_secs(10)).unwrap();
        assert!(!o.success(), "the writer was expected to be killed: {}", o.stderr_text());
    }
    mfsctl_ok(&config, &["resync", "test"]);
    identical(&s, &s.mirror());
    assert!(d.log_text().contains("died while changing"), "no intent of a killed writer was found:\n{}", d.log_text());
}

/// Changed on both sides while the mirror was out of service: the newer wins, the older is
/// kept beside it on both copies, and status and the log report it.
#[test]
fn a_path_changed_on_both_sides_is_a_conflict() {
    let s = Scratch::new("cp-conflict").unwrap();
    let config = s.write_config(&[]).unwrap();
    let d = Daemon::start(&s, &config);
    let sh = |script: &str| {
        let args = vec!["-c".into(), script.into(), "sh".into(), s.primary().into()];
        let mut cmd = s.command("/bin/sh", &args, &mfs_tests::Mirroring::Off);
        cmd.env("MFS_CONFIG", &config);
        let o = s.run_command(cmd).unwrap();
        assert!(o.success(), "{}", s.report(&o));
    };
    sh("echo first > \"$1/doc\"; echo same > \"$1/other\"");
    assert_eq!(std::fs::read(s.mirror().join("doc")).unwrap(), b"first\n");
    mfsctl_ok(&config, &["offline", "test"]);
    sh("echo 'primary side' > \"$1/doc\"; echo changed > \"$1/other\"");
    std::thread::sleep(Duration::from_millis(50));
    // Directly on the mirror, without the shim: the newer change.
    std::fs::write(s.mirror().join("doc"), b"mirror side\n").unwrap();
    let out = mfsctl_ok(&config, &["online", "test"]);
    assert!(out.contains("1 conflicts"), "{out}");
    for side in [s.primary(), s.mirror()] {
        assert_eq!(std::fs::read(side.join("doc")).unwrap(), b"mirror side\n");
        let kept: Vec<_> = std::fs::read_dir(&side)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("doc.mfs-conflict-"))
            .collect();
        assert_eq!(kept.len(), 1, "in {}", side.display());
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), b"primary side\n");
        assert_eq!(std::fs::read(side.join("other")).unwrap(), b"changed\n");
    }
    identical(&s, &s.mirror());
    let st = status(&config);
    assert_eq!(st["pairs"][0]["conflicts"][0]["path"], "doc", "{st}");
    assert!(d.log_text().contains("conflict at doc"));
}

/// Bad input and a missing daemon: one line, a non-zero status.
#[test]
fn commands_fail_with_one_line_reasons() {
    let s = Scratch::new("cp-errors").unwrap();
    let config = s.write_config(&[]).unwrap();
    let one_line = |args: &[&str], code: i32, want: &str| {
        let o = mfsctl(&config, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "mfsctl {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "mfsctl {args:?}: {err}");
        assert!(err.contains(want), "mfsctl {args:?}: {err}");
    };
    one_line(&["status"], 3, "no daemon answers");
    one_line(&["offline", "test"], 3, "no daemon answers");
    let mut d = Daemon::start(&s, &config);
    one_line(&["offline", "nope"], 1, "unknown pair nope (known: test)");
    one_line(&["offline", "test", "--copy", "/nonexistent"], 1, "is not a copy of pair test");
    let primary = s.primary();
    one_line(&["offline", "test", "--copy", primary.to_str().unwrap()], 1, "only a mirror can be taken offline");
    one_line(&["online", "test"], 1, "already online");
    mfsctl_ok(&config, &["offline", "test"]);
    one_line(&["offline", "test"], 1, "already offline");
    one_line(&["resync", "nope"], 1, "unknown pair nope");
    mfsctl_ok(&config, &["online", "test"]);
    let again = Daemon::start_expecting_failure(&config);
    assert!(again.contains("already"), "a second daemon: {again}");
    // SIGTERM stops it cleanly: exit 0, the socket removed.
    let st = d.terminate().expect("the daemon exits on SIGTERM");
    assert!(st.success(), "{st}");
    assert!(!s.state().join("mfsd.sock").exists());
    assert!(d.log_text().contains("stopping on a signal"));
}

/// `mfsctl run` starts a daemon for its session when none answers; it exits on its own once
/// idle.
#[test]
fn run_starts_a_daemon_that_exits_when_idle() {
    let s = Scratch::new("cp-run-daemon").unwrap();
    let config = s.write_config(&[]).unwrap();
    let o = std::process::Command::new(mfs_tests::mfsctl())
        .args(["run", "--config"])
        .arg(&config)
        .args(["--", "sh", "-c", "echo hi > \"$0/f\""])
        .arg(s.primary())
        .env_remove("LD_PRELOAD")
        .env_remove("MFS_MIRROR")
        .env_remove("MFS_SOCKET")
        .env_remove("MFS_CONFIG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(s.mirror().join("f")).unwrap(), b"hi\n");
    let pid: i32 = std::fs::read_to_string(s.state().join("mfsd.pid")).unwrap().trim().parse().unwrap();
    let st = status(&config);
    assert_eq!(st["daemon_pid"], pid, "{st}");
    // Even with its socket file removed (its directory cleaned up), it notices it is idle.
    std::fs::remove_file(s.state().join("mfsd.sock")).unwrap();
    let gone = wait_for("the idle daemon to exit", Duration::from_secs(30), || {
        // SAFETY: signal 0 only checks whether the process exists.
        unsafe { libc::kill(pid, 0) != 0 }
    });
    if gone.is_err() {
        // SAFETY: stops the daemon this test started, by its pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("the daemon started by mfsctl run did not exit when idle");
    }
    assert!(std::fs::read_to_string(s.state().join("mfsd.log")).unwrap().contains("idle"));
}

/// How a resync is interrupted.
#[derive(Clone, Copy, PartialEq)]
enum Interrupt {
    /// Its client gets SIGINT, as Ctrl-C does.
    Client,
    /// The daemon is SIGKILLed in the middle of it, and started again.
    Daemon,
}

/// A resync interrupted stops, leaves the copy offline with its journal, and the next
/// `online` finishes it without writing again what the first one wrote.
fn interrupted(how: Interrupt) {
    let Some(python) = ["/usr/bin/python3", "/bin/python3"].into_iter().find(|p| Path::new(p).exists()) else {
        return eprintln!("skipped: python3 is not installed");
    };
    let s = Scratch::new("cp-interrupt").unwrap();
    let config = s.write_config(&[]).unwrap();
    let mut d = Daemon::start(&s, &config);
    mfsctl_ok(&config, &["offline", "test"]);
    let script = r#"
import os, sys
p = sys.argv[1]
block = os.urandom(8192)
for d in range(100):
    os.makedirs(f"{p}/d{d}", exist_ok=True)
    for f in range(200):
        with open(f"{p}/d{d}/f{f}", "wb") as fh:
            fh.write(block[: 4096 + (d * 200 + f) % 4096])
"#;
    let args = vec!["-c".into(), script.into(), s.primary().into()];
    let mut cmd = s.command(python, &args, &mfs_tests::Mirroring::Off);
    cmd.env("MFS_CONFIG", &config);
    let o = s.run_command(cmd).unwrap();
    assert!(o.success(), "{}", s.report(&o));
    let mut online = std::process::Command::new(mfs_tests::mfsctl())
        .args(["online", "test"])
        .env("MFS_CONFIG", &config)
        .env_remove("LD_PRELOAD")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first progress line: the resync is under way.
    let mut err = std::io::BufReader::new(online.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("resync"), "{line}");
    let _keep = match how {
        Interrupt::Client => {
            // SAFETY: interrupts the client this test started, by its pid.
            unsafe { libc::kill(online.id() as i32, libc::SIGINT) };
            let _ = online.wait();
            wait_for("the interrupted resync to stop", Duration::from_secs(20), || state_of(&config) == "offline")
                .unwrap();
            d
        }
        Interrupt::Daemon => {
            d.kill();
            let st = online.wait().unwrap();
            assert!(!st.success(), "online reported success from a killed daemon");
            d = Daemon::start(&s, &config);
            d
        }
    };
    let c = copy_status(&config, 1);
    assert_eq!(c["state"], "offline", "{c}");
    assert!(c["dirty_paths"].as_u64() > Some(0), "the rest is still journaled: {c}");
    let out = mfsctl_ok(&config, &["online", "test"]);
    let written: u64 = out.split(" paths, ").nth(1).and_then(|t| t.split(' ').next()?.parse().ok()).unwrap();
    let total: u64 = (0..20_000u64).map(|i| 4096 + i % 4096).sum();
    assert!(written < total, "the second run wrote {written} of {total} bytes: it started over");
    identical(&s, &s.mirror());
}

#[test]
fn a_resync_interrupted_by_its_client_resumes() {
    interrupted(Interrupt::Client);
}

#[test]
fn a_resync_whose_daemon_is_killed_resumes_with_the_next_daemon() {
    interrupted(Interrupt::Daemon);
}

/// Past `journal_limit` the copy needs a full resync: status says so, and `online` does one.
#[test]
fn an_overflowing_journal_asks_for_a_full_resync() {
    let s = Scratch::new("cp-overflow").unwrap();
    let config = s.write_config(&["journal_limit = 20".into()]).unwrap();
    let _d = Daemon::start(&s, &config);
    std::fs::create_dir_all(s.primary().join("old")).unwrap();
    std::fs::write(s.mirror().join("stale"), b"only on the mirror").unwrap();
    mfsctl_ok(&config, &["offline", "test"]);
    let w = Writer::start(&s, &config, 0);
    w.wait_rounds(30, Duration::from_secs(30)).unwrap();
    let rounds = w.stop().unwrap();
    let c = copy_status(&config, 1);
    assert_eq!(c["full_resync"], true, "after {rounds} rounds: {c}");
    let out = mfsctl_ok(&config, &["online", "test"]);
    assert!(out.contains("back online"), "{out}");
    assert!(!s.mirror().join("stale").exists(), "a full resync removes what the primary lacks");
    identical(&s, &s.mirror());
    assert_eq!(copy_status(&config, 1)["full_resync"], false);
}

/// A client that connects and says nothing holds up no other client.
#[test]
fn a_silent_client_blocks_no_other() {
    let s = Scratch::new("cp-silent").unwrap();
    let config = s.write_config(&[]).unwrap();
    let _d = Daemon::start(&s, &config);
    let silent: Vec<_> =
        (0..4).map(|_| std::os::unix::net::UnixStream::connect(s.state().join("mfsd.sock")).unwrap()).collect();
    let start = std::time::Instant::now();
    for _ in 0..5 {
        mfsctl_ok(&config, &["status"]);
    }
    assert!(start.elapsed() < Duration::from_secs(5), "status took {:?} beside silent clients", start.elapsed());
    drop(silent);
    // A malformed request gets a reason, and the daemon goes on.
    use std::io::{Read, Write};
    let mut c = std::os::unix::net::UnixStream::connect(s.state().join("mfsd.sock")).unwrap();
    c.write_all(b"{\"v\":1,\"op\":\"format-disk\"}\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("malformed request"), "{answer}");
    let mut c = std::os::unix::net::UnixStream::connect(s.state().join("mfsd.sock")).unwrap();
    c.write_all(b"{\"v\":9,\"op\":\"status\"}\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("protocol version 9"), "{answer}");
    mfsctl_ok(&config, &["status"]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(s.state().join("mfsd.sock")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}
