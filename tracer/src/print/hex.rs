//! Hex and ASCII dumps as tcpdump's print-ascii.c writes them: `hex_and_ascii_print` (the
//! default printer for unknown payloads and `-X`), `hex_print` (`-x`) and `ascii_print` (`-A`).

use super::out::Out;

/// ND_ASCII_ISGRAPH: printable ASCII other than space.
fn is_graph(c: u8) -> bool {
    (0x21..=0x7e).contains(&c)
}

/// `hex_and_ascii_print(ndo, indent, cp, length)`: 16 bytes a line, `0x%04x: ` offset, hex in
/// groups of two bytes padded to 40 columns, two spaces, then the printable characters.
/// Returns true when `length` exceeded what was captured (the caller prints the trunc marker).
pub(crate) fn hex_and_ascii(out: &mut Vec<u8>, indent: &str, data: &[u8], length: usize) -> bool {
    let truncated = length > data.len();
    let data = &data[..length.min(data.len())];
    for (line, chunk) in data.chunks(16).enumerate() {
        out.s(indent);
        out.s("0x");
        out.x_pad((line * 16) as u64, 4);
        out.s(": ");
        let start = out.len();
        for pair in chunk.chunks(2) {
            out.c(b' ');
            for &b in pair {
                out.x_pad(b as u64, 2);
            }
        }
        let written = out.len() - start;
        for _ in written..40 {
            out.c(b' ');
        }
        out.s("  ");
        for &b in chunk {
            out.c(if is_graph(b) { b } else { b'.' });
        }
    }
    truncated
}

/// `hex_print(ndo, indent, cp, length)`: like [`hex_and_ascii`] without the ASCII column and
/// without padding the last line.
pub(crate) fn hex(out: &mut Vec<u8>, indent: &str, data: &[u8]) {
    for (line, chunk) in data.chunks(16).enumerate() {
        out.s(indent);
        out.s("0x");
        out.x_pad((line * 16) as u64, 4);
        out.s(": ");
        for pair in chunk.chunks(2) {
            out.c(b' ');
            for &b in pair {
                out.x_pad(b as u64, 2);
            }
        }
    }
}

/// `ascii_print(ndo, cp, length)`: a newline, then the bytes, unprintable ones as `.`, tabs,
/// spaces and newlines kept; a carriage return is dropped before a newline and near the end.
pub(crate) fn ascii(out: &mut Vec<u8>, data: &[u8]) {
    out.c(b'\n');
    for (i, &b) in data.iter().enumerate() {
        if b == b'\r' {
            // tcpdump prints '.' only when more than one byte follows and the next is not '\n'.
            let rest = data.len() - i - 1;
            if rest > 1 && data.get(i + 1) != Some(&b'\n') {
                out.c(b'.');
            }
        } else if is_graph(b) || b == b'\t' || b == b' ' || b == b'\n' {
            out.c(b);
        } else {
            out.c(b'.');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut o = Vec::new();
        let data: Vec<u8> = (0x41..0x41 + 19).collect();
        hex_and_ascii(&mut o, "\n\t", &data, data.len());
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "\n\t0x0000:  4142 4344 4546 4748 494a 4b4c 4d4e 4f50  ABCDEFGHIJKLMNOP\
             \n\t0x0010:  5152 53                                  QRS"
        );
    }

    #[test]
    fn hex_only() {
        let mut o = Vec::new();
        let data: Vec<u8> = (0..19).collect();
        hex(&mut o, "\n\t", &data);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "\n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f\n\t0x0010:  1011 12"
        );
    }

    #[test]
    fn ascii_carriage_returns() {
        let mut o = Vec::new();
        ascii(&mut o, b"ABC\r\nD\x01\r\rx\ry\r");
        assert_eq!(o, b"\nABC\nD...x.y");
        o.clear();
        // A CR with exactly one byte after it is dropped too.
        ascii(&mut o, b"a\rb");
        assert_eq!(o, b"\nab");
    }
}
