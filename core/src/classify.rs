//! Which pair, copy and relative path a normalised absolute path belongs to.

use std::os::unix::ffi::OsStrExt;

use crate::config::Config;
use crate::path::{common_prefix, has_dotdot_from, is_strict_ancestor, strip_root};

/// One root the classifier matches: a copy's root as configured or in canonical form.
#[derive(Debug, Clone)]
struct Root {
    pair: usize,
    copy: usize,
    path: Box<[u8]>,
}

/// A path that lies in a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    /// Index of the pair in the configuration.
    pub pair: usize,
    /// Which copy's tree the path is in (0 = primary).
    pub copy: usize,
    /// Path relative to that copy's root; empty for the root itself.
    pub rel: &'a [u8],
}

/// Matches paths against every root a change can originate from: the primary of every pair,
/// and in two-way pairs the mirrors too. Roots never overlap (the configuration refuses it),
/// so at most one matches.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    roots: Vec<Root>,
    /// False when there are no roots or a root is `/` itself, which every path is in:
    /// [`Classifier::surely_outside`] then never answers.
    fast: bool,
    /// Length of the prefix every root shares (at least the leading `/`).
    shared: usize,
    /// The bytes roots have right after the shared prefix, as a 256-bit set (all bits set
    /// when a root ends there): a path with another byte there parts from all roots at once.
    next: [u64; 4],
}

impl Classifier {
    pub fn new(cfg: &Config) -> Self {
        let mut roots = Vec::new();
        for (pi, pair) in cfg.pairs.iter().enumerate() {
            for (ci, copy) in pair.copies.iter().enumerate() {
                if !pair.mode.mirrors_from(ci) {
                    continue;
                }
                let lexical = copy.root.as_os_str().as_bytes();
                let canonical = copy.canonical.as_os_str().as_bytes();
                roots.push(Root { pair: pi, copy: ci, path: lexical.into() });
                if canonical != lexical {
                    roots.push(Root { pair: pi, copy: ci, path: canonical.into() });
                }
            }
        }
        Classifier::of_roots(roots)
    }

    fn of_roots(roots: Vec<Root>) -> Classifier {
        let fast = !roots.is_empty() && roots.iter().all(|r| r.path.len() > 1);
        let shared = roots.iter().map(|r| common_prefix(&r.path, &roots[0].path)).min().unwrap_or(0);
        let mut next = [0u64; 4];
        for r in &roots {
            match r.path.get(shared) {
                Some(&b) => next[usize::from(b >> 6)] |= 1 << (b & 63),
                None => next = [u64::MAX; 4],
            }
        }
        Classifier { roots, fast, shared, next }
    }

    /// The fast test every absolute path a hook receives goes through first: true only when
    /// `p`, as the program spelt it, certainly lies outside every root and above none. False
    /// means "look closer" (normalise and [`Classifier::locate`]).
    ///
    /// For each root, `p` and the root share a prefix and part inside some component of `p`.
    /// The shared prefix is the root's, so it is in normal form; when the component where they
    /// part is a name (not empty, `.` or `..`) and no `..` follows, normalising `p` keeps that
    /// component, which differs from the root's: `p` is neither in the root nor above it.
    /// Costs one word-wise comparison per root and one scan of the tail for `..`.
    #[inline(always)]
    pub fn surely_outside(&self, p: &[u8]) -> bool {
        if !self.fast || p.first() != Some(&b'/') {
            return false;
        }
        match self.parting(p) {
            Some(tail) => !has_dotdot_from(p, tail),
            None => false,
        }
    }

    /// Where the component of `p` that parts from every root starts (the earliest over the
    /// roots), or `None` when `p` is at, below or above a root or the parting component is not
    /// a name. Roots share their first `shared` bytes: a path that parts within them, or right
    /// after them with a byte no root has there, parts from all of them at the same place and
    /// is compared once.
    #[inline(always)]
    fn parting(&self, p: &[u8]) -> Option<usize> {
        let shared = self.shared;
        let first = &*self.roots[0].path;
        let m = common_prefix(p, &first[..shared]);
        let parts_from_all = match p.get(m) {
            _ if m < shared => true,
            Some(&b) => self.next[usize::from(b >> 6)] & (1 << (b & 63)) == 0,
            None => false,
        };
        if parts_from_all {
            return parting_component(p, first, m);
        }
        let mut tail = p.len();
        for r in &self.roots {
            let root = &*r.path;
            let m = shared + common_prefix(&p[shared..], &root[shared..]);
            tail = tail.min(parting_component(p, root, m)?);
        }
        Some(tail)
    }

    /// The prefix every root shares and the set of bytes roots have right after it (all bits
    /// set when a root ends there); `None` when the fast tests are off.
    pub fn shared_prefix(&self) -> Option<(&[u8], [u64; 4])> {
        self.fast.then(|| (&self.roots[0].path[..self.shared], self.next))
    }

    /// A classifier for the given roots, two per pair, all of them origins (for tests of
    /// path logic, which needs no existing directories).
    #[cfg(test)]
    pub(crate) fn for_roots(paths: &[&str]) -> Classifier {
        let roots = paths
            .iter()
            .enumerate()
            .map(|(i, p)| Root { pair: i / 2, copy: i % 2, path: p.as_bytes().into() })
            .collect();
        Classifier::of_roots(roots)
    }

    /// True when there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The pair, copy and relative path of `abs`, when it lies under a root.
    pub fn classify<'a>(&self, abs: &'a [u8]) -> Option<Hit<'a>> {
        self.roots.iter().find_map(|r| strip_root(abs, &r.path).map(|rel| Hit { pair: r.pair, copy: r.copy, rel }))
    }

    /// Where a normalised absolute path lies, in one pass over the roots: in a pair (`Ok`), or
    /// outside every pair, with `Err(true)` when it is a strict ancestor of some root.
    #[inline]
    pub fn locate<'a>(&self, abs: &'a [u8]) -> Result<Hit<'a>, bool> {
        let mut ancestor = false;
        for r in &self.roots {
            let (root, n) = (&*r.path, abs.len());
            if n >= root.len() {
                if let Some(rel) = strip_root(abs, root) {
                    return Ok(Hit { pair: r.pair, copy: r.copy, rel });
                }
            } else if !ancestor {
                ancestor = is_strict_ancestor(abs, root);
            }
        }
        Err(ancestor)
    }

    /// True when `abs` is a strict ancestor of some root: a path below it may lead into a pair.
    pub fn is_ancestor(&self, abs: &[u8]) -> bool {
        self.roots.iter().any(|r| is_strict_ancestor(abs, &r.path))
    }
}

/// For a path and a root whose common prefix is `m` bytes long: the start of the component of
/// `p` where they part, or `None` when `p` is the root, below it or above it, or that component
/// is empty or `.` (it would not survive normalisation).
#[inline(always)]
fn parting_component(p: &[u8], root: &[u8], m: usize) -> Option<usize> {
    if m == root.len() {
        if m == p.len() || p[m] == b'/' {
            return None; // the root or below it
        }
    } else if m == p.len() && (root[m] == b'/' || p[m - 1] == b'/') {
        return None; // above the root
    }
    // p[..m] == root[..m] and both start with '/': the component where they part starts
    // after the last slash of the shared prefix.
    let mut s = m;
    while p[s - 1] != b'/' {
        s -= 1;
    }
    match p.get(s) {
        None | Some(b'/') => None,
        Some(b'.') if matches!(p.get(s + 1), None | Some(b'/')) => None,
        _ => Some(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Env};
    use crate::path::AbsPath;
    use std::fs;
    use std::path::PathBuf;

    fn setup(tag: &str, mode: &str) -> (PathBuf, Classifier) {
        let t = std::env::temp_dir().join(format!("mfs-core-cls-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        fs::create_dir_all(t.join("real/a")).unwrap();
        fs::create_dir_all(t.join("b")).unwrap();
        std::os::unix::fs::symlink(t.join("real"), t.join("alias")).unwrap();
        let text = format!("[[pair]]\nprimary = \"{0}/alias/a\"\nmirror = \"{0}/b\"\nmode = \"{mode}\"\n", t.display());
        let cfg = Config::from_toml(&text, &Env::default()).unwrap();
        (t, Classifier::new(&cfg))
    }

    fn abs(base: &std::path::Path, p: &str) -> AbsPath {
        AbsPath::resolve(base.as_os_str().as_bytes(), p.as_bytes()).unwrap()
    }

    #[test]
    fn configured_and_canonical_roots_match() {
        let (t, c) = setup("roots", "two-way");
        let p = abs(&t, "alias/a/x/y");
        assert_eq!(c.classify(p.as_bytes()), Some(Hit { pair: 0, copy: 0, rel: b"x/y" }));
        let p = abs(&t, "real/a/x");
        assert_eq!(c.classify(p.as_bytes()).map(|h| h.rel), Some(&b"x"[..]));
        let p = abs(&t, "alias/a");
        assert_eq!(c.classify(p.as_bytes()).map(|h| h.rel), Some(&b""[..]));
        // Relative paths with `..` are classified after normalisation.
        let sub = t.join("alias/a/sub");
        let p = abs(&sub, "../../a/f");
        assert_eq!(c.classify(p.as_bytes()).map(|h| h.rel), Some(&b"f"[..]));
        let p = abs(&sub, "../../../b/f");
        assert_eq!(c.classify(p.as_bytes()).map(|h| (h.copy, h.rel)), Some((1, &b"f"[..])));
        let p = abs(&t, "alias/ab");
        assert_eq!(c.classify(p.as_bytes()), None);
        assert!(c.is_ancestor(abs(&t, "alias").as_bytes()));
        assert!(c.is_ancestor(b"/"));
        assert!(!c.is_ancestor(abs(&t, "alias/a").as_bytes()));
        assert!(!c.is_ancestor(abs(&t, "elsewhere").as_bytes()));
        fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn dirfd_bases_and_cwd_changes() {
        // An *at call resolves against the directory fd's path, a plain relative path against
        // the current directory; both go through the same normalisation.
        let (t, c) = setup("bases", "two-way");
        let inside = t.join("alias/a/sub");
        let outside = t.join("elsewhere");
        // dirfd inside the pair
        assert_eq!(c.classify(abs(&inside, "f").as_bytes()).map(|h| h.rel), Some(&b"sub/f"[..]));
        // dirfd outside, reaching in through `..`
        assert_eq!(c.classify(abs(&outside, "../alias/a/g").as_bytes()).map(|h| h.rel), Some(&b"g"[..]));
        // dirfd "/" (rsync's receiver), walking down
        let root = PathBuf::from("/");
        let p = format!("{}/f", t.join("real/a").display());
        assert_eq!(c.classify(abs(&root, &p[1..]).as_bytes()).map(|h| h.rel), Some(&b"f"[..]));
        // cwd changes: the same relative name lands in or out of the pair
        let mut cwd = outside.clone();
        assert_eq!(c.classify(abs(&cwd, "x").as_bytes()), None);
        cwd = t.join("alias/a");
        assert_eq!(c.classify(abs(&cwd, "x").as_bytes()).map(|h| h.rel), Some(&b"x"[..]));
        cwd = t.join("alias/a/sub/deeper");
        assert_eq!(c.classify(abs(&cwd, "../../x").as_bytes()).map(|h| h.rel), Some(&b"x"[..]));
        assert_eq!(c.classify(abs(&cwd, "../../../x").as_bytes()), None);
        // trailing slashes and repeated separators
        assert_eq!(c.classify(abs(&t, "alias//a///d/").as_bytes()).map(|h| h.rel), Some(&b"d"[..]));
        fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn locate_agrees_with_classify_and_is_ancestor() {
        let (t, c) = setup("locate", "two-way");
        for p in ["alias/a/x/y", "real/a", "alias", "elsewhere/z", "alias/ab", "b/f", "."] {
            let a = abs(&t, p);
            let want = match c.classify(a.as_bytes()) {
                Some(h) => Ok(h),
                None => Err(c.is_ancestor(a.as_bytes())),
            };
            assert_eq!(c.locate(a.as_bytes()), want, "{p}");
        }
        assert_eq!(c.locate(b"/"), Err(true));
        fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn surely_outside_agrees_with_full_classification() {
        let (t, c) = setup("quick", "two-way");
        let base = t.as_os_str().as_bytes().to_vec();
        let under = |rest: &str| {
            let mut p = base.clone();
            p.extend_from_slice(rest.as_bytes());
            p
        };
        assert!(c.surely_outside(b"/usr/lib/x"));
        assert!(c.surely_outside(b"/usr/lib/..x"));
        assert!(c.surely_outside(&under("/elsewhere/f.txt")));
        assert!(c.surely_outside(&under("/alias/ab")));
        assert!(c.surely_outside(&under("/alias/a.")));
        assert!(c.surely_outside(&under("/alia")));
        assert!(c.surely_outside(&under("/bb/x")));
        // In a root, above one, or not decidable without normalising.
        for p in ["/alias/a", "/alias/a/", "/alias/a/f", "/alias", "/alias/", "", "/", "/b", "/b/x", "/real/a/x"] {
            assert!(!c.surely_outside(&under(p)), "{p}");
        }
        for p in ["/alias/./a/f", "/alias//a", "/elsewhere/../alias/a/f", "/x/..", "/./alias", "/."] {
            assert!(!c.surely_outside(&under(p)), "{p}");
        }
        assert!(!c.surely_outside(b"/"));
        assert!(!c.surely_outside(b"//etc"));
        assert!(!c.surely_outside(b"relative/path"));
        // Parting inside the prefix all roots share, then coming back with `..`.
        let mut back = b"/nowhere/..".to_vec();
        back.extend_from_slice(&under("/b/x"));
        assert!(!c.surely_outside(&back));
        assert!(c.surely_outside(&back[..9]));
        assert!(agrees_over_spellings(&c, &base) > 100);
        fs::remove_dir_all(t).unwrap();
        // One origin root (and its canonical spelling), and a lone root.
        let (t, c) = setup("quick1", "one-way");
        assert!(agrees_over_spellings(&c, t.as_os_str().as_bytes()) > 100);
        let text = format!("[[pair]]\nprimary = \"{0}/real/a\"\nmirror = \"{0}/b\"\nmode = \"one-way\"\n", t.display());
        let lone = Classifier::new(&Config::from_toml(&text, &Env::default()).unwrap());
        assert_eq!(lone.roots.len(), 1);
        assert!(agrees_over_spellings(&lone, t.as_os_str().as_bytes()) > 100);
        fs::remove_dir_all(t).unwrap();
    }

    /// Checks every path built from three pieces of the roots under `base`: whatever
    /// `surely_outside` accepts, the full classification agrees with. Returns how many it
    /// accepted.
    fn agrees_over_spellings(c: &Classifier, base: &[u8]) -> usize {
        let pieces =
            ["", "/", "//", "/.", "/..", "/alias", "/alias/a", "/real", "/real/a", "/rea", "/b", "/a", "/x", "/f.d"];
        let mut accepted = 0;
        for a in pieces {
            for b in pieces {
                for d in pieces {
                    let mut p = base.to_vec();
                    p.extend_from_slice(format!("{a}{b}{d}").as_bytes());
                    if c.surely_outside(&p) {
                        accepted += 1;
                        let n = AbsPath::resolve(b"/", &p).unwrap();
                        assert!(
                            c.classify(n.as_bytes()).is_none() && !c.is_ancestor(n.as_bytes()),
                            "{:?}",
                            String::from_utf8_lossy(&p)
                        );
                    }
                }
            }
        }
        accepted
    }

    #[test]
    fn a_root_at_slash_disables_the_fast_test() {
        let cfg = Config::from_toml("[[pair]]\nprimary = \"/\"\nmirror = \"/tmp\"\n", &Env::default());
        // The configuration refuses a mirror inside its primary; build the classifier directly.
        assert!(cfg.is_err());
        let c = Classifier {
            roots: vec![Root { pair: 0, copy: 0, path: b"/"[..].into() }],
            fast: false,
            shared: 1,
            next: [u64::MAX; 4],
        };
        assert!(!c.surely_outside(b"/usr/x"));
        assert!(c.classify(b"/usr/x").is_some());
    }

    #[test]
    fn one_way_mirrors_are_not_origins() {
        let (t, c) = setup("oneway", "one-way");
        assert!(c.classify(abs(&t, "b/f").as_bytes()).is_none());
        assert!(c.classify(abs(&t, "alias/a/f").as_bytes()).is_some());
        fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn non_utf8_relative_names() {
        let (t, c) = setup("bytes", "two-way");
        let mut p = t.join("alias/a").as_os_str().as_bytes().to_vec();
        p.extend_from_slice(b"/\xff\xfe/n\nl");
        let a = AbsPath::resolve(b"/", &p).unwrap();
        assert_eq!(c.classify(a.as_bytes()).map(|h| h.rel), Some(&b"\xff\xfe/n\nl"[..]));
        fs::remove_dir_all(t).unwrap();
    }
}
