//! The translated filters, run by the kernel, against libpcap's own evaluator
//! (`pcap_offline_filter()`): every expression of tracer/tests/filter-expressions.txt, compiled
//! for Ethernet, translated and spliced into the packet programs, loaded (so the running
//! kernel's verifier accepts each), and run with BPF_PROG_TEST_RUN over the Ethernet packets of
//! the shared corpus and tracer/tests/data; the XDP hook's `matched` counter must move exactly
//! when libpcap's program accepts the packet. In a guest of the VM matrix (time scale above
//! 1) a sample of the packets is used.

use std::{
    ffi::{c_int, c_uint},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, ensure};
use tracer::{
    capture::{
        counters::Counters,
        filter::KernelFilter,
        load::{LoadOptions, Programs, ring_size},
        testrun,
    },
    filter::{DLT_EN10MB, Filter, translate::View},
    pcap::read::CaptureReader,
};
use tracer_common::{CbpfInsn, MAX_SNAPLEN, names};
use tracer_tests::{env::time_scale, require_privileges};

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *const CbpfInsn,
}

#[repr(C)]
struct PktHdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

#[link(name = "pcap")]
unsafe extern "C" {
    fn pcap_offline_filter(fp: *const BpfProgram, h: *const PktHdr, pkt: *const u8) -> c_int;
}

fn libpcap_accepts(insns: &[CbpfInsn], pkt: &[u8]) -> bool {
    let prog = BpfProgram {
        bf_len: insns.len() as c_uint,
        bf_insns: insns.as_ptr(),
    };
    // The kernel program sees exactly these bytes: the wire length is theirs.
    let hdr = PktHdr {
        ts: libc::timeval { tv_sec: 0, tv_usec: 0 },
        caplen: pkt.len() as u32,
        len: pkt.len() as u32,
    };
    // SAFETY: prog points at insns (bpf_insn layout, validated by Filter::compile); hdr.caplen
    // is pkt's length.
    unsafe { pcap_offline_filter(&prog, &hdr, pkt.as_ptr()) != 0 }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Ethernet packets the XDP test run takes (an Ethernet header, at most a page), deduplicated.
fn packets(limit: usize) -> Vec<Vec<u8>> {
    // Where tracer/tests/filter_libpcap.rs looks for the shared corpus.
    const CORPUS: &str = "shared/conformance/tcpdump-4.99.3";
    let corpus = std::env::var_os("TRACER_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            root()
                .ancestors()
                .map(|a| a.join(CORPUS))
                .chain([Path::new("/work").join(CORPUS)])
                .find(|d| d.is_dir())
        });
    let mut files = Vec::new();
    for dir in corpus.into_iter().chain([root().join("tracer/tests/data")]) {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if matches!(p.extension().and_then(|x| x.to_str()), Some("pcap" | "pcapng")) {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for f in files {
        let Ok(mut r) = CaptureReader::open(&f) else { continue };
        while let Ok(Some(rec)) = r.next_packet() {
            if rec.linktype == 1 && (14..=1500).contains(&rec.data.len()) && seen.insert(rec.data.to_vec()) {
                out.push(rec.data.to_vec());
            }
        }
    }
    // An even sample when there are more than `limit`.
    let step = out.len().div_ceil(limit.max(1)).max(1);
    out.into_iter().step_by(step).collect()
}

fn expressions() -> Vec<String> {
    let path = root().join("tracer/tests/filter-expressions.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn translated_filters_in_the_kernel_select_what_libpcap_selects() -> Result<()> {
    if !require_privileges("translated_filters_in_the_kernel_select_what_libpcap_selects") {
        return Ok(());
    }
    let limit = if time_scale() > 1.0 { 600 } else { 20_000 };
    let pkts = packets(limit);
    let exprs = expressions();
    ensure!(pkts.len() >= 100, "only {} corpus packets found", pkts.len());
    ensure!(exprs.len() >= 24, "only {} expressions", exprs.len());
    let (mut compared, mut selected, mut mismatches) = (0usize, 0usize, Vec::new());
    for expr in &exprs {
        // Expressions libpcap refuses for Ethernet are the conformance test's business.
        let Ok(filter) = Filter::compile(expr, DLT_EN10MB, MAX_SNAPLEN) else {
            continue;
        };
        let kernel = KernelFilter::translate(expr, filter.insns(), View::Frame)
            .with_context(|| format!("translating `{expr}`"))?;
        let mut programs = Programs::load_with_filter(
            &LoadOptions {
                snaplen: MAX_SNAPLEN,
                packet_ring_bytes: ring_size(64 << 20),
                state_ring_bytes: ring_size(1 << 18),
                sockets: false,
            },
            Some(&kernel),
        )
        .with_context(|| format!("loading `{expr}`"))?;
        let mut ring = programs.take_ring(names::PACKETS)?;
        let counters = programs.take_counters()?;
        let prog = programs
            .loaded_xdp()
            .with_context(|| format!("the verifier on `{expr}`"))?;
        let mut matched = Counters::read(&counters)?.xdp().matched;
        for (i, p) in pkts.iter().enumerate() {
            testrun::run(prog, p, 1).with_context(|| format!("test run of packet {i}"))?;
            while ring.next().is_some() {}
            let now = Counters::read(&counters)?.xdp().matched;
            let kernel_says = now != matched;
            matched = now;
            let libpcap_says = libpcap_accepts(filter.insns(), p);
            compared += 1;
            selected += usize::from(libpcap_says);
            if kernel_says != libpcap_says && mismatches.len() < 20 {
                mismatches.push(format!(
                    "`{expr}` packet {i} ({} bytes): the kernel says {kernel_says}, libpcap {libpcap_says}",
                    p.len()
                ));
            }
        }
    }
    eprintln!(
        "{} expressions × {} packets: {compared} verdicts compared, {selected} selected",
        exprs.len(),
        pkts.len()
    );
    ensure!(mismatches.is_empty(), "mismatches:\n{}", mismatches.join("\n"));
    ensure!(selected > 0 && selected < compared, "{selected} of {compared} selected");
    Ok(())
}
