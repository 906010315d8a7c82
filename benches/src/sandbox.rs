//! The directory tree the workloads run in: a pair (primary and mirror) and a directory outside
//! it, all on one file system. As root the tree is a tmpfs mounted for the run (so the numbers
//! measure CPU cost, not a disk); it is unmounted and removed when the sandbox is dropped, also
//! when a run fails.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The benchmark's scratch tree.
pub struct Sandbox {
    root: PathBuf,
    mounted: bool,
    /// A one-line description of the file system the workloads run on.
    pub fs: String,
}

impl Sandbox {
    /// Creates `base/mfs-bench.PID`, mounting a tmpfs of `tmpfs_bytes` on it when asked and
    /// permitted, and the subdirectories every workload uses.
    pub fn create(base: &Path, tmpfs_bytes: Option<u64>) -> Result<Sandbox> {
        let root = base.join(format!("mfs-bench.{}", std::process::id()));
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let mut sandbox = Sandbox { root, mounted: false, fs: String::new() };
        let mut note = "";
        if let Some(bytes) = tmpfs_bytes {
            match mount_tmpfs(&sandbox.root, bytes) {
                Ok(()) => sandbox.mounted = true,
                Err(e) => {
                    eprintln!("mfs-bench: cannot mount a tmpfs ({e}); using a plain directory");
                    note = " (tmpfs mount refused)";
                }
            }
        }
        sandbox.fs = if sandbox.mounted {
            format!("tmpfs of {} MiB mounted at {}", bytes_mib(tmpfs_bytes.unwrap_or(0)), sandbox.root.display())
        } else {
            format!("{} at {}{note}", fs_type(&sandbox.root), sandbox.root.display())
        };
        for dir in [sandbox.primary(), sandbox.mirror(), sandbox.outside(), sandbox.runtime()] {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(sandbox)
    }

    /// The pair's primary root.
    pub fn primary(&self) -> PathBuf {
        self.root.join("pair/primary")
    }

    /// The pair's mirror root.
    pub fn mirror(&self) -> PathBuf {
        self.root.join("pair/mirror")
    }

    /// A directory outside every pair (beside it, on the same file system).
    pub fn outside(&self) -> PathBuf {
        self.root.join("outside")
    }

    /// `XDG_RUNTIME_DIR` of the workloads: the shim keeps its lock table and journals here.
    pub fn runtime(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The `MFS_MIRROR` value naming the pair.
    pub fn mirror_spec(&self) -> String {
        format!("{}:{}", self.primary().display(), self.mirror().display())
    }

    /// Empties the primary, the mirror and the outside directory.
    pub fn clean(&self) -> Result<()> {
        for dir in [self.primary(), self.mirror(), self.outside()] {
            empty_dir(&dir).with_context(|| format!("cleaning {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.mounted {
            let Ok(c) = CString::new(self.root.as_os_str().as_bytes()) else {
                return;
            };
            // SAFETY: `c` is a valid NUL-terminated path; umount2 has no memory side effects.
            let r = unsafe { libc::umount2(c.as_ptr(), 0) };
            if r != 0 {
                // Busy (a workload still running after an interrupt): detach it lazily.
                // SAFETY: as above.
                if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                    eprintln!("mfs-bench: cannot unmount {}: {}", self.root.display(), io::Error::last_os_error());
                    return;
                }
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("mfs-bench: cannot remove {}: {e}", self.root.display());
        }
    }
}

fn mount_tmpfs(at: &Path, bytes: u64) -> io::Result<()> {
    let target = CString::new(at.as_os_str().as_bytes())?;
    let opts = CString::new(format!("size={bytes},mode=0755"))?;
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let r = unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, opts.as_ptr().cast()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Removes every entry of `dir`, keeping `dir` itself.
pub fn empty_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The name of the file system type holding `path`, from statfs.
fn fs_type(path: &Path) -> String {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return "unknown fs".into();
    };
    // SAFETY: statfs is plain old data; zeroed is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid path and `st` a valid out-pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "unknown fs".into();
    }
    let name = match st.f_type as u64 {
        0xEF53 => "ext2/3/4",
        0x0102_1994 => "tmpfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x794C_7630 => "overlayfs",
        0x6969 => "nfs",
        other => return format!("fs type {other:#x}"),
    };
    name.to_string()
}

/// Bytes in MiB, rounded down.
pub fn bytes_mib(b: u64) -> u64 {
    b >> 20
}
