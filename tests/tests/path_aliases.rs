//! Writes through other names of a primary reach its mirror: a symlink to the primary
//! outside every pair (the shell's `echo x > /tmp/alias/f`), and a bind mount of the primary
//! elsewhere (needs root; skipped with a notice otherwise). `c-tests/path_aliases.c` covers
//! `/proc/self/fd/N/...`, `/proc/self/cwd/...` and `..` after a symlink call by call.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use mfs_tests::{compare_trees, Mirroring, Scratch};

/// Runs a shell script under the shim with `$1` naming the other spelling of the primary,
/// then checks the mirror is identical.
fn through(s: &Scratch, other: &Path) {
    let script = r#"set -e
        echo x > "$1/f"
        mkdir "$1/d"
        printf 'more\n' >> "$1/f"
        mv "$1/f" "$1/d/g"
        cp /etc/hostname "$1/d/h"
        ln -s g "$1/d/l"
        chmod 600 "$1/d/g"
        touch -d '2001-02-03 04:05:06' "$1/d/h"
        rm "$1/d/l"
        tar -C "$1" -cf "$1/d/all.tar" d/g d/h
    "#;
    let args: Vec<OsString> = vec!["-c".into(), script.into(), "bash".into(), other.into()];
    let o = s.run("bash", &args, &Mirroring::Env).unwrap_or_else(|e| panic!("{e}"));
    if !o.success() {
        s.keep();
        panic!("{}\n{}", o.status_text(), s.report(&o));
    }
    let diffs = compare_trees(&s.primary(), &s.mirror());
    if !diffs.is_empty() {
        s.keep();
        let list: Vec<String> = diffs.iter().map(|d| format!("  {d}")).collect();
        panic!("primary and mirror differ:\n{}\n{}", list.join("\n"), s.report(&o));
    }
    assert!(s.mirror().join("d/all.tar").is_file(), "nothing reached the mirror");
}

#[test]
fn writes_through_a_symlink_to_the_primary_are_mirrored() {
    let s = Scratch::new("alias-symlink").unwrap();
    let alias = s.root().join("alias");
    std::os::unix::fs::symlink(s.primary(), &alias).unwrap();
    through(&s, &alias);
}

/// A bind mount, unmounted when dropped.
struct Bind(std::path::PathBuf);

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn writes_through_a_bind_mount_of_the_primary_are_mirrored() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return eprintln!("bind mount: skipped (mounting needs root)");
    }
    let s = Scratch::new("alias-bind").unwrap();
    let at = s.root().join("bind");
    std::fs::create_dir_all(&at).unwrap();
    let out = Command::new("mount").arg("--bind").arg(s.primary()).arg(&at).output().unwrap();
    if !out.status.success() {
        return eprintln!("bind mount: skipped: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let bind = Bind(at.clone());
    through(&s, &at);
    drop(bind);
}
