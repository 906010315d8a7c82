//! The control plane under test: a real `mfsctl daemon` started and stopped (by its pid) by
//! the test, `mfsctl` commands, a writer made of real programs (bash, cp, tar, mv, rm, head)
//! that keeps changing the primary under the shim, real faults (mounts the test makes and
//! undoes), and a snapshot of a tree to show that nothing was written to a copy while it was
//! out of service.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::netfs::{is_root, run};
use crate::scratch::{Mirroring, Running, Scratch};

/// `mfsctl ARGS` with the test's configuration; never under the shim.
pub fn mfsctl(config: &Path, args: &[&str]) -> Output {
    Command::new(crate::mfsctl())
        .args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("MFS_MIRROR")
        .env_remove("MFS_SOCKET")
        .env("MFS_CONFIG", config)
        .stdin(Stdio::null())
        .output()
        .expect("run mfsctl")
}

/// `mfsctl ARGS` that must succeed; returns its stdout.
pub fn mfsctl_ok(config: &Path, args: &[&str]) -> String {
    let out = mfsctl(config, args);
    assert!(
        out.status.success(),
        "mfsctl {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `mfsctl status --json`, parsed.
pub fn status(config: &Path) -> serde_json::Value {
    let text = mfsctl_ok(config, &["status", "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{text}"))
}

/// The status of copy `copy` of the first pair.
pub fn copy_status(config: &Path, copy: usize) -> serde_json::Value {
    status(config)["pairs"][0]["copies"][copy].clone()
}

/// Waits until `cond` holds (checked every 100 ms), at most `timeout`; `Err` says what was
/// waited for.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("timed out after {} s waiting for {what}", timeout.as_secs()))
}

/// A `mfsctl daemon` in the foreground, stopped by its pid when dropped.
pub struct Daemon {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon for `config` and waits until it answers.
    pub fn start(s: &Scratch, config: &Path) -> Daemon {
        let log = s.root().join("daemon.out");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("daemon log");
        let err = out.try_clone().expect("daemon log");
        let child = Command::new(crate::mfsctl())
            .arg("daemon")
            .env_remove("LD_PRELOAD")
            .env_remove("MFS_MIRROR")
            .env_remove("MFS_SOCKET")
            .env("MFS_CONFIG", config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start mfsctl daemon");
        let mut d = Daemon { child: Some(child), config: config.to_owned(), log };
        let answered =
            wait_for("the daemon to answer", Duration::from_secs(10), || mfsctl(config, &["status"]).status.success());
        if let Err(e) = answered {
            let log = d.log_text();
            d.kill();
            panic!("{e}\n{log}");
        }
        d
    }

    /// Starts a daemon that must refuse to start; returns what it said.
    pub fn start_expecting_failure(config: &Path) -> String {
        let out = Command::new(crate::mfsctl())
            .arg("daemon")
            .env_remove("LD_PRELOAD")
            .env("MFS_CONFIG", config)
            .stdin(Stdio::null())
            .output()
            .expect("run mfsctl daemon");
        assert!(!out.status.success(), "a second daemon started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the daemon (as a crash would) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signals the daemon this value started, by its pid.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGKILL) };
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits (at most 10 s) for the daemon to exit; its exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: signals the daemon this value started, by its pid.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGKILL) };
        let _ = c.wait();
        None
    }

    /// What the daemon printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn config(&self) -> &Path {
        &self.config
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The writer: a bash loop under the shim that creates, appends to, renames and deletes
/// files, and now and then unpacks a tar archive and copies a directory tree with `cp -a`,
/// until a stop file appears. Every command must succeed: the loop stops at the first
/// failure, and [`Writer::stop`] reports it.
pub struct Writer {
    running: Option<Running>,
    stop_file: PathBuf,
    count_file: PathBuf,
}

/// The writer's script. `$1` primary, `$2` stop file, `$3` count file, `$4` sample tree,
/// `$5` sample tar, `$6` bytes of each `big` file (0: none).
const WRITER: &str = r#"
set -eu
p=$1; stop=$2; count=$3; sample=$4; tarball=$5; big=$6
i=0
mkdir -p "$p/work" "$p/big"
while [ ! -e "$stop" ]; do
  i=$((i+1))
  d="$p/work/d$((i % 7))"
  mkdir -p "$d"
  echo "line $i" >> "$d/log"
  printf 'data %s\n' "$i" > "$d/f$((i % 13))"
  mv "$d/f$((i % 13))" "$d/g$((i % 5))"
  if [ $((i % 11)) -eq 0 ]; then rm -f "$d/g$((i % 3))"; fi
  if [ $((i % 17)) -eq 0 ]; then mkdir -p "$p/work/x$i/y"; echo "$i" > "$p/work/x$i/y/z"; fi
  if [ $((i % 19)) -eq 0 ]; then rm -rf "$p/work/x$((i - 17 * 10))"; fi
  if [ $((i % 40)) -eq 0 ]; then
    rm -rf "$p/cp" "$p/tar"; mkdir -p "$p/tar"
    cp -a "$sample" "$p/cp"
    tar -xf "$tarball" -C "$p/tar"
  fi
  if [ "$big" -gt 0 ]; then
    head -c "$big" /dev/urandom > "$p/big/b$((i % 40))"
  fi
  echo "$i" > "$count"
done
"#;

impl Writer {
    /// Starts the writer on `s`'s primary with configuration `config`; `big` bytes go to one
    /// more file per round (a steady 40 of them), to fill a small mirror.
    pub fn start(s: &Scratch, config: &Path, big: usize) -> Writer {
        let sample = s.root().join("sample");
        make_sample(&sample);
        let tarball = s.root().join("sample.tar");
        let ok = Command::new("tar").arg("-cf").arg(&tarball).arg("-C").arg(&sample).arg(".").status();
        assert!(ok.is_ok_and(|st| st.success()), "tar -cf of the sample tree");
        let stop_file = s.root().join("writer.stop");
        let count_file = s.root().join("writer.count");
        let _ = std::fs::remove_file(&stop_file);
        let args: Vec<OsString> = vec![
            "-c".into(),
            WRITER.into(),
            "writer".into(),
            s.primary().into(),
            stop_file.clone().into(),
            count_file.clone().into(),
            sample.into(),
            tarball.into(),
            big.to_string().into(),
        ];
        let mut cmd = s.command("/bin/bash", &args, &Mirroring::Off);
        cmd.env("MFS_CONFIG", config).env("MFS_LOG", "info").env("MFS_LOG_FILE", s.log_path());
        let running = s.spawn(cmd).unwrap_or_else(|e| panic!("{e}"));
        Writer { running: Some(running), stop_file, count_file }
    }

    /// Rounds done so far.
    pub fn rounds(&self) -> u64 {
        std::fs::read_to_string(&self.count_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// Waits until the writer has done `n` more rounds (it is not blocked).
    pub fn wait_rounds(&self, n: u64, timeout: Duration) -> Result<(), String> {
        let start = self.rounds();
        wait_for(&format!("{n} more writer rounds (from {start})"), timeout, || self.rounds() >= start + n)
    }

    /// Stops the writer and checks that every command it ran succeeded; returns its rounds.
    pub fn stop(mut self) -> Result<u64, String> {
        std::fs::write(&self.stop_file, b"").map_err(|e| e.to_string())?;
        let o = self.running.take().expect("running").wait(Duration::from_secs(60))?;
        if !o.success() {
            return Err(format!("the writer failed ({}): {}{}", o.status_text(), o.stdout_text(), o.stderr_text()));
        }
        Ok(self.rounds())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = std::fs::write(&self.stop_file, b"");
            let _ = r.wait(Duration::from_secs(30));
        }
    }
}

/// A small tree with files of several sizes, a symlink and nested directories.
fn make_sample(at: &Path) {
    let _ = std::fs::remove_dir_all(at);
    for i in 0..6 {
        let d = at.join(format!("dir{i}/sub"));
        std::fs::create_dir_all(&d).unwrap();
        for j in 0..5 {
            let body: Vec<u8> = (0..(i * 3000 + j * 700)).map(|k| (k * 31 + i + j) as u8).collect();
            std::fs::write(d.join(format!("file{j}")), body).unwrap();
        }
    }
    let _ = std::os::unix::fs::symlink("dir0/sub/file1", at.join("link"));
}

/// Every entry under `root` with what a change to it would alter: type and mode, size, inode,
/// modification and change times (ns).
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, u64, u64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
            if m.is_dir() {
                stack.push(p.clone());
            }
            let ctime = m.ctime() * 1_000_000_000 + m.ctime_nsec();
            let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf(), (m.mode(), m.size(), m.ino(), mtime, ctime));
        }
    }
    out
}

/// A file system mounted for a test (tmpfs or a loop-mounted ext4 image), unmounted when
/// dropped, also when the test fails.
pub struct Mount {
    at: PathBuf,
}

impl Mount {
    /// A tmpfs of `size` (mount's syntax, e.g. `1m`) on `at`.
    pub fn tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
        if !is_root() {
            return Err("mounting needs root".into());
        }
        run(Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(at))?;
        Ok(Mount { at: at.to_owned() })
    }

    /// A fresh ext4 file system of `mib` MiB in image file `image`, loop-mounted on `at`.
    pub fn ext4(image: &Path, mib: u64, at: &Path) -> Result<Mount, String> {
        if !is_root() {
            return Err("mounting needs root".into());
        }
        let f = std::fs::File::create(image).map_err(|e| e.to_string())?;
        f.set_len(mib << 20).map_err(|e| e.to_string())?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image))?;
        run(Command::new("mount").args(["-o", "loop"]).arg(image).arg(at))?;
        Ok(Mount { at: at.to_owned() })
    }

    /// Mounts it again with `options` (`remount,ro`, `remount,size=32m`...). A read-only
    /// remount is refused while a file is open for writing on it, so it is retried for a
    /// while.
    pub fn remount(&self, options: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match run(Command::new("mount").args(["-o", options]).arg(&self.at)) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if Command::new("umount").arg(&self.at).status().map_or(true, |s| !s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}
