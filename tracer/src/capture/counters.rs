//! The kernel programs' per-CPU counters, summed over CPUs.

use aya::maps::{MapData, PerCpuArray};
use tracer_common::{counter, names};

use super::CaptureError;

/// The `COUNTERS` map, taken out of the loaded object so that it stays
/// readable after the programs are detached.
pub type CounterMap = PerCpuArray<MapData, u64>;

/// Totals of the `COUNTERS` map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub xdp_seen: u64,
    pub xdp_lost: u64,
    pub tc_seen: u64,
    pub tc_lost: u64,
    pub state_seen: u64,
    pub state_lost: u64,
    pub copy_failed: u64,
    /// Socket events of every kind but STATE (fentry/fexit and `tcp:*` programs).
    pub sock_seen: u64,
    /// Of those, the ones the state ring could not take.
    pub sock_lost: u64,
    /// Packets the capture filter matched, and of those the ones copied into the ring
    /// (the others are `*_lost`), per hook.
    pub xdp_matched: u64,
    pub xdp_copied: u64,
    pub tc_matched: u64,
    pub tc_copied: u64,
}

/// One packet hook's counts: every packet seen is not matched, copied, or dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookCounts {
    pub seen: u64,
    pub matched: u64,
    pub copied: u64,
    /// Matched, but the ring buffer was full.
    pub dropped: u64,
}

impl HookCounts {
    /// Whether `seen = not matched + copied + dropped` (and `matched = copied + dropped`).
    pub fn balanced(&self) -> bool {
        self.matched <= self.seen && self.matched == self.copied + self.dropped
    }
}

impl Counters {
    pub fn read(array: &CounterMap) -> Result<Self, CaptureError> {
        let sum = |i: u32| -> Result<u64, CaptureError> {
            let values = array.get(&i, 0).map_err(CaptureError::map(names::COUNTERS))?;
            Ok(values.iter().sum())
        };
        Ok(Self {
            xdp_seen: sum(counter::XDP_SEEN)?,
            xdp_lost: sum(counter::XDP_LOST)?,
            tc_seen: sum(counter::TC_SEEN)?,
            tc_lost: sum(counter::TC_LOST)?,
            state_seen: sum(counter::STATE_SEEN)?,
            state_lost: sum(counter::STATE_LOST)?,
            copy_failed: sum(counter::COPY_FAILED)?,
            sock_seen: sum(counter::SOCK_SEEN)?,
            sock_lost: sum(counter::SOCK_LOST)?,
            xdp_matched: sum(counter::XDP_MATCHED)?,
            xdp_copied: sum(counter::XDP_COPIED)?,
            tc_matched: sum(counter::TC_MATCHED)?,
            tc_copied: sum(counter::TC_COPIED)?,
        })
    }

    /// The XDP (ingress) hook's counts.
    pub fn xdp(&self) -> HookCounts {
        HookCounts {
            seen: self.xdp_seen,
            matched: self.xdp_matched,
            copied: self.xdp_copied,
            dropped: self.xdp_lost,
        }
    }

    /// The TC (egress) hook's counts.
    pub fn tc(&self) -> HookCounts {
        HookCounts {
            seen: self.tc_seen,
            matched: self.tc_matched,
            copied: self.tc_copied,
            dropped: self.tc_lost,
        }
    }

    /// `--stats`: one line per packet hook; `ingress` names the ingress one.
    /// `--stats`: a line per hook attached (None: not attached, `-Q`), named by its label.
    pub fn stats_text(&self, ingress: Option<&str>, egress: Option<&str>) -> String {
        let line = |hook: &str, c: HookCounts| {
            format!(
                "{hook}: {} seen, {} matched by filter ({} not matched), {} copied, {} dropped because the ring buffer was full\n",
                c.seen,
                c.matched,
                c.seen.saturating_sub(c.matched),
                c.copied,
                c.dropped
            )
        };
        let mut s = ingress.map(|l| line(l, self.xdp())).unwrap_or_default();
        if let Some(l) = egress {
            s.push_str(&line(l, self.tc()));
        }
        s
    }

    /// Packets the hooks ran on.
    pub fn packets_seen(&self) -> u64 {
        self.xdp_seen + self.tc_seen
    }

    /// Packets the capture filter kept, all of them without a filter (tcpdump's "received
    /// by filter": on Linux the packets that passed the socket's filter, dropped ones included).
    pub fn packets_matched(&self) -> u64 {
        self.xdp_matched + self.tc_matched
    }

    /// Packets the ring buffer refused (tcpdump's "dropped by kernel").
    pub fn packets_lost(&self) -> u64 {
        self.xdp_lost + self.tc_lost
    }

    /// Socket events of all kinds (STATE included) the hooks produced.
    pub fn sock_events_seen(&self) -> u64 {
        self.state_seen + self.sock_seen
    }

    /// Socket events of all kinds the state ring could not take.
    pub fn sock_events_lost(&self) -> u64 {
        self.state_lost + self.sock_lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_account_for_every_packet() {
        let c = Counters {
            xdp_seen: 10,
            xdp_matched: 4,
            xdp_copied: 3,
            xdp_lost: 1,
            tc_seen: 5,
            tc_matched: 5,
            tc_copied: 5,
            ..Counters::default()
        };
        assert!(c.xdp().balanced() && c.tc().balanced());
        // tcpdump's "received by filter" counts what the filter kept.
        assert_eq!((c.packets_seen(), c.packets_matched()), (15, 9));
        assert_eq!(
            c.stats_text(Some("ingress (XDP)"), Some("egress (TC)")),
            "ingress (XDP): 10 seen, 4 matched by filter (6 not matched), 3 copied, 1 dropped because the ring buffer was full\n\
             egress (TC): 5 seen, 5 matched by filter (0 not matched), 5 copied, 0 dropped because the ring buffer was full\n"
        );
        assert_eq!(
            c.stats_text(None, Some("egress (TCX)")),
            "egress (TCX): 5 seen, 5 matched by filter (0 not matched), 5 copied, 0 dropped because the ring buffer was full\n"
        );
        assert!(
            !HookCounts {
                seen: 3,
                matched: 2,
                copied: 2,
                dropped: 1
            }
            .balanced()
        );
    }
}
