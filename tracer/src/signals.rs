//! SIGINT and SIGTERM from the first instant of the process.
//!
//! `main` calls [`install`] before it does anything else. From then on both signals set a flag
//! and write a byte to a self-pipe, whatever their disposition was: a shell starts a background
//! job (`tracer -i eth0 -w f.pcap &` in a script) with SIGINT ignored, and tcpdump 4.99.3 also
//! sets its SIGINT and SIGTERM handlers unconditionally (tcpdump.c, `setsignal(SIGINT, cleanup)`),
//! so a `kill -INT` stops it like a Ctrl-C. Nothing reads the pipe: once a signal came, it stays
//! readable and [`requested`] stays true, so a signal that arrives while the capture is starting
//! is still there when its loop begins, and the loop stops at once instead of never.
//!
//! The handlers come from `signal-hook`: its registry installs one `sigaction` handler per signal
//! (replacing `SIG_IGN`; the previous disposition is only chained when it is a real handler) and
//! runs async-signal-safe actions in it: an atomic store ([`signal_hook::flag`]) and a
//! non-blocking `send` ([`signal_hook::low_level::pipe`]). tokio's `signal()` uses the same
//! registry, but only works inside a runtime with its signal driver; `tracer states`, `tracer
//! stat` and `-r` run synchronous loops, and one mechanism serves them all: the synchronous loops
//! poll(2) the pipe beside their ring, the live capture registers it with tokio.
//!
//! While the tracer starts, both signals are also *blocked* on the main thread ([`install`] blocks
//! them first; [`checkpoint`] lets a pending one in between two start-up steps; [`release`] unblocks
//! them when the main loop begins). A pending, unblocked signal makes the kernel's verifier give up
//! on the program it is checking (`-EAGAIN`), and aya then loads the same program again with a
//! verbose verifier log, which is far slower (measured with the filter interpreter the packet
//! programs had before filters were compiled: a SIGINT during loading kept the tracer in the
//! verifier for over two minutes). Blocked, the signal waits for the step in progress to end:
//! the stop takes at most one program's verification longer. A stop requested during start-up detaches what was attached, reports and
//! exits 0, as a stop in the main loop does.
//!
//! SIGHUP and SIGPIPE keep their dispositions. tcpdump also catches SIGHUP, but only when it was
//! not ignored (to cooperate with nohup), and SIGPIPE; the Rust runtime ignores SIGPIPE, so a write
//! to a reader that went away fails with EPIPE, which the capture handles where it matters (`-w -`
//! ends as after `-c`; printing ends with an error, as tcpdump's `Unable to write output`).

use std::{
    io,
    os::{
        fd::{AsFd as _, AsRawFd as _, OwnedFd, RawFd},
        unix::net::UnixStream,
    },
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// The signals that stop the tracer.
pub const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Set by the handlers; never cleared.
static STOP: AtomicBool = AtomicBool::new(false);

/// The read end of the self-pipe: readable once a stop signal came (nobody reads it).
static WAKE: OnceLock<UnixStream> = OnceLock::new();

/// Why the handlers could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("blocking SIGINT and SIGTERM: {0}")]
    Mask(io::Error),
    #[error("creating the signal pipe: {0}")]
    Pipe(io::Error),
    #[error("installing the {name} handler: {err}")]
    Handler { name: &'static str, err: io::Error },
}

fn name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Blocks (`libc::SIG_BLOCK`) or unblocks (`libc::SIG_UNBLOCK`) the stop signals on this thread.
fn mask(how: libc::c_int) -> io::Result<()> {
    // SAFETY: a sigset_t initialised by sigemptyset and filled by sigaddset with valid signal
    // numbers; pthread_sigmask changes this thread's mask only.
    let rc = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in STOP_SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(how, &set, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Blocks SIGINT and SIGTERM on the calling thread (the main thread: call it first thing), then
/// installs their handlers. Until [`release`], a signal waits, pending, for the next
/// [`checkpoint`]; threads started meanwhile inherit the mask, so none of them takes it.
/// Blocking first means that not even a signal between the two steps is lost: a blocked signal
/// stays pending even while its disposition is still `SIG_IGN`. Calling it again does nothing.
pub fn install() -> Result<(), SignalError> {
    if WAKE.get().is_some() {
        return Ok(());
    }
    mask(libc::SIG_BLOCK).map_err(SignalError::Mask)?;
    let (read, write) = UnixStream::pair().map_err(SignalError::Pipe)?;
    read.set_nonblocking(true).map_err(SignalError::Pipe)?;
    for sig in STOP_SIGNALS {
        let handler = |err| SignalError::Handler { name: name(sig), err };
        // The flag first: actions run in the order they were registered, so whoever the
        // pipe wakes finds the flag set.
        signal_hook::flag::register(sig, &STOP).map_err(handler)?;
        let end = write.try_clone().map_err(SignalError::Pipe)?;
        signal_hook::low_level::pipe::register(sig, end).map_err(handler)?;
    }
    // Only the handlers write to the pipe (their clones of `write`).
    drop(write);
    // A racing second call keeps its own pipe alive through its handlers; one is enough.
    let _ = WAKE.set(read);
    Ok(())
}

/// True once SIGINT or SIGTERM arrived (and was let in: see [`checkpoint`]).
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Between two start-up steps: lets a signal that came meanwhile be handled, holds the signals
/// again, and says whether a stop was requested. Call it on the thread that called [`install`].
pub fn checkpoint() -> bool {
    if WAKE.get().is_none() {
        // Not installed: nothing is held, and the mask stays as it is.
        return requested();
    }
    // pthread_sigmask fails only for an invalid `how`; these are the constants it takes. A
    // pending signal is handled before the unblocking call returns.
    let _ = mask(libc::SIG_UNBLOCK);
    let _ = mask(libc::SIG_BLOCK);
    requested()
}

/// The start-up is over: signals are handled as they come from now on. Says whether a stop was
/// requested already (then the main loop should not start).
pub fn release() -> bool {
    if WAKE.get().is_some() {
        // As in `checkpoint`: cannot fail with SIG_UNBLOCK.
        let _ = mask(libc::SIG_UNBLOCK);
    }
    requested()
}

/// A descriptor of the self-pipe that becomes readable when a stop signal comes (and stays
/// readable); for tokio's `AsyncFd`. Fails when [`install`] was not called.
pub fn wake_fd() -> io::Result<OwnedFd> {
    let read = WAKE
        .get()
        .ok_or_else(|| io::Error::other("the signal handlers are not installed"))?;
    read.try_clone().map(OwnedFd::from)
}

/// Waits until `fd` is readable, `wait` has passed, or a stop signal came (the self-pipe is
/// polled beside `fd`, so a signal between a check of [`requested`] and this call still ends the
/// wait at once). Without [`install`], it waits for `fd` and the time alone.
pub fn wait_readable(fd: RawFd, wait: Duration) -> io::Result<()> {
    let pfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // A negative descriptor is skipped by poll(2).
    let wake = WAKE.get().map_or(-1, |w| w.as_fd().as_raw_fd());
    let mut fds = [pfd(fd), pfd(wake)];
    let ms = libc::c_int::try_from(wait.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: two valid pollfd entries; the caller keeps `fd` open, WAKE lives as long as the process.
    if unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{os::fd::AsRawFd as _, time::Instant};

    use super::*;

    // One test: the handlers, the flag and the signal mask are the whole process's (and the
    // mask the test thread's), so the steps must run in this order on one thread.
    #[test]
    fn a_held_signal_waits_for_the_checkpoint_and_is_never_lost() {
        // SAFETY: sigaction with SIG_IGN on SIGTERM, as a shell leaves SIGINT for a background job.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
        install().expect("installing the handlers");
        install().expect("a second install does nothing");
        assert!(!requested());
        let (a, b) = UnixStream::pair().expect("socketpair");
        let start = Instant::now();
        wait_readable(a.as_raw_fd(), Duration::from_millis(50)).expect("poll");
        assert!(start.elapsed() >= Duration::from_millis(40), "woke without cause");
        drop(b);

        // Held: the handler has not run yet although the signal was ignored before install.
        // SAFETY: raise(3) sends to the calling thread, where SIGTERM is blocked now.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        assert!(!requested(), "the signal should wait for the checkpoint");
        assert!(checkpoint(), "the checkpoint lets it in");
        assert!(requested());
        // The pipe stays readable: a wait returns at once, again and again.
        let (c, _d) = UnixStream::pair().expect("socketpair");
        for _ in 0..2 {
            let start = Instant::now();
            wait_readable(c.as_raw_fd(), Duration::from_secs(5)).expect("poll");
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "the signal pipe did not wake the wait"
            );
        }
        assert!(release());
        let fd = wake_fd().expect("wake fd");
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut p, 1, 0) }, 1, "wake_fd is readable");
        // The test binary stays killable by Ctrl-C.
        for sig in STOP_SIGNALS {
            // SAFETY: restores the default disposition; the registry's handler is left unused.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}
