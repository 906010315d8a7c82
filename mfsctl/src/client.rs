//! The commands that talk to the daemon: status, offline, online, resync, and the start of a
//! daemon for `mfsctl run`.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use mfs_core::config::Env;

use crate::daemon::{locations, utc};
use crate::proto::{self, Done, Envelope, Progress, Reply, Request, Status};
use crate::verify::human_bytes;

/// Exit status when no daemon answers where one is needed.
pub const EXIT_NO_DAEMON: i32 = 3;
/// Exit status when the daemon refused or failed the request.
pub const EXIT_REFUSED: i32 = 1;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no daemon answers at {0} ({1}); start one with `mfsctl daemon`, or run programs with `mfsctl run`")]
    NoDaemon(PathBuf, std::io::Error),
    #[error("the daemon at {0} broke off: {1}")]
    Protocol(PathBuf, String),
}

/// The environment of a command: the socket, and the pairs it names (to make known to the
/// daemon before asking about them).
pub struct Target {
    pub socket: PathBuf,
    pub mirror: Option<String>,
    pub config: Option<PathBuf>,
}

impl Target {
    pub fn from_env(config: Option<&Path>) -> Result<Target> {
        // SAFETY: getuid has no preconditions.
        let mut env = Env::from_process(unsafe { libc::getuid() });
        if let Some(c) = config {
            env.config = Some(c.as_os_str().to_owned());
        }
        let (socket, _) = locations(&env)?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Ok(Target {
            socket,
            mirror: env.mirror.filter(|m| !m.is_empty()).map(|m| m.to_string_lossy().into_owned()),
            config: env.config.filter(|c| !c.is_empty()).map(|c| cwd.join(c)),
        })
    }

    /// Sends `req` after registering this command's pairs; progress lines go to `progress`.
    pub fn ask(&self, req: Request, progress: &mut dyn FnMut(&Progress)) -> Result<Done, ClientError> {
        if self.mirror.is_some() || self.config.is_some() {
            let reg = Request::Register { mirror: self.mirror.clone(), config: self.config.clone(), pid: None };
            let done = request(&self.socket, reg, &mut |_| {})?;
            if !done.ok {
                return Ok(done);
            }
        }
        request(&self.socket, req, progress)
    }
}

/// One request and its answer.
pub fn request(socket: &Path, req: Request, progress: &mut dyn FnMut(&Progress)) -> Result<Done, ClientError> {
    let mut s = UnixStream::connect(socket).map_err(|e| ClientError::NoDaemon(socket.to_path_buf(), e))?;
    let mut line = serde_json::to_vec(&Envelope { v: proto::VERSION, request: req }).expect("requests serialise");
    line.push(b'\n');
    s.write_all(&line).map_err(|e| ClientError::Protocol(socket.to_path_buf(), e.to_string()))?;
    for l in BufReader::new(s).lines() {
        let l = l.map_err(|e| ClientError::Protocol(socket.to_path_buf(), e.to_string()))?;
        match serde_json::from_str::<Reply>(&l) {
            Ok(Reply::Progress(p)) => progress(&p),
            Ok(Reply::Done(d)) => return Ok(d),
            Err(e) => return Err(ClientError::Protocol(socket.to_path_buf(), format!("unreadable answer: {e}"))),
        }
    }
    Err(ClientError::Protocol(socket.to_path_buf(), "the connection closed without an answer".into()))
}

/// Prints the outcome of a request; returns the exit status.
fn conclude(r: Result<Done, ClientError>) -> i32 {
    match r {
        Ok(d) if d.ok => {
            if let Some(m) = d.message {
                println!("mfsctl: {m}");
            }
            0
        }
        Ok(d) => {
            eprintln!("mfsctl: {}", d.error.unwrap_or_else(|| "the daemon refused the request".into()));
            EXIT_REFUSED
        }
        Err(e @ ClientError::NoDaemon(..)) => {
            eprintln!("mfsctl: {e}");
            EXIT_NO_DAEMON
        }
        Err(e) => {
            eprintln!("mfsctl: {e}");
            EXIT_REFUSED
        }
    }
}

/// Shows resync progress: a bar on a terminal, a line every two seconds otherwise.
struct Shown {
    bar: Option<indicatif::ProgressBar>,
    last_line: Option<Instant>,
}

impl Shown {
    fn new() -> Shown {
        Shown { bar: None, last_line: None }
    }

    fn show(&mut self, p: &Progress) {
        let eta = p.eta_secs.map(|s| format!(", ETA {}", human_secs(s))).unwrap_or_default();
        let msg = format!("{} {} -> {}: {} written{eta}", p.kind, p.pair, p.copy.display(), human_bytes(p.bytes));
        if std::io::stderr().is_terminal() {
            let bar = self.bar.get_or_insert_with(|| {
                let b = indicatif::ProgressBar::new(p.total.max(1));
                b.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} paths {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            });
            bar.set_length(p.total.max(1));
            bar.set_position(p.done);
            bar.set_message(msg);
        } else if self.last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
            self.last_line = Some(Instant::now());
            eprintln!("mfsctl: resync {}/{} paths, {msg}", p.done, p.total);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn human_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

/// `mfsctl status [--json]`.
pub fn status(config: Option<&Path>, json: bool) -> Result<i32> {
    let t = Target::from_env(config)?;
    let r = t.ask(Request::Status, &mut |_| {});
    match r {
        Ok(Done { ok: true, status: Some(s), .. }) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", render(&s));
            }
            Ok(0)
        }
        other => Ok(conclude(other)),
    }
}

/// The human form of `mfsctl status`.
pub fn render(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "daemon pid {}, state {}, generation {}", s.daemon_pid, s.state_dir.display(), s.generation);
    if s.pairs.is_empty() {
        let _ = writeln!(out, "no pairs known");
    }
    for p in &s.pairs {
        let _ = writeln!(out, "pair {} ({})", p.name, p.mode);
        for c in &p.copies {
            let mut line = format!("  {:<7} {:<9} {}", c.role, c.state, c.root.display());
            if let Some(r) = &c.offline_reason {
                let since = c.offline_since.map(|t| format!(" since {}", utc(t))).unwrap_or_default();
                let _ = write!(line, " (taken offline by {r}{since})");
            }
            if c.journal_entries > 0 || c.dirty_paths > 0 {
                let _ = write!(
                    line,
                    "; journal {} entries ({}), dirty paths {}",
                    c.journal_entries,
                    human_bytes(c.journal_bytes),
                    c.dirty_paths
                );
            }
            if c.full_resync {
                line.push_str("; needs a full resync");
            }
            if let Some(e) = &c.last_error {
                let _ = write!(line, "; last error {} at {}", e.message, utc(e.at));
            }
            if c.failures > 0 {
                let _ = write!(line, "; failures {}", c.failures);
            }
            if let Some(r) = &c.resync {
                let eta = r.eta_secs.map(|s| format!(", ETA {}", human_secs(s))).unwrap_or_default();
                let _ = write!(line, "; resync {} {}/{} paths, {}{eta}", r.kind, r.done, r.total, human_bytes(r.bytes));
            }
            let _ = writeln!(out, "{line}");
        }
        for c in &p.conflicts {
            let _ = writeln!(out, "  conflict at {}: {} kept the other version, {}", utc(c.at), c.path, c.kept_as);
        }
    }
    out
}

/// `mfsctl offline|online NAME [--copy PATH]` and `mfsctl resync NAME [--full]`.
pub fn command(config: Option<&Path>, req: Request) -> Result<i32> {
    let t = Target::from_env(config)?;
    let mut shown = Shown::new();
    let r = t.ask(req, &mut |p| shown.show(p));
    shown.finish();
    Ok(conclude(r))
}

/// Makes sure a daemon answers for the session of `mfsctl run` (starting one in the
/// background when none does) and registers this process with it. Mirroring needs no daemon,
/// so a failure here is a warning.
pub fn ensure_daemon(mirror: Option<&std::ffi::OsStr>, config: Option<&std::ffi::OsStr>) {
    // SAFETY: getuid has no preconditions.
    let mut env = Env::from_process(unsafe { libc::getuid() });
    env.mirror = mirror.map(|m| m.to_owned());
    env.config = config.map(|c| c.to_owned());
    let Ok((socket, _)) = locations(&env) else { return };
    let reg = || Request::Register {
        mirror: mirror.map(|m| m.to_string_lossy().into_owned()),
        config: config.map(PathBuf::from),
        pid: Some(std::process::id()),
    };
    if request(&socket, reg(), &mut |_| {}).is_ok() {
        return;
    }
    let started = start_daemon(mirror, config);
    match started.and_then(|()| request(&socket, reg(), &mut |_| {}).map_err(|e| anyhow!("{e}"))) {
        Ok(d) if d.ok => {}
        Ok(d) => eprintln!("mfsctl: warning: daemon: {}", d.error.unwrap_or_default()),
        Err(e) => eprintln!(
            "mfsctl: warning: no daemon for this session ({e:#}); mirroring goes on, and `mfsctl resync` later replays what a mirror missed"
        ),
    }
}

fn start_daemon(mirror: Option<&std::ffi::OsStr>, config: Option<&std::ffi::OsStr>) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["daemon", "--detach", "--idle-exit", "5"]).env_remove("LD_PRELOAD");
    match mirror {
        Some(m) => cmd.env(mfs_core::config::ENV_MIRROR, m),
        None => cmd.env_remove(mfs_core::config::ENV_MIRROR),
    };
    match config {
        Some(c) => cmd.env(mfs_core::config::ENV_CONFIG, c),
        None => cmd.env_remove(mfs_core::config::ENV_CONFIG),
    };
    let out = cmd.stdin(std::process::Stdio::null()).output()?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim().trim_start_matches("mfsctl: ");
        return Err(anyhow!("{}", if why.is_empty() { "it exited at once" } else { why }));
    }
    Ok(())
}
