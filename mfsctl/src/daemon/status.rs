//! `mfsctl status`: what the shared state, the journals and the running jobs say about every
//! pair and copy.

use std::collections::BTreeMap;

use mfs_core::journal::{self, Kind};

use super::pairs::{File, PairRt};
use super::{errno_text, jobs, Daemon};
use crate::proto::{CopyStatus, LastError, PairStatus, Status};

impl Daemon {
    /// Journal records per copy, the journal files' size, and the work they fold into.
    pub(super) fn journal_view(&self, p: &PairRt) -> (BTreeMap<usize, (u64, u64, bool)>, u64) {
        let mut records = Vec::new();
        let mut bytes = 0;
        for f in [File::Replay, File::Journal] {
            if let Ok(data) = std::fs::read(p.file(&self.state_dir, f)) {
                bytes += data.len() as u64;
                records.extend(journal::decode_lenient(&data).0);
            }
        }
        let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
        for r in records.iter().filter(|r| !matches!(r.kind, Kind::Lacks(_))) {
            *counts.entry(r.copy).or_default() += 1;
        }
        let folded = journal::fold(&records, journal::Coarsen::default());
        let mut out = BTreeMap::new();
        for (c, n) in counts {
            let (paths, full) = folded.get(&c).map_or((0, false), |f| (f.work.len() as u64, f.full));
            out.insert(c, (n, paths, full));
        }
        (out, bytes)
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
            let (journal, bytes) = self.journal_view(&p);
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
                    let (entries, dirty, full) = journal.get(&c).copied().unwrap_or_default();
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
                        journal_entries: entries,
                        journal_bytes: if entries > 0 { bytes } else { 0 },
                        dirty_paths: dirty,
                        full_resync: full || marks.contains(&c),
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
