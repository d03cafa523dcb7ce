//! Capture files: reading (pcap, pcapng) and writing (pcap, pcapng, rotated
//! as tcpdump's `-C`/`-W`/`-G` do, with the owning process of each packet in
//! pcapng comments).

pub mod owner;
pub(crate) mod pcapng;
pub mod pcapng_write;
pub mod read;
pub mod rotate;
pub mod sink;
pub mod write;
