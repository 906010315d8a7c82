//! `--callgrind`: counts the instructions (Ir) each variant executes in its timed loop with
//! valgrind's callgrind (`--toggle-collect=bench_loop`), so start-up and the shim's
//! initialisation are excluded and the difference shim - native is the hooks' user-space cost.
//! System-call time is not counted: this measures the fast path, not the kernel.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

use crate::runner::{check_interrupt, Runner};
use crate::workload::{Place, Variant, Workload};

/// Functions listed per shim run.
const TOP: usize = 8;

/// The workloads counted when `--only` is not given: the pass-through ones, whose hook fast
/// path is what instruction counts are good for.
pub fn default_selection(all: Vec<Workload>) -> Vec<Workload> {
    all.into_iter().filter(|w| w.place == Place::Outside).collect()
}

/// Counts every variant of every workload once and prints Ir per operation, then the shim's
/// most expensive functions per workload.
pub fn run(r: &Runner<'_>, workloads: &[Workload], out_dir: &Path) -> Result<()> {
    let ok = Command::new("valgrind").arg("--version").stdout(Stdio::null()).status();
    ensure!(ok.is_ok_and(|s| s.success()), "valgrind is not installed");
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    println!("  {:<10} instructions (Ir) in each program's timed loop, user space only (callgrind)", "method");
    println!();
    println!(
        "  {:<14} {:>9} {:>13} {:>13} {:>13} {:>15}",
        "workload", "ops", "native Ir/op", "shim Ir/op", "two-copy Ir/op", "shim-native/op"
    );
    let mut hot = Vec::new();
    let mut problems = Vec::new();
    for w in workloads {
        eprintln!("mfs-bench: counting {} ...", w.key);
        r.prepare(w)?;
        let mut per_op = |v: Variant| -> Result<Option<f64>> {
            if !w.variants().contains(&v) {
                return Ok(None);
            }
            let file = out_dir.join(format!("{}.{}.out", w.key, v.label()));
            let ir = count(r, w, v, &file)?;
            if v == Variant::Shim {
                hot.push((w.key, file));
                if let Some(p) = r.check_mirror(w)? {
                    problems.push(format!("{}: {p}", w.key));
                }
            }
            Ok(Some(ir as f64 / w.ops as f64))
        };
        let native = per_op(Variant::Native)?;
        let shim = per_op(Variant::Shim)?;
        let two = per_op(Variant::TwoCopy)?;
        let cell = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
        let diff = native.zip(shim).map(|(n, s)| s - n);
        println!(
            "  {:<14} {:>9} {:>13} {:>13} {:>13} {:>15}",
            w.key,
            w.ops,
            cell(native),
            cell(shim),
            cell(two),
            cell(diff)
        );
    }
    for p in &problems {
        println!("  WARNING: {p}: the counts of this workload are not those of a working mirror");
    }
    for (key, file) in hot {
        println!();
        println!("[{key}] shim run: top functions by own instructions ({})", file.display());
        for line in top_functions(&file)? {
            println!("  {line}");
        }
    }
    println!();
    println!("  Full profiles: callgrind_annotate --inclusive=yes FILE, or kcachegrind FILE.");
    Ok(())
}

/// Runs one variant under callgrind and returns the Ir total of its timed loop.
fn count(r: &Runner<'_>, w: &Workload, v: Variant, file: &Path) -> Result<u64> {
    check_interrupt()?;
    if w.prepare.is_none() {
        r.sandbox.clean()?;
    }
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--collect-atstart=no", "--toggle-collect=bench_loop", "-q"])
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(r.program(w))
        .args(&w.params)
        .args(w.dirs(v, r.sandbox))
        .stdin(Stdio::null());
    r.set_env(&mut cmd, v);
    let out = cmd.output().context("running valgrind")?;
    if !out.status.success() {
        bail!("{} ({}) under callgrind failed: {}", w.key, v.label(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no totals in {}", file.display()))
}

/// The first lines of `callgrind_annotate`'s per-function table.
fn top_functions(file: &Path) -> Result<Vec<String>> {
    let out = Command::new("callgrind_annotate").arg(file).output().context("running callgrind_annotate")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = text
        .lines()
        .skip_while(|l| !l.contains("file:function"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .take(TOP)
        .map(|l| l.replace("???:", "").replace("./", ""))
        .collect();
    Ok(lines)
}
