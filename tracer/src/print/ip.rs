//! IPv4 (print-ip.c) and the IP protocol demultiplexer (print-ip-demux.c).

use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc};
use crate::wire::{get_be16, get_be32, get_u8, ipproto, ipv4};

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
    #[allow(
        dead_code,
        reason = "for the transport printers, as tcpdump hands them the IP header"
    )]
    pub ip_len: u16,
    /// ip_ttl / ip6_hlim.
    #[allow(
        dead_code,
        reason = "for the transport printers, as tcpdump hands them the IP header"
    )]
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
        2 | 8 | 9 | 33 | 143 | 46 | 47 | 50 | 51 | 55 | 88 | 89 | 103 | 108 | 112 | 113 | 132
    )
}

/// tcpdump's ipproto_values: the protocol names `-v` prints.
pub(crate) fn ipproto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "Options",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        8 => "EGP",
        9 => "IGRP",
        17 => "UDP",
        33 => "DCCP",
        41 => "IPv6",
        43 => "Routing",
        44 => "Fragment",
        46 => "RSVP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        55 => "Mobile IP",
        58 => "ICMPv6",
        62 => "Mobile IP (old)",
        88 => "EIGRP",
        89 => "OSPF",
        103 => "PIM",
        108 => "Compressed IP",
        112 => "VRRP",
        113 => "PGM",
        132 => "SCTP",
        135 => "Mobility",
        143 => "Ethernet",
        _ => return None,
    })
}

/// netdb_protoname(): tcpdump's built-in copy of the protocols database, by number ("" for
/// numbers it has no name for).
const NETDB_PROTO: [&str; 143] = [
    "hopopt",
    "icmp",
    "igmp",
    "ggp",
    "ipencap",
    "st",
    "tcp",
    "cbt",
    "egp",
    "igp",
    "bbn-rcc-mon",
    "nvp-ii",
    "pup",
    "argus",
    "emcon",
    "xnet",
    "chaos",
    "udp",
    "mux",
    "dcn-meas",
    "hmp",
    "prm",
    "xns-idp",
    "trunk-1",
    "trunk-2",
    "leaf-1",
    "leaf-2",
    "rdp",
    "irtp",
    "iso-tp4",
    "netblt",
    "mfe-nsp",
    "merit-inp",
    "dccp",
    "3pc",
    "idpr",
    "xtp",
    "ddp",
    "idpr-cmtp",
    "tp++",
    "il",
    "ipv6",
    "sdrp",
    "ipv6-route",
    "ipv6-frag",
    "idrp",
    "rsvp",
    "gre",
    "dsr",
    "bna",
    "esp",
    "ah",
    "i-nlsp",
    "swipe",
    "narp",
    "mobile",
    "tlsp",
    "skip",
    "ipv6-icmp",
    "ipv6-nonxt",
    "ipv6-opts",
    "",
    "cftp",
    "",
    "sat-expak",
    "kryptolan",
    "rvd",
    "ippc",
    "",
    "sat-mon",
    "visa",
    "ipcv",
    "cpnx",
    "rspf",
    "wsn",
    "pvp",
    "br-sat-mon",
    "sun-nd",
    "wb-mon",
    "wb-expak",
    "iso-ip",
    "vmtp",
    "secure-vmtp",
    "vines",
    "ttp",
    "nsfnet-igp",
    "dgp",
    "tcf",
    "eigrp",
    "ospf",
    "sprite-rpc",
    "larp",
    "mtp",
    "ax.25",
    "ipip",
    "micp",
    "scc-sp",
    "etherip",
    "encap",
    "",
    "gmtp",
    "ifmp",
    "pnni",
    "pim",
    "aris",
    "scps",
    "qnx",
    "a/n",
    "ipcomp",
    "snp",
    "compaq-peer",
    "ipx-in-ip",
    "vrrp",
    "pgm",
    "",
    "l2tp",
    "ddx",
    "iatp",
    "stp",
    "srp",
    "uti",
    "smp",
    "sm",
    "ptp",
    "isis",
    "fire",
    "crtp",
    "crudp",
    "sscopmce",
    "iplt",
    "sps",
    "pipe",
    "sctp",
    "fc",
    "rsvp-e2e-ignore",
    "mobility-header",
    "udplite",
    "mpls-in-ip",
    "manet",
    "hip",
    "shim6",
    "wesp",
    "rohc",
];

fn netdb_protoname(p: u8) -> Option<&'static str> {
    match p {
        253 | 254 => Some(if p == 253 { "exptest-253" } else { "exptest-254" }),
        255 => Some("reserved"),
        _ => NETDB_PROTO.get(p as usize).copied().filter(|n| !n.is_empty()),
    }
}

/// IP option numbers (ip_option_values).
mod ipopt {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const RR: u8 = 7;
    pub const TS: u8 = 68;
    pub const SECURITY: u8 = 130;
    pub const LSRR: u8 = 131;
    pub const SSRR: u8 = 137;
    pub const RA: u8 = 148;
    pub const TRACEROUTE: u8 = 82;

    pub fn name(code: u8) -> Option<&'static str> {
        Some(match code {
            EOL => "EOL",
            NOP => "NOP",
            TS => "timestamp",
            SECURITY => "security",
            RR => "RR",
            SSRR => "SSRR",
            LSRR => "LSRR",
            RA => "RA",
            TRACEROUTE => "traceroute",
            _ => return None,
        })
    }
}

/// Whether an option printer got to its end (`Ok(true)`) or found its data cut short by the
/// capture (`Ok(false)`, tcpdump's local `goto trunc`); `Err` is tcpdump's longjmp.
type OptResult = Result<bool, Trunc>;

impl Printer {
    /// "src > dst: "
    pub(super) fn ip_addrs(&mut self, out: &mut Vec<u8>, info: &IpInfo<'_>) {
        self.addr(out, info.v6, info.src);
        out.s(" > ");
        self.addr(out, info.v6, info.dst);
        out.s(": ");
    }

    /// ip_print()
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
        if !self.opts.link_header {
            out.s("IP ");
        }
        // ND_TCHECK_SIZE: a header cut short prints the marker and returns (no longjmp; with no
        // byte at all, reading the version above already longjmped).
        let Ok(h) = ipv4::Header::new_checked(data) else {
            self.trunc_here(out);
            return Ok(());
        };
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
        if self.opts.verbose > 0 {
            let tos = h.tos();
            out.s("(tos 0x");
            out.x(tos as u64);
            match tos & 3 {
                1 => out.s(",ECT(1)"),
                2 => out.s(",ECT(0)"),
                3 => out.s(",CE"),
                _ => {}
            }
            if h.ttl() >= 1 {
                out.s(", ttl ");
                out.u(h.ttl() as u64);
            }
            out.s(", id ");
            out.u(h.id() as u64);
            out.s(", offset ");
            out.u((off & ipv4::OFFMASK) as u64 * 8);
            out.s(", flags [");
            let mut sep = "";
            for (bit, name) in [(ipv4::FLAG_MF, "+"), (ipv4::FLAG_DF, "DF"), (ipv4::FLAG_RF, "rsvd")] {
                if off & bit != 0 {
                    out.s(sep);
                    out.s(name);
                    sep = ", ";
                }
            }
            if sep.is_empty() {
                out.s("none");
            }
            out.s("], proto ");
            out.s(ipproto_name(nh).unwrap_or("unknown"));
            out.s(" (");
            out.u(nh as u64);
            out.s("), length ");
            out.u(ip_len as u64);
            let mut truncated = false;
            if hlen > ipv4::HEADER_LEN {
                out.s(", options (");
                if !self.ip_optprint(out, data, ipv4::HEADER_LEN, hlen)? {
                    out.s(" [truncated-option]");
                    truncated = true;
                }
                out.c(b')');
            }
            if let Some(hdr) = data.get(..hlen) {
                let sum = in_cksum(hdr);
                if sum != 0 {
                    out.s(", bad cksum ");
                    out.x(h.checksum() as u64);
                    out.s(" (->");
                    out.x(cksum_shouldbe(h.checksum(), sum) as u64);
                    out.s(")!");
                }
            }
            out.s(")\n    ");
            if truncated {
                self.ipaddr(out, src);
                out.s(" > ");
                self.ipaddr(out, dst);
                out.s(": ");
                self.trunc_here(out);
                return Ok(());
            }
        }
        let info = IpInfo {
            v6: false,
            src,
            dst,
            first_nh: nh,
            fragmented: off & ipv4::FLAG_MF != 0,
            cksum_dst: data.get(ipv4::HEADER_LEN..hlen).and_then(ip_finddst).unwrap_or(dst),
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
            out.c(b':');
            match netdb_protoname(nh).filter(|_| !self.opts.numeric) {
                Some(name) => {
                    out.c(b' ');
                    out.s(name);
                }
                None => {
                    out.s(" ip-proto-");
                    out.u(nh as u64);
                }
            }
            Ok(())
        }
    }

    /// ip_optprint(): the options between `start` and `end` of `data`, comma-separated.
    fn ip_optprint(&mut self, out: &mut Vec<u8>, data: &[u8], start: usize, end: usize) -> OptResult {
        let mut cp = start;
        let mut length = end.saturating_sub(start);
        let mut sep = "";
        while length > 0 {
            out.s(sep);
            sep = ",";
            let code = get_u8(data, cp).ok_or(Trunc)?;
            match ipopt::name(code) {
                Some(n) => out.s(n),
                None => {
                    out.s("unknown ");
                    out.u(code as u64);
                }
            }
            let option_len = if code == ipopt::NOP || code == ipopt::EOL {
                1
            } else {
                let l = get_u8(data, cp + 1).ok_or(Trunc)? as usize;
                if l < 2 {
                    out.s(" [bad length ");
                    out.u(l as u64);
                    out.c(b']');
                    return Ok(true);
                }
                l
            };
            if option_len > length {
                out.s(" [bad length ");
                out.u(option_len as u64);
                out.c(b']');
                return Ok(true);
            }
            if data.len() < cp + option_len {
                return Ok(false);
            }
            match code {
                ipopt::EOL => return Ok(true),
                ipopt::TS if !self.ip_printts(out, data, cp, option_len as u32)? => return Ok(false),
                ipopt::RR | ipopt::SSRR | ipopt::LSRR if !self.ip_printroute(out, data, cp, option_len as u32)? => {
                    return Ok(false);
                }
                ipopt::RA => {
                    if option_len < 4 {
                        out.s(" [bad length ");
                        out.u(option_len as u64);
                        out.c(b']');
                    } else {
                        let v = get_be16(data, cp + 2).ok_or(Trunc)?;
                        if v != 0 {
                            out.s(" value ");
                            out.u(v as u64);
                        }
                    }
                }
                _ => {}
            }
            cp += option_len;
            length -= option_len;
        }
        Ok(true)
    }

    /// ip_printroute(): the addresses of an RR, LSRR or SSRR option of `length` bytes at `cp`.
    fn ip_printroute(&mut self, out: &mut Vec<u8>, data: &[u8], cp: usize, length: u32) -> OptResult {
        if length < 3 {
            out.s(" [bad length ");
            out.u(length as u64);
            out.c(b']');
            return Ok(true);
        }
        if (length + 1) & 3 != 0 {
            out.s(" [bad length ");
            out.u(length as u64);
            out.c(b']');
        }
        let raw_ptr = get_u8(data, cp + 2).ok_or(Trunc)?;
        let ptr = (raw_ptr as u32).wrapping_sub(1);
        if ptr < 3 || ptr.wrapping_add(1) & 3 != 0 || ptr > length + 1 {
            out.s(" [bad ptr ");
            out.u(raw_ptr as u64);
            out.c(b']');
        }
        let mut len = 3u32;
        while len < length {
            let at = cp + len as usize;
            let Some(a) = data.get(at..at + 4) else {
                return Ok(false);
            };
            out.c(b' ');
            self.ipaddr(out, a);
            if ptr > len {
                out.c(b',');
            }
            len += 4;
        }
        Ok(true)
    }

    /// ip_printts(): a timestamp option of `length` bytes at `cp`.
    fn ip_printts(&mut self, out: &mut Vec<u8>, data: &[u8], cp: usize, length: u32) -> OptResult {
        if length < 4 {
            out.s("[bad length ");
            out.u(length as u64);
            out.c(b']');
            return Ok(true);
        }
        out.s(" TS{");
        let flags = get_u8(data, cp + 3).ok_or(Trunc)?;
        let hoplen: u32 = if flags & 0xf != 0 { 8 } else { 4 };
        if (length - 4) & (hoplen - 1) != 0 {
            out.s("[bad length ");
            out.u(length as u64);
            out.c(b']');
        }
        let raw_ptr = get_u8(data, cp + 2).ok_or(Trunc)?;
        let ptr = (raw_ptr as u32).wrapping_sub(1);
        let mut len = 0u32;
        if ptr < 4 || ptr.wrapping_sub(4) & (hoplen - 1) != 0 || ptr > length + 1 {
            out.s("[bad ptr ");
            out.u(raw_ptr as u64);
            out.c(b']');
        }
        let kind = match flags & 0xf {
            0 => Some("TSONLY"),
            1 => Some("TS+ADDR"),
            3 => Some("PRESPEC"),
            t => {
                out.s("[bad ts type ");
                out.u(t as u64);
                out.c(b']');
                None
            }
        };
        if let Some(kind) = kind {
            out.s(kind);
            let mut sep = " ";
            len = 4;
            while len < length {
                if ptr == len {
                    sep = " ^ ";
                }
                let at = cp + len as usize;
                let Some(hop) = data.get(at..at + hoplen as usize) else {
                    return Ok(false);
                };
                out.s(sep);
                let ts = hop.get(hop.len() - 4..).and_then(|b| get_be32(b, 0)).unwrap_or(0);
                out.u(ts as u64);
                out.c(b'@');
                if hoplen == 8 {
                    self.ipaddr(out, &hop[..4]);
                }
                sep = " ";
                len += hoplen;
            }
        }
        if ptr == len {
            out.s(" ^ ");
        }
        if flags >> 4 != 0 {
            out.s(" [");
            out.u((flags >> 4) as u64);
            out.s(" hops not recorded]} ");
        } else {
            out.c(b'}');
        }
        Ok(true)
    }

    /// ip_demux_print()
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
            ipproto::ICMP | 2 | ipproto::ICMPV6 | 143 if info.v6 == matches!(nh, ipproto::ICMP | 2) => {
                out.c(b'[');
                out.s(ipproto_name(nh).unwrap_or("unknown"));
                out.s(if nh == ipproto::ICMPV6 || nh == 143 {
                    " requires IPv6]"
                } else {
                    " requires IPv4]"
                });
                out.s(" (invalid)");
                Ok(())
            }
            4 => self.ip(out, data, length),
            ipproto::IPV6 => self.ip6(out, data, length),
            77 => {
                out.s(" nd ");
                out.u(length as u64);
                Ok(())
            }
            ipproto::NONE => {
                out.s("no next header");
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
            _ => {
                match netdb_protoname(nh).filter(|_| !self.opts.numeric) {
                    Some(name) => {
                        out.c(b' ');
                        out.s(name);
                    }
                    None => {
                        out.s(" ip-proto-");
                        out.u(nh as u64);
                    }
                }
                out.c(b' ');
                out.u(length as u64);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::print::{Coverage, PrintOptions, TimeFormat};

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    pub(crate) fn verbose_printer(v: u8) -> Printer {
        Printer::new(PrintOptions {
            time: TimeFormat::None,
            numeric: true,
            verbose: v,
            ..Default::default()
        })
    }

    #[test]
    fn verbose_header_with_options_and_bad_checksum() {
        let mut p = verbose_printer(1);
        let f = unhex("02000000000202000000000108004700002000014000406312340a0000010a0000020707080a0000050100000000");
        assert_eq!(
            line(&mut p, 1, &f),
            "IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto unknown (99), length 32, \
             options (RR 10.0.0.5,,NOP), bad cksum 1234 (->1066)!)\n    10.0.0.1 > 10.0.0.2:  ip-proto-99 4\n"
        );
    }

    #[test]
    fn verbose_truncated_option() {
        let mut p = verbose_printer(1);
        let f = unhex("020000000002020000000001080048000024000140004063d0630a0000010a000002440c05010a000001");
        assert_eq!(
            line_cut(&mut p, 1, &[f.as_slice(), &[0; 8]].concat(), f.len()),
            "IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto unknown (99), length 36, \
             options (timestamp [truncated-option]))\n    10.0.0.1 > 10.0.0.2:  [|ip]\n"
        );
    }

    #[test]
    fn verbose_later_fragment_ecn_no_ttl() {
        let mut p = verbose_printer(1);
        let f = unhex("02000000000202000000000108004503001c00012003000686d30a0000010a0000020000000000000000");
        assert_eq!(
            line(&mut p, 1, &f),
            "IP (tos 0x3,CE, id 1, offset 24, flags [+], proto TCP (6), length 28)\n    \
             10.0.0.1 > 10.0.0.2: ip-proto-6\n"
        );
    }

    #[test]
    fn options_never_panic() {
        // Every option code and length byte in a 60-byte header, at every capture length.
        let mut p = verbose_printer(2);
        for code in 0..=255u8 {
            for optlen in [0u8, 1, 2, 3, 4, 7, 8, 11, 39, 40, 41, 255] {
                let mut opts = vec![code, optlen, 5, 0x31];
                opts.resize(40, 1);
                let mut f = eth_ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &[]);
                f[14] = 0x4f;
                f.extend_from_slice(&opts);
                f[17] = 60;
                for cut in [14, 34, 35, 36, 40, 50, f.len()] {
                    let out = line_cut(&mut p, 1, &f, cut);
                    assert!(out.ends_with('\n'));
                }
            }
        }
    }

    #[test]
    fn protocol_names() {
        assert_eq!(ipproto_name(6), Some("TCP"));
        assert_eq!(ipproto_name(99), None);
        assert_eq!(netdb_protoname(17), Some("udp"));
        assert_eq!(netdb_protoname(61), None);
        assert_eq!(netdb_protoname(142), Some("rohc"));
        assert_eq!(netdb_protoname(143), None);
        assert_eq!(netdb_protoname(255), Some("reserved"));
    }

    #[test]
    fn pseudo_header_checksum_and_source_route() {
        // LSRR with two hops: the pseudo-header uses the last one.
        let opts = [0x83, 11, 4, 10, 0, 0, 5, 10, 0, 0, 9, 0];
        assert_eq!(ip_finddst(&opts), Some(&[10, 0, 0, 9][..]));
        assert_eq!(ip_finddst(&[1, 1, 0, 0x83, 11]), None);
        assert_eq!(ip_finddst(&[0x83, 3, 4]), None);
        // UDP 1000 > 2000 "abcd" from 10.0.0.1 to 10.0.0.2 with its checksum filled in.
        let mut udp = [0x03, 0xe8, 0x07, 0xd0, 0, 12, 0, 0, b'a', b'b', b'c', b'd'];
        let info = IpInfo {
            v6: false,
            src: &[10, 0, 0, 1],
            dst: &[10, 0, 0, 2],
            first_nh: 17,
            fragmented: false,
            cksum_dst: &[10, 0, 0, 2],
            ip_len: 32,
            ttl: 64,
        };
        let sum = info.nextproto_cksum(17, 12, &udp);
        assert_ne!(sum, 0);
        udp[6..8].copy_from_slice(&cksum_shouldbe(0, sum).to_be_bytes());
        assert_eq!(info.nextproto_cksum(17, 12, &udp), 0);
    }

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
    fn truncation_returns_or_longjmps_as_tcpdump() {
        let mut p = printer();
        p.opts.hex = 1;
        let f = eth_ipv4(99, [10, 0, 0, 1], [10, 0, 0, 2], &[0; 6]);
        // Part of the header: ND_TCHECK_SIZE's `goto trunc` returns; the dump skips the link
        // header.
        assert_eq!(
            line_cut(&mut p, 1, &f, 30),
            "IP  [|ip]\n\t0x0000:  4500 001a 0001 4000 4063 0000 0a00 0001\n"
        );
        // Not one byte: reading the version longjmps; the dump starts at the link header.
        assert_eq!(
            line_cut(&mut p, 1, &f, 14),
            " [|ip]\n\t0x0000:  0200 0000 0002 0200 0000 0001 0800\n"
        );
        // -v with an option cut short: `[truncated-option]`, the marker, and a normal return.
        let mut p = verbose_printer(1);
        p.opts.hex = 1;
        let g = unhex("020000000002020000000001080048000024000140004063d0630a0000010a000002440c05010a000001");
        let l = line_cut(&mut p, 1, &[g.as_slice(), &[0; 8]].concat(), g.len());
        assert!(l.contains(" [|ip]\n\t0x0000:  4800 0024"), "{l}");
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
