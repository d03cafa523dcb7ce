//! Link layers: Ethernet (with 802.1Q tags), Linux SLL and SLL2, BSD loopback, raw IP
//! (print-ether.c, print-sll.c, print-null.c, print-raw.c), and the names libpcap gives
//! link-layer types.
//!
//! Each printer returns the length of the link-layer header it consumed (tcpdump's
//! `ndo_ll_hdr_len`), from which `-x`, `-X` and `-A` start their dumps.

use super::out::Out;
use super::{Coverage, Printer, Trunc, linktype};
use crate::wire::ethernet::{self, Frame, VlanTag};
use crate::wire::sll::{Sll, Sll2};
use crate::wire::{ethertype, get_u8};

/// tcpdump's ethertype_values (the names it prints for ethertypes).
pub(crate) fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x8847 => "MPLS unicast",
        0x8848 => "MPLS multicast",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x9100 => "802.1Q-9100",
        0x88a8 => "802.1Q-QinQ",
        0x9200 => "802.1Q-9200",
        0x88e5 => "802.1AE MACsec",
        0x0200 => "PUP",
        0x0806 => "ARP",
        0x8035 => "Reverse ARP",
        0x0600 => "NS",
        0x0500 => "Sprite",
        0x1000 => "Trail",
        0x6001 => "MOP DL",
        0x6002 => "MOP RC",
        0x6003 => "DN",
        0x6004 => "LAT",
        0x6007 => "SCA",
        0x6558 => "TEB",
        0x8038 => "Lanbridge",
        0x803c => "DEC DNS",
        0x803e => "DEC DTS",
        0x805b => "VEXP",
        0x805c => "VPROD",
        0x809b => "Appletalk",
        0x80f3 => "Appletalk ARP",
        0x8137 => "IPX",
        0x880b => "PPP",
        0x8808 => "MPCP",
        0x8809 => "Slow Protocols",
        0x8863 => "PPPoE D",
        0x8864 => "PPPoE S",
        0x888e => "EAPOL",
        0x8899 => "Realtek protocols",
        0x886f => "MS NLB heartbeat",
        0x8870 => "Jumbo",
        0x894f => "NSH",
        0x9000 => "Loopback",
        0xfefe => "OSI",
        0xabcd => "CFM (old)",
        0x8902 => "CFM",
        0x893a => "IEEE1905.1",
        0x88cc => "LLDP",
        0x88ca => "TIPC",
        0x0707 => "GeoNet (old)",
        0x8947 => "GeoNet",
        0x1111 => "CALM FAST",
        0x88a2 => "AoE",
        0x88f7 => "PTP",
        0xd28b => "Arista Vendor Specific Protocol",
        _ => return None,
    })
}

/// Ethertypes tcpdump hands to a decoder of its own that this printer does not have: the line
/// stops where tcpdump's decoder would start.
fn decoded_elsewhere(t: u16) -> bool {
    matches!(
        t,
        0x0707
            | 0x1111
            | 0x3c12
            | 0x3c13
            | 0x6003
            | 0x809b
            | 0x80f3
            | 0x8137
            | 0x880b
            | 0x8808
            | 0x8809
            | 0x8847
            | 0x8848
            | 0x8863
            | 0x8864
            | 0x886f
            | 0x888e
            | 0x8899
            | 0x88a2
            | 0x88ca
            | 0x88cc
            | 0x88f7
            | 0x8902
            | 0x8947
            | 0x894f
            | 0x9000
            | 0xabcd
            | 0xfefe
    )
}

/// libpcap's dlt_choices, by the link-layer type a capture file records: name and description.
const LINKTYPES: &[(u32, &str, &str)] = &[
    (0, "NULL", "BSD loopback"),
    (1, "EN10MB", "Ethernet"),
    (6, "IEEE802", "Token ring"),
    (7, "ARCNET", "BSD ARCNET"),
    (8, "SLIP", "SLIP"),
    (9, "PPP", "PPP"),
    (10, "FDDI", "FDDI"),
    (11, "ATM_RFC1483", "RFC 1483 LLC-encapsulated ATM"),
    (12, "RAW", "Raw IP"),
    (15, "SLIP_BSDOS", "BSD/OS SLIP"),
    (16, "PPP_BSDOS", "BSD/OS PPP"),
    (19, "ATM_CLIP", "Linux Classical IP over ATM"),
    (50, "PPP_SERIAL", "PPP over serial"),
    (51, "PPP_ETHER", "PPPoE"),
    (99, "SYMANTEC_FIREWALL", "Symantec Firewall"),
    (100, "ATM_RFC1483", "RFC 1483 LLC-encapsulated ATM"),
    (101, "RAW", "Raw IP"),
    (102, "SLIP_BSDOS", "BSD/OS SLIP"),
    (103, "PPP_BSDOS", "BSD/OS PPP"),
    (104, "C_HDLC", "Cisco HDLC"),
    (105, "IEEE802_11", "802.11"),
    (106, "ATM_CLIP", "Linux Classical IP over ATM"),
    (107, "FRELAY", "Frame Relay"),
    (108, "LOOP", "OpenBSD loopback"),
    (109, "ENC", "OpenBSD encapsulated IP"),
    (113, "LINUX_SLL", "Linux cooked v1"),
    (114, "LTALK", "Localtalk"),
    (117, "PFLOG", "OpenBSD pflog file"),
    (119, "PRISM_HEADER", "802.11 plus Prism header"),
    (122, "IP_OVER_FC", "RFC 2625 IP-over-Fibre Channel"),
    (123, "SUNATM", "Sun raw ATM"),
    (127, "IEEE802_11_RADIO", "802.11 plus radiotap header"),
    (129, "ARCNET_LINUX", "Linux ARCNET"),
    (130, "JUNIPER_MLPPP", "Juniper Multi-Link PPP"),
    (131, "JUNIPER_MLFR", "Juniper Multi-Link Frame Relay"),
    (132, "JUNIPER_ES", "Juniper Encryption Services PIC"),
    (133, "JUNIPER_GGSN", "Juniper GGSN PIC"),
    (134, "JUNIPER_MFR", "Juniper FRF.16 Frame Relay"),
    (135, "JUNIPER_ATM2", "Juniper ATM2 PIC"),
    (136, "JUNIPER_SERVICES", "Juniper Advanced Services PIC"),
    (137, "JUNIPER_ATM1", "Juniper ATM1 PIC"),
    (138, "APPLE_IP_OVER_IEEE1394", "Apple IP-over-IEEE 1394"),
    (139, "MTP2_WITH_PHDR", "SS7 MTP2 with Pseudo-header"),
    (140, "MTP2", "SS7 MTP2"),
    (141, "MTP3", "SS7 MTP3"),
    (142, "SCCP", "SS7 SCCP"),
    (143, "DOCSIS", "DOCSIS"),
    (144, "LINUX_IRDA", "Linux IrDA"),
    (163, "IEEE802_11_RADIO_AVS", "802.11 plus AVS radio information header"),
    (164, "JUNIPER_MONITOR", "Juniper Passive Monitor PIC"),
    (165, "BACNET_MS_TP", "BACnet MS/TP"),
    (166, "PPP_PPPD", "PPP for pppd, with direction flag"),
    (167, "JUNIPER_PPPOE", "Juniper PPPoE"),
    (168, "JUNIPER_PPPOE_ATM", "Juniper PPPoE/ATM"),
    (169, "GPRS_LLC", "GPRS LLC"),
    (170, "GPF_T", "GPF-T"),
    (171, "GPF_F", "GPF-F"),
    (174, "JUNIPER_PIC_PEER", "Juniper PIC Peer"),
    (175, "ERF_ETH", "Ethernet with Endace ERF header"),
    (176, "ERF_POS", "Packet-over-SONET with Endace ERF header"),
    (177, "LINUX_LAPD", "Linux vISDN LAPD"),
    (178, "JUNIPER_ETHER", "Juniper Ethernet"),
    (179, "JUNIPER_PPP", "Juniper PPP"),
    (180, "JUNIPER_FRELAY", "Juniper Frame Relay"),
    (181, "JUNIPER_CHDLC", "Juniper C-HDLC"),
    (182, "MFR", "FRF.16 Frame Relay"),
    (183, "JUNIPER_VP", "Juniper Voice PIC"),
    (184, "A429", "Arinc 429"),
    (185, "A653_ICM", "Arinc 653 Interpartition Communication"),
    (186, "USB_FREEBSD", "USB with FreeBSD header"),
    (187, "BLUETOOTH_HCI_H4", "Bluetooth HCI UART transport layer"),
    (188, "IEEE802_16_MAC_CPS", "IEEE 802.16 MAC Common Part Sublayer"),
    (189, "USB_LINUX", "USB with Linux header"),
    (190, "CAN20B", "Controller Area Network (CAN) v. 2.0B"),
    (191, "IEEE802_15_4_LINUX", "IEEE 802.15.4 with Linux padding"),
    (192, "PPI", "Per-Packet Information"),
    (
        193,
        "IEEE802_16_MAC_CPS_RADIO",
        "IEEE 802.16 MAC Common Part Sublayer plus radiotap header",
    ),
    (194, "JUNIPER_ISM", "Juniper Integrated Service Module"),
    (195, "IEEE802_15_4", "IEEE 802.15.4 with FCS"),
    (196, "SITA", "SITA pseudo-header"),
    (197, "ERF", "Endace ERF header"),
    (198, "RAIF1", "Ethernet with u10 Networks pseudo-header"),
    (199, "IPMB_KONTRON", "IPMB with Kontron pseudo-header"),
    (200, "JUNIPER_ST", "Juniper Secure Tunnel"),
    (
        201,
        "BLUETOOTH_HCI_H4_WITH_PHDR",
        "Bluetooth HCI UART transport layer plus pseudo-header",
    ),
    (202, "AX25_KISS", "AX.25 with KISS header"),
    (209, "IPMB_LINUX", "IPMB with Linux/Pigeon Point pseudo-header"),
    (215, "IEEE802_15_4_NONASK_PHY", "IEEE 802.15.4 with non-ASK PHY data"),
    (216, "LINUX_EVDEV", "Linux evdev events"),
    (219, "MPLS", "MPLS with label as link-layer header"),
    (220, "USB_LINUX_MMAPPED", "USB with padded Linux header"),
    (221, "DECT", "DECT"),
    (222, "AOS", "AOS Space Data Link protocol"),
    (223, "WIHART", "Wireless HART"),
    (224, "FC_2", "Fibre Channel FC-2"),
    (
        225,
        "FC_2_WITH_FRAME_DELIMS",
        "Fibre Channel FC-2 with frame delimiters",
    ),
    (226, "IPNET", "Solaris ipnet"),
    (227, "CAN_SOCKETCAN", "CAN-bus with SocketCAN headers"),
    (228, "IPV4", "Raw IPv4"),
    (229, "IPV6", "Raw IPv6"),
    (230, "IEEE802_15_4_NOFCS", "IEEE 802.15.4 without FCS"),
    (231, "DBUS", "D-Bus"),
    (232, "JUNIPER_VS", "Juniper Virtual Server"),
    (233, "JUNIPER_SRX_E2E", "Juniper SRX E2E"),
    (234, "JUNIPER_FIBRECHANNEL", "Juniper Fibre Channel"),
    (235, "DVB_CI", "DVB-CI"),
    (236, "MUX27010", "MUX27010"),
    (237, "STANAG_5066_D_PDU", "STANAG 5066 D_PDUs"),
    (238, "JUNIPER_ATM_CEMIC", "Juniper ATM CEMIC"),
    (239, "NFLOG", "Linux netfilter log messages"),
    (240, "NETANALYZER", "Ethernet with Hilscher netANALYZER pseudo-header"),
    (
        241,
        "NETANALYZER_TRANSPARENT",
        "Ethernet with Hilscher netANALYZER pseudo-header and with preamble and SFD",
    ),
    (242, "IPOIB", "RFC 4391 IP-over-Infiniband"),
    (243, "MPEG_2_TS", "MPEG-2 transport stream"),
    (244, "NG40", "ng40 protocol tester Iub/Iur"),
    (245, "NFC_LLCP", "NFC LLCP PDUs with pseudo-header"),
    (246, "PFSYNC", "Packet filter state syncing"),
    (247, "INFINIBAND", "InfiniBand"),
    (248, "SCTP", "SCTP"),
    (249, "USBPCAP", "USB with USBPcap header"),
    (250, "RTAC_SERIAL", "Schweitzer Engineering Laboratories RTAC packets"),
    (251, "BLUETOOTH_LE_LL", "Bluetooth Low Energy air interface"),
    (253, "NETLINK", "Linux netlink"),
    (254, "BLUETOOTH_LINUX_MONITOR", "Bluetooth Linux Monitor"),
    (
        255,
        "BLUETOOTH_BREDR_BB",
        "Bluetooth Basic Rate/Enhanced Data Rate baseband packets",
    ),
    (
        256,
        "BLUETOOTH_LE_LL_WITH_PHDR",
        "Bluetooth Low Energy air interface with pseudo-header",
    ),
    (257, "PROFIBUS_DL", "PROFIBUS data link layer"),
    (258, "PKTAP", "Apple DLT_PKTAP"),
    (259, "EPON", "Ethernet with 802.3 Clause 65 EPON preamble"),
    (260, "IPMI_HPM_2", "IPMI trace packets"),
    (261, "ZWAVE_R1_R2", "Z-Wave RF profile R1 and R2 packets"),
    (262, "ZWAVE_R3", "Z-Wave RF profile R3 packets"),
    (
        263,
        "WATTSTOPPER_DLM",
        "WattStopper Digital Lighting Management (DLM) and Legrand Nitoo Open protocol",
    ),
    (264, "ISO_14443", "ISO 14443 messages"),
    (265, "RDS", "IEC 62106 Radio Data System groups"),
    (266, "USB_DARWIN", "USB with Darwin header"),
    (267, "OPENFLOW", "OpenBSD DLT_OPENFLOW"),
    (268, "SDLC", "IBM SDLC frames"),
    (269, "TI_LLN_SNIFFER", "TI LLN sniffer frames"),
    (271, "VSOCK", "Linux vsock"),
    (272, "NORDIC_BLE", "Nordic Semiconductor Bluetooth LE sniffer frames"),
    (273, "DOCSIS31_XRA31", "Excentis XRA-31 DOCSIS 3.1 RF sniffer frames"),
    (274, "ETHERNET_MPACKET", "802.3br mPackets"),
    (275, "DISPLAYPORT_AUX", "DisplayPort AUX channel monitoring data"),
    (276, "LINUX_SLL2", "Linux cooked v2"),
    (278, "OPENVIZSLA", "OpenVizsla USB"),
    (279, "EBHSCR", "Elektrobit High Speed Capture and Replay (EBHSCR)"),
    (280, "VPP_DISPATCH", "VPP graph dispatch tracer"),
    (281, "DSA_TAG_BRCM", "Broadcom tag"),
    (282, "DSA_TAG_BRCM_PREPEND", "Broadcom tag (prepended)"),
    (283, "IEEE802_15_4_TAP", "IEEE 802.15.4 with pseudo-header"),
    (284, "DSA_TAG_DSA", "Marvell DSA"),
    (285, "DSA_TAG_EDSA", "Marvell EDSA"),
    (286, "ELEE", "ELEE lawful intercept packets"),
    (287, "Z_WAVE_SERIAL", "Z-Wave serial frames between host and chip"),
    (288, "USB_2_0", "USB 2.0/1.1/1.0 as transmitted over the cable"),
    (289, "ATSC_ALP", "ATSC Link-Layer Protocol packets"),
];

/// `NAME (description)` as tcpdump prints a capture's link-layer type ("reading from file F,
/// link-type EN10MB (Ethernet), snapshot length 262144"), or the bare number for types libpcap
/// has no name for.
pub fn linktype_description(linktype: u32) -> String {
    // LT_LINKTYPE(): the upper bits may carry an FCS length.
    let lt = linktype & 0x03ff_ffff;
    match LINKTYPES.iter().find(|(n, _, _)| *n == lt) {
        Some((_, name, desc)) => format!("{name} ({desc})"),
        None => lt.to_string(),
    }
}

/// tcpdump's sll_pkttype_values.
fn pkttype_name(t: u16) -> &'static str {
    match t {
        0 => "In",
        1 => "B",
        2 => "M",
        3 => "P",
        4 => "Out",
        _ => "?",
    }
}

/// bsd_af_values.
fn bsd_af_name(af: u32) -> Option<&'static str> {
    Some(match af {
        2 => "IPv4",
        6 => "NS",
        7 => "ISO",
        16 => "Appletalk",
        23 => "IPX",
        24 | 28 | 30 => "IPv6",
        _ => return None,
    })
}

fn is_vlan(t: u16) -> bool {
    matches!(
        t,
        ethertype::VLAN | ethertype::VLAN_9100 | ethertype::VLAN_9200 | ethertype::QINQ
    )
}

/// Writes `s` left-aligned in `width` columns (printf "%-Ns").
fn left(out: &mut Vec<u8>, s: &str, width: usize) {
    out.s(s);
    for _ in s.len()..width {
        out.c(b' ');
    }
}

/// LINUX_SLL_P_802_3 / LINUX_SLL_P_802_2: cooked-header protocol values that are not ethertypes.
const SLL_P_802_3: u16 = 0x0001;
const SLL_P_802_2: u16 = 0x0004;

impl Printer {
    /// The link-layer printer for `linktype`; Ok(header length) or Err when the capture ran out
    /// (tcpdump's longjmp, after which the header length counts as 0).
    pub(super) fn link(&mut self, out: &mut Vec<u8>, lt: u32, data: &[u8], orig_len: u32) -> Result<usize, Trunc> {
        let length = orig_len as usize;
        match lt {
            linktype::ETHERNET => self.ether(out, data, length),
            linktype::LINUX_SLL => self.sll(out, data, length),
            linktype::LINUX_SLL2 => self.sll2(out, data, length),
            linktype::NULL | linktype::LOOP => self.null(out, data, length, lt == linktype::LOOP),
            linktype::RAW | linktype::DLT_RAW_12 | linktype::DLT_RAW_14 | linktype::IPV4 | linktype::IPV6 => {
                self.raw(out, data, length)
            }
            _ => {
                // unsupported_if_print(), which is what tcpdump does for types it has no printer
                // for; the many it has printers for and we do not are out of scope.
                self.limit(Coverage::Unsupported);
                self.proto = "unsupported";
                out.s("UNSUPPORTED");
                super::hex::hex_and_ascii(out, "\n\t", data, data.len());
                Ok(0)
            }
        }
    }

    /// ethertype_print(): Ok(false) when tcpdump has no printer for the type.
    pub(super) fn ethertype(&mut self, out: &mut Vec<u8>, t: u16, data: &[u8], length: usize) -> Result<bool, Trunc> {
        match t {
            ethertype::IPV4 => self.ip(out, data, length)?,
            ethertype::IPV6 => self.ip6(out, data, length)?,
            ethertype::ARP | ethertype::REVARP => self.arp(out, data, length)?,
            t if decoded_elsewhere(t) => self.limit(Coverage::Unsupported),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// ND_DEFAULTPRINT: a hex and ASCII dump on following lines.
    pub(super) fn default_print(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) {
        if super::hex::hex_and_ascii(out, "\n\t", data, length) {
            out.s(" [|");
            out.s(self.proto);
            out.c(b']');
        }
    }

    /// ether_type_print().
    fn ether_type_print(&mut self, out: &mut Vec<u8>, t: u16) {
        match (self.opts.quiet, ethertype_name(t)) {
            (false, name) => {
                out.s("ethertype ");
                out.s(name.unwrap_or("Unknown"));
                out.s(" (0x");
                out.x_pad(t as u64, 4);
                out.c(b')');
            }
            (true, Some(name)) => out.s(name),
            (true, None) => {
                out.s("Unknown Ethertype (0x");
                out.x_pad(t as u64, 4);
                out.c(b')');
            }
        }
    }

    /// `SRC > DST, ` with the addresses named as etheraddr_string() names them.
    fn ether_addresses(&mut self, out: &mut Vec<u8>, src: &[u8], dst: &[u8]) {
        self.etheraddr(out, src);
        out.s(" > ");
        self.etheraddr(out, dst);
        out.s(", ");
    }

    /// ether_print() / ether_common_print().
    pub(super) fn ether(&mut self, out: &mut Vec<u8>, data: &[u8], orig_length: usize) -> Result<usize, Trunc> {
        self.proto = "ether";
        let caplen = data.len();
        let Ok(frame) = Frame::new_checked(data) else {
            out.s(" [|ether]");
            return Ok(caplen);
        };
        let e = self.opts.link_header;
        let (src, dst) = (frame.src(), frame.dst());
        if e {
            self.ether_addresses(out, src, dst);
        }
        let mut length_type = frame.ethertype();
        let mut off = ethernet::HEADER_LEN;
        let mut length = orig_length.saturating_sub(ethernet::HEADER_LEN);
        let mut printed_length = false;
        while is_vlan(length_type) {
            let rest = &data[off..];
            let Ok(tag) = VlanTag::new_checked(rest) else {
                self.proto = "vlan";
                out.s(" [|vlan]");
                return Ok(caplen);
            };
            if length < ethernet::VLAN_TAG_LEN {
                self.proto = "vlan";
                out.s(" [|vlan]");
                return Ok(off + length);
            }
            if e {
                self.ether_type_print(out, length_type);
                if printed_length {
                    out.s(", ");
                } else {
                    out.s(", length ");
                    out.u(orig_length as u64);
                    out.s(": ");
                    printed_length = true;
                }
                tci(out, tag.tci());
                out.s(", ");
            }
            length_type = tag.ethertype();
            off += ethernet::VLAN_TAG_LEN;
            length -= ethernet::VLAN_TAG_LEN;
        }
        let p = &data[off..];
        if length_type <= ethertype::MAX_LENGTH {
            // A length field: the payload ends there (nd_push_snapend).
            if (length_type as usize) < length {
                length = length_type as usize;
            }
            let p = &p[..p.len().min(length)];
            if e {
                out.s("802.3");
                if !printed_length {
                    out.s(", length ");
                    out.u(length as u64);
                    out.s(": ");
                }
            }
            return Ok(off + self.llc_then_default(out, p, length, Some((src, dst)))?);
        }
        if length_type == 0x8870 {
            // Alteon jumbo frames: an LLC header follows the type.
            return Ok(off + self.llc_then_default(out, p, length, Some((src, dst)))?);
        }
        if e {
            self.ether_type_print(out, length_type);
            if printed_length {
                out.s(", ");
            } else {
                out.s(", length ");
                out.u(orig_length as u64);
                out.s(": ");
            }
        }
        if length_type == 0x88e5 || length_type == 0xd28b {
            // MACsec and Arista headers: decoded by tcpdump, not here.
            self.limit(Coverage::Unsupported);
            return Ok(off);
        }
        if !self.ethertype(out, length_type, p, length)? {
            if !e {
                self.ether_addresses(out, src, dst);
                self.ether_type_print(out, length_type);
                out.s(", length ");
                out.u(orig_length as u64);
                out.s(": ");
            }
            if !self.suppress_default_print() {
                self.default_print(out, p, p.len());
            }
        }
        Ok(off)
    }

    /// An 802.2 LLC payload behind Ethernet: llc_print(), and the raw dump when it does not
    /// know the payload. Returns the LLC (and SNAP) header length.
    fn llc_then_default(
        &mut self,
        out: &mut Vec<u8>,
        p: &[u8],
        length: usize,
        addrs: Option<(&[u8], &[u8])>,
    ) -> Result<usize, Trunc> {
        let (hdrlen, known) = self.llc(out, p, length, addrs)?;
        if !known && !self.suppress_default_print() {
            self.default_print(out, p, p.len());
        }
        Ok(hdrlen)
    }

    /// The rest of an SLL or SLL2 `-e` header: the link-layer address when it is a MAC, then
    /// (unless -q) the protocol and the length.
    fn cooked_addr_proto_length(&mut self, out: &mut Vec<u8>, mac: bool, addr: &[u8], proto: u16, length: usize) {
        if mac {
            self.etheraddr(out, addr);
            out.c(b' ');
        }
        if self.opts.quiet {
            return;
        }
        match proto {
            SLL_P_802_3 => out.s("802.3"),
            SLL_P_802_2 => out.s("802.2"),
            p if p <= ethertype::MAX_LENGTH => {
                out.s("ethertype Unknown (0x");
                out.x_pad(p as u64, 4);
                out.c(b')');
            }
            p => {
                out.s("ethertype ");
                out.s(ethertype_name(p).unwrap_or("Unknown"));
                out.s(" (0x");
                out.x_pad(p as u64, 4);
                out.c(b')');
            }
        }
        out.s(", length ");
        out.u(length as u64);
        out.s(": ");
    }

    /// sll_print(): the cooked header as `-e` shows it.
    fn sll_header(&mut self, out: &mut Vec<u8>, pkttype: u16, halen: u16, addr: &[u8], proto: u16, length: usize) {
        let name = pkttype_name(pkttype);
        for _ in name.len()..3 {
            out.c(b' ');
        }
        out.s(name);
        out.c(b' ');
        self.cooked_addr_proto_length(out, halen == 6, addr, proto, length);
    }

    /// What follows a cooked header (both versions): 802.2/802.3 payloads, 802.1Q tags, and
    /// ethertypes. `header` prints the cooked header when nobody decodes the payload. Returns
    /// the total header length.
    fn cooked_payload(
        &mut self,
        out: &mut Vec<u8>,
        data: &[u8],
        hdrlen: usize,
        proto: u16,
        length: usize,
        header: &dyn Fn(&mut Printer, &mut Vec<u8>, usize),
    ) -> Result<usize, Trunc> {
        let mut off = hdrlen;
        let mut proto = proto;
        let mut length = length;
        loop {
            let p = data.get(off..).unwrap_or(&[]);
            if proto <= ethertype::MAX_LENGTH {
                match proto {
                    SLL_P_802_3 => {
                        // Novell 802.3 (IPX): tcpdump's IPX printer.
                        self.limit(Coverage::Unsupported);
                    }
                    SLL_P_802_2 => {
                        let (n, known) = self.llc(out, p, length, None)?;
                        if known {
                            return Ok(off + n);
                        }
                        if !self.suppress_default_print() {
                            self.default_print(out, p, p.len());
                        }
                    }
                    _ => {
                        if !self.suppress_default_print() {
                            self.default_print(out, p, p.len());
                        }
                    }
                }
                return Ok(off);
            }
            if proto == ethertype::VLAN {
                let Ok(tag) = VlanTag::new_checked(p) else {
                    self.proto = "vlan";
                    out.s(" [|vlan]");
                    return Ok(data.len());
                };
                if length < ethernet::VLAN_TAG_LEN {
                    self.proto = "vlan";
                    out.s(" [|vlan]");
                    return Ok(off + length);
                }
                if self.opts.link_header {
                    tci(out, tag.tci());
                    out.s(", ");
                }
                proto = tag.ethertype();
                if proto <= ethertype::MAX_LENGTH {
                    proto = SLL_P_802_2;
                }
                if !self.opts.quiet {
                    out.s("ethertype ");
                    out.s(ethertype_name(proto).unwrap_or("Unknown"));
                    out.s(", ");
                }
                off += ethernet::VLAN_TAG_LEN;
                length -= ethernet::VLAN_TAG_LEN;
                continue;
            }
            if !self.ethertype(out, proto, p, length)? {
                if !self.opts.link_header {
                    header(self, out, length + hdrlen);
                }
                if !self.suppress_default_print() {
                    self.default_print(out, p, p.len());
                }
            }
            return Ok(off);
        }
    }

    /// sll_if_print(): Linux cooked capture v1.
    pub(super) fn sll(&mut self, out: &mut Vec<u8>, data: &[u8], orig_length: usize) -> Result<usize, Trunc> {
        self.proto = "sll";
        let h = Sll::new_checked(data).map_err(|_| Trunc)?;
        let (pkttype, halen, proto) = (h.pkttype(), h.halen(), h.protocol());
        let addr = h.addr();
        if self.opts.link_header {
            self.sll_header(out, pkttype, halen, &addr[..6], proto, orig_length);
        }
        let length = orig_length.saturating_sub(crate::wire::sll::SLL_HEADER_LEN);
        let header = move |p: &mut Printer, out: &mut Vec<u8>, len: usize| {
            p.sll_header(out, pkttype, halen, &addr[..6], proto, len);
        };
        self.cooked_payload(out, data, crate::wire::sll::SLL_HEADER_LEN, proto, length, &header)
    }

    /// sll2_print(): the v2 cooked header as `-e` shows it.
    fn sll2_header(&mut self, out: &mut Vec<u8>, ifindex: u32, halen: u8, addr: &[u8], proto: u16, length: usize) {
        out.s("ifindex ");
        out.u(ifindex as u64);
        out.c(b' ');
        self.cooked_addr_proto_length(out, halen == 6, addr, proto, length);
    }

    /// sll2_if_print(): Linux cooked capture v2, led by the interface name and direction as
    /// `tcpdump -i any` prints them.
    pub(super) fn sll2(&mut self, out: &mut Vec<u8>, data: &[u8], orig_length: usize) -> Result<usize, Trunc> {
        self.proto = "sll2";
        let h = Sll2::new_checked(data).map_err(|_| Trunc)?;
        let ifindex = h.ifindex();
        // if_indextoname() as tcpdump calls it, once per interface index.
        let name = self.ifnames.entry(ifindex).or_insert_with(|| match ifname_of(ifindex) {
            Some((buf, len)) => String::from_utf8_lossy(&buf[..len]).into_owned(),
            None => "?".to_owned(),
        });
        left(out, name, 5);
        out.c(b' ');
        left(out, pkttype_name(h.pkttype() as u16), 3);
        out.c(b' ');
        let (halen, proto) = (h.halen(), h.protocol());
        let addr = h.addr();
        if self.opts.link_header {
            self.sll2_header(out, ifindex, halen, &addr[..6], proto, orig_length);
        }
        let length = orig_length.saturating_sub(crate::wire::sll::SLL2_HEADER_LEN);
        let header = move |p: &mut Printer, out: &mut Vec<u8>, len: usize| {
            p.sll2_header(out, ifindex, halen, &addr[..6], proto, len);
        };
        self.cooked_payload(out, data, crate::wire::sll::SLL2_HEADER_LEN, proto, length, &header)
    }

    /// null_hdr_print(): `AF IPv4 (2), length 88: `.
    fn null_header(&mut self, out: &mut Vec<u8>, family: u32, length: usize) {
        match (self.opts.quiet, bsd_af_name(family)) {
            (false, name) => {
                out.s("AF ");
                out.s(name.unwrap_or("Unknown"));
                out.s(" (");
                out.u(family as u64);
                out.c(b')');
            }
            (true, Some(name)) => out.s(name),
            (true, None) => {
                out.s("Unknown AF ");
                out.u(family as u64);
            }
        }
        out.s(", length ");
        out.u(length as u64);
        out.s(": ");
    }

    /// DLT_NULL / DLT_LOOP: a 4-byte address family (host order for NULL, network for LOOP).
    pub(super) fn null(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize, loop_: bool) -> Result<usize, Trunc> {
        self.proto = if loop_ { "loop" } else { "null" };
        let raw: [u8; 4] = data.get(..4).and_then(|b| b.try_into().ok()).ok_or(Trunc)?;
        let family = if loop_ {
            u32::from_be_bytes(raw)
        } else {
            let f = u32::from_ne_bytes(raw);
            // The capture may come from a host of the other byte order.
            if f & 0xffff_0000 != 0 { f.swap_bytes() } else { f }
        };
        if self.opts.link_header {
            self.null_header(out, family, length);
        }
        let length = length.saturating_sub(4);
        let p = &data[4..];
        match family {
            2 => self.ip(out, p, length)?,
            24 | 28 | 30 => self.ip6(out, p, length)?,
            7 | 16 | 23 => {
                // OSI, Appletalk, IPX: tcpdump's own printers.
                self.limit(Coverage::Unsupported);
            }
            _ => {
                if !self.opts.link_header {
                    self.null_header(out, family, length + 4);
                }
                if !self.suppress_default_print() {
                    self.default_print(out, p, p.len());
                }
            }
        }
        Ok(4)
    }

    /// Raw IP (LINKTYPE_RAW, IPV4, IPV6): raw_if_print() and ipN_print().
    pub(super) fn raw(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> Result<usize, Trunc> {
        if self.opts.link_header {
            out.s("ip: ");
        }
        self.proto = "ipn";
        let v = get_u8(data, 0).ok_or(Trunc)?;
        match v & 0xf0 {
            0x40 => self.ip(out, data, length)?,
            0x60 => self.ip6(out, data, length)?,
            _ => {
                out.s("unknown ip ");
                out.u((v >> 4) as u64);
            }
        }
        Ok(0)
    }
}

/// ieee8021q_tci_string(): `vlan 10, p 0` (and `, DEI` when that bit is set).
fn tci(out: &mut Vec<u8>, tci: u16) {
    out.s("vlan ");
    out.u((tci & 0x0fff) as u64);
    out.s(", p ");
    out.u((tci >> 13) as u64);
    if tci & 0x1000 != 0 {
        out.s(", DEI");
    }
}

/// if_indextoname(), as tcpdump uses for SLL2 captures without a name we were told about.
fn ifname_of(ifindex: u32) -> Option<([u8; 16], usize)> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes as if_indextoname requires.
    let r = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if r.is_null() {
        return None;
    }
    let mut name = [0u8; 16];
    let mut len = 0;
    for (i, &c) in buf.iter().enumerate().take(16) {
        if c == 0 {
            break;
        }
        name[i] = c as u8;
        len = i + 1;
    }
    Some((name, len))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::linktype_description;

    #[test]
    fn short_ethernet_is_truncated() {
        let mut p = printer();
        assert_eq!(line(&mut p, 1, &[0; 10]), " [|ether]\n");
    }

    #[test]
    fn unknown_ethertype_dumps_hex() {
        let mut p = printer();
        let mut f = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xb1, 0x04];
        f.extend_from_slice(b"AB");
        assert_eq!(
            line(&mut p, 1, &f),
            "07:08:09:0a:0b:0c > 01:02:03:04:05:06, ethertype Unknown (0xb104), length 16: \
             \n\t0x0000:  4142                                     AB\n"
        );
    }

    fn eth_vlan_tcp() -> Vec<u8> {
        let tcp = [0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x03, 0xe8, 0, 0, 0, 0];
        let mut f = eth_ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &tcp);
        f.splice(12..12, [0x81, 0x00, 0x20, 0x0a]);
        f
    }

    #[test]
    fn vlan_with_and_without_e() {
        let f = eth_vlan_tcp();
        let mut p = printer();
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 1000, length 0\n"
        );
        p.opts.link_header = true;
        assert_eq!(
            line(&mut p, 1, &f),
            "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 58: vlan 10, p 1, \
             ethertype IPv4 (0x0800), 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 1, win 1000, length 0\n"
        );
        assert_eq!(
            line_cut(&mut p, 1, &f, 16),
            "02:00:00:00:00:01 > 02:00:00:00:00:02,  [|vlan]\n"
        );
    }

    #[test]
    fn hex_dump_skips_link_header_and_numbers_packets() {
        let f = eth_vlan_tcp();
        let mut p = printer();
        p.opts.hex = 1;
        p.opts.number = true;
        let l = line(&mut p, 1, &f);
        assert!(l.starts_with("    1  IP 10.0.0.1.1 > "), "{l}");
        assert!(l.ends_with("length 0\n\t0x0000:  4500 0028 0001 4000 4006 0000 0a00 0001\n\t0x0010:  0a00 0002 0001 0002 0000 0001 0000 0000\n\t0x0020:  5002 03e8 0000 0000\n"), "{l}");
        // A longjmp out of the IP header dumps from the link header (tcpdump's ll_hdr_len 0).
        let l = line_cut(&mut p, 1, &f, 18);
        assert_eq!(
            l,
            "    2   [|ip]\n\t0x0000:  0200 0000 0002 0200 0000 0001 8100 200a\n\t0x0010:  0800\n"
        );
        // -x and -q suppress the dump of unknown payloads.
        let mut g = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xb1, 0x04, b'A'];
        assert_eq!(
            line(&mut p, 1, &g),
            "    3  07:08:09:0a:0b:0c > 01:02:03:04:05:06, ethertype Unknown (0xb104), length 15: \n\t0x0000:  41\n"
        );
        g.push(b'\r');
        p.opts.hex = 0;
        p.opts.ascii = 2;
        assert_eq!(
            line(&mut p, 1, &g),
            "    4  07:08:09:0a:0b:0c > 01:02:03:04:05:06, ethertype Unknown (0xb104), length 16: \
             \n\t0x0000:  410d                                     A.\n........\t\n....A\n"
        );
    }

    #[test]
    fn null_and_raw_headers() {
        let mut p = printer();
        p.opts.link_header = true;
        assert_eq!(line(&mut p, 0, &[7, 0, 0, 0, 1]), "AF ISO (7), length 5: \n");
        assert_eq!(
            line(&mut p, 0, &[99, 0, 0, 0, 1]),
            "AF Unknown (99), length 5: \n\t0x0000:  01                                       .\n"
        );
        assert_eq!(line(&mut p, 101, &[0x75]), "ip: unknown ip 7\n");
        p.opts.quiet = true;
        assert_eq!(line(&mut p, 0, &[99, 0, 0, 0, 1]), "Unknown AF 99, length 5: \n");
    }

    #[test]
    fn linktype_names() {
        assert_eq!(linktype_description(1), "EN10MB (Ethernet)");
        assert_eq!(linktype_description(276), "LINUX_SLL2 (Linux cooked v2)");
        assert_eq!(linktype_description(101), "RAW (Raw IP)");
        assert_eq!(linktype_description(14), "14");
    }

    #[test]
    fn sll2_names_interface() {
        let mut p = printer();
        p.set_interface_name(3, "veth0");
        let mut f = vec![0x08, 0x06, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[
            0, 1, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ]);
        assert_eq!(
            line(&mut p, 276, &f),
            "veth0 Out ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28\n"
        );
    }
}
