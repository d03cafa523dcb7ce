//! IPv4 header (RFC 791).

use super::{Truncated, be16, check_len};

pub const HEADER_LEN: usize = 20;

pub const FLAG_RF: u16 = 0x8000;
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
pub const OFFMASK: u16 = 0x1fff;

#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
}

impl<'a> Header<'a> {
    /// Checks the fixed 20-byte header.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Header { buf })
    }
    pub fn version(&self) -> u8 {
        self.buf[0] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        (self.buf[0] & 0x0f) as usize * 4
    }
    pub fn tos(&self) -> u8 {
        self.buf[1]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buf, 2)
    }
    pub fn id(&self) -> u16 {
        be16(self.buf, 4)
    }
    /// Flags and fragment offset, as on the wire.
    pub fn frag_field(&self) -> u16 {
        be16(self.buf, 6)
    }
    pub fn ttl(&self) -> u8 {
        self.buf[8]
    }
    pub fn protocol(&self) -> u8 {
        self.buf[9]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 10)
    }
    pub fn src(&self) -> [u8; 4] {
        [self.buf[12], self.buf[13], self.buf[14], self.buf[15]]
    }
    pub fn dst(&self) -> [u8; 4] {
        [self.buf[16], self.buf[17], self.buf[18], self.buf[19]]
    }
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let b = [
            0x45, 0, 0, 60, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let h = Header::new_checked(&b).unwrap();
        assert_eq!(h.version(), 4);
        assert_eq!(h.header_len(), 20);
        assert_eq!(h.total_len(), 60);
        assert_eq!(h.frag_field() & FLAG_DF, FLAG_DF);
        assert_eq!(h.protocol(), 6);
        assert_eq!(h.dst(), [10, 0, 0, 2]);
        assert!(Header::new_checked(&b[..19]).is_err());
    }
}
