//! The resurrection problem of log-structured stores: a restart keeps, per
//! key, the record with the highest version among the records left, so a
//! tombstone that compaction drops while an older put of its key survives
//! in another segment would bring that put back. Compaction must carry
//! such a tombstone forward, and may drop it once the older put is gone;
//! after every step and every reopen the key stays deleted.

mod compaction_common;

use anyhow::{Context, ensure};
use compaction_common::{manual_config, roll, segment_of};
use hightower_engine::{CompactionOptions, KvEngine, SingleNodeEngine, SnapshotEngine};

fn reopen(dir: &std::path::Path) -> anyhow::Result<SingleNodeEngine> {
    SingleNodeEngine::with_config(manual_config(dir)).context("reopen")
}

fn only(segment_id: u32) -> CompactionOptions {
    CompactionOptions::default().only_segments([segment_id])
}

/// Put in one segment, delete in a later one, compact only the delete's.
#[test]
fn tombstone_is_kept_while_an_older_put_lives_elsewhere() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = reopen(dir.path())?;
    engine.put(b"k", b"old")?;
    let put_segment = roll(&engine, "a")?;
    roll(&engine, "b")?;
    let deleted_at = engine.delete(b"k")?;
    let tombstone_segment = roll(&engine, "c")?;
    ensure!(put_segment < tombstone_segment);

    let report = engine.run_compaction(only(tombstone_segment))?;
    // The outputs hold the carried tombstone (and the live fillers).
    let holders = report.output_segment_ids.clone();
    ensure!(!holders.is_empty(), "{report:?}");
    ensure!(engine.get(b"k")?.is_none());
    drop(engine);
    let engine = reopen(dir.path())?;
    ensure!(engine.get(b"k")?.is_none(), "k came back after the reopen");
    ensure!(engine.latest_version() >= deleted_at);
    ensure!(
        (report.tombstones_kept, report.tombstones_dropped) == (1, 0),
        "the tombstone hides a put outside the pass: {report:?}"
    );

    // The put's segment goes first: the put is dead.
    let report = engine.run_compaction(only(put_segment))?;
    ensure!(report.records_dropped >= 1, "{report:?}");
    // Now nothing older remains, so the carried tombstone may go.
    let options = CompactionOptions::default().only_segments(holders);
    let report = engine.run_compaction(options)?;
    ensure!(report.tombstones_dropped == 1, "{report:?}");
    drop(engine);
    let engine = reopen(dir.path())?;
    ensure!(
        engine.get(b"k")?.is_none(),
        "k came back after its tombstone went"
    );
    ensure!(
        engine.latest_version() >= deleted_at,
        "the latest version went down"
    );
    Ok(())
}

/// Put and delete in one pass: both go, and the key stays deleted.
#[test]
fn put_and_tombstone_compacted_together_both_go() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = reopen(dir.path())?;
    engine.put(b"k", b"old")?;
    let put_segment = roll(&engine, "a")?;
    let deleted_at = engine.delete(b"k")?;
    let tombstone_segment = roll(&engine, "b")?;
    let options = CompactionOptions::default().only_segments([put_segment, tombstone_segment]);
    let report = engine.run_compaction(options)?;
    ensure!(
        report.tombstones_dropped == 1 && report.tombstones_kept == 0,
        "{report:?}"
    );
    drop(engine);
    let engine = reopen(dir.path())?;
    ensure!(engine.get(b"k")?.is_none(), "k came back");
    ensure!(engine.latest_version() >= deleted_at);
    Ok(())
}

/// A put copied by an earlier pass lives in an output with a high id but
/// an old version; it still needs the later tombstone.
#[test]
fn put_carried_into_an_output_still_needs_its_tombstone() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = reopen(dir.path())?;
    engine.put(b"k", b"old")?;
    let put_segment = roll(&engine, "a")?;
    engine.run_compaction(only(put_segment))?;
    let copy = segment_of(&engine, b"k").context("k is live")?;
    ensure!(
        copy > put_segment,
        "the live put was copied into a new segment"
    );

    engine.delete(b"k")?;
    let tombstone_segment = roll(&engine, "b")?;
    let report = engine.run_compaction(only(tombstone_segment))?;
    ensure!(report.tombstones_kept == 1, "{report:?}");
    drop(engine);
    let engine = reopen(dir.path())?;
    ensure!(engine.get(b"k")?.is_none(), "k came back from the copy");

    // A full pass takes everything: the copy and the tombstone both go.
    let report = engine.run_compaction_now()?;
    ensure!(report.tombstones_dropped >= 1, "{report:?}");
    drop(engine);
    let engine = reopen(dir.path())?;
    ensure!(engine.get(b"k")?.is_none(), "k came back after a full pass");
    ensure!(engine.scan_prefix(b"k", 10)?.is_empty());
    Ok(())
}
