//! `tracer-xdp-cost`: what the XDP program costs per packet with a capture filter, as the
//! kernel measures it (`BPF_PROG_TEST_RUN` with a repeat count). Used by `cargo xtask bench`;
//! needs root.
//!
//! ```text
//! tracer-xdp-cost [--repeat N] [--filter EXPRESSION] HEX...
//! ```
//!
//! Loads the kernel programs with the expression compiled for Ethernet (no filter without
//! `--filter`), runs the XDP program `N` times over each packet (an Ethernet frame in hex) and
//! prints one line per packet:
//! `ns=MEDIAN min=MIN matched=M copied=C lost=L runs=N`: the median and the least of the mean
//! times of batches of runs, M/C/L from the program's own counters (the packet ring is
//! drained between batches, so a matching packet is copied every time).

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use tracer::{
    capture::{
        counters::Counters,
        filter::KernelFilter,
        load::{LoadOptions, Programs, ring_size},
        proginfo, testrun,
    },
    filter::{DLT_EN10MB, Filter},
};
use tracer_common::{MAX_SNAPLEN, names};

/// Runs per BPF_PROG_TEST_RUN call: small enough for the ring to hold every copy.
const BATCH: u32 = 10_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracer-xdp-cost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut repeat: u32 = 1_000_000;
    let mut expression: Option<String> = None;
    let mut packets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => repeat = args.next().context("--repeat N")?.parse().context("--repeat N")?,
            "--filter" => expression = Some(args.next().context("--filter EXPRESSION")?),
            hex => packets.push(parse_hex(hex).with_context(|| format!("packet `{hex}`"))?),
        }
    }
    if packets.is_empty() {
        bail!("usage: tracer-xdp-cost [--repeat N] [--filter EXPRESSION] HEX...");
    }
    let filter = match expression.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(e) => Some(KernelFilter::translate(
            e,
            Filter::compile(e, DLT_EN10MB, MAX_SNAPLEN)?.insns(),
        )?),
        None => None,
    };
    let mut programs = Programs::load_with_filter(
        &LoadOptions {
            snaplen: MAX_SNAPLEN,
            packet_ring_bytes: ring_size(64 << 20),
            state_ring_bytes: ring_size(1 << 18),
            sockets: false,
        },
        filter.as_ref(),
    )?;
    let mut ring = programs.take_ring(names::PACKETS)?;
    let counters = programs.take_counters()?;
    let prog = programs.loaded_xdp()?;
    let verified = proginfo::verified_insns(prog).context("reading the program's info")?;
    eprintln!("tracer-xdp-cost: the verifier processed {verified} instructions");
    for packet in &packets {
        let before = Counters::read(&counters)?;
        let mut batches = Vec::new();
        let mut runs = 0u32;
        while runs < repeat {
            let n = BATCH.min(repeat - runs);
            let r = testrun::run(prog, packet, n).context("BPF_PROG_TEST_RUN")?;
            if r.retval != 2 {
                bail!("the XDP program returned {} instead of XDP_PASS", r.retval);
            }
            batches.push(r.ns_per_run);
            runs += n;
            while ring.next().is_some() {}
        }
        let after = Counters::read(&counters)?;
        batches.sort_unstable();
        // The median batch, and the quickest: other work on the machine (its other CPU, the
        // hypervisor) only ever adds time, so the minimum is the steadiest figure.
        println!(
            "ns={} min={} matched={} copied={} lost={} runs={runs}",
            batches[batches.len() / 2],
            batches[0],
            after.xdp_matched - before.xdp_matched,
            after.xdp_copied - before.xdp_copied,
            after.xdp_lost - before.xdp_lost,
        );
    }
    Ok(())
}

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    if !s.is_ascii() || !s.len().is_multiple_of(2) {
        bail!("not an even number of hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("not hex"))
        .collect()
}
