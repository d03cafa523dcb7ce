//! Classic BPF: the checks a program must pass before it is run ([`validate`]) and the
//! evaluator `-r` uses ([`run`]).
//!
//! The evaluator has libpcap's semantics (`pcap_filter()` in bpf_filter.c, which is what
//! tcpdump applies to the packets of a file) and is the model for the kernel programs'
//! interpreter, which must give the same answer on every packet:
//! - registers A and X and the 16 scratch words start at 0;
//! - a load that reaches past the captured bytes ends the program with 0 (drop);
//! - division or remainder by X = 0 ends it with 0 (the kernel does the same);
//! - a shift by X ≥ 32 gives 0 (libpcap's rule; shifts by a constant ≥ 32 are rejected);
//! - `len` is the packet's length on the wire, loads see only the captured bytes;
//! - the value of `ret` is how many bytes to keep; 0 drops the packet.
//!
//! [`validate`] applies the Linux kernel's checks for classic programs (`bpf_check_classic`):
//! known opcodes only, jumps forward and inside the program, a `ret` at the end, scratch
//! words in range and written before they are read, no division by a constant 0, no shift by
//! a constant ≥ 32, at most [`MAX_CBPF_INSNS`] instructions. A program that passes cannot make
//! [`run`] (or the kernel's interpreter) loop, index out of bounds or divide by zero.

use tracer_common::{CbpfInsn, MAX_CBPF_INSNS};

// Instruction classes, sizes, modes, operations and sources (pcap/bpf.h, linux/filter.h).
pub const LD: u16 = 0x00;
pub const LDX: u16 = 0x01;
pub const ST: u16 = 0x02;
pub const STX: u16 = 0x03;
pub const ALU: u16 = 0x04;
pub const JMP: u16 = 0x05;
pub const RET: u16 = 0x06;
pub const MISC: u16 = 0x07;

pub const W: u16 = 0x00;
pub const H: u16 = 0x08;
pub const B: u16 = 0x10;

pub const IMM: u16 = 0x00;
pub const ABS: u16 = 0x20;
pub const IND: u16 = 0x40;
pub const MEM: u16 = 0x60;
pub const LEN: u16 = 0x80;
pub const MSH: u16 = 0xa0;

pub const ADD: u16 = 0x00;
pub const SUB: u16 = 0x10;
pub const MUL: u16 = 0x20;
pub const DIV: u16 = 0x30;
pub const OR: u16 = 0x40;
pub const AND: u16 = 0x50;
pub const LSH: u16 = 0x60;
pub const RSH: u16 = 0x70;
pub const NEG: u16 = 0x80;
pub const MOD: u16 = 0x90;
pub const XOR: u16 = 0xa0;

pub const JA: u16 = 0x00;
pub const JEQ: u16 = 0x10;
pub const JGT: u16 = 0x20;
pub const JGE: u16 = 0x30;
pub const JSET: u16 = 0x40;

pub const K: u16 = 0x00;
pub const X: u16 = 0x08;
/// `ret a`.
pub const A: u16 = 0x10;

pub const TAX: u16 = 0x00;
pub const TXA: u16 = 0x80;

/// Scratch memory words (BPF_MEMWORDS).
pub const MEMWORDS: u32 = 16;

/// Why a program cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProgram {
    #[error("the program is empty")]
    Empty,
    #[error("the program has {len} instructions, more than the {max} the kernel programs run")]
    TooLong { len: usize, max: u32 },
    #[error("instruction {pc}: unknown opcode {code:#06x}")]
    UnknownOpcode { pc: usize, code: u16 },
    #[error("instruction {pc}: jump outside the program or backwards")]
    BadJump { pc: usize },
    #[error("instruction {pc}: scratch word {k} does not exist")]
    BadMemory { pc: usize, k: u32 },
    #[error("instruction {pc}: scratch word {k} is read before it is written")]
    UninitializedMemory { pc: usize, k: u32 },
    #[error("instruction {pc}: division by zero")]
    DivisionByZero { pc: usize },
    #[error("instruction {pc}: shift by {k} bits")]
    BadShift { pc: usize, k: u32 },
    #[error("the last instruction is not a return")]
    NoReturn,
}

/// The opcodes a program may use: the kernel's list for classic BPF, without its ancillary
/// loads (libpcap emits those only for live Linux captures, never on the dead handle used here).
fn known(code: u16) -> bool {
    const ALU_OPS: [u16; 10] = [ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH];
    const JMP_OPS: [u16; 4] = [JEQ, JGT, JGE, JSET];
    match code {
        c if c == LD | W | ABS || c == LD | H | ABS || c == LD | B | ABS => true,
        c if c == LD | W | IND || c == LD | H | IND || c == LD | B | IND => true,
        c if c == LD | W | LEN || c == LD | IMM || c == LD | MEM => true,
        c if c == LDX | W | LEN || c == LDX | B | MSH || c == LDX | IMM || c == LDX | MEM => true,
        c if c == ST || c == STX => true,
        c if c == MISC | TAX || c == MISC | TXA => true,
        c if c == RET | K || c == RET | A => true,
        c if c == ALU | NEG => true,
        c if c == JMP | JA => true,
        c if c & 0x07 == ALU => ALU_OPS.iter().any(|&op| c == ALU | op | K || c == ALU | op | X),
        c if c & 0x07 == JMP => JMP_OPS.iter().any(|&op| c == JMP | op | K || c == JMP | op | X),
        _ => false,
    }
}

pub(super) fn is_conditional_jump(code: u16) -> bool {
    code & 0x07 == JMP && code != JMP | JA
}

/// The kernel's checks (see the module documentation).
pub fn validate(insns: &[CbpfInsn]) -> Result<(), InvalidProgram> {
    let len = insns.len();
    if len == 0 {
        return Err(InvalidProgram::Empty);
    }
    if len > MAX_CBPF_INSNS as usize {
        return Err(InvalidProgram::TooLong {
            len,
            max: MAX_CBPF_INSNS,
        });
    }
    for (pc, i) in insns.iter().enumerate() {
        if !known(i.code) {
            return Err(InvalidProgram::UnknownOpcode { pc, code: i.code });
        }
        let rest = len - pc - 1;
        let c = i.code;
        if (c == ALU | DIV | K || c == ALU | MOD | K) && i.k == 0 {
            return Err(InvalidProgram::DivisionByZero { pc });
        }
        if (c == ALU | LSH | K || c == ALU | RSH | K) && i.k >= 32 {
            return Err(InvalidProgram::BadShift { pc, k: i.k });
        }
        if (c == LD | MEM || c == LDX | MEM || c == ST || c == STX) && i.k >= MEMWORDS {
            return Err(InvalidProgram::BadMemory { pc, k: i.k });
        }
        let bad_jump = if c == JMP | JA {
            i.k as usize >= rest
        } else {
            is_conditional_jump(c) && (usize::from(i.jt) >= rest || usize::from(i.jf) >= rest)
        };
        if bad_jump {
            return Err(InvalidProgram::BadJump { pc });
        }
    }
    let last = insns[len - 1].code;
    if last != RET | K && last != RET | A {
        return Err(InvalidProgram::NoReturn);
    }
    check_scratch(insns)
}

/// Every scratch word is written on every path before it is read (the kernel's
/// `check_load_and_stores`). Jumps go forward only, so one pass in order sees every path.
fn check_scratch(insns: &[CbpfInsn]) -> Result<(), InvalidProgram> {
    // Per instruction: the words written on every path seen so far that reaches it.
    let mut masks = vec![u16::MAX; insns.len()];
    let mut valid: u16 = 0;
    for (pc, i) in insns.iter().enumerate() {
        valid &= masks[pc];
        match i.code {
            c if c == ST || c == STX => valid |= 1 << i.k,
            c if (c == LD | MEM || c == LDX | MEM) && valid & (1 << i.k) == 0 => {
                return Err(InvalidProgram::UninitializedMemory { pc, k: i.k });
            }
            c if c == JMP | JA => {
                masks[pc + 1 + i.k as usize] &= valid;
                valid = u16::MAX;
            }
            c if is_conditional_jump(c) => {
                masks[pc + 1 + usize::from(i.jt)] &= valid;
                masks[pc + 1 + usize::from(i.jf)] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}

/// `n` bytes at `off`, when the captured bytes reach that far.
fn bytes<const N: usize>(pkt: &[u8], off: u32) -> Option<[u8; N]> {
    let off = usize::try_from(off).ok()?;
    pkt.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// Loads `size` (W, H or B) bytes at `off` in network order; None past the captured bytes.
fn load(pkt: &[u8], size: u16, off: u32) -> Option<u32> {
    match size {
        W => bytes::<4>(pkt, off).map(u32::from_be_bytes),
        H => bytes::<2>(pkt, off).map(|b| u32::from(u16::from_be_bytes(b))),
        _ => bytes::<1>(pkt, off).map(|b| u32::from(b[0])),
    }
}

/// Runs a program that passed [`validate`] over a packet of which `pkt` was captured and
/// `wire_len` bytes were on the wire; returns how many bytes to keep (0: drop).
///
/// A program that did not pass [`validate`] does not panic either: it returns 0 where it
/// would jump outside itself, read a missing scratch word, run off its end or meet an
/// unknown opcode.
pub fn run(insns: &[CbpfInsn], pkt: &[u8], wire_len: u32) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; MEMWORDS as usize];
    let mut pc = 0usize;
    while let Some(i) = insns.get(pc) {
        pc += 1;
        let code = i.code;
        match code & 0x07 {
            RET => return if code & 0x18 == A { a } else { i.k },
            LD => {
                a = match code & 0xe0 {
                    ABS => match load(pkt, code & 0x18, i.k) {
                        Some(v) => v,
                        None => return 0,
                    },
                    // X + k must not wrap: libpcap checks k and X against the length apart.
                    IND => match x.checked_add(i.k).and_then(|off| load(pkt, code & 0x18, off)) {
                        Some(v) => v,
                        None => return 0,
                    },
                    LEN => wire_len,
                    IMM => i.k,
                    MEM => match mem.get(i.k as usize) {
                        Some(&v) => v,
                        None => return 0,
                    },
                    _ => return 0,
                }
            }
            LDX => {
                x = match code & 0xe0 {
                    MSH => match load(pkt, B, i.k) {
                        Some(v) => (v & 0x0f) << 2,
                        None => return 0,
                    },
                    LEN => wire_len,
                    IMM => i.k,
                    MEM => match mem.get(i.k as usize) {
                        Some(&v) => v,
                        None => return 0,
                    },
                    _ => return 0,
                }
            }
            ST | STX => match mem.get_mut(i.k as usize) {
                Some(m) => *m = if code == ST { a } else { x },
                None => return 0,
            },
            ALU => {
                let v = if code & X != 0 { x } else { i.k };
                a = match code & 0xf0 {
                    ADD => a.wrapping_add(v),
                    SUB => a.wrapping_sub(v),
                    MUL => a.wrapping_mul(v),
                    DIV => match a.checked_div(v) {
                        Some(q) => q,
                        None => return 0,
                    },
                    MOD => match a.checked_rem(v) {
                        Some(r) => r,
                        None => return 0,
                    },
                    AND => a & v,
                    OR => a | v,
                    XOR => a ^ v,
                    LSH => a.checked_shl(v).unwrap_or(0),
                    RSH => a.checked_shr(v).unwrap_or(0),
                    NEG => a.wrapping_neg(),
                    _ => return 0,
                }
            }
            JMP => {
                let off = if code & 0xf0 == JA {
                    i.k as usize
                } else {
                    let v = if code & X != 0 { x } else { i.k };
                    let taken = match code & 0xf0 {
                        JEQ => a == v,
                        JGT => a > v,
                        JGE => a >= v,
                        JSET => a & v != 0,
                        _ => return 0,
                    };
                    usize::from(if taken { i.jt } else { i.jf })
                };
                pc = match pc.checked_add(off) {
                    Some(p) => p,
                    None => return 0,
                };
            }
            // MISC
            _ => match code {
                c if c == MISC | TAX => x = a,
                c if c == MISC | TXA => a = x,
                _ => return 0,
            },
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(code: u16, jt: u8, jf: u8, k: u32) -> CbpfInsn {
        CbpfInsn { code, jt, jf, k }
    }

    fn ret(k: u32) -> CbpfInsn {
        i(RET | K, 0, 0, k)
    }

    #[test]
    fn loads_in_network_order_and_out_of_bounds_drops() {
        let pkt = [0x12, 0x34, 0x56, 0x78, 0x9a];
        let prog = |code, k| vec![i(code, 0, 0, k), i(RET | A, 0, 0, 0)];
        assert_eq!(run(&prog(LD | W | ABS, 1), &pkt, 5), 0x3456_789a);
        assert_eq!(run(&prog(LD | W | ABS, 2), &pkt, 5), 0);
        assert_eq!(run(&prog(LD | H | ABS, 3), &pkt, 5), 0x789a);
        assert_eq!(run(&prog(LD | H | ABS, 4), &pkt, 5), 0);
        assert_eq!(run(&prog(LD | B | ABS, 4), &pkt, 5), 0x9a);
        assert_eq!(run(&prog(LD | B | ABS, 5), &pkt, 5), 0);
        assert_eq!(run(&prog(LD | B | ABS, u32::MAX), &pkt, 5), 0);
        // `len` is the wire length, not the captured one.
        assert_eq!(run(&prog(LD | W | LEN, 0), &pkt, 1500), 1500);
        assert_eq!(run(&prog(LD | IMM, 7), &pkt, 5), 7);
        // X + k: indirect loads, and the MSH header-length load.
        let ind = |code, x, k| vec![i(LDX | IMM, 0, 0, x), i(code, 0, 0, k), i(RET | A, 0, 0, 0)];
        assert_eq!(run(&ind(LD | B | IND, 2, 1), &pkt, 5), 0x78);
        assert_eq!(run(&ind(LD | H | IND, 3, 0), &pkt, 5), 0x789a);
        assert_eq!(run(&ind(LD | W | IND, 1, 1), &pkt, 5), 0);
        assert_eq!(run(&ind(LD | B | IND, u32::MAX, 1), &pkt, 5), 0, "X + k wraps");
        let msh = [i(LDX | B | MSH, 0, 0, 0), i(MISC | TXA, 0, 0, 0), i(RET | A, 0, 0, 0)];
        assert_eq!(run(&msh, &[0x45], 1), 20);
        assert_eq!(run(&msh, &[], 0), 0);
    }

    #[test]
    fn alu_and_division_by_zero() {
        let alu = |op: u16, a: u32, x: u32| {
            run(
                &[
                    i(LD | IMM, 0, 0, a),
                    i(LDX | IMM, 0, 0, x),
                    i(ALU | op | X, 0, 0, 0),
                    i(RET | A, 0, 0, 0),
                ],
                &[],
                0,
            )
        };
        assert_eq!(alu(ADD, u32::MAX, 2), 1);
        assert_eq!(alu(SUB, 1, 2), u32::MAX);
        assert_eq!(alu(MUL, 0x8000_0000, 2), 0);
        assert_eq!(alu(DIV, 7, 2), 3);
        assert_eq!(alu(DIV, 7, 0), 0);
        assert_eq!(alu(MOD, 7, 4), 3);
        assert_eq!(alu(MOD, 7, 0), 0);
        assert_eq!(alu(AND, 6, 3), 2);
        assert_eq!(alu(OR, 6, 3), 7);
        assert_eq!(alu(XOR, 6, 3), 5);
        assert_eq!(alu(LSH, 1, 31), 0x8000_0000);
        assert_eq!(alu(LSH, 1, 32), 0);
        assert_eq!(alu(RSH, 0x8000_0000, 31), 1);
        assert_eq!(alu(RSH, u32::MAX, 40), 0);
        let neg = [i(LD | IMM, 0, 0, 5), i(ALU | NEG, 0, 0, 0), i(RET | A, 0, 0, 0)];
        assert_eq!(run(&neg, &[], 0), 5u32.wrapping_neg());
        // Division by zero after a return value was on its way: still 0.
        let div0 = [
            i(LD | IMM, 0, 0, 9),
            i(LDX | IMM, 0, 0, 0),
            i(ALU | DIV | X, 0, 0, 0),
            ret(100),
        ];
        assert_eq!(run(&div0, &[], 0), 0);
    }

    #[test]
    fn jumps_scratch_and_misc() {
        // if (A = pkt[0]) > 3 then ret 10 else ret 20
        let gt = [i(LD | B | ABS, 0, 0, 0), i(JMP | JGT | K, 0, 1, 3), ret(10), ret(20)];
        assert_eq!(run(&gt, &[4], 1), 10);
        assert_eq!(run(&gt, &[3], 1), 20);
        let set = [i(LD | B | ABS, 0, 0, 0), i(JMP | JSET | K, 0, 1, 2), ret(1), ret(2)];
        assert_eq!((run(&set, &[2], 1), run(&set, &[5], 1)), (1, 2));
        let ge_x = [
            i(LDX | IMM, 0, 0, 3),
            i(LD | B | ABS, 0, 0, 0),
            i(JMP | JGE | X, 1, 0, 0),
            ret(0),
            ret(9),
        ];
        assert_eq!((run(&ge_x, &[3], 1), run(&ge_x, &[2], 1)), (9, 0));
        let ja = [i(JMP | JA, 0, 0, 1), ret(1), ret(2)];
        assert_eq!(run(&ja, &[], 0), 2);
        let mem = [
            i(LD | IMM, 0, 0, 42),
            i(ST, 0, 0, 15),
            i(LDX | MEM, 0, 0, 15),
            i(LD | IMM, 0, 0, 0),
            i(MISC | TXA, 0, 0, 0),
            i(STX, 0, 0, 3),
            i(LD | MEM, 0, 0, 3),
            i(MISC | TAX, 0, 0, 0),
            i(RET | A, 0, 0, 0),
        ];
        assert_eq!(validate(&mem), Ok(()));
        assert_eq!(run(&mem, &[], 0), 42);
    }

    #[test]
    fn validation() {
        assert_eq!(validate(&[]), Err(InvalidProgram::Empty));
        assert_eq!(validate(&[ret(1)]), Ok(()));
        assert_eq!(validate(&[i(LD | IMM, 0, 0, 1)]), Err(InvalidProgram::NoReturn));
        let long = vec![ret(1); MAX_CBPF_INSNS as usize + 1];
        assert!(matches!(validate(&long), Err(InvalidProgram::TooLong { .. })));
        assert_eq!(
            validate(&[i(0xffff, 0, 0, 0), ret(0)]),
            Err(InvalidProgram::UnknownOpcode { pc: 0, code: 0xffff })
        );
        // A jump to the instruction after the last, and a backward one (k wraps).
        assert_eq!(
            validate(&[i(JMP | JEQ | K, 1, 0, 0), ret(0)]),
            Err(InvalidProgram::BadJump { pc: 0 })
        );
        assert_eq!(
            validate(&[ret(0), i(JMP | JA, 0, 0, u32::MAX), ret(0)]),
            Err(InvalidProgram::BadJump { pc: 1 })
        );
        assert_eq!(
            validate(&[i(ALU | DIV | K, 0, 0, 0), ret(0)]),
            Err(InvalidProgram::DivisionByZero { pc: 0 })
        );
        assert_eq!(
            validate(&[i(ALU | LSH | K, 0, 0, 32), ret(0)]),
            Err(InvalidProgram::BadShift { pc: 0, k: 32 })
        );
        assert_eq!(
            validate(&[i(ST, 0, 0, 16), ret(0)]),
            Err(InvalidProgram::BadMemory { pc: 0, k: 16 })
        );
        // Written on one branch only.
        let half = [
            i(JMP | JEQ | K, 0, 1, 0),
            i(ST, 0, 0, 2),
            i(LD | MEM, 0, 0, 2),
            i(RET | A, 0, 0, 0),
        ];
        assert_eq!(
            validate(&half),
            Err(InvalidProgram::UninitializedMemory { pc: 2, k: 2 })
        );
        // Unvalidated programs do not panic: they drop.
        assert_eq!(run(&[i(JMP | JA, 0, 0, u32::MAX)], &[], 0), 0);
        assert_eq!(run(&[i(LD | MEM, 0, 0, 99), ret(1)], &[], 0), 0);
        assert_eq!(run(&[i(LD | IMM, 0, 0, 1)], &[], 0), 0);
    }
}
