//! IPv4 (print-ip.c) and the IP protocol demultiplexer (print-ip-demux.c).

use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc};
use crate::wire::{ipproto, ipv4};

/// What the transport printers need from the IP header in front of them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IpInfo<'a> {
    pub v6: bool,
    pub src: &'a [u8],
    pub dst: &'a [u8],
    /// ip_p / ip6_nxt of the fixed header: the transport printers print addresses with ports
    /// only when it names their own protocol (not after IPv6 extension headers).
    pub first_nh: u8,
    pub fragmented: bool,
    /// The destination the TCP/UDP/ICMPv6 pseudo-header uses (tcpdump's ip_finddst /
    /// ip6_finddst): the last address of an IPv4 LSRR/SSRR option or of an IPv6 routing
    /// header (type 0/2; segment 0 of type 4), otherwise `dst`.
    pub cksum_dst: &'a [u8],
    /// ip_len (IPv4 total length) or ip6_plen (IPv6 payload length) as in the header.
    pub ip_len: u16,
    /// ip_ttl / ip6_hlim.
    pub ttl: u8,
}

impl IpInfo<'_> {
    /// nextproto4_cksum / nextproto6_cksum: the Internet checksum over the pseudo-header
    /// (src, `cksum_dst`, `len`, `next_proto`) and `data`; 0 when the packet's checksum is
    /// right. Big-endian, so print it as is and pass it to [`cksum_shouldbe`].
    pub fn nextproto_cksum(&self, next_proto: u8, len: u32, data: &[u8]) -> u16 {
        let mut sum = cksum_add(0, self.src);
        sum = cksum_add(sum, self.cksum_dst);
        if self.v6 {
            sum = cksum_add(sum, &len.to_be_bytes());
        } else {
            // struct phdr has a 16-bit length.
            sum = cksum_add(sum, &(len as u16).to_be_bytes());
        }
        sum = cksum_add(sum, &[0, next_proto]);
        cksum_fold(cksum_add(sum, data))
    }
}

/// Adds `data` to a ones'-complement running sum as big-endian 16-bit words (an odd last byte
/// is padded with zero; callers only split sums at even offsets).
pub(crate) fn cksum_add(mut sum: u64, data: &[u8]) -> u64 {
    let mut it = data.chunks_exact(2);
    for w in &mut it {
        sum = sum.wrapping_add(u16::from_be_bytes([w[0], w[1]]) as u64);
    }
    if let [b] = it.remainder() {
        sum = sum.wrapping_add((*b as u64) << 8);
    }
    sum
}

/// Folds a running sum to 16 bits and complements it (in_cksum's result, big-endian).
pub(crate) fn cksum_fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// in_cksum() over one buffer, big-endian: 0 when the embedded checksum is right.
pub(crate) fn in_cksum(data: &[u8]) -> u16 {
    cksum_fold(cksum_add(0, data))
}

/// in_cksum_shouldbe(): the value the checksum field should have held, given the field
/// (`sum`) and in_cksum's big-endian result over the data including it (`computed`).
pub(crate) fn cksum_shouldbe(sum: u16, computed: u16) -> u16 {
    let mut s = sum as u32 + computed as u32;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// ip_finddst(): the final destination of a valid LSRR/SSRR option in `opts` (the bytes
/// between the fixed header and the header length), else None.
pub(crate) fn ip_finddst(opts: &[u8]) -> Option<&[u8]> {
    let mut i = 0usize;
    while i < opts.len() {
        let t = *opts.get(i)?;
        let len = match t {
            0 => break,
            1 => 1,
            _ => {
                let l = *opts.get(i + 1)? as usize;
                if l < 2 {
                    break;
                }
                l
            }
        };
        let opt = opts.get(i..i + len)?;
        if (t == 0x83 || t == 0x89) && len >= 7 {
            return opt.get(len - 4..);
        }
        i += len;
    }
    None
}

/// Protocols tcpdump's ip_demux_print() decodes and we do not.
fn demux_unsupported(nh: u8) -> bool {
    matches!(
        nh,
        2 | 4 | 8 | 9 | 62 | 33 | 41 | 46 | 47 | 50 | 51 | 55 | 77 | 88 | 89 | 103 | 108 | 112 | 113 | 132 | 135 | 143
    )
}

impl Printer {
    /// "src > dst: "
    pub(super) fn ip_addrs(&mut self, out: &mut Vec<u8>, info: &IpInfo<'_>) {
        self.addr(out, info.v6, info.src);
        out.s(" > ");
        self.addr(out, info.v6, info.dst);
        out.s(": ");
    }

    pub(super) fn ip(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> PResult {
        self.proto = "ip";
        let vhl = *data.first().ok_or(Trunc)?;
        if vhl >> 4 != 4 {
            if vhl >> 4 == 6 {
                out.s("IP6, wrong link-layer encapsulation");
            } else {
                out.s("IP");
                out.u((vhl >> 4) as u64);
            }
            out.s(" (invalid)");
            return Ok(());
        }
        out.s("IP ");
        let h = ipv4::Header::new_checked(data).map_err(|_| Trunc)?;
        if length < ipv4::HEADER_LEN {
            out.s("truncated-ip ");
            out.u(length as u64);
            return Ok(());
        }
        let hlen = h.header_len();
        if hlen < ipv4::HEADER_LEN {
            out.s("bad-hlen ");
            out.u(hlen as u64);
            return Ok(());
        }
        let ip_len = h.total_len() as usize;
        if length < ip_len {
            out.s("truncated-ip - ");
            out.u((ip_len - length) as u64);
            out.s(" bytes missing! ");
        }
        if ip_len < hlen {
            out.s("bad-len ");
            out.u(ip_len as u64);
            return Ok(());
        }
        // Cut the capture off at the end of the IP datagram.
        let data = &data[..ip_len.min(data.len())];
        let len = ip_len - hlen;
        let off = h.frag_field();
        let nh = h.protocol();
        let src = &data[12..16];
        let dst = &data[16..20];
        let info = IpInfo {
            v6: false,
            src,
            dst,
            first_nh: nh,
            fragmented: off & ipv4::FLAG_MF != 0,
            cksum_dst: data.get(20..hlen).and_then(ip_finddst).unwrap_or(dst),
            ip_len: h.total_len(),
            ttl: h.ttl(),
        };
        if off & ipv4::OFFMASK == 0 {
            if !matches!(nh, ipproto::TCP | ipproto::UDP | ipproto::SCTP | ipproto::DCCP) {
                self.ip_addrs(out, &info);
            }
            if data.len() < hlen {
                out.s(" [remaining caplen(");
                out.u(data.len() as u64);
                out.s(") < header length(");
                out.u(hlen as u64);
                out.s(")]");
                return Err(Trunc);
            }
            self.ip_demux(out, &data[hlen..], len, info, nh)
        } else {
            self.ipaddr(out, src);
            out.s(" > ");
            self.ipaddr(out, dst);
            out.s(": ip-proto-");
            out.u(nh as u64);
            Ok(())
        }
    }

    pub(super) fn ip_demux(
        &mut self,
        out: &mut Vec<u8>,
        data: &[u8],
        length: usize,
        info: IpInfo<'_>,
        nh: u8,
    ) -> PResult {
        match nh {
            ipproto::TCP => self.tcp(out, data, length, info),
            ipproto::UDP => self.udp(out, data, length, info),
            ipproto::ICMP if !info.v6 => self.icmp(out, data, length, info),
            ipproto::ICMPV6 if info.v6 => self.icmp6(out, data, length, info),
            ipproto::ICMP | ipproto::ICMPV6 => {
                out.s(if nh == ipproto::ICMP {
                    "[ICMP requires IPv4]"
                } else {
                    "[ICMPv6 requires IPv6]"
                });
                out.s(" (invalid)");
                Ok(())
            }
            _ if demux_unsupported(nh) => {
                self.limit(Coverage::Unsupported);
                out.s(" ip-proto-");
                out.u(nh as u64);
                out.c(b' ');
                out.u(length as u64);
                Ok(())
            }
            ipproto::NONE if info.v6 => {
                self.limit(Coverage::Unsupported);
                out.s("no next header");
                Ok(())
            }
            _ => {
                out.s(" ip-proto-");
                out.u(nh as u64);
                out.c(b' ');
                out.u(length as u64);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::print::Coverage;

    #[test]
    fn unknown_protocol() {
        let mut p = printer();
        let f = eth_ipv4(99, [10, 0, 0, 1], [10, 0, 0, 2], &[0; 6]);
        assert_eq!(line(&mut p, 1, &f), "IP 10.0.0.1 > 10.0.0.2:  ip-proto-99 6\n");
        assert_eq!(p.last_coverage(), Coverage::Full);
    }

    #[test]
    fn short_header_and_missing_bytes() {
        let mut p = printer();
        let f = eth_ipv4(99, [10, 0, 0, 1], [10, 0, 0, 2], &[0; 6]);
        assert_eq!(line(&mut p, 1, &f[..30]), "IP  [|ip]\n");
        let mut f2 = f.clone();
        f2[17] = 40; // total length 40 > 26 on the wire
        assert_eq!(
            line(&mut p, 1, &f2),
            "IP truncated-ip - 14 bytes missing! 10.0.0.1 > 10.0.0.2:  ip-proto-99 20\n"
        );
    }

    #[test]
    fn later_fragment() {
        let mut p = printer();
        let mut f = eth_ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &[0; 8]);
        f[20] = 0x00;
        f[21] = 0xb9;
        assert_eq!(line(&mut p, 1, &f), "IP 10.0.0.1 > 10.0.0.2: ip-proto-17\n");
    }
}
