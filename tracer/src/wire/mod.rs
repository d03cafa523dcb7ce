//! Zero-copy header views, smoltcp style: one check_len() up front, then infallible accessors.
//!
//! Each view wraps a byte slice that starts at its header. `new_checked` verifies that the fixed
//! part of the header was captured; after that every accessor reads a named byte range in network
//! byte order and cannot panic. Variable-length parts (options, ARP addresses) have their own
//! checked accessors returning `Option`.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sll;
pub mod tcp;
pub mod udp;

/// The capture holds fewer bytes than a header needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("truncated header: need {needed} bytes, captured {captured}")]
pub struct Truncated {
    pub needed: usize,
    pub captured: usize,
}

/// Checks that `buf` holds at least `needed` bytes.
#[inline]
pub fn check_len(buf: &[u8], needed: usize) -> Result<(), Truncated> {
    if buf.len() < needed {
        Err(Truncated {
            needed,
            captured: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Reads a big-endian u16 at `off`. Callers guarantee the range through `check_len`.
#[inline]
pub(crate) fn be16(buf: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([buf[off], buf[off + 1]])
}

/// Reads a big-endian u32 at `off`. Callers guarantee the range through `check_len`.
#[inline]
pub(crate) fn be32(buf: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

/// Fallible big-endian reads for printers that must report exactly where a capture ran out.
#[inline]
pub fn get_u8(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

#[inline]
pub fn get_be16(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[inline]
pub fn get_be32(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Ethertypes the printers dispatch on.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const REVARP: u16 = 0x8035;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const VLAN_9100: u16 = 0x9100;
    pub const VLAN_9200: u16 = 0x9200;
    pub const IPV6: u16 = 0x86dd;
    pub const TRAIL: u16 = 0x1000;
    /// Values up to this one are 802.3 lengths, not types.
    pub const MAX_LENGTH: u16 = 1500;
}

/// IP protocol numbers the printers dispatch on.
pub mod ipproto {
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const DCCP: u8 = 33;
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ICMPV6: u8 = 58;
    pub const NONE: u8 = 59;
    pub const DSTOPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}
