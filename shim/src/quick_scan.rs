//! The quick test on a program's C path string, read 64 bytes at a time with vector compares.
//!
//! A block is read only when its 64 bytes lie in one page, so a read past the string's NUL
//! never touches a page the string does not; the reads are made in assembly, where they are
//! plain loads, and only the resulting bit masks reach Rust. A block that would cross into
//! the next page makes the test answer [`Quick::Unknown`], and the hook takes the full
//! classification instead.

use libc::c_char;
use mfs_core::quick::{Block, Quick, QuickTest, BLOCK};

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
            // SAFETY: [u8; 64] and [__m128i; 4] have the same size, and every bit pattern is a
            // valid __m128i.
            let prefix = unsafe { std::mem::transmute::<[u8; BLOCK], [std::arch::x86_64::__m128i; 4]>(*test.prefix()) };
            Scanner { prefix, test }
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
            // SAFETY: block k is asked for only when blocks 0..k held no NUL, so the string
            // continues into it.
            |k| unsafe { self.block(p, k) },
            // SAFETY: called only for offsets up to the NUL, so the byte is in the string.
            |i| unsafe { *p.add(i) },
        )
    }

    /// Block `k` of the string at `p`, or `None` when its bytes straddle a page boundary (or
    /// on architectures without the vector code).
    ///
    /// # Safety
    /// `p` must point to a NUL-terminated string with no NUL in its first `k` blocks.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn block(&self, p: *const u8, k: usize) -> Option<Block> {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_setzero_si128};
        const PAGE: usize = 4096;
        let at = (p as usize).wrapping_add(k * BLOCK);
        if at % PAGE > PAGE - BLOCK {
            return None;
        }
        let (v0, v1, v2, v3): (__m128i, __m128i, __m128i, __m128i);
        // SAFETY: the 64 bytes at `at` lie in one page, which holds at least one byte of the
        // string (the block starts inside it, by the caller's contract), so all of them are
        // readable. The loads are made here, outside Rust's view of the string's extent.
        unsafe {
            std::arch::asm!(
                "movdqu {v0}, [{p}]",
                "movdqu {v1}, [{p} + 16]",
                "movdqu {v2}, [{p} + 32]",
                "movdqu {v3}, [{p} + 48]",
                p = in(reg) at,
                v0 = out(xmm_reg) v0,
                v1 = out(xmm_reg) v1,
                v2 = out(xmm_reg) v2,
                v3 = out(xmm_reg) v3,
                options(nostack, readonly, preserves_flags),
            );
        }
        let v = [v0, v1, v2, v3];
        // The 64-bit mask of the bytes equal to those of `with`, lane by lane.
        let mask = |with: [__m128i; 4]| {
            (0..4).fold(0u64, |m, i| m | u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], with[i])) as u16) << (16 * i))
        };
        let same = if k == 0 { mask(self.prefix) } else { 0 };
        Some(Block { nul: mask([_mm_setzero_si128(); 4]), dot: mask([_mm_set1_epi8(b'.' as i8); 4]), same })
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn block(&self, _p: *const u8, _k: usize) -> Option<Block> {
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
        let t = std::env::temp_dir().join(format!("mfs-quick-scan-{}", std::process::id()));
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
        let prefix1 = s.test.prefix()[1];
        let alphabet = [0u8, b'/', b'.', b'a', prefix1];
        for round in 0..3 * 4096 {
            let off = base + round % 4096;
            for byte in &mut page[off..off + 3 * BLOCK] {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = alphabet[(seed % alphabet.len() as u64) as usize];
            }
            for k in 0..3 {
                let at = off + k * BLOCK;
                // SAFETY: `at` has 64 readable bytes after it (the caller's contract on NULs
                // only matters for memory outside the buffer).
                let got = unsafe { s.block(page.as_ptr().add(off), k) };
                let bytes: &[u8; BLOCK] = page[at..at + BLOCK].try_into().unwrap();
                let want = Block::of(bytes, s.test.prefix());
                let want = if k == 0 { want } else { Block { same: 0, ..want } };
                if (at - base) % 4096 > 4096 - BLOCK {
                    assert_eq!(got, None, "offset {}", at - base);
                } else {
                    assert_eq!(got, Some(want), "offset {}", at - base);
                }
            }
        }
    }
}
