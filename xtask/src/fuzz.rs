//! Fuzz runs through cargo-fuzz, on the stable toolchain.
//!
//! The targets are the `[[bin]]` entries of `fuzz/Cargo.toml` (its own
//! workspace); every `fuzz/fuzz_targets/*.rs` file must have one, or the run
//! fails before building anything.
//!
//! Why this works on stable: cargo-fuzz instruments the build with stable
//! codegen options only (`-Cpasses=sancov-module` and `-Cllvm-args=...` for
//! coverage, `--cfg fuzzing`, and `-Cdebug-assertions` for
//! `--debug-assertions`). Its one nightly-only flag is `-Zsanitizer=address`,
//! added for the default sanitizer, so every run here passes
//! `--sanitizer none`. We do not set `RUSTC_BOOTSTRAP` to get AddressSanitizer
//! back: the decoders are safe Rust, where bounds checks, overflow checks and
//! debug assertions already turn bad memory access into a panic, which
//! libFuzzer reports as a crash; and pretending stable is nightly would tie CI
//! to unstable compiler flags. With a nightly toolchain at hand,
//! `cargo +nightly fuzz run <target>` still runs a target under ASan.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::metadata;

/// Longest time one input may take before libFuzzer reports a hang, in seconds.
const INPUT_TIMEOUT_SECONDS: u32 = 10;

/// Runs `target`, or every target when `None`, for `seconds` each.
pub(crate) fn run(sh: &Shell, target: Option<&str>, seconds: u32) -> Result<()> {
    ensure_cargo_fuzz(sh)?;
    let targets = targets(sh)?;
    let selected: Vec<&str> = match target {
        None => targets.iter().map(String::as_str).collect(),
        Some(name) if targets.iter().any(|known| known == name) => vec![name],
        Some(name) => bail!(
            "no fuzz target `{name}`; the targets are: {}",
            targets.join(", ")
        ),
    };
    for name in selected {
        run_one(sh, name, seconds)?;
    }
    Ok(())
}

/// Installs cargo-fuzz (0.13, whose stable-toolchain flags this module
/// relies on) when `cargo fuzz` does not run, so that a fresh machine
/// needs nothing beyond the Rust toolchain.
pub(crate) fn ensure_cargo_fuzz(sh: &Shell) -> Result<()> {
    if probe(sh, "fuzz") {
        return Ok(());
    }
    eprintln!("cargo-fuzz is missing: cargo install cargo-fuzz --locked --version ^0.13");
    cmd!(sh, "cargo install cargo-fuzz --locked --version ^0.13")
        .run()
        .context("installing cargo-fuzz failed")?;
    if !probe(sh, "fuzz") {
        bail!("cargo-fuzz was installed but `cargo fuzz` does not run; is ~/.cargo/bin on PATH?");
    }
    Ok(())
}

/// Whether `cargo <subcommand> --version` runs.
pub(crate) fn probe(sh: &Shell, subcommand: &str) -> bool {
    cmd!(sh, "cargo {subcommand} --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

/// The fuzz targets, sorted: the `[[bin]]` names in `fuzz/Cargo.toml`.
pub(crate) fn targets(sh: &Shell) -> Result<Vec<String>> {
    let fuzz_dir = sh.current_dir().join("fuzz");
    let metadata = metadata::load(sh, &fuzz_dir.join("Cargo.toml"))?;
    let mut bins: Vec<String> = metadata
        .packages
        .iter()
        .flat_map(|package| &package.targets)
        .filter(|target| target.kind.iter().any(|kind| kind == "bin"))
        .map(|target| target.name.clone())
        .collect();
    bins.sort();
    for stem in target_files(&fuzz_dir.join("fuzz_targets"))? {
        if !bins.contains(&stem) {
            bail!("fuzz/fuzz_targets/{stem}.rs has no [[bin]] entry in fuzz/Cargo.toml");
        }
    }
    if bins.is_empty() {
        bail!("fuzz/Cargo.toml declares no fuzz targets");
    }
    Ok(bins)
}

/// The file stems of the `.rs` files in `dir`.
fn target_files(dir: &Path) -> Result<Vec<String>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut stems = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "rs") {
            let stem = path.file_stem().and_then(|stem| stem.to_str());
            let stem = stem.with_context(|| format!("non-UTF-8 file name {}", path.display()))?;
            stems.push(stem.to_owned());
        }
    }
    Ok(stems)
}

fn run_one(sh: &Shell, target: &str, seconds: u32) -> Result<()> {
    eprintln!("fuzz: running `{target}` for {seconds} s");
    let max_total_time = format!("-max_total_time={seconds}");
    let timeout = format!("-timeout={INPUT_TIMEOUT_SECONDS}");
    cmd!(sh, "cargo fuzz run {target} --sanitizer none --debug-assertions -- {max_total_time} {timeout}")
        .run()
        .with_context(|| {
            format!(
                "fuzz target `{target}` failed; a crashing input, if any, is in fuzz/artifacts/{target}/ \
                 (replay it with `cargo fuzz run {target} --sanitizer none --debug-assertions <file>`)"
            )
        })
}
