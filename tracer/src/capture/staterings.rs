//! Reading the per-CPU state rings (`STATE_RING`, `STATE_RING_POS`) in place.
//!
//! The `tracer_sk_state` program writes each state change into its CPU's ring:
//! fixed 64-byte slots ([`StateRec`], followed by a [`StateExtra`] slot when it
//! carries an owner or byte totals), then advances that CPU's `head`. User
//! space maps both arrays, reads the slots between its `tail` and the `head`,
//! and stores the new `tail` when done. There is no lock and no record header
//! (the kernel's BPF ring buffer costs a spinlock shared by all CPUs per record).
//!
//! Each CPU's ring is in time order (one producer, one clock), so the rings are
//! merged, not sorted.

use std::{
    io,
    os::fd::{AsFd as _, AsRawFd as _},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use aya::maps::MapData;
use tracer_common::{RingPos, SockEvent, StateExtra, StateRec, sock_kind};

/// `StateRec::family` of an IPv4 record (its extra is inline).
const AF_INET: u8 = 2;
/// TCP_CLOSE: the transitions that carry an extra start or end in it.
const TCP_CLOSE: u8 = 7;

/// Slots per CPU for about `bytes` of ring over `cpus` CPUs: a power of two,
/// at least 1024, at most 1 Mi.
pub fn slots_per_cpu(bytes: u64, cpus: u32) -> u32 {
    let per_cpu = bytes / u64::from(cpus.max(1)) / size_of::<StateRec>() as u64;
    per_cpu.clamp(1024, 1 << 20).next_power_of_two() as u32
}

/// A shared mapping of an mmapable array map, unmapped when dropped (or, in
/// tests, plain memory standing in for one).
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
}

enum Backing {
    /// Keeps the map (and so the mapping's object) alive.
    Map(#[expect(dead_code, reason = "held for its descriptor, never read")] MapData),
    #[cfg(test)]
    Heap(#[expect(dead_code, reason = "held for its memory, never read")] Vec<u64>),
}

impl Mapping {
    fn new(map: MapData, len: usize, writable: bool) -> io::Result<Mapping> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: mapping a BPF map descriptor we own; the kernel checks that
        // the map is mmapable and `len` within it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mapping {
            ptr,
            len,
            backing: Backing::Map(map),
        })
    }

    #[cfg(test)]
    fn heap(len: usize) -> Mapping {
        let mut v = vec![0u64; len.div_ceil(8)];
        let ptr = NonNull::new(v.as_mut_ptr().cast::<u8>()).expect("Vec pointer is never null");
        Mapping {
            ptr,
            len,
            backing: Backing::Heap(v),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if matches!(self.backing, Backing::Map(_)) {
            // SAFETY: unmapping exactly what `new` mapped.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

/// The per-CPU state rings, mapped.
pub struct StateRings {
    ring: Mapping,
    pos: Mapping,
    cpus: usize,
    slots: u64,
    /// Per CPU: the next slot to read, and the head seen at the last `refresh`.
    tail: Vec<u64>,
    head: Vec<u64>,
}

// SAFETY: the mappings are plain shared memory owned by this value.
unsafe impl Send for StateRings {}

fn page_round(n: usize) -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .unwrap_or(4096)
        .max(1);
    n.div_ceil(page) * page
}

impl StateRings {
    /// Maps the rings of `cpus` CPUs with `slots` slots each (the sizes the
    /// object was loaded with).
    pub fn new(ring: MapData, pos: MapData, cpus: u32, slots: u32) -> io::Result<StateRings> {
        let cpus = cpus as usize;
        let ring = Mapping::new(ring, page_round(cpus * slots as usize * size_of::<StateRec>()), false)?;
        let pos = Mapping::new(pos, page_round(cpus * size_of::<RingPos>()), true)?;
        let mut r = StateRings {
            ring,
            pos,
            cpus,
            slots: u64::from(slots),
            tail: vec![0; cpus],
            head: vec![0; cpus],
        };
        // Whatever the rings hold already (nothing on a fresh load) is ours.
        for c in 0..cpus {
            r.tail[c] = r.tail_atomic(c).load(Ordering::Acquire);
        }
        Ok(r)
    }

    fn head_atomic(&self, cpu: usize) -> &AtomicU64 {
        debug_assert!(cpu < self.cpus);
        // SAFETY: entry `cpu` of the mapped RingPos array (8-aligned: the
        // mapping is page-aligned and RingPos is 128 bytes); `head` is its
        // first field. The kernel writes it with single aligned stores.
        unsafe { AtomicU64::from_ptr(self.pos.ptr.as_ptr().add(cpu * size_of::<RingPos>()).cast()) }
    }

    fn records_atomic(&self, cpu: usize) -> &AtomicU64 {
        // SAFETY: as above; `records` is at offset 8 of the entry.
        unsafe { AtomicU64::from_ptr(self.pos.ptr.as_ptr().add(cpu * size_of::<RingPos>() + 8).cast()) }
    }

    fn tail_atomic(&self, cpu: usize) -> &AtomicU64 {
        // SAFETY: as above; `tail` is at offset 64 of the entry.
        unsafe { AtomicU64::from_ptr(self.pos.ptr.as_ptr().add(cpu * size_of::<RingPos>() + 64).cast()) }
    }

    /// Where slot `n` (counting up without wrapping) of `cpu`'s ring lies.
    fn slot_ptr(&self, cpu: usize, n: u64) -> *mut u8 {
        let index = cpu as u64 * self.slots + (n & (self.slots - 1));
        // SAFETY: index < cpus * slots: inside the mapping.
        unsafe { self.ring.ptr.as_ptr().add(index as usize * size_of::<StateRec>()) }
    }

    fn slot<T: Copy>(&self, cpu: usize, n: u64) -> T {
        // SAFETY: T is a 64-byte plain-old-data slot type; the slot was published by the
        // head we read with Acquire and is not rewritten before we move the tail past it.
        unsafe { std::ptr::read_volatile(self.slot_ptr(cpu, n).cast::<T>()) }
    }

    /// Takes each CPU's head: the records before it are complete.
    fn refresh(&mut self) {
        for c in 0..self.cpus {
            let h = self.head_atomic(c).load(Ordering::Acquire);
            // A head behind the tail or more than a ring ahead is not ours to
            // trust (it cannot happen); read nothing from that CPU then.
            self.head[c] = if h.wrapping_sub(self.tail[c]) <= self.slots {
                h
            } else {
                self.tail[c]
            };
        }
    }

    /// State events the program wrote into the rings since they were
    /// created, all CPUs together (its count of events seen).
    pub fn records_written(&self) -> u64 {
        (0..self.cpus)
            .map(|c| self.records_atomic(c).load(Ordering::Acquire))
            .sum()
    }

    /// True when some CPU's ring holds records not read yet.
    pub fn has_records(&self) -> bool {
        (0..self.cpus).any(|c| self.head_atomic(c).load(Ordering::Acquire) != self.tail[c])
    }

    /// The timestamp of the next record of `cpu`, if it has one up to
    /// `watermark` (read from the slot in place: the record itself is copied
    /// only when its turn comes).
    fn next_ts(&self, cpu: usize, watermark: u64) -> Option<u64> {
        if self.tail[cpu] == self.head[cpu] {
            return None;
        }
        // SAFETY: `ts_ns` is the first field of the published slot (see `slot`).
        let ts = unsafe { std::ptr::read_volatile(self.slot_ptr(cpu, self.tail[cpu]).cast::<u64>()) };
        (ts <= watermark).then_some(ts)
    }

    fn take(&mut self, cpu: usize, rec: &StateRec) -> SockEvent {
        let mut ev = SockEvent {
            ts_ns: rec.ts_ns,
            skaddr: rec.skaddr,
            kind: sock_kind::STATE,
            oldstate: rec.oldstate,
            newstate: rec.newstate,
            family: rec.family,
            sport: rec.sport,
            dport: rec.dport,
            netns: rec.netns,
            ..SockEvent::default()
        };
        // The extra of CLOSE → X (the owner) and X → CLOSE (the byte totals):
        // 8 bytes, then 16 (see StateRec); inline in an IPv4 record.
        let mut n = 1;
        if rec.family == AF_INET {
            ev.saddr[..4].copy_from_slice(&rec.a[..4]);
            ev.daddr[..4].copy_from_slice(&rec.a[4..8]);
            let (mut x8, mut received) = ([0u8; 8], [0u8; 8]);
            x8.copy_from_slice(&rec.a[8..]);
            received.copy_from_slice(&rec.b[..8]);
            if rec.oldstate == TCP_CLOSE {
                ev.pid_tgid = u64::from_ne_bytes(x8);
                ev.comm = rec.b;
            } else if rec.newstate == TCP_CLOSE {
                ev.bytes_acked = u64::from_ne_bytes(x8);
                ev.bytes_received = u64::from_ne_bytes(received);
            }
        } else {
            ev.saddr = rec.a;
            ev.daddr = rec.b;
            n = u64::from(rec.slots.clamp(1, 2)).min(self.head[cpu].wrapping_sub(self.tail[cpu]));
            if n == 2 {
                let ex: StateExtra = self.slot(cpu, self.tail[cpu] + 1);
                ev.pid_tgid = ex.pid_tgid;
                ev.comm = ex.comm;
                ev.bytes_acked = ex.bytes_acked;
                ev.bytes_received = ex.bytes_received;
            }
        }
        self.tail[cpu] += n.max(1);
        ev
    }

    /// Hands over, in timestamp order, the records with a timestamp up to
    /// `watermark` merged with `pending` (events from elsewhere, sorted by
    /// timestamp; those handed over are removed from it). Frees the slots read.
    pub fn merge_until(&mut self, watermark: u64, pending: &mut Vec<SockEvent>, mut f: impl FnMut(&SockEvent)) {
        self.refresh();
        let mut next: Vec<Option<u64>> = (0..self.cpus).map(|c| self.next_ts(c, watermark)).collect();
        let mut p = 0;
        loop {
            // The CPU whose next record is the oldest (the first of equals).
            let mut best: Option<(usize, u64)> = None;
            for (c, ts) in next.iter().enumerate() {
                if let Some(ts) = *ts
                    && best.is_none_or(|(_, b)| ts < b)
                {
                    best = Some((c, ts));
                }
            }
            let other = pending.get(p).filter(|e| e.ts_ns <= watermark);
            match (best, other) {
                (Some((c, ts)), o) if o.is_none_or(|e| ts <= e.ts_ns) => {
                    let rec: StateRec = self.slot(c, self.tail[c]);
                    let ev = self.take(c, &rec);
                    f(&ev);
                    next[c] = self.next_ts(c, watermark);
                }
                (_, Some(e)) => {
                    f(e);
                    p += 1;
                }
                _ => break,
            }
        }
        pending.drain(..p);
        self.commit();
    }

    /// Appends every complete record to `out` (not in order across CPUs) and frees the slots.
    pub fn drain_into(&mut self, out: &mut Vec<SockEvent>) {
        self.refresh();
        for c in 0..self.cpus {
            while self.tail[c] != self.head[c] {
                let rec: StateRec = self.slot(c, self.tail[c]);
                let ev = self.take(c, &rec);
                out.push(ev);
            }
        }
        self.commit();
    }

    /// Publishes the tails: the slots before them may be reused.
    fn commit(&self) {
        for c in 0..self.cpus {
            self.tail_atomic(c).store(self.tail[c], Ordering::Release);
        }
    }
}

#[cfg(test)]
impl StateRings {
    /// Rings in plain memory, for tests.
    pub fn in_memory(cpus: u32, slots: u32) -> StateRings {
        let cpus = cpus as usize;
        StateRings {
            ring: Mapping::heap(cpus * slots as usize * size_of::<StateRec>()),
            pos: Mapping::heap(cpus * size_of::<RingPos>()),
            cpus,
            slots: u64::from(slots),
            tail: vec![0; cpus],
            head: vec![0; cpus],
        }
    }

    /// What the kernel program does: writes the record (and its extra: inline
    /// in an IPv4 record, in the next slot after an IPv6 one) and advances
    /// the CPU's head. False when the ring is full.
    pub fn produce(&self, cpu: usize, mut rec: StateRec, extra: Option<StateExtra>) -> bool {
        let head = self.head_atomic(cpu).load(Ordering::Relaxed);
        let tail = self.tail_atomic(cpu).load(Ordering::Acquire);
        let inline = rec.family == AF_INET;
        let need = if extra.is_some() && !inline { 2 } else { 1 };
        if head - tail + need > self.slots {
            return false;
        }
        rec.slots = need as u8;
        if let Some(ex) = extra.filter(|_| inline) {
            let (x8, x16) = if rec.oldstate == TCP_CLOSE {
                (ex.pid_tgid, ex.comm)
            } else {
                let mut x16 = [0u8; 16];
                x16[..8].copy_from_slice(&ex.bytes_received.to_ne_bytes());
                (ex.bytes_acked, x16)
            };
            rec.a[8..].copy_from_slice(&x8.to_ne_bytes());
            rec.b = x16;
        }
        let at = |n: u64| self.slot_ptr(cpu, n);
        // SAFETY: free slots of this CPU's ring.
        unsafe {
            std::ptr::write(at(head).cast(), rec);
            if let Some(ex) = extra.filter(|_| !inline) {
                std::ptr::write(at(head + 1).cast(), ex);
            }
        }
        let records = self.records_atomic(cpu).load(Ordering::Relaxed);
        self.records_atomic(cpu).store(records + 1, Ordering::Relaxed);
        self.head_atomic(cpu).store(head + need, Ordering::Release);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: u64, sport: u16) -> StateRec {
        StateRec {
            ts_ns: ts,
            sport,
            oldstate: 1,
            newstate: 4,
            family: 2,
            ..StateRec::default()
        }
    }

    #[test]
    fn merges_cpus_and_pending_in_time_order_up_to_the_watermark() {
        let mut r = StateRings::in_memory(2, 8);
        assert!(r.produce(0, rec(10, 1), None));
        assert!(r.produce(0, rec(40, 2), None));
        let ex = StateExtra {
            pid_tgid: 7 << 32 | 7,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
            ..StateExtra::default()
        };
        let connect = StateRec {
            oldstate: TCP_CLOSE,
            ..rec(20, 3)
        };
        assert!(r.produce(1, connect, Some(ex)));
        assert!(r.produce(1, rec(60, 4), None));
        let other = SockEvent {
            ts_ns: 30,
            sport: 5,
            ..SockEvent::default()
        };
        let mut pending = vec![other];
        let mut got = Vec::new();
        r.merge_until(50, &mut pending, |e| got.push((e.ts_ns, e.sport, e.pid_tgid >> 32)));
        assert_eq!(got, [(10, 1, 0), (20, 3, 7), (30, 5, 0), (40, 2, 0)]);
        assert!(pending.is_empty());
        got.clear();
        r.merge_until(u64::MAX, &mut pending, |e| got.push((e.ts_ns, e.sport, 0)));
        assert_eq!(got, [(60, 4, 0)]);
        // Four records written (one of them in two slots).
        assert_eq!(r.records_written(), 4);
    }

    #[test]
    fn extras_inline_for_ipv4_and_in_a_slot_for_ipv6() {
        let mut r = StateRings::in_memory(1, 8);
        let bytes = StateExtra {
            bytes_acked: 1 << 40,
            bytes_received: 3456,
            ..StateExtra::default()
        };
        let owner = StateExtra {
            pid_tgid: 42 << 32 | 43,
            comm: *b"0123456789abcde\0",
            ..StateExtra::default()
        };
        let mut v4 = rec(1, 1);
        v4.a[..8].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let close = StateRec {
            newstate: TCP_CLOSE,
            ..v4
        };
        let open = StateRec {
            oldstate: TCP_CLOSE,
            ..v4
        };
        let mut v6 = StateRec {
            family: 10,
            ..rec(2, 2)
        };
        v6.a[15] = 1;
        v6.b[15] = 2;
        assert!(r.produce(0, close, Some(bytes)));
        assert!(r.produce(0, open, Some(owner)));
        assert!(r.produce(
            0,
            StateRec {
                oldstate: TCP_CLOSE,
                ..v6
            },
            Some(owner)
        ));
        assert!(r.produce(
            0,
            StateRec {
                newstate: TCP_CLOSE,
                ..v6
            },
            Some(bytes)
        ));
        // Two IPv4 records in a slot each, two IPv6 ones in two each.
        assert_eq!(r.head_atomic(0).load(Ordering::Relaxed), 6);
        let mut all = Vec::new();
        r.drain_into(&mut all);
        assert_eq!(all.len(), 4);
        for (i, e) in all.iter().enumerate() {
            let v4 = i < 2;
            assert_eq!(e.saddr[..4], if v4 { [10, 0, 0, 1] } else { [0; 4] }, "{i}");
            assert_eq!(e.daddr[..4], if v4 { [10, 0, 0, 2] } else { [0; 4] }, "{i}");
            assert_eq!((e.saddr[15], e.daddr[15]), if v4 { (0, 0) } else { (1, 2) }, "{i}");
            let (p, c, a, b) = (e.pid_tgid, e.comm, e.bytes_acked, e.bytes_received);
            if e.oldstate == TCP_CLOSE {
                assert_eq!((p, c, a, b), (owner.pid_tgid, owner.comm, 0, 0), "{i}");
            } else {
                assert_eq!((p, c, a, b), (0, [0; 16], 1 << 40, 3456), "{i}");
            }
        }
    }

    #[test]
    fn full_rings_refuse_and_freed_slots_are_reused() {
        let mut r = StateRings::in_memory(1, 4);
        // An IPv6 record with its extra: two slots.
        let v6 = StateRec {
            family: 10,
            newstate: TCP_CLOSE,
            ..rec(1, 1)
        };
        assert!(r.produce(0, v6, Some(StateExtra::default())));
        assert!(r.produce(0, rec(2, 2), None));
        assert!(r.produce(0, rec(3, 3), None));
        assert!(!r.produce(0, rec(4, 4), None));
        assert_eq!(r.records_written(), 3, "a refused record is not counted");
        let mut all = Vec::new();
        r.drain_into(&mut all);
        assert_eq!(all.iter().map(|e| e.sport).collect::<Vec<_>>(), [1, 2, 3]);
        // Wrapped around: slots 0.. again.
        for i in 0..4 {
            assert!(r.produce(0, rec(10 + i, 10 + i as u16), None));
        }
        all.clear();
        r.drain_into(&mut all);
        assert_eq!(all.iter().map(|e| e.sport).collect::<Vec<_>>(), [10, 11, 12, 13]);
    }

    #[test]
    fn slots_are_a_power_of_two_within_bounds() {
        assert_eq!(slots_per_cpu(8 << 20, 2), 65536);
        assert_eq!(slots_per_cpu(8 << 20, 3), 65536);
        assert_eq!(slots_per_cpu(0, 2), 1024);
        assert_eq!(slots_per_cpu(u64::MAX, 1), 1 << 20);
        assert_eq!(slots_per_cpu(8 << 20, 0), 1 << 17);
    }
}
