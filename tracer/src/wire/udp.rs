//! UDP header (RFC 768).

use super::{Truncated, be16, check_len};

pub const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
}

impl<'a> Header<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Header { buf })
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buf, 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, 2)
    }
    /// The UDP length field (a header field, not the size of a collection).
    #[allow(clippy::len_without_is_empty, reason = "`len` is the name of the UDP header field")]
    pub fn len(&self) -> u16 {
        be16(self.buf, 4)
    }
    pub fn checksum(&self) -> u16 {
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
    fn fields() {
        let b = [0, 53, 0x30, 0x39, 0, 12, 0, 0, 1, 2, 3, 4];
        let h = Header::new_checked(&b).unwrap();
        assert_eq!((h.src_port(), h.dst_port(), h.len()), (53, 12345, 12));
        assert_eq!(h.payload(), &[1, 2, 3, 4]);
        assert!(Header::new_checked(&b[..7]).is_err());
    }
}
