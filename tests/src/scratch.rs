//! Scratch trees and running programs under the shim.
//!
//! A [`Scratch`] is a fresh directory under the system temporary directory holding
//! `primary/`, `mirror/`, `state/` (journals, lock table, configuration) and `cwd/` (the
//! working directory of the programs, outside both trees). It is removed when dropped, unless
//! the test failed (it panicked, or called [`Scratch::keep`]): then it stays and its path is
//! printed, with the shim's log (`shim.log`) and each run's output inside.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::artifacts::SCRUBBED_ENV;
use crate::CHILD_TIMEOUT;

/// How a program run by [`Scratch::command`] is told to mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirroring {
    /// Shim preloaded, but neither `MFS_MIRROR` nor `MFS_CONFIG` set.
    Off,
    /// `MFS_MIRROR=PRIMARY:MIRROR`.
    Env,
    /// `MFS_CONFIG` naming a generated file with one `[[pair]]` plus these extra lines.
    Config(Vec<String>),
}

/// A scratch directory with a primary and a mirror tree; see the module documentation.
#[derive(Debug)]
pub struct Scratch {
    root: PathBuf,
    keep: AtomicBool,
    runs: AtomicUsize,
}

/// The result of one finished program.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// "exit status N" or "killed by signal N".
    pub fn status_text(&self) -> String {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => format!("{}", self.status),
        }
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A started program whose output goes to files in the scratch directory.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    what: String,
}

impl Running {
    /// The program's pid (also its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the program, killing its whole process group once `timeout` has passed.
    pub fn wait(mut self, timeout: Duration) -> Result<Outcome, String> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let pid = self.child.id() as libc::pid_t;
                    // SAFETY: signals the process group this harness created for the child.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    let _ = self.child.wait();
                    return Err(format!("{} did not finish within {} s and was killed", self.what, timeout.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("waiting for {}: {e}", self.what)),
            }
        };
        Ok(Outcome {
            status,
            stdout: fs::read(&self.stdout).unwrap_or_default(),
            stderr: fs::read(&self.stderr).unwrap_or_default(),
        })
    }
}

/// A unique, file-name-safe directory name for `label`.
fn unique_name(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let clean: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("mfs-test-{clean}-{}-{n}", std::process::id())
}

/// A TOML basic string holding `s`.
fn toml_string(s: &OsStr) -> String {
    let mut out = String::from("\"");
    for c in s.to_string_lossy().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Scratch {
    /// Makes a fresh scratch directory named after `label` (a test or program name).
    pub fn new(label: &str) -> io::Result<Scratch> {
        let root = std::env::temp_dir().join(unique_name(label));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        for sub in ["primary", "mirror", "state", "cwd"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Scratch { root, keep: AtomicBool::new(false), runs: AtomicUsize::new(0) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn primary(&self) -> PathBuf {
        self.root.join("primary")
    }

    pub fn mirror(&self) -> PathBuf {
        self.root.join("mirror")
    }

    /// The state directory: journals (`test.journal` for the generated configuration's pair)
    /// and the coherency lock table.
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The working directory of programs run here (outside both trees).
    pub fn cwd(&self) -> PathBuf {
        self.root.join("cwd")
    }

    /// Where the shim writes its diagnostics.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("shim.log")
    }

    /// The name of the generated configuration's pair.
    pub const PAIR_NAME: &'static str = "test";

    /// The mirror's journal file of the generated configuration's pair.
    pub fn journal_path(&self) -> PathBuf {
        self.state().join(format!("{}.1.journal", Self::PAIR_NAME))
    }

    /// Keeps the directory after this value is dropped (for a failure reported without a panic).
    pub fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// Writes `mfs.toml`: the state directory, a socket inside it, and one pair named
    /// [`Scratch::PAIR_NAME`] with `extra` lines appended to it. Returns its path.
    pub fn write_config(&self, extra: &[String]) -> io::Result<PathBuf> {
        let mut text = String::new();
        let _ = writeln!(text, "[daemon]");
        let _ = writeln!(text, "state_dir = {}", toml_string(self.state().as_os_str()));
        let _ = writeln!(text, "socket = {}", toml_string(self.state().join("mfsd.sock").as_os_str()));
        let _ = writeln!(text, "\n[[pair]]");
        let _ = writeln!(text, "name = \"{}\"", Self::PAIR_NAME);
        let _ = writeln!(text, "primary = {}", toml_string(self.primary().as_os_str()));
        let _ = writeln!(text, "mirror = {}", toml_string(self.mirror().as_os_str()));
        for line in extra {
            let _ = writeln!(text, "{line}");
        }
        let path = self.root.join("mfs.toml");
        fs::write(&path, text)?;
        Ok(path)
    }

    /// A command for `program args...` under the shim: working directory [`Scratch::cwd`],
    /// no standard input, the shim's log in [`Scratch::log_path`], and the mirroring asked for.
    /// Inherited `MFS_*` and `LD_PRELOAD` variables are removed first.
    pub fn command(&self, program: impl AsRef<OsStr>, args: &[OsString], mirroring: &Mirroring) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(self.cwd()).stdin(Stdio::null());
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("LD_PRELOAD", crate::shim());
        match mirroring {
            Mirroring::Off => {}
            Mirroring::Env => {
                let mut spec = self.primary().into_os_string();
                spec.push(":");
                spec.push(self.mirror());
                cmd.env("MFS_MIRROR", spec);
                // Keeps the lock table and journals inside the scratch directory.
                cmd.env("MFS_SOCKET", self.state().join("mfsd.sock"));
            }
            Mirroring::Config(extra) => {
                let path = self.write_config(extra).expect("write the test configuration");
                cmd.env("MFS_CONFIG", path);
            }
        }
        if mirroring != &Mirroring::Off {
            let level = std::env::var("MFS_TEST_LOG").unwrap_or_else(|_| "debug".into());
            cmd.env("MFS_LOG", level).env("MFS_LOG_FILE", self.log_path());
        }
        cmd
    }

    /// Starts `cmd` in its own process group with its output captured into files here.
    pub fn spawn(&self, mut cmd: Command) -> Result<Running, String> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let stdout = self.root.join(format!("run{n}.stdout"));
        let stderr = self.root.join(format!("run{n}.stderr"));
        let what = format!("{:?}", cmd.get_program());
        let files = File::create(&stdout).and_then(|o| Ok((o, File::create(&stderr)?)));
        let (out, err) = files.map_err(|e| format!("cannot create output files in {}: {e}", self.root.display()))?;
        cmd.stdout(out).stderr(err).process_group(0);
        let child = cmd.spawn().map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(Running { child, stdout, stderr, what })
    }

    /// Runs `cmd` to completion (at most [`CHILD_TIMEOUT`]).
    pub fn run_command(&self, cmd: Command) -> Result<Outcome, String> {
        self.spawn(cmd)?.wait(CHILD_TIMEOUT)
    }

    /// Runs `program args...` under the shim (see [`Scratch::command`]) to completion.
    pub fn run(&self, program: impl AsRef<OsStr>, args: &[OsString], mirroring: &Mirroring) -> Result<Outcome, String> {
        self.run_command(self.command(program, args, mirroring))
    }

    /// The shim's log so far (empty when it wrote none).
    pub fn shim_log(&self) -> String {
        fs::read(self.log_path()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// A failure report: the run's output and the end of the shim's log.
    pub fn report(&self, outcome: &Outcome) -> String {
        const TAIL: usize = 120;
        let log = self.shim_log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(TAIL)..];
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}--- shim log (last {} of {} lines) ---\n{}",
            outcome.stdout_text(),
            outcome.stderr_text(),
            tail.len(),
            lines.len(),
            tail.join("\n")
        )
    }
}

/// Makes every directory below `root` writable by its owner, so a tree a test made read-only
/// can be removed without root.
fn make_writable(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(meta) = fs::symlink_metadata(&dir) {
            if meta.is_dir() {
                let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(meta.permissions().mode() | 0o700));
                if let Ok(rd) = fs::read_dir(&dir) {
                    stack.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
                }
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep.load(Ordering::Relaxed) || std::thread::panicking() {
            eprintln!("scratch directory kept for inspection: {}", self.root.display());
            return;
        }
        if fs::remove_dir_all(&self.root).is_err() {
            make_writable(&self.root);
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}
