//! Real programs under the shim: coreutils, bash, tar, rsync, python3, sqlite3, git, and a C
//! build with make and gcc.
//!
//! Each test runs one family of tools on a fresh primary with an empty mirror and checks the
//! programs' own results (exit status, output, the files they were asked to make), then, with
//! the independent comparator, that the mirror is identical to the primary. Every step also
//! runs natively, without the shim, in a second scratch directory: where a workload is
//! deterministic the native primary and the shimmed primary must be identical too (the shim
//! must not change what a program does), and each test prints the total time of both sides
//! as "native X ms, shim Y ms" (visible with `--nocapture`; nothing asserts on it).
//!
//! The tools must be installed (`.ci/run` installs rsync, sqlite3, git and python3).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use mfs_tests::{compare_trees, Mirroring, Outcome, Scratch};

/// Variables of the test runner that must not reach a native run.
const SCRUBBED_ENV: &[&str] = &["LD_PRELOAD", "MFS_MIRROR", "MFS_CONFIG", "MFS_SOCKET", "MFS_LOG", "MFS_LOG_FILE"];

/// 2020-01-02 03:04:05 UTC, the time `touch -d` sets.
const TOUCHED: i64 = 1_577_934_245;

/// The path of an installed tool: `/usr/bin` first (the distribution's build, not a version
/// manager's wrapper script), then `/bin`, then `PATH`.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = [PathBuf::from("/usr/bin"), PathBuf::from("/bin")].into_iter().chain(std::env::split_paths(&path));
    dirs.map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (.ci/run installs the tools these tests run)"))
}

/// One program invocation: program, arguments, extra environment and the expected exit code.
struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    code: i32,
}

/// `name args...`, expected to exit with status 0.
fn cmd(name: &str, args: &[&dyn AsRef<OsStr>]) -> Cmd {
    Cmd { program: tool(name), args: args.iter().map(|a| a.as_ref().to_owned()).collect(), env: Vec::new(), code: 0 }
}

/// `bash -c script bash args...`: the script sees `args` as `$1`, `$2`...
fn bash(script: &str, args: &[&dyn AsRef<OsStr>]) -> Cmd {
    let mut c = cmd("bash", &[&"-c", &script, &"bash"]);
    c.args.extend(args.iter().map(|a| a.as_ref().to_owned()));
    c
}

impl Cmd {
    fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.env.push((key.into(), value.as_ref().to_owned()));
        self
    }

    fn exits(mut self, code: i32) -> Cmd {
        self.code = code;
        self
    }

    fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// A path with `key=` in front (dd's operands).
trait WithPrefix {
    fn with_prefix(&self, prefix: &str) -> OsString;
}

impl WithPrefix for Path {
    fn with_prefix(&self, prefix: &str) -> OsString {
        let mut s = OsString::from(prefix);
        s.push(self);
        s
    }
}

/// Where one side of a workload runs: the primary tree it changes and a working directory
/// outside both trees (sources, scripts, data).
struct Site {
    tree: PathBuf,
    cwd: PathBuf,
}

/// Both outcomes of a step.
struct Ran {
    native: Outcome,
    shim: Outcome,
}

impl Ran {
    /// The shimmed run's standard output, after checking it equals the native run's.
    fn same_stdout(&self) -> String {
        assert_eq!(self.shim.stdout_text(), self.native.stdout_text(), "standard output differs under the shim");
        self.shim.stdout_text()
    }
}

/// A workload run twice, step by step: natively in one scratch directory and under the shim
/// (with `MFS_MIRROR=PRIMARY:MIRROR`) in another. Both are kept when the test fails.
struct Workload {
    name: &'static str,
    native: Scratch,
    shim: Scratch,
    native_time: Duration,
    shim_time: Duration,
}

impl Workload {
    fn new(name: &'static str) -> Workload {
        Workload {
            name,
            native: Scratch::new(&format!("{name}-native")).expect("native scratch directory"),
            shim: Scratch::new(&format!("{name}-shim")).expect("shim scratch directory"),
            native_time: Duration::ZERO,
            shim_time: Duration::ZERO,
        }
    }

    fn sites(&self) -> [Site; 2] {
        [
            Site { tree: self.native.primary(), cwd: self.native.cwd() },
            Site { tree: self.shim.primary(), cwd: self.shim.cwd() },
        ]
    }

    fn shim_site(&self) -> Site {
        Site { tree: self.shim.primary(), cwd: self.shim.cwd() }
    }

    /// Prepares both sites natively (files outside the trees, which nothing mirrors).
    fn prepare(&self, f: impl Fn(&Site) -> io::Result<()>) {
        for site in self.sites() {
            f(&site).unwrap_or_else(|e| panic!("{}: preparing {}: {e}", self.name, site.cwd.display()));
        }
    }

    /// Runs the command `make` builds for each site, natively and then under the shim; both
    /// must exit with the command's expected status.
    fn step(&mut self, make: impl Fn(&Site) -> Cmd) -> Ran {
        let [native_site, shim_site] = self.sites();

        let c = make(&native_site);
        let mut native = Command::new(&c.program);
        native.args(&c.args).current_dir(&native_site.cwd).stdin(Stdio::null());
        for var in SCRUBBED_ENV {
            native.env_remove(var);
        }
        native.envs(c.env.iter().map(|(k, v)| (k, v)));
        let start = Instant::now();
        let native = self.native.run_command(native).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        self.native_time += start.elapsed();
        assert_eq!(
            native.status.code(),
            Some(c.code),
            "{}: natively (without the shim), `{}` ended with {} instead of exit status {}\n{}",
            self.name,
            c.describe(),
            native.status_text(),
            c.code,
            native.stderr_text()
        );

        let c = make(&shim_site);
        let mut shimmed = self.shim.command(&c.program, &c.args, &Mirroring::Env);
        shimmed.envs(c.env.iter().map(|(k, v)| (k, v)));
        let start = Instant::now();
        let shim = self.shim.run_command(shimmed).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        self.shim_time += start.elapsed();
        assert_eq!(
            shim.status.code(),
            Some(c.code),
            "{}: under the shim, `{}` ended with {} instead of exit status {} (natively it did)\n{}",
            self.name,
            c.describe(),
            shim.status_text(),
            c.code,
            self.shim.report(&shim)
        );
        Ran { native, shim }
    }

    /// The shim's mirror must be identical to its primary.
    fn assert_mirrored(&self, when: &str) {
        let diffs = compare_trees(&self.shim.primary(), &self.shim.mirror());
        if !diffs.is_empty() {
            let list: Vec<String> = diffs.iter().take(50).map(|d| format!("  {d}")).collect();
            panic!(
                "{}: after {when}, the primary and the mirror differ ({} differences):\n{}\n--- shim log ---\n{}",
                self.name,
                diffs.len(),
                list.join("\n"),
                tail(&self.shim.shim_log(), 60)
            );
        }
    }

    /// The shimmed primary must be what the same steps made natively.
    fn assert_like_native(&self, when: &str) {
        let diffs = compare_trees(&self.native.primary(), &self.shim.primary());
        let list: Vec<String> = diffs.iter().take(50).map(|d| format!("  {d}")).collect();
        assert!(
            diffs.is_empty(),
            "{}: after {when}, the primary made under the shim differs from the native one \
             (\"primary\" below is the native tree, \"mirror\" the shimmed primary):\n{}",
            self.name,
            list.join("\n")
        );
    }

    /// Each of the `trees` (paths in the shim's primary whose times the program set, e.g. what
    /// `cp -a` copied) and every entry below must have the same modification time on the
    /// mirror. (A directory's time that merely follows from adding entries is not mirrored.)
    fn assert_mtimes_mirrored(&self, trees: &[&Path], when: &str) {
        let mut diffs = Vec::new();
        for rel in trees {
            let (p, m) = (self.shim.primary().join(rel), self.shim.mirror().join(rel));
            if mtime(&p) != mtime(&m) {
                diffs.push(format!("  {}: {:?} on the primary, {:?} on the mirror", p.display(), mtime(&p), mtime(&m)));
            }
            diffs.extend(mtime_differences(&p, &m));
        }
        assert!(diffs.is_empty(), "{}: after {when}, modification times differ:\n{}", self.name, diffs.join("\n"));
    }

    /// Like [`Workload::assert_mtimes_mirrored`] for a copy `tree` of the directory `source`
    /// (made by rsync, say): files must match, and so must each directory whose time on the
    /// primary is still its source's. rsync sets a directory's time from one process while
    /// another may still be adding entries; when that entry comes last, the directory keeps
    /// the entry's time on each copy (natively too), which no mirror can reproduce.
    fn assert_copy_mtimes_mirrored(&self, source: &Path, tree: &Path, when: &str) {
        fn walk(src: &Path, p: &Path, m: &Path, out: &mut Vec<String>) {
            let (a, b) = (fs::symlink_metadata(p).unwrap(), fs::symlink_metadata(m));
            let Ok(b) = b else {
                out.push(format!("  {}: missing on the mirror", p.display()));
                return;
            };
            let still_set = !a.is_dir() || fs::symlink_metadata(src).is_ok_and(|s| mtime_of(&s) == mtime_of(&a));
            if still_set && mtime_of(&a) != mtime_of(&b) {
                out.push(format!(
                    "  {}: {:?} on the primary, {:?} on the mirror",
                    p.display(),
                    mtime_of(&a),
                    mtime_of(&b)
                ));
            }
            if a.is_dir() {
                for name in sorted_names(p) {
                    walk(&src.join(&name), &p.join(&name), &m.join(&name), out);
                }
            }
        }
        let mut diffs = Vec::new();
        walk(source, &self.shim.primary().join(tree), &self.shim.mirror().join(tree), &mut diffs);
        assert!(diffs.is_empty(), "{}: after {when}, modification times differ:\n{}", self.name, diffs.join("\n"));
    }

    /// Prints the timing line.
    fn finish(self) {
        println!("{}: native {} ms, shim {} ms", self.name, self.native_time.as_millis(), self.shim_time.as_millis());
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The names in `dir`, sorted.
fn sorted_names(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name())
        .collect();
    names.sort();
    names
}

/// The number of entries below `dir` and the bytes of its regular files (not following symlinks).
fn tree_size(dir: &Path) -> (usize, u64) {
    let mut total = (0, 0);
    for name in sorted_names(dir) {
        let p = dir.join(name);
        let Ok(m) = fs::symlink_metadata(&p) else { continue };
        let (n, bytes) = if m.is_dir() { tree_size(&p) } else { (0, if m.is_file() { m.len() } else { 0 }) };
        total = (total.0 + 1 + n, total.1 + bytes);
    }
    total
}

/// Reads every regular file below `dir`, so that the first timed run does not also pay for
/// bringing the source into the page cache.
fn read_all(dir: &Path) {
    for name in sorted_names(dir) {
        let p = dir.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => read_all(&p),
            Ok(m) if m.is_file() => drop(fs::read(&p)),
            _ => {}
        }
    }
}

/// The number of entries below `dir` (not following symlinks).
fn count_entries(dir: &Path) -> usize {
    tree_size(dir).0
}

/// The entries below `primary` (not `primary` itself) whose modification time differs from
/// their namesake's below `mirror`.
fn mtime_differences(primary: &Path, mirror: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for name in sorted_names(primary) {
        let (p, m) = (primary.join(&name), mirror.join(&name));
        let (Ok(a), Ok(b)) = (fs::symlink_metadata(&p), fs::symlink_metadata(&m)) else {
            out.push(format!("  {}: missing on one side", p.display()));
            continue;
        };
        if (a.mtime(), a.mtime_nsec()) != (b.mtime(), b.mtime_nsec()) {
            out.push(format!(
                "  {}: {}.{:09} on the primary, {}.{:09} on the mirror",
                p.display(),
                a.mtime(),
                a.mtime_nsec(),
                b.mtime(),
                b.mtime_nsec()
            ));
        }
        if a.is_dir() && b.is_dir() {
            out.extend(mtime_differences(&p, &m));
        }
    }
    out
}

/// A modification time in whole seconds and nanoseconds.
fn mtime_of(m: &fs::Metadata) -> (i64, i64) {
    (m.mtime(), m.mtime_nsec())
}

/// `path`'s modification time in whole seconds and nanoseconds.
fn mtime(path: &Path) -> (i64, i64) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mtime(), m.mtime_nsec())
}

/// `len` reproducible, incompressible-looking bytes.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Real trees that together hold at least `min` entries, chosen among the `candidates` that
/// exist for the least work (bytes to copy plus a fixed cost per entry), and their total
/// number of entries.
fn real_trees(candidates: &[&str], min: usize) -> (Vec<PathBuf>, usize) {
    const ENTRY_COST: u64 = 16 * 1024;
    let sized: Vec<(PathBuf, usize, u64)> = candidates
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .map(|p| {
            let (n, bytes) = tree_size(&p);
            (p, n, bytes)
        })
        .collect();
    let mut best: Option<(u64, usize, u32)> = None;
    for mask in 1u32..(1 << sized.len()) {
        let chosen = sized.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0);
        let (n, cost) = chosen.fold((0, 0), |(n, c), (_, (_, en, by))| (n + en, c + by + *en as u64 * ENTRY_COST));
        if n >= min && !matches!(best, Some((c, _, _)) if c <= cost) {
            best = Some((cost, n, mask));
        }
    }
    let (_, n, mask) = best.unwrap_or_else(|| panic!("the trees {candidates:?} hold fewer than {min} entries"));
    let trees = sized.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, (p, _, _))| p).collect();
    (trees, n)
}

/// Runs `program args` natively (for checks that must not go through the shim).
fn native(program: impl AsRef<OsStr>, args: &[&dyn AsRef<OsStr>]) -> Outcome {
    let mut c = Command::new(program.as_ref());
    c.args(args).stdin(Stdio::null());
    for var in SCRUBBED_ENV {
        c.env_remove(var);
    }
    let out = c.output().unwrap_or_else(|e| panic!("cannot run {:?}: {e}", program.as_ref()));
    Outcome { status: out.status, stdout: out.stdout, stderr: out.stderr }
}

/// Like [`native`], and the program must succeed; returns its standard output.
fn native_ok(program: impl AsRef<OsStr>, args: &[&dyn AsRef<OsStr>]) -> String {
    let o = native(program.as_ref(), args);
    let words: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    assert!(
        o.success(),
        "{:?} {}: {}\n{}{}",
        program.as_ref(),
        words.join(" "),
        o.status_text(),
        o.stdout_text(),
        o.stderr_text()
    );
    o.stdout_text()
}

/// Directories of a Debian system that [`coreutils`] copies from: it takes the cheapest
/// combination holding 2,000 entries.
const REAL_TREES: [&str; 12] = [
    "/usr/include",
    "/usr/share/zoneinfo",
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/locale",
    "/usr/share/perl5",
    "/usr/share/X11",
    "/usr/share/mime",
    "/usr/share/i18n",
    "/usr/share/common-licenses",
    "/usr/share/terminfo",
    "/usr/lib/python3",
];

/// Copies, moves, links, truncates, patches and re-permissions a real tree of 2,000+ files
/// with the coreutils a shell script would use.
#[test]
fn coreutils() {
    let (sources, entries) = real_trees(&REAL_TREES, 2000);
    // Directories one level down in the copy, as (source, path inside the copy): one holding a
    // regular file (moved out), one moved, one removed.
    let subdirs: Vec<(PathBuf, PathBuf)> = sources
        .iter()
        .flat_map(|src| {
            let base = PathBuf::from(src.file_name().expect("a named directory"));
            sorted_names(src)
                .into_iter()
                .filter(|n| fs::symlink_metadata(src.join(n)).is_ok_and(|m| m.is_dir()))
                .map(move |n| (src.join(&n), base.join(n)))
        })
        .collect();
    let (holder, file) = subdirs
        .iter()
        .find_map(|(dir, rel)| {
            let f =
                sorted_names(dir).into_iter().find(|f| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()))?;
            Some((rel.clone(), f))
        })
        .expect("a subdirectory holding a regular file");
    let mut others = subdirs.iter().map(|(_, rel)| rel).filter(|rel| **rel != holder);
    let moved = others.next().expect("a second subdirectory").clone();
    let removed = others.next().expect("a third subdirectory").clone();
    let names: Vec<String> = sources.iter().map(|s| s.display().to_string()).collect();
    println!("coreutils: copying {} ({entries} entries)", names.join(", "));
    sources.iter().for_each(|s| read_all(s));

    let mut w = Workload::new("coreutils");
    w.prepare(|s| fs::write(s.cwd.join("pattern"), pattern(10_000, 1)));

    w.step(|s| cmd("mkdir", &[&s.tree.join("tree")]));
    w.step(|s| {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"-a"];
        args.extend(sources.iter().map(|p| p as &dyn AsRef<OsStr>));
        let dest = s.tree.join("tree");
        cmd("cp", &[args.as_slice(), &[&dest]].concat())
    });
    w.assert_mirrored("cp -a");
    let copies: Vec<PathBuf> =
        sources.iter().map(|s| Path::new("tree").join(s.file_name().unwrap_or_default())).collect();
    w.assert_mtimes_mirrored(&copies.iter().map(PathBuf::as_path).collect::<Vec<_>>(), "cp -a");
    assert_eq!(count_entries(&w.shim.mirror()), 1 + sources.len() + entries, "cp -a copies every entry of {names:?}");

    w.step(|s| cmd("mv", &[&s.tree.join("tree").join(&holder).join(&file), &s.tree.join("moved-file")]));
    w.step(|s| cmd("mv", &[&s.tree.join("tree").join(&moved), &s.tree.join("moved-dir")]));
    w.step(|s| cmd("rm", &[&"-r", &s.tree.join("tree").join(&removed)]));
    w.step(|s| cmd("mkdir", &[&"-p", &s.tree.join("new/a/b/c")]));
    w.step(|s| cmd("ln", &[&s.tree.join("moved-file"), &s.tree.join("new/hard")]));
    w.step(|s| cmd("ln", &[&"-s", &"../moved-file", &s.tree.join("new/soft")]));
    w.step(|s| cmd("ln", &[&"-s", &"new/a/b", &s.tree.join("dirlink")]));
    w.step(|s| cmd("truncate", &[&"-s", &"100000", &s.tree.join("new/sparse")]));
    w.step(|s| cmd("truncate", &[&"-s", &"10", &s.tree.join("moved-file")]));
    w.step(|s| {
        let of = s.tree.join("new/sparse");
        cmd(
            "dd",
            &[
                &s.cwd.join("pattern").with_prefix("if="),
                &of.with_prefix("of="),
                &"bs=1k",
                &"count=3",
                &"seek=4",
                &"conv=notrunc",
                &"status=none",
            ],
        )
    });
    w.step(|s| {
        let of = s.tree.join("new/hard");
        cmd(
            "dd",
            &[
                &s.cwd.join("pattern").with_prefix("if="),
                &of.with_prefix("of="),
                &"bs=1",
                &"count=5",
                &"seek=2",
                &"conv=notrunc",
                &"status=none",
            ],
        )
    });
    w.step(|s| cmd("install", &[&"-m", &"0640", &s.cwd.join("pattern"), &s.tree.join("new/a/b/c/installed")]));
    let teed = w.step(|s| {
        bash(
            r#"printf 'tee line\n' | tee -a "$1" "$2""#,
            &[&s.tree.join("new/a/b/c/installed"), &s.tree.join("new/teed")],
        )
    });
    assert_eq!(teed.same_stdout(), "tee line\n");
    w.step(|s| {
        cmd(
            "touch",
            &[
                &"-d",
                &"2020-01-02 03:04:05",
                &s.tree.join("new/hard"),
                &s.tree.join("new/a"),
                &s.tree.join("moved-dir"),
            ],
        )
        .env("TZ", "UTC")
    });
    w.step(|s| cmd("chmod", &[&"-R", &"go-rwx", &s.tree.join("moved-dir")]));
    w.step(|s| cmd("chmod", &[&"-R", &"g+w", &s.tree.join("tree")]));

    w.assert_mirrored("mv, rm -r, mkdir -p, ln, ln -s, truncate, dd, install, tee -a, touch -d, chmod -R");
    w.assert_like_native("the coreutils steps");
    let (p, m) = (w.shim.primary(), w.shim.mirror());
    for touched in ["new/hard", "new/a", "moved-dir"] {
        assert_eq!(mtime(&p.join(touched)), (TOUCHED, 0), "touch -d set {touched}'s time on the primary");
        assert_eq!(mtime(&m.join(touched)), (TOUCHED, 0), "touch -d set {touched}'s time on the mirror");
    }
    let sparse = fs::read(m.join("new/sparse")).expect("mirror's new/sparse");
    assert_eq!(sparse.len(), 100_000);
    assert_eq!(&sparse[4096..7168], &pattern(10_000, 1)[..3072], "dd seek=4 conv=notrunc on the mirror");
    let installed = fs::metadata(m.join("new/a/b/c/installed")).expect("mirror's installed file");
    assert_eq!(installed.mode() & 0o7777, 0o640);
    assert_eq!(installed.len(), 10_000 + 9, "install then tee -a");
    assert_eq!(fs::metadata(m.join("moved-file")).expect("mirror's moved-file").nlink(), 2);
    w.finish();
}

/// The script of [`bash_redirections`]: redirections of builtins and of external commands.
const BASH_SCRIPT: &str = r#"set -eu
cd "$1"
echo one > out
echo two >> out
printf 'three\n' >> out
{ echo to-stdout; echo to-stderr >&2; } > both 2>&1
echo appended-both >> both 2>&1
exec 4> fd4
echo via-fd4 >&4
date -u >&4
exec 4>&-
exec {named}> named-fd
echo "named descriptor" >&$named
exec {named}>&-
cat <<EOF > heredoc
line 1
line $((1 + 1))
EOF
cat <<'EOF' >> heredoc
$not_expanded
EOF
set -C
echo x > clobber
set +C
seq 1000 | sort -r > sorted
ls -l /usr > listing; date >> listing
{ echo a; ls /; } > group
exec 3> three
echo first >&3
seq 5 >&3
ls / >&3
exec 3>&-
exec 5<> rw
printf hello >&5
exec 5>&-
for i in $(seq 200); do echo "line $i" >> loop; done
: > loop-emptied-later
cp loop loop-emptied-later
: > loop-emptied-later
echo done
"#;

/// bash's own redirections: `>`, `>>`, `2>&1`, `exec N>`, here-documents, noclobber,
/// pipelines and external commands writing into redirected files.
#[test]
fn bash_redirections() {
    let mut w = Workload::new("bash");
    let ran = w.step(|s| bash(BASH_SCRIPT, &[&s.tree]));
    assert_eq!(ran.same_stdout(), "done\n");
    w.assert_mirrored("the redirection script");

    // noclobber refuses to overwrite, and the refusal leaves both copies alone.
    let refused = w.step(|s| bash(r#"set -C; echo y > "$1/clobber""#, &[&s.tree]).exits(1));
    assert!(
        refused.shim.stderr_text().contains("cannot overwrite existing file"),
        "noclobber's message: {}",
        refused.shim.stderr_text()
    );
    w.assert_mirrored("the refused noclobber redirection");
    w.step(|s| bash(r#"set -C; echo z >| "$1/clobber""#, &[&s.tree]));
    w.assert_mirrored(">| under noclobber");

    let (p, m) = (w.shim.primary(), w.shim.mirror());
    let read = |path: &Path| fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sorted: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    for root in [&p, &m] {
        assert_eq!(read(&root.join("out")), "one\ntwo\nthree\n");
        assert_eq!(read(&root.join("both")), "to-stdout\nto-stderr\nappended-both\n");
        assert_eq!(read(&root.join("heredoc")), "line 1\nline 2\n$not_expanded\n");
        assert_eq!(read(&root.join("clobber")), "z\n");
        assert_eq!(read(&root.join("sorted")), sorted.iter().map(|l| format!("{l}\n")).collect::<String>());
        assert_eq!(read(&root.join("named-fd")), "named descriptor\n");
        assert_eq!(read(&root.join("rw")), "hello");
        assert!(read(&root.join("three")).starts_with("first\n1\n2\n3\n4\n5\n"));
        assert!(read(&root.join("group")).starts_with("a\n"));
        assert_eq!(read(&root.join("loop")).lines().count(), 200);
        assert_eq!(read(&root.join("loop-emptied-later")), "");
    }
    w.finish();
}

/// An external program's error messages reach a redirected standard error on the mirror too:
/// coreutils write them with `error()` (inside libc, where no hook runs) and then close
/// standard error at exit with `fclose(stderr)`.
#[test]
fn bash_external_stderr_redirected() {
    let mut w = Workload::new("bash-stderr");
    // Relative names, so the messages are the same in the native and the shimmed run.
    let script = r#"cd "$1" || exit 1
ls missing 2> ls.err
cat missing > cat.both 2>&1
echo after >> cat.both
exit 0"#;
    w.step(|s| bash(script, &[&s.tree]));
    let err = fs::read_to_string(w.shim.primary().join("ls.err")).expect("ls.err");
    assert!(err.contains("No such file or directory"), "ls's message: {err}");
    w.assert_mirrored("ls and cat reporting errors into redirected files");
    w.assert_like_native("ls and cat reporting errors");
    w.finish();
}

/// Extracts a real gzip-compressed tarball (symlinks, many directories), extracts it again
/// over itself, and archives part of the result inside the tree.
#[test]
fn tar_extract() {
    let members: Vec<&str> =
        ["include/linux", "share/zoneinfo"].into_iter().filter(|m| Path::new("/usr").join(m).is_dir()).collect();
    assert!(!members.is_empty(), "no directory to archive under /usr");
    let mut w = Workload::new("tar");
    let tarball = w.shim.root().join("source.tgz");
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"-C", &"/usr", &"-czf", &tarball];
    args.extend(members.iter().map(|m| m as &dyn AsRef<OsStr>));
    native_ok(tool("tar"), &args);

    let member_paths: Vec<&Path> = members.iter().map(Path::new).collect();
    w.step(|s| cmd("tar", &[&"-C", &s.tree, &"-xzf", &tarball]));
    w.assert_mirrored("tar x");
    w.assert_mtimes_mirrored(&member_paths, "tar x");
    let entries = count_entries(&w.shim.mirror());
    assert!(entries >= 500, "the archive has {entries} entries on the mirror, expected at least 500");

    w.step(|s| cmd("tar", &[&"-C", &s.tree, &"-xzf", &tarball]));
    w.assert_mirrored("tar x over the extracted tree");
    w.assert_mtimes_mirrored(&member_paths, "tar x over the extracted tree");
    w.step(|s| cmd("tar", &[&"-C", &s.tree, &"-cf", &s.tree.join("again.tar"), &members[0]]));
    w.assert_mirrored("tar c into the tree");
    w.assert_like_native("the tar steps");
    let listed = native_ok(tool("tar"), &[&"-tf", &w.shim.mirror().join("again.tar")]);
    assert!(listed.lines().count() > 10, "the archive written through the shim lists its members:\n{listed}");
    w.finish();
}

/// Changes the rsync source between runs: appends to one file, patches the middle of another,
/// removes a third and adds a new one, stamping each changed file with `when` so rsync's
/// size-and-time check sees the change.
fn change_source(src: &Path, round: u32, when: SystemTime) -> io::Result<()> {
    let files: Vec<OsString> = sorted_names(src)
        .into_iter()
        .filter(|n| fs::metadata(src.join(n)).is_ok_and(|m| m.is_file() && m.len() > 2000))
        .collect();
    let pick = |i: usize| src.join(&files[(i + 3 * round as usize) % files.len()]);
    let appended = pick(0);
    let mut f = OpenOptions::new().append(true).open(&appended)?;
    f.write_all(&pattern(1500, round))?;
    f.set_modified(when)?;
    let patched = pick(1);
    let f = OpenOptions::new().write(true).open(&patched)?;
    f.write_all_at(&pattern(100, round + 10), 1000)?;
    f.set_modified(when)?;
    fs::remove_file(pick(2))?;
    let added = File::create(src.join(format!("added-{round}.bin")))?;
    added.write_all_at(&pattern(50_000, round + 20), 0)?;
    added.set_modified(when)?;
    Ok(())
}

/// rsync -a into an empty tree, then --inplace (patching files in place) after changing the
/// source, then the default (a temporary file renamed over each changed file) with --delete.
#[test]
fn rsync() {
    let mut w = Workload::new("rsync");
    let cp = tool("cp");
    w.prepare(|s| {
        let o = Command::new(&cp).arg("-a").arg("/usr/include/linux").arg(s.cwd.join("src")).output()?;
        o.status
            .success()
            .then_some(())
            .ok_or_else(|| io::Error::other(String::from_utf8_lossy(&o.stderr).into_owned()))
    });
    let copy_of_source = |w: &Workload, when: &str| {
        let s = w.shim_site();
        let diffs = compare_trees(&s.cwd.join("src"), &s.tree.join("r"));
        assert!(diffs.is_empty(), "after {when}, the rsync destination differs from its source: {diffs:?}");
    };

    w.step(|s| cmd("rsync", &[&"-a", &s.cwd.join("src/"), &s.tree.join("r")]));
    w.assert_mirrored("rsync -a");
    w.assert_copy_mtimes_mirrored(&w.shim_site().cwd.join("src"), Path::new("r"), "rsync -a");
    copy_of_source(&w, "rsync -a");

    let first = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    w.prepare(|s| change_source(&s.cwd.join("src"), 1, first));
    w.step(|s| cmd("rsync", &[&"-a", &"--inplace", &"--no-whole-file", &s.cwd.join("src/"), &s.tree.join("r")]));
    w.assert_mirrored("rsync --inplace");
    w.assert_copy_mtimes_mirrored(&w.shim_site().cwd.join("src"), Path::new("r"), "rsync --inplace");

    let second = first + Duration::from_secs(3600);
    w.prepare(|s| change_source(&s.cwd.join("src"), 2, second));
    w.step(|s| cmd("rsync", &[&"-a", &"--delete", &"--no-whole-file", &s.cwd.join("src/"), &s.tree.join("r")]));
    w.assert_mirrored("rsync with temporary files and --delete");
    w.assert_copy_mtimes_mirrored(
        &w.shim_site().cwd.join("src"),
        Path::new("r"),
        "rsync with temporary files and --delete",
    );
    copy_of_source(&w, "rsync --delete");
    w.assert_like_native("the rsync steps");
    w.finish();
}

/// The python3 script of [`python3`].
const PYTHON_SCRIPT: &str = r#"import os, shutil, subprocess, sys
p = sys.argv[1]
with open(os.path.join(p, "data.bin"), "wb") as f:
    f.write(b"a" * 10000)
    f.seek(5000)
    f.write(b"middle")
    f.seek(20000)
    f.write(b"end")
    f.truncate(15000)
with open(os.path.join(p, "data.bin"), "r+b") as f:
    f.seek(100)
    f.write(b"XYZ")
    f.flush()
    os.fsync(f.fileno())
fd = os.open(os.path.join(p, "raw"), os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, b"pwrite", 1000)
os.ftruncate(fd, 500)
os.write(fd, b"w")
os.close(fd)
tmp = os.path.join(p, "config.tmp")
with open(tmp, "w") as f:
    f.write("key = value\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, os.path.join(p, "config"))
with open(tmp, "w") as f:
    f.write("key = second value\n")
os.replace(tmp, os.path.join(p, "config"))
shutil.copytree("/usr/include/linux/netfilter", os.path.join(p, "tree"))
shutil.copytree(os.path.join(p, "tree"), os.path.join(p, "tree2"), symlinks=True)
shutil.rmtree(os.path.join(p, "tree2", "ipset"))
fd = os.open(os.path.join(p, "inherited"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"parent\n")
subprocess.run(["/bin/sh", "-c", f"echo child >&{fd}; ls / >&{fd}"], close_fds=True, pass_fds=[fd], check=True)
subprocess.run([sys.executable, "-c", f"import os; os.write({fd}, b'python child\\n')"],
               close_fds=True, pass_fds=[fd], check=True)
os.write(fd, b"parent again\n")
os.close(fd)
with open(os.path.join(p, "printed"), "w") as f:
    for i in range(1000):
        print(i, "line", file=f)
with open(os.path.join(p, "printed"), "a") as f:
    print("appended", file=f)
print("python done")
"#;

/// python3: file objects (write, seek, truncate), os-level pwrite and ftruncate, os.replace of
/// a temporary file, shutil.copytree and rmtree, subprocess children writing to an inherited
/// descriptor (close_fds=True with pass_fds), and print() to a file.
#[test]
fn python3() {
    let mut w = Workload::new("python3");
    w.prepare(|s| fs::write(s.cwd.join("script.py"), PYTHON_SCRIPT));
    let ran = w.step(|s| cmd("python3", &[&s.cwd.join("script.py"), &s.tree]));
    assert_eq!(ran.same_stdout(), "python done\n");
    w.assert_mirrored("the python3 script");
    w.assert_like_native("the python3 script");
    let m = w.shim.mirror();
    let inherited = fs::read_to_string(m.join("inherited")).expect("mirror's inherited");
    assert!(inherited.starts_with("parent\nchild\n"), "{inherited}");
    assert!(inherited.ends_with("python child\nparent again\n"), "{inherited}");
    assert_eq!(fs::read_to_string(m.join("config")).expect("mirror's config"), "key = second value\n");
    assert_eq!(fs::metadata(m.join("data.bin")).expect("mirror's data.bin").len(), 15_000);
    assert_eq!(fs::read_to_string(m.join("printed")).expect("mirror's printed").lines().count(), 1001);
    w.finish();
}

const SQL_BATCHES: usize = 20;
const SQL_BATCH_ROWS: usize = 250;
const SQL_AUTOCOMMIT_ROWS: usize = 200;

/// A script that sets the journal mode, inserts rows in transactions and one at a time,
/// updates and deletes some and builds an index.
fn sql_script(journal_mode: &str) -> String {
    let mut s = format!("PRAGMA journal_mode={journal_mode};\n");
    s.push_str("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v BLOB);\n");
    for b in 0..SQL_BATCHES {
        s.push_str("BEGIN;\n");
        for i in 0..SQL_BATCH_ROWS {
            s.push_str(&format!("INSERT INTO t(name, v) VALUES('row {b} {i}', zeroblob({}));\n", 50 + i % 100));
        }
        s.push_str("COMMIT;\n");
    }
    for i in 0..SQL_AUTOCOMMIT_ROWS {
        s.push_str(&format!("INSERT INTO t(name, v) VALUES('single {i}', zeroblob(10));\n"));
    }
    s.push_str("UPDATE t SET name = name || ' updated' WHERE id % 7 = 0;\n");
    s.push_str("DELETE FROM t WHERE id % 13 = 0;\n");
    s.push_str("CREATE INDEX t_name ON t(name);\n");
    s
}

/// sqlite3: thousands of inserts in transactions, one database in rollback-journal mode and
/// one in WAL mode; the mirror's databases pass PRAGMA integrity_check and hold every row.
#[test]
fn sqlite3() {
    let mut w = Workload::new("sqlite3");
    w.prepare(|s| {
        fs::write(s.cwd.join("rollback.sql"), sql_script("DELETE"))?;
        fs::write(s.cwd.join("wal.sql"), sql_script("WAL"))
    });
    let read = |s: &Site, name: &str| {
        let mut arg = OsString::from(".read ");
        arg.push(s.cwd.join(name));
        arg
    };
    let ran = w.step(|s| cmd("sqlite3", &[&s.tree.join("rollback.db"), &read(s, "rollback.sql")]));
    assert_eq!(ran.same_stdout(), "delete\n");
    w.assert_mirrored("the rollback-journal database");
    let ran = w.step(|s| cmd("sqlite3", &[&s.tree.join("wal.db"), &read(s, "wal.sql")]));
    assert_eq!(ran.same_stdout(), "wal\n");
    w.assert_mirrored("the WAL database");
    // A second session on each: more rows, then a count.
    for db in ["rollback.db", "wal.db"] {
        let ran = w.step(|s| {
            cmd(
                "sqlite3",
                &[
                    &s.tree.join(db),
                    &"BEGIN; INSERT INTO t(name) SELECT name || ' again' FROM t WHERE id <= 100; COMMIT; \
                      SELECT count(*) FROM t;",
                ],
            )
        });
        ran.same_stdout();
    }
    w.assert_mirrored("the second sessions");

    let rows = SQL_BATCHES * SQL_BATCH_ROWS + SQL_AUTOCOMMIT_ROWS;
    let expected = (rows - rows / 13 + 100 - 100 / 13).to_string();
    let sqlite = tool("sqlite3");
    for db in ["rollback.db", "wal.db"] {
        let (p, m) = (w.shim.primary().join(db), w.shim.mirror().join(db));
        assert_eq!(native_ok(&sqlite, &[&m, &"PRAGMA integrity_check"]), "ok\n", "integrity of the mirror's {db}");
        let count = |path: &Path| native_ok(&sqlite, &[&path, &"SELECT count(*) FROM t"]).trim().to_owned();
        assert_eq!(count(&p), expected, "rows in the primary's {db}");
        assert_eq!(count(&m), expected, "rows in the mirror's {db}");
        assert_eq!(count(&w.native.primary().join(db)), expected, "rows in the native run's {db}");
    }
    w.finish();
}

/// git: init, add, several commits, a rename and a removal, an annotated tag, a branch merged
/// back with a merge commit, and gc; the mirror's repository passes `git fsck --full` and has
/// the same history.
#[test]
fn git() {
    let mut w = Workload::new("git");
    let git = |s: &Site, args: &[&dyn AsRef<OsStr>]| {
        let repo = s.tree.join("repo");
        let mut all: Vec<&dyn AsRef<OsStr>> = vec![&"-C", &repo, &"-c", &"gc.autoDetach=false"];
        all.extend_from_slice(args);
        let mut c = cmd("git", &all);
        for (k, v) in [
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_AUTHOR_NAME", "MFS Test"),
            ("GIT_AUTHOR_EMAIL", "mfs@example.invalid"),
            ("GIT_COMMITTER_NAME", "MFS Test"),
            ("GIT_COMMITTER_EMAIL", "mfs@example.invalid"),
            ("GIT_AUTHOR_DATE", "2020-01-02T03:04:05Z"),
            ("GIT_COMMITTER_DATE", "2020-01-02T03:04:05Z"),
        ] {
            c = c.env(k, v);
        }
        c.env("HOME", &s.cwd)
    };
    w.step(|s| cmd("mkdir", &[&s.tree.join("repo")]));
    w.step(|s| git(s, &[&"init", &"-q", &"-b", &"main"]));
    for i in 1..=5 {
        let n = i.to_string();
        w.step(|s| {
            bash(
                r#"cd "$1" && mkdir -p "dir$2" && seq $(($2 * 100)) > "dir$2/numbers" && echo "commit $2" >> README &&
                   cp /usr/include/linux/input.h "dir$2/input.h""#,
                &[&s.tree.join("repo"), &n],
            )
        });
        w.step(|s| git(s, &[&"add", &"-A"]));
        w.step(|s| git(s, &[&"commit", &"-q", &"-m", &format!("commit {i}")]));
    }
    w.step(|s| git(s, &[&"mv", &"README", &"README.md"]));
    w.step(|s| git(s, &[&"rm", &"-q", &"dir1/numbers"]));
    w.step(|s| git(s, &[&"commit", &"-q", &"-m", &"rename and remove"]));
    w.step(|s| git(s, &[&"tag", &"-a", &"v1", &"-m", &"version 1"]));
    w.step(|s| git(s, &[&"checkout", &"-q", &"-b", &"feature"]));
    w.step(|s| bash(r#"echo feature > "$1/feature.txt""#, &[&s.tree.join("repo")]));
    w.step(|s| git(s, &[&"add", &"feature.txt"]));
    w.step(|s| git(s, &[&"commit", &"-q", &"-m", &"feature"]));
    w.step(|s| git(s, &[&"checkout", &"-q", &"main"]));
    w.step(|s| git(s, &[&"merge", &"-q", &"--no-ff", &"-m", &"merge feature", &"feature"]));
    w.step(|s| git(s, &[&"gc", &"-q"]));
    w.assert_mirrored("the git commands");

    let git_path = tool("git");
    let repo = |root: PathBuf| root.join("repo");
    let (p, m) = (repo(w.shim.primary()), repo(w.shim.mirror()));
    native_ok(&git_path, &[&"-C", &m, &"fsck", &"--full", &"--strict"]);
    let log = |r: &Path| native_ok(&git_path, &[&"-C", &r, &"log", &"--oneline", &"--all"]);
    let primary_log = log(&p);
    assert_eq!(primary_log.lines().count(), 8, "the primary's history:\n{primary_log}");
    assert_eq!(log(&m), primary_log, "the mirror's history");
    assert_eq!(log(&repo(w.native.primary())), primary_log, "the native run's history");
    let described = native_ok(&git_path, &[&"-C", &m, &"describe", &"--tags"]);
    assert!(described.starts_with("v1-2-g"), "the mirror's HEAD is two commits past tag v1: {described}");
    let status = native_ok(&git_path, &[&"-C", &m, &"status", &"--porcelain"]);
    assert_eq!(status, "", "the mirror's work tree matches its index");
    w.finish();
}

const CALC_H: &str = "#ifndef CALC_H\n#define CALC_H\nlong fib(int n);\nunsigned checksum(const char *s);\n#endif\n";
const FIB_C: &str = "#include \"calc.h\"\n\
long fib(int n) { long a = 0, b = 1; while (n-- > 0) { long t = a + b; a = b; b = t; } return a; }\n";
const CHECKSUM_C: &str = "#include \"calc.h\"\n\
unsigned checksum(const char *s)\n{\n    unsigned h = 2166136261u;\n\
    while (*s) { h ^= (unsigned char)*s++; h *= 16777619u; }\n    return h;\n}\n";
const MAIN_C: &str = "#include <stdio.h>\n#include \"calc.h\"\n\
int main(void)\n{\n    for (int i = 0; i <= 40; i += 10) printf(\"fib(%d) = %ld\\n\", i, fib(i));\n\
    printf(\"checksum = %08x\\n\", checksum(\"mirror file system\"));\n    return 0;\n}\n";
const MAKEFILE: &str = "CC = gcc\nCFLAGS = -O2 -Wall -Werror\nOBJS = main.o fib.o checksum.o\n\n\
calc: $(OBJS)\n\t$(CC) $(CFLAGS) -o $@ $(OBJS)\n\n%.o: %.c calc.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n";
const CALC_OUTPUT: &str = "fib(0) = 0\nfib(10) = 55\nfib(20) = 6765\nfib(30) = 832040\nfib(40) = 102334155\n";

/// A C build: the sources are copied into the primary, `make` runs gcc (cc1, as, ld) for three
/// objects and a program; after an edit, `make` rebuilds one object and relinks. The mirror's
/// program runs and prints what the primary's prints. Finally `make -j4` rebuilds everything
/// with every job appending to one log.
#[test]
fn make_and_gcc() {
    let mut w = Workload::new("make-gcc");
    w.prepare(|s| {
        let stage = s.cwd.join("stage");
        fs::create_dir(&stage)?;
        for (name, text) in [
            ("calc.h", CALC_H),
            ("fib.c", FIB_C),
            ("checksum.c", CHECKSUM_C),
            ("main.c", MAIN_C),
            ("Makefile", MAKEFILE),
        ] {
            fs::write(stage.join(name), text)?;
        }
        fs::write(s.cwd.join("main2.c"), MAIN_C.replace("checksum = ", "checksum now = "))
    });
    let run_calc = |root: PathBuf| native_ok(root.join("proj/calc"), &[]);
    let checksum = format!("checksum = {:08x}\n", fnv1a(b"mirror file system"));

    w.step(|s| cmd("cp", &[&"-r", &s.cwd.join("stage"), &s.tree.join("proj")]));
    w.step(|s| cmd("make", &[&"-s", &"-C", &s.tree.join("proj")]));
    w.assert_mirrored("make");
    assert_eq!(run_calc(w.shim.primary()), format!("{CALC_OUTPUT}{checksum}"), "the primary's program");
    assert_eq!(run_calc(w.shim.mirror()), format!("{CALC_OUTPUT}{checksum}"), "the mirror's program");

    // Make decides on modification times: push the edit's time past the objects'.
    w.step(|s| cmd("cp", &[&s.cwd.join("main2.c"), &s.tree.join("proj/main.c")]));
    w.step(|s| cmd("touch", &[&"-d", &"+1 hour", &s.tree.join("proj/main.c")]));
    w.step(|s| cmd("make", &[&"-s", &"-C", &s.tree.join("proj")]));
    w.assert_mirrored("the rebuild");
    let now = format!("{CALC_OUTPUT}{}", checksum.replace("checksum = ", "checksum now = "));
    assert_eq!(run_calc(w.shim.primary()), now, "the primary's rebuilt program");
    assert_eq!(run_calc(w.shim.mirror()), now, "the mirror's rebuilt program");
    assert_eq!(run_calc(w.native.primary()), now, "the natively built program");

    // Parallel jobs appending to one log through a shared open file description: make's
    // children (the shell, gcc, cc1, as, ld) all write to the same inherited descriptor.
    w.step(|s| {
        let script =
            "cd \"$1\" && make -B -j4 CFLAGS='-O2 -Wall -Werror -v' >> build.log 2>&1 && echo done >> build.log";
        cmd("bash", &[&"-c", &script, &"bash", &s.tree.join("proj")])
    });
    w.assert_mirrored("make -j4 appending to one log");
    let log = fs::read_to_string(w.shim.mirror().join("proj/build.log")).expect("the mirror's build log");
    assert!(log.contains("gcc version") && log.ends_with("done\n"), "the mirror's build log:\n{}", tail(&log, 5));
    w.finish();
}

/// The 32-bit FNV-1a hash `checksum.c` computes.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2_166_136_261u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(16_777_619))
}
