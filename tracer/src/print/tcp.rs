//! TCP (print-tcp.c): flags, relative sequence numbers, options, and the application summary
//! tcpdump prints after `length N`.

use std::collections::HashMap;

use super::ip::IpInfo;
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
#[derive(Debug, Default)]
pub(crate) struct SeqTable {
    v4: HashMap<([u8; 4], [u8; 4], u32), (u32, u32)>,
    v6: HashMap<([u8; 16], [u8; 16], u32), (u32, u32)>,
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

fn lookup<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (u32, u32)>, key: K, flags: u8) -> Slot<'_> {
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
    /// A decoder we do not implement.
    Other,
}

fn app_for(sport: u16, dport: u16) -> App {
    let either = |p: u16| sport == p || dport == p;
    // The order of tcp_print()'s port tests: the first match wins.
    const BEFORE_HTTP: [u16; 13] = [23, 25, 43, 179, 1723, 6379, 22, 139, 445, 10288, 6633, 6653, 21];
    const AFTER_HTTP: [u16; 7] = [554, 8554, 53, 639, 323, 646, 2049];
    if BEFORE_HTTP.iter().any(|&p| either(p)) {
        App::Other
    } else if either(80) || either(8080) {
        App::Http
    } else if AFTER_HTTP.iter().any(|&p| either(p)) {
        App::Other
    } else {
        App::None
    }
}

impl Printer {
    pub(super) fn tcp(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize, info: IpInfo<'_>) -> PResult {
        self.proto = "tcp";
        let (Some(sport), Some(dport)) = (get_be16(data, 0), get_be16(data, 2)) else {
            self.addr(out, info.v6, info.src);
            out.s(" > ");
            self.addr(out, info.v6, info.dst);
            out.c(b':');
            return Err(Trunc);
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
        let h = tcp::Header::new_checked(data).map_err(|_| Trunc)?;
        let hlen = h.header_len();
        if hlen < tcp::HEADER_LEN {
            out.s(" tcp ");
            out.u((length as u32).wrapping_sub(hlen as u32) as u64);
            out.s(" [bad hdr length ");
            out.u(hlen as u64);
            out.s(" - too short, < 20]");
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
            out.s(" [bad hdr length ");
            out.u(hlen as u64);
            out.s(" - too long, > ");
            out.u(length as u64);
            out.c(b']');
            return Ok(());
        }
        let length = length - hlen;
        if length > 0 || flags & (tcp::SYN | tcp::FIN | tcp::RST) != 0 {
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
        match app_for(sport, dport) {
            App::None => Ok(()),
            App::Http => {
                out.s(": ");
                self.http(out, payload, length)
            }
            App::Other => {
                self.limit(Coverage::UpToLength);
                Ok(())
            }
        }
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
        // LENCHECK(l): Err(Bad) when the option is shorter than l, Err(Trunc) when not captured.
        macro_rules! lencheck {
            ($l:expr) => {{
                let l: usize = $l;
                if l > hl {
                    return Ok(self.bad_opt(out, ch));
                }
                if need(data, cp + l).is_err() {
                    out.s(" [|tcp]");
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
                    if datalen % 8 != 0 {
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
                    // mptcp_print() is not implemented: the option's text differs.
                    self.limit(Coverage::Unsupported);
                    let _ = flags;
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

enum OptEnd {
    Done,
    Stop,
}

fn hlen_of(data: &[u8]) -> usize {
    data.get(12).map(|b| (b >> 4) as usize * 4).unwrap_or(0)
}

/// print_tcp_fastopen_option().
fn fastopen(out: &mut Vec<u8>, cookie: &[u8], exp: bool) {
    if exp {
        out.s("tfo");
    }
    if cookie.is_empty() {
        out.s(" cookiereq");
    } else if cookie.len() % 2 != 0 || cookie.len() < 4 || cookie.len() > 16 {
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
