//! Where the bytes of a program's write come from, for writing them again on the twins.

use std::os::fd::RawFd;

use libc::{c_void, iovec, off_t};
use mfs_core::sys::{self, SysResult};

/// The program's buffer or vector of a write call that just succeeded on the primary.
#[derive(Clone, Copy)]
pub enum Bufs<'a> {
    One(*const c_void),
    Vec(&'a [iovec]),
}

impl Bufs<'_> {
    /// Calls `f` on each non-empty piece of the first `n` bytes, in order, with the piece's
    /// position from the start.
    #[inline(always)]
    fn pieces(&self, n: usize, mut f: impl FnMut(&[u8], usize) -> SysResult<()>) -> SysResult<()> {
        match *self {
            Bufs::One(p) => {
                // SAFETY: the primary write just read `n` bytes from this buffer.
                f(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) }, 0)
            }
            Bufs::Vec(iov) => {
                let mut at = 0;
                for v in iov {
                    if at == n {
                        break;
                    }
                    let k = v.iov_len.min(n - at);
                    if k == 0 {
                        continue;
                    }
                    // SAFETY: as above, for each vector element the primary consumed.
                    f(unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), k) }, at)?;
                    at += k;
                }
                Ok(())
            }
        }
    }

    /// Writes the first `n` bytes at `off` on `t`.
    pub fn pwrite_prefix(&self, t: RawFd, n: usize, off: off_t) -> SysResult<()> {
        self.pieces(n, |b, at| sys::pwrite_all(t, b, off + at as off_t))
    }

    /// Writes the first `n` bytes at `t`'s own offset.
    #[inline(always)]
    pub fn write_prefix(&self, t: RawFd, n: usize) -> SysResult<()> {
        self.pieces(n, |b, _| sys::write_all(t, b))
    }
}

/// The program's iovec array as a slice (empty for a null or empty vector).
pub(crate) fn iovs<'a>(iov: *const iovec, cnt: libc::c_int) -> &'a [iovec] {
    if iov.is_null() || cnt <= 0 {
        return &[];
    }
    // SAFETY: the program passes `cnt` iovecs; the real call validates them too.
    unsafe { std::slice::from_raw_parts(iov, cnt as usize) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_prefix_is_written_piece_by_piece_at_its_offsets() {
        let (a, b, c) = (*b"abc", *b"", *b"defg");
        let iov = [
            iovec { iov_base: a.as_ptr() as *mut c_void, iov_len: a.len() },
            iovec { iov_base: b.as_ptr() as *mut c_void, iov_len: 0 },
            iovec { iov_base: c.as_ptr() as *mut c_void, iov_len: c.len() },
        ];
        let mut seen = Vec::new();
        Bufs::Vec(&iov)
            .pieces(5, |p, at| {
                seen.push((p.to_vec(), at));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, vec![(b"abc".to_vec(), 0), (b"de".to_vec(), 3)]);
    }
}
