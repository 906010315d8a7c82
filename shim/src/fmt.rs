//! Allocation-free formatting into fixed buffers (for paths and log lines built in hooks).

/// A cursor over a byte buffer that silently stops at its end; [`Buf::overflowed`] tells.
pub struct Buf<'a> {
    out: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Buf<'a> {
    pub fn new(out: &'a mut [u8]) -> Self {
        Buf { out, len: 0, overflow: false }
    }

    pub fn byte(&mut self, b: u8) -> &mut Self {
        match self.out.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.overflow = true,
        }
        self
    }

    pub fn bytes(&mut self, bs: &[u8]) -> &mut Self {
        for &b in bs {
            self.byte(b);
        }
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn num(&mut self, n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        self.bytes(mfs_core::journal::decimal(n, &mut digits))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.out[..self.len]
    }
}
