//! `BPF_PROG_TEST_RUN` on a loaded program: the kernel runs it `repeat` times over one packet
//! and reports the mean time per run. Used to measure the packet programs' per-packet cost
//! with and without a capture filter (`cargo xtask bench`).

use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd as _, BorrowedFd},
};

use aya_obj::generated::{bpf_attr, bpf_cmd};

/// What one `BPF_PROG_TEST_RUN` gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (XDP_PASS = 2 for the XDP program).
    pub retval: u32,
    /// Mean nanoseconds per run, as the kernel measured them.
    pub ns_per_run: u32,
}

/// Runs the program behind `prog` `repeat` times over `packet`.
pub fn run(prog: BorrowedFd<'_>, packet: &[u8], repeat: u32) -> io::Result<TestRun> {
    // SAFETY: a plain C union for which all-zero is valid.
    let mut attr: bpf_attr = unsafe { zeroed() };
    let prog_fd = u32::try_from(prog.as_raw_fd()).map_err(|_| io::Error::other("negative descriptor"))?;
    let data_size_in = u32::try_from(packet.len()).map_err(|_| io::Error::other("packet too long"))?;
    attr.test.prog_fd = prog_fd;
    attr.test.data_in = packet.as_ptr() as u64;
    attr.test.data_size_in = data_size_in;
    attr.test.repeat = repeat;
    // SAFETY: BPF_PROG_TEST_RUN reads data_size_in bytes at data_in; no output buffers are given.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_PROG_TEST_RUN as libc::c_long,
            std::ptr::from_mut(&mut attr),
            size_of::<bpf_attr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled the `test` member.
    let (retval, duration) = unsafe { (attr.test.retval, attr.test.duration) };
    Ok(TestRun {
        retval,
        ns_per_run: duration,
    })
}
