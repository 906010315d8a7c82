//! Process-wide shim state: configuration, per-copy runtime state, the current directory,
//! and the life cycle (initialisation, fork, exit).

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU8, Ordering};

use mfs_core::classify::{Classifier, Hit};
use mfs_core::config::{Config, Env, OnMirrorError, Pair, ENV_LOG, ENV_LOG_FILE};
use mfs_core::path::{has_dotdot_from, normal_form, AbsPath, PATH_MAX};
use mfs_core::quick::{Quick, QuickTest};

use crate::cpath::Scanner;
use crate::fdtable::{self, kind};
use crate::guard::Guard;
use crate::lock::LockTable;
use crate::log::Level;
use crate::sys::{self, Errno};

/// Runtime state of one copy of a pair.
pub struct CopyRt {
    /// The copy's root, opened O_PATH; every path on this copy is resolved beneath it.
    pub root_fd: AtomicI32,
    /// False once the copy failed `retries` times in this process.
    pub online: AtomicBool,
    pub failures: AtomicU32,
}

/// Runtime state of one pair.
pub struct PairRt {
    pub copies: Vec<CopyRt>,
    journal_fd: AtomicI32,
}

/// Everything an initialised shim knows.
pub struct State {
    pub cfg: Config,
    pub classifier: Classifier,
    /// The quick test for paths outside every pair (built from `classifier`).
    pub scanner: Scanner,
    pub pairs: Vec<PairRt>,
    pub state_dir: CString,
    /// Shim descriptors live at or above this number.
    pub fd_base: RawFd,
    /// The lock table once opened (leaked: it lives as long as the process).
    locks: AtomicPtr<LockTable>,
    /// Thread id of the thread opening the lock table, 0 when none is.
    locks_opening: AtomicI32,
    /// Set once any copy of any pair has gone offline in this process.
    degraded: AtomicBool,
}

const UNINIT: u8 = 0;
const RUNNING: u8 = 1;
const ACTIVE: u8 = 2;
const DISABLED: u8 = 3;

static PHASE: AtomicU8 = AtomicU8::new(UNINIT);
static STATE: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());
/// The process whose memory this is; a vfork child (same memory, other pid) must not change
/// shared bookkeeping.
static OWNER: AtomicI32 = AtomicI32::new(0);

/// The state when mirroring is active, initialising on first use. `None` while this thread is
/// inside the shim's own slow paths (which may use std::fs and so call hooked functions):
/// those calls go straight to libc.
#[inline(always)]
pub fn get() -> Option<&'static State> {
    let p = STATE.load(Ordering::Acquire);
    if !p.is_null() {
        if Guard::maybe_active() {
            return None;
        }
        // SAFETY: published once, never freed.
        return Some(unsafe { &*p });
    }
    slow_get()
}

#[cold]
fn slow_get() -> Option<&'static State> {
    if PHASE.load(Ordering::Acquire) != UNINIT {
        return None;
    }
    init();
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: as in `get`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Initialises the shim once; later and concurrent callers return at once.
pub fn init() {
    if PHASE.compare_exchange(UNINIT, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let guard = Guard::enter();
    let saved = sys::ErrnoGuard::save();
    let phase = match build() {
        Some(st) => {
            STATE.store(Box::into_raw(Box::new(st)), Ordering::Release);
            ACTIVE
        }
        None => DISABLED,
    };
    PHASE.store(phase, Ordering::Release);
    drop(guard);
    if phase == ACTIVE {
        after_activation();
    }
    drop(saved);
}

fn build() -> Option<State> {
    // SAFETY: getuid has no failure mode.
    let env = Env::from_process(unsafe { libc::getuid() });
    if env.is_unset() {
        return None;
    }
    std::panic::set_hook(Box::new(|info| {
        crate::log!(Level::Error, "internal error: {info}");
    }));
    let cfg = match Config::load(&env) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return None,
        Err(e) => {
            announce(&format!("mfs: {e}; mirroring is off for this program\n"));
            return None;
        }
    };
    let cap = fd_capacity();
    let fd_base = (cap - cap / 4) as RawFd;
    if !fdtable::init(cap) {
        announce("mfs: cannot allocate the descriptor table; mirroring is off for this program\n");
        return None;
    }
    let log_file = std::env::var_os(ENV_LOG_FILE).and_then(|f| CString::new(f.as_bytes()).ok());
    crate::log::init(std::env::var(ENV_LOG).ok().as_deref(), log_file.as_deref(), fd_base);
    let mut pairs = Vec::with_capacity(cfg.pairs.len());
    for pair in &cfg.pairs {
        let mut copies = Vec::with_capacity(pair.copies.len());
        for copy in &pair.copies {
            let root = CString::new(copy.canonical.as_os_str().as_bytes()).ok()?;
            let fd = match sys::openat(libc::AT_FDCWD, &root, libc::O_PATH | libc::O_DIRECTORY, 0) {
                Ok(fd) => sys::move_high(fd, fd_base),
                Err(Errno(e)) => {
                    announce(&format!(
                        "mfs: cannot open {}: errno {e}; mirroring is off for this program\n",
                        copy.root.display()
                    ));
                    return None;
                }
            };
            fdtable::set_kind(fd, kind::PRIVATE);
            copies.push(CopyRt {
                root_fd: AtomicI32::new(fd),
                online: AtomicBool::new(true),
                failures: AtomicU32::new(0),
            });
        }
        pairs.push(PairRt { copies, journal_fd: AtomicI32::new(-1) });
    }
    let state_dir = CString::new(cfg.daemon.state_dir.as_os_str().as_bytes()).ok()?;
    let classifier = Classifier::new(&cfg);
    crate::log!(Level::Info, "mirroring {} pair(s); state in {}", cfg.pairs.len(), cfg.daemon.state_dir.display());
    let st = State {
        cfg,
        scanner: Scanner::new(QuickTest::new(&classifier)),
        classifier,
        pairs,
        state_dir,
        fd_base,
        locks: AtomicPtr::new(std::ptr::null_mut()),
        locks_opening: AtomicI32::new(0),
        degraded: AtomicBool::new(false),
    };
    // Journals are opened up front, so that recording a failure never needs a free
    // descriptor (the program may have used them all).
    for i in 0..st.pairs.len() {
        st.open_journal(i);
    }
    crate::real::direct::probe();
    Some(st)
}

fn after_activation() {
    OWNER.store(sys::getpid(), Ordering::Relaxed);
    if crate::hooks::fd::REAL_VFORK.load(Ordering::Relaxed) == 0 {
        crate::hooks::fd::resolve_vfork();
    }
    cwd::refresh();
    // SAFETY: registering a plain extern "C" handler.
    unsafe { libc::pthread_atfork(Some(atfork_prepare), None, Some(atfork_child)) };
    crate::adopt::adopt_inherited();
}

/// Before any fork through libc (fork, daemon, forkpty): the child inherits every descriptor,
/// so none may use plain twin writes any more.
extern "C" fn atfork_prepare() {
    let _errno = crate::sys::ErrnoGuard::save();
    crate::step::end_for_all();
}

extern "C" fn atfork_child() {
    after_fork_child();
}

/// Called in a fork child (from the fork hooks and the atfork handler).
pub fn after_fork_child() {
    OWNER.store(sys::getpid(), Ordering::Relaxed);
    crate::lock::after_fork_child();
    VFORK_PENDING.store(false, Ordering::Relaxed);
    cwd::reset_after_fork();
}

/// Set by the vfork hook just before the real vfork; cleared when the thread that called vfork
/// makes its next call into the shim in the parent.
static VFORK_PENDING: AtomicBool = AtomicBool::new(false);
/// The thread that called vfork last.
static VFORK_TID: AtomicI32 = AtomicI32::new(0);

/// Called by the vfork hook in the parent, before the real vfork.
pub fn before_vfork() {
    if STATE.load(Ordering::Acquire).is_null() {
        return;
    }
    crate::step::end_for_all();
    VFORK_TID.store(sys::gettid(), Ordering::Relaxed);
    crate::lock::cache_thread_id();
    VFORK_PENDING.store(true, Ordering::SeqCst);
}

/// True when this process owns the shim's memory; false in a vfork child, which runs in its
/// parent's memory and must not change shared bookkeeping (python's subprocess closes every
/// descriptor in such a child). Costs one load unless a vfork is in flight.
#[inline]
pub fn owns_memory() -> bool {
    if !VFORK_PENDING.load(Ordering::Acquire) {
        return true;
    }
    owns_memory_slow()
}

#[cold]
fn owns_memory_slow() -> bool {
    if OWNER.load(Ordering::Relaxed) != sys::getpid() {
        return false;
    }
    if VFORK_TID.load(Ordering::Relaxed) == sys::gettid() {
        // The vforking thread is back in the parent: its child has exec'd or exited.
        VFORK_PENDING.store(false, Ordering::Release);
    }
    true
}

/// Writes one message to stderr (configuration problems only).
fn announce(msg: &str) {
    let _ = sys::write(2, msg.as_bytes());
}

fn fd_capacity() -> usize {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local.
    let cur = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 { rl.rlim_cur } else { 1024 };
    (cur as usize).clamp(256, 65536)
}

/// True when relative paths from `dirfd` (or the working directory) start outside every pair
/// and above no root.
#[inline(always)]
fn base_is_outside(dirfd: RawFd) -> bool {
    if dirfd == libc::AT_FDCWD {
        cwd::is_outside()
    } else {
        fdtable::kind_of(dirfd) == kind::OUTSIDE
    }
}

/// True for `/dev`, `/proc` and paths under them (see [`magic_class`]).
///
/// # Safety
/// `path` must point to a NUL-terminated string of at least one byte before the NUL.
#[inline(always)]
unsafe fn is_magic(path: *const libc::c_char) -> bool {
    let p = path.cast::<u8>();
    // SAFETY: byte 1 is the string's second byte or its NUL.
    let second = unsafe { *p.add(1) };
    if second != b'd' && second != b'p' {
        return false;
    }
    // SAFETY: the caller's contract; `from_ptr` reads up to the NUL.
    is_magic_bytes(unsafe { CStr::from_ptr(path) }.to_bytes())
}

/// [`is_magic`] on a path's bytes.
#[inline(always)]
fn is_magic_bytes(path: &[u8]) -> bool {
    matches!(path.get(1), Some(b'd' | b'p'))
        && (path.starts_with(b"/dev/") || path.starts_with(b"/proc/") || path == b"/dev" || path == b"/proc")
}

impl State {
    pub fn pair(&self, i: usize) -> &Pair {
        &self.cfg.pairs[i]
    }

    /// The lock table, opened on first use; `None` when the state directory is unusable.
    pub fn locks(&self) -> Option<&LockTable> {
        let p = self.locks.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: published once, never freed.
            return Some(unsafe { &*p });
        }
        self.open_locks()
    }

    /// Opens the lock table; a failure (no free descriptor, unwritable state directory) is
    /// retried on a later write rather than remembered. Threads that arrive while another one
    /// opens it wait for that one (a write made meanwhile would not be serialised with the
    /// others), at most [`crate::lock::MAX_WAIT_SECS`]; a signal handler interrupting the
    /// opener on its own thread cannot wait and goes without.
    #[cold]
    fn open_locks(&self) -> Option<&LockTable> {
        let me = sys::gettid();
        let since = std::time::Instant::now();
        loop {
            match self.locks_opening.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(t) if t == me => return None,
                Err(t) => {
                    let p = self.locks.load(Ordering::Acquire);
                    if !p.is_null() {
                        // SAFETY: published once, never freed.
                        return Some(unsafe { &*p });
                    }
                    if !sys::thread_in_process(t) {
                        // A fork child inherits the mark, not the thread that set it.
                        let _ = self.locks_opening.compare_exchange(t, 0, Ordering::AcqRel, Ordering::Acquire);
                    } else if since.elapsed().as_secs() >= u64::from(crate::lock::MAX_WAIT_SECS) {
                        return None;
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
        let p = self.locks.load(Ordering::Acquire);
        let out = if !p.is_null() {
            // SAFETY: published once, never freed.
            Some(unsafe { &*p })
        } else {
            let _errno = sys::ErrnoGuard::save();
            ensure_dir(&self.state_dir);
            match LockTable::open(&self.state_dir, self.fd_base) {
                Some(t) => {
                    let p = Box::into_raw(Box::new(t));
                    self.locks.store(p, Ordering::Release);
                    // SAFETY: just published, never freed.
                    Some(unsafe { &*p })
                }
                None => {
                    crate::log!(
                        Level::Warn,
                        "no coherency lock table in {:?} yet; this write is not serialised",
                        self.state_dir
                    );
                    None
                }
            }
        };
        self.locks_opening.store(0, Ordering::Release);
        out
    }

    /// True when `copy` of `pair` is still in service for this process.
    pub fn online(&self, pair: usize, copy: usize) -> bool {
        self.pairs[pair].copies[copy].online.load(Ordering::Relaxed)
    }

    /// True while every copy of every pair is online in this process (one load).
    #[inline(always)]
    pub fn all_online(&self) -> bool {
        !self.degraded.load(Ordering::Relaxed)
    }

    pub fn root_fd(&self, pair: usize, copy: usize) -> RawFd {
        self.pairs[pair].copies[copy].root_fd.load(Ordering::Relaxed)
    }

    /// A change succeeded at a path the shim cannot place (deeper than PATH_MAX): nothing is
    /// mirrored, so every pair is journaled for a full resync rather than silently skipped.
    pub fn unplaced_change(&self) {
        crate::log!(
            Level::Warn,
            "a change at a path deeper than PATH_MAX was not mirrored; journaled for a full resync"
        );
        for (pi, pair) in self.cfg.pairs.iter().enumerate() {
            for copy in 0..pair.copies.len() {
                self.journal_full(pi, copy);
            }
        }
    }

    /// Moves one of the shim's private descriptors off `fd` (the program is about to dup2
    /// onto that number), updating whoever holds it.
    pub fn relocate_private(&self, fd: RawFd) {
        let Ok(new) = sys::dup_at_least(fd, self.fd_base) else { return };
        let mut moved = false;
        for slot in
            self.pairs.iter().flat_map(|p| p.copies.iter().map(|c| &c.root_fd).chain(std::iter::once(&p.journal_fd)))
        {
            if slot.compare_exchange(fd, new, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                moved = true;
            }
        }
        moved |= crate::log::relocate(fd, new);
        if moved {
            fdtable::set_kind(new, kind::PRIVATE);
            fdtable::set_kind(fd, kind::EMPTY);
            sys::close(fd);
        } else {
            sys::close(new);
        }
    }

    /// Records a failure of `copy`: counts it, takes the copy offline after `retries`, and
    /// journals `rel`. Returns the error the program should see (`Some` only in fail mode).
    pub fn mirror_failed(&self, pair: usize, copy: usize, rel: Rel<'_>, e: Errno) -> Option<Errno> {
        let rt = &self.pairs[pair].copies[copy];
        let p = self.pair(pair);
        if matches!(e.0, libc::EMFILE | libc::ENFILE) {
            // The process is out of descriptors: not the copy's fault, so it is not counted
            // against it, but the path is journaled.
            self.journal(pair, copy, mfs_core::journal::Kind::Dirty, rel);
            return (p.on_mirror_error == OnMirrorError::Fail).then_some(e);
        }
        let n = rt.failures.fetch_add(1, Ordering::Relaxed) + 1;
        // In fail mode the program sees every mirror error, so a copy is never silently
        // taken out of service; in degrade mode it is, after `retries` failures.
        if p.on_mirror_error == OnMirrorError::Degrade && n >= p.retries && rt.online.swap(false, Ordering::Relaxed) {
            self.degraded.store(true, Ordering::Relaxed);
            crate::log!(
                Level::Warn,
                "pair {}: copy {} offline after {n} failures",
                p.name,
                p.copies[copy].root.display()
            );
        }
        crate::log!(Level::Debug, "pair {}: copy {} failed with errno {}", p.name, copy, e.0);
        self.journal(pair, copy, mfs_core::journal::Kind::Dirty, rel);
        (p.on_mirror_error == OnMirrorError::Fail).then_some(e)
    }

    /// Appends a journal record for `copy` of `pair`.
    pub fn journal(&self, pair: usize, copy: usize, kind: mfs_core::journal::Kind, rel: Rel<'_>) {
        let mut pathbuf = [0u8; PATH_MAX];
        let path: &[u8] = match rel {
            Rel::Path(p) => p,
            Rel::Fd(fd) => match self.rel_of_fd(fd, &mut pathbuf) {
                Some(p) => p,
                None => {
                    self.journal_full(pair, copy);
                    return;
                }
            },
        };
        if let Some(t) = self.locks() {
            let n = t.count_journal(crate::lock::name_hash(&self.pair(pair).name));
            let limit = self.pair(pair).journal_limit;
            if n > limit {
                // Overflowed: one Full record says a whole-tree resync is needed; later
                // entries add nothing to that.
                if n == limit + 1 {
                    crate::log!(
                        Level::Warn,
                        "pair {}: journal limit {limit} reached; a full resync is needed",
                        self.pair(pair).name
                    );
                    for c in 0..self.pair(pair).copies.len() {
                        self.journal_full(pair, c);
                    }
                }
                return;
            }
        }
        let mut rec = [0u8; PATH_MAX + 64];
        match mfs_core::journal::encode_into(kind, copy, sys::getpid() as u32, path, &mut rec) {
            Some(n) => self.append_journal(pair, &rec[..n]),
            None => self.journal_full(pair, copy),
        }
    }

    fn journal_full(&self, pair: usize, copy: usize) {
        let mut rec = [0u8; 64];
        if let Some(n) =
            mfs_core::journal::encode_into(mfs_core::journal::Kind::Full, copy, sys::getpid() as u32, b"", &mut rec)
        {
            self.append_journal(pair, &rec[..n]);
        }
    }

    /// Opens the journal of `pair` for appending (kept high and open) unless it is open.
    fn open_journal(&self, pair: usize) -> Option<RawFd> {
        let slot = &self.pairs[pair].journal_fd;
        let fd = slot.load(Ordering::Acquire);
        if fd >= 0 {
            return Some(fd);
        }
        let new = self.open_journal_file(pair)?;
        let new = sys::move_high(new, self.fd_base);
        if new < self.fd_base {
            sys::close(new);
            return None;
        }
        fdtable::set_kind(new, kind::PRIVATE);
        match slot.compare_exchange(-1, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Some(new),
            Err(cur) => {
                fdtable::set_kind(new, kind::EMPTY);
                sys::close(new);
                Some(cur)
            }
        }
    }

    fn open_journal_file(&self, pair: usize) -> Option<RawFd> {
        ensure_dir(&self.state_dir);
        let name = mfs_core::journal::file_name(&self.pair(pair).name);
        let mut path = self.state_dir.as_bytes().to_vec();
        path.push(b'/');
        path.extend_from_slice(name.as_bytes());
        let path = CString::new(path).ok()?;
        let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW;
        match sys::openat(libc::AT_FDCWD, &path, flags, 0o600) {
            Ok(fd) => Some(fd),
            Err(Errno(e)) => {
                crate::log!(Level::Error, "cannot open journal {:?}: errno {e}", path);
                None
            }
        }
    }

    fn append_journal(&self, pair: usize, rec: &[u8]) {
        let written = match self.open_journal(pair) {
            Some(fd) => sys::write(fd, rec).is_ok(),
            // No room above the program's numbers: append through a descriptor that is
            // closed again at once.
            None => self.open_journal_file(pair).is_some_and(|fd| {
                let ok = sys::write(fd, rec).is_ok();
                sys::close(fd);
                ok
            }),
        };
        if !written {
            crate::log!(Level::Error, "journal write failed for pair {}", self.pair(pair).name);
        }
    }

    /// The path of an open fd relative to its pair's root, from the kernel.
    pub fn rel_of_fd<'b>(&self, fd: RawFd, buf: &'b mut [u8; PATH_MAX]) -> Option<&'b [u8]> {
        let n = sys::fd_path(fd, buf).ok()?;
        let hit = self.classifier.classify(&buf[..n])?;
        let (start, len) = subslice(&buf[..n], hit.rel);
        Some(&buf[start..start + len])
    }

    /// Classifies the object a path names, relative to `dirfd` (AT_FDCWD for the current
    /// directory), lexically. `scratch` holds the absolute path when one had to be built.
    #[inline]
    pub fn classify_at<'b>(&self, dirfd: RawFd, path: &'b [u8], scratch: &'b mut Option<AbsPath>) -> Class<'b> {
        if self.surely_outside(dirfd, path) {
            return Class::Outside;
        }
        if let Some(p) = normal_form(path) {
            return self.class_of(p);
        }
        self.classify_slow(dirfd, path, scratch)
    }

    /// The quick test on a path as the program passed it: true when it surely lies outside
    /// every pair (see [`mfs_core::quick`]). `/dev`, `/proc` and paths under them are never
    /// outside here: they reach files through magic links (see [`magic_class`]).
    ///
    /// # Safety
    /// `path` must be null or a NUL-terminated string.
    #[inline(always)]
    pub unsafe fn quick_outside(&self, dirfd: RawFd, path: *const libc::c_char) -> bool {
        // SAFETY: the caller's contract.
        match unsafe { self.scanner.judge(path) } {
            // SAFETY: an absolute path, so at least one byte long before its NUL.
            Quick::Outside => !unsafe { is_magic(path) },
            Quick::Below => base_is_outside(dirfd),
            Quick::Unknown => false,
        }
    }

    /// The test on the bytes of every path a hook receives (open-like hooks try
    /// [`State::quick_outside`] first), and all that a path outside every pair costs: true
    /// only when `path` certainly lies outside every pair and above none (see
    /// [`mfs_core::classify::Classifier::surely_outside`]) and names no open descriptor.
    /// A relative path without `..` is outside when its base is: the current directory or a
    /// dirfd opened at a path outside (both known without a system call).
    #[inline(always)]
    pub fn surely_outside(&self, dirfd: RawFd, path: &[u8]) -> bool {
        match path.first() {
            Some(b'/') => self.classifier.surely_outside(path) && !is_magic_bytes(path),
            Some(_) => base_is_outside(dirfd) && !has_dotdot_from(path, 0),
            None => false,
        }
    }

    #[inline]
    fn class_of<'b>(&self, abs: &'b [u8]) -> Class<'b> {
        class_of(&self.classifier, abs)
    }

    fn classify_slow<'b>(&self, dirfd: RawFd, path: &'b [u8], scratch: &'b mut Option<AbsPath>) -> Class<'b> {
        // Runs before the program's call: the syscalls here must not leave errno changed.
        let _errno = sys::ErrnoGuard::save();
        let mut base = [0u8; PATH_MAX];
        let base_len = if path.first() == Some(&b'/') {
            base[0] = b'/';
            1
        } else if dirfd == libc::AT_FDCWD {
            match cwd::copy(&mut base) {
                Some(n) => n,
                // getcwd failed: the working directory is deeper than PATH_MAX (or gone).
                None => return Class::TooLong,
            }
        } else {
            match sys::fd_path(dirfd, &mut base) {
                Ok(n) if base[0] == b'/' => n,
                Err(Errno(libc::ENAMETOOLONG)) => return Class::TooLong,
                _ => return Class::Unknown,
            }
        };
        let abs = scratch.insert(AbsPath::new());
        match abs.set_resolved(&base[..base_len], path) {
            Ok(()) => {}
            Err(mfs_core::path::PathError::TooLong) => return Class::TooLong,
            Err(_) => return Class::Unknown,
        }
        self.class_of(abs.as_bytes())
    }
}

/// What a path is to the shim.
#[derive(Debug, Clone, Copy)]
pub enum Class<'a> {
    /// Outside every pair and not above any root.
    Outside,
    /// Above a root: paths relative to it may enter a pair.
    Related,
    /// The shim could not tell (unreadable dirfd): treated as not mirrored.
    Unknown,
    /// Longer than PATH_MAX once made absolute: the shim cannot place it, so a change made
    /// through it is journaled as needing a full resync of every pair (see
    /// [`State::unplaced_change`]).
    TooLong,
    /// In a pair; `abs` is the absolute origin-side path.
    In { hit: Hit<'a>, abs: &'a [u8] },
    /// A name for an open descriptor (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`): what it
    /// opens is known only from the kernel's path of the result.
    FdAlias,
}

impl Class<'_> {
    /// The table kind an fd opened at such a path gets.
    pub fn fd_kind(&self) -> u8 {
        match self {
            Class::Outside => kind::OUTSIDE,
            Class::Related => kind::RELATED,
            Class::Unknown | Class::TooLong | Class::FdAlias => kind::EMPTY,
            Class::In { .. } => kind::MIRRORED,
        }
    }
}

/// The class of a normalised absolute path.
#[inline]
fn class_of<'b>(classifier: &Classifier, abs: &'b [u8]) -> Class<'b> {
    match classifier.locate(abs) {
        Ok(hit) => Class::In { hit, abs },
        Err(above) => match magic_class(abs) {
            Some(class) => class,
            None if above => Class::Related,
            None => Class::Outside,
        },
    }
}

/// The class of a normalised absolute path outside every pair that is under `/dev` or
/// `/proc`, where magic links lead to open descriptors and to processes' working and root
/// directories, which may be in a pair: such names are [`Class::FdAlias`] (what they open is
/// placed by the kernel's path of the result), and the directories on the way to them are
/// [`Class::Related`] (a path relative to them is placed again). `None` for every other path,
/// `/dev/null` and the like included.
fn magic_class(abs: &[u8]) -> Option<Class<'static>> {
    if abs == b"/dev" || abs == b"/proc" || abs == b"/dev/fd" {
        return Some(Class::Related);
    }
    if let Some(rest) = abs.strip_prefix(b"/dev/") {
        let alias = matches!(rest, b"stdin" | b"stdout" | b"stderr") || rest.starts_with(b"fd/");
        return alias.then_some(Class::FdAlias);
    }
    let rest = abs.strip_prefix(b"/proc/")?;
    // /proc/PID/fd/N, /proc/self/cwd/..., /proc/PID/task/TID/root/..., and the like.
    let magic =
        rest.split(|&b| b == b'/').skip(1).any(|c| matches!(c, b"fd" | b"cwd" | b"root" | b"exe" | b"map_files"));
    Some(if magic { Class::FdAlias } else { Class::Related })
}

/// Where a journaled path comes from.
#[derive(Clone, Copy)]
pub enum Rel<'a> {
    /// Already known, relative to the pair's roots.
    Path(&'a [u8]),
    /// Ask the kernel for the path of this open descriptor.
    Fd(RawFd),
}

fn subslice(outer: &[u8], inner: &[u8]) -> (usize, usize) {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    (start, inner.len())
}

/// Creates the state directory (and parents) with mode 0700 when missing.
fn ensure_dir(dir: &CStr) {
    let bytes = dir.to_bytes();
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if b == b'/' {
            if let Ok(p) = CString::new(&bytes[..i]) {
                let _ = sys::mkdirat(libc::AT_FDCWD, &p, 0o700);
            }
        }
    }
    let _ = sys::mkdirat(libc::AT_FDCWD, dir, 0o700);
}

/// The cached current directory, kept in step by the chdir hooks.
pub mod cwd {
    use super::*;
    use std::cell::UnsafeCell;
    use std::sync::atomic::AtomicU64;

    struct Cwd {
        seq: AtomicU64,
        writer: AtomicBool,
        outside: AtomicBool,
        len: std::sync::atomic::AtomicUsize,
        buf: UnsafeCell<[u8; PATH_MAX]>,
    }

    // SAFETY: `buf` is written only by the single writer holding `writer`, between two odd
    // sequence values; readers copy it and retry when the sequence moved.
    unsafe impl Sync for Cwd {}

    static CWD: Cwd = Cwd {
        seq: AtomicU64::new(0),
        writer: AtomicBool::new(false),
        outside: AtomicBool::new(false),
        len: std::sync::atomic::AtomicUsize::new(0),
        buf: UnsafeCell::new([0; PATH_MAX]),
    };

    /// True when the current directory is known to be outside every pair and not above any
    /// root (so a relative path without `..` is outside too).
    #[inline(always)]
    pub fn is_outside() -> bool {
        CWD.outside.load(Ordering::Acquire)
    }

    /// Copies the current directory into `out`; `None` when unknown.
    pub fn copy(out: &mut [u8; PATH_MAX]) -> Option<usize> {
        loop {
            let s1 = CWD.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let len = CWD.len.load(Ordering::Relaxed);
            // SAFETY: reading the buffer under the sequence protocol; a torn copy is
            // discarded below.
            unsafe { std::ptr::copy_nonoverlapping(CWD.buf.get().cast::<u8>(), out.as_mut_ptr(), len) };
            std::sync::atomic::fence(Ordering::Acquire);
            if CWD.seq.load(Ordering::Relaxed) == s1 {
                return (len > 0).then_some(len);
            }
        }
    }

    /// Re-reads the current directory from the kernel (after chdir/fchdir, at start-up).
    pub fn refresh() {
        let mut buf = [0u8; PATH_MAX];
        let n = sys::getcwd(&mut buf).unwrap_or(0);
        let valid = n > 0 && buf[0] == b'/';
        while CWD.writer.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        CWD.seq.fetch_add(1, Ordering::AcqRel);
        // SAFETY: we are the only writer (writer flag) and readers retry on odd sequences.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), CWD.buf.get().cast::<u8>(), n) };
        CWD.len.store(if valid { n } else { 0 }, Ordering::Relaxed);
        let outside =
            valid && get_classifier().is_some_and(|c| matches!(super::class_of(c, &buf[..n]), super::Class::Outside));
        CWD.outside.store(outside, Ordering::Release);
        CWD.seq.fetch_add(1, Ordering::AcqRel);
        CWD.writer.store(false, Ordering::Release);
    }

    /// A fork may have copied the writer flag mid-update from another thread.
    pub fn reset_after_fork() {
        if CWD.writer.load(Ordering::Relaxed) {
            CWD.writer.store(false, Ordering::Relaxed);
            if CWD.seq.load(Ordering::Relaxed) & 1 == 1 {
                CWD.seq.fetch_add(1, Ordering::Relaxed);
            }
            refresh();
        }
    }

    fn get_classifier() -> Option<&'static Classifier> {
        let p = STATE.load(Ordering::Acquire);
        // SAFETY: published once, never freed.
        (!p.is_null()).then(|| unsafe { &(*p).classifier })
    }
}
