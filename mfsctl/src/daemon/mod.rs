//! `mfsctl daemon`: the control daemon. It owns no part of the write path: every process
//! mirrors by itself and reads the copy states from the shared state file. The daemon serves
//! the commands on its Unix socket (status, offline, online, resync), replays journals into
//! copies that are behind, probes copies that failures took out of service and brings them
//! back (`auto_online`), and journals the paths named by intents of processes that died in the
//! middle of a change.
//!
//! Files in the state directory: `mfsd.pid` (locked while a daemon runs), `mfsd.log`,
//! `registered.json` (pair sources made known by commands), per copy `NAME.COPY.journal` and
//! `NAME.COPY.replay`, and per pair `NAME.full` and `NAME.lacks`.

mod intents;
pub mod jobs;
pub mod pairs;
mod probe;
pub mod repair;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mfs_core::config::{self, Config, Env};
use mfs_core::shared::{unix_now, SharedState};
use mfs_core::sys;

use crate::proto::{self, Done, Envelope, Progress, Reply, Request};
use pairs::{File, PairRt, Source};

/// How often the daemon looks at intents, journals and copies out of service.
const TICK: Duration = Duration::from_millis(500);
/// Least time between two probes of a copy out of service.
const PROBE_EVERY_SECS: u64 = 2;
/// A probe that has not answered by then counts as failed (a hung network mount).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for changes in flight when a copy is taken out of service.
const QUIESCE: Duration = Duration::from_secs(2);

/// Options of `mfsctl daemon`.
pub struct Options {
    pub config: Option<PathBuf>,
    /// Run in the background: return once the daemon answers on its socket.
    pub detach: bool,
    /// Exit after this many seconds with nothing to do and no registered process alive.
    pub idle_exit: Option<u64>,
}

/// Where the daemon's socket and state directory are, as the environment says.
pub fn locations(env: &Env) -> Result<(PathBuf, PathBuf)> {
    match Config::load(env)? {
        Some(cfg) => Ok((cfg.daemon.socket, cfg.daemon.state_dir)),
        None => {
            let socket = env.socket.as_ref().map(PathBuf::from).unwrap_or_else(|| config::default_socket(env));
            if !socket.is_absolute() {
                bail!("{}: the daemon socket must be an absolute path, not {}", config::ENV_SOCKET, socket.display());
            }
            let state = socket.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            Ok((socket, state))
        }
    }
}

/// The running daemon.
pub struct Daemon {
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub shared: SharedState,
    pairs: RwLock<BTreeMap<String, Arc<PairRt>>>,
    sources: Mutex<Vec<Source>>,
    sessions: Mutex<BTreeSet<u32>>,
    log_file: Mutex<Option<std::fs::File>>,
    foreground: bool,
    last_request: AtomicU64,
    stop: AtomicBool,
    idle_exit: Option<u64>,
    uid: u32,
    running_jobs: AtomicU64,
}

/// `ENOSPC (No space left on device)`.
pub fn errno_text(e: i32) -> String {
    let name = match e {
        libc::EIO => "EIO",
        libc::ENOSPC => "ENOSPC",
        libc::EDQUOT => "EDQUOT",
        libc::EROFS => "EROFS",
        libc::ENOTCONN => "ENOTCONN",
        libc::ESTALE => "ESTALE",
        libc::ENODEV => "ENODEV",
        libc::ENXIO => "ENXIO",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::EMFILE => "EMFILE",
        libc::ECONNABORTED => "ECONNABORTED",
        _ => "",
    };
    let msg = std::io::Error::from_raw_os_error(e).to_string();
    let msg = msg.split(" (os error").next().unwrap_or(&msg).to_string();
    if name.is_empty() {
        format!("errno {e} ({msg})")
    } else {
        format!("{name} ({msg})")
    }
}

/// `2026-12-07T09:40:01Z` for Unix seconds.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    pid != 0 && (unsafe { libc::kill(pid as libc::pid_t, 0) } == 0 || sys::errno() == libc::EPERM)
}

/// Runs the daemon until it is stopped (or idle, with `idle_exit`). Returns the exit status.
pub fn run(opts: Options) -> Result<i32> {
    if std::env::var_os("LD_PRELOAD").is_some_and(|p| p.as_bytes().windows(9).any(|w| w == b"libmfs.so")) {
        bail!("mfsctl daemon must not run under the shim (LD_PRELOAD names libmfs.so): its repairs would be mirrored");
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let mut env = Env::from_process(uid);
    if let Some(c) = &opts.config {
        env.config = Some(c.clone().into_os_string());
    }
    let (socket, state_dir) = locations(&env)?;
    let initial = Source {
        mirror: env.mirror.as_ref().filter(|m| !m.is_empty()).map(|m| m.to_string_lossy().into_owned()),
        config: env.config.as_ref().filter(|c| !c.is_empty()).map(|c| absolute(Path::new(c))),
    };
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let _ = std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700));
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let ready = if opts.detach { Some(detach(&state_dir)?) } else { None };
    let report_ready = |msg: &str| {
        if let Some(fd) = ready {
            let _ = sys::write(fd, msg.as_bytes());
            sys::close(fd);
        }
    };
    match start(&socket, &state_dir, initial, &opts, uid) {
        Ok(d) => {
            report_ready("ok\n");
            let d = Arc::new(d);
            serve(&d);
            d.log("stopped");
            let _ = std::fs::remove_file(&d.socket);
            d.shared.set_daemon_pid(0);
            Ok(0)
        }
        Err(e) => {
            report_ready(&format!("{e:#}\n"));
            Err(e)
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|c| c.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Forks into the background: the parent waits for the child's first line (`ok`, or the
/// reason it could not start) and exits with it; the child returns the pipe to write it to.
fn detach(state_dir: &Path) -> Result<i32> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe fills the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        bail!("cannot create a pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: no other thread runs yet, so the child may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => bail!("cannot fork: {}", std::io::Error::last_os_error()),
        0 => {
            sys::close(fds[0]);
            // SAFETY: setsid has no preconditions; it leaves the caller's session and terminal.
            unsafe { libc::setsid() };
            let log = std::fs::OpenOptions::new().create(true).append(true).open(state_dir.join("mfsd.log"));
            let null = std::fs::File::open("/dev/null");
            if let (Ok(log), Ok(null)) = (log, null) {
                // SAFETY: replacing the standard descriptors with open files.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(log.as_raw_fd(), 1);
                    libc::dup2(log.as_raw_fd(), 2);
                }
            }
            Ok(fds[1])
        }
        _child => {
            sys::close(fds[1]);
            let mut f = std::fs::File::from(unsafe_owned(fds[0]));
            let mut line = String::new();
            let _ = BufReader::new(&mut f).read_line(&mut line);
            if line.trim() == "ok" {
                std::process::exit(0);
            }
            let why = line.trim();
            eprintln!("mfsctl: daemon: {}", if why.is_empty() { "exited before it answered" } else { why });
            std::process::exit(1);
        }
    }
}

fn unsafe_owned(fd: i32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` was just created by pipe and is owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

fn start(socket: &Path, state_dir: &Path, initial: Source, opts: &Options, uid: u32) -> Result<Daemon> {
    let pid_path = state_dir.join("mfsd.pid");
    let pid_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&pid_path)
        .with_context(|| format!("cannot open {}", pid_path.display()))?;
    if sys::flock(pid_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB).is_err() {
        let other = std::fs::read_to_string(&pid_path).unwrap_or_default();
        bail!("a daemon already runs for {} (pid {})", state_dir.display(), other.trim());
    }
    pid_file.set_len(0)?;
    (&pid_file).write_all(format!("{}\n", std::process::id()).as_bytes())?;
    // The lock lives as long as the process: the descriptor is never closed.
    std::mem::forget(pid_file);

    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            bail!("a daemon already answers at {}", socket.display());
        }
        std::fs::remove_file(socket).with_context(|| format!("cannot remove stale socket {}", socket.display()))?;
    }
    // SAFETY: umask only changes the mode of files created from now on.
    let old = unsafe { libc::umask(0o077) };
    let listener = UnixListener::bind(socket);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = listener.with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    LISTENER.lock().unwrap().replace(listener);

    let dir = CString::new(state_dir.as_os_str().as_bytes()).context("state_dir contains a NUL byte")?;
    let Some(shared) = SharedState::open(&dir, 3) else {
        bail!("cannot map the shared state in {}", state_dir.display());
    };
    shared.set_daemon_pid(std::process::id());
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(state_dir.join("mfsd.log")).ok();
    let d = Daemon {
        state_dir: state_dir.to_path_buf(),
        socket: socket.to_path_buf(),
        shared,
        pairs: RwLock::new(BTreeMap::new()),
        sources: Mutex::new(Vec::new()),
        sessions: Mutex::new(BTreeSet::new()),
        log_file: Mutex::new(log_file),
        foreground: !opts.detach,
        last_request: AtomicU64::new(unix_now()),
        stop: AtomicBool::new(false),
        idle_exit: opts.idle_exit,
        uid,
        running_jobs: AtomicU64::new(0),
    };
    let mut sources: Vec<Source> = std::fs::read(state_dir.join("registered.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if initial != Source::default() && !sources.contains(&initial) {
        sources.push(initial);
    }
    *d.sources.lock().unwrap() = sources;
    d.reload();
    // Resyncs of a daemon that was killed are over; their replay files remain and are
    // picked up by the first tick.
    for p in d.pairs.read().unwrap().values() {
        for c in 0..p.cfg.copies.len() {
            if d.shared.pair(p.index).copy(c).resyncing {
                d.shared.set_resyncing(p.index, c, false);
            }
        }
    }
    d.log(&format!(
        "started (pid {}), socket {}, {} pairs",
        std::process::id(),
        socket.display(),
        d.pairs.read().unwrap().len()
    ));
    Ok(d)
}

static LISTENER: Mutex<Option<UnixListener>> = Mutex::new(None);

/// Set by SIGTERM, SIGINT or SIGHUP: the daemon stops as `mfsctl` would stop it.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

fn serve(d: &Arc<Daemon>) {
    let listener = LISTENER.lock().unwrap().take().expect("listener bound by start");
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores into an atomic.
        unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
    let ticker = {
        let d = Arc::clone(d);
        std::thread::spawn(move || {
            while !d.stop.load(Ordering::Acquire) {
                d.tick();
                std::thread::sleep(TICK);
            }
        })
    };
    // Accepting without blocking, so that a stop is seen within a tick even when the socket
    // file is gone.
    let _ = listener.set_nonblocking(true);
    while !d.stop.load(Ordering::Acquire) {
        let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd for the listening socket.
        unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as libc::c_int) };
        while let Ok((stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            let d = Arc::clone(d);
            std::thread::spawn(move || d.client(stream));
        }
        if SIGNALLED.load(Ordering::Relaxed) && !d.stop.swap(true, Ordering::AcqRel) {
            d.log("stopping on a signal");
        }
    }
    let _ = ticker.join();
    // Let running jobs finish their round (they leave their replay file otherwise).
    let start = std::time::Instant::now();
    while d.running_jobs.load(Ordering::Acquire) > 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The uid of the process at the other end of a Unix socket.
fn peer_uid(s: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred of the given size.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// Writes one reply line; false when the client has gone.
fn send(out: &Mutex<UnixStream>, reply: &Reply) -> bool {
    let mut line = serde_json::to_vec(reply).unwrap_or_default();
    line.push(b'\n');
    out.lock().unwrap().write_all(&line).is_ok()
}

impl Daemon {
    pub fn log(&self, msg: &str) {
        let line = format!("{} mfsd: {msg}\n", utc(unix_now()));
        if let Some(f) = self.log_file.lock().unwrap().as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
        if self.foreground {
            eprint!("{line}");
        }
    }

    /// Reads the pair sources again and keeps a runtime for each pair.
    fn reload(&self) {
        let sources = self.sources.lock().unwrap().clone();
        let (found, problems) = pairs::collect(&sources, &self.socket);
        for p in problems {
            self.log(&format!("a registered configuration cannot be read: {p}"));
        }
        let mut pairs = self.pairs.write().unwrap();
        for (name, cfg) in found {
            if pairs.get(&name).is_some_and(|p| p.cfg == cfg) {
                continue;
            }
            match PairRt::new(cfg, &self.shared, &self.state_dir) {
                Ok(p) => {
                    pairs.insert(name, Arc::new(p));
                }
                Err(e) => self.log(&e),
            }
        }
    }

    fn pair(&self, name: &str) -> Result<Arc<PairRt>, String> {
        let pairs = self.pairs.read().unwrap();
        pairs.get(name).cloned().ok_or_else(|| {
            if pairs.is_empty() {
                format!("unknown pair {name}: the daemon knows no pairs (give --config or --mirror)")
            } else {
                let known: Vec<&str> = pairs.keys().map(String::as_str).collect();
                format!("unknown pair {name} (known: {})", known.join(", "))
            }
        })
    }

    fn client(&self, stream: UnixStream) {
        self.last_request.store(unix_now(), Ordering::Relaxed);
        let Ok(reader) = stream.try_clone() else { return };
        let out = Mutex::new(stream);
        match peer_uid(&out.lock().unwrap()) {
            Some(u) if u == self.uid || u == 0 => {}
            other => {
                self.log(&format!("refused a client of uid {other:?}"));
                send(&out, &Reply::Done(Done::error("permission denied: the daemon serves its own user only")));
                return;
            }
        }
        let _ = reader.set_read_timeout(Some(Duration::from_secs(10)));
        let mut line = String::new();
        let mut r = BufReader::new(reader.take(1 << 20));
        if r.read_line(&mut line).is_err() || line.trim().is_empty() {
            send(&out, &Reply::Done(Done::error("no request received")));
            return;
        }
        let done = match serde_json::from_str::<Envelope>(line.trim()) {
            Ok(env) if env.v != proto::VERSION => Done::error(format!(
                "protocol version {} is not spoken here (this daemon speaks {})",
                env.v,
                proto::VERSION
            )),
            Ok(env) => self.request(env.request, &out),
            Err(e) => Done::error(format!("malformed request: {e}")),
        };
        send(&out, &Reply::Done(done));
        self.last_request.store(unix_now(), Ordering::Relaxed);
    }

    fn request(&self, req: Request, out: &Mutex<UnixStream>) -> Done {
        match req {
            Request::Ping => Done::ok(format!("mfsd pid {}", std::process::id())),
            Request::Status => Done { ok: true, status: Some(self.status()), ..Done::default() },
            Request::Register { mirror, config, pid } => self.register(Source { mirror, config }, pid),
            Request::Offline { pair, copy } => self.offline(&pair, copy.as_deref()),
            Request::Online { pair, copy } => self.online(&pair, copy.as_deref(), out),
            Request::Resync { pair, full } => self.resync(&pair, full, out),
            Request::Stop => {
                self.stop.store(true, Ordering::Release);
                Done::ok("stopping")
            }
        }
    }

    fn register(&self, source: Source, pid: Option<u32>) -> Done {
        if let Some(pid) = pid {
            self.sessions.lock().unwrap().insert(pid);
        }
        if source != Source::default() {
            if let Err(e) = source.load(&self.socket) {
                return Done::error(e);
            }
            let mut sources = self.sources.lock().unwrap();
            if !sources.contains(&source) {
                sources.push(source);
                if let Ok(text) = serde_json::to_vec_pretty(&*sources) {
                    let tmp = self.state_dir.join("registered.json.tmp");
                    if std::fs::write(&tmp, text).is_ok() {
                        let _ = std::fs::rename(tmp, self.state_dir.join("registered.json"));
                    }
                }
            }
        }
        self.reload();
        Done::ok(format!("{} pairs known", self.pairs.read().unwrap().len()))
    }

    fn offline(&self, name: &str, copy: Option<&Path>) -> Done {
        let p = match self.pair(name) {
            Ok(p) => p,
            Err(e) => return Done::error(e),
        };
        let c = match p.copy_named(copy) {
            Ok(0) => {
                return Done::error(format!(
                    "{} is the primary of pair {name}: only a mirror can be taken offline",
                    p.cfg.copies[0].root.display()
                ))
            }
            Ok(c) => c,
            Err(e) => return Done::error(e),
        };
        let root = p.cfg.copies[c].root.display().to_string();
        if !self.shared.mark_offline(p.index, c, true) {
            return Done::error(format!("{root} of pair {name} is already offline"));
        }
        self.quiesce();
        self.shared.restamp_offline(p.index, c);
        self.log(&format!("pair {name}: {root} taken offline by the administrator"));
        Done::ok(format!("{root} of pair {name} is offline; changes are journaled until `mfsctl online {name}`"))
    }

    /// Waits until changes that were in flight when a copy went out of service are done:
    /// every coherency lock held now is released (or its holder changes).
    fn quiesce(&self) {
        let slots = self.shared.slots();
        let held: Vec<(usize, u32)> =
            slots.iter().enumerate().filter_map(|(i, s)| Some((i, s.holder())).filter(|&(_, h)| h != 0)).collect();
        let start = std::time::Instant::now();
        for (i, h) in held {
            while slots[i].holder() == h && start.elapsed() < QUIESCE {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Changes outside the locks (namespace calls) take microseconds.
        std::thread::sleep(Duration::from_millis(20));
    }

    fn online(&self, name: &str, copy: Option<&Path>, out: &Mutex<UnixStream>) -> Done {
        let p = match self.pair(name) {
            Ok(p) => p,
            Err(e) => return Done::error(e),
        };
        let c = match p.copy_named(copy) {
            Ok(c) => c,
            Err(e) => return Done::error(e),
        };
        let root = p.cfg.copies[c].root.display().to_string();
        if !self.shared.pair(p.index).copy(c).offline {
            return Done::error(format!(
                "{root} of pair {name} is already online (`mfsctl resync {name}` replays what its journal holds)"
            ));
        }
        let spec = jobs::Spec { targets: vec![c], online: vec![c], full: false };
        self.job_for_client(&p, &spec, out, &format!("{root} of pair {name}"))
    }

    fn resync(&self, name: &str, full: bool, out: &Mutex<UnixStream>) -> Done {
        let p = match self.pair(name) {
            Ok(p) => p,
            Err(e) => return Done::error(e),
        };
        let ps = self.shared.pair(p.index);
        // Copies an administrator took down stay down; the primary is repaired from a mirror
        // only by the journal (never by a whole-tree comparison).
        let targets: Vec<usize> = (0..p.cfg.copies.len()).filter(|&c| !ps.copy(c).admin && (c > 0 || !full)).collect();
        let online = targets.iter().copied().filter(|&c| ps.copy(c).offline).collect();
        let spec = jobs::Spec { targets, online, full };
        self.job_for_client(&p, &spec, out, &format!("pair {name}"))
    }

    fn job_for_client(&self, p: &PairRt, spec: &jobs::Spec, out: &Mutex<UnixStream>, what: &str) -> Done {
        // What processes that died left behind is part of what this job repairs.
        self.reap_intents();
        let cancel = AtomicBool::new(false);
        let report = |prog: &Progress| {
            if !send(out, &Reply::Progress(prog.clone())) {
                cancel.store(true, Ordering::Relaxed);
            }
        };
        self.running_jobs.fetch_add(1, Ordering::AcqRel);
        let r = jobs::run(self, p, spec, &cancel, &report);
        self.running_jobs.fetch_sub(1, Ordering::AcqRel);
        match r {
            Err(e) => Done::error(format!("{what}: resync failed: {e}")),
            Ok(o) if o.cancelled => {
                Done::error(format!("{what}: resync interrupted; it resumes with the next `mfsctl resync`"))
            }
            Ok(o) if !o.failed.is_empty() => {
                let (c, e) = o.failed[0];
                Done::error(format!(
                    "{what}: {} failed during the resync with {}; it stays offline",
                    p.cfg.copies[c].root.display(),
                    errno_text(e.0)
                ))
            }
            Ok(o) => {
                let online = if o.onlined.is_empty() { String::new() } else { ", and back online".to_string() };
                let conflicts = if o.conflicts > 0 {
                    format!("; {} conflicts (see `mfsctl status`)", o.conflicts)
                } else {
                    String::new()
                };
                self.log(&format!("{what}: resynchronised: {} paths, {} bytes{online}", o.paths, o.bytes));
                Done::ok(format!(
                    "{what}: resynchronised ({} paths, {} bytes written){online}{conflicts}",
                    o.paths, o.bytes
                ))
            }
        }
    }

    /// One pass of the background work.
    fn tick(self: &Arc<Self>) {
        self.reap_intents();
        let pairs = self.pairs.read().unwrap().values().cloned().collect::<Vec<_>>();
        let mut busy = false;
        for p in &pairs {
            busy |= self.background(p);
        }
        if let Some(idle) = self.idle_exit {
            let mut sessions = self.sessions.lock().unwrap();
            sessions.retain(|&pid| alive(pid));
            let quiet = unix_now().saturating_sub(self.last_request.load(Ordering::Relaxed)) >= idle;
            if sessions.is_empty() && !busy && quiet && self.running_jobs.load(Ordering::Acquire) == 0 {
                drop(sessions);
                self.log(&format!("idle for {idle} s with nothing to resync: exiting"));
                self.stop.store(true, Ordering::Release);
            }
        }
    }

    /// Starts what pair `p` needs in the background: a replay for copies in service with
    /// journal records, a probe of copies failures took out of service. True while the pair
    /// has something to wait for.
    fn background(self: &Arc<Self>, p: &Arc<PairRt>) -> bool {
        let ps = self.shared.pair(p.index);
        let n = p.cfg.copies.len();
        // A copy out of service has a resync ahead of it: the daemon stays for it.
        let busy = ps.offline_mask() != 0;
        // Copies out of service after failures, to be probed.
        for c in 1..n {
            let s = ps.copy(c);
            if s.offline && !s.admin && p.cfg.auto_online {
                self.probe(p, c);
            }
        }
        if p.job.try_lock().is_err() {
            return true;
        }
        let marks = jobs::full_marks(self, p);
        let mut targets = BTreeSet::new();
        for c in (0..n).filter(|&c| !ps.copy(c).offline) {
            // A journal left by a job that did not finish, or one that grew since the last look.
            let replay = p.file(&self.state_dir, File::Replay(c)).exists();
            let len = std::fs::metadata(p.file(&self.state_dir, File::Journal(c))).map_or(0, |m| m.len());
            let grew = len != p.seen_journal[c].swap(len, Ordering::Relaxed);
            if marks.contains(&c) || replay || (len > 0 && grew && self.journal_view(p, c).entries > 0) {
                targets.insert(c);
            }
        }
        if targets.is_empty() {
            return busy;
        }
        let spec = jobs::Spec { targets: targets.into_iter().collect(), online: Vec::new(), full: false };
        self.spawn_job(p, spec);
        true
    }

    fn spawn_job(self: &Arc<Self>, p: &Arc<PairRt>, spec: jobs::Spec) {
        let (d, p) = (Arc::clone(self), Arc::clone(p));
        self.running_jobs.fetch_add(1, Ordering::AcqRel);
        std::thread::spawn(move || {
            let cancel = AtomicBool::new(false);
            match jobs::run(&d, &p, &spec, &cancel, &|_| {}) {
                Ok(o) if o.paths > 0 || !o.onlined.is_empty() => {
                    d.log(&format!("pair {}: background resync: {} paths, {} bytes", p.name(), o.paths, o.bytes))
                }
                Ok(_) => {}
                Err(e) => d.log(&format!("pair {}: background resync failed: {e}", p.name())),
            }
            d.running_jobs.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_errors_read_well() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_796_635_201), "2026-12-07T09:20:01Z");
        assert_eq!(errno_text(libc::ENOSPC), "ENOSPC (No space left on device)");
        assert!(errno_text(9999).starts_with("errno 9999"));
    }
}
