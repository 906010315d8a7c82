//! Statistics and the printed tables.

use crate::runner::{AbTimes, Sample};
use crate::workload::{Basis, Variant, Workload};

/// Everything measured for one workload.
pub struct Outcome {
    pub workload: Workload,
    /// Samples per variant, in the workload's variant order.
    pub samples: Vec<(Variant, Vec<Sample>)>,
    /// Mirroring problems seen after shim runs (the shim's numbers are suspect then).
    pub problems: Vec<String>,
    /// Why the workload could not be measured.
    pub error: Option<String>,
    /// The in-process A/B under the shim, and for a native basis the same without it.
    pub ab: Option<AbTimes>,
    pub control: Option<AbTimes>,
}

impl Outcome {
    pub fn new(workload: Workload) -> Outcome {
        let samples = workload.variants().into_iter().map(|v| (v, Vec::new())).collect();
        Outcome { workload, samples, problems: Vec::new(), error: None, ab: None, control: None }
    }

    /// Records a mirroring problem (once).
    pub fn note(&mut self, problem: Option<String>) {
        if let Some(p) = problem.filter(|p| !self.problems.contains(p)) {
            self.problems.push(p);
        }
    }

    /// Records a sample.
    pub fn push(&mut self, v: Variant, s: Sample) {
        if let Some((_, list)) = self.samples.iter_mut().find(|(x, _)| *x == v) {
            list.push(s);
        }
    }

    fn of(&self, v: Variant) -> Option<&[Sample]> {
        self.samples.iter().find(|(x, _)| *x == v).map(|(_, s)| s.as_slice()).filter(|s| !s.is_empty())
    }

    /// Median of the timed loop, in ns.
    pub fn median(&self, v: Variant) -> Option<f64> {
        self.of(v).map(|s| median(s.iter().map(|x| x.inner_ns)))
    }

    /// shim / v.
    pub fn ratio(&self, v: Variant) -> Option<f64> {
        Some(self.median(Variant::Shim)? / self.median(v)?)
    }

    /// The variant the target compares the shim with.
    fn basis(&self) -> Variant {
        match self.workload.basis {
            Basis::Native => Variant::Native,
            Basis::TwoCopy => Variant::TwoCopy,
        }
    }

    /// The verdict on the target: from the in-process A/B when it ran (its drifts cancel
    /// out), else from the ratio of the whole runs' medians.
    pub fn verdict(&self) -> Option<Verdict> {
        let target = self.workload.target;
        if let Some(ab) = &self.ab {
            let (lo, hi) = ab.interval();
            return Some(if hi <= target {
                Verdict::Met
            } else if lo > target {
                Verdict::NotMet
            } else {
                Verdict::Uncertain
            });
        }
        let r = self.ratio(self.basis())?;
        Some(if r <= target { Verdict::Met } else { Verdict::NotMet })
    }

    /// The median of the round-by-round ratios shim/basis (the runs of one round are
    /// adjacent in time, so slow drifts of the machine's speed cancel out).
    pub fn paired_ratio(&self) -> Option<f64> {
        let shim = self.of(Variant::Shim)?;
        let basis = self.of(self.basis())?;
        let mut r: Vec<f64> = shim.iter().zip(basis).map(|(s, b)| s.inner_ns as f64 / b.inner_ns as f64).collect();
        r.sort_by(f64::total_cmp);
        Some(r[r.len() / 2])
    }

    /// The relative spread of a variant's runs: median absolute deviation / median.
    pub fn spread(&self, v: Variant) -> Option<f64> {
        let s = self.of(v)?;
        let m = median(s.iter().map(|x| x.inner_ns));
        let dev = median(s.iter().map(|x| (x.inner_ns as f64 - m).abs() as u64));
        Some(dev / m)
    }

    /// True when the run-to-run spread of the shim or its basis exceeds the target's margin,
    /// so the whole runs alone could not decide the target.
    pub fn noisy(&self) -> bool {
        let margin = self.workload.target - 1.0;
        [Variant::Shim, self.basis()].iter().any(|&v| self.spread(v).is_some_and(|s| s > margin))
    }
}

/// Whether a target is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// The 95% interval of the in-process ratio contains the target.
    Uncertain,
}

impl AbTimes {
    /// median(A) / median(B) over the blocks.
    pub fn ratio(&self) -> f64 {
        median(self.a.iter().copied()) / median(self.b.iter().copied())
    }

    /// A 95% interval of [`AbTimes::ratio`]: the 2.5% and 97.5% quantiles of the ratio over
    /// 2,000 resamples of the block pairs (with replacement, a fixed seed).
    pub fn interval(&self) -> (f64, f64) {
        const RESAMPLES: usize = 2000;
        let n = self.a.len();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut ratios = Vec::with_capacity(RESAMPLES);
        let (mut a, mut b) = (vec![0; n], vec![0; n]);
        for _ in 0..RESAMPLES {
            for k in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % n as u64) as usize;
                a[k] = self.a[i];
                b[k] = self.b[i];
            }
            ratios.push(median(a.iter().copied()) / median(b.iter().copied()));
        }
        ratios.sort_by(f64::total_cmp);
        (ratios[RESAMPLES * 25 / 1000], ratios[RESAMPLES * 975 / 1000])
    }
}

/// The median of a non-empty sequence.
pub fn median(xs: impl Iterator<Item = u64>) -> f64 {
    let mut v: Vec<u64> = xs.collect();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    }
}

fn ms(ns: f64) -> String {
    format!("{:.2}", ns / 1e6)
}

fn per_op(ns: f64, ops: u64) -> String {
    let x = ns / ops as f64;
    if x >= 10_000.0 {
        format!("{:.1} us", x / 1000.0)
    } else {
        format!("{x:.0} ns")
    }
}

fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{r:.3}"))
}

fn verdict_text(o: &Outcome) -> &'static str {
    match (o.verdict(), o.problems.is_empty()) {
        (None, _) => "n/a",
        (Some(Verdict::Met), true) => "MET",
        (Some(Verdict::NotMet), true) => "NOT MET",
        (Some(Verdict::Uncertain), true) => "UNDECIDED",
        (Some(Verdict::Met), false) => "MET?",
        (Some(Verdict::NotMet), false) => "NOT MET?",
        (Some(Verdict::Uncertain), false) => "UNDECIDED?",
    }
}

/// "1.023 (1.011-1.034)": the in-process ratio and its 95% interval.
fn ab_text(ab: Option<&AbTimes>) -> String {
    ab.map_or_else(
        || "-".to_string(),
        |ab| {
            let (lo, hi) = ab.interval();
            format!("{:.3} ({lo:.3}-{hi:.3})", ab.ratio())
        },
    )
}

/// Prints the table of one workload.
pub fn print_workload(o: &Outcome) {
    let w = &o.workload;
    println!();
    println!("[{}] {}", w.key, w.title);
    if let Some(e) = &o.error {
        println!("  FAILED: {e}");
        return;
    }
    println!(
        "  {:<9} {:>5} {:>10} {:>9} {:>9} {:>9} {:>10} {:>15}",
        "variant", "runs", "median ms", "min ms", "max ms", "spread", "per op", "wall median ms"
    );
    for (v, s) in &o.samples {
        if s.is_empty() {
            continue;
        }
        let inner: Vec<u64> = s.iter().map(|x| x.inner_ns).collect();
        let med = median(inner.iter().copied());
        let min = *inner.iter().min().unwrap_or(&0) as f64;
        let max = *inner.iter().max().unwrap_or(&0) as f64;
        let wall = median(s.iter().map(|x| x.wall_ns));
        let spread = o.spread(*v).map_or_else(|| "-".to_string(), |x| format!("±{:.1}%", x * 100.0));
        println!(
            "  {:<9} {:>5} {:>10} {:>9} {:>9} {:>9} {:>10} {:>15}",
            v.label(),
            s.len(),
            ms(med),
            ms(min),
            ms(max),
            spread,
            per_op(med, w.ops),
            ms(wall)
        );
    }
    let two = if w.basis == Basis::TwoCopy { ratio_text(o.ratio(Variant::TwoCopy)) } else { "n/a".into() };
    println!(
        "  shim/native {}   shim/two-copy {}   (round-by-round: {})",
        ratio_text(o.ratio(Variant::Native)),
        two,
        ratio_text(o.paired_ratio())
    );
    if let Some(ab) = &o.ab {
        let basis = if w.basis == Basis::TwoCopy { "two-copy" } else { "native" };
        println!(
            "  in one process, {} blocks through the hooks alternating with {} blocks through libc's own calls:",
            ab.a.len(),
            ab.b.len()
        );
        let control = o.control.as_ref().map_or_else(String::new, |c| {
            format!("; the same without the shim (both halves libc): {}", ab_text(Some(c)))
        });
        println!("  shim/{basis} {} (median over blocks, 95% interval){control}", ab_text(Some(ab)));
    }
    let noise = if o.ab.is_none() && o.noisy() { "  (spread above the margin: the verdict is uncertain)" } else { "" };
    println!("  target: {}   {}{noise}", w.target_text(), verdict_text(o));
    for p in &o.problems {
        println!("  WARNING: {p}");
    }
}

/// Prints the summary of every workload.
pub fn print_summary(outcomes: &[Outcome]) {
    println!();
    println!("Summary (whole runs: median of the timed loop, ms, and the ratio of the medians; in one process:");
    println!("median block ratio with its 95% interval)");
    println!(
        "  {:<14} {:>9} {:>9} {:>9} {:>12} {:>22}  {:<24} result",
        "workload", "native", "shim", "two-copy", "whole runs", "in one process", "target"
    );
    for o in outcomes {
        let w = &o.workload;
        let cell = |v| o.median(v).map_or_else(|| "-".to_string(), ms);
        let result = match &o.error {
            Some(_) => "FAILED".to_string(),
            None => verdict_text(o).to_string(),
        };
        println!(
            "  {:<14} {:>9} {:>9} {:>9} {:>12} {:>22}  {:<24} {}",
            w.key,
            cell(Variant::Native),
            cell(Variant::Shim),
            cell(Variant::TwoCopy),
            ratio_text(o.ratio(o.basis())),
            ab_text(o.ab.as_ref()),
            w.target_text(),
            result
        );
    }
    if outcomes.iter().any(|o| !o.problems.is_empty()) {
        println!("  (? = the shim did not mirror as expected in some run; see the warnings above)");
    }
    println!("  The result is decided in one process, where drifts of the machine cancel out: MET when the");
    println!("  whole 95% interval is within the target, NOT MET when it is wholly above, UNDECIDED otherwise.");
    println!("  Targets are informational; the exit status does not depend on them.");
}
