//! IPv6 (print-ip6.c).

use super::ip::{IpInfo, ipproto_name};
use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc};
use crate::wire::{get_be16, get_be32, get_u8};
use crate::wire::{ipproto, ipv6};

/// ip6_finddst(): the final destination named by a routing header (the last address of type
/// 0 or 2, segment 0 of type 4) behind the fixed header of `pkt`, else None.
pub(crate) fn ip6_finddst(pkt: &[u8]) -> Option<&[u8]> {
    let mut nh = *pkt.get(6)?;
    if !matches!(nh, 0 | 60 | 43 | 44 | 135 | 62) {
        return None;
    }
    let mut cp = ipv6::HEADER_LEN;
    while cp < pkt.len() {
        match nh {
            ipproto::HOPOPTS | ipproto::DSTOPTS | 135 | 62 => {
                let adv = (*pkt.get(cp + 1)? as usize + 1) << 3;
                nh = *pkt.get(cp)?;
                cp += adv;
            }
            ipproto::FRAGMENT => {
                nh = *pkt.get(cp)?;
                cp += 8;
            }
            ipproto::ROUTING => {
                let len = *pkt.get(cp + 1)? as usize;
                pkt.get(cp..cp + 4)?;
                return match pkt.get(cp + 2)? {
                    0 | 2 if len.is_multiple_of(2) => {
                        // The addresses start after the 8-byte fixed part; use the last one
                        // captured (tcpdump stops at the first missing one).
                        let mut last = None;
                        for k in 0..len / 2 {
                            match pkt.get(cp + 8 + 16 * k..cp + 24 + 16 * k) {
                                Some(a) => last = Some(a),
                                None => break,
                            }
                        }
                        last
                    }
                    4 if len.is_multiple_of(2) => pkt.get(cp + 8..cp + 24),
                    _ => None,
                };
            }
            _ => return None,
        }
    }
    None
}

/// IPv6 option types (ip6.h).
mod ip6opt {
    pub const PAD1: u8 = 0x00;
    pub const PADN: u8 = 0x01;
    pub const RTALERT: u8 = 0x05;
    pub const JUMBO: u8 = 0xc2;
    pub const HOME_ADDRESS: u8 = 0xc9;
}

/// Mobility header numbers (the old one and RFC 3775's).
const MOBILITY_OLD: u8 = 62;
const MOBILITY: u8 = 135;

/// What an extension-header printer tells ip6_print(): how far to advance, or stop (it printed
/// why, e.g. ` [|hbhopt]` or ` (invalid)`).
type Advance = Result<Option<usize>, Trunc>;

impl Printer {
    /// ip6_print()
    pub(super) fn ip6(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> PResult {
        self.proto = "ip6";
        // Every truncation ip6_print() itself finds is a `goto trunc`: the marker, then return.
        let Ok(h) = ipv6::Header::new_checked(data) else {
            self.trunc_here(out);
            return Ok(());
        };
        if length < ipv6::HEADER_LEN {
            out.s("truncated-ip6 ");
            out.u(length as u64);
            return Ok(());
        }
        if !self.opts.link_header {
            out.s("IP6 ");
        }
        if h.version() != 6 {
            out.s("version error: ");
            out.u(h.version() as u64);
            out.s(" != 6");
            return Ok(());
        }
        let mut payload_len = h.payload_len() as u32;
        // tcpdump's u_int arithmetic.
        let mut len: u32 = if payload_len != 0 {
            let len = payload_len + ipv6::HEADER_LEN as u32;
            if (length as u64) < len as u64 {
                out.s("truncated-ip6 - ");
                out.u((len as u64).wrapping_sub(length as u64));
                out.s(" bytes missing!");
            }
            len
        } else {
            (length as u32).wrapping_add(ipv6::HEADER_LEN as u32)
        };
        let first_nh = h.next_header();
        let mut nh = first_nh;
        if self.opts.verbose > 0 {
            out.c(b'(');
            let tc = h.traffic_class();
            if tc != 0 {
                out.s("class 0x");
                out.x_pad(tc as u64, 2);
                out.s(", ");
            }
            let flow = h.flow_label();
            if flow != 0 {
                out.s("flowlabel 0x");
                out.x_pad(flow as u64, 5);
                out.s(", ");
            }
            out.s("hlim ");
            out.u(h.hop_limit() as u64);
            out.s(", next-header ");
            out.s(ipproto_name(nh).unwrap_or("unknown"));
            out.s(" (");
            out.u(nh as u64);
            out.s(") payload length: ");
            out.u(payload_len as u64);
            out.s(") ");
        }
        // Cut the capture off at the end of the IPv6 payload.
        let full = data;
        let mut data = &data[..(len as usize).min(data.len())];
        let src = &data[8..24];
        let dst = &data[24..40];
        let mut cp = 0usize;
        let mut advance = ipv6::HEADER_LEN;
        let mut total_advance = 0u32;
        let mut found_extension_header = false;
        let mut found_jumbo = false;
        let mut fragmented = false;
        let mut found_hbh = false;
        while cp < data.len() {
            if (len as usize) < advance {
                self.trunc_here(out);
                return Ok(());
            }
            cp += advance;
            len -= advance as u32;
            total_advance = total_advance.wrapping_add(advance as u32);
            if cp == ipv6::HEADER_LEN && !matches!(nh, ipproto::TCP | ipproto::UDP | ipproto::DCCP | ipproto::SCTP) {
                self.ip6addr(out, src);
                out.s(" > ");
                self.ip6addr(out, dst);
                out.s(": ");
            }
            let step = match nh {
                ipproto::HOPOPTS => {
                    if found_hbh {
                        out.s("[The Hop-by-Hop Options header was already found] (invalid)");
                        return Ok(());
                    }
                    if cp != ipv6::HEADER_LEN {
                        out.s("[The Hop-by-Hop Options header don't follow the IPv6 header] (invalid)");
                        return Ok(());
                    }
                    found_hbh = true;
                    let step = self.hbhopt(out, data, cp, &mut found_jumbo, &mut payload_len)?;
                    if payload_len == 0 && !found_jumbo {
                        out.s("[No valid Jumbo Payload Hop-by-Hop option found] (invalid)");
                        return Ok(());
                    }
                    step
                }
                ipproto::DSTOPTS => self.dstopt(out, data, cp)?,
                ipproto::FRAGMENT => match self.frag6(out, data, cp, h.payload_len())? {
                    Some(a) if cp + a < data.len() => {
                        fragmented = true;
                        Some(a)
                    }
                    _ => return Ok(()),
                },
                MOBILITY_OLD | MOBILITY => {
                    self.limit(Coverage::Unsupported);
                    return Ok(());
                }
                ipproto::ROUTING => self.rt6(out, data, cp)?,
                _ => {
                    if found_jumbo {
                        len = payload_len.wrapping_add(ipv6::HEADER_LEN as u32);
                        if len < total_advance {
                            self.trunc_here(out);
                            return Ok(());
                        }
                        if (length as u64) < len as u64 {
                            out.s("truncated-ip6 - ");
                            out.u(len as u64 - length as u64);
                            out.s(" bytes missing!");
                        }
                        data = &full[..(len as usize).min(full.len())];
                        len -= total_advance;
                    } else if payload_len == 0 {
                        if found_extension_header {
                            self.trunc_here(out);
                            return Ok(());
                        }
                        len = ipv6::HEADER_LEN as u32;
                        data = &data[..ipv6::HEADER_LEN];
                        len -= total_advance;
                    }
                    let info = IpInfo {
                        v6: true,
                        src,
                        dst,
                        first_nh,
                        fragmented,
                        cksum_dst: ip6_finddst(data).unwrap_or(dst),
                        ip_len: h.payload_len(),
                        ttl: h.hop_limit(),
                    };
                    let payload = data.get(cp..).unwrap_or(&[]);
                    return self.ip_demux(out, payload, len as usize, info, nh);
                }
            };
            let Some(step) = step else {
                return Ok(());
            };
            found_extension_header = true;
            nh = get_u8(data, cp).ok_or(Trunc)?;
            advance = step;
            self.proto = "ip6";
        }
        Ok(())
    }

    /// hbhopt_process(): a hop-by-hop options header at `cp`; a valid Jumbo Payload option
    /// replaces `payload_len`.
    fn hbhopt(
        &mut self,
        out: &mut Vec<u8>,
        data: &[u8],
        cp: usize,
        found_jumbo: &mut bool,
        payload_len: &mut u32,
    ) -> Advance {
        self.proto = "hbhopt";
        let hlen = (get_u8(data, cp + 1).ok_or(Trunc)? as usize + 1) << 3;
        if data.len() < cp + hlen {
            // A local `goto trunc`, not a longjmp: ip6_print goes on to the jumbo check.
            self.trunc_here(out);
            return Ok(None);
        }
        out.s("HBH ");
        if !self.ip6_opt_process(out, &data[cp + 2..cp + hlen], Some((found_jumbo, payload_len))) {
            self.trunc_here(out);
            return Ok(None);
        }
        Ok(Some(hlen))
    }

    /// dstopt_process(): a destination options header at `cp`.
    fn dstopt(&mut self, out: &mut Vec<u8>, data: &[u8], cp: usize) -> Advance {
        self.proto = "dstopt";
        let hlen = (get_u8(data, cp + 1).ok_or(Trunc)? as usize + 1) << 3;
        if data.len() < cp + hlen {
            // ND_TCHECK_LEN with a `trunc:` label: the marker, and ip6_print returns.
            self.trunc_here(out);
            return Ok(None);
        }
        out.s("DSTOPT ");
        if self.opts.verbose > 0 && !self.ip6_opt_process(out, &data[cp + 2..cp + hlen], None) {
            self.trunc_here(out);
            return Ok(None);
        }
        Ok(Some(hlen))
    }

    /// ip6_opt_process(): the options of a hop-by-hop (`jumbo` given) or destination options
    /// header, all captured. false where tcpdump gives up on a malformed option.
    fn ip6_opt_process(&mut self, out: &mut Vec<u8>, b: &[u8], mut jumbo: Option<(&mut bool, &mut u32)>) -> bool {
        let v = self.opts.verbose > 0;
        if b.is_empty() {
            return true;
        }
        let len = b.len();
        let mut seen_jumbo = false;
        let mut i = 0usize;
        while i < len {
            let Some(o) = option_at(b, i) else {
                return false;
            };
            let (t, optlen) = (o[0], o.len());
            match t {
                ip6opt::PAD1 => {
                    if v {
                        out.s("(pad1)");
                    }
                }
                ip6opt::PADN => {
                    if v {
                        out.s("(padn)");
                    }
                }
                ip6opt::RTALERT => {
                    if len - i < 4 {
                        out.s("(rtalert: trunc)");
                        return false;
                    }
                    if o[1] != 2 {
                        out.s("(rtalert: invalid len ");
                        out.u(o[1] as u64);
                        out.c(b')');
                        return false;
                    }
                    if v {
                        out.s("(rtalert: 0x");
                        out.x_pad(u16::from_be_bytes([o[2], o[3]]) as u64, 4);
                        out.s(") ");
                    }
                }
                ip6opt::JUMBO => {
                    if len - i < 6 {
                        out.s("(jumbo: trunc)");
                        return false;
                    }
                    if o[1] != 4 {
                        out.s("(jumbo: invalid len ");
                        out.u(o[1] as u64);
                        out.c(b')');
                        return false;
                    }
                    let jumbolen = u32::from_be_bytes([o[2], o[3], o[4], o[5]]);
                    let note = if seen_jumbo {
                        Some(" - already seen")
                    } else {
                        seen_jumbo = true;
                        match jumbo.as_mut() {
                            None => Some(" - not a hop-by-hop option"),
                            Some((_, pl)) if **pl != 0 => Some(" - payload len != 0"),
                            Some(_) if jumbolen < 65536 => Some(" - < 65536"),
                            Some((found, pl)) => {
                                **found = true;
                                **pl = jumbolen;
                                None
                            }
                        }
                    };
                    if v {
                        out.s("(jumbo: ");
                        out.u(jumbolen as u64);
                        if let Some(n) = note {
                            out.s(n);
                        }
                        out.s(") ");
                    }
                }
                ip6opt::HOME_ADDRESS => {
                    if len - i < 18 {
                        out.s("(homeaddr: trunc)");
                        return false;
                    }
                    if o[1] < 16 {
                        out.s("(homeaddr: invalid len ");
                        out.u(o[1] as u64);
                        out.c(b')');
                        return false;
                    }
                    if v {
                        out.s("(homeaddr: ");
                        self.ip6addr(out, &o[2..18]);
                        if o[1] > 16 && !ip6_sopt_print(out, &o[18..]) {
                            return false;
                        }
                        out.c(b')');
                    }
                }
                _ => {
                    if v {
                        out.s("(opt_type 0x");
                        out.x_pad(t as u64, 2);
                        out.s(": len=");
                        out.u(o[1] as u64);
                        out.c(b')');
                    }
                }
            }
            i += optlen;
        }
        if v {
            out.c(b' ');
        }
        true
    }

    /// frag6_print(): a fragment header at `cp`; None for later fragments (nothing to decode).
    fn frag6(&mut self, out: &mut Vec<u8>, data: &[u8], cp: usize, plen: u16) -> Advance {
        self.proto = "frag6";
        let offlg = get_be16(data, cp + 2).ok_or(Trunc)?;
        // sizeof(ip6_hdr) + plen - (bp - bp2) - sizeof(ip6_frag), as a size_t.
        let flen = (ipv6::HEADER_LEN as u64 + plen as u64).wrapping_sub(cp as u64 + 8);
        if self.opts.verbose > 0 {
            let ident = get_be32(data, cp + 4).ok_or(Trunc)?;
            out.s("frag (0x");
            out.x_pad(ident as u64, 8);
            out.c(b':');
        } else {
            out.s("frag (");
        }
        out.u((offlg & 0xfff8) as u64);
        out.c(b'|');
        out.u(flen);
        out.c(b')');
        if offlg & 0xfff8 != 0 {
            return Ok(None);
        }
        out.c(b' ');
        Ok(Some(8))
    }

    /// rt6_print(): a routing header at `cp`.
    fn rt6(&mut self, out: &mut Vec<u8>, data: &[u8], cp: usize) -> Advance {
        if data.get(cp).is_none() {
            // ip6_print()'s ND_TCHECK_1 before calling rt6_print(): its own `goto trunc`.
            self.trunc_here(out);
            return Ok(None);
        }
        self.proto = "rt6";
        out.s("RT6");
        let len = get_u8(data, cp + 1).ok_or(Trunc)?;
        out.s(" (len=");
        out.u(len as u64);
        let typ = get_u8(data, cp + 2).ok_or(Trunc)?;
        out.s(", type=");
        out.u(typ as u64);
        if typ == 0 {
            out.s(" [Deprecated]");
        }
        let segleft = get_u8(data, cp + 3).ok_or(Trunc)?;
        out.s(", segleft=");
        out.u(segleft as u64);
        match typ {
            0 | 2 => {
                let rsv = get_be32(data, cp + 4).ok_or(Trunc)?;
                if rsv != 0 || self.opts.verbose > 0 {
                    out.s(", rsv=0x");
                    out.x(rsv as u64);
                }
            }
            4 => {
                let last = get_u8(data, cp + 4).ok_or(Trunc)?;
                out.s(", last-entry=");
                out.u(last as u64);
                let flags = get_u8(data, cp + 5).ok_or(Trunc)?;
                if flags != 0 || self.opts.verbose > 0 {
                    out.s(", flags=0x");
                    out.x(flags as u64);
                }
                let tag = get_be16(data, cp + 6).ok_or(Trunc)?;
                out.s(", tag=");
                out.x(tag as u64);
            }
            _ => {
                out.s(" (unknown type) (invalid)");
                return Ok(None);
            }
        }
        if len % 2 == 1 {
            out.s(" (invalid length ");
            out.u(len as u64);
            out.s(") (invalid)");
            return Ok(None);
        }
        for i in 0..(len / 2) as usize {
            let at = cp + 8 + 16 * i;
            let a = data.get(at..at + 16).ok_or(Trunc)?;
            out.s(", [");
            out.u(i as u64);
            out.c(b']');
            self.ip6addr(out, a);
        }
        out.s(") ");
        Ok(Some((len as usize + 1) << 3))
    }
}

/// The option (type, length, data) that starts at `i`: Pad1 is one byte, the others say their
/// length; `None` when it runs past the end.
fn option_at(b: &[u8], i: usize) -> Option<&[u8]> {
    let len = match *b.get(i)? {
        ip6opt::PAD1 => 1,
        _ => *b.get(i + 1)? as usize + 2,
    };
    b.get(i..i + len)
}

/// ip6_sopt_print(): the sub-options of a Home Address option.
fn ip6_sopt_print(out: &mut Vec<u8>, b: &[u8]) -> bool {
    let len = b.len();
    let mut i = 0usize;
    while i < len {
        let Some(o) = option_at(b, i) else {
            return false;
        };
        let (t, optlen) = (o[0], o.len());
        match t {
            ip6opt::PAD1 => out.s(", pad1"),
            ip6opt::PADN => out.s(", padn"),
            _ => {
                out.s(", sopt_type 0x");
                out.x_pad(t as u64, 2);
                out.s(": len=");
                out.u(o[1] as u64);
            }
        }
        i += optlen;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::ip6_finddst;

    fn eth_ipv6(nh: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[nh, 64]);
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = 1;
        f.extend_from_slice(&a);
        a[15] = 2;
        f.extend_from_slice(&a);
        f.extend_from_slice(l4);
        f
    }

    fn v6_line(v: u8, hex: &str) -> String {
        let mut p = crate::print::ip::tests::verbose_printer(v);
        line(&mut p, 1, &crate::print::ip::tests::unhex(hex))
    }

    #[test]
    fn routing_and_fragment_headers() {
        assert_eq!(
            v6_line(
                1,
                concat!(
                    "02000000000202000000000186dd60000000002c2b40fd000000000000000000000000000001fd000000000000000000",
                    "0000000000022c0200010000000020010db8000000000000000000000009110000011234567803e807d0000c00006162",
                    "6364"
                )
            ),
            "IP6 (hlim 64, next-header Routing (43) payload length: 44) fd00::1 > fd00::2: RT6 (len=2, \
             type=0 [Deprecated], segleft=1, rsv=0x0, [0]2001:db8::9) frag (0x12345678:0|12) 1000 > 2000: UDP, length 4\n"
        );
        assert_eq!(
            v6_line(
                1,
                concat!(
                    "02000000000202000000000186dd6abcdef100142c40fd000000000000000000000000000001fd000000000000000000",
                    "000000000002110005c81234567803e807d0000c000061626364"
                )
            ),
            "IP6 (class 0xab, flowlabel 0xcdef1, hlim 64, next-header Fragment (44) payload length: 20) \
             fd00::1 > fd00::2: frag (0x12345678:1480|12)\n"
        );
    }

    #[test]
    fn zero_payload_length_without_jumbo_option() {
        assert_eq!(
            v6_line(
                0,
                concat!(
                    "02000000000202000000000186dd6000000000000040fd000000000000000000000000000001fd000000000000000000",
                    "0000000000021100c2040000000103e807d0000c000061626364"
                )
            ),
            "IP6 fd00::1 > fd00::2: HBH [No valid Jumbo Payload Hop-by-Hop option found] (invalid)\n"
        );
    }

    #[test]
    fn routing_header_destination() {
        let a9 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        let mut pkt = vec![0x60, 0, 0, 0, 0, 24, 43, 64];
        pkt.extend_from_slice(&[0; 32]);
        pkt.extend_from_slice(&[58, 2, 0, 1, 0, 0, 0, 0]);
        pkt.extend_from_slice(&a9);
        assert_eq!(ip6_finddst(&pkt), Some(&a9[..]));
        pkt[6] = 58;
        assert_eq!(ip6_finddst(&pkt), None);
    }

    #[test]
    fn extension_headers_never_panic() {
        let mut p = crate::print::ip::tests::verbose_printer(1);
        let mut x: u32 = 7;
        for nh in [0u8, 43, 44, 60, 135] {
            for _ in 0..300 {
                let mut f = eth_ipv6(nh, &[]);
                for _ in 0..48 {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    f.push((x >> 16) as u8);
                }
                f[54] = [0, 43, 44, 60, 17, 58][(x % 6) as usize];
                f[55] = (x >> 8) as u8 % 8;
                f[19] = (x >> 4) as u8 % 64;
                for cut in [54, 55, 56, 60, 62, 70, 80, f.len()] {
                    assert!(line_cut(&mut p, 1, &f, cut).ends_with('\n'));
                }
            }
        }
    }

    #[test]
    fn truncation_returns_or_longjmps_as_tcpdump() {
        let mut p = printer();
        p.opts.hex = 1;
        // The fixed header cut short: ip6_print()'s `goto trunc` returns; the dump skips the
        // link header.
        let f = eth_ipv6(17, &[0, 1, 0, 2, 0, 9, 0, 0, b'x']);
        let l = line_cut(&mut p, 1, &f, 53);
        assert!(l.starts_with(" [|ip6]\n\t0x0000:  6000 0000 0009 1140 "), "{l}");
        // A destination options header cut short: the marker, then return.
        let mut ext = vec![17, 1, 1, 10];
        ext.extend_from_slice(&[0; 10]);
        ext.extend_from_slice(&[0, 1, 0, 2, 0, 9, 0, 0, b'x']);
        let f = eth_ipv6(60, &ext);
        let l = line_cut(&mut p, 1, &f, 62);
        assert!(
            l.starts_with("IP6 fd00::1 > fd00::2:  [|dstopt]\n\t0x0000:  6000 "),
            "{l}"
        );
        // Its length byte not captured: GET_U_1 longjmps; the dump starts at the link header.
        let l = line_cut(&mut p, 1, &f, 55);
        assert!(
            l.starts_with("IP6 fd00::1 > fd00::2:  [|dstopt]\n\t0x0000:  0000 0000 "),
            "{l}"
        );
    }

    #[test]
    fn echo_request() {
        let mut p = printer();
        let f = eth_ipv6(58, &[128, 0, 0, 0, 0, 5, 0, 1, 1, 2, 3, 4]);
        assert_eq!(
            line(&mut p, 1, &f),
            "IP6 fd00::1 > fd00::2: ICMP6, echo request, id 5, seq 1, length 12\n"
        );
        assert_eq!(line(&mut p, 1, &f[..50]), " [|ip6]\n");
    }
}
