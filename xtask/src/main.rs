//! `cargo xtask setup | demo | test`: bootstrap a machine, show the tracer
//! on a built-in example, run every test.

mod cmd;
mod demo;
mod setup;
mod test;
mod tools;

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
    /// Unit and golden tests, then the privileged end-to-end tests (needs root).
    Test,
}

fn main() {
    cmd::extend_path();
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::run(),
        Task::Demo => demo::run(),
        Task::Test => test::run(),
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}
