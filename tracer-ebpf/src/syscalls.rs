//! ACCEPT from the `syscalls:*` tracepoints, for kernels that refuse
//! fentry/fexit programs (this 6.18 build answers EPERM to every
//! BPF_PROG_TYPE_TRACING load with an fentry/fexit attach type):
//! `syscalls:sys_exit_accept` / `sys_exit_accept4` → ACCEPT: the returned fd
//! is followed through the task's file table to its socket (`FILE_OFFSETS`);
//! non-inet sockets (AF_UNIX …) are skipped. It runs in the accepting task.
//! The event carries only the socket's address and the task: the tracker
//! knows the tuple from the socket's state events, and every field read here
//! is a helper call (about a microsecond each on these VMs).
//!
//! There is no connect() counterpart: CLOSE → SYN_SENT runs in the connecting
//! task, and the socket's next event carries the bound source port.

use aya_ebpf::{helpers::bpf_get_current_task, macros::tracepoint, programs::TracePointContext};
use tracer_common::{FileOffsets, SockEvent, SysExitRaw, sock_kind};

use crate::{
    FILE_OFFSETS,
    kmem::{AF_INET, AF_INET6, event, offsets, read, send},
};

#[tracepoint]
pub fn tracer_sys_accept(ctx: TracePointContext) -> u32 {
    // SAFETY: as above.
    let Ok(raw) = (unsafe { ctx.read_at::<SysExitRaw>(0) }) else {
        return 0;
    };
    if raw.ret < 0 {
        return 0;
    }
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let f: FileOffsets = unsafe { core::ptr::read_volatile(&FILE_OFFSETS) };
    let o = offsets();
    if f.valid == 0 || o.valid == 0 {
        return 0;
    }
    let Some(sk) = fd_socket(raw.ret as u64, &f) else {
        return 0;
    };
    let family = read::<u16>(sk, o.skc_family).unwrap_or(0);
    if family != AF_INET && family != AF_INET6 {
        return 0;
    }
    let mut ev: SockEvent = event(sock_kind::ACCEPT, sk, 0);
    ev.family = family as u8;
    send(&ev);
    0
}

/// `current->files->fdt->fd[fd]->private_data->sk`: the `struct sock` behind
/// a socket fd of the current task.
#[inline(always)]
fn fd_socket(fd: u64, f: &FileOffsets) -> Option<u64> {
    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() };
    let files = read::<u64>(task, f.task_files)?;
    let fdt = read::<u64>(files, f.files_fdt)?;
    let fds = read::<u64>(fdt, f.fdt_fd)?;
    let file = read::<u64>(fds.checked_add(fd.checked_mul(8)?)?, 0)?;
    let socket = read::<u64>(file, f.file_private_data)?;
    let sk = read::<u64>(socket, f.socket_sk)?;
    (sk != 0).then_some(sk)
}
