//! The copies of each pair as this process uses them now: each copy's root descriptor, whether
//! it is in service, how often it failed; "the other copies" a change goes to; and what a
//! copy's failure does to it.
//!
//! Which copies are in service is the pair's word in the shared state file (see
//! [`mfs_core::shared`]), so every process stops using a copy as soon as any one of them, or
//! the daemon, takes it out of service. This module keeps a process-local word of the same
//! shape for when the shared state file cannot be had.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use std::sync::atomic::AtomicU8;

use mfs_core::config::{Config, OnMirrorError};
use mfs_core::failure::{self, Lack, Op, Verdict};
use mfs_core::shared::SharedState;
use mfs_core::sys::Errno;

/// One copy of a pair at run time.
struct CopyState {
    /// The copy's root, opened O_PATH; every path on this copy is resolved beneath it.
    root_fd: AtomicI32,
    /// Failures counted here (without the shared state).
    failures: AtomicU32,
}

struct PairCopies {
    copies: Vec<CopyState>,
    /// Copies out of service as this process alone knows (without the shared state).
    offline: AtomicU32,
    retries: u32,
    /// `on_mirror_error = "degrade"`: failures take a copy offline instead of failing calls.
    degrade: bool,
    /// The [`Lack`]s already reported for this pair (a bit each).
    lacks_seen: AtomicU8,
}

/// Every pair's copies.
pub struct Copies {
    pairs: Vec<PairCopies>,
}

/// One of the other copies of a pair, as a change may use it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Other {
    pub copy: usize,
    /// In service: the change is applied to it. Otherwise the change is journaled for it.
    pub online: bool,
}

/// What a copy's failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// What the error meant.
    pub verdict: Verdict,
    /// The error the program's call should return (fail mode only).
    pub fail: Option<Errno>,
    /// This failure took the copy offline.
    pub went_offline: bool,
    /// The failures counted against the copy so far.
    pub count: u32,
}

impl Copies {
    /// The copies of `cfg`'s pairs, every one online; `roots[pair][copy]` are their root
    /// descriptors.
    pub fn new(cfg: &Config, roots: Vec<Vec<RawFd>>) -> Copies {
        let pairs = cfg
            .pairs
            .iter()
            .zip(roots)
            .map(|(p, fds)| PairCopies {
                copies: fds
                    .into_iter()
                    .map(|fd| CopyState { root_fd: AtomicI32::new(fd), failures: AtomicU32::new(0) })
                    .collect(),
                offline: AtomicU32::new(0),
                retries: p.retries,
                degrade: p.on_mirror_error == OnMirrorError::Degrade,
                lacks_seen: AtomicU8::new(0),
            })
            .collect();
        Copies { pairs }
    }

    /// The copies of `pair` other than `origin` (the copy the program's call went to), in
    /// order, each with whether it is in service; `offline` is the pair's word of copies
    /// out of service (bit = copy).
    #[inline]
    pub fn others(&self, pair: usize, origin: usize, offline: u32) -> impl Iterator<Item = Other> + '_ {
        (0..self.pairs[pair].copies.len())
            .filter(move |&c| c != origin)
            .map(move |copy| Other { copy, online: offline & (1 << copy) == 0 })
    }

    /// The copies of `pair` out of service as this process alone knows.
    #[inline]
    pub fn local_offline(&self, pair: usize) -> u32 {
        self.pairs[pair].offline.load(Ordering::Relaxed)
    }

    /// True while this process alone knows of no copy out of service.
    #[inline]
    pub fn none_offline_locally(&self) -> bool {
        self.pairs.iter().all(|p| p.offline.load(Ordering::Relaxed) == 0)
    }

    /// Number of copies of `pair`.
    pub fn count(&self, pair: usize) -> usize {
        self.pairs[pair].copies.len()
    }

    #[inline]
    pub fn root_fd(&self, pair: usize, copy: usize) -> RawFd {
        self.pairs[pair].copies[copy].root_fd.load(Ordering::Relaxed)
    }

    /// Moves a root descriptor from `from` to `to`; false when no root is `from`.
    pub fn relocate_root(&self, from: RawFd, to: RawFd) -> bool {
        let mut moved = false;
        for c in self.pairs.iter().flat_map(|p| &p.copies) {
            moved |= c.root_fd.compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed).is_ok();
        }
        moved
    }

    /// Records that operation `op` on `copy` of `pair` failed with `e`, as the errno's
    /// [`Verdict`] says: a copy fault counts toward `retries` and in degrade mode takes the
    /// copy offline when they are used up (fail mode shows the program every error instead,
    /// so a copy is never silently taken out of service there). What the copy's file system
    /// cannot represent fails no call in either mode. With the shared state (`shared`: the
    /// state and the pair's entry in it) failures count across processes, the last error is
    /// kept for `mfsctl status`, and a copy taken offline is offline for every process.
    pub fn failed(&self, pair: usize, copy: usize, op: Op, e: Errno, shared: Option<(&SharedState, usize)>) -> Failed {
        let p = &self.pairs[pair];
        let c = &p.copies[copy];
        let verdict = failure::classify(op, e.0);
        let fail = (!p.degrade && verdict != Verdict::Unsupported).then_some(e);
        let fault = verdict == Verdict::CopyFault;
        let count = match shared {
            Some((s, i)) => s.pair(i).note_failure(copy, e.0, fault, mfs_core::shared::unix_now()),
            None if fault => c.failures.fetch_add(1, Ordering::Relaxed) + 1,
            None => c.failures.load(Ordering::Relaxed),
        };
        let mut f = Failed { verdict, fail, went_offline: false, count };
        if fault && p.degrade && count >= p.retries {
            let bit = 1u32 << copy;
            let locally = p.offline.fetch_or(bit, Ordering::Relaxed) & bit == 0;
            f.went_offline = match shared {
                Some((s, i)) => s.mark_offline(i, copy, false),
                None => locally,
            };
        }
        f
    }

    /// True the first time `lack` is seen for `pair` (what is reported once per pair).
    pub fn first_lack(&self, pair: usize, lack: Lack) -> bool {
        self.pairs[pair].lacks_seen.fetch_or(lack.bit(), Ordering::Relaxed) & lack.bit() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfs_core::config::Env;

    fn config(mode: &str) -> (std::path::PathBuf, Config) {
        let t = std::env::temp_dir().join(format!("mfs-copies-{mode}-{}", std::process::id()));
        for d in ["p", "m1", "m2"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        let text = format!(
            "[[pair]]\nprimary = \"{0}/p\"\nmirror = [\"{0}/m1\", \"{0}/m2\"]\non_mirror_error = \"{mode}\"\nretries = 2\n",
            t.display()
        );
        (t.clone(), Config::from_toml(&text, &Env::default()).unwrap())
    }

    fn view(c: &Copies, origin: usize) -> Vec<(usize, bool)> {
        c.others(0, origin, c.local_offline(0)).map(|o| (o.copy, o.online)).collect()
    }

    #[test]
    fn the_other_copies_follow_failures_in_degrade_mode() {
        let (t, cfg) = config("degrade");
        let c = Copies::new(&cfg, vec![vec![10, 11, 12]]);
        assert_eq!(view(&c, 0), vec![(1, true), (2, true)]);
        assert_eq!(view(&c, 2), vec![(0, true), (1, true)], "a change made through a mirror");
        assert_eq!(c.root_fd(0, 2), 12);
        assert!(c.none_offline_locally());

        let f = c.failed(0, 1, Op::Write, Errno(libc::EIO), None);
        assert_eq!(f, Failed { verdict: Verdict::CopyFault, fail: None, went_offline: false, count: 1 });
        // Out of descriptors: the process's problem, not counted.
        assert_eq!(c.failed(0, 1, Op::Write, Errno(libc::EMFILE), None).count, 1);
        assert_eq!(c.local_offline(0) & 0b10, 0);
        let f = c.failed(0, 1, Op::Write, Errno(libc::ENOSPC), None);
        assert_eq!(f, Failed { verdict: Verdict::CopyFault, fail: None, went_offline: true, count: 2 });
        assert_eq!(view(&c, 0), vec![(1, false), (2, true)]);
        assert!(!c.none_offline_locally());
        assert!(!c.failed(0, 1, Op::Write, Errno(libc::EIO), None).went_offline, "offline once");
        // Neither a divergence nor a capability counts.
        assert_eq!(c.failed(0, 2, Op::Create, Errno(libc::ENOENT), None).verdict, Verdict::Diverged);
        assert_eq!(c.failed(0, 2, Op::Xattr, Errno(libc::EOPNOTSUPP), None).verdict, Verdict::Unsupported);
        assert_eq!(c.failed(0, 2, Op::Write, Errno(libc::EIO), None).count, 1);
        assert_eq!(c.local_offline(0) & 0b100, 0);
        assert!(c.first_lack(0, Lack::Xattr) && !c.first_lack(0, Lack::Xattr) && c.first_lack(0, Lack::Special));

        assert!(c.relocate_root(12, 40));
        assert_eq!(c.root_fd(0, 2), 40);
        assert!(!c.relocate_root(12, 41));
        std::fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn fail_mode_returns_every_error_and_keeps_copies_online() {
        let (t, cfg) = config("fail");
        let c = Copies::new(&cfg, vec![vec![10, 11, 12]]);
        for _ in 0..5 {
            assert_eq!(c.failed(0, 2, Op::Write, Errno(libc::EIO), None).fail, Some(Errno(libc::EIO)));
        }
        assert_eq!(c.failed(0, 2, Op::Write, Errno(libc::EMFILE), None).fail, Some(Errno(libc::EMFILE)));
        assert_eq!(c.failed(0, 2, Op::Special, Errno(libc::EPERM), None).fail, None, "a capability fails no call");
        assert_eq!(view(&c, 0), vec![(1, true), (2, true)]);
        assert!(c.none_offline_locally());
        std::fs::remove_dir_all(t).unwrap();
    }
}
