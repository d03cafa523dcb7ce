//! Ring-buffer records as user space sees them.

use std::mem::size_of;

use tracer_common::{PacketHeader, SockEvent};

/// Splits a packet record into its header and the captured bytes. `None` for
/// a record too short to hold a header (never produced by our programs).
pub fn packet(record: &[u8]) -> Option<(PacketHeader, &[u8])> {
    let head = record.get(..size_of::<PacketHeader>())?;
    // SAFETY: `head` is exactly size_of::<PacketHeader>() bytes and PacketHeader is
    // plain old data (integers only); read_unaligned copes with any alignment.
    let hdr: PacketHeader = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
    let data = &record[size_of::<PacketHeader>()..];
    let cap = (hdr.cap_len as usize).min(data.len());
    Some((hdr, &data[..cap]))
}

/// Reads a record of the state ring (a [`SockEvent`] of any kind). `None`
/// for a record too short to hold one (never produced by our programs).
pub fn sock(record: &[u8]) -> Option<SockEvent> {
    let bytes = record.get(..size_of::<SockEvent>())?;
    // SAFETY: as above; SockEvent is plain old data.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_header_and_caps_data() {
        let hdr = PacketHeader {
            ts_ns: 7,
            ifindex: 3,
            orig_len: 100,
            cap_len: 4,
            direction: 1,
            _pad: [0; 3],
        };
        let mut rec = vec![0u8; size_of::<PacketHeader>() + 128];
        // SAFETY: writing a POD header into a large enough buffer.
        unsafe { std::ptr::write_unaligned(rec.as_mut_ptr().cast(), hdr) };
        rec[24..28].copy_from_slice(&[1, 2, 3, 4]);
        let (h, data) = packet(&rec).unwrap();
        assert_eq!(h, hdr);
        assert_eq!(data, &[1, 2, 3, 4]);
        assert!(packet(&rec[..10]).is_none());
    }

    #[test]
    fn reads_sock_events_at_any_alignment() {
        let ev = SockEvent {
            ts_ns: 1,
            skaddr: 0xffff_8880_1234_5678,
            kind: tracer_common::sock_kind::CONNECT,
            sport: 40000,
            dport: 80,
            ret: -115,
            netns: 4026531840,
            saddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..SockEvent::default()
        };
        let mut rec = vec![0u8; 1 + size_of::<SockEvent>()];
        // SAFETY: writing a POD event into a large enough buffer.
        unsafe { std::ptr::write_unaligned(rec[1..].as_mut_ptr().cast(), ev) };
        assert_eq!(sock(&rec[1..]), Some(ev));
        assert_eq!(sock(&rec[1..rec.len() - 1]), None);
    }
}
