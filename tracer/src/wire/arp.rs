//! ARP (RFC 826): fixed 8-byte header followed by variable-length addresses; and ATM ARP
//! (RFC 2225), whose header carries a type/length byte per address instead.

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
pub const OP_NAK: u16 = 10;

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
    /// Offset of the sender hardware address (the others follow it).
    pub fn sha_offset(&self) -> usize {
        HEADER_LEN
    }
    pub fn tha_offset(&self) -> usize {
        HEADER_LEN + self.hln() as usize + self.pln() as usize
    }
    pub fn sha(&self) -> &'a [u8] {
        self.range(HEADER_LEN, self.hln() as usize)
    }
    pub fn spa(&self) -> &'a [u8] {
        self.range(HEADER_LEN + self.hln() as usize, self.pln() as usize)
    }
    pub fn tha(&self) -> &'a [u8] {
        self.range(self.tha_offset(), self.hln() as usize)
    }
    pub fn tpa(&self) -> &'a [u8] {
        self.range(
            HEADER_LEN + 2 * self.hln() as usize + self.pln() as usize,
            self.pln() as usize,
        )
    }
}

/// The fixed part of an ATM ARP packet.
pub const ATM_HEADER_LEN: usize = 12;
/// The length bits of an ATM number/subaddress type-and-length byte.
const ATM_LEN_MASK: u8 = 0x3f;

/// ATM ARP: hrd, pro, shtl, sstl, op, spln, thtl, tstl, tpln, then sha ssa spa tha tsa tpa.
#[derive(Debug, Clone, Copy)]
pub struct AtmPacket<'a> {
    buf: &'a [u8],
}

impl<'a> AtmPacket<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, ATM_HEADER_LEN)?;
        Ok(AtmPacket { buf })
    }
    pub fn hrd(&self) -> u16 {
        be16(self.buf, 0)
    }
    pub fn pro(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn op(&self) -> u16 {
        be16(self.buf, 6)
    }
    /// Source ATM number length.
    pub fn shln(&self) -> usize {
        (self.buf[4] & ATM_LEN_MASK) as usize
    }
    /// Source ATM subaddress length.
    pub fn ssln(&self) -> usize {
        (self.buf[5] & ATM_LEN_MASK) as usize
    }
    /// Source protocol address length.
    pub fn spln(&self) -> u8 {
        self.buf[8]
    }
    pub fn thln(&self) -> usize {
        (self.buf[9] & ATM_LEN_MASK) as usize
    }
    pub fn tsln(&self) -> usize {
        (self.buf[10] & ATM_LEN_MASK) as usize
    }
    pub fn tpln(&self) -> u8 {
        self.buf[11]
    }
    fn spa_off(&self) -> usize {
        ATM_HEADER_LEN + self.shln() + self.ssln()
    }
    fn tha_off(&self) -> usize {
        self.spa_off() + self.spln() as usize
    }
    fn tpa_off(&self) -> usize {
        self.tha_off() + self.thln() + self.tsln()
    }
    /// Checks that every address was captured; then the address accessors cannot fail.
    pub fn check_addrs(&self) -> Result<(), Truncated> {
        check_len(self.buf, self.tpa_off() + self.tpln() as usize)
    }
    fn range(&self, off: usize, len: usize) -> &'a [u8] {
        self.buf.get(off..off + len).unwrap_or(&[])
    }
    pub fn sha(&self) -> &'a [u8] {
        self.range(ATM_HEADER_LEN, self.shln())
    }
    pub fn ssa(&self) -> &'a [u8] {
        self.range(ATM_HEADER_LEN + self.shln(), self.ssln())
    }
    pub fn spa(&self) -> &'a [u8] {
        self.range(self.spa_off(), self.spln() as usize)
    }
    pub fn tha(&self) -> &'a [u8] {
        self.range(self.tha_off(), self.thln())
    }
    pub fn tsa(&self) -> &'a [u8] {
        self.range(self.tha_off() + self.thln(), self.tsln())
    }
    pub fn tpa(&self) -> &'a [u8] {
        self.range(self.tpa_off(), self.tpln() as usize)
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
        assert_eq!(p.tha_offset(), 18);
        let short = Packet::new_checked(&b[..20]).unwrap();
        assert!(short.check_addrs().is_err());
        assert_eq!(short.tpa(), &[] as &[u8]);
    }

    #[test]
    fn atm_addresses() {
        // shtl 2 (with the E.164 bit), sstl 1, spln 4, thtl 0, tstl 0, tpln 4.
        let mut b = vec![0, 19, 8, 0, 0x42, 1, 0, 1, 4, 0, 0, 4];
        b.extend_from_slice(&[0xaa, 0xbb, 0xcc, 10, 0, 0, 1, 10, 0, 0, 2]);
        let p = AtmPacket::new_checked(&b).unwrap();
        p.check_addrs().unwrap();
        assert_eq!((p.shln(), p.ssln(), p.spln()), (2, 1, 4));
        assert_eq!(p.sha(), &[0xaa, 0xbb]);
        assert_eq!(p.ssa(), &[0xcc]);
        assert_eq!(p.spa(), &[10, 0, 0, 1]);
        assert_eq!(p.tha(), &[] as &[u8]);
        assert_eq!(p.tpa(), &[10, 0, 0, 2]);
        assert!(AtmPacket::new_checked(&b[..22]).unwrap().check_addrs().is_err());
        assert!(AtmPacket::new_checked(&b[..11]).is_err());
    }
}
