//! The diagnoses: from a snapshot of sockets, the recent incidents and the
//! sysctls, what is wrong, where (network namespace, process, local port),
//! the values of the sysctls that govern it, and what to do. Also the
//! per-state count thresholds `tracer stat` marks its lines with.
//!
//! Pure logic: no system access; the callers read the sockets (tracker or
//! sock_diag) and the sysctls (`sysctl.rs`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use serde::{Serialize, Serializer};

use super::{
    model::{Comm, Incident, IncidentRecord, Owner, SocketInfo, state},
    state_name,
    sysctl::{Sysctl, Sysctls},
};

/// The diagnoses hash every socket of a snapshot a few times: a fast hasher
/// (no untrusted keys can be chosen to collide: they come from the kernel).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const NS_PER_S: u64 = 1_000_000_000;
/// How long a socket stays in TIME_WAIT: 2MSL, fixed in Linux (TCP_TIMEWAIT_LEN).
pub const TIME_WAIT_SECS: u64 = 60;
/// The kernel's maximum retransmission timeout (TCP_RTO_MAX), in seconds.
const RTO_MAX_SECS: u64 = 120;
/// State numbers run 1..=12; index 0 is unused.
const STATES: usize = 13;

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Warn and critical counts for one state: a count at or above one is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    pub warn: u64,
    pub critical: u64,
}

impl Threshold {
    /// The seeds' monitoring: warn at 600 sockets in a state, critical at 800.
    pub const DEFAULT: Threshold = Threshold {
        warn: 600,
        critical: 800,
    };
}

impl Default for Threshold {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-state count thresholds, indexed by kernel state number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thresholds([Threshold; STATES]);

impl Default for Thresholds {
    fn default() -> Self {
        Self([Threshold::DEFAULT; STATES])
    }
}

impl Thresholds {
    /// The thresholds of a state (the defaults for an unknown state number).
    pub fn get(&self, st: u8) -> Threshold {
        self.0.get(usize::from(st)).copied().unwrap_or_default()
    }

    /// Applies a `--warn`/`--critical` value: one state, or all of them.
    /// SYN_RECV and NEW_SYN_RECV (the request sockets `ss` counts as
    /// SYN-RECV) are set together.
    pub fn set(&mut self, level: Severity, spec: ThresholdSpec) {
        let states: Vec<usize> = match spec.state {
            None => (1..STATES).collect(),
            Some(state::SYN_RECV | state::NEW_SYN_RECV) => {
                vec![usize::from(state::SYN_RECV), usize::from(state::NEW_SYN_RECV)]
            }
            Some(st) => vec![usize::from(st)],
        };
        for i in states {
            if let Some(t) = self.0.get_mut(i) {
                match level {
                    Severity::Warning => t.warn = spec.count,
                    Severity::Critical => t.critical = spec.count,
                }
            }
        }
    }

    /// How a count of sockets in `st` is marked: None below the warn threshold.
    /// A count of 0 is never marked.
    pub fn severity(&self, st: u8, count: u64) -> Option<Severity> {
        let t = self.get(st);
        if count == 0 {
            None
        } else if count >= t.critical {
            Some(Severity::Critical)
        } else if count >= t.warn {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

/// A threshold as given on the command line: `600` (every state) or
/// `CLOSE_WAIT=50` (one state; kernel names, or ss's `CLOSE-WAIT`, any case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdSpec {
    /// None: every state.
    pub state: Option<u8>,
    pub count: u64,
}

/// Why a threshold value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("empty threshold: give a count (600) or STATE=count (CLOSE_WAIT=50)")]
    Empty,
    #[error("threshold count {text:?} is not a whole number of at least 1")]
    Count { text: String },
    #[error("unknown TCP state {name:?} (use the kernel's names: ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, ...)")]
    State { name: String },
}

impl FromStr for ThresholdSpec {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ThresholdError::Empty);
        }
        let (st, count) = match s.split_once('=') {
            Some((name, count)) => {
                let st = state_number(name).ok_or_else(|| ThresholdError::State {
                    name: name.trim().to_string(),
                })?;
                (Some(st), count.trim())
            }
            None => (None, s),
        };
        match count.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Self { state: st, count: n }),
            _ => Err(ThresholdError::Count {
                text: count.to_string(),
            }),
        }
    }
}

/// The kernel state number of a state name: the kernel's spelling
/// (`CLOSE_WAIT`, `FIN_WAIT1`) or ss's (`CLOSE-WAIT`, `FIN-WAIT-1`, `ESTAB`,
/// `UNCONN`), in any case.
pub fn state_number(name: &str) -> Option<u8> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let n = norm(name.trim());
    match n.as_str() {
        "ESTAB" => return Some(state::ESTABLISHED),
        "UNCONN" => return Some(state::CLOSE),
        _ => {}
    }
    (1..STATES as u8).find(|&st| norm(state_name(st)) == n)
}

/// What the diagnoses look for; every field has a default (see [`Default`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DiagConfig {
    /// Per-state count thresholds (defaults warn 600, critical 800).
    pub thresholds: Thresholds,
    /// CLOSE_WAIT sockets of one process on one port that make a leak (5: a
    /// healthy program holds CLOSE_WAIT for microseconds).
    pub close_wait_min: u64,
    /// A socket in CLOSE_WAIT longer than this (ns) is a leak on its own (30 s).
    pub close_wait_age_ns: u64,
    /// Half-open connections on one port before they are compared with the
    /// SYN queue (16).
    pub syn_recv_min: u64,
    /// SYN-ACK retransmissions plus dropped half-open connections on one port
    /// within `window_ns` that make a flood even when few are half-open now (50).
    pub syn_flood_incidents: u64,
    /// TIME_WAIT sockets as a share of tcp_max_tw_buckets (0.80 warning, 0.95 critical).
    pub time_wait_warn_ratio: f64,
    pub time_wait_critical_ratio: f64,
    /// FIN_WAIT2 sockets of one process (and port) that are "many" (50).
    pub fin_wait2_min: u64,
    /// FIN_WAIT1 sockets of one process (and port) that are "many" (50).
    pub fin_wait1_min: u64,
    /// A socket in FIN_WAIT1 longer than this (ns) is stuck (5 s).
    pub fin_wait1_age_ns: u64,
    /// Refused connections to one endpoint within the window that raise an alert (1).
    pub refused_min: u64,
    /// SYN retransmissions to one endpoint within the window that raise an alert
    /// (3; any connect timeout raises one).
    pub syn_retransmit_min: u64,
    /// Incidents within the window that make an incident alert critical (100).
    pub incident_critical: u64,
    /// How far back incidents count (ns; 60 s).
    pub window_ns: u64,
}

impl Default for DiagConfig {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            close_wait_min: 5,
            close_wait_age_ns: 30 * NS_PER_S,
            syn_recv_min: 16,
            syn_flood_incidents: 50,
            time_wait_warn_ratio: 0.80,
            time_wait_critical_ratio: 0.95,
            fin_wait2_min: 50,
            fin_wait1_min: 50,
            fin_wait1_age_ns: 5 * NS_PER_S,
            refused_min: 1,
            syn_retransmit_min: 3,
            incident_critical: 100,
            window_ns: 60 * NS_PER_S,
        }
    }
}

impl DiagConfig {
    /// How `tracer stat` marks a state's count: see [`Thresholds::severity`].
    pub fn severity(&self, st: u8, count: u64) -> Option<Severity> {
        self.thresholds.severity(st, count)
    }
}

/// What an alert diagnoses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// CLOSE_WAIT piling up: the application never calls close().
    CloseWaitLeak,
    /// Half-open (SYN_RECV) connections filling a listener's SYN queue.
    SynFlood,
    /// TIME_WAIT near tcp_max_tw_buckets (or the local ports to one peer).
    TimeWaitBuckets,
    /// FIN_WAIT2 held longer than tcp_fin_timeout, or many.
    FinWait2Lingering,
    /// FIN_WAIT1 not acknowledged for seconds, or many.
    FinWait1Stuck,
    /// A RST answered our SYN.
    Refused,
    /// SYNs retransmitted, connects timing out.
    SynRetransmits,
    /// A state's count over its threshold, without a more specific diagnosis.
    StateCount,
}

impl AlertKind {
    /// Words that follow the state name in the alert line.
    pub fn title(self) -> &'static str {
        match self {
            Self::CloseWaitLeak => "leak",
            Self::SynFlood => "half-open flood",
            Self::TimeWaitBuckets => "near tcp_max_tw_buckets",
            Self::FinWait2Lingering => "lingering",
            Self::FinWait1Stuck => "stuck",
            Self::Refused => "connection refused",
            Self::SynRetransmits => "SYN retransmissions",
            Self::StateCount => "count over threshold",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::CloseWaitLeak => "close_wait_leak",
            Self::SynFlood => "syn_flood",
            Self::TimeWaitBuckets => "time_wait_buckets",
            Self::FinWait2Lingering => "fin_wait2_lingering",
            Self::FinWait1Stuck => "fin_wait1_stuck",
            Self::Refused => "refused",
            Self::SynRetransmits => "syn_retransmits",
            Self::StateCount => "state_count",
        }
    }
}

/// An alert's identity: the same problem in the same place keeps its key from
/// one snapshot to the next (descriptive fields such as the busiest peer may
/// change), so callers can de-duplicate. Serialized as its text form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    pub kind: AlertKind,
    pub state: u8,
    pub netns: u32,
    pub port: Option<u16>,
    pub pid: Option<u32>,
    pub remote: Option<SocketAddr>,
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/netns={}",
            self.kind.name(),
            state_name(self.state),
            self.netns
        )?;
        if let Some(p) = self.port {
            write!(f, "/port={p}")?;
        }
        if let Some(p) = self.pid {
            write!(f, "/pid={p}")?;
        }
        if let Some(r) = self.remote {
            write!(f, "/remote={r}")?;
        }
        Ok(())
    }
}

impl Serialize for AlertKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A sysctl an alert names, with its current value (None: unknown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SysctlValue {
    pub name: &'static str,
    pub value: Option<String>,
    /// What the value means here, e.g. `connect timeout 127 s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value.as_deref().unwrap_or("?"))?;
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// One diagnosis. Serializes to JSON with serde (`serde_json::to_string`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    pub key: AlertKey,
    pub severity: Severity,
    pub kind: AlertKind,
    /// The state as the kernel names it (`CLOSE_WAIT`); SYN_SENT for refused
    /// connections and SYN retransmissions.
    pub state: &'static str,
    pub netns: u32,
    /// The owning process, when known.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub local_port: Option<u16>,
    /// The peer concerned (refused, retransmitted) or the busiest one.
    pub remote: Option<SocketAddr>,
    /// Sockets (or incidents within the window) the alert counts.
    pub count: u64,
    /// Age of the oldest socket in the state, when known.
    pub oldest_s: Option<f64>,
    /// What is wrong.
    pub summary: String,
    /// The sysctls that govern it, with their current values.
    pub sysctls: Vec<SysctlValue>,
    /// Network namespace the sysctl values were read in (they are per
    /// namespace); None when unknown.
    pub sysctls_netns: Option<u32>,
    /// What to do, in one sentence.
    pub advice: String,
}

impl Alert {
    /// One line: `ALERT warning CLOSE_WAIT leak | python3 (pid 812), local
    /// port 80, netns 4026532290 | 25 sockets in CLOSE_WAIT ... |
    /// net.ipv4.tcp_keepalive_time=7200 ... | fix: ...`.
    pub fn line(&self) -> String {
        let mut s = format!("ALERT {} {} {} | ", self.severity.name(), self.state, self.kind.title());
        s.push_str(&self.place());
        s.push_str(" | ");
        s.push_str(&self.summary);
        s.push_str(" | ");
        if self.sysctls.is_empty() {
            s.push_str("no sysctl governs this");
        } else {
            let v: Vec<String> = self.sysctls.iter().map(ToString::to_string).collect();
            s.push_str(&v.join(" "));
        }
        if let (Some(read), true) = (self.sysctls_netns, !self.sysctls.is_empty())
            && read != self.netns
        {
            s.push_str(&format!(" (values of netns {read})"));
        }
        s.push_str(" | fix: ");
        s.push_str(&self.advice);
        s
    }

    /// Where: process, local port, remote, namespace.
    fn place(&self) -> String {
        let mut parts = Vec::new();
        match (&self.comm, self.pid) {
            (Some(c), Some(p)) => parts.push(format!("{c} (pid {p})")),
            (None, Some(p)) => parts.push(format!("pid {p}")),
            (Some(c), None) => parts.push(c.clone()),
            (None, None) => parts.push("process unknown".to_string()),
        }
        if let Some(p) = self.local_port {
            parts.push(format!("local port {p}"));
        }
        if let Some(r) = self.remote {
            parts.push(format!("remote {r}"));
        }
        parts.push(format!("netns {}", self.netns));
        parts.join(", ")
    }
}

/// Seconds a connect() waits before it fails with ETIMEDOUT: the SYN waits
/// 1 s, the first `linear_timeouts` retransmissions (tcp_syn_linear_timeouts,
/// Linux 6.5+; 0 before) 1 s each, the `syn_retries` after them 2, 4, 8 ... s
/// (capped at 120 s). Without linear timeouts 6 retries take 1+2+...+64 =
/// 127 s; with 4 (the 6.5+ default) 131 s. Measured on 6.18 (6 and 4): SYNs at
/// 0,1,2,3,4,5,7,11,19,35,69 s, ETIMEDOUT after 135 s (long timers are slack).
/// The server's half-open lifetime is the same sum for tcp_synack_retries
/// without linear timeouts (5 → 63 s).
pub fn connect_timeout_secs(syn_retries: i64, linear_timeouts: i64) -> u64 {
    let clamp = |v: i64| u32::try_from(v.clamp(0, 255)).unwrap_or(0);
    let (n, linear) = (clamp(syn_retries), clamp(linear_timeouts));
    let backoff: u64 = (1..=n)
        .map(|i| 1u64.checked_shl(i).unwrap_or(u64::MAX).min(RTO_MAX_SECS))
        .sum();
    u64::from(linear) + 1 + backoff
}

/// Diagnoses a snapshot. `now_ns` and the sockets' `since_ns` and incidents'
/// `ts_ns` are CLOCK_MONOTONIC ns; incidents older than `cfg.window_ns`
/// are ignored. Alerts come most severe first, in a stable order.
pub fn diagnose<'a>(
    now_ns: u64,
    sockets: &[SocketInfo],
    incidents: impl IntoIterator<Item = &'a IncidentRecord>,
    sysctls: &Sysctls,
    cfg: &DiagConfig,
) -> Vec<Alert> {
    let since = now_ns.saturating_sub(cfg.window_ns);
    let recent: Vec<&IncidentRecord> = incidents.into_iter().filter(|r| r.ts_ns >= since).collect();
    let ctx = Ctx::new(now_ns, sockets, sysctls, cfg);
    let mut alerts = Vec::new();
    ctx.close_wait(&mut alerts);
    ctx.syn_flood(&recent, &mut alerts);
    ctx.time_wait(&mut alerts);
    ctx.fin_wait2(&mut alerts);
    ctx.fin_wait1(&mut alerts);
    ctx.refused_and_retransmits(&recent, &mut alerts);
    ctx.state_counts(&mut alerts);
    alerts.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.key.cmp(&b.key)));
    alerts
}

/// The state a socket counts as: request sockets (NEW_SYN_RECV) are SYN_RECV, as in ss.
fn norm(st: u8) -> u8 {
    if st == state::NEW_SYN_RECV { state::SYN_RECV } else { st }
}

type OwnerKey = Option<(u32, Comm)>;

fn owner_key(o: &Option<Owner>) -> OwnerKey {
    o.as_ref().map(|o| (o.pid, o.comm))
}

/// Sockets of one state of one process on one local port (None: ephemeral
/// ports, grouped per process).
struct Group<'a> {
    netns: u32,
    owner: Option<Owner>,
    port: Option<u16>,
    socks: Vec<&'a SocketInfo>,
}

struct Ctx<'a> {
    now: u64,
    sockets: &'a [SocketInfo],
    sys: &'a Sysctls,
    cfg: &'a DiagConfig,
    /// (netns, port) of listeners → the listener's owner, if known.
    listeners: Map<(u32, u16), Option<&'a Owner>>,
    /// (netns, local port) → sockets (not listeners) using it.
    port_use: Map<(u32, u16), u64>,
    /// Per namespace, sockets per state (request sockets as SYN_RECV).
    totals: BTreeMap<u32, [u64; STATES]>,
}

impl<'a> Ctx<'a> {
    fn new(now: u64, sockets: &'a [SocketInfo], sys: &'a Sysctls, cfg: &'a DiagConfig) -> Self {
        let range = sys.port_range();
        let ephemeral = |port: u16| range.is_some_and(|(lo, hi)| (lo..=hi).contains(&port));
        let mut listeners: Map<(u32, u16), Option<&'a Owner>> = Map::default();
        let mut port_use: Map<(u32, u16), u64> = Map::default();
        let mut totals: BTreeMap<u32, [u64; STATES]> = BTreeMap::new();
        // Sockets come grouped by namespace more often than not: count in a
        // local array while the namespace stays the same.
        let mut run: Option<(u32, [u64; STATES])> = None;
        let add_run = |run: (u32, [u64; STATES]), totals: &mut BTreeMap<u32, [u64; STATES]>| {
            let t = totals.entry(run.0).or_insert([0; STATES]);
            for (a, b) in t.iter_mut().zip(run.1) {
                *a += b;
            }
        };
        for s in sockets {
            match &mut run {
                Some((ns, _)) if *ns == s.netns => {}
                _ => {
                    if let Some(r) = run.take() {
                        add_run(r, &mut totals);
                    }
                    run = Some((s.netns, [0; STATES]));
                }
            }
            if let Some((_, counts)) = &mut run
                && let Some(t) = counts.get_mut(usize::from(norm(s.state)))
            {
                *t += 1;
            }
            if s.state == state::LISTEN {
                let e = listeners.entry((s.netns, s.tuple.sport)).or_default();
                if e.is_none() {
                    *e = s.owner.as_ref();
                }
            } else if !ephemeral(s.tuple.sport) {
                // Only ports outside the ephemeral range can name a service
                // without a listener (see `service_port`).
                *port_use.entry((s.netns, s.tuple.sport)).or_insert(0) += 1;
            }
        }
        if let Some(r) = run {
            add_run(r, &mut totals);
        }
        Self {
            now,
            sockets,
            sys,
            cfg,
            listeners,
            port_use,
            totals,
        }
    }

    fn age_ns(&self, s: &SocketInfo) -> Option<u64> {
        s.since_ns.map(|t| self.now.saturating_sub(t))
    }

    /// The socket's owner, or its listener's when the tracker did not know it.
    fn owner(&self, s: &SocketInfo) -> Option<Owner> {
        self.owner_ref(s).cloned()
    }

    /// [`Self::owner`] without a copy.
    fn owner_ref<'s>(&'s self, s: &'s SocketInfo) -> Option<&'s Owner> {
        s.owner
            .as_ref()
            .or_else(|| self.listeners.get(&(s.netns, s.tuple.sport)).copied().flatten())
    }

    /// A local port that names a service: listened on, or shared by several
    /// connections (accepted sockets whose listener is gone) outside the
    /// ephemeral range (the kernel reuses an ephemeral port for connections
    /// to different peers). Others are client ports.
    fn service_port(&self, netns: u32, port: u16) -> bool {
        let ephemeral = self.sys.port_range().is_some_and(|(lo, hi)| (lo..=hi).contains(&port));
        port != 0
            && (self.listeners.contains_key(&(netns, port))
                || (!ephemeral && self.port_use.get(&(netns, port)).is_some_and(|&n| n >= 2)))
    }

    /// The sockets in `st`, per (netns, process, service port).
    fn groups(&self, st: u8) -> Vec<Group<'a>> {
        let mut m: BTreeMap<(u32, Option<u16>, OwnerKey), Group<'a>> = BTreeMap::new();
        for s in self.sockets.iter().filter(|s| norm(s.state) == st) {
            let owner = self.owner(s);
            let port = self.service_port(s.netns, s.tuple.sport).then_some(s.tuple.sport);
            m.entry((s.netns, port, owner_key(&owner)))
                .or_insert_with(|| Group {
                    netns: s.netns,
                    owner,
                    port,
                    socks: Vec::new(),
                })
                .socks
                .push(s);
        }
        m.into_values().collect()
    }

    fn sysctl(&self, s: Sysctl) -> SysctlValue {
        SysctlValue {
            name: s.name(),
            value: self.sys.text(s),
            note: None,
        }
    }

    fn sysctl_noted(&self, s: Sysctl, note: Option<String>) -> SysctlValue {
        SysctlValue { note, ..self.sysctl(s) }
    }

    /// The connect timeout tcp_syn_retries and tcp_syn_linear_timeouts give.
    fn connect_timeout(&self) -> Option<u64> {
        // Missing on kernels before 6.5, which retry exponentially from the start.
        let linear = self.sys.int(Sysctl::TcpSynLinearTimeouts).unwrap_or(0);
        self.sys
            .int(Sysctl::TcpSynRetries)
            .map(|n| connect_timeout_secs(n, linear))
    }

    fn syn_retries(&self) -> Vec<SysctlValue> {
        let note = self.connect_timeout().map(|t| format!("connect timeout {t} s"));
        vec![
            self.sysctl_noted(Sysctl::TcpSynRetries, note),
            self.sysctl(Sysctl::TcpSynLinearTimeouts),
        ]
    }

    fn synack_retries(&self) -> SysctlValue {
        let note = self
            .sys
            .int(Sysctl::TcpSynackRetries)
            .map(|n| format!("half-open kept {} s", connect_timeout_secs(n, 0)));
        self.sysctl_noted(Sysctl::TcpSynackRetries, note)
    }

    fn orphan_retries(&self) -> SysctlValue {
        let note = (self.sys.int(Sysctl::TcpOrphanRetries) == Some(0)).then(|| "0 means 8".to_string());
        self.sysctl_noted(Sysctl::TcpOrphanRetries, note)
    }

    fn tw_reuse(&self) -> SysctlValue {
        let note = match self.sys.int(Sysctl::TcpTwReuse) {
            Some(0) => Some("off"),
            Some(1) => Some("on"),
            Some(2) => Some("loopback only"),
            _ => None,
        };
        self.sysctl_noted(Sysctl::TcpTwReuse, note.map(str::to_string))
    }

    fn port_range(&self) -> SysctlValue {
        let note = self
            .sys
            .port_range()
            .map(|(lo, hi)| format!("{} ports", range_size(lo, hi)));
        self.sysctl_noted(Sysctl::IpLocalPortRange, note)
    }

    fn keepalive(&self) -> Vec<SysctlValue> {
        [
            Sysctl::TcpKeepaliveTime,
            Sysctl::TcpKeepaliveIntvl,
            Sysctl::TcpKeepaliveProbes,
        ]
        .map(|s| self.sysctl(s))
        .to_vec()
    }

    /// The sysctls behind a state, for the generic count alert.
    fn state_sysctls(&self, st: u8) -> Vec<SysctlValue> {
        match st {
            state::ESTABLISHED | state::CLOSE_WAIT => self.keepalive(),
            state::SYN_SENT => self.syn_retries(),
            state::SYN_RECV => vec![
                self.sysctl(Sysctl::TcpMaxSynBacklog),
                self.sysctl(Sysctl::TcpSyncookies),
                self.synack_retries(),
                self.sysctl(Sysctl::Somaxconn),
            ],
            state::FIN_WAIT1 | state::CLOSING | state::LAST_ACK => {
                vec![self.orphan_retries(), self.sysctl(Sysctl::TcpMaxOrphans)]
            }
            state::FIN_WAIT2 => vec![self.sysctl(Sysctl::TcpFinTimeout)],
            state::TIME_WAIT => {
                vec![self.sysctl(Sysctl::TcpMaxTwBuckets), self.tw_reuse(), self.port_range()]
            }
            state::LISTEN => vec![self.sysctl(Sysctl::Somaxconn)],
            _ => Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one constructor for every diagnosis")]
    fn alert(
        &self,
        key: AlertKey,
        severity: Severity,
        owner: Option<&Owner>,
        local_port: Option<u16>,
        remote: Option<SocketAddr>,
        count: u64,
        oldest_ns: Option<u64>,
        summary: String,
        sysctls: Vec<SysctlValue>,
        advice: String,
    ) -> Alert {
        Alert {
            severity,
            kind: key.kind,
            state: state_name(key.state),
            netns: key.netns,
            pid: owner.map(|o| o.pid),
            comm: owner.map(|o| o.comm.to_string()),
            local_port,
            remote,
            count,
            oldest_s: oldest_ns.map(secs),
            summary,
            sysctls,
            sysctls_netns: self.sys.netns,
            advice,
            key,
        }
    }

    fn close_wait(&self, out: &mut Vec<Alert>) {
        let cfg = self.cfg;
        for g in self.groups(state::CLOSE_WAIT) {
            let n = g.socks.len() as u64;
            let oldest = g.socks.iter().filter_map(|s| self.age_ns(s)).max();
            let old = oldest.is_some_and(|a| a >= cfg.close_wait_age_ns);
            if n < cfg.close_wait_min && !old {
                continue;
            }
            let severity = cfg.severity(state::CLOSE_WAIT, n).unwrap_or(Severity::Warning);
            let peer = if g.port.is_none() { busiest_peer(&g.socks) } else { None };
            let mut summary = format!("{n} {} in CLOSE_WAIT", plural(n, "socket", "sockets"));
            if let Some(a) = oldest {
                summary.push_str(&format!(", oldest {}", fmt_secs(a)));
            }
            if let Some(p) = peer {
                summary.push_str(&format!(", most to {}", p.text()));
            }
            summary.push_str(": the peer closed these connections but the application never calls close() on them");
            let who = g
                .owner
                .as_ref()
                .map_or_else(|| "the owning process".to_string(), |o| o.comm.to_string());
            let advice = format!(
                "make {who} close() each socket once read() returns 0 (end of file) and on every error path; \
                 no kernel timer ends CLOSE_WAIT (only SO_KEEPALIVE probes, after net.ipv4.tcp_keepalive_time, \
                 reset connections whose peer is gone), so restarting {who} is the only relief until then"
            );
            let key = AlertKey {
                kind: AlertKind::CloseWaitLeak,
                state: state::CLOSE_WAIT,
                netns: g.netns,
                port: g.port,
                pid: g.owner.as_ref().map(|o| o.pid),
                remote: None,
            };
            out.push(self.alert(
                key,
                severity,
                g.owner.as_ref(),
                g.port,
                peer.and_then(Peer::endpoint),
                n,
                oldest,
                summary,
                self.keepalive(),
                advice,
            ));
        }
    }

    fn syn_flood(&self, recent: &[&IncidentRecord], out: &mut Vec<Alert>) {
        #[derive(Default)]
        struct Port<'s> {
            socks: Vec<&'s SocketInfo>,
            synack_retrans: u64,
            dropped: u64,
        }
        let cfg = self.cfg;
        let mut ports: BTreeMap<(u32, u16), Port<'a>> = BTreeMap::new();
        for s in self.sockets.iter().filter(|s| norm(s.state) == state::SYN_RECV) {
            ports.entry((s.netns, s.tuple.sport)).or_default().socks.push(s);
        }
        for r in recent {
            let p = match r.kind {
                Incident::SynAckRetransmit | Incident::HalfOpenDropped => {
                    ports.entry((r.netns, r.tuple.sport)).or_default()
                }
                _ => continue,
            };
            if r.kind == Incident::SynAckRetransmit {
                p.synack_retrans += 1;
            } else {
                p.dropped += 1;
            }
        }
        let backlog = self
            .sys
            .int(Sysctl::TcpMaxSynBacklog)
            .and_then(|v| u64::try_from(v).ok());
        let somaxconn = self.sys.int(Sysctl::Somaxconn).and_then(|v| u64::try_from(v).ok());
        let cookies = self.sys.int(Sysctl::TcpSyncookies);
        // A listener's SYN queue holds min(listen backlog, somaxconn); without
        // SYN cookies, unproven peers are dropped from 3/4 of tcp_max_syn_backlog.
        let without_cookies = backlog.filter(|_| cookies == Some(0)).map(|b| b - b / 4);
        let limit = [somaxconn, without_cookies].into_iter().flatten().min();
        for ((netns, port), p) in ports {
            let n = p.socks.len() as u64;
            let mut sev = None;
            if let Some(l) = limit.filter(|&l| l > 0 && n >= cfg.syn_recv_min) {
                if n * 10 >= l * 9 {
                    sev = Some(Severity::Critical);
                } else if n * 2 >= l {
                    sev = Some(Severity::Warning);
                }
            }
            let incidents = p.synack_retrans + p.dropped;
            if incidents >= cfg.syn_flood_incidents {
                sev = sev.max(Some(if p.dropped >= cfg.incident_critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                }));
            }
            sev = sev.max(cfg.severity(state::SYN_RECV, n));
            let Some(severity) = sev else { continue };
            let owner = self.listeners.get(&(netns, port)).copied().flatten().cloned();
            let mut sources: Map<IpAddr, u64> = Map::default();
            for s in &p.socks {
                *sources.entry(s.tuple.dst).or_insert(0) += 1;
            }
            let mut summary = format!(
                "{n} half-open {} (SYN received, handshake not completed) on port {port}",
                plural(n, "connection", "connections")
            );
            if !sources.is_empty() {
                let m = sources.len() as u64;
                summary.push_str(&format!(" from {m} {}", plural(m, "source", "sources")));
            }
            if let Some((ip, k)) = busiest(&sources).filter(|&(_, k)| k >= 2) {
                summary.push_str(&format!(", most from {ip} ({k})"));
            }
            if let Some(l) = limit {
                summary.push_str(&format!(", against a SYN queue of at most {l}"));
            }
            summary.push_str(&format!(
                "; {} SYN-ACK retransmissions and {} dropped half-open connections in the last {}",
                p.synack_retrans,
                p.dropped,
                fmt_secs(cfg.window_ns)
            ));
            let advice = match cookies {
                Some(1 | 2) => "SYN cookies are on, so clients still get through when the queue overflows: lower \
                     net.ipv4.tcp_synack_retries (e.g. 2) to drop half-open connections sooner, raise \
                     net.ipv4.tcp_max_syn_backlog, net.core.somaxconn and the listen() backlog, and filter the \
                     flooding sources upstream"
                    .to_string(),
                _ => "enable SYN cookies (sysctl -w net.ipv4.tcp_syncookies=1), lower net.ipv4.tcp_synack_retries \
                     (e.g. 2) to drop half-open connections sooner, raise net.ipv4.tcp_max_syn_backlog, \
                     net.core.somaxconn and the listen() backlog, and filter the flooding sources upstream"
                    .to_string(),
            };
            let key = AlertKey {
                kind: AlertKind::SynFlood,
                state: state::SYN_RECV,
                netns,
                port: Some(port),
                pid: owner.as_ref().map(|o| o.pid),
                remote: None,
            };
            out.push(self.alert(
                key,
                severity,
                owner.as_ref(),
                Some(port),
                None,
                n,
                p.socks.iter().filter_map(|s| self.age_ns(s)).max(),
                summary,
                self.state_sysctls(state::SYN_RECV),
                advice,
            ));
        }
    }

    fn time_wait(&self, out: &mut Vec<Alert>) {
        let cfg = self.cfg;
        let buckets = self
            .sys
            .int(Sysctl::TcpMaxTwBuckets)
            .and_then(|v| u64::try_from(v).ok());
        let range = self.sys.port_range();
        let mut per_ns: BTreeMap<u32, Vec<&SocketInfo>> = BTreeMap::new();
        for s in self.sockets.iter().filter(|s| s.state == state::TIME_WAIT) {
            per_ns.entry(s.netns).or_default().push(s);
        }
        for (netns, socks) in per_ns {
            let n = socks.len() as u64;
            let mut sev = cfg.severity(state::TIME_WAIT, n);
            let share = buckets.filter(|&b| b > 0).map(|b| n as f64 / b as f64);
            if let Some(r) = share {
                if r >= cfg.time_wait_critical_ratio {
                    sev = Some(Severity::Critical);
                } else if r >= cfg.time_wait_warn_ratio {
                    sev = sev.max(Some(Severity::Warning));
                }
            }
            // Local ports to one peer: each TIME_WAIT socket holds its
            // ephemeral port for that peer for 60 s.
            let peer = busiest_peer(&socks);
            let mut ports_used = None;
            if let (Some((lo, hi)), Some(r)) = (range, peer.and_then(Peer::endpoint)) {
                let k = socks
                    .iter()
                    .filter(|s| SocketAddr::new(s.tuple.dst, s.tuple.dport) == r && (lo..=hi).contains(&s.tuple.sport))
                    .count() as u64;
                let size = range_size(lo, hi);
                if size > 0 {
                    ports_used = Some((k, size)).filter(|_| k * 10 >= size);
                    if k as f64 >= size as f64 * cfg.time_wait_critical_ratio {
                        sev = Some(Severity::Critical);
                    } else if k as f64 >= size as f64 * cfg.time_wait_warn_ratio {
                        sev = sev.max(Some(Severity::Warning));
                    }
                }
            }
            let Some(severity) = sev else { continue };
            let owner = busiest_owner(socks.iter().map(|s| self.owner_ref(s)));
            let port = majority_port(&socks).filter(|&p| self.service_port(netns, p));
            let mut summary = format!("{n} {} in TIME_WAIT", plural(n, "socket", "sockets"));
            if let (Some(r), Some(b)) = (share, buckets) {
                summary.push_str(&format!(", {:.0}% of net.ipv4.tcp_max_tw_buckets={b}", r * 100.0));
            }
            if let Some(p) = peer {
                summary.push_str(&format!(", most to {}", p.text()));
            }
            if let Some((k, size)) = ports_used {
                summary.push_str(&format!(", holding {k} of the {size} local ports for it"));
            }
            summary.push_str(&format!(
                "; each stays 2MSL = {TIME_WAIT_SECS} s (fixed in Linux), and beyond tcp_max_tw_buckets closing \
                 sockets skip TIME_WAIT (\"time wait bucket table overflow\")"
            ));
            let reuse = if self.sys.int(Sysctl::TcpTwReuse) == Some(1) {
                ""
            } else {
                "set net.ipv4.tcp_tw_reuse=1 so new outgoing connections may reuse TIME_WAIT ports, "
            };
            let advice = format!(
                "reuse connections (HTTP keep-alive, connection pools) instead of one per request, {reuse}widen \
                 net.ipv4.ip_local_port_range, or raise net.ipv4.tcp_max_tw_buckets"
            );
            let key = AlertKey {
                kind: AlertKind::TimeWaitBuckets,
                state: state::TIME_WAIT,
                netns,
                port: None,
                pid: None,
                remote: None,
            };
            out.push(self.alert(
                key,
                severity,
                owner.as_ref(),
                port,
                peer.and_then(Peer::endpoint),
                n,
                socks.iter().filter_map(|s| self.age_ns(s)).max(),
                summary,
                self.state_sysctls(state::TIME_WAIT),
                advice,
            ));
        }
    }

    fn fin_wait2(&self, out: &mut Vec<Alert>) {
        let cfg = self.cfg;
        let fin_timeout = self.sys.int(Sysctl::TcpFinTimeout);
        // The kernel default when the value is unknown.
        let limit_ns = u64::try_from(fin_timeout.unwrap_or(60))
            .unwrap_or(60)
            .saturating_mul(NS_PER_S);
        for g in self.groups(state::FIN_WAIT2) {
            let n = g.socks.len() as u64;
            let ages: Vec<u64> = g.socks.iter().filter_map(|s| self.age_ns(s)).collect();
            let lingering = ages.iter().filter(|&&a| a > limit_ns).count() as u64;
            let oldest = ages.iter().copied().max();
            let mut sev = cfg.severity(state::FIN_WAIT2, n);
            if lingering > 0 || n >= cfg.fin_wait2_min {
                sev = sev.max(Some(Severity::Warning));
            }
            let Some(severity) = sev else { continue };
            let peer = busiest_peer(&g.socks);
            let timeout = fin_timeout.map_or_else(|| "tcp_fin_timeout".to_string(), |t| format!("{t} s"));
            let mut summary = if lingering > 0 {
                format!(
                    "{lingering} of {n} sockets in FIN_WAIT2 for longer than net.ipv4.tcp_fin_timeout ({timeout}): \
                     the peer never closes its side, and the application still holds them after shutdown() \
                     (closed, orphaned sockets go after tcp_fin_timeout)"
                )
            } else {
                format!(
                    "{n} sockets in FIN_WAIT2: this side closed, the peers are slow to close theirs (each \
                     lingers up to net.ipv4.tcp_fin_timeout once orphaned)"
                )
            };
            if let Some(a) = oldest {
                summary.push_str(&format!("; oldest {}", fmt_secs(a)));
            }
            if let Some(p) = peer {
                summary.push_str(&format!("; most to {}", p.text()));
            }
            let advice = "make the peer close its side after reading end of file, close() (not only shutdown()) \
                          here so the kernel reaps the socket after net.ipv4.tcp_fin_timeout, and lower \
                          tcp_fin_timeout (e.g. 15) to free orphaned FIN_WAIT2 sockets sooner"
                .to_string();
            let key = AlertKey {
                kind: AlertKind::FinWait2Lingering,
                state: state::FIN_WAIT2,
                netns: g.netns,
                port: g.port,
                pid: g.owner.as_ref().map(|o| o.pid),
                remote: None,
            };
            out.push(self.alert(
                key,
                severity,
                g.owner.as_ref(),
                g.port,
                peer.and_then(Peer::endpoint),
                n,
                oldest,
                summary,
                self.state_sysctls(state::FIN_WAIT2),
                advice,
            ));
        }
    }

    fn fin_wait1(&self, out: &mut Vec<Alert>) {
        let cfg = self.cfg;
        for g in self.groups(state::FIN_WAIT1) {
            let n = g.socks.len() as u64;
            let ages: Vec<u64> = g.socks.iter().filter_map(|s| self.age_ns(s)).collect();
            let stuck = ages.iter().filter(|&&a| a > cfg.fin_wait1_age_ns).count() as u64;
            let oldest = ages.iter().copied().max();
            let mut sev = cfg.severity(state::FIN_WAIT1, n);
            if stuck > 0 || n >= cfg.fin_wait1_min {
                sev = sev.max(Some(Severity::Warning));
            }
            let Some(severity) = sev else { continue };
            let peer = busiest_peer(&g.socks);
            let mut summary = if stuck > 0 {
                format!(
                    "{stuck} of {n} sockets in FIN_WAIT1 for more than {}",
                    fmt_secs(cfg.fin_wait1_age_ns)
                )
            } else {
                format!("{n} sockets in FIN_WAIT1")
            };
            if let Some(a) = oldest {
                summary.push_str(&format!(" (oldest {})", fmt_secs(a)));
            }
            if let Some(p) = peer {
                summary.push_str(&format!(", most to {}", p.text()));
            }
            summary.push_str(
                ": the FIN sent is not acknowledged, so the peer is unreachable or not reading (zero window)",
            );
            let advice = "check the path to the peer (a firewall dropping packets, a route, a dead host); lower \
                          net.ipv4.tcp_orphan_retries to give up on closed sockets sooner, and keep orphans below \
                          net.ipv4.tcp_max_orphans (beyond it the kernel resets them: \"too many orphaned sockets\")"
                .to_string();
            let key = AlertKey {
                kind: AlertKind::FinWait1Stuck,
                state: state::FIN_WAIT1,
                netns: g.netns,
                port: g.port,
                pid: g.owner.as_ref().map(|o| o.pid),
                remote: None,
            };
            out.push(self.alert(
                key,
                severity,
                g.owner.as_ref(),
                g.port,
                peer.and_then(Peer::endpoint),
                n,
                oldest,
                summary,
                self.state_sysctls(state::FIN_WAIT1),
                advice,
            ));
        }
    }

    fn refused_and_retransmits(&self, recent: &[&IncidentRecord], out: &mut Vec<Alert>) {
        #[derive(Default)]
        struct Peer {
            owner: Option<Owner>,
            refused: u64,
            retransmits: u64,
            timeouts: u64,
        }
        let cfg = self.cfg;
        let mut peers: BTreeMap<(u32, SocketAddr, OwnerKey), Peer> = BTreeMap::new();
        for r in recent {
            if !matches!(
                r.kind,
                Incident::Refused | Incident::SynRetransmit | Incident::ConnectTimeout
            ) {
                continue;
            }
            let remote = SocketAddr::new(r.tuple.dst, r.tuple.dport);
            let p = peers.entry((r.netns, remote, owner_key(&r.owner))).or_default();
            p.owner.clone_from(&r.owner);
            match r.kind {
                Incident::Refused => p.refused += 1,
                Incident::SynRetransmit => p.retransmits += 1,
                _ => p.timeouts += 1,
            }
        }
        let level = |n: u64| {
            if n >= cfg.incident_critical {
                Severity::Critical
            } else {
                Severity::Warning
            }
        };
        let window = fmt_secs(cfg.window_ns);
        for ((netns, remote, _), p) in peers {
            let who = p
                .owner
                .as_ref()
                .map_or_else(|| "the client".to_string(), |o| o.comm.to_string());
            let pid = p.owner.as_ref().map(|o| o.pid);
            if p.refused >= cfg.refused_min {
                let n = p.refused;
                let summary = format!(
                    "{n} {} to {remote} refused in the last {window}: a RST answered the SYN",
                    plural(n, "connection", "connections")
                );
                let advice = format!(
                    "nothing listens on {remote} (or a firewall rejects with RST, or its accept queue overflowed \
                     with tcp_abort_on_overflow=1): start the service there or point {who} at the right address \
                     and port"
                );
                let key = AlertKey {
                    kind: AlertKind::Refused,
                    state: state::SYN_SENT,
                    netns,
                    port: None,
                    pid,
                    remote: Some(remote),
                };
                out.push(self.alert(
                    key,
                    level(n),
                    p.owner.as_ref(),
                    None,
                    Some(remote),
                    n,
                    None,
                    summary,
                    vec![self.sysctl(Sysctl::TcpAbortOnOverflow)],
                    advice,
                ));
            }
            if p.timeouts > 0 || p.retransmits >= cfg.syn_retransmit_min {
                let n = p.retransmits + p.timeouts;
                let summary = format!(
                    "{} SYN {} and {} connect {} to {remote} in the last {window}: the SYNs go unanswered (peer \
                     down, port silently filtered, or packet loss)",
                    p.retransmits,
                    plural(p.retransmits, "retransmission", "retransmissions"),
                    p.timeouts,
                    plural(p.timeouts, "timeout", "timeouts")
                );
                let limit = self
                    .connect_timeout()
                    .map_or_else(|| "the connect timeout".to_string(), |t| format!("{t} s"));
                let advice = format!(
                    "check that {remote} is up and its port is not silently dropped by a firewall; lower \
                     net.ipv4.tcp_syn_retries or give {who} a connect timeout to fail faster than {limit}"
                );
                let key = AlertKey {
                    kind: AlertKind::SynRetransmits,
                    state: state::SYN_SENT,
                    netns,
                    port: None,
                    pid,
                    remote: Some(remote),
                };
                out.push(self.alert(
                    key,
                    level(n),
                    p.owner.as_ref(),
                    None,
                    Some(remote),
                    n,
                    None,
                    summary,
                    self.syn_retries(),
                    advice,
                ));
            }
        }
    }

    /// A state over its threshold in a namespace, unless a specific alert for
    /// that state and namespace already says so at that severity.
    fn state_counts(&self, out: &mut Vec<Alert>) {
        let covered: BTreeSet<(u32, u8, Severity)> = out.iter().map(|a| (a.netns, a.key.state, a.severity)).collect();
        for (&netns, counts) in &self.totals {
            for st in 1..STATES as u8 {
                let n = counts[usize::from(st)];
                let Some(severity) = self.cfg.severity(st, n) else {
                    continue;
                };
                let done = covered
                    .iter()
                    .any(|&(ns, s, sev)| ns == netns && s == st && sev >= severity);
                if done {
                    continue;
                }
                let socks: Vec<&SocketInfo> = self
                    .sockets
                    .iter()
                    .filter(|s| s.netns == netns && norm(s.state) == st)
                    .collect();
                let owners: Vec<Option<&Owner>> = socks.iter().map(|s| self.owner_ref(s)).collect();
                let owner = busiest_owner(owners.iter().copied());
                let t = self.cfg.thresholds.get(st);
                let mut summary = format!(
                    "{n} sockets in {} (warn at {}, critical at {})",
                    state_name(st),
                    t.warn,
                    t.critical
                );
                if let Some(o) = &owner {
                    let k = owners.iter().flatten().filter(|x| x.pid == o.pid).count();
                    summary.push_str(&format!(", {k} of them owned by {} (pid {})", o.comm, o.pid));
                }
                let key = AlertKey {
                    kind: AlertKind::StateCount,
                    state: st,
                    netns,
                    port: None,
                    pid: None,
                    remote: None,
                };
                out.push(self.alert(
                    key,
                    severity,
                    owner.as_ref(),
                    None,
                    busiest_peer(&socks).and_then(Peer::endpoint),
                    n,
                    socks.iter().filter_map(|s| self.age_ns(s)).max(),
                    summary,
                    self.state_sysctls(st),
                    state_advice(st).to_string(),
                ));
            }
        }
    }
}

/// What to do about many sockets in a state, for the generic count alert.
fn state_advice(st: u8) -> &'static str {
    match st {
        state::ESTABLISHED => {
            "check that these connections are in use: pools that never shrink or clients that vanished keep them \
             open; SO_KEEPALIVE (net.ipv4.tcp_keepalive_*) finds dead peers, and raising the process's file limit \
             helps only if they are all needed"
        }
        state::SYN_SENT => {
            "many connects are waiting for an answer: check that the peers are reachable and answer, and give the \
             clients a connect timeout shorter than the one net.ipv4.tcp_syn_retries implies"
        }
        state::SYN_RECV => {
            "half-open connections pile up across ports: enable net.ipv4.tcp_syncookies, lower \
             net.ipv4.tcp_synack_retries and filter the sources upstream"
        }
        state::FIN_WAIT1 | state::CLOSING => {
            "our FINs are not acknowledged: check the path to the peers; lower net.ipv4.tcp_orphan_retries to \
             give up on closed sockets sooner"
        }
        state::FIN_WAIT2 => {
            "peers are slow to close their side: fix the peers, and lower net.ipv4.tcp_fin_timeout to reap \
             orphaned FIN_WAIT2 sockets sooner"
        }
        state::TIME_WAIT => {
            "reuse connections instead of one per request, enable net.ipv4.tcp_tw_reuse for outgoing connections, \
             or widen net.ipv4.ip_local_port_range"
        }
        state::CLOSE_WAIT => {
            "the applications owning these sockets never call close() after the peer closed: fix them to close \
             on end of file"
        }
        state::LAST_ACK => {
            "the final ACK of our FIN does not come back: peers vanish right after closing; check the path to \
             them and lower net.ipv4.tcp_orphan_retries"
        }
        state::LISTEN => "an unusual number of listening sockets: check for a program that opens listeners in a loop",
        _ => "look at which process owns these sockets (tracer states --state) and why they stay in this state",
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / NS_PER_S as f64
}

/// `0.4 s`, `42 s`.
fn fmt_secs(ns: u64) -> String {
    let s = secs(ns);
    if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn range_size(lo: u16, hi: u16) -> u64 {
    if hi >= lo { u64::from(hi - lo) + 1 } else { 0 }
}

/// The most frequent key (ties: the smallest key) and its count.
fn busiest<K: Ord + Copy>(m: &Map<K, u64>) -> Option<(K, u64)> {
    m.iter()
        .map(|(k, v)| (*k, *v))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
}

/// The peer most of a set of sockets talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// One address and port (several sockets share it, or there is one socket).
    Endpoint(SocketAddr, u64),
    /// One host, on varying ports (the clients of a server).
    Host(IpAddr, u64),
}

impl Peer {
    fn endpoint(self) -> Option<SocketAddr> {
        match self {
            Self::Endpoint(a, _) => Some(a),
            Self::Host(..) => None,
        }
    }

    /// `10.0.0.7:80 (410)`, `10.0.0.1 (20)`.
    fn text(self) -> String {
        match self {
            Self::Endpoint(a, k) => format!("{a} ({k})"),
            Self::Host(a, k) => format!("{a} ({k})"),
        }
    }
}

/// The busiest peer endpoint, else the busiest peer host; None when every
/// socket talks to a different host (naming one would say nothing).
fn busiest_peer(socks: &[&SocketInfo]) -> Option<Peer> {
    let mut ends = Map::default();
    let mut hosts = Map::default();
    for s in socks {
        *ends.entry(SocketAddr::new(s.tuple.dst, s.tuple.dport)).or_insert(0) += 1;
        *hosts.entry(s.tuple.dst).or_insert(0) += 1;
    }
    match (busiest(&ends), busiest(&hosts)) {
        (Some((a, k)), _) if k >= 2 || socks.len() == 1 => Some(Peer::Endpoint(a, k)),
        (_, Some((h, k))) if k >= 2 => Some(Peer::Host(h, k)),
        _ => None,
    }
}

/// The local port more than half of the sockets use, if one does (one pass,
/// no table: Boyer-Moore majority vote, then a count).
fn majority_port(socks: &[&SocketInfo]) -> Option<u16> {
    let mut cand = (0u16, 0u64);
    for s in socks {
        if cand.1 == 0 {
            cand = (s.tuple.sport, 1);
        } else if cand.0 == s.tuple.sport {
            cand.1 += 1;
        } else {
            cand.1 -= 1;
        }
    }
    let k = socks.iter().filter(|s| s.tuple.sport == cand.0).count();
    (k * 2 > socks.len()).then_some(cand.0)
}

fn busiest_owner<'o>(owners: impl IntoIterator<Item = Option<&'o Owner>>) -> Option<Owner> {
    let mut m: Map<u32, (u64, &Owner)> = Map::default();
    for o in owners.into_iter().flatten() {
        m.entry(o.pid).or_insert((0, o)).0 += 1;
    }
    m.values()
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.pid.cmp(&a.1.pid)))
        .map(|(_, o)| *(*o))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::states::model::Tuple;

    const NETNS: u32 = 4026532290;
    const S: u64 = NS_PER_S;
    const NOW: u64 = 1_000 * S;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn owner(pid: u32, comm: &str) -> Option<Owner> {
        Some(Owner {
            pid,
            comm: Comm::from(comm),
        })
    }

    fn sock(st: u8, sport: u16, dst: IpAddr, dport: u16, owner: Option<Owner>, age_s: Option<u64>) -> SocketInfo {
        SocketInfo {
            netns: NETNS,
            tuple: Tuple {
                src: ip(2),
                sport,
                dst,
                dport,
            },
            state: st,
            owner,
            since_ns: age_s.map(|a| NOW - a * S),
            inode: 0,
        }
    }

    fn listener(port: u16, owner: Option<Owner>) -> SocketInfo {
        sock(state::LISTEN, port, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, owner, None)
    }

    /// `n` connections accepted on `port` from distinct client ports of 10.0.0.1.
    fn accepted(n: u16, st: u8, port: u16, owner: Option<Owner>, age_s: Option<u64>) -> Vec<SocketInfo> {
        (0..n).map(|i| sock(st, port, ip(1), 40000 + i, owner, age_s)).collect()
    }

    fn incident(
        kind: Incident,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        owner: Option<Owner>,
        ago_s: u64,
    ) -> IncidentRecord {
        IncidentRecord {
            ts_ns: NOW - ago_s * S,
            kind,
            netns: NETNS,
            tuple: Tuple {
                src: ip(2),
                sport,
                dst,
                dport,
            },
            owner,
        }
    }

    fn sysctls() -> Sysctls {
        let mut s = Sysctls::unknown();
        for (k, v) in [
            (Sysctl::TcpMaxSynBacklog, "2048"),
            (Sysctl::TcpSyncookies, "1"),
            (Sysctl::TcpSynackRetries, "5"),
            (Sysctl::TcpSynRetries, "6"),
            (Sysctl::TcpSynLinearTimeouts, "4"),
            (Sysctl::TcpMaxTwBuckets, "131072"),
            (Sysctl::TcpTwReuse, "2"),
            (Sysctl::TcpFinTimeout, "60"),
            (Sysctl::TcpOrphanRetries, "0"),
            (Sysctl::TcpKeepaliveTime, "7200"),
            (Sysctl::TcpKeepaliveIntvl, "75"),
            (Sysctl::TcpKeepaliveProbes, "9"),
            (Sysctl::TcpAbortOnOverflow, "0"),
            (Sysctl::Somaxconn, "4096"),
            (Sysctl::IpLocalPortRange, "32768 60999"),
        ] {
            s.set(k, v);
        }
        s.netns = Some(NETNS);
        s
    }

    fn run(socks: &[SocketInfo], incidents: &[IncidentRecord], sys: &Sysctls) -> Vec<Alert> {
        diagnose(NOW, socks, incidents, sys, &DiagConfig::default())
    }

    fn of_kind(alerts: &[Alert], kind: AlertKind) -> Vec<&Alert> {
        alerts.iter().filter(|a| a.kind == kind).collect()
    }

    #[test]
    fn close_wait_leak_names_process_port_and_sysctls() {
        // The acceptance case: 25 accepted connections the server never closes.
        let mut socks = vec![listener(80, owner(812, "python3"))];
        socks.extend(accepted(25, state::CLOSE_WAIT, 80, owner(812, "python3"), None));
        socks.extend(accepted(3, state::ESTABLISHED, 80, owner(812, "python3"), None));
        let alerts = run(&socks, &[], &sysctls());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            (a.kind, a.severity, a.state),
            (AlertKind::CloseWaitLeak, Severity::Warning, "CLOSE_WAIT")
        );
        assert_eq!(
            (a.pid, a.comm.as_deref(), a.local_port, a.count),
            (Some(812), Some("python3"), Some(80), 25)
        );
        let line = a.line();
        assert!(line.starts_with("ALERT warning CLOSE_WAIT leak | python3 (pid 812), local port 80, netns 4026532290 | 25 sockets in CLOSE_WAIT: "), "{line}");
        assert!(line.contains("never calls close()"), "{line}");
        assert!(line.contains("net.ipv4.tcp_keepalive_time=7200 "), "{line}");
        assert!(line.contains("| fix: make python3 close()"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn close_wait_below_minimum_and_young_is_quiet() {
        let mut socks = vec![listener(80, owner(812, "python3"))];
        socks.extend(accepted(4, state::CLOSE_WAIT, 80, owner(812, "python3"), Some(29)));
        assert!(run(&socks, &[], &sysctls()).is_empty());
    }

    #[test]
    fn one_old_close_wait_is_a_leak_and_the_listener_names_the_owner() {
        let mut socks = vec![listener(8080, owner(900, "srv"))];
        socks.extend(accepted(1, state::CLOSE_WAIT, 8080, None, Some(31)));
        let alerts = run(&socks, &[], &sysctls());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!((alerts[0].pid, alerts[0].local_port), (Some(900), Some(8080)));
        assert_eq!(alerts[0].oldest_s, Some(31.0));
        assert!(alerts[0].summary.contains("oldest 31 s"), "{}", alerts[0].summary);
    }

    #[test]
    fn client_close_wait_on_ephemeral_ports_groups_per_process_and_names_the_peer() {
        let socks: Vec<SocketInfo> = (0..6)
            .map(|i| sock(state::CLOSE_WAIT, 50000 + i, ip(9), 443, owner(77, "client"), None))
            .collect();
        let alerts = run(&socks, &[], &sysctls());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            (a.local_port, a.remote, a.count),
            (None, Some("10.0.0.9:443".parse().unwrap()), 6)
        );
        assert!(
            a.line().contains("client (pid 77), remote 10.0.0.9:443, netns"),
            "{}",
            a.line()
        );
    }

    #[test]
    fn ephemeral_ports_reused_for_other_peers_do_not_split_a_client() {
        // The kernel hands out the same ephemeral port for different peers:
        // still one client, one group.
        let socks: Vec<SocketInfo> = (0..6)
            .map(|i| {
                sock(
                    state::CLOSE_WAIT,
                    40000 + i / 2,
                    ip(20 + i as u8),
                    443,
                    owner(77, "client"),
                    None,
                )
            })
            .collect();
        let alerts = run(&socks, &[], &sysctls());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!((alerts[0].local_port, alerts[0].count), (None, 6));
        // Outside the ephemeral range, a shared port is a service's.
        let socks: Vec<SocketInfo> = (0..6)
            .map(|i| sock(state::CLOSE_WAIT, 8443, ip(20 + i as u8), 50000, owner(78, "srv"), None))
            .collect();
        assert_eq!(run(&socks, &[], &sysctls())[0].local_port, Some(8443));
    }

    #[test]
    fn close_wait_severity_follows_thresholds_and_the_total_gets_a_generic_alert() {
        let mut socks = vec![listener(80, owner(1, "a")), listener(81, owner(2, "b"))];
        socks.extend(accepted(800, state::CLOSE_WAIT, 80, owner(1, "a"), None));
        let alerts = run(&socks, &[], &sysctls());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert!(alerts[0].line().starts_with("ALERT critical CLOSE_WAIT leak"));
        // Two groups of 400: each a warning, the namespace's 800 critical.
        let mut socks = vec![listener(80, owner(1, "a")), listener(81, owner(2, "b"))];
        socks.extend(accepted(400, state::CLOSE_WAIT, 80, owner(1, "a"), None));
        socks.extend(accepted(400, state::CLOSE_WAIT, 81, owner(2, "b"), None));
        let alerts = run(&socks, &[], &sysctls());
        assert_eq!(alerts.len(), 3, "{alerts:#?}");
        assert_eq!(
            (alerts[0].kind, alerts[0].severity),
            (AlertKind::StateCount, Severity::Critical)
        );
        assert_eq!(alerts[0].count, 800);
        assert!(
            alerts[0]
                .line()
                .starts_with("ALERT critical CLOSE_WAIT count over threshold")
        );
        assert_eq!(of_kind(&alerts, AlertKind::CloseWaitLeak).len(), 2);
    }

    #[test]
    fn syn_flood_against_the_queue() {
        let mut sys = sysctls();
        sys.set(Sysctl::Somaxconn, "128");
        let flood = |n: u16| {
            let mut socks = vec![listener(80, owner(812, "nginx"))];
            socks.extend((0..n).map(|i| sock(state::SYN_RECV, 80, ip((i % 200) as u8), 1000 + i, None, None)));
            socks
        };
        let alerts = run(&flood(120), &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            (a.kind, a.severity, a.local_port, a.pid),
            (AlertKind::SynFlood, Severity::Critical, Some(80), Some(812))
        );
        let line = a.line();
        assert!(
            line.starts_with("ALERT critical SYN_RECV half-open flood | nginx (pid 812), local port 80"),
            "{line}"
        );
        assert!(line.contains("120 half-open connections"), "{line}");
        assert!(line.contains("from 120 sources"), "{line}");
        assert!(!line.contains("most from"), "{line}");
        assert!(line.contains("SYN queue of at most 128"), "{line}");
        assert!(
            line.contains("net.ipv4.tcp_max_syn_backlog=2048 net.ipv4.tcp_syncookies=1 net.ipv4.tcp_synack_retries=5 (half-open kept 63 s) net.core.somaxconn=128"),
            "{line}"
        );
        assert!(line.contains("SYN cookies are on"), "{line}");
        assert_eq!(run(&flood(70), &[], &sys)[0].severity, Severity::Warning);
        assert!(run(&flood(60), &[], &sys).is_empty());
        // Request sockets reported as NEW_SYN_RECV count too.
        let mut socks = flood(0);
        socks.extend((0..120).map(|i| sock(state::NEW_SYN_RECV, 80, ip(1), 1000 + i, None, None)));
        assert_eq!(run(&socks, &[], &sys)[0].severity, Severity::Critical);
    }

    #[test]
    fn syn_flood_without_cookies_uses_three_quarters_of_the_backlog() {
        let mut sys = sysctls();
        sys.set(Sysctl::TcpSyncookies, "0");
        sys.set(Sysctl::TcpMaxSynBacklog, "128");
        let mut socks = vec![listener(80, None)];
        socks.extend((0..90).map(|i| sock(state::SYN_RECV, 80, ip(1), 1000 + i, None, None)));
        let alerts = run(&socks, &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert!(alerts[0].summary.contains("at most 96"), "{}", alerts[0].summary);
        assert!(
            alerts[0].advice.starts_with("enable SYN cookies"),
            "{}",
            alerts[0].advice
        );
        assert!(
            alerts[0].line().contains("process unknown, local port 80"),
            "{}",
            alerts[0].line()
        );
    }

    #[test]
    fn syn_flood_from_incidents_alone() {
        let sys = sysctls();
        let inc = |n: u64, kind| -> Vec<IncidentRecord> {
            (0..n)
                .map(|i| incident(kind, 80, ip(1), 1000 + i as u16, None, 10))
                .collect()
        };
        let alerts = run(&[], &inc(50, Incident::SynAckRetransmit), &sys);
        assert_eq!(of_kind(&alerts, AlertKind::SynFlood).len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Warning);
        assert!(
            alerts[0].summary.contains("50 SYN-ACK retransmissions and 0 dropped"),
            "{}",
            alerts[0].summary
        );
        assert!(run(&[], &inc(49, Incident::SynAckRetransmit), &sys).is_empty());
        assert_eq!(
            run(&[], &inc(100, Incident::HalfOpenDropped), &sys)[0].severity,
            Severity::Critical
        );
        // Outside the window: ignored.
        let old: Vec<IncidentRecord> = (0..60)
            .map(|i| incident(Incident::SynAckRetransmit, 80, ip(1), 1000 + i, None, 61))
            .collect();
        assert!(run(&[], &old, &sys).is_empty());
    }

    #[test]
    fn time_wait_near_buckets() {
        let mut sys = sysctls();
        sys.set(Sysctl::TcpMaxTwBuckets, "500");
        let tw = |n: u16| -> Vec<SocketInfo> {
            (0..n)
                .map(|i| sock(state::TIME_WAIT, 33000 + i, ip(7), 80, owner(5, "curl"), Some(3)))
                .collect()
        };
        let alerts = run(&tw(410), &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            (a.kind, a.severity, a.key.port, a.key.pid),
            (AlertKind::TimeWaitBuckets, Severity::Warning, None, None)
        );
        let line = a.line();
        assert!(
            line.starts_with("ALERT warning TIME_WAIT near tcp_max_tw_buckets | curl (pid 5), remote 10.0.0.7:80"),
            "{line}"
        );
        assert!(
            line.contains(
                "410 sockets in TIME_WAIT, 82% of net.ipv4.tcp_max_tw_buckets=500, most to 10.0.0.7:80 (410)"
            ),
            "{line}"
        );
        assert!(line.contains("2MSL = 60 s"), "{line}");
        assert!(
            line.contains("net.ipv4.tcp_max_tw_buckets=500 net.ipv4.tcp_tw_reuse=2 (loopback only) net.ipv4.ip_local_port_range=32768 60999 (28232 ports)"),
            "{line}"
        );
        assert!(line.contains("set net.ipv4.tcp_tw_reuse=1"), "{line}");
        assert_eq!(run(&tw(480), &[], &sys)[0].severity, Severity::Critical);
        assert!(run(&tw(390), &[], &sys).is_empty());
        // The default buckets (131072): 600 is the per-state warning.
        let alerts = run(&tw(600), &[], &sysctls());
        assert_eq!(
            (alerts.len(), alerts[0].kind, alerts[0].severity),
            (1, AlertKind::TimeWaitBuckets, Severity::Warning)
        );
    }

    #[test]
    fn busiest_peer_is_named_only_when_it_stands_out() {
        let mut sys = sysctls();
        sys.set(Sysctl::TcpMaxTwBuckets, "22");
        // Server-side TIME_WAIT: one client host, a new port each time.
        let mut socks = vec![listener(8080, owner(9, "srv"))];
        socks.extend(accepted(20, state::TIME_WAIT, 8080, None, None));
        let alerts = run(&socks, &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!((a.remote, a.local_port, a.pid), (None, Some(8080), Some(9)));
        assert!(a.summary.contains(", most to 10.0.0.1 (20);"), "{}", a.summary);
        assert!(!a.summary.contains("local ports for it"), "{}", a.summary);
        // Every socket to a different host: no busiest peer.
        let spread: Vec<SocketInfo> = (0..20)
            .map(|i| sock(state::TIME_WAIT, 8080, ip(100 + i as u8), 40000, None, None))
            .collect();
        let a = &run(&spread, &[], &sys)[0];
        assert!(!a.summary.contains("most to"), "{}", a.summary);
        assert_eq!(a.remote, None);
    }

    #[test]
    fn time_wait_holding_most_local_ports_to_one_peer() {
        let mut sys = sysctls();
        sys.set(Sysctl::IpLocalPortRange, "60000 60099");
        let socks: Vec<SocketInfo> = (0..85)
            .map(|i| sock(state::TIME_WAIT, 60000 + i, ip(7), 80, None, None))
            .collect();
        let alerts = run(&socks, &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(
            alerts[0].summary.contains("holding 85 of the 100 local ports"),
            "{}",
            alerts[0].summary
        );
        assert!(run(&socks[..70], &[], &sys).is_empty());
    }

    #[test]
    fn fin_wait2_lingering_past_fin_timeout() {
        let sys = sysctls();
        let socks = vec![sock(state::FIN_WAIT2, 45000, ip(3), 5432, owner(10, "app"), Some(61))];
        let alerts = run(&socks, &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let line = alerts[0].line();
        assert!(
            line.starts_with("ALERT warning FIN_WAIT2 lingering | app (pid 10), remote 10.0.0.3:5432"),
            "{line}"
        );
        assert!(
            line.contains("1 of 1 sockets in FIN_WAIT2 for longer than net.ipv4.tcp_fin_timeout (60 s)"),
            "{line}"
        );
        assert!(line.contains("| net.ipv4.tcp_fin_timeout=60 |"), "{line}");
        let young = vec![sock(state::FIN_WAIT2, 45000, ip(3), 5432, owner(10, "app"), Some(59))];
        assert!(run(&young, &[], &sys).is_empty());
        let unknown_age: Vec<SocketInfo> = accepted(49, state::FIN_WAIT2, 80, owner(10, "app"), None);
        assert!(run(&unknown_age, &[], &sys).is_empty());
        let many: Vec<SocketInfo> = accepted(50, state::FIN_WAIT2, 80, owner(10, "app"), None);
        let alerts = run(&many, &[], &sys);
        assert_eq!((alerts.len(), alerts[0].local_port), (1, Some(80)));
        assert!(
            alerts[0]
                .summary
                .starts_with("50 sockets in FIN_WAIT2: this side closed"),
            "{}",
            alerts[0].summary
        );
    }

    #[test]
    fn fin_wait1_stuck() {
        let sys = sysctls();
        let socks = vec![sock(state::FIN_WAIT1, 80, ip(4), 50123, owner(10, "web"), Some(6))];
        let alerts = run(&socks, &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let line = alerts[0].line();
        assert!(
            line.starts_with("ALERT warning FIN_WAIT1 stuck | web (pid 10)"),
            "{line}"
        );
        assert!(
            line.contains("1 of 1 sockets in FIN_WAIT1 for more than 5.0 s (oldest 6.0 s)"),
            "{line}"
        );
        assert!(
            line.contains("net.ipv4.tcp_orphan_retries=0 (0 means 8) net.ipv4.tcp_max_orphans=?"),
            "{line}"
        );
        let fresh = vec![sock(state::FIN_WAIT1, 80, ip(4), 50123, owner(10, "web"), Some(1))];
        assert!(run(&fresh, &[], &sys).is_empty());
        assert_eq!(run(&accepted(50, state::FIN_WAIT1, 80, None, None), &[], &sys).len(), 1);
        assert!(run(&accepted(49, state::FIN_WAIT1, 80, None, None), &[], &sys).is_empty());
    }

    #[test]
    fn refused_connections_in_the_window() {
        let sys = sysctls();
        let inc = vec![incident(Incident::Refused, 40000, ip(2), 81, owner(42, "curl"), 5)];
        let alerts = run(&[], &inc, &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            (a.kind, a.state, a.remote),
            (AlertKind::Refused, "SYN_SENT", Some("10.0.0.2:81".parse().unwrap()))
        );
        let line = a.line();
        assert!(
            line.starts_with("ALERT warning SYN_SENT connection refused | curl (pid 42), remote 10.0.0.2:81"),
            "{line}"
        );
        assert!(
            line.contains("1 connection to 10.0.0.2:81 refused in the last 60 s: a RST answered the SYN"),
            "{line}"
        );
        assert!(line.contains("net.ipv4.tcp_abort_on_overflow=0"), "{line}");
        assert!(line.contains("point curl at the right address"), "{line}");
        let old = vec![incident(Incident::Refused, 40000, ip(2), 81, owner(42, "curl"), 61)];
        assert!(run(&[], &old, &sys).is_empty());
        let many: Vec<IncidentRecord> = (0..100)
            .map(|i| incident(Incident::Refused, 40000 + i, ip(2), 81, owner(42, "curl"), 1))
            .collect();
        let alerts = run(&[], &many, &sys);
        assert_eq!(
            (alerts.len(), alerts[0].severity, alerts[0].count),
            (1, Severity::Critical, 100)
        );
        // Two processes refused by the same endpoint: two alerts.
        let two = vec![
            incident(Incident::Refused, 40000, ip(2), 81, owner(42, "curl"), 1),
            incident(Incident::Refused, 40001, ip(2), 81, owner(43, "wget"), 1),
        ];
        assert_eq!(run(&[], &two, &sys).len(), 2);
    }

    #[test]
    fn syn_retransmissions_and_connect_timeouts() {
        let sys = sysctls();
        let retrans = |n: u16| -> Vec<IncidentRecord> {
            (0..n)
                .map(|_| incident(Incident::SynRetransmit, 40000, ip(6), 9, owner(42, "curl"), 3))
                .collect()
        };
        assert!(run(&[], &retrans(2), &sys).is_empty());
        let alerts = run(&[], &retrans(3), &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let line = alerts[0].line();
        assert!(
            line.starts_with("ALERT warning SYN_SENT SYN retransmissions | curl (pid 42), remote 10.0.0.6:9"),
            "{line}"
        );
        assert!(
            line.contains("3 SYN retransmissions and 0 connect timeouts to 10.0.0.6:9"),
            "{line}"
        );
        assert!(
            line.contains("net.ipv4.tcp_syn_retries=6 (connect timeout 131 s) net.ipv4.tcp_syn_linear_timeouts=4"),
            "{line}"
        );
        assert!(line.contains("fail faster than 131 s"), "{line}");
        // A kernel before 6.5 (no linear timeouts): the classic 127 s.
        let mut old = sysctls();
        old.set(Sysctl::TcpSynLinearTimeouts, "");
        let line = run(&[], &retrans(3), &old)[0].line();
        assert!(
            line.contains("net.ipv4.tcp_syn_retries=6 (connect timeout 127 s) net.ipv4.tcp_syn_linear_timeouts=?"),
            "{line}"
        );
        let timeout = vec![incident(
            Incident::ConnectTimeout,
            40000,
            ip(6),
            9,
            owner(42, "curl"),
            3,
        )];
        let alerts = run(&[], &timeout, &sys);
        assert_eq!(alerts.len(), 1);
        assert!(
            alerts[0]
                .summary
                .starts_with("0 SYN retransmissions and 1 connect timeout to"),
            "{}",
            alerts[0].summary
        );
    }

    #[test]
    fn generic_count_alerts() {
        let sys = sysctls();
        let est = |n: u16| accepted(n, state::ESTABLISHED, 443, owner(3, "envoy"), None);
        assert!(run(&est(599), &[], &sys).is_empty());
        let alerts = run(&est(600), &[], &sys);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let line = alerts[0].line();
        assert!(
            line.starts_with("ALERT warning ESTABLISHED count over threshold | envoy (pid 3)"),
            "{line}"
        );
        assert!(
            line.contains(
                "600 sockets in ESTABLISHED (warn at 600, critical at 800), 600 of them owned by envoy (pid 3)"
            ),
            "{line}"
        );
        assert!(
            line.contains(
                "net.ipv4.tcp_keepalive_time=7200 net.ipv4.tcp_keepalive_intvl=75 net.ipv4.tcp_keepalive_probes=9"
            ),
            "{line}"
        );
        let alerts = run(&accepted(800, state::LAST_ACK, 80, None, None), &[], &sys);
        assert_eq!(
            (alerts.len(), alerts[0].severity, alerts[0].state),
            (1, Severity::Critical, "LAST_ACK")
        );
        // Configured per state.
        let mut cfg = DiagConfig::default();
        cfg.thresholds.set(Severity::Warning, "ESTABLISHED=10".parse().unwrap());
        assert_eq!(diagnose(NOW, &est(10), &[], &sys, &cfg).len(), 1);
        assert!(diagnose(NOW, &est(9), &[], &sys, &cfg).is_empty());
    }

    #[test]
    fn threshold_parsing_and_severity() {
        assert_eq!(
            "600".parse::<ThresholdSpec>(),
            Ok(ThresholdSpec {
                state: None,
                count: 600
            })
        );
        assert_eq!(
            "CLOSE_WAIT=50".parse::<ThresholdSpec>(),
            Ok(ThresholdSpec {
                state: Some(state::CLOSE_WAIT),
                count: 50
            })
        );
        assert_eq!(
            " close-wait = 50 ".parse::<ThresholdSpec>().map(|s| s.state),
            Ok(Some(state::CLOSE_WAIT))
        );
        assert_eq!(
            "FIN-WAIT-1=3".parse::<ThresholdSpec>().map(|s| s.state),
            Ok(Some(state::FIN_WAIT1))
        );
        assert_eq!(
            "ESTAB=2".parse::<ThresholdSpec>().map(|s| s.state),
            Ok(Some(state::ESTABLISHED))
        );
        assert_eq!(
            "NEW_SYN_RECV=2".parse::<ThresholdSpec>().map(|s| s.state),
            Ok(Some(state::NEW_SYN_RECV))
        );
        assert_eq!("".parse::<ThresholdSpec>(), Err(ThresholdError::Empty));
        assert_eq!(
            "abc".parse::<ThresholdSpec>(),
            Err(ThresholdError::Count { text: "abc".into() })
        );
        assert_eq!(
            "0".parse::<ThresholdSpec>(),
            Err(ThresholdError::Count { text: "0".into() })
        );
        assert_eq!(
            "-5".parse::<ThresholdSpec>(),
            Err(ThresholdError::Count { text: "-5".into() })
        );
        assert_eq!(
            "CLOSE_WAIT=".parse::<ThresholdSpec>(),
            Err(ThresholdError::Count { text: "".into() })
        );
        assert_eq!(
            "FOO=1".parse::<ThresholdSpec>(),
            Err(ThresholdError::State { name: "FOO".into() })
        );
        assert_eq!(
            "UNKNOWN=1".parse::<ThresholdSpec>(),
            Err(ThresholdError::State { name: "UNKNOWN".into() })
        );

        let mut t = Thresholds::default();
        assert_eq!(t.severity(state::CLOSE_WAIT, 0), None);
        assert_eq!(t.severity(state::CLOSE_WAIT, 599), None);
        assert_eq!(t.severity(state::CLOSE_WAIT, 600), Some(Severity::Warning));
        assert_eq!(t.severity(state::CLOSE_WAIT, 799), Some(Severity::Warning));
        assert_eq!(t.severity(state::CLOSE_WAIT, 800), Some(Severity::Critical));
        assert_eq!(t.severity(200, 800), Some(Severity::Critical));
        t.set(Severity::Warning, "CLOSE_WAIT=50".parse().unwrap());
        t.set(Severity::Critical, "CLOSE_WAIT=100".parse().unwrap());
        assert_eq!(t.severity(state::CLOSE_WAIT, 50), Some(Severity::Warning));
        assert_eq!(t.severity(state::CLOSE_WAIT, 100), Some(Severity::Critical));
        assert_eq!(t.severity(state::TIME_WAIT, 100), None);
        t.set(Severity::Warning, "10".parse().unwrap());
        assert_eq!(t.severity(state::TIME_WAIT, 10), Some(Severity::Warning));
        assert_eq!(
            t.get(state::CLOSE_WAIT),
            Threshold {
                warn: 10,
                critical: 100
            }
        );
        t.set(Severity::Critical, "SYN_RECV=20".parse().unwrap());
        assert_eq!(t.get(state::NEW_SYN_RECV).critical, 20);
        assert_eq!(
            DiagConfig::default().severity(state::SYN_SENT, 800),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn keys_are_stable_and_json_parses() {
        let mut socks = vec![listener(80, owner(812, "python3"))];
        socks.extend(accepted(25, state::CLOSE_WAIT, 80, owner(812, "python3"), Some(40)));
        let a = run(&socks, &[], &sysctls());
        // Ten seconds later, with more sockets and other peers: the same key.
        socks.extend((0..5).map(|i| sock(state::CLOSE_WAIT, 80, ip(99), 50000 + i, owner(812, "python3"), None)));
        let b = diagnose(NOW + 10 * S, &socks, &[], &sysctls(), &DiagConfig::default());
        assert_eq!(a[0].key, b[0].key);
        assert_ne!(a[0].count, b[0].count);
        assert_eq!(
            a[0].key.to_string(),
            "close_wait_leak/CLOSE_WAIT/netns=4026532290/port=80/pid=812"
        );

        let mut sys = sysctls();
        sys.set(Sysctl::TcpKeepaliveTime, "x");
        let a = run(&socks, &[], &sys);
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&a[0]).unwrap()).unwrap();
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["kind"], "close_wait_leak");
        assert_eq!(v["state"], "CLOSE_WAIT");
        assert_eq!(v["key"], "close_wait_leak/CLOSE_WAIT/netns=4026532290/port=80/pid=812");
        assert_eq!(v["pid"], 812);
        assert_eq!(v["comm"], "python3");
        assert_eq!(v["local_port"], 80);
        assert_eq!(v["netns"], NETNS);
        assert_eq!(v["count"], 30);
        assert_eq!(v["oldest_s"], 40.0);
        assert_eq!(v["sysctls"][0]["name"], "net.ipv4.tcp_keepalive_time");
        assert!(v["sysctls"][0]["value"].is_null());
        assert_eq!(v["sysctls"][1]["value"], "75");
        assert!(v["sysctls"][1].get("note").is_none());
        assert!(v["advice"].as_str().is_some_and(|s| s.contains("close()")));
        assert!(
            a[0].line().contains("net.ipv4.tcp_keepalive_time=? "),
            "{}",
            a[0].line()
        );
        let inc = vec![incident(Incident::Refused, 40000, ip(2), 81, owner(42, "curl"), 5)];
        let r = run(&[], &inc, &sys);
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&r[0]).unwrap()).unwrap();
        assert_eq!(v["remote"], "10.0.0.2:81");
        assert!(v["local_port"].is_null());
        assert_eq!(v["key"], "refused/SYN_SENT/netns=4026532290/pid=42/remote=10.0.0.2:81");
    }

    #[test]
    fn sysctls_of_another_namespace_are_flagged_and_unknown_ones_do_not_panic() {
        let mut socks = vec![listener(80, owner(812, "python3"))];
        socks.extend(accepted(25, state::CLOSE_WAIT, 80, owner(812, "python3"), None));
        let mut sys = Sysctls::unknown();
        sys.netns = Some(4026531840);
        let a = run(&socks, &[], &sys);
        let line = a[0].line();
        assert!(line.contains("net.ipv4.tcp_keepalive_time=? net.ipv4.tcp_keepalive_intvl=? net.ipv4.tcp_keepalive_probes=? (values of netns 4026531840)"), "{line}");
        // Every diagnosis with every sysctl unknown.
        let mut all = accepted(900, state::SYN_RECV, 80, None, Some(100));
        for st in 1..STATES as u8 {
            all.extend(accepted(10, st, 1000 + u16::from(st), None, Some(100)));
        }
        let inc: Vec<IncidentRecord> = [Incident::Refused, Incident::SynRetransmit, Incident::ConnectTimeout]
            .into_iter()
            .map(|k| incident(k, 1, ip(1), 2, None, 1))
            .collect();
        let alerts = diagnose(NOW, &all, &inc, &Sysctls::unknown(), &DiagConfig::default());
        assert!(
            alerts
                .iter()
                .any(|a| a.kind == AlertKind::SynFlood && a.severity == Severity::Critical)
        );
        assert!(alerts.iter().all(|a| a.line().starts_with("ALERT ")));
        // Most severe first.
        assert!(alerts.windows(2).all(|w| w[0].severity >= w[1].severity));
    }

    #[test]
    fn connect_timeouts() {
        assert_eq!(connect_timeout_secs(6, 0), 127);
        assert_eq!(connect_timeout_secs(6, 4), 131);
        assert_eq!(connect_timeout_secs(0, 0), 1);
        assert_eq!(connect_timeout_secs(0, 4), 5);
        assert_eq!(connect_timeout_secs(-3, -1), 1);
        assert_eq!(connect_timeout_secs(5, 0), 63);
        // 1+2+...+64 = 127, then the 120 s cap: 127 + 120 = 247.
        assert_eq!(connect_timeout_secs(7, 0), 247);
        assert_eq!(connect_timeout_secs(i64::MAX, i64::MAX), 255 + 127 + 120 * 249);
    }
}
