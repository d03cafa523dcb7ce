//! `cargo xtask setup | demo | test | vm-test | conformance | captures | bench`: bootstrap a machine, show
//! the tracer on a built-in example, run every test, compare the printer with tcpdump, record
//! real-traffic captures, measure speed against tcpdump.

mod bench;
mod bench_filter;
mod bench_states;
mod captures;
mod child;
mod churn;
mod cmd;
mod conformance;
mod demo;
mod dist;
mod setup;
mod test;
mod tools;
mod vm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Development tasks for tracer")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building needs (rust-src, bpf-linker) and mount tracefs; fast when already done.
    Setup,
    /// Capture an HTTP exchange between two network namespaces with the tracer (no outside network).
    Demo,
    /// Build what is installed into target/dist: the binary, man pages, shell completions and a
    /// Debian package with the systemd unit.
    Dist {
        /// Then install the package on this machine, run it, and remove it again (needs root;
        /// part of `cargo xtask test`).
        #[arg(long)]
        check: bool,
    },
    /// Unit and golden tests, the privileged end-to-end tests (needs root), then `conformance --check`.
    Test,
    /// Compare `tracer FLAGS -r FILE` with `tcpdump FLAGS -r FILE`, packet by packet, over the shared
    /// corpus and tracer/tests/data (needs tcpdump 4.99.3).
    Conformance {
        /// Exit non-zero when any in-scope line differs or any run crashed.
        #[arg(long)]
        check: bool,
        /// Only captures whose file name contains this.
        #[arg(long, value_name = "SUBSTR")]
        filter: Option<String>,
        /// Only this flag set (e.g. "-v" or "-e -x"; "" for none), over every capture.
        #[arg(long, value_name = "FLAGS", allow_hyphen_values = true)]
        flags: Option<String>,
        /// Use this tracer binary instead of building target/release/tracer.
        #[arg(long, value_name = "PATH")]
        bin: Option<std::path::PathBuf>,
        /// Runs without -n use this machine's resolver (default: a network namespace of their own,
        /// where reverse look-ups fail at once, for both programs alike).
        #[arg(long)]
        real_dns: bool,
        /// Every flag set over every capture (the corpus too), not only over tracer/tests/data.
        #[arg(long)]
        all: bool,
    },
    /// Record real traffic between two network namespaces into tracer/tests/data/real-*.pcap
    /// (needs root; keeps captures that exist).
    Captures {
        /// Record every capture again.
        #[arg(long)]
        force: bool,
    },
    /// Time tcpdump and the tracer reading a 200,000-packet capture (-nn, -v, -e -x), then what
    /// `tracer states` costs during a connection-churn workload, then what capture filters cost
    /// (needs root).
    Bench {
        /// Use this tracer binary instead of building target/release/tracer.
        #[arg(long, value_name = "PATH")]
        bin: Option<std::path::PathBuf>,
        /// Only one section: `packets` (reading a capture), `states` (connection churn) or
        /// `filter` (start-up with filters and the verifier's work, the ingress programs' cost
        /// per packet with filters against a reject-all floor, and a veth flood captured by the
        /// tracer and by tcpdump with a filter that keeps every packet and one that rejects
        /// every packet).
        #[arg(long, value_name = "SECTION", value_parser = ["packets", "states", "filter"])]
        only: Option<String>,
    },
    /// The privileged end-to-end tests inside Debian's 6.1 and 6.12 kernels, booted under QEMU with
    /// this host's root shared read-only (kernels fetched from Debian's packages, not installed).
    VmTest {
        /// Which kernel: 6.1, 6.12 or all.
        #[arg(long, value_name = "KERNEL", default_value = "all")]
        kernel: String,
        /// Only this test binary (a file name of tests/tests without .rs); repeatable.
        #[arg(long = "test", value_name = "NAME")]
        tests: Vec<String>,
        /// Kill a guest after this many minutes (default 60).
        #[arg(long, value_name = "MINUTES")]
        timeout: Option<u64>,
    },
    /// The socket-state bench's workload: short loopback connections, as fast as they go.
    #[command(hide = true)]
    Churn {
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

fn main() {
    cmd::extend_path();
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::run(),
        Task::Demo => demo::run(),
        Task::Dist { check: false } => dist::run(),
        Task::Dist { check: true } => dist::check_install(),
        Task::Test => test::run(),
        Task::Conformance {
            check,
            filter,
            flags,
            bin,
            real_dns,
            all,
        } => conformance::run(&conformance::Options {
            check,
            filter,
            flags,
            bin,
            real_dns,
            all,
        }),
        Task::Captures { force } => captures::run(force),
        Task::Bench { bin, only } => bench::run(bin, only.as_deref()),
        Task::VmTest { kernel, tests, timeout } => vm::run(&vm::Options {
            kernel: Some(kernel),
            tests,
            timeout_mins: timeout,
        }),
        Task::Churn { connections, threads } => churn::run(&churn::Options { connections, threads }),
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}
