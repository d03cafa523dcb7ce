//! IPv6 fixed header (RFC 8200).

use super::{Truncated, be16, be32, check_len};

pub const HEADER_LEN: usize = 40;

#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
}

impl<'a> Header<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Header { buf })
    }
    pub fn version(&self) -> u8 {
        self.buf[0] >> 4
    }
    pub fn traffic_class(&self) -> u8 {
        ((be32(self.buf, 0) >> 20) & 0xff) as u8
    }
    pub fn flow_label(&self) -> u32 {
        be32(self.buf, 0) & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.buf, 4)
    }
    pub fn next_header(&self) -> u8 {
        self.buf[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.buf[7]
    }
    pub fn src(&self) -> &'a [u8; 16] {
        self.buf[8..24].try_into().unwrap_or(&[0; 16])
    }
    pub fn dst(&self) -> &'a [u8; 16] {
        self.buf[24..40].try_into().unwrap_or(&[0; 16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 40];
        b[0] = 0x60;
        b[1] = 0x0a;
        b[3] = 0x01;
        b[5] = 20;
        b[6] = 6;
        b[7] = 64;
        b[39] = 1;
        let h = Header::new_checked(&b).unwrap();
        assert_eq!(h.version(), 6);
        assert_eq!(h.flow_label(), 0xa0001);
        assert_eq!(h.payload_len(), 20);
        assert_eq!(h.next_header(), 6);
        assert_eq!(h.dst()[15], 1);
        assert!(Header::new_checked(&b[..39]).is_err());
    }
}
