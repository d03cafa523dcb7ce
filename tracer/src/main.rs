//! `tracer`: parse the command line, run, map errors to exit status 1.

use std::{io::Write as _, process::ExitCode};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use tracer::{
    cli::Cli,
    live::{self, LiveConfig},
    offline::{self, OfflineConfig},
};

fn main() -> ExitCode {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    if !cli.expression.is_empty() {
        bail!(
            "filter expressions are not supported yet (got `{}`); capture everything and filter the pcap instead",
            cli.expression.join(" ")
        );
    }
    if let Some(path) = &cli.read {
        let cfg = OfflineConfig {
            count: cli.count,
            write: cli.write.clone(),
            print_packets: cli.prints_packets(),
            line_buffered: cli.line_buffered,
            snaplen: cli.snaplen(),
            nano: cli.nano,
            print: cli.print_options(),
            coverage_report: cli.coverage_report.clone(),
        };
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
    };
    let writing = cfg.write.is_some();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let summary = runtime.block_on(live::run(cfg, |line| {
        // tcpdump prefixes its name when writing a file.
        if writing {
            eprintln!("tracer: {line}");
        } else {
            eprintln!("{line}");
        }
    }))?;
    eprint!("{}", summary.text(cli.states));
    Ok(())
}
