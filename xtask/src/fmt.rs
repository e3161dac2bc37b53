//! `cargo xtask fmt`: rustfmt over the main workspace and the fuzz workspace.
//!
//! `fuzz/` is a workspace of its own, so `cargo fmt --all` at the root does
//! not reach the fuzz targets; they are formatted in a second pass.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// Formats both workspaces, or with `check` only verifies their formatting.
pub(crate) fn run(sh: &Shell, check: bool) -> Result<()> {
    let check_flag = check.then_some("--check");
    let failure = if check {
        "code is not formatted; run `cargo xtask fmt` to fix it"
    } else {
        "`cargo fmt` failed"
    };
    cmd!(sh, "cargo fmt --all {check_flag...}")
        .run()
        .context(failure)?;
    cmd!(
        sh,
        "cargo fmt --all {check_flag...} --manifest-path fuzz/Cargo.toml"
    )
    .run()
    .with_context(|| format!("fuzz targets: {failure}"))
}
