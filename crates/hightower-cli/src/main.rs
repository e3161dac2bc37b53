//! `hightower`: the command line of Hightower KV.
//!
//! `put`, `get`, `del` and `scan` work on the store in `--data-dir`;
//! `stats` and `verify` inspect it; `bench` measures the engine on a
//! scratch store; `user` and `apikey` manage users and API keys
//! (`commands::auth`). The exit statuses are listed at the end of `--help`
//! (see `commands::Status`). Every failure prints one line on stderr that
//! names what failed; the engine's errors carry the file, the offset or the
//! limit involved.

mod cli;
mod commands;
mod escape;
mod latency;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Status;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(&cli) {
        Ok(()) => Status::Success.exit_code(),
        Err(error) if commands::is_broken_pipe(&error) => Status::Success.exit_code(),
        Err(error) => {
            eprintln!("hightower: {error:#}");
            Status::for_error(&error).exit_code()
        }
    }
}
