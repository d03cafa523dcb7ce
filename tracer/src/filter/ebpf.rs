//! eBPF instructions (`struct bpf_insn` of linux/bpf.h) as the translator emits them: the
//! opcode fields and one constructor per instruction form, named after what the instruction
//! does. Only what classic-BPF translation needs is here.

/// One eBPF instruction: opcode, destination and source registers, offset, immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads (little-endian machine: `dst_reg` in the low nibble).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Reads an instruction back from its 8 bytes.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

// Classes.
pub const LDX: u8 = 0x01;
pub const STX: u8 = 0x03;
pub const ALU: u8 = 0x04;
pub const JMP: u8 = 0x05;
pub const JMP32: u8 = 0x06;
pub const ALU64: u8 = 0x07;

// Sizes and modes of loads and stores.
pub const W: u8 = 0x00;
pub const H: u8 = 0x08;
pub const B: u8 = 0x10;
pub const DW: u8 = 0x18;
pub const MEM: u8 = 0x60;

// Sources.
pub const K: u8 = 0x00;
pub const X: u8 = 0x08;

// ALU operations.
pub const ADD: u8 = 0x00;
pub const SUB: u8 = 0x10;
pub const MUL: u8 = 0x20;
pub const DIV: u8 = 0x30;
pub const OR: u8 = 0x40;
pub const AND: u8 = 0x50;
pub const LSH: u8 = 0x60;
pub const RSH: u8 = 0x70;
pub const NEG: u8 = 0x80;
pub const MOD: u8 = 0x90;
pub const XOR: u8 = 0xa0;
pub const MOV: u8 = 0xb0;
pub const END: u8 = 0xd0;
/// With `END`: convert to big-endian.
pub const TO_BE: u8 = 0x08;

// Jump operations.
pub const JA: u8 = 0x00;
pub const JEQ: u8 = 0x10;
pub const JGT: u8 = 0x20;
pub const JGE: u8 = 0x30;
pub const JSET: u8 = 0x40;
pub const JNE: u8 = 0x50;
pub const CALL: u8 = 0x80;
pub const EXIT: u8 = 0x90;
pub const JLT: u8 = 0xa0;
pub const JLE: u8 = 0xb0;

/// Registers: r0 return value, r1–r5 arguments (clobbered by calls), r6–r9 callee-saved,
/// r10 the read-only frame pointer.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R6: u8 = 6;
pub const R7: u8 = 7;
pub const R8: u8 = 8;
pub const R9: u8 = 9;
pub const R10: u8 = 10;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// `dst = imm` on 64 bits (sign-extended).
pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
    insn(ALU64 | MOV | K, dst, 0, 0, imm)
}
/// `dst = src` on 64 bits.
pub const fn mov64_reg(dst: u8, src: u8) -> Insn {
    insn(ALU64 | MOV | X, dst, src, 0, 0)
}
/// `wdst = imm`: the low 32 bits, the upper ones cleared.
pub const fn mov32_imm(dst: u8, imm: u32) -> Insn {
    insn(ALU | MOV | K, dst, 0, 0, imm as i32)
}
/// `wdst = wsrc`.
pub const fn mov32_reg(dst: u8, src: u8) -> Insn {
    insn(ALU | MOV | X, dst, src, 0, 0)
}
/// `wdst op= imm` (32-bit ALU: the result's upper 32 bits are cleared).
pub const fn alu32_imm(op: u8, dst: u8, imm: u32) -> Insn {
    insn(ALU | op | K, dst, 0, 0, imm as i32)
}
/// `wdst op= wsrc`.
pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    insn(ALU | op | X, dst, src, 0, 0)
}
/// `dst op= imm` on 64 bits (imm sign-extended).
pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    insn(ALU64 | op | K, dst, 0, 0, imm)
}
/// `dst op= src` on 64 bits.
pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    insn(ALU64 | op | X, dst, src, 0, 0)
}
/// `wdst = -wdst`.
pub const fn neg32(dst: u8) -> Insn {
    insn(ALU | NEG, dst, 0, 0, 0)
}
/// `dst = htobe(dst)` keeping the low `bits` (16 or 32) bits.
pub const fn to_be(dst: u8, bits: i32) -> Insn {
    insn(ALU | END | TO_BE, dst, 0, 0, bits)
}
/// `dst = *(size *)(src + off)`, zero-extended.
pub const fn load(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    insn(LDX | MEM | size, dst, src, off, 0)
}
/// `*(size *)(dst + off) = src`.
pub const fn store(size: u8, dst: u8, off: i16, src: u8) -> Insn {
    insn(STX | MEM | size, dst, src, off, 0)
}
/// `goto +off`.
pub const fn ja(off: i16) -> Insn {
    insn(JMP | JA, 0, 0, off, 0)
}
/// `if wdst op imm goto +off` (32-bit comparison).
pub const fn jmp32_imm(op: u8, dst: u8, imm: u32, off: i16) -> Insn {
    insn(JMP32 | op | K, dst, 0, off, imm as i32)
}
/// `if wdst op wsrc goto +off`.
pub const fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    insn(JMP32 | op | X, dst, src, off, 0)
}
/// `if dst op imm goto +off` (64-bit comparison, imm sign-extended).
pub const fn jmp64_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    insn(JMP | op | K, dst, 0, off, imm)
}
/// `if dst op src goto +off` (64-bit comparison).
pub const fn jmp64_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    insn(JMP | op | X, dst, src, off, 0)
}
/// `call helper`.
pub const fn call(helper: i32) -> Insn {
    insn(JMP | CALL, 0, 0, 0, helper)
}
/// `exit`.
pub const fn exit() -> Insn {
    insn(JMP | EXIT, 0, 0, 0, 0)
}

/// Helper function ids (linux/bpf.h `___BPF_FUNC_MAPPER`).
pub mod helper {
    pub const GET_PRANDOM_U32: i32 = 7;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const SKB_LOAD_BYTES: i32 = 26;
    pub const XDP_GET_BUFF_LEN: i32 = 188;
    pub const XDP_LOAD_BYTES: i32 = 189;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_the_kernels() {
        // From `llvm-objdump -d` of the BPF backend's output: `r6 = r1` is bf 16 00 00 00 00 00 00,
        // `w0 = -1` is b4 00 00 00 ff ff ff ff, `goto +0` is 05 00 00 00 ...,
        // `r2 = *(u32 *)(r6 + 76)` is 61 62 4c 00 00 00 00 00, `call 26` is 85 00 00 00 1a 00 00 00.
        assert_eq!(mov64_reg(R6, R1).to_bytes(), [0xbf, 0x16, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            mov32_imm(R0, u32::MAX).to_bytes(),
            [0xb4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(ja(0).to_bytes(), [0x05, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(load(W, R2, R6, 76).to_bytes(), [0x61, 0x62, 0x4c, 0, 0, 0, 0, 0]);
        assert_eq!(call(helper::SKB_LOAD_BYTES).to_bytes(), [0x85, 0, 0, 0, 0x1a, 0, 0, 0]);
        assert_eq!(store(DW, R10, -8, R1).to_bytes(), [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]);
        assert_eq!(to_be(R7, 16).to_bytes(), [0xdc, 0x07, 0, 0, 0x10, 0, 0, 0]);
        assert_eq!(jmp32_imm(JGT, R8, 31, 2).to_bytes(), [0x26, 0x08, 2, 0, 31, 0, 0, 0]);
        assert_eq!(exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        for i in [mov64_reg(R6, R1), jmp64_reg(JGT, R2, R1, -3), alu32_imm(AND, R8, 0xf)] {
            assert_eq!(Insn::from_bytes(i.to_bytes()), i);
        }
    }
}
