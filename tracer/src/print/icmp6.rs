//! ICMPv6 (print-icmp6.c), without -v: echo, errors and neighbour discovery.

use super::ip::IpInfo;
use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc, need};
use crate::wire::{get_be16, get_be32, get_u8, icmpv6, ipproto};

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
        139 => "node information query",
        140 => "node information reply",
        141 => "inverse neighbor solicitation",
        142 => "inverse neighbor advertisement",
        143 => "multicast listener report v2",
        144 => "ha discovery request",
        145 => "ha discovery reply",
        146 => "mobile router solicitation",
        147 => "mobile router advertisement",
        151 => "multicast router advertisement",
        152 => "multicast router solicitation",
        153 => "multicast router termination",
        155 => "RPL",
        _ => return None,
    })
}

/// The inner packet of an error message starts after the 8-byte ICMPv6 header.
const OIP: usize = 8;

impl Printer {
    pub(super) fn icmp6(&mut self, out: &mut Vec<u8>, d: &[u8], length: usize, _info: IpInfo<'_>) -> PResult {
        self.proto = "icmp6";
        if length == 0 {
            out.s("ICMP6, length 0 (invalid)");
            return Ok(());
        }
        let ty = get_u8(d, 0).ok_or(Trunc)?;
        out.s("ICMP6, ");
        match type_name(ty) {
            Some(n) => out.s(n),
            None => {
                out.s("unknown icmp6 type (");
                out.u(ty as u64);
                out.c(b')');
            }
        }
        let code = get_u8(d, 1).ok_or(Trunc)?;
        let addr6 = |out: &mut Vec<u8>, off: usize| -> PResult {
            need(d, off + 16)?;
            out.ipv6(&d[off..off + 16]);
            Ok(())
        };
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
                        out.c(b' ');
                        addr6(out, OIP + 24)?;
                    }
                    2 => {
                        out.c(b' ');
                        addr6(out, OIP + 24)?;
                        out.s(", source address ");
                        addr6(out, OIP + 8)?;
                    }
                    4 => {
                        // get_upperlayer(): only the case without extension headers.
                        let nh = get_u8(d, OIP + 6).ok_or(Trunc)?;
                        if nh != ipproto::TCP && nh != ipproto::UDP {
                            self.limit(Coverage::Unsupported);
                            return Ok(());
                        }
                        let dport = get_be16(d, OIP + 40 + 2).ok_or(Trunc)?;
                        out.s(", ");
                        addr6(out, OIP + 24)?;
                        out.s(if nh == ipproto::TCP { " tcp port " } else { " udp port " });
                        out.u(dport as u64);
                    }
                    _ => {
                        self.limit(Coverage::Unsupported);
                        return Ok(());
                    }
                }
            }
            icmpv6::PACKET_TOO_BIG => {
                out.s(", mtu ");
                out.u(get_be32(d, 4).ok_or(Trunc)? as u64);
            }
            icmpv6::TIME_EXCEEDED => match code {
                0 => {
                    out.s(" for ");
                    addr6(out, OIP + 24)?;
                }
                1 => out.s(" (reassembly)"),
                _ => {
                    out.s(", unknown code (");
                    out.u(code as u64);
                    out.c(b')');
                }
            },
            icmpv6::PARAM_PROB => {
                need(d, OIP + 40)?;
                match code {
                    0 => out.s(", erroneous - octet "),
                    1 => out.s(", next header - octet "),
                    2 => out.s(", option - octet "),
                    _ => {
                        self.limit(Coverage::Unsupported);
                        out.s(", code-#");
                        out.u(code as u64);
                        return Ok(());
                    }
                }
                out.u(get_be32(d, 4).ok_or(Trunc)? as u64);
            }
            icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => {
                out.s(", id ");
                out.u(get_be16(d, 4).ok_or(Trunc)? as u64);
                out.s(", seq ");
                out.u(get_be16(d, 6).ok_or(Trunc)? as u64);
            }
            icmpv6::ROUTER_SOLICIT | icmpv6::ROUTER_ADVERT => {}
            icmpv6::MLDV2_REPORT => {
                if length < 8 {
                    out.s(" [invalid len ");
                    out.u(length as u64);
                    out.c(b']');
                } else {
                    out.s(", ");
                    out.u(get_be16(d, 6).ok_or(Trunc)? as u64);
                    out.s(" group record(s)");
                }
            }
            icmpv6::NEIGHBOR_SOLICIT => {
                out.s(", who has ");
                addr6(out, 8)?;
            }
            icmpv6::NEIGHBOR_ADVERT => {
                out.s(", tgt is ");
                addr6(out, 8)?;
            }
            icmpv6::REDIRECT => {
                out.s(", ");
                addr6(out, 24)?;
                out.s(" to ");
                addr6(out, 8)?;
            }
            _ => {
                // MLD, node information, RPL, unknown types: not decoded here.
                self.limit(Coverage::Unsupported);
                out.s(", length ");
                out.u(length as u64);
                return Ok(());
            }
        }
        out.s(", length ");
        out.u(length as u64);
        Ok(())
    }
}
