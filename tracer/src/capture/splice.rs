//! Translated filters written over the packet programs' filter stubs in the object file,
//! before aya loads it (see tracer-ebpf's `filter` module for the stubs).
//!
//! Why this way: the filter becomes plain instructions inside each program, called like any
//! other function, which the verifier checks once with the program (a few milliseconds) and
//! the JIT compiles with it; no extra program, map or call mechanism is involved, and it
//! needs nothing newer than BPF-to-BPF calls (4.16). The alternatives cost more: `freplace`
//! of a global function needs the BPF trampoline (refused on some kernels, like fentry) and
//! loses direct packet access in a global function before 6.x, and a tail call into a
//! program assembled apart would have to carry the copying code too (a tail call does not
//! return). The price is a fixed room per stub ([`tracer_common::FILTER_STUB_INSNS`]), which
//! costs nothing at run time: the unused room is `goto +0`, which the verifier removes.

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};
use tracer_common::FILTER_STUB_INSNS;

use crate::filter::ebpf::{self, Insn};

#[derive(Debug, thiserror::Error)]
pub enum SpliceError {
    #[error("reading the eBPF object: {0}")]
    Parse(#[from] object::read::Error),
    #[error("the eBPF object has no filter stub `{name}`")]
    Missing { name: &'static str },
    #[error("the eBPF object's filter stub `{name}` is {size} bytes long")]
    Size { name: &'static str, size: u64 },
    #[error("the eBPF object's filter stub `{name}` is not a stub (relocated, or not `goto +0`s)")]
    NotAStub { name: &'static str },
    #[error("the filter takes {len} eBPF instructions, more than the {room} the stub `{name}` has room for")]
    Length {
        name: &'static str,
        len: usize,
        room: usize,
    },
}

/// An object file copy aligned as the ELF reader wants it (8 bytes).
pub struct AlignedObject {
    words: Vec<u64>,
    len: usize,
}

impl AlignedObject {
    fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: `words` holds at least bytes.len() bytes; u64 has no invalid bit patterns.
        let dst = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) };
        dst[..bytes.len()].copy_from_slice(bytes);
        AlignedObject {
            words,
            len: bytes.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` ≤ the words' size in bytes; any byte is a valid u8.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `self` is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// A copy of `object` with each named stub's instructions replaced by the given ones (a
/// translated filter: [`crate::filter::translate`]) at its end, and in front of them a jump
/// over the rest of the stub that the verifier knows is always taken (`w0 = 0; if w0 == 0
/// goto`): it never walks the unused room and removes it in one piece as dead code. (Left as
/// `goto +0`s on the path, the room was walked and removed one instruction at a time, which
/// cost a third of a second per program.)
pub fn splice(object: &[u8], stubs: &[(&'static str, &[Insn])]) -> Result<AlignedObject, SpliceError> {
    let mut copy = AlignedObject::new(object);
    let mut places = Vec::with_capacity(stubs.len());
    {
        let data = copy.bytes();
        let file = object::File::parse(data)?;
        for &(name, code) in stubs {
            places.push((stub_range(&file, data, name)?, code, name));
        }
    }
    let bytes = copy.bytes_mut();
    for (range, code, name) in places {
        let room = range.len() / 8;
        let too_long = SpliceError::Length {
            name,
            len: code.len(),
            room: room.saturating_sub(2),
        };
        let pad = room.checked_sub(code.len() + 2).ok_or(too_long)?;
        let skip = [
            ebpf::mov32_imm(ebpf::R0, 0),
            ebpf::jmp32_imm(
                ebpf::JEQ,
                ebpf::R0,
                0,
                i16::try_from(pad).map_err(|_| SpliceError::Size {
                    name,
                    size: range.len() as u64,
                })?,
            ),
        ];
        let nop = ebpf::ja(0);
        let all = skip.iter().chain(std::iter::repeat_n(&nop, pad)).chain(code);
        for (slot, insn) in bytes[range].chunks_exact_mut(8).zip(all) {
            slot.copy_from_slice(&insn.to_bytes());
        }
    }
    Ok(copy)
}

/// Where in the file the stub whose symbol contains `name` lies (its symbol is local: the
/// name is mangled), after checking that it is an untouched stub: the assembly's
/// `FILTER_STUB_INSNS - 2` `goto +0`s and what the compiler put around them.
fn stub_range(file: &object::File<'_>, data: &[u8], name: &'static str) -> Result<std::ops::Range<usize>, SpliceError> {
    let sym = file
        .symbols()
        .find(|s| s.kind() == SymbolKind::Text && s.name().is_ok_and(|n| n.contains(name)))
        .ok_or(SpliceError::Missing { name })?;
    let expected = sym.size();
    let nops = u64::from(FILTER_STUB_INSNS) - 2;
    if expected % 8 != 0 || expected / 8 < nops || expected / 8 > nops + 16 {
        return Err(SpliceError::Size { name, size: expected });
    }
    let section = sym
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .ok_or(SpliceError::Missing { name })?;
    let (sec_off, sec_size) = section.file_range().ok_or(SpliceError::Missing { name })?;
    let start = sym.address();
    if start.checked_add(expected).is_none_or(|end| end > sec_size) {
        return Err(SpliceError::NotAStub { name });
    }
    // Nothing in the stub may be relocated: the loader would rewrite what we wrote.
    if section
        .relocations()
        .any(|(at, _)| (start..start + expected).contains(&at))
    {
        return Err(SpliceError::NotAStub { name });
    }
    let from = usize::try_from(sec_off + start).map_err(|_| SpliceError::NotAStub { name })?;
    let range = from..from + expected as usize;
    let stub = data.get(range.clone()).ok_or(SpliceError::NotAStub { name })?;
    let nop = ebpf::ja(0).to_bytes();
    if (stub.chunks_exact(8).filter(|i| *i == nop).count() as u64) < nops {
        return Err(SpliceError::NotAStub { name });
    }
    Ok(range)
}
