//! Link layers: Ethernet (with 802.1Q tags), Linux SLL and SLL2, BSD loopback, raw IP
//! (print-ether.c, print-sll.c, print-null.c, print-raw.c).

use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc, hex};
use crate::wire::{ethertype, get_be16, get_u8};

/// tcpdump's ethertype_values (the names it prints for ethertypes).
pub(crate) fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x8847 => "MPLS unicast",
        0x8848 => "MPLS multicast",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x9100 => "802.1Q-9100",
        0x88a8 => "802.1Q-QinQ",
        0x9200 => "802.1Q-9200",
        0x88e5 => "802.1AE MACsec",
        0x0200 => "PUP",
        0x0806 => "ARP",
        0x8035 => "Reverse ARP",
        0x0600 => "NS",
        0x0500 => "Sprite",
        0x1000 => "Trail",
        0x6001 => "MOP DL",
        0x6002 => "MOP RC",
        0x6003 => "DN",
        0x6004 => "LAT",
        0x6007 => "SCA",
        0x6558 => "TEB",
        0x8038 => "Lanbridge",
        0x803c => "DEC DNS",
        0x803e => "DEC DTS",
        0x805b => "VEXP",
        0x805c => "VPROD",
        0x809b => "Appletalk",
        0x80f3 => "Appletalk ARP",
        0x8137 => "IPX",
        0x880b => "PPP",
        0x8808 => "MPCP",
        0x8809 => "Slow Protocols",
        0x8863 => "PPPoE D",
        0x8864 => "PPPoE S",
        0x888e => "EAPOL",
        0x8899 => "Realtek protocols",
        0x886f => "MS NLB heartbeat",
        0x8870 => "Jumbo",
        0x894f => "NSH",
        0x9000 => "Loopback",
        0xfefe => "OSI",
        0xa000 => "GRE-OSI",
        0xabcd => "CFM (old)",
        0x8902 => "CFM",
        0x893a => "IEEE1905.1",
        0x88cc => "LLDP",
        0x88ca => "TIPC",
        0x0707 => "GeoNet (old)",
        0x8947 => "GeoNet",
        0x1111 => "CALM FAST",
        0x88a2 => "AoE",
        0x88f7 => "PTP",
        0xd28b => "Arista Vendor Specific Protocol",
        0xdada => "MEDSA",
        0x3c12 => "PPPoE D (old)",
        0x3c13 => "PPPoE S (old)",
        0x8819 => "CobraNet",
        _ => return None,
    })
}

fn is_vlan(t: u16) -> bool {
    matches!(
        t,
        ethertype::VLAN | ethertype::VLAN_9100 | ethertype::VLAN_9200 | ethertype::QINQ
    )
}

impl Printer {
    pub(super) fn ether(&mut self, out: &mut Vec<u8>, data: &[u8], orig_len: u32) -> PResult {
        self.proto = "ether";
        let caplen = data.len();
        let length = orig_len as usize;
        if length < caplen {
            out.s("[length ");
            out.u(length as u64);
            out.s(" < caplen ");
            out.u(caplen as u64);
            out.s("] (invalid)");
            return Ok(());
        }
        if caplen < 14 {
            return Err(Trunc);
        }
        let (dst, src) = (&data[0..6], &data[6..12]);
        let mut off = 12usize;
        let mut length_type = get_be16(data, off).ok_or(Trunc)?;
        off += 2;
        let mut rem_len = length - 14;
        while is_vlan(length_type) {
            if data.len() - off < 4 || rem_len < 4 {
                self.proto = "vlan";
                return Err(Trunc);
            }
            length_type = get_be16(data, off + 2).ok_or(Trunc)?;
            off += 4;
            rem_len -= 4;
        }
        let payload = &data[off..];
        if length_type <= ethertype::MAX_LENGTH || length_type == 0x8870 {
            // 802.3 / LLC: not decoded here.
            self.limit(Coverage::Unsupported);
            out.linkaddr(src);
            out.s(" > ");
            out.linkaddr(dst);
            out.s(", 802.3, length ");
            out.u(length as u64);
            out.s(": ");
            self.default_print(out, payload, payload.len());
            return Ok(());
        }
        if !self.ethertype(out, length_type, payload, rem_len)? {
            if ethertype_name(length_type).is_some() {
                self.limit(Coverage::Unsupported);
            }
            out.linkaddr(src);
            out.s(" > ");
            out.linkaddr(dst);
            out.s(", ethertype ");
            out.s(ethertype_name(length_type).unwrap_or("Unknown"));
            out.s(" (0x");
            out.x_pad(length_type as u64, 4);
            out.s("), length ");
            out.u(length as u64);
            out.s(": ");
            self.default_print(out, payload, payload.len());
        }
        Ok(())
    }

    /// ethertype_print(): Ok(false) when the type is not one we decode.
    pub(super) fn ethertype(&mut self, out: &mut Vec<u8>, t: u16, data: &[u8], length: usize) -> Result<bool, Trunc> {
        match t {
            ethertype::IPV4 => self.ip(out, data, length)?,
            ethertype::IPV6 => self.ip6(out, data, length)?,
            ethertype::ARP | ethertype::REVARP => self.arp(out, data, length)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// ND_DEFAULTPRINT: a hex and ASCII dump on following lines.
    pub(super) fn default_print(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) {
        if hex::hex_and_ascii(out, "\n\t", data, length) {
            out.s(" [|");
            out.s(self.proto);
            out.c(b']');
        }
    }

    pub(super) fn sll(&mut self, out: &mut Vec<u8>, data: &[u8], orig_len: u32) -> PResult {
        self.proto = "sll";
        if data.len() < 16 {
            return Err(Trunc);
        }
        let length = (orig_len as usize).saturating_sub(16);
        let hatype = get_be16(data, 2).ok_or(Trunc)?;
        let mut proto = get_be16(data, 14).ok_or(Trunc)?;
        let mut p = &data[16..];
        let mut length = length;
        if hatype == 803 {
            self.limit(Coverage::Unsupported);
            out.s("radiotap");
            return Ok(());
        }
        loop {
            if proto <= ethertype::MAX_LENGTH {
                // 802.3 / 802.2 / unknown: not decoded here.
                self.limit(Coverage::Unsupported);
                self.default_print(out, p, p.len());
                return Ok(());
            }
            if proto == ethertype::VLAN {
                if p.len() < 4 || length < 4 {
                    self.proto = "vlan";
                    return Err(Trunc);
                }
                proto = get_be16(p, 2).ok_or(Trunc)?;
                if proto <= ethertype::MAX_LENGTH {
                    proto = 4; // LINUX_SLL_P_802_2
                }
                out.s("ethertype ");
                out.s(ethertype_name(proto).unwrap_or("Unknown"));
                out.s(", ");
                p = &p[4..];
                length -= 4;
                continue;
            }
            if !self.ethertype(out, proto, p, length)? {
                self.limit(Coverage::Unsupported);
                self.sll_header(out, data, length + 16);
                self.default_print(out, p, p.len());
            }
            return Ok(());
        }
    }

    /// sll_print(): the cooked header as `-e` shows it.
    fn sll_header(&mut self, out: &mut Vec<u8>, h: &[u8], length: usize) {
        let pkttype = get_be16(h, 0).unwrap_or(0);
        out.s(match pkttype {
            0 => "In",
            1 => "B",
            2 => "M",
            3 => "P",
            4 => "Out",
            _ => "?",
        });
        out.c(b' ');
        let halen = get_be16(h, 4).unwrap_or(0) as usize;
        if halen <= 8 {
            out.linkaddr(&h[6..6 + halen]);
        }
        let proto = get_be16(h, 14).unwrap_or(0);
        out.s(" ethertype ");
        out.s(ethertype_name(proto).unwrap_or("Unknown"));
        out.s(" (0x");
        out.x_pad(proto as u64, 4);
        out.s("), length ");
        out.u(length as u64);
        out.s(": ");
    }

    pub(super) fn sll2(&mut self, out: &mut Vec<u8>, data: &[u8], orig_len: u32) -> PResult {
        self.proto = "sll2";
        if data.len() < 20 {
            return Err(Trunc);
        }
        let ifindex = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let start = out.len();
        // if_indextoname() as tcpdump calls it, once per interface index.
        let name = self.ifnames.entry(ifindex).or_insert_with(|| match ifname_of(ifindex) {
            Some((buf, len)) => String::from_utf8_lossy(&buf[..len]).into_owned(),
            None => "?".to_owned(),
        });
        out.s(name);
        while out.len() - start < 5 {
            out.c(b' ');
        }
        out.c(b' ');
        let start = out.len();
        out.s(match data[10] {
            0 => "In",
            1 => "B",
            2 => "M",
            3 => "P",
            4 => "Out",
            _ => "?",
        });
        while out.len() - start < 3 {
            out.c(b' ');
        }
        out.c(b' ');
        let length = (orig_len as usize).saturating_sub(20);
        let hatype = get_be16(data, 8).ok_or(Trunc)?;
        if hatype == 803 {
            self.limit(Coverage::Unsupported);
            return Ok(());
        }
        let mut proto = get_be16(data, 0).ok_or(Trunc)?;
        let mut p = &data[20..];
        let mut length = length;
        loop {
            if proto <= ethertype::MAX_LENGTH {
                self.limit(Coverage::Unsupported);
                self.default_print(out, p, p.len());
                return Ok(());
            }
            if proto == ethertype::VLAN {
                if p.len() < 4 || length < 4 {
                    self.proto = "vlan";
                    return Err(Trunc);
                }
                proto = get_be16(p, 2).ok_or(Trunc)?;
                if proto <= ethertype::MAX_LENGTH {
                    proto = 4;
                }
                out.s("ethertype ");
                out.s(ethertype_name(proto).unwrap_or("Unknown"));
                out.s(", ");
                p = &p[4..];
                length -= 4;
                continue;
            }
            if !self.ethertype(out, proto, p, length)? {
                self.limit(Coverage::Unsupported);
                out.s("ethertype ");
                out.s(ethertype_name(proto).unwrap_or("Unknown"));
                out.s(" (0x");
                out.x_pad(proto as u64, 4);
                out.s("), length ");
                out.u((length + 20) as u64);
                out.s(": ");
                self.default_print(out, p, p.len());
            }
            return Ok(());
        }
    }

    /// DLT_NULL / DLT_LOOP: a 4-byte address family (host order for NULL, network for LOOP).
    pub(super) fn null(&mut self, out: &mut Vec<u8>, data: &[u8], orig_len: u32, loop_: bool) -> PResult {
        self.proto = if loop_ { "loop" } else { "null" };
        if data.len() < 4 {
            return Err(Trunc);
        }
        let raw = [data[0], data[1], data[2], data[3]];
        let mut family = if loop_ {
            u32::from_be_bytes(raw)
        } else {
            u32::from_ne_bytes(raw)
        };
        if !loop_ && family & 0xffff_0000 != 0 {
            family = family.swap_bytes();
        }
        let length = (orig_len as usize).saturating_sub(4);
        let p = &data[4..];
        match family {
            2 => self.ip(out, p, length),
            24 | 28 | 30 => self.ip6(out, p, length),
            _ => {
                self.limit(Coverage::Unsupported);
                out.s("AF ");
                out.u(family as u64);
                out.s(", length ");
                out.u(length as u64 + 4);
                out.s(": ");
                self.default_print(out, p, p.len());
                Ok(())
            }
        }
    }

    /// Raw IP (LINKTYPE_RAW, IPV4, IPV6): ipN_print().
    pub(super) fn raw(&mut self, out: &mut Vec<u8>, data: &[u8], orig_len: u32) -> PResult {
        self.proto = "ipn";
        if orig_len < 1 {
            out.s("truncated-ip ");
            out.u(orig_len as u64);
            return Ok(());
        }
        let v = get_u8(data, 0).ok_or(Trunc)?;
        match v & 0xf0 {
            0x40 => self.ip(out, data, orig_len as usize),
            0x60 => self.ip6(out, data, orig_len as usize),
            _ => {
                out.s("unknown ip ");
                out.u((v >> 4) as u64);
                Ok(())
            }
        }
    }
}

/// if_indextoname(), as tcpdump uses for SLL2 captures without a name we were told about.
fn ifname_of(ifindex: u32) -> Option<([u8; 16], usize)> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes as if_indextoname requires.
    let r = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if r.is_null() {
        return None;
    }
    let mut name = [0u8; 16];
    let mut len = 0;
    for (i, &c) in buf.iter().enumerate().take(16) {
        if c == 0 {
            break;
        }
        name[i] = c as u8;
        len = i + 1;
    }
    Some((name, len))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn short_ethernet_is_truncated() {
        let mut p = printer();
        assert_eq!(line(&mut p, 1, &[0; 10]), " [|ether]\n");
    }

    #[test]
    fn unknown_ethertype_dumps_hex() {
        let mut p = printer();
        let mut f = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xb1, 0x04];
        f.extend_from_slice(b"AB");
        assert_eq!(
            line(&mut p, 1, &f),
            "07:08:09:0a:0b:0c > 01:02:03:04:05:06, ethertype Unknown (0xb104), length 16: \
             \n\t0x0000:  4142                                     AB\n"
        );
    }

    #[test]
    fn sll2_names_interface() {
        let mut p = printer();
        p.set_interface_name(3, "veth0");
        let mut f = vec![0x08, 0x06, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[
            0, 1, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ]);
        assert_eq!(
            line(&mut p, 276, &f),
            "veth0 Out ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28\n"
        );
    }
}
