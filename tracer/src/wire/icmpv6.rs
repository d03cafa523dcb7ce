//! ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861) type numbers.

/// The fixed header (type, code, checksum, 4-byte rest) is laid out as ICMPv4's.
pub use super::icmp::{HEADER_LEN, Header};

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
