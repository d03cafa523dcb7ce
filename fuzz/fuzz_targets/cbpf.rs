//! Classic BPF from arbitrary bytes: the first byte is the number of instructions (8 bytes
//! each: code, jt, jf, k as in struct sock_filter), the next 4 the wire length, the rest the
//! packet. Validation and evaluation must never panic or loop (libFuzzer's time-out), valid
//! program or not: `-r` only runs validated programs, but the evaluator does not rely on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::filter::cbpf;
use tracer_common::CbpfInsn;

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else { return };
    let n = usize::from(n);
    if rest.len() < n * 8 + 4 {
        return;
    }
    let (code, rest) = rest.split_at(n * 8);
    let insns: Vec<CbpfInsn> = code
        .chunks_exact(8)
        .map(|c| CbpfInsn {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let (wire, pkt) = rest.split_at(4);
    let wire = u32::from_le_bytes([wire[0], wire[1], wire[2], wire[3]]);
    let _ = cbpf::validate(&insns);
    let _ = cbpf::run(&insns, pkt, wire);
});
