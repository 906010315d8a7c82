//! The quick test on a program's C path string, read 16 bytes at a time with vector compares.
//!
//! A chunk is read only when its bytes (and the two after it, which patterns look at) lie in
//! one page, so a read past the string's NUL never touches a page the string does not; the
//! reads are made in assembly, where they are plain loads, and only the resulting bit masks
//! reach Rust. A chunk that would cross into the next page makes the test answer
//! [`Quick::Unknown`], and the hook takes the full classification instead.

use libc::c_char;
use mfs_core::quick::{Chunk, Quick, QuickTest, CHUNK};

/// The quick test with the roots' shared prefix ready for vector compares.
pub struct Scanner {
    test: QuickTest,
    #[cfg(target_arch = "x86_64")]
    prefix: [std::arch::x86_64::__m128i; 4],
}

impl Scanner {
    pub fn new(test: QuickTest) -> Scanner {
        #[cfg(target_arch = "x86_64")]
        {
            let lane = |k: usize| {
                // SAFETY: a [u8; 16] and an __m128i have the same size, and every bit pattern
                // is a valid __m128i.
                unsafe { std::mem::transmute::<[u8; 16], std::arch::x86_64::__m128i>(*test.prefix_chunk(k)) }
            };
            Scanner { prefix: [lane(0), lane(1), lane(2), lane(3)], test }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Scanner { test }
    }

    /// The quick test on `path` (null gives [`Quick::Unknown`]).
    ///
    /// # Safety
    /// `path` must be null or point to a NUL-terminated string.
    #[inline(always)]
    pub unsafe fn judge(&self, path: *const c_char) -> Quick {
        let p = path.cast::<u8>();
        if p.is_null() {
            return Quick::Unknown;
        }
        self.test.judge(
            // SAFETY: chunk k is asked for only when chunks 0..k held no NUL, so the string
            // continues into it.
            |k| unsafe { self.chunk(p, k) },
            // SAFETY: called only when the string is longer than this, so the byte is in it.
            || unsafe { *p.add(self.test.prefix_len()) },
        )
    }

    /// Chunk `k` of the string at `p`, or `None` when its bytes and the two after them
    /// straddle a page boundary (or on architectures without the vector code).
    ///
    /// # Safety
    /// `p` must point to a NUL-terminated string with no NUL in its first `k` chunks.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk(&self, p: *const u8, k: usize) -> Option<Chunk> {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
        };
        const PAGE: usize = 4096;
        let at = (p as usize).wrapping_add(k * CHUNK);
        if at % PAGE > PAGE - (CHUNK + 2) {
            return None;
        }
        let (v0, v1, v2): (__m128i, __m128i, __m128i);
        // SAFETY: the 18 bytes at `at` lie in one page, which holds at least one byte of the
        // string (the chunk starts inside it, by the caller's contract), so all of them are
        // readable. The loads are made here, outside Rust's view of the string's extent.
        unsafe {
            std::arch::asm!(
                "movdqu {v0}, [{p}]",
                "movdqu {v1}, [{p} + 1]",
                "movdqu {v2}, [{p} + 2]",
                p = in(reg) at,
                v0 = out(xmm_reg) v0,
                v1 = out(xmm_reg) v1,
                v2 = out(xmm_reg) v2,
                options(nostack, readonly, preserves_flags),
            );
        }
        let bits = |v: __m128i| _mm_movemask_epi8(v) as u16;
        let (zero, slash, dot) = (_mm_setzero_si128(), _mm_set1_epi8(b'/' as i8), _mm_set1_epi8(b'.' as i8));
        let dot1 = _mm_cmpeq_epi8(v1, dot);
        let slash0 = _mm_cmpeq_epi8(v0, slash);
        let end2 = _mm_or_si128(_mm_cmpeq_epi8(v2, slash), _mm_cmpeq_epi8(v2, zero));
        let odd = _mm_and_si128(slash0, _mm_or_si128(_mm_cmpeq_epi8(v1, slash), _mm_and_si128(dot1, end2)));
        let same = match self.prefix.get(k) {
            Some(&prefix) => bits(_mm_cmpeq_epi8(v0, prefix)),
            None => 0,
        };
        Some(Chunk {
            nul: bits(_mm_cmpeq_epi8(v0, zero)),
            dotdot: bits(_mm_and_si128(_mm_cmpeq_epi8(v0, dot), dot1)),
            odd: bits(odd),
            same,
        })
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn chunk(&self, _p: *const u8, _k: usize) -> Option<Chunk> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfs_core::classify::Classifier;
    use mfs_core::config::{Config, Env};

    /// The vector chunks equal the byte-by-byte reference at every offset in a page, for
    /// strings of NULs, slashes, dots and prefix bytes.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_chunks_match_the_reference() {
        let t = std::env::temp_dir().join(format!("mfs-cpath-{}", std::process::id()));
        let (a, b) = (t.join("data/app"), t.join("data/backup"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let text = format!("[[pair]]\nprimary = \"{}\"\nmirror = \"{}\"\n", a.display(), b.display());
        let c = Classifier::new(&Config::from_toml(&text, &Env::default()).unwrap());
        std::fs::remove_dir_all(&t).unwrap();
        let s = Scanner::new(QuickTest::new(&c));
        let mut page = vec![0u8; 3 * 4096];
        let base = page.as_ptr().align_offset(4096);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let prefix1 = s.test.prefix_chunk(0)[1];
        let alphabet = [0u8, b'/', b'.', b'a', prefix1];
        for round in 0..3 * 4096 {
            let off = base + round % 4096;
            for byte in &mut page[off..off + 5 * CHUNK + 2] {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = alphabet[(seed % alphabet.len() as u64) as usize];
            }
            for k in 0..5 {
                let at = off + k * CHUNK;
                // SAFETY: `at` has 18 readable bytes after it (the caller's contract on NULs
                // only matters for memory outside the buffer).
                let got = unsafe { s.chunk(page.as_ptr().add(off), k) };
                let bytes: &[u8; CHUNK + 2] = page[at..at + CHUNK + 2].try_into().unwrap();
                let want = match k {
                    0..4 => Chunk::of(bytes, s.test.prefix_chunk(k)),
                    _ => Chunk { same: 0, ..Chunk::of(bytes, &[0; CHUNK]) },
                };
                if (at - base) % 4096 > 4096 - (CHUNK + 2) {
                    assert_eq!(got, None, "offset {}", at - base);
                } else {
                    assert_eq!(got, Some(want), "offset {}", at - base);
                }
            }
        }
    }
}
