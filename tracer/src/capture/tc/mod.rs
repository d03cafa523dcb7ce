//! Classic tc for the packet programs where the kernel has no TCX (before
//! 6.6): a clsact qdisc on the interface and one cls_bpf filter
//! (direct-action) per hook, attached through rtnetlink.
//!
//! Unlike bpf links, filters outlive their process: a tracer killed by
//! SIGKILL leaves them (and the qdisc it may have added) behind. So:
//! - a tracer removes exactly what it added when it stops: its own filters,
//!   then the clsact qdisc if a tracer created it ([`marker`]) and no filter
//!   of anyone is left on it;
//! - every start and stop sweeps the interface: a cls_bpf filter running a
//!   program named like tracer's packet programs ([`PROGRAM_NAMES`]) whose
//!   program no process holds ([`holders`]) was left by a dead tracer and is
//!   removed. A running tracer holds its programs' descriptors, so two
//!   tracers on one interface never remove each other's filters.
//!
//! Which mechanism is used is probed, never derived from the kernel version:
//! TCX first; when the kernel refuses the TCX link ([`no_tcx`]) classic tc.
//! `TRACER_TC_ATTACH=netlink` ([`ATTACH_ENV`]) forces classic tc on a kernel
//! with TCX: a test hook, so that the end-to-end tests cover this path on
//! any kernel.

pub mod holders;
pub mod marker;
pub mod netlink;

use std::{collections::HashSet, fmt, io, path::Path};

use aya::programs::{
    ProgramError, SchedClassifier, TcAttachType,
    links::Link as _,
    tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcError},
};
use tracer_common::names;

use self::{
    marker::{Netns, Store},
    netlink::{Filter, Hook, NetlinkError, RouteSocket},
};
use super::iface::Interface;

/// Test hook: `TRACER_TC_ATTACH=netlink` attaches with classic tc even where
/// TCX exists. Not a user option: TCX is better wherever it exists.
pub const ATTACH_ENV: &str = "TRACER_TC_ATTACH";

/// The names cls_bpf reports (`TCA_BPF_NAME`) for tracer's filters: aya
/// names a filter after its program.
pub const PROGRAM_NAMES: [&str; 2] = [names::TC_INGRESS_PROG, names::TC_PROG];

/// The kernel's internal ENOTSUPP, which leaks to user space from BPF.
const ENOTSUPP: i32 = 524;

/// Whether the test hook asks for classic tc.
pub fn forced() -> bool {
    std::env::var_os(ATTACH_ENV).is_some_and(|v| v == "netlink")
}

/// The errno of a failed TCX attach when it means "this kernel has no TCX":
/// BPF_LINK_CREATE with BPF_TCX_INGRESS/EGRESS gives EINVAL on kernels
/// before 6.6 (an attach type they do not know; seen on Debian's 6.1), as
/// on kernels without BPF_LINK_CREATE at all; EOPNOTSUPP/ENOTSUPP are
/// accepted too. Anything else (EPERM, EACCES, ENODEV, E2BIG when 64
/// programs are attached, …) is a real error: classic tc would not help, or
/// would hide it.
pub fn no_tcx(err: &ProgramError) -> Option<i32> {
    let ProgramError::SyscallError(e) = err else {
        return None;
    };
    e.io_error
        .raw_os_error()
        .filter(|&c| c == libc::EINVAL || c == libc::EOPNOTSUPP || c == ENOTSUPP)
}

/// Errors of classic tc attachment.
#[derive(Debug, thiserror::Error)]
pub enum ClassicTcError {
    #[error("adding a clsact qdisc: {err}")]
    Qdisc { err: String },
    #[error("adding a bpf filter: {err}")]
    Filter { err: String },
}

/// Whether a dumped filter is one of tracer's: a cls_bpf filter in chain 0
/// whose program carries one of [`PROGRAM_NAMES`].
pub fn is_tracers(f: &Filter) -> bool {
    f.kind == "bpf" && f.chain == 0 && f.bpf_name.as_deref().is_some_and(|n| PROGRAM_NAMES.contains(&n))
}

/// tracer's filters whose program no process holds (`held`): left by a
/// tracer that died without removing them. A filter without a program id
/// (a kernel before 4.13) is never called abandoned.
pub fn abandoned<'a>(filters: &'a [Filter], held: &HashSet<u32>) -> Vec<&'a Filter> {
    filters
        .iter()
        .filter(|f| is_tracers(f) && f.bpf_id.is_some_and(|id| !held.contains(&id)))
        .collect()
}

/// What one sweep of an interface found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Abandoned filters removed.
    pub removed: Vec<Filter>,
    /// tracer-named filters nobody visibly holds, left alone because /proc
    /// does not show every process (a pid namespace).
    pub unsure: usize,
    /// The clsact qdisc a tracer had created was removed.
    pub qdisc_removed: bool,
    pub warnings: Vec<String>,
}

impl Sweep {
    /// The lines to show the user (none when nothing happened).
    pub fn notes(&self, iface: &str, who: &str) -> Vec<String> {
        let mut out = self.warnings.clone();
        if !self.removed.is_empty() {
            let list: Vec<String> = self
                .removed
                .iter()
                .map(|f| format!("{} pref {}", f.hook.name(), f.prio))
                .collect();
            out.push(format!(
                "{iface}: removed {} tc filter{} left by a tracer that was killed ({})",
                self.removed.len(),
                if self.removed.len() == 1 { "" } else { "s" },
                list.join(", ")
            ));
        }
        if self.unsure > 0 {
            out.push(format!(
                "{iface}: {} tracer tc filter{} may be left by a killed tracer, but this pid namespace cannot \
                 see every process: left alone (remove with `tc filter del dev {iface} ingress|egress pref N`)",
                self.unsure,
                if self.unsure == 1 { "" } else { "s" },
            ));
        }
        if self.qdisc_removed && who == "start" {
            out.push(format!("{iface}: removed the clsact qdisc a killed tracer had added"));
        }
        out
    }
}

/// The classic tc state of one interface.
struct Attached {
    index: u32,
    name: String,
    /// Our filters (aya's handles: interface, hook, priority, handle).
    links: Vec<SchedClassifierLink>,
    /// This process added the clsact qdisc.
    created: bool,
}

/// Classic tc filters and qdiscs of one tracer. Dropping it removes them
/// (see [`ClassicTc::detach_all`] for the report).
#[derive(Default)]
pub struct ClassicTc {
    attached: Vec<Attached>,
    /// /run/tracer: None until needed, Some(Err) when it cannot be used.
    store: Option<Result<Store, String>>,
}

impl fmt::Debug for ClassicTc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassicTc")
            .field("interfaces", &self.attached.len())
            .finish()
    }
}

impl ClassicTc {
    fn store(&mut self) -> Result<&Store, &str> {
        let s = self
            .store
            .get_or_insert_with(|| Store::open(Path::new(marker::DIR)).map_err(|e| format!("{}: {e}", marker::DIR)));
        s.as_ref().map_err(String::as_str)
    }

    /// Attaches `prog` (loaded) to `hook` of `iface` with a cls_bpf filter,
    /// adding the clsact qdisc first where there is none.
    pub fn attach(
        &mut self,
        prog: &mut SchedClassifier,
        iface: &Interface,
        at: TcAttachType,
    ) -> Result<Vec<String>, ClassicTcError> {
        let mut notes = Vec::new();
        let netns = Netns::current();
        let store_err = self.store().err().map(str::to_owned);
        let slot = match self.attached.iter().position(|a| a.index == iface.index) {
            Some(i) => i,
            None => {
                self.attached.push(Attached {
                    index: iface.index,
                    name: iface.name.clone(),
                    links: Vec::new(),
                    created: false,
                });
                self.attached.len() - 1
            }
        };
        let store_ref = self.store.as_ref().and_then(|s| s.as_ref().ok());
        let lock = store_ref.map(Store::lock);
        if lock.as_ref().is_some_and(|l| !l.held()) {
            notes.push(format!(
                "warning: another tracer holds {}/tc.lock: going on without it",
                marker::DIR
            ));
        }
        let a = &mut self.attached[slot];
        match aya::programs::tc::qdisc_add_clsact(&iface.name) {
            Ok(()) => {
                a.created = true;
                let recorded = match (store_ref, &netns) {
                    (Some(s), Ok(ns)) => s.mark(*ns, iface.index).map_err(|e| e.to_string()),
                    (None, _) => Err(store_err.unwrap_or_default()),
                    (_, Err(e)) => Err(format!("naming this network namespace: {e}")),
                };
                if let Err(e) = recorded {
                    notes.push(format!(
                        "warning: {}: cannot record that tracer added its clsact qdisc ({e}): if this tracer \
                         is killed, the qdisc stays",
                        iface.name
                    ));
                }
            }
            Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => {
                return Err(ClassicTcError::Qdisc { err: super::chain(&e) });
            }
        }
        let filter_err = |e: &dyn std::error::Error| ClassicTcError::Filter { err: super::chain(e) };
        let id = prog
            .attach_with_options(&iface.name, at, TcAttachOptions::Netlink(NlOptions::default()))
            .map_err(|e| filter_err(&e))?;
        let link = prog.take_link(id).map_err(|e| filter_err(&e))?;
        a.links.push(link);
        drop(lock);
        Ok(notes)
    }

    /// Removes abandoned tracer filters from `iface`, and the clsact qdisc a
    /// tracer created once no filter is left on it (see [`Sweep`]).
    pub fn sweep(&mut self, iface: &Interface) -> Sweep {
        self.sweep_index(iface.index, false)
    }

    fn sweep_index(&mut self, ifindex: u32, created: bool) -> Sweep {
        let mut out = Sweep::default();
        let netns = Netns::current().ok();
        // Cheap, unlocked look first: usually there is nothing to do.
        let mut sock = match RouteSocket::open() {
            Ok(s) => s,
            Err(e) => {
                out.warnings
                    .push(format!("warning: checking for tc filters left by a killed tracer: {e}"));
                return out;
            }
        };
        let marker_exists = netns.is_some_and(|ns| {
            Path::new(marker::DIR)
                .join("clsact")
                .join(marker::marker_name(ns, ifindex))
                .exists()
        });
        match list_filters(&mut sock, ifindex) {
            Ok(f) if !f.iter().any(is_tracers) && !marker_exists && !created => return out,
            // ENODEV/EINVAL: the interface is gone or has no qdisc to list.
            Err(e) if matches!(e.errno(), Some(libc::ENODEV | libc::EINVAL)) => return out,
            _ => {}
        }
        let store = self.store().ok();
        let lock = store.map(Store::lock);
        let filters = match list_filters(&mut sock, ifindex) {
            Ok(f) => f,
            Err(e) => {
                if !matches!(e.errno(), Some(libc::ENODEV | libc::EINVAL)) {
                    out.warnings.push(format!("warning: {e}"));
                }
                return out;
            }
        };
        let ids: HashSet<u32> = filters
            .iter()
            .filter(|f| is_tracers(f))
            .filter_map(|f| f.bpf_id)
            .collect();
        let mut remaining = filters.len();
        if !ids.is_empty() {
            let proc = Path::new("/proc");
            let held = match holders::sees_every_process(proc) {
                Ok(true) => holders::held(proc, &ids).map_err(|e| format!("reading /proc: {e}")),
                Ok(false) => Err(String::new()),
                Err(e) => Err(format!("reading /proc/self/ns/pid: {e}")),
            };
            match held {
                Ok(held) => {
                    for f in abandoned(&filters, &held) {
                        match sock.delete_filter(ifindex, f) {
                            Ok(()) => {
                                out.removed.push(f.clone());
                                remaining -= 1;
                            }
                            // Removed meanwhile (by its own tracer's last act, or another sweep).
                            Err(e) if e.errno() == Some(libc::ENOENT) => remaining -= 1,
                            Err(e) => out.warnings.push(format!("warning: {e}")),
                        }
                    }
                }
                Err(why) => {
                    out.unsure = abandoned(&filters, &HashSet::new()).len();
                    if !why.is_empty() {
                        out.warnings.push(format!("warning: {why}"));
                    }
                }
            }
        }
        let marked = match (store, netns) {
            (Some(s), Some(ns)) => s.is_marked(ns, ifindex),
            _ => false,
        };
        if (marked || created) && remaining == 0 {
            // Filters may have been added between the listing and now by
            // something that does not take tracer's lock: list once more.
            let empty = list_filters(&mut sock, ifindex).is_ok_and(|f| f.is_empty());
            if empty {
                match sock.has_clsact(ifindex) {
                    Ok(true) => match sock.delete_clsact(ifindex) {
                        Ok(()) => out.qdisc_removed = true,
                        Err(e) if e.errno() == Some(libc::ENOENT) => {}
                        Err(e) => out.warnings.push(format!("warning: {e}")),
                    },
                    Ok(false) => {}
                    Err(e) => out.warnings.push(format!("warning: {e}")),
                }
                // Removed now, or gone already (with its interface, or by hand).
                if let (Some(s), Some(ns)) = (store, netns)
                    && let Err(e) = s.unmark(ns, ifindex)
                {
                    out.warnings.push(format!("warning: removing the clsact marker: {e}"));
                }
            }
        }
        drop(lock);
        out
    }

    /// Removes this tracer's filters, then sweeps each interface (the qdisc
    /// goes once no filter is left on it and a tracer created it). Returns
    /// what the user should know (failures; removals done for killed tracers).
    pub fn detach_all(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        let attached = std::mem::take(&mut self.attached);
        for a in attached {
            {
                let store = self.store().ok();
                let _lock = store.map(Store::lock);
                for link in a.links {
                    if let Err(e) = link.detach() {
                        let gone = match &e {
                            ProgramError::NetlinkError(n) => {
                                matches!(n.raw_os_error(), Some(libc::ENOENT | libc::ENODEV | libc::EINVAL))
                            }
                            _ => false,
                        };
                        if !gone {
                            notes.push(format!(
                                "warning: {}: removing a tc filter: {}",
                                a.name,
                                super::chain(&e)
                            ));
                        }
                    }
                }
            }
            let sweep = self.sweep_index(a.index, a.created);
            notes.extend(sweep.notes(&a.name, "stop"));
        }
        notes
    }
}

impl Drop for ClassicTc {
    fn drop(&mut self) {
        let _unreported = self.detach_all();
    }
}

/// The filters on both hooks of `ifindex`.
fn list_filters(sock: &mut RouteSocket, ifindex: u32) -> Result<Vec<Filter>, NetlinkError> {
    let mut all = sock.filters(ifindex, Hook::Ingress)?;
    all.extend(sock.filters(ifindex, Hook::Egress)?);
    Ok(all)
}

/// The line printed at start when classic tc is used.
pub fn classic_note(why: &Why) -> String {
    let what = "attaching with classic tc (clsact qdisc, bpf filters); a tracer killed by SIGKILL leaves its \
                filters behind, and the next start removes them";
    match why {
        Why::NoTcx(errno) => format!(
            "no TCX on this kernel (BPF_LINK_CREATE: {}): {what}",
            errno_name(*errno)
        ),
        Why::Forced => format!("{ATTACH_ENV}=netlink: {what}"),
    }
}

/// The symbolic name of the errnos [`no_tcx`] accepts.
fn errno_name(errno: i32) -> String {
    match errno {
        libc::EINVAL => "EINVAL".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        ENOTSUPP => "ENOTSUPP".into(),
        other => io::Error::from_raw_os_error(other).to_string(),
    }
}

/// Why classic tc is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The TCX attach failed with this errno.
    NoTcx(i32),
    /// [`ATTACH_ENV`].
    Forced,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(hook: Hook, prio: u16, kind: &str, name: Option<&str>, id: Option<u32>) -> Filter {
        Filter {
            hook,
            prio,
            protocol: 0x0300,
            handle: 1,
            chain: 0,
            kind: kind.into(),
            bpf_name: name.map(Into::into),
            bpf_id: id,
        }
    }

    #[test]
    fn only_unheld_tracer_filters_are_abandoned() {
        let filters = vec![
            // A running tracer's (program 10 held).
            filter(Hook::Egress, 49151, "bpf", Some(names::TC_PROG), Some(10)),
            // A killed tracer's.
            filter(Hook::Egress, 49152, "bpf", Some(names::TC_PROG), Some(11)),
            filter(Hook::Ingress, 49152, "bpf", Some(names::TC_INGRESS_PROG), Some(12)),
            // Someone else's programs, held or not.
            filter(Hook::Egress, 1, "bpf", Some("cilium_egress"), Some(13)),
            filter(Hook::Egress, 2, "matchall", None, None),
            // No program id: cannot tell.
            filter(Hook::Egress, 3, "bpf", Some(names::TC_PROG), None),
        ];
        let held: HashSet<u32> = [10].into();
        let gone: Vec<u16> = abandoned(&filters, &held).iter().map(|f| f.prio).collect();
        assert_eq!(gone, vec![49152, 49152]);
        let mut other_chain = filter(Hook::Egress, 4, "bpf", Some(names::TC_PROG), Some(14));
        other_chain.chain = 1;
        assert!(abandoned(&[other_chain], &held).is_empty());
    }

    #[test]
    fn notes_name_what_was_removed() {
        let sweep = Sweep {
            removed: vec![
                filter(Hook::Ingress, 49152, "bpf", Some(names::TC_INGRESS_PROG), Some(1)),
                filter(Hook::Egress, 49152, "bpf", Some(names::TC_PROG), Some(2)),
            ],
            qdisc_removed: true,
            ..Sweep::default()
        };
        let notes = sweep.notes("veth0", "start");
        assert_eq!(
            notes,
            vec![
                "veth0: removed 2 tc filters left by a tracer that was killed (ingress pref 49152, egress pref 49152)",
                "veth0: removed the clsact qdisc a killed tracer had added",
            ]
        );
        assert!(Sweep::default().notes("veth0", "start").is_empty());
    }

    #[test]
    fn the_start_line_says_what_it_costs() {
        assert_eq!(
            classic_note(&Why::NoTcx(libc::EINVAL)),
            "no TCX on this kernel (BPF_LINK_CREATE: EINVAL): attaching with classic tc \
             (clsact qdisc, bpf filters); a tracer killed by SIGKILL leaves its filters behind, and the next start \
             removes them"
        );
    }

    #[test]
    fn which_tcx_errors_mean_no_tcx() {
        let err = |code| {
            ProgramError::SyscallError(aya::sys::SyscallError {
                call: "bpf_mprog_attach",
                io_error: io::Error::from_raw_os_error(code),
            })
        };
        assert_eq!(no_tcx(&err(libc::EINVAL)), Some(libc::EINVAL));
        assert_eq!(no_tcx(&err(libc::EOPNOTSUPP)), Some(libc::EOPNOTSUPP));
        for real in [libc::EPERM, libc::EACCES, libc::ENODEV, libc::E2BIG, libc::EEXIST] {
            assert_eq!(no_tcx(&err(real)), None);
        }
        assert_eq!(no_tcx(&ProgramError::NotLoaded), None);
    }
}
