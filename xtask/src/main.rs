//! Project automation for Hightower KV, run as `cargo xtask <command>`.
//!
//! `cargo xtask ci` is the one command that contributors and CI run: format
//! check, tidy check, layering check, clippy, tests, and a short fuzz smoke
//! run, in that order, stopping at the first failure. Every other command
//! runs one of those steps alone (see `cargo xtask --help`).
//!
//! Each command lives in its own module; the command-line surface is in
//! [`flags`]. Commands shell out through `xshell`, which echoes every command
//! it runs, and always run from the repository root whatever the caller's
//! working directory.

mod bench;
mod ci;
mod flags;
mod fmt;
mod fuzz;
mod layering;
mod metadata;
mod test;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use xshell::Shell;

fn main() -> ExitCode {
    // Print the error chain ourselves: `anyhow`'s `Termination` impl would
    // add a backtrace whenever RUST_BACKTRACE is set, which buries the message.
    match run(flags::Xtask::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(flags: flags::Xtask) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match flags.command {
        flags::Command::Ci(ci) => ci::run(&sh, &ci),
        flags::Command::Fmt(fmt) => fmt::run(&sh, fmt.check),
        flags::Command::Test => test::run(&sh),
        flags::Command::Tidy => tidy::run(&sh),
        flags::Command::Layering => layering::run(&sh),
        flags::Command::Fuzz(fuzz) => fuzz::run(&sh, fuzz.target.as_deref(), fuzz.seconds),
        flags::Command::Bench(bench) => bench::run(&sh, &bench),
    }
}

/// The workspace root: the parent of the directory holding xtask's manifest.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one directory below the workspace root")
        .to_path_buf()
}
