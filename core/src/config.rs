//! Configuration: the `MFS_MIRROR` shorthand, the TOML file named by `MFS_CONFIG`, defaults,
//! and validation. A configuration that passes [`Config::load`] names existing, non-overlapping
//! directories only.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Most copies (primary included) one pair may have.
pub const MAX_COPIES: usize = 8;

/// Environment variable with `PRIMARY:MIRROR[,PRIMARY:MIRROR...]` pairs.
pub const ENV_MIRROR: &str = "MFS_MIRROR";
/// Environment variable naming a TOML configuration file.
pub const ENV_CONFIG: &str = "MFS_CONFIG";
/// Environment variable naming the control daemon's socket.
pub const ENV_SOCKET: &str = "MFS_SOCKET";
/// Environment variable with the shim's log filter.
pub const ENV_LOG: &str = "MFS_LOG";
/// Environment variable naming the file the shim logs to.
pub const ENV_LOG_FILE: &str = "MFS_LOG_FILE";

/// How changes flow between the copies of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Equal peers: a change made through any copy's path reaches the others.
    TwoWay,
    /// Master and slave: only changes made through the primary are copied.
    OneWay,
    /// Active and passive: the program works on the primary, the mirror is kept level.
    Failover,
}

impl Mode {
    /// Whether a change made under copy `copy`'s root is mirrored to the others.
    pub fn mirrors_from(self, copy: usize) -> bool {
        copy == 0 || self == Mode::TwoWay
    }

    /// The spelling used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::TwoWay => "two-way",
            Mode::OneWay => "one-way",
            Mode::Failover => "failover",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "two-way" => Ok(Mode::TwoWay),
            "one-way" => Ok(Mode::OneWay),
            "failover" => Ok(Mode::Failover),
            _ => Err(ConfigError::Invalid(format!(
                "unknown mode {s:?}: expected \"two-way\", \"one-way\" or \"failover\""
            ))),
        }
    }
}

/// Which copy serves reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFrom {
    /// The copy the program opened.
    Primary,
    /// The first online mirror.
    Mirror,
}

/// What the program sees when a mirror fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMirrorError {
    /// The call returns the primary's result; the path is journaled.
    Degrade,
    /// The call fails with the mirror's error.
    Fail,
}

/// One validated pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Name used by mfsctl and in journal file names.
    pub name: String,
    /// Copies in order: the primary first, then the mirrors.
    pub copies: Vec<CopyRoot>,
    pub mode: Mode,
    pub read_from: ReadFrom,
    pub on_mirror_error: OnMirrorError,
    /// Failed attempts before a copy is treated as offline.
    pub retries: u32,
    /// Journal entries kept before falling back to a full resync.
    pub journal_limit: u64,
    /// The daemon probes a copy that failures took out of service and resynchronises it when
    /// it answers again.
    pub auto_online: bool,
}

/// One copy of a pair: its root as configured (normalised) and in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRoot {
    pub root: PathBuf,
    pub canonical: PathBuf,
}

impl Pair {
    /// The primary copy's configured root.
    pub fn primary(&self) -> &Path {
        &self.copies[0].root
    }
}

/// Daemon and state locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
}

/// A whole validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub daemon: Daemon,
    pub pairs: Vec<Pair>,
}

/// Everything that can be wrong with a configuration; each message names the problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}: {msg}")]
    Env { var: &'static str, msg: String },
    #[error("cannot read configuration file {path}: {msg}")]
    Read { path: PathBuf, msg: String },
    #[error("configuration file {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
}

/// The process facts defaults depend on; passed in so the rules stay testable.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub mirror: Option<OsString>,
    pub config: Option<OsString>,
    pub socket: Option<OsString>,
    pub xdg_runtime_dir: Option<OsString>,
    pub uid: u32,
}

impl Env {
    /// Reads the variables from the process environment.
    pub fn from_process(uid: u32) -> Self {
        Env {
            mirror: std::env::var_os(ENV_MIRROR),
            config: std::env::var_os(ENV_CONFIG),
            socket: std::env::var_os(ENV_SOCKET),
            xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR"),
            uid,
        }
    }

    /// True when neither `MFS_MIRROR` nor `MFS_CONFIG` asks for mirroring.
    pub fn is_unset(&self) -> bool {
        self.mirror.as_ref().is_none_or(|v| v.is_empty()) && self.config.as_ref().is_none_or(|v| v.is_empty())
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    pair: Vec<RawPair>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    name: Option<String>,
    primary: PathBuf,
    mirror: OneOrMany,
    mode: Option<Mode>,
    read_from: Option<ReadFrom>,
    on_mirror_error: Option<OnMirrorError>,
    retries: Option<u32>,
    journal_limit: Option<u64>,
    auto_online: Option<bool>,
}

impl RawPair {
    fn shorthand(primary: PathBuf, mirror: PathBuf) -> Self {
        RawPair {
            name: None,
            primary,
            mirror: OneOrMany::One(mirror),
            mode: None,
            read_from: None,
            on_mirror_error: None,
            retries: None,
            journal_limit: None,
            auto_online: None,
        }
    }
}

/// Default `retries`.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default `journal_limit`.
pub const DEFAULT_JOURNAL_LIMIT: u64 = 1_000_000;

/// The default socket path: `$XDG_RUNTIME_DIR/mfs/mfsd.sock`, else `/tmp/mfs-$UID/mfsd.sock`.
pub fn default_socket(env: &Env) -> PathBuf {
    match env.xdg_runtime_dir.as_ref().filter(|d| Path::new(d).is_absolute()) {
        Some(dir) => Path::new(dir).join("mfs").join("mfsd.sock"),
        None => PathBuf::from(format!("/tmp/mfs-{}", env.uid)).join("mfsd.sock"),
    }
}

/// Splits the `MFS_MIRROR` shorthand into (primary, mirror) pairs. A backslash escapes `:`,
/// `,` and `\`.
pub fn parse_mirror_spec(spec: &[u8]) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let mut pairs = Vec::new();
    let mut fields: Vec<Vec<u8>> = vec![Vec::new()];
    let mut items: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut bytes = spec.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(e @ (b':' | b',' | b'\\')) => fields.last_mut().expect("one field").push(e),
                Some(other) => {
                    return Err(format!(
                        "unknown escape \"\\{}\": only \\:, \\, and \\\\ are recognised",
                        other as char
                    ))
                }
                None => return Err("trailing backslash".into()),
            },
            b':' => fields.push(Vec::new()),
            b',' => items.push(std::mem::replace(&mut fields, vec![Vec::new()])),
            _ => fields.last_mut().expect("one field").push(b),
        }
    }
    items.push(fields);
    for item in items {
        if item.len() == 1 && item[0].is_empty() {
            continue; // tolerate a stray comma
        }
        let show = || String::from_utf8_lossy(&item.join(&b':')).into_owned();
        if item.len() != 2 {
            return Err(format!("{:?} is not PRIMARY:MIRROR (escape a ':' inside a path as \\:)", show()));
        }
        if item[0].is_empty() || item[1].is_empty() {
            return Err(format!("{:?} has an empty path", show()));
        }
        pairs.push((
            PathBuf::from(OsString::from_vec(item[0].clone())),
            PathBuf::from(OsString::from_vec(item[1].clone())),
        ));
    }
    if pairs.is_empty() {
        return Err("no PRIMARY:MIRROR pair given".into());
    }
    Ok(pairs)
}

impl Config {
    /// Builds and validates the configuration the environment asks for. `Ok(None)` when it
    /// asks for none.
    pub fn load(env: &Env) -> Result<Option<Config>, ConfigError> {
        if env.is_unset() {
            return Ok(None);
        }
        let mut raw = RawFile::default();
        if let Some(path) = env.config.as_ref().filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::Read { path: path.clone(), msg: e.to_string() })?;
            raw = parse_file(&text).map_err(|msg| ConfigError::Parse { path, msg })?;
        }
        if let Some(spec) = env.mirror.as_ref().filter(|m| !m.is_empty()) {
            let pairs = parse_mirror_spec(spec.as_bytes()).map_err(|msg| ConfigError::Env { var: ENV_MIRROR, msg })?;
            raw.pair.extend(pairs.into_iter().map(|(p, m)| RawPair::shorthand(p, m)));
        }
        build(raw, env).map(Some)
    }

    /// Parses and validates configuration text (as found in a file), with `env` for defaults.
    pub fn from_toml(text: &str, env: &Env) -> Result<Config, ConfigError> {
        let raw = parse_file(text).map_err(|msg| ConfigError::Parse { path: "<text>".into(), msg })?;
        build(raw, env)
    }

    /// The pair with this name.
    pub fn pair(&self, name: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.name == name)
    }
}

fn parse_file(text: &str) -> Result<RawFile, String> {
    // One line: the shim reports a bad configuration as exactly one line on stderr.
    toml::from_str(text)
        .map_err(|e| e.message().split_whitespace().collect::<Vec<_>>().join(" ") + &span_hint(text, e.span()))
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

fn build(raw: RawFile, env: &Env) -> Result<Config, ConfigError> {
    let socket = match (&env.socket, raw.daemon.socket) {
        (Some(s), _) if !s.is_empty() => PathBuf::from(s),
        (_, Some(s)) => s,
        _ => default_socket(env),
    };
    if !socket.is_absolute() {
        return Err(ConfigError::Invalid(format!("daemon socket {} must be an absolute path", socket.display())));
    }
    let state_dir = match raw.daemon.state_dir {
        Some(d) => d,
        None => socket.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/")),
    };
    if !state_dir.is_absolute() {
        return Err(ConfigError::Invalid(format!("state_dir {} must be an absolute path", state_dir.display())));
    }
    if raw.pair.is_empty() {
        return Err(ConfigError::Invalid("no [[pair]] configured".into()));
    }
    let mut pairs = Vec::with_capacity(raw.pair.len());
    for rp in raw.pair {
        pairs.push(build_pair(rp)?);
    }
    name_pairs(&mut pairs)?;
    check_overlaps(&pairs)?;
    Ok(Config { daemon: Daemon { socket, state_dir }, pairs })
}

fn build_pair(rp: RawPair) -> Result<Pair, ConfigError> {
    let mirrors = match rp.mirror {
        OneOrMany::One(m) => vec![m],
        OneOrMany::Many(ms) => ms,
    };
    if mirrors.is_empty() {
        return Err(ConfigError::Invalid(format!("pair with primary {} has no mirror", rp.primary.display())));
    }
    if mirrors.len() + 1 > MAX_COPIES {
        return Err(ConfigError::Invalid(format!(
            "pair with primary {} has {} mirrors; at most {} are supported",
            rp.primary.display(),
            mirrors.len(),
            MAX_COPIES - 1
        )));
    }
    let mut copies = Vec::with_capacity(mirrors.len() + 1);
    copies.push(check_root("primary", &rp.primary)?);
    for m in &mirrors {
        copies.push(check_root("mirror", m)?);
    }
    for (i, a) in copies.iter().enumerate() {
        for b in &copies[i + 1..] {
            if roots_overlap(a, b) {
                let what = if a.canonical == b.canonical { "is the same directory as" } else { "overlaps" };
                return Err(ConfigError::Invalid(format!(
                    "{} {what} {}: a mirror may not be inside its primary, nor the primary inside a mirror",
                    b.root.display(),
                    a.root.display()
                )));
            }
        }
    }
    let retries = rp.retries.unwrap_or(DEFAULT_RETRIES);
    if retries == 0 {
        return Err(ConfigError::Invalid(format!("pair {}: retries must be at least 1", rp.primary.display())));
    }
    let journal_limit = rp.journal_limit.unwrap_or(DEFAULT_JOURNAL_LIMIT);
    if journal_limit == 0 {
        return Err(ConfigError::Invalid(format!("pair {}: journal_limit must be at least 1", rp.primary.display())));
    }
    if let Some(name) = &rp.name {
        check_name(name)?;
    }
    Ok(Pair {
        name: rp.name.unwrap_or_default(),
        copies,
        mode: rp.mode.unwrap_or(Mode::TwoWay),
        read_from: rp.read_from.unwrap_or(ReadFrom::Primary),
        on_mirror_error: rp.on_mirror_error.unwrap_or(OnMirrorError::Degrade),
        retries,
        journal_limit,
        auto_online: rp.auto_online.unwrap_or(true),
    })
}

fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "pair name {name:?} is not valid: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// Gives unnamed pairs a name derived from the primary's last component, unique in the set.
fn name_pairs(pairs: &mut [Pair]) -> Result<(), ConfigError> {
    for i in 0..pairs.len() {
        if !pairs[i].name.is_empty() {
            if pairs[..i].iter().any(|p| p.name == pairs[i].name) {
                return Err(ConfigError::Invalid(format!("two pairs are named {:?}", pairs[i].name)));
            }
            continue;
        }
        let base = derive_name(pairs[i].primary());
        let mut name = base.clone();
        let mut n = 2;
        while pairs.iter().any(|p| p.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        pairs[i].name = name;
    }
    Ok(())
}

/// A pair name from a primary path: its last component, with other bytes replaced by '_'.
pub fn derive_name(primary: &Path) -> String {
    let last = primary.file_name().map(|n| n.as_bytes()).unwrap_or(b"root");
    let mut name: String = last
        .iter()
        .map(|&b| if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' { b as char } else { '_' })
        .collect();
    name = name.trim_start_matches('.').chars().take(64).collect();
    if name.is_empty() {
        name = "root".into();
    }
    name
}

fn check_root(what: &str, path: &Path) -> Result<CopyRoot, ConfigError> {
    if !path.is_absolute() {
        return Err(ConfigError::Invalid(format!("{what} {} must be an absolute path", path.display())));
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        ConfigError::Invalid(format!(
            "{what} {} {}",
            path.display(),
            match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist".to_string(),
                _ => format!("cannot be read: {e}"),
            }
        ))
    })?;
    if !meta.is_dir() {
        return Err(ConfigError::Invalid(format!("{what} {} is not a directory", path.display())));
    }
    let root = crate::path::AbsPath::resolve(b"/", path.as_os_str().as_bytes())
        .map_err(|_| ConfigError::Invalid(format!("{what} {} is too long", path.display())))?;
    let root = PathBuf::from(OsString::from_vec(root.as_bytes().to_vec()));
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| ConfigError::Invalid(format!("{what} {} cannot be resolved: {e}", path.display())))?;
    Ok(CopyRoot { root, canonical })
}

fn roots_overlap(a: &CopyRoot, b: &CopyRoot) -> bool {
    use crate::path::overlaps;
    let (ar, ac) = (a.root.as_os_str().as_bytes(), a.canonical.as_os_str().as_bytes());
    let (br, bc) = (b.root.as_os_str().as_bytes(), b.canonical.as_os_str().as_bytes());
    overlaps(ac, bc) || overlaps(ar, br)
}

fn check_overlaps(pairs: &[Pair]) -> Result<(), ConfigError> {
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            for ca in &a.copies {
                for cb in &b.copies {
                    if roots_overlap(ca, cb) {
                        return Err(ConfigError::Invalid(format!(
                            "pairs {:?} and {:?} overlap: {} and {}",
                            a.name,
                            b.name,
                            ca.root.display(),
                            cb.root.display()
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p = std::env::temp_dir().join(format!("mfs-core-cfg-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
        fn dir(&self, rel: &str) -> PathBuf {
            let p = self.0.join(rel);
            fs::create_dir_all(&p).unwrap();
            p
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn env_mirror(spec: &str) -> Env {
        Env { mirror: Some(spec.into()), uid: 1000, ..Env::default() }
    }

    fn err(env: &Env) -> String {
        Config::load(env).unwrap_err().to_string()
    }

    #[test]
    fn unset_means_no_config() {
        assert_eq!(Config::load(&Env::default()).unwrap(), None);
        assert_eq!(Config::load(&Env { mirror: Some("".into()), ..Env::default() }).unwrap(), None);
    }

    #[test]
    fn shorthand_parses_and_escapes() {
        let p = parse_mirror_spec(b"/a:/b,/c\\:d:/e\\,f,/g\\\\h:/i").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[1], (PathBuf::from("/c:d"), PathBuf::from("/e,f")));
        assert_eq!(p[2].0, PathBuf::from("/g\\h"));
        assert!(parse_mirror_spec(b"/a").unwrap_err().contains("PRIMARY:MIRROR"));
        assert!(parse_mirror_spec(b"/a:/b:/c").is_err());
        assert!(parse_mirror_spec(b"/a:").unwrap_err().contains("empty"));
        assert!(parse_mirror_spec(b"/a\\x:/b").unwrap_err().contains("escape"));
        assert!(parse_mirror_spec(b"/a:/b\\").unwrap_err().contains("trailing"));
        assert!(parse_mirror_spec(b",").is_err());
    }

    #[test]
    fn valid_shorthand_gets_defaults() {
        let t = Tmp::new("ok");
        let (a, b) = (t.dir("a"), t.dir("b"));
        let env = env_mirror(&format!("{}:{}", a.display(), b.display()));
        let cfg = Config::load(&env).unwrap().unwrap();
        assert_eq!(cfg.pairs.len(), 1);
        let p = &cfg.pairs[0];
        assert_eq!(p.name, "a");
        assert_eq!(p.mode, Mode::TwoWay);
        assert_eq!(p.read_from, ReadFrom::Primary);
        assert_eq!(p.on_mirror_error, OnMirrorError::Degrade);
        assert_eq!(p.retries, 3);
        assert_eq!(p.journal_limit, 1_000_000);
        assert!(p.auto_online);
        assert_eq!(cfg.daemon.socket, PathBuf::from("/tmp/mfs-1000/mfsd.sock"));
        assert_eq!(cfg.daemon.state_dir, PathBuf::from("/tmp/mfs-1000"));
    }

    #[test]
    fn xdg_runtime_dir_and_socket_override() {
        let t = Tmp::new("xdg");
        let (a, b) = (t.dir("a"), t.dir("b"));
        let mut env = env_mirror(&format!("{}:{}", a.display(), b.display()));
        env.xdg_runtime_dir = Some("/run/user/7".into());
        let cfg = Config::load(&env).unwrap().unwrap();
        assert_eq!(cfg.daemon.socket, PathBuf::from("/run/user/7/mfs/mfsd.sock"));
        env.socket = Some("/x/y.sock".into());
        let cfg = Config::load(&env).unwrap().unwrap();
        assert_eq!(cfg.daemon.socket, PathBuf::from("/x/y.sock"));
        assert_eq!(cfg.daemon.state_dir, PathBuf::from("/x"));
    }

    #[test]
    fn missing_and_non_directory_roots_are_refused() {
        let t = Tmp::new("missing");
        let a = t.dir("a");
        let e = err(&env_mirror(&format!("{}:{}/nope", a.display(), t.0.display())));
        assert!(e.contains("does not exist"), "{e}");
        fs::write(t.0.join("file"), b"x").unwrap();
        let e = err(&env_mirror(&format!("{}:{}/file", a.display(), t.0.display())));
        assert!(e.contains("is not a directory"), "{e}");
        let e = err(&env_mirror(&format!("relative:{}", a.display())));
        assert!(e.contains("absolute"), "{e}");
        let e = err(&env_mirror(&format!("{}/nope:{}", t.0.display(), a.display())));
        assert!(e.contains("primary") && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn nested_roots_are_refused() {
        let t = Tmp::new("nested");
        let a = t.dir("a");
        let inner = t.dir("a/inner");
        let e = err(&env_mirror(&format!("{}:{}", a.display(), inner.display())));
        assert!(e.contains("inside"), "{e}");
        let e = err(&env_mirror(&format!("{}:{}", inner.display(), a.display())));
        assert!(e.contains("inside"), "{e}");
        let e = err(&env_mirror(&format!("{}:{}", a.display(), a.display())));
        assert!(e.contains("same directory"), "{e}");
    }

    #[test]
    fn nesting_through_a_symlink_is_refused() {
        let t = Tmp::new("symnest");
        let a = t.dir("a");
        t.dir("a/inner");
        std::os::unix::fs::symlink(a.join("inner"), t.0.join("link")).unwrap();
        let e = err(&env_mirror(&format!("{}:{}/link", a.display(), t.0.display())));
        assert!(e.contains("inside"), "{e}");
    }

    #[test]
    fn overlapping_pairs_are_refused() {
        let t = Tmp::new("overlap");
        let (a, b, c, d) = (t.dir("a"), t.dir("b"), t.dir("c"), t.dir("a/sub"));
        let e = err(&env_mirror(&format!("{}:{},{}:{}", a.display(), b.display(), d.display(), c.display())));
        assert!(e.contains("overlap"), "{e}");
        let e = err(&env_mirror(&format!("{}:{},{}:{}", a.display(), b.display(), c.display(), b.display())));
        assert!(e.contains("overlap"), "{e}");
        // Disjoint pairs are fine and get distinct names.
        let x = t.dir("x/a");
        let y = t.dir("y");
        let cfg =
            Config::load(&env_mirror(&format!("{}:{},{}:{}", a.display(), b.display(), x.display(), y.display())))
                .unwrap()
                .unwrap();
        assert_eq!(cfg.pairs[0].name, "a");
        assert_eq!(cfg.pairs[1].name, "a-2");
    }

    #[test]
    fn toml_file_is_parsed_and_checked() {
        let t = Tmp::new("toml");
        let (a, b, c) = (t.dir("a"), t.dir("b"), t.dir("c"));
        let text = format!(
            "[daemon]\nsocket = \"/s/mfsd.sock\"\nstate_dir = \"/var/lib/mfs\"\n\n[[pair]]\nname = \"data\"\nprimary = \"{}\"\nmirror = [\"{}\", \"{}\"]\nmode = \"one-way\"\nread_from = \"mirror\"\non_mirror_error = \"fail\"\nretries = 5\njournal_limit = 10\nauto_online = false\n",
            a.display(),
            b.display(),
            c.display()
        );
        let cfg_path = t.0.join("mfs.toml");
        fs::write(&cfg_path, &text).unwrap();
        let env = Env { config: Some(cfg_path.clone().into()), uid: 1, ..Env::default() };
        let cfg = Config::load(&env).unwrap().unwrap();
        let p = cfg.pair("data").unwrap();
        assert_eq!(p.copies.len(), 3);
        assert_eq!(p.mode, Mode::OneWay);
        assert_eq!(p.read_from, ReadFrom::Mirror);
        assert_eq!(p.on_mirror_error, OnMirrorError::Fail);
        assert_eq!((p.retries, p.journal_limit, p.auto_online), (5, 10, false));
        assert_eq!(cfg.daemon.state_dir, PathBuf::from("/var/lib/mfs"));

        for (bad, want) in [
            ("[[pair]]\nprimary = \"/a\"\nmirror = \"/b\"\nmode = \"sideways\"\n", "unknown variant"),
            ("[[pair]]\nprimary = \"/a\"\nmirror = \"/b\"\ncolour = 1\n", "unknown field"),
            ("[[pair]]\nprimary = \"/a\"\n", "missing field"),
            ("[daemon]\nsocket = \"rel\"\n[[pair]]\nprimary = \"/a\"\nmirror = \"/b\"\n", "absolute"),
            ("", "no [[pair]]"),
        ] {
            fs::write(&cfg_path, bad).unwrap();
            let e = err(&env);
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        let e = err(&Env { config: Some(t.0.join("absent.toml").into()), ..Env::default() });
        assert!(e.contains("cannot read configuration file"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let t = Tmp::new("values");
        let (a, b) = (t.dir("a"), t.dir("b"));
        let base = format!("[[pair]]\nprimary = \"{}\"\nmirror = \"{}\"\n", a.display(), b.display());
        let env = Env::default();
        for (extra, want) in [
            ("retries = 0\n", "retries"),
            ("journal_limit = 0\n", "journal_limit"),
            ("name = \"bad name\"\n", "not valid"),
        ] {
            let e = Config::from_toml(&(base.clone() + extra), &env).unwrap_err().to_string();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
        let twice = format!(
            "{base}name = \"x\"\n[[pair]]\nname = \"x\"\nprimary = \"/nonexistent-a\"\nmirror = \"/nonexistent-b\"\n"
        );
        assert!(Config::from_toml(&twice, &env).is_err());
        let empty = format!("[[pair]]\nprimary = \"{}\"\nmirror = []\n", a.display());
        assert!(Config::from_toml(&empty, &env).unwrap_err().to_string().contains("no mirror"));
    }

    #[test]
    fn names_are_derived() {
        assert_eq!(derive_name(Path::new("/srv/data")), "data");
        assert_eq!(derive_name(Path::new("/")), "root");
        assert_eq!(derive_name(Path::new("/srv/my dir")), "my_dir");
        assert_eq!(derive_name(Path::new("/srv/.hidden")), "hidden");
    }

    #[test]
    fn mode_directions() {
        assert!(Mode::TwoWay.mirrors_from(1));
        assert!(!Mode::OneWay.mirrors_from(1));
        assert!(Mode::OneWay.mirrors_from(0));
        assert!(!Mode::Failover.mirrors_from(1));
        assert_eq!("one-way".parse::<Mode>().unwrap(), Mode::OneWay);
        assert!("x".parse::<Mode>().is_err());
    }
}
