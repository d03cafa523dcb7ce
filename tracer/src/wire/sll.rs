//! Linux "cooked" capture headers: SLL (v1, 16 bytes) and SLL2 (20 bytes).

use super::{Truncated, be16, be32, check_len};

pub const SLL_HEADER_LEN: usize = 16;
pub const SLL2_HEADER_LEN: usize = 20;

/// Packet types (sll_pkttype), as tcpdump names them.
pub const PKTTYPE_HOST: u8 = 0;
pub const PKTTYPE_BROADCAST: u8 = 1;
pub const PKTTYPE_MULTICAST: u8 = 2;
pub const PKTTYPE_OTHERHOST: u8 = 3;
pub const PKTTYPE_OUTGOING: u8 = 4;

/// SLL v1: pkttype(2) hatype(2) halen(2) addr(8) protocol(2).
#[derive(Debug, Clone, Copy)]
pub struct Sll<'a> {
    buf: &'a [u8],
}

impl<'a> Sll<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, SLL_HEADER_LEN)?;
        Ok(Sll { buf })
    }
    pub fn pkttype(&self) -> u16 {
        be16(self.buf, 0)
    }
    pub fn hatype(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn halen(&self) -> u16 {
        be16(self.buf, 4)
    }
    pub fn addr(&self) -> &'a [u8] {
        &self.buf[6..14]
    }
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 14)
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[SLL_HEADER_LEN..]
    }
}

/// SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8).
#[derive(Debug, Clone, Copy)]
pub struct Sll2<'a> {
    buf: &'a [u8],
}

impl<'a> Sll2<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, SLL2_HEADER_LEN)?;
        Ok(Sll2 { buf })
    }
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 0)
    }
    pub fn ifindex(&self) -> u32 {
        be32(self.buf, 4)
    }
    pub fn hatype(&self) -> u16 {
        be16(self.buf, 8)
    }
    pub fn pkttype(&self) -> u8 {
        self.buf[10]
    }
    pub fn halen(&self) -> u8 {
        self.buf[11]
    }
    pub fn addr(&self) -> &'a [u8] {
        &self.buf[12..20]
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[SLL2_HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sll2_fields() {
        let mut b = [0u8; 20];
        b[0..2].copy_from_slice(&0x0800u16.to_be_bytes());
        b[4..8].copy_from_slice(&7u32.to_be_bytes());
        b[10] = PKTTYPE_OUTGOING;
        let h = Sll2::new_checked(&b).unwrap();
        assert_eq!((h.protocol(), h.ifindex(), h.pkttype()), (0x0800, 7, 4));
        assert!(Sll2::new_checked(&b[..19]).is_err());
        assert!(Sll::new_checked(&b[..15]).is_err());
    }
}
