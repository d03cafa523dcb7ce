//! TCP header (RFC 9293).

use super::{Truncated, be16, be32, check_len};

pub const HEADER_LEN: usize = 20;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// Option kinds tcpdump names.
pub mod opt {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const ECHO: u8 = 6;
    pub const ECHOREPLY: u8 = 7;
    pub const TIMESTAMP: u8 = 8;
    pub const CC: u8 = 11;
    pub const CCNEW: u8 = 12;
    pub const CCECHO: u8 = 13;
    pub const SIGNATURE: u8 = 19;
    pub const SCPS: u8 = 20;
    pub const UTO: u8 = 28;
    pub const TCPAO: u8 = 29;
    pub const MPTCP: u8 = 30;
    pub const FASTOPEN: u8 = 34;
    pub const EXPERIMENT2: u8 = 254;
}

#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
}

impl<'a> Header<'a> {
    /// Checks the fixed 20-byte header (options are read with `options()`).
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
    pub fn seq(&self) -> u32 {
        be32(self.buf, 4)
    }
    pub fn ack(&self) -> u32 {
        be32(self.buf, 8)
    }
    /// Data offset in bytes.
    pub fn header_len(&self) -> usize {
        (self.buf[12] >> 4) as usize * 4
    }
    pub fn flags(&self) -> u8 {
        self.buf[13]
    }
    pub fn window(&self) -> u16 {
        be16(self.buf, 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 16)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.buf, 18)
    }
    /// The captured part of the options area (may be shorter than the header claims).
    pub fn options(&self) -> &'a [u8] {
        let end = self.header_len().min(self.buf.len()).max(HEADER_LEN);
        &self.buf[HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&80u16.to_be_bytes());
        b[4..8].copy_from_slice(&1000u32.to_be_bytes());
        b[12] = 6 << 4;
        b[13] = SYN | ACK;
        b[20] = opt::MSS;
        let h = Header::new_checked(&b).unwrap();
        assert_eq!(h.src_port(), 80);
        assert_eq!(h.seq(), 1000);
        assert_eq!(h.header_len(), 24);
        assert_eq!(h.flags(), SYN | ACK);
        assert_eq!(h.options().len(), 4);
        assert!(Header::new_checked(&b[..19]).is_err());
    }
}
