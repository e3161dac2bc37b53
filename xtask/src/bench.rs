//! `cargo xtask bench`: the criterion benches, the peer comparison, and
//! the server comparison against `redis-server` ([`server`]).

mod server;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::flags;

/// The package of the harness that compares Hightower with other engines.
const PEERS_PACKAGE: &str = "hightower-peers-bench";
/// Its manifest, relative to the repository root.
const PEERS_MANIFEST: &str = "benches/peers/Cargo.toml";

pub(crate) fn run(sh: &Shell, bench: &flags::Bench) -> Result<()> {
    if bench.server {
        return server::run(sh, &bench.args);
    }
    if bench.peers {
        return run_peers(sh, &bench.args);
    }
    cmd!(sh, "cargo bench --workspace")
        .run()
        .context("`cargo bench --workspace` failed")
}

fn run_peers(sh: &Shell, args: &[String]) -> Result<()> {
    // The harness is its own workspace so that CI never compiles the peers.
    let manifest_path = sh.current_dir().join(PEERS_MANIFEST);
    if !manifest_path.exists() {
        bail!("the peer comparison harness is missing: {PEERS_MANIFEST} not found");
    }
    cmd!(
        sh,
        "cargo run --release --manifest-path {manifest_path} -- {args...}"
    )
    .run()
    .with_context(|| format!("`{PEERS_PACKAGE}` failed"))
}
