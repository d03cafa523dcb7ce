//! Decode + print arbitrary bytes: the first 4 bytes choose the link type (among those the
//! printer supports) and the flags; the rest is the packet. The printer must never panic, and
//! every call must end its output with a newline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::print::{PrintOptions, Printer, TimeFormat, Timestamp};

const LINKTYPES: [u32; 9] = [1, 113, 276, 0, 108, 101, 228, 229, 12];

fuzz_target!(|input: &[u8]| {
    if input.len() < 4 {
        return;
    }
    let sel = u32::from_le_bytes([input[0], input[1], input[2], input[3]]);
    let linktype = LINKTYPES[(sel % LINKTYPES.len() as u32) as usize];
    let opts = PrintOptions {
        absolute_seq: sel & 0x100 != 0,
        time: TimeFormat::None,
        nano: false,
        numeric: true,
        ..Default::default()
    };
    let data = &input[4..];
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
