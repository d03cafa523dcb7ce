//! `tracer`: install the stop signals' handlers, parse the command line, run, map errors to
//! exit status 1.

use std::{io::Write as _, process::ExitCode};

use anyhow::Context as _;
use clap::Parser as _;
use tracer::{
    capture::load::{Direction, Ingress},
    cli::{Cli, Command, StatArgs, StatesArgs},
    filter::{DLT_EN10MB, Filter},
    live::{self, LiveConfig},
    offline::{self, OfflineConfig},
    pcap::sink::Format,
    signals,
    states::{
        run::{self as states_run, StatesConfig},
        stat,
    },
};

fn main() -> ExitCode {
    // Before anything else, SIGINT and SIGTERM are caught (even when inherited as ignored, as
    // a shell's background job has SIGINT) and held until the run looks at them: one that
    // comes while the programs load and attach stops the tracer as it would in its main loop.
    if let Err(err) = signals::install() {
        eprintln!("tracer: {err}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = std::io::stdout().flush();
            eprintln!("tracer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// `tracer states`.
fn states(args: &StatesArgs) -> anyhow::Result<()> {
    let cfg = StatesConfig {
        filter: args.filter(),
        json: args.json,
        line_buffered: args.line_buffered,
        count: args.count,
        buffer_kib: args.buffer_kib,
        print: args.print_options(),
        alerts: !args.no_alerts,
        accept_owner: args.accept_owner,
    };
    let summary = states_run::run(cfg, |line| eprintln!("tracer: {line}"))?;
    eprint!("{}", summary.text());
    Ok(())
}

/// `tracer stat`.
fn stat(args: &StatArgs) -> anyhow::Result<()> {
    let cfg = args.config();
    let mut out = std::io::stdout().lock();
    if cfg.once {
        // One look at the table, done in milliseconds: a stop signal has nothing to cut short.
        signals::release();
        stat::run_once(&cfg, &mut out)?;
    } else {
        stat::run_live(&cfg, &mut out, &mut std::io::stderr())?;
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::States(args)) => return states(args),
        Some(Command::Stat(args)) => return stat(args),
        None => {}
    }
    if let Some(path) = &cli.read {
        let pcapng_name = cli
            .write
            .as_deref()
            .is_some_and(|w| Format::choose(w, false) == Format::PcapNg);
        if cli.rotation().active() || cli.pcapng || cli.packet_buffered || pcapng_name {
            anyhow::bail!(
                "-C, -G, -U and pcapng output (--pcapng, a .pcapng name) apply to live captures only, not with -r"
            );
        }
        let cfg = OfflineConfig {
            count: cli.count,
            write: cli.write.clone(),
            print_packets: cli.prints_packets(),
            line_buffered: cli.line_buffered,
            nano: cli.nano,
            print: cli.print_options(),
            coverage_report: cli.coverage_report.clone(),
            filter: cli.filter_source(),
        };
        // No kernel programs: signals are handled as they come; the reading loop looks at
        // the flag before every packet (one that came already stops it before the first).
        signals::release();
        offline::run(path, &cfg, |line| eprintln!("{line}"))?;
        return Ok(());
    }
    let cfg = LiveConfig {
        interfaces: cli.interfaces.clone(),
        snaplen: cli.snaplen(),
        count: cli.count,
        write: cli.write.clone(),
        print_packets: cli.prints_packets(),
        states: cli.states,
        line_buffered: cli.line_buffered,
        buffer_kib: cli.buffer_kib,
        nano: cli.nano,
        print: cli.print_options(),
        pcapng: cli.pcapng,
        packet_buffered: cli.packet_buffered,
        rotation: cli.rotation(),
        user: cli.user.clone(),
        // Compiled here for Ethernet so a bad expression fails before anything is loaded;
        // the capture recompiles it for the frames its interfaces carry.
        filter: match cli.filter_source().text()? {
            Some(expr) => Some(Filter::compile(&expr, DLT_EN10MB, cli.snaplen())?),
            None => None,
        },
        ingress: if cli.xdp { Ingress::Xdp } else { Ingress::Tcx },
        direction: cli.direction.unwrap_or(Direction::InOut),
    };
    let writing = cfg.write.is_some();
    let summary = runtime()?.block_on(live::run(
        cfg,
        |line| {
            // tcpdump prefixes its name when writing a file.
            if writing {
                eprintln!("tracer: {line}");
            } else {
                eprintln!("{line}");
            }
        },
        |line| eprintln!("tracer: {line}"),
    ))?;
    eprint!("{}", summary.text(cli.states));
    if cli.stats {
        eprint!("{}", summary.stats_text());
    }
    Ok(())
}
