//! Ring-buffer submission policy: wake the reader in batches, not per record.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    maps::RingBuf,
};

use crate::WAKEUP_BYTES;

/// Flags for `submit`: no wakeup while little data is waiting (the reader
/// polls on a short timer), a forced one once `WAKEUP_BYTES` have piled up.
#[inline(always)]
pub fn submit_flags(ring: &RingBuf) -> u64 {
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let threshold = unsafe { core::ptr::read_volatile(&WAKEUP_BYTES) };
    if ring.query(BPF_RB_AVAIL_DATA as u64) >= threshold {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}
