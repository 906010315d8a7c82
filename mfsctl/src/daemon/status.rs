//! `mfsctl status`: what the shared state, the journals and the running jobs say about every
//! pair and copy.

use mfs_core::journal::{self, Kind};

use super::pairs::{File, PairRt};
use super::{errno_text, jobs, Daemon};
use crate::proto::{CopyStatus, LastError, PairStatus, Status};

/// What one copy's journal holds.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JournalView {
    /// Records (not counting what the copy cannot represent).
    pub entries: u64,
    /// Size of the journal files.
    pub bytes: u64,
    /// Paths they fold into.
    pub dirty: u64,
    /// A full resync is asked for.
    pub full: bool,
}

impl Daemon {
    /// What copy `copy`'s journal (and the part of it taken for replay) holds.
    pub(super) fn journal_view(&self, p: &PairRt, copy: usize) -> JournalView {
        let mut records = Vec::new();
        let mut bytes = 0;
        for f in [File::Replay(copy), File::Journal(copy)] {
            if let Ok(data) = std::fs::read(p.file(&self.state_dir, f)) {
                bytes += data.len() as u64;
                records.extend(journal::decode_lenient(&data).0);
            }
        }
        records.retain(|r| r.copy == copy && !matches!(r.kind, Kind::Lacks(_)));
        let folded = journal::fold(&records, journal::Coarsen::default()).remove(&copy).unwrap_or_default();
        JournalView { entries: records.len() as u64, bytes, dirty: folded.work.len() as u64, full: folded.full }
    }

    pub(super) fn status(&self) -> Status {
        let pairs = self.pairs.read().unwrap().values().cloned().collect::<Vec<_>>();
        let mut out = Status {
            daemon_pid: std::process::id(),
            state_dir: self.state_dir.clone(),
            generation: self.shared.generation(),
            pairs: Vec::new(),
        };
        for p in pairs {
            let marks = jobs::full_marks(self, &p);
            let progress = p.progress.lock().unwrap().clone();
            let ps = self.shared.pair(p.index);
            let copies = p
                .cfg
                .copies
                .iter()
                .enumerate()
                .map(|(c, root)| {
                    let s = ps.copy(c);
                    let j = self.journal_view(&p, c);
                    let state = if s.resyncing {
                        "resyncing"
                    } else if s.offline {
                        "offline"
                    } else {
                        "online"
                    };
                    CopyStatus {
                        root: root.root.clone(),
                        role: if c == 0 { "primary" } else { "mirror" }.to_string(),
                        state: state.to_string(),
                        offline_reason: s
                            .offline
                            .then(|| if s.admin { "administrator" } else { "failures" }.to_string()),
                        offline_since: (s.offline_at > 0).then_some(s.offline_at / 1_000_000_000),
                        failures: s.failures,
                        last_error: (s.last_errno != 0).then(|| LastError {
                            errno: s.last_errno as i32,
                            message: errno_text(s.last_errno as i32),
                            at: s.last_error_at,
                        }),
                        journal_entries: j.entries,
                        journal_bytes: j.bytes,
                        dirty_paths: j.dirty,
                        full_resync: j.full || marks.contains(&c),
                        resync: progress.clone().filter(|pr| pr.copy == root.root),
                    }
                })
                .collect();
            out.pairs.push(PairStatus {
                name: p.name().to_string(),
                mode: p.cfg.mode.as_str().to_string(),
                copies,
                conflicts: p.conflicts.lock().unwrap().clone(),
            });
        }
        out
    }
}
