//! tracer: tcpdump-compatible capture and TCP socket-state tracing with eBPF.
//!
//! Data path: kernel programs (tracer-ebpf) → BPF ring buffers → `capture`
//! (readers, clock conversion, counters) → `print` (tcpdump lines) and `pcap`
//! (files Wireshark reads).

pub mod capture;
pub mod cli;
pub mod filter;
pub mod live;
pub mod offline;
pub mod pcap;
pub mod print;
pub mod privdrop;
pub mod signals;
pub mod states;
pub mod wire;
