//! The shim's life cycle: initialisation (at load, or on the first hook that runs before it),
//! the published state every hook reads, fork and vfork.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use mfs_core::config::{Config, Env, ENV_LOG, ENV_LOG_FILE};
use mfs_core::sys;

use crate::cwd;
use crate::edge::Guard;
use crate::fdtable;
use crate::log::Level;
use crate::owner;
use crate::state::State;

const UNINIT: u8 = 0;
const RUNNING: u8 = 1;
const ACTIVE: u8 = 2;
const DISABLED: u8 = 3;

static PHASE: AtomicU8 = AtomicU8::new(UNINIT);
static STATE: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());

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

/// True once mirroring is active (whatever thread asks).
fn active() -> Option<&'static State> {
    let p = STATE.load(Ordering::Acquire);
    // SAFETY: published once, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

#[cold]
fn slow_get() -> Option<&'static State> {
    if PHASE.load(Ordering::Acquire) != UNINIT {
        return None;
    }
    init();
    active()
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
    if let Some(st) = active() {
        after_activation(st);
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
    let st = match State::new(cfg, fd_base) {
        Ok(st) => st,
        Err(e) => {
            announce(&format!("mfs: {e}; mirroring is off for this program\n"));
            return None;
        }
    };
    crate::log!(
        Level::Info,
        "mirroring {} pair(s); state in {}",
        st.cfg.pairs.len(),
        st.cfg.daemon.state_dir.display()
    );
    crate::real::direct::probe();
    Some(st)
}

fn after_activation(st: &State) {
    owner::claim();
    if REAL_VFORK.load(Ordering::Relaxed) == 0 {
        resolve_vfork();
    }
    st.place.refresh_cwd();
    // SAFETY: registering plain extern "C" handlers.
    unsafe { libc::pthread_atfork(Some(atfork_prepare), None, Some(atfork_child)) };
    crate::adopt::adopt_inherited(st);
}

/// Before any fork through libc (fork, daemon, forkpty): the child inherits every descriptor,
/// so none may use plain twin writes any more.
extern "C" fn atfork_prepare() {
    let _errno = sys::ErrnoGuard::save();
    crate::lockstep::end_for_all();
}

extern "C" fn atfork_child() {
    after_fork_child();
}

/// Called in a fork child (from the fork hooks and the atfork handler).
pub fn after_fork_child() {
    owner::claim();
    mfs_core::locks::after_fork_child();
    crate::intents::after_fork_child();
    if cwd::torn_by_fork() {
        if let Some(st) = active() {
            st.place.refresh_cwd();
        }
    }
}

/// The process is about to create another one (posix_spawn, system and popen run no atfork
/// handler): its descriptors stop using plain twin writes.
pub fn before_spawn() {
    if get().is_some() {
        let _errno = sys::ErrnoGuard::save();
        crate::lockstep::end_for_all();
    }
}

/// Runs in the parent just before libc's vfork (the vfork hook calls it).
pub extern "C" fn before_vfork() {
    let _errno = sys::ErrnoGuard::save();
    if active().is_none() {
        return;
    }
    crate::lockstep::end_for_all();
    mfs_core::locks::cache_thread_id();
    owner::vfork_starting();
}

/// libc's vfork, resolved by the constructor (or on first use of any hook).
pub static REAL_VFORK: AtomicUsize = AtomicUsize::new(0);

/// Resolves libc's vfork for the vfork hook.
pub fn resolve_vfork() {
    // SAFETY: dlsym with a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"vfork".as_ptr()) } as usize;
    REAL_VFORK.store(p, Ordering::Relaxed);
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
