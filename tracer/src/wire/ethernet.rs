//! Ethernet II header and 802.1Q tags.

use super::{Truncated, be16, check_len};

pub const HEADER_LEN: usize = 14;

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
}

/// A view of an Ethernet frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    buf: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, HEADER_LEN)?;
        Ok(Frame { buf })
    }
    pub fn dst(&self) -> &'a [u8] {
        &self.buf[field::DST]
    }
    pub fn src(&self) -> &'a [u8] {
        &self.buf[field::SRC]
    }
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, field::ETHERTYPE)
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

/// Length of an 802.1Q tag after the type that announces it.
pub const VLAN_TAG_LEN: usize = 4;

/// A view of an 802.1Q tag: TCI (priority, DEI, VLAN id), then the inner length/type.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<'a> {
    buf: &'a [u8],
}

impl<'a> VlanTag<'a> {
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Truncated> {
        check_len(buf, VLAN_TAG_LEN)?;
        Ok(VlanTag { buf })
    }
    /// Tag control information: priority (3 bits), DEI (1), VLAN id (12).
    pub fn tci(&self) -> u16 {
        be16(self.buf, 0)
    }
    /// The encapsulated length/type field.
    pub fn ethertype(&self) -> u16 {
        be16(self.buf, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_short() {
        let mut f = [0u8; 16];
        f[12] = 0x08;
        f[14] = 0x45;
        let e = Frame::new_checked(&f).unwrap();
        assert_eq!(e.ethertype(), 0x0800);
        assert_eq!(e.payload(), &[0x45, 0]);
        assert!(Frame::new_checked(&f[..13]).is_err());
    }

    #[test]
    fn vlan_tag() {
        let t = VlanTag::new_checked(&[0x20, 0x0a, 0x08, 0x00]).unwrap();
        assert_eq!((t.tci(), t.ethertype()), (0x200a, 0x0800));
        assert!(VlanTag::new_checked(&[0x20, 0x0a, 0x08]).is_err());
    }
}
