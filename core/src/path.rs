//! Lexical path handling on raw bytes.
//!
//! The shim classifies every path a hooked call receives, so everything here works on byte
//! slices (file names are arbitrary bytes, not UTF-8) and never allocates: results go into a
//! caller-owned fixed buffer ([`AbsPath`]).

/// Longest path the classifier handles (Linux `PATH_MAX`, terminating NUL included).
pub const PATH_MAX: usize = 4096;

/// Why a path could not be made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The joined path does not fit in [`PATH_MAX`] bytes.
    TooLong,
    /// The base directory given for a relative path is not absolute.
    RelativeBase,
    /// The path is empty (the kernel answers ENOENT for it).
    Empty,
}

/// A normalised absolute path held in a fixed buffer: starts with `/`, no `.` or `..`
/// components, no repeated or trailing slashes (except the root itself).
#[derive(Clone)]
pub struct AbsPath {
    buf: [u8; PATH_MAX],
    len: usize,
    trailing_slash: bool,
}

impl Default for AbsPath {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AbsPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AbsPath({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl AbsPath {
    /// The root directory `/`.
    pub const fn new() -> Self {
        let mut buf = [0u8; PATH_MAX];
        buf[0] = b'/';
        Self { buf, len: 1, trailing_slash: false }
    }

    /// The path's bytes, without a terminating NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Whether the original spelling ended in `/` (or `/.`), which asks for a directory.
    pub fn had_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// Normalises `path`, resolving a relative one against `base` (which must be absolute).
    pub fn resolve(base: &[u8], path: &[u8]) -> Result<Self, PathError> {
        let mut out = Self::new();
        out.set_resolved(base, path)?;
        Ok(out)
    }

    /// In-place form of [`AbsPath::resolve`], for callers that keep one buffer.
    pub fn set_resolved(&mut self, base: &[u8], path: &[u8]) -> Result<(), PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        self.len = 1;
        self.buf[0] = b'/';
        if path[0] != b'/' {
            if base.first() != Some(&b'/') {
                return Err(PathError::RelativeBase);
            }
            self.push_components(base)?;
        }
        self.push_components(path)?;
        self.trailing_slash = ends_as_directory(path);
        Ok(())
    }

    /// Appends the components of `path` (absolute or relative) to this path.
    fn push_components(&mut self, path: &[u8]) -> Result<(), PathError> {
        for comp in path.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => self.pop(),
                name => {
                    let need = if self.len == 1 { name.len() } else { name.len() + 1 };
                    // Keep one byte free for a terminating NUL.
                    if self.len + need >= PATH_MAX {
                        return Err(PathError::TooLong);
                    }
                    if self.len != 1 {
                        self.buf[self.len] = b'/';
                        self.len += 1;
                    }
                    self.buf[self.len..self.len + name.len()].copy_from_slice(name);
                    self.len += name.len();
                }
            }
        }
        Ok(())
    }

    /// Removes the last component (`/` stays `/`).
    fn pop(&mut self) {
        if self.len <= 1 {
            return;
        }
        let cut = self.buf[..self.len].iter().rposition(|&b| b == b'/').unwrap_or(0);
        self.len = cut.max(1);
    }

    /// The path with a terminating NUL, ready for a system call.
    pub fn as_c_bytes(&mut self) -> &[u8] {
        self.buf[self.len] = 0;
        &self.buf[..=self.len]
    }
}

/// True when a path spelled this way names a directory explicitly (`a/`, `a/.`, `a/..`).
pub fn ends_as_directory(path: &[u8]) -> bool {
    path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..") || path == b"." || path == b".."
}

/// When `p` is already a normalised absolute path (apart from one trailing slash), the path
/// without that slash: classification can then skip copying it.
///
/// Runs on every path a hooked call receives: it hops from slash to slash (a vectorised byte
/// search) and looks only at what follows each one (`//`, `/.`, `/..`).
pub fn normal_form(p: &[u8]) -> Option<&[u8]> {
    if p.first() != Some(&b'/') {
        return None;
    }
    if p == b"/" {
        return Some(p);
    }
    let body = p.strip_suffix(b"/").unwrap_or(p);
    let n = body.len();
    let mut i = 0;
    loop {
        // body[i] is a slash.
        match body.get(i + 1) {
            None | Some(b'/') => return None,
            Some(b'.') => match body.get(i + 2) {
                None | Some(b'/') => return None,
                Some(b'.') if i + 3 == n || body[i + 3] == b'/' => return None,
                _ => {}
            },
            Some(_) => {}
        }
        match memchr::memchr(b'/', &body[i + 1..]) {
            Some(k) => i += 1 + k,
            None => return Some(body),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The eight bytes of `p` from `i` as a little-endian word (`i + 8 <= p.len()`).
#[inline(always)]
fn word_at(p: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&p[i..i + 8]);
    u64::from_le_bytes(w)
}

/// True when two adjacent bytes among the first eight of `w` (little-endian) are both dots.
#[inline(always)]
fn dot_pair_in(w: u64) -> bool {
    // Dots become zero bytes; byte k of `y` is zero exactly when bytes k and k+1 both are
    // (the top byte, which has no right neighbour here, is forced non-zero). Then the classic
    // zero-byte test, exact as a yes/no answer.
    let x = w ^ (ONES * b'.' as u64);
    let y = x | (x >> 8) | (0xff << 56);
    y.wrapping_sub(ONES) & !y & (ONES * 0x80) != 0
}

/// True when `path[from..]`, which starts at a component boundary, has a `..` component.
///
/// Runs on the tail of every absolute path the classifier's fast test looks at. Eight-byte
/// reads seven bytes apart see every pair of adjacent bytes within one read, so a word-wise
/// test for two adjacent dots needs no carry between reads; only a path that has such a pair
/// is split into components.
#[inline(always)]
pub fn has_dotdot_from(path: &[u8], from: usize) -> bool {
    let mut rest = &path[from..];
    while let Some(w) = rest.first_chunk::<8>() {
        if dot_pair_in(u64::from_le_bytes(*w)) {
            return has_dotdot(&path[from..]);
        }
        rest = &rest[7..];
    }
    if rest.len() >= 2 {
        // The pairs left: the path's last word when it has eight bytes (it may also see bytes
        // before `from`, and a pair there only sends the path to the exact test), else the
        // short rest padded with zeros.
        let w = match path.last_chunk::<8>() {
            Some(w) => *w,
            None => {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                w
            }
        };
        if dot_pair_in(u64::from_le_bytes(w)) {
            return has_dotdot(&path[from..]);
        }
    }
    false
}

/// Length of the longest common prefix of `a` and `b`, compared eight bytes at a time.
#[inline(always)]
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    while i + 8 <= n {
        let x = word_at(a, i) ^ word_at(b, i);
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if i < n && n >= 8 {
        // The last word, overlapping what is already known equal.
        let x = word_at(a, n - 8) ^ word_at(b, n - 8);
        return if x == 0 { n } else { n - 8 + (x.trailing_zeros() / 8) as usize };
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// True when the path has a `..` component.
pub fn has_dotdot(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|c| c == b"..")
}

/// When `path` (normalised, absolute) is `root` or lies beneath it, the path relative to
/// `root` (empty for the root itself).
pub fn strip_root<'a>(path: &'a [u8], root: &[u8]) -> Option<&'a [u8]> {
    if root == b"/" {
        return Some(path.strip_prefix(b"/").unwrap_or(path));
    }
    let rest = path.strip_prefix(root)?;
    match rest {
        [] => Some(rest),
        [b'/', tail @ ..] => Some(tail),
        _ => None,
    }
}

/// True when `dir` (normalised, absolute) is a strict ancestor of `path`.
pub fn is_strict_ancestor(dir: &[u8], path: &[u8]) -> bool {
    dir != path && strip_root(path, dir).is_some()
}

/// True when one of two normalised absolute paths equals or contains the other.
pub fn overlaps(a: &[u8], b: &[u8]) -> bool {
    strip_root(a, b).is_some() || strip_root(b, a).is_some()
}

/// Splits a relative path into its parent (possibly empty) and final component.
pub fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(base: &str, p: &str) -> String {
        String::from_utf8(AbsPath::resolve(base.as_bytes(), p.as_bytes()).unwrap().as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn absolute_paths_are_normalised() {
        assert_eq!(res("/x", "/a/b/c"), "/a/b/c");
        assert_eq!(res("/x", "/a//b///c/"), "/a/b/c");
        assert_eq!(res("/x", "/a/./b/."), "/a/b");
        assert_eq!(res("/x", "/a/../b"), "/b");
        assert_eq!(res("/x", "/../../a"), "/a");
        assert_eq!(res("/x", "/"), "/");
        assert_eq!(res("/x", "//"), "/");
        assert_eq!(res("/x", "/a/b/.."), "/a");
    }

    #[test]
    fn relative_paths_join_the_base() {
        assert_eq!(res("/srv/data", "f"), "/srv/data/f");
        assert_eq!(res("/srv/data", "./f"), "/srv/data/f");
        assert_eq!(res("/srv/data", "../f"), "/srv/f");
        assert_eq!(res("/srv/data", "../../../f"), "/f");
        assert_eq!(res("/srv/data", "."), "/srv/data");
        assert_eq!(res("/srv/data", ".."), "/srv");
        assert_eq!(res("/", "a/b"), "/a/b");
        assert_eq!(res("/srv/data/", "sub/./x/../y"), "/srv/data/sub/y");
    }

    #[test]
    fn trailing_slashes_are_remembered() {
        let p = AbsPath::resolve(b"/", b"/a/b/").unwrap();
        assert_eq!(p.as_bytes(), b"/a/b");
        assert!(p.had_trailing_slash());
        assert!(AbsPath::resolve(b"/", b"a/.").unwrap().had_trailing_slash());
        assert!(!AbsPath::resolve(b"/", b"/a/b").unwrap().had_trailing_slash());
    }

    #[test]
    fn errors() {
        assert_eq!(AbsPath::resolve(b"/", b"").unwrap_err(), PathError::Empty);
        assert_eq!(AbsPath::resolve(b"rel", b"x").unwrap_err(), PathError::RelativeBase);
        let long = vec![b'a'; PATH_MAX];
        assert_eq!(AbsPath::resolve(b"/", &long).unwrap_err(), PathError::TooLong);
        // A path that shrinks back under the limit through `..` is fine.
        let mut p = b"/".to_vec();
        p.extend_from_slice(&[b'a'; 3000]);
        p.extend_from_slice(b"/../b");
        assert_eq!(AbsPath::resolve(b"/", &p).unwrap().as_bytes(), b"/b");
    }

    #[test]
    fn non_utf8_names_pass_through() {
        let p = AbsPath::resolve(b"/d\xff", b"\xfe\x01/x\n").unwrap();
        assert_eq!(p.as_bytes(), b"/d\xff/\xfe\x01/x\n");
    }

    #[test]
    fn c_bytes_are_terminated() {
        let mut p = AbsPath::resolve(b"/", b"/a/b").unwrap();
        assert_eq!(p.as_c_bytes(), b"/a/b\0");
    }

    #[test]
    fn root_stripping() {
        assert_eq!(strip_root(b"/srv/data/f", b"/srv/data"), Some(&b"f"[..]));
        assert_eq!(strip_root(b"/srv/data", b"/srv/data"), Some(&b""[..]));
        assert_eq!(strip_root(b"/srv/database", b"/srv/data"), None);
        assert_eq!(strip_root(b"/srv", b"/srv/data"), None);
        assert_eq!(strip_root(b"/srv/x", b"/"), Some(&b"srv/x"[..]));
        assert!(is_strict_ancestor(b"/", b"/srv"));
        assert!(is_strict_ancestor(b"/srv", b"/srv/data"));
        assert!(!is_strict_ancestor(b"/srv/data", b"/srv/data"));
        assert!(!is_strict_ancestor(b"/sr", b"/srv/data"));
        assert!(overlaps(b"/a/b", b"/a"));
        assert!(overlaps(b"/a", b"/a"));
        assert!(!overlaps(b"/a", b"/ab"));
    }

    #[test]
    fn normal_forms_agree_with_normalisation() {
        // Every spelling that normal_form accepts must be exactly what resolve() produces.
        let samples: [&[u8]; 16] = [
            b"/a/b",
            b"/a/b/",
            b"/a//b",
            b"/a/./b",
            b"/a/../b",
            b"/.hidden/x",
            b"/a/..b/c",
            b"/a/b.",
            b"/averyveryverylongcomponent/and/another/one/here",
            b"/x/y/z/.",
            b"/x/y/z/..",
            b"//",
            b"/a/b/c/d/e/f/g/h/i/j/k",
            b"/abcdefgh/ijklmnop/",
            b"/abcdefgh//ijklmnop",
            b"/\xff\xfe/.x",
        ];
        for p in samples {
            let resolved = AbsPath::resolve(b"/", p).unwrap();
            if let Some(n) = normal_form(p) {
                assert_eq!(n, resolved.as_bytes(), "{:?}", String::from_utf8_lossy(p));
            }
        }
        assert!(normal_form(b"/averyveryverylongcomponent/and/another/one/here").is_some());
        assert!(normal_form(b"/abcdefgh//ijklmnop").is_none());
    }

    #[test]
    fn dotdot_scan() {
        for (p, want) in [
            (&b"a/.."[..], true),
            (b"a/../b", true),
            (b"..", true),
            (b"../x", true),
            (b"averylongcomponent/x/../b", true),
            (b"averylongcompone/..", true),
            (b"averylongcomponen/../", true),
            (b"a/..b", false),
            (b"a.b/c..d/e.", false),
            (b"abcdefg./.x", false),
            (b"abcdefg../x", false),
            (b"averylongcomponentwithout/dots/at/all", false),
            (b"", false),
        ] {
            assert_eq!(has_dotdot_from(p, 0), want, "{:?}", String::from_utf8_lossy(p));
            assert_eq!(has_dotdot(p), want, "{:?}", String::from_utf8_lossy(p));
            // The same tail behind a prefix that is skipped (and has `..` itself).
            let mut q = b"/x/../".to_vec();
            q.extend_from_slice(p);
            assert_eq!(has_dotdot_from(&q, 6), want, "{:?}", String::from_utf8_lossy(&q));
        }
        // A `..` at every offset and alignment, alone or among other dots.
        for pad in 0..20 {
            let name = "x".repeat(pad);
            for (tail, want) in [("/..", true), ("/../y", true), ("/.../y", false), ("/..y", false), ("/y..", false)] {
                let p = format!("{name}{tail}");
                assert_eq!(has_dotdot_from(p.as_bytes(), 0), want, "{p}");
                // Dots next to the component boundary; the component split is the reference.
                let p = format!("a.b/{name}.{tail}");
                assert_eq!(has_dotdot_from(p.as_bytes(), 0), has_dotdot(p.as_bytes()), "{p}");
            }
        }
    }

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix(b"/tmp/abcdefgh/x", b"/tmp/abcdefgh/y"), 14);
        assert_eq!(common_prefix(b"/tmp", b"/tmp/abcdefgh"), 4);
        assert_eq!(common_prefix(b"/tmp/abcdefgh", b"/tmp"), 4);
        assert_eq!(common_prefix(b"/a", b"/b"), 1);
        assert_eq!(common_prefix(b"", b"/b"), 0);
        assert_eq!(common_prefix(b"/0123456789abcdef", b"/0123456789abcdef"), 17);
        assert_eq!(common_prefix(b"/0123456789abcdeF", b"/0123456789abcdef"), 16);
        assert_eq!(common_prefix(b"/012345X", b"/0123456"), 7);
        // Against a byte-by-byte comparison, for every length and mismatch position.
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..base.len() {
            for at in 0..=len {
                let mut other = base[..len].to_vec();
                if at < len {
                    other[at] ^= 0x20;
                }
                let naive = base.iter().zip(&other).take_while(|(x, y)| x == y).count();
                assert_eq!(common_prefix(&base, &other), naive, "len {len} at {at}");
                assert_eq!(common_prefix(&other, &base[..len]), naive, "len {len} at {at}");
            }
        }
    }

    #[test]
    fn normal_forms() {
        assert_eq!(normal_form(b"/a/b"), Some(&b"/a/b"[..]));
        assert_eq!(normal_form(b"/a/b/"), Some(&b"/a/b"[..]));
        assert_eq!(normal_form(b"/"), Some(&b"/"[..]));
        assert_eq!(normal_form(b"/a//b"), None);
        assert_eq!(normal_form(b"/a/./b"), None);
        assert_eq!(normal_form(b"/a/../b"), None);
        assert_eq!(normal_form(b"/a/b//"), None);
        assert_eq!(normal_form(b"a/b"), None);
        assert_eq!(normal_form(b"/a/.."), None);
    }

    #[test]
    fn parent_split_and_dotdot() {
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"c"), (&b""[..], &b"c"[..]));
        assert!(has_dotdot(b"a/../b"));
        assert!(has_dotdot(b".."));
        assert!(!has_dotdot(b"a/..b/c"));
    }
}
