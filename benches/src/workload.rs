//! The workloads of the benchmark, their data sizes and their targets.

use std::path::PathBuf;

use crate::sandbox::Sandbox;

/// Data sizes of one benchmark run.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// open+close and stat iterations on a file outside every pair.
    pub iterations: u64,
    /// 4 KiB writes to a file outside every pair.
    pub small_writes: u64,
    /// Writes between two rewinds (lseek to 0) of the outside write workload.
    pub rewind_every: u64,
    /// Size of the mirrored file written in 4 KiB writes.
    pub seq_mib: u64,
    /// Size of the primary file read in 4 KiB reads.
    pub read_mib: u64,
    /// Passes over that file.
    pub read_passes: u64,
    /// Number of small files created in the primary.
    pub files: u64,
    /// Size of each small file in bytes.
    pub file_bytes: u64,
    /// Size of the mirrored file written in 1 MiB writes.
    pub big_mib: u64,
    /// Block pairs of the in-process A/B, for the workloads with the most blocks (the others
    /// take a share of it; see [`all`]).
    pub ab_blocks: u64,
}

impl Sizes {
    /// The sizes of a full run.
    pub fn full() -> Sizes {
        Sizes {
            iterations: 200_000,
            small_writes: 100_000,
            rewind_every: 256,
            seq_mib: 64,
            read_mib: 64,
            read_passes: 4,
            files: 10_000,
            file_bytes: 1024,
            big_mib: 256,
            ab_blocks: 200,
        }
    }

    /// The sizes of a short run (`--quick`), about a tenth of a full run.
    pub fn quick() -> Sizes {
        Sizes {
            iterations: 20_000,
            small_writes: 10_000,
            seq_mib: 8,
            read_mib: 8,
            read_passes: 2,
            files: 1_000,
            big_mib: 32,
            ab_blocks: 40,
            ..Sizes::full()
        }
    }

    /// Bytes the largest workload keeps on the file system at once (both copies).
    pub fn peak_bytes(&self) -> u64 {
        // Every workload starts on an empty tree; the largest one alone sets the peak.
        let mib = 2 * self.seq_mib.max(self.big_mib).max(self.read_mib);
        let files = 2 * self.files * (self.file_bytes.max(4096) + 1024);
        (mib << 20).max(files)
    }
}

/// Where a workload's files are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Outside every pair, with a pair configured elsewhere: the shim's pass-through path.
    Outside,
    /// In the pair's primary: the shim mirrors every change.
    Pair,
}

/// What the shim is held against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// The same program without the shim.
    Native,
    /// A program applying every change to both copies itself.
    TwoCopy,
}

/// One way of running a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// No LD_PRELOAD.
    Native,
    /// Under libmfs.so with the pair configured.
    Shim,
    /// No LD_PRELOAD; the program writes primary and mirror itself.
    TwoCopy,
}

impl Variant {
    /// The label in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Native => "native",
            Variant::Shim => "shim",
            Variant::TwoCopy => "two-copy",
        }
    }
}

/// A benchmark workload: one C program with its arguments and its target.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Short name, used by `--only`.
    pub key: &'static str,
    /// What it does, with its sizes.
    pub title: String,
    /// The C program (benches/c/NAME.c).
    pub program: &'static str,
    /// Arguments before the directories.
    pub params: Vec<String>,
    pub place: Place,
    pub basis: Basis,
    /// The largest acceptable shim/basis ratio (1.03 for "within 3%").
    pub target: f64,
    /// Size of `seqread.dat` to put in every copy before the runs (nothing is cleaned between
    /// runs then, since the workload only reads).
    pub prepare: Option<u64>,
    /// Operations in the timed loop (for the per-operation column).
    pub ops: u64,
    /// The in-process A/B: arguments before the directories for one block, and how many
    /// block pairs.
    pub ab_params: Vec<String>,
    pub ab_blocks: u64,
}

impl Workload {
    /// The variants worth running: the two-copy program only where something is mirrored (the
    /// limit of an unmirrored call, and of a read served from one copy, is the native run).
    pub fn variants(&self) -> Vec<Variant> {
        match self.basis {
            Basis::Native => vec![Variant::Native, Variant::Shim],
            Basis::TwoCopy => vec![Variant::Native, Variant::Shim, Variant::TwoCopy],
        }
    }

    /// The directories handed to the program for a variant.
    pub fn dirs(&self, v: Variant, sb: &Sandbox) -> Vec<PathBuf> {
        match (self.place, v) {
            (Place::Outside, _) => vec![sb.outside()],
            (Place::Pair, Variant::TwoCopy) => vec![sb.primary(), sb.mirror()],
            (Place::Pair, _) => vec![sb.primary()],
        }
    }

    /// The directories of the in-process A/B: the shim's, then for a two-copy basis the
    /// mirror, which the B blocks write themselves.
    pub fn ab_dirs(&self, sb: &Sandbox) -> Vec<PathBuf> {
        match self.basis {
            Basis::Native => self.dirs(Variant::Shim, sb),
            Basis::TwoCopy => self.dirs(Variant::TwoCopy, sb),
        }
    }

    /// The target in words.
    pub fn target_text(&self) -> String {
        let pct = ((self.target - 1.0) * 100.0).round();
        match self.basis {
            Basis::Native => format!("shim <= native +{pct}%"),
            Basis::TwoCopy => format!("shim <= two-copy +{pct}%"),
        }
    }
}

/// Every workload, in report order.
pub fn all(s: &Sizes) -> Vec<Workload> {
    const KIB4: u64 = 4096;
    const MIB: u64 = 1 << 20;
    let seq_writes = (s.seq_mib * MIB).div_ceil(KIB4);
    let big_writes = s.big_mib;
    let read_ops = s.read_passes * (s.read_mib * MIB).div_ceil(KIB4);
    vec![
        Workload {
            key: "open-close",
            title: format!("open+close of an existing file outside the pair, {} iterations", s.iterations),
            program: "open_close",
            params: vec![s.iterations.to_string()],
            place: Place::Outside,
            basis: Basis::Native,
            target: 1.03,
            prepare: None,
            ops: s.iterations,
            ab_params: vec!["2000".into()],
            ab_blocks: s.ab_blocks,
        },
        Workload {
            key: "stat",
            title: format!("stat of a file outside the pair, {} calls", s.iterations),
            program: "stat",
            params: vec![s.iterations.to_string()],
            place: Place::Outside,
            basis: Basis::Native,
            target: 1.03,
            prepare: None,
            ops: s.iterations,
            ab_params: vec!["2000".into()],
            ab_blocks: s.ab_blocks,
        },
        Workload {
            key: "write-outside",
            title: format!(
                "4 KiB writes to a file outside the pair, {} writes, lseek to 0 every {}",
                s.small_writes, s.rewind_every
            ),
            program: "seqwrite",
            params: vec![s.small_writes.to_string(), KIB4.to_string(), s.rewind_every.to_string()],
            place: Place::Outside,
            basis: Basis::Native,
            target: 1.03,
            prepare: None,
            ops: s.small_writes,
            ab_params: vec![(10 * s.rewind_every).to_string(), KIB4.to_string(), s.rewind_every.to_string()],
            ab_blocks: s.ab_blocks / 2,
        },
        Workload {
            key: "write-4k",
            title: format!("mirrored sequential 4 KiB writes, a {} MiB file in the primary", s.seq_mib),
            program: "seqwrite",
            params: vec![seq_writes.to_string(), KIB4.to_string(), "0".into()],
            place: Place::Pair,
            basis: Basis::TwoCopy,
            target: 1.15,
            prepare: None,
            ops: seq_writes,
            ab_params: vec![(4 * MIB / KIB4).to_string(), KIB4.to_string(), "0".into()],
            ab_blocks: s.ab_blocks,
        },
        Workload {
            key: "read-4k",
            title: format!(
                "sequential 4 KiB reads of a {} MiB file in the primary, {} passes",
                s.read_mib, s.read_passes
            ),
            program: "seqread",
            params: vec![KIB4.to_string(), s.read_passes.to_string()],
            place: Place::Pair,
            basis: Basis::Native,
            target: 1.05,
            prepare: Some(s.read_mib * MIB),
            ops: read_ops,
            ab_params: vec![KIB4.to_string(), "1".into()],
            ab_blocks: s.ab_blocks / 4,
        },
        Workload {
            key: "small-files",
            title: format!("create+write+close of {} files of {} bytes in the primary", s.files, s.file_bytes),
            program: "smallfiles",
            params: vec![s.files.to_string(), s.file_bytes.to_string()],
            place: Place::Pair,
            basis: Basis::TwoCopy,
            target: 1.25,
            prepare: None,
            ops: s.files,
            ab_params: vec![(s.files / 20).max(1).to_string(), s.file_bytes.to_string()],
            ab_blocks: s.ab_blocks,
        },
        Workload {
            key: "write-1m",
            title: format!("mirrored sequential 1 MiB writes, a {} MiB file in the primary", s.big_mib),
            program: "seqwrite",
            params: vec![big_writes.to_string(), MIB.to_string(), "0".into()],
            place: Place::Pair,
            basis: Basis::TwoCopy,
            target: 1.05,
            prepare: None,
            ops: big_writes,
            ab_params: vec!["16".into(), MIB.to_string(), "0".into()],
            ab_blocks: s.ab_blocks / 4,
        },
    ]
}
