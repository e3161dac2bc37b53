//! Compaction and snapshot files. A pass removes every snapshot (they may
//! point into its inputs, and a restart trusts a snapshot for everything
//! before its log position), so a checkpoint followed by a pass reopens by
//! a rebuild from the segment footers with the same contents. With
//! `emit_snapshot`, the pass writes a fresh checkpoint that the next open
//! loads.

mod common;
mod compaction_common;

use anyhow::ensure;
use common::dump;
use compaction_common::{manual_config, roll, sealed_ids};
use hightower_engine::{CompactionConfig, CompactionOptions, SingleNodeEngine, SnapshotEngine};

fn fill(engine: &SingleNodeEngine) -> anyhow::Result<()> {
    for round in 0..3u32 {
        for i in 0..60u32 {
            engine.put(
                format!("k{i:02}").as_bytes(),
                format!("{round}").repeat(90).as_bytes(),
            )?;
        }
    }
    roll(engine, "x")?;
    Ok(())
}

#[test]
fn a_pass_removes_snapshots_and_the_store_reopens_the_same() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    fill(&engine)?;
    engine.checkpoint()?;
    // Every sealed segment, some with live keys that the snapshot names.
    let options = CompactionOptions::default().only_segments(sealed_ids(&engine)?);
    let report = engine.run_compaction(options)?;
    ensure!(
        report.segments_in > 0 && report.records_kept > 0,
        "{report:?}"
    );
    let expected = dump(&engine)?;
    let latest = engine.latest_version();
    drop(engine);

    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    ensure!(
        engine.recovery_info().snapshot_version.is_none(),
        "a snapshot from before the pass was loaded"
    );
    ensure!(dump(&engine)? == expected, "the reopened store differs");
    ensure!(engine.latest_version() >= latest);
    Ok(())
}

#[test]
fn emit_snapshot_writes_one_that_the_next_open_loads() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = manual_config(dir.path()).compaction(CompactionConfig {
        emit_snapshot: true,
        ..CompactionConfig::manual()
    });
    let engine = SingleNodeEngine::with_config(config.clone())?;
    fill(&engine)?;
    let report = engine.run_compaction_now()?;
    ensure!(report.segments_in > 0);
    let expected = dump(&engine)?;
    let latest = engine.latest_version();
    drop(engine);

    let engine = SingleNodeEngine::with_config(config)?;
    ensure!(
        engine.recovery_info().snapshot_version == Some(latest),
        "the snapshot the pass wrote was not loaded: {:?}",
        engine.recovery_info()
    );
    ensure!(dump(&engine)? == expected, "the reopened store differs");
    Ok(())
}
