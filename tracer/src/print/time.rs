//! Timestamp prefixes: `-t` through `-ttttt` and `--nano`, as tcpdump's ts_print() writes them.

use super::out::{Out, dot_micros};
use super::{TimeFormat, Timestamp};

/// Per-printer timestamp state: the broken-down time of the last second printed (so
/// `localtime_r` runs once per second, not once per packet) and the reference packets for the
/// delta formats.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    cached_sec: Option<i64>,
    cached_local: Option<[u8; 19]>, // "YYYY-MM-DD HH:MM:SS"
    reference: Option<Timestamp>,
}

impl Clock {
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, ts: Timestamp, format: TimeFormat, nano: bool) {
        match format {
            TimeFormat::None => {}
            TimeFormat::Default => {
                self.local(out, ts, false, nano);
                out.c(b' ');
            }
            TimeFormat::DateTime => {
                self.local(out, ts, true, nano);
                out.c(b' ');
            }
            TimeFormat::Epoch => {
                // ts_unix_print(): times past 2038 (bit 31 set) are refused.
                if (ts.sec as u32) & 0x8000_0000 != 0 {
                    out.s("[Error converting time]");
                } else {
                    out.u((ts.sec as u32) as u64);
                    frac(out, ts, nano);
                }
                out.c(b' ');
            }
            TimeFormat::Delta | TimeFormat::SinceFirst => {
                // netdissect_timevalisset(): a reference of 0.000000 counts as not set, so the
                // packet after a zero time stamp becomes the reference again (as seen at the
                // precision printed: 0.000000500 is zero without --nano).
                let reference = match self.reference {
                    Some(r) if r.sec != 0 || r.frac(nano) != 0 => r,
                    _ => {
                        self.reference = Some(ts);
                        ts
                    }
                };
                let (a, b, negative) = if (ts.sec, ts.frac(nano)) < (reference.sec, reference.frac(nano)) {
                    (reference, ts, true)
                } else {
                    (ts, reference, false)
                };
                let (sec, sub) = sub(a, b, nano);
                out.c(if negative { b'-' } else { b' ' });
                if (sec as u32) & 0x8000_0000 != 0 {
                    out.s("[Error converting time]");
                } else {
                    let s = sec.rem_euclid(86400);
                    out.u_pad((s / 3600) as u64, 2);
                    out.c(b':');
                    out.u_pad((s % 3600 / 60) as u64, 2);
                    out.c(b':');
                    out.u_pad((s % 60) as u64, 2);
                    out.c(b'.');
                    out.u_pad(sub, if nano { 9 } else { 6 });
                }
                out.c(b' ');
                if format == TimeFormat::Delta {
                    self.reference = Some(ts);
                }
            }
        }
    }

    fn local(&mut self, out: &mut Vec<u8>, ts: Timestamp, date: bool, nano: bool) {
        if (ts.sec as u32) & 0x8000_0000 != 0 {
            out.s("[Error converting time]");
            return;
        }
        if self.cached_sec != Some(ts.sec) {
            self.cached_sec = Some(ts.sec);
            self.cached_local = localtime(ts.sec);
        }
        match &self.cached_local {
            Some(text) => out.b(if date { &text[..] } else { &text[11..] }),
            None => {
                out.s("[Error converting time]");
                return;
            }
        }
        frac(out, ts, nano);
    }
}

/// tcpdump prints the field with `%06u`/`%09u` of an unsigned int: a corrupt one, too big or
/// negative, is printed as its low 32 bits.
fn frac(out: &mut Vec<u8>, ts: Timestamp, nano: bool) {
    let field = u64::from(ts.frac(nano) as u32);
    if !nano && field < 1_000_000 {
        // Every packet's and every state line's time.
        return dot_micros(out, field as u32);
    }
    out.c(b'.');
    out.u_pad(field, if nano { 9 } else { 6 });
}

/// a - b (a >= b), in seconds and micro- or nanoseconds, as netdissect_timevalsub does.
fn sub(a: Timestamp, b: Timestamp, nano: bool) -> (i64, u64) {
    let unit: i64 = if nano { 1_000_000_000 } else { 1_000_000 };
    let fa = a.frac(nano);
    let fb = b.frac(nano);
    let mut sec = a.sec.wrapping_sub(b.sec);
    let mut f = fa - fb;
    if f < 0 {
        f += unit;
        sec = sec.wrapping_sub(1);
    }
    // The fraction is borrowed from the seconds once; with corrupt (unnormalised) fields it can
    // stay negative, and tcpdump prints it as an unsigned int.
    (sec, u64::from(f as u32))
}

/// Local broken-down time through libc (honours TZ like tcpdump), as "YYYY-MM-DD HH:MM:SS".
fn localtime(sec: i64) -> Option<[u8; 19]> {
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers reference live, properly aligned values. (`as _`: time_t, whose
    // alias musl's libc crate marks deprecated.)
    let r = unsafe { libc::localtime_r(&(sec as _), &mut tm) };
    if r.is_null() {
        return None;
    }
    let mut v = Vec::with_capacity(19);
    let year = tm.tm_year as i64 + 1900;
    if !(0..=9999).contains(&year) {
        return None;
    }
    v.u_pad(year as u64, 4);
    v.c(b'-');
    v.u_pad((tm.tm_mon + 1) as u64, 2);
    v.c(b'-');
    v.u_pad(tm.tm_mday as u64, 2);
    v.c(b' ');
    v.u_pad(tm.tm_hour as u64, 2);
    v.c(b':');
    v.u_pad(tm.tm_min as u64, 2);
    v.c(b':');
    v.u_pad(tm.tm_sec as u64, 2);
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_fractions_print_as_tcpdump() {
        // 49220352 "microseconds": printed whole; with --nano times 1000 in 32 bits.
        let ts = Timestamp {
            sec: 3600,
            nsec: 49_220_352_000,
        };
        let mut c = Clock::default();
        let mut o = Vec::new();
        c.write(&mut o, ts, TimeFormat::Epoch, false);
        c.write(&mut o, ts, TimeFormat::Epoch, true);
        assert_eq!(o, b"3600.49220352 3600.1975711744 ");
        // A zero reference is "not set": the next packet becomes the reference.
        let mut c = Clock::default();
        let mut o = Vec::new();
        c.write(&mut o, Timestamp::default(), TimeFormat::Delta, false);
        c.write(&mut o, Timestamp { sec: 5, nsec: 0 }, TimeFormat::Delta, false);
        assert_eq!(o, b" 00:00:00.000000  00:00:00.000000 ");
    }

    #[test]
    fn out_of_range_fields_print_as_tcpdump() {
        let epoch = |ts: Timestamp, nano: bool| {
            let mut o = Vec::new();
            Clock::default().write(&mut o, ts, TimeFormat::Epoch, nano);
            String::from_utf8(o).unwrap()
        };
        // A nanosecond file's 4292819813, read as -2147483: %09u of it, and of -2147 (not of
        // 4292819813 / 1000) without --nano.
        let ts = Timestamp {
            sec: 1002,
            nsec: -2_147_483,
        };
        assert_eq!(epoch(ts, true), "1002.4292819813 ");
        assert_eq!(epoch(ts, false), "1002.4294965149 ");
        // Byte-swapped, the same field stays positive: divided, not clamped.
        let ts = Timestamp {
            sec: 1002,
            nsec: 4_292_819_813,
        };
        assert_eq!(epoch(ts, true), "1002.4292819813 ");
        assert_eq!(epoch(ts, false), "1002.4292819 ");
        // A nanosecond field of 10^9: seven digits without --nano, ten with it.
        let ts = Timestamp {
            sec: 1001,
            nsec: 1_000_000_000,
        };
        assert_eq!(epoch(ts, false), "1001.1000000 ");
        assert_eq!(epoch(ts, true), "1001.1000000000 ");
        // A microsecond file's 2147483648 (-2147483648 in the host's order): times 1000 with
        // --nano is 0 in 32 bits.
        let ts = Timestamp {
            sec: 1006,
            nsec: -2_147_483_648_000,
        };
        assert_eq!(epoch(ts, false), "1006.2147483648 ");
        assert_eq!(epoch(ts, true), "1006.000000000 ");
    }

    #[test]
    fn delta_reference_is_set_at_the_printed_precision() {
        // 0.000000500 is "not set" in microseconds, so the next packet becomes the reference;
        // with --nano it is the reference.
        let times = [(0, 500), (5, 100_000), (6, 0)].map(|(sec, nsec)| Timestamp { sec, nsec });
        for (nano, want) in [
            (false, " 00:00:00.000000  00:00:00.000000  00:00:00.999900 "),
            (true, " 00:00:00.000000000  00:00:05.000099500  00:00:00.999900000 "),
        ] {
            let mut c = Clock::default();
            let mut o = Vec::new();
            for ts in times {
                c.write(&mut o, ts, TimeFormat::Delta, nano);
            }
            assert_eq!(String::from_utf8(o).unwrap(), want);
        }
        // Seconds with bit 31 set, sign-extended (a file in the host's byte order): earlier
        // than the reference, and too far from it.
        let mut c = Clock::default();
        let mut o = Vec::new();
        c.write(&mut o, Timestamp { sec: 1000, nsec: 0 }, TimeFormat::Delta, false);
        c.write(
            &mut o,
            Timestamp {
                sec: -2_147_483_648,
                nsec: 7_000,
            },
            TimeFormat::Delta,
            false,
        );
        assert_eq!(o, b" 00:00:00.000000 -[Error converting time] ");
    }

    #[test]
    fn delta_and_epoch() {
        let mut c = Clock::default();
        let mut o = Vec::new();
        let t1 = Timestamp {
            sec: 100,
            nsec: 999_000,
        };
        let t2 = Timestamp { sec: 101, nsec: 1_000 };
        c.write(&mut o, t1, TimeFormat::Delta, false);
        c.write(&mut o, t2, TimeFormat::Delta, false);
        assert_eq!(o, b" 00:00:00.000000  00:00:00.999002 ");
        o.clear();
        c.write(&mut o, t2, TimeFormat::Epoch, true);
        assert_eq!(o, b"101.000001000 ");
        o.clear();
        let late = Timestamp {
            sec: 3_925_831_768,
            nsec: 0,
        };
        c.write(&mut o, late, TimeFormat::Epoch, false);
        assert_eq!(o, b"[Error converting time] ");
    }
}
