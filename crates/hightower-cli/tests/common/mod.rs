//! Helpers shared by the integration tests: run the built `hightower`
//! binary on a data directory and capture what it did.

// Each test file is its own crate and uses a different subset of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code (`None` when killed by a signal).
    pub(crate) code: Option<i32>,
    /// Standard output, lossily decoded.
    pub(crate) stdout: String,
    /// Standard error, lossily decoded.
    pub(crate) stderr: String,
}

/// Runs `hightower --data-dir DATA_DIR ARGS...`.
pub(crate) fn hightower(data_dir: &Path, args: &[&str]) -> Result<Run> {
    let output = Command::new(env!("CARGO_BIN_EXE_hightower"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .with_context(|| format!("running hightower {args:?}"))?;
    Ok(Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs the binary and checks that it succeeded; returns its stdout.
pub(crate) fn hightower_ok(data_dir: &Path, args: &[&str]) -> Result<String> {
    let run = hightower(data_dir, args)?;
    anyhow::ensure!(run.code == Some(0), "hightower {args:?} failed: {run:?}");
    Ok(run.stdout)
}

/// Inverts every bit of the byte at `offset` of `path`.
pub(crate) fn flip_byte(path: &Path, offset: usize) -> Result<()> {
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        offset < bytes.len(),
        "{} has only {} bytes",
        path.display(),
        bytes.len()
    );
    bytes[offset] ^= 0xff;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
