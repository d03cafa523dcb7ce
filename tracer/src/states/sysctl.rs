//! The sysctls that govern TCP states, read from /proc/sys.
//!
//! /proc/sys/net shows the values of the reading thread's network namespace:
//! most `net.ipv4.tcp_*` settings, `net.core.somaxconn` and
//! `net.ipv4.ip_local_port_range` are per namespace. `net.ipv4.tcp_max_orphans`
//! is global and only visible from the initial namespace; elsewhere it reads
//! as unknown. A missing, unreadable or malformed value is unknown, never an
//! error for the caller.

use std::{
    fs,
    io::ErrorKind,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// One sysctl the diagnoses name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sysctl {
    TcpMaxSynBacklog,
    TcpSyncookies,
    TcpSynackRetries,
    TcpSynRetries,
    TcpSynLinearTimeouts,
    TcpMaxTwBuckets,
    TcpTwReuse,
    TcpFinTimeout,
    TcpOrphanRetries,
    TcpMaxOrphans,
    TcpKeepaliveTime,
    TcpKeepaliveIntvl,
    TcpKeepaliveProbes,
    TcpAbortOnOverflow,
    Somaxconn,
    IpLocalPortRange,
}

impl Sysctl {
    /// Every sysctl [`Sysctls`] holds, in reading order.
    pub const ALL: [Sysctl; 16] = [
        Self::TcpMaxSynBacklog,
        Self::TcpSyncookies,
        Self::TcpSynackRetries,
        Self::TcpSynRetries,
        Self::TcpSynLinearTimeouts,
        Self::TcpMaxTwBuckets,
        Self::TcpTwReuse,
        Self::TcpFinTimeout,
        Self::TcpOrphanRetries,
        Self::TcpMaxOrphans,
        Self::TcpKeepaliveTime,
        Self::TcpKeepaliveIntvl,
        Self::TcpKeepaliveProbes,
        Self::TcpAbortOnOverflow,
        Self::Somaxconn,
        Self::IpLocalPortRange,
    ];

    /// The name `sysctl` uses: `net.ipv4.tcp_fin_timeout`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TcpMaxSynBacklog => "net.ipv4.tcp_max_syn_backlog",
            Self::TcpSyncookies => "net.ipv4.tcp_syncookies",
            Self::TcpSynackRetries => "net.ipv4.tcp_synack_retries",
            Self::TcpSynRetries => "net.ipv4.tcp_syn_retries",
            Self::TcpSynLinearTimeouts => "net.ipv4.tcp_syn_linear_timeouts",
            Self::TcpMaxTwBuckets => "net.ipv4.tcp_max_tw_buckets",
            Self::TcpTwReuse => "net.ipv4.tcp_tw_reuse",
            Self::TcpFinTimeout => "net.ipv4.tcp_fin_timeout",
            Self::TcpOrphanRetries => "net.ipv4.tcp_orphan_retries",
            Self::TcpMaxOrphans => "net.ipv4.tcp_max_orphans",
            Self::TcpKeepaliveTime => "net.ipv4.tcp_keepalive_time",
            Self::TcpKeepaliveIntvl => "net.ipv4.tcp_keepalive_intvl",
            Self::TcpKeepaliveProbes => "net.ipv4.tcp_keepalive_probes",
            Self::TcpAbortOnOverflow => "net.ipv4.tcp_abort_on_overflow",
            Self::Somaxconn => "net.core.somaxconn",
            Self::IpLocalPortRange => "net.ipv4.ip_local_port_range",
        }
    }

    /// The file under /proc/sys: `net/ipv4/tcp_fin_timeout`.
    pub fn path(self) -> PathBuf {
        PathBuf::from(self.name().replace('.', "/"))
    }

    fn index(self) -> usize {
        // The discriminants are 0..ALL.len() in declaration order.
        self as usize
    }
}

/// Why a sysctl's value is unknown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    #[error("{name} does not exist here (not in this kernel, or not visible in this network namespace)")]
    Missing { name: &'static str },
    #[error("{name} cannot be read: {kind}")]
    Unreadable { name: &'static str, kind: ErrorKind },
    #[error("{name} is not a list of integers: {text:?}")]
    Malformed { name: &'static str, text: String },
    #[error("{name} was not read")]
    NotRead { name: &'static str },
}

/// The values of every [`Sysctl`], as read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctls {
    /// Whitespace-separated integers as the file holds them
    /// (`ip_local_port_range` has two), or why the value is unknown.
    values: [Result<Vec<i64>, SysctlError>; Sysctl::ALL.len()],
    /// Network namespace inode the values were read in; None when unknown
    /// (or when read from a directory other than /proc/sys).
    pub netns: Option<u32>,
}

impl Default for Sysctls {
    fn default() -> Self {
        Self::unknown()
    }
}

impl Sysctls {
    /// Every value unknown.
    pub fn unknown() -> Self {
        Self {
            values: Sysctl::ALL.map(|s| Err(SysctlError::NotRead { name: s.name() })),
            netns: None,
        }
    }

    /// Reads /proc/sys in the calling thread's network namespace.
    pub fn read() -> Self {
        let mut s = Self::read_from(Path::new("/proc/sys"));
        s.netns = current_netns();
        s
    }

    /// Reads the values below `root` (a directory laid out as /proc/sys).
    pub fn read_from(root: &Path) -> Self {
        Self {
            values: Sysctl::ALL.map(|s| read_one(root, s)),
            netns: None,
        }
    }

    /// Sets a value from its text (as the file would hold it); for callers
    /// that learn values elsewhere, and for tests.
    pub fn set(&mut self, sysctl: Sysctl, text: &str) {
        self.values[sysctl.index()] = parse(sysctl, text);
    }

    /// The value, or why it is unknown.
    pub fn get(&self, sysctl: Sysctl) -> Result<&[i64], &SysctlError> {
        self.values[sysctl.index()].as_deref()
    }

    /// The (first) integer of a value.
    pub fn int(&self, sysctl: Sysctl) -> Option<i64> {
        self.get(sysctl).ok().and_then(|v| v.first().copied())
    }

    /// `net.ipv4.ip_local_port_range` as (low, high).
    pub fn port_range(&self) -> Option<(u16, u16)> {
        match self.get(Sysctl::IpLocalPortRange).ok()? {
            [lo, hi] => Some((u16::try_from(*lo).ok()?, u16::try_from(*hi).ok()?)),
            _ => None,
        }
    }

    /// The value as text (`60`, `32768 60999`); None when unknown.
    pub fn text(&self, sysctl: Sysctl) -> Option<String> {
        let v = self.get(sysctl).ok()?;
        Some(v.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
    }
}

fn read_one(root: &Path, sysctl: Sysctl) -> Result<Vec<i64>, SysctlError> {
    let name = sysctl.name();
    match fs::read_to_string(root.join(sysctl.path())) {
        Ok(text) => parse(sysctl, &text),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(SysctlError::Missing { name }),
        Err(e) => Err(SysctlError::Unreadable { name, kind: e.kind() }),
    }
}

fn parse(sysctl: Sysctl, text: &str) -> Result<Vec<i64>, SysctlError> {
    let malformed = || SysctlError::Malformed {
        name: sysctl.name(),
        text: text.trim().chars().take(64).collect(),
    };
    let v = text
        .split_whitespace()
        .map(|f| f.parse::<i64>().map_err(|_| malformed()))
        .collect::<Result<Vec<_>, _>>()?;
    let fields = if sysctl == Sysctl::IpLocalPortRange { 2 } else { 1 };
    if v.len() == fields { Ok(v) } else { Err(malformed()) }
}

/// Inode of the calling thread's network namespace (what `tracer` prints as netns).
pub fn current_netns() -> Option<u32> {
    ["/proc/thread-self/ns/net", "/proc/self/ns/net"]
        .iter()
        .find_map(|p| fs::metadata(p).ok())
        .and_then(|m| u32::try_from(m.ino()).ok())
}

/// How long values read are used before /proc/sys is read again: the alerts
/// quote them, and re-reading sixteen files every second was most of an idle
/// tracer's work.
const MAX_AGE: Duration = Duration::from_secs(10);

/// Re-reads the sysctls at most once per `max_age` (`MAX_AGE` by default):
/// callers that refresh every second or print many alerts stay cheap.
#[derive(Debug)]
pub struct SysctlCache {
    root: Option<PathBuf>,
    max_age: Duration,
    last: Option<(Instant, Sysctls)>,
}

impl Default for SysctlCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SysctlCache {
    /// Reads /proc/sys of the calling thread's namespace.
    pub fn new() -> Self {
        Self {
            root: None,
            max_age: MAX_AGE,
            last: None,
        }
    }

    /// Reads below `root` instead, at most once per `max_age`.
    pub fn with_root(root: PathBuf, max_age: Duration) -> Self {
        Self {
            root: Some(root),
            max_age,
            last: None,
        }
    }

    /// The values, read again when the last reading is older than `max_age`.
    pub fn get(&mut self) -> &Sysctls {
        let now = Instant::now();
        let stale = self
            .last
            .as_ref()
            .is_none_or(|(at, _)| now.duration_since(*at) >= self.max_age);
        if stale {
            self.last = None;
        }
        let root = &self.root;
        &self
            .last
            .get_or_insert_with(|| {
                let s = match root {
                    Some(root) => Sysctls::read_from(root),
                    None => Sysctls::read(),
                };
                (now, s)
            })
            .1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tracer-sysctl-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("net/ipv4")).unwrap();
        fs::create_dir_all(d.join("net/core")).unwrap();
        d
    }

    fn write(root: &Path, s: Sysctl, text: &str) {
        fs::write(root.join(s.path()), text).unwrap();
    }

    #[test]
    fn reads_values_and_reports_missing_and_malformed_as_unknown() {
        let root = tempdir("read");
        write(&root, Sysctl::TcpFinTimeout, "60\n");
        write(&root, Sysctl::TcpMaxTwBuckets, "131072\n");
        write(&root, Sysctl::IpLocalPortRange, "32768\t60999\n");
        write(&root, Sysctl::Somaxconn, "4096\n");
        write(&root, Sysctl::TcpSyncookies, "yes\n");
        write(&root, Sysctl::TcpSynRetries, "6 7\n");
        // A directory where a file should be: reading fails, not with NotFound.
        fs::create_dir_all(root.join(Sysctl::TcpTwReuse.path())).unwrap();
        let s = Sysctls::read_from(&root);
        assert_eq!(s.int(Sysctl::TcpFinTimeout), Some(60));
        assert_eq!(s.text(Sysctl::TcpFinTimeout).as_deref(), Some("60"));
        assert_eq!(s.int(Sysctl::TcpMaxTwBuckets), Some(131072));
        assert_eq!(s.int(Sysctl::Somaxconn), Some(4096));
        assert_eq!(s.port_range(), Some((32768, 60999)));
        assert_eq!(s.text(Sysctl::IpLocalPortRange).as_deref(), Some("32768 60999"));
        assert!(matches!(
            s.get(Sysctl::TcpSyncookies),
            Err(SysctlError::Malformed {
                name: "net.ipv4.tcp_syncookies",
                ..
            })
        ));
        assert!(matches!(
            s.get(Sysctl::TcpSynRetries),
            Err(SysctlError::Malformed { .. })
        ));
        assert!(matches!(s.get(Sysctl::TcpTwReuse), Err(SysctlError::Unreadable { .. })));
        assert_eq!(
            s.get(Sysctl::TcpMaxOrphans),
            Err(&SysctlError::Missing {
                name: "net.ipv4.tcp_max_orphans"
            })
        );
        assert_eq!(s.int(Sysctl::TcpMaxOrphans), None);
        assert_eq!(s.text(Sysctl::TcpMaxOrphans), None);
        assert_eq!(s.netns, None);
        // A missing root: everything unknown, no panic.
        let none = Sysctls::read_from(&root.join("absent"));
        assert!(Sysctl::ALL.iter().all(|&x| none.get(x).is_err()));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn port_range_needs_two_fields_in_range() {
        let mut s = Sysctls::unknown();
        assert_eq!(s.port_range(), None);
        s.set(Sysctl::IpLocalPortRange, "1024 65535");
        assert_eq!(s.port_range(), Some((1024, 65535)));
        s.set(Sysctl::IpLocalPortRange, "1024 70000");
        assert_eq!(s.port_range(), None);
        s.set(Sysctl::IpLocalPortRange, "1024");
        assert!(s.get(Sysctl::IpLocalPortRange).is_err());
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(Sysctl::Somaxconn.name(), "net.core.somaxconn");
        assert_eq!(Sysctl::TcpFinTimeout.path(), Path::new("net/ipv4/tcp_fin_timeout"));
        for (i, s) in Sysctl::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn cache_rereads_only_when_stale() {
        let root = tempdir("cache");
        write(&root, Sysctl::TcpFinTimeout, "60\n");
        let mut c = SysctlCache::with_root(root.clone(), Duration::from_secs(3600));
        assert_eq!(c.get().int(Sysctl::TcpFinTimeout), Some(60));
        write(&root, Sysctl::TcpFinTimeout, "30\n");
        assert_eq!(c.get().int(Sysctl::TcpFinTimeout), Some(60));
        let mut c = SysctlCache::with_root(root.clone(), Duration::ZERO);
        assert_eq!(c.get().int(Sysctl::TcpFinTimeout), Some(30));
        write(&root, Sysctl::TcpFinTimeout, "20\n");
        assert_eq!(c.get().int(Sysctl::TcpFinTimeout), Some(20));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn reads_this_machine_without_panicking() {
        // Values differ between machines; what must hold is that a real
        // /proc/sys yields the namespace and the per-namespace values.
        let s = Sysctls::read();
        if Path::new("/proc/sys/net/ipv4/tcp_fin_timeout").exists() {
            assert!(s.int(Sysctl::TcpFinTimeout).is_some());
            assert!(s.netns.is_some());
        }
    }
}
