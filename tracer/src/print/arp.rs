//! ARP (print-arp.c), without -v.

use super::link::ethertype_name;
use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc};
use crate::wire::arp::{self, Packet};
use crate::wire::ethertype;

fn hrd_name(h: u16) -> Option<&'static str> {
    Some(match h {
        1 => "Ethernet",
        6 => "TokenRing",
        7 => "ArcNet",
        15 => "FrameRelay",
        23 => "Strip",
        24 => "IEEE 1394",
        19 => "ATM",
        32 => "InfiniBand",
        _ => return None,
    })
}

impl Printer {
    pub(super) fn arp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> PResult {
        self.proto = "arp";
        let ap = Packet::new_checked(data).map_err(|_| Trunc)?;
        let (hrd, pro, op) = (ap.hrd(), ap.pro(), ap.op());
        if hrd == arp::HRD_ATM2225 {
            self.limit(Coverage::Unsupported);
            out.s("ARP, ATM");
            return Ok(());
        }
        ap.check_addrs().map_err(|_| Trunc)?;
        out.s("ARP, ");
        let ip_like = pro == ethertype::IPV4 || pro == ethertype::TRAIL;
        if !ip_like || ap.pln() != 4 || ap.hln() == 0 {
            match hrd_name(hrd) {
                Some(n) => out.s(n),
                None => {
                    out.s("Unknown Hardware (");
                    out.u(hrd as u64);
                    out.c(b')');
                }
            }
            out.s(" (len ");
            out.u(ap.hln() as u64);
            out.s("), ");
            match ethertype_name(pro) {
                Some(n) => out.s(n),
                None => {
                    out.s("Unknown Protocol (0x");
                    out.x_pad(pro as u64, 4);
                    out.c(b')');
                }
            }
            out.s(" (len ");
            out.u(ap.pln() as u64);
            out.s("), length ");
            out.u(length as u64);
            return Ok(());
        }
        let frelay = hrd == arp::HRD_FRELAY;
        if frelay {
            self.limit(Coverage::Unsupported);
        }
        let proto_addr = |out: &mut Vec<u8>, a: &[u8]| {
            if !ip_like {
                out.s("<wrong proto type>");
            } else if a.len() != 4 {
                out.s("<wrong len>");
            } else {
                out.ipv4(a);
            }
        };
        let link = |out: &mut Vec<u8>, a: &[u8]| {
            if a.is_empty() {
                out.s("<empty>");
            } else {
                out.linkaddr(a);
            }
        };
        match op {
            arp::OP_REQUEST => out.s("Request "),
            arp::OP_REPLY => out.s("Reply "),
            arp::OP_REVREQUEST => out.s("Reverse Request "),
            arp::OP_REVREPLY => out.s("Reverse Reply "),
            arp::OP_INVREQUEST => out.s("Inverse Request "),
            arp::OP_INVREPLY => out.s("Inverse Reply "),
            10 => out.s("NACK Reply "),
            _ => {
                out.s("Unknown (");
                out.u(op as u64);
                out.s(") ");
            }
        }
        match op {
            arp::OP_REQUEST => {
                out.s("who-has ");
                proto_addr(out, ap.tpa());
                if ap.tha().iter().any(|&b| b != 0) {
                    out.s(" (");
                    link(out, ap.tha());
                    out.c(b')');
                }
                out.s(" tell ");
                proto_addr(out, ap.spa());
            }
            arp::OP_REPLY => {
                proto_addr(out, ap.spa());
                out.s(" is-at ");
                link(out, ap.sha());
            }
            arp::OP_REVREQUEST | arp::OP_INVREQUEST => {
                out.s("who-is ");
                link(out, ap.tha());
                out.s(" tell ");
                link(out, ap.sha());
            }
            arp::OP_REVREPLY => {
                link(out, ap.tha());
                out.s(" at ");
                proto_addr(out, ap.tpa());
            }
            arp::OP_INVREPLY => {
                link(out, ap.sha());
                out.s(" at ");
                proto_addr(out, ap.spa());
            }
            _ => {
                self.default_print(out, data, data.len());
                return Ok(());
            }
        }
        out.s(", length ");
        out.u(length as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn eth_arp(body: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn request_reply_truncated() {
        let mut p = printer();
        let mut req = vec![
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28\n"
        );
        req[7] = 2;
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 28\n"
        );
        assert_eq!(line_cut(&mut p, 1, &eth_arp(&req), 34), " [|arp]\n");
        req[5] = 5;
        req.extend_from_slice(&[0, 0]);
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req[..])),
            "ARP, Ethernet (len 6), IPv4 (len 5), length 30\n"
        );
    }
}
