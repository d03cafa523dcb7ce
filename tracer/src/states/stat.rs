//! `tracer stat`: how many TCP sockets of the current network namespace are
//! in each state, with warning/critical marks and the diagnoses' alert lines.
//!
//! `--once` reads the kernel's socket table (sock_diag, see [`seed`]) and
//! prints it: it loads no kernel program, so it needs neither tracefs nor BPF
//! and works wherever `ss` works (inside `ip netns exec`, too), and its counts
//! are what `ss -tan` counts at the same moment.
//!
//! Without `--once` the table seeds a [`Tracker`] that the state tracepoint
//! and the socket life-cycle hooks keep live; every second the counts, the
//! transitions into each state per second, and the alerts are printed again
//! (the screen is redrawn like top when standard output is a terminal). The
//! table is read again every [`RESEED_EVERY`] to measure and correct drift
//! (sockets the events missed).

use std::{
    io::{self, IsTerminal as _, Write},
    os::fd::{AsFd as _, AsRawFd as _},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use tracer_common::{SockEvent, names, sock_kind};

use super::{
    diag::{self, Alert, DiagConfig, Severity},
    model::{IncidentRecord, SocketInfo, Transition, state},
    owners,
    seed::{self, SeedError},
    state_name,
    sysctl::{SysctlCache, Sysctls},
    tracker::{Tracker, monotonic_ns},
};
use aya::maps::{MapData, RingBuf};

use crate::{
    capture::{
        CaptureError,
        counters::Counters,
        load::{LoadOptions, Programs, ring_size},
        preflight, record,
        staterings::StateRings,
    },
    signals,
};

/// How often live mode reads the kernel's table again, to measure drift
/// (sockets the tracker has wrong) and correct it.
pub const RESEED_EVERY: Duration = Duration::from_secs(10);
/// Refresh period of live mode.
const INTERVAL: Duration = Duration::from_secs(1);
/// Size of the per-CPU state rings, all CPUs together: a ring passing half
/// full wakes the reader, so it is drained long before it could overflow.
const STATE_RING_BYTES: u64 = 8 << 20;

/// Kernel state numbers (0 unused … 12 NEW_SYN_RECV).
const STATES: usize = 13;

/// The states listed, in the kernel's order: every state `ss -tan` can show
/// (request sockets, NEW_SYN_RECV, are counted as SYN_RECV as ss counts them).
pub const LISTED: [u8; 11] = [
    state::ESTABLISHED,
    state::SYN_SENT,
    state::SYN_RECV,
    state::FIN_WAIT1,
    state::FIN_WAIT2,
    state::TIME_WAIT,
    state::CLOSE,
    state::CLOSE_WAIT,
    state::LAST_ACK,
    state::LISTEN,
    state::CLOSING,
];

/// What `tracer stat` does (from its command line).
#[derive(Clone, Debug, Default)]
pub struct StatConfig {
    /// Print one snapshot of the kernel's table and exit.
    pub once: bool,
    /// One JSON object per snapshot instead of text.
    pub json: bool,
    /// Stop after this many snapshots (live mode).
    pub count: Option<u64>,
    /// Thresholds and the diagnoses' settings.
    pub diag: DiagConfig,
}

/// Why `tracer stat` stopped.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    #[error("reading the kernel's socket table: {0}")]
    Seed(#[from] SeedError),
    #[error("writing the counts: {0}")]
    Write(#[source] io::Error),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("waiting for socket events: {0}")]
    Poll(#[source] io::Error),
}

/// Sockets per kernel state number, request sockets folded into SYN_RECV.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; STATES]);

impl Counts {
    pub fn of(sockets: &[SocketInfo]) -> Counts {
        let mut c = [0u64; STATES];
        for s in sockets {
            let st = if s.state == state::NEW_SYN_RECV {
                state::SYN_RECV
            } else {
                s.state
            };
            if let Some(n) = c.get_mut(usize::from(st)) {
                *n += 1;
            }
        }
        Counts(c)
    }

    pub fn get(&self, st: u8) -> u64 {
        self.0.get(usize::from(st)).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Transitions into each state per second, over the last refresh.
pub type Rates = [f64; STATES];

/// What one refresh shows.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Wall-clock time, epoch seconds.
    pub time: f64,
    pub netns: u32,
    pub counts: Counts,
    /// None with `--once`.
    pub rates: Option<Rates>,
    pub alerts: Vec<Alert>,
    /// Where the counts come from: `sock_diag` (the kernel's table) or
    /// `tracepoint` (the tracker kept live by the kernel's events).
    pub source: &'static str,
}

/// The sockets in the table, diagnosed.
pub fn snapshot_of<'a>(
    netns: u32,
    sockets: &[SocketInfo],
    incidents: impl IntoIterator<Item = &'a IncidentRecord>,
    cfg: &DiagConfig,
) -> Snapshot {
    let alerts = diag::diagnose(monotonic_ns(), sockets, incidents, &Sysctls::read(), cfg);
    Snapshot {
        time: wall_now(),
        netns,
        counts: Counts::of(sockets),
        rates: None,
        alerts,
        source: "sock_diag",
    }
}

fn wall_now() -> f64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    d.as_secs() as f64 + f64::from(d.subsec_micros()) / 1e6
}

/// `tracer stat --once`: the kernel's table, now.
pub fn run_once(cfg: &StatConfig, out: &mut impl Write) -> Result<(), StatError> {
    let netns = seed::current_netns().map_err(SeedError::Netns)?;
    let sockets = seed::snapshot()?;
    let snap = snapshot_of(netns, &sockets, std::iter::empty(), &cfg.diag);
    let mut buf = Vec::new();
    if cfg.json {
        write_json(&mut buf, &snap, &cfg.diag);
    } else {
        write_text(&mut buf, &snap, &cfg.diag);
    }
    out.write_all(&buf).and_then(|()| out.flush()).map_err(StatError::Write)
}

/// Drift between the tracker's counts and the kernel's table, state by state
/// (table minus tracker), at the last re-read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Drift {
    /// Sum of |difference| over the states.
    pub sockets: u64,
    /// Re-reads so far, and how many of them found a difference.
    pub reseeds: u64,
    pub drifted: u64,
}

/// `tracer stat` without `--once`: the table seeds the tracker, the kernel's
/// events keep it live; a snapshot every second until SIGINT/SIGTERM or
/// `count` snapshots. A stop signal ([`crate::signals`], held during the start-up) that comes
/// before the first snapshot ends it at the next start-up step, without a snapshot; dropping
/// the programs detaches what was attached.
pub fn run_live(cfg: &StatConfig, out: &mut impl Write, err: &mut impl Write) -> Result<(), StatError> {
    preflight::check_privileges(false)?;
    preflight::check_btf()?;
    preflight::ensure_tracefs()?;
    let netns = seed::current_netns().map_err(SeedError::Netns)?;
    if signals::checkpoint() {
        return Ok(());
    }
    let mut programs = Programs::load(&LoadOptions {
        snaplen: 0,
        packet_ring_bytes: ring_size(0),
        state_ring_bytes: ring_size(STATE_RING_BYTES),
        sockets: true,
    })?;
    let ring = programs.take_ring(names::STATES)?;
    let rings = programs.take_state_rings()?;
    let counter_map = programs.take_counters()?;
    if signals::checkpoint() {
        return Ok(());
    }
    let hooks = programs.attach_state_hooks()?;
    if signals::checkpoint() {
        return Ok(());
    }
    for line in super::hooks::startup_notes(&hooks) {
        let _ = writeln!(err, "tracer: {line}");
    }
    let mut tracker = Tracker::new();
    let missing = hooks.missing_kinds();
    let kernel_timewait = !missing.contains(&sock_kind::TW_START) && !missing.contains(&sock_kind::TW_END);
    tracker.set_kernel_timewait(kernel_timewait);

    // Attached first, seeded next: an event of a socket the table already
    // shows is applied to the seeded socket, none is missed.
    tracker.seed(seed::snapshot()?);
    if signals::checkpoint() {
        return Ok(());
    }
    let mut sysctls = SysctlCache::new();
    let fd = ring.as_fd().as_raw_fd();
    let mut events = Events {
        ring,
        rings,
        netns,
        pending: Vec::new(),
        trans: Vec::new(),
    };
    let mut trans: Vec<Transition> = Vec::new();
    let mut entered = [0u64; STATES];
    let mut drift = Drift::default();
    let tty = io::stdout().is_terminal() && !cfg.json;
    let mut shown = 0u64;
    let mut last = Instant::now();
    let mut next_reseed = last + RESEED_EVERY;
    // Signals are handled as they come from here on (one held since the last checkpoint ends
    // the loop after its first snapshot, as a signal during the loop does).
    signals::release();
    loop {
        let deadline = last + INTERVAL;
        // Drain until the next refresh.
        loop {
            events.drain(&mut tracker, &mut entered);
            let now = Instant::now();
            if now >= deadline || signals::requested() {
                break;
            }
            // `events.ring` keeps the descriptor open.
            signals::wait_readable(fd, deadline - now).map_err(StatError::Poll)?;
        }
        let now_ns = monotonic_ns();
        tracker.tick(now_ns, &mut trans);
        count_entered(&trans, netns, &mut entered);
        trans.clear();
        let now = Instant::now();
        let secs = now.duration_since(last).as_secs_f64().max(1e-3);
        last = now;
        if now >= next_reseed {
            next_reseed = now + RESEED_EVERY;
            reseed(&mut tracker, &mut events, &mut entered, &mut drift, err)?;
        }
        let sockets = tracker.snapshot(Some(netns));
        let mut snap = Snapshot {
            time: wall_now(),
            netns,
            counts: Counts::of(&sockets),
            rates: Some(entered.map(|n| n as f64 / secs)),
            alerts: diag::diagnose(now_ns, &sockets, tracker.incidents(), sysctls.get(), &cfg.diag),
            source: "tracepoint",
        };
        entered = [0; STATES];
        let lost = Counters::read(&counter_map).map(|c| c.sock_events_lost()).unwrap_or(0);
        let mut buf = Vec::new();
        if cfg.json {
            write_json_live(&mut buf, &snap, &cfg.diag, drift, lost);
        } else {
            if tty {
                buf.extend_from_slice(b"\x1b[H\x1b[2J");
            } else if shown > 0 {
                buf.push(b'\n');
            }
            let _ = writeln!(
                buf,
                "tracer stat: netns {netns}, {} sockets; table re-read every {} s: {} of {} re-reads drifted (last {} sockets); {lost} events lost",
                snap.counts.total(),
                RESEED_EVERY.as_secs(),
                drift.drifted,
                drift.reseeds,
                drift.sockets,
            );
            write_text(&mut buf, &snap, &cfg.diag);
        }
        snap.alerts.clear();
        out.write_all(&buf)
            .and_then(|()| out.flush())
            .map_err(StatError::Write)?;
        shown += 1;
        if signals::requested() || cfg.count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
    }
}

/// Counts transitions into each state of the sockets of `netns` (same-state
/// events are not transitions).
fn count_entered(trans: &[Transition], netns: u32, entered: &mut [u64; STATES]) {
    for t in trans.iter().filter(|t| t.netns == netns && t.old != t.new) {
        if let Some(n) = entered.get_mut(usize::from(t.new)) {
            *n += 1;
        }
    }
}

/// The state ring and what is drained from it.
struct Events {
    ring: RingBuf<MapData>,
    rings: StateRings,
    netns: u32,
    pending: Vec<SockEvent>,
    trans: Vec<Transition>,
}

impl Events {
    /// Applies every event in the ring (of this namespace) to the tracker, in
    /// timestamp order, and counts the transitions into each state.
    fn drain(&mut self, tracker: &mut Tracker, entered: &mut [u64; STATES]) {
        while let Some(item) = self.ring.next() {
            if let Some(ev) = record::sock(&item) {
                self.pending.push(ev);
            }
        }
        self.rings.drain_into(&mut self.pending);
        let netns = self.netns;
        self.pending.retain(|e| e.netns == netns || e.netns == 0);
        self.pending.sort_by_key(|e| e.ts_ns);
        for ev in self.pending.drain(..) {
            tracker.apply(&ev, &mut self.trans);
        }
        count_entered(&self.trans, self.netns, entered);
        self.trans.clear();
    }
}

/// How far `table` lies outside the range the tracker's counts spanned
/// while it was read (`a` before, `b` after), summed over the states: the
/// sockets that changed state during the read are not drift.
pub fn drift_between(a: &Counts, table: &Counts, b: &Counts) -> u64 {
    (0..STATES)
        .map(|i| {
            let (x, y, t) = (a.0[i], b.0[i], table.0[i]);
            let (lo, hi) = (x.min(y), x.max(y));
            if t < lo { lo - t } else { t.saturating_sub(hi) }
        })
        .sum()
}

/// Reads the kernel's table again and compares it with the tracker, whose
/// counts are taken just before and just after the read. When they differ
/// (events were lost, or hooks are missing: without the timewait hooks a
/// TIME_WAIT socket reused by tcp_tw_reuse or ended by a RST goes unseen),
/// the tracker is brought in line with the table (with owners): sockets
/// that agree keep when they entered their state, and the recent incidents
/// stay.
fn reseed(
    tracker: &mut Tracker,
    events: &mut Events,
    entered: &mut [u64; STATES],
    drift: &mut Drift,
    err: &mut impl Write,
) -> Result<(), StatError> {
    let netns = events.netns;
    events.drain(tracker, entered);
    let before = Counts::of(&tracker.snapshot(Some(netns)));
    let table = seed::dump()?;
    events.drain(tracker, entered);
    let have = Counts::of(&tracker.snapshot(Some(netns)));
    let want = Counts::of(&table);
    drift.reseeds += 1;
    drift.sockets = drift_between(&before, &want, &have);
    if drift.sockets == 0 {
        return Ok(());
    }
    drift.drifted += 1;
    let diff: Vec<String> = LISTED
        .iter()
        .filter(|&&st| have.get(st) != want.get(st))
        .map(|&st| format!("{} {} -> {}", state_name(st), have.get(st), want.get(st)))
        .collect();
    let _ = writeln!(
        err,
        "tracer: stat: {} sockets off the kernel's table ({}); corrected from it",
        drift.sockets,
        diff.join(", ")
    );
    let mut table = table;
    let inodes = table.iter().map(|s| s.inode).filter(|&i| i != 0).collect();
    seed::attach_owners(&mut table, &owners::scan_for(&inodes));
    tracker.reconcile(netns, table, monotonic_ns());
    Ok(())
}

/// One line per listed state, `NAME  COUNT`, names left-aligned and counts
/// right-aligned in columns; with rates, `  +R/s` after the count; then the
/// mark (`warning`, `critical`) of a count at or over its threshold; then
/// the alert lines.
pub fn write_text(out: &mut Vec<u8>, snap: &Snapshot, cfg: &DiagConfig) {
    let width = LISTED
        .iter()
        .map(|&st| snap.counts.get(st).to_string().len())
        .max()
        .unwrap_or(1)
        .max(5);
    for st in LISTED {
        let count = snap.counts.get(st);
        let _ = write!(out, "{:<12}{count:>width$}", state_name(st));
        if let Some(r) = &snap.rates {
            let _ = write!(out, "  {:>8}/s", format!("+{:.1}", rate_into(r, st)));
        }
        if let Some(sev) = cfg.severity(st, count) {
            let _ = write!(out, "  {}", sev.name());
        }
        out.push(b'\n');
    }
    for a in &snap.alerts {
        out.extend_from_slice(a.line().as_bytes());
        out.push(b'\n');
    }
}

/// Transitions into `st` per second. SYN_RECV: a passive open shows both the
/// request socket (the SYN) and the child's SYN_RECV step (the final ACK);
/// the larger of the two is taken so that each connection counts once, a
/// SYN flood (requests only) and TCP Fast Open (no request socket) too.
pub fn rate_into(r: &Rates, st: u8) -> f64 {
    let get = |s: u8| r.get(usize::from(s)).copied().unwrap_or(0.0);
    if st == state::SYN_RECV {
        get(state::SYN_RECV).max(get(state::NEW_SYN_RECV))
    } else {
        get(st)
    }
}

#[derive(Serialize)]
struct JsonThreshold {
    state: &'static str,
    count: u64,
    severity: Severity,
    warn: u64,
    critical: u64,
}

#[derive(Serialize)]
struct JsonSnapshot<'a> {
    time: f64,
    netns: u32,
    source: &'static str,
    total: u64,
    counts: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rates: Option<serde_json::Map<String, serde_json::Value>>,
    thresholds_hit: Vec<JsonThreshold>,
    alerts: &'a [Alert],
    /// Live mode: state events the kernel programs could not hand over.
    #[serde(skip_serializing_if = "Option::is_none")]
    events_lost: Option<u64>,
    /// Live mode: the last comparison with the kernel's table.
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<JsonDrift>,
}

#[derive(Serialize)]
struct JsonDrift {
    sockets: u64,
    reseeds: u64,
    drifted: u64,
}

/// One JSON object and a newline: `time` (epoch seconds), `netns`, `source`,
/// `total`, `counts` (kernel state name → sockets, every listed state),
/// `rates` (live mode: state → transitions into it per second),
/// `thresholds_hit` (state, count, severity, warn, critical) and `alerts`.
pub fn write_json(out: &mut Vec<u8>, snap: &Snapshot, cfg: &DiagConfig) {
    write_json_with(out, snap, cfg, None);
}

/// [`write_json`] in live mode: also `events_lost` and `drift` (`sockets`
/// the counts differed from the table by at the last re-read, `reseeds`,
/// `drifted`: re-reads that found a difference).
pub fn write_json_live(out: &mut Vec<u8>, snap: &Snapshot, cfg: &DiagConfig, drift: Drift, lost: u64) {
    write_json_with(out, snap, cfg, Some((drift, lost)));
}

fn write_json_with(out: &mut Vec<u8>, snap: &Snapshot, cfg: &DiagConfig, live: Option<(Drift, u64)>) {
    let by_state = |f: &dyn Fn(u8) -> serde_json::Value| {
        LISTED
            .iter()
            .map(|&st| (state_name(st).to_string(), f(st)))
            .collect::<serde_json::Map<_, _>>()
    };
    let obj = JsonSnapshot {
        time: snap.time,
        netns: snap.netns,
        source: snap.source,
        total: snap.counts.total(),
        counts: by_state(&|st| snap.counts.get(st).into()),
        rates: snap.rates.as_ref().map(|r| {
            by_state(&|st| {
                serde_json::Number::from_f64((rate_into(r, st) * 10.0).round() / 10.0)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            })
        }),
        thresholds_hit: LISTED
            .iter()
            .filter_map(|&st| {
                let count = snap.counts.get(st);
                let t = cfg.thresholds.get(st);
                cfg.severity(st, count).map(|severity| JsonThreshold {
                    state: state_name(st),
                    count,
                    severity,
                    warn: t.warn,
                    critical: t.critical,
                })
            })
            .collect(),
        alerts: &snap.alerts,
        events_lost: live.map(|(_, lost)| lost),
        drift: live.map(|(d, _)| JsonDrift {
            sockets: d.sockets,
            reseeds: d.reseeds,
            drifted: d.drifted,
        }),
    };
    if serde_json::to_writer(&mut *out, &obj).is_ok() {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::states::{
        diag::{Severity, ThresholdSpec},
        model::Tuple,
    };

    fn sock(st: u8, sport: u16) -> SocketInfo {
        SocketInfo {
            netns: 1,
            tuple: Tuple {
                src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                sport,
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                dport: 40000,
            },
            state: st,
            owner: None,
            since_ns: None,
            inode: 0,
        }
    }

    fn snap(sockets: &[SocketInfo], rates: Option<Rates>) -> Snapshot {
        Snapshot {
            time: 1_700_000_000.5,
            netns: 1,
            counts: Counts::of(sockets),
            rates,
            alerts: Vec::new(),
            source: "sock_diag",
        }
    }

    #[test]
    fn counts_fold_requests_into_syn_recv() {
        let s = [
            sock(state::NEW_SYN_RECV, 80),
            sock(state::SYN_RECV, 80),
            sock(state::CLOSE_WAIT, 80),
            sock(state::CLOSE_WAIT, 81),
            sock(99, 1),
        ];
        let c = Counts::of(&s);
        assert_eq!(c.get(state::SYN_RECV), 2);
        assert_eq!(c.get(state::NEW_SYN_RECV), 0);
        assert_eq!(c.get(state::CLOSE_WAIT), 2);
        assert_eq!(c.get(99), 0);
        assert_eq!(c.total(), 4);
    }

    #[test]
    fn text_lines_are_aligned_with_marks() {
        let mut sockets: Vec<_> = (0..25).map(|i| sock(state::CLOSE_WAIT, 8000 + i)).collect();
        sockets.extend((0..3).map(|i| sock(state::ESTABLISHED, i)));
        let mut cfg = DiagConfig::default();
        cfg.thresholds
            .set(Severity::Warning, "CLOSE_WAIT=20".parse::<ThresholdSpec>().unwrap());
        cfg.thresholds
            .set(Severity::Critical, "ESTABLISHED=3".parse::<ThresholdSpec>().unwrap());
        let mut out = Vec::new();
        write_text(&mut out, &snap(&sockets, None), &cfg);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), LISTED.len());
        assert_eq!(lines[0], "ESTABLISHED     3  critical");
        assert_eq!(lines[2], "SYN_RECV        0");
        assert_eq!(lines[6], "CLOSE           0");
        assert_eq!(lines[7], "CLOSE_WAIT     25  warning");
        assert_eq!(lines[10], "CLOSING         0");
        let names: Vec<&str> = lines.iter().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "ESTABLISHED",
                "SYN_SENT",
                "SYN_RECV",
                "FIN_WAIT1",
                "FIN_WAIT2",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "LAST_ACK",
                "LISTEN",
                "CLOSING"
            ]
        );
        // Wide counts widen the column for every line.
        let many: Vec<_> = (0..123_456).map(|_| sock(state::TIME_WAIT, 1)).collect();
        let mut out = Vec::new();
        write_text(&mut out, &snap(&many, None), &DiagConfig::default());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("TIME_WAIT   123456  critical\n"), "{text}");
        assert!(text.contains("LISTEN           0\n"), "{text}");
    }

    #[test]
    fn rates_in_text_and_json() {
        let mut r: Rates = [0.0; STATES];
        r[usize::from(state::ESTABLISHED)] = 12.0;
        r[usize::from(state::SYN_RECV)] = 3.0;
        r[usize::from(state::NEW_SYN_RECV)] = 5.0;
        assert_eq!(rate_into(&r, state::SYN_RECV), 5.0);
        let s = snap(&[sock(state::ESTABLISHED, 1)], Some(r));
        let mut out = Vec::new();
        write_text(&mut out, &s, &DiagConfig::default());
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("ESTABLISHED     1     +12.0/s\n"), "{text}");
        assert!(text.contains("SYN_RECV        0      +5.0/s\n"), "{text}");
        let mut out = Vec::new();
        write_json(&mut out, &s, &DiagConfig::default());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rates"]["ESTABLISHED"], 12.0);
        assert_eq!(v["rates"]["SYN_RECV"], 5.0);
        assert_eq!(v["source"], "sock_diag");
    }

    #[test]
    fn json_object() {
        let sockets: Vec<_> = (0..30).map(|i| sock(state::CLOSE_WAIT, 8000 + i)).collect();
        let mut cfg = DiagConfig::default();
        cfg.thresholds.set(Severity::Warning, "close-wait=25".parse().unwrap());
        let mut out = Vec::new();
        write_json(&mut out, &snap(&sockets, None), &cfg);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], 1_700_000_000.5);
        assert_eq!(v["netns"], 1);
        assert_eq!(v["total"], 30);
        assert_eq!(v["counts"]["CLOSE_WAIT"], 30);
        assert_eq!(v["counts"]["LISTEN"], 0);
        assert_eq!(v["counts"].as_object().unwrap().len(), LISTED.len());
        assert!(v.get("rates").is_none());
        assert_eq!(v["thresholds_hit"][0]["state"], "CLOSE_WAIT");
        assert_eq!(v["thresholds_hit"][0]["severity"], "warning");
        assert_eq!(v["thresholds_hit"][0]["warn"], 25);
        assert_eq!(v["thresholds_hit"][0]["critical"], 800);
        assert_eq!(v["thresholds_hit"].as_array().unwrap().len(), 1);
        assert_eq!(v["alerts"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn drift_is_what_lies_outside_the_read() {
        let mut a = Counts::default();
        let mut b = Counts::default();
        let mut t = Counts::default();
        let tw = usize::from(state::TIME_WAIT);
        let est = usize::from(state::ESTABLISHED);
        // TIME_WAIT grew from 10 to 14 while the table was read: 12 is no drift.
        (a.0[tw], t.0[tw], b.0[tw]) = (10, 12, 14);
        assert_eq!(drift_between(&a, &t, &b), 0);
        // The tracker holds 3 TIME_WAIT sockets the kernel no longer has.
        t.0[tw] = 7;
        assert_eq!(drift_between(&a, &t, &b), 3);
        // And misses 2 ESTABLISHED ones.
        (a.0[est], t.0[est], b.0[est]) = (5, 7, 5);
        assert_eq!(drift_between(&a, &t, &b), 5);
        assert_eq!(drift_between(&t, &t, &t), 0);
    }
}
