//! `cargo xtask bench`: the criterion benches and the peer comparison.

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{flags, metadata};

/// The package of the harness that compares Hightower with other engines.
const PEERS_PACKAGE: &str = "hightower-peers-bench";

pub(crate) fn run(sh: &Shell, bench: &flags::Bench) -> Result<()> {
    if bench.server {
        bail!(
            "`cargo xtask bench --server` is not available yet: the server has no benchmark harness"
        );
    }
    if bench.peers {
        return run_peers(sh);
    }
    cmd!(sh, "cargo bench --workspace")
        .run()
        .context("`cargo bench --workspace` failed")
}

fn run_peers(sh: &Shell) -> Result<()> {
    let manifest_path = sh.current_dir().join("Cargo.toml");
    let metadata = metadata::load(sh, &manifest_path)?;
    if !metadata
        .packages
        .iter()
        .any(|package| package.name == PEERS_PACKAGE)
    {
        bail!(
            "package `{PEERS_PACKAGE}` is not in the workspace yet; \
             the peer comparison harness belongs in benches/peers"
        );
    }
    cmd!(sh, "cargo run --release --package {PEERS_PACKAGE}")
        .run()
        .with_context(|| format!("`{PEERS_PACKAGE}` failed"))
}
