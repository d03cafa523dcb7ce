//! Checks made before loading anything, so that a missing privilege or kernel
//! feature gives one clear sentence instead of a verifier or syscall error.

use std::{ffi::CString, path::Path};

use super::CaptureError;

const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
pub const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// Effective capabilities of this process, from /proc/self/status.
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// What the capture needs: loading anything CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN stands in
/// for both), packet hooks CAP_NET_ADMIN. Tracepoints also need tracefs to be readable
/// ([`ensure_tracefs`]).
pub fn check_privileges(packets: bool) -> Result<(), CaptureError> {
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    let sys_admin = has(CAP_SYS_ADMIN);
    let mut missing = Vec::new();
    if !(has(CAP_BPF) || sys_admin) {
        missing.push("CAP_BPF");
    }
    if packets && !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    // Packet programs too: without it the verifier's Spectre mitigations refuse their
    // pointer arithmetic ("pointer arithmetic with it prohibited for !root").
    if !(has(CAP_PERFMON) || sys_admin) {
        missing.push("CAP_PERFMON");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CaptureError::Permission {
            missing: missing.join(", "),
        })
    }
}

/// Kernel BTF must be present (the programs are loaded against it).
pub fn check_btf() -> Result<(), CaptureError> {
    match std::fs::metadata(BTF_PATH) {
        Ok(_) => Ok(()),
        Err(source) => Err(CaptureError::NoBtf { err: source }),
    }
}

fn tracefs_mounted() -> bool {
    Path::new(TRACEFS).join("events").is_dir() || Path::new(DEBUGFS_TRACING).join("events").is_dir()
}

/// Tracepoints are found through tracefs: mount it when it is missing.
pub fn ensure_tracefs() -> Result<(), CaptureError> {
    if tracefs_mounted() {
        return Ok(());
    }
    // Mounted but not readable: tracefs is mode 0700, root's, unless mounted otherwise.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mounted = mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        matches!(f.get(1..3), Some([at, "tracefs"]) if *at == TRACEFS || *at == DEBUGFS_TRACING)
    });
    let caps = effective_caps();
    if mounted && caps & (1 << CAP_DAC_READ_SEARCH | 1 << CAP_DAC_OVERRIDE) == 0 {
        return Err(CaptureError::Permission {
            missing: format!(
                "CAP_DAC_READ_SEARCH: {TRACEFS}, where the tracepoints are found, is readable by root only"
            ),
        });
    }
    let c = |s: &str| CString::new(s).expect("no NUL in constant");
    let (src, target, fstype) = (c("tracefs"), c(TRACEFS), c("tracefs"));
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(CaptureError::NoTracefs {
            err: std::io::Error::last_os_error(),
        });
    }
    if tracefs_mounted() {
        Ok(())
    } else {
        Err(CaptureError::NoTracefs {
            err: std::io::Error::new(std::io::ErrorKind::NotFound, "no events directory after mounting"),
        })
    }
}
