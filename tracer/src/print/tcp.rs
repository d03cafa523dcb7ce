//! TCP (print-tcp.c): flags, relative sequence numbers, options, and the application summary
//! tcpdump prints after `length N`.

use std::collections::HashMap;

use super::ip::{IpInfo, cksum_shouldbe};
use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc, need};
use crate::wire::tcp::{self, opt};
use crate::wire::{get_be16, get_be32, get_u8, ipproto};

/// tcp_flag_values, in tcpdump's order.
const FLAG_NAMES: [(u8, u8); 8] = [
    (tcp::FIN, b'F'),
    (tcp::SYN, b'S'),
    (tcp::RST, b'R'),
    (tcp::PSH, b'P'),
    (tcp::ACK, b'.'),
    (tcp::URG, b'U'),
    (tcp::ECE, b'E'),
    (tcp::CWR, b'W'),
];

/// tcp_option_values.
fn option_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        opt::EOL => "eol",
        opt::NOP => "nop",
        opt::MSS => "mss",
        opt::WSCALE => "wscale",
        opt::SACK_PERMITTED => "sackOK",
        opt::SACK => "sack",
        opt::ECHO => "echo",
        opt::ECHOREPLY => "echoreply",
        opt::TIMESTAMP => "TS",
        opt::CC => "cc",
        opt::CCNEW => "ccnew",
        opt::CCECHO => "",
        opt::SIGNATURE => "md5",
        opt::SCPS => "scps",
        opt::UTO => "uto",
        opt::TCPAO => "tcp-ao",
        opt::MPTCP => "mptcp",
        opt::FASTOPEN => "tfo",
        opt::EXPERIMENT2 => "exp",
        _ => return None,
    })
}

/// The sequence-number bases of each conversation, keyed like tcpdump's tcp_seq_hash: the
/// address pair and ports in a canonical order (lower port first, then lower address).
type SeqKey<const N: usize> = ([u8; N], [u8; N], u32);

/// foldhash: several times faster than SipHash on these small keys, and randomly seeded per
/// process, so crafted traffic cannot aim at its collisions.
type Map<K> = HashMap<K, (u32, u32), foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub(crate) struct SeqTable {
    v4: Map<SeqKey<4>>,
    v6: Map<SeqKey<16>>,
}

impl SeqTable {
    /// Returns (seq, ack) to print and (thseq, thack, rev) for SACK edges.
    fn relative(
        &mut self,
        info: &IpInfo<'_>,
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    ) -> (u32, u32, u32, u32, bool) {
        let rev = sport > dport || (sport == dport && info.src > info.dst);
        let (a, b, port) = if rev {
            (info.dst, info.src, (dport as u32) << 16 | sport as u32)
        } else {
            (info.src, info.dst, (sport as u32) << 16 | dport as u32)
        };
        let entry = if info.v6 {
            let (Ok(a), Ok(b)) = (<[u8; 16]>::try_from(a), <[u8; 16]>::try_from(b)) else {
                return (seq, ack, 0, 0, rev);
            };
            lookup(&mut self.v6, (a, b, port), flags)
        } else {
            let (Ok(a), Ok(b)) = (<[u8; 4]>::try_from(a), <[u8; 4]>::try_from(b)) else {
                return (seq, ack, 0, 0, rev);
            };
            lookup(&mut self.v4, (a, b, port), flags)
        };
        match entry {
            Slot::Existing(e) => {
                let (s, k) = if rev {
                    (seq.wrapping_sub(e.1), ack.wrapping_sub(e.0))
                } else {
                    (seq.wrapping_sub(e.0), ack.wrapping_sub(e.1))
                };
                (s, k, e.0, e.1, rev)
            }
            Slot::New(e) => {
                *e = if rev {
                    (ack.wrapping_sub(1), seq)
                } else {
                    (seq, ack.wrapping_sub(1))
                };
                (seq, ack, e.0, e.1, rev)
            }
        }
    }
}

enum Slot<'a> {
    Existing(&'a (u32, u32)),
    New(&'a mut (u32, u32)),
}

fn lookup<K: std::hash::Hash + Eq>(map: &mut Map<K>, key: K, flags: u8) -> Slot<'_> {
    use std::collections::hash_map::Entry;
    match map.entry(key) {
        Entry::Occupied(o) if flags & tcp::SYN == 0 => Slot::Existing(o.into_mut()),
        Entry::Occupied(o) => Slot::New(o.into_mut()),
        Entry::Vacant(v) => Slot::New(v.insert((0, 0))),
    }
}

/// What tcpdump prints after `length N` for a port.
enum App {
    None,
    Http,
    Rtsp,
    /// SMTP, FTP, whois: every payload is text to print.
    Text(&'static str),
    /// Telnet: decoded only when the segment starts with IAC.
    Telnet,
    /// SSH: the version line, when the segment starts with one.
    Ssh,
    Dns,
    /// ONC RPC to or from the NFS port (decoded only for calls to it and replies from it).
    Nfs,
    /// A decoder we do not implement.
    Other,
}

const NFS_PORT: u16 = 2049;

fn app_for(sport: u16, dport: u16) -> App {
    let either = |p: u16| sport == p || dport == p;
    // The order of tcp_print()'s port tests: the first match wins. (139 and 445 are decoded
    // only in builds with SMB support, which 4.99.3 packages lack.)
    if either(TELNET_PORT) {
        App::Telnet
    } else if either(25) {
        App::Text("SMTP")
    } else if either(43) {
        App::Text("WHOIS")
    } else if [179, 1723, 6379].iter().any(|&p| either(p)) {
        App::Other
    } else if either(SSH_PORT) {
        App::Ssh
    } else if [10288, 6633, 6653].iter().any(|&p| either(p)) {
        App::Other
    } else if either(21) {
        App::Text("FTP")
    } else if either(80) || either(8080) {
        App::Http
    } else if either(554) || either(8554) {
        App::Rtsp
    } else if either(DOMAIN_PORT) {
        App::Dns
    } else if [639, 323, 646].iter().any(|&p| either(p)) {
        App::Other
    } else if either(NFS_PORT) {
        App::Nfs
    } else {
        App::None
    }
}

const TELNET_PORT: u16 = 23;
const SSH_PORT: u16 = 22;
const DOMAIN_PORT: u16 = 53;

impl Printer {
    pub(super) fn tcp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize, info: IpInfo<'_>) -> PResult {
        self.proto = "tcp";
        let (Some(sport), Some(dport)) = (get_be16(data, 0), get_be16(data, 2)) else {
            self.addr(out, info.v6, info.src);
            out.s(" > ");
            self.addr(out, info.v6, info.dst);
            out.c(b':');
            self.trunc_here(out);
            return Ok(());
        };
        if info.first_nh == ipproto::TCP {
            self.addr(out, info.v6, info.src);
            out.c(b'.');
            self.tcp_port(out, sport);
            out.s(" > ");
            self.addr(out, info.v6, info.dst);
            out.c(b'.');
            self.tcp_port(out, dport);
            out.s(": ");
        } else {
            self.tcp_port(out, sport);
            out.s(" > ");
            self.tcp_port(out, dport);
            out.s(": ");
        }
        // ND_TCHECK_SIZE with tcp_print()'s own `trunc:` label: the marker, then return.
        let Ok(h) = tcp::Header::new_checked(data) else {
            self.trunc_here(out);
            return Ok(());
        };
        let hlen = h.header_len();
        if hlen < tcp::HEADER_LEN {
            out.s(" tcp ");
            out.u((length as u32).wrapping_sub(hlen as u32) as u64);
            out.s(" [bad hdr length ");
            out.u(hlen as u64);
            out.s(" - too short, < 20]");
            return Ok(());
        }
        if self.opts.quiet {
            out.s("tcp ");
            out.u((length as u32).wrapping_sub(hlen as u32) as u64);
            if hlen > length {
                self.tcp_too_long(out, hlen, length);
            }
            return Ok(());
        }
        let flags = h.flags();
        out.s("Flags [");
        if flags == 0 {
            out.s("none");
        }
        for (bit, c) in FLAG_NAMES {
            if flags & bit != 0 {
                out.c(c);
            }
        }
        out.c(b']');
        let (mut seq, mut ack) = (h.seq(), h.ack());
        let (mut thseq, mut thack, mut rev) = (0, 0, false);
        if !self.opts.absolute_seq && flags & tcp::ACK != 0 {
            (seq, ack, thseq, thack, rev) = self.tcp_seq.relative(&info, sport, dport, flags, seq, ack);
        }
        if hlen > length {
            self.tcp_too_long(out, hlen, length);
            return Ok(());
        }
        if self.opts.verbose > 0 && !info.fragmented {
            // The checksum is checked only when the whole segment was captured.
            if let Some(seg) = data.get(..length) {
                let sum = info.nextproto_cksum(ipproto::TCP, length as u32, seg);
                let tcp_sum = h.checksum();
                out.s(", cksum 0x");
                out.x_pad(tcp_sum as u64, 4);
                if sum != 0 {
                    out.s(" (incorrect -> 0x");
                    out.x_pad(cksum_shouldbe(tcp_sum, sum) as u64, 4);
                    out.c(b')');
                } else {
                    out.s(" (correct)");
                }
            }
        }
        let length = length - hlen;
        if self.opts.verbose > 1 || length > 0 || flags & (tcp::SYN | tcp::FIN | tcp::RST) != 0 {
            out.s(", seq ");
            out.u(seq as u64);
            if length > 0 {
                out.c(b':');
                out.u(seq.wrapping_add(length as u32) as u64);
            }
        }
        if flags & tcp::ACK != 0 {
            out.s(", ack ");
            out.u(ack as u64);
        }
        out.s(", win ");
        out.u(h.window() as u64);
        if flags & tcp::URG != 0 {
            out.s(", urg ");
            out.u(h.urgent() as u64);
        }
        if hlen > tcp::HEADER_LEN {
            let sack_base = if rev { thseq } else { thack };
            match self.tcp_options(out, data, hlen, flags, sack_base, length)? {
                OptEnd::Done => {}
                OptEnd::Stop => return Ok(()),
            }
        }
        out.s(", length ");
        out.u(length as u64);
        if length == 0 {
            return Ok(());
        }
        if data.len() < hlen {
            out.s(" [remaining caplen(");
            out.u(data.len() as u64);
            out.s(") < header length(");
            out.u(hlen as u64);
            out.s(")]");
            return Err(Trunc);
        }
        let payload = &data[hlen..];
        if flags & tcp::RST != 0 && self.opts.verbose > 0 {
            rst_data(out, payload, length);
            return Ok(());
        }
        match app_for(sport, dport) {
            App::None => Ok(()),
            App::Http => {
                out.s(": ");
                self.http(out, payload, length)
            }
            App::Rtsp => {
                out.s(": ");
                self.rtsp(out, payload, length)
            }
            App::Text(name) => {
                out.s(": ");
                self.text_protocol(out, payload, length, name)
            }
            App::Telnet => {
                if payload.first().is_none_or(|&c| c == 0xff) {
                    self.limit(Coverage::UpToLength);
                }
                Ok(())
            }
            App::Ssh => self.ssh(out, payload, length),
            App::Dns => self.domain(out, payload, length, true, false),
            App::Nfs => {
                // tcpdump decodes RPC only for a call to, or a reply from, port 2049.
                let dir = get_be32(payload, 8);
                if length >= 4
                    && payload.len() >= 4
                    && ((dport == NFS_PORT && dir == Some(0)) || (sport == NFS_PORT && dir == Some(1)))
                {
                    self.limit(Coverage::UpToLength);
                }
                Ok(())
            }
            App::Other => {
                self.limit(Coverage::UpToLength);
                Ok(())
            }
        }
    }

    /// ssh_print(): `: SSH: ` and the version line, when the segment starts with a complete one.
    fn ssh(&mut self, out: &mut Vec<u8>, payload: &[u8], len: usize) -> PResult {
        self.proto = "ssh";
        for (i, &want) in b"SSH-".iter().enumerate() {
            if *payload.get(i).ok_or(Trunc)? != want {
                return Ok(());
            }
        }
        let mut idx = 4;
        while idx < len {
            let c = *payload.get(idx).ok_or(Trunc)?;
            if c == b'\n' {
                break;
            } else if c == b'\r' {
                if idx + 1 >= len || *payload.get(idx + 1).ok_or(Trunc)? != b'\n' {
                    return Ok(());
                }
                break;
            } else if !(0x20..=0x7e).contains(&c) {
                return Ok(());
            }
            idx += 1;
        }
        if idx >= len {
            return Ok(());
        }
        out.s(": SSH: ");
        out.b(&payload[..idx]);
        Ok(())
    }

    fn tcp_too_long(&mut self, out: &mut Vec<u8>, hlen: usize, length: usize) {
        out.s(" [bad hdr length ");
        out.u(hlen as u64);
        out.s(" - too long, > ");
        out.u(length as u64);
        out.c(b']');
    }

    /// The `, options [...]` part. `Stop` means the line ends here (bad option or truncation
    /// already reported).
    fn tcp_options(
        &mut self,
        out: &mut Vec<u8>,
        data: &[u8],
        hlen: usize,
        flags: u8,
        sack_base: u32,
        paylen: usize,
    ) -> Result<OptEnd, Trunc> {
        let mut hl = hlen - tcp::HEADER_LEN;
        let mut cp = tcp::HEADER_LEN;
        let mut ch = false;
        out.s(", options [");
        // LENCHECK(l): `[bad opt]` when the option is shorter than l; when it was not captured,
        // ND_TCHECK_LEN's `goto trunc`: the marker (and `>` after the first option), then return.
        // The kind and length bytes are read with GET_U_1, which longjmps (Err).
        macro_rules! lencheck {
            ($l:expr) => {{
                let l: usize = $l;
                if l > hl {
                    return Ok(self.bad_opt(out, ch));
                }
                if need(data, cp + l).is_err() {
                    self.trunc_here(out);
                    if ch {
                        out.c(b'>');
                    }
                    return Ok(OptEnd::Stop);
                }
            }};
        }
        while hl > 0 {
            if ch {
                out.c(b',');
            }
            let kind = get_u8(data, cp).ok_or(Trunc)?;
            cp += 1;
            let len: usize;
            if kind == opt::EOL || kind == opt::NOP {
                len = 1;
            } else {
                len = get_u8(data, cp).ok_or(Trunc)? as usize;
                cp += 1;
                if len < 2 || len > hl {
                    return Ok(self.bad_opt(out, ch));
                }
                hl -= 1;
            }
            hl -= 1;
            let mut datalen = 0usize;
            match option_name(kind) {
                Some(n) => out.s(n),
                None => {
                    out.s("unknown-");
                    out.u(kind as u64);
                }
            }
            match kind {
                opt::MSS => {
                    datalen = 2;
                    lencheck!(2);
                    out.c(b' ');
                    out.u(get_be16(data, cp).ok_or(Trunc)? as u64);
                }
                opt::WSCALE => {
                    datalen = 1;
                    lencheck!(1);
                    out.c(b' ');
                    out.u(get_u8(data, cp).ok_or(Trunc)? as u64);
                }
                opt::SACK => {
                    datalen = len - 2;
                    if !datalen.is_multiple_of(8) {
                        out.s(" invalid sack");
                    } else {
                        out.c(b' ');
                        out.u((datalen / 8) as u64);
                        out.c(b' ');
                        let mut i = 0;
                        while i < datalen {
                            lencheck!(i + 4);
                            let s = get_be32(data, cp + i).ok_or(Trunc)?;
                            lencheck!(i + 8);
                            let e = get_be32(data, cp + i + 4).ok_or(Trunc)?;
                            out.c(b'{');
                            out.u(s.wrapping_sub(sack_base) as u64);
                            out.c(b':');
                            out.u(e.wrapping_sub(sack_base) as u64);
                            out.c(b'}');
                            i += 8;
                        }
                    }
                }
                opt::CC | opt::CCNEW | opt::CCECHO | opt::ECHO | opt::ECHOREPLY => {
                    datalen = 4;
                    lencheck!(4);
                    out.c(b' ');
                    out.u(get_be32(data, cp).ok_or(Trunc)? as u64);
                }
                opt::TIMESTAMP => {
                    datalen = 8;
                    lencheck!(8);
                    out.s(" val ");
                    out.u(get_be32(data, cp).ok_or(Trunc)? as u64);
                    out.s(" ecr ");
                    out.u(get_be32(data, cp + 4).ok_or(Trunc)? as u64);
                }
                opt::SIGNATURE => {
                    datalen = 16;
                    lencheck!(16);
                    out.c(b' ');
                    // tcp_verify_signature() without a secret (-M): it cannot check.
                    let payload_end = hlen_of(data).saturating_add(paylen);
                    if payload_end > data.len() {
                        out.s("snaplen too short, ");
                    } else {
                        out.s("shared secret not supplied with -M, ");
                    }
                    out.s("can't check - ");
                    for i in 0..16 {
                        out.x_pad(get_u8(data, cp + i).ok_or(Trunc)? as u64, 2);
                    }
                }
                opt::SCPS => {
                    datalen = 2;
                    lencheck!(2);
                    out.s(" cap ");
                    out.x_pad(get_u8(data, cp).ok_or(Trunc)? as u64, 2);
                    out.s(" id ");
                    out.u(get_u8(data, cp + 1).ok_or(Trunc)? as u64);
                }
                opt::TCPAO => {
                    datalen = len - 2;
                    if datalen < 2 {
                        out.s(" (invalid)");
                    } else {
                        lencheck!(1);
                        out.s(" keyid ");
                        out.u(get_u8(data, cp).ok_or(Trunc)? as u64);
                        lencheck!(2);
                        out.s(" rnextkeyid ");
                        out.u(get_u8(data, cp + 1).ok_or(Trunc)? as u64);
                        if datalen > 2 {
                            out.s(" mac 0x");
                            for i in 2..datalen {
                                lencheck!(i + 1);
                                out.x_pad(get_u8(data, cp + i).ok_or(Trunc)? as u64, 2);
                            }
                        }
                    }
                }
                opt::EOL | opt::NOP | opt::SACK_PERMITTED => {}
                opt::UTO => {
                    datalen = 2;
                    lencheck!(2);
                    let mut v = get_be16(data, cp).ok_or(Trunc)? as u32;
                    out.s(" 0x");
                    out.x(v as u64);
                    if v & 1 != 0 {
                        v = (v >> 1) * 60;
                    } else {
                        v >>= 1;
                    }
                    out.c(b' ');
                    out.u(v as u64);
                }
                opt::MPTCP => {
                    datalen = len - 2;
                    lencheck!(datalen);
                    // mptcp_print() sees the option from its kind byte and names its own
                    // layer for any later truncation marker.
                    self.proto = "mptcp";
                    let o = data.get(cp - 2..cp + datalen).ok_or(Trunc)?;
                    if !self.mptcp(out, o, flags) {
                        return Ok(self.bad_opt(out, ch));
                    }
                }
                opt::FASTOPEN => {
                    datalen = len - 2;
                    lencheck!(datalen);
                    out.c(b' ');
                    fastopen(out, &data[cp..cp + datalen], false);
                }
                opt::EXPERIMENT2 => {
                    datalen = len - 2;
                    lencheck!(datalen);
                    if datalen < 2 {
                        return Ok(self.bad_opt(out, ch));
                    }
                    let magic = get_be16(data, cp).ok_or(Trunc)?;
                    out.c(b'-');
                    if magic == 0xf989 {
                        fastopen(out, &data[cp + 2..cp + datalen], true);
                    } else {
                        out.x_pad(magic as u64, 4);
                    }
                }
                _ => {
                    datalen = len - 2;
                    if datalen > 0 {
                        out.s(" 0x");
                    }
                    for i in 0..datalen {
                        lencheck!(i + 1);
                        out.x_pad(get_u8(data, cp + i).ok_or(Trunc)? as u64, 2);
                    }
                }
            }
            cp += datalen;
            hl -= datalen;
            let mut spec = datalen + 1;
            if kind != opt::EOL && kind != opt::NOP {
                spec += 1;
            }
            if spec != len {
                out.s("[len ");
                out.u(len as u64);
                out.c(b']');
            }
            ch = true;
            if kind == opt::EOL {
                break;
            }
        }
        out.c(b']');
        Ok(OptEnd::Done)
    }

    fn bad_opt(&mut self, out: &mut Vec<u8>, ch: bool) -> OptEnd {
        out.s("[bad opt]");
        if ch {
            out.c(b']');
        }
        OptEnd::Stop
    }
}

/// print_tcp_rst_data(): up to 30 bytes of the text a RST carries, `[!RST` when the capture
/// holds less than the segment.
fn rst_data(out: &mut Vec<u8>, payload: &[u8], length: usize) {
    out.s(if payload.len() >= length { " [RST" } else { " [!RST" });
    let mut n = length;
    if n > MAX_RST_DATA_LEN {
        n = MAX_RST_DATA_LEN;
        out.c(b'+');
    }
    out.c(b' ');
    for &c in payload.iter().take(n) {
        print_char(out, c);
    }
    out.c(b']');
}

const MAX_RST_DATA_LEN: usize = 30;

/// fn_print_char(): `M-` for the high bit, `^X` for control characters.
pub(super) fn print_char(out: &mut Vec<u8>, mut c: u8) {
    if !c.is_ascii() {
        c &= 0x7f;
        out.s("M-");
    }
    if !(0x20..=0x7e).contains(&c) {
        c ^= 0x40;
        out.c(b'^');
    }
    out.c(c);
}

enum OptEnd {
    Done,
    Stop,
}

fn hlen_of(data: &[u8]) -> usize {
    data.get(12).map(|b| (b >> 4) as usize * 4).unwrap_or(0)
}

/// MPTCP subtypes, by number (mptcp_options[]); larger ones are "unknown".
const MPTCP_SUBTYPES: [&str; 9] = [
    "capable",
    "join",
    "dss",
    "add-addr",
    "rem-addr",
    "prio",
    "fail",
    "fast-close",
    "unknown",
];

impl Printer {
    /// mptcp_print() (RFC 8684) on the whole option `o` (kind and length bytes included); false
    /// when tcpdump reports `[bad opt]`.
    fn mptcp(&mut self, out: &mut Vec<u8>, o: &[u8], flags: u8) -> bool {
        let len = o.len();
        if len < 3 {
            return false;
        }
        let sub = ((o[2] >> 4) as usize).min(MPTCP_SUBTYPES.len() - 1);
        out.c(b' ');
        out.u(len as u64);
        out.c(b' ');
        out.s(MPTCP_SUBTYPES[sub]);
        let be64 = |off: usize| -> u64 {
            o.get(off..off + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0)
        };
        let be32 = |off: usize| get_be32(o, off).unwrap_or(0);
        let byte = |off: usize| o.get(off).copied().unwrap_or(0);
        let syn = flags & tcp::SYN != 0;
        let ack_only = flags & (tcp::SYN | tcp::ACK) == tcp::ACK;
        match sub {
            0 => {
                // MP_CAPABLE
                if !((len == 12 || len == 4) && syn) && !((len == 20 || len == 22) && ack_only) {
                    return false;
                }
                let version = byte(2) & 0xf;
                if version > 1 {
                    out.s(" Unknown Version (");
                    out.u(version as u64);
                    out.c(b')');
                    return true;
                }
                out.s(" v");
                out.u(version as u64);
                if byte(3) & 0x80 != 0 {
                    out.s(" csum");
                }
                if len == 12 || len >= 20 {
                    out.s(" {0x");
                    out.x(be64(4));
                    if len >= 20 {
                        out.s(",0x");
                        out.x(be64(12));
                    }
                    out.c(b'}');
                }
            }
            1 => {
                // MP_JOIN
                let valid = (len == 12 && syn)
                    || (len == 16 && flags & (tcp::SYN | tcp::ACK) == tcp::SYN | tcp::ACK)
                    || (len == 24 && flags & tcp::ACK != 0);
                if !valid {
                    return false;
                }
                if len != 24 {
                    if byte(2) & 0x01 != 0 {
                        out.s(" backup");
                    }
                    out.s(" id ");
                    out.u(byte(3) as u64);
                }
                match len {
                    12 => {
                        out.s(" token 0x");
                        out.x(be32(4) as u64);
                        out.s(" nonce 0x");
                        out.x(be32(8) as u64);
                    }
                    16 => {
                        out.s(" hmac 0x");
                        out.x(be64(4));
                        out.s(" nonce 0x");
                        out.x(be32(12) as u64);
                    }
                    _ => {
                        out.s(" hmac 0x");
                        for &b in o.get(4..24).unwrap_or(&[]) {
                            out.x_pad(b as u64, 2);
                        }
                    }
                }
            }
            2 => {
                // DSS
                if len < 4 || syn {
                    return false;
                }
                let f = byte(3);
                if f & 0x10 != 0 {
                    out.s(" fin");
                }
                let mut p = 4usize;
                let mut left = len - 4;
                // A data ack or sequence number: 8 bytes when its "wide" flag is set, else 4.
                let number = |out: &mut Vec<u8>, p: &mut usize, left: &mut usize, wide: bool| {
                    let n = if wide { 8 } else { 4 };
                    if *left < n {
                        return false;
                    }
                    out.u(if wide { be64(*p) } else { be32(*p) as u64 });
                    *p += n;
                    *left -= n;
                    true
                };
                if f & 0x01 != 0 {
                    out.s(" ack ");
                    if !number(out, &mut p, &mut left, f & 0x02 != 0) {
                        return false;
                    }
                }
                if f & 0x04 != 0 {
                    out.s(" seq ");
                    if !number(out, &mut p, &mut left, f & 0x08 != 0) {
                        return false;
                    }
                    if left < 4 {
                        return false;
                    }
                    out.s(" subseq ");
                    out.u(be32(p) as u64);
                    p += 4;
                    left -= 4;
                    if left < 2 {
                        return false;
                    }
                    out.s(" len ");
                    out.u(get_be16(o, p).unwrap_or(0) as u64);
                    p += 2;
                    left -= 2;
                    if left >= 2 {
                        out.s(" csum 0x");
                        out.x(get_be16(o, p).unwrap_or(0) as u64);
                        left -= 2;
                    }
                }
                if left != 0 {
                    return false;
                }
            }
            3 => {
                // ADD_ADDR
                if ![8, 10, 16, 18, 20, 22, 28, 30].contains(&len) {
                    return false;
                }
                out.c(b' ');
                out.s(match byte(2) & 0xf {
                    0x6 => "v0-ip6",
                    0x4 => "v0-ip4",
                    0x1 => "v1-echo",
                    0x0 => "v1",
                    _ => "[bad version/echo]",
                });
                out.s(" id ");
                out.u(byte(3) as u64);
                if len <= 18 {
                    out.c(b' ');
                    self.ipaddr(out, o.get(4..8).unwrap_or(&[]));
                    if len == 10 || len == 18 {
                        out.c(b':');
                        out.u(get_be16(o, 8).unwrap_or(0) as u64);
                    }
                    if len == 16 {
                        out.s(" hmac 0x");
                        out.x(be64(8));
                    }
                    if len == 18 {
                        out.s(" hmac 0x");
                        out.x(be64(10));
                    }
                } else {
                    out.c(b' ');
                    self.ip6addr(out, o.get(4..20).unwrap_or(&[]));
                    if len == 22 || len == 30 {
                        out.c(b':');
                        out.u(get_be16(o, 20).unwrap_or(0) as u64);
                    }
                    if len == 28 {
                        out.s(" hmac 0x");
                        out.x(be64(20));
                    }
                    if len == 30 {
                        out.s(" hmac 0x");
                        out.x(be64(22));
                    }
                }
            }
            4 => {
                // REMOVE_ADDR
                if len < 4 {
                    return false;
                }
                out.s(" id");
                for &b in &o[3..] {
                    out.c(b' ');
                    out.u(b as u64);
                }
            }
            5 => {
                // MP_PRIO
                if len != 3 && len != 4 {
                    return false;
                }
                out.s(if byte(2) & 0x01 != 0 { " backup" } else { " non-backup" });
                if len == 4 {
                    out.s(" id ");
                    out.u(byte(3) as u64);
                }
            }
            6 => {
                // MP_FAIL
                if len != 12 {
                    return false;
                }
                out.s(" seq ");
                out.u(be64(4));
            }
            7 => {
                // MP_FASTCLOSE
                if len != 12 {
                    return false;
                }
                out.s(" key 0x");
                out.x(be64(4));
            }
            _ => {}
        }
        true
    }
}

/// print_tcp_fastopen_option().
fn fastopen(out: &mut Vec<u8>, cookie: &[u8], exp: bool) {
    if exp {
        out.s("tfo");
    }
    if cookie.is_empty() {
        out.s(" cookiereq");
    } else if !cookie.len().is_multiple_of(2) || cookie.len() < 4 || cookie.len() > 16 {
        out.s(" (invalid)");
    } else {
        out.s(" cookie ");
        for &b in cookie {
            out.x_pad(b as u64, 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{PrintOptions, Printer, TimeFormat};

    fn seg(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&ack.to_be_bytes());
        t.push((((20 + opts.len()) / 4) as u8) << 4);
        t.push(flags);
        t.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
        t.extend_from_slice(opts);
        t.extend_from_slice(payload);
        eth_ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &t)
    }

    #[test]
    fn handshake_and_relative_numbers() {
        let mut p = printer();
        let a = [10, 0, 0, 1];
        let _ = a;
        let syn = seg(40000, 80, 1000, 0, 0x02, &[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7], &[]);
        assert_eq!(
            line(&mut p, 1, &syn),
            "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 64240, options [mss 1460,nop,nop,sackOK,nop,wscale 7], length 0\n"
        );
        let mut synack = seg(80, 40000, 5000, 1001, 0x12, &[], &[]);
        synack[26..30].copy_from_slice(&[10, 0, 0, 2]);
        synack[30..34].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(
            line(&mut p, 1, &synack),
            "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 5000, ack 1001, win 64240, length 0\n"
        );
        let ack = seg(40000, 80, 1001, 5001, 0x10, &[], &[]);
        assert_eq!(
            line(&mut p, 1, &ack),
            "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 64240, length 0\n"
        );
        let get = seg(40000, 80, 1001, 5001, 0x18, &[], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            line(&mut p, 1, &get),
            "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:28, ack 1, win 64240, length 27: HTTP: GET / HTTP/1.1\n"
        );
        let mut abs = Printer::new(PrintOptions {
            absolute_seq: true,
            time: TimeFormat::None,
            numeric: true,
            ..Default::default()
        });
        assert_eq!(
            line(&mut abs, 1, &ack),
            "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 5001, win 64240, length 0\n"
        );
    }

    #[test]
    fn flags_table_and_bad_options() {
        let mut p = printer();
        let f = seg(1, 2, 7, 0, 0, &[], &[]);
        assert!(line(&mut p, 1, &f).contains("Flags [none], win"));
        let f = seg(1, 2, 7, 0, 0xff, &[], &[]);
        assert!(line(&mut p, 1, &f).contains("Flags [FSRP.UEW], seq"));
        let f = seg(1, 2, 7, 0, 0x02, &[2, 9, 0, 0], &[]);
        assert!(line(&mut p, 1, &f).ends_with("options [[bad opt]\n"));
        let f = seg(1, 2, 7, 0, 0x02, &[1, 99, 3, 0xab], &[]);
        assert!(
            line(&mut p, 1, &f).ends_with("options [nop,unknown-99 0xab], length 0\n"),
            "{}",
            line(&mut p, 1, &f)
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn verbose_checksum_and_rst_text() {
        // tcpdump 4.99.3 -v prints exactly this for the frame.
        let f = hex(
            "02000000000202000000000108004500003a00014000400626bb0a0000010a000002005004d20000004d000000585014ffff3a2c\
             0000436f6e6e656374696f6e2072656675736564",
        );
        let mut p = Printer::new(PrintOptions {
            time: TimeFormat::None,
            numeric: true,
            verbose: 1,
            ..Default::default()
        });
        let out = line(&mut p, 1, &f);
        assert!(
            out.ends_with(
                "\n    10.0.0.1.80 > 10.0.0.2.1234: Flags [R.], cksum 0x3a2c (correct), seq 77:95, ack 88, win 65535, \
                 length 18 [RST Connection refused]\n"
            ),
            "{out}"
        );
        let mut bad = f.clone();
        bad[51] ^= 1;
        assert!(line(&mut p, 1, &bad).contains("cksum 0x3a2d (incorrect -> 0x3a2c), seq"));
        let mut q = printer();
        assert!(line(&mut q, 1, &f).ends_with("length 18: HTTP\n"));
        let mut quiet = Printer::new(PrintOptions {
            time: TimeFormat::None,
            numeric: true,
            quiet: true,
            ..Default::default()
        });
        assert_eq!(line(&mut quiet, 1, &f), "IP 10.0.0.1.80 > 10.0.0.2.1234: tcp 18\n");
    }

    #[test]
    fn mptcp_dss() {
        let f = hex(
            "02000000000202000000000108004500004000014000400626b50a0000010a000002139817700000000b00000016b018ffffcd5e\
             000001011e122005000001000000020000000001001001010000",
        );
        let mut p = printer();
        assert_eq!(
            line(&mut p, 1, &f),
            "IP 10.0.0.1.5016 > 10.0.0.2.6000: Flags [P.], ack 22, win 65535, options [nop,nop,mptcp 18 dss ack 256 \
             seq 512 subseq 1 len 16,nop,nop,eol], length 0\n"
        );
    }

    /// The first bytes the `-x` dump shows: `4500` from the IP header, `0200` from the Ethernet
    /// header (after a longjmp).
    fn dump_start(l: &str) -> &str {
        l.split("0x0000:  ").nth(1).map_or("", |d| d.get(..4).unwrap_or(""))
    }

    #[test]
    fn truncation_returns_or_longjmps_as_tcpdump() {
        let mut p = printer();
        p.opts.hex = 1;
        let f = seg(1, 2, 3, 4, 0x02, &[2, 4, 5, 0xb4, 1, 1, 4, 2], &[]);
        let head = "IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 3, win 64240, options [";
        for (cut, text, start) in [
            // Ports, fixed header and an option's value cut short: tcp_print() prints the
            // marker and returns; the dump skips the Ethernet header.
            (37, "IP 10.0.0.1 > 10.0.0.2: [|tcp]".to_string(), "4500"),
            (44, "IP 10.0.0.1.1 > 10.0.0.2.2:  [|tcp]".to_string(), "4500"),
            (57, format!("{head}mss [|tcp]"), "4500"),
            // A kind or length byte not captured: GET_U_1 longjmps; the dump starts at the
            // link header.
            (58, format!("{head}mss 1460, [|tcp]"), "0200"),
            (60, format!("{head}mss 1460,nop,nop, [|tcp]"), "0200"),
            (61, format!("{head}mss 1460,nop,nop, [|tcp]"), "0200"),
        ] {
            let l = line_cut(&mut p, 1, &f, cut);
            assert_eq!(l.lines().next(), Some(text.as_str()), "cut {cut}");
            assert_eq!(dump_start(&l), start, "cut {cut}: {l}");
        }
        // A later option's value cut short: the marker and `>`, then return.
        let g = seg(1, 2, 3, 4, 0x02, &[1, 1, 2, 4, 5, 0xb4, 4, 2], &[]);
        let l = line_cut(&mut p, 1, &g, 59);
        assert_eq!(l.lines().next(), Some(format!("{head}nop,nop,mss [|tcp]>").as_str()));
        assert_eq!(dump_start(&l), "4500");
    }

    #[test]
    fn truncated_header() {
        let mut p = printer();
        let f = seg(1, 2, 7, 0, 0x02, &[], &[]);
        assert_eq!(line_cut(&mut p, 1, &f, 34 + 3), "IP 10.0.0.1 > 10.0.0.2: [|tcp]\n");
        assert_eq!(
            line_cut(&mut p, 1, &f, 34 + 10),
            "IP 10.0.0.1.1 > 10.0.0.2.2:  [|tcp]\n"
        );
    }
}
