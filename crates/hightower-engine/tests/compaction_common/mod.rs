//! Helpers shared by the compaction tests: a configuration with small
//! segments and manual compaction, the bytes a directory's segments take,
//! and the live bytes the index accounts for.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;

use hightower_engine::{
    AdminEngine, CompactionConfig, Durability, EngineConfig, SingleNodeEngine, testing,
};

/// Small segments, so a few hundred records span many.
pub(crate) const SEGMENT_BYTES: u64 = 4096;

/// Small segments, no automatic compaction, no fsync per write (the
/// compaction commit syncs what it needs itself).
pub(crate) fn manual_config(dir: &Path) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES)
        .durability(Durability::None)
        .compaction(CompactionConfig::manual())
}

/// Bytes of every segment file in `dir` (data, footers and trailers).
pub(crate) fn segment_file_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|ext| ext == "log") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// (data bytes after the headers, live record bytes) over all segments.
pub(crate) fn data_and_live_bytes(engine: &SingleNodeEngine) -> (u64, u64) {
    let usage = engine.segment_usage();
    let total = usage.iter().map(|u| u.total_bytes).sum();
    let live = usage.iter().map(|u| u.live_bytes).sum();
    (total, live)
}

/// The ids of the sealed segments, ascending, once background seals are
/// done.
pub(crate) fn sealed_ids(engine: &SingleNodeEngine) -> anyhow::Result<Vec<u32>> {
    testing::finish_seals(engine)?;
    Ok(engine
        .segments()
        .iter()
        .filter(|segment| segment.sealed)
        .map(|segment| segment.id)
        .collect())
}

/// The id of the segment that holds the newest record of `key`, if live.
pub(crate) fn segment_of(engine: &SingleNodeEngine, key: &[u8]) -> Option<u32> {
    testing::segment_of(engine, key)
}

/// Fills the active segment with filler puts until it rolls; returns the
/// id of the segment that was active before.
pub(crate) fn roll(engine: &SingleNodeEngine, tag: &str) -> anyhow::Result<u32> {
    let before = active_id(engine);
    let mut i = 0u32;
    while active_id(engine) == before {
        engine.put(format!("filler-{tag}-{i}").as_bytes(), &[b'f'; 200])?;
        i += 1;
        anyhow::ensure!(i < 1000, "the segment never rolled");
    }
    testing::finish_seals(engine)?;
    Ok(before)
}

/// The id of the active segment.
pub(crate) fn active_id(engine: &SingleNodeEngine) -> u32 {
    engine.segments().last().map_or(0, |segment| segment.id)
}
