//! Probing a copy that failures took out of service, without writing to it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mfs_core::shared::unix_now;

use super::pairs::PairRt;
use super::{jobs, Daemon, PROBE_EVERY_SECS, PROBE_TIMEOUT};

impl Daemon {
    /// Probes copy `c` of `p` (out of service after failures) without writing to it: its root
    /// answers, its file system is writable and has room. An answer brings it back through a
    /// resync. A probe that hangs (a dead network mount) is given up on.
    pub(super) fn probe(self: &Arc<Self>, p: &Arc<PairRt>, c: usize) {
        let now = unix_now();
        if now.saturating_sub(p.last_probe.load(Ordering::Relaxed)) < PROBE_EVERY_SECS
            || p.probing[c].swap(true, Ordering::AcqRel)
        {
            return;
        }
        p.last_probe.store(now, Ordering::Relaxed);
        let (d, p2) = (Arc::clone(self), Arc::clone(p));
        std::thread::spawn(move || {
            let root = p2.cfg.copies[c].canonical.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(answers(&root));
            });
            let ok = rx.recv_timeout(PROBE_TIMEOUT).unwrap_or(false);
            if ok && p2.job.try_lock().is_ok() {
                d.log(&format!(
                    "pair {}: {} answers again: resynchronising",
                    p2.name(),
                    p2.cfg.copies[c].root.display()
                ));
                let spec = jobs::Spec { targets: vec![c], online: vec![c], full: false };
                d.spawn_job(&p2, spec);
            }
            p2.probing[c].store(false, Ordering::Release);
        });
    }
}

/// True when the directory answers, sits on a writable file system and has room.
fn answers(root: &Path) -> bool {
    let Ok(c) = CString::new(root.as_os_str().as_bytes()) else { return false };
    // SAFETY: statvfs fills the struct for a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    let room = st.f_bavail as u64 * st.f_frsize as u64;
    st.f_flag & libc::ST_RDONLY == 0 && room >= 1 << 20 && std::fs::read_dir(root).is_ok()
}
