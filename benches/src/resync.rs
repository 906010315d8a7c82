//! mfs-resync-bench: what a resynchronisation costs, side by side with what it is measured
//! against, in one run.
//!
//! 1. **Outage**: a 1 GiB file is mirrored onto a loop-mounted ext4 file system; the mirror is
//!    taken offline, 1 MiB of random 4 KiB writes go to the file, and `mfsctl online` replays
//!    the journal. The bytes written to the mirror's block device during the resync are read
//!    from the loop device's counters (target: at most 4 MiB). Without root (no loop device)
//!    the resync's own count of bytes written is reported instead.
//! 2. **Full resync** of a 20,000-file tree into an empty mirror, against `rsync -a` of the
//!    same tree into an empty directory; then of two identical trees, against `rsync -a`
//!    finding nothing to do (target: no slower).
//!
//! Run with `cargo run --release -p mfs-benches --bin mfs-resync-bench` (as root for the loop
//! device; `--files N`, `--runs N`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

/// Benchmarks mfsctl's resynchronisation.
#[derive(Parser, Debug)]
#[command(name = "mfs-resync-bench")]
struct Args {
    /// Files in the tree of the full-resync comparison.
    #[arg(long, default_value_t = 20_000)]
    files: usize,
    /// Timed runs of each full-resync variant (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// MiB of the file written to during the outage.
    #[arg(long, default_value_t = 1024)]
    file_mib: u64,
    /// Scratch directory [a new directory under /tmp].
    #[arg(long)]
    dir: Option<PathBuf>,
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

struct DaemonProc(Child);

impl Drop for DaemonProc {
    fn drop(&mut self) {
        // SAFETY: signals the daemon this benchmark started, by its pid.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent().expect("target/release").to_path_buf()
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Env {
    mfsctl: PathBuf,
    shim: PathBuf,
    config: PathBuf,
}

impl Env {
    fn mfsctl(&self, args: &[&str]) -> Result<String> {
        run(Command::new(&self.mfsctl).args(args).env("MFS_CONFIG", &self.config).env_remove("LD_PRELOAD"))
    }

    fn shimmed(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("LD_PRELOAD", &self.shim).env("MFS_CONFIG", &self.config).env_remove("MFS_MIRROR");
        c
    }

    fn daemon(&self) -> Result<DaemonProc> {
        let child = Command::new(&self.mfsctl)
            .arg("daemon")
            .env("MFS_CONFIG", &self.config)
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let d = DaemonProc(child);
        let start = Instant::now();
        while self.mfsctl(&["status"]).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("the daemon did not answer");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(d)
    }
}

fn config(dir: &Path, primary: &Path, mirror: &Path) -> Result<PathBuf> {
    let state = dir.join("state");
    std::fs::create_dir_all(&state)?;
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nsocket = \"{}\"\n[[pair]]\nname = \"bench\"\nprimary = \"{}\"\nmirror = \"{}\"\n",
        state.display(),
        state.join("mfsd.sock").display(),
        primary.display(),
        mirror.display()
    );
    let path = dir.join(format!("{}.toml", mirror.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Sectors written to a block device so far (field 7 of /sys/block/DEV/stat).
fn sectors_written(dev: &str) -> Option<u64> {
    let name = dev.trim_start_matches("/dev/");
    let text = std::fs::read_to_string(format!("/sys/block/{name}/stat")).ok()?;
    text.split_whitespace().nth(6)?.parse().ok()
}

fn outage(args: &Args, dir: &Path, mfsctl: &Path, shim: &Path) -> Result<()> {
    println!("== outage: {} MiB file, 1 MiB of random 4 KiB writes while the mirror is offline", args.file_mib);
    let primary = dir.join("o-primary");
    let mirror = dir.join("o-mirror");
    std::fs::create_dir_all(&primary)?;
    std::fs::create_dir_all(&mirror)?;
    let image = dir.join("mirror.img");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut mounted = None;
    let mut device = None;
    if root {
        std::fs::File::create(&image)?.set_len((args.file_mib + 512) << 20)?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        let dev = run(Command::new("losetup").args(["-f", "--show"]).arg(&image))?.trim().to_string();
        run(Command::new("mount").arg(&dev).arg(&mirror))?;
        mounted = Some(Mounted(mirror.clone()));
        let _ = std::fs::remove_dir(mirror.join("lost+found"));
        device = Some(dev);
    } else {
        println!("(not root: no loop device; the resync's own byte count is reported)");
    }
    let env = Env { mfsctl: mfsctl.to_owned(), shim: shim.to_owned(), config: config(dir, &primary, &mirror)? };
    let _d = env.daemon()?;
    let file = primary.join("big");
    run(env.shimmed("dd").arg("if=/dev/urandom").arg(format!("of={}", file.display())).args([
        "bs=1M",
        &format!("count={}", args.file_mib),
        "status=none",
    ]))?;
    env.mfsctl(&["offline", "bench"])?;
    let script = format!(
        "import os, random\nrandom.seed(7)\nfd = os.open('{}', os.O_WRONLY)\nfor _ in range(256):\n    os.pwrite(fd, os.urandom(4096), random.randrange({} // 4096) * 4096)\nos.close(fd)\n",
        file.display(),
        args.file_mib << 20
    );
    run(env.shimmed("python3").arg("-c").arg(&script))?;
    run(&mut Command::new("sync"))?;
    let before = device.as_deref().and_then(sectors_written);
    let t = Instant::now();
    let said = env.mfsctl(&["online", "bench"])?;
    let took = t.elapsed();
    run(&mut Command::new("sync"))?;
    let after = device.as_deref().and_then(sectors_written);
    let counted: u64 = said
        .split('(')
        .nth(1)
        .and_then(|s| s.split(" paths, ").nth(1))
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    println!("resync: {} in {:.2} s", said.trim().trim_start_matches("mfsctl: "), took.as_secs_f64());
    match (before, after) {
        (Some(b), Some(a)) => {
            let bytes = (a - b) * 512;
            let verdict = if bytes <= 4 << 20 { "MET" } else { "MISSED" };
            println!(
                "bytes written to the mirror's device: {bytes} ({:.2} MiB, of which {counted} file data); target <= 4 MiB: {verdict}",
                bytes as f64 / (1 << 20) as f64
            );
        }
        _ => println!(
            "bytes written by the resync: {counted}; target <= 4 MiB: {}",
            if counted <= 4 << 20 { "MET" } else { "MISSED" }
        ),
    }
    let verify = Command::new(mfsctl).arg("verify").arg(&primary).arg(&mirror).output()?;
    println!("verify: {}", String::from_utf8_lossy(&verify.stderr).trim());
    drop(_d);
    drop(mounted);
    if let Some(dev) = device {
        let _ = Command::new("losetup").arg("-d").arg(dev).status();
    }
    Ok(())
}

/// A tree of `n` files in directories of 100, sizes 0 to 16 KiB.
fn make_tree(at: &Path, n: usize) -> Result<u64> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes = 0;
    for i in 0..n {
        let d = at.join(format!("d{:03}/s{}", i / 100, i % 3));
        if i % 100 == 0 || i % 100 < 3 {
            std::fs::create_dir_all(&d)?;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 16384) as usize;
        let body: Vec<u8> = (0..len).map(|k| (k as u64 ^ seed) as u8).collect();
        std::fs::write(d.join(format!("f{i}")), body)?;
        bytes += len as u64;
    }
    Ok(bytes)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn full(args: &Args, dir: &Path, mfsctl: &Path, shim: &Path) -> Result<()> {
    let primary = dir.join("f-primary");
    let mirror = dir.join("f-mirror");
    let rsync_dst = dir.join("f-rsync");
    std::fs::create_dir_all(&primary)?;
    let bytes = make_tree(&primary, args.files)?;
    println!(
        "== full resync: {} files, {:.1} MiB, {} runs each",
        args.files,
        bytes as f64 / (1 << 20) as f64,
        args.runs
    );
    std::fs::create_dir_all(&mirror)?;
    let env = Env { mfsctl: mfsctl.to_owned(), shim: shim.to_owned(), config: config(dir, &primary, &mirror)? };
    let _d = env.daemon()?;
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let t = Instant::now();
        f()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let (mut mfs_empty, mut rsync_empty, mut mfs_same, mut rsync_same) = (vec![], vec![], vec![], vec![]);
    for _ in 0..args.runs {
        for d in [&mirror, &rsync_dst] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d)?;
        }
        run(&mut Command::new("sync"))?;
        mfs_empty.push(time(&mut || env.mfsctl(&["resync", "bench", "--full"]).map(drop))?);
        rsync_empty.push(time(&mut || {
            run(Command::new("rsync").arg("-a").arg(format!("{}/", primary.display())).arg(&rsync_dst)).map(drop)
        })?);
        mfs_same.push(time(&mut || env.mfsctl(&["resync", "bench", "--full"]).map(drop))?);
        rsync_same.push(time(&mut || {
            run(Command::new("rsync").arg("-a").arg(format!("{}/", primary.display())).arg(&rsync_dst)).map(drop)
        })?);
    }
    let verify = Command::new(mfsctl).arg("verify").arg(&primary).arg(&mirror).output()?;
    println!("verify: {}", String::from_utf8_lossy(&verify.stderr).trim());
    for (what, m, r) in [("into an empty mirror", mfs_empty, rsync_empty), ("of identical trees", mfs_same, rsync_same)]
    {
        let (m, r) = (median(m), median(r));
        let verdict = if m <= r { "MET" } else { "MISSED" };
        println!(
            "{what:<22} mfsctl resync --full {m:.3} s   rsync -a {r:.3} s   ratio {:.2}   target <= 1.00: {verdict}",
            m / r
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("mfs-resync-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir)?;
    let _scratch = Scratch(dir.clone());
    let status = Command::new("cargo").args(["build", "--release", "-p", "mfs-shim", "-p", "mfsctl"]).status()?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let t = target_dir();
    let (mfsctl, shim) = (t.join("mfsctl"), t.join("libmfs.so"));
    println!(
        "mfs-resync-bench: {} cores, scratch {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        dir.display()
    );
    outage(&args, &dir, &mfsctl, &shim)?;
    full(&args, &dir, &mfsctl, &shim)?;
    Ok(())
}
