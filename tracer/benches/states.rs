//! What `tracer states` costs in user space for each connection: the tracker
//! turning a connection's ten state events (client and server side, as the
//! kernel reports a loopback connect/accept/close) into transitions, and
//! those formatted as text or JSON lines. `cargo bench -p tracer --bench states`.
//!
//! The live figure (with the ring reads and the kernel side) comes from
//! `cargo xtask bench --only states`; this one is repeatable to a few percent.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    capture::clock::Clock,
    print::{PrintOptions, Printer},
    states::{format, model::Transition, model::state::*, tracker::Tracker},
};
use tracer_common::{SockEvent, sock_kind};

const CONNECTIONS: u64 = 2000;
const NETNS: u32 = 4026532177;
const SERVER_PORT: u16 = 38357;

fn event(ts_ns: u64, sk: u64, sport: u16, dport: u16, old: u8, new: u8) -> SockEvent {
    let mut e = SockEvent {
        ts_ns,
        skaddr: sk,
        netns: NETNS,
        kind: sock_kind::STATE,
        family: 2,
        oldstate: old,
        newstate: new,
        sport,
        dport,
        ..SockEvent::default()
    };
    e.saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    e.daddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    e
}

fn owned(mut e: SockEvent, pid: u32) -> SockEvent {
    e.pid_tgid = u64::from(pid) << 32 | u64::from(pid);
    e.comm[..5].copy_from_slice(b"churn");
    e
}

/// A listener, then `CONNECTIONS` connections one after the other, 66 µs
/// apart (15,000 a second), socket addresses reused as the slab reuses them.
fn workload() -> Vec<SockEvent> {
    let mut v = Vec::new();
    let listener = 0xffff_8880_0100_0000;
    let mut l = owned(event(1_000, listener, SERVER_PORT, 0, CLOSE, LISTEN), 500);
    l.daddr = [0; 16];
    v.push(l);
    for i in 0..CONNECTIONS {
        let t = 1_000_000 + i * 66_000;
        let client = 0xffff_8880_0200_0000 + (i % 97) * 0x1000;
        let server = 0xffff_8880_0300_0000 + (i % 89) * 0x1000;
        let port = 40000 + (i % 20000) as u16;
        let c = |dt: u64, old, new| event(t + dt, client, port, SERVER_PORT, old, new);
        let s = |dt: u64, old, new| event(t + dt, server, SERVER_PORT, port, old, new);
        v.push(owned(event(t, client, 0, SERVER_PORT, CLOSE, SYN_SENT), 500));
        v.push(s(20_000, LISTEN, SYN_RECV));
        v.push(c(22_000, SYN_SENT, ESTABLISHED));
        v.push(s(25_000, SYN_RECV, ESTABLISHED));
        v.push(c(40_000, ESTABLISHED, FIN_WAIT1));
        v.push(s(42_000, ESTABLISHED, CLOSE_WAIT));
        v.push(c(43_000, FIN_WAIT1, FIN_WAIT2));
        v.push(s(48_000, CLOSE_WAIT, LAST_ACK));
        let mut fin = c(50_000, FIN_WAIT2, CLOSE);
        fin.bytes_acked = 25;
        fin.bytes_received = 1;
        v.push(fin);
        let mut last = s(52_000, LAST_ACK, CLOSE);
        last.bytes_acked = 1;
        last.bytes_received = 25;
        v.push(last);
    }
    v
}

fn run(events: &[SockEvent], json: bool) -> usize {
    let mut tracker = Tracker::new();
    let mut transitions: Vec<Transition> = Vec::with_capacity(4096);
    let mut printer = Printer::new(PrintOptions::default());
    let clock = Clock::new();
    let mut line = Vec::with_capacity(80 << 10);
    let mut prefix = Vec::with_capacity(64);
    let mut lines = format::LineWriter::new(json);
    let mut bytes = 0;
    for chunk in events.chunks(1000) {
        for e in chunk {
            tracker.apply(e, &mut transitions);
        }
        for t in &transitions {
            let wall = clock.to_wall(t.ts_ns);
            prefix.clear();
            if !json {
                printer.write_timestamp(&mut prefix, wall);
            }
            lines.write(&mut line, &prefix, wall, t);
            if line.len() >= 64 << 10 {
                bytes += black_box(&line).len();
                line.clear();
            }
        }
        transitions.clear();
    }
    bytes + black_box(&line).len()
}

fn bench(c: &mut Criterion) {
    let events = workload();
    let mut g = c.benchmark_group("states per connection");
    g.throughput(Throughput::Elements(CONNECTIONS));
    for (name, json) in [("tracker + text", false), ("tracker + json", true)] {
        g.bench_function(name, |b| {
            b.iter_batched(|| (), |()| run(&events, json), BatchSize::PerIteration)
        });
    }
    g.bench_function("tracker only", |b| {
        b.iter_batched(
            || (),
            |()| {
                let mut tracker = Tracker::new();
                let mut out = Vec::with_capacity(4096);
                for chunk in events.chunks(1000) {
                    for e in chunk {
                        tracker.apply(e, &mut out);
                    }
                    black_box(&out);
                    out.clear();
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
