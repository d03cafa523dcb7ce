//! ARP, RARP and inverse ARP (print-arp.c), including ATM ARP (RFC 2225) and Frame Relay
//! hardware addresses.

use super::link::ethertype_name;
use super::out::Out;
use super::{PResult, Printer, Trunc};
use crate::wire::arp::{self, AtmPacket, Packet};
use crate::wire::ethertype;

/// arphrd_values
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

/// arpop_values
fn op_name(op: u16) -> Option<&'static str> {
    Some(match op {
        arp::OP_REQUEST => "Request",
        arp::OP_REPLY => "Reply",
        arp::OP_REVREQUEST => "Reverse Request",
        arp::OP_REVREPLY => "Reverse Reply",
        arp::OP_INVREQUEST => "Inverse Request",
        arp::OP_INVREPLY => "Inverse Reply",
        arp::OP_NAK => "NACK Reply",
        _ => return None,
    })
}

/// How linkaddr_string() formats a hardware address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    Ether,
    FrameRelay,
    Atm,
}

/// `tok2str(arphrd_values, ...) (len N), tok2str(ethertype_values, ...)`, without the lengths.
fn hrd_text(out: &mut Vec<u8>, hrd: u16) {
    match hrd_name(hrd) {
        Some(n) => out.s(n),
        None => {
            out.s("Unknown Hardware (");
            out.u(hrd as u64);
            out.c(b')');
        }
    }
}

fn pro_text(out: &mut Vec<u8>, pro: u16) {
    match ethertype_name(pro) {
        Some(n) => out.s(n),
        None => {
            out.s("Unknown Protocol (0x");
            out.x_pad(pro as u64, 4);
            out.c(b')');
        }
    }
}

fn op_text(out: &mut Vec<u8>, op: u16) {
    match op_name(op) {
        Some(n) => out.s(n),
        None => {
            out.s("Unknown (");
            out.u(op as u64);
            out.c(b')');
        }
    }
}

/// q922_string(): the DLCI of a Q.922 address.
fn q922(out: &mut Vec<u8>, a: &[u8]) {
    let b = |i: usize| a.get(i).copied();
    let Some(b0) = b(0) else {
        out.s("<Truncated>");
        return;
    };
    if b0 & 1 != 0 {
        out.s("<Invalid DLCI>");
        return;
    }
    let Some(b1) = b(1) else {
        out.s("<Truncated>");
        return;
    };
    let mut dlci = (((b0 & 0xfc) as u32) << 2) | ((b1 & 0xf0) >> 4) as u32;
    if b1 & 1 == 0 {
        let mut i = 2;
        let Some(b2) = b(i) else {
            out.s("<Truncated>");
            return;
        };
        if b2 & 1 == 0 {
            dlci = (dlci << 7) | (b2 >> 1) as u32;
            i += 1;
        }
        let Some(last) = b(i) else {
            out.s("<Truncated>");
            return;
        };
        if last & 1 == 0 {
            out.s("<Invalid DLCI>");
            return;
        }
        dlci = (dlci << 6) | (last >> 2) as u32;
    }
    out.s("DLCI ");
    out.u(dlci as u64);
}

impl Printer {
    /// GET_LINKADDR_STRING()
    fn arp_linkaddr(&mut self, out: &mut Vec<u8>, a: &[u8], kind: LinkKind) {
        if a.is_empty() {
            out.s("<empty>");
        } else if kind == LinkKind::Ether && a.len() == 6 {
            self.etheraddr(out, a);
        } else if kind == LinkKind::FrameRelay {
            q922(out, a);
        } else {
            out.linkaddr(a);
        }
    }

    /// tpaddr_print_ip() / spaddr_print_ip() and the ATM variants (`wrong` names the length
    /// check that failed).
    fn arp_protoaddr(&mut self, out: &mut Vec<u8>, pro: u16, a: &[u8], wrong: &str) {
        if pro != ethertype::IPV4 && pro != ethertype::TRAIL {
            out.s("<wrong proto type>");
        } else if a.len() != 4 {
            out.s(wrong);
        } else {
            self.ipaddr(out, a);
        }
    }

    /// arp_print()
    pub(super) fn arp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> PResult {
        self.proto = "arp";
        let ap = Packet::new_checked(data).map_err(|_| Trunc)?;
        let (hrd, pro, op) = (ap.hrd(), ap.pro(), ap.op());
        let kind = match hrd {
            arp::HRD_ATM2225 => return self.atmarp(out, data, length),
            arp::HRD_FRELAY => LinkKind::FrameRelay,
            _ => LinkKind::Ether,
        };
        ap.check_addrs().map_err(|_| Trunc)?;
        if !self.opts.link_header {
            out.s("ARP, ");
        }
        let v = self.opts.verbose > 0;
        let ip_like = pro == ethertype::IPV4 || pro == ethertype::TRAIL;
        if !ip_like || ap.pln() != 4 || ap.hln() == 0 || v {
            hrd_text(out, hrd);
            out.s(" (len ");
            out.u(ap.hln() as u64);
            out.s("), ");
            pro_text(out, pro);
            out.s(" (len ");
            out.u(ap.pln() as u64);
            out.c(b')');
            if !v {
                out.s(", length ");
                out.u(length as u64);
                return Ok(());
            }
            out.s(", ");
        }
        op_text(out, op);
        out.c(b' ');
        match op {
            arp::OP_REQUEST => {
                out.s("who-has ");
                self.arp_protoaddr(out, pro, ap.tpa(), "<wrong len>");
                if ap.tha().iter().any(|&b| b != 0) {
                    out.s(" (");
                    self.arp_linkaddr(out, ap.tha(), kind);
                    out.c(b')');
                }
                out.s(" tell ");
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong len>");
            }
            arp::OP_REPLY => {
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong len>");
                out.s(" is-at ");
                self.arp_linkaddr(out, ap.sha(), kind);
            }
            arp::OP_REVREQUEST | arp::OP_INVREQUEST => {
                out.s("who-is ");
                self.arp_linkaddr(out, ap.tha(), kind);
                out.s(" tell ");
                self.arp_linkaddr(out, ap.sha(), kind);
            }
            arp::OP_REVREPLY => {
                self.arp_linkaddr(out, ap.tha(), kind);
                out.s(" at ");
                self.arp_protoaddr(out, pro, ap.tpa(), "<wrong len>");
            }
            arp::OP_INVREPLY => {
                self.arp_linkaddr(out, ap.sha(), kind);
                out.s(" at ");
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong len>");
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

    /// atmarp_addr_print(): the ATM number, and the subaddress after a comma.
    fn atmarp_addr(&mut self, out: &mut Vec<u8>, ha: &[u8], sa: &[u8]) {
        if ha.is_empty() {
            out.s("<No address>");
        } else {
            self.arp_linkaddr(out, ha, LinkKind::Atm);
            if !sa.is_empty() {
                out.c(b',');
                self.arp_linkaddr(out, sa, LinkKind::Atm);
            }
        }
    }

    /// atmarp_print()
    fn atmarp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> PResult {
        let ap = AtmPacket::new_checked(data).map_err(|_| Trunc)?;
        let (hrd, pro, op) = (ap.hrd(), ap.pro(), ap.op());
        ap.check_addrs().map_err(|_| Trunc)?;
        if !self.opts.link_header {
            out.s("ARP, ");
        }
        let v = self.opts.verbose > 0;
        let ip_like = pro == ethertype::IPV4 || pro == ethertype::TRAIL;
        if !ip_like || ap.spln() != 4 || ap.tpln() != 4 || v {
            hrd_text(out, hrd);
            out.s(", ");
            pro_text(out, pro);
            out.s(" (len ");
            out.u(ap.spln() as u64);
            out.c(b'/');
            out.u(ap.tpln() as u64);
            out.c(b')');
            if !v {
                out.s(", length ");
                out.u(length as u64);
                return Ok(());
            }
            out.s(", ");
        }
        op_text(out, op);
        out.c(b' ');
        match op {
            arp::OP_REQUEST => {
                out.s("who-has ");
                self.arp_protoaddr(out, pro, ap.tpa(), "<wrong tplen>");
                if ap.thln() != 0 {
                    out.s(" (");
                    self.atmarp_addr(out, ap.tha(), ap.tsa());
                    out.c(b')');
                }
                out.s(" tell ");
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong splen>");
            }
            arp::OP_REPLY => {
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong splen>");
                out.s(" is-at ");
                self.atmarp_addr(out, ap.sha(), ap.ssa());
            }
            arp::OP_INVREQUEST => {
                out.s("who-is ");
                self.atmarp_addr(out, ap.tha(), ap.tsa());
                out.s(" tell ");
                self.atmarp_addr(out, ap.sha(), ap.ssa());
            }
            arp::OP_INVREPLY => {
                self.atmarp_addr(out, ap.sha(), ap.ssa());
                // No space before "at": tcpdump's spelling.
                out.s("at ");
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong splen>");
            }
            arp::OP_NAK => {
                out.s("for ");
                self.arp_protoaddr(out, pro, ap.spa(), "<wrong splen>");
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
    use super::super::{PrintOptions, Printer, TimeFormat};

    fn eth_arp(body: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.extend_from_slice(body);
        f
    }

    fn request() -> Vec<u8> {
        vec![
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ]
    }

    fn printer_with(verbose: u8, link_header: bool, numeric: bool) -> Printer {
        Printer::new(PrintOptions {
            time: TimeFormat::None,
            numeric,
            verbose,
            link_header,
            ..Default::default()
        })
    }

    #[test]
    fn request_reply_truncated() {
        let mut p = printer();
        let mut req = request();
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

    #[test]
    fn verbose_and_rarp_forms() {
        let mut p = printer_with(1, false, true);
        let mut req = request();
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 10.0.0.2 tell 10.0.0.1, length 28\n"
        );
        let mut p = printer();
        req[7] = 3;
        req[18..24].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Reverse Request who-is 02:00:00:00:00:09 tell 02:00:00:00:00:01, length 28\n"
        );
        req[7] = 4;
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Reverse Reply 02:00:00:00:00:09 at 10.0.0.2, length 28\n"
        );
        req[7] = 9;
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Inverse Reply 02:00:00:00:00:01 at 10.0.0.1, length 28\n"
        );
        req[7] = 1;
        assert_eq!(
            line(&mut p, 1, &eth_arp(&req)),
            "ARP, Request who-has 10.0.0.2 (02:00:00:00:00:09) tell 10.0.0.1, length 28\n"
        );
    }

    #[test]
    fn names_and_link_header() {
        let mut p = printer_with(0, false, false);
        let mut req = request();
        req[7] = 2;
        let got = line(&mut p, 1, &eth_arp(&req));
        assert!(
            got.ends_with(" is-at 02:00:00:00:00:01 (oui Unknown), length 28\n"),
            "{got}"
        );
        let mut p = printer_with(0, true, true);
        let got = line(&mut p, 1, &eth_arp(&req));
        assert!(
            got.ends_with(": Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 28\n"),
            "{got}"
        );
        assert!(!got.contains("ARP, Reply"), "{got}");
    }

    #[test]
    fn frame_relay_and_atm() {
        let mut p = printer();
        // Frame Relay hardware, 2-byte Q.922 addresses (DLCI 16 and 17).
        let mut fr = vec![
            0, 15, 8, 0, 2, 4, 0, 9, 0x04, 0x01, 10, 0, 0, 1, 0x04, 0x11, 10, 0, 0, 2,
        ];
        assert_eq!(
            line(&mut p, 1, &eth_arp(&fr)),
            "ARP, Inverse Reply DLCI 16 at 10.0.0.1, length 20\n"
        );
        fr[8] = 0x05;
        assert_eq!(
            line(&mut p, 1, &eth_arp(&fr)),
            "ARP, Inverse Reply <Invalid DLCI> at 10.0.0.1, length 20\n"
        );
        let mut atm = vec![0, 19, 8, 0, 2, 1, 0, 2, 4, 0, 0, 4];
        atm.extend_from_slice(&[0xaa, 0xbb, 0xcc, 10, 0, 0, 1, 10, 0, 0, 2]);
        assert_eq!(
            line(&mut p, 1, &eth_arp(&atm)),
            "ARP, Reply 10.0.0.1 is-at aa:bb,cc, length 23\n"
        );
        atm[7] = 9;
        assert_eq!(
            line(&mut p, 1, &eth_arp(&atm)),
            "ARP, Inverse Reply aa:bb,ccat 10.0.0.1, length 23\n"
        );
        atm[11] = 3;
        assert_eq!(line(&mut p, 1, &eth_arp(&atm)), "ARP, ATM, IPv4 (len 4/3), length 23\n");
        assert_eq!(line_cut(&mut p, 1, &eth_arp(&atm), 14 + 11), " [|arp]\n");
    }
}
