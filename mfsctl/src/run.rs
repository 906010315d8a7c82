//! `mfsctl run`: runs a command under the shim.
//!
//! The configuration the child will see is built and validated here first (the same
//! [`Config::load`] the shim runs at start-up), so a typo fails with a one-line reason instead
//! of a program that silently mirrors nothing. Then `libmfs.so` is appended to `LD_PRELOAD`
//! and this process is replaced by the command, so its exit status and signals reach the
//! caller unchanged.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use mfs_core::config::{self, Config, Env};

use crate::elf;

/// Environment variable naming the shim library, overriding the one beside `mfsctl`.
pub const ENV_SHIM: &str = "MFS_SHIM";
/// File name of the shim library.
pub const SHIM_NAME: &str = "libmfs.so";

/// Exit status when the command cannot be started (as a shell reports a missing command).
pub const EXIT_CANNOT_RUN: i32 = 127;

/// Runs `command` under the shim. Returns only when it could not be started (with the exit
/// status to use); errors are bad input.
pub fn run(config_file: Option<&Path>, mirrors: &[OsString], command: &[OsString]) -> Result<i32> {
    let (program, args) =
        command.split_first().ok_or_else(|| anyhow!("no command given: mfsctl run [--mirror P:M] -- CMD [ARGS...]"))?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;

    // SAFETY: getuid has no preconditions and cannot fail.
    let mut env = Env::from_process(unsafe { libc::getuid() });
    if !mirrors.is_empty() {
        env.mirror = Some(mirror_spec(mirrors, &cwd)?);
    }
    if let Some(file) = config_file {
        env.config = Some(file.as_os_str().to_owned());
    }
    // The child may change directory before a grandchild reads MFS_CONFIG again.
    if let Some(file) = env.config.as_mut().filter(|f| !f.is_empty()) {
        *file = cwd.join(&*file).into_os_string();
    }
    match Config::load(&env) {
        Ok(Some(_)) => {}
        Ok(None) => {
            bail!("nothing to mirror: give --mirror PRIMARY:MIRROR or --config FILE (or set MFS_MIRROR or MFS_CONFIG)")
        }
        Err(e) => return Err(e.into()),
    }

    let shim = find_shim(std::env::var_os(ENV_SHIM), std::env::current_exe().ok())?;
    let preload = preload_with(std::env::var_os("LD_PRELOAD").as_deref(), &shim)?;

    if let Some(path) = elf::resolve_command(program, std::env::var_os("PATH").as_deref()) {
        for problem in elf::inspect(&path) {
            eprintln!("mfsctl: warning: {problem}");
        }
    }

    let mut cmd = Command::new(program);
    cmd.args(args).env("LD_PRELOAD", preload);
    if let Some(spec) = env.mirror.as_ref().filter(|m| !m.is_empty()) {
        cmd.env(config::ENV_MIRROR, spec);
    }
    if let Some(file) = env.config.as_ref().filter(|f| !f.is_empty()) {
        cmd.env(config::ENV_CONFIG, file);
    }
    // Journals are replayed and offline copies brought back by the session's daemon; this
    // process (the command, once exec'd) keeps it running.
    crate::client::ensure_daemon(
        env.mirror.as_deref().filter(|m| !m.is_empty()),
        env.config.as_deref().filter(|c| !c.is_empty()),
    );
    let error = cmd.exec();
    eprintln!("mfsctl: cannot run {}: {error}", Path::new(program).display());
    Ok(EXIT_CANNOT_RUN)
}

/// Joins `--mirror` values into one `MFS_MIRROR` value. Each value uses the `MFS_MIRROR`
/// syntax itself (`PRIMARY:MIRROR`, a backslash escaping `:`, `,` and `\`); relative paths are
/// made absolute against `cwd`, and the result is escaped again for the child.
pub fn mirror_spec(values: &[OsString], cwd: &Path) -> Result<OsString> {
    let mut out = Vec::new();
    for value in values {
        let pairs = config::parse_mirror_spec(value.as_bytes())
            .map_err(|msg| anyhow!("--mirror {:?}: {msg}", value.to_string_lossy()))?;
        for (primary, mirror) in pairs {
            if !out.is_empty() {
                out.push(b',');
            }
            escape_into(cwd.join(primary).as_os_str().as_bytes(), &mut out);
            out.push(b':');
            escape_into(cwd.join(mirror).as_os_str().as_bytes(), &mut out);
        }
    }
    Ok(OsString::from_vec(out))
}

/// Appends `path` to `out` with `:`, `,` and `\` escaped by a backslash.
pub fn escape_into(path: &[u8], out: &mut Vec<u8>) {
    for &b in path {
        if matches!(b, b':' | b',' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Locates `libmfs.so`: `$MFS_SHIM` when set, else beside the `mfsctl` executable.
pub fn find_shim(env_shim: Option<OsString>, exe: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = env_shim.filter(|p| !p.is_empty()) {
        let path = std::path::absolute(PathBuf::from(path)).context("cannot read the current directory")?;
        if !path.is_file() {
            bail!("{ENV_SHIM}={} is not a file: point it at libmfs.so", path.display());
        }
        return Ok(path);
    }
    if let Some(dir) = exe.as_deref().and_then(Path::parent) {
        let beside = dir.join(SHIM_NAME);
        if beside.is_file() {
            return Ok(beside);
        }
    }
    let place = exe
        .as_deref()
        .and_then(Path::parent)
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "mfsctl's directory".into());
    bail!("cannot find {SHIM_NAME} in {place}: build it with `cargo build --release` (it lands beside mfsctl in target/release/) or set {ENV_SHIM} to its path")
}

/// `LD_PRELOAD` with the shim appended to what is already preloaded (unless it is there).
pub fn preload_with(existing: Option<&OsStr>, shim: &Path) -> Result<OsString> {
    let shim_bytes = shim.as_os_str().as_bytes();
    if shim_bytes.iter().any(|b| matches!(b, b' ' | b':' | b'\t' | b'\n')) {
        bail!(
            "{} contains a space or ':', which LD_PRELOAD cannot carry: install libmfs.so elsewhere and set {ENV_SHIM}",
            shim.display()
        );
    }
    let existing = existing.map(OsStr::as_bytes).unwrap_or_default();
    let already = existing.split(|b| matches!(b, b' ' | b':')).any(|entry| entry == shim_bytes);
    if already {
        return Ok(OsStr::from_bytes(existing).to_owned());
    }
    let mut out = existing.to_vec();
    if !out.is_empty() {
        out.push(b':');
    }
    out.extend_from_slice(shim_bytes);
    Ok(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(values: &[&[u8]], cwd: &str) -> Result<Vec<u8>> {
        let values: Vec<OsString> = values.iter().map(|v| OsString::from_vec(v.to_vec())).collect();
        mirror_spec(&values, Path::new(cwd)).map(OsString::into_vec)
    }

    #[test]
    fn mirror_values_are_joined_and_escaped() {
        assert_eq!(spec(&[b"/a:/b", b"/c:/d"], "/").unwrap(), b"/a:/b,/c:/d");
        assert_eq!(spec(&[b"rel:sub/m"], "/home/u").unwrap(), b"/home/u/rel:/home/u/sub/m");
        // Escaped characters survive the round trip through the child's parser.
        let joined = spec(&[br"/x\:y:/m\,n", br"/back\\slash:/z"], "/").unwrap();
        assert_eq!(joined, br"/x\:y:/m\,n,/back\\slash:/z");
        let pairs = config::parse_mirror_spec(&joined).unwrap();
        assert_eq!(pairs[0], (PathBuf::from("/x:y"), PathBuf::from("/m,n")));
        assert_eq!(pairs[1], (PathBuf::from("/back\\slash"), PathBuf::from("/z")));
        // A relative path gets the current directory, escaped too.
        let joined = spec(&[b"p:m"], "/odd:dir").unwrap();
        assert_eq!(joined, br"/odd\:dir/p:/odd\:dir/m");
        // Non-UTF-8 bytes pass through untouched.
        assert_eq!(spec(&[b"/\xff:/\xfe"], "/").unwrap(), b"/\xff:/\xfe");
    }

    #[test]
    fn bad_mirror_values_are_refused() {
        for (value, want) in [
            (&b"/only-one"[..], "PRIMARY:MIRROR"),
            (b"/a:", "empty path"),
            (b"/a:/b:/c", "PRIMARY:MIRROR"),
            (br"/a\q:/b", "escape"),
        ] {
            let e = spec(&[value], "/").unwrap_err().to_string();
            assert!(e.starts_with("--mirror ") && e.contains(want), "{e}");
        }
    }

    #[test]
    fn preload_is_appended_once() {
        let shim = Path::new("/opt/mfs/libmfs.so");
        assert_eq!(preload_with(None, shim).unwrap(), "/opt/mfs/libmfs.so");
        assert_eq!(preload_with(Some(OsStr::new("")), shim).unwrap(), "/opt/mfs/libmfs.so");
        assert_eq!(preload_with(Some(OsStr::new("/x/a.so")), shim).unwrap(), "/x/a.so:/opt/mfs/libmfs.so");
        let twice = OsStr::new("/x/a.so /opt/mfs/libmfs.so");
        assert_eq!(preload_with(Some(twice), shim).unwrap(), twice);
        assert!(preload_with(None, Path::new("/with space/libmfs.so")).is_err());
    }

    #[test]
    fn shim_is_found_beside_the_executable_or_through_the_variable() {
        let dir = std::env::temp_dir().join(format!("mfsctl-shim-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let exe = dir.join("bin/mfsctl");
        let e = find_shim(None, Some(exe.clone())).unwrap_err().to_string();
        assert!(e.contains("cannot find libmfs.so") && e.contains(ENV_SHIM), "{e}");
        std::fs::write(dir.join("bin/libmfs.so"), b"").unwrap();
        assert_eq!(find_shim(None, Some(exe.clone())).unwrap(), dir.join("bin/libmfs.so"));
        std::fs::write(dir.join("other.so"), b"").unwrap();
        let chosen = find_shim(Some(dir.join("other.so").into()), Some(exe.clone())).unwrap();
        assert_eq!(chosen, dir.join("other.so"));
        let e = find_shim(Some(dir.join("absent.so").into()), Some(exe)).unwrap_err().to_string();
        assert!(e.contains("is not a file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
