//! Hex dumps: tcpdump's hex_and_ascii_print (the default printer for unknown payloads).

use super::out::Out;

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
}
