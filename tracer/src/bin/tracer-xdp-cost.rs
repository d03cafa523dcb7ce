//! `tracer-xdp-cost`: what the ingress packet programs (XDP, TC ingress) cost per packet with
//! a capture filter, as the kernel measures it (`BPF_PROG_TEST_RUN` with a repeat count), and
//! what the verifier did to accept each packet program. Used by `cargo xtask bench`; needs
//! root.
//!
//! ```text
//! tracer-xdp-cost [--repeat N] [--filter EXPRESSION [--floor] | --reject-all] [--hook xdp|tc-ingress]... HEX...
//! ```
//!
//! Loads the kernel programs with the expression compiled for Ethernet (no filter without
//! `--filter`; `--reject-all`: the one-instruction classic program `ret #0`, which rejects
//! every packet at its first instruction, and which libpcap refuses to compile from an
//! expression), and prints:
//! - `classic insns=N` with a filter: its classic instructions;
//! - `verified program=NAME insns=N` for each packet program (XDP, TC ingress, TC egress):
//!   the instructions the verifier processed to accept it;
//! - for each hook (both ingress hooks unless `--hook` names some) and each packet (an
//!   Ethernet frame in hex), one line, the hook's program run `N` times over it in batches:
//!   `hook=H packet=P ns=MEAN median=MEDIAN min=MIN matched=M copied=C lost=L runs=N`: the
//!   mean of the middle half, the median and the least of the batches' mean times (the
//!   kernel reports whole nanoseconds per batch; the mean of the middle half keeps a
//!   fraction of one), M/C/L from the program's own counters (the packet ring is drained
//!   between batches, so a matching packet is copied every time). A TC ingress run gets a
//!   socket buffer the kernel builds from the frame. With `--floor` the programs are also
//!   loaded with `ret #0`, whose batches alternate with the filter's on the same packet and
//!   hook, and the line ends in `floor=MEAN`: a floor measured under the same conditions.

use std::{os::fd::BorrowedFd, process::ExitCode};

use anyhow::{Context as _, Result, bail};
use aya::maps::{MapData, RingBuf};
use tracer::{
    capture::{
        counters::{CounterMap, Counters},
        filter::KernelFilter,
        load::{LoadOptions, Programs, ring_size},
        proginfo, testrun,
    },
    filter::{DLT_EN10MB, Filter, translate::View},
};
use tracer_common::{CbpfInsn, MAX_SNAPLEN, names};

/// Runs per BPF_PROG_TEST_RUN call: small enough for the ring to hold every copy.
const BATCH: u32 = 10_000;
/// `XDP_PASS`, and `TC_ACT_UNSPEC` (-1) as the kernel reports it: what the programs return.
const XDP_PASS: u32 = 2;
const TC_ACT_UNSPEC: u32 = u32::MAX;
/// The classic program `ret #0`.
const REJECT_ALL: CbpfInsn = CbpfInsn {
    code: 0x06,
    jt: 0,
    jf: 0,
    k: 0,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hook {
    Xdp,
    TcIngress,
}

impl Hook {
    fn label(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::TcIngress => "tc-ingress",
        }
    }

    fn pass(self) -> u32 {
        match self {
            Hook::Xdp => XDP_PASS,
            Hook::TcIngress => TC_ACT_UNSPEC,
        }
    }

    fn program(self, programs: &mut Programs) -> Result<BorrowedFd<'_>> {
        Ok(match self {
            Hook::Xdp => programs.loaded_xdp()?,
            Hook::TcIngress => programs.loaded_tc(names::TC_INGRESS_PROG)?,
        })
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracer-xdp-cost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: tracer-xdp-cost [--repeat N] [--filter EXPRESSION [--floor] | --reject-all] \
                     [--hook xdp|tc-ingress]... HEX...";

fn run() -> Result<()> {
    let mut repeat: u32 = 1_000_000;
    let mut expression: Option<String> = None;
    let mut reject_all = false;
    let mut floor = false;
    let mut hooks = Vec::new();
    let mut packets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => repeat = args.next().context("--repeat N")?.parse().context("--repeat N")?,
            "--filter" => expression = Some(args.next().context("--filter EXPRESSION")?),
            "--reject-all" => reject_all = true,
            "--floor" => floor = true,
            "--hook" => hooks.push(match args.next().as_deref() {
                Some("xdp") => Hook::Xdp,
                Some("tc-ingress") => Hook::TcIngress,
                _ => bail!("--hook xdp|tc-ingress\n{USAGE}"),
            }),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            hex => packets.push(parse_hex(hex).with_context(|| format!("packet `{hex}`"))?),
        }
    }
    if repeat == 0 {
        bail!("--repeat N: at least 1\n{USAGE}");
    }
    if hooks.is_empty() {
        hooks = vec![Hook::Xdp, Hook::TcIngress];
    }
    let expression = expression.filter(|e| !e.trim().is_empty());
    if reject_all && expression.is_some() {
        bail!("--filter and --reject-all exclude each other\n{USAGE}");
    }
    if floor && (reject_all || expression.is_none()) {
        bail!("--floor goes with --filter\n{USAGE}");
    }
    let filter = if reject_all {
        println!("classic insns=1");
        Some(reject_all_filter()?)
    } else if let Some(e) = expression.as_deref() {
        let compiled = Filter::compile(e, DLT_EN10MB, MAX_SNAPLEN)?;
        println!("classic insns={}", compiled.insns().len());
        Some(KernelFilter::translate(e, compiled.insns(), View::Frame)?)
    } else {
        None
    };
    let mut main = Loaded::new(filter.as_ref())?;
    let fd = main.programs.loaded_xdp()?;
    print_verified(names::XDP_PROG, fd)?;
    let fd = main.programs.loaded_tc(names::TC_INGRESS_PROG)?;
    print_verified(names::TC_INGRESS_PROG, fd)?;
    let fd = main.programs.loaded_tc(names::TC_PROG)?;
    print_verified(names::TC_PROG, fd)?;
    let mut floor = if floor {
        Some(Loaded::new(Some(&reject_all_filter()?))?)
    } else {
        None
    };
    for hook in hooks {
        let prog = hook.program(&mut main.programs)?;
        let mut floor = match floor.as_mut() {
            Some(f) => Some((hook.program(&mut f.programs)?, &mut f.ring)),
            None => None,
        };
        for (p, packet) in packets.iter().enumerate() {
            // Both ingress hooks count into the ingress counters.
            let before = Counters::read(&main.counters)?;
            let mut batches = Vec::new();
            let mut floor_batches = Vec::new();
            let mut runs = 0u32;
            while runs < repeat {
                let n = BATCH.min(repeat - runs);
                batches.push(batch(hook, prog, packet, n, &mut main.ring)?);
                if let Some((fprog, fring)) = floor.as_mut() {
                    floor_batches.push(batch(hook, *fprog, packet, n, fring)?);
                }
                runs += n;
            }
            let after = Counters::read(&main.counters)?;
            batches.sort_unstable();
            let paired = if floor_batches.is_empty() {
                String::new()
            } else {
                format!(" floor={:.2}", middle_mean(&mut floor_batches))
            };
            println!(
                "hook={} packet={} ns={:.2} median={} min={} matched={} copied={} lost={} runs={runs}{paired}",
                hook.label(),
                p + 1,
                middle_mean(&mut batches),
                batches[batches.len() / 2],
                batches[0],
                after.xdp_matched - before.xdp_matched,
                after.xdp_copied - before.xdp_copied,
                after.xdp_lost - before.xdp_lost,
            );
        }
    }
    Ok(())
}

/// The packet programs loaded with a filter (or none), their ring and counters taken out.
struct Loaded {
    programs: Programs,
    ring: RingBuf<MapData>,
    counters: CounterMap,
}

impl Loaded {
    fn new(filter: Option<&KernelFilter>) -> Result<Self> {
        let mut programs = Programs::load_with_filter(
            &LoadOptions {
                snaplen: MAX_SNAPLEN,
                packet_ring_bytes: ring_size(64 << 20),
                state_ring_bytes: ring_size(1 << 18),
                sockets: false,
            },
            filter,
        )?;
        let ring = programs.take_ring(names::PACKETS)?;
        let counters = programs.take_counters()?;
        Ok(Loaded {
            programs,
            ring,
            counters,
        })
    }
}

/// `ret #0`, translated for every hook.
fn reject_all_filter() -> Result<KernelFilter> {
    Ok(KernelFilter::translate("ret #0", &[REJECT_ALL], View::Frame)?)
}

/// One `BPF_PROG_TEST_RUN` of `n` runs: the mean nanoseconds per run. The ring is drained
/// afterwards, so that the next batch's matches are copied too.
fn batch(hook: Hook, prog: BorrowedFd<'_>, packet: &[u8], n: u32, ring: &mut RingBuf<MapData>) -> Result<u32> {
    let r = testrun::run(prog, packet, n).with_context(|| format!("BPF_PROG_TEST_RUN ({})", hook.label()))?;
    if r.retval != hook.pass() {
        bail!(
            "the {} program returned {:#x} instead of {:#x}",
            hook.label(),
            r.retval,
            hook.pass()
        );
    }
    while ring.next().is_some() {}
    Ok(r.ns_per_run)
}

/// The mean of the middle half of `batches` (sorted here). Other work on the machine (its
/// other CPU, the hypervisor) only ever adds time: the middle half is steadier than the mean
/// of all, and keeps a fraction of the whole nanoseconds the kernel reports per batch.
fn middle_mean(batches: &mut [u32]) -> f64 {
    batches.sort_unstable();
    let quarter = batches.len() / 4;
    let middle = &batches[quarter..batches.len() - quarter];
    middle.iter().map(|&b| f64::from(b)).sum::<f64>() / middle.len() as f64
}

/// The verifier's processed instruction count of the loaded program `name`.
fn print_verified(name: &str, fd: BorrowedFd<'_>) -> Result<()> {
    let verified = proginfo::verified_insns(fd).with_context(|| format!("reading {name}'s info"))?;
    println!("verified program={name} insns={verified}");
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
