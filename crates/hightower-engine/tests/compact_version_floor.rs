//! The latest version never goes backwards: when the newest record of the
//! store is a tombstone that compaction drops, the manifest's version
//! floor keeps the latest version where it was across a reopen, and the
//! next write gets a version above it.

mod compaction_common;

use anyhow::ensure;
use compaction_common::manual_config;
use hightower_engine::{KvEngine, SingleNodeEngine, SnapshotEngine};

#[test]
fn dropped_newest_tombstone_keeps_the_latest_version() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    for i in 0..100u32 {
        engine.put(format!("k{i:03}").as_bytes(), &[b'v'; 80])?;
    }
    for i in 0..100u32 {
        engine.delete(format!("k{i:03}").as_bytes())?;
    }
    let latest = engine.latest_version();
    let report = engine.run_compaction_now()?;
    ensure!(report.tombstones_dropped == 100, "{report:?}");
    ensure!(engine.is_empty() && engine.latest_version() == latest);
    drop(engine);

    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    ensure!(engine.is_empty(), "a deleted key came back");
    ensure!(
        engine.latest_version() >= latest,
        "latest version went from {latest} to {}",
        engine.latest_version()
    );
    let version = engine.put(b"next", b"write")?;
    ensure!(version > latest, "version {version} is not above {latest}");
    drop(engine);

    // Also when nothing at all is left on disk but the manifest.
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    let after = engine.delete(b"next")?;
    engine.run_compaction_now()?;
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    ensure!(engine.get(b"next")?.is_none());
    ensure!(engine.latest_version() >= after);
    Ok(())
}
