//! Which process holds a socket: the socket inode → (pid, comm) map, read
//! from the `socket:[INODE]` links in /proc/PID/fd as `ss -p` does.
//!
//! A socket held by several processes (inherited across fork, or passed over
//! a Unix socket) is given to the lowest pid: the parent that created it
//! before forking, e.g. the master of a pre-forking server for its listening
//! socket. Sockets in flight in an SCM_RIGHTS message, timewait and request
//! sockets (inode 0) have no owner. Threads share their process's fd table,
//! so /proc/PID/fd covers them (a thread created without CLONE_FILES is not
//! looked at). Processes whose fd directory cannot be read (another user's,
//! without root) are skipped.

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
    sync::Arc,
};

use super::model::Owner;

/// Socket inode → owning process.
pub type OwnerMap = HashMap<u64, Owner>;

/// The owner of every socket held by a process, from /proc.
pub fn scan() -> OwnerMap {
    scan_in(Path::new("/proc"), None)
}

/// The owners of the sockets in `inodes` only (cheaper: /proc/PID/comm is read
/// only for processes holding one of them).
pub fn scan_for(inodes: &HashSet<u64>) -> OwnerMap {
    scan_in(Path::new("/proc"), Some(inodes))
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The scan over a proc tree rooted at `proc` (tests use a fake one).
pub fn scan_in(proc: &Path, wanted: Option<&HashSet<u64>>) -> OwnerMap {
    use std::os::unix::ffi::OsStrExt as _;

    let mut pids: HashMap<u64, u32> = HashMap::new();
    let Ok(dir) = fs::read_dir(proc) else {
        return OwnerMap::new();
    };
    let mut fd_path = proc.to_path_buf();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = std::str::from_utf8(name.as_bytes())
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        fd_path.push(&name);
        fd_path.push("fd");
        if let Ok(fds) = fs::read_dir(&fd_path) {
            for fd in fds.flatten() {
                fd_path.push(fd.file_name());
                let link = fs::read_link(&fd_path);
                fd_path.pop();
                let Some(inode) = link.ok().and_then(|l| socket_inode(l.as_os_str().as_bytes())) else {
                    continue;
                };
                if wanted.is_some_and(|w| !w.contains(&inode)) {
                    continue;
                }
                pids.entry(inode).and_modify(|p| *p = (*p).min(pid)).or_insert(pid);
            }
        }
        fd_path.pop();
        fd_path.pop();
    }
    let mut comms: HashMap<u32, Arc<str>> = HashMap::new();
    pids.into_iter()
        .map(|(inode, pid)| {
            let comm = comms.entry(pid).or_insert_with(|| read_comm(proc, pid)).clone();
            (inode, Owner { pid, comm })
        })
        .collect()
}

/// /proc/PID/comm without its newline; empty if the process is gone.
fn read_comm(proc: &Path, pid: u32) -> Arc<str> {
    let text = fs::read(proc.join(pid.to_string()).join("comm")).unwrap_or_default();
    let text = text.strip_suffix(b"\n").unwrap_or(&text);
    Arc::from(String::from_utf8_lossy(text).as_ref())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[12a]"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999999]"), None);
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"anon_inode:[eventfd]"), None);
    }

    /// A fake /proc: pid 300 (python3) and its fork 301 share socket 7, 301
    /// alone holds 8; 42 (curl) holds 9 and a pipe; `self` and `sys` are not pids.
    #[test]
    fn fake_proc_tree() {
        let root = std::env::temp_dir().join(format!("tracer-owners-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let add = |pid: &str, comm: &str, links: &[(&str, &str)]| {
            let fd = root.join(pid).join("fd");
            fs::create_dir_all(&fd).unwrap();
            fs::write(root.join(pid).join("comm"), format!("{comm}\n")).unwrap();
            for (n, target) in links {
                symlink(target, fd.join(n)).unwrap();
            }
        };
        add("301", "python3-child", &[("3", "socket:[7]"), ("4", "socket:[8]")]);
        add("300", "python3", &[("0", "/dev/null"), ("5", "socket:[7]")]);
        add("42", "curl", &[("1", "pipe:[5]"), ("3", "socket:[9]")]);
        fs::create_dir_all(root.join("sys")).unwrap();
        add("self", "nope", &[("3", "socket:[10]")]);

        let map = scan_in(&root, None);
        let owner = |i: u64| map.get(&i).map(|o| (o.pid, o.comm.to_string()));
        assert_eq!(owner(7), Some((300, "python3".into())));
        assert_eq!(owner(8), Some((301, "python3-child".into())));
        assert_eq!(owner(9), Some((42, "curl".into())));
        assert_eq!(owner(10), None);
        assert_eq!(owner(5), None);
        assert_eq!(map.len(), 3);

        let only: HashSet<u64> = [8, 11].into();
        let map = scan_in(&root, Some(&only));
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [8]);
        fs::remove_dir_all(&root).unwrap();
        assert!(scan_in(&root, None).is_empty());
    }
}
