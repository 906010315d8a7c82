//! The quick test: whether a path as a program spelt it lies outside every pair, decided from
//! bit masks of its bytes, 16 bytes at a time, with no normalisation and almost no branches.
//!
//! The caller (the shim's hooks) builds one [`Chunk`] per 16 bytes of the C string with vector
//! compares, up to the chunk that holds the terminating NUL; the bytes after the NUL may be
//! anything. Everything here is bit arithmetic on those masks, so it is the same on every
//! architecture, and it is tested against the full classification with the portable
//! [`Chunk::of`].

use crate::classify::Classifier;

/// Bytes per chunk.
pub const CHUNK: usize = 16;
/// How many bytes of the roots' shared prefix the test compares (four chunks' worth).
const PREFIX: usize = 4 * CHUNK;

/// Facts about one chunk of a path: bit `i` describes the byte at offset `i` of the chunk.
/// Patterns are marked at their first byte and may end in the next chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// NUL bytes.
    pub nul: u16,
    /// Two dots in a row.
    pub dotdot: u16,
    /// Two slashes in a row, or a slash and a dot followed by a slash or NUL: an empty or `.`
    /// component.
    pub odd: u16,
    /// Bytes equal to the byte at the same offset of the roots' shared prefix (chunks 0 to 3;
    /// 0 in later chunks).
    pub same: u16,
}

impl Chunk {
    /// The facts about `bytes[..16]` (`bytes[16..]` are the two bytes after the chunk, and
    /// `prefix` the chunk's part of [`QuickTest::prefix`]), computed byte by byte: the
    /// reference the vector code matches.
    pub fn of(bytes: &[u8; CHUNK + 2], prefix: &[u8; CHUNK]) -> Chunk {
        let mut c = Chunk::default();
        for i in 0..CHUNK {
            let bit = 1u16 << i;
            let (b, b1, b2) = (bytes[i], bytes[i + 1], bytes[i + 2]);
            let on = |yes: bool| if yes { bit } else { 0 };
            c.nul |= on(b == 0);
            c.dotdot |= on(b == b'.' && b1 == b'.');
            c.odd |= on(b == b'/' && (b1 == b'/' || (b1 == b'.' && (b2 == b'/' || b2 == 0))));
            c.same |= on(b == prefix[i]);
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
    prefix: [u8; PREFIX],
    /// How many bytes of `prefix` count; 0 disables the test for absolute paths.
    len: usize,
    /// The bytes roots have at offset `len`, as a 256-bit set.
    next: [u64; 4],
}

impl QuickTest {
    pub fn new(c: &Classifier) -> QuickTest {
        // The prefix starts with `/` even when the test is off for absolute paths, so that
        // `Chunk::same` tells absolute paths from relative ones.
        let mut t = QuickTest { prefix: [0; PREFIX], len: 0, next: [0; 4] };
        t.prefix[0] = b'/';
        let Some((shared, next)) = c.shared_prefix() else { return t };
        // A longer shared prefix is cut at 63 bytes: the roots then all have the same byte at
        // offset 63, which is what `next` says.
        let len = shared.len().min(PREFIX - 1);
        t.prefix[..len].copy_from_slice(&shared[..len]);
        t.len = len;
        t.next = if len < shared.len() { set_of(shared[len]) } else { next };
        t
    }

    /// Chunk `k` (0 to 3) of the prefix the caller compares each path with, for
    /// [`Chunk::same`].
    pub fn prefix_chunk(&self, k: usize) -> &[u8; CHUNK] {
        self.prefix[k * CHUNK..(k + 1) * CHUNK].try_into().expect("a chunk")
    }

    /// How many bytes of the prefix count.
    pub fn prefix_len(&self) -> usize {
        self.len
    }

    /// Decides a path from its chunks: `chunk(k)` gives chunk `k`, and is asked for chunk `k`
    /// only when chunks `0..k` held no NUL (`None` when it cannot be read, which makes the
    /// answer [`Quick::Unknown`]); `byte_at_len` reads the path's byte at offset
    /// [`QuickTest::prefix_len`] (called only when the path is longer than that).
    ///
    /// An absolute path is [`Quick::Outside`] when it has no empty, `.` or `..` component (so
    /// normalising it only drops a trailing slash) and it leaves the roots' shared prefix, or
    /// continues it with a byte no root has there, before it ends: then it differs from every
    /// root before either ends, so it is neither in a root nor above one. A relative path is
    /// [`Quick::Below`] when it has no `..` component. Any two adjacent dots count as `..`
    /// here: a name like `a..b` only sends the path to the full classification.
    #[inline(always)]
    pub fn judge(&self, mut chunk: impl FnMut(usize) -> Option<Chunk>, byte_at_len: impl FnOnce() -> u8) -> Quick {
        let (mut odd, mut dotdot, mut same) = (0u16, 0u16, 0u64);
        let mut k = 0;
        let len = loop {
            let Some(c) = chunk(k) else { return Quick::Unknown };
            let end = c.nul & c.nul.wrapping_neg();
            // Patterns that start before the terminating NUL (all, when the chunk has none).
            let live = end.wrapping_sub(1);
            dotdot |= c.dotdot & live;
            odd |= c.odd & live;
            if k < 4 {
                same |= u64::from(c.same) << (k * CHUNK);
            }
            if end != 0 {
                break k * CHUNK + end.trailing_zeros() as usize;
            }
            k += 1;
        };
        // The prefix starts with `/` (roots are absolute; see `new`).
        let absolute = same & 1 != 0;
        if !absolute {
            return if dotdot == 0 && len > 0 { Quick::Below } else { Quick::Unknown };
        }
        if self.len == 0 || (odd | dotdot) != 0 {
            return Quick::Unknown;
        }
        let parted = ((!same).trailing_zeros() as usize).min(self.len);
        if parted >= len {
            return Quick::Unknown;
        }
        if parted == self.len {
            let b = byte_at_len();
            if self.next[usize::from(b >> 6)] & (1 << (b & 63)) != 0 {
                return Quick::Unknown;
            }
        }
        Quick::Outside
    }
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
        let chunks = path.len() / CHUNK + 1;
        let mut buf = vec![junk; chunks * CHUNK + 2];
        buf[..path.len()].copy_from_slice(path);
        buf[path.len()] = 0;
        let chunk = |k: usize| -> Option<Chunk> {
            let b: &[u8; CHUNK + 2] = buf.get(k * CHUNK..(k + 1) * CHUNK + 2)?.try_into().unwrap();
            let zero = [0u8; CHUNK];
            Some(Chunk::of(b, if k < 4 { t.prefix_chunk(k) } else { &zero }))
        };
        t.judge(
            |k| {
                assert!(k * CHUNK <= path.len(), "chunk {k} of a path of {} bytes asked for", path.len());
                chunk(k)
            },
            || {
                assert!(path.len() > t.len, "byte {} of a path of {} bytes read", t.len, path.len());
                buf[t.len]
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
        for p in ["/usr/lib/x", "/srv/other", "/srv/data/x/y", "/srv/data/x/", "/srv/dataz", "/srv/dat/x", "/tmp/"] {
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
            "/usr/./x",
            "/usr//x",
            "/usr/x/.",
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
    fn patterns_across_block_boundaries() {
        let c = classifier(&[("/srv/data/app", "/srv/data/backup")]);
        let t = QuickTest::new(&c);
        // A component pattern at every offset around the first and second block boundaries.
        for pat in ["/..", "/.", "//", "/../x", "/./x", "//x"] {
            for at in 5..140 {
                let mut p = b"/usr/".to_vec();
                p.resize(at, b'n');
                p.extend_from_slice(pat.as_bytes());
                assert_eq!(judge(&t, &p, b'/'), Quick::Unknown, "{pat} at {at}");
                // The same length without the pattern is outside.
                let clean: Vec<u8> = p.iter().map(|&b| if b == b'.' { b'n' } else { b }).collect();
                let clean: Vec<u8> = clean.windows(2).fold(vec![clean[0]], |mut v, w| {
                    v.push(if w[0] == b'/' && w[1] == b'/' { b'n' } else { w[1] });
                    v
                });
                assert_eq!(judge(&t, &clean, b'.'), Quick::Outside, "{:?}", String::from_utf8_lossy(&clean));
            }
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
