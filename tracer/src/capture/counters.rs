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
        })
    }

    /// Packets the hooks ran on (tcpdump's "received by filter").
    pub fn packets_seen(&self) -> u64 {
        self.xdp_seen + self.tc_seen
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
