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
    ffi::{CStr, CString},
    fs,
    path::Path,
};

use super::model::{Comm, Owner};

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
    let Ok(root) = CString::new(proc.as_os_str().as_bytes()) else {
        return OwnerMap::new();
    };
    let Some(mut dir) = Dir::open_at(libc::AT_FDCWD, &root) else {
        return OwnerMap::new();
    };
    let proc_fd = dir.fd();
    let mut sub = Vec::with_capacity(32);
    let mut link = [0u8; 64];
    while let Some(name) = dir.next_name() {
        let Some(pid) = std::str::from_utf8(name.to_bytes())
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        sub.clear();
        sub.extend_from_slice(name.to_bytes());
        sub.extend_from_slice(b"/fd\0");
        let Some(mut fds) = CStr::from_bytes_with_nul(&sub)
            .ok()
            .and_then(|p| Dir::open_at(proc_fd, p))
        else {
            continue;
        };
        let fds_fd = fds.fd();
        while let Some(fd) = fds.next_name() {
            let Some(inode) = read_link_at(fds_fd, fd, &mut link).and_then(socket_inode) else {
                continue;
            };
            if wanted.is_some_and(|w| !w.contains(&inode)) {
                continue;
            }
            pids.entry(inode).and_modify(|p| *p = (*p).min(pid)).or_insert(pid);
        }
    }
    let mut comms: HashMap<u32, Comm> = HashMap::new();
    pids.into_iter()
        .map(|(inode, pid)| {
            let comm = *comms.entry(pid).or_insert_with(|| read_comm(proc, pid));
            (inode, Owner { pid, comm })
        })
        .collect()
}

/// An open directory read with readdir(3); its entries are looked at with
/// readlinkat(2) relative to it, which saves resolving /proc/PID/fd/N from
/// the root for every descriptor (about 4 µs a descriptor with full paths).
struct Dir(std::ptr::NonNull<libc::DIR>);

impl Dir {
    fn open_at(parent: libc::c_int, path: &CStr) -> Option<Dir> {
        // SAFETY: openat(2) with a NUL-terminated path; the result is checked.
        let fd = unsafe {
            libc::openat(
                parent,
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is an open directory descriptor that fdopendir takes over.
        match std::ptr::NonNull::new(unsafe { libc::fdopendir(fd) }) {
            Some(d) => Some(Dir(d)),
            None => {
                // SAFETY: fdopendir failed, so fd is still ours to close.
                unsafe { libc::close(fd) };
                None
            }
        }
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: self.0 is an open DIR stream.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next entry's name, skipping `.` and `..`; None at the end (or on
    /// an error, e.g. the process exited while being read).
    fn next_name(&mut self) -> Option<&CStr> {
        loop {
            // SAFETY: self.0 is an open DIR stream; the entry stays valid
            // until the next readdir on it, which the borrow of self prevents.
            let ent = unsafe { libc::readdir(self.0.as_ptr()) };
            if ent.is_null() {
                return None;
            }
            // SAFETY: d_name of a returned entry is NUL-terminated.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                return Some(name);
            }
        }
    }
}

/// The target of symlink `name` in directory `dir`, cut to `buf`'s size.
fn read_link_at<'b>(dir: libc::c_int, name: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    // SAFETY: readlinkat(2) writes at most buf.len() bytes into buf.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.get(..usize::try_from(n).ok()?)
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: self.0 is an open DIR stream, closed once here.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

/// /proc/PID/comm without its newline; empty if the process is gone.
fn read_comm(proc: &Path, pid: u32) -> Comm {
    let text = fs::read(proc.join(pid.to_string()).join("comm")).unwrap_or_default();
    let text = text.strip_suffix(b"\n").unwrap_or(&text);
    Comm::from(String::from_utf8_lossy(text).as_ref())
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
