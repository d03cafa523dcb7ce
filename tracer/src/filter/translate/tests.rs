//! The translator, instruction by instruction, and its output run by a small eBPF interpreter
//! (below: what the kernel would compute, for the instructions the translator emits) against
//! the classic evaluator on random programs and packets.

use super::*;
use crate::filter::ebpf::{ADD, AND, JEQ, JGT, JLE, JNE, JSET, LSH, RSH};
use crate::filter::{DLT_EN10MB, DLT_LINUX_SLL2, Filter};

fn c(code: u16, jt: u8, jf: u8, k: u32) -> CbpfInsn {
    CbpfInsn { code, jt, jf, k }
}

/// The translation without the prologue.
fn body(prog: &[CbpfInsn], hook: Hook) -> Vec<Insn> {
    translate(prog, hook).unwrap()[PROLOGUE..].to_vec()
}
const PROLOGUE: usize = 5;

#[test]
fn prologue_keeps_the_context_and_the_packet_bounds() {
    let ret = [c(cbpf::RET | cbpf::K, 0, 0, 7)];
    let tc = translate(&ret, Hook::TcEgress).unwrap();
    assert_eq!(
        tc,
        [
            ebpf::store(DW, R10, -8, R1),
            ebpf::mov32_imm(R7, 0),
            ebpf::mov32_imm(R8, 0),
            ebpf::load(W, R9, R1, 76),
            ebpf::load(W, R6, R1, 80),
            ebpf::mov32_imm(R0, 7),
            ebpf::exit(),
        ]
    );
    let xdp = translate(&ret, Hook::Xdp).unwrap();
    assert_eq!(xdp[3], ebpf::load(W, R9, R1, 0));
    assert_eq!(xdp[4], ebpf::load(W, R6, R1, 4));
}

#[test]
fn absolute_load_reads_in_place_then_falls_back_to_the_helper() {
    // ldh [12]; ret a
    let prog = [c(0x28, 0, 0, 12), c(cbpf::RET | cbpf::A, 0, 0, 0)];
    assert_eq!(
        body(&prog, Hook::TcIngress),
        [
            ebpf::mov64_reg(R2, R9),
            ebpf::alu64_imm(ADD, R2, 14),
            ebpf::jmp64_reg(JGT, R2, R6, 4),
            ebpf::load(H, R7, R9, 12),
            ebpf::to_be(R7, 16),
            ebpf::mov32_reg(R0, R7),
            ebpf::exit(),
            // the helper, out of line
            ebpf::mov32_imm(R2, 12),
            ebpf::load(DW, R1, R10, -8),
            ebpf::mov64_reg(R3, R10),
            ebpf::alu64_imm(ADD, R3, -16),
            ebpf::mov64_imm(R4, 2),
            ebpf::call(helper::SKB_LOAD_BYTES),
            ebpf::jmp64_imm(JNE, R0, 0, 3),
            ebpf::load(H, R7, R10, -16),
            ebpf::to_be(R7, 16),
            ebpf::ja(-12),
            // reject
            ebpf::mov32_imm(R0, 0),
            ebpf::exit(),
        ]
    );
    // Far offsets only through the helper; XDP's helper.
    let far = [c(0x30, 0, 0, 40_000), c(cbpf::RET | cbpf::A, 0, 0, 0)];
    let b = body(&far, Hook::Xdp);
    assert_eq!(b[0], ebpf::mov32_imm(R2, 40_000));
    assert!(b.contains(&ebpf::call(helper::XDP_LOAD_BYTES)));
    assert!(!b.iter().any(|i| i.code == ebpf::LDX | ebpf::MEM | B && i.src == R9));
}

#[test]
fn jumps_take_the_shortest_form() {
    let ret = |k| c(cbpf::RET | cbpf::K, 0, 0, k);
    // jeq #5 jt 0 jf 1: inverted, one instruction.
    let b = body(&[c(0x15, 0, 1, 5), ret(1), ret(2)], Hook::TcEgress);
    assert_eq!(b[0], ebpf::jmp32_imm(JNE, R7, 5, 2));
    // jgt x jt 1 jf 0: one instruction.
    let b = body(&[c(0x2d, 1, 0, 0), ret(1), ret(2)], Hook::TcEgress);
    assert_eq!(b[0], ebpf::jmp32_reg(JGT, R7, R8, 2));
    // jgt #5 jt 0 jf 1 → jle.
    let b = body(&[c(0x25, 0, 1, 5), ret(1), ret(2)], Hook::TcEgress);
    assert_eq!(b[0], ebpf::jmp32_imm(JLE, R7, 5, 2));
    // jset has no inverse: two instructions.
    let b = body(&[c(0x45, 0, 1, 4), ret(1), ret(2)], Hook::TcEgress);
    assert_eq!(b[..2], [ebpf::jmp32_imm(JSET, R7, 4, 1), ebpf::ja(2)]);
    // Both ways to the same place: a plain jump, and code no path reaches is left out.
    let b = body(&[c(0x15, 1, 1, 5), ret(1), ret(2)], Hook::TcEgress);
    assert_eq!(b, [ebpf::ja(0), ebpf::mov32_imm(R0, 2), ebpf::exit()]);
}

#[test]
fn division_by_x_rejects_and_shifts_by_x_saturate() {
    let ret_a = c(cbpf::RET | cbpf::A, 0, 0, 0);
    let b = body(&[c(0x3c, 0, 0, 0), ret_a], Hook::TcEgress);
    assert_eq!(
        b[..2],
        [ebpf::jmp32_imm(JEQ, R8, 0, 3), ebpf::alu32_reg(ebpf::DIV, R7, R8)]
    );
    let b = body(&[c(0x6c, 0, 0, 0), ret_a], Hook::TcEgress);
    assert_eq!(
        b[..4],
        [
            ebpf::jmp32_imm(JGT, R8, 31, 2),
            ebpf::alu32_reg(LSH, R7, R8),
            ebpf::ja(1),
            ebpf::mov32_imm(R7, 0)
        ]
    );
    let b = body(&[c(0x74, 0, 0, 3), ret_a], Hook::TcEgress);
    assert_eq!(b[0], ebpf::alu32_imm(RSH, R7, 3));
    // ldxb 4*([14]&0xf)
    let b = body(&[c(0xb1, 0, 0, 14), c(0x87, 0, 0, 0), ret_a], Hook::TcEgress);
    let i = b.iter().position(|i| *i == ebpf::alu32_imm(AND, R8, 0x0f)).unwrap();
    assert_eq!(b[i + 1], ebpf::alu32_imm(LSH, R8, 2));
}

#[test]
fn scratch_words_live_on_the_stack() {
    let prog = [
        c(cbpf::LD | cbpf::IMM, 0, 0, 9),
        c(cbpf::ST, 0, 0, 15),
        c(cbpf::LDX | cbpf::MEM, 0, 0, 15),
        c(cbpf::RET | cbpf::A, 0, 0, 0),
    ];
    assert_eq!(
        body(&prog, Hook::TcEgress),
        [
            ebpf::mov32_imm(R7, 9),
            ebpf::store(W, R10, -20, R7),
            ebpf::load(W, R8, R10, -20),
            ebpf::mov32_reg(R0, R7),
            ebpf::exit()
        ]
    );
}

#[test]
fn ancillary_fields_per_hook() {
    let ld = |ad: u32| [c(0x20, 0, 0, SKF_AD_OFF + ad), c(cbpf::RET | cbpf::A, 0, 0, 0)];
    let ctx = ebpf::load(DW, R1, R10, -8);
    assert_eq!(
        body(&ld(ad::IFINDEX), Hook::TcEgress)[..2],
        [ctx, ebpf::load(W, R7, R1, 40)]
    );
    assert_eq!(body(&ld(ad::IFINDEX), Hook::Xdp)[..2], [ctx, ebpf::load(W, R7, R1, 12)]);
    assert_eq!(
        body(&ld(ad::PKTTYPE), Hook::TcIngress)[..2],
        [ctx, ebpf::load(W, R7, R1, 4)]
    );
    assert_eq!(
        body(&ld(ad::VLAN_TAG_PRESENT), Hook::TcIngress)[..2],
        [ctx, ebpf::load(W, R7, R1, 20)]
    );
    assert_eq!(body(&ld(ad::VLAN_TAG_PRESENT), Hook::Xdp)[0], ebpf::mov32_imm(R7, 0));
    assert!(matches!(
        translate(&ld(ad::HATYPE), Hook::TcEgress),
        Err(TranslateError::Ancillary { pc: 0, field: 28, .. })
    ));
    assert!(matches!(
        translate(&ld(ad::RXHASH), Hook::Xdp),
        Err(TranslateError::Ancillary { .. })
    ));
}

#[test]
fn libpcap_inbound_outbound_and_ifindex_translate() {
    // libpcap emits ancillary loads for these on a handle that is not a savefile.
    for expr in ["inbound", "outbound", "ifindex 3", "icmp and inbound"] {
        let f = Filter::compile(expr, DLT_EN10MB, 262_144).unwrap();
        assert!(
            f.insns()
                .iter()
                .any(|i| i.code & 0xe0 == cbpf::ABS && i.k >= SKF_AD_OFF),
            "{expr}: {:?}",
            f.insns()
        );
        for hook in Hook::ALL {
            translate(f.insns(), hook).unwrap();
        }
    }
}

// ---- an eBPF interpreter for what the translator emits ----

const CTX: u64 = 0x1_0000_0000;
const PKT: u64 = 0x2_0000_0000;
const STACK_TOP: u64 = 0x3_0000_0000;

/// A packet as a hook sees it: `linear` bytes readable in place, the rest through helpers.
struct Packet<'a> {
    bytes: &'a [u8],
    linear: usize,
    ifindex: u32,
    pkt_type: u32,
    vlan: Option<(u16, u16)>,
}

fn run(code: &[Insn], hook: Hook, p: &Packet<'_>) -> u32 {
    let mut r = [0u64; 11];
    let mut stack = [0u8; 512];
    r[1] = CTX;
    r[10] = STACK_TOP;
    let ctx_field = |off: i16| -> u64 {
        let (data, data_end) = hook.data_fields();
        if off == data {
            return PKT;
        }
        if off == data_end {
            return PKT + p.linear as u64;
        }
        if hook == Hook::Xdp {
            match off {
                12 => u64::from(p.ifindex),
                16 => 0,
                _ => panic!("xdp_md field {off}"),
            }
        } else {
            match off {
                0 => p.bytes.len() as u64,
                4 => u64::from(p.pkt_type),
                8 | 12 | 68 => 0,
                16 => u64::from(u16::from_be_bytes([p.bytes[12], p.bytes[13]]).swap_bytes()),
                20 => u64::from(p.vlan.is_some()),
                24 => p.vlan.map_or(0, |v| u64::from(v.1)),
                28 => p.vlan.map_or(0, |v| u64::from(v.0.swap_bytes())),
                40 => u64::from(p.ifindex),
                _ => panic!("__sk_buff field {off}"),
            }
        }
    };
    let mut pc = 0usize;
    for _ in 0..1_000_000 {
        let i = code[pc];
        pc += 1;
        let (dst, src) = (usize::from(i.dst), usize::from(i.src));
        let class = i.code & 0x07;
        let op = i.code & 0xf0;
        let by_x = i.code & ebpf::X != 0;
        match class {
            ebpf::ALU | ebpf::ALU64 => {
                let wide = class == ebpf::ALU64;
                if op == ebpf::END {
                    r[dst] = match i.imm {
                        16 => u64::from((r[dst] as u16).swap_bytes()),
                        32 => u64::from((r[dst] as u32).swap_bytes()),
                        _ => panic!("end {}", i.imm),
                    };
                    continue;
                }
                let v = if by_x { r[src] } else { i.imm as i64 as u64 };
                if wide {
                    r[dst] = match op {
                        ebpf::MOV => v,
                        ebpf::ADD => r[dst].wrapping_add(v),
                        ebpf::RSH => r[dst] >> (v & 63),
                        _ => panic!("alu64 {op:#x}"),
                    };
                } else {
                    let (a, v) = (r[dst] as u32, v as u32);
                    let res = match op {
                        ebpf::MOV => v,
                        ebpf::ADD => a.wrapping_add(v),
                        ebpf::SUB => a.wrapping_sub(v),
                        ebpf::MUL => a.wrapping_mul(v),
                        ebpf::DIV => a.checked_div(v).unwrap_or(0),
                        ebpf::MOD => a.checked_rem(v).unwrap_or(a),
                        ebpf::OR => a | v,
                        ebpf::AND => a & v,
                        ebpf::XOR => a ^ v,
                        ebpf::LSH => a << (v & 31),
                        ebpf::RSH => a >> (v & 31),
                        ebpf::NEG => a.wrapping_neg(),
                        _ => panic!("alu32 {op:#x}"),
                    };
                    r[dst] = u64::from(res);
                }
            }
            ebpf::JMP | ebpf::JMP32 => {
                if class == ebpf::JMP && op == ebpf::EXIT {
                    return r[0] as u32;
                }
                if class == ebpf::JMP && op == ebpf::CALL {
                    r[0] = match i.imm {
                        helper::SKB_LOAD_BYTES | helper::XDP_LOAD_BYTES => {
                            assert_eq!(r[1], CTX);
                            let (off, n) = (r[2] as u32 as usize, r[4] as usize);
                            match p.bytes.get(off..off + n) {
                                Some(b) => {
                                    let at = (r[3] - (STACK_TOP - 512)) as usize;
                                    stack[at..at + n].copy_from_slice(b);
                                    0
                                }
                                None => (-14i64) as u64,
                            }
                        }
                        helper::XDP_GET_BUFF_LEN => p.bytes.len() as u64,
                        helper::GET_SMP_PROCESSOR_ID => 0,
                        helper::GET_PRANDOM_U32 => 4,
                        other => panic!("helper {other}"),
                    };
                    for reg in &mut r[1..=5] {
                        *reg = 0xdead_beef_dead_beef;
                    }
                    continue;
                }
                let taken = if op == ebpf::JA {
                    true
                } else {
                    let (a, b) = if class == ebpf::JMP32 {
                        let b = if by_x { r[src] as u32 } else { i.imm as u32 };
                        (u64::from(r[dst] as u32), u64::from(b))
                    } else {
                        (r[dst], if by_x { r[src] } else { i.imm as i64 as u64 })
                    };
                    match op {
                        ebpf::JEQ => a == b,
                        ebpf::JNE => a != b,
                        ebpf::JGT => a > b,
                        ebpf::JGE => a >= b,
                        ebpf::JLT => a < b,
                        ebpf::JLE => a <= b,
                        ebpf::JSET => a & b != 0,
                        _ => panic!("jump {op:#x}"),
                    }
                };
                if taken {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            ebpf::LDX => {
                let n = match i.code & 0x18 {
                    W => 4,
                    H => 2,
                    B => 1,
                    _ => 8,
                };
                let addr = r[src].wrapping_add(i.off as i64 as u64);
                r[dst] = if r[src] == CTX {
                    ctx_field(i.off)
                } else if (PKT..PKT + p.linear as u64).contains(&addr) {
                    let at = (addr - PKT) as usize;
                    assert!(at + n <= p.linear, "a direct load past data_end");
                    le(&p.bytes[at..at + n])
                } else {
                    let at = (addr - (STACK_TOP - 512)) as usize;
                    le(&stack[at..at + n])
                };
            }
            ebpf::STX => {
                let n = if i.code & 0x18 == DW { 8 } else { 4 };
                let at = (r[dst].wrapping_add(i.off as i64 as u64) - (STACK_TOP - 512)) as usize;
                stack[at..at + n].copy_from_slice(&r[src].to_le_bytes()[..n]);
            }
            _ => panic!("class {class}"),
        }
    }
    panic!("the program did not end");
}

fn le(b: &[u8]) -> u64 {
    let mut v = [0u8; 8];
    v[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(v)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// How much of a `len`-byte packet is linear: all of it, except one time in `one_in`,
    /// when a random part is (the rest in fragments).
    fn linear(&mut self, len: usize, one_in: u64) -> usize {
        if self.below(one_in) == 0 {
            self.below(len as u64 + 1) as usize
        } else {
            len
        }
    }
    fn value(&mut self) -> u32 {
        match self.below(6) {
            0 => self.below(64) as u32,
            1 => [0, 1, 31, 32, 33, u32::MAX, 0x8000_0000, 0x7ffe, 0x7fff, 0x8000][self.below(10) as usize],
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
            0 => {
                let mode = [ABS, IND][rng.below(2) as usize];
                if mode == ABS && k >= SKF_AD_OFF {
                    k = 14;
                }
                LD | [W, H, B][rng.below(3) as usize] | mode
            }
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
        if code == LDX | B | MSH && k >= SKF_AD_OFF {
            k = 14;
        }
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
fn random_programs_compute_what_the_evaluator_computes() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut programs = 0;
    while programs < 5_000 {
        let len = 2 + rng.below(40) as usize;
        let prog = random_program(&mut rng, len);
        if cbpf::validate(&prog).is_err() {
            continue;
        }
        programs += 1;
        let hook = Hook::ALL[rng.below(3) as usize];
        let code = translate(&prog, hook).unwrap();
        for _ in 0..8 {
            let n = rng.below(160) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            // Sometimes all of it linear, sometimes some of it in fragments.
            let linear = rng.linear(n, 2);
            let p = Packet {
                bytes: &bytes,
                linear,
                ifindex: 3,
                pkt_type: 0,
                vlan: None,
            };
            let want = cbpf::run(&prog, &bytes, n as u32);
            let got = run(&code, hook, &p);
            assert_eq!(got, want, "{hook:?} {prog:?} on {bytes:?} ({linear} linear)");
        }
    }
}

#[test]
fn expressions_select_what_the_evaluator_selects() {
    let exprs = [
        "tcp port 80",
        "icmp or arp",
        "ip6 and tcp or tcp[tcpflags] & tcp-syn != 0",
        "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
        "udp and ip[6:2] & 0x1fff = 0",
        "ether[0] & 1 = 0 and len > 100",
        "vlan and tcp",
        "ip[2:2] / 4 > 10 and ip[0] % 16 != 5",
        "net 10.0.0.0/8 or dst host fe80::1",
        "ether src 02:00:00:00:00:01",
    ];
    let mut rng = Rng(7);
    for expr in exprs {
        let f = Filter::compile(expr, DLT_EN10MB, 262_144).unwrap();
        for hook in Hook::ALL {
            let code = translate(f.insns(), hook).unwrap();
            for _ in 0..2000 {
                let bytes = plausible_frame(&mut rng);
                let linear = rng.linear(bytes.len(), 3);
                let p = Packet {
                    bytes: &bytes,
                    linear,
                    ifindex: 2,
                    pkt_type: 0,
                    vlan: None,
                };
                let want = cbpf::run(f.insns(), &bytes, bytes.len() as u32);
                assert_eq!(run(&code, hook, &p), want, "{expr} at {hook:?} on {bytes:02x?}");
            }
        }
    }
}

/// An Ethernet frame that often carries IPv4/IPv6 and TCP/UDP with random bytes, so that
/// expressions match some of the time.
fn plausible_frame(rng: &mut Rng) -> Vec<u8> {
    let n = 14 + rng.below(120) as usize;
    let mut b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    let mut l3 = 14;
    if rng.below(5) == 0 && n > 18 {
        b[12..14].copy_from_slice(&[0x81, 0x00]);
        l3 = 18;
    }
    let (et, ipv4) = match rng.below(4) {
        0 | 1 => ([0x08, 0x00], true),
        2 => ([0x86, 0xdd], false),
        _ => ([0x08, 0x06], false),
    };
    if n >= l3 {
        b[l3 - 2..l3].copy_from_slice(&et);
    }
    if ipv4 && n > l3 + 20 {
        b[l3] = 0x45;
        b[l3 + 6] &= 0x20;
        b[l3 + 7] = 0;
        b[l3 + 9] = [6, 17, 1][rng.below(3) as usize];
        if n > l3 + 24 && rng.below(2) == 0 {
            b[l3 + 22] = 0;
            b[l3 + 23] = 80;
        }
    } else if !ipv4 && et == [0x86, 0xdd] && n > l3 + 40 {
        b[l3] = 0x60;
        b[l3 + 6] = [6, 17, 58][rng.below(3) as usize];
    }
    b
}

#[test]
fn pkttype_and_ifindex_as_each_hook_sees_them() {
    let outbound = Filter::compile("outbound", DLT_EN10MB, 100).unwrap();
    let inbound = Filter::compile("inbound", DLT_EN10MB, 100).unwrap();
    let ifindex = Filter::compile("ifindex 7", DLT_EN10MB, 100).unwrap();
    let frame = [0x02u8; 60];
    let mut broadcast = frame;
    broadcast[..6].fill(0xff);
    let pkt = |bytes, ifindex, pkt_type| Packet {
        bytes,
        linear: 60,
        ifindex,
        pkt_type,
        vlan: None,
    };
    let tr = |f: &Filter, h| translate(f.insns(), h).unwrap();
    // Egress: outgoing, but on loopback the copy tcpdump keeps is the received one.
    assert_eq!(
        run(&tr(&outbound, Hook::TcEgress), Hook::TcEgress, &pkt(&frame, 7, 0)),
        100
    );
    assert_eq!(
        run(&tr(&inbound, Hook::TcEgress), Hook::TcEgress, &pkt(&frame, 7, 0)),
        0
    );
    assert_eq!(
        run(&tr(&inbound, Hook::TcEgress), Hook::TcEgress, &pkt(&frame, 1, 0)),
        100
    );
    // Ingress: what the kernel classified (PACKET_OTHERHOST = 3 is inbound too).
    assert_eq!(
        run(&tr(&inbound, Hook::TcIngress), Hook::TcIngress, &pkt(&frame, 7, 3)),
        100
    );
    assert_eq!(
        run(&tr(&outbound, Hook::TcIngress), Hook::TcIngress, &pkt(&frame, 7, 0)),
        0
    );
    assert_eq!(run(&tr(&inbound, Hook::Xdp), Hook::Xdp, &pkt(&broadcast, 7, 0)), 100);
    assert_eq!(run(&tr(&ifindex, Hook::Xdp), Hook::Xdp, &pkt(&frame, 7, 0)), 100);
    assert_eq!(
        run(&tr(&ifindex, Hook::TcIngress), Hook::TcIngress, &pkt(&frame, 8, 0)),
        0
    );
}

#[test]
fn unrolled_protochains_fit_the_stubs() {
    // The stubs hold FILTER_STUB_INSNS instructions, two of them taken by the jump over the
    // unused room (capture/splice.rs), a few more by what the compiler puts around the room.
    for expr in [
        "protochain 6",
        "not protochain 58",
        "tcp port 80 or protochain 17",
        "protochain 6 or ip6 protochain 17",
        "protochain 6 and protochain 17",
    ] {
        let f = Filter::compile(expr, DLT_EN10MB, 262_144).unwrap();
        for hook in Hook::ALL {
            let code = translate(f.insns(), hook).unwrap();
            eprintln!(
                "{expr} at {hook:?}: {} classic, {} eBPF instructions",
                f.insns().len(),
                code.len()
            );
            assert!(code.len() + 16 <= FILTER_STUB_INSNS as usize, "{expr}: {}", code.len());
        }
    }
}

// ---- the Linux cooked v2 view ----

/// The packet as a capture of several interfaces writes it (`capture::link::to_sll2`'s
/// layout), with the packet type this hook knows.
fn cooked(p: &Packet<'_>, hook: Hook, ethernet: bool) -> Vec<u8> {
    let b = p.bytes;
    let pkttype: u8 = match hook {
        Hook::TcIngress => p.pkt_type as u8,
        Hook::TcEgress if p.ifindex == 1 => 0,
        Hook::TcEgress => 4,
        Hook::Xdp if !ethernet => 0,
        Hook::Xdp if b[..6] == [0xff; 6] => 1,
        Hook::Xdp => (b[0] & 1) << 1,
    };
    let mut out = Vec::new();
    if ethernet {
        let hatype: u16 = if p.ifindex == 1 { 772 } else { 1 };
        out.extend_from_slice(&b[12..14]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&p.ifindex.to_be_bytes());
        out.extend_from_slice(&hatype.to_be_bytes());
        out.extend_from_slice(&[pkttype, 6]);
        out.extend_from_slice(&b[6..12]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&b[14..]);
    } else {
        let protocol: u16 = if b[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
        out.extend_from_slice(&protocol.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&p.ifindex.to_be_bytes());
        out.extend_from_slice(&0xfffeu16.to_be_bytes());
        out.extend_from_slice(&[pkttype, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(b);
    }
    out
}

#[test]
fn cooked_random_programs_compute_what_the_evaluator_computes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut programs = 0;
    while programs < 4_000 {
        let len = 2 + rng.below(30) as usize;
        let mut prog = random_program(&mut rng, len);
        // Loads near the cooked header, which is what this view changes.
        for i in &mut prog {
            if matches!(i.code & 0x07, cbpf::LD | cbpf::LDX)
                && matches!(i.code & 0xe0, cbpf::ABS | cbpf::IND | cbpf::MSH)
                && (i.code & 0xe0 != cbpf::ABS || i.k < SKF_AD_OFF)
            {
                i.k %= 40;
            }
        }
        if cbpf::validate(&prog).is_err() {
            continue;
        }
        programs += 1;
        let hook = Hook::ALL[rng.below(3) as usize];
        let ethernet = rng.below(4) != 0;
        let code = translate_view(&prog, hook, View::Sll2 { ethernet }).unwrap();
        for _ in 0..8 {
            let least = if ethernet { 14 } else { 1 };
            let n = least + rng.below(60) as usize;
            let mut bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            if ethernet && rng.below(4) == 0 {
                bytes[..6].fill(0xff);
            }
            let linear = rng.linear(n, 2);
            let p = Packet {
                bytes: &bytes,
                linear,
                ifindex: [1, 4][rng.below(2) as usize],
                pkt_type: rng.below(5) as u32,
                vlan: None,
            };
            let view = cooked(&p, hook, ethernet);
            let want = cbpf::run(&prog, &view, view.len() as u32);
            let got = run(&code, hook, &p);
            assert_eq!(
                got, want,
                "{hook:?} ethernet={ethernet} {prog:?} on {bytes:?} ({linear} linear, ifindex {})",
                p.ifindex
            );
        }
    }
}

#[test]
fn cooked_expressions_select_what_the_evaluator_selects() {
    let exprs = [
        "tcp port 80",
        "icmp or arp",
        "inbound and tcp",
        "outbound",
        "ifindex 4",
        "link[10] = 4 or link[8:2] = 772",
        "link[0:4] = 0x08000000 and link[11] = 6",
        "link[1:4] & 0xffff00 != 0 or link[18:4] = 0x45000000",
        "link[ip[0] & 0xf] = 0",
        "len > 80 and ip[0] & 0xf > 5",
        "ip6 and tcp or tcp[tcpflags] & tcp-syn != 0",
    ];
    let mut rng = Rng(11);
    for expr in exprs {
        let f = Filter::compile(expr, DLT_LINUX_SLL2, 262_144).unwrap();
        for hook in Hook::ALL {
            let code = translate_view(f.insns(), hook, View::Sll2 { ethernet: true }).unwrap();
            for _ in 0..1500 {
                let bytes = plausible_frame(&mut rng);
                let linear = rng.linear(bytes.len(), 3);
                let p = Packet {
                    bytes: &bytes,
                    linear,
                    ifindex: [1, 4, 5][rng.below(3) as usize],
                    pkt_type: rng.below(5) as u32,
                    vlan: None,
                };
                let view = cooked(&p, hook, true);
                let want = cbpf::run(f.insns(), &view, view.len() as u32);
                assert_eq!(run(&code, hook, &p), want, "{expr} at {hook:?} on {bytes:02x?}");
            }
        }
    }
}
