//! `mfsctl verify`: compares a primary tree with its mirrors and lists every difference.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mfs_core::config::{Config, Env, Pair};
use mfs_core::failure::Lack;
use mfs_core::journal;
use mfs_core::tree::{self, Difference, Event, Stats};

/// Exit status when every copy is identical.
pub const EXIT_IDENTICAL: i32 = 0;
/// Exit status when differences were listed.
pub const EXIT_DIFFERENT: i32 = 1;

/// How long a comparison runs before progress is shown.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// The copies to compare: a primary root and its mirror roots (copies 1, 2, ... of the pair),
/// and where the pair's journals are when it is known (`STATE_DIR/NAME`, the stem of
/// `NAME.COPY.journal`): what the shim recorded there as not representable on a mirror is
/// reported apart from the differences.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub primary: PathBuf,
    pub mirrors: Vec<PathBuf>,
    pub journal: Option<PathBuf>,
}

fn journal_of(pair: &Pair, config: &Config) -> PathBuf {
    config.daemon.state_dir.join(&pair.name)
}

/// The journal of the pair with these roots: a configured one (`--config`, else
/// `MFS_CONFIG`), else the one `MFS_MIRROR=PRIMARY:MIRROR` (or `mfsctl run --mirror`) makes.
fn journal_for(primary: &Path, mirror: &Path, env: &Env) -> Option<PathBuf> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let (p, m) = (canon(primary)?, canon(mirror)?);
    if env.config.is_some() {
        let env = Env { mirror: None, ..env.clone() };
        if let Ok(Some(cfg)) = Config::load(&env) {
            let same =
                |pair: &&Pair| pair.copies[0].canonical == p && pair.copies[1..].iter().any(|c| c.canonical == m);
            if let Some(pair) = cfg.pairs.iter().find(same) {
                return Some(journal_of(pair, &cfg));
            }
        }
    }
    let mut spec = Vec::new();
    crate::run::escape_into(primary.as_os_str().as_bytes(), &mut spec);
    spec.push(b':');
    crate::run::escape_into(mirror.as_os_str().as_bytes(), &mut spec);
    let env = Env { mirror: Some(std::ffi::OsStr::from_bytes(&spec).to_owned()), config: None, ..env.clone() };
    let cfg = Config::load(&env).ok()??;
    Some(journal_of(&cfg.pairs[0], &cfg))
}

/// Turns `verify`'s arguments into a target: `PRIMARY MIRROR`, or the `NAME` of a configured
/// pair (from `--config`, else `MFS_CONFIG`/`MFS_MIRROR`).
pub fn target(args: &[OsString], config_file: Option<&Path>) -> Result<Target> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let mut env = Env::from_process(unsafe { libc::getuid() });
    if let Some(file) = config_file {
        env.config = Some(file.as_os_str().to_owned());
    }
    match args {
        [primary, mirror] => {
            let (primary, mirror) = (PathBuf::from(primary), PathBuf::from(mirror));
            let journal = journal_for(&primary, &mirror, &env);
            Ok(Target { primary, mirrors: vec![mirror], journal })
        }
        [name] => {
            let name = name.to_string_lossy();
            let config = Config::load(&env)?.ok_or_else(|| {
                anyhow!("no configuration to find pair {name:?} in: pass --config FILE or set MFS_CONFIG, or give PRIMARY MIRROR")
            })?;
            let pair = config.pair(&name).ok_or_else(|| {
                let known: Vec<&str> = config.pairs.iter().map(|p| p.name.as_str()).collect();
                anyhow!("unknown pair {name:?}: the configuration has {}", known.join(", "))
            })?;
            Ok(Target {
                primary: pair.primary().to_path_buf(),
                mirrors: pair.copies[1..].iter().map(|c| c.root.clone()).collect(),
                journal: Some(journal_of(pair, &config)),
            })
        }
        _ => bail!("give PRIMARY MIRROR or the NAME of a configured pair"),
    }
}

/// Compares the target's primary with each of its mirrors, printing one line per difference
/// on stdout (prefixed by the mirror's root when there are several) and a summary on stderr.
/// Returns the exit status.
pub fn verify(target: &Target) -> Result<i32> {
    for root in std::iter::once(&target.primary).chain(&target.mirrors) {
        check_root(root, if root == &target.primary { "primary" } else { "mirror" })?;
    }
    let lacks = target.journal.as_deref().map(Lacks::read).unwrap_or_default();
    let mut stdout = io::stdout().lock();
    let mut total = 0;
    for (i, mirror) in target.mirrors.iter().enumerate() {
        let prefix = (target.mirrors.len() > 1).then(|| [mirror.as_os_str().as_bytes(), b": "].concat());
        let lacks = lacks.of_copy(i + 1);
        let mut explained = Vec::new();
        let mut progress = Progress::new();
        let mut write_error = None;
        let stats = tree::compare_trees(&target.primary, mirror, |event| match event {
            Event::Difference(d) => {
                if write_error.is_some() {
                    return;
                }
                if let Some(lack) = lacks.explains(&d) {
                    explained.push((lack, d.path().to_path_buf()));
                    return;
                }
                let mut line = prefix.clone().unwrap_or_default();
                line.extend_from_slice(&d.line());
                line.push(b'\n');
                if let Err(e) = progress.suspend(|| stdout.write_all(&line)) {
                    write_error = Some(e);
                }
            }
            Event::Progress { stats, path } => progress.update(stats, path),
        });
        progress.finish();
        if let Some(e) = write_error {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(EXIT_DIFFERENT);
            }
            return Err(anyhow!("cannot write the report: {e}"));
        }
        let mut stats = stats?;
        stats.differences -= explained.len() as u64;
        let unrepresented = lacks.report(&target.primary, &explained);
        if !unrepresented.is_empty() {
            let mut text = format!(
                "not representable on {} (its file system lacks them; not counted as differences):\n",
                mirror.display()
            )
            .into_bytes();
            for (lack, path) in &unrepresented {
                text.extend_from_slice(format!("  {}: ", lack.as_str()).as_bytes());
                text.extend_from_slice(path.as_os_str().as_bytes());
                text.push(b'\n');
            }
            if let Err(e) = stdout.write_all(&text) {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    return Ok(EXIT_DIFFERENT);
                }
                return Err(anyhow!("cannot write the report: {e}"));
            }
        }
        summarise(&target.primary, mirror, &stats, unrepresented.len());
        total += stats.differences;
    }
    stdout.flush().ok();
    Ok(if total == 0 { EXIT_IDENTICAL } else { EXIT_DIFFERENT })
}

fn check_root(root: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{what} {} is not a directory", root.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("{what} {} does not exist", root.display())
        }
        Err(e) => bail!("{what} {} cannot be read: {e}", root.display()),
    }
}

fn summarise(primary: &Path, mirror: &Path, stats: &Stats, unrepresented: usize) {
    let (p, m) = (primary.display(), mirror.display());
    let size = human_bytes(stats.bytes);
    let lacking = match unrepresented {
        0 => String::new(),
        1 => "; 1 path not representable on the mirror's file system".to_string(),
        n => format!("; {n} paths not representable on the mirror's file system"),
    };
    match stats.differences {
        0 => {
            let entries = match stats.entries {
                1 => "1 entry".to_string(),
                n => format!("{n} entries"),
            };
            eprintln!("mfsctl: {p} and {m} are identical ({entries}, {size} compared{lacking})")
        }
        1 => eprintln!("mfsctl: 1 difference between {p} and {m}"),
        n => eprintln!("mfsctl: {n} differences between {p} and {m}"),
    }
}

/// What the shim recorded in a pair's journal as not representable on its copies: per copy,
/// per relative path, the set of [`Lack`]s (one bit each).
#[derive(Debug, Default)]
struct Lacks {
    by_copy: BTreeMap<usize, BTreeMap<Vec<u8>, u8>>,
}

/// One copy's part of [`Lacks`].
#[derive(Debug, Default, Clone, Copy)]
struct CopyLacks<'a> {
    paths: Option<&'a BTreeMap<Vec<u8>, u8>>,
}

impl Lacks {
    /// Reads the journals of the pair whose files start with `stem` (`NAME.COPY.journal`),
    /// the journals the daemon is replaying (`NAME.COPY.replay`) and what it moved out of them
    /// (`NAME.lacks`); missing or unreadable files record nothing.
    fn read(stem: &Path) -> Lacks {
        let mut lacks = Lacks::default();
        let with = |suffix: String| {
            let mut p = stem.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        };
        let mut files = vec![with(".lacks".into())];
        for c in 0..mfs_core::config::MAX_COPIES {
            files.push(with(format!(".{c}.replay")));
            files.push(with(format!(".{c}.journal")));
        }
        for file in files {
            let Ok(data) = std::fs::read(&file) else { continue };
            for r in journal::decode_lenient(&data).0 {
                if let journal::Kind::Lacks(l) = r.kind {
                    *lacks.by_copy.entry(r.copy).or_default().entry(r.path).or_default() |= l.bit();
                }
            }
        }
        lacks
    }

    fn of_copy(&self, copy: usize) -> CopyLacks<'_> {
        CopyLacks { paths: self.by_copy.get(&copy) }
    }
}

impl CopyLacks<'_> {
    fn has(&self, path: &Path, lack: Lack) -> bool {
        self.paths.and_then(|p| p.get(path.as_os_str().as_bytes())).is_some_and(|bits| bits & lack.bit() != 0)
    }

    /// The lack that explains a difference: a special file missing (or of another type) on
    /// a copy that cannot hold special files, an owner or a mode it cannot hold.
    fn explains(&self, d: &Difference) -> Option<Lack> {
        let lack = match d {
            Difference::OnlyInPrimary { .. } | Difference::TypeDiffers { .. } => Lack::Special,
            Difference::OwnerDiffers { .. } => Lack::Owner,
            Difference::ModeDiffers { .. } => Lack::Mode,
            _ => return None,
        };
        self.has(d.path(), lack).then_some(lack)
    }

    /// Everything to report as not representable: the differences explained, then every
    /// other recorded lack of a path the primary still has, in path order.
    fn report(&self, primary: &Path, explained: &[(Lack, PathBuf)]) -> Vec<(Lack, PathBuf)> {
        let mut out: Vec<(Lack, PathBuf)> = explained.to_vec();
        if let Some(paths) = self.paths {
            for (path, bits) in paths {
                let rel = Path::new(std::ffi::OsStr::from_bytes(path));
                let abs = if path.is_empty() { primary.to_path_buf() } else { primary.join(rel) };
                if std::fs::symlink_metadata(&abs).is_err() {
                    continue;
                }
                for lack in Lack::ALL.into_iter().filter(|l| bits & l.bit() != 0) {
                    if !explained.iter().any(|(l, p)| *l == lack && p == rel) {
                        out.push((lack, rel.to_path_buf()));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        out.dedup();
        out
    }
}

/// `1.5 KiB`: a byte count for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A spinner on stderr, shown only when stderr is a terminal and the comparison has run for
/// [`PROGRESS_AFTER`].
struct Progress {
    start: Instant,
    enabled: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new() -> Progress {
        Progress { start: Instant::now(), enabled: io::stderr().is_terminal(), bar: None }
    }

    fn update(&mut self, stats: &Stats, path: &Path) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() {
            if self.start.elapsed() < PROGRESS_AFTER {
                return;
            }
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            let differences = match stats.differences {
                0 => String::new(),
                n => format!(", {n} differing"),
            };
            bar.set_message(format!(
                "{}s, {} entries, {} compared{differences}: {}",
                self.start.elapsed().as_secs(),
                stats.entries,
                human_bytes(stats.bytes),
                path.display()
            ));
        }
    }

    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }

    #[test]
    fn recorded_lacks_explain_only_their_own_differences() {
        let dir = std::env::temp_dir().join(format!("mfsctl-lacks-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("p")).unwrap();
        for name in ["fifo", "f", "l"] {
            std::fs::write(dir.join("p").join(name), b"").unwrap();
        }
        let mut text = Vec::new();
        for (kind, copy, path) in [
            (journal::Kind::Lacks(Lack::Special), 1, "fifo"),
            (journal::Kind::Lacks(Lack::Xattr), 1, "f"),
            (journal::Kind::Lacks(Lack::Times), 1, "l"),
            (journal::Kind::Lacks(Lack::Times), 1, "gone"),
            (journal::Kind::Lacks(Lack::Special), 2, "f"),
            (journal::Kind::Dirty, 1, "f"),
        ] {
            text.extend(journal::encode(kind, copy, 1, path.as_bytes()));
        }
        std::fs::write(dir.join("j.1.journal"), text).unwrap();
        let lacks = Lacks::read(&dir.join("j"));
        let one = lacks.of_copy(1);
        let only = |p: &str| Difference::OnlyInPrimary { path: p.into() };
        assert_eq!(one.explains(&only("fifo")), Some(Lack::Special));
        assert_eq!(one.explains(&only("f")), None, "an xattr lack explains no missing file");
        assert_eq!(one.explains(&Difference::ContentDiffers { path: "fifo".into() }), None);
        assert_eq!(lacks.of_copy(2).explains(&only("f")), Some(Lack::Special));
        let report = one.report(&dir.join("p"), &[(Lack::Special, "fifo".into())]);
        assert_eq!(
            report,
            vec![(Lack::Xattr, "f".into()), (Lack::Special, "fifo".into()), (Lack::Times, "l".into())],
            "a path the primary no longer has is left out"
        );
        assert!(Lacks::read(&dir.join("missing")).of_copy(1).paths.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_paths_are_a_target_without_configuration() {
        let t = target(&["/p".into(), "/m".into()], None).unwrap();
        assert_eq!(t, Target { primary: "/p".into(), mirrors: vec!["/m".into()], journal: None });
        assert!(target(&[], None).is_err());
    }

    #[test]
    fn a_name_is_looked_up_in_the_configuration() {
        let dir = std::env::temp_dir().join(format!("mfsctl-verify-{}", std::process::id()));
        for sub in ["p", "m1", "m2"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let file = dir.join("mfs.toml");
        std::fs::write(
            &file,
            format!(
                "[[pair]]\nname = \"data\"\nprimary = \"{0}/p\"\nmirror = [\"{0}/m1\", \"{0}/m2\"]\n",
                dir.display()
            ),
        )
        .unwrap();
        let t = target(&["data".into()], Some(&file)).unwrap();
        assert_eq!(t.primary, dir.join("p"));
        assert_eq!(t.mirrors, [dir.join("m1"), dir.join("m2")]);
        assert_eq!(t.journal.unwrap().file_name().unwrap(), "data");
        let e = target(&["other".into()], Some(&file)).unwrap_err().to_string();
        assert_eq!(e, "unknown pair \"other\": the configuration has data");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
