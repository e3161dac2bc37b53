//! `cargo xtask fmt`: rustfmt over the whole workspace.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// Formats the workspace, or with `check` only verifies its formatting.
pub(crate) fn run(sh: &Shell, check: bool) -> Result<()> {
    let check_flag = check.then_some("--check");
    cmd!(sh, "cargo fmt --all {check_flag...}")
        .run()
        .context(if check {
            "code is not formatted; run `cargo xtask fmt` to fix it"
        } else {
            "`cargo fmt` failed"
        })
}
