//! I/O failures during a compaction pass. With `FaultyVfs`: a full disk
//! and a failed fsync while the outputs are written fail the pass with a
//! compaction error and leave the engine working; a failed fsync at the
//! pass's roll of the active segment poisons it. Then a sweep fails with
//! `CrashVfs`'s countdown, one at a time, every fsync and every write a
//! full pass makes (outputs, staging directory, roll, renames, snapshot
//! removal, manifest): each time the pass fails cleanly or succeeds, reads
//! keep working, and the directory reopens on a healthy file system with
//! exactly the same data.

mod common;
mod compaction_common;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use common::{Contents, dump};
use compaction_common::{manual_config, sealed_ids};
use hightower_engine::{
    CompactError, CompactionOptions, EngineError, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::vfs::{CallKind, CrashVfs, FaultyVfs};

/// Writes a few segments' worth of overwrites and deletes, a checkpoint
/// among them, and syncs; returns the contents.
fn fill(engine: &SingleNodeEngine) -> anyhow::Result<Contents> {
    for round in 0..4u32 {
        for i in 0..30u32 {
            let key = format!("key-{i:02}");
            if (i + round) % 7 == 0 {
                engine.delete(key.as_bytes())?;
            } else {
                engine.put(
                    key.as_bytes(),
                    format!("{round}-{}", "v".repeat(90)).as_bytes(),
                )?;
            }
        }
        if round == 1 {
            engine.checkpoint()?;
        }
    }
    engine.sync()?;
    dump(engine)
}

/// Reopens on the real file system and checks the contents.
fn reopen_matches(dir: &Path, expected: &Contents, latest: u64) -> anyhow::Result<()> {
    let engine = SingleNodeEngine::with_config(manual_config(dir)).context("reopen healthy")?;
    ensure!(dump(&engine)? == *expected, "the reopened store differs");
    ensure!(
        engine.latest_version() >= latest,
        "the latest version went down"
    );
    ensure!(
        !dir.join("compact").exists(),
        "the staging directory was left"
    );
    // The reopened store compacts and reopens cleanly too.
    engine.run_compaction_now()?;
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir))?;
    ensure!(
        dump(&engine)? == *expected,
        "a later pass changed the contents"
    );
    Ok(())
}

fn is_compaction_error(error: &EngineError) -> bool {
    matches!(error, EngineError::Compaction(_))
}

#[test]
fn full_disk_while_writing_outputs_fails_the_pass_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let engine =
        SingleNodeEngine::with_config(manual_config(dir.path()).vfs(Arc::new(vfs.clone())))?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    let only = CompactionOptions::default().only_segments(sealed_ids(&engine)?);
    vfs.plan().set_write_budget_bytes(64);
    let error = engine
        .run_compaction(only)
        .err()
        .context("the pass succeeded on a full disk")?;
    ensure!(is_compaction_error(&error), "{error}");
    ensure!(error.to_string().contains("compaction"), "unclear: {error}");
    ensure!(
        engine.poison_reason().is_none(),
        "a failed pass poisoned the engine"
    );
    ensure!(dump(&engine)? == expected);
    vfs.plan().heal();
    let version = engine.put(b"after", b"healed")?;
    let mut expected = expected;
    expected.insert(b"after".to_vec(), (b"healed".to_vec(), version));
    engine.sync()?;
    drop(engine);
    reopen_matches(dir.path(), &expected, latest)
}

#[test]
fn failed_fsync_while_writing_outputs_fails_the_pass_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let engine =
        SingleNodeEngine::with_config(manual_config(dir.path()).vfs(Arc::new(vfs.clone())))?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    let only = CompactionOptions::default().only_segments(sealed_ids(&engine)?);
    vfs.plan().set_fail_sync(true);
    let error = engine
        .run_compaction(only)
        .err()
        .context("the pass ignored a failed fsync")?;
    ensure!(is_compaction_error(&error), "{error}");
    ensure!(engine.poison_reason().is_none());
    ensure!(dump(&engine)? == expected);
    vfs.plan().heal();
    drop(engine);
    reopen_matches(dir.path(), &expected, latest)
}

#[test]
fn failed_fsync_of_the_active_segment_poisons() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let engine =
        SingleNodeEngine::with_config(manual_config(dir.path()).vfs(Arc::new(vfs.clone())))?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    engine.put(b"unsynced", b"maybe")?;
    vfs.plan().set_fail_sync(true);
    let error = engine
        .run_compaction_now()
        .err()
        .context("the pass ignored a failed fsync")?;
    ensure!(!is_compaction_error(&error), "{error}");
    ensure!(
        engine.poison_reason().is_some(),
        "a failed fsync on the write path must poison"
    );
    ensure!(matches!(
        engine.run_compaction_now(),
        Err(EngineError::Poisoned { .. })
    ));
    vfs.plan().heal();
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    let mut got = dump(&engine)?;
    // The unsynced write was flushed before the fsync failed; it may be there.
    got.remove(b"unsynced".as_slice());
    ensure!(got == expected, "the reopened store differs");
    ensure!(engine.latest_version() >= latest);
    Ok(())
}

/// One run: a fresh store, the `nth` call of `kinds` in a full pass
/// failing (a write writes half its bytes first). Returns whether that
/// call came.
fn run_trapped(nth: u64, kinds: &[CallKind]) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    let vfs = CrashVfs::new(dir.path())?;
    let config = manual_config(dir.path()).vfs(Arc::new(vfs.clone()));
    let engine = SingleNodeEngine::with_config(config)?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    vfs.fail_nth(nth, kinds);
    let outcome = engine.run_compaction_now();
    vfs.disarm();
    let tripped = vfs.tripped();
    match &outcome {
        // A failed fsync may hit the background seal of the segment the
        // pass rolled, or the directory sync after the inputs are deleted;
        // neither undoes the pass, and the reopen below checks it.
        Ok(_) => {}
        Err(error) if !tripped => bail!("the pass failed on its own: {error}"),
        Err(EngineError::Compaction(CompactError::Log(_) | CompactError::Io { .. })) => {
            ensure!(
                engine.poison_reason().is_none(),
                "a failed pass poisoned the engine"
            );
        }
        Err(error) => {
            ensure!(
                engine.poison_reason().is_some(),
                "a failure while committing must poison: {error}"
            );
        }
    }
    ensure!(
        dump(&engine)? == expected,
        "reads changed after the failure"
    );
    drop(engine);
    reopen_matches(dir.path(), &expected, latest).with_context(|| format!("after {outcome:?}"))?;
    Ok(tripped)
}

#[test]
fn every_fsync_and_write_of_a_pass_may_fail() -> anyhow::Result<()> {
    for (kind, kinds) in [("fsync", CallKind::SYNCS), ("write", &[CallKind::WriteAt])] {
        let mut n = 1;
        loop {
            let tripped = run_trapped(n, kinds)
                .with_context(|| format!("failing {kind} number {n} of the pass"))?;
            if !tripped {
                break;
            }
            n += 1;
            ensure!(n < 500, "a pass makes implausibly many {kind} calls");
        }
        eprintln!(
            "{kind}: failed each of the {} calls of a pass in turn",
            n - 1
        );
        ensure!(n > 5, "the sweep over {kind} calls tested almost nothing");
    }
    Ok(())
}
