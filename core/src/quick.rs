//! The quick test: whether a path as a program spelt it lies outside every pair, decided from
//! bit masks of its bytes, 16 bytes at a time, with no normalisation and almost no branches.
//!
//! The caller (the shim's hooks) builds one [`Block`] per 64 bytes of the C string with vector
//! compares, up to the block that holds the terminating NUL; the bytes after the NUL may be
//! anything. Everything here is bit arithmetic on those masks and a look at the few bytes
//! where the path leaves the roots' shared prefix, so it is the same on every architecture,
//! and it is tested against the full classification with the portable [`Block::of`].

use crate::classify::Classifier;

/// Bytes per block, and how many bytes of the roots' shared prefix the test compares.
pub const BLOCK: usize = 64;

/// Facts about one block of a path: bit `i` describes the byte at offset `i` of the block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// NUL bytes.
    pub nul: u64,
    /// Dots.
    pub dot: u64,
    /// Bytes equal to the byte at the same offset of the roots' shared prefix (first block
    /// only; ignored in later ones).
    pub same: u64,
}

impl Block {
    /// The facts about `bytes` (`prefix` is [`QuickTest::prefix`]), computed byte by byte:
    /// the reference the vector code matches.
    pub fn of(bytes: &[u8; BLOCK], prefix: &[u8; BLOCK]) -> Block {
        let mut c = Block::default();
        for (i, (&b, &p)) in bytes.iter().zip(prefix).enumerate() {
            let on = |yes: bool| u64::from(yes) << i;
            c.nul |= on(b == 0);
            c.dot |= on(b == b'.');
            c.same |= on(b == p);
        }
        c
    }
}

/// What the quick test can say about a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quick {
    /// An absolute path outside every pair and above no root.
    Outside,
    /// A relative path with no `..` component: outside every pair when its base is.
    Below,
    /// Not decided here: the full classification must look.
    Unknown,
}

/// The data of the quick test, derived from a [`Classifier`].
#[derive(Clone, Debug)]
pub struct QuickTest {
    /// The first bytes all roots share (at most 63 of them), zero-padded.
    prefix: [u8; BLOCK],
    /// How many bytes of `prefix` count; 0 disables the test for absolute paths.
    len: usize,
    /// The bytes roots have at offset `len`, as a 256-bit set.
    next: [u64; 4],
}

impl QuickTest {
    pub fn new(c: &Classifier) -> QuickTest {
        // The prefix starts with `/` even when the test is off for absolute paths, so that
        // `Block::same` tells absolute paths from relative ones.
        let mut t = QuickTest { prefix: [0; BLOCK], len: 0, next: [0; 4] };
        t.prefix[0] = b'/';
        let Some((shared, next)) = c.shared_prefix() else { return t };
        // A longer shared prefix is cut at 63 bytes: the roots then all have the same byte at
        // offset 63, which is what `next` says.
        let len = shared.len().min(BLOCK - 1);
        t.prefix[..len].copy_from_slice(&shared[..len]);
        t.len = len;
        t.next = if len < shared.len() { set_of(shared[len]) } else { next };
        t
    }

    /// The prefix the caller compares the first block of each path with, for
    /// [`Block::same`].
    pub fn prefix(&self) -> &[u8; BLOCK] {
        &self.prefix
    }

    /// How many bytes of the prefix count.
    pub fn prefix_len(&self) -> usize {
        self.len
    }

    /// Decides a path from its blocks: `block(k)` gives block `k`, and is asked for block `k`
    /// only when blocks `0..k` held no NUL (`None` when it cannot be read, which makes the
    /// answer [`Quick::Unknown`]); `byte(i)` reads the path's byte at offset `i`, and is
    /// called only for offsets up to the terminating NUL.
    ///
    /// An absolute path is [`Quick::Outside`] when it has no `..` component and it leaves the
    /// roots' shared prefix, or continues it with a byte no root has there, before it ends,
    /// in a component that is neither empty nor `.`. Normalising such a path keeps every
    /// component up to that one as it is (the bytes before it are the prefix's, which has no
    /// empty or `.` component, and only `..` removes components before it), so the result
    /// differs from every root in a component before either ends: it is neither in a root nor
    /// above one. Empty and `.` components after that one change nothing. A relative path is
    /// [`Quick::Below`] when it has no `..` component. Any two adjacent dots count as `..`
    /// here: a name like `a..b` only sends the path to the full classification.
    #[inline(always)]
    pub fn judge(&self, mut block: impl FnMut(usize) -> Option<Block>, byte: impl Fn(usize) -> u8) -> Quick {
        let Some(first) = block(0) else { return Quick::Unknown };
        let len = match step(&first, 0, 0) {
            Step::End(len) => len,
            Step::DotDot => return Quick::Unknown,
            // Paths of 64 bytes or more continue out of line.
            Step::More(carry) => match length_after_first(&mut block, carry) {
                Some(len) => len,
                None => return Quick::Unknown,
            },
        };
        // The prefix starts with `/` (roots are absolute; see `new`).
        let same = first.same;
        let absolute = same & 1 != 0;
        if !absolute {
            return if len > 0 { Quick::Below } else { Quick::Unknown };
        }
        if self.len == 0 {
            return Quick::Unknown;
        }
        // The path equals the prefix before `parted` (at least 1: both start with `/`).
        let parted = ((!same).trailing_zeros() as usize).min(self.len);
        if parted >= len {
            return Quick::Unknown;
        }
        let b = byte(parted);
        if parted == self.len && self.next[usize::from(b >> 6)] & (1 << (b & 63)) != 0 {
            return Quick::Unknown;
        }
        // The component holding offset `parted` is empty or `.`: it starts at `parted` (after
        // a slash) and is empty or a dot, or it is the dot before `parted`.
        let before = byte(parted - 1);
        let empty_or_dot = match (before, b) {
            (b'/', b'/') => true,
            (b'/', b'.') => matches!(byte(parted + 1), b'/' | 0),
            (b'.', b'/') => parted >= 2 && byte(parted - 2) == b'/',
            _ => false,
        };
        if empty_or_dot {
            return Quick::Unknown;
        }
        Quick::Outside
    }
}

/// What one block says about the path.
enum Step {
    /// The path ends in it: its length.
    End(usize),
    /// Two dots in a row before the end.
    DotDot,
    /// It goes on: whether the block's last byte is a dot.
    More(u64),
}

/// Block `b`, the `k`-th of the path; `carry` is 1 when the previous block ended in a dot.
#[inline(always)]
fn step(b: &Block, k: usize, carry: u64) -> Step {
    let end = b.nul & b.nul.wrapping_neg();
    // Bytes before the terminating NUL (all, when the block has none).
    let live = end.wrapping_sub(1);
    // Second dots of pairs.
    if b.dot & (b.dot << 1 | carry) & live != 0 {
        return Step::DotDot;
    }
    if end != 0 {
        return Step::End(k * BLOCK + end.trailing_zeros() as usize);
    }
    Step::More(b.dot >> (BLOCK - 1))
}

/// The length of a path of 64 bytes or more, from its blocks after the first; `None` when a
/// block cannot be read or the path has two dots in a row.
#[inline(never)]
fn length_after_first(block: &mut impl FnMut(usize) -> Option<Block>, mut carry: u64) -> Option<usize> {
    for k in 1.. {
        match step(&block(k)?, k, carry) {
            Step::End(len) => return Some(len),
            Step::DotDot => return None,
            Step::More(c) => carry = c,
        }
    }
    None
}

fn set_of(b: u8) -> [u64; 4] {
    let mut s = [0u64; 4];
    s[usize::from(b >> 6)] |= 1 << (b & 63);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::AbsPath;

    fn classifier(pairs: &[(&str, &str)]) -> Classifier {
        let roots: Vec<&str> = pairs.iter().flat_map(|(p, m)| [*p, *m]).collect();
        Classifier::for_roots(&roots)
    }

    /// Runs the quick test on `path` laid out at the start of a buffer filled with `junk`
    /// after its NUL.
    fn judge(t: &QuickTest, path: &[u8], junk: u8) -> Quick {
        let blocks = path.len() / BLOCK + 1;
        let mut buf = vec![junk; blocks * BLOCK];
        buf[..path.len()].copy_from_slice(path);
        buf[path.len()] = 0;
        t.judge(
            |k| {
                assert!(k * BLOCK <= path.len(), "block {k} of a path of {} bytes asked for", path.len());
                let b: &[u8; BLOCK] = buf[k * BLOCK..(k + 1) * BLOCK].try_into().unwrap();
                Some(Block::of(b, t.prefix()))
            },
            |i| {
                assert!(i <= path.len(), "byte {i} of a path of {} bytes read", path.len());
                buf[i]
            },
        )
    }

    /// The full answer: the path normalised against `/`, then located.
    fn truly_outside(c: &Classifier, path: &[u8]) -> bool {
        let n = AbsPath::resolve(b"/", path).unwrap();
        c.classify(n.as_bytes()).is_none() && !c.is_ancestor(n.as_bytes())
    }

    #[test]
    fn examples() {
        let c = classifier(&[("/srv/data/app", "/srv/data/backup")]);
        let t = QuickTest::new(&c);
        assert_eq!(t.len, 10);
        for p in ["/usr/lib/x", "/srv/other", "/srv/data/x/y", "/srv/data/x/", "/srv/dataz", "/srv/dat/x", "/tmp/"]
            .into_iter()
            .chain(["/usr/./x", "/usr//x", "/usr/x/.", "/srv/data/x//y", "/srv/data/x/./"])
        {
            assert_eq!(judge(&t, p.as_bytes(), b'x'), Quick::Outside, "{p}");
        }
        for p in [
            "/srv/data/app",
            "/srv/data/app/f",
            "/srv/data/backup/",
            "/srv/data",
            "/srv/data/",
            "/srv",
            "/",
            "/srv/data/x/../app/f",
            "/usr/a..b",
            "//srv",
            // Outside, but left to the full classification: the path ends inside the shared
            // prefix, or continues it with a byte some root has there.
            "/srv/dat",
            "/srv/data/apps",
            "/srv/data/b",
        ] {
            assert_eq!(judge(&t, p.as_bytes(), b'x'), Quick::Unknown, "{p}");
        }
        assert_eq!(judge(&t, b"f.txt", 0), Quick::Below);
        assert_eq!(judge(&t, b"./a/./b//c", 0), Quick::Below);
        assert_eq!(judge(&t, b"a/../b", 0), Quick::Unknown);
        assert_eq!(judge(&t, b"..", 0), Quick::Unknown);
        assert_eq!(judge(&t, b"", 0), Quick::Unknown);
    }

    #[test]
    fn patterns_at_every_offset() {
        let c = classifier(&[("/srv/data/app", "/srv/data/backup")]);
        let t = QuickTest::new(&c);
        for at in 5..140 {
            let mut p = b"/usr/".to_vec();
            p.resize(at, b'n');
            // Two dots anywhere send the path to the full classification ...
            for pat in ["/..", "/../x", "..", "n..n"] {
                let q = [&p[..], pat.as_bytes()].concat();
                assert_eq!(judge(&t, &q, b'/'), Quick::Unknown, "{pat} at {at}");
            }
            // ... empty and `.` components after the path has left the prefix do not.
            for pat in ["/.", "//", "/./x", "//x", "/.n", "/n."] {
                let q = [&p[..], pat.as_bytes()].concat();
                assert_eq!(judge(&t, &q, b'.'), Quick::Outside, "{pat} at {at}");
                assert!(truly_outside(&c, &q), "{pat} at {at}");
            }
        }
    }

    /// Empty and `.` components where the path leaves the shared prefix, which normalising
    /// removes (so the path may be in a root or above one), are left undecided.
    #[test]
    fn odd_components_where_the_path_leaves_the_prefix() {
        let c = classifier(&[("/srv/data/app", "/srv/data/backup")]);
        let t = QuickTest::new(&c);
        for p in [
            "//srv/data/app",
            "/./srv",
            "/srv//data",
            "/srv/./data/app",
            "/srv/data//app",
            "/srv/data/.",
            "/srv/data/./backup/x",
            "/srv/.",
        ] {
            assert_eq!(judge(&t, p.as_bytes(), b'x'), Quick::Unknown, "{p}");
        }
        // The roots share `/srv/.d`: a `.` component ends where the path leaves it.
        let c = classifier(&[("/srv/.d/app", "/srv/.d/backup")]);
        let t = QuickTest::new(&c);
        for p in ["/srv/./.d/app", "/srv/.", "/srv/./", "/srv/.//"] {
            assert_eq!(judge(&t, p.as_bytes(), b'x'), Quick::Unknown, "{p}");
        }
        for p in ["/srv/.x/app", "/srv/.dx", "/srv/x/./.d/app"] {
            assert_eq!(judge(&t, p.as_bytes(), b'x'), Quick::Outside, "{p}");
            assert!(truly_outside(&c, p.as_bytes()), "{p}");
        }
    }

    /// Random paths over an alphabet of slashes, dots and the roots' letters: whatever the
    /// quick test calls outside, the full classification agrees with.
    #[test]
    fn agrees_on_random_paths() {
        let shapes: &[&[(&str, &str)]] =
            &[&[("/s/d/a", "/s/d/b")], &[("/s/.d/a", "/s/.d/b")], &[("/s/a", "/d/b")], &[("/s/d/a", "/s/d/a.")]];
        let alphabet = b"//..sdab.x";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for roots in shapes {
            let c = classifier(roots);
            let t = QuickTest::new(&c);
            let (mut outside, mut total) = (0, 0);
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as usize
            };
            for _ in 0..40_000 {
                let n = 1 + next() % 24;
                let mut p = vec![b'/'];
                for _ in 0..n {
                    p.push(alphabet[next() % alphabet.len()]);
                }
                total += 1;
                if judge(&t, &p, b'/') == Quick::Outside {
                    outside += 1;
                    assert!(truly_outside(&c, &p), "{roots:?}: {}", String::from_utf8_lossy(&p));
                }
            }
            assert!(outside > total / 10, "{roots:?}: only {outside} of {total} decided");
        }
    }

    #[test]
    fn junk_after_the_nul_is_ignored() {
        let c = classifier(&[("/srv/data/app", "/srv/data/backup")]);
        let t = QuickTest::new(&c);
        for junk in [0u8, b'.', b'/', b'x'] {
            for n in 1..130 {
                let mut p = b"/usr/".to_vec();
                p.resize(n.max(6), b'n');
                assert_eq!(judge(&t, &p, junk), Quick::Outside, "len {n} junk {junk}");
                let mut q = p.clone();
                q.push(b'/');
                assert_eq!(judge(&t, &q, junk), Quick::Outside, "len {n} junk {junk} trailing slash");
            }
        }
    }

    #[test]
    fn long_shared_prefixes_are_cut() {
        let base = format!("/{}", "d".repeat(80));
        let (p, m) = (format!("{base}/primary"), format!("{base}/mirror"));
        let c = classifier(&[(&p, &m)]);
        let t = QuickTest::new(&c);
        assert_eq!(t.prefix_len(), 63);
        assert_eq!(judge(&t, format!("{base}/other").as_bytes(), 0), Quick::Unknown);
        assert_eq!(judge(&t, format!("/{}x", "d".repeat(62)).as_bytes(), 0), Quick::Outside);
        assert_eq!(judge(&t, b"/etc/passwd", 0), Quick::Outside);
    }

    /// Every path built from four pieces of the roots: whatever the quick test calls outside,
    /// the full classification agrees with.
    #[test]
    fn agrees_with_the_full_classification() {
        let shapes: &[&[(&str, &str)]] = &[
            &[("/srv/data/app", "/srv/data/backup")],
            &[("/srv/a", "/mnt/b")],
            &[("/x", "/y/z"), ("/srv/q", "/srv/r")],
            &[("/srv/data/app", "/srv/data/app2")],
        ];
        let pieces = [
            "",
            "/",
            "//",
            "/.",
            "/..",
            "/srv",
            "/data",
            "/app",
            "/app2",
            "/backup",
            "/a",
            "/b",
            "/x",
            "/y",
            "/z",
            "/q",
            "/mnt",
            "/ap",
            "/srv/data",
            ".",
        ];
        for roots in shapes {
            let c = classifier(roots);
            let t = QuickTest::new(&c);
            let mut outside = 0;
            for a in pieces {
                for b in pieces {
                    for d in pieces {
                        for e in ["", "/", "/f", "/.."] {
                            let p = format!("{a}{b}{d}{e}");
                            if !p.starts_with('/') {
                                continue;
                            }
                            if judge(&t, p.as_bytes(), b'/') == Quick::Outside {
                                outside += 1;
                                assert!(truly_outside(&c, p.as_bytes()), "{roots:?}: {p}");
                            }
                        }
                    }
                }
            }
            assert!(outside > 1000, "{roots:?}: only {outside} decided");
        }
    }
}
