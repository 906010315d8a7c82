//! mfs-bench: whole-program benchmarks of the MFS shim.
//!
//! Each workload is a small C program (benches/c) that times its own inner loop. It runs three
//! ways, alternating run by run: natively, under `libmfs.so` with a pair configured, and as a
//! program that applies every change to both copies itself (the physical limit of a
//! synchronous two-copy mirror). Then each workload runs once more in one process, blocks
//! through the shim's hooks alternating with blocks through libc's own calls (benches/c/bench.h),
//! where the machine's drifts cancel out. The report gives the medians, the ratios shim/native
//! and shim/two-copy of whole runs and in one process, and whether each target is met (decided
//! in one process). Targets are informational: the exit status is non-zero only when a
//! workload could not be run.
//!
//! Run it with `cargo run --release -p mfs-benches` (add `-- --quick` for a short run).

mod callgrind;
mod machine;
mod report;
mod runner;
mod sandbox;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;

use report::Outcome;
use runner::Runner;
use sandbox::Sandbox;
use workload::{Basis, Sizes, Variant, Workload};

/// Benchmarks the MFS shim against native runs and the two-copy limit.
#[derive(Parser, Debug)]
#[command(name = "mfs-bench")]
struct Args {
    /// Short run: about a tenth of the data and 5 runs per variant.
    #[arg(long)]
    quick: bool,
    /// Timed runs per variant (after one untimed warm-up run); default 11, or 5 with --quick.
    #[arg(long, value_parser = clap::value_parser!(u32).range(5..))]
    runs: Option<u32>,
    /// open+close and stat iterations outside the pair [200000].
    #[arg(long)]
    iterations: Option<u64>,
    /// 4 KiB writes to a file outside the pair [100000].
    #[arg(long)]
    small_writes: Option<u64>,
    /// MiB written in 4 KiB writes to a mirrored file [64].
    #[arg(long)]
    seq_mib: Option<u64>,
    /// MiB of the primary file read in 4 KiB reads [64].
    #[arg(long)]
    read_mib: Option<u64>,
    /// Passes over that file [4].
    #[arg(long)]
    read_passes: Option<u64>,
    /// Small files created in the primary [10000].
    #[arg(long)]
    files: Option<u64>,
    /// Bytes written to each small file [1024].
    #[arg(long)]
    file_bytes: Option<u64>,
    /// MiB written in 1 MiB writes to a mirrored file [256].
    #[arg(long)]
    big_mib: Option<u64>,
    /// Block pairs of the in-process A/B for open-close, stat, write-4k and small-files (the
    /// other workloads run a half or a quarter as many) [200, 40 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(4..))]
    ab_blocks: Option<u64>,
    /// Only these workloads (comma-separated): open-close, stat, write-outside, write-4k,
    /// read-4k, small-files, write-1m.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Pin the benchmark and its workloads to this CPU [the highest allowed CPU].
    #[arg(long, conflicts_with = "no_pin")]
    cpu: Option<usize>,
    /// Do not pin to a CPU.
    #[arg(long)]
    no_pin: bool,
    /// Run in a plain directory instead of mounting a fresh tmpfs.
    #[arg(long)]
    no_tmpfs: bool,
    /// Where the scratch tree (or the tmpfs mount point) is created.
    #[arg(long, default_value = "/tmp")]
    dir: PathBuf,
    /// Use this libmfs.so instead of building target/release/libmfs.so.
    #[arg(long)]
    shim: Option<PathBuf>,
    /// The C compiler for the workloads.
    #[arg(long, default_value = "cc")]
    cc: String,
    /// Count instructions of the timed loops with valgrind's callgrind instead of timing them
    /// (one run per variant; the sizes of --quick unless given; the workloads outside the
    /// pair unless --only names others).
    #[arg(long)]
    callgrind: bool,
}

impl Args {
    fn sizes(&self) -> Sizes {
        let base = if self.quick || self.callgrind { Sizes::quick() } else { Sizes::full() };
        Sizes {
            iterations: self.iterations.unwrap_or(base.iterations),
            small_writes: self.small_writes.unwrap_or(base.small_writes),
            seq_mib: self.seq_mib.unwrap_or(base.seq_mib),
            read_mib: self.read_mib.unwrap_or(base.read_mib),
            read_passes: self.read_passes.unwrap_or(base.read_passes),
            files: self.files.unwrap_or(base.files),
            file_bytes: self.file_bytes.unwrap_or(base.file_bytes),
            big_mib: self.big_mib.unwrap_or(base.big_mib),
            ab_blocks: self.ab_blocks.unwrap_or(base.ab_blocks),
            ..base
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mfs-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    let sizes = args.sizes();
    ensure!(
        [
            sizes.iterations,
            sizes.small_writes,
            sizes.seq_mib,
            sizes.read_mib,
            sizes.read_passes,
            sizes.files,
            sizes.file_bytes,
            sizes.big_mib
        ]
        .iter()
        .all(|&n| n > 0),
        "every size must be positive"
    );
    let runs = args.runs.unwrap_or(if args.quick { 5 } else { 11 }) as usize;
    let mut workloads = select(workload::all(&sizes), &args.only)?;
    if args.callgrind && args.only.is_empty() {
        workloads = callgrind::default_selection(workloads);
    }

    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let shim = match &args.shim {
        Some(p) => p.clone(),
        None => {
            build_shim(&root)?;
            target.join("release/libmfs.so")
        }
    };
    let shim = shim.canonicalize().with_context(|| format!("no shim at {}", shim.display()))?;
    let bin_dir = target.join("mfs-bench/bin");
    compile_programs(&root.join("benches/c"), &bin_dir, &args.cc)?;

    let pinned = if args.no_pin { None } else { Some(pin(args.cpu)?) };
    runner::catch_interrupts();
    let tmpfs = (!args.no_tmpfs).then(|| sizes.peak_bytes() + (64 << 20));
    let sandbox = Sandbox::create(&args.dir, tmpfs)?;

    println!("MFS benchmark: native vs shim vs two-copy limit");
    for (label, value) in machine::describe(&args.cc) {
        println!("  {label:<10} {value}");
    }
    println!("  {:<10} {} (primary, mirror and the outside directory)", "fs", sandbox.fs);
    println!("  {:<10} {}", "shim", shim.display());
    println!("  {:<10} {}", "load", machine::load_note(None, None));
    println!("  {:<10} {}", "pinning", pinned.map_or_else(|| "none".to_string(), |c| format!("CPU {c}")));
    if !args.callgrind {
        println!("  {:<10} {runs} timed runs per variant after one warm-up, variants alternated run by run;", "method");
        println!("  {:<10} times are each program's own CLOCK_MONOTONIC measurement of its loop; then", "");
        println!("  {:<10} the in-process A/B that decides the targets (see benches/README.md)", "");
    }

    let runner = Runner { sandbox: &sandbox, bin_dir, shim };
    if args.callgrind {
        callgrind::run(&runner, &workloads, &target.join("mfs-bench/callgrind"))?;
        sandbox.clean()?;
        return Ok(ExitCode::SUCCESS);
    }

    let ticks = machine::cpu_ticks();
    let mut outcomes = Vec::new();
    for w in workloads {
        eprintln!("mfs-bench: running {} ...", w.key);
        let o = measure(&runner, w, runs)?;
        report::print_workload(&o);
        outcomes.push(o);
    }
    sandbox.clean()?;
    report::print_summary(&outcomes);
    println!("  machine during the run: {}", machine::load_note(ticks, machine::cpu_ticks()));
    Ok(if outcomes.iter().any(|o| o.error.is_some()) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The workloads named by `--only` (all when empty).
fn select(all: Vec<Workload>, only: &[String]) -> Result<Vec<Workload>> {
    if only.is_empty() {
        return Ok(all);
    }
    for key in only {
        if !all.iter().any(|w| w.key == key) {
            let keys: Vec<_> = all.iter().map(|w| w.key).collect();
            bail!("unknown workload {key:?} (known: {})", keys.join(", "));
        }
    }
    Ok(all.into_iter().filter(|w| only.iter().any(|k| k == w.key)).collect())
}

/// Runs every variant of a workload once untimed, then `runs` timed rounds, rotating the
/// order of the variants each round, then the in-process A/B (with its control for a native
/// basis). A failing workload is reported in its outcome; an interrupt ends the benchmark.
fn measure(r: &Runner<'_>, w: Workload, runs: usize) -> Result<Outcome> {
    let mut o = Outcome::new(w);
    let w = o.workload.clone();
    let result = (|| -> Result<()> {
        r.prepare(&w)?;
        let variants = w.variants();
        for &v in &variants {
            r.run(&w, v)?;
        }
        for round in 0..runs {
            for k in 0..variants.len() {
                let v = variants[(round + k) % variants.len()];
                let (sample, problem) = r.run(&w, v)?;
                o.push(v, sample);
                o.note(problem);
            }
        }
        let (ab, problem) = r.run_ab(&w, Variant::Shim)?;
        o.ab = Some(ab);
        o.note(problem);
        if w.basis == Basis::Native {
            o.control = Some(r.run_ab(&w, Variant::Native)?.0);
        }
        Ok(())
    })();
    runner::check_interrupt()?;
    if let Err(e) = result {
        o.error = Some(format!("{e:#}"));
    }
    Ok(o)
}

/// The workspace root (the parent of this crate).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo build --release -p mfs-shim` (a no-op when the shim is up to date).
fn build_shim(root: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("mfs-bench: cargo build --release -p mfs-shim");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "mfs-shim"])
        .current_dir(root)
        .status()
        .context("running cargo")?;
    ensure!(status.success(), "building the shim failed ({status})");
    Ok(())
}

/// Compiles every benches/c/*.c into `out` with `cc -O2` (and libdl, for the in-process A/B).
fn compile_programs(src: &Path, out: &Path, cc: &str) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    sources.retain(|p| p.extension().is_some_and(|e| e == "c"));
    sources.sort();
    ensure!(!sources.is_empty(), "no C workloads in {}", src.display());
    for source in sources {
        let stem = source.file_stem().context("source without a name")?;
        let status = Command::new(cc)
            .args(["-O2", "-Wall", "-Wextra", "-o"])
            .arg(out.join(stem))
            .arg(&source)
            .arg("-ldl")
            .status()
            .with_context(|| format!("running {cc}"))?;
        ensure!(status.success(), "compiling {} failed ({status})", source.display());
    }
    Ok(())
}

/// Pins this process (and so every workload it starts) to `cpu`, by default the highest CPU
/// it may run on. Returns the CPU.
fn pin(cpu: Option<usize>) -> Result<usize> {
    // SAFETY: cpu_set_t is plain old data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid out-pointer of `size` bytes.
    ensure!(unsafe { libc::sched_getaffinity(0, size, &mut set) } == 0, "sched_getaffinity failed");
    // SAFETY: CPU_ISSET reads within the set for every index below CPU_SETSIZE.
    let allowed: Vec<usize> =
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect();
    let cpu = match cpu {
        Some(c) => c,
        None => *allowed.last().context("no CPU allowed")?,
    };
    ensure!(allowed.contains(&cpu), "CPU {cpu} is not available to this process");
    // SAFETY: as above.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (it is in `allowed`).
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: `one` is a valid set of `size` bytes.
    ensure!(unsafe { libc::sched_setaffinity(0, size, &one) } == 0, "sched_setaffinity failed");
    Ok(cpu)
}
