//! One printer per protocol, tcpdump 4.99.3 output.
//!
//! [`Printer::print`] writes exactly the line(s) `tcpdump -nn` writes for a packet. Each
//! protocol printer mirrors one of tcpdump's `print-*.c` files: it names the layer it is in
//! (`self.proto`) and reads fields through checked accessors. Where the capture runs out it
//! does what tcpdump does there: for a GET_* macro or an ND_TCHECK in a function without a
//! `trunc:` label (tcpdump's longjmp) it returns [`Trunc`] and the top level appends
//! ` [|proto]`; for a `goto trunc` that prints and returns (nd_print_trunc) it calls
//! [`Printer::trunc_here`] and returns Ok, so the enclosing layers finish normally. The two
//! print the same text; they differ in where `-x`/`-X`/`-A` start their dump.

mod arp;
mod dns;
mod hex;
mod http;
mod icmp;
mod icmp6;
mod ip;
mod ip6;
mod link;
mod llc;
mod names;
pub(crate) mod out;
mod tcp;
mod time;
mod udp;

use std::collections::HashMap;

pub use link::linktype_description;
use out::Out;

/// Wall-clock time of a packet, UNIX epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub sec: i64,
    /// Nanoseconds; normally in 0..10^9, but a capture file's fields are kept as libpcap hands
    /// them to tcpdump (`long`s, neither normalised nor clamped): tcpdump prints a corrupt
    /// `1234567` microseconds as `.1234567`, and a nanosecond field with bit 31 set in a file of
    /// the host's byte order as a negative number seen through `%09u`.
    pub nsec: i64,
}

impl Timestamp {
    /// The sub-second field as libpcap hands it to tcpdump (`tv_usec`): nanoseconds with
    /// `--nano`, otherwise microseconds, truncated toward zero as C divides (a nanosecond
    /// file's field / 1000; a microsecond file's field exactly).
    pub fn frac(self, nano: bool) -> i64 {
        if nano { self.nsec } else { self.nsec / 1000 }
    }
}

/// How the time stamp at the start of each line is written (`-t` … `-ttttt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// `HH:MM:SS.uuuuuu`, local time.
    #[default]
    Default,
    /// `-t`: no time stamp.
    None,
    /// `-tt`: seconds since the epoch.
    Epoch,
    /// `-ttt`: delta from the previous packet.
    Delta,
    /// `-tttt`: date and local time.
    DateTime,
    /// `-ttttt`: delta from the first packet.
    SinceFirst,
}

/// Output options, tcpdump's defaults by `Default`.
#[derive(Clone, Debug, Default)]
pub struct PrintOptions {
    /// `-S`: absolute TCP sequence numbers.
    pub absolute_seq: bool,
    pub time: TimeFormat,
    /// `--nano`: nine fractional digits.
    pub nano: bool,
    /// `-n`: print addresses and ports as numbers (no /etc/services, no host look-ups).
    pub numeric: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-e`: print the link-level header.
    pub link_header: bool,
    /// `-q`: quick (less protocol information).
    pub quiet: bool,
    /// `-#`: number the packets.
    pub number: bool,
    /// `-x` count: hex dump (from the network header; 2 = from the link header).
    pub hex: u8,
    /// `-X` count: hex and ASCII dump (2 = from the link header).
    pub hex_ascii: u8,
    /// `-A` count: ASCII dump (2 = from the link header).
    pub ascii: u8,
}

/// The link-layer header types the printer decodes (pcap LINKTYPE_* values).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW as some platforms number it in live captures.
    pub const DLT_RAW_12: u32 = 12;
    pub const DLT_RAW_14: u32 = 14;
    pub const LOOP: u32 = 108;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// How much of the last packet's line this printer renders the way tcpdump does.
///
/// Used by the conformance tests to separate what we claim from what is out of scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The whole line.
    Full,
    /// Everything up to and including `length N`; tcpdump decodes an application protocol
    /// after that which we do not.
    UpToLength,
    /// A protocol we do not decode (the line is a best effort).
    Unsupported,
}

/// The capture ran out in the middle of a field (tcpdump's longjmp to `trunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trunc;

pub(crate) type PResult = Result<(), Trunc>;

pub(crate) fn need(buf: &[u8], len: usize) -> PResult {
    if buf.len() < len { Err(Trunc) } else { Ok(()) }
}

/// libpcap's MAXIMUM_SNAPLEN.
const MAX_SNAPLEN: u32 = 262_144;

/// pretty_print_packet()'s sanity checks of the record header: tcpdump prints
/// `[Invalid header: ...]` instead of the packet (and without a time stamp).
fn invalid_header(out: &mut Vec<u8>, caplen: usize, len: u32) -> bool {
    let caplen = caplen as u64;
    let mut invalid = false;
    let item = |out: &mut Vec<u8>, invalid: &mut bool| {
        if *invalid {
            out.c(b',');
        } else {
            out.s("[Invalid header:");
            *invalid = true;
        }
    };
    if caplen == 0 {
        invalid = true;
        out.s("[Invalid header: caplen==0");
    }
    if len == 0 {
        item(out, &mut invalid);
        out.s(" len==0");
    } else if (len as u64) < caplen {
        item(out, &mut invalid);
        out.s(" len(");
        out.u(len as u64);
        out.s(") < caplen(");
        out.u(caplen);
        out.c(b')');
    }
    if caplen > MAX_SNAPLEN as u64 {
        item(out, &mut invalid);
        out.s(" caplen(");
        out.u(caplen);
        out.s(") > 262144");
    }
    if len > MAX_SNAPLEN {
        item(out, &mut invalid);
        out.s(" len(");
        out.u(len as u64);
        out.s(") > 262144");
    }
    if invalid {
        out.s("]\n");
    }
    invalid
}

/// Prints packets as tcpdump does; holds the state that spans packets (relative TCP sequence
/// bases, time stamp references, interface names).
pub struct Printer {
    opts: PrintOptions,
    clock: time::Clock,
    tcp_seq: tcp::SeqTable,
    names: names::Names,
    ifnames: HashMap<u32, String>,
    /// Current protocol name for the truncation marker.
    proto: &'static str,
    coverage: Coverage,
    /// Reused buffer for printers that format a field before deciding to print it.
    scratch: Vec<u8>,
    /// Packets seen so far (`-#` numbers them from 1, invalid records included).
    count: u32,
}

impl Printer {
    pub fn new(opts: PrintOptions) -> Printer {
        Printer {
            clock: time::Clock::default(),
            tcp_seq: tcp::SeqTable::default(),
            names: names::Names::new(opts.numeric),
            ifnames: HashMap::new(),
            proto: "",
            coverage: Coverage::Full,
            scratch: Vec::new(),
            count: 0,
            opts,
        }
    }

    /// Interface names for Linux SLL2 captures (ifindex → name), used when printing SLL2 lines
    /// as tcpdump -i any does ("eth0  In  IP ...").
    pub fn set_interface_name(&mut self, ifindex: u32, name: &str) {
        self.ifnames.insert(ifindex, name.to_owned());
    }

    /// Appends exactly what tcpdump prints for this packet (one or more lines, each ending in
    /// '\n') to `out`. Never panics, whatever the bytes.
    ///
    /// Mirrors pretty_print_packet(): the `-#` number, the record sanity checks, the time stamp,
    /// the link-layer printer, then the `-x`/`-X`/`-A` dump of the captured bytes.
    pub fn print(&mut self, out: &mut Vec<u8>, ts: Timestamp, linktype: u32, data: &[u8], orig_len: u32) {
        self.coverage = Coverage::Full;
        self.proto = "";
        self.count = self.count.wrapping_add(1);
        if self.opts.number {
            // "%5u  "
            let n = self.count as u64;
            let digits = n.checked_ilog10().unwrap_or(0) + 1;
            for _ in digits..5 {
                out.c(b' ');
            }
            out.u(n);
            out.s("  ");
        }
        if invalid_header(out, data.len(), orig_len) {
            return;
        }
        self.clock.write(out, ts, self.opts.time, self.opts.nano);
        // The link-layer header length, as tcpdump's printers report it when they return; after
        // a longjmp for a truncated capture it is 0, so `-x` then dumps the whole packet.
        let hdrlen = match self.link(out, linktype, data, orig_len) {
            Ok(n) => n,
            Err(Trunc) => {
                out.s(" [|");
                out.s(self.proto);
                out.c(b']');
                0
            }
        };
        self.dump(out, data, hdrlen);
        out.c(b'\n');
    }

    /// The raw dump `-x`/`-xx`, `-X`/`-XX` or `-A`/`-AA` asks for (in that order of precedence),
    /// from the network header, or from the link header when the flag is doubled.
    fn dump(&mut self, out: &mut Vec<u8>, data: &[u8], hdrlen: usize) {
        let o = &self.opts;
        let (level, kind) = if o.hex_ascii > 0 {
            (o.hex_ascii, 0)
        } else if o.hex > 0 {
            (o.hex, 1)
        } else if o.ascii > 0 {
            (o.ascii, 2)
        } else {
            return;
        };
        let bytes = if level > 1 {
            data
        } else {
            match data.get(hdrlen..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => return,
            }
        };
        match kind {
            0 => {
                hex::hex_and_ascii(out, "\n\t", bytes, bytes.len());
            }
            1 => hex::hex(out, "\n\t", bytes),
            _ => hex::ascii(out, bytes),
        }
    }

    /// nd_print_trunc() followed by a normal return (tcpdump's `goto trunc`, as opposed to the
    /// longjmp of a GET_* macro, which is `Err(Trunc)`): writes ` [|proto]`; the caller then
    /// returns Ok, so the enclosing layers finish as tcpdump's do (and `-x` skips the link
    /// header).
    pub(crate) fn trunc_here(&mut self, out: &mut Vec<u8>) {
        out.s(" [|");
        out.s(self.proto);
        out.c(b']');
    }

    /// tcpdump's ndo_suppress_default_print: `-x`, `-X` and `-q` turn off the hex dump of
    /// payloads no printer decodes.
    pub(crate) fn suppress_default_print(&self) -> bool {
        self.opts.hex > 0 || self.opts.hex_ascii > 0 || self.opts.quiet
    }

    /// Writes only the time stamp prefix (with its trailing space) in the configured format,
    /// for lines that are not packets (e.g. socket-state events).
    pub fn write_timestamp(&mut self, out: &mut Vec<u8>, ts: Timestamp) {
        self.clock.write(out, ts, self.opts.time, self.opts.nano);
    }

    /// What the last `print` call rendered faithfully (for conformance accounting).
    pub fn last_coverage(&self) -> Coverage {
        self.coverage
    }

    /// Marks the current packet as only partly in scope (never upgrades).
    pub(crate) fn limit(&mut self, c: Coverage) {
        use Coverage::*;
        self.coverage = match (self.coverage, c) {
            (Unsupported, _) | (_, Unsupported) => Unsupported,
            (UpToLength, _) | (_, UpToLength) => UpToLength,
            _ => Full,
        };
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Prints one packet with TZ-independent epoch-free output (`-t`).
    pub fn line(p: &mut Printer, linktype: u32, data: &[u8]) -> String {
        let mut out = Vec::new();
        p.print(&mut out, Timestamp::default(), linktype, data, data.len() as u32);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Prints only the first `caplen` bytes of a frame whose wire length is `data.len()`.
    pub fn line_cut(p: &mut Printer, linktype: u32, data: &[u8], caplen: usize) -> String {
        let mut out = Vec::new();
        p.print(
            &mut out,
            Timestamp::default(),
            linktype,
            &data[..caplen],
            data.len() as u32,
        );
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn printer() -> Printer {
        Printer::new(PrintOptions {
            time: TimeFormat::None,
            numeric: true,
            ..Default::default()
        })
    }

    /// Ethernet + IPv4 header around `l4`.
    pub fn eth_ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12] = 0x08;
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn never_panics_on_prefixes_of_garbage() {
        let mut p = printer();
        let mut data = vec![0u8; 0];
        let mut x: u32 = 12345;
        for len in 0..200 {
            for lt in [0, 1, 12, 101, 108, 113, 228, 229, 276, 9999] {
                data.clear();
                for _ in 0..len {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    data.push((x >> 16) as u8);
                }
                let mut out = Vec::new();
                p.print(&mut out, Timestamp::default(), lt, &data, len as u32 + 7);
                assert!(out.ends_with(b"\n"));
            }
        }
    }

    #[test]
    fn unknown_linktype_is_reported() {
        let mut p = printer();
        assert_eq!(
            line(&mut p, 4242, &[1, 2, 3]),
            "UNSUPPORTED\n\t0x0000:  0102 03                                  ...\n"
        );
        assert_eq!(p.last_coverage(), Coverage::Unsupported);
    }
}
