//! IEEE 802.2 LLC and SNAP framing (print-llc.c): the header as `-e` shows it, the SAP names
//! and U/S/I frame summaries without `-e`, and SNAP's encapsulated ethertypes. The protocols
//! carried inside (STP, IPX, OSI, CDP, ...) are tcpdump's own printers and out of scope here.

use super::link::ethertype_name;
use super::names::oui_name;
use super::out::Out;
use super::{Coverage, Printer, Trunc};
use crate::wire::{get_be16, get_u8};

const LLC_U_FMT: u16 = 3;
const LLC_GSAP: u8 = 1;
const LLC_IG: u8 = 1;
const LLC_S_FMT: u16 = 1;
const LLC_U_POLL: u16 = 0x10;
const LLC_IS_POLL: u16 = 0x0100;
const LLC_UI: u16 = 0x03;
const LLC_XID: u16 = 0xaf;
const LLC_XID_FI: u8 = 0x81;

const SAP_IP: u8 = 0x06;
const SAP_8021D: u8 = 0x42;
const SAP_SNAP: u8 = 0xaa;
const SAP_IPX: u8 = 0xe0;
const SAP_ISONS: u8 = 0xfe;

/// llc_values.
fn sap_name(sap: u8) -> Option<&'static str> {
    Some(match sap {
        0x00 => "Null",
        0xff => "Global",
        0x02 => "802.1B I",
        0x03 => "802.1B G",
        0x06 => "IP",
        0x04 => "SNA",
        0x0e => "ProWay NM",
        0x42 => "STP",
        0x4e => "RS511",
        0x7e => "ISO8208",
        0x8e => "ProWay",
        0xaa => "SNAP",
        0xe0 => "IPX",
        0xf0 => "NetBeui",
        0xfe => "OSI",
        _ => return None,
    })
}

/// llc_cmd_values (by LLC_U_CMD).
fn u_cmd_name(cmd: u16) -> Option<&'static str> {
    Some(match cmd {
        0x03 => "ui",
        0xe3 => "test",
        0xaf => "xid",
        0x63 => "ua",
        0x43 => "disc",
        0x0f => "dm",
        0x6f => "sabme",
        0x87 => "frmr",
        _ => return None,
    })
}

/// llc_flag_values.
fn flag_name(v: u16) -> &'static str {
    match v {
        0 => "Command",
        0x01 => "Response",
        0x10 | 0x100 => "Poll",
        0x11 | 0x101 => "Final",
        _ => "?",
    }
}

/// The PID names tcpdump knows for a SNAP OUI (oui_to_struct_tok); ethertype OUIs use the
/// ethertype table.
fn pid_name(oui: u32, pid: u16) -> Option<&'static str> {
    match oui {
        0x000000 | 0x0000f8 | 0x080007 => ethertype_name(pid),
        0x00000c => Some(match pid {
            0x2000 => "CDP",
            0x2003 => "VTP",
            0x2004 => "DTP",
            0x0111 => "UDLD",
            0x010b => "PVST",
            0x010c => "VLAN Bridge",
            _ => return None,
        }),
        0x0080c2 => Some(match pid {
            1 => "Ethernet + FCS",
            7 => "Ethernet w/o FCS",
            2 => "802.4 + FCS",
            8 => "802.4 w/o FCS",
            3 => "Token Ring + FCS",
            9 => "Token Ring w/o FCS",
            4 => "FDDI + FCS",
            10 => "FDDI w/o FCS",
            5 => "802.6 + FCS",
            11 => "802.6 w/o FCS",
            14 => "BPDU",
            _ => return None,
        }),
        _ => None,
    }
}

fn sap_or(out: &mut Vec<u8>, sap: u8, what: &str) {
    match sap_name(sap) {
        Some(n) => out.s(n),
        None => {
            out.s("Unknown ");
            out.s(what);
            out.s(" 0x");
            out.x_pad(sap as u64, 2);
        }
    }
}

impl Printer {
    /// llc_print(): Ok((header length, whether the payload was printed)). When it was not, the
    /// caller dumps the bytes from the LLC header on (unless -x/-X/-q). `addrs` are the
    /// Ethernet source and destination (none behind a cooked header).
    pub(super) fn llc(
        &mut self,
        out: &mut Vec<u8>,
        p: &[u8],
        length: usize,
        addrs: Option<(&[u8], &[u8])>,
    ) -> Result<(usize, bool), Trunc> {
        self.proto = "llc";
        let caplen = p.len();
        let short = |this: &mut Printer, out: &mut Vec<u8>, need: usize| -> Option<usize> {
            if caplen < need || length < need {
                out.s(" [|llc]");
                this.default_print(out, p, caplen);
                Some(if caplen < need { caplen } else { length })
            } else {
                None
            }
        };
        if let Some(n) = short(self, out, 3) {
            return Ok((n, true));
        }
        let (dsap_field, ssap_field) = (get_u8(p, 0).ok_or(Trunc)?, get_u8(p, 1).ok_or(Trunc)?);
        let mut control = get_u8(p, 2).ok_or(Trunc)? as u16;
        let is_u = control & LLC_U_FMT == LLC_U_FMT;
        let hdrlen = if is_u {
            3
        } else {
            if let Some(n) = short(self, out, 4) {
                return Ok((n, true));
            }
            control = u16::from_le_bytes([get_u8(p, 2).ok_or(Trunc)?, get_u8(p, 3).ok_or(Trunc)?]);
            4
        };
        let e = self.opts.link_header;
        if ssap_field == 0xff && dsap_field == 0xff {
            // Novell "raw" 802.3 IPX: no LLC header at all.
            if e {
                out.s("IPX 802.3: ");
            }
            self.limit(Coverage::Unsupported);
            return Ok((0, true));
        }
        let dsap = dsap_field & !LLC_IG;
        let ssap = ssap_field & !LLC_GSAP;
        if e {
            out.s("LLC, dsap ");
            out.s(sap_name(dsap).unwrap_or("Unknown"));
            out.s(" (0x");
            out.x_pad(dsap as u64, 2);
            out.s(") ");
            out.s(if dsap_field & LLC_IG != 0 {
                "Group"
            } else {
                "Individual"
            });
            out.s(", ssap ");
            out.s(sap_name(ssap).unwrap_or("Unknown"));
            out.s(" (0x");
            out.x_pad(ssap as u64, 2);
            out.s(") ");
            out.s(if ssap_field & LLC_GSAP != 0 {
                "Response"
            } else {
                "Command"
            });
            out.s(", ctrl 0x");
            out.x_pad(control as u64, if is_u { 2 } else { 4 });
            out.s(": ");
        }
        let p = &p[hdrlen..];
        let length = length - hdrlen;
        if ssap == SAP_SNAP && dsap == SAP_SNAP && control == LLC_UI {
            let known = self.snap(out, p, length, addrs)?;
            return Ok((hdrlen + 5, known));
        }
        if control == LLC_UI && ssap == dsap && matches!(ssap, SAP_8021D | SAP_IP | SAP_IPX | SAP_ISONS) {
            match ssap {
                SAP_IP => self.ip(out, p, length)?,
                SAP_IPX => {
                    if e {
                        out.s("IPX 802.2: ");
                    }
                    self.limit(Coverage::Unsupported);
                }
                // STP and OSI: tcpdump's own printers.
                _ => self.limit(Coverage::Unsupported),
            }
            return Ok((hdrlen, true));
        }
        if !e {
            match addrs {
                Some((src, dst)) if ssap == dsap => {
                    self.etheraddr(out, src);
                    out.s(" > ");
                    self.etheraddr(out, dst);
                    out.c(b' ');
                    sap_or(out, dsap, "DSAP");
                    out.c(b' ');
                }
                Some((src, dst)) => {
                    self.etheraddr(out, src);
                    out.c(b' ');
                    sap_or(out, ssap, "SSAP");
                    out.s(" > ");
                    self.etheraddr(out, dst);
                    out.c(b' ');
                    sap_or(out, dsap, "DSAP");
                    out.c(b' ');
                }
                None if ssap == dsap => {
                    sap_or(out, dsap, "DSAP");
                    out.c(b' ');
                }
                None => {
                    sap_or(out, ssap, "SSAP");
                    out.s(" > ");
                    sap_or(out, dsap, "DSAP");
                    out.c(b' ');
                }
            }
        }
        let flags = (ssap_field & LLC_GSAP) as u16;
        let total = length + hdrlen;
        if is_u {
            out.s("Unnumbered, ");
            let cmd = control & 0xef;
            match u_cmd_name(cmd) {
                Some(n) => out.s(n),
                None => out.x_pad(cmd as u64, 2),
            }
            out.s(", Flags [");
            out.s(flag_name(flags | (control & LLC_U_POLL)));
            out.s("], length ");
            out.u(total as u64);
            if control & !LLC_U_POLL == LLC_XID {
                if length == 0 {
                    return Ok((hdrlen, true));
                }
                if p.is_empty() {
                    out.s(" [|llc]");
                    return Ok((hdrlen, true));
                }
                if get_u8(p, 0) == Some(LLC_XID_FI) {
                    match (get_u8(p, 1), get_u8(p, 2)) {
                        (Some(a), Some(b)) if length >= 3 => {
                            out.s(": ");
                            out.x_pad(a as u64, 2);
                            out.c(b' ');
                            out.x_pad(b as u64, 2);
                        }
                        _ => {
                            out.s(" [|llc]");
                            self.default_print(out, p, p.len());
                        }
                    }
                    return Ok((hdrlen, true));
                }
            }
        } else if control & LLC_S_FMT == LLC_S_FMT {
            out.s("Supervisory, ");
            out.s(match (control >> 2) & 3 {
                0 => "Receiver Ready",
                1 => "Receiver not Ready",
                2 => "Reject",
                _ => "?",
            });
            out.s(", rcv seq ");
            out.u(((control >> 9) & 0x7f) as u64);
            out.s(", Flags [");
            out.s(flag_name(flags | (control & LLC_IS_POLL)));
            out.s("], length ");
            out.u(total as u64);
            return Ok((hdrlen, true));
        } else {
            out.s("Information, send seq ");
            out.u(((control >> 1) & 0x7f) as u64);
            out.s(", rcv seq ");
            out.u(((control >> 9) & 0x7f) as u64);
            out.s(", Flags [");
            out.s(flag_name(flags | (control & LLC_IS_POLL)));
            out.s("], length ");
            out.u(total as u64);
        }
        Ok((hdrlen, false))
    }

    /// snap_print(): the 5-byte SNAP header and the protocol it names. Ok(true) when the payload
    /// was printed.
    fn snap(
        &mut self,
        out: &mut Vec<u8>,
        p: &[u8],
        length: usize,
        addrs: Option<(&[u8], &[u8])>,
    ) -> Result<bool, Trunc> {
        self.proto = "snap";
        if p.len() < 5 || length < 5 {
            out.s(" [|snap]");
            return Ok(true);
        }
        let oui = u32::from_be_bytes([0, p[0], p[1], p[2]]);
        let pid = get_be16(p, 3).ok_or(Trunc)?;
        let e = self.opts.link_header;
        if e {
            out.s("oui ");
            out.s(oui_name(oui));
            out.s(" (0x");
            out.x_pad(oui as u64, 6);
            out.s("), ");
            out.s(if oui == 0 { "ethertype " } else { "pid " });
            out.s(pid_name(oui, pid).unwrap_or("Unknown"));
            out.s(" (0x");
            out.x_pad(pid as u64, 4);
            out.s("), length ");
            out.u((length - 5) as u64);
            out.s(": ");
        }
        let (p, length) = (&p[5..], length - 5);
        match oui {
            0x000000 | 0x0000f8 if self.ethertype(out, pid, p, length)? => {
                return Ok(true);
            }
            0x080007 if pid == 0x809b && self.ethertype(out, pid, p, length)? => {
                return Ok(true);
            }
            0x00000c if matches!(pid, 0x2000 | 0x2004 | 0x0111 | 0x2003 | 0x010b | 0x010c) => {
                self.limit(Coverage::Unsupported);
                return Ok(true);
            }
            0x0080c2 if matches!(pid, 1 | 7 | 3 | 9 | 4 | 10 | 14) => {
                self.limit(Coverage::Unsupported);
                return Ok(true);
            }
            _ => {}
        }
        if !e {
            if let Some((src, dst)) = addrs {
                self.etheraddr(out, src);
                out.s(" > ");
                self.etheraddr(out, dst);
                out.c(b' ');
            }
            if oui == 0 {
                out.s("SNAP, ethertype ");
                out.s(ethertype_name(pid).unwrap_or("Unknown"));
            } else {
                out.s("SNAP, oui ");
                out.s(oui_name(oui));
                out.s(" (0x");
                out.x_pad(oui as u64, 6);
                out.s("), pid ");
                out.s(pid_name(oui, pid).unwrap_or("Unknown"));
            }
            out.s(" (0x");
            out.x_pad(pid as u64, 4);
            out.s("), length ");
            out.u(length as u64);
            out.s(": ");
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn frame(len_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&len_type.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn unknown_sap_unnumbered() {
        let mut p = printer();
        let f = frame(8, b"\xf0\xf0\x03abcde");
        assert_eq!(
            line(&mut p, 1, &f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 NetBeui Unnumbered, ui, Flags [Command], length 8\
             \n\t0x0000:  f0f0 0361 6263 6465                      ...abcde\n"
        );
    }

    #[test]
    fn supervisory_and_xid() {
        let mut p = printer();
        let f = frame(6, b"\x10\x11\x01\x21zz");
        assert_eq!(
            line(&mut p, 1, &f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 Unknown DSAP 0x10 Supervisory, Receiver Ready, rcv seq 16, \
             Flags [Final], length 6\n"
        );
        let f = frame(6, b"\x10\x11\xaf\x81\x01\x02");
        assert_eq!(
            line(&mut p, 1, &f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 Unknown DSAP 0x10 Unnumbered, xid, Flags [Response], \
             length 6: 01 02\n"
        );
    }

    #[test]
    fn snap_with_e() {
        let mut p = printer();
        p.opts.link_header = true;
        let f = frame(10, b"\xaa\xaa\x03\x00\x00\x0c\x12\x34qq");
        assert_eq!(
            line(&mut p, 1, &f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, 802.3, length 10: LLC, dsap SNAP (0xaa) Individual, \
             ssap SNAP (0xaa) Command, ctrl 0x03: oui Cisco (0x00000c), pid Unknown (0x1234), length 2: \
             \n\t0x0000:  aaaa 0300 000c 1234 7171                 .......4qq\n"
        );
    }

    #[test]
    fn truncated_llc() {
        let mut p = printer();
        let f = frame(32, b"\xf0");
        assert_eq!(
            line(&mut p, 1, &f),
            " [|llc]\n\t0x0000:  f0                                       .\n"
        );
    }
}
