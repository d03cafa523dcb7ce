//! A live capture session: attach, drain the rings, print and write, detach,
//! report tcpdump's summary.

use std::{
    io::{self, BufWriter, IsTerminal as _, Write},
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aya::maps::{MapData, RingBuf};
use caps::Capability;
use tokio::io::{Interest, unix::AsyncFd};
use tracer_common::{MAX_SNAPLEN, PacketHeader, SockEvent, names};

use crate::{
    capture::{
        CaptureError,
        clock::Clock,
        counters::{CounterMap, Counters},
        filter::{self as kfilter, KernelFilterError},
        iface::{self, Interface},
        link::{self, LINKTYPE_LINUX_SLL2},
        load::{self, Direction, Ingress, LoadOptions, PacketProgram, Programs, TcMechanism, ring_size},
        preflight, record,
        staterings::StateRings,
    },
    filter::Filter,
    pcap::{
        rotate::Rotation,
        sink::{CaptureWriter, CaptureWriterError, Format, OutPacket, WriterConfig, WriterInterface, Written},
        write::{WriteError, is_stdout},
    },
    print::{PrintOptions, Printer},
    privdrop::{Account, PrivDropError},
    signals,
    states::{
        format,
        model::Transition,
        namespaces,
        tracker::{Tracker, monotonic_ns},
    },
};

/// How often the rings are drained when no forced wakeup arrives. Records are
/// submitted without waking the reader; this bounds the printing latency.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often the monotonic→wall-clock offset is measured again.
const RECALIBRATE_EVERY: u32 = 500;

/// What a live capture does.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Interface names; empty = tcpdump's default; `any` = all that are up.
    pub interfaces: Vec<String>,
    pub snaplen: u32,
    pub count: Option<u64>,
    pub write: Option<PathBuf>,
    pub print_packets: bool,
    pub states: bool,
    pub line_buffered: bool,
    pub buffer_kib: Option<u64>,
    pub nano: bool,
    pub print: PrintOptions,
    /// `--pcapng` (a `-w` name ending in `.pcapng` also selects pcapng).
    pub pcapng: bool,
    /// `-U`: flush the `-w` output after every packet.
    pub packet_buffered: bool,
    /// `-Z`: the user to switch to once everything is attached.
    pub user: Option<String>,
    /// `-C`, `-W`, `-G`.
    pub rotation: Rotation,
    /// The capture filter; the kernel programs run it (recompiled for the frames they see)
    /// before copying anything.
    pub filter: Option<Filter>,
    /// Which program sees incoming packets (`--xdp`: XDP; TCX ingress by default).
    pub ingress: Ingress,
    /// `-Q`: received packets, sent ones, or both.
    pub direction: Direction,
}

/// tcpdump's exit report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub captured: u64,
    pub counters: Counters,
    /// Which program saw incoming packets.
    pub ingress: Ingress,
    /// The TC programs were classic tc filters (no TCX on this kernel).
    pub classic_tc: bool,
    /// `-Q`: which hooks were attached.
    pub direction: Direction,
    /// `-G` with `-W`: the capture stopped because this many files were written.
    pub file_limit: Option<u32>,
}

impl Summary {
    /// The three lines tcpdump prints on stderr at exit (plus one for lost
    /// state events, so that no loss is silent).
    pub fn text(&self, states: bool) -> String {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let c = &self.counters;
        let mut s = self
            .file_limit
            .map(|n| format!("Maximum file limit reached: {n}\n"))
            .unwrap_or_default();
        s += &format!(
            "{} packet{} captured\n{} packet{} received by filter\n{} packet{} dropped by kernel\n",
            self.captured,
            plural(self.captured),
            c.packets_matched(),
            plural(c.packets_matched()),
            c.packets_lost(),
            plural(c.packets_lost()),
        );
        if states {
            s.push_str(&format!(
                "{} state event{} seen, {} dropped by kernel\n",
                c.state_seen,
                plural(c.state_seen),
                c.state_lost
            ));
        }
        s
    }

    /// `--stats`: one line per packet hook.
    pub fn stats_text(&self) -> String {
        let ingress = (self.direction != Direction::Out).then(|| self.ingress.label(self.classic_tc));
        let egress = (self.direction != Direction::In).then(|| load::egress_label(self.classic_tc));
        self.counters.stats_text(ingress, egress)
    }
}

/// Errors of a running capture.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Filter(#[from] KernelFilterError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Writer(#[from] CaptureWriterError),
    #[error("standard output: {0}")]
    Stdout(io::Error),
    #[error("{what}: {err}")]
    Io { what: &'static str, err: io::Error },
    #[error(transparent)]
    Privileges(#[from] PrivDropError),
}

/// Resolves `-i` arguments to interfaces (tcpdump's default when none).
pub fn resolve_interfaces(names: &[String]) -> Result<(Vec<Interface>, bool), CaptureError> {
    if names.is_empty() {
        return Ok((vec![iface::default_interface()?], false));
    }
    if names.iter().any(|n| n == "any") {
        let up: Vec<Interface> = iface::all()?.into_iter().filter(|i| i.up).collect();
        if up.is_empty() {
            return Err(CaptureError::NoDefaultInterface);
        }
        return Ok((up, true));
    }
    let mut out: Vec<Interface> = Vec::new();
    for name in names {
        let i = iface::lookup(name)?;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok((out, false))
}

/// Runs a live capture until SIGINT/SIGTERM or `-c`. `ready` gets the
/// "listening on" line once everything is attached; `note` gets what the
/// user should know about how it is attached and detached (classic tc where
/// the kernel has no TCX, filters a killed tracer left behind).
///
/// The stop signals are those of [`signals`] ([`signals::install`]ed by `main` before anything
/// else, and held during the start-up): between the start-up steps (before loading, after
/// loading each packet program, after each interface's hooks are attached, after the state
/// hook) a signal that came meanwhile stops the capture there. What was attached is detached, nothing is
/// written (no `-w` file is created, no "listening on" line printed) and the summary counts
/// what the programs saw, as for a stop in the main loop.
pub async fn run(cfg: LiveConfig, ready: impl FnOnce(&str), mut note: impl FnMut(&str)) -> Result<Summary, LiveError> {
    // Readable once a stop signal came (it stays readable); the loop also looks at the flag
    // after every wake-up, so a stop is seen within a poll interval whatever wakes it.
    // Fails at once when `signals::install` was not called.
    let wake = signals::wake_fd().map_err(|err| LiveError::Io {
        what: "the signal pipe",
        err,
    })?;
    // SAFETY: the descriptor is a duplicate this AsyncFd owns: it stays open as long as the
    // AsyncFd lives, and nobody else closes it.
    let stop = unsafe { AsyncFd::register_with_interest(wake, Interest::READABLE) }.map_err(|e| LiveError::Io {
        what: "polling the signal pipe",
        err: e.into(),
    })?;
    let (ifaces, any) = resolve_interfaces(&cfg.interfaces)?;
    let account = cfg.user.as_deref().map(Account::lookup).transpose()?;
    preflight::check_privileges(true)?;
    preflight::check_btf()?;
    if cfg.states {
        preflight::ensure_tracefs()?;
    }
    for i in &ifaces {
        if !i.has_ethernet_header() && i.arphrd != iface::ARPHRD_NONE {
            return Err(CaptureError::UnsupportedLink {
                name: i.name.clone(),
                arphrd: i.arphrd,
            }
            .into());
        }
    }
    let linktype = link::linktype_for(&ifaces, any);
    if signals::checkpoint() {
        return stopped_in_startup(&cfg, None, None, None, &mut note);
    }

    let packet_ring = cfg.buffer_kib.map_or(8 << 20, |k| k.saturating_mul(1024));
    let filter = match &cfg.filter {
        Some(f) => Some(kfilter::for_kernel(f, &ifaces, linktype, cfg.snaplen)?),
        None => None,
    };
    let mut programs = Programs::load_with_filter(
        &LoadOptions {
            snaplen: cfg.snaplen.min(MAX_SNAPLEN),
            packet_ring_bytes: ring_size(packet_ring.max(4 * u64::from(MAX_SNAPLEN))),
            state_ring_bytes: ring_size(1 << 20),
            sockets: cfg.states,
        },
        filter.as_ref(),
    )?;
    let mut packets = pollable(programs.take_ring(names::PACKETS)?)?;
    let mut state_ring = if cfg.states {
        Some(pollable(programs.take_ring(names::STATES)?)?)
    } else {
        None
    };
    let state_rings = if cfg.states {
        Some(programs.take_state_rings()?)
    } else {
        None
    };
    let counter_map = programs.take_counters()?;
    // One verification at a time, each followed by a look for a stop signal (held meanwhile:
    // see `signals`), then the hooks, interface by interface.
    for program in PacketProgram::needed(&ifaces, cfg.ingress, cfg.direction) {
        if signals::checkpoint() {
            return stopped_in_startup(
                &cfg,
                Some(programs),
                Some(&counter_map),
                state_rings.as_ref(),
                &mut note,
            );
        }
        programs.load_packet_program(program)?;
    }
    for i in &ifaces {
        if signals::checkpoint() {
            return stopped_in_startup(
                &cfg,
                Some(programs),
                Some(&counter_map),
                state_rings.as_ref(),
                &mut note,
            );
        }
        let attached = programs.attach_packet_hooks(i, cfg.ingress, cfg.direction);
        for line in programs.take_notes() {
            note(&line);
        }
        attached?;
    }
    // Sockets open before the start, seeded before the state hook is attached (an event
    // wins over the seed): their owners, and a listener's for the connections it accepts.
    let seeded = if cfg.states {
        namespaces::snapshot_all().0
    } else {
        Vec::new()
    };
    if cfg.states {
        if signals::checkpoint() {
            return stopped_in_startup(
                &cfg,
                Some(programs),
                Some(&counter_map),
                state_rings.as_ref(),
                &mut note,
            );
        }
        if let Some(note) = programs.attach_state_hook()?.note() {
            eprintln!("tracer: {note}");
        }
    }
    if signals::checkpoint() {
        return stopped_in_startup(
            &cfg,
            Some(programs),
            Some(&counter_map),
            state_rings.as_ref(),
            &mut note,
        );
    }

    if let Some(account) = &account {
        // Removing classic tc filters at the end needs CAP_NET_ADMIN; nothing else does.
        let keep: &[Capability] = if matches!(programs.tc_mechanism(), Some(TcMechanism::Classic(_))) {
            &[Capability::CAP_NET_ADMIN]
        } else {
            &[]
        };
        account.switch(keep)?;
    }
    let pcap = match &cfg.write {
        Some(path) => Some(CaptureWriter::create(
            WriterConfig {
                path: path.clone(),
                format: Format::choose(path, cfg.pcapng),
                linktype,
                interfaces: ifaces
                    .iter()
                    .map(|i| WriterInterface {
                        ifindex: i.index,
                        name: i.name.clone(),
                        linktype: link::linktype_for(std::slice::from_ref(i), false),
                        loopback: i.loopback,
                    })
                    .collect(),
                snaplen: cfg.snaplen,
                nano: cfg.nano,
                packet_buffered: cfg.packet_buffered,
                rotation: cfg.rotation,
                owners: true,
            },
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )?),
        None => None,
    };
    // With the capture itself on standard output (`-w -`), every line goes to stderr.
    let pcap_on_stdout = cfg.write.as_deref().is_some_and(is_stdout);
    let mut printer = Printer::new(cfg.print.clone());
    for i in &ifaces {
        printer.set_interface_name(i.index, &i.name);
    }
    // tcpdump looks up the network of the device it opened (none for `any`).
    if let (false, Some(first)) = (any, ifaces.first())
        && let Some((net, mask)) = iface::local_net(&first.name)
    {
        printer.set_local_net(net, mask);
    }
    let stdout = io::stdout();
    let flush_each = cfg.line_buffered || (!pcap_on_stdout && stdout.is_terminal());
    let text_out: Box<dyn Write + '_> = if pcap_on_stdout {
        Box::new(io::stderr().lock())
    } else {
        Box::new(stdout.lock())
    };
    let mut sink = Sink {
        printer,
        print_packets: cfg.print_packets,
        pcap,
        out: BufWriter::with_capacity(1 << 16, text_out),
        line: Vec::with_capacity(4096),
        frame: Vec::with_capacity(MAX_SNAPLEN as usize + 64),
        linktype,
        ifaces: ifaces.clone(),
        clock: Clock::new(),
        captured: 0,
        file_limit: None,
        limit: cfg.count,
        flush_each,
        pending: Vec::new(),
        state_rings,
        tracker: {
            // One line per tracepoint event: no derived TIME_WAIT here.
            let mut t = Tracker::new();
            t.set_derive_timewait(false);
            t.seed(seeded);
            t
        },
        transitions: Vec::new(),
        prefix: Vec::new(),
        lines: format::LineWriter::new(false),
    };

    let name = if any {
        "any".to_owned()
    } else {
        ifaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(",")
    };
    ready(&format!(
        "listening on {name}, link-type {}, snapshot length {} bytes",
        link::describe(linktype),
        cfg.snaplen
    ));

    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    let mut done = false;
    // From here on signals are handled as they come; one that came during the start-up (after
    // the last checkpoint) stops the loop before it waits.
    signals::release();
    while !done && !signals::requested() {
        tokio::select! {
            _ = stop.readable() => break,
            guard = packets.readable_mut() => {
                if let Ok(mut g) = guard { g.clear_ready(); }
            }
            guard = async { state_ring.as_mut().expect("guarded by the condition").readable_mut().await },
                if state_ring.is_some() => {
                if let Ok(mut g) = guard { g.clear_ready(); }
            }
            _ = tick.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(RECALIBRATE_EVERY) {
                    sink.clock.calibrate();
                }
            }
        }
        done = sink.drain(packets.get_mut(), state_ring.as_mut().map(AsyncFd::get_mut))?;
    }

    let classic_tc = matches!(programs.tc_mechanism(), Some(TcMechanism::Classic(_)));
    // Detach (classic tc filters removed, then dropping the programs closes the
    // links); the maps stay readable.
    for line in programs.detach_classic() {
        note(&line);
    }
    drop(programs);
    if !done {
        // Whatever the rings still hold was captured before we stopped.
        sink.drain(packets.get_mut(), state_ring.as_mut().map(AsyncFd::get_mut))?;
        // Stopped by a signal: tcpdump ends its output with an extra newline, "in case we
        // were interrupted in the middle of a line", but only when it prints instead of writing
        // a file: with -w (a file or `-`, with --print or not) it writes nothing more.
        if cfg.write.is_none() {
            sink.out.write_all(b"\n").map_err(LiveError::Stdout)?;
        }
    }
    let mut counters = Counters::read(&counter_map)?;
    // The tp_btf program counts what it writes in the rings themselves.
    counters.state_seen += sink.state_rings.as_ref().map_or(0, StateRings::records_written);
    sink.finish()?;
    Ok(Summary {
        captured: sink.captured,
        counters,
        ingress: cfg.ingress,
        classic_tc,
        direction: cfg.direction,
        file_limit: sink.file_limit,
    })
}

/// The end of a capture a stop signal interrupted during its start-up: classic tc filters
/// removed (their notes told), the programs dropped (which closes every bpf link), and the
/// summary of what the programs saw meanwhile (nothing was captured). As after a stop in the
/// main loop, tcpdump's extra newline goes to standard output when packets are printed.
fn stopped_in_startup(
    cfg: &LiveConfig,
    programs: Option<Programs>,
    counter_map: Option<&CounterMap>,
    state_rings: Option<&StateRings>,
    note: &mut impl FnMut(&str),
) -> Result<Summary, LiveError> {
    let mut classic_tc = false;
    if let Some(mut programs) = programs {
        classic_tc = matches!(programs.tc_mechanism(), Some(TcMechanism::Classic(_)));
        for line in programs.detach_classic() {
            note(&line);
        }
        drop(programs);
    }
    let mut counters = match counter_map {
        Some(map) => Counters::read(map)?,
        None => Counters::default(),
    };
    counters.state_seen += state_rings.map_or(0, StateRings::records_written);
    if cfg.write.is_none() {
        let mut out = io::stdout().lock();
        out.write_all(b"\n")
            .and_then(|()| out.flush())
            .map_err(LiveError::Stdout)?;
    }
    Ok(Summary {
        captured: 0,
        counters,
        ingress: cfg.ingress,
        classic_tc,
        direction: cfg.direction,
        file_limit: None,
    })
}

/// Registers a ring buffer with tokio so a forced wakeup wakes the loop.
fn pollable(ring: RingBuf<MapData>) -> Result<AsyncFd<RingBuf<MapData>>, LiveError> {
    // SAFETY: the RingBuf owns its descriptor, which stays open as long as the
    // AsyncFd (its owner) lives, and nobody else closes it.
    unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }.map_err(|e| LiveError::Io {
        what: "polling a ring buffer",
        err: e.into(),
    })
}

/// Where drained events go.
struct Sink<'a> {
    /// Formats packet lines, and the timestamps of state lines.
    printer: Printer,
    print_packets: bool,
    pcap: Option<CaptureWriter>,
    /// Packet and state lines: standard output, or standard error with `-w -`.
    out: BufWriter<Box<dyn Write + 'a>>,
    /// Reused buffer for printed lines.
    line: Vec<u8>,
    /// Reused buffer for SLL2 framing.
    frame: Vec<u8>,
    linktype: u32,
    ifaces: Vec<Interface>,
    clock: Clock,
    captured: u64,
    /// Set when `-G` with `-W` ended the capture.
    file_limit: Option<u32>,
    limit: Option<u64>,
    flush_each: bool,
    /// State events drained but not yet printed, oldest first (only filled with --states).
    pending: Vec<SockEvent>,
    /// The per-CPU state rings (with --states).
    state_rings: Option<StateRings>,
    /// Owners, times in the old state, derived TIME_WAIT, lifetimes of --states lines.
    tracker: Tracker,
    transitions: Vec<Transition>,
    /// Reused buffer for the timestamp of state lines.
    prefix: Vec<u8>,
    /// Formats the state lines.
    lines: format::LineWriter,
}

impl Sink<'_> {
    /// Drains both rings; state lines are interleaved with packet lines in
    /// timestamp order. Returns true once `-c` is reached.
    fn drain(
        &mut self,
        packets: &mut RingBuf<MapData>,
        states: Option<&mut RingBuf<MapData>>,
    ) -> Result<bool, LiveError> {
        if let Some(ring) = states {
            while let Some(item) = ring.next() {
                if let Some(ev) = record::sock(&item)
                    && ev.kind == tracer_common::sock_kind::STATE
                {
                    self.pending.push(ev);
                }
            }
        }
        if let Some(rings) = self.state_rings.as_mut() {
            rings.drain_into(&mut self.pending);
            self.pending.sort_by_key(|e| e.ts_ns);
        }
        let mut reached = false;
        while let Some(item) = packets.next() {
            let Some((hdr, data)) = record::packet(&item) else {
                continue;
            };
            self.states_until(Some(hdr.ts_ns))?;
            self.packet(&hdr, data)?;
            if self.limit.is_some_and(|l| self.captured >= l)
                || self.file_limit.is_some()
                || self.pcap.as_ref().is_some_and(CaptureWriter::reader_gone)
            {
                reached = true;
                break;
            }
        }
        if !reached {
            self.states_until(None)?;
            // CLOSE -> SYN_SENT lines still waiting for their source port.
            self.tracker.tick(monotonic_ns(), &mut self.transitions);
            self.print_transitions()?;
        }
        self.out.flush().map_err(LiveError::Stdout)?;
        if let Some(p) = self.pcap.as_mut() {
            p.flush()?;
        }
        Ok(reached)
    }

    /// Prints pending state events up to `ts_ns` (all of them with `None`).
    fn states_until(&mut self, ts_ns: Option<u64>) -> Result<(), LiveError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = match ts_ns {
            Some(t) => self.pending.partition_point(|e| e.ts_ns <= t),
            None => self.pending.len(),
        };
        if n == 0 {
            return Ok(());
        }
        for ev in self.pending.drain(..n) {
            self.tracker.apply(&ev, &mut self.transitions);
        }
        self.print_transitions()
    }

    /// Prints the transitions the tracker made visible.
    fn print_transitions(&mut self) -> Result<(), LiveError> {
        for t in self.transitions.drain(..) {
            self.line.clear();
            self.prefix.clear();
            let ts = self.clock.to_wall(t.ts_ns);
            self.printer.write_timestamp(&mut self.prefix, ts);
            self.lines.write(&mut self.line, &self.prefix, ts, &t);
            self.out.write_all(&self.line).map_err(LiveError::Stdout)?;
        }
        Ok(())
    }

    fn packet(&mut self, hdr: &PacketHeader, data: &[u8]) -> Result<(), LiveError> {
        let ts = self.clock.to_wall(hdr.ts_ns);
        // SLL2 framing only where it is used: printing, or a pcap of several interfaces.
        let framing = self.linktype == LINKTYPE_LINUX_SLL2
            && (self.print_packets || self.pcap.as_ref().is_some_and(CaptureWriter::needs_framed));
        let (bytes, orig_len): (&[u8], u32) = if framing {
            let Some(iface) = self.ifaces.iter().find(|i| i.index == hdr.ifindex) else {
                return Ok(());
            };
            let orig = link::to_sll2(&mut self.frame, iface, hdr.direction, data, hdr.orig_len);
            (&self.frame, orig)
        } else {
            (data, hdr.orig_len)
        };
        if let Some(p) = self.pcap.as_mut() {
            let written = p.write(&OutPacket {
                ts,
                ifindex: hdr.ifindex,
                direction: hdr.direction,
                raw: data,
                raw_orig_len: hdr.orig_len,
                framed: bytes,
                framed_orig_len: orig_len,
            })?;
            if let Written::LimitReached(n) = written {
                self.file_limit = Some(n);
                return Ok(());
            }
        }
        self.captured += 1;
        if self.print_packets {
            self.line.clear();
            self.printer.print(&mut self.line, ts, self.linktype, bytes, orig_len);
            self.out.write_all(&self.line).map_err(LiveError::Stdout)?;
            if self.flush_each {
                self.out.flush().map_err(LiveError::Stdout)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), LiveError> {
        self.tracker.flush_held(&mut self.transitions);
        self.print_transitions()?;
        self.out.flush().map_err(LiveError::Stdout)?;
        if let Some(p) = self.pcap.as_mut() {
            p.flush()?;
        }
        Ok(())
    }
}
