//! Live capture: preflight checks, loading and attaching the kernel programs
//! with bpf links, draining the ring buffers, converting kernel timestamps,
//! and reading the per-CPU counters.

pub mod btf;
pub mod clock;
pub mod counters;
pub mod filter;
pub mod iface;
pub mod link;
pub mod load;
pub mod preflight;
pub mod proginfo;
pub mod record;
pub mod splice;
pub mod staterings;
pub mod tc;
pub mod testrun;
pub mod tpformat;

use std::io;

/// Everything that can stop a live capture from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{name}: No such device exists")]
    NoSuchDevice { name: String },
    #[error("no suitable device found")]
    NoDefaultInterface,
    #[error(
        "you don't have permission to capture: tracer needs root, or CAP_BPF and CAP_PERFMON, with CAP_NET_ADMIN for packets and CAP_DAC_READ_SEARCH for socket states where tracefs is root's only (missing {missing})"
    )]
    Permission { missing: String },
    #[error(
        "kernel BTF is not available ({}: {err}): tracer needs a kernel built with CONFIG_DEBUG_INFO_BTF=y",
        preflight::BTF_PATH
    )]
    NoBtf { err: io::Error },
    #[error(
        "tracefs is not mounted at {} and mounting it failed ({err}): run `mount -t tracefs tracefs {}` as root",
        preflight::TRACEFS,
        preflight::TRACEFS
    )]
    NoTracefs { err: io::Error },
    #[error("{name}: unsupported link type (ARPHRD {arphrd})")]
    UnsupportedLink { name: String, arphrd: u16 },
    /// aya errors keep the syscall error as their source: `err` holds the whole chain.
    #[error("loading the kernel programs: {err}")]
    Load { err: String },
    #[error("{what}: {err}")]
    Program { what: String, err: String },
    #[error("{what}: {err}")]
    Map { what: String, err: String },
    #[error("{what}: {err}")]
    Io { what: String, err: io::Error },
}

impl CaptureError {
    pub(crate) fn load(err: aya::EbpfError) -> Self {
        Self::Load { err: chain(&err) }
    }

    pub(crate) fn program(what: impl Into<String>) -> impl FnOnce(aya::programs::ProgramError) -> Self {
        let what = what.into();
        move |err| Self::Program { what, err: chain(&err) }
    }

    pub(crate) fn map(what: impl Into<String>) -> impl FnOnce(aya::maps::MapError) -> Self {
        let what = what.into();
        move |err| Self::Map { what, err: chain(&err) }
    }
}

/// "outer: inner: innermost", skipping a source already quoted by its parent.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}
