//! Filter expressions (pcap-filter(7)) with tcpdump's exact semantics.
//!
//! libpcap's own compiler turns an expression into classic BPF for the capture's link type
//! ([`compile`]); the loops of its `protochain` programs are unrolled ([`unroll`]); the program
//! is checked as the kernel checks classic programs and run by an evaluator with libpcap's
//! semantics ([`cbpf`]): `-r` runs it on each packet of the file. For the kernel programs the
//! same instructions are translated into eBPF ([`translate`], with [`ebpf`]'s instruction
//! forms), which they run before copying anything.

pub mod cbpf;
mod compile;
pub mod ebpf;
pub mod expression;
pub mod translate;
pub mod unroll;

use std::path::{Path, PathBuf};

use tracer_common::CbpfInsn;

pub use compile::dlt_of_linktype;
pub use expression::ExpressionSource;

/// DLT_EN10MB: Ethernet, the frames the kernel programs see.
pub const DLT_EN10MB: u32 = 1;
/// DLT_LINUX_SLL2: Linux cooked v2, what `-i any` and captures of several interfaces write.
pub const DLT_LINUX_SLL2: u32 = 276;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// libpcap refused the expression; its message, as tcpdump prints it.
    #[error("{message}")]
    Compile { message: String },
    /// libpcap compiled it, but into a program the kernel programs cannot run, even with its
    /// loops unrolled (`protochain 6 or protochain 17`: too long).
    #[error("filter expression `{expression}` cannot be run: {problem}")]
    Unrunnable { expression: String, problem: NotRunnable },
    #[error("libpcap gave an instruction that cannot be read: `{text}`")]
    Instruction { text: String },
    /// `-F FILE` could not be read (tcpdump's wording).
    // The I/O error is part of the message, not a source: the chain would repeat it.
    #[error("can't open {}: {}", path.display(), expression::os_message(error))]
    File { path: PathBuf, error: std::io::Error },
    #[error("read {}: {}", path.display(), expression::os_message(error))]
    FileRead { path: PathBuf, error: std::io::Error },
}

/// Why a program libpcap compiled cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRunnable {
    /// Its loops cannot be unrolled into few enough instructions.
    #[error(transparent)]
    Loop(#[from] unroll::UnrollError),
    /// The loop-free program fails the kernel's checks.
    #[error(transparent)]
    Invalid(#[from] cbpf::InvalidProgram),
}

/// A compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    expression: String,
    insns: Vec<CbpfInsn>,
}

impl Filter {
    /// Compiles `expression` for link type `dlt` (a DLT_* value: [`dlt_of_linktype`] turns a
    /// file's link type into one) with libpcap's optimiser, as tcpdump does; accepting returns
    /// give `snaplen`. Loops (`protochain`) are unrolled with [`unroll::unroll`], then the
    /// program is checked with [`cbpf::validate`].
    pub fn compile(expression: &str, dlt: u32, snaplen: u32) -> Result<Filter, FilterError> {
        Self::checked(expression, compile::compile(expression, dlt, snaplen)?)
    }

    /// Compiles `expression` exactly as tcpdump does for reading the capture file `path`: on
    /// libpcap's handle for that file (its link type, and its byte order, which the DLT_NULL
    /// header's comparison depends on). `Ok(None)` when libpcap cannot open the file.
    pub fn compile_for_file(expression: &str, path: &Path, snaplen: u32) -> Result<Option<Filter>, FilterError> {
        match compile::compile_for_file(expression, path, snaplen)? {
            Some(insns) => Self::checked(expression, insns).map(Some),
            None => Ok(None),
        }
    }

    /// Compiles `expression` as tcpdump does for a live capture on `device` (libpcap on
    /// Linux then reads the kernel's metadata for VLAN tags, `inbound`/`outbound` and
    /// `ifindex`). `Ok(None)` when no live handle can be opened there, or when its link type
    /// is not `dlt`.
    pub fn compile_live(expression: &str, device: &str, dlt: u32, snaplen: u32) -> Result<Option<Filter>, FilterError> {
        match compile::compile_live(expression, device, dlt, snaplen)? {
            Some(insns) => Self::checked(expression, insns).map(Some),
            None => Ok(None),
        }
    }

    /// libpcap's program, unrolled and validated.
    fn checked(expression: &str, insns: Vec<CbpfInsn>) -> Result<Filter, FilterError> {
        let unrunnable = |problem: NotRunnable| FilterError::Unrunnable {
            expression: expression.to_owned(),
            problem,
        };
        let insns = unroll::unroll(&insns).map_err(|e| unrunnable(e.into()))?.insns;
        cbpf::validate(&insns).map_err(|e| unrunnable(e.into()))?;
        Ok(Filter {
            expression: expression.to_owned(),
            insns,
        })
    }

    /// The classic BPF program (struct sock_filter / libpcap's bpf_insn layout), loop-free:
    /// libpcap's, with its loops unrolled.
    pub fn insns(&self) -> &[CbpfInsn] {
        &self.insns
    }

    /// Whether the packet is selected: `pkt` is what was captured of it, `wire_len` its length
    /// on the wire (what `len`, `greater` and `less` test).
    pub fn matches(&self, pkt: &[u8], wire_len: u32) -> bool {
        cbpf::run(&self.insns, pkt, wire_len) != 0
    }

    /// The expression as given (words joined by spaces, or the `-F` file's text).
    pub fn expression(&self) -> &str {
        &self.expression
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_libpcaps() {
        let msg = |e: &str| Filter::compile(e, DLT_EN10MB, 262_144).unwrap_err().to_string();
        assert_eq!(msg("tcp port 70000"), "illegal port number 70000 > 65535");
        assert_eq!(msg("port 80 and"), "can't parse filter expression: syntax error");
        assert_eq!(msg("((tcp)"), "can't parse filter expression: syntax error");
        assert_eq!(msg("host 999.1.1.1"), "invalid IPv4 address '999.1.1.1'");
        assert_eq!(msg("net 10.0.0.1/8"), "non-network bits set in \"10.0.0.1/8\"");
    }

    #[test]
    fn selects_by_wire_length_and_bytes() {
        let f = Filter::compile("greater 100", DLT_EN10MB, 262_144).unwrap();
        assert_eq!(f.expression(), "greater 100");
        assert!(f.matches(&[0; 14], 100));
        assert!(!f.matches(&[0; 14], 99));
        let f = Filter::compile("arp", DLT_EN10MB, 262_144).unwrap();
        let mut frame = [0u8; 60];
        frame[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(f.matches(&frame, 60));
        frame[13] = 0;
        assert!(!f.matches(&frame, 60));
        assert!(!f.matches(&frame[..13], 60), "truncated before the ethertype");
        assert!(f.insns().len() >= 3);
    }
}
