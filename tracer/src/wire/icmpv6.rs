//! ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861) type numbers.

use super::{Truncated, be16, check_len};

pub const HEADER_LEN: usize = 8;

pub const DST_UNREACH: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROB: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const MLD_QUERY: u8 = 130;
pub const MLD_REPORT: u8 = 131;
pub const MLD_DONE: u8 = 132;
pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;
pub const REDIRECT: u8 = 137;
pub const MLDV2_REPORT: u8 = 143;

#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
}

impl<'a> Header<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Header { buf })
    }
    pub fn icmp_type(&self) -> u8 {
        self.buf[0]
    }
    pub fn code(&self) -> u8 {
        self.buf[1]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn id(&self) -> u16 {
        be16(self.buf, 4)
    }
    pub fn seq(&self) -> u16 {
        be16(self.buf, 6)
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo() {
        let b = [128, 0, 0, 0, 0, 7, 0, 9];
        let h = Header::new_checked(&b).unwrap();
        assert_eq!((h.icmp_type(), h.id(), h.seq()), (ECHO_REQUEST, 7, 9));
        assert!(Header::new_checked(&b[..4]).is_err());
    }
}
