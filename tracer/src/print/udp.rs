//! UDP (print-udp.c).

use super::ip::{IpInfo, cksum_shouldbe};
use super::out::Out;
use super::{Coverage, PResult, Printer};
use crate::wire::{get_be16, get_be32, ipproto, udp};

/// Ports on which tcpdump 4.99.3 hands the payload to an application decoder we do not
/// implement; its line then differs from `UDP, length N`. (Found by running tcpdump over one
/// datagram per port; NetBIOS, 137/138, is decoded only in builds with SMB support.)
fn decoded_by_tcpdump(sport: u16, dport: u16, payload: &[u8]) -> bool {
    const EITHER: &[u16] = &[
        53, 67, 68, 69, 88, 123, 161, 162, 319, 320, 496, 500, 514, 520, 521, 525, 546, 547, 646, 654, 698, 701, 750,
        921, 1589, 1645, 1646, 1700, 1701, 1812, 1813, 2103, 2104, 3503, 3799, 4342, 4500, 4789, 4790, 5060, 5353,
        5359, 6081, 6343, 6635, 6696, 6697, 7500, 8231, 8472, 8500, 12222, 12223, 17754, 30490,
    ];
    const DST_ONLY: &[u16] = &[1985, 3456, 3784, 3785, 4567, 4784, 6784];
    if EITHER.contains(&sport) || EITHER.contains(&dport) || DST_ONLY.contains(&dport) {
        return true;
    }
    if (7000..=7009).contains(&sport) || (7000..=7009).contains(&dport) || sport == 49152 {
        return true;
    }
    // ONC RPC: a call to, or a reply from, the NFS port.
    let dir = get_be32(payload, 4);
    if (dport == NFS_PORT && dir == Some(0)) || (sport == NFS_PORT && dir == Some(1)) {
        return true;
    }
    // AppleTalk-in-UDP (kip) on its port ranges, recognised by the LAP type byte.
    let atalk = |p: u16| {
        (p.wrapping_sub(16512) as u32) < 128 || (p.wrapping_sub(200) as u32) < 128 || (p.wrapping_sub(768) as u32) < 128
    };
    payload.get(2) == Some(&2) && (atalk(sport) || atalk(dport))
}

const NFS_PORT: u16 = 2049;
const DOMAIN_PORT: u16 = 53;
const MDNS_PORT: u16 = 5353;

impl Printer {
    /// The -v checksum verdict: for IPv4 only with -vv (a zero checksum means none was sent),
    /// for IPv6 always; printed only when the whole datagram was captured.
    fn udp_cksum(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize, info: &IpInfo<'_>) {
        let udp_sum = get_be16(data, 6).unwrap_or(0);
        if !info.v6 {
            if self.opts.verbose < 2 {
                return;
            }
            if udp_sum == 0 {
                out.s("[no cksum] ");
                return;
            }
        }
        let Some(dgram) = data.get(..length + udp::HEADER_LEN) else {
            return;
        };
        let sum = info.nextproto_cksum(ipproto::UDP, dgram.len() as u32, dgram);
        if sum != 0 {
            out.s("[bad udp cksum 0x");
            out.x_pad(udp_sum as u64, 4);
            out.s(" -> 0x");
            out.x_pad(cksum_shouldbe(udp_sum, sum) as u64, 4);
            out.s("!] ");
        } else {
            out.s("[udp sum ok] ");
        }
    }

    /// udpipaddr_print(): addresses with ports, ports alone after IPv6 extension headers.
    fn udp_addrs(&mut self, out: &mut Vec<u8>, info: &IpInfo<'_>, ports: Option<(u16, u16)>) {
        if info.first_nh == ipproto::UDP {
            self.addr(out, info.v6, info.src);
            if let Some((s, _)) = ports {
                out.c(b'.');
                self.udp_port(out, s);
            }
            out.s(" > ");
            self.addr(out, info.v6, info.dst);
            if let Some((_, d)) = ports {
                out.c(b'.');
                self.udp_port(out, d);
            }
            out.s(": ");
        } else if let Some((s, d)) = ports {
            self.udp_port(out, s);
            out.s(" > ");
            self.udp_port(out, d);
            out.s(": ");
        }
    }

    pub(super) fn udp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize, info: IpInfo<'_>) -> PResult {
        self.proto = "udp";
        // Every truncation udp_print() finds is a `goto trunc`: the marker, then return.
        let (Some(sport), Some(dport)) = (get_be16(data, 0), get_be16(data, 2)) else {
            self.udp_addrs(out, &info, None);
            self.trunc_here(out);
            return Ok(());
        };
        let ports = Some((sport, dport));
        if length < udp::HEADER_LEN {
            self.udp_addrs(out, &info, ports);
            out.s("truncated-udp ");
            out.u(length as u64);
            return Ok(());
        }
        let Some(ulen) = get_be16(data, 4) else {
            self.udp_addrs(out, &info, ports);
            self.trunc_here(out);
            return Ok(());
        };
        let mut ulen = ulen as usize;
        if ulen == 0 && length > 65535 {
            ulen = length;
        }
        if ulen < udp::HEADER_LEN {
            self.udp_addrs(out, &info, ports);
            out.s("truncated-udplength ");
            out.u(ulen as u64);
            return Ok(());
        }
        let ulen = ulen - udp::HEADER_LEN;
        let mut length = length - udp::HEADER_LEN;
        if ulen < length {
            length = ulen;
        }
        if data.len() < udp::HEADER_LEN {
            self.udp_addrs(out, &info, ports);
            self.trunc_here(out);
            return Ok(());
        }
        self.udp_addrs(out, &info, ports);
        let payload = &data[udp::HEADER_LEN..];
        let decoded = !self.opts.quiet && decoded_by_tcpdump(sport, dport, payload);
        let dns = decoded && (sport == DOMAIN_PORT || dport == DOMAIN_PORT);
        // 4.99.3 tests multicast DNS right after port 53, before any other port.
        let mdns = decoded && !dns && (sport == MDNS_PORT || dport == MDNS_PORT);
        if decoded && !dns && !mdns {
            // The decoder's text replaces `UDP, length N`: what follows is a best effort.
            self.limit(Coverage::Unsupported);
        }
        if self.opts.verbose > 0 && !info.fragmented {
            self.udp_cksum(out, data, length, &info);
        }
        if dns || mdns {
            return self.domain(out, payload, length, false, mdns);
        }
        if ulen > length && !info.fragmented {
            out.s("UDP, bad length ");
            out.u(ulen as u64);
            out.s(" > ");
            out.u(length as u64);
        } else {
            out.s("UDP, length ");
            out.u(ulen as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::print::{Coverage, PrintOptions, Printer, TimeFormat};

    #[test]
    fn truncation_returns_as_tcpdump() {
        // udp_print() reports every truncation with `goto trunc` and returns: the -x dump skips
        // the link header.
        let mut p = printer();
        p.opts.hex = 1;
        let f = eth_ipv4(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &[3, 0xe8, 7, 0xd0, 0, 12, 0, 0, 1, 2, 3, 4],
        );
        for (cut, text) in [
            (37, "IP 10.0.0.1 > 10.0.0.2:  [|udp]"),
            (39, "IP 10.0.0.1.1000 > 10.0.0.2.2000:  [|udp]"),
            (41, "IP 10.0.0.1.1000 > 10.0.0.2.2000:  [|udp]"),
        ] {
            let l = line_cut(&mut p, 1, &f, cut);
            assert_eq!(l.lines().next(), Some(text), "cut {cut}");
            assert!(l.contains("\n\t0x0000:  4500 0020 "), "cut {cut}: {l}");
        }
    }

    #[test]
    fn plain_and_bad_length() {
        let mut p = printer();
        let f = eth_ipv4(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &[0x30, 0x39, 0x30, 0x3a, 0, 12, 0, 0, 1, 2, 3, 4],
        );
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1.12345 > 10.0.0.2.12346: UDP, length 4\n"
        );
        assert_eq!(p.last_coverage(), Coverage::Full);
        let f = eth_ipv4(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &[0x30, 0x39, 0x30, 0x3a, 0, 40, 0, 0, 1, 2, 3, 4],
        );
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1.12345 > 10.0.0.2.12346: UDP, bad length 32 > 4\n"
        );
        let f = eth_ipv4(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &[0, 123, 0x30, 0x3a, 0, 12, 0, 0, 1, 2, 3, 4],
        );
        line(&mut p, 1, &f);
        assert_eq!(p.last_coverage(), Coverage::Unsupported);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn verbose(v: u8) -> Printer {
        Printer::new(PrintOptions {
            time: TimeFormat::None,
            numeric: true,
            verbose: v,
            ..Default::default()
        })
    }

    #[test]
    fn checksums_need_vv_over_ipv4() {
        // Expected lines are tcpdump 4.99.3's for the same frames.
        let bad = hex("02000000000202000000000108004500002100014000401126c90a0000010a00000213881770000dbeef68656c6c6f");
        let none =
            hex("02000000000202000000000108004500002100014000401126c90a0000010a00000213881770000d000068656c6c6f");
        let mut p = verbose(1);
        assert!(line(&mut p, 1, &bad).ends_with("\n    10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 5\n"));
        let mut p = verbose(2);
        assert!(
            line(&mut p, 1, &bad)
                .ends_with("\n    10.0.0.1.5000 > 10.0.0.2.6000: [bad udp cksum 0xbeef -> 0x7d07!] UDP, length 5\n")
        );
        assert!(line(&mut p, 1, &none).ends_with("\n    10.0.0.1.5000 > 10.0.0.2.6000: [no cksum] UDP, length 5\n"));
    }

    #[test]
    fn dns_on_port_53() {
        let q = hex(
            "02000000000202000000000108004500003900014000401126b10a0000010a0000029c40003500256d8a12340100000100000000\
             0000076578616d706c6503636f6d0000010001",
        );
        let mut p = printer();
        assert_eq!(
            line(&mut p, 1, &q),
            "IP 10.0.0.1.40000 > 10.0.0.2.53: 4660+ A? example.com. (29)\n"
        );
        assert_eq!(p.last_coverage(), Coverage::Full);
        let r = hex(
            "02000000000202000000000108004500005900014000401126910a0000010a0000029c4000350045efbf12348180000100020000\
             0000076578616d706c6503636f6d0000010001c00c0001000100000e1000045db8d822c00c0001000100000e1000045db8d823",
        );
        let mut p = verbose(1);
        assert!(
            line(&mut p, 1, &r)
                .ends_with(": 4660 2/0/0 example.com. A 93.184.216.34, example.com. A 93.184.216.35 (61)\n")
        );
        // A record whose fixed part was not captured ends the list without a marker.
        let mut p = printer();
        assert_eq!(
            line_cut(&mut p, 1, &r, r.len() - 10),
            "IP 10.0.0.1.40000 > 10.0.0.2.53: 4660 2/0/0 A 93.184.216.34, (61)\n"
        );
    }
}
