//! Helpers shared by the engine's integration tests: small configurations
//! that roll segments often, a full dump of an engine's contents, and the
//! segment files of a data directory.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hightower_engine::{Durability, EngineConfig, KvEngine};

/// Small segments, so a few hundred records already span several.
pub(crate) const SEGMENT_BYTES_SMALL: u64 = 8 * 1024;

/// Every key with its value and version.
pub(crate) type Contents = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

/// A configuration with small segments, the given durability and workers.
pub(crate) fn small_config(
    dir: &Path,
    durability: Durability,
    worker_threads: usize,
) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES_SMALL)
        .durability(durability)
        .worker_threads(worker_threads)
}

/// Everything an engine holds, read through one read view.
pub(crate) fn dump(engine: &impl KvEngine) -> anyhow::Result<Contents> {
    let view = engine.read_view()?;
    let mut contents = Contents::new();
    for item in view.iter() {
        let kv = item?;
        contents.insert(kv.key, (kv.value, kv.version));
    }
    Ok(contents)
}

/// The segment files of `dir`, lowest id first.
pub(crate) fn segment_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "log") {
            files.push(path);
        }
    }
    // Names are zero-padded ids, so name order is id order.
    files.sort();
    Ok(files)
}

/// The newest (highest-numbered) segment file of `dir`.
pub(crate) fn newest_segment(dir: &Path) -> anyhow::Result<PathBuf> {
    segment_files(dir)?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no segment file in {}", dir.display()))
}

/// Text of a key for messages.
pub(crate) fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
