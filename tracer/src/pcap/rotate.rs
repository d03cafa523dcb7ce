//! tcpdump's file rotation (`-C`, `-W`, `-G`): when the next file is opened
//! and what it is called, as tcpdump 4.99.3 does it (`MakeFilename` and
//! `dump_packet_and_trunc` in tcpdump.c).
//!
//! - `-C N`: before a packet is written, if the current file is already
//!   larger than N × 1,000,000 bytes it is closed and the next one opened, so
//!   a file exceeds the size by less than one record. The files are `FILE`,
//!   `FILE1`, `FILE2`, …; with `-W M` they are numbered `0 … M-1`, padded to
//!   the width of `M-1` (`FILE0 … FILE2` for `-W 3`, `FILE00 … FILE10` for
//!   `-W 11`), and after the last one the first is overwritten.
//! - `-G S`: the file name is an strftime(3) template expanded in local time;
//!   on the first packet S seconds or more after the current file was opened,
//!   the next one is opened (tcpdump has no timer: an idle capture keeps its
//!   file). With `-W M` (and no `-C`) the capture stops, exit status 0, when
//!   the M+1st file would be opened. With `-C` as well, the size count starts
//!   again at 0 in each new time slot and the name is the expanded template
//!   followed by the count.

use std::{
    ffi::{CString, OsStr, OsString},
    os::unix::ffi::{OsStrExt as _, OsStringExt as _},
    path::PathBuf,
};

/// tcpdump's unit for `-C`.
pub const FILE_SIZE_UNIT: u64 = 1_000_000;

/// tcpdump's limit on a generated name (PATH_MAX).
const MAX_NAME: usize = 4096;

/// What `-C`, `-W` and `-G` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`, in bytes: the next file is opened once the current one is larger.
    pub file_size: Option<u64>,
    /// `-W`: with `-C`, a ring of this many files; with `-G` alone, stop after this many files.
    /// Alone it does nothing (as in tcpdump).
    pub files: Option<u32>,
    /// `-G`, in seconds (0 = off, as in tcpdump).
    pub seconds: Option<u64>,
}

impl Rotation {
    /// Whether any rotation is asked for (then the output cannot be standard output).
    pub fn active(&self) -> bool {
        self.file_size.is_some() || self.time_based()
    }

    fn time_based(&self) -> bool {
        self.seconds.is_some_and(|s| s > 0)
    }

    /// tcpdump's `WflagChars`: the digits of `files - 1` (0 without `-W`).
    pub fn width(&self) -> usize {
        let mut x = self.files.map_or(0, |w| w.saturating_sub(1));
        let mut c = 0;
        while x > 0 {
            c += 1;
            x /= 10;
        }
        c
    }
}

/// A file name could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("an empty string is not a valid file name")]
    Empty,
    #[error("file name template contains a NUL byte")]
    Nul,
    #[error("strftime: file name template {template:?} expands to nothing or to more than 4096 bytes")]
    Strftime { template: String },
    #[error("too many output files or filename is too long (> 4096)")]
    TooLong,
}

/// tcpdump's `MakeFilename`: `template` expanded by strftime at `time`
/// (seconds since the epoch, local time) when given, then `count` appended,
/// zero-padded to `width`, unless both are 0.
pub fn file_name(template: &OsStr, time: Option<i64>, count: u32, width: usize) -> Result<PathBuf, NameError> {
    if template.is_empty() {
        return Err(NameError::Empty);
    }
    let mut name: Vec<u8> = match time {
        Some(t) => strftime(template, t)?,
        None => template.as_bytes().to_vec(),
    };
    if count != 0 || width != 0 {
        name.extend_from_slice(format!("{count:0width$}").as_bytes());
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    Ok(PathBuf::from(OsString::from_vec(name)))
}

fn strftime(template: &OsStr, time: i64) -> Result<Vec<u8>, NameError> {
    let fmt = CString::new(template.as_bytes()).map_err(|_| NameError::Nul)?;
    let bad = || NameError::Strftime {
        template: template.to_string_lossy().into_owned(),
    };
    // SAFETY: tm is plain old data; localtime_r fills it from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call. (`as _`: time_t, whose alias musl's libc
    // crate marks deprecated.)
    if unsafe { libc::localtime_r(&(time as _), &mut tm) }.is_null() {
        return Err(bad());
    }
    let mut buf = vec![0u8; MAX_NAME + 1];
    // SAFETY: buf has MAX_NAME + 1 writable bytes, fmt is NUL-terminated and tm initialised;
    // strftime writes at most `max` bytes including the terminating NUL.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), MAX_NAME, fmt.as_ptr(), &tm) };
    // 0 means it did not fit (the template is not empty, so an empty result is impossible
    // except for templates that expand to nothing, which tcpdump refuses too).
    if n == 0 {
        return Err(bad());
    }
    buf.truncate(n);
    Ok(buf)
}

/// What to do before writing the next packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write it into the current file.
    Keep,
    /// Close the current file, open this one (truncating it), write the packet there.
    Next(PathBuf),
    /// `-G` with `-W`: the file limit is reached; stop the capture (tcpdump prints
    /// `Maximum file limit reached: N` and exits 0).
    Stop,
}

/// The rotation state of one capture: tcpdump's `Cflag_count`, `Gflag_count`, `Gflag_time`.
#[derive(Debug)]
pub struct Rotator {
    rotation: Rotation,
    template: OsString,
    width: usize,
    size_count: u32,
    time_count: u32,
    /// When the current time slot began (seconds since the epoch).
    slot_start: i64,
}

impl Rotator {
    /// A capture starting at `now` (seconds since the epoch), writing to `template`.
    pub fn new(rotation: Rotation, template: &OsStr, now: i64) -> Self {
        Self {
            rotation,
            template: template.to_owned(),
            width: rotation.width(),
            size_count: 0,
            time_count: 0,
            slot_start: now,
        }
    }

    /// The `-W` limit when it stops the capture (`-G` and `-W` without `-C`).
    pub fn file_limit(&self) -> Option<u32> {
        match (self.rotation.time_based(), self.rotation.file_size, self.rotation.files) {
            (true, None, Some(w)) => Some(w),
            _ => None,
        }
    }

    /// The name of the first file.
    pub fn first_name(&self) -> Result<PathBuf, NameError> {
        self.name(0)
    }

    fn name(&self, count: u32) -> Result<PathBuf, NameError> {
        // Numbers only with -C; strftime only with -G.
        let width = if self.rotation.file_size.is_some() {
            self.width
        } else {
            0
        };
        let time = self.rotation.time_based().then_some(self.slot_start);
        file_name(&self.template, time, count, width)
    }

    /// Before a packet is written at `now` (seconds since the epoch) into a file that
    /// holds `size` bytes so far (header included).
    pub fn before_packet(&mut self, now: i64, size: u64) -> Result<Step, NameError> {
        if let Some(secs) = self.rotation.seconds.filter(|&s| s > 0)
            && now.saturating_sub(self.slot_start) >= i64::try_from(secs).unwrap_or(i64::MAX)
        {
            self.slot_start = now;
            self.time_count = self.time_count.saturating_add(1);
            if let Some(limit) = self.file_limit()
                && self.time_count >= limit
            {
                return Ok(Step::Stop);
            }
            self.size_count = 0;
            return self.name(0).map(Step::Next);
        }
        if let Some(limit) = self.rotation.file_size
            && size > limit
        {
            self.size_count = self.size_count.saturating_add(1);
            if self.rotation.files.is_some_and(|w| self.size_count >= w) {
                self.size_count = 0;
            }
            return self.name(self.size_count).map(Step::Next);
        }
        Ok(Step::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: Result<Step, NameError>) -> String {
        match p.unwrap() {
            Step::Next(p) => p.to_string_lossy().into_owned(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn widths_as_tcpdump() {
        let w = |files| {
            Rotation {
                files,
                ..Rotation::default()
            }
            .width()
        };
        assert_eq!(
            [w(None), w(Some(1)), w(Some(2)), w(Some(10)), w(Some(11)), w(Some(101))],
            [0, 0, 1, 1, 2, 3]
        );
    }

    #[test]
    fn size_ring_names() {
        // -C 1 -W 3: r0 r1 r2 r0 ...
        let rot = Rotation {
            file_size: Some(FILE_SIZE_UNIT),
            files: Some(3),
            seconds: None,
        };
        let mut r = Rotator::new(rot, OsStr::new("r"), 0);
        assert_eq!(r.first_name().unwrap(), PathBuf::from("r0"));
        // Exactly at the limit is not over it.
        assert_eq!(r.before_packet(5, FILE_SIZE_UNIT).unwrap(), Step::Keep);
        let names: Vec<String> = (0..4).map(|_| name(r.before_packet(5, FILE_SIZE_UNIT + 1))).collect();
        assert_eq!(names, ["r1", "r2", "r0", "r1"]);
        assert_eq!(r.file_limit(), None);
    }

    #[test]
    fn size_without_ring() {
        // -C 1: c c1 c2 ... (no padding).
        let rot = Rotation {
            file_size: Some(FILE_SIZE_UNIT),
            ..Rotation::default()
        };
        let mut r = Rotator::new(rot, OsStr::new("dir/c.pcap"), 0);
        assert_eq!(r.first_name().unwrap(), PathBuf::from("dir/c.pcap"));
        let names: Vec<String> = (0..11).map(|_| name(r.before_packet(0, 2 * FILE_SIZE_UNIT))).collect();
        assert_eq!(names[0], "dir/c.pcap1");
        assert_eq!(names[10], "dir/c.pcap11");
        // -W 11: two digits.
        let rot = Rotation {
            file_size: Some(FILE_SIZE_UNIT),
            files: Some(11),
            seconds: None,
        };
        let r = Rotator::new(rot, OsStr::new("e"), 0);
        assert_eq!(r.first_name().unwrap(), PathBuf::from("e00"));
    }

    #[test]
    fn time_rotation_names_and_limit() {
        // Names in local time; TZ is not touched here, so compare with strftime itself.
        let t0 = 1_700_000_000;
        let rot = Rotation {
            seconds: Some(2),
            files: Some(2),
            file_size: None,
        };
        let mut r = Rotator::new(rot, OsStr::new("cap-%Y%m%d-%H%M%S.pcap"), t0);
        let first = r.first_name().unwrap();
        assert_eq!(
            first,
            file_name(OsStr::new("cap-%Y%m%d-%H%M%S.pcap"), Some(t0), 0, 0).unwrap()
        );
        assert!(first.to_string_lossy().starts_with("cap-2023111"), "{first:?}");
        assert!(!first.to_string_lossy().contains('%'));
        assert_eq!(
            r.before_packet(t0 + 1, 1 << 40).unwrap(),
            Step::Keep,
            "-W alone does not count size"
        );
        let second = name(r.before_packet(t0 + 2, 24));
        assert_ne!(second, first.to_string_lossy());
        assert_eq!(r.file_limit(), Some(2));
        assert_eq!(r.before_packet(t0 + 3, 24).unwrap(), Step::Keep);
        assert_eq!(r.before_packet(t0 + 4, 24).unwrap(), Step::Stop);
    }

    #[test]
    fn time_and_size() {
        // -G 1 -C 1 -W 2: strftime name + count padded to one digit, count reset per slot,
        // -W no limit on files.
        let rot = Rotation {
            seconds: Some(1),
            files: Some(2),
            file_size: Some(FILE_SIZE_UNIT),
        };
        let mut r = Rotator::new(rot, OsStr::new("h-%S."), 7);
        let base = |t| file_name(OsStr::new("h-%S."), Some(t), 0, 0).unwrap();
        let with = |t, n: u32| format!("{}{n}", base(t).to_string_lossy());
        assert_eq!(r.first_name().unwrap().to_string_lossy(), with(7, 0));
        assert_eq!(name(r.before_packet(7, 2 * FILE_SIZE_UNIT)), with(7, 1));
        assert_eq!(name(r.before_packet(7, 2 * FILE_SIZE_UNIT)), with(7, 0));
        assert_eq!(name(r.before_packet(8, 24)), with(8, 0));
        assert_eq!(name(r.before_packet(8, 2 * FILE_SIZE_UNIT)), with(8, 1));
        for t in 9..20 {
            assert!(matches!(r.before_packet(t, 24).unwrap(), Step::Next(_)));
        }
        assert_eq!(r.file_limit(), None);
    }

    #[test]
    fn time_without_format_and_off() {
        // -G 0 is off; -G without a format reuses the same name.
        let mut r = Rotator::new(
            Rotation {
                seconds: Some(0),
                ..Rotation::default()
            },
            OsStr::new("x"),
            0,
        );
        assert_eq!(r.before_packet(1000, 1 << 40).unwrap(), Step::Keep);
        let mut r = Rotator::new(
            Rotation {
                seconds: Some(1),
                ..Rotation::default()
            },
            OsStr::new("x"),
            0,
        );
        assert_eq!(name(r.before_packet(1, 0)), "x");
    }

    #[test]
    fn bad_names() {
        assert_eq!(file_name(OsStr::new(""), None, 0, 0), Err(NameError::Empty));
        assert_eq!(file_name(OsStr::new("a\0b"), Some(0), 0, 0), Err(NameError::Nul));
        assert!(matches!(
            file_name(OsStr::new(&"%Y".repeat(3000)), Some(0), 0, 0),
            Err(NameError::Strftime { .. })
        ));
        assert_eq!(
            file_name(OsStr::new(&"a".repeat(4096)), None, 1, 0),
            Err(NameError::TooLong)
        );
    }
}
