//! Capture files: reading (pcap, pcapng) and writing (pcap).

pub mod read;
pub mod write;
pub(crate) mod pcapng;
