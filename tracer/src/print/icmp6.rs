//! ICMPv6 (print-icmp6.c): errors, echo, MLD v1/v2, neighbour discovery with its options
//! (-v), router renumbering, node information, RPL, and the checksum with -v.
//!
//! tcpdump prints this protocol as it goes, so a capture that ends in the middle of a field
//! leaves what was printed before it. Two kinds of truncation: a field read that fails
//! (tcpdump's GET_ macros) returns [`Trunc`] and the line ends in ` [|icmp6]`; an explicit
//! check that fails (ND_TCHECK, `goto trunc`) writes the marker and printing goes on in the
//! caller, as tcpdump's nd_print_trunc() does.

use super::icmp::unknown_data;
use super::ip::{IpInfo, cksum_shouldbe};
use super::out::Out;
use super::{PResult, Printer, Trunc, hex};
use crate::wire::{get_be16, get_be32, get_u8, icmpv6, ipproto};

fn g8(d: &[u8], off: usize) -> Result<u8, Trunc> {
    get_u8(d, off).ok_or(Trunc)
}
fn g16(d: &[u8], off: usize) -> Result<u16, Trunc> {
    get_be16(d, off).ok_or(Trunc)
}
fn g32(d: &[u8], off: usize) -> Result<u32, Trunc> {
    get_be32(d, off).ok_or(Trunc)
}
fn g_ip6(d: &[u8], off: usize) -> Result<&[u8], Trunc> {
    d.get(off..off.checked_add(16).ok_or(Trunc)?).ok_or(Trunc)
}
/// ND_TTEST_LEN(off, len)
fn have(d: &[u8], off: usize, len: usize) -> bool {
    off.checked_add(len).is_some_and(|end| end <= d.len())
}

/// icmp6_type_values (139 and 140 print under their first names).
fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded in-transit",
        4 => "parameter problem",
        128 => "echo request",
        129 => "echo reply",
        130 => "multicast listener query",
        131 => "multicast listener report",
        132 => "multicast listener done",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        138 => "router renumbering",
        139 => "who-are-you request",
        140 => "who-are-you reply",
        141 => "inverse neighbor solicitation",
        142 => "inverse neighbor advertisement",
        143 => "multicast listener report v2",
        144 => "ha discovery request",
        145 => "ha discovery reply",
        146 => "mobile router solicitation",
        147 => "mobile router advertisement",
        155 => "RPL",
        200 => "mtrace response",
        201 => "mtrace message",
        _ => return None,
    })
}

/// icmp6_opt_values
fn opt_name(t: u8) -> &'static str {
    match t {
        1 => "source link-address",
        2 => "destination link-address",
        3 => "prefix info",
        4 => "redirected header",
        5 => "mtu",
        25 => "rdnss",
        31 => "dnssl",
        7 => "advertisement interval",
        8 => "homeagent information",
        24 => "route info",
        _ => "unknown",
    }
}

const RA_FLAGS: &[(u32, &str)] = &[
    (0x80, "managed"),
    (0x40, "other stateful"),
    (0x20, "home agent"),
    (0x02, "ipv6 only"),
];
const NA_FLAGS: &[(u32, &str)] = &[
    (0x8000_0000, "router"),
    (0x4000_0000, "solicited"),
    (0x2000_0000, "override"),
];
const PI_FLAGS: &[(u32, &str)] = &[(0x80, "onlink"), (0x40, "auto"), (0x20, "router")];

/// bittok2str(table, "none", v)
fn bits(out: &mut Vec<u8>, table: &[(u32, &str)], v: u32) {
    let mut sep = "";
    for &(bit, name) in table {
        if v & bit == bit {
            out.s(sep);
            out.s(name);
            sep = ", ";
        }
    }
    if sep.is_empty() {
        out.s("none");
    }
}

/// get_rtpref()
fn rtpref(v: u8) -> &'static str {
    ["medium", "high", "rsv", "low"][((v & 0x18) >> 3) as usize]
}

/// get_lifetime()
fn lifetime(out: &mut Vec<u8>, v: u32) {
    if v == u32::MAX {
        out.s("infinity");
    } else {
        out.u(v as u64);
        out.c(b's');
    }
}

/// fn_print_char()
fn fn_char(out: &mut Vec<u8>, mut c: u8) {
    if !c.is_ascii() {
        c &= 0x7f;
        out.s("M-");
    }
    if !(0x20..0x7f).contains(&c) {
        c ^= 0x40;
        out.c(b'^');
    }
    out.c(c);
}

/// The node-address flags in the order tcpdump prints them.
const NODEADDR_FLAGS: &[(u16, &str)] = &[
    (0x40, "a"),
    (0x20, "G"),
    (0x10, "S"),
    (0x08, "L"),
    (0x04, "C"),
    (0x02, "A"),
];
const NODEADDR_TRUNCATE: u16 = 0x01;

/// dnsname_print(): DNS labels without compression, between quotes.
fn dnsname(out: &mut Vec<u8>, d: &[u8], mut cp: usize) {
    let ep = d.len();
    out.s(", \"");
    while cp < ep {
        let mut i = d[cp] as usize;
        cp += 1;
        if i != 0 {
            if i > ep - cp {
                out.s("???");
                break;
            }
            while i > 0 && cp < ep {
                fn_char(out, d[cp]);
                cp += 1;
                i -= 1;
            }
            if cp + 1 < ep && d[cp] != 0 {
                out.c(b'.');
            }
        } else {
            if cp == ep {
                out.c(b'.');
            } else if !(cp + 1 == ep && d[cp] == 0) {
                out.s("???");
            }
            break;
        }
    }
    out.c(b'"');
}

/// A DNS name or the icmp-name-lookup-03 Pascal string at `cp` (to the end of the capture).
fn ni_name(out: &mut Vec<u8>, d: &[u8], cp: usize, verbose: bool) -> PResult {
    let first = g8(d, cp)? as usize;
    if first == d.len() - cp - 1 {
        if verbose {
            out.s(", 03 draft");
        }
        out.s(", \"");
        for &c in &d[cp + 1..] {
            fn_char(out, c);
        }
        out.c(b'"');
    } else {
        dnsname(out, d, cp);
    }
    Ok(())
}

/// blabel_print(): an EDNS0 bit-string label.
fn blabel(out: &mut Vec<u8>, d: &[u8], cp: usize) -> Option<usize> {
    let bitlen = match *d.get(cp)? {
        0 => 256usize,
        b => b as usize,
    };
    let lim = cp + 1 + bitlen.div_ceil(4);
    out.s("\\[x");
    let mut p = cp + 1;
    let mut b = bitlen;
    while p < lim && b > 7 {
        out.x_pad(*d.get(p)? as u64, 2);
        b -= 8;
        p += 1;
    }
    if b > 4 {
        let tc = *d.get(p)?;
        out.x_pad((tc & (0xffu32 << (8 - b)) as u8) as u64, 2);
    } else if b > 0 {
        let tc = *d.get(p)?;
        out.x(((tc >> 4) & (0x0f << (4 - b))) as u64);
    }
    out.c(b'/');
    out.u(bitlen as u64);
    out.c(b']');
    Some(lim)
}

/// fqdn_print() (for the DNSSL option): labels and backward compression pointers relative to
/// `base`; returns where the name ends, None where tcpdump gives up on it.
fn fqdn(out: &mut Vec<u8>, d: &[u8], mut cp: usize, base: usize) -> Option<usize> {
    const MAXCDNAME: usize = 255;
    let mut l = super::dns::labellen(out, d, cp)?;
    let mut max_offset = cp - base;
    let mut i = *d.get(cp)?;
    cp += 1;
    let mut compress = false;
    let mut rp = if i & 0xc0 != 0xc0 { cp + l } else { 0 };
    if i == 0 {
        out.c(b'.');
        return Some(rp);
    }
    let mut name_chars = 0usize;
    while i != 0 && cp < d.len() {
        match i & 0xc0 {
            0xc0 => {
                if !compress {
                    rp = cp + 1;
                    compress = true;
                }
                let offset = (((i as usize) << 8) | *d.get(cp)? as usize) & 0x3fff;
                if offset >= max_offset {
                    out.s("<BAD PTR>");
                    return None;
                }
                max_offset = offset;
                cp = base + offset;
                i = *d.get(cp)?;
                l = super::dns::labellen(out, d, cp)?;
                cp += 1;
                continue;
            }
            0x40 => {
                blabel(out, d, cp)?;
            }
            0x80 => {
                out.s("<BAD LABEL TYPE>");
                return None;
            }
            _ => {
                if name_chars < MAXCDNAME {
                    let n = l.min(MAXCDNAME - name_chars);
                    let avail = d.len().saturating_sub(cp);
                    for &c in &d[cp..cp + n.min(avail)] {
                        fn_char(out, c);
                    }
                    if n > avail {
                        return None;
                    }
                }
                name_chars += l;
            }
        }
        cp += l;
        if name_chars <= MAXCDNAME {
            out.c(b'.');
        }
        name_chars += 1;
        i = *d.get(cp)?;
        l = super::dns::labellen(out, d, cp)?;
        cp += 1;
        if !compress {
            rp += l + 1;
        }
    }
    if name_chars > MAXCDNAME {
        out.s("<DOMAIN NAME TOO LONG>");
    }
    Some(rp)
}

impl Printer {
    /// icmp6_print()
    pub(super) fn icmp6(&mut self, out: &mut Vec<u8>, d: &[u8], length: usize, info: IpInfo<'_>) -> PResult {
        self.proto = "icmp6";
        if length == 0 {
            out.s("ICMP6, length 0 (invalid)");
            return Ok(());
        }
        let v = self.opts.verbose;
        if v > 0 && !info.fragmented && d.len() >= length {
            let sum_field = g16(d, 2)?;
            let sum = info.nextproto_cksum(ipproto::ICMPV6, length as u32, &d[..length]);
            if sum != 0 {
                out.s("[bad icmp6 cksum 0x");
                out.x_pad(sum_field as u64, 4);
                out.s(" -> 0x");
                out.x_pad(cksum_shouldbe(sum_field, sum) as u64, 4);
                out.s("!] ");
            } else {
                out.s("[icmp6 sum ok] ");
            }
        }
        let ty = g8(d, 0)?;
        out.s("ICMP6, ");
        match type_name(ty) {
            Some(n) => out.s(n),
            None => {
                out.s("unknown icmp6 type (");
                out.u(ty as u64);
                out.c(b')');
            }
        }
        if v > 0 && matches!(ty, 133 | 134 | 135 | 136 | 137 | 145 | 147) {
            out.s(", length ");
            out.u(length as u64);
        }
        let code = g8(d, 1)?;
        // The quoted packet of error messages.
        const OIP: usize = 8;
        match ty {
            icmpv6::DST_UNREACH => {
                out.s(", ");
                match code {
                    0 => out.s("unreachable route"),
                    1 => out.s(" unreachable prohibited"),
                    2 => out.s("beyond scope"),
                    3 => out.s("unreachable address"),
                    4 => out.s("unreachable port"),
                    _ => {
                        out.s("unknown unreach code (");
                        out.u(code as u64);
                        out.c(b')');
                    }
                }
                match code {
                    0 | 1 | 3 => {
                        let dst = g_ip6(d, OIP + 24)?;
                        out.c(b' ');
                        self.ip6addr(out, dst);
                    }
                    2 => {
                        let dst = g_ip6(d, OIP + 24)?;
                        let src = g_ip6(d, OIP + 8)?;
                        out.c(b' ');
                        self.ip6addr(out, dst);
                        out.s(", source address ");
                        self.ip6addr(out, src);
                    }
                    4 => {
                        let Some((prot, uh)) = upper_layer(d, OIP) else {
                            return self.icmp6_trunc(out);
                        };
                        let dport = g16(d, uh + 2)?;
                        let dst = g_ip6(d, OIP + 24)?;
                        out.s(", ");
                        self.ip6addr(out, dst);
                        if prot == ipproto::TCP {
                            out.s(" tcp port ");
                            self.tcp_port(out, dport);
                        } else {
                            out.s(" udp port ");
                            self.udp_port(out, dport);
                        }
                    }
                    _ => {
                        if v <= 1 {
                            unknown_data(out, d, 0, "\n\t", length);
                            return Ok(());
                        }
                    }
                }
            }
            icmpv6::PACKET_TOO_BIG => {
                let mtu = g32(d, 4)?;
                out.s(", mtu ");
                out.u(mtu as u64);
            }
            icmpv6::TIME_EXCEEDED => match code {
                0 => {
                    let dst = g_ip6(d, OIP + 24)?;
                    out.s(" for ");
                    self.ip6addr(out, dst);
                }
                1 => out.s(" (reassembly)"),
                _ => {
                    out.s(", unknown code (");
                    out.u(code as u64);
                    out.c(b')');
                }
            },
            icmpv6::PARAM_PROB => {
                if !have(d, OIP + 24, 16) {
                    return self.icmp6_trunc(out);
                }
                let what = match code {
                    0 => ", erroneous - octet ",
                    1 => ", next header - octet ",
                    2 => ", option - octet ",
                    3 => ", incomplete header chain - octet ",
                    _ => "",
                };
                if what.is_empty() {
                    out.s(", code-#");
                    out.u(code as u64);
                } else {
                    let ptr = g32(d, 4)?;
                    out.s(what);
                    out.u(ptr as u64);
                }
            }
            icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => {
                let id = g16(d, 4)?;
                let seq = g16(d, 6)?;
                out.s(", id ");
                out.u(id as u64);
                out.s(", seq ");
                out.u(seq as u64);
            }
            icmpv6::MLD_QUERY => {
                if length == 24 {
                    self.mld6(out, d)?;
                } else if length >= 28 {
                    out.s(" v2");
                    self.mldv2_query(out, d, length)?;
                } else {
                    out.s(" unknown-version (len ");
                    out.u(length as u64);
                    out.s(") ");
                }
            }
            icmpv6::MLD_REPORT | icmpv6::MLD_DONE => self.mld6(out, d)?,
            icmpv6::ROUTER_SOLICIT => {
                if v > 0 && !self.icmp6_opts(out, d, 8, length as i64 - 8)? {
                    return self.icmp6_trunc(out);
                }
            }
            icmpv6::ROUTER_ADVERT => {
                if v > 0 {
                    let hlim = g8(d, 4)?;
                    let flags = g8(d, 5)?;
                    let life = g16(d, 6)?;
                    let reach = g32(d, 8)?;
                    let retrans = g32(d, 12)?;
                    out.s("\n\thop limit ");
                    out.u(hlim as u64);
                    out.s(", Flags [");
                    bits(out, RA_FLAGS, flags as u32);
                    out.s("], pref ");
                    out.s(rtpref(flags));
                    out.s(", router lifetime ");
                    out.u(life as u64);
                    out.s("s, reachable time ");
                    out.u(reach as u64);
                    out.s("ms, retrans timer ");
                    out.u(retrans as u64);
                    out.s("ms");
                    if !self.icmp6_opts(out, d, 16, length as i64 - 16)? {
                        return self.icmp6_trunc(out);
                    }
                }
            }
            icmpv6::NEIGHBOR_SOLICIT => {
                let tgt = g_ip6(d, 8)?;
                out.s(", who has ");
                self.ip6addr(out, tgt);
                if v > 0 && !self.icmp6_opts(out, d, 24, length as i64 - 24)? {
                    return self.icmp6_trunc(out);
                }
            }
            icmpv6::NEIGHBOR_ADVERT => {
                let tgt = g_ip6(d, 8)?;
                out.s(", tgt is ");
                self.ip6addr(out, tgt);
                if v > 0 {
                    let flags = g32(d, 4)?;
                    out.s(", Flags [");
                    bits(out, NA_FLAGS, flags);
                    out.c(b']');
                    if !self.icmp6_opts(out, d, 24, length as i64 - 24)? {
                        return self.icmp6_trunc(out);
                    }
                }
            }
            icmpv6::REDIRECT => {
                let dst = g_ip6(d, 24)?;
                out.s(", ");
                self.ip6addr(out, dst);
                let tgt = g_ip6(d, 8)?;
                out.s(" to ");
                self.ip6addr(out, tgt);
                if v > 0 && !self.icmp6_opts(out, d, 40, length as i64 - 40)? {
                    return self.icmp6_trunc(out);
                }
            }
            138 => self.icmp6_rrenum(out, d)?,
            139 | 140 => self.icmp6_nodeinfo(out, d, length)?,
            141 | 142 => {}
            icmpv6::MLDV2_REPORT => self.mldv2_report(out, d, length)?,
            144 | 146 => {
                let id = g16(d, 4)?;
                out.s(", id 0x");
                out.x_pad(id as u64, 4);
            }
            145 => {
                if v > 0 {
                    let id = g16(d, 4)?;
                    out.s(", id 0x");
                    out.x_pad(id as u64, 4);
                    let mut p = 8;
                    while p < length {
                        let a = g_ip6(d, p)?;
                        out.s(", ");
                        self.ip6addr(out, a);
                        p += 16;
                    }
                }
            }
            147 => {
                if v > 0 {
                    let id = g16(d, 4)?;
                    out.s(", id 0x");
                    out.x_pad(id as u64, 4);
                    let flags = g16(d, 6)?;
                    if flags & 0xc000 != 0 {
                        out.c(b' ');
                    }
                    if flags & 0x8000 != 0 {
                        out.c(b'M');
                    }
                    if flags & 0x4000 != 0 {
                        out.c(b'O');
                    }
                    if !self.icmp6_opts(out, d, 8, length as i64 - 8)? {
                        return self.icmp6_trunc(out);
                    }
                }
            }
            155 => self.rpl(out, d, code, length.wrapping_sub(4))?,
            _ => {
                out.s(", length ");
                out.u(length as u64);
                if v <= 1 {
                    unknown_data(out, d, 0, "\n\t", length);
                }
                return Ok(());
            }
        }
        if v == 0 {
            out.s(", length ");
            out.u(length as u64);
        }
        Ok(())
    }

    /// nd_print_trunc() and return (an explicit check failed).
    fn icmp6_trunc(&mut self, out: &mut Vec<u8>) -> PResult {
        out.s(" [|icmp6]");
        Ok(())
    }

    /// mld6_print()
    fn mld6(&mut self, out: &mut Vec<u8>, d: &[u8]) -> PResult {
        if d.len() < 24 {
            return Ok(());
        }
        let delay = g16(d, 4)?;
        out.s("max resp delay: ");
        out.u(delay as u64);
        let addr = g_ip6(d, 8)?;
        out.s(" addr: ");
        self.ip6addr(out, addr);
        Ok(())
    }

    /// mldv2_query_print()
    fn mldv2_query(&mut self, out: &mut Vec<u8>, d: &[u8], len: usize) -> PResult {
        let v = self.opts.verbose;
        let mrc = g16(d, 4)? as u32;
        let mrt = if mrc < 32768 {
            mrc
        } else {
            ((mrc & 0x0fff) | 0x1000) << (((mrc & 0x7000) >> 12) + 3)
        };
        if v > 0 {
            out.s(" [max resp delay=");
            out.u(mrt as u64);
            out.c(b']');
        }
        let gaddr = g_ip6(d, 8)?;
        out.s(" [gaddr ");
        self.ip6addr(out, gaddr);
        if v > 0 {
            let b24 = g8(d, 24)?;
            if b24 & 0x08 != 0 {
                out.s(" sflag");
            }
            if b24 & 0x07 != 0 {
                out.s(" robustness=");
                out.u((b24 & 0x07) as u64);
            }
            let b25 = g8(d, 25)? as u32;
            let qqi = if b25 < 128 {
                b25
            } else {
                ((b25 & 0x0f) | 0x10) << (((b25 & 0x70) >> 4) + 3)
            };
            out.s(" qqi=");
            out.u(qqi as u64);
        }
        let nsrcs = g16(d, 26)? as usize;
        if nsrcs > 0 {
            if len < 28 + nsrcs * 16 {
                out.s(" [invalid number of sources]");
            } else if v > 1 {
                out.s(" {");
                for i in 0..nsrcs {
                    let a = g_ip6(d, 28 + i * 16)?;
                    out.c(b' ');
                    self.ip6addr(out, a);
                }
                out.s(" }");
            } else {
                out.s(", ");
                out.u(nsrcs as u64);
                out.s(" source(s)");
            }
        }
        out.c(b']');
        Ok(())
    }

    /// mldv2_report_print()
    fn mldv2_report(&mut self, out: &mut Vec<u8>, d: &[u8], len: usize) -> PResult {
        if len < 8 {
            out.s(" [invalid len ");
            out.u(len as u64);
            out.c(b']');
            return Ok(());
        }
        let ngroups = g16(d, 6)?;
        out.s(", ");
        out.u(ngroups as u64);
        out.s(" group record(s)");
        let v = self.opts.verbose;
        if v == 0 {
            return Ok(());
        }
        let mut group = 8usize;
        for _ in 0..ngroups {
            if len < group + 20 {
                out.s(" [invalid number of groups]");
                return Ok(());
            }
            let gaddr = g_ip6(d, group + 4)?;
            out.s(" [gaddr ");
            self.ip6addr(out, gaddr);
            let rtype = g8(d, group)?;
            out.c(b' ');
            match rtype {
                1 => out.s("is_in"),
                2 => out.s("is_ex"),
                3 => out.s("to_in"),
                4 => out.s("to_ex"),
                5 => out.s("allow"),
                6 => out.s("block"),
                _ => {
                    out.s(" [v2-report-#");
                    out.u(rtype as u64);
                    out.c(b']');
                }
            }
            let nsrcs = g16(d, group + 2)? as usize;
            if len < group + 20 + nsrcs * 16 {
                out.s(" [invalid number of sources ");
                out.u(nsrcs as u64);
                out.c(b']');
                return Ok(());
            }
            if v == 1 {
                out.s(", ");
                out.u(nsrcs as u64);
                out.s(" source(s)");
            } else {
                out.s(" {");
                for j in 0..nsrcs {
                    let a = g_ip6(d, group + 20 + j * 16)?;
                    out.c(b' ');
                    self.ip6addr(out, a);
                }
                out.s(" }");
            }
            group += 20 + nsrcs * 16;
            out.c(b']');
        }
        Ok(())
    }

    /// icmp6_opt_print(): the neighbour-discovery options from `start`; Ok(false) where
    /// tcpdump's returns -1 (its caller then prints the truncation marker).
    fn icmp6_opts(&mut self, out: &mut Vec<u8>, d: &[u8], start: usize, mut resid: i64) -> Result<bool, Trunc> {
        let v = self.opts.verbose;
        let ep = d.len();
        let mut cp = start;
        while cp < ep {
            if cp + 2 > ep {
                return Ok(false);
            }
            if resid <= 0 {
                return Ok(true);
            }
            let ty = d[cp];
            let olen = d[cp + 1] as usize;
            if olen == 0 || cp + (olen << 3) > ep {
                return Ok(false);
            }
            let bytes = olen << 3;
            out.s("\n\t  ");
            out.s(opt_name(ty));
            out.s(" option (");
            out.u(ty as u64);
            out.s("), length ");
            out.u(bytes as u64);
            out.s(" (");
            out.u(olen as u64);
            out.s("): ");
            match ty {
                1 | 2 => {
                    for (i, &b) in d[cp + 2..cp + bytes].iter().enumerate() {
                        if i > 0 {
                            out.c(b':');
                        }
                        out.x_pad(b as u64, 2);
                    }
                }
                3 => {
                    let prefix = g_ip6(d, cp + 16)?;
                    let plen = g8(d, cp + 2)?;
                    let flags = g8(d, cp + 3)?;
                    let valid = g32(d, cp + 4)?;
                    self.ip6addr(out, prefix);
                    out.c(b'/');
                    out.u(plen as u64);
                    if olen != 4 {
                        out.s("badlen");
                    }
                    out.s(", Flags [");
                    bits(out, PI_FLAGS, flags as u32);
                    out.s("], valid time ");
                    lifetime(out, valid);
                    let pref = g32(d, cp + 8)?;
                    out.s(", pref. time ");
                    lifetime(out, pref);
                }
                4 => unknown_data(out, d, start, "\n\t    ", bytes),
                5 => {
                    let mtu = g32(d, cp + 4)?;
                    out.c(b' ');
                    out.u(mtu as u64);
                    if olen != 1 {
                        out.s("bad option length");
                    }
                }
                25 => {
                    let life = g32(d, cp + 4)?;
                    out.s(" lifetime ");
                    out.u(life as u64);
                    out.s("s,");
                    for i in 0..(olen - 1) / 2 {
                        let a = g_ip6(d, cp + 8 + i * 16)?;
                        out.s(" addr: ");
                        self.ip6addr(out, a);
                    }
                }
                31 => {
                    let life = g32(d, cp + 4)?;
                    out.s(" lifetime ");
                    out.u(life as u64);
                    out.s("s, domain(s):");
                    let mut domp = cp + 8;
                    while domp < cp + bytes && g8(d, domp)? != 0 {
                        out.c(b' ');
                        match fqdn(out, d, domp, start) {
                            Some(next) => domp = next,
                            None => return Ok(false),
                        }
                    }
                }
                7 => {
                    let ival = g32(d, cp + 4)?;
                    out.c(b' ');
                    out.u(ival as u64);
                    out.s("ms");
                }
                8 => {
                    let pref = g16(d, cp + 4)?;
                    let life = g16(d, cp + 6)?;
                    out.s(" preference ");
                    out.u(pref as u64);
                    out.s(", lifetime ");
                    out.u(life as u64);
                }
                24 => {
                    if !have(d, cp + 4, 4) {
                        return Ok(false);
                    }
                    let mut in6 = [0u8; 16];
                    match olen {
                        1 => {}
                        2 => in6[..8].copy_from_slice(d.get(cp + 8..cp + 16).ok_or(Trunc)?),
                        3 => in6.copy_from_slice(g_ip6(d, cp + 8)?),
                        _ => return Ok(false),
                    }
                    let plen = g8(d, cp + 2)?;
                    out.c(b' ');
                    self.ip6addr(out, &in6);
                    out.c(b'/');
                    out.u(plen as u64);
                    let pref = g8(d, cp + 3)?;
                    out.s(", pref=");
                    out.s(rtpref(pref));
                    let life = g32(d, cp + 4)?;
                    out.s(", lifetime=");
                    lifetime(out, life);
                }
                _ => {
                    if v <= 1 {
                        unknown_data(out, d, cp + 2, "\n\t  ", bytes - 2);
                        return Ok(true);
                    }
                }
            }
            if v > 1 {
                unknown_data(out, d, cp + 2, "\n\t    ", bytes - 2);
            }
            cp += bytes;
            resid -= bytes as i64;
        }
        Ok(true)
    }

    /// icmp6_nodeinfo_print()
    fn icmp6_nodeinfo(&mut self, out: &mut Vec<u8>, d: &[u8], icmp6len: usize) -> PResult {
        let v = self.opts.verbose > 0;
        let siz = d.len();
        const NI_LEN: usize = 16;
        if g8(d, 0)? == 139 {
            if siz == 12 {
                out.s(" who-are-you request");
                return Ok(());
            }
            out.s(" node information query");
            if siz < NI_LEN {
                return self.icmp6_trunc(out);
            }
            out.s(" (");
            let qtype = g16(d, 4)?;
            match qtype {
                0 => out.s("noop"),
                1 => {
                    out.s("supported qtypes");
                    let i = g16(d, 6)?;
                    if i != 0 {
                        out.s(if i & 1 != 0 { " [C]" } else { " []" });
                    }
                }
                2 => out.s("DNS name"),
                3 => {
                    out.s("node addresses");
                    let i = g16(d, 6)?;
                    if i != 0 {
                        out.s(" [");
                        for &(bit, name) in NODEADDR_FLAGS {
                            if i & bit != 0 {
                                out.s(name);
                            }
                        }
                        out.c(b']');
                    }
                }
                _ => out.s("unknown"),
            }
            if qtype == 0 || qtype == 1 {
                if siz != NI_LEN && v {
                    out.s(", invalid len");
                }
                out.c(b')');
                return Ok(());
            }
            if siz == NI_LEN {
                out.s(", 03 draft)");
                return Ok(());
            }
            let cp = NI_LEN;
            match g8(d, 1)? {
                0 => {
                    if have(d, 0, NI_LEN + 16) {
                        if siz != NI_LEN + 16 {
                            if v {
                                out.s(", invalid subject len");
                            }
                        } else {
                            out.s(", subject=");
                            self.ip6addr(out, g_ip6(d, cp)?);
                        }
                    }
                }
                1 => {
                    out.s(", subject=DNS name");
                    ni_name(out, d, cp, v)?;
                }
                2 => {
                    if have(d, 0, NI_LEN + 4) {
                        if siz != NI_LEN + 4 {
                            if v {
                                out.s(", invalid subject len");
                            }
                        } else {
                            out.s(", subject=");
                            self.ipaddr(out, &d[cp..cp + 4]);
                        }
                    }
                }
                _ => out.s(", unknown subject"),
            }
            out.c(b')');
            return Ok(());
        }
        // Node information reply.
        if icmp6len > siz || siz < NI_LEN {
            return self.icmp6_trunc(out);
        }
        let mut needcomma = false;
        out.s(" node information reply (");
        let code = g8(d, 1)?;
        match code {
            0 if v => {
                out.s("success");
                needcomma = true;
            }
            1 | 2 => {
                out.s(if code == 1 { "refused" } else { "unknown" });
                needcomma = true;
                if siz != NI_LEN && v {
                    out.s(", invalid length");
                }
            }
            _ => {}
        }
        if code != 0 {
            out.c(b')');
            return Ok(());
        }
        if needcomma {
            out.s(", ");
        }
        match g16(d, 4)? {
            0 => {
                out.s("noop");
                if siz != NI_LEN && v {
                    out.s(", invalid length");
                }
            }
            1 => {
                out.s("supported qtypes");
                let i = g16(d, 6)?;
                if i != 0 {
                    out.s(if i & 1 != 0 { " [C]" } else { " []" });
                }
            }
            2 => {
                out.s("DNS name");
                ni_name(out, d, NI_LEN + 4, v)?;
                if g16(d, 6)? & 1 != 0 {
                    let ttl = g32(d, NI_LEN)?;
                    out.s(" [TTL=");
                    out.u(ttl as u64);
                    out.c(b']');
                }
            }
            3 => {
                out.s("node addresses");
                let mut i = NI_LEN;
                while i + 20 <= siz {
                    let a = g_ip6(d, i + 4)?;
                    let ttl = g32(d, i)?;
                    out.c(b' ');
                    self.ip6addr(out, a);
                    out.c(b'(');
                    out.u(ttl as u64);
                    out.c(b')');
                    i += 20;
                }
                let f = g16(d, 6)?;
                if f != 0 {
                    out.s(" [");
                    for &(bit, name) in NODEADDR_FLAGS {
                        if f & bit != 0 {
                            out.s(name);
                        }
                    }
                    if f & NODEADDR_TRUNCATE != 0 {
                        out.c(b'T');
                    }
                    out.c(b']');
                }
            }
            _ => out.s("unknown"),
        }
        out.c(b')');
        Ok(())
    }

    /// icmp6_rrenum_print()
    fn icmp6_rrenum(&mut self, out: &mut Vec<u8>, d: &[u8]) -> PResult {
        let v = self.opts.verbose;
        if !have(d, 12, 4) {
            return self.icmp6_trunc(out);
        }
        let code = d[1];
        match code {
            0 => out.s(", command"),
            1 => out.s(", result"),
            255 => out.s(", sequence number reset"),
            _ => {
                out.s(", code-#");
                out.u(code as u64);
            }
        }
        let seq = g32(d, 4)?;
        out.s(", seq=");
        out.u(seq as u64);
        if v > 0 {
            let flags = d[9];
            out.c(b'[');
            if flags != 0 {
                for (bit, name) in [(0x80, "T"), (0x40, "R"), (0x20, "A"), (0x10, "S"), (0x08, "P")] {
                    if flags & bit != 0 {
                        out.s(name);
                    }
                }
                out.c(b',');
            }
            out.s("seg=");
            out.u(d[8] as u64);
            out.s(",maxdelay=");
            out.u(g16(d, 10)? as u64);
            let rsvd = g32(d, 12)?;
            if rsvd != 0 {
                out.s("rsvd=0x");
                out.x(rsvd as u64);
            }
            out.c(b']');
        }
        if code != 0 {
            return Ok(());
        }
        let m = 16;
        if !have(d, m + 8, 16) {
            return self.icmp6_trunc(out);
        }
        out.s(if v > 1 { "\n\t" } else { " " });
        out.s("match(");
        match d[m] {
            1 => out.s("add"),
            2 => out.s("change"),
            3 => out.s("setglobal"),
            c => {
                out.c(b'#');
                out.u(c as u64);
            }
        }
        if v > 0 {
            out.s(",ord=");
            out.u(d[m + 2] as u64);
            out.s(",min=");
            out.u(d[m + 4] as u64);
            out.s(",max=");
            out.u(d[m + 5] as u64);
        }
        out.c(b',');
        out.ipv6(&d[m + 8..m + 24]);
        out.c(b'/');
        out.u(d[m + 3] as u64);
        out.c(b')');
        let n = d[m + 1] as i32 - 3;
        if n % 4 != 0 {
            return self.icmp6_trunc(out);
        }
        let mut cp = m + 24;
        for _ in 0..n / 4 {
            if !have(d, cp + 16, 16) {
                return self.icmp6_trunc(out);
            }
            out.s(if v > 1 { "\n\t" } else { " " });
            out.s("use(");
            let uflags = d[cp + 12];
            if uflags != 0 {
                if uflags & 0x80 != 0 {
                    out.c(b'V');
                }
                if uflags & 0x40 != 0 {
                    out.c(b'P');
                }
                out.c(b',');
            }
            if v > 0 {
                out.s("mask=0x");
                out.x(d[cp + 2] as u64);
                out.s(",raflags=0x");
                out.x(d[cp + 3] as u64);
                out.c(b',');
                for (name, off) in [("vltime=", 4), ("pltime=", 8)] {
                    out.s(name);
                    let t = g32(d, cp + off)?;
                    if t == u32::MAX {
                        out.s("infty");
                    } else {
                        out.u(t as u64);
                    }
                    out.c(b',');
                }
            }
            out.ipv6(&d[cp + 16..cp + 32]);
            out.c(b'/');
            out.u(d[cp] as u64);
            out.c(b'/');
            out.u(d[cp + 1] as u64);
            out.c(b')');
            cp += 32;
        }
        Ok(())
    }

    /// rpl_print(): `length` counts from the 4th byte of the message (icmp6_data).
    fn rpl(&mut self, out: &mut Vec<u8>, d: &[u8], code: u8, length: usize) -> PResult {
        if code & 0x80 != 0 {
            out.s(", (SEC) [worktodo]");
            return Ok(());
        }
        out.s(", (CLR)");
        let v = self.opts.verbose;
        let bp = 4;
        match code & 0x7f {
            0 => out.s("DODAG Information Solicitation"),
            1 => {
                out.s("DODAG Information Object");
                if v > 0 {
                    if length < 24 {
                        out.s(" [length ");
                        out.u(length as u64);
                        out.s(" < 24] (invalid)");
                        return Ok(());
                    }
                    let dagid = g_ip6(d, bp + 8)?;
                    let dtsn = g8(d, bp + 5)?;
                    let inst = g8(d, bp)?;
                    let rank = g16(d, bp + 2)?;
                    let mopprf = g8(d, bp + 4)?;
                    out.s(" [dagid:");
                    self.ip6addr(out, dagid);
                    out.s(",seq:");
                    out.u(dtsn as u64);
                    out.s(",instance:");
                    out.u(inst as u64);
                    out.s(",rank:");
                    out.u(rank as u64);
                    out.c(b',');
                    if mopprf & 0x80 != 0 {
                        out.s("grounded,");
                    }
                    out.s("mop:");
                    match (mopprf >> 3) & 7 {
                        0 => out.s("nonstoring"),
                        1 => out.s("storing"),
                        2 => out.s("nonstoring-multicast"),
                        3 => out.s("storing-multicast"),
                        m => {
                            out.s("mop");
                            out.u(m as u64);
                        }
                    }
                    out.s(",prf:");
                    out.u((mopprf & 7) as u64);
                    out.c(b']');
                    if v > 1 {
                        self.rpl_opts(out, d, bp + 24, length - 24)?;
                    }
                }
            }
            2 => {
                out.s("Destination Advertisement Object");
                if v > 0 {
                    if !have(d, bp, 20) {
                        return self.icmp6_trunc(out);
                    }
                    if length < 4 {
                        out.s(" [|length too short]");
                        return Ok(());
                    }
                    let (mut p, mut len) = (bp + 4, length - 4);
                    let flags = d[bp + 1];
                    let mut dagid = None;
                    if flags & 0x40 != 0 {
                        if length - 4 < 16 {
                            out.s(" [|length too short]");
                            return Ok(());
                        }
                        dagid = Some(&d[p..p + 16]);
                        p += 16;
                        len -= 16;
                    }
                    out.s(" [dagid:");
                    match dagid {
                        Some(a) => self.ip6addr(out, a),
                        None => out.s("<elided>"),
                    }
                    out.s(",seq:");
                    out.u(d[bp + 3] as u64);
                    out.s(",instance:");
                    out.u(d[bp] as u64);
                    if flags & 0x80 != 0 {
                        out.s(",acK");
                    }
                    if flags & 0x40 != 0 {
                        out.s(",Dagid");
                    }
                    out.c(b',');
                    out.x_pad(flags as u64, 2);
                    out.c(b']');
                    if v > 1 {
                        self.rpl_opts(out, d, p, len)?;
                    }
                }
            }
            3 => {
                out.s("Destination Advertisement Object Ack");
                if v > 0 {
                    if !have(d, bp, 4) {
                        return self.icmp6_trunc(out);
                    }
                    if length < 4 {
                        out.s(" [|dao-length too short]");
                        return Ok(());
                    }
                    let (mut p, mut len) = (bp + 4, length - 4);
                    let mut dagid = None;
                    if d[bp + 1] & 0x80 != 0 {
                        if !have(d, p, 16) {
                            return self.icmp6_trunc(out);
                        }
                        if len < 16 {
                            out.s(" [|dao-length too short]");
                            return Ok(());
                        }
                        dagid = Some(&d[p..p + 16]);
                        p += 16;
                        len -= 16;
                    }
                    out.s(" [dagid:");
                    match dagid {
                        Some(a) => self.ip6addr(out, a),
                        None => out.s("<elided>"),
                    }
                    out.s(",seq:");
                    out.u(d[bp + 2] as u64);
                    out.s(",instance:");
                    out.u(d[bp] as u64);
                    out.s(",status:");
                    out.u(d[bp + 3] as u64);
                    out.c(b']');
                    if v > 1 {
                        self.rpl_opts(out, d, p, len)?;
                    }
                }
            }
            _ => {
                out.s("RPL message, unknown code ");
                out.u(code as u64);
            }
        }
        Ok(())
    }

    /// rpl_printopts()
    fn rpl_opts(&mut self, out: &mut Vec<u8>, d: &[u8], mut p: usize, mut length: usize) -> PResult {
        while length != 0 {
            let ty = g8(d, p)?;
            let optlen;
            if ty == 0 {
                optlen = 1;
                out.s(" opt:pad1");
            } else {
                if length < 2 {
                    return self.icmp6_trunc(out);
                }
                optlen = g8(d, p + 1)? as usize + 2;
                out.s(" opt:");
                match ty {
                    1 => out.s("padN"),
                    2 => out.s("metrics"),
                    3 => out.s("routinginfo"),
                    4 => out.s("config"),
                    5 => out.s("rpltarget"),
                    6 => out.s("transitinfo"),
                    8 => out.s("destprefix"),
                    9 => out.s("rpltargetdesc"),
                    _ => {
                        out.s("subopt:");
                        out.u(ty as u64);
                    }
                }
                out.s(" len:");
                out.u(optlen as u64);
                out.c(b' ');
                if !have(d, p, optlen) || length < optlen {
                    return self.icmp6_trunc(out);
                }
                if self.opts.verbose > 2 {
                    hex::hex(out, " ", &d[p + 2..p + optlen]);
                }
            }
            p += optlen;
            length = length.saturating_sub(optlen);
        }
        Ok(())
    }
}

/// get_upperlayer(): the protocol and offset of the TCP or UDP header inside the quoted packet
/// at `ip6`, through extension headers; None where tcpdump gives up.
fn upper_layer(d: &[u8], ip6: usize) -> Option<(u8, usize)> {
    let ep = d.len();
    let mut nh = *d.get(ip6 + 6)?;
    let mut hlen = 40usize;
    let mut bp = ip6;
    while bp < ep {
        bp = bp.checked_add(hlen)?;
        match nh {
            ipproto::UDP | ipproto::TCP => {
                return if have(d, bp + 2, 2) { Some((nh, bp)) } else { None };
            }
            ipproto::HOPOPTS | ipproto::DSTOPTS | ipproto::ROUTING => {
                let len = *d.get(bp + 1)?;
                nh = d[bp];
                hlen = (len as usize + 1) << 3;
            }
            ipproto::FRAGMENT => {
                let off = get_be16(d, bp + 2)?;
                if off & 0xfff8 != 0 {
                    return None;
                }
                nh = d[bp];
                hlen = 8;
            }
            51 => {
                let len = *d.get(bp + 1)?;
                nh = d[bp];
                hlen = (len as usize + 2) << 2;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::Printer;
    use super::super::ip::tests::verbose_printer;
    use super::super::testutil::*;

    /// Ethernet + IPv6 (fe80::1 > ff02::1, hop limit 255) around an ICMPv6 message whose
    /// checksum is filled in.
    fn eth_icmp6(m: &[u8]) -> Vec<u8> {
        let mut f = vec![0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(m.len() as u16).to_be_bytes());
        f.extend_from_slice(&[58, 255]);
        let src: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        let mut m = m.to_vec();
        m[2] = 0;
        m[3] = 0;
        let mut sum = super::super::ip::cksum_add(0, &src);
        sum = super::super::ip::cksum_add(sum, &dst);
        sum = super::super::ip::cksum_add(sum, &(m.len() as u32).to_be_bytes());
        sum = super::super::ip::cksum_add(sum, &[0, 58]);
        sum = super::super::ip::cksum_add(sum, &m);
        let c = super::super::ip::cksum_fold(sum);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&m);
        f
    }

    /// What follows "ICMP6" on the line.
    fn icmp6_part(p: &mut Printer, f: &[u8]) -> String {
        let l = line(p, 1, f);
        match l
            .find("[icmp6 sum ok] ")
            .or_else(|| l.find("[bad icmp6"))
            .or_else(|| l.find("ICMP6"))
        {
            Some(i) => l[i..].to_string(),
            None => l,
        }
    }

    fn ns_with_option() -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        m.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 1]);
        m
    }

    #[test]
    fn neighbor_solicitation() {
        let f = eth_icmp6(&ns_with_option());
        assert_eq!(
            icmp6_part(&mut printer(), &f),
            "ICMP6, neighbor solicitation, who has fe80::2, length 32\n"
        );
        assert_eq!(
            icmp6_part(&mut verbose_printer(1), &f),
            "[icmp6 sum ok] ICMP6, neighbor solicitation, length 32, who has fe80::2\n\t  \
             source link-address option (1), length 8 (1): 02:00:00:00:00:01\n"
        );
        assert_eq!(
            icmp6_part(&mut verbose_printer(2), &f),
            "[icmp6 sum ok] ICMP6, neighbor solicitation, length 32, who has fe80::2\n\t  \
             source link-address option (1), length 8 (1): 02:00:00:00:00:01\n\t    0x0000:  0200 0000 0001\n"
        );
        // The option cut off: the options printer stops with the marker.
        let cut = f.len() - 3;
        assert!(line_cut(&mut verbose_printer(1), 1, &f, cut).ends_with("who has fe80::2 [|icmp6]\n"));
    }

    #[test]
    fn router_advertisement_with_prefix_mtu_rdnss() {
        let mut m = vec![134, 0, 0, 0, 64, 0xc0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        m.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&[5, 1, 0, 0, 0, 0, 5, 0xdc]);
        m.extend_from_slice(&[25, 3, 0, 0, 0, 0, 0, 60]);
        m.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53]);
        let f = eth_icmp6(&m);
        assert_eq!(
            icmp6_part(&mut printer(), &f),
            "ICMP6, router advertisement, length 80\n"
        );
        assert_eq!(
            icmp6_part(&mut verbose_printer(1), &f),
            "[icmp6 sum ok] ICMP6, router advertisement, length 80\n\thop limit 64, Flags [managed, other stateful], \
             pref medium, router lifetime 1800s, reachable time 0ms, retrans timer 0ms\n\t  \
             prefix info option (3), length 32 (4): 2001:db8::/64, Flags [onlink, auto], valid time 3600s, \
             pref. time infinity\n\t  mtu option (5), length 8 (1):  1500\n\t  \
             rdnss option (25), length 24 (3):  lifetime 60s, addr: 2001:db8::53\n"
        );
    }

    #[test]
    fn errors_echo_and_mld() {
        let mut p = printer();
        let f = eth_icmp6(&[128, 0, 0, 0, 0, 7, 0, 1]);
        assert_eq!(icmp6_part(&mut p, &f), "ICMP6, echo request, id 7, seq 1, length 8\n");
        // Port unreachable quoting UDP to port 53.
        let mut m = vec![1, 4, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 17, 64];
        m.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        m.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        m.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        let f = eth_icmp6(&m);
        assert_eq!(
            icmp6_part(&mut p, &f),
            "ICMP6, destination unreachable, unreachable port, fe80::2 udp port 53, length 56\n"
        );
        // The quoted UDP header is missing: get_upperlayer fails.
        assert_eq!(
            icmp6_part(&mut p, &f[..f.len() - 8]),
            "ICMP6, destination unreachable, unreachable port [|icmp6]\n"
        );
        m[1] = 9;
        let f = eth_icmp6(&m);
        let l = icmp6_part(&mut p, &f);
        assert!(
            l.starts_with("ICMP6, destination unreachable, unknown unreach code (9)\n\t0x0000:  0109"),
            "{l}"
        );
        let f = eth_icmp6(&[2, 0, 0, 0, 0, 0, 5, 0xdc]);
        assert_eq!(icmp6_part(&mut p, &f), "ICMP6, packet too big, mtu 1500, length 8\n");
        let mut mld = vec![131, 0, 0, 0, 0, 0, 0, 0];
        mld.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb]);
        let f = eth_icmp6(&mld);
        assert_eq!(
            icmp6_part(&mut p, &f),
            "ICMP6, multicast listener reportmax resp delay: 0 addr: ff02::fb, length 24\n"
        );
        let f = eth_icmp6(&[151, 0, 0, 0, 1, 2]);
        let l = icmp6_part(&mut p, &f);
        assert!(
            l.starts_with("ICMP6, unknown icmp6 type (151), length 6\n\t0x0000:  9700 "),
            "{l}"
        );
        assert!(l.ends_with(" 0102\n"), "{l}");
    }

    #[test]
    fn mldv2_report_and_query() {
        let mut m = vec![143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 1];
        m.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb]);
        m.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        let f = eth_icmp6(&m);
        assert_eq!(
            icmp6_part(&mut printer(), &f),
            "ICMP6, multicast listener report v2, 1 group record(s), length 44\n"
        );
        assert_eq!(
            icmp6_part(&mut verbose_printer(1), &f),
            "[icmp6 sum ok] ICMP6, multicast listener report v2, 1 group record(s) [gaddr ff02::fb to_ex, 1 source(s)]\n"
        );
        assert_eq!(
            icmp6_part(&mut verbose_printer(2), &f),
            "[icmp6 sum ok] ICMP6, multicast listener report v2, 1 group record(s) [gaddr ff02::fb to_ex { fe80::9 }]\n"
        );
        let mut q = vec![130, 0, 0, 0, 0x27, 0x10, 0, 0];
        q.extend_from_slice(&[0; 16]);
        q.extend_from_slice(&[2, 125, 0, 0]);
        let f = eth_icmp6(&q);
        assert_eq!(
            icmp6_part(&mut printer(), &f),
            "ICMP6, multicast listener query v2 [gaddr ::], length 28\n"
        );
        assert_eq!(
            icmp6_part(&mut verbose_printer(1), &f),
            "[icmp6 sum ok] ICMP6, multicast listener query v2 [max resp delay=10000] [gaddr :: robustness=2 qqi=125]\n"
        );
    }

    #[test]
    fn bad_checksum_and_node_information() {
        let mut f = eth_icmp6(&[128, 0, 0, 0, 0, 7, 0, 1]);
        let n = f.len();
        f[n - 1] ^= 1;
        let l = icmp6_part(&mut verbose_printer(1), &f);
        assert!(l.starts_with("[bad icmp6 cksum 0x"), "{l}");
        assert!(l.ends_with("!] ICMP6, echo request, id 7, seq 0\n"), "{l}");
        // Node addresses query, flag A.
        let mut m = vec![139, 0, 0, 0, 0, 3, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7, 8];
        m.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let f = eth_icmp6(&m);
        assert_eq!(
            icmp6_part(&mut printer(), &f),
            "ICMP6, who-are-you request node information query (node addresses [A], subject=fe80::2), length 32\n"
        );
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let mut x: u32 = 7;
        for ty in [
            1u8, 2, 3, 4, 128, 130, 131, 133, 134, 135, 136, 137, 138, 139, 140, 143, 145, 147, 155, 200,
        ] {
            for len in 0..120usize {
                let mut m = vec![ty, (x >> 8) as u8];
                for _ in 2..len.max(2) {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    m.push((x >> 16) as u8 % 6);
                }
                m.resize(m.len().max(4), 0);
                let f = eth_icmp6(&m);
                for v in 0..4 {
                    for cut in [f.len(), f.len().saturating_sub(5), 60] {
                        line_cut(&mut verbose_printer(v), 1, &f, cut.min(f.len()));
                    }
                }
            }
        }
    }
}
