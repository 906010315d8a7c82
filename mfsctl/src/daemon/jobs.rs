//! Resynchronisation jobs: replaying the journals of a pair's copies that are behind, a full
//! resync when a journal asks for one (or the administrator does), and bringing copies back
//! into service.
//!
//! A round takes each target copy's journal: renames `NAME.COPY.journal` to `NAME.COPY.replay`
//! and bumps the journal epoch in the shared state, so writers append to a new journal from
//! then on, and waits for appends in flight. It folds the records, repairs each path on the
//! copy under the path's coherency lock, and removes the replay file. Rounds repeat until one finds nothing to do. A copy coming back into service
//! is put in service once a round is short, so writers reach it directly and later rounds only
//! see the stragglers. A job interrupted (cancelled, or the daemon killed) leaves the replay
//! file, and the next job starts with it: repairing is idempotent, and data is compared before
//! it is written, so nothing is copied twice.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mfs_core::config::Mode;
use mfs_core::journal::{self, Coarsen, Kind, Record, Work};
use mfs_core::sys;

use super::pairs::{File, PairRt};
use super::repair::{Repair, Stopped};
use super::Daemon;
use crate::proto::Progress;

/// Rounds of one job at most (a writer that keeps a copy behind forever is not waited for).
const MAX_ROUNDS: usize = 200;
/// A round with at most this many paths to repair is short: copies coming back go in service.
const SHORT_ROUND: usize = 2000;

/// What a job is asked to do.
pub struct Spec {
    /// Copies to bring level.
    pub targets: Vec<usize>,
    /// Of those, copies to put back in service once level.
    pub online: Vec<usize>,
    /// Compare whole trees.
    pub full: bool,
}

/// What a job did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub paths: u64,
    pub bytes: u64,
    pub rounds: usize,
    /// Copies put back in service.
    pub onlined: Vec<usize>,
    /// Copies that failed on the way, with the error: still out of service.
    pub failed: Vec<(usize, sys::Errno)>,
    pub cancelled: bool,
    pub conflicts: usize,
}

fn open_root(path: &Path) -> Result<RawFd, sys::Errno> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| sys::Errno(libc::EINVAL))?;
    sys::openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

/// Takes copy `copy`'s journal for replay (or finds the one a previous job left) and reads
/// it.
fn take(d: &Daemon, p: &PairRt, copy: usize) -> std::io::Result<Vec<Record>> {
    let journal = p.file(&d.state_dir, File::Journal(copy));
    let replay = p.file(&d.state_dir, File::Replay(copy));
    if !replay.exists() && std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0) {
        std::fs::rename(&journal, &replay)?;
        if !d.shared.pair(p.index).take_journal(copy, Duration::from_secs(2)) {
            d.log(&format!("pair {}: a journal append did not finish (a writer killed mid-append)", p.name()));
        }
    }
    let data = match std::fs::read(&replay) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let (records, bad) = journal::decode_lenient(&data);
    if bad > 0 {
        d.log(&format!("pair {}: {bad} unreadable journal lines skipped", p.name()));
    }
    Ok(records)
}

/// Ends the replay of copy `copy`'s journal: what the copy cannot represent goes to
/// `NAME.lacks` (for `mfsctl verify`), and the replay file goes.
fn finish(d: &Daemon, p: &PairRt, copy: usize, records: &[Record]) -> std::io::Result<()> {
    let lacks: Vec<u8> = records.iter().filter(|r| matches!(r.kind, Kind::Lacks(_))).flat_map(Record::encode).collect();
    if !lacks.is_empty() {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p.file(&d.state_dir, File::Lacks))?
            .write_all(&lacks)?;
    }
    remove_if_present(&p.file(&d.state_dir, File::Replay(copy)))
}

/// Removes a file; one that is not there is fine.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Copies that need a full resync, as recorded in `NAME.full`.
pub fn full_marks(d: &Daemon, p: &PairRt) -> BTreeSet<usize> {
    std::fs::read_to_string(p.file(&d.state_dir, File::Full))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn set_full_marks(d: &Daemon, p: &PairRt, marks: &BTreeSet<usize>) -> std::io::Result<()> {
    let path = p.file(&d.state_dir, File::Full);
    if marks.is_empty() {
        return remove_if_present(&path);
    }
    let text: String = marks.iter().map(|c| format!("{c}\n")).collect();
    let tmp = path.with_extension("full.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// The copy a target is brought level from: the primary, or for the primary the first mirror
/// in service.
fn source_for(d: &Daemon, p: &PairRt, target: usize) -> Option<usize> {
    if target != 0 {
        return Some(0);
    }
    let mask = d.shared.pair(p.index).offline_mask();
    (1..p.cfg.copies.len()).find(|&c| mask & (1 << c) == 0)
}

/// Runs a job on pair `p`. `report` is called with the progress every few hundred
/// milliseconds (and may set `cancel`). One job per pair at a time: a second waits.
pub fn run(
    d: &Daemon,
    p: &PairRt,
    spec: &Spec,
    cancel: &AtomicBool,
    report: &(dyn Fn(&Progress) + Sync),
) -> std::io::Result<Outcome> {
    let _one = p.job.lock().unwrap_or_else(|e| e.into_inner());
    let shared = &d.shared;
    for &c in &spec.targets {
        shared.set_resyncing(p.index, c, true);
    }
    let r = rounds(d, p, spec, cancel, report);
    for &c in &spec.targets {
        shared.set_resyncing(p.index, c, false);
    }
    *p.progress.lock().unwrap() = None;
    r
}

fn rounds(
    d: &Daemon,
    p: &PairRt,
    spec: &Spec,
    cancel: &AtomicBool,
    report: &(dyn Fn(&Progress) + Sync),
) -> std::io::Result<Outcome> {
    let shared = &d.shared;
    let mut out = Outcome::default();
    let mut active: Vec<usize> = spec.targets.clone();
    let mut pending_online: Vec<usize> = spec.online.clone();
    let mut marks = full_marks(d, p);
    if spec.full {
        marks.extend(active.iter().copied());
        set_full_marks(d, p, &marks)?;
    }
    let started = Instant::now();
    for round in 0..MAX_ROUNDS {
        out.rounds = round + 1;
        let mut work = 0usize;
        for c in active.clone() {
            let records = take(d, p, c)?;
            let mine: Vec<Record> =
                records.iter().filter(|r| r.copy == c && !matches!(r.kind, Kind::Lacks(_))).cloned().collect();
            let folded = journal::fold(&mine, Coarsen::default()).remove(&c).unwrap_or_default();
            if folded.full && marks.insert(c) {
                set_full_marks(d, p, &marks)?;
                d.log(&format!("pair {}: {} needs a full resync (journal overflow)", p.name(), root(p, c)));
            }
            let full = marks.contains(&c);
            if full || !folded.work.is_empty() {
                work += if full { 1 } else { folded.work.len() };
                match repair_copy(d, p, c, full, &folded.work, cancel, report, started, &mut out) {
                    Ok(()) if full => {
                        marks.remove(&c);
                        set_full_marks(d, p, &marks)?;
                    }
                    Ok(()) => {}
                    // The replay file stays: the next job starts with it.
                    Err(Stopped::Cancelled) => {
                        out.cancelled = true;
                        break;
                    }
                    Err(Stopped::Fault(e)) => {
                        shared.pair(p.index).note_failure(c, e.0, true, mfs_core::shared::unix_now());
                        if shared.mark_offline(p.index, c, false) {
                            d.log(&format!(
                                "pair {}: {} offline: resync failed with {}",
                                p.name(),
                                root(p, c),
                                super::errno_text(e.0)
                            ));
                        }
                        out.failed.push((c, e));
                        active.retain(|&a| a != c);
                        pending_online.retain(|&a| a != c);
                        continue;
                    }
                }
            }
            finish(d, p, c, &records)?;
        }
        if out.cancelled {
            break;
        }
        if !pending_online.is_empty() && work <= SHORT_ROUND {
            for c in pending_online.drain(..) {
                if shared.mark_online(p.index, c) {
                    d.log(&format!("pair {}: {} back in service", p.name(), root(p, c)));
                }
                out.onlined.push(c);
            }
            continue;
        }
        if work == 0 && pending_online.is_empty() {
            break;
        }
    }
    out.conflicts = p.conflicts.lock().unwrap().len();
    Ok(out)
}

fn root(p: &PairRt, c: usize) -> String {
    p.cfg.copies[c].root.display().to_string()
}

/// Repairs one copy: the whole tree, or the journal's paths.
#[allow(clippy::too_many_arguments)]
fn repair_copy(
    d: &Daemon,
    p: &PairRt,
    target: usize,
    full: bool,
    paths: &BTreeMap<Vec<u8>, Work>,
    cancel: &AtomicBool,
    report: &(dyn Fn(&Progress) + Sync),
    started: Instant,
    out: &mut Outcome,
) -> Result<(), Stopped> {
    let Some(source) = source_for(d, p, target) else { return Err(Stopped::Fault(sys::Errno(libc::ENODEV))) };
    let src = open_root(&p.cfg.copies[source].canonical).map_err(Stopped::Fault)?;
    let dst = match open_root(&p.cfg.copies[target].canonical) {
        Ok(fd) => fd,
        Err(e) => {
            sys::close(src);
            return Err(Stopped::Fault(e));
        }
    };
    let mut repair = Repair::new(&d.shared, src, dst, cancel);
    repair.quick = full;
    let state = d.shared.pair(p.index).copy(target);
    if p.cfg.mode == Mode::TwoWay && state.offline_at > 0 {
        // Taken down by failures, processes may still have been finishing a change on it
        // for a moment; an administrator's offline waited for them.
        let margin = if state.admin { 0 } else { 2_000_000_000 };
        repair.conflicts_since = Some(state.offline_at + margin);
    }
    repair.total.store(if full { 1 } else { paths.len() as u64 }, Ordering::Relaxed);
    let kind = if full { "full" } else { "journal" };
    let (finished, finishing) = std::sync::mpsc::channel::<()>();
    let snapshot = |r: &Repair| {
        let done = r.done.load(Ordering::Relaxed);
        let total = r.total.load(Ordering::Relaxed).max(done);
        let elapsed = started.elapsed().as_secs_f64();
        let eta = (done > 0 && total > done).then(|| elapsed * (total - done) as f64 / done as f64);
        Progress {
            pair: p.name().to_string(),
            copy: p.cfg.copies[target].root.clone(),
            kind: kind.to_string(),
            done,
            total,
            bytes: r.bytes.load(Ordering::Relaxed),
            elapsed_secs: elapsed,
            eta_secs: eta,
        }
    };
    let (repair_ref, snapshot_ref) = (&repair, &snapshot);
    let result = std::thread::scope(|s| {
        s.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finishing.recv_timeout(Duration::from_millis(250))
            {
                let prog = snapshot_ref(repair_ref);
                *p.progress.lock().unwrap() = Some(prog.clone());
                report(&prog);
            }
        });
        let r = if full {
            repair.path(b"", &Work::Whole)
        } else {
            paths.iter().try_for_each(|(path, w)| repair.path(path, w))
        };
        drop(finished);
        r
    });
    let last = snapshot(&repair);
    report(&last);
    out.paths += last.done;
    out.bytes += last.bytes;
    let conflicts = std::mem::take(&mut *repair.conflicts.lock().unwrap());
    for c in &conflicts {
        d.log(&format!("pair {}: conflict at {}: the older version is kept as {}", p.name(), c.path, c.kept_as));
    }
    p.conflicts.lock().unwrap().extend(conflicts);
    sys::close(src);
    sys::close(dst);
    result
}
