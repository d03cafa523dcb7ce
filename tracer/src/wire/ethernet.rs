//! Ethernet II header.

use super::{Truncated, be16, check_len};

pub const HEADER_LEN: usize = 14;

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
}

/// A view of an Ethernet frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    buf: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Frame { buf })
    }
    pub fn dst(&self) -> &'a [u8] {
        &self.buf[field::DST]
    }
    pub fn src(&self) -> &'a [u8] {
        &self.buf[field::SRC]
    }
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, field::ETHERTYPE)
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_short() {
        let mut f = [0u8; 16];
        f[12] = 0x08;
        f[14] = 0x45;
        let e = Frame::new_checked(&f).unwrap();
        assert_eq!(e.ethertype(), 0x0800);
        assert_eq!(e.payload(), &[0x45, 0]);
        assert!(Frame::new_checked(&f[..13]).is_err());
    }
}
