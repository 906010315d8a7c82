//! The shim's state once mirroring is active: the configuration and the parts built from it
//! (where paths belong, the copies, the journals, the shared state file), and the operations
//! that need several of them: journaling a change and recording a copy's failure.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use mfs_core::config::{Config, Pair};
use mfs_core::failure::{Lack, Op, Verdict};
use mfs_core::journal::{Appender, Journal, Kind, Recorded};
use mfs_core::locks::MAX_WAIT_SECS;
use mfs_core::path::PATH_MAX;
use mfs_core::shared::{PairState, SharedState};
use mfs_core::sys::{self, Errno};

use crate::copies::{Copies, Failed, Other};
use crate::fdtable::{self, FdKind};
use crate::log::Level;
use crate::place::Place;
use crate::sync::OnceShared;

/// Everything an initialised shim knows.
pub struct State {
    pub cfg: Config,
    pub place: Place,
    pub copies: Copies,
    /// One journal per pair.
    journals: Vec<Journal>,
    shared: OnceShared<SharedView>,
    pub state_dir: CString,
    /// Shim descriptors live at or above this number.
    pub fd_base: RawFd,
}

/// The path a journal record names.
#[derive(Clone, Copy)]
pub enum JournalPath<'a> {
    /// Already known, relative to the pair's roots.
    Path(&'a [u8]),
    /// Ask the kernel for the path of this open descriptor.
    Fd(RawFd),
}

/// The shared state file as this process uses it: the mapping, and the entry of each
/// configured pair in it.
pub struct SharedView {
    pub state: SharedState,
    /// Entry index per pair (`None`: the file has no room for the pair's name).
    pairs: Vec<Option<usize>>,
}

/// Marks a descriptor the shim keeps (or gives back) in the fd table.
fn track_private(fd: RawFd, kept: bool) {
    fdtable::set_kind(fd, if kept { FdKind::Private } else { FdKind::Empty });
}

impl State {
    /// Builds the state for `cfg`: opens every copy's root and every pair's journal, with
    /// the shim's descriptors at or above `fd_base`. The error is the line to tell the user.
    pub fn new(cfg: Config, fd_base: RawFd) -> Result<State, String> {
        let mut roots = Vec::with_capacity(cfg.pairs.len());
        for pair in &cfg.pairs {
            let mut fds = Vec::with_capacity(pair.copies.len());
            for copy in &pair.copies {
                let root = CString::new(copy.canonical.as_os_str().as_bytes())
                    .map_err(|_| format!("{} contains a NUL byte", copy.root.display()))?;
                let fd = sys::openat(libc::AT_FDCWD, &root, libc::O_PATH | libc::O_DIRECTORY, 0)
                    .map_err(|Errno(e)| format!("cannot open {}: errno {e}", copy.root.display()))?;
                let fd = sys::move_high(fd, fd_base);
                track_private(fd, true);
                fds.push(fd);
            }
            roots.push(fds);
        }
        let state_dir = CString::new(cfg.daemon.state_dir.as_os_str().as_bytes())
            .map_err(|_| format!("{} contains a NUL byte", cfg.daemon.state_dir.display()))?;
        let mut journals = Vec::with_capacity(cfg.pairs.len());
        for pair in &cfg.pairs {
            let mut appenders = Vec::with_capacity(pair.copies.len());
            for copy in 0..pair.copies.len() {
                let name = mfs_core::journal::file_name(&pair.name, copy);
                let appender = Appender::new(&state_dir, &name, fd_base, track_private)
                    .ok_or_else(|| format!("journal name for pair {} contains a NUL byte", pair.name))?;
                // The mirrors' journals are opened up front, so that recording a failure never
                // needs a free descriptor (the program may have used them all); a failure here
                // is retried at the first record. The primary's is behind only when a change
                // made through a mirror missed it: opened when first needed.
                if copy > 0 {
                    if let Err(Errno(e)) = appender.open() {
                        crate::log!(Level::Error, "cannot open journal {:?}: errno {e}", appender.path());
                    }
                }
                appenders.push(appender);
            }
            journals.push(Journal::new(appenders, pair.journal_limit));
        }
        Ok(State {
            place: Place::new(&cfg),
            copies: Copies::new(&cfg, roots),
            journals,
            shared: OnceShared::new(),
            state_dir,
            fd_base,
            cfg,
        })
    }

    pub fn pair(&self, i: usize) -> &Pair {
        &self.cfg.pairs[i]
    }

    /// The copies of `pair` other than `origin`, as a change may use them now.
    #[inline]
    pub fn others(&self, pair: usize, origin: usize) -> impl Iterator<Item = Other> + '_ {
        self.copies.others(pair, origin, self.offline_mask(pair))
    }

    /// The copies of `pair` out of service (bit = copy): the pair's word in the shared state,
    /// the one load a change makes to learn it.
    #[inline]
    pub fn offline_mask(&self, pair: usize) -> u32 {
        match self.pair_state(pair) {
            Some(p) => p.offline_mask(),
            None => self.copies.local_offline(pair),
        }
    }

    /// True when `copy` of `pair` is in service.
    #[inline]
    pub fn online(&self, pair: usize, copy: usize) -> bool {
        self.offline_mask(pair) & (1 << copy) == 0
    }

    /// True while every copy of every pair is in service (one load).
    #[inline]
    pub fn all_online(&self) -> bool {
        match self.view() {
            Some(v) => v.state.offline_copies() == 0,
            None => self.copies.none_offline_locally(),
        }
    }

    #[inline]
    fn view(&self) -> Option<&SharedView> {
        self.shared.get_or_open(MAX_WAIT_SECS, || self.open_shared())
    }

    /// The shared state file (copy states, coherency locks, intents, journal counters),
    /// opened on first use; `None` while the state directory is unusable (a later call tries
    /// again).
    #[inline]
    pub fn shared(&self) -> Option<&SharedState> {
        self.view().map(|v| &v.state)
    }

    /// The shared state file when some call already opened it.
    pub fn shared_if_open(&self) -> Option<&SharedState> {
        self.shared.get().map(|v| &v.state)
    }

    /// The entry of `pair` in the shared state file.
    #[inline]
    pub fn pair_index(&self, pair: usize) -> Option<usize> {
        self.view().and_then(|v| v.pairs[pair])
    }

    /// The state of `pair` in the shared state file.
    #[inline]
    pub fn pair_state(&self, pair: usize) -> Option<&PairState> {
        let v = self.view()?;
        Some(v.state.pair(v.pairs[pair]?))
    }

    #[cold]
    fn open_shared(&self) -> Option<SharedView> {
        let _errno = sys::ErrnoGuard::save();
        sys::mkdir_all(&self.state_dir, 0o700);
        let Some(state) = SharedState::open(&self.state_dir, self.fd_base) else {
            crate::log!(
                Level::Warn,
                "no shared state in {:?} yet; copy states are this process's own and this write is not serialised",
                self.state_dir
            );
            return None;
        };
        let pairs = self
            .cfg
            .pairs
            .iter()
            .map(|p| {
                let i = state.pair_index(mfs_core::shared::name_hash(&p.name));
                if i.is_none() {
                    crate::log!(Level::Warn, "pair {}: no room in the shared state; its copy states are local", p.name);
                }
                i
            })
            .collect();
        Some(SharedView { state, pairs })
    }

    /// Journals `what` as behind on `copy` of `pair`.
    pub fn journal(&self, pair: usize, copy: usize, kind: Kind, what: JournalPath<'_>) {
        self.journal_range(pair, copy, kind, None, what)
    }

    /// Journals bytes `range` (offset, length) of `what` as written without reaching `copy`
    /// (or the whole of `what` as behind when `range` is `None`).
    pub fn journal_write(&self, pair: usize, copy: usize, range: Option<(u64, u64)>, what: JournalPath<'_>) {
        let kind = if range.is_some() { Kind::Written } else { Kind::Dirty };
        self.journal_range(pair, copy, kind, range, what)
    }

    fn journal_range(&self, pair: usize, copy: usize, kind: Kind, range: Option<(u64, u64)>, what: JournalPath<'_>) {
        let mut buf = [0u8; PATH_MAX];
        match self.journal_path(what, &mut buf) {
            Some(path) => self.record(pair, copy, kind, range, path),
            None => self.record_full(pair, copy),
        }
    }

    /// Journals `what` as behind on every copy of `pair` other than `origin`: the one way a
    /// change that could not be applied to them is remembered.
    pub fn journal_others(&self, pair: usize, origin: usize, kind: Kind, what: JournalPath<'_>) {
        let mut buf = [0u8; PATH_MAX];
        let path = self.journal_path(what, &mut buf);
        for other in self.others(pair, origin) {
            match path {
                Some(path) => self.record(pair, other.copy, kind, None, path),
                None => self.record_full(pair, other.copy),
            }
        }
    }

    /// The relative path a journal record names; `None` when an fd's path cannot be told
    /// (the record becomes a full-resync one).
    fn journal_path<'b>(&self, what: JournalPath<'b>, buf: &'b mut [u8; PATH_MAX]) -> Option<&'b [u8]> {
        match what {
            JournalPath::Path(p) => Some(p),
            JournalPath::Fd(fd) => self.place.rel_of_fd(fd, buf),
        }
    }

    fn record(&self, pair: usize, copy: usize, kind: Kind, range: Option<(u64, u64)>, path: &[u8]) {
        let r = self.journals[pair].record(kind, copy, sys::getpid() as u32, range, path, self.pair_state(pair));
        self.report(pair, r);
    }

    fn record_full(&self, pair: usize, copy: usize) {
        let r = self.journals[pair].record_full(copy, sys::getpid() as u32, self.pair_state(pair));
        self.report(pair, r);
    }

    fn report(&self, pair: usize, r: Recorded) {
        let name = &self.pair(pair).name;
        match r {
            Recorded::Written | Recorded::Covered => {}
            Recorded::Overflowed => crate::log!(
                Level::Warn,
                "pair {name}: journal limit {} reached; a full resync is needed",
                self.pair(pair).journal_limit
            ),
            Recorded::Failed(Errno(e)) => crate::log!(Level::Error, "journal write failed for pair {name}: errno {e}"),
        }
    }

    /// Records that operation `op` failed on `copy` with `e` (see [`Copies::failed`]) and
    /// journals `what` for it: as behind, or as not representable there. `fail` in the
    /// result is the error the program should see (fail mode only).
    pub fn mirror_failed(&self, pair: usize, copy: usize, what: JournalPath<'_>, op: Op, e: Errno) -> Failed {
        self.mirror_failed_at(pair, copy, what, None, op, e)
    }

    /// [`State::mirror_failed`] for a write of bytes `range` (offset, length): only those are
    /// journaled.
    pub fn mirror_failed_at(
        &self,
        pair: usize,
        copy: usize,
        what: JournalPath<'_>,
        range: Option<(u64, u64)>,
        op: Op,
        e: Errno,
    ) -> Failed {
        let shared = self.view().and_then(|v| Some((&v.state, v.pairs[pair]?)));
        let f = self.copies.failed(pair, copy, op, e, shared);
        if f.verdict == Verdict::Unsupported {
            self.not_representable(pair, copy, op.lack(), what, e);
            return f;
        }
        let p = self.pair(pair);
        if f.went_offline {
            crate::log!(
                Level::Warn,
                "pair {}: copy {} offline after {} failures",
                p.name,
                p.copies[copy].root.display(),
                f.count
            );
        }
        crate::log!(Level::Debug, "pair {}: copy {} failed with errno {} ({:?})", p.name, copy, e.0, f.verdict);
        self.journal_write(pair, copy, range, what);
        f
    }

    /// Records `what` as not representable on `copy` of `pair` (its file system lacks
    /// `lack`), saying so once per pair and lack.
    pub fn not_representable(&self, pair: usize, copy: usize, lack: Lack, what: JournalPath<'_>, e: Errno) {
        if self.copies.first_lack(pair, lack) {
            let p = self.pair(pair);
            crate::log!(
                Level::Warn,
                "pair {}: {} cannot hold {} (errno {}); such paths are recorded, the copy stays in service",
                p.name,
                p.copies[copy].root.display(),
                lack.as_str(),
                e.0
            );
        }
        self.journal(pair, copy, Kind::Lacks(lack), what);
    }

    /// A change succeeded at a path the shim cannot place (deeper than PATH_MAX): nothing is
    /// mirrored, so every pair is journaled for a full resync rather than silently skipped.
    pub fn unplaced_change(&self) {
        crate::log!(
            Level::Warn,
            "a change at a path deeper than PATH_MAX was not mirrored; journaled for a full resync"
        );
        for (pair, p) in self.cfg.pairs.iter().enumerate() {
            for copy in 0..p.copies.len() {
                self.record_full(pair, copy);
            }
        }
    }

    /// Moves one of the shim's private descriptors off `fd` (the program is about to dup2
    /// onto that number), updating whoever holds it.
    pub fn relocate_private(&self, fd: RawFd) {
        let Ok(new) = sys::dup_at_least(fd, self.fd_base) else { return };
        let mut moved = self.copies.relocate_root(fd, new);
        for a in self.journals.iter().flat_map(Journal::appenders) {
            moved |= a.relocate(fd, new);
        }
        moved |= crate::log::relocate(fd, new);
        if moved {
            fdtable::set_kind(new, FdKind::Private);
            fdtable::set_kind(fd, FdKind::Empty);
            sys::close(fd);
        } else {
            sys::close(new);
        }
    }
}
