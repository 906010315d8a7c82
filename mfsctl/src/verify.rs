//! `mfsctl verify`: compares a primary tree with its mirrors and lists every difference.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mfs_core::config::{Config, Env};
use mfs_core::tree::{self, Event, Stats};

/// Exit status when every copy is identical.
pub const EXIT_IDENTICAL: i32 = 0;
/// Exit status when differences were listed.
pub const EXIT_DIFFERENT: i32 = 1;

/// How long a comparison runs before progress is shown.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// The copies to compare: a primary root and its mirror roots.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub primary: PathBuf,
    pub mirrors: Vec<PathBuf>,
}

/// Turns `verify`'s arguments into a target: `PRIMARY MIRROR`, or the `NAME` of a configured
/// pair (from `--config`, else `MFS_CONFIG`/`MFS_MIRROR`).
pub fn target(args: &[OsString], config_file: Option<&Path>) -> Result<Target> {
    match args {
        [primary, mirror] => Ok(Target { primary: primary.into(), mirrors: vec![mirror.into()] }),
        [name] => {
            // SAFETY: getuid has no preconditions and cannot fail.
            let mut env = Env::from_process(unsafe { libc::getuid() });
            if let Some(file) = config_file {
                env.config = Some(file.as_os_str().to_owned());
            }
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
    let mut stdout = io::stdout().lock();
    let mut total = 0;
    for mirror in &target.mirrors {
        let prefix = (target.mirrors.len() > 1).then(|| [mirror.as_os_str().as_bytes(), b": "].concat());
        let mut progress = Progress::new();
        let mut write_error = None;
        let stats = tree::compare_trees(&target.primary, mirror, |event| match event {
            Event::Difference(d) => {
                if write_error.is_some() {
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
        let stats = stats?;
        summarise(&target.primary, mirror, &stats);
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

fn summarise(primary: &Path, mirror: &Path, stats: &Stats) {
    let (p, m) = (primary.display(), mirror.display());
    let size = human_bytes(stats.bytes);
    match stats.differences {
        0 => {
            let entries = match stats.entries {
                1 => "1 entry".to_string(),
                n => format!("{n} entries"),
            };
            eprintln!("mfsctl: {p} and {m} are identical ({entries}, {size} compared)")
        }
        1 => eprintln!("mfsctl: 1 difference between {p} and {m}"),
        n => eprintln!("mfsctl: {n} differences between {p} and {m}"),
    }
}

fn human_bytes(n: u64) -> String {
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
    fn two_paths_are_a_target_without_configuration() {
        let t = target(&["/p".into(), "/m".into()], None).unwrap();
        assert_eq!(t, Target { primary: "/p".into(), mirrors: vec!["/m".into()] });
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
        let e = target(&["other".into()], Some(&file)).unwrap_err().to_string();
        assert_eq!(e, "unknown pair \"other\": the configuration has data");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
