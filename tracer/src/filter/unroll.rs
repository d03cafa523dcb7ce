//! Loops taken out of classic-BPF programs: a program with backward jumps becomes an equivalent
//! loop-free one, which [`super::cbpf::validate`] (the kernel's rules) accepts.
//!
//! libpcap compiles `protochain N` (`ip protochain`, `ip6 protochain`) into a loop: it walks the
//! IPv6 extension headers (hop-by-hop, routing, fragment, destination options, AH) or the IPv4
//! AH headers one per iteration, going back with a `ja` whose `k` is negative (libpcap's
//! interpreter sign-extends it). Classic BPF elsewhere, the kernel's and ours, jumps forward
//! only, so the loop is unrolled:
//!
//! - A loop is the range from a backward jump's target (its head) to the last backward jump to
//!   that head; libpcap's IPv6 walk has two (one per kind of header), both to the same head.
//!   Loops that overlap or nest are refused ([`UnrollError::Overlapping`]): libpcap never
//!   emits them, one loop per `protochain` and address family, one after the other.
//! - Each loop's range is copied `N` times in a row. A backward jump in copy `j` becomes a
//!   forward jump to the head of copy `j + 1`; in the last copy it goes to a `ret #0` placed
//!   after it. The loop's last instruction, a backward jump, is left out: the next copy (or that
//!   `ret #0`) follows it. Jumps out of the loop go where they went; jumps into it from
//!   outside, to the first copy.
//! - A conditional jump has 8-bit offsets: when its target ends up more than 255 instructions
//!   away (a jump out of an early copy, past the later ones), it goes to a `ja` with that
//!   target, inserted right after it.
//!
//! `N`, the most times a loop's head runs, is [`ITERATIONS`] (16); when the program would
//! then be longer than [`MAX_CBPF_INSNS`] (1024, so that its eBPF translation fits the packet
//! programs' stubs), the largest `N` that fits, but at least [`MIN_ITERATIONS`] (8), every loop
//! of the program getting the same `N`. On Ethernet, `protochain 6` (an IPv4 and an IPv6 walk),
//! `ip6 protochain 17` and `tcp port 80 or protochain 17` get 16; `protochain 6 or protochain
//! 17` (four walks) 11, `protochain 6 or ip6 protochain 17` 14. Three protochains do not fit
//! with 8 and are refused ([`UnrollError::TooLong`]).
//!
//! For `protochain` that is: the protocol is found behind up to `N - 1` extension headers (or
//! AH headers in IPv4). A packet whose chain is longer, on which libpcap's loop would go round
//! more than `N` times, reaches that `ret #0`: it is not matched, by the whole filter, as when a
//! load reaches past the captured bytes (also under `not`, and whatever an `or` beside it says).

use tracer_common::CbpfInsn;

use super::cbpf::{JA, JMP, K, RET, is_conditional_jump};

/// How many times each loop is unrolled (the most times its head runs), when the program fits.
pub const ITERATIONS: usize = 16;

/// The most classic instructions an unrolled program may take: its eBPF translation (about six
/// instructions per classic one, more for packet loads) must fit the packet programs' filter
/// stubs ([`tracer_common::FILTER_STUB_INSNS`], 8192).
pub const MAX_CBPF_INSNS: u32 = 1024;

/// The fewest: a program that does not fit in [`MAX_CBPF_INSNS`] with this many is refused.
pub const MIN_ITERATIONS: usize = 8;

/// Why a program's loops cannot be unrolled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnrollError {
    #[error("instruction {pc}: jump outside the program")]
    JumpOutside { pc: usize },
    #[error(
        "the loops at instructions {first_head}–{first_end} and {second_head}–{second_end} overlap or nest, which libpcap does not emit"
    )]
    Overlapping {
        first_head: usize,
        first_end: usize,
        second_head: usize,
        second_end: usize,
    },
    #[error(
        "its loops unrolled {iterations} times make {len} instructions, more than the {max} the kernel programs run"
    )]
    TooLong { iterations: usize, len: usize, max: u32 },
}

/// A loop-free program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrolled {
    pub insns: Vec<CbpfInsn>,
    /// How many times the loops were unrolled; None when there were none (the program is the
    /// one given).
    pub iterations: Option<usize>,
}

/// `insns` without backward jumps: unchanged when it has none, else its loops unrolled
/// [`ITERATIONS`] times, or as many times as fit in [`MAX_CBPF_INSNS`] instructions, at least
/// [`MIN_ITERATIONS`] (see the module documentation).
pub fn unroll(insns: &[CbpfInsn]) -> Result<Unrolled, UnrollError> {
    let loops = loops(insns)?;
    if loops.is_empty() {
        return Ok(Unrolled {
            insns: insns.to_vec(),
            iterations: None,
        });
    }
    for n in (MIN_ITERATIONS..=ITERATIONS).rev() {
        let out = layout(insns, &loops, n)?;
        if out.len() <= MAX_CBPF_INSNS as usize {
            return Ok(Unrolled {
                insns: out,
                iterations: Some(n),
            });
        }
    }
    Err(UnrollError::TooLong {
        iterations: MIN_ITERATIONS,
        len: layout(insns, &loops, MIN_ITERATIONS)?.len(),
        max: MAX_CBPF_INSNS,
    })
}

/// `insns` with each loop unrolled exactly `iterations` times (at least 1), whatever the length.
pub fn unroll_times(insns: &[CbpfInsn], iterations: usize) -> Result<Vec<CbpfInsn>, UnrollError> {
    let loops = loops(insns)?;
    if loops.is_empty() {
        return Ok(insns.to_vec());
    }
    layout(insns, &loops, iterations.max(1))
}

/// A loop: instructions `head..=end`, `end` being the last backward jump to `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loop {
    head: usize,
    end: usize,
}

impl Loop {
    /// Instructions per copy (the final backward jump is left out).
    fn body(&self) -> usize {
        self.end - self.head
    }
}

/// Where a backward `ja` at `pc` goes, as libpcap's interpreter runs it (`k` sign-extended);
/// None for forward jumps and other instructions. Err when that is before the program's start.
fn backward_target(pc: usize, insn: &CbpfInsn) -> Result<Option<usize>, UnrollError> {
    if insn.code != JMP | JA {
        return Ok(None);
    }
    // k as libpcap reads it: a signed offset (forward when below 2^31, as for everyone else).
    let target = pc as i64 + 1 + i64::from(insn.k as i32);
    if target > pc as i64 {
        return Ok(None);
    }
    usize::try_from(target)
        .map(Some)
        .map_err(|_| UnrollError::JumpOutside { pc })
}

/// The program's loops, in order; empty when it jumps forward only.
fn loops(insns: &[CbpfInsn]) -> Result<Vec<Loop>, UnrollError> {
    let mut loops: Vec<Loop> = Vec::new();
    for (pc, insn) in insns.iter().enumerate() {
        if let Some(head) = backward_target(pc, insn)? {
            match loops.iter_mut().find(|l| l.head == head) {
                Some(l) => l.end = l.end.max(pc),
                None => loops.push(Loop { head, end: pc }),
            }
        }
    }
    loops.sort_by_key(|l| l.head);
    for pair in loops.windows(2) {
        if pair[1].head <= pair[0].end {
            return Err(UnrollError::Overlapping {
                first_head: pair[0].head,
                first_end: pair[0].end,
                second_head: pair[1].head,
                second_end: pair[1].end,
            });
        }
    }
    if !loops.is_empty() {
        // Every forward jump must land inside the program for its target to be placed.
        for (pc, insn) in insns.iter().enumerate() {
            let rest = insns.len() - pc - 1;
            let outside = if insn.code == JMP | JA {
                backward_target(pc, insn)?.is_none() && insn.k as usize >= rest
            } else {
                is_conditional_jump(insn.code) && (usize::from(insn.jt) >= rest || usize::from(insn.jf) >= rest)
            };
            if outside {
                return Err(UnrollError::JumpOutside { pc });
            }
        }
    }
    Ok(loops)
}

/// One instruction of the unrolled program, before its jumps are resolved.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// Instruction `pc` of the program, in copy `copy` of its loop (0 outside loops).
    Insn { pc: usize, copy: usize },
    /// The `ret #0` after a loop's last copy.
    Overflow,
}

/// The unrolled program's items and where each instruction of the given one went.
struct Plan {
    items: Vec<Item>,
    /// Per instruction outside the loops, its item; per loop, the item of its first copy's head.
    first: Vec<usize>,
    /// Per instruction, the loop it is in.
    in_loop: Vec<Option<Loop>>,
}

impl Plan {
    fn new(insns: &[CbpfInsn], loops: &[Loop], n: usize) -> Plan {
        let mut in_loop = vec![None; insns.len()];
        for l in loops {
            for slot in &mut in_loop[l.head..=l.end] {
                *slot = Some(*l);
            }
        }
        let mut items = Vec::new();
        let mut first = vec![0; insns.len()];
        let mut pc = 0;
        while pc < insns.len() {
            match in_loop[pc] {
                None => {
                    first[pc] = items.len();
                    items.push(Item::Insn { pc, copy: 0 });
                    pc += 1;
                }
                Some(l) => {
                    first[l.head] = items.len();
                    for copy in 0..n {
                        items.extend((l.head..l.end).map(|pc| Item::Insn { pc, copy }));
                    }
                    items.push(Item::Overflow);
                    pc = l.end + 1;
                }
            }
        }
        Plan { items, first, in_loop }
    }

    /// The item a jump from copy `copy` to instruction `target` goes to: the same copy inside
    /// its own loop, the first copy of another loop. The left-out final backward jump of copy
    /// `j` is the head of copy `j + 1` (or the `ret #0` after the last).
    fn item_of(&self, target: usize, from_loop: Option<Loop>, copy: usize) -> usize {
        match self.in_loop[target] {
            None => self.first[target],
            Some(l) => {
                let copy = if from_loop == Some(l) { copy } else { 0 };
                self.first[l.head] + copy * l.body() + (target - l.head)
            }
        }
    }

    /// Where the jumps of item `i` go (jt, jf; or k for `ja` in both), as items; None for other
    /// instructions.
    fn targets(&self, insns: &[CbpfInsn], i: usize) -> Option<(usize, usize)> {
        let Item::Insn { pc, copy } = self.items[i] else {
            return None;
        };
        let insn = &insns[pc];
        let here = self.in_loop[pc];
        if insn.code == JMP | JA {
            let t = match (here, backward_target(pc, insn)) {
                // A backward jump: the next copy's head.
                (Some(l), Ok(Some(_))) => self.first[l.head] + (copy + 1) * l.body(),
                _ => self.item_of(pc + 1 + insn.k as usize, here, copy),
            };
            Some((t, t))
        } else if is_conditional_jump(insn.code) {
            Some((
                self.item_of(pc + 1 + usize::from(insn.jt), here, copy),
                self.item_of(pc + 1 + usize::from(insn.jf), here, copy),
            ))
        } else {
            None
        }
    }
}

/// Trampolines after a conditional jump: for its true target, its false target, or one for
/// both when they are the same.
#[derive(Debug, Clone, Copy, Default)]
struct Far {
    jt: bool,
    jf: bool,
    shared: bool,
}

impl Far {
    fn count(self) -> usize {
        if self.shared {
            1
        } else {
            usize::from(self.jt) + usize::from(self.jf)
        }
    }
}

/// The unrolled program, `n` copies per loop, trampolines where conditional jumps reach too far.
fn layout(insns: &[CbpfInsn], loops: &[Loop], n: usize) -> Result<Vec<CbpfInsn>, UnrollError> {
    let plan = Plan::new(insns, loops, n);
    let targets: Vec<Option<(usize, usize)>> = (0..plan.items.len()).map(|i| plan.targets(insns, i)).collect();
    let conditional: Vec<bool> = plan
        .items
        .iter()
        .map(|item| matches!(*item, Item::Insn { pc, .. } if is_conditional_jump(insns[pc].code)))
        .collect();
    // Trampolines only get added, and each one moves what follows it further away: repeat
    // until no jump is out of reach.
    let mut far = vec![Far::default(); plan.items.len()];
    let pos = loop {
        let mut pos = Vec::with_capacity(plan.items.len() + 1);
        let mut p = 0;
        for f in &far {
            pos.push(p);
            p += 1 + f.count();
        }
        pos.push(p);
        let mut changed = false;
        for (i, t) in targets.iter().enumerate() {
            let Some((tt, tf)) = *t else { continue };
            if !conditional[i] {
                continue;
            }
            let reach = |target: usize| pos[target].saturating_sub(pos[i] + 1) > usize::from(u8::MAX);
            let f = &mut far[i];
            if !f.jt && reach(tt) {
                f.jt = true;
                changed = true;
            }
            if !f.jf && reach(tf) {
                f.jf = true;
                changed = true;
            }
            f.shared = f.jt && f.jf && tt == tf;
        }
        if !changed {
            break pos;
        }
    };

    let mut out = Vec::with_capacity(pos[plan.items.len()]);
    for (i, item) in plan.items.iter().enumerate() {
        let insn = match *item {
            Item::Overflow => CbpfInsn {
                code: RET | K,
                jt: 0,
                jf: 0,
                k: 0,
            },
            Item::Insn { pc, .. } => insns[pc],
        };
        let at = out.len();
        // Jumps go forward (see Plan::item_of), so offsets do not wrap; the reach of the
        // conditional ones was settled above.
        let offset = |from: usize, to: usize| {
            pos[to]
                .checked_sub(from + 1)
                .ok_or(UnrollError::JumpOutside { pc: from })
        };
        match targets[i] {
            None => out.push(insn),
            Some((t, _)) if !conditional[i] => {
                let k = u32::try_from(offset(at, t)?).map_err(|_| UnrollError::JumpOutside { pc: at })?;
                out.push(CbpfInsn { k, ..insn });
            }
            Some((tt, tf)) => {
                let f = far[i];
                let near = |to: usize| u8::try_from(offset(at, to)?).map_err(|_| UnrollError::JumpOutside { pc: at });
                let jt = if f.jt { 0 } else { near(tt)? };
                let jf = match (f.jf, f.jt && !f.shared) {
                    (false, _) => near(tf)?,
                    (true, false) => 0,
                    (true, true) => 1,
                };
                out.push(CbpfInsn { jt, jf, ..insn });
                let far_targets = [(f.jt, tt), (f.jf && !f.shared, tf)];
                for (_, to) in far_targets.into_iter().filter(|&(needed, _)| needed) {
                    let from = out.len();
                    let k = u32::try_from(offset(from, to)?).map_err(|_| UnrollError::JumpOutside { pc: from })?;
                    out.push(CbpfInsn {
                        code: JMP | JA,
                        jt: 0,
                        jf: 0,
                        k,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::cbpf::{self, *};
    use crate::filter::{DLT_EN10MB, Filter, FilterError, NotRunnable};

    fn i(code: u16, jt: u8, jf: u8, k: u32) -> CbpfInsn {
        CbpfInsn { code, jt, jf, k }
    }

    fn ret(k: u32) -> CbpfInsn {
        i(RET | K, 0, 0, k)
    }

    /// `ja` from instruction `from` to instruction `to`, backwards as libpcap writes it.
    fn ja(from: usize, to: usize) -> CbpfInsn {
        i(JMP | JA, 0, 0, (to as i64 - from as i64 - 1) as i32 as u32)
    }

    fn has_backward_jump(insns: &[CbpfInsn]) -> bool {
        insns.iter().any(|i| i.code == JMP | JA && i.k >= 0x8000_0000)
    }

    /// libpcap's `bpf_filter()`, which sign-extends `ja`'s k and so runs loops: the reference
    /// the unrolled programs are compared with. None when it never ends: it comes back to a
    /// backward jump with the registers and scratch words it had there before (libpcap's AH
    /// walk does that on some packets, see protochain_programs_select_what_their_loops_select).
    fn reference(insns: &[CbpfInsn], pkt: &[u8], wire_len: u32) -> Option<u32> {
        let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
        let mut seen = std::collections::HashSet::new();
        let load = |off: u64, size: usize| -> Option<u32> {
            let off = usize::try_from(off).ok()?;
            let bytes = pkt.get(off..off.checked_add(size)?)?;
            Some(bytes.iter().fold(0, |v, &b| v << 8 | u32::from(b)))
        };
        let mut pc: i64 = 0;
        loop {
            let Some(&insn) = usize::try_from(pc).ok().and_then(|p| insns.get(p)) else {
                return Some(0);
            };
            if insn.code == JMP | JA && insn.k >= 0x8000_0000 && !seen.insert((pc, a, x, mem)) {
                return None;
            }
            assert!(seen.len() < 1_000_000, "the program does not end");
            pc += 1;
            let (code, k) = (insn.code, insn.k);
            let size = match code & 0x18 {
                W => 4,
                H => 2,
                _ => 1,
            };
            // None: the program ends with 0 (a load past the bytes, division by 0).
            let value = match code & 0x07 {
                RET => return Some(if code & 0x18 == cbpf::A { a } else { k }),
                LD => match code & 0xe0 {
                    ABS => load(k.into(), size),
                    IND => load(u64::from(x) + u64::from(k), size),
                    LEN => Some(wire_len),
                    IMM => Some(k),
                    MEM => mem.get(k as usize).copied(),
                    _ => None,
                },
                LDX => match code & 0xe0 {
                    MSH => load(k.into(), 1).map(|b| (b & 0xf) << 2),
                    LEN => Some(wire_len),
                    IMM => Some(k),
                    MEM => mem.get(k as usize).copied(),
                    _ => None,
                },
                ST | STX => Some(if code == ST { a } else { x }),
                ALU => {
                    let v = if code & cbpf::X != 0 { x } else { k };
                    match code & 0xf0 {
                        ADD => Some(a.wrapping_add(v)),
                        SUB => Some(a.wrapping_sub(v)),
                        MUL => Some(a.wrapping_mul(v)),
                        DIV => a.checked_div(v),
                        MOD => a.checked_rem(v),
                        AND => Some(a & v),
                        OR => Some(a | v),
                        XOR => Some(a ^ v),
                        LSH => Some(a.checked_shl(v).unwrap_or(0)),
                        RSH => Some(a.checked_shr(v).unwrap_or(0)),
                        NEG => Some(a.wrapping_neg()),
                        _ => None,
                    }
                }
                JMP if code & 0xf0 == JA => Some(k),
                JMP => {
                    let v = if code & cbpf::X != 0 { x } else { k };
                    let taken = match code & 0xf0 {
                        JEQ => a == v,
                        JGT => a > v,
                        JGE => a >= v,
                        _ => a & v != 0,
                    };
                    Some(u32::from(if taken { insn.jt } else { insn.jf }))
                }
                _ if code == MISC | TAX => Some(a),
                _ if code == MISC | TXA => Some(x),
                _ => None,
            };
            let Some(v) = value else { return Some(0) };
            match code & 0x07 {
                LD | ALU => a = v,
                LDX => x = v,
                ST | STX => match mem.get_mut(k as usize) {
                    Some(m) => *m = v,
                    None => return Some(0),
                },
                // Sign-extended, as libpcap does: `ja` may go back.
                JMP if code & 0xf0 == JA => pc += i64::from(v as i32),
                JMP => pc += i64::from(v),
                _ if code == MISC | TAX => x = v,
                _ => a = v,
            }
        }
    }

    #[test]
    fn a_loop_of_three_instructions_unrolled_twice() {
        // A = pkt[0]; do A += 1 while A <= 3; return A.
        let looping = [
            i(LD | B | ABS, 0, 0, 0),
            i(ALU | ADD | K, 0, 0, 1),
            i(JMP | JGT | K, 1, 0, 3),
            ja(3, 1),
            i(RET | cbpf::A, 0, 0, 0),
        ];
        let two = unroll_times(&looping, 2).unwrap();
        assert_eq!(
            two,
            [
                i(LD | B | ABS, 0, 0, 0),
                // copy 1: its back edge is the next instruction, copy 2's head
                i(ALU | ADD | K, 0, 0, 1),
                i(JMP | JGT | K, 3, 0, 3),
                // copy 2: its back edge goes to the ret #0 after it
                i(ALU | ADD | K, 0, 0, 1),
                i(JMP | JGT | K, 1, 0, 3),
                ret(0),
                i(RET | cbpf::A, 0, 0, 0),
            ]
        );
        assert_eq!(cbpf::validate(&two), Ok(()));
        assert_eq!(cbpf::validate(&looping), Err(InvalidProgram::BadJump { pc: 3 }));
        // The head runs at most twice: pkt[0] ≥ 2 ends as the loop ends, smaller is dropped.
        for (byte, want) in [(9, 10), (3, 4), (2, 4), (1, 0), (0, 0)] {
            assert_eq!(cbpf::run(&two, &[byte], 1), want, "pkt[0] = {byte}");
            if want != 0 {
                assert_eq!(reference(&looping, &[byte], 1), Some(want));
            }
        }
        assert_eq!(
            reference(&looping, &[0], 1),
            Some(4),
            "the loop itself goes round four times"
        );
        assert_eq!(cbpf::run(&two, &[], 0), 0);
        // With the default bound: 16 copies of 2 instructions, and the byte 0 gets through.
        let auto = unroll(&looping).unwrap();
        assert_eq!(auto.iterations, Some(ITERATIONS));
        assert_eq!(auto.insns.len(), 1 + ITERATIONS * 2 + 2);
        assert_eq!(cbpf::run(&auto.insns, &[0], 1), 4);
    }

    /// pkt[0] times round a loop of `filler + 3` instructions (an exit test at its head, far
    /// from the exit once unrolled), then `ret #7`.
    fn long_loop(filler: usize) -> Vec<CbpfInsn> {
        let mut p = vec![i(LD | B | ABS, 0, 0, 0)];
        let exit = 1 + filler + 3;
        p.push(i(JMP | JEQ | K, (exit - 2) as u8, 0, 0)); // head, 1
        p.push(i(ALU | SUB | K, 0, 0, 1));
        p.extend((0..filler).map(|_| i(ALU | ADD | K, 0, 0, 0)));
        p.push(ja(p.len(), 1));
        p.push(ret(7));
        p
    }

    #[test]
    fn a_far_exit_goes_through_a_trampoline() {
        let looping = long_loop(150);
        assert_eq!(looping.len(), 155);
        let three = unroll_times(&looping, 3).unwrap();
        // 1 + 3 copies of 152 + the ret #0 + ret #7, and a trampoline in copies 1 and 2, whose
        // exit is 304 and 152 instructions further than the last copy's.
        assert_eq!(three.len(), 1 + 3 * 152 + 2 + 2);
        let exit = three.len() - 1;
        assert_eq!(three[exit], ret(7));
        assert_eq!(three[exit - 1], ret(0));
        for head in [1, 1 + 153] {
            assert_eq!(
                three[head],
                i(JMP | JEQ | K, 0, 1, 0),
                "copy at {head}: jt to the ja after it"
            );
            assert_eq!(three[head + 1], i(JMP | JA, 0, 0, (exit - head - 2) as u32));
            assert_eq!(three[head + 2], i(ALU | SUB | K, 0, 0, 1));
        }
        let last = 1 + 2 * 153;
        assert_eq!(three[last], i(JMP | JEQ | K, (exit - last - 1) as u8, 0, 0));
        assert_eq!(three[last + 1], i(ALU | SUB | K, 0, 0, 1));
        assert_eq!(cbpf::validate(&three), Ok(()));
        for (byte, want) in [(0, 7), (1, 7), (2, 7), (3, 0), (200, 0)] {
            assert_eq!(cbpf::run(&three, &[byte], 1), want, "pkt[0] = {byte}");
            assert_eq!(reference(&looping, &[byte], 1), Some(7));
        }
        // Shorter: 204 instructions from the first copy's head to the exit, near enough.
        let two = unroll_times(&long_loop(100), 2).unwrap();
        assert_eq!(two.len(), 1 + 2 * 102 + 2);
        assert_eq!(two[1], i(JMP | JEQ | K, 204, 0, 0));
        assert_eq!(cbpf::run(&two, &[1], 1), 7);
        // 8 copies would not fit in 512 instructions.
        assert!(matches!(
            unroll(&looping),
            Err(UnrollError::TooLong {
                iterations: MIN_ITERATIONS,
                max: MAX_CBPF_INSNS,
                ..
            })
        ));
    }

    /// Skips zero bytes (one per time round a loop of `filler + 6` instructions); at the first
    /// other byte, `ret #2` if it is above 5, else `ret #3` (both `ret #2` when `same`): a
    /// conditional jump with both targets outside the loop.
    fn two_exits(filler: usize, same: bool) -> Vec<CbpfInsn> {
        let mut p = vec![
            i(LDX | IMM, 0, 0, 0),
            i(LD | B | IND, 0, 0, 0), // head, 1
            i(JMP | JEQ | K, 1, 0, 0),
        ];
        let big = 3 + filler + 5;
        let (jt, jf) = (big - 4, if same { big - 4 } else { big - 3 });
        p.push(i(JMP | JGT | K, jt as u8, jf as u8, 5)); // 3
        p.extend([
            i(MISC | TXA, 0, 0, 0),
            i(ALU | ADD | K, 0, 0, 1),
            i(MISC | TAX, 0, 0, 0),
        ]);
        p.extend((0..filler).map(|_| i(ALU | ADD | K, 0, 0, 0)));
        p.push(ja(p.len(), 1));
        p.extend([ret(2), ret(3)]);
        assert_eq!(p.len(), big + 2);
        p
    }

    #[test]
    fn both_targets_far() {
        for same in [false, true] {
            let looping = two_exits(130, same);
            let three = unroll_times(&looping, 3).unwrap();
            let trampolines = if same { 1 } else { 2 };
            // Copies of 136 instructions; the first two copies' exits are out of reach.
            assert_eq!(
                three.len(),
                1 + 3 * (136 + trampolines) - trampolines + 1 + 2,
                "same: {same}"
            );
            assert_eq!(cbpf::validate(&three), Ok(()));
            let (big, small) = (three.len() - 2, three.len() - 1);
            for copy in 0..2 {
                let at = 1 + copy * (136 + trampolines) + 2;
                let (jt, jf) = if same { (0, 0) } else { (0, 1) };
                assert_eq!(three[at], i(JMP | JGT | K, jt, jf, 5), "same: {same}, copy {copy}");
                assert_eq!(three[at + 1], i(JMP | JA, 0, 0, (big - at - 2) as u32));
                if !same {
                    assert_eq!(three[at + 2], i(JMP | JA, 0, 0, (small - at - 3) as u32));
                }
                assert_eq!(three[at + 1 + trampolines], i(MISC | TXA, 0, 0, 0));
            }
            let want = |v: u32| if same { 2 } else { v };
            for (pkt, expected) in [
                (&[7][..], want(2)),
                (&[1], want(3)),
                (&[0, 7], want(2)),
                (&[0, 0, 1], want(3)),
                (&[0, 0, 9], want(2)),
                (&[0, 0, 0, 9], 0),
                (&[0, 0], 0),
            ] {
                assert_eq!(cbpf::run(&three, pkt, 9), expected, "same: {same}, {pkt:?}");
                if expected != 0 {
                    assert_eq!(reference(&looping, pkt, 9), Some(expected));
                }
            }
            assert_eq!(reference(&looping, &[0, 0, 0, 9], 9), Some(2));
        }
    }

    #[test]
    fn as_many_iterations_as_fit() {
        let looping = long_loop(100);
        let got = unroll(&looping).unwrap();
        let n = got.iterations.unwrap();
        assert!((MIN_ITERATIONS..ITERATIONS).contains(&n), "{n}");
        assert!(got.insns.len() <= MAX_CBPF_INSNS as usize);
        assert!(unroll_times(&looping, n + 1).unwrap().len() > MAX_CBPF_INSNS as usize);
        assert_eq!(got.insns, unroll_times(&looping, n).unwrap());
        assert_eq!(cbpf::validate(&got.insns), Ok(()));
        let count = u8::try_from(n - 1).unwrap();
        assert_eq!(cbpf::run(&got.insns, &[count], 1), 7);
        assert_eq!(cbpf::run(&got.insns, &[count + 1], 1), 0);
    }

    #[test]
    fn two_back_edges_a_side_entry_and_two_loops() {
        // libpcap's shape: two ways round one loop (pkt[x] 1: x += 1; 2: x += 2), entered in
        // its middle when pkt[0] is 9; then a second loop counting A down from pkt[1].
        let looping = [
            i(LD | B | ABS, 0, 0, 0),  // 0
            i(LDX | IMM, 0, 0, 2),     // 1
            i(JMP | JEQ | K, 6, 0, 9), // 2: side entry into 9
            i(LD | B | IND, 0, 0, 0),  // 3: head
            i(JMP | JEQ | K, 0, 4, 1), // 4
            i(MISC | TXA, 0, 0, 0),    // 5
            i(ALU | ADD | K, 0, 0, 1), // 6
            i(MISC | TAX, 0, 0, 0),    // 7
            ja(8, 3),                  // 8
            i(JMP | JEQ | K, 0, 4, 2), // 9
            i(MISC | TXA, 0, 0, 0),    // 10
            i(ALU | ADD | K, 0, 0, 2), // 11
            i(MISC | TAX, 0, 0, 0),    // 12
            ja(13, 3),                 // 13
            i(LD | B | ABS, 0, 0, 1),  // 14
            i(JMP | JEQ | K, 2, 0, 0), // 15: second loop's head
            i(ALU | SUB | K, 0, 0, 1), // 16
            ja(17, 15),                // 17
            i(MISC | TXA, 0, 0, 0),    // 18
            i(RET | cbpf::A, 0, 0, 0), // 19
        ];
        let unrolled = unroll_times(&looping, 4).unwrap();
        assert!(!has_backward_jump(&unrolled));
        assert_eq!(unrolled.len(), 3 + 4 * 10 + 1 + 1 + 4 * 2 + 1 + 2);
        assert_eq!(cbpf::validate(&unrolled), Ok(()));
        let mut checked = 0;
        for p0 in [0, 1, 2, 9] {
            for tail in [
                &[][..],
                &[1, 1, 2, 0],
                &[2, 1, 0],
                &[1, 2, 1, 0],
                &[2, 2, 2, 2, 2],
                &[1, 1, 1, 1, 1, 0],
            ] {
                for p1 in [0, 1, 3, 4, 9] {
                    let mut pkt = vec![p0, p1];
                    pkt.extend(tail);
                    let want = reference(&looping, &pkt, pkt.len() as u32).unwrap();
                    let got = cbpf::run(&unrolled, &pkt, pkt.len() as u32);
                    // Within the bound, the same; beyond, dropped.
                    assert!(got == want || got == 0, "{pkt:?}: {got} for {want}");
                    checked += usize::from(got == want && got != 0);
                }
            }
        }
        assert!(checked > 20, "{checked}");
        // pkt[1] = 3: the second loop's head runs 4 times, as often as it may.
        assert_eq!(cbpf::run(&unrolled, &[0, 3, 0], 3), 2);
        assert_eq!(cbpf::run(&unrolled, &[0, 4, 0], 3), 0);
    }

    #[test]
    fn what_is_refused_and_what_is_left_alone() {
        let plain = [i(LD | B | ABS, 0, 0, 0), i(JMP | JEQ | K, 0, 1, 1), ret(1), ret(0)];
        assert_eq!(
            unroll(&plain),
            Ok(Unrolled {
                insns: plain.to_vec(),
                iterations: None
            })
        );
        // Invalid programs without loops are validate's business.
        assert_eq!(unroll(&[ret(0), i(JMP | JA, 0, 0, 5)]).unwrap().iterations, None);
        // Nested: the inner loop 2–3 inside 1–4.
        let nested = [
            i(LD | IMM, 0, 0, 0),
            i(ALU | ADD | K, 0, 0, 1),
            i(ALU | ADD | K, 0, 0, 1),
            ja(3, 2),
            ja(4, 1),
            ret(0),
        ];
        assert_eq!(
            unroll(&nested),
            Err(UnrollError::Overlapping {
                first_head: 1,
                first_end: 4,
                second_head: 2,
                second_end: 3
            })
        );
        assert_eq!(unroll(&[ja(0, 0)]).unwrap().insns, [ret(0)], "a jump to itself");
        assert_eq!(
            unroll(&[ret(0), i(JMP | JA, 0, 0, (-3i32) as u32)]),
            Err(UnrollError::JumpOutside { pc: 1 })
        );
        // A forward jump past the end beside a loop.
        assert_eq!(
            unroll(&[i(JMP | JEQ | K, 9, 0, 0), ja(1, 0), ret(0)]),
            Err(UnrollError::JumpOutside { pc: 0 })
        );
    }

    // Packets: Ethernet frames of IPv6 with extension headers, and IPv4 with AH.

    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const DEST_OPTS: u8 = 60;
    const AH: u8 = 51;
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    const ICMPV6: u8 = 58;
    const ICMP: u8 = 1;

    fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        f.extend(ethertype.to_be_bytes());
        f.extend(payload);
        f
    }

    /// An extension header of type `kind` followed by `next`.
    fn extension(kind: u8, next: u8) -> Vec<u8> {
        match kind {
            FRAGMENT => vec![next, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef],
            // Payload length 4: (4 + 2) × 4 = 24 bytes (a 12-byte ICV).
            AH => {
                let mut h = vec![next, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
                h.extend([0xa5; 12]);
                h
            }
            // Length in 8-octet units after the first 8: routing 24 bytes, the others 8 or 16.
            _ => {
                let units = match kind {
                    ROUTING => 2,
                    DEST_OPTS => 1,
                    _ => 0,
                };
                let mut h = vec![next, units, 1, 0];
                h.resize(8 * (usize::from(units) + 1), 0);
                h
            }
        }
    }

    fn upper(protocol: u8) -> Vec<u8> {
        match protocol {
            TCP => {
                let mut t = vec![0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff];
                t.resize(20, 0);
                t
            }
            UDP => vec![0x30, 0x39, 0, 53, 0, 8, 0, 0],
            _ => vec![128, 0, 0, 0, 0, 1, 0, 1],
        }
    }

    fn ipv6(chain: &[u8], protocol: u8) -> Vec<u8> {
        let mut next_headers: Vec<u8> = chain.iter().skip(1).copied().collect();
        next_headers.push(protocol);
        let mut payload = Vec::new();
        for (&kind, &next) in chain.iter().zip(&next_headers) {
            payload.extend(extension(kind, next));
        }
        payload.extend(upper(protocol));
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend((payload.len() as u16).to_be_bytes());
        ip.push(chain.first().copied().unwrap_or(protocol));
        ip.push(64);
        ip.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[1]));
        ip.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[2]));
        ip.extend(payload);
        ethernet(0x86dd, &ip)
    }

    /// IPv4 (with `options` words of options) and `ahs` AH headers before `protocol`.
    fn ipv4(options: usize, ahs: usize, protocol: u8) -> Vec<u8> {
        let mut payload = Vec::new();
        for k in 0..ahs {
            payload.extend(extension(AH, if k + 1 == ahs { protocol } else { AH }));
        }
        payload.extend(upper(protocol));
        let ihl = 5 + options;
        let total = (4 * ihl + payload.len()) as u16;
        let mut ip = vec![0x40 | ihl as u8, 0];
        ip.extend(total.to_be_bytes());
        ip.extend([0, 1, 0, 0, 64, if ahs > 0 { AH } else { protocol }, 0, 0]);
        ip.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        ip.extend(std::iter::repeat_n(1, 4 * options)); // NOPs
        ip.extend(payload);
        ethernet(0x0800, &ip)
    }

    fn packets() -> Vec<(String, Vec<u8>)> {
        let chains: [&[u8]; 9] = [
            &[],
            &[HOP_BY_HOP],
            &[ROUTING],
            &[FRAGMENT],
            &[DEST_OPTS],
            &[HOP_BY_HOP, ROUTING, FRAGMENT],
            &[HOP_BY_HOP, DEST_OPTS, ROUTING],
            &[ROUTING, FRAGMENT, DEST_OPTS],
            &[AH],
        ];
        let mut out = Vec::new();
        for chain in chains {
            for protocol in [TCP, UDP, ICMPV6] {
                out.push((format!("IPv6 {chain:?} {protocol}"), ipv6(chain, protocol)));
            }
        }
        for options in [0, 1] {
            for ahs in [0, 1, 2] {
                for protocol in [TCP, UDP, ICMP] {
                    out.push((
                        format!("IPv4 +{options} AH×{ahs} {protocol}"),
                        ipv4(options, ahs, protocol),
                    ));
                }
            }
        }
        out.push(("ARP".into(), ethernet(0x0806, &[0; 28])));
        out
    }

    /// Every protochain form, its unrolled size and bound, and the verdicts of the unrolled
    /// program against libpcap's looping one (run by [`reference`] and by libpcap itself).
    #[test]
    fn protochain_programs_select_what_their_loops_select() {
        const FORMS: [&str; 7] = [
            "protochain 6",
            "ip6 protochain 17",
            "ip protochain 1",
            "protochain \\tcp",
            "not protochain 58",
            "tcp port 80 or protochain 17",
            "ip6 protochain 6 or ip6 protochain 17",
        ];
        let packets = packets();
        for form in FORMS {
            let looping = super::super::compile::compile(form, DLT_EN10MB, 262_144).unwrap();
            assert!(has_backward_jump(&looping), "{form}: libpcap's program loops");
            let unrolled = unroll(&looping).unwrap();
            let n = unrolled.iterations.unwrap();
            let filter = Filter::compile(form, DLT_EN10MB, 262_144).unwrap();
            assert_eq!(filter.insns(), &unrolled.insns[..], "{form}");
            assert!(!has_backward_jump(filter.insns()));
            assert_eq!(cbpf::validate(filter.insns()), Ok(()), "{form}");
            eprintln!(
                "{form}: libpcap {} instructions, unrolled {} times: {}",
                looping.len(),
                n,
                filter.insns().len()
            );
            let libpcap = ::pcap::Capture::dead(::pcap::Linktype::ETHERNET)
                .unwrap()
                .compile(form, true)
                .unwrap();
            let (mut matched, mut endless) = (0, 0);
            for (name, pkt) in &packets {
                // Every truncation too: loads past the captured bytes drop the packet.
                for len in 0..=pkt.len() {
                    let cut = &pkt[..len];
                    let got = cbpf::run(filter.insns(), cut, pkt.len() as u32);
                    let Some(want) = reference(&looping, cut, pkt.len() as u32) else {
                        // libpcap never ends (an AH header after which its walk reads the same
                        // header again); the unrolled program drops it.
                        assert_eq!(got, 0, "{form}: {name} cut to {len}");
                        endless += 1;
                        continue;
                    };
                    assert_eq!(got, want, "{form}: {name} cut to {len}");
                    assert_eq!(libpcap.filter(cut), want != 0, "{form}: {name} cut to {len} (libpcap)");
                }
                matched += usize::from(filter.matches(pkt, pkt.len() as u32));
            }
            assert!(0 < matched && matched < packets.len(), "{form}: {matched} matched");
            // IPv4 with one word of options and two AH headers: after the first, libpcap's walk
            // sets X to (AH length + 2) × 4 = 24, without the header's own offset (also 24), and
            // reads the same AH header again, for ever (tcpdump hangs on such a packet).
            let endless_packet = ipv4(1, 2, UDP);
            let got = reference(&looping, &endless_packet, endless_packet.len() as u32);
            if form.starts_with("ip6") {
                assert_eq!((got, endless), (Some(0), 0), "{form}");
            } else {
                assert_eq!(got, None, "{form}");
                assert!(endless > 0, "{form}");
            }
        }
        // Which packets: the protocol behind 0, 1 and 3 IPv6 extension headers.
        let f = Filter::compile("protochain 6", DLT_EN10MB, 262_144).unwrap();
        for (name, pkt) in &packets {
            let tcp_v6 = name.starts_with("IPv6") && name.ends_with(" 6") && !name.contains("51");
            let tcp_v4 = name.starts_with("IPv4") && name.contains("AH×0") && name.ends_with(" 6");
            if tcp_v6 || tcp_v4 {
                assert!(f.matches(pkt, pkt.len() as u32), "{name}");
            }
            if !name.ends_with(" 6") {
                assert!(!f.matches(pkt, pkt.len() as u32), "{name}");
            }
        }
    }

    #[test]
    fn a_chain_longer_than_the_bound_is_not_matched() {
        // Also under `not`: the packet is dropped by the whole filter.
        for form in ["ip6 protochain 6", "not ip6 protochain 17"] {
            let looping = super::super::compile::compile(form, DLT_EN10MB, 262_144).unwrap();
            let unrolled = unroll(&looping).unwrap();
            let n = unrolled.iterations.unwrap();
            assert_eq!(n, ITERATIONS, "{form}");
            // k extension headers before TCP: the loop's head runs k + 1 times.
            let chain = |k: usize| ipv6(&[DEST_OPTS, HOP_BY_HOP].repeat(k)[..k], TCP);
            for k in [0, 1, n - 1, n, n + 5] {
                let pkt = chain(k);
                let wire = pkt.len() as u32;
                assert_eq!(reference(&looping, &pkt, wire), Some(262_144), "{form}, {k}");
                let want = if k < n { 262_144 } else { 0 };
                assert_eq!(cbpf::run(&unrolled.insns, &pkt, wire), want, "{form}, {k}");
            }
        }
        // protochain 6: an IPv4 and an IPv6 walk.
        let looping = super::super::compile::compile("protochain 6", DLT_EN10MB, 262_144).unwrap();
        let unrolled = unroll(&looping).unwrap();
        let n = unrolled.iterations.unwrap();
        assert!((MIN_ITERATIONS..=ITERATIONS).contains(&n), "{n}");
        let along = |k: usize| ipv6(&vec![FRAGMENT; k], TCP);
        assert_eq!(cbpf::run(&unrolled.insns, &along(n - 1), 1000), 262_144);
        assert_eq!(cbpf::run(&unrolled.insns, &along(n), 1000), 0);
        assert_eq!(reference(&looping, &along(n), 1000), Some(262_144));
        let ah = ipv4(0, 1, TCP);
        assert_eq!(reference(&looping, &ah, 1000), Some(262_144), "IPv4: TCP behind AH");
        assert_eq!(cbpf::run(&unrolled.insns, &ah, 1000), 262_144);
    }

    #[test]
    fn two_protochains_fit_with_fewer_iterations_and_more_are_refused() {
        for form in [
            "protochain 6 or protochain 17",
            "protochain 6 and protochain 17",
            "protochain 6 or ip6 protochain 17",
        ] {
            let looping = super::super::compile::compile(form, DLT_EN10MB, 262_144).unwrap();
            let unrolled = unroll(&looping).unwrap();
            let n = unrolled.iterations.unwrap();
            assert!((MIN_ITERATIONS..=ITERATIONS).contains(&n), "{form}: {n}");
            assert!(unrolled.insns.len() <= MAX_CBPF_INSNS as usize);
            eprintln!("{form}: {} instructions unrolled {n} times", unrolled.insns.len());
        }
        let form = "protochain 6 or protochain 17 or protochain 58";
        match Filter::compile(form, DLT_EN10MB, 262_144) {
            Err(FilterError::Unrunnable {
                problem: NotRunnable::Loop(UnrollError::TooLong { iterations, len, max }),
                ..
            }) => {
                assert_eq!((iterations, max), (MIN_ITERATIONS, MAX_CBPF_INSNS));
                assert!(len > max as usize, "{form}: {len}");
            }
            other => panic!("{form}: {other:?}"),
        }
        let msg = Filter::compile(form, DLT_EN10MB, 262_144).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "filter expression `{form}` cannot be run: its loops unrolled 8 times make"
            )),
            "{msg}"
        );
        // libpcap's own refusal, as tcpdump's: `tcp` is a keyword.
        let msg = Filter::compile("protochain tcp", DLT_EN10MB, 262_144)
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "can't parse filter expression: syntax error");
    }
}
