//! Capture files: reading (pcap, pcapng) and writing (pcap).

pub(crate) mod pcapng;
pub mod read;
pub mod write;
