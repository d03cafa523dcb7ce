//! `cargo xtask churn`: the connection-churn workload of the socket-state bench, as fast as
//! this machine goes. A server on 127.0.0.1 accepts, reads the client's bytes up to its FIN and
//! closes; client threads connect, send a few bytes and close. Every connection makes about
//! ten state transitions (five per side). Runs in its own process so that its CPU time
//! (wait4's rusage) is the workload's alone.

use std::{
    io::{Read as _, Write as _},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

const PAYLOAD: &[u8] = b"churn: 24 bytes of data\n";

/// How many connections, over how many client and server threads.
pub struct Options {
    pub connections: usize,
    pub threads: usize,
}

fn serve(listener: &TcpListener, left: &AtomicUsize) {
    let mut buf = [0u8; 256];
    // Each thread takes connections until all have been accepted.
    while left
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
    {
        let Ok((mut s, _)) = listener.accept() else {
            continue;
        };
        // Up to the client's FIN; then this socket closes (CLOSE_WAIT -> LAST_ACK -> CLOSE).
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    }
}

fn connect_one(addr: SocketAddr) -> Result<()> {
    let mut s = TcpStream::connect(addr).context("connect")?;
    s.write_all(PAYLOAD).context("write")?;
    // The client closes first: FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT.
    s.shutdown(Shutdown::Write).context("shutdown")?;
    let mut end = [0u8; 1];
    // Wait for the server's FIN, so that every connection completes before the next.
    let _ = s.read(&mut end);
    Ok(())
}

pub fn run(o: &Options) -> Result<()> {
    if o.connections == 0 || o.threads == 0 {
        bail!("churn: --connections and --threads must be positive");
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let listener = Arc::new(listener);
    let to_accept = Arc::new(AtomicUsize::new(o.connections));
    let start = Instant::now();
    let servers: Vec<_> = (0..o.threads)
        .map(|_| {
            let (l, left) = (listener.clone(), to_accept.clone());
            thread::spawn(move || serve(&l, &left))
        })
        .collect();
    let to_connect = Arc::new(AtomicUsize::new(o.connections));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..o.threads)
        .map(|_| {
            let (left, failed) = (to_connect.clone(), failed.clone());
            thread::spawn(move || {
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    if let Err(e) = connect_one(addr) {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("churn: {e:#}");
                        }
                        // The server still waits for this connection: give it one.
                        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
                    }
                }
            })
        })
        .collect();
    for c in clients {
        let _ = c.join();
    }
    for s in servers {
        let _ = s.join();
    }
    let wall = start.elapsed();
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "churn: {} connections in {:.3} s ({:.0}/s), {failed} failed",
        o.connections,
        wall.as_secs_f64(),
        o.connections as f64 / wall.as_secs_f64().max(1e-9)
    );
    if failed > 0 {
        bail!("churn: {failed} of {} connections failed", o.connections);
    }
    Ok(())
}
