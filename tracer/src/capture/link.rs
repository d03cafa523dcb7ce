//! Link-layer framing of live packets. One Ethernet (or loopback) interface
//! is written as Ethernet, one without a link header as raw IP; several
//! interfaces (or `any`) as Linux cooked v2 (SLL2), as libpcap does, so each
//! packet carries its interface and direction.

use tracer_common::DIR_OUT;

use super::iface::{ARPHRD_NONE, Interface};

pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

const SLL2_HDR_LEN: usize = 20;
const ETH_HLEN: usize = 14;

/// tcpdump's name and description of a link type, for "listening on" lines.
pub fn describe(linktype: u32) -> &'static str {
    match linktype {
        LINKTYPE_ETHERNET => "EN10MB (Ethernet)",
        LINKTYPE_RAW => "RAW (Raw IP)",
        LINKTYPE_LINUX_SLL2 => "LINUX_SLL2 (Linux cooked v2)",
        _ => "unknown",
    }
}

/// The capture's link type for this set of interfaces.
pub fn linktype_for(ifaces: &[Interface], any: bool) -> u32 {
    match ifaces {
        [one] if !any && one.has_ethernet_header() => LINKTYPE_ETHERNET,
        [one] if !any && one.arphrd == ARPHRD_NONE => LINKTYPE_RAW,
        _ => LINKTYPE_LINUX_SLL2,
    }
}

const PACKET_HOST: u8 = 0;
const PACKET_BROADCAST: u8 = 1;
const PACKET_MULTICAST: u8 = 2;
const PACKET_OTHERHOST: u8 = 3;
const PACKET_OUTGOING: u8 = 4;

/// Writes the SLL2 form of `frame` (as captured on `iface`) into `out` and
/// returns the original length in that form.
pub fn to_sll2(out: &mut Vec<u8>, iface: &Interface, direction: u8, frame: &[u8], orig_len: u32) -> u32 {
    out.clear();
    let ethernet = iface.has_ethernet_header();
    let (protocol, payload, addr, halen, strip): (u16, &[u8], [u8; 8], u8, usize) = if ethernet {
        let proto = frame.get(12..14).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let mut addr = [0u8; 8];
        if let Some(src) = frame.get(6..12) {
            addr[..6].copy_from_slice(src);
        }
        (proto, frame.get(ETH_HLEN..).unwrap_or(&[]), addr, 6, ETH_HLEN)
    } else {
        let proto = match frame.first().map(|b| b >> 4) {
            Some(6) => 0x86dd,
            _ => 0x0800,
        };
        (proto, frame, [0; 8], 0, 0)
    };
    let pkttype = if iface.loopback {
        // libpcap drops the outgoing copy on loopback and keeps the incoming one.
        PACKET_HOST
    } else if direction == DIR_OUT {
        PACKET_OUTGOING
    } else {
        match frame.get(..6) {
            Some(dst) if ethernet && dst == iface.mac => PACKET_HOST,
            Some(dst) if ethernet && dst == [0xff; 6] => PACKET_BROADCAST,
            Some(dst) if ethernet && dst[0] & 1 == 1 => PACKET_MULTICAST,
            _ if ethernet => PACKET_OTHERHOST,
            _ => PACKET_HOST,
        }
    };
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&iface.index.to_be_bytes());
    out.extend_from_slice(&iface.arphrd.to_be_bytes());
    out.push(pkttype);
    out.push(halen);
    out.extend_from_slice(&addr);
    out.extend_from_slice(payload);
    (orig_len as usize).saturating_sub(strip).saturating_add(SLL2_HDR_LEN) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::iface::ARPHRD_ETHER;

    fn eth() -> Interface {
        Interface {
            name: "veth0".into(),
            index: 5,
            arphrd: ARPHRD_ETHER,
            mac: [2, 0, 0, 0, 0, 1],
            up: true,
            loopback: false,
        }
    }

    #[test]
    fn ethernet_frame_to_sll2() {
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        frame.extend_from_slice(&[0x45, 0, 0, 20]);
        let mut out = Vec::new();
        let orig = to_sll2(&mut out, &eth(), tracer_common::DIR_IN, &frame, 60);
        assert_eq!(orig, 60 - 14 + 20);
        assert_eq!(&out[..2], &[0x08, 0x00]);
        assert_eq!(&out[4..8], &5u32.to_be_bytes());
        assert_eq!(out[10], PACKET_HOST);
        assert_eq!(out[11], 6);
        assert_eq!(&out[12..18], &[2, 0, 0, 0, 0, 2]);
        assert_eq!(&out[20..], &[0x45, 0, 0, 20]);
    }

    #[test]
    fn outgoing_and_broadcast() {
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        let mut out = Vec::new();
        to_sll2(&mut out, &eth(), tracer_common::DIR_IN, &frame, 42);
        assert_eq!(out[10], PACKET_BROADCAST);
        to_sll2(&mut out, &eth(), DIR_OUT, &frame, 42);
        assert_eq!(out[10], PACKET_OUTGOING);
    }

    #[test]
    fn single_interface_linktypes() {
        assert_eq!(linktype_for(&[eth()], false), LINKTYPE_ETHERNET);
        assert_eq!(linktype_for(&[eth()], true), LINKTYPE_LINUX_SLL2);
        assert_eq!(linktype_for(&[eth(), eth()], false), LINKTYPE_LINUX_SLL2);
    }
}
