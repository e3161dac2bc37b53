//! Helpers shared by the replication tests: opening a node over a data
//! directory and reading back everything it holds.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;
use std::sync::Arc;

use hightower_engine::{Durability, EngineConfig, KeyValue, KvEngine, SingleNodeEngine};
use hightower_repl::LocalReplication;

/// A node over `dir`, unsynced (the tests do not crash the process), with
/// segments of `segment_bytes_max`.
pub(crate) fn open_with_segments(
    dir: &Path,
    segment_bytes_max: u64,
) -> anyhow::Result<LocalReplication<SingleNodeEngine>> {
    let config = EngineConfig::new(dir)
        .durability(Durability::None)
        .segment_bytes_max(segment_bytes_max);
    Ok(LocalReplication::new(Arc::new(
        SingleNodeEngine::with_config(config)?,
    )))
}

/// A node over `dir` with the default segment size.
pub(crate) fn open(dir: &Path) -> anyhow::Result<LocalReplication<SingleNodeEngine>> {
    open_with_segments(dir, EngineConfig::new(dir).segment_bytes_max)
}

/// Every key of the node, in key order, read through one view.
pub(crate) fn contents(node: &LocalReplication<SingleNodeEngine>) -> anyhow::Result<Vec<KeyValue>> {
    Ok(node
        .engine()
        .read_view()?
        .iter()
        .collect::<Result<_, _>>()?)
}
