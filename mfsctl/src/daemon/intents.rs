//! Intents left by processes that died in the middle of a change: journaled for the copies
//! that may have missed it (see `shim/src/intents.rs` for the claiming side).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use mfs_core::journal::Kind;

use super::pairs::PairRt;
use super::{alive, Daemon};

impl Daemon {
    /// Journals the paths of intents whose process died, for the copies that may have
    /// missed the change. A file renamed since (its path names another file now, or none) is
    /// looked for by its identity on the copy it was written through, and journaled where it
    /// is now.
    pub fn reap_intents(&self) {
        let intents = self.shared.intents();
        if intents.is_empty() {
            return;
        }
        let pairs = self.pairs.read().unwrap();
        // Per pair and origin copy: keys to look for, and the paths found for them.
        let mut lost: BTreeMap<(usize, usize), BTreeSet<u64>> = BTreeMap::new();
        let mut reaped = Vec::new();
        for i in intents.into_iter().filter(|i| !alive(i.pid)) {
            let (index, origin) = (i.pair & 0xffff, i.pair >> 16);
            let Some(p) = pairs.values().find(|p| p.index == index && origin < p.cfg.copies.len()) else {
                // Not a pair this daemon knows: leave it for one that does.
                continue;
            };
            self.journal_dirty(p, origin, &i.path);
            let here = p.cfg.copies[origin].canonical.join(std::ffi::OsStr::from_bytes(&i.path));
            let moved = i.key != 0 && std::fs::symlink_metadata(here).map_or(true, |m| key_of(&m) != i.key);
            if moved {
                lost.entry((p.index, origin)).or_default().insert(i.key);
            }
            if self.shared.clear_intent(&i) {
                reaped.push((Arc::clone(p), i));
            }
        }
        for ((index, origin), keys) in lost {
            let Some(p) = pairs.values().find(|p| p.index == index) else { continue };
            let root = &p.cfg.copies[origin].canonical;
            for path in find_keys(root, &keys) {
                self.journal_dirty(p, origin, &path);
            }
        }
        for (p, i) in reaped {
            self.log(&format!(
                "pair {}: process {} died while changing {}: journaled for resync",
                p.name(),
                i.pid,
                String::from_utf8_lossy(&i.path)
            ));
        }
    }

    fn journal_dirty(&self, p: &PairRt, origin: usize, path: &[u8]) {
        let ps = self.shared.pair(p.index);
        for c in (0..p.cfg.copies.len()).filter(|&c| c != origin) {
            p.journal.record(Kind::Dirty, c, std::process::id(), None, path, Some(ps));
        }
    }
}

/// The coherency key of a file (as `mfs_core::locks::key_of`).
fn key_of(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let k = m.dev().rotate_left(32) ^ m.ino();
    if k == 0 {
        1
    } else {
        k
    }
}

/// The paths (relative to `root`) of the regular files under it whose key is in `keys`.
fn find_keys(root: &Path, keys: &BTreeSet<u64>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && keys.contains(&key_of(&m)) {
                if let Ok(rel) = e.path().strip_prefix(root) {
                    out.push(rel.as_os_str().as_bytes().to_vec());
                }
            }
        }
    }
    out
}
