//! `cargo xtask test`: every test in the workspace, doc tests included.
//!
//! Property tests take their case count from `PROPTEST_CASES` as usual; this
//! module neither sets nor overrides it.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// Runs unit, integration, property and bench-as-test targets, then doc tests.
pub(crate) fn run(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo test --workspace --all-targets")
        .run()
        .context("tests failed (`cargo test --workspace --all-targets`)")?;
    // `--all-targets` leaves out doc tests, so they run separately.
    cmd!(sh, "cargo test --workspace --doc")
        .run()
        .context("doc tests failed (`cargo test --workspace --doc`)")
}
