//! ICMP for IPv4 (print-icmp.c): the one-line summary, and with -v the checksum, the quoted
//! IP datagram of error messages and the MPLS extension objects (RFC 4950).

use super::ip::{IpInfo, cksum_shouldbe, in_cksum};
use super::out::Out;
use super::{PResult, Printer, Trunc, hex, need};
use crate::wire::{get_be16, get_be32, get_u8, icmp, ipproto};

/// The quoted IP header starts after the 8-byte ICMP header.
const OIP: usize = 8;
/// Fields of the quoted IP header.
const OIP_PROTO: usize = OIP + 9;
const OIP_DST: usize = OIP + 16;
/// ICMP_EXTD_MINLEN: the extension header follows 128 bytes of original datagram.
const EXT_MINLEN: usize = 156 - 20;
/// sizeof(struct icmp_ext_t): the header, 128 bytes of datagram, version, checksum, 1 byte.
const EXT_STRUCT_LEN: usize = 8 + 128 + 2 + 2 + 1;

/// Texts of the unreachable codes that name the quoted destination: (before, after).
fn unreach_text(code: u8) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0 => ("net ", " unreachable"),
        1 => ("host ", " unreachable"),
        5 => ("", " unreachable - source route failed"),
        6 => ("net ", " unreachable - unknown"),
        7 => ("host ", " unreachable - unknown"),
        8 => ("", " unreachable - source host isolated"),
        9 => ("net ", " unreachable - admin prohibited"),
        10 => ("host ", " unreachable - admin prohibited"),
        11 => ("net ", " unreachable - tos prohibited"),
        12 => ("host ", " unreachable - tos prohibited"),
        13 => ("host ", " unreachable - admin prohibited filter"),
        14 => ("host ", " unreachable - host precedence violation"),
        15 => ("host ", " unreachable - precedence cutoff"),
        _ => return None,
    })
}

/// icmp2str: the types printed by name only.
fn type_name(ty: u8) -> Option<&'static str> {
    Some(match ty {
        icmp::ECHOREPLY => "echo reply",
        icmp::SOURCEQUENCH => "source quench",
        icmp::ECHO => "echo request",
        icmp::ROUTERSOLICIT => "router solicitation",
        icmp::TSTAMP => "time stamp request",
        icmp::TSTAMPREPLY => "time stamp reply",
        icmp::IREQ => "information request",
        icmp::IREQREPLY => "information reply",
        icmp::MASKREQ => "address mask request",
        _ => return None,
    })
}

/// ICMP_ERRTYPE: the types that quote an IP datagram.
fn is_error(ty: u8) -> bool {
    matches!(
        ty,
        icmp::UNREACH | icmp::SOURCEQUENCH | icmp::REDIRECT | icmp::TIMXCEED | icmp::PARAMPROB
    )
}

/// icmp_tstamp_print(): milliseconds since midnight UTC as `hh:mm:ss.mmm`.
fn tstamp(t: &mut Vec<u8>, ms: u32) {
    let sec = ms / 1000;
    t.u_pad((sec / 3600) as u64, 2);
    t.c(b':');
    t.u_pad((sec / 60 % 60) as u64, 2);
    t.c(b':');
    t.u_pad((sec % 60) as u64, 2);
    t.c(b'.');
    t.u_pad((ms % 1000) as u64, 3);
}

/// print_unknown_data(): a hex dump of what was captured of `len` bytes at `off`.
pub(super) fn unknown_data(out: &mut Vec<u8>, d: &[u8], off: usize, indent: &str, len: usize) {
    match d.get(off..) {
        Some(rest) => hex::hex(out, indent, &rest[..len.min(rest.len())]),
        None => {
            out.s(indent);
            out.s("Dissector error: print_unknown_data called with pointer past end of packet");
        }
    }
}

impl Printer {
    /// icmp_print()
    pub(super) fn icmp(&mut self, out: &mut Vec<u8>, d: &[u8], length: usize, info: IpInfo<'_>) -> PResult {
        self.proto = "icmp";
        // tcpdump formats the text into a buffer before printing it, so a capture that ends
        // anywhere in the fields it reads prints nothing but the truncation marker.
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let r = self.icmp_text(&mut text, d);
        if r.is_ok() {
            out.s("ICMP ");
            out.b(&text);
            out.s(", length ");
            out.u(length as u64);
        }
        self.scratch = text;
        match r {
            Ok(()) => {}
            Err(Cut::Hard) => return Err(Trunc),
            Err(Cut::Soft) => {
                out.s(" [|icmp]");
                return Ok(());
            }
        }
        let ty = d[0];
        let v = self.opts.verbose;
        if v > 0 && !info.fragmented && d.len() >= length {
            let sum = in_cksum(&d[..length]);
            if sum != 0 {
                let icmp_sum = get_be16(d, 2).ok_or(Trunc)?;
                out.s(" (wrong icmp cksum ");
                out.x(icmp_sum as u64);
                out.s(" (->");
                out.x(cksum_shouldbe(icmp_sum, sum) as u64);
                out.s(")!)");
            }
        }
        if v > 0 && is_error(ty) {
            out.s("\n\t");
            let ip_len = get_be16(d, OIP + 2).ok_or(Trunc)? as usize;
            // tcpdump reads ip_len again for ip_print's argument after cutting the capture
            // to ip_len bytes: a length under 4 cuts that field itself off.
            if ip_len < 4 {
                return Err(Trunc);
            }
            let inner = d.get(OIP..).unwrap_or(&[]);
            self.ip(out, &inner[..ip_len.min(inner.len())], ip_len)?;
            self.proto = "icmp";
        }
        if v > 0 && length > EXT_MINLEN && matches!(ty, icmp::UNREACH | icmp::TIMXCEED | icmp::PARAMPROB) {
            self.icmp_mpls_ext(out, d, length)?;
        }
        Ok(())
    }

    /// The summary text (everything between "ICMP " and ", length").
    fn icmp_text(&mut self, t: &mut Vec<u8>, d: &[u8]) -> Result<(), Cut> {
        let ty = get_u8(d, 0).ok_or(Trunc)?;
        let code = get_u8(d, 1).ok_or(Trunc)?;
        let dst = |d: &[u8]| -> Result<[u8; 4], Trunc> {
            need(d, OIP_DST + 4)?;
            Ok([d[OIP_DST], d[OIP_DST + 1], d[OIP_DST + 2], d[OIP_DST + 3]])
        };
        match ty {
            icmp::ECHO | icmp::ECHOREPLY => {
                let id = get_be16(d, 4).ok_or(Trunc)?;
                let seq = get_be16(d, 6).ok_or(Trunc)?;
                t.s(if ty == icmp::ECHO { "echo request" } else { "echo reply" });
                t.s(", id ");
                t.u(id as u64);
                t.s(", seq ");
                t.u(seq as u64);
            }
            icmp::UNREACH => match code {
                2 => {
                    let a = dst(d)?;
                    let p = get_u8(d, OIP_PROTO).ok_or(Trunc)?;
                    self.ipaddr(t, &a);
                    t.s(" protocol ");
                    t.u(p as u64);
                    t.s(" unreachable");
                }
                3 => {
                    let p = get_u8(d, OIP_PROTO).ok_or(Cut::Soft)?;
                    let hlen = (d[OIP] & 0x0f) as usize * 4;
                    let dport = get_be16(d, OIP + hlen + 2).ok_or(Trunc)?;
                    let a = dst(d)?;
                    self.ipaddr(t, &a);
                    match p {
                        ipproto::TCP => {
                            t.s(" tcp port ");
                            self.tcp_port(t, dport);
                        }
                        ipproto::UDP => {
                            t.s(" udp port ");
                            self.udp_port(t, dport);
                        }
                        _ => {
                            t.s(" protocol ");
                            t.u(p as u64);
                            t.s(" port ");
                            t.u(dport as u64);
                        }
                    }
                    t.s(" unreachable");
                }
                4 => {
                    let mtu = get_be16(d, 6).ok_or(Trunc)?;
                    let a = dst(d)?;
                    self.ipaddr(t, &a);
                    t.s(" unreachable - need to frag");
                    if mtu != 0 {
                        t.s(" (mtu ");
                        t.u(mtu as u64);
                        t.c(b')');
                    }
                }
                _ => {
                    let a = dst(d)?;
                    match unreach_text(code) {
                        Some((pre, post)) => {
                            t.s(pre);
                            self.ipaddr(t, &a);
                            t.s(post);
                        }
                        None => {
                            self.ipaddr(t, &a);
                            t.s(" unreachable - #");
                            t.u(code as u64);
                        }
                    }
                }
            },
            icmp::REDIRECT => {
                let a = dst(d)?;
                need(d, 8)?;
                let gw = [d[4], d[5], d[6], d[7]];
                let (pre, mid) = match code {
                    0 => ("redirect ", " to net "),
                    1 => ("redirect ", " to host "),
                    2 => ("redirect-tos ", " to net "),
                    3 => ("redirect-tos ", " to host "),
                    _ => ("", " to "),
                };
                if code > 3 {
                    t.s("redirect-#");
                    t.u(code as u64);
                    t.c(b' ');
                } else {
                    t.s(pre);
                }
                self.ipaddr(t, &a);
                t.s(mid);
                self.ipaddr(t, &gw);
            }
            icmp::ROUTERADVERT => {
                t.s("router advertisement");
                need(d, 8).map_err(|_| Cut::Soft)?;
                t.s(" lifetime ");
                let life = be16_at(d, 6);
                if life < 60 {
                    t.u(life as u64);
                } else if life < 3600 {
                    t.u((life / 60) as u64);
                    t.c(b':');
                    t.u_pad((life % 60) as u64, 2);
                } else {
                    t.u((life / 3600) as u64);
                    t.c(b':');
                    t.u_pad((life % 3600 / 60) as u64, 2);
                    t.c(b':');
                    t.u_pad((life % 60) as u64, 2);
                }
                let num = d[4];
                t.c(b' ');
                t.u(num as u64);
                t.c(b':');
                let size = d[5];
                if size != 2 {
                    t.s(" [size ");
                    t.u(size as u64);
                    t.c(b']');
                } else {
                    for i in 0..num as usize {
                        let off = 8 + i * 8;
                        need(d, off + 8).map_err(|_| Cut::Soft)?;
                        t.s(" {");
                        self.ipaddr(t, &d[off..off + 4]);
                        t.c(b' ');
                        t.u(be32_at(d, off + 4) as u64);
                        t.c(b'}');
                    }
                }
            }
            icmp::TIMXCEED => {
                need(d, OIP_DST + 4).map_err(|_| Cut::Soft)?;
                match code {
                    0 => t.s("time exceeded in-transit"),
                    1 => t.s("ip reassembly time exceeded"),
                    _ => {
                        t.s("time exceeded-#");
                        t.u(code as u64);
                    }
                }
            }
            icmp::PARAMPROB => {
                if code != 0 {
                    t.s("parameter problem - code ");
                    t.u(code as u64);
                } else {
                    let ptr = get_u8(d, 4).ok_or(Trunc)?;
                    t.s("parameter problem - octet ");
                    t.u(ptr as u64);
                }
            }
            icmp::MASKREPLY => {
                let mask = get_be32(d, 8).ok_or(Trunc)?;
                t.s("address mask is 0x");
                t.x_pad(mask as u64, 8);
            }
            icmp::TSTAMP => {
                let id = get_be16(d, 4).ok_or(Trunc)?;
                let seq = get_be16(d, 6).ok_or(Trunc)?;
                t.s("time stamp query id ");
                t.u(id as u64);
                t.s(" seq ");
                t.u(seq as u64);
            }
            icmp::TSTAMPREPLY => {
                need(d, 20).map_err(|_| Cut::Soft)?;
                t.s("time stamp reply id ");
                t.u(be16_at(d, 4) as u64);
                t.s(" seq ");
                t.u(be16_at(d, 6) as u64);
                t.s(": org ");
                tstamp(t, be32_at(d, 8));
                t.s(", recv ");
                tstamp(t, be32_at(d, 12));
                t.s(", xmit ");
                tstamp(t, be32_at(d, 16));
            }
            _ => match type_name(ty) {
                Some(n) => t.s(n),
                None => {
                    t.s("type-#");
                    t.u(ty as u64);
                }
            },
        }
        Ok(())
    }

    /// The multi-part extension objects (RFC 4884) after the 128 bytes of original datagram
    /// (-v).
    fn icmp_mpls_ext(&mut self, out: &mut Vec<u8>, d: &[u8], length: usize) -> PResult {
        if d.len() < EXT_STRUCT_LEN {
            out.s(" [|icmp]");
            return Ok(());
        }
        let ext = EXT_MINLEN;
        let ext_len = length - EXT_MINLEN;
        let whole = d.get(ext..ext + ext_len);
        // Without a length field, only a valid checksum says the extension is there.
        if d[5] == 0
            && let Some(w) = whole
            && in_cksum(w) != 0
        {
            return Ok(());
        }
        let version = d[ext] >> 4;
        out.s("\n\tICMP Multi-Part extension v");
        out.u(version as u64);
        if version != 2 {
            out.s(" packet not supported");
            return Ok(());
        }
        if let Some(w) = whole {
            out.s(", checksum 0x");
            out.x_pad(be16_at(d, ext + 2) as u64, 4);
            out.s(if in_cksum(w) != 0 { " (incorrect)" } else { " (correct)" });
            out.s(", length ");
            out.u(ext_len as u64);
        }
        // u_int arithmetic as tcpdump's: a length under 4 wraps around.
        let mut hlen = (ext_len as u32).wrapping_sub(4);
        let mut obj = ext + 4;
        while hlen > 4 {
            if d.len() < obj.saturating_add(4) {
                out.s(" [|icmp]");
                return Ok(());
            }
            let mut obj_len = be16_at(d, obj) as u32;
            let class = d[obj + 2];
            let ctype = d[obj + 3];
            obj += 4;
            out.s("\n\t  ");
            out.s(match class {
                1 => "MPLS Stack Entry",
                2 => "Interface Identification",
                _ => "unknown",
            });
            out.s(" Object (");
            out.u(class as u64);
            out.s("), Class-Type: ");
            out.u(ctype as u64);
            out.s(", length ");
            out.u(obj_len as u64);
            hlen -= 4;
            if class == 0 || obj_len < 4 {
                return Ok(());
            }
            obj_len -= 4;
            if class == 1 && ctype == 1 {
                let label = get_be32(d, obj).ok_or(Trunc)?;
                out.s("\n\t    label ");
                out.u((label >> 12) as u64);
                out.s(", tc ");
                out.u(((label >> 9) & 7) as u64);
                if label & 0x100 != 0 {
                    out.s(", [S]");
                }
                out.s(", ttl ");
                out.u((label & 0xff) as u64);
            } else {
                unknown_data(out, d, obj, "\n\t    ", obj_len as usize);
            }
            if hlen < obj_len {
                break;
            }
            hlen -= obj_len;
            obj = obj.saturating_add(obj_len as usize);
        }
        Ok(())
    }
}

/// How the summary text stopped short: a failed field read (tcpdump's longjmp) or a failed
/// explicit check (the marker, and the packet's printing ends normally).
enum Cut {
    Hard,
    Soft,
}

impl From<Trunc> for Cut {
    fn from(_: Trunc) -> Cut {
        Cut::Hard
    }
}

/// Reads after a `need` check: never out of bounds by construction, 0 otherwise.
fn be16_at(d: &[u8], off: usize) -> u16 {
    get_be16(d, off).unwrap_or(0)
}

fn be32_at(d: &[u8], off: usize) -> u32 {
    get_be32(d, off).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::ip::tests::verbose_printer;
    use super::super::testutil::*;

    /// An ICMP message with its checksum filled in.
    fn icmp_msg(mut m: Vec<u8>) -> Vec<u8> {
        m[2] = 0;
        m[3] = 0;
        let c = super::in_cksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }

    fn quoted_udp() -> Vec<u8> {
        let mut m = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1];
        m.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        m
    }

    #[test]
    fn echo_and_port_unreachable() {
        let mut p = printer();
        let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &[8, 0, 0, 0, 0, 7, 0, 1, 9, 9]);
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 10\n"
        );
        assert_eq!(line_cut(&mut p, 1, &f, 40), "IP 10.0.0.1 > 10.0.0.2:  [|icmp]\n");
        let mut m = vec![3, 3, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&quoted_udp());
        let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &m);
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.1 udp port 53 unreachable, length 36\n"
        );
    }

    #[test]
    fn other_types() {
        let mut p = printer();
        let mut check = |m: Vec<u8>, want: &str| {
            let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &m);
            let got = line(&mut p, 1, &f);
            assert_eq!(got.split_once("ICMP ").map(|x| x.1), Some(want), "{got}");
        };
        let mut m = vec![3, 99, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&quoted_udp());
        check(m.clone(), "10.0.0.1 unreachable - #99, length 36\n");
        m[1] = 4;
        m[6..8].copy_from_slice(&1400u16.to_be_bytes());
        check(m.clone(), "10.0.0.1 unreachable - need to frag (mtu 1400), length 36\n");
        m[0] = 5;
        m[1] = 7;
        m[4..8].copy_from_slice(&[192, 168, 0, 1]);
        check(m.clone(), "redirect-#7 10.0.0.1 to 192.168.0.1, length 36\n");
        check(
            vec![
                9, 0, 0, 0, 2, 2, 0x0e, 0x10, 10, 0, 0, 9, 0, 0, 0, 5, 10, 0, 0, 8, 0, 0, 0, 1,
            ],
            "router advertisement lifetime 1:00:00 2: {10.0.0.9 5} {10.0.0.8 1}, length 24\n",
        );
        let mut ts = vec![14, 0, 0, 0, 0, 1, 0, 2];
        for v in [3_723_004u32, 0, 86_399_999] {
            ts.extend_from_slice(&v.to_be_bytes());
        }
        check(
            ts,
            "time stamp reply id 1 seq 2: org 01:02:03.004, recv 00:00:00.000, xmit 23:59:59.999, length 20\n",
        );
        check(vec![40, 0, 0, 0], "type-#40, length 4\n");
    }

    #[test]
    fn verbose_checksum_and_quoted_datagram() {
        let mut p = verbose_printer(1);
        let mut m = vec![3, 3, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&quoted_udp());
        let good = icmp_msg(m.clone());
        let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &good);
        let out = line(&mut p, 1, &f);
        let icmp = out.split_once(": ICMP ").unwrap().1;
        assert!(
            icmp.starts_with("10.0.0.1 udp port 53 unreachable, length 36\n\t"),
            "{out}"
        );
        assert!(icmp.contains("10.0.0.2.12345 > 10.0.0.1.53"), "{out}");
        m[3] = 1;
        let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &m);
        let out = line(&mut p, 1, &f);
        let want = format!(
            "length 36 (wrong icmp cksum 1 (->{:x})!)\n\t",
            u16::from_be_bytes([good[2], good[3]])
        );
        assert!(out.contains(&want), "{out}");
        // No quoted header at all: its length field is missing.
        let f = eth_ipv4(
            1,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &icmp_msg(vec![12, 1, 0, 0, 0, 0, 0, 0]),
        );
        assert!(line(&mut p, 1, &f).ends_with("ICMP parameter problem - code 1, length 8\n\t [|icmp]\n"));
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let mut x: u32 = 11;
        for ty in [0u8, 3, 4, 5, 8, 9, 11, 12, 13, 14, 18, 40] {
            for len in 4..200usize {
                let mut m = vec![ty, (x >> 8) as u8 % 16, 0, 0];
                while m.len() < len {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    m.push(match (x >> 16) % 4 {
                        0 => 0,
                        1 => 0x45,
                        2 => 0xff,
                        _ => (x >> 8) as u8,
                    });
                }
                let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &m);
                for v in 0..4 {
                    for cut in [f.len(), f.len() - 3, 40, 50] {
                        let l = line_cut(&mut verbose_printer(v), 1, &f, cut.min(f.len()));
                        assert!(l.ends_with('\n'));
                    }
                }
            }
        }
    }
}
