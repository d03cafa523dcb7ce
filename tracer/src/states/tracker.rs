//! The socket-state machine of `tracer states`: turns the kernel's socket
//! events ([`SockEvent`]) into the transitions the user sees, with the owner
//! of each socket, the derived TIME_WAIT and half-open (NEW_SYN_RECV) lines,
//! the real source port of CLOSE → SYN_SENT (and, on kernels that report a
//! passive child before its peer is set, the peer of LISTEN → SYN_RECV), and a
//! lifetime on every closed connection. It also keeps the live socket table (for `stat`), the recent
//! incidents and per-state counters (for the diagnoses).
//!
//! Tables, all keyed by kernel socket address (`skaddr`):
//! - full sockets (`conns`), dropped when they reach CLOSE;
//! - timewait sockets, from TW_START's `aux` until TW_END (or, on kernels
//!   without the timewait hooks, derived from FIN_WAIT2/CLOSING → CLOSE and
//!   expired after 60 s);
//! - request sockets (half-open connections), from REQ_START to REQ_END;
//! - sockets seeded from the kernel's socket table at start, keyed by
//!   (netns, tuple) until an event names them and they join the tables above.
//!
//! Events must be applied in timestamp order per socket (the caller sorts each
//! drained batch). Lines come out in time order per connection: a line held
//! for its missing port holds back the later lines of the connection's other
//! end (see [`Held`]). Nothing here panics on odd input: unknown sockets are taken
//! as first seen, unknown states are printed as the kernel's numbers name them.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, HashSet, VecDeque},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use tracer_common::{SockEvent, sock_kind};

use super::model::{Closer, Comm, Incident, IncidentRecord, Lifetime, Owner, SocketInfo, Transition, Tuple, state};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<K> = HashSet<K, foldhash::fast::RandomState>;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const MS: f64 = 1e6;

/// How long a CLOSE → SYN_SENT line waits for the source port (CONNECT, or
/// any later event of the socket) before it is printed with port 0. CONNECT
/// comes within microseconds from fexit `tcp_v*_connect`; where only the
/// `syscalls:sys_exit_connect` fallback exists, a blocking connect to a port
/// that drops SYNs says nothing until its first SYN retransmission, 1 s
/// (TCP_TIMEOUT_INIT) after the SYN: the line waits a little longer than that.
pub const HOLD_NS: u64 = 1_500_000_000;
/// Linux's TIME_WAIT length (TCP_TIMEWAIT_LEN, 2MSL): derived timewait
/// entries end after it.
pub const TIME_WAIT_NS: u64 = 60_000_000_000;
/// The first SYN-ACK retransmission comes this long after the SYN
/// (TCP_TIMEOUT_INIT): a request first seen by it has been half-open that long.
const SYNACK_RTO_NS: u64 = 1_000_000_000;
/// The kernel's default net.ipv4.tcp_synack_retries.
const SYNACK_RETRIES: i64 = 5;
/// A timewait socket whose TW_END never came (lost event) is forgotten after this.
const TW_FORGET_NS: u64 = 600_000_000_000;
/// A request socket whose REQ_END never came is forgotten after this (SYN-ACK
/// retries at the default tcp_synack_retries end after about 63 s).
const REQ_FORGET_NS: u64 = 300_000_000_000;
/// A full socket in a short-lived state (SYN_SENT, SYN_RECV, FIN_WAIT1,
/// CLOSING, LAST_ACK) with no event for this long lost its CLOSE event.
const STALE_NS: u64 = 900_000_000_000;
/// How often `tick` walks the tables for stale entries.
const SWEEP_EVERY_NS: u64 = 10_000_000_000;
/// Upper bound of each table; past it the entries idle longest are dropped.
pub const MAX_SOCKETS: usize = 1 << 20;
/// Recent incidents kept for the diagnoses.
pub const MAX_INCIDENTS: usize = 4096;
/// Distinct (pid, comm) owners cached before the cache is cleared.
const MAX_OWNER_CACHE: usize = 8192;

/// Number of kernel state numbers (0 = unknown … 12 NEW_SYN_RECV).
pub const STATES: usize = 13;

// Conn flags: what the connection went through.
const F_FIN_WAIT: u8 = 1; // this side sent the first FIN
const F_CLOSE_WAIT: u8 = 2; // the peer sent the first FIN
const F_CLOSING: u8 = 4; // both at once
const F_RST_RX: u8 = 8; // a RST was received
const F_SYN_SENT: u8 = 16; // active open
const F_LISTENER: u8 = 32;
const F_ESTABLISHED: u8 = 64; // the handshake completed
const F_FIN_ACKED: u8 = 128; // this side's FIN was acknowledged (FIN_WAIT2 reached)

/// A full socket.
#[derive(Debug)]
struct Conn {
    netns: u32,
    tuple: Tuple,
    /// Current state as far as we know; 0 = not known.
    state: u8,
    /// When it entered `state`; None when not seen entering it.
    since: Option<u64>,
    /// Start of the connection (CLOSE → SYN_SENT, or the SYN on the server).
    first: Option<u64>,
    /// Start of the handshake when it was seen (same as `first`, but never
    /// set for a child whose request socket was not seen, e.g. a SYN cookie).
    handshake_start: Option<u64>,
    handshake_ms: Option<f64>,
    owner: Option<Owner>,
    flags: u8,
    syn_retransmits: u32,
    /// TW_START seen: (timewait socket, its substate, bytes sent, bytes received).
    tw: Option<(u64, u8, u64, u64)>,
    /// CLOSE → SYN_SENT line waiting for its source port.
    held: Option<Box<Transition>>,
    last_ns: u64,
}

impl Conn {
    fn new(netns: u32, tuple: Tuple, ts: u64) -> Self {
        Self {
            netns,
            tuple,
            state: 0,
            since: None,
            first: None,
            handshake_start: None,
            handshake_ms: None,
            owner: None,
            flags: 0,
            syn_retransmits: 0,
            tw: None,
            held: None,
            last_ns: ts,
        }
    }

    /// Flags implied by being in `st`.
    fn note_state(&mut self, st: u8) {
        self.flags |= match st {
            state::ESTABLISHED => F_ESTABLISHED,
            state::FIN_WAIT1 => F_FIN_WAIT | F_ESTABLISHED,
            state::FIN_WAIT2 => F_FIN_WAIT | F_FIN_ACKED | F_ESTABLISHED,
            state::CLOSE_WAIT | state::LAST_ACK => F_CLOSE_WAIT | F_ESTABLISHED,
            state::CLOSING => F_CLOSING | F_ESTABLISHED,
            state::SYN_SENT => F_SYN_SENT,
            state::LISTEN => F_LISTENER,
            _ => 0,
        };
    }

    /// Who ended the connection, when it goes from `old` to CLOSE.
    fn closer(&self, old: u8) -> Closer {
        let f = self.flags;
        if f & F_CLOSING != 0 {
            Closer::Both
        } else if f & F_FIN_WAIT != 0 {
            Closer::Local
        } else if f & F_CLOSE_WAIT != 0 {
            Closer::Remote
        } else if f & F_ESTABLISHED == 0 && f & F_SYN_SENT != 0 {
            if f & F_RST_RX != 0 {
                Closer::Refused
            } else {
                Closer::Timeout
            }
        } else if f & F_ESTABLISHED == 0 && old == state::SYN_RECV && f & F_RST_RX == 0 {
            Closer::Timeout
        } else if old == 0 {
            Closer::Unknown
        } else {
            Closer::Reset
        }
    }

    fn lifetime(&self, old: u8, ts: u64, bytes_sent: u64, bytes_received: u64) -> Option<Lifetime> {
        let first = self.first?;
        Some(Lifetime {
            duration_ms: ms(ts, first),
            handshake_ms: self.handshake_ms,
            bytes_sent,
            bytes_received,
            closed_by: self.closer(old),
            syn_retransmits: self.syn_retransmits,
        })
    }
}

/// A line held back until the socket's next event tells the part of its
/// tuple the kernel had not set yet: CLOSE → SYN_SENT runs before the source
/// port is bound; some kernels (6.1, 6.12) report a passive child's LISTEN →
/// SYN_RECV while it is still a copy of the listener, without its peer.
///
/// Until it is printed, the lines of the other end of its connection wait
/// ([`Tracker::blocked`]), so that each connection's lines come in time order:
/// the server's NEW_SYN_RECV after the client's CLOSE → SYN_SENT.
#[derive(Clone, Copy, Debug)]
struct Held {
    sk: u64,
    ts: u64,
    /// The server's end of the connection (address, port). A held CLOSE →
    /// SYN_SENT holds back the lines whose local end it is (the server's
    /// sockets); a held LISTEN → SYN_RECV those whose remote end it is (the
    /// clients'), any address where the listener's is unspecified.
    end: (IpAddr, u16),
    end_is_local: bool,
}

impl Held {
    fn for_line(sk: u64, t: &Transition) -> Self {
        let passive = t.new == state::SYN_RECV;
        Held {
            sk,
            ts: t.ts_ns,
            end: if passive {
                (t.tuple.src, t.tuple.sport)
            } else {
                (t.tuple.dst, t.tuple.dport)
            },
            end_is_local: !passive,
        }
    }

    /// Whether `t` is a line of the other end of this one's connection that
    /// must come after it.
    fn holds_back(&self, t: &Transition) -> bool {
        let (addr, port) = if self.end_is_local {
            (t.tuple.src, t.tuple.sport)
        } else {
            (t.tuple.dst, t.tuple.dport)
        };
        self.ts <= t.ts_ns && port == self.end.1 && (addr == self.end.0 || self.end.0.is_unspecified())
    }
}

/// Whether a tuple has both ports (a held line's is complete with it).
fn complete(t: &Tuple) -> bool {
    t.sport != 0 && t.dport != 0
}

/// A timewait socket (real, or derived on kernels without the timewait hooks).
#[derive(Debug)]
struct TimeWait {
    netns: u32,
    tuple: Tuple,
    substate: u8,
    since: u64,
    owner: Option<Owner>,
}

/// A request socket (half-open connection).
#[derive(Debug)]
struct Request {
    netns: u32,
    tuple: Tuple,
    since: u64,
    owner: Option<Owner>,
    synack_retransmits: u32,
    /// The child socket appeared: the handshake completed.
    completed: bool,
    /// Not reported by REQ_START (a kernel without the request hooks): known
    /// from a SYN-ACK retransmission or the socket table, so no REQ_END will
    /// come. It ends when its child appears, when the table no longer lists
    /// it, or at `deadline`, when the kernel drops it after
    /// tcp_synack_retries retransmissions.
    derived: bool,
    deadline: u64,
}

/// A listening socket, for the owner of its passive children.
#[derive(Debug)]
struct Listener {
    addr: IpAddr,
    /// 0 while it is only known from the seed.
    skaddr: u64,
    owner: Option<Owner>,
}

/// A socket from the kernel's table, not yet named by an event.
#[derive(Debug)]
struct Seeded {
    info: SocketInfo,
    at: u64,
}

/// What a passive child learns from its request socket ([`Tracker::child_of`]).
struct Child {
    first: u64,
    handshake_start: Option<u64>,
    owner: Option<Owner>,
    syn_retransmits: u32,
}

impl Child {
    fn apply_to(&self, c: &mut Conn) {
        c.first = Some(self.first);
        c.handshake_start = self.handshake_start;
        c.owner = self.owner;
        c.syn_retransmits = self.syn_retransmits;
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Tracker {
    conns: Map<u64, Conn>,
    timewait: Map<u64, TimeWait>,
    requests: Map<u64, Request>,
    req_by_tuple: Map<(u32, Tuple), u64>,
    listeners: Map<(u32, u16), Vec<Listener>>,
    seeded: Map<(u32, Tuple), Seeded>,
    /// The timewait sockets of the seed, apart: only TW_END names them, and
    /// a snapshot may leave them out cheaply.
    seeded_tw: Map<(u32, Tuple), Seeded>,
    /// Sockets holding a line back (CLOSE → SYN_SENT, LISTEN → SYN_RECV).
    held: Vec<Held>,
    /// Lines held back by a held line of their connection, in the order emitted.
    waiting: Vec<Transition>,
    incidents: VecDeque<IncidentRecord>,
    incident_totals: [u64; 5],
    entered: [u64; STATES],
    owners: Map<(u32, [u8; 16]), Owner>,
    /// Whether the kernel reports timewait sockets (TW_START): None = not
    /// known yet, decided by the first TW_START.
    kernel_timewait: Option<bool>,
    /// Whether FIN_WAIT2/CLOSING → CLOSE may be shown as entering TIME_WAIT
    /// when the kernel does not report timewait sockets.
    derive_timewait: bool,
    /// Keys of derived timewait entries (below any kernel address).
    next_synthetic: u64,
    /// Derived timewait entries in order of their start: (since, key).
    derived_tw: VecDeque<(u64, u64)>,
    /// How long a derived request lives at most (tcp_synack_retries).
    half_open_ns: u64,
    /// Derived requests by drop deadline: (deadline, key); stale entries
    /// (the request ended, or its deadline moved) are skipped.
    req_deadlines: BinaryHeap<Reverse<(u64, u64)>>,
    last_sweep: u64,
    now: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

/// `a - b` nanoseconds in milliseconds (0 when the clock went backwards).
fn ms(a: u64, b: u64) -> f64 {
    a.saturating_sub(b) as f64 / MS
}

/// An IPv4-mapped IPv6 address as IPv4; others unchanged.
fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// A connection's addresses as the tracker stores them: a dual-stack socket
/// with an IPv4 peer (`::ffff:a.b.c.d`, the other side mapped too or `::`)
/// becomes all IPv4, the way the seed (sock_diag) stores it.
pub fn normalize(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
    let is_mapped = |a: IpAddr| matches!(a, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
    let mapped_or_any = |a: IpAddr| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some() || v6 == Ipv6Addr::UNSPECIFIED,
        IpAddr::V4(_) => true,
    };
    let (src, dst) = if (is_mapped(src) || is_mapped(dst)) && mapped_or_any(src) && mapped_or_any(dst) {
        let v4 = |a: IpAddr| match unmap(a) {
            IpAddr::V6(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            v4 => v4,
        };
        (v4(src), v4(dst))
    } else {
        (src, dst)
    };
    Tuple { src, sport, dst, dport }
}

/// The tuple an event carries (all zero when the kernel could not read it).
pub fn event_tuple(ev: &SockEvent) -> Tuple {
    if ev.family == AF_INET6 {
        normalize(
            IpAddr::V6(Ipv6Addr::from(ev.saddr)),
            ev.sport,
            IpAddr::V6(Ipv6Addr::from(ev.daddr)),
            ev.dport,
        )
    } else {
        let v4 = |a: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        Tuple {
            src: v4(&ev.saddr),
            sport: ev.sport,
            dst: v4(&ev.daddr),
            dport: ev.dport,
        }
    }
}

/// Whether an event carries a tuple at all (fentry events carry none when the
/// kernel's struct offsets could not be resolved).
fn has_tuple(ev: &SockEvent) -> bool {
    (ev.family == AF_INET || ev.family == AF_INET6) && (ev.sport != 0 || ev.dport != 0)
}

fn incident_index(kind: Incident) -> usize {
    match kind {
        Incident::Refused => 0,
        Incident::SynRetransmit => 1,
        Incident::ConnectTimeout => 2,
        Incident::SynAckRetransmit => 3,
        Incident::HalfOpenDropped => 4,
    }
}

fn addr_matches(listener: IpAddr, local: IpAddr) -> bool {
    listener == local || listener.is_unspecified()
}

impl Tracker {
    pub fn new() -> Self {
        Self {
            conns: Map::default(),
            timewait: Map::default(),
            requests: Map::default(),
            req_by_tuple: Map::default(),
            listeners: Map::default(),
            seeded: Map::default(),
            seeded_tw: Map::default(),
            held: Vec::new(),
            waiting: Vec::new(),
            incidents: VecDeque::new(),
            incident_totals: [0; 5],
            entered: [0; STATES],
            owners: Map::default(),
            kernel_timewait: None,
            derive_timewait: true,
            next_synthetic: 1,
            derived_tw: VecDeque::new(),
            half_open_ns: super::diag::connect_timeout_secs(SYNACK_RETRIES, 0) * 1_000_000_000,
            req_deadlines: BinaryHeap::new(),
            last_sweep: 0,
            now: 0,
        }
    }

    /// Whether some socket listens in network namespace `netns` (only then
    /// can it have half-open connections).
    pub fn listens_in(&self, netns: u32) -> bool {
        self.listeners.keys().any(|&(ns, _)| ns == netns)
    }

    /// Says whether the kernel programs report timewait sockets (TW_START /
    /// TW_END). Without this call the first TW_START decides; until then a
    /// FIN_WAIT2/CLOSING → CLOSE without a RST is taken as entering TIME_WAIT.
    pub fn set_kernel_timewait(&mut self, reported: bool) {
        self.kernel_timewait = Some(reported);
    }

    /// Without timewait events, show FIN_WAIT2/CLOSING → CLOSE as the kernel
    /// reports it instead of deriving TIME_WAIT (`--states` beside a packet
    /// capture, where the lines follow the tracepoint one for one).
    pub fn set_derive_timewait(&mut self, derive: bool) {
        self.derive_timewait = derive;
    }

    /// The value of net.ipv4.tcp_synack_retries: a half-open connection known
    /// only from its SYN-ACK retransmissions is dropped by the kernel after
    /// 2^(n+1) − 1 s (63 s for the default 5), and shown so.
    pub fn set_synack_retries(&mut self, retries: i64) {
        self.half_open_ns = super::diag::connect_timeout_secs(retries, 0).saturating_mul(1_000_000_000);
    }

    /// Loads the sockets of the kernel's table (taken at start, with owners),
    /// stamped with the current CLOCK_MONOTONIC time.
    pub fn seed(&mut self, sockets: Vec<SocketInfo>) {
        self.seed_at(sockets, monotonic_ns());
    }

    /// [`Self::seed`] at a given CLOCK_MONOTONIC time.
    pub fn seed_at(&mut self, sockets: Vec<SocketInfo>, now_ns: u64) {
        for info in sockets {
            if self.seeded.len() + self.seeded_tw.len() >= MAX_SOCKETS {
                break;
            }
            let t = info.tuple;
            let t = normalize(t.src, t.sport, t.dst, t.dport);
            if info.state == state::LISTEN {
                self.listeners.entry((info.netns, t.sport)).or_default().push(Listener {
                    addr: t.src,
                    skaddr: 0,
                    owner: info.owner,
                });
            }
            let table = if info.state == state::TIME_WAIT {
                &mut self.seeded_tw
            } else {
                &mut self.seeded
            };
            table.insert((info.netns, t), Seeded { info, at: now_ns });
        }
        self.now = self.now.max(now_ns);
    }

    /// Brings what the tracker holds about namespace `netns` in line with a
    /// fresh dump of its table (`table`, with owners where known), taken at
    /// `now_ns`, without printing anything: sockets the table no longer
    /// lists are forgotten (their CLOSE event was lost), sockets it lists in
    /// another state take that state (entered at an unknown time), and
    /// sockets only the table knows are seeded. What agrees keeps its entry
    /// time and owner; incidents and counters are untouched. (The namespace
    /// is a parameter: an empty table must still clear it.)
    pub fn reconcile(&mut self, netns: u32, table: Vec<SocketInfo>, now_ns: u64) {
        self.now = self.now.max(now_ns);
        // The table by tuple; an entry is taken out once something matches it.
        let mut listed: Map<Tuple, SocketInfo> = Map::default();
        for mut info in table {
            if info.netns != netns {
                continue;
            }
            let t = info.tuple;
            info.tuple = normalize(t.src, t.sport, t.dst, t.dport);
            listed.insert(info.tuple, info);
        }
        let is_tw = |st: u8| st == state::TIME_WAIT;
        // Full sockets (a held CLOSE -> SYN_SENT has no port yet: left alone).
        let mut gone_listeners: Vec<(u16, IpAddr, u64)> = Vec::new();
        self.conns.retain(|&sk, c| {
            if c.netns != netns || c.held.is_some() || c.state == 0 || c.state == state::CLOSE {
                return true;
            }
            match listed.get(&c.tuple) {
                // (Listed as TIME_WAIT, it is a timewait socket now: this one is gone.)
                Some(info) if !is_tw(info.state) => {
                    if info.state != c.state {
                        c.state = info.state;
                        c.since = None;
                        c.note_state(info.state);
                    }
                    if c.owner.is_none() {
                        c.owner.clone_from(&info.owner);
                    }
                    listed.remove(&c.tuple);
                    true
                }
                _ => {
                    if c.state == state::LISTEN {
                        gone_listeners.push((c.tuple.sport, c.tuple.src, sk));
                    }
                    false
                }
            }
        });
        // Timewait sockets: the table lists them as TIME_WAIT (or FIN_WAIT2).
        self.timewait.retain(|_, tw| {
            if tw.netns != netns {
                return true;
            }
            match listed.get(&tw.tuple) {
                Some(info) if is_tw(info.state) || info.state == state::FIN_WAIT2 => {
                    tw.substate = info.state;
                    listed.remove(&tw.tuple);
                    true
                }
                _ => false,
            }
        });
        // Request sockets: SYN_RECV in the table.
        let req_by_tuple = &mut self.req_by_tuple;
        self.requests.retain(|k, r| {
            if r.netns != netns || r.completed {
                return true;
            }
            if listed.get(&r.tuple).is_some_and(|i| i.state == state::SYN_RECV) {
                listed.remove(&r.tuple);
                true
            } else {
                if req_by_tuple.get(&(netns, r.tuple)) == Some(k) {
                    req_by_tuple.remove(&(netns, r.tuple));
                }
                false
            }
        });
        // What the seed knew: kept where the table agrees.
        for table in [&mut self.seeded, &mut self.seeded_tw] {
            table.retain(|(ns, t), s| {
                if *ns != netns {
                    return true;
                }
                match listed.get(t) {
                    Some(info) if info.state == s.info.state => {
                        if let (None, Some(o)) = (&s.info.owner, &info.owner) {
                            s.info.owner = Some(*o);
                        }
                        listed.remove(t);
                        true
                    }
                    _ => false,
                }
            });
        }
        // Listeners no longer listening.
        let listening: Set<(u16, IpAddr)> = self
            .conns
            .values()
            .filter(|c| c.netns == netns && c.state == state::LISTEN)
            .map(|c| (c.tuple.sport, c.tuple.src))
            .chain(
                self.seeded
                    .iter()
                    .filter(|((ns, _), s)| *ns == netns && s.info.state == state::LISTEN)
                    .map(|((_, t), _)| (t.sport, t.src)),
            )
            .chain(
                listed
                    .values()
                    .filter(|i| i.state == state::LISTEN)
                    .map(|i| (i.tuple.sport, i.tuple.src)),
            )
            .collect();
        for (&(ns, port), list) in self.listeners.iter_mut() {
            if ns == netns {
                list.retain(|l| {
                    listening.contains(&(port, l.addr)) && !gone_listeners.contains(&(port, l.addr, l.skaddr))
                });
            }
        }
        self.listeners.retain(|_, v| !v.is_empty());
        // Only the table knows the rest.
        self.seed_at(listed.into_values().collect(), now_ns);
    }

    /// Transitions into each state (indexed by kernel state number), derived
    /// ones included, same-state events not: the caller takes differences for rates.
    pub fn entered(&self) -> &[u64; STATES] {
        &self.entered
    }

    /// The recent incidents, oldest first (at most [`MAX_INCIDENTS`]).
    pub fn incidents(&self) -> impl Iterator<Item = &IncidentRecord> {
        self.incidents.iter()
    }

    /// Incidents of each kind since start (not bounded by the recent list).
    pub fn incident_total(&self, kind: Incident) -> u64 {
        self.incident_totals[incident_index(kind)]
    }

    /// Number of sockets the tracker holds (all tables).
    pub fn len(&self) -> usize {
        self.conns.len() + self.timewait.len() + self.requests.len() + self.seeded.len() + self.seeded_tw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live sockets (of `netns`, or all), with states as `ss -tan` shows
    /// them: request sockets as SYN_RECV, timewait sockets as their substate.
    pub fn snapshot(&self, netns: Option<u32>) -> Vec<SocketInfo> {
        let mut out = Vec::new();
        self.snapshot_into(netns, true, &mut out);
        out
    }

    /// [`Self::snapshot`] into `out` (cleared first), whose allocation is
    /// reused from one call to the next; without the timewait sockets unless
    /// `timewait` (a connection churn leaves tens of thousands of them).
    pub fn snapshot_into(&self, netns: Option<u32>, timewait: bool, out: &mut Vec<SocketInfo>) {
        let want = |n: u32| netns.is_none_or(|w| w == n);
        out.clear();
        out.reserve(if timewait {
            self.len()
        } else {
            self.len() - self.timewait.len() - self.seeded_tw.len()
        });
        out.extend(
            self.seeded
                .values()
                .filter(|s| want(s.info.netns))
                .map(|s| s.info.clone()),
        );
        if timewait {
            out.extend(
                self.seeded_tw
                    .values()
                    .filter(|s| want(s.info.netns))
                    .map(|s| s.info.clone()),
            );
        }
        out.extend(
            self.conns
                .values()
                .filter(|c| want(c.netns) && c.state != 0 && c.state != state::CLOSE)
                .map(|c| SocketInfo {
                    netns: c.netns,
                    tuple: c.tuple,
                    state: c.state,
                    owner: c.owner,
                    since_ns: c.since,
                    inode: 0,
                }),
        );
        out.extend(
            self.timewait
                .values()
                .filter(|t| timewait && want(t.netns))
                .map(|t| SocketInfo {
                    netns: t.netns,
                    tuple: t.tuple,
                    state: t.substate,
                    owner: None,
                    since_ns: Some(t.since),
                    inode: 0,
                }),
        );
        out.extend(
            self.requests
                .values()
                .filter(|r| want(r.netns) && !r.completed)
                .map(|r| SocketInfo {
                    netns: r.netns,
                    tuple: r.tuple,
                    state: state::SYN_RECV,
                    owner: r.owner,
                    since_ns: Some(r.since),
                    inode: 0,
                }),
        );
    }

    /// Applies one event; the transitions it makes visible are appended to `out`.
    pub fn apply(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        self.now = self.now.max(ev.ts_ns);
        match ev.kind {
            sock_kind::STATE => self.on_state(ev, out),
            sock_kind::CONNECT => self.on_connect(ev, out),
            sock_kind::ACCEPT => self.on_accept(ev, out),
            sock_kind::TW_START => self.on_tw_start(ev, out),
            sock_kind::TW_END => self.on_tw_end(ev, out),
            sock_kind::REQ_START => self.on_req_start(ev, out),
            sock_kind::REQ_END => self.on_req_end(ev, out),
            sock_kind::RESET_RX => {
                if let Some(c) = self.known(ev, out) {
                    c.flags |= F_RST_RX;
                }
            }
            sock_kind::SYN_RETRANS => self.on_syn_retrans(ev, out),
            sock_kind::SYNACK_RETRANS => self.on_synack_retrans(ev, out),
            _ => {}
        }
    }

    /// Flushes the CLOSE → SYN_SENT lines whose port did not come in time,
    /// ends derived TIME_WAITs after 60 s, and forgets stale entries.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Transition>) {
        self.now = self.now.max(now_ns);
        let due: Vec<u64> = self
            .held
            .iter()
            .filter(|h| now_ns.saturating_sub(h.ts) >= HOLD_NS)
            .map(|h| h.sk)
            .collect();
        for sk in due {
            self.release(sk, None, out);
        }
        // Derived timewait entries end after 2MSL, in order of their start.
        while let Some(&(since, key)) = self.derived_tw.front() {
            if now_ns.saturating_sub(since) < TIME_WAIT_NS {
                break;
            }
            self.derived_tw.pop_front();
            if let Some(tw) = self.timewait.remove(&key) {
                let ts = tw.since.saturating_add(TIME_WAIT_NS);
                self.emit(
                    Transition {
                        ts_ns: ts,
                        netns: tw.netns,
                        tuple: tw.tuple,
                        old: tw.substate,
                        new: state::CLOSE,
                        ms_in_old: Some(ms(ts, tw.since)),
                        owner: tw.owner,
                        derived: true,
                        lifetime: None,
                    },
                    out,
                );
            }
        }
        // Derived requests the kernel has dropped by now (tcp_synack_retries).
        while let Some(&Reverse((deadline, key))) = self.req_deadlines.peek() {
            if deadline > now_ns {
                break;
            }
            self.req_deadlines.pop();
            if self
                .requests
                .get(&key)
                .is_some_and(|r| r.derived && r.deadline == deadline)
            {
                self.drop_request(key, deadline, out);
            }
        }
        if now_ns.saturating_sub(self.last_sweep) >= SWEEP_EVERY_NS {
            self.last_sweep = now_ns;
            self.sweep(now_ns);
            self.unblock(out);
        }
    }

    /// Prints every held line now, and the lines they held back (at exit).
    pub fn flush_held(&mut self, out: &mut Vec<Transition>) {
        let held: Vec<u64> = self.held.iter().map(|h| h.sk).collect();
        for sk in held {
            self.release(sk, None, out);
        }
        self.held.clear();
        self.unblock(out);
    }

    /// Forgets what lost events left behind, and keeps every table bounded.
    fn sweep(&mut self, now: u64) {
        let old = |t: u64, age: u64| now.saturating_sub(t) >= age;
        self.timewait.retain(|_, t| !old(t.since, TW_FORGET_NS));
        let req_by_tuple = &mut self.req_by_tuple;
        self.requests.retain(|sk, r| {
            let keep = !old(r.since, REQ_FORGET_NS);
            if !keep && req_by_tuple.get(&(r.netns, r.tuple)) == Some(sk) {
                req_by_tuple.remove(&(r.netns, r.tuple));
            }
            keep
        });
        self.conns.retain(|_, c| {
            let short_lived = matches!(
                c.state,
                state::SYN_SENT | state::SYN_RECV | state::FIN_WAIT1 | state::CLOSING | state::LAST_ACK
            );
            !(short_lived && old(c.last_ns, STALE_NS))
        });
        // The table showed these at start; a timewait socket lasts 60 s at most,
        // a request socket a few minutes.
        self.seeded_tw.retain(|_, s| !old(s.at, TIME_WAIT_NS + SWEEP_EVERY_NS));
        self.seeded.retain(|_, s| match s.info.state {
            state::SYN_RECV if s.info.inode == 0 => !old(s.at, REQ_FORGET_NS),
            _ => true,
        });
        if self.conns.len() > MAX_SOCKETS {
            let mut ages: Vec<u64> = self.conns.values().map(|c| c.last_ns).collect();
            let cut = self.conns.len() - MAX_SOCKETS * 3 / 4;
            let (_, nth, _) = ages.select_nth_unstable(cut);
            let limit = *nth;
            self.conns.retain(|_, c| c.last_ns > limit);
        }
        for table_len in [
            self.timewait.len(),
            self.requests.len(),
            self.seeded.len(),
            self.seeded_tw.len(),
        ] {
            if table_len > MAX_SOCKETS {
                // Older entries than these bounds are already gone; a table this
                // big means a flood: start over rather than grow without end.
                self.timewait.retain(|_, t| !old(t.since, TIME_WAIT_NS));
                self.requests.retain(|_, r| !old(r.since, 60_000_000_000));
                self.req_by_tuple.retain(|_, sk| self.requests.contains_key(sk));
                if self.seeded.len() > MAX_SOCKETS {
                    self.seeded.clear();
                }
                if self.seeded_tw.len() > MAX_SOCKETS {
                    self.seeded_tw.clear();
                }
                break;
            }
        }
        // (A held line whose socket is gone is lost; what it held back is let go.)
        self.held
            .retain(|h| self.conns.get(&h.sk).is_some_and(|c| c.held.is_some()));
        self.derived_tw.retain(|(_, k)| self.timewait.contains_key(k));
        let requests = &self.requests;
        self.req_deadlines
            .retain(|Reverse((d, k))| requests.get(k).is_some_and(|r| r.deadline == *d));
        let listeners = &mut self.listeners;
        listeners.retain(|_, v| !v.is_empty());
    }

    fn record(&mut self, ts_ns: u64, kind: Incident, netns: u32, tuple: Tuple, owner: Option<Owner>) {
        self.incident_totals[incident_index(kind)] += 1;
        if self.incidents.len() >= MAX_INCIDENTS {
            self.incidents.pop_front();
        }
        self.incidents.push_back(IncidentRecord {
            ts_ns,
            kind,
            netns,
            tuple,
            owner,
        });
    }

    fn emit(&mut self, t: Transition, out: &mut Vec<Transition>) {
        if t.old != t.new
            && let Some(n) = self.entered.get_mut(usize::from(t.new))
        {
            *n += 1;
        }
        if self.blocked(&t) {
            self.waiting.push(t);
        } else {
            out.push(t);
        }
    }

    /// Whether a held line of the same connection must come before `t`.
    fn blocked(&self, t: &Transition) -> bool {
        !self.held.is_empty() && self.held.iter().any(|h| h.holds_back(t))
    }

    /// Lets out the waiting lines no held line holds back any more, in the
    /// order they were emitted; a line of a socket with an earlier line still
    /// waiting keeps waiting too.
    fn unblock(&mut self, out: &mut Vec<Transition>) {
        if self.waiting.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.waiting);
        let mut kept: Set<(u32, Tuple)> = Set::default();
        for t in waiting {
            let key = (t.netns, t.tuple);
            if kept.contains(&key) || self.blocked(&t) {
                kept.insert(key);
                self.waiting.push(t);
            } else {
                out.push(t);
            }
        }
    }

    /// The owner named by an event's task (only for events that run in it).
    fn task_owner(&mut self, ev: &SockEvent) -> Option<Owner> {
        let pid = (ev.pid_tgid >> 32) as u32;
        if pid == 0 {
            return None;
        }
        let key = (pid, ev.comm);
        if let Some(o) = self.owners.get(&key) {
            return Some(*o);
        }
        if self.owners.len() >= MAX_OWNER_CACHE {
            self.owners.clear();
        }
        let owner = Owner {
            pid,
            comm: Comm::from_kernel(&ev.comm),
        };
        self.owners.insert(key, owner);
        Some(owner)
    }

    /// The listener `skaddr` (or, when 0 or unknown, the best match for the
    /// local address and port).
    fn listener_owner(&self, netns: u32, local: IpAddr, port: u16, skaddr: u64) -> Option<Owner> {
        let list = self.listeners.get(&(netns, port))?;
        let by_addr = (skaddr != 0)
            .then(|| list.iter().find(|l| l.skaddr == skaddr))
            .flatten();
        by_addr
            .or_else(|| list.iter().find(|l| l.addr == local))
            .or_else(|| list.iter().find(|l| addr_matches(l.addr, local)))
            .and_then(|l| l.owner)
    }

    /// Takes a seeded socket into the full-socket table under `skaddr`.
    fn adopt(&mut self, ev: &SockEvent, tuple: Tuple) -> Option<Conn> {
        let s = self.seeded.remove(&(ev.netns, tuple))?;
        if s.info.state == state::LISTEN
            && let Some(l) = self
                .listeners
                .get_mut(&(ev.netns, tuple.sport))
                .and_then(|v| v.iter_mut().find(|l| l.skaddr == 0 && l.addr == tuple.src))
        {
            l.skaddr = ev.skaddr;
        }
        let mut c = Conn::new(ev.netns, tuple, ev.ts_ns);
        c.state = s.info.state;
        c.since = s.info.since_ns;
        c.owner = s.info.owner;
        c.note_state(c.state);
        Some(c)
    }

    /// Prints the line socket `sk` holds, with `tuple` when it is complete
    /// (both ports), then the lines it held back. A passive child's line is
    /// matched to its request socket first, now that its peer is known.
    fn release(&mut self, sk: u64, tuple: Option<Tuple>, out: &mut Vec<Transition>) {
        self.held.retain(|h| h.sk != sk);
        let Some(c) = self.conns.get_mut(&sk) else {
            self.unblock(out);
            return;
        };
        let Some(mut h) = c.held.take() else {
            self.unblock(out);
            return;
        };
        if let Some(t) = tuple.filter(complete) {
            h.tuple = t;
            c.tuple = t;
        }
        if h.new == state::SYN_RECV && complete(&h.tuple) {
            let child = self.child_of(h.netns, h.tuple, h.ts_ns);
            if let Some(c) = self.conns.get_mut(&sk) {
                child.apply_to(c);
                h.owner = c.owner;
            }
        }
        self.emit(*h, out);
        self.unblock(out);
    }

    /// The full socket an event names, adopted from the seed when first seen
    /// (None when neither knows it). A held line is released when the event
    /// tells the source port.
    fn known(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) -> Option<&mut Conn> {
        let sk = ev.skaddr;
        let tuple = has_tuple(ev).then(|| event_tuple(ev));
        if !self.conns.contains_key(&sk) {
            let c = self.adopt(ev, tuple?)?;
            self.conns.insert(sk, c);
        }
        if let Some(t) = tuple.filter(complete) {
            if self.conns.get(&sk).is_some_and(|c| c.held.is_some()) {
                self.release(sk, Some(t), out);
            }
            if let Some(c) = self.conns.get_mut(&sk) {
                c.tuple = t;
            }
        }
        let c = self.conns.get_mut(&sk)?;
        c.last_ns = ev.ts_ns;
        Some(c)
    }

    fn on_state(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let (old, new, ts, sk) = (ev.oldstate, ev.newstate, ev.ts_ns, ev.skaddr);
        let tuple = event_tuple(ev);
        let starts = (old == state::CLOSE && (new == state::SYN_SENT || new == state::LISTEN))
            || (old == state::LISTEN && new == state::SYN_RECV);
        if starts {
            // A new socket, or a socket address reused: a new connection.
            if let Some(prev) = self.conns.get(&sk)
                && prev.held.is_some()
            {
                self.release(sk, None, out);
            }
            self.conns.remove(&sk);
            self.start(ev, tuple, out);
            return;
        }
        // One lookup when the socket is known and holds no line (the usual case).
        match self.conns.get(&sk).map(|c| c.held.is_some()) {
            Some(false) => {}
            // Any later event of a socket releases its held line first (in order).
            Some(true) => self.release(sk, Some(tuple), out),
            None => {
                let c = self.adopt(ev, tuple).unwrap_or_else(|| Conn::new(ev.netns, tuple, ts));
                self.conns.insert(sk, c);
            }
        }
        let derive_tw = self.derive_timewait && self.kernel_timewait != Some(true);
        let Some(c) = self.conns.get_mut(&sk) else { return };
        c.last_ns = ts;
        if tuple.sport != 0 || c.tuple.sport == 0 && c.tuple.dport == 0 {
            c.tuple = tuple;
        }
        c.note_state(old);
        let ms_in_old = (c.state == old).then_some(c.since).flatten().map(|s| ms(ts, s));
        if c.state != old {
            // First sight, or events were lost: entering `new` is seen only if it differs.
            c.since = (old != new).then_some(ts);
        } else if old != new {
            c.since = Some(ts);
        }
        c.state = new;
        c.note_state(new);
        if new == state::ESTABLISHED
            && c.handshake_ms.is_none()
            && let Some(h) = c.handshake_start
        {
            c.handshake_ms = Some(ms(ts, h));
        }
        let mut t = Transition {
            ts_ns: ts,
            netns: c.netns,
            tuple: c.tuple,
            old,
            new,
            ms_in_old,
            owner: c.owner,
            derived: false,
            lifetime: None,
        };
        if new != state::CLOSE {
            self.emit(t, out);
            return;
        }
        let Some(c) = self.conns.remove(&sk) else { return };
        if c.flags & F_LISTENER != 0 && old == state::LISTEN {
            if let Some(v) = self.listeners.get_mut(&(c.netns, c.tuple.sport)) {
                // This listener, and what was learned about it before it was seen.
                v.retain(|l| l.skaddr != sk && !(l.skaddr == 0 && l.addr == c.tuple.src));
            }
            self.emit(t, out);
            return;
        }
        let (mut sent, mut recv) = (ev.bytes_acked, ev.bytes_received);
        // The kernel's timewait socket (TW_START), or, without the timewait
        // hooks, a FIN_WAIT2/CLOSING → CLOSE not caused by a RST.
        let tw = match c.tw {
            Some((tw, sub, s, r)) => {
                sent = sent.max(s);
                recv = recv.max(r);
                Some((tw, sub, false))
            }
            None if derive_tw && matches!(old, state::FIN_WAIT2 | state::CLOSING) && c.flags & F_RST_RX == 0 => {
                let key = self.next_synthetic;
                self.next_synthetic += 1;
                Some((key, state::TIME_WAIT, true))
            }
            None => None,
        };
        // The kernel's totals count sequence space: the SYN this side sent
        // (acknowledged during an active open) and each FIN. Only data is reported.
        let timewait = tw.is_some();
        let f = c.flags;
        let syn = f & F_SYN_SENT != 0 && f & F_ESTABLISHED != 0;
        let fin_acked = f & F_FIN_ACKED != 0
            || (old == state::CLOSING && timewait)
            || (old == state::LAST_ACK && f & F_RST_RX == 0);
        let fin_received = f & (F_CLOSE_WAIT | F_CLOSING) != 0 || (old == state::FIN_WAIT2 && timewait);
        sent = sent.saturating_sub(u64::from(syn) + u64::from(fin_acked));
        recv = recv.saturating_sub(u64::from(fin_received));
        t.lifetime = c.lifetime(old, ts, sent, recv);
        if c.flags & F_SYN_SENT != 0 && c.flags & F_ESTABLISHED == 0 {
            if c.flags & F_RST_RX != 0 {
                self.record(ts, Incident::Refused, c.netns, c.tuple, c.owner);
            } else if c.syn_retransmits > 0 {
                self.record(ts, Incident::ConnectTimeout, c.netns, c.tuple, c.owner);
            }
        }
        if let Some((key, sub, derived_only)) = tw {
            if derived_only {
                self.derived_tw.push_back((ts, key));
            }
            t.new = sub;
            t.derived = true;
            self.timewait.insert(
                key,
                TimeWait {
                    netns: c.netns,
                    tuple: c.tuple,
                    substate: sub,
                    since: ts,
                    owner: c.owner,
                },
            );
        }
        self.emit(t, out);
    }

    /// CLOSE → SYN_SENT, CLOSE → LISTEN, LISTEN → SYN_RECV (a passive child).
    fn start(&mut self, ev: &SockEvent, tuple: Tuple, out: &mut Vec<Transition>) {
        let (old, new, ts) = (ev.oldstate, ev.newstate, ev.ts_ns);
        let mut c = Conn::new(ev.netns, tuple, ts);
        c.state = new;
        c.since = Some(ts);
        c.note_state(new);
        if new == state::SYN_RECV {
            if tuple.dport == 0 {
                // Still a copy of the listener (6.1 and 6.12 set the child's addresses
                // after this event): its next event names the peer.
                c.first = Some(ts);
                c.owner = self.listener_owner(ev.netns, tuple.src, tuple.sport, 0);
            } else {
                self.child_of(ev.netns, tuple, ts).apply_to(&mut c);
            }
        } else {
            c.owner = self.task_owner(ev);
            if new == state::SYN_SENT {
                c.first = Some(ts);
                c.handshake_start = Some(ts);
            } else {
                let list = self.listeners.entry((ev.netns, tuple.sport)).or_default();
                list.retain(|l| !(l.skaddr == 0 && l.addr == tuple.src));
                list.push(Listener {
                    addr: tuple.src,
                    skaddr: ev.skaddr,
                    owner: c.owner,
                });
            }
        }
        let t = Transition {
            ts_ns: ts,
            netns: ev.netns,
            tuple,
            old,
            new,
            ms_in_old: None,
            owner: c.owner,
            derived: false,
            lifetime: None,
        };
        if (new == state::SYN_SENT && tuple.sport == 0) || (new == state::SYN_RECV && tuple.dport == 0) {
            self.held.push(Held::for_line(ev.skaddr, &t));
            c.held = Some(Box::new(t));
            self.conns.insert(ev.skaddr, c);
        } else {
            self.conns.insert(ev.skaddr, c);
            self.emit(t, out);
        }
    }

    /// What a passive child with this tuple, created at `ts`, takes from its
    /// request socket (now marked completed), or, without one (a SYN cookie,
    /// a request from before the start), from its listener.
    fn child_of(&mut self, netns: u32, tuple: Tuple, ts: u64) -> Child {
        if let Some((rk, rq)) = self
            .req_by_tuple
            .remove(&(netns, tuple))
            .and_then(|rk| self.requests.get_mut(&rk).map(|rq| (rk, rq)))
        {
            rq.completed = true;
            let child = Child {
                first: rq.since,
                handshake_start: Some(rq.since),
                owner: rq.owner,
                syn_retransmits: rq.synack_retransmits,
            };
            if rq.derived {
                // No REQ_END will come.
                self.requests.remove(&rk);
            }
            return child;
        }
        if self
            .seeded
            .get(&(netns, tuple))
            .is_some_and(|s| s.info.state == state::SYN_RECV)
        {
            self.seeded.remove(&(netns, tuple));
        }
        Child {
            first: ts,
            handshake_start: None,
            owner: self.listener_owner(netns, tuple.src, tuple.sport, 0),
            syn_retransmits: 0,
        }
    }

    fn on_connect(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let owner = self.task_owner(ev);
        if !self.conns.contains_key(&ev.skaddr) && ev.ret == 0 && has_tuple(ev) {
            // Its CLOSE → SYN_SENT was not seen (lost): it is connecting now.
            let mut c = Conn::new(ev.netns, event_tuple(ev), ev.ts_ns);
            c.state = state::SYN_SENT;
            c.note_state(state::SYN_SENT);
            self.conns.insert(ev.skaddr, c);
        }
        if let Some(c) = self.known(ev, out) {
            c.owner = owner;
            if let Some(h) = c.held.as_mut() {
                h.owner = owner;
            }
        }
    }

    fn on_accept(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let owner = self.task_owner(ev);
        if let Some(c) = self.known(ev, out) {
            c.owner = owner;
            let (netns, local, port) = (c.netns, c.tuple.src, c.tuple.sport);
            // A listener from before the start in a namespace the seed did not
            // cover: its later children belong to the acceptor too.
            if owner.is_some() && self.listener_owner(netns, local, port, 0).is_none() {
                let list = self.listeners.entry((netns, port)).or_default();
                if let Some(l) = list.iter_mut().find(|l| l.skaddr == 0 && l.addr == local) {
                    l.owner = owner;
                } else {
                    list.push(Listener {
                        addr: local,
                        skaddr: 0,
                        owner,
                    });
                }
            }
        } else if has_tuple(ev)
            && let Some(s) = self.seeded.get_mut(&(ev.netns, event_tuple(ev)))
        {
            s.info.owner = owner;
        }
    }

    fn on_tw_start(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        if self.kernel_timewait.is_none() {
            self.kernel_timewait = Some(true);
        }
        let sub = match ev.newstate {
            0 => state::TIME_WAIT,
            s => s,
        };
        if !self.conns.contains_key(&ev.skaddr) && has_tuple(ev) {
            let tuple = event_tuple(ev);
            let c = self
                .adopt(ev, tuple)
                .unwrap_or_else(|| Conn::new(ev.netns, tuple, ev.ts_ns));
            self.conns.insert(ev.skaddr, c);
        }
        if let Some(c) = self.known(ev, out) {
            c.tw = Some((ev.aux, sub, ev.bytes_acked, ev.bytes_received));
        }
    }

    fn on_tw_end(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let ts = ev.ts_ns;
        if let Some(tw) = self.timewait.remove(&ev.skaddr) {
            self.emit(
                Transition {
                    ts_ns: ts,
                    netns: tw.netns,
                    tuple: tw.tuple,
                    old: tw.substate,
                    new: state::CLOSE,
                    ms_in_old: Some(ms(ts, tw.since)),
                    owner: tw.owner,
                    derived: true,
                    lifetime: None,
                },
                out,
            );
            return;
        }
        if !has_tuple(ev) {
            return;
        }
        // A timewait socket from before the start.
        let tuple = event_tuple(ev);
        let key = (ev.netns, tuple);
        let old = if self.seeded_tw.remove(&key).is_some() {
            state::TIME_WAIT
        } else if self.seeded.get(&key).is_some_and(|s| s.info.state == state::FIN_WAIT2) {
            // An orphan waiting for the peer's FIN: a timewait socket in FIN_WAIT2.
            self.seeded.remove(&key);
            state::FIN_WAIT2
        } else {
            state::TIME_WAIT
        };
        self.emit(
            Transition {
                ts_ns: ts,
                netns: ev.netns,
                tuple,
                old,
                new: state::CLOSE,
                ms_in_old: None,
                owner: None,
                derived: true,
                lifetime: None,
            },
            out,
        );
    }

    fn on_req_start(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let tuple = event_tuple(ev);
        let owner = self.listener_owner(ev.netns, tuple.src, tuple.sport, ev.aux);
        if let Some(prev) = self.requests.remove(&ev.skaddr)
            && self.req_by_tuple.get(&(prev.netns, prev.tuple)) == Some(&ev.skaddr)
        {
            self.req_by_tuple.remove(&(prev.netns, prev.tuple));
        }
        self.req_by_tuple.insert((ev.netns, tuple), ev.skaddr);
        self.requests.insert(
            ev.skaddr,
            Request {
                netns: ev.netns,
                tuple,
                since: ev.ts_ns,
                owner,
                synack_retransmits: 0,
                completed: false,
                derived: false,
                deadline: u64::MAX,
            },
        );
        self.emit(
            Transition {
                ts_ns: ev.ts_ns,
                netns: ev.netns,
                tuple,
                old: state::LISTEN,
                new: state::NEW_SYN_RECV,
                ms_in_old: None,
                owner,
                derived: true,
                lifetime: None,
            },
            out,
        );
    }

    fn on_req_end(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let ts = ev.ts_ns;
        let (netns, tuple, ms_in_old, owner) = match self.requests.remove(&ev.skaddr) {
            Some(rq) => {
                if self.req_by_tuple.get(&(rq.netns, rq.tuple)) == Some(&ev.skaddr) {
                    self.req_by_tuple.remove(&(rq.netns, rq.tuple));
                }
                if rq.completed {
                    return;
                }
                (rq.netns, rq.tuple, Some(ms(ts, rq.since)), rq.owner)
            }
            None => {
                // The second REQ_END of a request, or one from before the start.
                if !has_tuple(ev) {
                    return;
                }
                let tuple = event_tuple(ev);
                match self.seeded.get(&(ev.netns, tuple)) {
                    Some(s) if s.info.state == state::SYN_RECV && s.info.inode == 0 => {}
                    _ => return,
                }
                self.seeded.remove(&(ev.netns, tuple));
                let owner = self.listener_owner(ev.netns, tuple.src, tuple.sport, ev.aux);
                (ev.netns, tuple, None, owner)
            }
        };
        self.record(ts, Incident::HalfOpenDropped, netns, tuple, owner);
        self.emit(
            Transition {
                ts_ns: ts,
                netns,
                tuple,
                old: state::NEW_SYN_RECV,
                new: state::CLOSE,
                ms_in_old,
                owner,
                derived: true,
                lifetime: None,
            },
            out,
        );
    }

    fn on_syn_retrans(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let ts = ev.ts_ns;
        let Some(c) = self.known(ev, out) else { return };
        c.syn_retransmits += 1;
        let (netns, tuple, owner) = (c.netns, c.tuple, c.owner);
        self.record(ts, Incident::SynRetransmit, netns, tuple, owner);
    }

    fn on_synack_retrans(&mut self, ev: &SockEvent, out: &mut Vec<Transition>) {
        let key = if self.requests.contains_key(&ev.skaddr) {
            Some(ev.skaddr)
        } else if has_tuple(ev) {
            let tuple = event_tuple(ev);
            match self.req_by_tuple.get(&(ev.netns, tuple)) {
                // Known from the socket table.
                Some(&k) => Some(k),
                None => {
                    // Unknown: half-open since its SYN, a second ago. Without
                    // the request hooks this is the first sign of it.
                    let since = ev.ts_ns.saturating_sub(SYNACK_RTO_NS);
                    let owner = self.listener_owner(ev.netns, tuple.src, tuple.sport, ev.aux);
                    self.derived_request(ev.skaddr, ev.netns, tuple, since, ev.ts_ns, owner, out);
                    Some(ev.skaddr)
                }
            }
        } else {
            None
        };
        let Some(rq) = key.and_then(|k| self.requests.get_mut(&k).map(|rq| (k, rq))) else {
            return;
        };
        let (k, rq) = rq;
        rq.synack_retransmits += 1;
        // The first retransmission comes 1 s after the SYN: a request found
        // by the table poll started no later than that.
        if rq.derived && rq.synack_retransmits == 1 {
            let since = ev.ts_ns.saturating_sub(SYNACK_RTO_NS);
            if since < rq.since {
                rq.since = since;
                rq.deadline = since.saturating_add(self.half_open_ns);
                self.req_deadlines.push(Reverse((rq.deadline, k)));
            }
        }
        let (netns, tuple, owner) = (rq.netns, rq.tuple, rq.owner);
        self.record(ev.ts_ns, Incident::SynAckRetransmit, netns, tuple, owner);
    }

    /// Takes a half-open connection the kernel did not report (no REQ_START)
    /// into the request table, and shows it: a derived LISTEN → NEW_SYN_RECV
    /// at `ts`.
    #[allow(clippy::too_many_arguments, reason = "a request's fields")]
    fn derived_request(
        &mut self,
        key: u64,
        netns: u32,
        tuple: Tuple,
        since: u64,
        ts: u64,
        owner: Option<Owner>,
        out: &mut Vec<Transition>,
    ) {
        let deadline = since.saturating_add(self.half_open_ns);
        if let Some(prev) = self.requests.remove(&key)
            && self.req_by_tuple.get(&(prev.netns, prev.tuple)) == Some(&key)
        {
            self.req_by_tuple.remove(&(prev.netns, prev.tuple));
        }
        self.req_by_tuple.insert((netns, tuple), key);
        self.requests.insert(
            key,
            Request {
                netns,
                tuple,
                since,
                owner,
                synack_retransmits: 0,
                completed: false,
                derived: true,
                deadline,
            },
        );
        self.req_deadlines.push(Reverse((deadline, key)));
        self.emit(
            Transition {
                ts_ns: ts,
                netns,
                tuple,
                old: state::LISTEN,
                new: state::NEW_SYN_RECV,
                ms_in_old: None,
                owner,
                derived: true,
                lifetime: None,
            },
            out,
        );
    }

    /// Ends a derived request that was dropped (timed out, reset, or no
    /// longer in the table) at `ts`: a derived NEW_SYN_RECV → CLOSE.
    fn drop_request(&mut self, key: u64, ts: u64, out: &mut Vec<Transition>) {
        let Some(rq) = self.requests.remove(&key) else { return };
        if self.req_by_tuple.get(&(rq.netns, rq.tuple)) == Some(&key) {
            self.req_by_tuple.remove(&(rq.netns, rq.tuple));
        }
        if rq.completed {
            return;
        }
        self.record(ts, Incident::HalfOpenDropped, rq.netns, rq.tuple, rq.owner);
        self.emit(
            Transition {
                ts_ns: ts,
                netns: rq.netns,
                tuple: rq.tuple,
                old: state::NEW_SYN_RECV,
                new: state::CLOSE,
                ms_in_old: Some(ms(ts, rq.since)),
                owner: rq.owner,
                derived: true,
                lifetime: None,
            },
            out,
        );
    }

    /// The request sockets the kernel's table of namespace `netns` listed at
    /// `at_ns` (CLOCK_MONOTONIC; every event up to then applied first, none
    /// after). New ones are shown as a derived LISTEN → NEW_SYN_RECV; derived
    /// ones of that namespace the table no longer lists, and whose child did
    /// not appear, as a derived NEW_SYN_RECV → CLOSE. Requests reported by the
    /// kernel's hooks (REQ_START) are left to REQ_END.
    pub fn requests_seen(&mut self, netns: u32, listed: &[SocketInfo], at_ns: u64, out: &mut Vec<Transition>) {
        self.now = self.now.max(at_ns);
        let mut present: Set<Tuple> = Set::default();
        for info in listed.iter().filter(|i| i.state == state::SYN_RECV) {
            let t = info.tuple;
            let tuple = normalize(t.src, t.sport, t.dst, t.dport);
            present.insert(tuple);
            if self.req_by_tuple.contains_key(&(netns, tuple))
                || self
                    .seeded
                    .get(&(netns, tuple))
                    .is_some_and(|s| s.info.state == state::SYN_RECV)
            {
                continue;
            }
            let key = self.next_synthetic;
            self.next_synthetic += 1;
            let owner = self.listener_owner(netns, tuple.src, tuple.sport, 0);
            self.derived_request(key, netns, tuple, at_ns, at_ns, owner, out);
        }
        let gone: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.derived && !r.completed && r.netns == netns && !present.contains(&r.tuple))
            .map(|(&k, _)| k)
            .collect();
        for k in gone {
            self.drop_request(k, at_ns, out);
        }
        // Requests from before the start, gone.
        let seeded_gone: Vec<Tuple> = self
            .seeded
            .iter()
            .filter(|((ns, t), s)| {
                *ns == netns && s.info.state == state::SYN_RECV && s.info.inode == 0 && !present.contains(t)
            })
            .map(|((_, t), _)| *t)
            .collect();
        for tuple in seeded_gone {
            self.seeded.remove(&(netns, tuple));
            let owner = self.listener_owner(netns, tuple.src, tuple.sport, 0);
            self.record(at_ns, Incident::HalfOpenDropped, netns, tuple, owner);
            self.emit(
                Transition {
                    ts_ns: at_ns,
                    netns,
                    tuple,
                    old: state::NEW_SYN_RECV,
                    new: state::CLOSE,
                    ms_in_old: None,
                    owner,
                    derived: true,
                    lifetime: None,
                },
                out,
            );
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (the clock of the kernel's timestamps).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTENER: u64 = 0xffff_8880_0000_1000;
    const CLIENT: u64 = 0xffff_8880_0000_2000;
    const CHILD: u64 = 0xffff_8880_0000_3000;
    const REQ: u64 = 0xffff_8880_0000_4000;
    const TW: u64 = 0xffff_8880_0000_5000;
    const NS: u32 = 4026531840;
    const MSEC: u64 = 1_000_000;

    fn comm(s: &str) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[..s.len()].copy_from_slice(s.as_bytes());
        c
    }

    /// An event on 10.0.0.1:sport → 10.0.0.2:dport run by `pid`/`task`.
    fn ev(kind: u8, ts_ms: u64, sk: u64, sport: u16, dport: u16, pid: u32, task: &str) -> SockEvent {
        let mut e = SockEvent {
            ts_ns: ts_ms * MSEC,
            skaddr: sk,
            pid_tgid: u64::from(pid) << 32 | u64::from(pid),
            comm: comm(task),
            netns: NS,
            kind,
            family: AF_INET,
            sport,
            dport,
            ..Default::default()
        };
        e.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        e.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        e
    }

    fn st(ts_ms: u64, sk: u64, sport: u16, dport: u16, old: u8, new: u8) -> SockEvent {
        SockEvent {
            oldstate: old,
            newstate: new,
            ..ev(sock_kind::STATE, ts_ms, sk, sport, dport, 0, "swapper/1")
        }
    }

    /// The server side of a connection: local 10.0.0.2:80, remote 10.0.0.1:sport.
    fn server(mut e: SockEvent) -> SockEvent {
        std::mem::swap(&mut e.saddr, &mut e.daddr);
        e
    }

    fn names(out: &[Transition]) -> Vec<String> {
        out.iter()
            .map(|t| {
                format!(
                    "{} {} -> {}{}",
                    t.tuple.sport,
                    super::super::state_name(t.old),
                    super::super::state_name(t.new),
                    if t.derived { " (derived)" } else { "" }
                )
            })
            .collect()
    }

    fn owner_pids(out: &[Transition]) -> Vec<Option<u32>> {
        out.iter().map(|t| t.owner.as_ref().map(|o| o.pid)).collect()
    }

    /// The client of an active close, with the kernel's timewait events.
    fn active_close(tr: &mut Tracker, out: &mut Vec<Transition>) {
        use state::*;
        tr.apply(
            &SockEvent {
                oldstate: CLOSE,
                newstate: SYN_SENT,
                ..ev(sock_kind::STATE, 0, CLIENT, 0, 80, 100, "curl")
            },
            out,
        );
        assert!(out.is_empty(), "CLOSE -> SYN_SENT waits for its port");
        tr.apply(&ev(sock_kind::CONNECT, 1, CLIENT, 40000, 80, 100, "curl"), out);
        tr.apply(&st(3, CLIENT, 40000, 80, SYN_SENT, ESTABLISHED), out);
        tr.apply(&st(10, CLIENT, 40000, 80, ESTABLISHED, FIN_WAIT1), out);
        tr.apply(&st(11, CLIENT, 40000, 80, FIN_WAIT1, FIN_WAIT1), out);
        tr.apply(&st(12, CLIENT, 40000, 80, FIN_WAIT1, FIN_WAIT2), out);
        let mut tw = ev(sock_kind::TW_START, 13, CLIENT, 40000, 80, 0, "swapper/0");
        tw.aux = TW;
        tw.newstate = TIME_WAIT;
        // The kernel's totals: data plus our SYN and FIN, and the peer's FIN.
        tw.bytes_acked = 80;
        tw.bytes_received = 3457;
        tr.apply(&tw, out);
        let mut close = st(13, CLIENT, 40000, 80, FIN_WAIT2, CLOSE);
        close.bytes_acked = 80;
        close.bytes_received = 3457;
        tr.apply(&close, out);
    }

    #[test]
    fn active_close_with_timewait_events() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        active_close(&mut tr, &mut out);
        assert_eq!(
            names(&out),
            [
                "40000 CLOSE -> SYN_SENT",
                "40000 SYN_SENT -> ESTABLISHED",
                "40000 ESTABLISHED -> FIN_WAIT1",
                "40000 FIN_WAIT1 -> FIN_WAIT1",
                "40000 FIN_WAIT1 -> FIN_WAIT2",
                "40000 FIN_WAIT2 -> TIME_WAIT (derived)",
            ]
        );
        assert!(owner_pids(&out).iter().all(|p| *p == Some(100)));
        assert_eq!(&*out[0].owner.as_ref().unwrap().comm, "curl");
        assert_eq!(out[0].ms_in_old, None);
        assert_eq!(out[1].ms_in_old, Some(3.0));
        assert_eq!(out[3].ms_in_old, Some(1.0));
        // The same-state event did not restart the clock of FIN_WAIT1.
        assert_eq!(out[4].ms_in_old, Some(2.0));
        let life = out[5].lifetime.as_ref().expect("lifetime on the closing transition");
        assert_eq!(life.duration_ms, 13.0);
        assert_eq!(life.handshake_ms, Some(3.0));
        assert_eq!((life.bytes_sent, life.bytes_received), (78, 3456));
        assert_eq!(life.closed_by, Closer::Local);
        assert!(out[..5].iter().all(|t| t.lifetime.is_none()));
        // Live: the timewait socket, as ss shows it.
        let snap = tr.snapshot(Some(NS));
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].state, TIME_WAIT);
        assert!(tr.snapshot(Some(1)).is_empty());
        out.clear();
        tr.apply(&ev(sock_kind::TW_END, 60_013, TW, 40000, 80, 0, "swapper/0"), &mut out);
        assert_eq!(names(&out), ["40000 TIME_WAIT -> CLOSE (derived)"]);
        assert_eq!(out[0].ms_in_old, Some(60_000.0));
        assert_eq!(owner_pids(&out), [Some(100)]);
        assert!(tr.is_empty(), "closed sockets are dropped");
        assert_eq!(tr.entered()[usize::from(TIME_WAIT)], 1);
        assert_eq!(tr.entered()[usize::from(FIN_WAIT1)], 1);
        assert_eq!(tr.entered()[usize::from(CLOSE)], 1);
    }

    fn listen(tr: &mut Tracker, out: &mut Vec<Transition>) {
        let mut e = server(ev(sock_kind::STATE, 0, LISTENER, 80, 0, 200, "python3"));
        e.oldstate = state::CLOSE;
        e.newstate = state::LISTEN;
        e.daddr = [0; 16];
        tr.apply(&e, out);
    }

    #[test]
    fn listens_in_the_listener_namespace_only() {
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        let ns = server(ev(sock_kind::STATE, 0, LISTENER, 80, 0, 200, "python3")).netns;
        assert!(!tr.listens_in(ns));
        listen(&mut tr, &mut out);
        assert!(tr.listens_in(ns));
        assert!(!tr.listens_in(ns.wrapping_add(1)));
    }

    #[test]
    fn passive_close_owned_by_the_listener_then_the_acceptor() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        let mut req = server(ev(sock_kind::REQ_START, 100, REQ, 80, 40000, 100, "curl"));
        req.aux = LISTENER;
        tr.apply(&req, &mut out);
        // Softirq work done in the client's context names the client: ignored.
        let mut child = server(ev(sock_kind::STATE, 101, CHILD, 80, 40000, 100, "curl"));
        child.oldstate = LISTEN;
        child.newstate = SYN_RECV;
        tr.apply(&child, &mut out);
        tr.apply(
            &server(ev(sock_kind::REQ_END, 101, REQ, 80, 40000, 100, "curl")),
            &mut out,
        );
        tr.apply(&server(st(102, CHILD, 80, 40000, SYN_RECV, ESTABLISHED)), &mut out);
        tr.apply(
            &server(ev(sock_kind::ACCEPT, 103, CHILD, 80, 40000, 201, "worker")),
            &mut out,
        );
        tr.apply(&server(st(110, CHILD, 80, 40000, ESTABLISHED, CLOSE_WAIT)), &mut out);
        tr.apply(&server(st(111, CHILD, 80, 40000, CLOSE_WAIT, LAST_ACK)), &mut out);
        let mut close = server(st(112, CHILD, 80, 40000, LAST_ACK, CLOSE));
        // Data plus our FIN (acknowledged in LAST_ACK) and the peer's FIN.
        close.bytes_acked = 3457;
        close.bytes_received = 79;
        tr.apply(&close, &mut out);
        assert_eq!(
            names(&out),
            [
                "80 CLOSE -> LISTEN",
                "80 LISTEN -> NEW_SYN_RECV (derived)",
                "80 LISTEN -> SYN_RECV",
                "80 SYN_RECV -> ESTABLISHED",
                "80 ESTABLISHED -> CLOSE_WAIT",
                "80 CLOSE_WAIT -> LAST_ACK",
                "80 LAST_ACK -> CLOSE",
            ]
        );
        assert_eq!(
            owner_pids(&out),
            [
                Some(200),
                Some(200),
                Some(200),
                Some(200),
                Some(201),
                Some(201),
                Some(201)
            ]
        );
        assert_eq!(out[2].ms_in_old, None, "the child was not seen entering LISTEN");
        assert_eq!(out[2].tuple.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let life = out[6].lifetime.as_ref().unwrap();
        assert_eq!(life.closed_by, Closer::Remote);
        assert_eq!(life.handshake_ms, Some(2.0), "SYN (request) to the final ACK");
        assert_eq!(life.duration_ms, 12.0);
        assert_eq!((life.bytes_sent, life.bytes_received), (3456, 78));
        // Only the listener is left.
        let snap = tr.snapshot(None);
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].state, LISTEN);
        assert_eq!(tr.incidents().count(), 0);
    }

    /// The server's NEW_SYN_RECV (REQ_START runs while connect() is still
    /// sending the SYN) comes before CONNECT tells the client's source port:
    /// it waits for the client's CLOSE -> SYN_SENT, so the connection's lines
    /// come in time order. Lines of other connections are not held back.
    #[test]
    fn lines_of_a_connection_come_in_time_order() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        tr.apply(
            &SockEvent {
                oldstate: CLOSE,
                newstate: SYN_SENT,
                ..ev(sock_kind::STATE, 1, CLIENT, 0, 80, 100, "curl")
            },
            &mut out,
        );
        let mut req = server(ev(sock_kind::REQ_START, 2, REQ, 80, 40000, 100, "curl"));
        req.aux = LISTENER;
        tr.apply(&req, &mut out);
        // Another connection (port 8080) goes out at once.
        tr.apply(&st(3, CHILD, 50000, 8080, ESTABLISHED, FIN_WAIT1), &mut out);
        assert_eq!(names(&out), ["80 CLOSE -> LISTEN", "50000 ESTABLISHED -> FIN_WAIT1"]);
        tr.apply(&ev(sock_kind::CONNECT, 4, CLIENT, 40000, 80, 100, "curl"), &mut out);
        tr.apply(&st(5, CLIENT, 40000, 80, SYN_SENT, ESTABLISHED), &mut out);
        assert_eq!(
            names(&out),
            [
                "80 CLOSE -> LISTEN",
                "50000 ESTABLISHED -> FIN_WAIT1",
                "40000 CLOSE -> SYN_SENT",
                "80 LISTEN -> NEW_SYN_RECV (derived)",
                "40000 SYN_SENT -> ESTABLISHED",
            ]
        );
        let ours: Vec<u64> = out[2..].iter().map(|t| t.ts_ns).collect();
        assert!(ours.is_sorted(), "{ours:?}");
        assert_eq!(owner_pids(&out[2..]), [Some(100), Some(200), Some(100)]);

        // Without CONNECT and without a later event, the tick prints the held
        // line with port 0 after HOLD_NS, and what it held back after it.
        out.clear();
        let t0 = 10_000;
        tr.apply(
            &SockEvent {
                oldstate: CLOSE,
                newstate: SYN_SENT,
                ..ev(sock_kind::STATE, t0, CLIENT + 64, 0, 80, 101, "curl")
            },
            &mut out,
        );
        let mut req = server(ev(sock_kind::REQ_START, t0 + 1, REQ + 64, 80, 40001, 0, "swapper/0"));
        req.aux = LISTENER;
        tr.apply(&req, &mut out);
        tr.tick(t0 * MSEC + HOLD_NS - 1, &mut out);
        assert!(out.is_empty(), "{:?}", names(&out));
        tr.tick(t0 * MSEC + HOLD_NS, &mut out);
        assert_eq!(
            names(&out),
            ["0 CLOSE -> SYN_SENT", "80 LISTEN -> NEW_SYN_RECV (derived)"]
        );
        // At exit, held lines and what they hold back are all printed.
        out.clear();
        tr.apply(
            &SockEvent {
                oldstate: CLOSE,
                newstate: SYN_SENT,
                ..ev(sock_kind::STATE, 20_000, CLIENT + 128, 0, 80, 102, "curl")
            },
            &mut out,
        );
        let mut req = server(ev(sock_kind::REQ_START, 20_001, REQ + 128, 80, 40002, 0, "swapper/0"));
        req.aux = LISTENER;
        tr.apply(&req, &mut out);
        tr.flush_held(&mut out);
        assert_eq!(
            names(&out),
            ["0 CLOSE -> SYN_SENT", "80 LISTEN -> NEW_SYN_RECV (derived)"]
        );
    }

    /// Some kernels (6.1, 6.12) report a passive child's LISTEN -> SYN_RECV while it
    /// is still a copy of its listener: no peer. The line waits for the
    /// child's next event, takes the peer from it and is matched to its
    /// request socket then (handshake time from the SYN, completed: no
    /// half-open connection left). Client lines to the listener's port wait
    /// behind it.
    #[test]
    fn passive_child_reported_before_its_peer_is_set() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        out.clear();
        let mut req = server(ev(sock_kind::REQ_START, 100, REQ, 80, 40000, 100, "curl"));
        req.aux = LISTENER;
        tr.apply(&req, &mut out);
        let mut child = server(ev(sock_kind::STATE, 101, CHILD, 80, 0, 100, "curl"));
        child.oldstate = LISTEN;
        child.newstate = SYN_RECV;
        child.daddr = [0; 16];
        tr.apply(&child, &mut out);
        // A client line about the listener's port, after the child's: waits.
        tr.apply(&st(101, CLIENT, 40000, 80, ESTABLISHED, ESTABLISHED), &mut out);
        assert_eq!(names(&out), ["80 LISTEN -> NEW_SYN_RECV (derived)"]);
        tr.apply(&server(st(102, CHILD, 80, 40000, SYN_RECV, ESTABLISHED)), &mut out);
        assert_eq!(
            names(&out),
            [
                "80 LISTEN -> NEW_SYN_RECV (derived)",
                "80 LISTEN -> SYN_RECV",
                "40000 ESTABLISHED -> ESTABLISHED",
                "80 SYN_RECV -> ESTABLISHED",
            ]
        );
        let ts: Vec<u64> = out.iter().map(|t| t.ts_ns).collect();
        assert!(ts.is_sorted(), "{ts:?}");
        let peer = |t: &Transition| (t.tuple.dst, t.tuple.dport);
        let client = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
        assert_eq!(peer(&out[1]), client, "the peer of LISTEN -> SYN_RECV is the client");
        assert_eq!(peer(&out[3]), client);
        assert_eq!(owner_pids(&out[..2]), [Some(200), Some(200)]);
        assert_eq!(owner_pids(&out[3..]), [Some(200)]);
        // The request was completed by this child: nothing half-open is left.
        let snap = tr.snapshot(None);
        assert_eq!(snap.iter().filter(|s| s.state == SYN_RECV).count(), 0, "{snap:?}");
        let server_side = |s: &&SocketInfo| s.tuple.src == IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let states: Vec<u8> = snap.iter().filter(server_side).map(|s| s.state).collect();
        assert_eq!(states.iter().filter(|&&s| s == ESTABLISHED).count(), 1, "{snap:?}");
        // The handshake time starts at the SYN (the request socket).
        tr.apply(&server(st(110, CHILD, 80, 40000, ESTABLISHED, CLOSE)), &mut out);
        let life = out.last().unwrap().lifetime.as_ref().unwrap();
        assert_eq!(life.handshake_ms, Some(2.0));
        assert_eq!(life.duration_ms, 10.0);
        assert_eq!(tr.incidents().count(), 0);
    }

    #[test]
    fn half_open_requests() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        out.clear();
        let mut req = server(ev(sock_kind::REQ_START, 100, REQ, 80, 40001, 0, "swapper/0"));
        req.aux = LISTENER;
        tr.apply(&req, &mut out);
        let snap = tr.snapshot(None);
        assert_eq!(
            snap.iter().filter(|s| s.state == SYN_RECV).count(),
            1,
            "a request counts as SYN_RECV"
        );
        let mut again = server(ev(sock_kind::SYNACK_RETRANS, 1100, REQ, 80, 40001, 0, "swapper/0"));
        again.aux = LISTENER;
        tr.apply(&again, &mut out);
        tr.apply(
            &server(ev(sock_kind::REQ_END, 3100, REQ, 80, 40001, 0, "swapper/0")),
            &mut out,
        );
        // The second REQ_END of the same request says nothing more.
        tr.apply(
            &server(ev(sock_kind::REQ_END, 3100, REQ, 80, 40001, 0, "swapper/0")),
            &mut out,
        );
        assert_eq!(
            names(&out),
            [
                "80 LISTEN -> NEW_SYN_RECV (derived)",
                "80 NEW_SYN_RECV -> CLOSE (derived)"
            ]
        );
        assert_eq!(owner_pids(&out), [Some(200), Some(200)]);
        assert_eq!(out[1].ms_in_old, Some(3000.0));
        let kinds: Vec<Incident> = tr.incidents().map(|i| i.kind).collect();
        assert_eq!(kinds, [Incident::SynAckRetransmit, Incident::HalfOpenDropped]);
        assert_eq!(tr.incidents().last().unwrap().owner.as_ref().unwrap().pid, 200);
        assert_eq!(tr.snapshot(None).len(), 1);
        assert_eq!(tr.entered()[usize::from(NEW_SYN_RECV)], 1);
    }

    fn synack_retrans(ts_ms: u64, sk: u64, port: u16) -> SockEvent {
        let mut e = server(ev(sock_kind::SYNACK_RETRANS, ts_ms, sk, 80, port, 0, "swapper/0"));
        e.aux = LISTENER;
        e
    }

    /// Without the request hooks: the first SYN-ACK retransmission shows a
    /// half-open connection; its child ends it quietly, the kernel's drop
    /// after tcp_synack_retries with a derived CLOSE.
    #[test]
    fn half_open_from_synack_retransmissions() {
        use state::*;
        let mut tr = Tracker::new();
        tr.set_synack_retries(2); // dropped 1 + 2 + 4 = 7 s after the SYN
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        out.clear();
        tr.apply(&synack_retrans(1000, REQ, 40001), &mut out);
        assert_eq!(names(&out), ["80 LISTEN -> NEW_SYN_RECV (derived)"]);
        assert_eq!(owner_pids(&out), [Some(200)]);
        assert_eq!(out[0].ts_ns, 1000 * MSEC);
        let half_open = |tr: &Tracker| tr.snapshot(None).iter().filter(|s| s.state == SYN_RECV).count();
        assert_eq!(half_open(&tr), 1);
        // The second retransmission of the same request says nothing new.
        tr.apply(&synack_retrans(3000, REQ, 40001), &mut out);
        assert_eq!(out.len(), 1);
        // The handshake completes: the child ends the request.
        let mut child = server(ev(sock_kind::STATE, 3500, CHILD, 80, 40001, 0, ""));
        child.oldstate = LISTEN;
        child.newstate = SYN_RECV;
        tr.apply(&child, &mut out);
        tr.apply(&server(st(3500, CHILD, 80, 40001, SYN_RECV, ESTABLISHED)), &mut out);
        assert_eq!(
            names(&out)[1..],
            ["80 LISTEN -> SYN_RECV", "80 SYN_RECV -> ESTABLISHED"]
        );
        assert_eq!(half_open(&tr), 0);
        tr.tick(10_000 * MSEC, &mut out);
        assert_eq!(out.len(), 3, "a completed request is not dropped");
        // Another one never completes: dropped 7 s after its SYN (1 s before
        // its first retransmission).
        out.clear();
        tr.apply(&synack_retrans(11_000, REQ + 64, 40002), &mut out);
        tr.tick(16_999 * MSEC, &mut out);
        assert_eq!(out.len(), 1);
        tr.tick(17_000 * MSEC, &mut out);
        assert_eq!(
            names(&out),
            [
                "80 LISTEN -> NEW_SYN_RECV (derived)",
                "80 NEW_SYN_RECV -> CLOSE (derived)"
            ]
        );
        assert_eq!(out[1].ts_ns, 17_000 * MSEC);
        assert_eq!(out[1].ms_in_old, Some(7000.0));
        assert_eq!(owner_pids(&out), [Some(200), Some(200)]);
        assert_eq!(tr.incident_total(Incident::HalfOpenDropped), 1);
        assert_eq!(tr.incident_total(Incident::SynAckRetransmit), 3);
        assert_eq!(half_open(&tr), 0);
        assert_eq!(tr.len(), 2, "the listener and the child");
    }

    /// The socket table's request sockets, polled: new ones shown, gone ones
    /// (without a child) closed; requests of other namespaces untouched.
    #[test]
    fn half_open_from_the_socket_table() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        let t = |sport: u16| Tuple {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            sport: 80,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dport: sport,
        };
        let req = |sport: u16| SocketInfo {
            netns: NS,
            tuple: t(sport),
            state: SYN_RECV,
            owner: None,
            since_ns: None,
            inode: 0,
        };
        // One from before the start, in the seed.
        tr.seed_at(vec![req(40000)], 0);
        listen(&mut tr, &mut out);
        out.clear();
        tr.requests_seen(NS, &[req(40000)], 500 * MSEC, &mut out);
        assert!(out.is_empty(), "known from the seed: nothing to say");
        tr.requests_seen(NS, &[req(40000), req(40001), req(40002)], 1000 * MSEC, &mut out);
        assert_eq!(
            names(&out),
            [
                "80 LISTEN -> NEW_SYN_RECV (derived)",
                "80 LISTEN -> NEW_SYN_RECV (derived)"
            ]
        );
        assert_eq!(owner_pids(&out), [Some(200), Some(200)]);
        // A SYN-ACK retransmission of a polled request names the same one.
        tr.apply(&synack_retrans(1100, REQ, 40001), &mut out);
        assert_eq!(out.len(), 2);
        // A request of another namespace, known from its retransmission.
        let mut other = synack_retrans(1200, REQ + 64, 40009);
        other.netns = NS + 1;
        tr.apply(&other, &mut out);
        assert_eq!(out.len(), 3);
        // 40002 completes the handshake; 40000 and 40001 vanish without a child.
        let mut child = server(ev(sock_kind::STATE, 1500, CHILD, 80, 40002, 0, ""));
        child.oldstate = LISTEN;
        child.newstate = SYN_RECV;
        tr.apply(&child, &mut out);
        out.clear();
        tr.requests_seen(NS, &[], 2000 * MSEC, &mut out);
        let mut got = names(&out);
        got.sort();
        assert_eq!(
            got,
            [
                "80 NEW_SYN_RECV -> CLOSE (derived)",
                "80 NEW_SYN_RECV -> CLOSE (derived)"
            ]
        );
        let ports: Vec<u16> = out.iter().map(|t| t.tuple.dport).collect();
        assert!(ports.contains(&40000) && ports.contains(&40001), "{ports:?}");
        // 40001 was half-open since 1 s before its retransmission.
        let t1 = out.iter().find(|t| t.tuple.dport == 40001).unwrap();
        assert_eq!(t1.ms_in_old, Some(1900.0));
        assert_eq!(tr.incident_total(Incident::HalfOpenDropped), 2);
        let left: Vec<(u32, u8)> = tr.snapshot(None).iter().map(|s| (s.netns, s.state)).collect();
        assert!(left.contains(&(NS + 1, SYN_RECV)), "{left:?}");
        assert_eq!(left.iter().filter(|(_, s)| *s == SYN_RECV).count(), 2, "{left:?}");
    }

    /// A fresh table corrects the tracker: lost closes forgotten, changed
    /// states taken, unknown sockets seeded; what agrees keeps its entry time
    /// and owner, incidents stay, other namespaces are untouched.
    #[test]
    fn reconcile_with_the_table() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        // 40000 established (agrees), 40001 established (the table says CLOSE_WAIT),
        // 40002 established (gone: its CLOSE was lost), 40003 refused (an incident).
        for (i, port) in [40000u16, 40001, 40002].into_iter().enumerate() {
            let sk = CLIENT + i as u64 * 64;
            connect(&mut tr, &mut out, 10, sk, port);
            tr.apply(&st(20, sk, port, 80, SYN_SENT, ESTABLISHED), &mut out);
        }
        connect(&mut tr, &mut out, 30, CLIENT + 640, 40003);
        tr.apply(&ev(sock_kind::RESET_RX, 31, CLIENT + 640, 40003, 80, 0, ""), &mut out);
        tr.apply(&st(31, CLIENT + 640, 40003, 80, SYN_SENT, CLOSE), &mut out);
        // A derived TIME_WAIT the table no longer lists (tcp_tw_reuse took it).
        connect(&mut tr, &mut out, 40, CLIENT + 704, 40004);
        for (old, new) in [
            (SYN_SENT, ESTABLISHED),
            (ESTABLISHED, FIN_WAIT1),
            (FIN_WAIT1, FIN_WAIT2),
            (FIN_WAIT2, CLOSE),
        ] {
            tr.apply(&st(41, CLIENT + 704, 40004, 80, old, new), &mut out);
        }
        // Another namespace's socket.
        let mut far = ev(sock_kind::STATE, 50, CLIENT + 768, 0, 80, 100, "curl");
        far.netns = NS + 1;
        far.oldstate = CLOSE;
        far.newstate = SYN_SENT;
        tr.apply(&far, &mut out);
        let mut far = st(51, CLIENT + 768, 40005, 80, SYN_SENT, ESTABLISHED);
        far.netns = NS + 1;
        tr.apply(&far, &mut out);
        let info = |sport: u16, dport: u16, st: u8, inode: u64| SocketInfo {
            netns: NS,
            tuple: Tuple {
                src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                sport,
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                dport,
            },
            state: st,
            owner: Some(Owner {
                pid: 999,
                comm: Comm::from("table"),
            }),
            since_ns: None,
            inode,
        };
        let mut listener = info(80, 0, LISTEN, 1);
        listener.tuple.src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        listener.tuple.dst = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let table = vec![
            listener,
            info(40000, 80, ESTABLISHED, 2),
            info(40001, 80, CLOSE_WAIT, 3),
            info(41000, 80, TIME_WAIT, 0),
            info(41001, 80, ESTABLISHED, 4),
        ];
        tr.reconcile(NS, table, 1000 * MSEC);
        let mut snap = tr.snapshot(Some(NS));
        snap.sort_by_key(|s| s.tuple.sport);
        let got: Vec<(u16, u8, Option<u64>, Option<u32>)> = snap
            .iter()
            .map(|s| (s.tuple.sport, s.state, s.since_ns, s.owner.as_ref().map(|o| o.pid)))
            .collect();
        assert_eq!(
            got,
            [
                (80, LISTEN, Some(0), Some(200)),
                (40000, ESTABLISHED, Some(20 * MSEC), Some(100)),
                (40001, CLOSE_WAIT, None, Some(100)),
                (41000, TIME_WAIT, None, Some(999)),
                (41001, ESTABLISHED, None, Some(999)),
            ]
        );
        assert_eq!(tr.snapshot(Some(NS + 1)).len(), 1, "other namespaces untouched");
        assert_eq!(tr.incident_total(Incident::Refused), 1);
        assert_eq!(tr.incidents().count(), 1);
        // The derived TIME_WAIT is gone: its 2MSL end says nothing.
        out.clear();
        tr.tick(200_000 * MSEC, &mut out);
        assert!(out.iter().all(|t| t.tuple.sport != 40004), "{:?}", names(&out));
        // An empty table clears the namespace.
        tr.reconcile(NS, Vec::new(), 300_000 * MSEC);
        assert!(tr.snapshot(Some(NS)).is_empty());
        // A child of the vanished listener gets no owner from it.
        out.clear();
        let mut child = server(ev(sock_kind::STATE, 300_001, CHILD, 80, 42000, 0, ""));
        child.oldstate = LISTEN;
        child.newstate = SYN_RECV;
        tr.apply(&child, &mut out);
        assert_eq!(owner_pids(&out), [None]);
    }

    fn connect(tr: &mut Tracker, out: &mut Vec<Transition>, ts: u64, sk: u64, sport: u16) {
        let mut e = ev(sock_kind::STATE, ts, sk, 0, 80, 100, "curl");
        e.oldstate = state::CLOSE;
        e.newstate = state::SYN_SENT;
        tr.apply(&e, out);
        tr.apply(&ev(sock_kind::CONNECT, ts, sk, sport, 80, 100, "curl"), out);
    }

    #[test]
    fn refused_and_timed_out_connects() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        connect(&mut tr, &mut out, 0, CLIENT, 40000);
        tr.apply(&ev(sock_kind::RESET_RX, 1, CLIENT, 40000, 80, 0, "swapper/0"), &mut out);
        tr.apply(&st(1, CLIENT, 40000, 80, SYN_SENT, CLOSE), &mut out);
        assert_eq!(names(&out), ["40000 CLOSE -> SYN_SENT", "40000 SYN_SENT -> CLOSE"]);
        let life = out[1].lifetime.as_ref().unwrap();
        assert_eq!((life.closed_by, life.handshake_ms), (Closer::Refused, None));
        assert_eq!(owner_pids(&out), [Some(100), Some(100)]);

        // The same socket address, reused for a connection that times out.
        out.clear();
        connect(&mut tr, &mut out, 10, CLIENT, 40002);
        tr.apply(
            &ev(sock_kind::SYN_RETRANS, 1010, CLIENT, 40002, 80, 0, "swapper/0"),
            &mut out,
        );
        tr.apply(
            &ev(sock_kind::SYN_RETRANS, 3010, CLIENT, 40002, 80, 0, "swapper/0"),
            &mut out,
        );
        tr.apply(&st(7010, CLIENT, 40002, 80, SYN_SENT, CLOSE), &mut out);
        assert_eq!(names(&out), ["40002 CLOSE -> SYN_SENT", "40002 SYN_SENT -> CLOSE"]);
        let life = out[1].lifetime.as_ref().unwrap();
        assert_eq!(life.closed_by, Closer::Timeout);
        assert_eq!(life.syn_retransmits, 2);
        assert_eq!(life.duration_ms, 7000.0);
        assert_eq!(out[1].ms_in_old, Some(7000.0));
        let kinds: Vec<Incident> = tr.incidents().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [
                Incident::Refused,
                Incident::SynRetransmit,
                Incident::SynRetransmit,
                Incident::ConnectTimeout
            ]
        );
        assert!(tr.incidents().all(|i| i.owner.as_ref().is_some_and(|o| o.pid == 100)));
        assert_eq!(tr.incident_total(Incident::SynRetransmit), 2);
        assert!(tr.is_empty());
    }

    #[test]
    fn held_line_released_by_tick_or_by_a_later_event() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        let mut e = ev(sock_kind::STATE, 0, CLIENT, 0, 80, 100, "curl");
        e.oldstate = CLOSE;
        e.newstate = SYN_SENT;
        tr.apply(&e, &mut out);
        tr.tick(HOLD_NS - 1, &mut out);
        assert!(out.is_empty());
        tr.tick(HOLD_NS, &mut out);
        assert_eq!(names(&out), ["0 CLOSE -> SYN_SENT"]);
        assert_eq!(owner_pids(&out), [Some(100)]);
        // Without CONNECT (packet mode: the tracepoint only) the next state gives the port.
        out.clear();
        let mut e = ev(sock_kind::STATE, 1000, CHILD, 0, 80, 100, "curl");
        e.oldstate = CLOSE;
        e.newstate = SYN_SENT;
        tr.apply(&e, &mut out);
        tr.apply(&st(1001, CHILD, 40004, 80, SYN_SENT, ESTABLISHED), &mut out);
        assert_eq!(
            names(&out),
            ["40004 CLOSE -> SYN_SENT", "40004 SYN_SENT -> ESTABLISHED"]
        );
        tr.tick(5000 * MSEC, &mut out);
        assert_eq!(out.len(), 2);
        // A SYN to a port that drops it: the first retransmission tells the port.
        out.clear();
        let mut e = ev(sock_kind::STATE, 6000, CLIENT + 64, 0, 81, 100, "curl");
        e.oldstate = CLOSE;
        e.newstate = SYN_SENT;
        tr.apply(&e, &mut out);
        tr.tick(6900 * MSEC, &mut out);
        tr.apply(
            &ev(sock_kind::SYN_RETRANS, 7000, CLIENT + 64, 40005, 81, 0, ""),
            &mut out,
        );
        assert_eq!(names(&out), ["40005 CLOSE -> SYN_SENT"]);
        assert_eq!(owner_pids(&out), [Some(100)]);
    }

    #[test]
    fn timewait_derived_without_the_timewait_hooks() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        connect(&mut tr, &mut out, 0, CLIENT, 40000);
        tr.apply(&st(1, CLIENT, 40000, 80, SYN_SENT, ESTABLISHED), &mut out);
        tr.apply(&st(2, CLIENT, 40000, 80, ESTABLISHED, FIN_WAIT1), &mut out);
        tr.apply(&st(3, CLIENT, 40000, 80, FIN_WAIT1, CLOSING), &mut out);
        tr.apply(&st(4, CLIENT, 40000, 80, CLOSING, CLOSE), &mut out);
        assert_eq!(names(&out)[4], "40000 CLOSING -> TIME_WAIT (derived)");
        assert_eq!(out[4].lifetime.as_ref().unwrap().closed_by, Closer::Both);
        assert_eq!(tr.snapshot(None)[0].state, TIME_WAIT);
        out.clear();
        tr.tick(59_000 * MSEC, &mut out);
        assert!(out.is_empty());
        tr.tick(61_000 * MSEC, &mut out);
        assert_eq!(names(&out), ["40000 TIME_WAIT -> CLOSE (derived)"]);
        assert_eq!(out[0].ts_ns, 60_004 * MSEC);
        assert_eq!(out[0].ms_in_old, Some(60_000.0));
        assert!(tr.is_empty());
        // A RST received in FIN_WAIT2 leaves no timewait socket.
        out.clear();
        connect(&mut tr, &mut out, 70_000, CLIENT, 40001);
        tr.apply(&st(70_001, CLIENT, 40001, 80, SYN_SENT, ESTABLISHED), &mut out);
        tr.apply(&st(70_002, CLIENT, 40001, 80, ESTABLISHED, FIN_WAIT1), &mut out);
        tr.apply(&st(70_003, CLIENT, 40001, 80, FIN_WAIT1, FIN_WAIT2), &mut out);
        tr.apply(&ev(sock_kind::RESET_RX, 70_004, CLIENT, 40001, 80, 0, ""), &mut out);
        tr.apply(&st(70_004, CLIENT, 40001, 80, FIN_WAIT2, CLOSE), &mut out);
        assert_eq!(names(&out).last().unwrap(), "40001 FIN_WAIT2 -> CLOSE");
        assert!(tr.is_empty());
        // Not derived at all when asked so.
        out.clear();
        tr.set_derive_timewait(false);
        connect(&mut tr, &mut out, 80_000, CLIENT, 40002);
        tr.apply(&st(80_001, CLIENT, 40002, 80, SYN_SENT, ESTABLISHED), &mut out);
        tr.apply(&st(80_002, CLIENT, 40002, 80, ESTABLISHED, FIN_WAIT1), &mut out);
        tr.apply(&st(80_003, CLIENT, 40002, 80, FIN_WAIT1, FIN_WAIT2), &mut out);
        tr.apply(&st(80_004, CLIENT, 40002, 80, FIN_WAIT2, CLOSE), &mut out);
        assert_eq!(names(&out).last().unwrap(), "40002 FIN_WAIT2 -> CLOSE");
        assert_eq!(out.last().unwrap().lifetime.as_ref().unwrap().closed_by, Closer::Local);
        assert!(tr.is_empty());
    }

    #[test]
    fn timewait_not_derived_when_the_kernel_reports_it() {
        use state::*;
        let mut tr = Tracker::new();
        tr.set_kernel_timewait(true);
        let mut out = Vec::new();
        connect(&mut tr, &mut out, 0, CLIENT, 40000);
        tr.apply(&st(1, CLIENT, 40000, 80, SYN_SENT, ESTABLISHED), &mut out);
        tr.apply(&st(2, CLIENT, 40000, 80, ESTABLISHED, FIN_WAIT1), &mut out);
        tr.apply(&st(3, CLIENT, 40000, 80, FIN_WAIT1, FIN_WAIT2), &mut out);
        // No TW_START: no timewait socket (tcp_max_tw_buckets reached).
        tr.apply(&st(4, CLIENT, 40000, 80, FIN_WAIT2, CLOSE), &mut out);
        assert_eq!(names(&out).last().unwrap(), "40000 FIN_WAIT2 -> CLOSE");
        assert!(tr.is_empty());
    }

    #[test]
    fn reset_after_the_handshake() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        connect(&mut tr, &mut out, 0, CLIENT, 40000);
        tr.apply(&st(1, CLIENT, 40000, 80, SYN_SENT, ESTABLISHED), &mut out);
        tr.apply(&ev(sock_kind::RESET_RX, 5, CLIENT, 40000, 80, 0, ""), &mut out);
        tr.apply(&st(5, CLIENT, 40000, 80, ESTABLISHED, CLOSE), &mut out);
        assert_eq!(out[2].lifetime.as_ref().unwrap().closed_by, Closer::Reset);
        assert_eq!(tr.incidents().count(), 0);
    }

    #[test]
    fn seeded_sockets_carry_their_owners() {
        use state::*;
        let mut tr = Tracker::new();
        let owner = |pid, c: &str| {
            Some(Owner {
                pid,
                comm: Comm::from(c),
            })
        };
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        let mapped = |a, b, c, d| IpAddr::V6(Ipv4Addr::new(a, b, c, d).to_ipv6_mapped());
        tr.seed_at(
            vec![
                SocketInfo {
                    netns: NS,
                    tuple: Tuple {
                        src: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        sport: 80,
                        dst: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        dport: 0,
                    },
                    state: LISTEN,
                    owner: owner(300, "nginx"),
                    since_ns: None,
                    inode: 11,
                },
                SocketInfo {
                    netns: NS,
                    tuple: Tuple {
                        src: v4(10, 0, 0, 2),
                        sport: 80,
                        dst: v4(10, 0, 0, 1),
                        dport: 39999,
                    },
                    state: CLOSE_WAIT,
                    owner: owner(301, "nginx"),
                    since_ns: None,
                    inode: 12,
                },
            ],
            0,
        );
        assert_eq!(tr.snapshot(Some(NS)).len(), 2);
        let mut out = Vec::new();
        // A dual-stack child of the seeded listener: IPv4-mapped addresses become IPv4.
        let mut child = ev(sock_kind::STATE, 100, CHILD, 80, 40000, 0, "swapper/0");
        child.family = AF_INET6;
        child.saddr = Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped().octets();
        child.daddr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets();
        child.oldstate = LISTEN;
        child.newstate = SYN_RECV;
        tr.apply(&child, &mut out);
        assert_eq!(out[0].tuple.src, mapped(10, 0, 0, 2).to_canonical());
        assert_eq!(out[0].tuple.src, v4(10, 0, 0, 2));
        assert_eq!(owner_pids(&out), [Some(300)]);
        // The seeded CLOSE_WAIT socket is named by its first event.
        out.clear();
        tr.apply(
            &server(st(200, LISTENER + 8, 80, 39999, CLOSE_WAIT, LAST_ACK)),
            &mut out,
        );
        tr.apply(&server(st(201, LISTENER + 8, 80, 39999, LAST_ACK, CLOSE)), &mut out);
        assert_eq!(names(&out), ["80 CLOSE_WAIT -> LAST_ACK", "80 LAST_ACK -> CLOSE"]);
        assert_eq!(owner_pids(&out), [Some(301), Some(301)]);
        assert_eq!(out[0].ms_in_old, None);
        assert_eq!(out[1].ms_in_old, Some(1.0));
        assert!(out[1].lifetime.is_none(), "its start was not seen");
        let left: Vec<u8> = tr.snapshot(None).iter().map(|s| s.state).collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&LISTEN) && left.contains(&SYN_RECV));
    }

    #[test]
    fn listener_from_before_the_start_learned_from_accept() {
        use state::*;
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        let child = |tr: &mut Tracker, out: &mut Vec<Transition>, sk: u64, ts: u64, port: u16| {
            let mut e = server(ev(sock_kind::STATE, ts, sk, 80, port, 100, "curl"));
            e.oldstate = LISTEN;
            e.newstate = SYN_RECV;
            tr.apply(&e, out);
        };
        child(&mut tr, &mut out, CHILD, 0, 40000);
        tr.apply(
            &server(ev(sock_kind::ACCEPT, 1, CHILD, 80, 40000, 500, "server")),
            &mut out,
        );
        child(&mut tr, &mut out, CHILD + 64, 2, 40001);
        assert_eq!(owner_pids(&out), [None, Some(500)]);
        // A held line is printed at exit.
        out.clear();
        let mut e = ev(sock_kind::STATE, 3, CLIENT, 0, 80, 100, "curl");
        e.oldstate = CLOSE;
        e.newstate = SYN_SENT;
        tr.apply(&e, &mut out);
        tr.flush_held(&mut out);
        assert_eq!(names(&out), ["0 CLOSE -> SYN_SENT"]);
        // The listener closes: what was learned about it is forgotten.
        out.clear();
        let mut e = server(ev(sock_kind::STATE, 4, LISTENER, 80, 0, 500, "server"));
        e.daddr = [0; 16];
        e.oldstate = LISTEN;
        e.newstate = CLOSE;
        tr.apply(&e, &mut out);
        child(&mut tr, &mut out, CHILD + 128, 5, 40002);
        assert_eq!(owner_pids(&out), [None, None]);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        for kind in 0..=12u8 {
            for (old, new) in [(0u8, 0u8), (7, 7), (99, 200), (10, 7), (5, 7), (7, 2)] {
                let mut e = ev(kind, 5, CLIENT, 0, 0, 0, "");
                e.oldstate = old;
                e.newstate = new;
                e.family = kind;
                tr.apply(&e, &mut out);
                tr.apply(&st(6, CLIENT, 1, 2, old, new), &mut out);
            }
        }
        tr.tick(u64::MAX, &mut out);
        tr.tick(0, &mut out);
        let _ = tr.snapshot(None);
    }

    /// The cost of the once-a-second snapshot and diagnoses with many
    /// derived TIME_WAIT entries (what a connection churn leaves). Run with
    /// `cargo test --release -p tracer --lib cost_of_the_diagnoses -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: run in release mode and read the figures"]
    fn cost_of_the_diagnoses() {
        use std::time::{Duration, Instant};

        use state::*;

        use crate::states::{diag, sysctl::Sysctls};
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        const CONNS: u64 = 30_000;
        for i in 0..CONNS {
            let (t, sk, port) = (i / 10, CLIENT + i * 64, 32768 + (i % 28000) as u16);
            connect(&mut tr, &mut out, t, sk, port);
            tr.apply(&st(t, sk, port, 80, SYN_SENT, ESTABLISHED), &mut out);
            tr.apply(&st(t, sk, port, 80, ESTABLISHED, FIN_WAIT1), &mut out);
            tr.apply(&st(t, sk, port, 80, FIN_WAIT1, FIN_WAIT2), &mut out);
            tr.apply(&st(t, sk, port, 80, FIN_WAIT2, CLOSE), &mut out);
        }
        for i in 0..200 {
            let sk = CHILD + i * 64;
            let mut e = server(ev(sock_kind::STATE, 3000, sk, 80, 50000 + i as u16, 0, ""));
            e.oldstate = LISTEN;
            e.newstate = SYN_RECV;
            tr.apply(&e, &mut out);
            tr.apply(
                &server(st(3000, sk, 80, 50000 + i as u16, SYN_RECV, ESTABLISHED)),
                &mut out,
            );
        }
        let mut sys = Sysctls::unknown();
        sys.set(crate::states::sysctl::Sysctl::TcpMaxTwBuckets, "262144");
        sys.set(crate::states::sysctl::Sysctl::IpLocalPortRange, "32768 60999");
        let cfg = diag::DiagConfig::default();
        let now = 4000 * MSEC;
        const ROUNDS: u32 = 20;
        // As the runner does it: one buffer, reused.
        let mut snap = Vec::new();
        let (mut in_snapshot, mut in_diagnose, mut alerts) = (Duration::ZERO, Duration::ZERO, 0);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            tr.snapshot_into(None, true, &mut snap);
            let mid = Instant::now();
            alerts = diag::diagnose(now, &snap, tr.incidents(), &sys, &cfg).len();
            in_snapshot += mid - start;
            in_diagnose += mid.elapsed();
        }
        assert!(alerts >= 1, "the TIME_WAIT count is over its threshold");
        let per = |d: Duration| {
            (
                d.as_secs_f64() * 1e3 / f64::from(ROUNDS),
                d.as_nanos() as f64 / f64::from(ROUNDS) / tr.len() as f64,
            )
        };
        eprintln!(
            "{} sockets: snapshot {:.2} ms ({:.0} ns/socket), diagnoses {:.2} ms ({:.0} ns/socket), {alerts} alerts",
            tr.len(),
            per(in_snapshot).0,
            per(in_snapshot).1,
            per(in_diagnose).0,
            per(in_diagnose).1,
        );
    }

    /// The cost of the tracker and the formatters per kernel event, on a
    /// churn of short connections (both ends traced: 16 events each). Run
    /// with `cargo test --release -p tracer --lib cost_per_event -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: run in release mode and read the figures"]
    fn cost_per_event() {
        use std::{hint::black_box, time::Instant};

        use state::*;

        use crate::{
            capture::clock::Clock,
            print::{PrintOptions, Printer},
            states::format,
        };
        const CONNS: u64 = 62_500;
        let mut events = Vec::with_capacity(CONNS as usize * 16);
        for i in 0..CONNS {
            let t = i * 10;
            let port = 1024 + (i % 60000) as u16;
            let (c, ch, rq, tw) = (CLIENT + i * 64, CHILD + i * 64, REQ + i * 64, TW + i * 64);
            let with = |mut e: SockEvent, old, new| {
                e.oldstate = old;
                e.newstate = new;
                e
            };
            let mut req = server(ev(sock_kind::REQ_START, t + 1, rq, 80, port, 0, ""));
            req.aux = LISTENER;
            let mut tws = ev(sock_kind::TW_START, t + 7, c, port, 80, 0, "");
            tws.aux = tw;
            tws.newstate = TIME_WAIT;
            events.extend([
                with(ev(sock_kind::STATE, t, c, 0, 80, 100, "curl"), CLOSE, SYN_SENT),
                ev(sock_kind::CONNECT, t, c, port, 80, 100, "curl"),
                req,
                server(st(t + 1, ch, 80, port, LISTEN, SYN_RECV)),
                server(ev(sock_kind::REQ_END, t + 1, rq, 80, port, 0, "")),
                st(t + 2, c, port, 80, SYN_SENT, ESTABLISHED),
                server(st(t + 2, ch, 80, port, SYN_RECV, ESTABLISHED)),
                server(ev(sock_kind::ACCEPT, t + 3, ch, 80, port, 200, "python3")),
                st(t + 5, c, port, 80, ESTABLISHED, FIN_WAIT1),
                server(st(t + 5, ch, 80, port, ESTABLISHED, CLOSE_WAIT)),
                st(t + 5, c, port, 80, FIN_WAIT1, FIN_WAIT2),
                server(st(t + 6, ch, 80, port, CLOSE_WAIT, LAST_ACK)),
                tws,
                st(t + 7, c, port, 80, FIN_WAIT2, CLOSE),
                server(st(t + 7, ch, 80, port, LAST_ACK, CLOSE)),
                ev(sock_kind::TW_END, t + 8, tw, port, 80, 0, ""),
            ]);
        }
        let n = events.len() as f64;
        let clock = Clock::new();
        let mut printer = Printer::new(PrintOptions::default());
        for json in [false, true] {
            let mut tr = Tracker::new();
            let mut out = Vec::new();
            listen(&mut tr, &mut out);
            let (mut line, mut prefix, mut lines) = (Vec::with_capacity(1024), Vec::with_capacity(64), 0u64);
            let start = Instant::now();
            for e in &events {
                tr.apply(e, &mut out);
                for t in out.drain(..) {
                    line.clear();
                    let wall = clock.to_wall(t.ts_ns);
                    if json {
                        format::write_json(&mut line, wall, &t);
                    } else {
                        prefix.clear();
                        printer.write_timestamp(&mut prefix, wall);
                        format::write_text(&mut line, &prefix, &t);
                    }
                    lines += 1;
                    black_box(&line);
                }
            }
            let el = start.elapsed();
            assert_eq!(tr.len(), 1, "only the listener is left");
            eprintln!(
                "{}: {} events, {lines} transitions, {:.0} ns/event ({:.0} ns/transition)",
                if json { "json" } else { "text" },
                events.len(),
                el.as_nanos() as f64 / n,
                el.as_nanos() as f64 / lines as f64
            );
        }
        let mut tr = Tracker::new();
        let mut out = Vec::new();
        listen(&mut tr, &mut out);
        let start = Instant::now();
        for e in &events {
            tr.apply(e, &mut out);
            out.clear();
        }
        eprintln!("tracker alone: {:.0} ns/event", start.elapsed().as_nanos() as f64 / n);
    }
}
