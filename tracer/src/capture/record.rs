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

/// Reads a state record.
pub fn state(record: &[u8]) -> Option<SockEvent> {
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
}
