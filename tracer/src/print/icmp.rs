//! ICMP for IPv4 (print-icmp.c), without -v.

use super::ip::IpInfo;
use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc};
use crate::wire::{get_be16, get_be32, get_u8, icmp, ipproto};

/// unreach2str: the text for each unreachable code, `%s` being the inner destination.
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

/// Offsets inside the ICMP message.
const INNER_IP: usize = 8;
const INNER_DST: usize = INNER_IP + 16;

impl Printer {
    pub(super) fn icmp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize, _info: IpInfo<'_>) -> PResult {
        self.proto = "icmp";
        // tcpdump formats the whole text into a buffer before printing it, so a capture that
        // ends anywhere in the fields it reads prints nothing but the truncation marker.
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let r = self.icmp_text(&mut text, data);
        if r.is_ok() {
            out.s("ICMP ");
            out.b(&text);
            out.s(", length ");
            out.u(length as u64);
        }
        self.scratch = text;
        r
    }

    fn icmp_text(&mut self, t: &mut Vec<u8>, d: &[u8]) -> PResult {
        let ty = get_u8(d, 0).ok_or(Trunc)?;
        let code = get_u8(d, 1).ok_or(Trunc)?;
        let inner_dst = |t: &mut Vec<u8>| -> PResult {
            need(d, INNER_DST + 4)?;
            t.ipv4(&d[INNER_DST..INNER_DST + 4]);
            Ok(())
        };
        match ty {
            icmp::ECHO | icmp::ECHOREPLY => {
                t.s(if ty == icmp::ECHO { "echo request" } else { "echo reply" });
                t.s(", id ");
                t.u(get_be16(d, 4).ok_or(Trunc)? as u64);
                t.s(", seq ");
                t.u(get_be16(d, 6).ok_or(Trunc)? as u64);
            }
            icmp::UNREACH => match code {
                2 => {
                    inner_dst(t)?;
                    t.s(" protocol ");
                    t.u(get_u8(d, INNER_IP + 9).ok_or(Trunc)? as u64);
                    t.s(" unreachable");
                }
                3 => {
                    get_u8(d, INNER_IP + 9).ok_or(Trunc)?;
                    let hlen = (get_u8(d, INNER_IP).ok_or(Trunc)? & 0x0f) as usize * 4;
                    let dport = get_be16(d, INNER_IP + hlen + 2).ok_or(Trunc)?;
                    let proto = get_u8(d, INNER_IP + 9).ok_or(Trunc)?;
                    inner_dst(t)?;
                    match proto {
                        ipproto::TCP => t.s(" tcp port "),
                        ipproto::UDP => t.s(" udp port "),
                        _ => {
                            t.s(" protocol ");
                            t.u(proto as u64);
                            t.s(" port ");
                        }
                    }
                    t.u(dport as u64);
                    t.s(" unreachable");
                }
                4 => {
                    let mtu = get_be16(d, 6).ok_or(Trunc)?;
                    inner_dst(t)?;
                    t.s(" unreachable - need to frag");
                    if mtu != 0 {
                        t.s(" (mtu ");
                        t.u(mtu as u64);
                        t.c(b')');
                    }
                }
                _ => match unreach_text(code) {
                    Some((pre, post)) => {
                        t.s(pre);
                        inner_dst(t)?;
                        t.s(post);
                    }
                    None => {
                        t.c(b'#');
                        t.u(code as u64);
                        t.c(b' ');
                        inner_dst(t)?;
                        t.s(" unreachable");
                    }
                },
            },
            icmp::REDIRECT => {
                let (pre, mid) = match code {
                    0 => ("redirect ", " to net "),
                    1 => ("redirect ", " to host "),
                    2 => ("redirect-tos ", " to net "),
                    3 => ("redirect-tos ", " to host "),
                    _ => ("", " to net "),
                };
                if code > 3 {
                    t.s("redirect-#");
                    t.u(code as u64);
                    t.c(b' ');
                } else {
                    t.s(pre);
                }
                inner_dst(t)?;
                t.s(mid);
                need(d, 8)?;
                t.ipv4(&d[4..8]);
            }
            icmp::TIMXCEED => {
                need(d, INNER_DST + 4)?;
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
                    t.s("parameter problem - octet ");
                    t.u(get_u8(d, 4).ok_or(Trunc)? as u64);
                }
            }
            icmp::MASKREPLY => {
                t.s("address mask is 0x");
                t.x_pad(get_be32(d, 8).ok_or(Trunc)? as u64, 8);
            }
            icmp::TSTAMP => {
                t.s("time stamp query id ");
                t.u(get_be16(d, 4).ok_or(Trunc)? as u64);
                t.s(" seq ");
                t.u(get_be16(d, 6).ok_or(Trunc)? as u64);
            }
            icmp::ROUTERADVERT | icmp::TSTAMPREPLY => {
                self.limit(Coverage::Unsupported);
                t.s(if ty == icmp::ROUTERADVERT {
                    "router advertisement"
                } else {
                    "time stamp reply"
                });
            }
            _ => {
                let name = match ty {
                    icmp::SOURCEQUENCH => "source quench",
                    icmp::ROUTERSOLICIT => "router solicitation",
                    icmp::IREQ => "information request",
                    icmp::IREQREPLY => "information reply",
                    icmp::MASKREQ => "address mask request",
                    _ => "",
                };
                if name.is_empty() {
                    t.s("type-#");
                    t.u(ty as u64);
                } else {
                    t.s(name);
                }
            }
        }
        Ok(())
    }
}

use super::need;

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

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
        m.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
        m.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        let f = eth_ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &m);
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.1 udp port 53 unreachable, length 36\n"
        );
    }
}
