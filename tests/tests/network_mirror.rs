//! Mirrors on file systems that cannot hold everything a local one can: an sshfs mount of a
//! real sshd on a loopback port, and a bindfs mount without extended attributes. Real
//! programs (cp -a, tar -x, rsync -aAX, git clone) and `c-tests/fs_capabilities.c` run under
//! the shim with the mirror there. Each time the mirror stays in service (no copy goes
//! offline, nothing is left to resynchronise), and the trees are identical but for what the
//! mirror's file system cannot represent, which `mfsctl verify` lists under its own heading
//! and does not count as a difference.
//!
//! Needs root, /dev/fuse, openssh-server, sshfs and bindfs (`.ci/run` installs them); skipped
//! with a notice otherwise.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use mfs_tests::netfs::{FuseMount, SshServer};
use mfs_tests::{c_program, compare_trees, mfsctl, Mirroring, Scratch};

/// A scratch tree whose mirror is a FUSE mount (dropped in field order: mount, server, tree).
struct Setup {
    _mount: FuseMount,
    _server: Option<SshServer>,
    s: Scratch,
}

fn skip(test: &str, why: &str) -> Option<Setup> {
    eprintln!("{test}: skipped: {why}");
    None
}

/// The mirror is `root@127.0.0.1:SCRATCH/remote` mounted with sshfs.
fn on_sshfs(test: &str) -> Option<Setup> {
    let s = Scratch::new(test).unwrap();
    let remote = s.root().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let server = match SshServer::start(&s.root().join("sshd")) {
        Ok(server) => server,
        Err(e) => return skip(test, &e),
    };
    match FuseMount::sshfs(&server, &remote, &s.mirror()) {
        Ok(mount) => Some(Setup { _mount: mount, _server: Some(server), s }),
        Err(e) => skip(test, &e),
    }
}

/// The mirror is `SCRATCH/backing` through bindfs without extended attributes.
fn on_bindfs(test: &str) -> Option<Setup> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip(test, "mounting bindfs for the test needs root");
    }
    let s = Scratch::new(test).unwrap();
    let backing = s.root().join("backing");
    std::fs::create_dir_all(&backing).unwrap();
    match FuseMount::bindfs_without_xattrs(&backing, &s.mirror()) {
        Ok(mount) => Some(Setup { _mount: mount, _server: None, s }),
        Err(e) => skip(test, &e),
    }
}

/// A few hundred real files: the first directories of /usr/share/doc, in name order.
fn doc_sample() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/share/doc")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    let (mut out, mut entries) = (Vec::new(), 0);
    for d in dirs {
        if entries >= 300 {
            break;
        }
        entries += walkdir_count(&d);
        out.push(d);
    }
    assert!(entries >= 50, "too little under /usr/share/doc to copy ({entries} entries)");
    out
}

fn walkdir_count(p: &Path) -> usize {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            1 + std::fs::read_dir(p)
                .map(|rd| rd.filter_map(|e| e.ok()).map(|e| walkdir_count(&e.path())).sum())
                .unwrap_or(0)
        }
        Ok(_) => 1,
        Err(_) => 0,
    }
}

fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

impl Setup {
    /// Runs `program args` under the shim (MFS_MIRROR=PRIMARY:MIRROR) and checks it exits 0.
    fn run(&self, program: impl AsRef<std::ffi::OsStr>, args: &[OsString]) {
        let o = self.s.run(program, args, &Mirroring::Env).unwrap_or_else(|e| panic!("{e}"));
        if !o.success() {
            self.s.keep();
            panic!("{}\n{}", o.status_text(), self.s.report(&o));
        }
    }

    /// The mirror stayed in service with nothing to resynchronise, and the trees are
    /// identical but for the paths `mfsctl verify` reports as not representable, which must
    /// be as `expect` says. Returns verify's report.
    fn assert_mirrored(&self, expect: Expect<'_>) -> String {
        let s = &self.s;
        let log = s.shim_log();
        assert!(!log.contains("offline"), "a copy went offline:\n{log}");
        let journal = std::fs::read_to_string(s.journal_path_for_env()).unwrap_or_default();
        let behind: Vec<&str> = journal.lines().filter(|l| l.starts_with(['D', 'F', 'M'])).collect();
        if !behind.is_empty() {
            s.keep();
            panic!("the journal has work for a resync:\n{}\n{log}", behind.join("\n"));
        }
        let out = Command::new(mfsctl())
            .arg("verify")
            .arg(s.primary())
            .arg(s.mirror())
            .env_remove("MFS_CONFIG")
            .env("MFS_SOCKET", s.state().join("mfsd.sock"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            s.keep();
            panic!("mfsctl verify: {}\n{stdout}{stderr}", out.status);
        }
        let listed: BTreeSet<(String, String)> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter_map(|l| l.split_once(": "))
            .map(|(lack, path)| (lack.to_string(), path.to_string()))
            .collect();
        match expect {
            Expect::Exactly(list) => {
                let want: BTreeSet<(String, String)> =
                    list.iter().map(|(l, p)| (l.to_string(), p.to_string())).collect();
                assert_eq!(listed, want, "verify's list of what the mirror cannot represent:\n{stdout}{stderr}");
            }
            Expect::SymlinkMetadata => {
                for (lack, path) in &listed {
                    let is_link = std::fs::symlink_metadata(s.primary().join(path)).is_ok_and(|m| m.is_symlink());
                    assert!(
                        is_link && (lack == "ownership" || lack == "timestamps"),
                        "{lack} of {path} not representable:\n{stdout}{stderr}"
                    );
                }
            }
        }
        // The independent comparison: only paths verify names as not representable differ.
        let named: BTreeSet<&str> = listed.iter().map(|(_, p)| p.as_str()).collect();
        let diffs: Vec<String> = compare_trees(&s.primary(), &s.mirror())
            .iter()
            .filter(|d| !named.contains(String::from_utf8_lossy(d.path()).as_ref()))
            .map(|d| format!("  {d}"))
            .collect();
        if !diffs.is_empty() {
            s.keep();
            panic!("primary and mirror differ:\n{}\n{stdout}{stderr}", diffs.join("\n"));
        }
        stdout
    }
}

/// What `mfsctl verify` may list as not representable on the mirror.
enum Expect<'a> {
    /// Exactly these (lack, path) pairs.
    Exactly(&'a [(&'a str, &'a str)]),
    /// Only the owners and times of symlinks (sftp cannot set them; it follows a symlink,
    /// and fails when it dangles).
    SymlinkMetadata,
}

trait JournalForEnv {
    fn journal_path_for_env(&self) -> PathBuf;
}

impl JournalForEnv for Scratch {
    /// With `MFS_MIRROR`, the pair is named after the primary's last component.
    fn journal_path_for_env(&self) -> PathBuf {
        self.state().join("primary.1.journal")
    }
}

fn cp_a(setup: Setup) {
    let mut args: Vec<OsString> = vec!["-a".into()];
    args.extend(doc_sample().into_iter().map(OsString::from));
    args.push(setup.s.primary().into());
    setup.run("cp", &args);
    setup.assert_mirrored(Expect::SymlinkMetadata);
}

fn tar_x(setup: Setup) {
    let archive = setup.s.root().join("doc.tar");
    let mut c = Command::new("tar");
    c.arg("-C").arg("/usr/share/doc").arg("-cf").arg(&archive);
    c.args(doc_sample().iter().map(|p| p.file_name().unwrap().to_owned()));
    assert!(c.status().unwrap().success());
    setup.run("tar", &["-C".into(), setup.s.primary().into(), "-xf".into(), archive.into()]);
    setup.assert_mirrored(Expect::SymlinkMetadata);
}

fn rsync_a_a_x(setup: Setup) {
    let Some(rsync) = tool("rsync") else { return eprintln!("rsync is not installed: skipped") };
    let mut args: Vec<OsString> = vec!["-aAX".into()];
    args.extend(doc_sample().into_iter().map(OsString::from));
    args.push(setup.s.primary().into());
    setup.run(rsync, &args);
    setup.assert_mirrored(Expect::SymlinkMetadata);
}

fn git_clone(setup: Setup) {
    let Some(git) = tool("git") else { return eprintln!("git is not installed: skipped") };
    let repo = setup.s.root().join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    for i in 0..20 {
        std::fs::write(repo.join(format!("src/f{i}.txt")), format!("file {i}\n").repeat(i + 1)).unwrap();
    }
    std::os::unix::fs::symlink("src/f1.txt", repo.join("link")).unwrap();
    let git_in = |args: &[&str]| {
        let ok = Command::new(&git)
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
            .args(args)
            .output()
            .unwrap();
        assert!(ok.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
    };
    git_in(&["init", "-q"]);
    git_in(&["add", "."]);
    git_in(&["commit", "-q", "-m", "one"]);
    std::fs::write(repo.join("src/f0.txt"), "changed\n").unwrap();
    git_in(&["commit", "-q", "-am", "two"]);
    setup.run(&git, &["clone".into(), "-q".into(), repo.into(), setup.s.primary().join("clone").into()]);
    setup.assert_mirrored(Expect::SymlinkMetadata);
}

/// What `fs_capabilities` makes that sftp cannot hold: the FIFO and the socket (sftp refuses
/// mknod), extended attributes, the ACL naming a user, and the times and owners of symlinks.
const SFTP_LACKS: &[(&str, &str)] = &[
    ("ACLs beyond the mode", "acl"),
    ("ownership", "dangling"),
    ("timestamps", "dangling"),
    ("special files", "fifo"),
    ("special files", "sock"),
    ("extended attributes", "x"),
];

fn capabilities(setup: Setup, expect: &[(&str, &str)]) {
    let prog = c_program("fs_capabilities").unwrap_or_else(|e| panic!("{e}"));
    setup.run(prog, &[setup.s.primary().into(), setup.s.mirror().into()]);
    setup.assert_mirrored(Expect::Exactly(expect));
}

#[test]
fn sshfs_cp_a() {
    if let Some(s) = on_sshfs("sshfs-cp") {
        cp_a(s);
    }
}

#[test]
fn sshfs_tar_x() {
    if let Some(s) = on_sshfs("sshfs-tar") {
        tar_x(s);
    }
}

#[test]
fn sshfs_rsync_a_a_x() {
    if let Some(s) = on_sshfs("sshfs-rsync") {
        rsync_a_a_x(s);
    }
}

#[test]
fn sshfs_git_clone() {
    if let Some(s) = on_sshfs("sshfs-git") {
        git_clone(s);
    }
}

#[test]
fn sshfs_fifo_xattr_symlink_times() {
    if let Some(s) = on_sshfs("sshfs-caps") {
        capabilities(s, SFTP_LACKS);
    }
}

#[test]
fn bindfs_without_xattrs_cp_a() {
    if let Some(s) = on_bindfs("bindfs-cp") {
        cp_a(s);
    }
}

#[test]
fn bindfs_without_xattrs_rsync_a_a_x() {
    if let Some(s) = on_bindfs("bindfs-rsync") {
        rsync_a_a_x(s);
    }
}

#[test]
fn bindfs_without_xattrs_capabilities() {
    if let Some(s) = on_bindfs("bindfs-caps") {
        capabilities(s, &[("ACLs beyond the mode", "acl"), ("extended attributes", "x")]);
    }
}
