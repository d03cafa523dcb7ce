//! ICMP for IPv4 (RFC 792).

use super::{Truncated, be16, check_len};

/// type, code, checksum, and the 4-byte "rest of header".
pub const HEADER_LEN: usize = 8;

pub const ECHOREPLY: u8 = 0;
pub const UNREACH: u8 = 3;
pub const SOURCEQUENCH: u8 = 4;
pub const REDIRECT: u8 = 5;
pub const ECHO: u8 = 8;
pub const ROUTERADVERT: u8 = 9;
pub const ROUTERSOLICIT: u8 = 10;
pub const TIMXCEED: u8 = 11;
pub const PARAMPROB: u8 = 12;
pub const TSTAMP: u8 = 13;
pub const TSTAMPREPLY: u8 = 14;
pub const IREQ: u8 = 15;
pub const IREQREPLY: u8 = 16;
pub const MASKREQ: u8 = 17;
pub const MASKREPLY: u8 = 18;

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
    /// Echo identifier / first half of the rest-of-header word.
    pub fn id(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Echo sequence / second half of the rest-of-header word.
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
        let b = [8, 0, 0xf7, 0xff, 0, 1, 0, 2];
        let h = Header::new_checked(&b).unwrap();
        assert_eq!((h.icmp_type(), h.id(), h.seq()), (ECHO, 1, 2));
        assert!(Header::new_checked(&b[..7]).is_err());
    }
}
