//! The command-line surface of `cargo xtask`: one subcommand per module.

use clap::{Args, Parser, Subcommand};

/// Default length of one fuzz target's run, in seconds.
pub(crate) const FUZZ_SECONDS_DEFAULT: u32 = 15;

/// Project automation for Hightower KV.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run every check CI runs: fmt, tidy, layering, clippy, tests, fuzz smoke.
    Ci(Ci),
    /// Format the workspace with rustfmt (or only check it with --check).
    Fmt(Fmt),
    /// Run the workspace tests: unit, integration, property and doc tests.
    Test,
    /// Check that every Rust file opens with `//!` docs and text files are ASCII.
    Tidy,
    /// Check that dependencies between the hightower crates point strictly down.
    Layering,
    /// Run one fuzz target, or all of them, for a bounded time.
    Fuzz(Fuzz),
    /// Run the benchmarks.
    Bench(Bench),
}

#[derive(Debug, Args)]
pub(crate) struct Ci {
    /// How long each fuzz target runs in the fuzz smoke step, in seconds.
    #[arg(long, value_name = "N", default_value_t = FUZZ_SECONDS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) fuzz_seconds: u32,
}

#[derive(Debug, Args)]
pub(crate) struct Fmt {
    /// Only check the formatting; change no file.
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Fuzz {
    /// The fuzz target to run (a file stem in fuzz/fuzz_targets); all if omitted.
    pub(crate) target: Option<String>,
    /// How long each target runs, in seconds.
    #[arg(long, value_name = "N", default_value_t = FUZZ_SECONDS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) seconds: u32,
}

#[derive(Debug, Args)]
pub(crate) struct Bench {
    /// Compare against other engines with the peer harness (benches/peers).
    #[arg(long, conflicts_with = "server")]
    pub(crate) peers: bool,
    /// Compare `hightower serve` with `redis-server` using `redis-benchmark`.
    #[arg(long)]
    pub(crate) server: bool,
    /// Flags passed on to the peer or server harness (after `--`), e.g.
    /// `--keys 200000`, or `--requests 200000 --rounds 3` for `--server`.
    #[arg(last = true)]
    pub(crate) args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn fuzz_seconds_must_be_positive() {
        let parsed = Xtask::try_parse_from(["cargo xtask", "ci", "--fuzz-seconds", "0"]);
        assert!(parsed.is_err());
    }

    #[test]
    fn bench_peers_and_server_conflict() {
        let parsed = Xtask::try_parse_from(["cargo xtask", "bench", "--peers", "--server"]);
        assert!(parsed.is_err());
    }
}
