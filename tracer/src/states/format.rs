//! How a transition is printed: a text line (plus a `tcp-life` line when a
//! connection ends), or one JSON object per line for machines.

use std::{io::Write as _, net::IpAddr};

use super::model::{Owner, Transition, Tuple};
use crate::print::{
    Timestamp,
    out::{DIGITS2, Out as _, dot_micros},
};

// A line is some 25 pieces of a few bytes each. Appended through
// `extend_from_slice` with a run-time length, each costs a call to memcpy;
// state names, IPv4 addresses (`Out::ipv4`) and the milliseconds' fraction are appended as one
// fixed-size copy (a few register moves) and the length cut back
// (`cargo bench -p tracer --bench states`: a text line 15 % cheaper).

/// Appends the first `len` bytes of `chunk` (`len <= N`).
#[inline(always)]
fn put<const N: usize>(out: &mut Vec<u8>, chunk: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(chunk);
    out.truncate(at + len.min(N));
}

/// A state's name, with one 16-byte copy.
#[inline(always)]
fn state(out: &mut Vec<u8>, st: u8) {
    let (chunk, len) = super::state_name_padded(st);
    put(out, chunk, len);
}

fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn ip(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => out.ipv4(&v4.octets()),
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn write_tuple(out: &mut Vec<u8>, t: &Tuple) {
    out.extend_from_slice(if t.src.is_ipv4() { b"IP " } else { b"IP6 " });
    ip(out, t.src);
    out.push(b'.');
    int(out, t.sport);
    out.extend_from_slice(b" > ");
    ip(out, t.dst);
    out.push(b'.');
    int(out, t.dport);
    out.extend_from_slice(b": ");
}

fn write_owner(out: &mut Vec<u8>, t: &Transition) {
    out.extend_from_slice(b"pid ");
    match &t.owner {
        Some(o) => {
            int(out, o.pid);
            out.push(b' ');
            out.extend_from_slice(o.comm.as_bytes());
        }
        None => out.push(b'?'),
    }
}

/// A finite, non-negative number of milliseconds with three decimals
/// (rounded to the microsecond), without core::fmt.
fn millis(out: &mut Vec<u8>, v: f64) {
    // Half up (v is not negative), as round() but without the call.
    let us = (v * 1000.0 + 0.5) as u64;
    int(out, us / 1000);
    let frac = (us % 1000) as usize;
    let r = 2 * (frac % 100);
    out.extend_from_slice(&[b'.', b'0' + (frac / 100) as u8, DIGITS2[r], DIGITS2[r + 1]]);
}

/// `12.345 ms` (rounded to the microsecond), or `? ms`.
fn write_ms(out: &mut Vec<u8>, ms: Option<f64>) {
    match ms {
        Some(v) if v.is_finite() && v >= 0.0 => millis(out, v),
        Some(v) => {
            let _ = write!(out, "{v:.3}");
        }
        None => out.push(b'?'),
    }
    out.extend_from_slice(b" ms");
}

/// The parts of a transition's text that are the same on every line of its
/// socket: `IP SRC.SPORT > DST.DPORT: `, then `, pid PID COMM`, then
/// `, netns N` and the newline, in one buffer.
#[derive(Clone, Debug, Default)]
struct SocketText {
    text: Vec<u8>,
    /// Where the owner's part starts, and the namespace's.
    owner_at: usize,
    netns_at: usize,
}

impl SocketText {
    fn fill_text(&mut self, t: &Transition) {
        self.text.clear();
        write_tuple(&mut self.text, &t.tuple);
        self.owner_at = self.text.len();
        self.text.extend_from_slice(b", ");
        write_owner(&mut self.text, t);
        self.netns_at = self.text.len();
        self.text.extend_from_slice(b", netns ");
        int(&mut self.text, t.netns);
        self.text.push(b'\n');
    }

    /// The JSON parts: `,"family":…,"dport":N,"old":"`, then
    /// `,"pid":N,"comm":"…"`, then `,"netns":N`.
    fn fill_json(&mut self, t: &Transition) {
        let out = &mut self.text;
        out.clear();
        out.extend_from_slice(if t.tuple.src.is_ipv4() {
            b",\"family\":\"inet\",\"src\":\""
        } else {
            b",\"family\":\"inet6\",\"src\":\""
        });
        ip(out, t.tuple.src);
        out.extend_from_slice(b"\",\"sport\":");
        int(out, t.tuple.sport);
        out.extend_from_slice(b",\"dst\":\"");
        ip(out, t.tuple.dst);
        out.extend_from_slice(b"\",\"dport\":");
        int(out, t.tuple.dport);
        out.extend_from_slice(b",\"old\":\"");
        self.owner_at = out.len();
        match &t.owner {
            Some(o) => {
                out.extend_from_slice(b",\"pid\":");
                int(out, o.pid);
                out.extend_from_slice(b",\"comm\":");
                json_str(out, &o.comm);
            }
            None => out.extend_from_slice(b",\"pid\":null,\"comm\":null"),
        }
        self.netns_at = out.len();
        out.extend_from_slice(b",\"netns\":");
        int(out, t.netns);
    }

    fn tuple(&self) -> &[u8] {
        &self.text[..self.owner_at]
    }

    /// `, pid PID COMM, netns N` and the newline (JSON: `,"pid":…,"netns":N`).
    fn owner_netns(&self) -> &[u8] {
        &self.text[self.owner_at..]
    }

    fn owner(&self) -> &[u8] {
        &self.text[self.owner_at..self.netns_at]
    }
}

/// Assembles the line(s) of [`write_text`] from the socket's parts.
fn assemble(out: &mut Vec<u8>, prefix: &[u8], t: &Transition, sock: &SocketText) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(b"tcp-state ");
    out.extend_from_slice(sock.tuple());
    state(out, t.old);
    out.extend_from_slice(b" -> ");
    state(out, t.new);
    if t.derived {
        out.extend_from_slice(b" (derived)");
    }
    out.push(b' ');
    write_ms(out, t.ms_in_old);
    out.extend_from_slice(sock.owner_netns());
    if let Some(l) = &t.lifetime {
        out.extend_from_slice(prefix);
        out.extend_from_slice(b"tcp-life ");
        out.extend_from_slice(sock.tuple());
        write_ms(out, Some(l.duration_ms));
        out.extend_from_slice(b", handshake ");
        write_ms(out, l.handshake_ms);
        out.extend_from_slice(b", sent ");
        int(out, l.bytes_sent);
        out.extend_from_slice(b" B, received ");
        int(out, l.bytes_received);
        out.extend_from_slice(b" B, closed by ");
        out.extend_from_slice(l.closed_by.name().as_bytes());
        if l.syn_retransmits > 0 {
            out.extend_from_slice(b", ");
            int(out, l.syn_retransmits);
            out.extend_from_slice(b" SYN retransmits");
        }
        out.extend_from_slice(sock.owner());
        out.push(b'\n');
    }
}

/// Appends the text of a transition: `prefix` (the timestamp, written by the
/// caller in the printer's format) and
/// `tcp-state IP SRC.SPORT > DST.DPORT: OLD -> NEW[ (derived)] MS ms, pid PID COMM, netns N`,
/// then, when the connection ended, the same prefix and
/// `tcp-life IP ...: DURATION ms, handshake MS ms, sent N B, received N B, closed by WHO, pid PID COMM`.
/// Unknown values are printed as `?`. [`LineWriter`] does the same faster
/// for a stream of transitions.
pub fn write_text(out: &mut Vec<u8>, prefix: &[u8], t: &Transition) {
    let mut sock = SocketText::default();
    sock.fill_text(t);
    assemble(out, prefix, t, &sock);
}

/// Sockets whose line parts [`LineWriter`] keeps.
const LINE_CACHE: usize = 64;

/// [`write_text`] or [`write_json`] for a stream of transitions: the parts of
/// a line that are the same for all lines of a socket (addresses, owner,
/// namespace: half of a line's formatting) are formatted once and kept for
/// the sockets printed last, in a direct-mapped table. A connection prints
/// some six lines a side.
#[derive(Debug)]
pub struct LineWriter {
    json: bool,
    slots: Vec<Option<Cached>>,
}

/// A socket's line parts, and what they were made from.
#[derive(Clone, Debug)]
struct Cached {
    netns: u32,
    tuple: Tuple,
    owner: Option<Owner>,
    text: SocketText,
}

impl LineWriter {
    /// Text lines, or JSON lines.
    pub fn new(json: bool) -> LineWriter {
        LineWriter {
            json,
            slots: vec![None; LINE_CACHE],
        }
    }

    /// The line parts of `t`'s socket, formatted when not kept.
    fn parts(&mut self, t: &Transition) -> Option<&SocketText> {
        let at = (usize::from(t.tuple.sport) ^ usize::from(t.tuple.dport) << 3 ^ t.netns as usize) % LINE_CACHE;
        let slot = self.slots.get_mut(at)?;
        match slot {
            Some(c) if c.netns == t.netns && c.tuple == t.tuple && c.owner == t.owner => {}
            _ => {
                // The slot's buffer is reused.
                let mut text = slot.take().map(|c| c.text).unwrap_or_default();
                if self.json {
                    text.fill_json(t);
                } else {
                    text.fill_text(t);
                }
                *slot = Some(Cached {
                    netns: t.netns,
                    tuple: t.tuple,
                    owner: t.owner,
                    text,
                });
            }
        }
        slot.as_ref().map(|c| &c.text)
    }

    /// Appends `t`'s line(s): text after `prefix` (the timestamp), or JSON
    /// with `wall` as its time.
    pub fn write(&mut self, out: &mut Vec<u8>, prefix: &[u8], wall: Timestamp, t: &Transition) {
        let json = self.json;
        match self.parts(t) {
            Some(sock) if json => assemble_json(out, wall, t, sock),
            Some(sock) => assemble(out, prefix, t, sock),
            None => {}
        }
    }
}

/// A number of milliseconds with three decimals (to the microsecond), or
/// `null`; what is not a finite, non-negative number is `null` too.
fn json_ms(out: &mut Vec<u8>, ms: Option<f64>) {
    match ms {
        Some(v) if v.is_finite() && v >= 0.0 => millis(out, v),
        _ => out.extend_from_slice(b"null"),
    }
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..0x20 | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends one JSON object and a newline: the keys `time` (epoch seconds,
/// microsecond precision), `family` (`inet`/`inet6`), `src`, `sport`, `dst`,
/// `dport`, `old`, `new` (kernel state names), `ms_in_old`, `pid`, `comm`
/// (null when unknown), `netns`, `derived`, and `lifetime` when the
/// connection ended. Written by hand: it runs for every state change, and
/// serde_json took twice as long.
pub fn write_json(out: &mut Vec<u8>, wall: Timestamp, t: &Transition) {
    let mut sock = SocketText::default();
    sock.fill_json(t);
    assemble_json(out, wall, t, &sock);
}

/// Assembles the line of [`write_json`] from the socket's parts.
fn assemble_json(out: &mut Vec<u8>, wall: Timestamp, t: &Transition, sock: &SocketText) {
    out.extend_from_slice(b"{\"time\":");
    if wall.sec < 0 {
        out.push(b'-');
    }
    int(out, wall.sec.unsigned_abs());
    dot_micros(out, (wall.nsec / 1000).min(999_999) as u32);
    out.extend_from_slice(sock.tuple());
    state(out, t.old);
    out.extend_from_slice(b"\",\"new\":\"");
    state(out, t.new);
    out.extend_from_slice(b"\",\"ms_in_old\":");
    json_ms(out, t.ms_in_old);
    out.extend_from_slice(sock.owner_netns());
    out.extend_from_slice(if t.derived {
        b",\"derived\":true"
    } else {
        b",\"derived\":false"
    });
    if let Some(l) = &t.lifetime {
        out.extend_from_slice(b",\"lifetime\":{\"duration_ms\":");
        json_ms(out, Some(l.duration_ms));
        out.extend_from_slice(b",\"handshake_ms\":");
        json_ms(out, l.handshake_ms);
        out.extend_from_slice(b",\"bytes_sent\":");
        int(out, l.bytes_sent);
        out.extend_from_slice(b",\"bytes_received\":");
        int(out, l.bytes_received);
        out.extend_from_slice(b",\"closed_by\":\"");
        out.extend_from_slice(l.closed_by.name().as_bytes());
        out.extend_from_slice(b"\",\"syn_retransmits\":");
        int(out, l.syn_retransmits);
        out.push(b'}');
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::states::{
        model::{Closer, Comm, Lifetime, Owner, state},
        state_name,
    };

    fn transition() -> Transition {
        Transition {
            ts_ns: 1,
            netns: 4026531840,
            tuple: Tuple {
                src: Ipv4Addr::new(10, 0, 0, 1).into(),
                sport: 40000,
                dst: Ipv4Addr::new(10, 0, 0, 2).into(),
                dport: 80,
            },
            old: state::SYN_SENT,
            new: state::ESTABLISHED,
            ms_in_old: Some(0.1534),
            owner: Some(Owner {
                pid: 1234,
                comm: Comm::from("curl"),
            }),
            derived: false,
            lifetime: None,
        }
    }

    #[test]
    fn pieces_equal_core_fmt() {
        let mut numbers = vec![0u64, 1, 9, u64::from(u32::MAX), u64::MAX, 4026531840];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            numbers.extend([p - 1, p, p + 1]);
            p = next;
        }
        numbers.extend([p - 1, p, p + 1]);
        for n in numbers {
            let mut out = b"x".to_vec();
            int(&mut out, n);
            assert_eq!(out, format!("x{n}").as_bytes());
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = Ipv4Addr::from(if i < 256 { i * 0x0101_0101 } else { x as u32 });
            let mut out = Vec::new();
            ip(&mut out, a.into());
            assert_eq!(out, a.to_string().as_bytes());
            let ms = (x % 10_000_000) as f64 / 1000.0;
            out.clear();
            millis(&mut out, ms);
            assert_eq!(out, format!("{ms:.3}").as_bytes(), "{ms}");
            out.clear();
            millis(&mut out, ms + 0.0004);
            assert_eq!(out, format!("{:.3}", ms).as_bytes(), "{ms} + 0.0004");
        }
        let mut out = Vec::new();
        for st in 0..=255 {
            out.clear();
            state(&mut out, st);
            assert_eq!(out, state_name(st).as_bytes());
        }
    }

    #[test]
    fn line_writer_equals_write_text_and_json() {
        let (mut w, mut wj) = (LineWriter::new(false), LineWriter::new(true));
        let (mut a, mut b, mut aj, mut bj) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let wall = Timestamp { sec: 5, nsec: 7_000 };
        let mut t = transition();
        for i in 0..500u32 {
            // Sockets that share a slot, owners that change, lifetimes.
            t.tuple.sport = 40000 + (i % 7) as u16 * 64;
            t.netns = 4026531840 + i % 3;
            t.owner = (i % 5 != 0).then(|| Owner {
                pid: 1000 + i % 4,
                comm: Comm::from(if i % 2 == 0 { "curl" } else { "python3" }),
            });
            t.lifetime = (i % 6 == 0).then_some(Lifetime {
                duration_ms: f64::from(i),
                handshake_ms: None,
                bytes_sent: u64::from(i),
                bytes_received: 7,
                closed_by: Closer::Remote,
                syn_retransmits: i % 2,
            });
            write_text(&mut a, b"12:00:00.000001 ", &t);
            w.write(&mut b, b"12:00:00.000001 ", wall, &t);
            write_json(&mut aj, wall, &t);
            wj.write(&mut bj, b"", wall, &t);
        }
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        assert_eq!(String::from_utf8_lossy(&aj), String::from_utf8_lossy(&bj));
    }

    #[test]
    fn text_lines() {
        let mut out = Vec::new();
        let mut t = transition();
        write_text(&mut out, b"12:00:00.000001 ", &t);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "12:00:00.000001 tcp-state IP 10.0.0.1.40000 > 10.0.0.2.80: SYN_SENT -> ESTABLISHED 0.153 ms, pid 1234 curl, netns 4026531840\n"
        );
        t.old = state::FIN_WAIT2;
        t.new = state::TIME_WAIT;
        t.derived = true;
        t.ms_in_old = None;
        t.owner = None;
        t.tuple.src = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into();
        t.tuple.dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into();
        t.lifetime = Some(Lifetime {
            duration_ms: 12.3454,
            handshake_ms: Some(0.153),
            bytes_sent: 78,
            bytes_received: 3456,
            closed_by: Closer::Local,
            syn_retransmits: 0,
        });
        out.clear();
        write_text(&mut out, b"", &t);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "tcp-state IP6 fd00::1.40000 > fd00::2.80: FIN_WAIT2 -> TIME_WAIT (derived) ? ms, pid ?, netns 4026531840\n\
             tcp-life IP6 fd00::1.40000 > fd00::2.80: 12.345 ms, handshake 0.153 ms, sent 78 B, received 3456 B, closed by local, pid ?\n"
        );
    }

    #[test]
    fn json_lines_have_the_keys() {
        let mut out = Vec::new();
        let mut t = transition();
        let wall = Timestamp {
            sec: 1_700_000_000,
            nsec: 123_456_789,
        };
        write_json(&mut out, wall, &t);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = [
            "time",
            "family",
            "src",
            "sport",
            "dst",
            "dport",
            "old",
            "new",
            "ms_in_old",
            "pid",
            "comm",
            "netns",
            "derived",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["time"].as_f64(), Some(1_700_000_000.123456));
        assert!(String::from_utf8_lossy(&out).contains("\"time\":1700000000.123456,"));
        assert_eq!(v["family"], "inet");
        assert_eq!(v["src"], "10.0.0.1");
        assert_eq!(v["sport"], 40000);
        assert_eq!(v["old"], "SYN_SENT");
        assert_eq!(v["new"], "ESTABLISHED");
        assert_eq!(v["ms_in_old"].as_f64(), Some(0.153));
        assert_eq!(v["pid"], 1234);
        assert_eq!(v["comm"], "curl");
        assert_eq!(v["netns"], 4026531840u32);
        assert_eq!(v["derived"], false);
        assert_eq!(out.last(), Some(&b'\n'));

        t.owner = None;
        t.ms_in_old = None;
        t.new = state::CLOSE;
        t.lifetime = Some(Lifetime {
            duration_ms: 1.0,
            handshake_ms: None,
            bytes_sent: 0,
            bytes_received: 0,
            closed_by: Closer::Refused,
            syn_retransmits: 2,
        });
        out.clear();
        write_json(&mut out, wall, &t);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["pid"].is_null() && v["comm"].is_null() && v["ms_in_old"].is_null());
        assert_eq!(v["lifetime"]["closed_by"], "refused");
        assert!(v["lifetime"]["handshake_ms"].is_null());
        assert_eq!(v["lifetime"]["syn_retransmits"], 2);
    }

    #[test]
    fn json_escapes_commands_and_keeps_numbers_valid() {
        let mut t = transition();
        t.owner = Some(Owner {
            pid: 7,
            comm: Comm::from("a\"b\\c\u{1}d é"),
        });
        t.ms_in_old = Some(f64::NAN);
        t.tuple.src = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into();
        t.tuple.dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into();
        t.lifetime = Some(Lifetime {
            duration_ms: 2.0005,
            handshake_ms: Some(0.0),
            bytes_sent: 1,
            bytes_received: 2,
            closed_by: Closer::Both,
            syn_retransmits: 0,
        });
        let mut out = Vec::new();
        write_json(&mut out, Timestamp { sec: 5, nsec: 7_000 }, &t);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["comm"], "a\"b\\c\u{1}d é");
        assert!(v["ms_in_old"].is_null());
        assert_eq!(v["family"], "inet6");
        assert_eq!(v["src"], "fd00::1");
        assert_eq!(v["time"].as_f64(), Some(5.000007));
        assert_eq!(v["lifetime"]["duration_ms"].as_f64(), Some(2.001));
        assert_eq!(v["lifetime"]["handshake_ms"].as_f64(), Some(0.0));
        assert_eq!(v["lifetime"]["closed_by"], "both");
    }
}
