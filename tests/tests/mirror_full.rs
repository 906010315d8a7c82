//! A mirror that runs out of space during sequential writes (a 64 KiB tmpfs, mounted for the
//! test): in degrade mode the program's writes all succeed and the file is journaled; in fail
//! mode the write that meets the full mirror fails with ENOSPC. Needs root (to mount); skipped
//! with a notice where mounting is not allowed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use mfs_tests::{c_program, Mirroring, Scratch};

/// A tmpfs mounted for the life of the value.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` on `at`; `None` when this machine does not allow it (no
    /// root, or a container without the capability).
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "mirror_full: skipped: cannot mount a tmpfs on {}: {}",
                at.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Mount(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(mode: &str, mirroring: Mirroring) {
    if !is_root() {
        eprintln!("mirror_full: skipped (mounting a tmpfs needs root)");
        return;
    }
    let prog = c_program("fault_enospc").unwrap_or_else(|e| panic!("{e}"));
    let s = Scratch::new(&format!("mirror-full-{mode}")).unwrap();
    let Some(mount) = Mount::tmpfs(&s.mirror(), "64k") else { return };
    let args: Vec<OsString> = vec![s.primary().into(), s.mirror().into(), s.state().into(), mode.into()];
    let o = s.run(&prog, &args, &mirroring).unwrap_or_else(|e| panic!("{e}"));
    drop(mount);
    if !o.success() {
        s.keep();
        panic!("{}", s.report(&o));
    }
}

#[test]
fn sequential_writes_to_a_full_mirror_degrade() {
    run("degrade", Mirroring::Env);
}

#[test]
fn sequential_writes_to_a_full_mirror_fail() {
    run("fail", Mirroring::Config(vec!["on_mirror_error = \"fail\"".into()]));
}
