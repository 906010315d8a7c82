//! The pairs the daemon knows: from its configuration and from what `mfsctl run` and the other
//! commands registered (kept in `STATE_DIR/registered.json`, so a restarted daemon knows them
//! again), each with its entry in the shared state, its journal, and what is running on it.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use mfs_core::config::{Config, Env, Pair};
use mfs_core::journal::{self, Appender, Journal};
use mfs_core::shared::{self, SharedState};
use serde::{Deserialize, Serialize};

use crate::proto::{Conflict, Progress};

/// Where pairs came from: what `MFS_MIRROR` and `MFS_CONFIG` said to a registering command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Source {
    pub mirror: Option<String>,
    pub config: Option<PathBuf>,
}

impl Source {
    /// The pairs this source describes.
    pub fn load(&self, socket: &Path) -> Result<Vec<Pair>, String> {
        let env = Env {
            mirror: self.mirror.clone().map(OsString::from),
            config: self.config.clone().map(PathBuf::into_os_string),
            socket: Some(socket.as_os_str().to_owned()),
            xdg_runtime_dir: None,
            uid: 0,
        };
        match Config::load(&env) {
            Ok(Some(cfg)) => Ok(cfg.pairs),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// One pair as the daemon runs it.
pub struct PairRt {
    pub cfg: Pair,
    /// Its entry in the shared state.
    pub index: usize,
    pub journal: Journal,
    /// Held while a resynchronisation of the pair runs (one at a time).
    pub job: Mutex<()>,
    /// The running resynchronisation's progress.
    pub progress: Mutex<Option<Progress>>,
    pub conflicts: Mutex<Vec<Conflict>>,
    /// A probe of each copy is in flight.
    pub probing: Vec<AtomicBool>,
    /// Size of each copy's journal when last looked at (to read it again only when it grew).
    pub seen_journal: Vec<AtomicU64>,
    /// Unix time of the last probe of a copy out of service.
    pub last_probe: AtomicU64,
}

fn no_track(_: i32, _: bool) {}

impl PairRt {
    pub fn new(cfg: Pair, shared: &SharedState, state_dir: &Path) -> Result<PairRt, String> {
        let index = shared
            .pair_index(shared::name_hash(&cfg.name))
            .ok_or_else(|| format!("pair {}: the shared state has no room for another pair", cfg.name))?;
        let dir = CString::new(state_dir.as_os_str().as_bytes()).map_err(|_| "state_dir contains a NUL byte")?;
        let appenders = (0..cfg.copies.len())
            .map(|c| Appender::new(&dir, &journal::file_name(&cfg.name, c), 3, no_track))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("pair {}: bad journal name", cfg.name))?;
        let journal = Journal::new(appenders, cfg.journal_limit);
        let n = cfg.copies.len();
        let probing = (0..n).map(|_| AtomicBool::new(false)).collect();
        Ok(PairRt {
            cfg,
            index,
            journal,
            job: Mutex::new(()),
            progress: Mutex::new(None),
            conflicts: Mutex::new(Vec::new()),
            probing,
            seen_journal: (0..n).map(|_| AtomicU64::new(0)).collect(),
            last_probe: AtomicU64::new(0),
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The copy a `--copy PATH` names (configured or canonical root), or the only mirror.
    pub fn copy_named(&self, path: Option<&Path>) -> Result<usize, String> {
        match path {
            None if self.cfg.copies.len() == 2 => Ok(1),
            None => Err(format!(
                "pair {} has {} mirrors: say which with --copy PATH",
                self.cfg.name,
                self.cfg.copies.len() - 1
            )),
            Some(p) => {
                let canon = std::fs::canonicalize(p).ok();
                self.cfg.copies.iter().position(|c| c.root == p || Some(&c.canonical) == canon.as_ref()).ok_or_else(
                    || {
                        let roots: Vec<String> = self.cfg.copies.iter().map(|c| c.root.display().to_string()).collect();
                        format!(
                            "{} is not a copy of pair {} (its copies: {})",
                            p.display(),
                            self.cfg.name,
                            roots.join(", ")
                        )
                    },
                )
            }
        }
    }

    /// A copy's journal and the journal taken for replay, and the pair's other files.
    pub fn file(&self, state_dir: &Path, what: File) -> PathBuf {
        let name = &self.cfg.name;
        state_dir.join(match what {
            File::Journal(c) => journal::file_name(name, c),
            File::Replay(c) => format!("{name}.{c}.replay"),
            File::Lacks => format!("{name}.lacks"),
            File::Full => format!("{name}.full"),
        })
    }
}

/// The files of a pair in the state directory.
#[derive(Debug, Clone, Copy)]
pub enum File {
    /// `NAME.COPY.journal`: appended to by every process.
    Journal(usize),
    /// `NAME.COPY.replay`: that journal taken by the daemon, until its replay is done.
    Replay(usize),
    /// `NAME.lacks`: what copies cannot represent (for `mfsctl verify`), out of the journal.
    Lacks,
    /// `NAME.full`: copies that need a full resync (one index per line), until it is done.
    Full,
}

/// Reads every pair the sources describe, later sources replacing earlier pairs of the same
/// name. Unreadable sources are skipped with their reason.
pub fn collect(sources: &[Source], socket: &Path) -> (BTreeMap<String, Pair>, Vec<String>) {
    let mut pairs = BTreeMap::new();
    let mut problems = Vec::new();
    for s in sources {
        match s.load(socket) {
            Ok(ps) => {
                for p in ps {
                    pairs.insert(p.name.clone(), p);
                }
            }
            Err(e) => problems.push(e),
        }
    }
    (pairs, problems)
}
