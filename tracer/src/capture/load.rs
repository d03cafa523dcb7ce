//! Loading the kernel programs and attaching them with bpf links: XDP (native,
//! or generic when the driver has no XDP), TCX egress, the state tracepoint,
//! and the socket life-cycle hooks (fentry/fexit and `tcp:*` tracepoints). The
//! links live in the `Ebpf` object; if the process dies, even by SIGKILL, the
//! kernel closes their descriptors and detaches everything. Where the kernel
//! has no TCX, the TC programs are attached with classic tc filters instead
//! ([`super::tc`]), which outlive a killed process.

use std::{
    fmt,
    os::fd::{AsFd as _, BorrowedFd},
};

use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{
        BtfTracePoint, FEntry, FExit, SchedClassifier, TcAttachType, TracePoint, Xdp, XdpMode, links::LinkOrder,
        tc::TcAttachOptions,
    },
};
use tracer_common::{FileOffsets, SockOffsets, names, sock_kind};

use super::{
    CaptureError,
    btf::{self, BtfError},
    counters::CounterMap,
    filter::KernelFilter,
    iface::Interface,
    staterings::{self, StateRings},
    tc::{self as classic, ClassicTc},
    tpformat,
};

/// Least size of the `STATES` ring buffer.
const STATES_MIN_BYTES: u32 = 4 << 20;

/// Which program sees incoming packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ingress {
    /// TCX ingress: after GRO, where tcpdump's packet socket sees them; on a veth a
    /// third of what XDP costs (XDP there makes the kernel copy every frame, and
    /// turns on GRO, which changes what other captures see).
    #[default]
    Tcx,
    /// XDP: frames as the driver hands them over, before GRO and the stack.
    Xdp,
}

impl Ingress {
    /// The name in `--stats` lines (`classic_tc`: the TC program is a classic tc
    /// filter, where the kernel has no TCX).
    pub fn label(self, classic_tc: bool) -> &'static str {
        match self {
            Self::Tcx if classic_tc => "ingress (TC)",
            Self::Tcx => "ingress (TCX)",
            Self::Xdp => "ingress (XDP)",
        }
    }
}

/// The egress program's name in `--stats` lines.
pub fn egress_label(classic_tc: bool) -> &'static str {
    if classic_tc { "egress (TC)" } else { "egress (TCX)" }
}

/// Which packets to capture (tcpdump's `-Q`): received, sent, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    #[default]
    InOut,
}

impl Direction {
    /// `-Q`'s argument, as tcpdump spells it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in" => Some(Self::In),
            "out" => Some(Self::Out),
            "inout" => Some(Self::InOut),
            _ => None,
        }
    }

    fn inbound(self) -> bool {
        self != Self::Out
    }

    fn outbound(self) -> bool {
        self != Self::In
    }
}

/// What to load and how big the rings are.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Bytes of each packet to copy (already capped to `MAX_SNAPLEN`).
    pub snaplen: u32,
    /// Packet ring size in bytes (a power of two, multiple of the page size).
    pub packet_ring_bytes: u32,
    /// State ring size in bytes: the per-CPU rings' total (at least 1024
    /// events a CPU); the `STATES` ring buffer takes at least 4 MiB.
    pub state_ring_bytes: u32,
    /// Whether socket-state programs will be attached: only they need the kernel's BTF
    /// (struct offsets, fentry targets), whose parsing takes tens of milliseconds.
    pub sockets: bool,
}

/// How the TC programs are attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcMechanism {
    /// bpf links (kernel 6.6+): detached by the kernel when the process dies.
    Tcx,
    /// clsact qdisc and cls_bpf filters, and why.
    Classic(classic::Why),
}

/// The loaded object; dropping it detaches every program.
pub struct Programs {
    /// Classic tc filters, if any: first, so that dropping removes them
    /// before the programs' descriptors are closed.
    classic: ClassicTc,
    /// Decided at the first TC attach: TCX, or classic tc where the kernel
    /// has no TCX.
    tc_mechanism: Option<TcMechanism>,
    /// Lines for the user from attaching and detaching.
    notes: Vec<String>,
    ebpf: Ebpf,
    /// The running kernel's BTF, for loading fentry/fexit programs.
    kernel_btf: Option<Btf>,
    /// The offsets handed to the programs, or why there are none.
    offsets: Result<SockOffsets, BtfError>,
    /// CPUs and slots per CPU of the per-CPU state rings.
    state_cpus: u32,
    state_slots: u32,
}

/// What [`Programs::attach_state_hooks`] attached besides the state
/// tracepoint, and what it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateHooks {
    /// The state-change program.
    pub program: StateProgram,
    pub attached: Vec<Hook>,
    /// Hooks that failed. A failed fexit on connect/accept is replaced by the
    /// `syscalls:*` hooks; see [`StateHooks::missing_kinds`] for what is lost.
    pub failed: Vec<HookFailure>,
}

impl StateHooks {
    /// The [`sock_kind`]s no attached hook sends (a failed hook whose kind
    /// another hook covers does not count).
    pub fn missing_kinds(&self) -> Vec<u8> {
        let mut kinds: Vec<u8> = self
            .failed
            .iter()
            .map(|f| f.hook.kind())
            .filter(|k| !self.attached.iter().any(|h| h.kind() == *k))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }
}

/// Which program reports the state changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateProgram {
    /// `tp_btf/inet_sock_set_state` (the preferred one).
    #[default]
    Btf,
    /// The classic tracepoint `sock:inet_sock_set_state`, because the BTF one
    /// could not be used (why).
    Classic { btf_err: String },
}

impl StateProgram {
    /// The start-up line where the preferred program could not be used: what
    /// stands in and what it costs.
    pub fn note(&self) -> Option<String> {
        match self {
            Self::Btf => None,
            Self::Classic { btf_err } => Some(format!(
                "state changes from the classic tracepoint sock:inet_sock_set_state (tp_btf/inet_sock_set_state: \
                 {btf_err}): a helper call per socket field read, about three times the CPU per state change"
            )),
        }
    }
}

/// A socket life-cycle hook [`Programs::attach_state_hooks`] attaches besides
/// the state tracepoint. Each may be missing on other kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Connect4,
    Connect6,
    Accept,
    TwStart,
    TwEnd,
    ReqStart,
    ReqDrop,
    ReqDropPut,
    ResetRx,
    SynRetrans,
    SynackRetrans,
    /// `syscalls:sys_exit_accept` / `sys_exit_accept4`: ACCEPT where fexit
    /// `inet_csk_accept` fails (one program, two tracepoints).
    AcceptSys,
    Accept4Sys,
}

/// Where a [`Hook`] attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    FEntry(&'static str),
    FExit(&'static str),
    TracePoint(&'static str, &'static str),
}

impl Hook {
    pub const ALL: [Hook; 11] = [
        Hook::Connect4,
        Hook::Connect6,
        Hook::Accept,
        Hook::TwStart,
        Hook::TwEnd,
        Hook::ReqStart,
        Hook::ReqDrop,
        Hook::ReqDropPut,
        Hook::ResetRx,
        Hook::SynRetrans,
        Hook::SynackRetrans,
    ];

    /// Used only when the fexit hooks for connect/accept fail.
    pub const FALLBACKS: [Hook; 2] = [Hook::AcceptSys, Hook::Accept4Sys];

    /// The program's name in the object file.
    pub fn program(self) -> &'static str {
        match self {
            Hook::Connect4 => names::CONNECT4_PROG,
            Hook::Connect6 => names::CONNECT6_PROG,
            Hook::Accept => names::ACCEPT_PROG,
            Hook::TwStart => names::TW_START_PROG,
            Hook::TwEnd => names::TW_END_PROG,
            Hook::ReqStart => names::REQ_START_PROG,
            Hook::ReqDrop => names::REQ_DROP_PROG,
            Hook::ReqDropPut => names::REQ_DROP_PUT_PROG,
            Hook::ResetRx => names::RESET_RX_PROG,
            Hook::SynRetrans => names::SYN_RETRANS_PROG,
            Hook::SynackRetrans => names::SYNACK_RETRANS_PROG,
            Hook::AcceptSys | Hook::Accept4Sys => names::ACCEPT_SYS_PROG,
        }
    }

    pub fn target(self) -> Target {
        match self {
            Hook::Connect4 => Target::FExit("tcp_v4_connect"),
            Hook::Connect6 => Target::FExit("tcp_v6_connect"),
            Hook::Accept => Target::FExit("inet_csk_accept"),
            Hook::TwStart => Target::FEntry("inet_twsk_hashdance_schedule"),
            Hook::TwEnd => Target::FEntry("inet_twsk_free"),
            Hook::ReqStart => Target::FEntry("inet_csk_reqsk_queue_hash_add"),
            Hook::ReqDrop => Target::FEntry("inet_csk_reqsk_queue_drop"),
            Hook::ReqDropPut => Target::FEntry("inet_csk_reqsk_queue_drop_and_put"),
            Hook::ResetRx => Target::TracePoint("tcp", "tcp_receive_reset"),
            Hook::SynRetrans => Target::TracePoint("tcp", "tcp_retransmit_skb"),
            Hook::SynackRetrans => Target::TracePoint("tcp", "tcp_retransmit_synack"),
            Hook::AcceptSys => Target::TracePoint("syscalls", "sys_exit_accept"),
            Hook::Accept4Sys => Target::TracePoint("syscalls", "sys_exit_accept4"),
        }
    }

    /// The [`sock_kind`] of the events this hook sends.
    pub fn kind(self) -> u8 {
        match self {
            Hook::Connect4 | Hook::Connect6 => sock_kind::CONNECT,
            Hook::Accept | Hook::AcceptSys | Hook::Accept4Sys => sock_kind::ACCEPT,
            Hook::TwStart => sock_kind::TW_START,
            Hook::TwEnd => sock_kind::TW_END,
            Hook::ReqStart => sock_kind::REQ_START,
            Hook::ReqDrop | Hook::ReqDropPut => sock_kind::REQ_END,
            Hook::ResetRx => sock_kind::RESET_RX,
            Hook::SynRetrans => sock_kind::SYN_RETRANS,
            Hook::SynackRetrans => sock_kind::SYNACK_RETRANS,
        }
    }

    /// Kernel functions that do the job of the target's on kernels without it
    /// (an older name), taking the arguments the program reads in the same
    /// places. [`Programs::attach_state_hooks`] hooks the first of the target
    /// and these that the kernel's BTF has.
    pub fn older_functions(self) -> &'static [&'static str] {
        match self {
            // Until 6.8: inet_twsk_hashdance(tw, sk, hashinfo).
            Hook::TwStart => &["inet_twsk_hashdance"],
            _ => &[],
        }
    }

    /// The tracepoint fields the program reads, checked before attaching.
    fn format(self) -> Option<Vec<tpformat::Expected>> {
        match self {
            Hook::ResetRx => Some(tpformat::tcp_receive_reset()),
            Hook::SynRetrans => Some(tpformat::tcp_retransmit_skb()),
            Hook::SynackRetrans => Some(tpformat::tcp_retransmit_synack()),
            Hook::AcceptSys | Hook::Accept4Sys => Some(tpformat::sys_exit()),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::FEntry(func) => write!(f, "fentry {func}"),
            Target::FExit(func) => write!(f, "fexit {func}"),
            Target::TracePoint(category, name) => write!(f, "tracepoint {category}:{name}"),
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target().fmt(f)
    }
}

/// A hook [`Programs::attach_state_hooks`] could not attach; its events
/// (`hook.kind()`) will be missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookFailure {
    pub hook: Hook,
    pub why: Failure,
    pub err: String,
}

/// Why a hook could not be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The kernel refuses BPF trampolines (fentry/fexit loads return EPERM).
    Refused,
    /// The kernel has no such function, tracepoint, or tracepoint field: a
    /// fact of this kernel, with a documented replacement.
    Absent,
    /// Anything else (a verifier rejection, a field at another offset): a
    /// problem worth a warning.
    Other,
}

impl Failure {
    /// What a failed load or attach says about the kernel.
    fn of(e: &aya::programs::ProgramError) -> Self {
        use aya::programs::ProgramError as E;
        let os = match e {
            E::LoadError { io_error, .. } => io_error.raw_os_error(),
            E::SyscallError(s) => s.io_error.raw_os_error(),
            _ => None,
        };
        match os {
            Some(libc::EPERM) => Self::Refused,
            Some(libc::ENOENT) => Self::Absent,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.hook, self.err)
    }
}

/// A packet program, for [`Programs::load_packet_program`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketProgram {
    Xdp,
    TcIngress,
    TcEgress,
}

impl PacketProgram {
    /// The programs [`Programs::attach_packet_hooks`] attaches on `ifaces` with `ingress` and
    /// `direction`: the ingress program (XDP or TC) and the egress one where packets of that
    /// direction are wanted; on loopback the egress program alone, for received packets.
    pub fn needed(ifaces: &[Interface], ingress: Ingress, direction: Direction) -> Vec<PacketProgram> {
        let ingress_program = match ingress {
            Ingress::Xdp => PacketProgram::Xdp,
            Ingress::Tcx => PacketProgram::TcIngress,
        };
        let mut out = Vec::with_capacity(2);
        let mut add = |p: PacketProgram| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for i in ifaces {
            if i.loopback {
                if direction.inbound() {
                    add(PacketProgram::TcEgress);
                }
                continue;
            }
            if direction.inbound() {
                add(ingress_program);
            }
            if direction.outbound() {
                add(PacketProgram::TcEgress);
            }
        }
        out
    }
}

/// Rounds a requested ring size to what the kernel accepts.
pub fn ring_size(bytes: u64) -> u32 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    bytes.clamp(page.max(1 << 18), 1 << 30).next_power_of_two() as u32
}

impl Programs {
    /// Loads the object. The socket field offsets are resolved from the
    /// kernel's BTF here; when that fails the programs run without reading
    /// socket memory and [`Programs::sock_offsets`] says why.
    pub fn load(opts: &LoadOptions) -> Result<Self, CaptureError> {
        Self::load_with_filter(opts, None)
    }

    /// [`Programs::load`] with a capture filter for the packet programs, translated for the
    /// frames they see ([`super::filter::for_kernel`]) and written into their stubs.
    pub fn load_with_filter(opts: &LoadOptions, filter: Option<&KernelFilter>) -> Result<Self, CaptureError> {
        let object: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));
        let spliced = filter
            .map(|f| super::splice::splice(object, &f.stubs()))
            .transpose()
            .map_err(|e| CaptureError::Load { err: e.to_string() })?;
        let object = spliced.as_ref().map_or(object, |s| s.bytes());
        let filter_on = u32::from(filter.is_some());
        // aya's loader reads the kernel's BTF itself (`EbpfLoader::new`) for its relocations;
        // the socket-state programs need it again, for their attach points.
        let kernel_btf = if opts.sockets { Btf::from_sys_fs().ok() } else { None };
        // Without file offsets the accept fallback reports nothing.
        let (offsets, file_offsets) = match opts.sockets.then(btf::Btf::from_sys_fs) {
            Some(Ok(b)) => (btf::sock_offsets(&b), btf::file_offsets(&b).unwrap_or_default()),
            Some(Err(e)) => (Err(e), FileOffsets::default()),
            None => (Err(BtfError::NotRead), FileOffsets::default()),
        };
        let handed = offsets.as_ref().copied().unwrap_or_default();
        let wakeup_bytes = u64::from(opts.packet_ring_bytes / 4);
        // Read by tracer_syn_rtx where the kernel's tracepoint has the field.
        let retransmit_err = tpformat::retransmit_err_offset();
        let state_cpus = aya::util::nr_cpus()
            .map_err(|(_, e)| CaptureError::Load {
                err: format!("reading the number of possible CPUs: {e}"),
            })?
            .max(1) as u32;
        let state_slots = staterings::slots_per_cpu(u64::from(opts.state_ring_bytes), state_cpus);
        let ebpf = EbpfLoader::new()
            .override_global(names::SNAPLEN, &opts.snaplen, true)
            .override_global(names::FILTER_ON, &filter_on, true)
            .override_global(names::WAKEUP_BYTES, &wakeup_bytes, true)
            .override_global(names::SOCK_OFFSETS, &handed, true)
            .override_global(names::FILE_OFFSETS, &file_offsets, true)
            .override_global(names::RETRANSMIT_ERR_OFFSET, &retransmit_err, true)
            .map_max_entries(names::PACKETS, opts.packet_ring_bytes)
            // The other state ring: the tcp:* tracepoints' events, the
            // per-CPU rings' wakeups, and everything where the classic
            // tracepoint stands in for the BTF one.
            .map_max_entries(names::STATES, opts.state_ring_bytes.max(STATES_MIN_BYTES))
            .override_global(names::STATE_RING_SLOTS, &state_slots, true)
            .map_max_entries(names::STATE_RING, state_cpus * state_slots)
            .map_max_entries(names::STATE_RING_POS, state_cpus)
            .load(object)
            .map_err(CaptureError::load)?;
        Ok(Self {
            classic: ClassicTc::default(),
            tc_mechanism: None,
            notes: Vec::new(),
            ebpf,
            kernel_btf,
            offsets,
            state_cpus,
            state_slots,
        })
    }

    /// The kernel struct offsets the programs read socket fields at, or why
    /// they could not be resolved (then netns, byte counts and the tuples of
    /// fentry/fexit events are 0).
    pub fn sock_offsets(&self) -> Result<&SockOffsets, &BtfError> {
        self.offsets.as_ref()
    }

    /// Loads (has the kernel verify) one packet program without attaching it; attaching loads
    /// whatever is not loaded yet. Loading them one by one first lets a capture check for a
    /// stop signal between two verifications, which are the slow part of the start-up (seconds
    /// each with a filter: the interpreter's callback is checked in about 29,000 instructions).
    pub fn load_packet_program(&mut self, program: PacketProgram) -> Result<(), CaptureError> {
        match program {
            PacketProgram::Xdp => self.xdp().map(|_| ()),
            PacketProgram::TcIngress => load_tc(&mut self.ebpf, names::TC_INGRESS_PROG).map(|_| ()),
            PacketProgram::TcEgress => load_tc(&mut self.ebpf, names::TC_PROG).map(|_| ()),
        }
    }

    /// The ingress hook on `iface` (TCX ingress, or XDP with `ingress` = [`Ingress::Xdp`])
    /// and TCX egress, those `direction` asks for. On loopback only the egress hook is used:
    /// every looped packet is seen once, as tcpdump sees it, as a received packet (libpcap
    /// drops the sent copy), so `-Q out` sees nothing there, as with tcpdump. Where the
    /// kernel has no TCX the TC programs are attached with classic tc
    /// ([`Self::tc_mechanism`]). Filters a killed tracer left on `iface` are removed first;
    /// [`Self::take_notes`] tells what happened.
    pub fn attach_packet_hooks(
        &mut self,
        iface: &Interface,
        ingress: Ingress,
        direction: Direction,
    ) -> Result<(), CaptureError> {
        let sweep = self.classic.sweep(iface);
        self.notes.extend(sweep.notes(&iface.name, "start"));
        if iface.loopback {
            if direction.inbound() {
                self.attach_tc(names::TC_PROG, iface, TcAttachType::Egress)?;
            }
            return Ok(());
        }
        if !direction.inbound() {
            return self.attach_tc(names::TC_PROG, iface, TcAttachType::Egress);
        }
        if ingress == Ingress::Xdp {
            let xdp = self.xdp()?;
            // Native XDP first; generic (SKB) mode where the driver has none.
            if let Err(native) = xdp.attach_to_if_index(iface.index, XdpMode::default()) {
                xdp.attach_to_if_index(iface.index, XdpMode::Skb)
                    .map_err(|generic| CaptureError::Program {
                        what: format!("{}: attaching XDP", iface.name),
                        err: format!("{} (native mode: {})", super::chain(&generic), super::chain(&native)),
                    })?;
            }
        }
        if ingress == Ingress::Tcx {
            self.attach_tc(names::TC_INGRESS_PROG, iface, TcAttachType::Ingress)?;
        }
        if direction.outbound() {
            self.attach_tc(names::TC_PROG, iface, TcAttachType::Egress)?;
        }
        Ok(())
    }

    /// How the TC programs were attached (None before the first).
    pub fn tc_mechanism(&self) -> Option<TcMechanism> {
        self.tc_mechanism
    }

    /// What attaching or detaching has to tell the user, one line each (taken).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Removes the classic tc filters (and the qdisc tracer added, once no
    /// filter is left on it) now rather than on drop, and returns what the
    /// user should know. TCX and XDP links go when the object is dropped.
    pub fn detach_classic(&mut self) -> Vec<String> {
        let mut notes = self.take_notes();
        notes.extend(self.classic.detach_all());
        notes
    }

    /// Attaches a TC program: by TCX, or with classic tc where the kernel has no TCX (probed
    /// at the first attach, or forced by [`classic::ATTACH_ENV`]).
    fn attach_tc(&mut self, prog: &str, iface: &Interface, at: TcAttachType) -> Result<(), CaptureError> {
        let tc = load_tc(&mut self.ebpf, prog)?;
        let side = if at == TcAttachType::Ingress {
            "ingress"
        } else {
            "egress"
        };
        if self.tc_mechanism.is_none() && classic::forced() {
            self.tc_mechanism = Some(TcMechanism::Classic(classic::Why::Forced));
            self.notes.push(classic::classic_note(&classic::Why::Forced));
        }
        if !matches!(self.tc_mechanism, Some(TcMechanism::Classic(_))) {
            match tc.attach_with_options(&iface.name, at, TcAttachOptions::TcxOrder(LinkOrder::default())) {
                Ok(_) => {
                    self.tc_mechanism = Some(TcMechanism::Tcx);
                    return Ok(());
                }
                Err(e) => match classic::no_tcx(&e) {
                    Some(errno) if self.tc_mechanism.is_none() => {
                        let why = classic::Why::NoTcx(errno);
                        self.tc_mechanism = Some(TcMechanism::Classic(why));
                        self.notes.push(classic::classic_note(&why));
                    }
                    _ => {
                        return Err(CaptureError::program(format!("{}: attaching TCX {side}", iface.name))(
                            e,
                        ));
                    }
                },
            }
        }
        let notes = self.classic.attach(tc, iface, at).map_err(|e| CaptureError::Program {
            what: format!("{}: attaching {side} with classic tc", iface.name),
            err: e.to_string(),
        })?;
        self.notes.extend(notes);
        Ok(())
    }

    /// The XDP program, loaded into the kernel but attached nowhere: for measuring it with
    /// `BPF_PROG_TEST_RUN` ([`super::testrun`]).
    pub fn loaded_xdp(&mut self) -> Result<BorrowedFd<'_>, CaptureError> {
        let fd = self.xdp()?.fd().map_err(CaptureError::program(names::XDP_PROG))?;
        Ok(fd.as_fd())
    }

    /// A TC program ([`names::TC_INGRESS_PROG`] or [`names::TC_PROG`]), loaded into the kernel
    /// but attached nowhere: for measuring it with `BPF_PROG_TEST_RUN` ([`super::testrun`])
    /// and reading what the verifier did ([`super::proginfo`]).
    pub fn loaded_tc(&mut self, prog: &str) -> Result<BorrowedFd<'_>, CaptureError> {
        let fd = load_tc(&mut self.ebpf, prog)?
            .fd()
            .map_err(CaptureError::program(prog))?;
        Ok(fd.as_fd())
    }

    /// The XDP program, loaded into the kernel (once).
    fn xdp(&mut self) -> Result<&mut Xdp, CaptureError> {
        let xdp: &mut Xdp = self
            .ebpf
            .program_mut(names::XDP_PROG)
            .ok_or_else(|| missing(names::XDP_PROG))?
            .try_into()
            .map_err(CaptureError::program(names::XDP_PROG))?;
        if xdp.fd().is_err() {
            xdp.load().map_err(CaptureError::program("loading the XDP program"))?;
        }
        Ok(xdp)
    }

    /// The `sock:inet_sock_set_state` tracepoint alone (`--states` beside a
    /// packet capture); which program it is.
    pub fn attach_state_hook(&mut self) -> Result<StateProgram, CaptureError> {
        // The BTF tracepoint reads the socket with plain loads; the classic one
        // needs a helper call per field. It needs kernel BTF and the offsets.
        match self.attach_state_btf() {
            Ok(()) => Ok(StateProgram::Btf),
            Err(btf_err) => {
                self.attach_state_classic().map_err(|err| match err {
                    CaptureError::Program { what, err } => CaptureError::Program {
                        what,
                        err: format!("{err} (and tp_btf: {btf_err})"),
                    },
                    other => other,
                })?;
                Ok(StateProgram::Classic { btf_err })
            }
        }
    }

    /// `tp_btf/inet_sock_set_state` (see tracer-ebpf/src/sock_btf.rs).
    fn attach_state_btf(&mut self) -> Result<(), String> {
        if self.offsets.is_err() {
            return Err("kernel struct offsets unknown".into());
        }
        let btf = self.kernel_btf.as_ref().ok_or("no kernel BTF")?;
        let chain = |e: aya::programs::ProgramError| super::chain(&e);
        let prog: &mut BtfTracePoint = self
            .ebpf
            .program_mut(names::STATE_BTF_PROG)
            .ok_or_else(|| format!("{} is missing from the object file", names::STATE_BTF_PROG))?
            .try_into()
            .map_err(chain)?;
        prog.load("inet_sock_set_state", btf).map_err(chain)?;
        prog.attach().map_err(chain)?;
        Ok(())
    }

    /// The classic tracepoint `sock:inet_sock_set_state`.
    fn attach_state_classic(&mut self) -> Result<(), CaptureError> {
        const WHAT: &str = "tracepoint sock:inet_sock_set_state";
        tpformat::check_running("sock", "inet_sock_set_state", &tpformat::inet_sock_set_state()).map_err(|e| {
            CaptureError::Program {
                what: WHAT.into(),
                err: e.to_string(),
            }
        })?;
        let tp: &mut TracePoint = self
            .ebpf
            .program_mut(names::STATE_PROG)
            .ok_or_else(|| missing(names::STATE_PROG))?
            .try_into()
            .map_err(CaptureError::program(names::STATE_PROG))?;
        tp.load()
            .map_err(CaptureError::program("loading the tracepoint program"))?;
        tp.attach("sock", "inet_sock_set_state")
            .map_err(CaptureError::program(format!("attaching {WHAT}")))?;
        Ok(())
    }

    /// Everything state tracing needs and no packet hook: the state
    /// tracepoint (an error if it fails) and every [`Hook`]. A hook that
    /// cannot be loaded or attached (a kernel without the function, one that
    /// refuses fentry/fexit, another tracepoint layout) does not stop the
    /// others. Where fexit on accept fails, [`Self::attach_accept_syscalls`]
    /// can stand in, at a cost. (Connect needs nothing: the tracker takes the
    /// port from the socket's next event.)
    pub fn attach_state_hooks(&mut self) -> Result<StateHooks, CaptureError> {
        let program = self.attach_state_hook()?;
        let mut out = StateHooks {
            program,
            ..StateHooks::default()
        };
        for hook in Hook::ALL {
            self.attach_into(hook, &mut out);
        }
        Ok(out)
    }

    /// `syscalls:sys_exit_accept`/`accept4` ([`Hook::FALLBACKS`]) for ACCEPT
    /// where fexit `inet_csk_accept` cannot load. They follow the returned
    /// descriptor through the task's file table with a helper read per
    /// pointer (about 0.8 µs per accept on these VMs), and run on every
    /// accept() of the host, so they are opt-in.
    pub fn attach_accept_syscalls(&mut self, hooks: &mut StateHooks) {
        for hook in Hook::FALLBACKS {
            self.attach_into(hook, hooks);
        }
    }

    fn attach_into(&mut self, hook: Hook, out: &mut StateHooks) {
        match self.attach_hook(hook) {
            Ok(()) => out.attached.push(hook),
            Err((why, err)) => out.failed.push(HookFailure { hook, why, err }),
        }
    }

    /// Loads and attaches one hook; the error as one line, and what it says
    /// about the kernel.
    fn attach_hook(&mut self, hook: Hook) -> Result<(), (Failure, String)> {
        let chain = |e: aya::programs::ProgramError| (Failure::of(&e), super::chain(&e));
        let other = |e: &str| (Failure::Other, e.to_owned());
        if let Some(expected) = hook.format()
            && let Target::TracePoint(category, name) = hook.target()
        {
            tpformat::check_running(category, name, &expected).map_err(|e| {
                let why = match &e {
                    tpformat::FormatError::Missing { .. } => Failure::Absent,
                    tpformat::FormatError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                        Failure::Absent
                    }
                    _ => Failure::Other,
                };
                (why, e.to_string())
            })?;
        }
        let kernel_btf = self.kernel_btf.as_ref();
        let prog = self
            .ebpf
            .program_mut(hook.program())
            .ok_or_else(|| other(&format!("{} is missing from the object file", hook.program())))?;
        match hook.target() {
            Target::FEntry(func) => {
                let btf = kernel_btf.ok_or_else(|| other("no kernel BTF"))?;
                let func = kernel_function(btf, func, hook.older_functions())?;
                let p: &mut FEntry = prog.try_into().map_err(chain)?;
                p.load(func, btf).map_err(chain)?;
                p.attach().map_err(chain)?;
            }
            Target::FExit(func) => {
                let btf = kernel_btf.ok_or_else(|| other("no kernel BTF"))?;
                let func = kernel_function(btf, func, hook.older_functions())?;
                let p: &mut FExit = prog.try_into().map_err(chain)?;
                p.load(func, btf).map_err(chain)?;
                p.attach().map_err(chain)?;
            }
            Target::TracePoint(category, name) => {
                let p: &mut TracePoint = prog.try_into().map_err(chain)?;
                // One program may serve several tracepoints (accept, accept4).
                if p.fd().is_err() {
                    p.load().map_err(chain)?;
                }
                p.attach(category, name).map_err(chain)?;
            }
        }
        Ok(())
    }

    /// Runs of the loaded state programs the kernel skipped because they
    /// would have nested on a CPU (their events are lost; see [`super::proginfo`]).
    pub fn state_recursion_misses(&self) -> u64 {
        let mut names = vec![names::STATE_BTF_PROG, names::STATE_PROG];
        names.extend(Hook::ALL.iter().chain(Hook::FALLBACKS.iter()).map(|h| h.program()));
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| self.ebpf.program(n)?.fd().ok())
            .filter_map(|fd| super::proginfo::recursion_misses(fd).ok())
            .sum()
    }

    /// Takes a ring buffer out of the object (it stays valid after detaching).
    pub fn take_ring(&mut self, name: &str) -> Result<RingBuf<MapData>, CaptureError> {
        let map = self.ebpf.take_map(name).ok_or_else(|| missing(name))?;
        RingBuf::try_from(map).map_err(CaptureError::map(name))
    }

    /// Takes the per-CPU state rings out of the object and maps them.
    pub fn take_state_rings(&mut self) -> Result<StateRings, CaptureError> {
        let mut array = |name: &str| match self.ebpf.take_map(name) {
            Some(aya::maps::Map::Array(m)) => Ok(m),
            Some(_) => Err(CaptureError::Load {
                err: format!("{name} is not an array map"),
            }),
            None => Err(missing(name)),
        };
        let (ring, pos) = (array(names::STATE_RING)?, array(names::STATE_RING_POS)?);
        StateRings::new(ring, pos, self.state_cpus, self.state_slots).map_err(|e| CaptureError::Load {
            err: format!("mapping the per-CPU state rings: {e}"),
        })
    }

    /// Takes the per-CPU counters out of the object.
    pub fn take_counters(&mut self) -> Result<CounterMap, CaptureError> {
        let map = self
            .ebpf
            .take_map(names::COUNTERS)
            .ok_or_else(|| missing(names::COUNTERS))?;
        PerCpuArray::try_from(map).map_err(CaptureError::map(names::COUNTERS))
    }
}

/// The TC program `prog` of `ebpf`, loaded into the kernel (once).
fn load_tc<'a>(ebpf: &'a mut Ebpf, prog: &str) -> Result<&'a mut SchedClassifier, CaptureError> {
    let tc: &mut SchedClassifier = ebpf
        .program_mut(prog)
        .ok_or_else(|| missing(prog))?
        .try_into()
        .map_err(CaptureError::program(prog))?;
    if tc.fd().is_err() {
        tc.load().map_err(CaptureError::program(format!("loading {prog}")))?;
    }
    Ok(tc)
}

/// `func`, or the first of `older` the kernel's BTF has when it lacks `func`;
/// [`Failure::Absent`] when it has none of them.
fn kernel_function<'a>(btf: &Btf, func: &'a str, older: &[&'a str]) -> Result<&'a str, (Failure, String)> {
    let has = |name: &str| btf.id_by_type_name_kind(name, aya_obj::btf::BtfKind::Func).is_ok();
    std::iter::once(func)
        .chain(older.iter().copied())
        .find(|f| has(f))
        .ok_or_else(|| {
            let names: Vec<&str> = std::iter::once(func).chain(older.iter().copied()).collect();
            (
                Failure::Absent,
                format!("the kernel's BTF has no function {}", names.join(" or ")),
            )
        })
}

fn missing(name: &str) -> CaptureError {
    CaptureError::Load {
        err: format!("{name} is missing from the object file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The function a hook takes is the first its kernel's BTF has: probed on
    /// the running kernel (6.18 here has inet_twsk_hashdance_schedule; 6.1 only
    /// the older inet_twsk_hashdance).
    #[test]
    fn hooks_the_first_function_the_kernel_has() {
        let Ok(btf) = Btf::from_sys_fs() else {
            eprintln!("no kernel BTF: skipped");
            return;
        };
        assert_eq!(kernel_function(&btf, "tcp_v4_connect", &[]), Ok("tcp_v4_connect"));
        assert_eq!(
            kernel_function(&btf, "tracer_no_such_function", &["tcp_v4_connect"]),
            Ok("tcp_v4_connect")
        );
        let (why, err) = kernel_function(&btf, "tracer_no_such_function", &["tracer_nor_this"]).unwrap_err();
        assert_eq!(why, Failure::Absent);
        assert_eq!(
            err,
            "the kernel's BTF has no function tracer_no_such_function or tracer_nor_this"
        );
        let tw = kernel_function(&btf, "inet_twsk_hashdance_schedule", Hook::TwStart.older_functions());
        assert!(
            matches!(tw, Ok("inet_twsk_hashdance_schedule" | "inet_twsk_hashdance")),
            "{tw:?}"
        );
    }

    /// What is loaded ahead of attaching is what attaching uses: the ingress program only
    /// where packets are received on an interface that is not loopback (loopback's packets are
    /// seen once, on egress, as received), the egress program where packets are sent or on
    /// loopback.
    #[test]
    fn packet_programs_follow_the_hooks() {
        use PacketProgram::*;
        let iface = |loopback| Interface {
            name: if loopback { "lo" } else { "eth0" }.into(),
            index: 1,
            arphrd: 1,
            mac: [0; 6],
            up: true,
            loopback,
        };
        let (eth, lo) = (iface(false), iface(true));
        let needed = |ifaces: &[&Interface], ingress, direction| {
            let ifaces: Vec<Interface> = ifaces.iter().map(|&i| i.clone()).collect();
            PacketProgram::needed(&ifaces, ingress, direction)
        };
        assert_eq!(needed(&[&eth], Ingress::Tcx, Direction::InOut), [TcIngress, TcEgress]);
        assert_eq!(needed(&[&eth], Ingress::Xdp, Direction::InOut), [Xdp, TcEgress]);
        assert_eq!(needed(&[&eth], Ingress::Tcx, Direction::In), [TcIngress]);
        assert_eq!(needed(&[&eth], Ingress::Xdp, Direction::Out), [TcEgress]);
        assert_eq!(needed(&[&lo], Ingress::Xdp, Direction::InOut), [TcEgress]);
        assert_eq!(needed(&[&lo], Ingress::Tcx, Direction::Out), []);
        assert_eq!(
            needed(&[&lo, &eth], Ingress::Tcx, Direction::InOut),
            [TcEgress, TcIngress]
        );
        assert_eq!(needed(&[], Ingress::Tcx, Direction::InOut), []);
    }

    #[test]
    fn failures_are_told_apart_by_their_errno() {
        use aya::programs::ProgramError;
        let syscall = |errno| {
            ProgramError::SyscallError(aya::sys::SyscallError {
                call: "bpf_link_create",
                io_error: std::io::Error::from_raw_os_error(errno),
            })
        };
        assert_eq!(Failure::of(&syscall(libc::EPERM)), Failure::Refused);
        assert_eq!(Failure::of(&syscall(libc::ENOENT)), Failure::Absent);
        assert_eq!(Failure::of(&syscall(libc::EINVAL)), Failure::Other);
    }
}
