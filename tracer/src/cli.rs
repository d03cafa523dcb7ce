//! Command line: tcpdump's flags, with the same meaning.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::{
    capture::load::Direction,
    filter::ExpressionSource,
    pcap::rotate::{FILE_SIZE_UNIT, Rotation},
    print::{PrintOptions, TimeFormat},
    states::{
        diag::{DiagConfig, Severity, ThresholdSpec, state_number},
        run::Filter,
        stat::StatConfig,
    },
};

/// tcpdump's default snapshot length.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

#[derive(Debug, Parser)]
#[command(
    name = "tracer",
    version,
    about = "tcpdump-compatible TCP capture and socket-state tracing with eBPF",
    after_help = "Examples:\n  tracer -i eth0 -nn\n  tracer -i eth0 -w out.pcap\n  tracer -r out.pcap -S\n  tracer -i veth0 -nn --states --print -w demo.pcap\n  tracer states --port 80\n  tracer states --json --comm curl\n  tracer stat --once",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// `states` or `stat`; without one, tracer captures packets as tcpdump does.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Capture on this interface (repeatable; `any` = every interface that is up).
    /// Default: the first interface that is up and not loopback.
    #[arg(short = 'i', value_name = "IFACE", action = ArgAction::Append)]
    pub interfaces: Vec<String>,

    /// Write packets to a pcap file (`-` = standard output) instead of printing them.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// With -w: print the packets as well (on standard error with `-w -`).
    #[arg(long = "print")]
    pub print: bool,

    /// With -w: write each packet to the file at once (packet-buffered, for `-w - | tshark -r -`).
    #[arg(short = 'U', long = "packet-buffered")]
    pub packet_buffered: bool,

    /// With -w: before writing a packet, if the file is already larger than SIZE million bytes
    /// (1,000,000), close it and open the next: FILE, FILE1, FILE2 ... (see -W).
    #[arg(short = 'C', value_name = "SIZE", value_parser = parse_file_size, requires = "write")]
    pub file_size: Option<u64>,

    /// With -C: a ring of N files, FILE0 ... FILE<N-1> (zero-padded), then the first is
    /// overwritten. With -G alone: stop after N files.
    #[arg(short = 'W', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub file_count: Option<u32>,

    /// With -w: open a new file on the first packet SECONDS or more after the current one was
    /// opened; the -w name is expanded by strftime(3), e.g. -w 'cap-%H%M%S.pcap' (0 = off).
    #[arg(short = 'G', value_name = "SECONDS", requires = "write")]
    pub rotate_seconds: Option<u64>,

    /// Write pcapng (also chosen by a -w name ending in .pcapng): one interface block per
    /// capture interface, each packet's direction and, when known, its owning process.
    #[arg(long = "pcapng")]
    pub pcapng: bool,

    /// After the capture is set up (programs attached, rings mapped), switch to USER and drop
    /// every capability no longer needed, before opening the -w file (which USER then owns).
    #[arg(short = 'Z', long = "relinquish-privileges", value_name = "USER")]
    pub user: Option<String>,

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

    /// At exit, print per packet hook (ingress, egress) the packets seen, matched by the
    /// filter, copied, and dropped because the ring buffer was full.
    #[arg(long = "stats")]
    pub stats: bool,

    /// Capture only packets received (`in`), sent (`out`), or both (`inout`, the default).
    /// On loopback every packet counts as received, as with tcpdump.
    #[arg(short = 'Q', long = "direction", value_name = "in|out|inout", value_parser = parse_direction)]
    pub direction: Option<Direction>,

    /// See incoming packets with XDP (frames as the driver delivers them, before GRO) instead
    /// of TCX ingress (after GRO, where tcpdump sees them; cheaper on virtual interfaces).
    #[arg(long = "xdp")]
    pub xdp: bool,

    /// With -r: for each printed packet write a line to this file: one byte, `F` (printed in full),
    /// `L` (up to `length N` only) or `U` (unsupported protocol), then the number of lines printed
    /// for the packet (`F1`, `L3`). For the conformance runner (`cargo xtask conformance`).
    #[arg(long = "coverage-report", value_name = "FILE", hide = true, requires = "read")]
    pub coverage_report: Option<PathBuf>,

    /// Read the filter expression from this file (`#` starts a comment; as with tcpdump, the
    /// expression words on the command line are then ignored).
    #[arg(short = 'F', value_name = "FILE")]
    pub filter_file: Option<PathBuf>,

    /// Filter expression (pcap-filter syntax), e.g. `tcp port 80`, `host 10.0.0.1 and not arp`.
    #[arg(value_name = "EXPRESSION", trailing_var_arg = true)]
    pub expression: Vec<String>,
}

/// The socket-state commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace TCP state transitions (no packet capture): one line per transition with its
    /// owner, time in the old state and network namespace; TIME_WAIT and half-open
    /// connections included; a lifetime line when a connection ends; alerts.
    States(StatesArgs),
    /// Count the sockets in each TCP state, as `ss -tan` does, with per-state rates and alerts.
    Stat(StatArgs),
}

/// `tracer states` options.
#[derive(Debug, Args)]
#[command(
    after_help = "Filters can be repeated; values of one filter are alternatives, different filters must all match.\n\nExamples:\n  tracer states --port 80 --port 443\n  tracer states --json --state CLOSE_WAIT --comm python3"
)]
pub struct StatesArgs {
    /// Only transitions of connections with this local or remote port.
    #[arg(long, value_name = "PORT", action = ArgAction::Append)]
    pub port: Vec<u16>,
    /// Only transitions of sockets owned by this process.
    #[arg(long, value_name = "PID", action = ArgAction::Append)]
    pub pid: Vec<u32>,
    /// Only transitions of sockets owned by a process with this command name.
    #[arg(long, value_name = "COMM", action = ArgAction::Append)]
    pub comm: Vec<String>,
    /// Only transitions from or to this state (e.g. CLOSE_WAIT, time-wait, SYN_RECV).
    #[arg(long, value_name = "STATE", action = ArgAction::Append, value_parser = parse_state)]
    pub state: Vec<u8>,
    /// Only transitions in this network namespace (inode number, as `ls -Li /proc/PID/ns/net` shows).
    #[arg(long, value_name = "INODE", action = ArgAction::Append)]
    pub netns: Vec<u32>,
    /// JSON lines on standard output (alerts go to standard error).
    #[arg(long)]
    pub json: bool,
    /// Do not run the diagnoses (no alert lines).
    #[arg(long = "no-alerts")]
    pub no_alerts: bool,
    /// Name the process that accept()ed each connection even where fexit cannot load (then
    /// through syscalls:sys_exit_accept*, about 0.8 µs per accept). Without it an accepted
    /// socket is owned by its listener's process until then, which differs only for servers
    /// whose worker processes share one listening socket.
    #[arg(long = "accept-owner")]
    pub accept_owner: bool,
    /// Line-buffered output: flush after every line.
    #[arg(short = 'l')]
    pub line_buffered: bool,
    /// Exit after this many transitions.
    #[arg(short = 'c', value_name = "COUNT")]
    pub count: Option<u64>,
    /// Ring buffer size in KiB (default 8192).
    #[arg(short = 'B', value_name = "KiB")]
    pub buffer_kib: Option<u64>,
    /// Timestamps of text lines, as for packets: -t none, -tt epoch seconds, -ttt delta,
    /// -tttt date, -ttttt since first.
    #[arg(short = 't', action = ArgAction::Count)]
    pub time: u8,
    /// Nanosecond timestamps in text lines.
    #[arg(long = "nano")]
    pub nano: bool,
}

impl StatesArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            ports: self.port.clone(),
            pids: self.pid.clone(),
            comms: self.comm.clone(),
            states: self.state.clone(),
            netns: self.netns.clone(),
        }
    }

    /// Printer settings for the timestamps of text lines.
    pub fn print_options(&self) -> PrintOptions {
        PrintOptions {
            time: time_format(self.time),
            nano: self.nano,
            numeric: true,
            ..PrintOptions::default()
        }
    }
}

/// `tracer stat` options.
#[derive(Debug, Args, Default)]
#[command(
    after_help = "Thresholds: a count alone applies to every state, STATE=count to one (kernel or ss names, any case); a count at or over one marks the line.\n\nExamples:\n  tracer stat --once\n  tracer stat --warn 600 --critical 800 --warn CLOSE_WAIT=50\n  tracer stat --once --json"
)]
pub struct StatArgs {
    /// Print one snapshot of the kernel's socket table and exit (needs no BPF: works wherever ss does).
    #[arg(long)]
    pub once: bool,
    /// One JSON object per snapshot: counts by kernel state name, thresholds hit, alerts.
    #[arg(long)]
    pub json: bool,
    /// Mark a state's count as `warning` at this many sockets (default 600): COUNT or STATE=COUNT.
    #[arg(long, value_name = "[STATE=]COUNT", action = ArgAction::Append)]
    pub warn: Vec<ThresholdSpec>,
    /// Mark a state's count as `critical` at this many sockets (default 800): COUNT or STATE=COUNT.
    #[arg(long, value_name = "[STATE=]COUNT", action = ArgAction::Append)]
    pub critical: Vec<ThresholdSpec>,
    /// Live mode: exit after this many snapshots.
    #[arg(short = 'c', long, value_name = "COUNT", conflicts_with = "once")]
    pub count: Option<u64>,
}

impl StatArgs {
    /// What `stat` runs with: the thresholds over the diagnoses' defaults
    /// (all-state values first, then per-state ones, whatever their order).
    pub fn config(&self) -> StatConfig {
        let mut diag = DiagConfig::default();
        for (level, specs) in [(Severity::Warning, &self.warn), (Severity::Critical, &self.critical)] {
            for spec in specs
                .iter()
                .filter(|s| s.state.is_none())
                .chain(specs.iter().filter(|s| s.state.is_some()))
            {
                diag.thresholds.set(level, *spec);
            }
        }
        StatConfig {
            once: self.once,
            json: self.json,
            count: self.count,
            diag,
        }
    }
}

fn parse_state(s: &str) -> Result<u8, String> {
    state_number(s).ok_or_else(|| {
        format!(
            "unknown TCP state `{s}` (ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV)"
        )
    })
}

/// `-C SIZE`: millions of bytes (tcpdump's unit), as a byte count.
/// tcpdump's `-Q` values and its message for others.
fn parse_direction(s: &str) -> Result<Direction, String> {
    Direction::parse(s).ok_or_else(|| format!("unknown capture direction `{s}'"))
}

fn parse_file_size(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => n
            .checked_mul(FILE_SIZE_UNIT)
            .ok_or_else(|| format!("invalid file size {s}")),
        _ => Err(format!("invalid file size {s}")),
    }
}

/// `-t` counted as tcpdump counts it.
fn time_format(count: u8) -> TimeFormat {
    match count {
        0 => TimeFormat::Default,
        1 => TimeFormat::None,
        2 => TimeFormat::Epoch,
        3 => TimeFormat::Delta,
        4 => TimeFormat::DateTime,
        _ => TimeFormat::SinceFirst,
    }
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
            time: time_format(self.time),
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

    /// Where the filter expression comes from: `-F FILE`, else the trailing words.
    pub fn filter_source(&self) -> ExpressionSource {
        ExpressionSource::new(self.filter_file.clone(), &self.expression)
    }

    /// File rotation from -C, -W and -G.
    pub fn rotation(&self) -> Rotation {
        Rotation {
            file_size: self.file_size,
            files: self.file_count,
            seconds: self.rotate_seconds,
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
    fn stat_thresholds() {
        let cli = Cli::try_parse_from([
            "tracer",
            "stat",
            "--once",
            "--warn",
            "CLOSE_WAIT=50",
            "--warn",
            "600",
            "--critical",
            "time-wait=900",
        ])
        .unwrap();
        let Some(Command::Stat(a)) = &cli.command else {
            panic!("not stat: {cli:?}");
        };
        let cfg = a.config();
        assert!(cfg.once && !cfg.json);
        // The per-state value wins over the all-state one given after it.
        assert_eq!(cfg.diag.thresholds.get(8).warn, 50);
        assert_eq!(cfg.diag.thresholds.get(1).warn, 600);
        assert_eq!(cfg.diag.thresholds.get(6).critical, 900);
        assert_eq!(cfg.diag.thresholds.get(1).critical, 800);
        for bad in [
            &["stat", "--warn", "NOPE=1"][..],
            &["stat", "--critical", "0"],
            &["stat", "--once", "-c", "2"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("tracer").chain(bad.iter().copied())).is_err(),
                "{bad:?}"
            );
        }
    }

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
    fn subcommands_beside_tcpdump_flags() {
        let cli = Cli::try_parse_from(["tracer", "-i", "x", "-nn"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.interfaces, ["x"]);
        let cli = Cli::try_parse_from(["tracer", "-r", "f"]).unwrap();
        assert!(cli.command.is_none() && cli.read.is_some());
        // A filter expression is still a filter expression.
        let cli = Cli::try_parse_from(["tracer", "tcp", "port", "80"]).unwrap();
        assert_eq!(cli.expression, ["tcp", "port", "80"]);
        let cli = Cli::try_parse_from([
            "tracer",
            "states",
            "--port",
            "80",
            "--port",
            "443",
            "--pid",
            "5",
            "--comm",
            "curl",
            "--state",
            "close-wait",
            "--state",
            "TIME_WAIT",
            "--netns",
            "4026531840",
            "--json",
            "-l",
            "-c",
            "3",
        ])
        .unwrap();
        let Some(Command::States(a)) = &cli.command else {
            panic!("not states: {:?}", cli.command)
        };
        let f = a.filter();
        assert_eq!(f.ports, [80, 443]);
        assert_eq!(f.pids, [5]);
        assert_eq!(f.comms, ["curl"]);
        assert_eq!(f.states, [8, 6]);
        assert_eq!(f.netns, [4026531840]);
        assert!(a.json && a.line_buffered && !a.no_alerts);
        assert_eq!(a.count, Some(3));
        assert!(Cli::try_parse_from(["tracer", "states", "--state", "BOGUS"]).is_err());
        // After a capture flag, a word is part of the filter expression, as in tcpdump.
        let cli = Cli::try_parse_from(["tracer", "-i", "x", "states"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.expression, ["states"]);
        assert!(Cli::try_parse_from(["tracer", "states", "-i", "x"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["tracer", "stat"]).unwrap().command,
            Some(Command::Stat(_))
        ));
    }

    #[test]
    fn filter_file_wins_over_words() {
        let cli = Cli::try_parse_from(["tracer", "-r", "f", "-F", "expr.txt", "tcp"]).unwrap();
        assert_eq!(cli.filter_source(), ExpressionSource::File(PathBuf::from("expr.txt")));
        let cli = Cli::try_parse_from(["tracer", "-r", "f", "tcp", "port", "80"]).unwrap();
        assert_eq!(
            cli.filter_source(),
            ExpressionSource::Words(vec!["tcp".into(), "port".into(), "80".into()])
        );
    }

    #[test]
    fn capture_file_controls() {
        let cli = Cli::try_parse_from(["tracer", "-i", "x", "-w", "r", "-C", "1", "-W", "3", "-U", "icmp"]).unwrap();
        assert_eq!(
            cli.rotation(),
            Rotation {
                file_size: Some(1_000_000),
                files: Some(3),
                seconds: None
            }
        );
        assert!(cli.packet_buffered && !cli.pcapng);
        assert_eq!(cli.expression, ["icmp"]);
        let cli = Cli::try_parse_from(["tracer", "-w", "cap-%H%M%S.pcap", "-G", "1", "--pcapng"]).unwrap();
        assert_eq!(cli.rotation().seconds, Some(1));
        assert!(cli.pcapng);
        for bad in [
            &["-w", "r", "-C", "0"][..],
            &["-w", "r", "-C", "1k"],
            &["-w", "r", "-C", "99999999999999"],
            &["-w", "r", "-C", "1", "-W", "0"],
            &["-C", "1"],
            &["-G", "1"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("tracer").chain(bad.iter().copied())).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn read_excludes_interfaces() {
        assert!(Cli::try_parse_from(["tracer", "-r", "f", "-i", "eth0"]).is_err());
    }
}
