//! What tracers record about the clsact qdiscs they create, across
//! processes: a marker file per qdisc under /run/tracer/clsact/, named by
//! the network namespace and the interface index, created with the qdisc and
//! removed with it. A qdisc without a marker is someone else's and is never
//! removed. Every tracer takes an exclusive flock on /run/tracer/tc.lock
//! while it adds or removes a qdisc, a filter or a marker, so that one
//! tracer never deletes a qdisc another is about to attach a filter to.
//!
//! The namespace is named by its cookie (SO_NETNS_COOKIE, Linux 5.14+),
//! which the kernel never reuses before a reboot (and /run is emptied at
//! boot); where the cookie is unavailable, by the inode of
//! /proc/self/ns/net, which a later namespace may get again.

use std::{
    fs::{self, File, OpenOptions},
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _},
    },
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

/// Where the markers and the lock live.
pub const DIR: &str = "/run/tracer";

/// How long to wait for another tracer's lock before going on without it.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The network namespace a qdisc is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Netns {
    Cookie(u64),
    Inode(u64),
}

impl Netns {
    /// The current thread's network namespace.
    pub fn current() -> io::Result<Netns> {
        match cookie() {
            Ok(c) => Ok(Netns::Cookie(c)),
            Err(_) => Ok(Netns::Inode(fs::metadata("/proc/thread-self/ns/net")?.ino())),
        }
    }
}

/// SO_NETNS_COOKIE of a socket created in the current network namespace.
fn cookie() -> io::Result<u64> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: we own the new descriptor.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut value: u64 = 0;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: value and len are valid for writing, len gives value's size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// The marker file's name for the qdisc of `ifindex` in `netns`.
pub fn marker_name(netns: Netns, ifindex: u32) -> String {
    match netns {
        Netns::Cookie(c) => format!("clsact-netns{c}-if{ifindex}"),
        Netns::Inode(i) => format!("clsact-nsino{i}-if{ifindex}"),
    }
}

/// The marker directory and the lock shared by every tracer.
pub struct Store {
    dir: PathBuf,
    lock: File,
}

/// Held while the lock is taken (released on drop, and by the kernel if the
/// process dies).
pub struct Locked<'a> {
    store: &'a Store,
    held: bool,
}

impl Store {
    /// Opens (creating) `dir`, `dir/clsact/` and the lock file.
    pub fn open(dir: &Path) -> io::Result<Store> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join("clsact"))?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join("tc.lock"))?;
        Ok(Store {
            dir: dir.to_owned(),
            lock,
        })
    }

    /// Takes the lock, waiting up to 10 s for another tracer to release it.
    /// After that (a stopped tracer holds it) the caller goes on unlocked:
    /// `held()` says which.
    pub fn lock(&self) -> Locked<'_> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(self.lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Locked {
                    store: self,
                    held: true,
                };
            }
            let err = io::Error::last_os_error();
            let busy = err.raw_os_error() == Some(libc::EWOULDBLOCK) || err.kind() == io::ErrorKind::Interrupted;
            if !busy || Instant::now() >= deadline {
                return Locked {
                    store: self,
                    held: false,
                };
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn path(&self, netns: Netns, ifindex: u32) -> PathBuf {
        self.dir.join("clsact").join(marker_name(netns, ifindex))
    }

    /// Records that a tracer created the qdisc of `ifindex`.
    pub fn mark(&self, netns: Netns, ifindex: u32) -> io::Result<()> {
        fs::write(self.path(netns, ifindex), format!("{}\n", std::process::id()))
    }

    pub fn is_marked(&self, netns: Netns, ifindex: u32) -> bool {
        self.path(netns, ifindex).exists()
    }

    /// Forgets the qdisc of `ifindex` (removed, or gone with its interface).
    pub fn unmark(&self, netns: Netns, ifindex: u32) -> io::Result<()> {
        match fs::remove_file(self.path(netns, ifindex)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Locked<'_> {
    /// Whether the lock is really held (false after waiting in vain).
    pub fn held(&self) -> bool {
        self.held
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.held {
            // SAFETY: flock on a descriptor the store owns.
            unsafe { libc::flock(self.store.lock.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_per_namespace_and_interface() {
        let dir = std::env::temp_dir().join(format!("tracer-marker-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).expect("store");
        let (a, b) = (Netns::Cookie(4096), Netns::Inode(4026532000));
        store.mark(a, 3).expect("mark");
        assert!(store.is_marked(a, 3));
        assert!(!store.is_marked(a, 4));
        assert!(!store.is_marked(b, 3));
        store.unmark(a, 3).expect("unmark");
        assert!(!store.is_marked(a, 3));
        store.unmark(a, 3).expect("unmarking twice is fine");
        assert_ne!(marker_name(Netns::Cookie(5), 1), marker_name(Netns::Inode(5), 1));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn the_lock_excludes_another_open_file() {
        let dir = std::env::temp_dir().join(format!("tracer-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let one = Store::open(&dir).expect("store");
        let two = Store::open(&dir).expect("store");
        let held = one.lock();
        assert!(held.held());
        // flock locks belong to the open file: the second one must wait.
        // SAFETY: flock on a descriptor the store owns.
        let rc = unsafe { libc::flock(two.lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, -1);
        drop(held);
        assert!(two.lock().held());
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn this_namespace_has_an_id() {
        assert!(Netns::current().is_ok());
    }
}
