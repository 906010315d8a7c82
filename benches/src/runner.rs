//! Running one workload variant once: the command line, the environment, the timing and a
//! check that the shim really mirrored (or really left alone) what the workload wrote.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::sandbox::Sandbox;
use crate::workload::{Place, Variant, Workload};

/// Set by SIGINT/SIGTERM: the run stops at the next sample and the sandbox is cleaned up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Lets SIGINT and SIGTERM end the run through the normal error path, so the tmpfs is
/// unmounted.
pub fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
}

/// Fails once an interrupt arrived.
pub fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// One timed run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The program's own measurement of its timed loop.
    pub inner_ns: u64,
    /// The whole process, from spawn to exit.
    pub wall_ns: u64,
}

/// What every run needs: the tree, the compiled programs and the shim.
pub struct Runner<'a> {
    pub sandbox: &'a Sandbox,
    pub bin_dir: PathBuf,
    pub shim: PathBuf,
}

impl Runner<'_> {
    /// The path of a compiled workload program.
    pub fn program(&self, w: &Workload) -> PathBuf {
        self.bin_dir.join(w.program)
    }

    /// The workload's command for a variant, with a clean environment: no LD_PRELOAD and no
    /// MFS_* variables except, for the shim variant, LD_PRELOAD and MFS_MIRROR.
    pub fn command(&self, program: &Path, w: &Workload, v: Variant) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(&w.params).args(w.dirs(v, self.sandbox));
        self.set_env(&mut cmd, v);
        cmd
    }

    /// Sets the environment of a variant on `cmd`.
    pub fn set_env(&self, cmd: &mut Command, v: Variant) {
        cmd.env_remove("LD_PRELOAD");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("MFS_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("XDG_RUNTIME_DIR", self.sandbox.runtime());
        if v == Variant::Shim {
            cmd.env("LD_PRELOAD", &self.shim).env("MFS_MIRROR", self.sandbox.mirror_spec());
        }
    }

    /// Puts the workload's input files in place (before its first run).
    pub fn prepare(&self, w: &Workload) -> Result<()> {
        self.sandbox.clean()?;
        if let Some(bytes) = w.prepare {
            let data: Vec<u8> = (0..bytes).map(|i| b'a' + (i % 26) as u8).collect();
            for dir in [self.sandbox.primary(), self.sandbox.mirror()] {
                let path = dir.join("seqread.dat");
                fs::write(&path, &data).with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Runs the variant once and checks its outcome. Returns the sample and, for the shim
    /// variant, a description of anything the shim did not mirror as it should.
    pub fn run(&self, w: &Workload, v: Variant) -> Result<(Sample, Option<String>)> {
        let cmd = self.command(&self.program(w), w, v);
        let (stdout, wall_ns) = self.execute(w, v, cmd, "")?;
        let inner_ns =
            parse_elapsed(&stdout).with_context(|| format!("{} ({}) printed no elapsed_ns", w.key, v.label()))?;
        let problem = if v == Variant::Shim { self.check_mirror(w)? } else { None };
        Ok((Sample { inner_ns, wall_ns }, problem))
    }

    /// Runs `cmd` for workload `w` on a clean tree (unless the workload only reads prepared
    /// files) and returns its standard output and wall time; fails when it fails (`what` names
    /// the kind of run in the message).
    fn execute(&self, w: &Workload, v: Variant, mut cmd: Command, what: &str) -> Result<(String, u64)> {
        check_interrupt()?;
        if w.prepare.is_none() {
            self.sandbox.clean()?;
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let out = cmd.output().with_context(|| format!("running {}", w.program))?;
        let wall_ns = start.elapsed().as_nanos() as u64;
        if !out.status.success() {
            bail!(
                "{} ({what}{}) failed with {}: {}",
                w.key,
                v.label(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((String::from_utf8_lossy(&out.stdout).into_owned(), wall_ns))
    }

    /// After a shim run: the mirror must equal the primary for a pair workload and stay empty
    /// for an outside one.
    pub fn check_mirror(&self, w: &Workload) -> Result<Option<String>> {
        let mirror = listing(&self.sandbox.mirror())?;
        Ok(match w.place {
            Place::Outside if !mirror.is_empty() => Some(format!("the mirror is not empty: {:?}", mirror[0].0)),
            Place::Outside => None,
            Place::Pair => {
                let primary = listing(&self.sandbox.primary())?;
                if primary == mirror {
                    None
                } else {
                    let total = |l: &[(String, u64)]| l.iter().map(|e| e.1).sum::<u64>();
                    Some(format!(
                        "the mirror differs from the primary: {} files / {} bytes vs {} / {}",
                        mirror.len(),
                        total(&mirror),
                        primary.len(),
                        total(&primary)
                    ))
                }
            }
        })
    }
}

/// The block times of one in-process A/B run (benches/c/bench.h, `--ab`): `a` through the
/// linked functions (the shim's hooks when preloaded), `b` through libc's own, pair by pair.
#[derive(Clone, Debug)]
pub struct AbTimes {
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

impl Runner<'_> {
    /// Runs the workload's in-process A/B once: with the shim preloaded for `Variant::Shim`,
    /// without it for `Variant::Native` (both halves are libc then: the method's control).
    /// Returns the times and, after a shim run of a pair workload, any mirroring problem.
    pub fn run_ab(&self, w: &Workload, v: Variant) -> Result<(AbTimes, Option<String>)> {
        let mut cmd = Command::new(self.program(w));
        cmd.arg("--ab").arg(w.ab_blocks.to_string()).args(&w.ab_params).args(w.ab_dirs(self.sandbox));
        self.set_env(&mut cmd, v);
        let (text, _) = self.execute(w, v, cmd, "in-process A/B, ")?;
        let times = |label: &str| -> Option<Vec<u64>> {
            let rest = text.lines().find_map(|l| l.strip_prefix(label))?;
            rest.split_whitespace().map(|n| n.parse().ok()).collect()
        };
        let (Some(a), Some(b)) = (times("ab_a "), times("ab_b ")) else {
            bail!("{} (in-process A/B) printed no block times", w.key);
        };
        if a.len() != b.len() || a.is_empty() {
            bail!("{} (in-process A/B) printed {} and {} block times", w.key, a.len(), b.len());
        }
        let problem = if v == Variant::Shim { self.check_mirror(w)? } else { None };
        Ok((AbTimes { a, b }, problem))
    }
}

/// The `elapsed_ns N` line of a workload's output.
pub fn parse_elapsed(stdout: &str) -> Option<u64> {
    stdout.lines().find_map(|l| l.strip_prefix("elapsed_ns ")).and_then(|n| n.trim().parse().ok())
}

/// Names and sizes of the files directly in `dir`, sorted.
fn listing(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut v = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        v.push((entry.file_name().to_string_lossy().into_owned(), entry.metadata()?.len()));
    }
    v.sort();
    Ok(v)
}
