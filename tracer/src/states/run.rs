//! `tracer states`: attach the socket hooks (no packet hook), seed the tracker
//! from the kernel's socket table, then print one line per transition (text or
//! JSON lines) and the diagnoses' alerts until SIGINT/SIGTERM or `-c`.

use std::{
    collections::HashMap,
    io::{self, BufWriter, IsTerminal as _, Write as _},
    os::fd::{AsFd as _, AsRawFd as _},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use tracer_common::{SockEvent, names, sock_kind};

use super::{
    diag::{self, AlertKey, DiagConfig},
    format,
    model::{SocketInfo, Transition, state},
    namespaces,
    seed::RequestPoll,
    sysctl::{Sysctl, SysctlCache},
    tracker::{Tracker, monotonic_ns},
};
use crate::{
    capture::{
        CaptureError,
        clock::Clock,
        counters::Counters,
        load::{LoadOptions, Programs, ring_size},
        preflight, record,
        staterings::StateRings,
    },
    print::{PrintOptions, Printer},
    signals,
};

/// How often the rings are drained while events come (state events are
/// written without a wakeup; a drain costs a wakeup of this process, so not
/// too often) ...
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// ... and at most this seldom when none came: each empty drain doubles the
/// wait, up to this (an idle tracer wakes five times a second).
const IDLE_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Events newer than this (before the drain) wait for the next one: an event
/// of another CPU with an older timestamp may not be in the ring yet, and a
/// socket's events must be applied in order.
const REORDER_WINDOW_NS: u64 = 5_000_000;
/// How often `tick`, the diagnoses and the clock calibration run.
const SECOND_NS: u64 = 1_000_000_000;
/// The diagnoses may take this share of one CPU at most: when a huge table
/// makes one run take longer than 1/this of a second, they run less often.
const DIAGNOSIS_CPU_DIVISOR: u32 = 100;
/// The request poll may take this share of one CPU at most. Its kernel time
/// grows with every TCP socket of the host, whatever its namespace (the dump
/// walks the whole connection hash: about 1 ms with 5,000 timewait sockets
/// here, 7 ms with 45,000), and it was most of an idle tracer's CPU. Then
/// it runs every few seconds; SYN-ACK retransmissions still show half-open
/// connections about a second after their SYN.
const POLL_CPU_DIVISOR: u64 = 4000;
/// With more timewait sockets than this, the diagnoses look at them only
/// every [`TIME_WAIT_EVERY`] runs (their alert is about a count that moves
/// over a minute; the other states are still diagnosed every second): a
/// timewait socket costs some 100 ns a run to copy, count and group.
const TIME_WAIT_MANY: usize = 1_000;
const TIME_WAIT_EVERY: u32 = 5;
/// An alert still true is printed again after this long.
const ALERT_REPEAT_NS: u64 = 60 * SECOND_NS;
/// Default size of the per-CPU state rings, all CPUs together (`-B` sets it):
/// 4 MiB a CPU on two CPUs (65536 events), 64 KiB (1024 events) at least. A
/// ring passing half full wakes the reader; the rest is headroom for a reader
/// that waits for a CPU on a loaded host (smaller rings, 512 KiB a CPU, lost
/// events at 16,000 connections a second here while a build ran).
const STATE_RING_BYTES: u64 = 8 << 20;

/// Lines are formatted into a buffer of about this size, then written: small
/// enough to stay in the CPU's cache (a drain at 15,000 connections a second
/// formats some 1.2 MB), large enough for few write calls.
const WRITE_CHUNK: usize = 64 << 10;

/// Which transitions are printed: each list, when not empty, must match
/// (any of its values); the lists combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Local or remote port.
    pub ports: Vec<u16>,
    /// Owner pid.
    pub pids: Vec<u32>,
    /// Owner command name (exact).
    pub comms: Vec<String>,
    /// Old or new state (kernel numbers).
    pub states: Vec<u8>,
    /// Network namespace inode.
    pub netns: Vec<u32>,
}

/// An empty filter list lets everything through; otherwise one value must match.
fn any<T>(list: &[T], f: impl Fn(&T) -> bool) -> bool {
    list.is_empty() || list.iter().any(f)
}

impl Filter {
    pub fn matches(&self, t: &Transition) -> bool {
        any(&self.ports, |p| t.tuple.sport == *p || t.tuple.dport == *p)
            && any(&self.pids, |p| t.owner.as_ref().is_some_and(|o| o.pid == *p))
            && any(&self.comms, |c| t.owner.as_ref().is_some_and(|o| *o.comm == **c))
            && any(&self.states, |s| t.old == *s || t.new == *s)
            && any(&self.netns, |n| t.netns == *n)
    }

    /// An alert passes when what it names passes: its local or remote port,
    /// its process, its state, its namespace (an alert that names no process
    /// or port does not pass a filter on them).
    pub fn matches_alert(&self, a: &diag::Alert) -> bool {
        any(&self.ports, |p| {
            a.local_port == Some(*p) || a.remote.is_some_and(|r| r.port() == *p)
        }) && any(&self.pids, |p| a.pid == Some(*p))
            && any(&self.comms, |c| a.comm.as_deref() == Some(c.as_str()))
            && any(&self.states, |s| a.key.state == *s)
            && any(&self.netns, |n| a.netns == *n)
    }
}

/// What `tracer states` does.
#[derive(Clone, Debug)]
pub struct StatesConfig {
    pub filter: Filter,
    pub json: bool,
    /// Flush after every line (`-l`; also when standard output is a terminal).
    pub line_buffered: bool,
    /// Exit after this many transitions are printed.
    pub count: Option<u64>,
    /// State ring size in KiB.
    pub buffer_kib: Option<u64>,
    /// Timestamp format of text lines (`-t` …).
    pub print: PrintOptions,
    /// Run the diagnoses every second and print their alerts.
    pub alerts: bool,
    /// Hook accept() through the syscall tracepoints where fexit cannot load.
    pub accept_owner: bool,
}

/// What the run saw, for the exit report.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatesSummary {
    pub printed: u64,
    pub counters: Counters,
    /// Runs of the state programs the kernel skipped (nested on a CPU).
    pub missed: u64,
}

impl StatesSummary {
    /// The line printed on stderr at exit.
    pub fn text(&self) -> String {
        let seen = self.counters.sock_events_seen() + self.missed;
        let mut s = format!(
            "{} state event{} seen, {} dropped by kernel\n",
            seen,
            if seen == 1 { "" } else { "s" },
            self.counters.sock_events_lost() + self.missed
        );
        if self.missed > 0 {
            s.push_str(&format!(
                "({} of them never reached the programs: the kernel skips a tracing program that would run nested on a CPU)\n",
                self.missed
            ));
        }
        s
    }
}

/// Errors of `tracer states`.
#[derive(Debug, thiserror::Error)]
pub enum StatesError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("standard output: {0}")]
    Stdout(io::Error),
    #[error("{what}: {err}")]
    Io { what: &'static str, err: io::Error },
}

/// Runs until SIGINT/SIGTERM or `-c`. `note` gets the start-up messages
/// (seeding, missing hooks, "tracing ...") for stderr.
///
/// A stop signal ([`signals`], held during the start-up) that comes before the main loop
/// stops the run at the next step (before loading, after it, after seeding, after attaching):
/// what was attached is detached and the summary counts what the hooks saw.
pub fn run(cfg: StatesConfig, mut note: impl FnMut(&str)) -> Result<StatesSummary, StatesError> {
    preflight::check_privileges(false)?;
    preflight::check_btf()?;
    preflight::ensure_tracefs()?;
    if signals::checkpoint() {
        return Ok(StatesSummary::default());
    }
    let state_ring = cfg.buffer_kib.map_or(STATE_RING_BYTES, |k| k.saturating_mul(1024));
    let mut programs = Programs::load(&LoadOptions {
        snaplen: 0,
        packet_ring_bytes: ring_size(0),
        state_ring_bytes: ring_size(state_ring),
        sockets: true,
    })?;
    let mut ring = programs.take_ring(names::STATES)?;
    let mut rings = programs.take_state_rings()?;
    let counter_map = programs.take_counters()?;
    // The end of a run stopped before its main loop: the hooks detached (the programs
    // dropped), what they saw counted, nothing printed.
    let stopped = |programs: Programs, rings: &StateRings| -> Result<StatesSummary, StatesError> {
        let missed = programs.state_recursion_misses();
        drop(programs);
        let mut counters = Counters::read(&counter_map)?;
        counters.state_seen += rings.records_written();
        Ok(StatesSummary {
            printed: 0,
            counters,
            missed,
        })
    };
    if signals::checkpoint() {
        return stopped(programs, &rings);
    }

    let mut tracker = Tracker::new();
    // Seed before attaching: a socket that changes state meanwhile is then
    // named by its event (the event wins over the seed).
    // Every namespace: the tracepoint sees them all, and a child socket takes
    // its owner from a listener that may predate the start.
    let (sockets, failed) = namespaces::snapshot_all();
    let spaces: std::collections::HashSet<u32> = sockets.iter().map(|s| s.netns).collect();
    note(&format!(
        "seeded {} sockets of {} network namespaces from the kernel's socket tables",
        sockets.len(),
        spaces.len()
    ));
    tracker.seed(sockets);
    for (ns, e) in failed {
        note(&format!(
            "warning: socket table of netns {ns} not read ({e}): its sockets open before the start have no owner"
        ));
    }
    if signals::checkpoint() {
        return stopped(programs, &rings);
    }
    let mut hooks = programs.attach_state_hooks()?;
    if cfg.accept_owner && hooks.missing_kinds().contains(&sock_kind::ACCEPT) {
        programs.attach_accept_syscalls(&mut hooks);
    }
    if signals::checkpoint() {
        return stopped(programs, &rings);
    }
    let missing = hooks.missing_kinds();
    for line in super::hooks::startup_notes(&hooks) {
        note(&line);
    }
    tracker.set_kernel_timewait(!missing.contains(&sock_kind::TW_START) && !missing.contains(&sock_kind::TW_END));
    let mut sysctls = SysctlCache::new();
    if let Some(n) = sysctls.get().int(Sysctl::TcpSynackRetries) {
        tracker.set_synack_retries(n);
    }
    // Half-open connections of this namespace from its socket table, every
    // second (the request hooks, where they exist, show them as they come).
    let mut requests = match RequestPoll::new() {
        Ok(p) => Some(p),
        Err(e) => {
            note(&format!(
                "warning: socket table not readable ({e}): half-open connections are shown only once a SYN-ACK is retransmitted"
            ));
            None
        }
    };
    let mut listed: Vec<SocketInfo> = Vec::new();
    let mut poll_at: Option<u64> = None;
    let mut next_poll = 0u64;
    note(&format!(
        "tracing TCP socket states ({} hooks), {}",
        hooks.attached.len() + 1,
        if cfg.json { "JSON lines" } else { "text" }
    ));

    let stdout = io::stdout();
    let flush_each = cfg.line_buffered || stdout.is_terminal();
    let mut out = Output {
        w: BufWriter::with_capacity(1 << 16, stdout.lock()),
        printer: Printer::new(cfg.print.clone()),
        clock: Clock::new(),
        line: Vec::with_capacity(WRITE_CHUNK + 4096),
        prefix: Vec::with_capacity(64),
        lines: format::LineWriter::new(cfg.json),
        json: cfg.json,
        flush_each,
        printed: 0,
        limit: cfg.count,
        filter: cfg.filter.clone(),
    };
    let mut alerts = Alerts {
        on: cfg.alerts,
        sysctls,
        diag: DiagConfig::default(),
        shown: HashMap::new(),
        netns: cfg.filter.netns.clone(),
        filter: cfg.filter.clone(),
        sockets: Vec::new(),
        next_ns: 0,
        time_wait_in: 0,
    };

    let mut wait = POLL_INTERVAL;
    let mut pending: Vec<SockEvent> = Vec::with_capacity(4096);
    let mut transitions: Vec<Transition> = Vec::with_capacity(4096);
    let mut last_second = monotonic_ns();
    let mut done = false;
    // Signals are handled as they come from here on; one held since the last checkpoint
    // stops the loop before it waits.
    signals::release();
    while !done && !signals::requested() {
        // Woken by the other ring (its records ask for a wakeup once plenty
        // wait), by the timer, or by a signal.
        signals::wait_readable(ring.as_fd().as_raw_fd(), wait).map_err(|err| StatesError::Io {
            what: "waiting for state events",
            err,
        })?;
        if signals::requested() {
            break;
        }
        let now = monotonic_ns();
        let watermark = now.saturating_sub(REORDER_WINDOW_NS);
        drain(&mut ring, &mut pending);
        let came = !pending.is_empty() || rings.has_records();
        wait = if came {
            POLL_INTERVAL
        } else {
            (wait * 2).min(IDLE_POLL_INTERVAL)
        };
        // The table poll goes in among the events at its time: the events
        // before it first (a child that completed the handshake), none after.
        if let (Some(at), Some(p)) = (poll_at, requests.as_ref())
            && at <= watermark
        {
            apply_until(&mut tracker, &mut rings, &mut pending, at, &mut transitions);
            tracker.requests_seen(p.netns(), &listed, at, &mut transitions);
            poll_at = None;
        }
        apply_until(&mut tracker, &mut rings, &mut pending, watermark, &mut transitions);
        tracker.tick(now, &mut transitions);
        done = out.write(&transitions)?;
        transitions.clear();
        if now.saturating_sub(last_second) >= SECOND_NS {
            last_second = now;
            out.clock.calibrate();
            alerts.run(now, &tracker, &mut out)?;
            // Without a listener in the namespace there is nothing to find
            // (and the kernel walks its whole connection hash for a poll).
            if let Some(p) = requests.as_mut()
                && poll_at.is_none()
                && now >= next_poll
                && tracker.listens_in(p.netns())
            {
                let at = monotonic_ns();
                let res = p.poll(&mut listed);
                // The kernel walks every socket of the namespace for it
                // (timewait ones too): a huge table is polled less often,
                // at most 1/POLL_CPU_DIVISOR of a CPU.
                let took = monotonic_ns().saturating_sub(at);
                next_poll = at.saturating_add(took.saturating_mul(POLL_CPU_DIVISOR).saturating_sub(SECOND_NS / 20));
                match res {
                    Ok(()) => poll_at = Some(at),
                    Err(e) => {
                        note(&format!(
                            "warning: socket table not read ({e}): no more polls for half-open connections"
                        ));
                        requests = None;
                    }
                }
            }
        }
        out.flush()?;
    }

    // Detach; whatever the ring still holds happened before we stopped.
    let missed = programs.state_recursion_misses();
    drop(programs);
    if !done {
        drain(&mut ring, &mut pending);
        apply_until(&mut tracker, &mut rings, &mut pending, u64::MAX, &mut transitions);
        tracker.flush_held(&mut transitions);
        out.write(&transitions)?;
    }
    out.flush()?;
    let mut counters = Counters::read(&counter_map)?;
    // The tp_btf program counts what it writes in the rings themselves.
    counters.state_seen += rings.records_written();
    Ok(StatesSummary {
        printed: out.printed,
        counters,
        missed,
    })
}

fn drain(ring: &mut RingBuf<MapData>, pending: &mut Vec<SockEvent>) {
    while let Some(item) = ring.next() {
        if let Some(ev) = record::sock(&item) {
            pending.push(ev);
        }
    }
}

/// Applies the events up to `watermark` in timestamp order: the per-CPU
/// rings' records merged with the pending events of the other ring (sorted
/// first; a stable sort keeps the ring's order for equal timestamps). Later
/// ones stay where they are. Returns true when something was applied.
fn apply_until(
    tracker: &mut Tracker,
    rings: &mut StateRings,
    pending: &mut Vec<SockEvent>,
    watermark: u64,
    out: &mut Vec<Transition>,
) -> bool {
    sort_nearly_sorted(pending);
    let mut applied = false;
    rings.merge_until(watermark, pending, |ev| {
        tracker.apply(ev, out);
        applied = true;
    });
    applied
}

/// Sorts by timestamp, keeping the ring's order for equal ones. The ring is
/// nearly in time order already (only events of different CPUs reserved
/// within a few hundred nanoseconds of each other come swapped), so an
/// insertion pass moves little; should it have to move much, a full sort
/// takes over. Moving the 112-byte events is what costs.
fn sort_nearly_sorted(v: &mut [SockEvent]) {
    let mut budget = 8 * v.len();
    for i in 1..v.len() {
        if v[i].ts_ns >= v[i - 1].ts_ns {
            continue;
        }
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1].ts_ns > x.ts_ns {
            if budget == 0 {
                v[j] = x;
                v.sort_by_key(|e| e.ts_ns);
                return;
            }
            budget -= 1;
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

/// Standard output: transitions, and the alerts in text mode.
struct Output<'a> {
    w: BufWriter<io::StdoutLock<'a>>,
    printer: Printer,
    clock: Clock,
    line: Vec<u8>,
    prefix: Vec<u8>,
    lines: format::LineWriter,
    json: bool,
    flush_each: bool,
    printed: u64,
    limit: Option<u64>,
    filter: Filter,
}

impl Output<'_> {
    fn reached(&self) -> bool {
        self.limit.is_some_and(|l| self.printed >= l)
    }

    /// Prints the transitions the filter lets through; true once `-c` is reached.
    /// The lines go out in writes of about [`WRITE_CHUNK`] bytes (one copy less
    /// than through the BufWriter, and a buffer that stays in the cache).
    fn write(&mut self, transitions: &[Transition]) -> Result<bool, StatesError> {
        self.line.clear();
        for t in transitions {
            if self.reached() {
                break;
            }
            if !self.filter.matches(t) {
                continue;
            }
            let wall = self.clock.to_wall(t.ts_ns);
            self.prefix.clear();
            if !self.json {
                self.printer.write_timestamp(&mut self.prefix, wall);
            }
            self.lines.write(&mut self.line, &self.prefix, wall, t);
            self.printed += 1;
            if self.flush_each {
                self.w.write_all(&self.line).map_err(StatesError::Stdout)?;
                self.w.flush().map_err(StatesError::Stdout)?;
                self.line.clear();
            } else if self.line.len() >= WRITE_CHUNK {
                self.w.write_all(&self.line).map_err(StatesError::Stdout)?;
                self.line.clear();
            }
        }
        self.w.write_all(&self.line).map_err(StatesError::Stdout)?;
        Ok(self.reached())
    }

    fn flush(&mut self) -> Result<(), StatesError> {
        self.w.flush().map_err(StatesError::Stdout)
    }
}

/// The diagnoses, run every second: an alert is printed when first raised,
/// and again every minute while it lasts.
struct Alerts {
    on: bool,
    sysctls: SysctlCache,
    diag: DiagConfig,
    /// Alerts raised in the last run → when they were last printed.
    shown: HashMap<AlertKey, u64>,
    /// `--netns`: only alerts about these namespaces.
    netns: Vec<u32>,
    /// The other filters apply to alerts as to transitions (see [`Filter::matches_alert`]).
    filter: Filter,
    /// The tracker's snapshot, its allocation reused from run to run.
    sockets: Vec<SocketInfo>,
    /// When the diagnoses run next (CLOCK_MONOTONIC ns).
    next_ns: u64,
    /// Runs until the next one that includes the timewait sockets.
    time_wait_in: u32,
}

impl Alerts {
    fn run(&mut self, now: u64, tracker: &Tracker, out: &mut Output<'_>) -> Result<(), StatesError> {
        if !self.on || now < self.next_ns {
            return Ok(());
        }
        let started = Instant::now();
        // With one --netns, only its sockets are diagnosed.
        let only = match self.netns.as_slice() {
            &[ns] => Some(ns),
            _ => None,
        };
        let with_timewait = self.time_wait_in == 0;
        tracker.snapshot_into(only, with_timewait, &mut self.sockets);
        let alerts = diag::diagnose(now, &self.sockets, tracker.incidents(), self.sysctls.get(), &self.diag);
        if with_timewait {
            let n = self.sockets.iter().filter(|s| s.state == state::TIME_WAIT).count();
            self.time_wait_in = if n > TIME_WAIT_MANY { TIME_WAIT_EVERY - 1 } else { 0 };
        } else {
            self.time_wait_in -= 1;
        }
        // Every second, unless that would cost more than 1/DIAGNOSIS_CPU_DIVISOR
        // of a CPU (some 10 ms a run: hundreds of thousands of sockets).
        let took = u64::try_from((started.elapsed() * DIAGNOSIS_CPU_DIVISOR).as_nanos()).unwrap_or(u64::MAX);
        // (The caller's once-a-second gate has a few ms of jitter: some slack.)
        self.next_ns = now.saturating_add(took.saturating_sub(SECOND_NS / 20));
        let mut shown = HashMap::with_capacity(alerts.len());
        if !with_timewait {
            // Not looked at this time: what was raised about TIME_WAIT stands.
            shown.extend(
                self.shown
                    .iter()
                    .filter(|(k, _)| k.state == state::TIME_WAIT)
                    .map(|(k, &t)| (k.clone(), t)),
            );
        }
        for a in alerts {
            if !self.filter.matches_alert(&a) {
                continue;
            }
            let last = self.shown.get(&a.key).copied();
            let at = match last {
                Some(t) if now.saturating_sub(t) < ALERT_REPEAT_NS => t,
                _ => {
                    let line = a.line();
                    if out.json {
                        // Standard output stays pure JSON lines of transitions.
                        eprintln!("{line}");
                    } else {
                        out.w.write_all(line.as_bytes()).map_err(StatesError::Stdout)?;
                        out.w.write_all(b"\n").map_err(StatesError::Stdout)?;
                    }
                    now
                }
            };
            shown.insert(a.key, at);
        }
        self.shown = shown;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::states::model::{Comm, Owner, Tuple, state};

    fn t(sport: u16, dport: u16, pid: Option<u32>, old: u8, new: u8) -> Transition {
        Transition {
            ts_ns: 0,
            netns: 7,
            tuple: Tuple {
                src: Ipv4Addr::LOCALHOST.into(),
                sport,
                dst: Ipv4Addr::LOCALHOST.into(),
                dport,
            },
            old,
            new,
            ms_in_old: None,
            owner: pid.map(|pid| Owner {
                pid,
                comm: Comm::from("curl"),
            }),
            derived: false,
            lifetime: None,
        }
    }

    #[test]
    fn filters_combine() {
        let est = t(40000, 80, Some(5), state::SYN_SENT, state::ESTABLISHED);
        assert!(Filter::default().matches(&est));
        let f = Filter {
            ports: vec![80, 443],
            ..Filter::default()
        };
        assert!(f.matches(&est));
        assert!(f.matches(&t(80, 40000, None, 1, 8)));
        assert!(!f.matches(&t(40000, 22, None, 1, 8)));
        let f = Filter {
            ports: vec![80],
            comms: vec!["curl".into()],
            states: vec![state::ESTABLISHED],
            netns: vec![7],
            pids: vec![5, 6],
        };
        assert!(f.matches(&est));
        assert!(!f.matches(&t(40000, 80, None, state::SYN_SENT, state::ESTABLISHED)));
        assert!(!f.matches(&t(40000, 80, Some(7), state::SYN_SENT, state::ESTABLISHED)));
        assert!(!f.matches(&t(40000, 80, Some(5), state::FIN_WAIT1, state::FIN_WAIT2)));
        let f = Filter {
            netns: vec![8],
            ..Filter::default()
        };
        assert!(!f.matches(&est));
    }

    #[test]
    fn events_apply_in_timestamp_order_up_to_the_watermark() {
        let mk = |ts: u64, old: u8, new: u8, sport: u16| SockEvent {
            ts_ns: ts,
            skaddr: 0xffff_8880_0000_1000,
            kind: sock_kind::STATE,
            family: 2,
            oldstate: old,
            newstate: new,
            sport,
            dport: 80,
            ..SockEvent::default()
        };
        let mut tr = Tracker::new();
        let mut pending = vec![
            mk(30, state::SYN_SENT, state::ESTABLISHED, 40000),
            mk(10, state::CLOSE, state::SYN_SENT, 0),
            mk(50, state::ESTABLISHED, state::FIN_WAIT1, 40000),
        ];
        let mut out = Vec::new();
        let mut rings = StateRings::in_memory(1, 8);
        assert!(apply_until(&mut tr, &mut rings, &mut pending, 40, &mut out));
        let got: Vec<(u8, u8, u16)> = out.iter().map(|t| (t.old, t.new, t.tuple.sport)).collect();
        assert_eq!(
            got,
            [
                (state::CLOSE, state::SYN_SENT, 40000),
                (state::SYN_SENT, state::ESTABLISHED, 40000)
            ]
        );
        assert_eq!(pending.len(), 1);
        assert!(!apply_until(&mut tr, &mut rings, &mut pending, 40, &mut out));
        assert!(apply_until(&mut tr, &mut rings, &mut pending, u64::MAX, &mut out));
        assert_eq!(out.len(), 3);
    }
}

#[cfg(test)]
mod sort_tests {
    use super::*;

    fn evs(ts: &[u64]) -> Vec<SockEvent> {
        ts.iter()
            .enumerate()
            .map(|(i, &t)| SockEvent {
                ts_ns: t,
                skaddr: i as u64,
                ..SockEvent::default()
            })
            .collect()
    }

    #[test]
    fn nearly_sorted_is_sorted_stably() {
        let mut v = evs(&[1, 3, 2, 2, 5, 4, 4, 6]);
        sort_nearly_sorted(&mut v);
        let got: Vec<(u64, u64)> = v.iter().map(|e| (e.ts_ns, e.skaddr)).collect();
        assert_eq!(got, [(1, 0), (2, 2), (2, 3), (3, 1), (4, 5), (4, 6), (5, 4), (6, 7)]);
    }

    #[test]
    fn reversed_falls_back_to_a_full_sort() {
        let ts: Vec<u64> = (0..1000).rev().collect();
        let mut v = evs(&ts);
        sort_nearly_sorted(&mut v);
        assert!(v.is_sorted_by_key(|e| e.ts_ns));
        assert_eq!(v.len(), 1000);
    }
}
