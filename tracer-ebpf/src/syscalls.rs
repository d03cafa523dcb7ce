//! CONNECT and ACCEPT from the `syscalls:*` tracepoints, for kernels that
//! refuse fentry/fexit programs (this 6.18 build answers EPERM to every
//! BPF_PROG_TYPE_TRACING load with an fentry/fexit attach type):
//!
//! - `syscalls:sys_exit_connect` → CONNECT: `sock:inet_sock_set_state` noted
//!   which socket this task moved CLOSE → SYN_SENT (`CONNECTING`); when the
//!   task's connect() returns, the local port is bound, so the tuple read
//!   from the socket has the real source port. `ret` = connect's return
//!   value (-EINPROGRESS for a non-blocking connect).
//! - `syscalls:sys_exit_accept` / `sys_exit_accept4` → ACCEPT: the returned
//!   fd is followed through the task's file table to its socket
//!   (`FILE_OFFSETS`); non-inet sockets (AF_UNIX …) are skipped.
//!
//! Both run in the task that owns the socket. Connects made without the
//! syscall (io_uring, in-kernel users) are not reported this way.

use aya_ebpf::{helpers::bpf_get_current_task, macros::tracepoint, programs::TracePointContext};
use tracer_common::{FileOffsets, SockEvent, SysExitRaw, sock_kind};

use crate::{
    CONNECTING, FILE_OFFSETS,
    kmem::{AF_INET, AF_INET6, event, fill_tuple, offsets, read, send},
};

#[tracepoint]
pub fn tracer_sys_connect(ctx: TracePointContext) -> u32 {
    let pid_tgid = aya_ebpf::helpers::bpf_get_current_pid_tgid();
    // SAFETY: a map lookup; the value is copied out at once.
    let Some(sk) = (unsafe { CONNECTING.get(&pid_tgid) }).copied() else {
        // Not a TCP connect that changed state (UDP, AF_UNIX, an error before SYN_SENT).
        return 0;
    };
    let _ = CONNECTING.remove(&pid_tgid);
    // SAFETY: the layout is checked against the tracepoint's format file by the loader.
    let ret = unsafe { ctx.read_at::<SysExitRaw>(0) }.map_or(0, |r| r.ret as i32);
    let mut ev = event(sock_kind::CONNECT, sk, 0);
    ev.ret = ret;
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, sk, &o);
    }
    send(&ev);
    0
}

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
    let mut ev: SockEvent = event(sock_kind::ACCEPT, sk, 0);
    fill_tuple(&mut ev, sk, &o);
    let family = u16::from(ev.family);
    if family != AF_INET && family != AF_INET6 {
        return 0;
    }
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
