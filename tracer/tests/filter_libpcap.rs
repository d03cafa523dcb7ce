//! The classic-BPF evaluator against libpcap's own (`pcap_offline_filter()`, what tcpdump runs
//! on the packets of a file):
//! - every expression of tests/filter-expressions.txt, compiled for each capture's link type,
//!   over every packet of the shared corpus and tests/data: the same return value, and the
//!   same verdict as the `pcap` crate's program as libpcap compiled it (for `protochain`,
//!   libpcap's looping program against ours unrolled);
//! - random programs that pass the validator, over random packets: the same return value,
//!   which covers every instruction, division by zero, shifts and out-of-bounds loads.

use std::{
    collections::BTreeMap,
    ffi::{c_int, c_uint},
    path::{Path, PathBuf},
};

use tracer::filter::{Filter, cbpf, dlt_of_linktype};
use tracer::pcap::read::CaptureReader;
use tracer_common::CbpfInsn;

/// `struct bpf_program`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *const CbpfInsn,
}

/// `struct pcap_pkthdr`.
#[repr(C)]
struct PktHdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

// libpcap is linked through the `pcap` crate; its filter function is not wrapped with the
// packet's wire length, which `len`, `greater` and `less` read.
#[link(name = "pcap")]
unsafe extern "C" {
    fn pcap_offline_filter(fp: *const BpfProgram, h: *const PktHdr, pkt: *const u8) -> c_int;
}

/// libpcap's return value for `insns` on a packet.
fn libpcap(insns: &[CbpfInsn], pkt: &[u8], wire_len: u32) -> u32 {
    let prog = BpfProgram {
        bf_len: insns.len() as c_uint,
        bf_insns: insns.as_ptr(),
    };
    let hdr = PktHdr {
        ts: libc::timeval { tv_sec: 0, tv_usec: 0 },
        caplen: pkt.len() as u32,
        len: wire_len,
    };
    // SAFETY: `prog` points at `insns`, which outlive the call; CbpfInsn has bpf_insn's layout
    // (u16, u8, u8, u32; size asserted in tracer-common); the program passed cbpf::validate, so
    // libpcap's interpreter stays inside it and its scratch memory; `hdr.caplen` is the length
    // of `pkt`.
    unsafe { pcap_offline_filter(&prog, &hdr, pkt.as_ptr()) as u32 }
}

const CORPUS: &str = "shared/conformance/tcpdump-4.99.3";

fn corpus_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("TRACER_CONFORMANCE_DIR") {
        return Some(PathBuf::from(d));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join(CORPUS))
        .chain([Path::new("/work").join(CORPUS)])
        .find(|d| d.is_dir())
}

fn captures() -> Vec<PathBuf> {
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let corpus = corpus_dir();
    if corpus.is_none() {
        eprintln!("WARNING: the shared corpus ({CORPUS}) was not found: only tests/data is compared");
    }
    let mut files = Vec::new();
    for dir in corpus.iter().chain([&own]) {
        for e in std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
        {
            let p = e.path();
            if matches!(p.extension().and_then(|x| x.to_str()), Some("pcap" | "pcapng")) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn expressions() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filter-expressions.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A `ja` with a negative offset ("code jt jf k" as the `pcap` crate shows an instruction):
/// libpcap's interpreter sign-extends k.
fn is_backward_jump(text: &str) -> bool {
    let f: Vec<u64> = text.split(' ').filter_map(|w| w.parse().ok()).collect();
    matches!(f[..], [code, _, _, k] if code == u64::from(cbpf::JMP | cbpf::JA) && k >= 1 << 31)
}

/// Each expression compiled by us and by the `pcap` crate (None where libpcap refuses it for
/// that capture, e.g. `ether host` on raw IP): as `-r` compiles it, on libpcap's handle for
/// the file, or for the link type of packets of other link types (pcapng).
type Compiled = Vec<Option<(Filter, pcap::BpfProgram)>>;

fn compile_all(exprs: &[String], path: &Path, linktype: Option<u32>) -> Compiled {
    exprs
        .iter()
        .map(|e| {
            let (ours, theirs) = match linktype {
                None => (
                    Filter::compile_for_file(e, path, 262_144).map(|f| f.expect("libpcap opens it")),
                    pcap::Capture::from_file(path)
                        .expect("pcap_open_offline")
                        .compile(e, true),
                ),
                Some(lt) => {
                    let dlt = dlt_of_linktype(lt);
                    let dead = pcap::Capture::dead(pcap::Linktype(dlt as i32)).expect("pcap_open_dead");
                    (Filter::compile(e, dlt, 262_144), dead.compile(e, true))
                }
            };
            match (ours, theirs) {
                (Ok(f), Ok(p)) => {
                    let text: Vec<String> = p.get_instructions().iter().map(|i| i.to_string()).collect();
                    // libpcap's program as it is, unless it loops (`protochain`): then unrolled.
                    if text.iter().any(|t| is_backward_jump(t)) {
                        assert_eq!(cbpf::validate(f.insns()), Ok(()), "`{e}` for {}", path.display());
                        assert!(
                            !f.insns()
                                .iter()
                                .any(|i| i.code == cbpf::JMP | cbpf::JA && i.k >= 1 << 31)
                        );
                    } else {
                        assert_eq!(
                            text.len(),
                            f.insns().len(),
                            "`{e}` for {}: program length",
                            path.display()
                        );
                    }
                    Some((f, p))
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string().trim_start_matches("libpcap error: "));
                    None
                }
                (a, b) => panic!("`{e}` for {}: we {:?}, libpcap {:?}", path.display(), a.err(), b.err()),
            }
        })
        .collect()
}

#[test]
fn expressions_select_what_libpcap_selects() {
    let exprs = expressions();
    assert!(exprs.len() >= 24, "{} expressions", exprs.len());
    let mut selected = vec![0usize; exprs.len()];
    let (mut packets, mut compared) = (0usize, 0usize);
    let mut mismatches: Vec<String> = Vec::new();
    for path in captures() {
        let Ok(mut reader) = CaptureReader::open(&path) else {
            continue;
        };
        // Files libpcap cannot open are left to the golden comparison with tcpdump.
        if pcap::Capture::from_file(&path).is_err() {
            continue;
        }
        let first = reader.linktype();
        let mut by_linktype: BTreeMap<u32, Compiled> = BTreeMap::new();
        let mut index = 0;
        // A read error ends the file, as it ends tcpdump's reading.
        while let Ok(Some(rec)) = reader.next_packet() {
            index += 1;
            packets += 1;
            let compiled = by_linktype
                .entry(rec.linktype)
                .or_insert_with(|| compile_all(&exprs, &path, (Some(rec.linktype) != first).then_some(rec.linktype)));
            for (k, c) in compiled.iter().enumerate() {
                let Some((filter, program)) = c else { continue };
                compared += 1;
                let ours = cbpf::run(filter.insns(), rec.data, rec.orig_len);
                let theirs = libpcap(filter.insns(), rec.data, rec.orig_len);
                assert_eq!(filter.matches(rec.data, rec.orig_len), ours != 0);
                if ours != theirs {
                    mismatches.push(format!(
                        "{} packet {index} `{}`: we return {ours}, libpcap {theirs}",
                        path.display(),
                        exprs[k]
                    ));
                }
                // libpcap's own program (the crate passes the captured length as the wire length).
                let caplen = rec.data.len() as u32;
                if filter.matches(rec.data, caplen) != program.filter(rec.data) {
                    mismatches.push(format!(
                        "{} packet {index} `{}`: the program differs from libpcap's",
                        path.display(),
                        exprs[k]
                    ));
                }
                selected[k] += usize::from(ours != 0);
            }
        }
    }
    for (e, n) in exprs.iter().zip(&selected) {
        eprintln!("{n:>7}  {e}");
    }
    eprintln!("{packets} packets, {compared} packet × expression verdicts compared");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(packets > 0 && compared > 0);
    // The expressions do select packets, and not all of them: the comparison means something.
    let total: usize = selected.iter().sum();
    assert!(total > 0 && total < compared, "{total} of {compared} selected");
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Small values and edges more often than uniform ones.
    fn value(&mut self) -> u32 {
        match self.below(6) {
            0 => self.below(64) as u32,
            1 => [0, 1, 31, 32, 33, u32::MAX, 0x8000_0000, 0xffff_f000][self.below(8) as usize],
            2 => self.below(128) as u32,
            _ => self.next() as u32,
        }
    }
}

fn random_program(rng: &mut Rng, len: usize) -> Vec<CbpfInsn> {
    use cbpf::*;
    let mut p = Vec::with_capacity(len);
    for pc in 0..len - 1 {
        let rest = (len - pc - 1) as u64;
        let mut k = rng.value();
        let code = match rng.below(10) {
            0 => LD | [W, H, B][rng.below(3) as usize] | [ABS, IND][rng.below(2) as usize],
            1 => {
                k = rng.below(16) as u32;
                [LD | MEM, LDX | MEM, ST, STX][rng.below(4) as usize]
            }
            2 => [LD | W | LEN, LDX | W | LEN, LD | IMM, LDX | IMM, LDX | B | MSH][rng.below(5) as usize],
            3 => [MISC | TAX, MISC | TXA, ALU | NEG][rng.below(3) as usize],
            4..=6 => {
                let op = [ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH][rng.below(10) as usize];
                let src = [K, X][rng.below(2) as usize];
                if src == K && (op == DIV || op == MOD) && k == 0 {
                    k = 1;
                }
                if src == K && (op == LSH || op == RSH) {
                    k %= 32;
                }
                ALU | op | src
            }
            7 if rng.below(4) == 0 => RET | [K, A][rng.below(2) as usize],
            _ => {
                let op = [JA, JEQ, JGT, JGE, JSET][rng.below(5) as usize];
                if op == JA {
                    k = rng.below(rest) as u32;
                    JMP | JA
                } else {
                    JMP | op | [K, X][rng.below(2) as usize]
                }
            }
        };
        let (jt, jf) = (rng.below(rest.min(256)) as u8, rng.below(rest.min(256)) as u8);
        p.push(CbpfInsn { code, jt, jf, k });
    }
    p.push(CbpfInsn {
        code: cbpf::RET | [cbpf::K, cbpf::A][rng.below(2) as usize],
        jt: 0,
        jf: 0,
        k: rng.value(),
    });
    p
}

#[test]
fn random_programs_return_what_libpcap_returns() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut programs, mut runs) = (0, 0);
    let mut rejected = 0;
    while programs < 20_000 {
        let len = 2 + rng.below(40) as usize;
        let prog = random_program(&mut rng, len);
        if cbpf::validate(&prog).is_err() {
            // Scratch words read before they are written: libpcap's would be garbage.
            rejected += 1;
            continue;
        }
        programs += 1;
        for _ in 0..8 {
            let caplen = [0, 1, 13, 14, 20, 54, 64, 200][rng.below(8) as usize];
            let pkt: Vec<u8> = (0..caplen).map(|_| rng.next() as u8).collect();
            let wire = caplen as u32 + [0, 1, 1000][rng.below(3) as usize];
            let (ours, theirs) = (cbpf::run(&prog, &pkt, wire), libpcap(&prog, &pkt, wire));
            assert_eq!(ours, theirs, "program {prog:?}\npacket {pkt:02x?} (wire {wire})");
            runs += 1;
        }
    }
    eprintln!("{programs} random programs ({rejected} rejected by the validator), {runs} runs");
}
