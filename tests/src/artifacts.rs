//! What the tests run: `libmfs.so` and `mfsctl`, built with cargo when missing or older than
//! their sources, and the C programs of `c-tests/`, compiled with the system C compiler into
//! `target/c-tests/` and rebuilt only when a source or header is newer than the binary.
//!
//! Each product is built at most once per test process (`OnceLock`), and under an exclusive
//! `flock` on a file in the target directory, so test binaries and concurrent `cargo test`
//! runs never build the same thing at the same time.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use crate::{c_tests_dir, target_dir, workspace_root, Directives};

/// The flags every C test program is compiled with; `// mfs-cflags:` lines add to them.
pub const BASE_CFLAGS: &[&str] = &["-O1", "-Wall", "-Werror", "-pthread"];

/// Environment variables that must not leak from the test runner into the tools it starts.
pub(crate) const SCRUBBED_ENV: &[&str] =
    &["LD_PRELOAD", "MFS_MIRROR", "MFS_CONFIG", "MFS_SOCKET", "MFS_LOG", "MFS_LOG_FILE"];

/// An exclusive `flock` held until dropped.
struct FileLock(#[allow(dead_code)] File);

impl FileLock {
    fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is passed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock(file));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of the given files and of every file below the given
/// directories.
fn newest(paths: &[PathBuf]) -> Option<SystemTime> {
    let mut best = None;
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::metadata(&p) else { continue };
        if meta.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                stack.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        } else if let Ok(t) = meta.modified() {
            best = best.max(Some(t));
        }
    }
    best
}

/// The release products the tests load.
struct Products {
    shim: PathBuf,
    mfsctl: PathBuf,
}

fn products() -> &'static Result<Products, String> {
    static PRODUCTS: OnceLock<Result<Products, String>> = OnceLock::new();
    PRODUCTS.get_or_init(build_products)
}

/// Path of `libmfs.so`, built first if needed. Panics with cargo's output when the build fails.
pub fn shim() -> &'static Path {
    match products() {
        Ok(p) => &p.shim,
        Err(e) => panic!("{e}"),
    }
}

/// Path of `mfsctl`, built first if needed. Panics with cargo's output when the build fails.
pub fn mfsctl() -> &'static Path {
    match products() {
        Ok(p) => &p.mfsctl,
        Err(e) => panic!("{e}"),
    }
}

fn build_products() -> Result<Products, String> {
    let root = workspace_root();
    let target = target_dir();
    let release = target.join("release");
    let products = Products { shim: release.join("libmfs.so"), mfsctl: release.join("mfsctl") };
    fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let _lock = FileLock::acquire(&target.join(".mfs-tests-build.lock"))
        .map_err(|e| format!("cannot lock {}: {e}", target.display()))?;

    let sources: Vec<PathBuf> = [
        "Cargo.toml",
        "Cargo.lock",
        "core/Cargo.toml",
        "core/src",
        "shim/Cargo.toml",
        "shim/build.rs",
        "shim/src",
        "mfsctl/Cargo.toml",
        "mfsctl/src",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    let built = mtime(&products.shim).min(mtime(&products.mfsctl));
    let fresh = match (built, newest(&sources)) {
        (Some(b), Some(s)) => b >= s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if fresh {
        return Ok(products);
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "-p", "mfs-shim", "-p", "mfsctl"]).current_dir(root);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build --release -p mfs-shim -p mfsctl` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for p in [&products.shim, &products.mfsctl] {
        if !p.exists() {
            return Err(format!("cargo build succeeded but {} is missing", p.display()));
        }
    }
    Ok(products)
}

/// The names (file stems) of every `c-tests/*.c`, sorted.
pub fn c_program_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(c_tests_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_suffix(".c").map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The compiled binary of `c-tests/<name>.c`, compiling it first when it is missing or older
/// than its source or any header in `c-tests/`.
pub fn c_program(name: &str) -> Result<PathBuf, String> {
    type Cell = Arc<OnceLock<Result<PathBuf, String>>>;
    static CACHE: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();
    let cell = {
        let mut map = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned()).or_default().clone()
    };
    cell.get_or_init(|| compile(name)).clone()
}

fn compile(name: &str) -> Result<PathBuf, String> {
    let dir = c_tests_dir();
    let source = dir.join(format!("{name}.c"));
    if !source.is_file() {
        return Err(format!("{}: no such C test program", source.display()));
    }
    let out_dir = target_dir().join("c-tests");
    fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let binary = out_dir.join(name);
    let _lock = FileLock::acquire(&out_dir.join(format!(".{name}.lock")))
        .map_err(|e| format!("cannot lock {}: {e}", out_dir.display()))?;

    let headers: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "h")).collect()
        })
        .unwrap_or_default();
    let mut inputs = headers;
    inputs.push(source.clone());
    if let (Some(b), Some(s)) = (mtime(&binary), newest(&inputs)) {
        if b > s {
            return Ok(binary);
        }
    }

    let directives = Directives::from_file(&source)?;
    let tmp = out_dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = Command::new(&cc)
        .args(BASE_CFLAGS)
        .arg("-I")
        .arg(&dir)
        .arg("-o")
        .arg(&tmp)
        .arg(&source)
        .args(&directives.cflags)
        .env_remove("LD_PRELOAD")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cc.to_string_lossy()))?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "{name}: compiling {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::rename(&tmp, &binary).map_err(|e| format!("cannot move {} into place: {e}", binary.display()))?;
    Ok(binary)
}
