//! Statistics the kernel keeps per BPF program that aya does not expose:
//! recursion misses. A tracing program that would run nested on a CPU (a
//! softirq interrupting it and reaching the same hook) is skipped by the
//! kernel, which only counts the skip; those are events lost outside our
//! own counters, so the exit report adds them.

use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsFd, AsRawFd as _},
};

use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_info};

/// `bpf_prog_info.recursion_misses` of the program behind `fd`.
pub fn recursion_misses(fd: impl AsFd) -> io::Result<u64> {
    Ok(info(fd)?.recursion_misses)
}

/// `bpf_prog_info.verified_insns`: instructions the verifier processed to accept the program
/// behind `fd` (its limit is 1,000,000).
pub fn verified_insns(fd: impl AsFd) -> io::Result<u32> {
    Ok(info(fd)?.verified_insns)
}

fn info(fd: impl AsFd) -> io::Result<bpf_prog_info> {
    // SAFETY: both are plain C structs for which all-zero is valid.
    let mut info: bpf_prog_info = unsafe { zeroed() };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { zeroed() };
    attr.info.bpf_fd = u32::try_from(fd.as_fd().as_raw_fd()).map_err(|_| io::Error::other("negative descriptor"))?;
    attr.info.info_len = size_of::<bpf_prog_info>() as u32;
    attr.info.info = std::ptr::from_mut(&mut info) as u64;
    // SAFETY: BPF_OBJ_GET_INFO_BY_FD writes at most info_len bytes into `info`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            std::ptr::from_mut(&mut attr),
            size_of::<bpf_attr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}
