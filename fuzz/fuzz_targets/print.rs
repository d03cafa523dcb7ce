//! Decode + print arbitrary bytes. The first 4 bytes choose the link type (among those the
//! printer supports) and how the wire length relates to the captured length; the next 2 bytes
//! choose the flags (-S, -v..-vvv, -e, -q, -#, -x/-X/-A and their doubled forms);
//! the rest is the packet. The printer must never panic, and every call must end its output
//! with a newline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::print::{PrintOptions, Printer, TimeFormat, Timestamp};

const LINKTYPES: [u32; 9] = [1, 113, 276, 0, 108, 101, 228, 229, 12];

fuzz_target!(|input: &[u8]| {
    if input.len() < 6 {
        return;
    }
    let sel = u32::from_le_bytes([input[0], input[1], input[2], input[3]]);
    let flags = u16::from_le_bytes([input[4], input[5]]);
    let linktype = LINKTYPES[(sel % LINKTYPES.len() as u32) as usize];
    let opts = PrintOptions {
        absolute_seq: flags & 1 != 0,
        time: TimeFormat::None,
        nano: false,
        // Always numbers: without -n every new address would be a reverse DNS look-up, which
        // can wait on the resolver and starves the fuzzer; the name paths have their own tests.
        numeric: true,
        verbose: ((flags >> 1) & 3) as u8,
        link_header: flags & (1 << 3) != 0,
        quiet: flags & (1 << 4) != 0,
        number: flags & (1 << 5) != 0,
        hex: ((flags >> 6) & 3) as u8 % 3,
        hex_ascii: ((flags >> 8) & 3) as u8 % 3,
        ascii: ((flags >> 10) & 3) as u8 % 3,
    };
    let data = &input[6..];
    // Vary the wire length around the captured length (snaplen truncation and bad records).
    let orig_len = match (sel >> 9) & 3 {
        0 => data.len() as u32,
        1 => data.len() as u32 + (sel >> 16),
        2 => (data.len() as u32).saturating_sub(1),
        _ => sel >> 12,
    };
    let mut printer = Printer::new(opts);
    let mut out = Vec::new();
    // Twice, so the second packet meets the TCP sequence state the first one left.
    for _ in 0..2 {
        out.clear();
        printer.print(&mut out, Timestamp { sec: 0, nsec: 0 }, linktype, data, orig_len);
        assert!(out.ends_with(b"\n"));
    }
});
