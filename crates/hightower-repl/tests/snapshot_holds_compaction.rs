//! Scenario: while a replication snapshot lives, compaction passes are
//! refused, so the segments it streams from stay as they are; once the
//! snapshot (and every clone of it) drops, passes run again.

mod common;

use anyhow::ensure;
use hightower_engine::{CompactError, EngineError, KvEngine};
use hightower_repl::SnapshotProvider;

#[test]
fn snapshot_holds_compaction() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = common::open_with_segments(dir.path(), 16 * 1024)?;
    let engine = node.engine();
    for round in 0..4u32 {
        for i in 0..200u32 {
            engine.put(
                format!("k{i:03}").as_bytes(),
                format!("{round:>60}").as_bytes(),
            )?;
        }
    }
    let snapshot = node.snapshot()?;
    let copy = snapshot.clone();
    drop(snapshot);
    let refused = matches!(
        engine.run_compaction_now(),
        Err(EngineError::Compaction(CompactError::Suspended))
    );
    ensure!(refused, "a pass ran while a snapshot was held");
    ensure!(copy.len() == 200, "the snapshot holds every key");
    drop(copy);
    let report = engine.run_compaction_now()?;
    ensure!(
        report.segments_in > 0,
        "no pass after the snapshot dropped: {report:?}"
    );
    ensure!(engine.scan_prefix(b"k", usize::MAX)?.len() == 200);
    Ok(())
}
