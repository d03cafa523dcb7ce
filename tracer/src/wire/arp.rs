//! ARP (RFC 826): fixed 8-byte header followed by variable-length addresses.

use super::{Truncated, be16, check_len};

pub const HEADER_LEN: usize = 8;

pub const HRD_ETHER: u16 = 1;
pub const HRD_FRELAY: u16 = 15;
pub const HRD_ATM2225: u16 = 19;

pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;
pub const OP_REVREQUEST: u16 = 3;
pub const OP_REVREPLY: u16 = 4;
pub const OP_INVREQUEST: u16 = 8;
pub const OP_INVREPLY: u16 = 9;

#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Packet { buf })
    }
    pub fn hrd(&self) -> u16 {
        be16(self.buf, 0)
    }
    pub fn pro(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn hln(&self) -> u8 {
        self.buf[4]
    }
    pub fn pln(&self) -> u8 {
        self.buf[5]
    }
    pub fn op(&self) -> u16 {
        be16(self.buf, 6)
    }
    /// Total length the addresses claim: header + 2 * (hln + pln).
    pub fn total_len(&self) -> usize {
        HEADER_LEN + 2 * (self.hln() as usize + self.pln() as usize)
    }
    /// Checks that every address was captured; then the address accessors cannot fail.
    pub fn check_addrs(&self) -> Result<(), Truncated> {
        check_len(self.buf, self.total_len())
    }
    fn range(&self, off: usize, len: usize) -> &'a [u8] {
        self.buf.get(off..off + len).unwrap_or(&[])
    }
    pub fn sha(&self) -> &'a [u8] {
        self.range(HEADER_LEN, self.hln() as usize)
    }
    pub fn spa(&self) -> &'a [u8] {
        self.range(HEADER_LEN + self.hln() as usize, self.pln() as usize)
    }
    pub fn tha(&self) -> &'a [u8] {
        self.range(
            HEADER_LEN + self.hln() as usize + self.pln() as usize,
            self.hln() as usize,
        )
    }
    pub fn tpa(&self) -> &'a [u8] {
        self.range(
            HEADER_LEN + 2 * self.hln() as usize + self.pln() as usize,
            self.pln() as usize,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let mut b = vec![0, 1, 8, 0, 6, 4, 0, 1];
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        let p = Packet::new_checked(&b).unwrap();
        p.check_addrs().unwrap();
        assert_eq!(p.spa(), &[10, 0, 0, 1]);
        assert_eq!(p.tpa(), &[10, 0, 0, 2]);
        assert_eq!(p.sha(), &[1, 2, 3, 4, 5, 6]);
        let short = Packet::new_checked(&b[..20]).unwrap();
        assert!(short.check_addrs().is_err());
        assert_eq!(short.tpa(), &[] as &[u8]);
    }
}
