//! Kernel timestamps (`bpf_ktime_get_ns`, CLOCK_MONOTONIC) to wall-clock time.

use crate::print::Timestamp;

fn now(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Converts CLOCK_MONOTONIC nanoseconds to wall-clock time with an offset
/// measured between the two clocks. Recalibrate now and then: NTP slews the
/// wall clock, not the monotonic one.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, in nanoseconds.
    offset_ns: i128,
}

impl Clock {
    pub fn new() -> Self {
        let mut clock = Self { offset_ns: 0 };
        clock.calibrate();
        clock
    }

    /// Samples realtime/monotonic/realtime several times and keeps the
    /// tightest bracket, so the offset is good to well under a microsecond.
    pub fn calibrate(&mut self) {
        let mut best = (i128::MAX, 0i128);
        for _ in 0..7 {
            let r1 = now(libc::CLOCK_REALTIME);
            let m = now(libc::CLOCK_MONOTONIC);
            let r2 = now(libc::CLOCK_REALTIME);
            let width = r2 - r1;
            if width < best.0 {
                best = (width, (r1 + r2) / 2 - m);
            }
        }
        self.offset_ns = best.1;
    }

    pub fn to_wall(&self, mono_ns: u64) -> Timestamp {
        let t = i128::from(mono_ns) + self.offset_ns;
        // The usual case without a 128-bit division (a call to __divti3).
        if let Ok(t) = u64::try_from(t) {
            return Timestamp {
                sec: (t / 1_000_000_000) as i64,
                nsec: (t % 1_000_000_000) as i64,
            };
        }
        Timestamp {
            sec: (t.div_euclid(1_000_000_000)) as i64,
            nsec: (t.rem_euclid(1_000_000_000)) as i64,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_now_to_now() {
        let clock = Clock::new();
        let mono = now(libc::CLOCK_MONOTONIC) as u64;
        let wall = clock.to_wall(mono);
        let real = now(libc::CLOCK_REALTIME);
        let got = i128::from(wall.sec) * 1_000_000_000 + i128::from(wall.nsec);
        assert!((real - got).abs() < 1_000_000, "off by {} ns", real - got);
    }
}
