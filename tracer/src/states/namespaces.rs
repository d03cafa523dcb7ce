//! The socket tables of every network namespace on the host, for seeding
//! `tracer states`: the state tracepoint sees all namespaces, so sockets
//! opened before the start (listeners above all: their children inherit the
//! owner) should be known in all of them, not only in the tracer's own.
//!
//! Namespaces are found through /proc/*/ns/net (one process per namespace)
//! and /var/run/netns (named ones, possibly without a process). Each table is
//! read by a short-lived thread that enters the namespace with setns(2);
//! the owners come from one /proc scan for all of them.

use std::{
    collections::{BTreeMap, HashSet},
    fs::File,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
    thread,
};

use super::{
    model::SocketInfo,
    owners,
    seed::{self, SeedError},
};

/// Network namespaces by inode, each with a path that opens it.
pub fn list() -> BTreeMap<u32, PathBuf> {
    list_in(Path::new("/proc"), Path::new("/var/run/netns"))
}

fn list_in(proc: &Path, named: &Path) -> BTreeMap<u32, PathBuf> {
    let mut out = BTreeMap::new();
    let mut add = |path: PathBuf| {
        if let Ok(meta) = std::fs::metadata(&path)
            && let Ok(ino) = u32::try_from(meta.ino())
        {
            out.entry(ino).or_insert(path);
        }
    };
    if let Ok(dir) = std::fs::read_dir(named) {
        for e in dir.flatten() {
            add(e.path());
        }
    }
    if let Ok(dir) = std::fs::read_dir(proc) {
        for e in dir.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                add(e.path().join("ns/net"));
            }
        }
    }
    out
}

/// One namespace's table, read from a thread that entered it.
fn dump_in(netns: u32, path: &Path) -> Result<Vec<SocketInfo>, SeedError> {
    let file = File::open(path).map_err(SeedError::Netns)?;
    let handle = thread::spawn(move || {
        // SAFETY: setns on this thread only, with a valid namespace descriptor.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(SeedError::Netns(std::io::Error::last_os_error()));
        }
        seed::dump_as(netns)
    });
    handle.join().unwrap_or_else(|_| {
        Err(SeedError::Netns(std::io::Error::other(
            "namespace reader thread panicked",
        )))
    })
}

/// Every TCP socket of every network namespace, with owners, and the
/// namespaces whose table could not be read (with why).
pub fn snapshot_all() -> (Vec<SocketInfo>, Vec<(u32, SeedError)>) {
    let current = seed::current_netns().ok();
    let mut sockets = Vec::new();
    let mut failed = Vec::new();
    match seed::dump() {
        Ok(v) => sockets.extend(v),
        Err(e) => failed.push((current.unwrap_or(0), e)),
    }
    for (ino, path) in list() {
        if Some(ino) == current {
            continue;
        }
        match dump_in(ino, &path) {
            Ok(v) => sockets.extend(v),
            Err(e) => failed.push((ino, e)),
        }
    }
    let inodes: HashSet<u64> = sockets.iter().map(|s| s.inode).filter(|&i| i != 0).collect();
    seed::attach_owners(&mut sockets, &owners::scan_for(&inodes));
    (sockets, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_namespace() {
        let ns = list();
        let me = seed::current_netns().expect("own namespace");
        assert!(ns.contains_key(&me), "{ns:?} lacks {me}");
    }

    #[test]
    fn missing_dirs_give_nothing() {
        assert!(list_in(Path::new("/nonexistent/proc"), Path::new("/nonexistent/netns")).is_empty());
    }
}
