//! `tracer-docs DIR`: the man pages and shell completions of `tracer`, generated from its clap
//! definitions (so they always say what the binary accepts), for `cargo xtask dist`:
//! - DIR/man/tracer.1, and tracer-states.1 and tracer-stat.1 for the subcommands;
//! - DIR/completions/tracer.bash, _tracer (zsh) and tracer.fish.

use std::{fs, path::PathBuf, process::ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::CommandFactory as _;
use clap_complete::Shell;
use tracer::cli::Cli;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracer-docs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        bail!("usage: tracer-docs DIR");
    };
    let dir = PathBuf::from(dir);
    let man = dir.join("man");
    let completions = dir.join("completions");
    fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    fs::create_dir_all(&completions).with_context(|| format!("creating {}", completions.display()))?;

    let cmd = Cli::command();
    let page = |cmd: clap::Command, name: &str| -> Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .context("rendering a man page")?;
        let path = man.join(format!("{name}.1"));
        fs::write(&path, out).with_context(|| format!("writing {}", path.display()))
    };
    page(cmd.clone(), "tracer")?;
    for sub in cmd.get_subcommands() {
        // clap names commands with &'static str; this process ends right after.
        let name: &'static str = Box::leak(format!("tracer-{}", sub.get_name()).into_boxed_str());
        page(sub.clone().name(name), name)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "tracer", &completions)
            .with_context(|| format!("writing the {shell} completions"))?;
    }
    Ok(())
}
