//! Allocation-free writers for the pieces every printer emits: decimal and hex numbers,
//! IPv4/IPv6 addresses as tcpdump formats them, MAC and link-layer addresses.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// "00" "01" … "99".
pub(crate) const DIGITS2: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Output helpers on the line buffer.
pub(crate) trait Out {
    fn s(&mut self, s: &str);
    fn b(&mut self, b: &[u8]);
    fn c(&mut self, c: u8);
    fn u(&mut self, n: u64);
    /// Decimal, zero-padded to at least `width` digits.
    fn u_pad(&mut self, n: u64, width: usize);
    /// Lower-case hex without leading zeros (printf "%x").
    fn x(&mut self, n: u64);
    /// Lower-case hex, zero-padded to `width` digits (printf "%0Nx").
    fn x_pad(&mut self, n: u64, width: usize);
    fn ipv4(&mut self, a: &[u8]);
    fn ipv6(&mut self, a: &[u8]);
    /// Colon-separated hex bytes (etheraddr_string / linkaddr_string).
    fn linkaddr(&mut self, a: &[u8]);
}

/// `.` and six digits of `us` (below 10^6), appended with one copy.
pub(crate) fn dot_micros(out: &mut Vec<u8>, us: u32) {
    let f = us.min(999_999) as usize;
    let (a, b, c) = (2 * (f / 10_000), 2 * (f / 100 % 100), 2 * (f % 100));
    out.extend_from_slice(&[
        b'.',
        DIGITS2[a],
        DIGITS2[a + 1],
        DIGITS2[b],
        DIGITS2[b + 1],
        DIGITS2[c],
        DIGITS2[c + 1],
    ]);
}

/// A dotted quad assembled in a 16-byte chunk and appended with one
/// fixed-size copy (the length then cut back): no call to memcpy per octet.
fn ipv4_quad(out: &mut Vec<u8>, quad: [u8; 4]) {
    let mut chunk = [0u8; 16];
    let mut at = 0;
    for (i, o) in quad.into_iter().enumerate() {
        if i > 0 {
            chunk[at] = b'.';
            at += 1;
        }
        let o = usize::from(o);
        if o >= 100 {
            chunk[at] = b'0' + (o / 100) as u8;
            chunk[at + 1..at + 3].copy_from_slice(&DIGITS2[2 * (o % 100)..2 * (o % 100) + 2]);
            at += 3;
        } else if o >= 10 {
            chunk[at..at + 2].copy_from_slice(&DIGITS2[2 * o..2 * o + 2]);
            at += 2;
        } else {
            chunk[at] = b'0' + o as u8;
            at += 1;
        }
    }
    let start = out.len();
    out.extend_from_slice(&chunk);
    out.truncate(start + at);
}

impl Out for Vec<u8> {
    #[inline]
    fn s(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    #[inline]
    fn b(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    #[inline]
    fn c(&mut self, c: u8) {
        self.push(c);
    }
    #[inline]
    fn u(&mut self, n: u64) {
        self.u_pad(n, 1);
    }
    fn u_pad(&mut self, mut n: u64, width: usize) {
        // Two digits at a time from a table; most numbers printed fit in u32 arithmetic.
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        while n >= 100 {
            let d = (n % 100) as usize * 2;
            n /= 100;
            i -= 2;
            buf[i] = DIGITS2[d];
            buf[i + 1] = DIGITS2[d + 1];
        }
        if n >= 10 {
            let d = n as usize * 2;
            i -= 2;
            buf[i] = DIGITS2[d];
            buf[i + 1] = DIGITS2[d + 1];
        } else {
            i -= 1;
            buf[i] = b'0' + n as u8;
        }
        let digits = buf.len() - i;
        for _ in digits..width {
            self.push(b'0');
        }
        self.extend_from_slice(&buf[i..]);
    }
    fn x(&mut self, n: u64) {
        self.x_pad(n, 1);
    }
    fn x_pad(&mut self, mut n: u64, width: usize) {
        let mut buf = [0u8; 16];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = HEX[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        let digits = buf.len() - i;
        for _ in digits..width {
            self.push(b'0');
        }
        self.extend_from_slice(&buf[i..]);
    }
    fn ipv4(&mut self, a: &[u8]) {
        if let Ok(quad) = <[u8; 4]>::try_from(a) {
            return ipv4_quad(self, quad);
        }
        for (i, &o) in a.iter().take(4).enumerate() {
            if i != 0 {
                self.push(b'.');
            }
            self.u(o as u64);
        }
    }
    fn ipv6(&mut self, a: &[u8]) {
        if a.len() < 16 {
            return;
        }
        let mut words = [0u16; 8];
        for (i, w) in words.iter_mut().enumerate() {
            *w = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
        }
        // Longest run of zero words (first one on ties), at least two long (addrtostr6).
        let (mut best_base, mut best_len) = (usize::MAX, 0usize);
        let (mut cur_base, mut cur_len) = (usize::MAX, 0usize);
        for (i, &w) in words.iter().enumerate() {
            if w == 0 {
                if cur_base == usize::MAX {
                    cur_base = i;
                    cur_len = 1;
                } else {
                    cur_len += 1;
                }
            } else if cur_base != usize::MAX {
                if best_base == usize::MAX || cur_len > best_len {
                    best_base = cur_base;
                    best_len = cur_len;
                }
                cur_base = usize::MAX;
            }
        }
        if cur_base != usize::MAX && (best_base == usize::MAX || cur_len > best_len) {
            best_base = cur_base;
            best_len = cur_len;
        }
        if best_base != usize::MAX && best_len < 2 {
            best_base = usize::MAX;
        }
        let in_best = |i: usize| best_base != usize::MAX && i >= best_base && i < best_base + best_len;
        let mut i = 0;
        while i < 8 {
            if in_best(i) {
                if i == best_base {
                    self.push(b':');
                }
                i += 1;
                continue;
            }
            if i != 0 {
                self.push(b':');
            }
            if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
                self.ipv4(&a[12..16]);
                return;
            }
            self.x(words[i] as u64);
            i += 1;
        }
        if best_base != usize::MAX && best_base + best_len == 8 {
            self.push(b':');
        }
    }
    fn linkaddr(&mut self, a: &[u8]) {
        for (i, &o) in a.iter().enumerate() {
            if i != 0 {
                self.push(b':');
            }
            self.push(HEX[(o >> 4) as usize]);
            self.push(HEX[(o & 0xf) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> String {
        let a: std::net::Ipv6Addr = s.parse().unwrap();
        let mut o = Vec::new();
        o.ipv6(&a.octets());
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn numbers() {
        let mut o = Vec::new();
        o.u(0);
        o.c(b' ');
        o.u(4294967295);
        o.c(b' ');
        o.u_pad(42, 6);
        o.c(b' ');
        for n in [0u64, 9, 10, 99, 100, 101, 999, 1000, 65535, 123456789, u64::MAX] {
            let mut v = Vec::new();
            v.u(n);
            assert_eq!(v, n.to_string().as_bytes());
            v.clear();
            v.u_pad(n, 7);
            assert_eq!(v, format!("{n:07}").as_bytes());
        }
        o.x(0xbeef);
        o.c(b' ');
        o.x_pad(0xa, 4);
        assert_eq!(o, b"0 4294967295 000042 beef 000a");
    }

    #[test]
    fn ipv6_like_addrtostr6() {
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("fe80::1:2"), "fe80::1:2");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
        assert_eq!(v6("::10.0.0.1"), "::10.0.0.1");
        assert_eq!(v6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(v6("fd00::"), "fd00::");
    }

    #[test]
    fn addresses() {
        let mut o = Vec::new();
        o.ipv4(&[192, 168, 0, 1]);
        o.c(b' ');
        o.linkaddr(&[0, 0x1b, 0xff, 1, 2, 3]);
        assert_eq!(o, b"192.168.0.1 00:1b:ff:01:02:03");
    }
}
