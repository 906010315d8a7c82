//! Which pair, copy and relative path a normalised absolute path belongs to.

use std::os::unix::ffi::OsStrExt;

use crate::config::Config;
use crate::path::{is_strict_ancestor, strip_root};

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
    /// First component of every root (for [`Classifier::quick_outside`]); empty when a root
    /// is `/` itself, which disables the quick answer.
    firsts: Vec<Box<[u8]>>,
    quick: bool,
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
        let mut firsts: Vec<Box<[u8]>> = Vec::new();
        let mut quick = true;
        for r in &roots {
            let first = first_component(&r.path);
            if first.is_empty() {
                quick = false;
            } else if !firsts.iter().any(|f| **f == *first) {
                firsts.push(first.into());
            }
        }
        Classifier { roots, firsts, quick }
    }

    /// A cheap, conservative test for an absolute path as the program spelt it: true only
    /// when the path certainly lies outside every root and above none (its first component
    /// differs from every root's, and no `..` can bring it back). False means "look closer".
    #[inline]
    pub fn quick_outside(&self, path: &[u8]) -> bool {
        if !self.quick {
            return false;
        }
        let first = first_component(path);
        if first.is_empty() || first == b"." || first == b".." || self.firsts.iter().any(|f| **f == *first) {
            return false;
        }
        !crate::path::may_have_dotdot(path)
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

/// The first component of an absolute path (empty for `/`).
fn first_component(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let rest = &path[start..];
    let end = memchr::memchr(b'/', rest).unwrap_or(rest.len());
    &rest[..end]
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
    fn quick_outside_is_conservative() {
        let (t, c) = setup("quick", "two-way");
        // t is under the temp dir, so every root starts with its first component.
        let tmp_first = first_component(t.as_os_str().as_bytes()).to_vec();
        assert!(c.quick_outside(b"/usr/lib/x"));
        assert!(c.quick_outside(b"//etc/passwd"));
        assert!(!c.quick_outside(b"/usr/../x"));
        assert!(!c.quick_outside(b"/"));
        assert!(!c.quick_outside(b"/./x"));
        let mut same = b"/".to_vec();
        same.extend_from_slice(&tmp_first);
        same.extend_from_slice(b"/whatever");
        assert!(!c.quick_outside(&same));
        assert!(c.quick_outside(b"/usr/lib/..x"));
        // Whatever quick_outside accepts, the full classification agrees with.
        for p in [&b"/usr/lib/x"[..], b"/etc", b"/usr/lib/..x"] {
            let a = AbsPath::resolve(b"/", p).unwrap();
            assert!(c.classify(a.as_bytes()).is_none() && !c.is_ancestor(a.as_bytes()));
        }
        fs::remove_dir_all(t).unwrap();
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
