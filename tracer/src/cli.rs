//! Command line: tcpdump's flags, with the same meaning.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::print::{PrintOptions, TimeFormat};

/// tcpdump's default snapshot length.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

#[derive(Debug, Parser)]
#[command(
    name = "tracer",
    version,
    about = "tcpdump-compatible TCP capture and socket-state tracing with eBPF",
    after_help = "Examples:\n  tracer -i eth0 -nn\n  tracer -i eth0 -w out.pcap\n  tracer -r out.pcap -S\n  tracer -i veth0 -nn --states --print -w demo.pcap"
)]
pub struct Cli {
    /// Capture on this interface (repeatable; `any` = every interface that is up).
    /// Default: the first interface that is up and not loopback.
    #[arg(short = 'i', value_name = "IFACE", action = ArgAction::Append)]
    pub interfaces: Vec<String>,

    /// Write packets to a pcap file (`-` = standard output) instead of printing them.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// With -w: print the packets as well.
    #[arg(long = "print")]
    pub print: bool,

    /// Read packets from a pcap or pcapng file (`-` = standard input).
    #[arg(short = 'r', value_name = "FILE", conflicts_with_all = ["interfaces", "states"])]
    pub read: Option<PathBuf>,

    /// Exit after this many packets.
    #[arg(short = 'c', value_name = "COUNT")]
    pub count: Option<u64>,

    /// Do not convert addresses and ports to names (-n and -nn are the same).
    #[arg(short = 'n', action = ArgAction::Count)]
    pub numeric: u8,

    /// Print absolute TCP sequence numbers.
    #[arg(short = 'S')]
    pub absolute_seq: bool,

    /// Snapshot length: bytes captured per packet (0 = default, 262144).
    #[arg(short = 's', value_name = "SNAPLEN")]
    pub snaplen: Option<u32>,

    /// Line-buffered output: flush after every packet.
    #[arg(short = 'l')]
    pub line_buffered: bool,

    /// Ring buffer size in KiB (like tcpdump's operating-system capture buffer).
    #[arg(short = 'B', value_name = "KiB")]
    pub buffer_kib: Option<u64>,

    /// Timestamps: -t none, -tt epoch seconds, -ttt delta, -tttt date, -ttttt since first.
    #[arg(short = 't', action = ArgAction::Count)]
    pub time: u8,

    /// Nanosecond timestamps (printed and written).
    #[arg(long = "nano")]
    pub nano: bool,

    /// Verbose: -v IP header details and checksums, -vv more, -vvv more still.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,

    /// Print the link-level header on each line.
    #[arg(short = 'e')]
    pub link_header: bool,

    /// Quick output: less protocol information.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Number the packets.
    #[arg(short = '#', long = "number")]
    pub number: bool,

    /// Hex dump of each packet (-xx: including the link header).
    #[arg(short = 'x', action = ArgAction::Count)]
    pub hex: u8,

    /// Hex and ASCII dump of each packet (-XX: including the link header).
    #[arg(short = 'X', action = ArgAction::Count)]
    pub hex_ascii: u8,

    /// ASCII dump of each packet (-AA: including the link header).
    #[arg(short = 'A', action = ArgAction::Count)]
    pub ascii: u8,

    /// Interleave one line per TCP state change (sock:inet_sock_set_state).
    #[arg(long = "states")]
    pub states: bool,

    /// With -r: for each printed packet write a line to this file: one byte, `F` (printed in full),
    /// `L` (up to `length N` only) or `U` (unsupported protocol), then the number of lines printed
    /// for the packet (`F1`, `L3`). For the conformance runner (`cargo xtask conformance`).
    #[arg(long = "coverage-report", value_name = "FILE", hide = true, requires = "read")]
    pub coverage_report: Option<PathBuf>,

    /// Filter expression (pcap-filter syntax).
    #[arg(value_name = "EXPRESSION", trailing_var_arg = true)]
    pub expression: Vec<String>,
}

impl Cli {
    /// The snap length as tcpdump understands `-s`.
    pub fn snaplen(&self) -> u32 {
        match self.snaplen {
            None | Some(0) => DEFAULT_SNAPLEN,
            Some(n) => n,
        }
    }

    /// Printer settings from the flags.
    pub fn print_options(&self) -> PrintOptions {
        PrintOptions {
            absolute_seq: self.absolute_seq,
            time: match self.time {
                0 => TimeFormat::Default,
                1 => TimeFormat::None,
                2 => TimeFormat::Epoch,
                3 => TimeFormat::Delta,
                4 => TimeFormat::DateTime,
                _ => TimeFormat::SinceFirst,
            },
            nano: self.nano,
            numeric: self.numeric > 0,
            verbose: self.verbose,
            link_header: self.link_header,
            quiet: self.quiet,
            number: self.number,
            hex: self.hex,
            hex_ascii: self.hex_ascii,
            ascii: self.ascii,
        }
    }

    /// Whether packet lines go to standard output.
    pub fn prints_packets(&self) -> bool {
        self.write.is_none() || self.print
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpdump_style_flags() {
        let cli =
            Cli::try_parse_from(["tracer", "-i", "a", "-i", "b", "-nn", "-S", "-c", "5", "-w", "x.pcap"]).unwrap();
        assert_eq!(cli.interfaces, ["a", "b"]);
        assert_eq!(cli.numeric, 2);
        assert!(cli.absolute_seq);
        assert_eq!(cli.count, Some(5));
        assert!(!cli.prints_packets());
        let cli = Cli::try_parse_from(["tracer", "-tttt", "-s", "0", "port", "80"]).unwrap();
        assert_eq!(cli.print_options().time, TimeFormat::DateTime);
        assert_eq!(cli.snaplen(), DEFAULT_SNAPLEN);
        assert_eq!(cli.expression, ["port", "80"]);
        let o = Cli::try_parse_from(["tracer", "-vv", "-e", "-XX", "-#", "-q", "-A", "-r", "f"])
            .unwrap()
            .print_options();
        assert_eq!(
            (o.verbose, o.link_header, o.hex_ascii, o.number, o.quiet, o.ascii),
            (2, true, 2, true, true, 1)
        );
        assert!(!o.numeric);
    }

    #[test]
    fn coverage_report_needs_read() {
        let cli = Cli::try_parse_from(["tracer", "-r", "f", "--coverage-report", "c"]).unwrap();
        assert_eq!(cli.coverage_report, Some(PathBuf::from("c")));
        assert!(Cli::try_parse_from(["tracer", "--coverage-report", "c"]).is_err());
    }

    #[test]
    fn read_excludes_interfaces() {
        assert!(Cli::try_parse_from(["tracer", "-r", "f", "-i", "eth0"]).is_err());
    }
}
