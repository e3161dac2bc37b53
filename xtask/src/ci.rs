//! `cargo xtask ci`: every check, in order, stopping at the first failure.
//!
//! The steps are: tools (installs rustfmt, clippy and cargo-fuzz if missing),
//! fmt, tidy, layering, clippy, test, fuzz. The cheap checks come first so
//! that a formatting slip fails in seconds, not after the test suite. At the
//! end, pass or fail, one timing line per step that ran is printed.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{flags, fmt, fuzz, layering, test, tidy};

/// One step of the CI run: its name in messages and what it does.
type Step<'a> = (&'static str, &'a dyn Fn(&Shell) -> Result<()>);

pub(crate) fn run(sh: &Shell, ci: &flags::Ci) -> Result<()> {
    let fuzz_all = |sh: &Shell| fuzz::run(sh, None, ci.fuzz_seconds);
    let fmt_check = |sh: &Shell| fmt::run(sh, true);
    let steps: [Step<'_>; 7] = [
        ("tools", &check_tools),
        ("fmt", &fmt_check),
        ("tidy", &tidy::run),
        ("layering", &layering::run),
        ("clippy", &clippy),
        ("test", &test::run),
        ("fuzz", &fuzz_all),
    ];
    let mut timings: Vec<(&str, f64)> = Vec::with_capacity(steps.len());
    for (name, step) in steps {
        eprintln!("\n==> ci step `{name}`");
        let started = Instant::now();
        let outcome = step(sh);
        timings.push((name, started.elapsed().as_secs_f64()));
        if let Err(error) = outcome {
            print_timings(&timings);
            bail!("ci step `{name}` failed: {error:#}");
        }
    }
    print_timings(&timings);
    eprintln!("ci: all {} steps passed", steps.len());
    Ok(())
}

/// Installs what later steps need and a fresh machine may lack: the
/// rustfmt and clippy components and cargo-fuzz.
fn check_tools(sh: &Shell) -> Result<()> {
    let components = [("fmt", "rustfmt"), ("clippy", "clippy")];
    for (subcommand, component) in components {
        if !fuzz::probe(sh, subcommand) {
            cmd!(sh, "rustup component add {component}").run().with_context(|| {
                format!("`cargo {subcommand}` is missing and `rustup component add {component}` failed")
            })?;
        }
    }
    fuzz::ensure_cargo_fuzz(sh)
}

fn clippy(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings")
        .run()
        .context("clippy reported warnings or errors")
}

fn print_timings(timings: &[(&str, f64)]) {
    eprintln!("\nci timings:");
    for (name, seconds) in timings {
        eprintln!("  {name:<10} {seconds:>8.1} s");
    }
    let total_seconds: f64 = timings.iter().map(|(_, seconds)| seconds).sum();
    eprintln!("  {:<10} {total_seconds:>8.1} s", "total");
}
