//! Real network and FUSE file systems for mirrors, set up and torn down by the tests
//! themselves: an OpenSSH server on a loopback port with throwaway host and user keys and its
//! own configuration, an sshfs mount of a directory it serves, and a bindfs mount without
//! extended attributes.
//!
//! Each piece is stopped or unmounted when dropped, also when the test fails; a server is
//! stopped by its pid. Where the machine cannot provide a piece (no root, no `/dev/fuse`, the
//! programs not installed) the constructor says why in the `Err`, and the test skips with
//! that notice.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first of `names` found in `PATH` or in the sbin directories.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    let dirs: Vec<PathBuf> = dirs.collect();
    names.iter().find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

/// True when running as root (mounting needs it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a command to completion; `Err` with its output when it fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// An OpenSSH server on 127.0.0.1 serving SFTP, with keys and configuration in its own
/// directory. Stopped (by its pid) when dropped.
pub struct SshServer {
    dir: PathBuf,
    port: u16,
    sshd: PathBuf,
    pid: Option<libc::pid_t>,
}

impl SshServer {
    /// Generates the keys and configuration under `dir` and starts the server.
    pub fn start(dir: &Path) -> Result<SshServer, String> {
        if !is_root() {
            return Err("an sshd for the test needs root (it logs in as root with a throwaway key)".into());
        }
        let sshd = find_program(&["sshd"]).ok_or("sshd is not installed (package openssh-server)")?;
        let keygen = find_program(&["ssh-keygen"]).ok_or("ssh-keygen is not installed (package openssh-client)")?;
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        for key in ["host_key", "user_key"] {
            let _ = fs::remove_file(dir.join(key));
            run(Command::new(&keygen).args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.join(key)))?;
        }
        fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).map_err(|e| e.to_string())?;
        // Privilege separation wants its empty directory.
        let _ = fs::create_dir_all("/run/sshd");
        let port = free_port()?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             UsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
            d = dir.display()
        );
        fs::write(dir.join("sshd_config"), config).map_err(|e| e.to_string())?;
        let mut server = SshServer { dir: dir.to_owned(), port, sshd, pid: None };
        server.resume()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn user_key(&self) -> PathBuf {
        self.dir.join("user_key")
    }

    /// Starts the server again (after [`SshServer::stop`]) on the same port and keys.
    pub fn resume(&mut self) -> Result<(), String> {
        let pid_file = self.dir.join("sshd.pid");
        let _ = fs::remove_file(&pid_file);
        run(Command::new(&self.sshd)
            .arg("-f")
            .arg(self.dir.join("sshd_config"))
            .arg("-E")
            .arg(self.dir.join("sshd.log")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok()) {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.pid = Some(pid);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let log = fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default();
                return Err(format!("sshd did not start listening on port {}: {log}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (its listener; sessions already open are ended too).
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            // Connections are served by children of the listener: end them first, while
            // they are still its children.
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid.to_string()]).status();
            // SAFETY: signals the server this value started, by its pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A FUSE mount, unmounted when dropped.
pub struct FuseMount {
    at: PathBuf,
}

impl FuseMount {
    /// Mounts `remote_dir` of `server` with sshfs at `at`, with the options that make calls
    /// fail instead of hanging when the server goes away.
    pub fn sshfs(server: &SshServer, remote_dir: &Path, at: &Path) -> Result<FuseMount, String> {
        let sshfs = find_program(&["sshfs"]).ok_or("sshfs is not installed (package sshfs)")?;
        check_fuse()?;
        let base = format!(
            "port={},IdentityFile={},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR,\
             reconnect,ServerAliveInterval=1,ServerAliveCountMax=2",
            server.port(),
            server.user_key().display()
        );
        let target = format!("root@127.0.0.1:{}", remote_dir.display());
        // Debian's sshfs hides the targets of symlinks containing `..` unless told not to;
        // other builds lack the option.
        let with = run(Command::new(&sshfs).arg(&target).arg(at).arg("-o").arg(format!("{base},no_contain_symlinks")));
        if with.is_err() {
            run(Command::new(&sshfs).arg(&target).arg(at).arg("-o").arg(&base))?;
        }
        Ok(FuseMount { at: at.to_owned() })
    }

    /// Mounts `source` at `at` with bindfs, without extended attributes.
    pub fn bindfs_without_xattrs(source: &Path, at: &Path) -> Result<FuseMount, String> {
        let bindfs = find_program(&["bindfs"]).ok_or("bindfs is not installed (package bindfs)")?;
        check_fuse()?;
        run(Command::new(bindfs).arg("--xattr-none").arg(source).arg(at))?;
        Ok(FuseMount { at: at.to_owned() })
    }
}

fn check_fuse() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("no /dev/fuse on this machine".into());
    }
    if find_program(&["fusermount3", "fusermount"]).is_none() {
        return Err("fusermount is not installed (package fuse3)".into());
    }
    Ok(())
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let unmounted = find_program(&["fusermount3", "fusermount"])
            .is_some_and(|f| run(Command::new(f).arg("-u").arg(&self.at)).is_ok());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}
