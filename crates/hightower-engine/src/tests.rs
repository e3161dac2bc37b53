//! Tests that drive the storage under the engine directly, past the key
//! locks, which the engine's public surface does not allow.
//!
//! A segment that holds an appended but not yet published record (a commit
//! between its append and its publish, or the active segment of a moment
//! ago) is not compacted: the index snapshot a pass decides by cannot show
//! that record as live, so the pass would drop it, and the publish that
//! follows would point the key into a deleted segment. Once published, the
//! record is copied like any other.
//!
//! Publishing goes in append order, so a commit publishes every frame
//! appended before its own; here the storage is driven directly, with a
//! second unpublished append that rolls the segment.

use std::path::Path;

use anyhow::{Context, ensure};

use crate::{
    CompactionConfig, CompactionOptions, Durability, EngineConfig, KvEngine, SingleNodeEngine,
    WriteBatch,
};

/// Small segments, so a few records span several.
const SEGMENT_BYTES: u64 = 4096;

fn manual_config(dir: &Path) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES)
        .durability(Durability::None)
        .compaction(CompactionConfig::manual())
}

#[test]
fn unpublished_appends_keep_their_segment_out_of_a_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    for i in 0..20u32 {
        engine.put(format!("k{i}").as_bytes(), &[b'a'; 100])?;
        engine.put(format!("k{i}").as_bytes(), &[b'b'; 100])?;
    }
    // A commit that has appended but not published yet, and one after it
    // whose frame does not fit, so its append rolls the segment.
    let storage = engine.storage();
    let mut batch = WriteBatch::new();
    batch.put(b"late", b"published later");
    let appended = storage.append(&batch, None, false)?;
    let segment = appended.segment_id;
    batch.clear();
    batch.put(b"rolls", &vec![b'r'; SEGMENT_BYTES as usize / 2]);
    batch.put(b"rolls-too", &vec![b'r'; SEGMENT_BYTES as usize / 2]);
    let rolled = storage.append(&batch, None, false)?;
    ensure!(rolled.segment_id > segment, "the second append rolled");

    let only = || CompactionOptions::default().only_segments([segment]);
    let report = engine.run_compaction(only())?;
    ensure!(
        report.is_empty(),
        "a segment with an unpublished append was compacted: {report:?}"
    );

    storage.publish_through(rolled.seq, &|_, _| {});
    let report = engine.run_compaction(only())?;
    ensure!(report.input_segment_ids == vec![segment], "{report:?}");
    let got = engine
        .get(b"late")?
        .context("the published record is there")?;
    ensure!(got.value == b"published later");
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    let got = engine
        .get(b"late")?
        .context("the record survived the reopen")?;
    ensure!(got.value == b"published later");
    Ok(())
}
