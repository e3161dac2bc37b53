//! A batch appended with `write_pending` under `Sync` is invisible to
//! readers until `make_durable` covers it, another writer's condition sees
//! its version (at once when that writer must not block either), once
//! made durable it is there after a reopen, and the fsync that covers
//! pending batches counts them in the group commit's size.

use anyhow::{Context, ensure};
use hightower_engine::{
    Command, Durability, EngineConfig, EngineError, Expect, KvEngine, SingleNodeEngine, WriteBatch,
};

fn open(dir: &std::path::Path) -> anyhow::Result<SingleNodeEngine> {
    let config = EngineConfig::new(dir).durability(Durability::Sync);
    Ok(SingleNodeEngine::with_config(config)?)
}

#[test]
fn a_pending_write_shows_only_once_it_is_durable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path())?;
    let v1 = engine.put(b"k", b"old")?;

    let mut batch = WriteBatch::default();
    batch.put(b"k", b"new");
    batch.put(b"other", b"value");
    let pending = engine.write_pending(&batch)?;
    ensure!(pending.committed.first_version == v1 + 1);
    ensure!(pending.committed.count == 2);
    let seq = pending
        .durable_after
        .context("a Sync write waits for its fsync")?;

    let seen = engine.get(b"k")?.context("k is there")?;
    ensure!(
        seen.value == b"old",
        "a reader saw a write before its fsync"
    );
    ensure!(
        engine.get(b"other")?.is_none(),
        "a reader saw a write before its fsync"
    );

    let conflict =
        engine.submit(Command::put(b"k".to_vec(), b"cas".to_vec()).expecting(Expect::Version(v1)));
    ensure!(
        matches!(conflict, Err(EngineError::VersionConflict { .. })),
        "a check must see the pending version, got {conflict:?}"
    );

    let reached = engine.make_durable(seq)?;
    ensure!(
        reached >= seq,
        "made durable through {reached}, asked {seq}"
    );
    ensure!(engine.get(b"k")?.context("k is there")?.value == b"new");
    ensure!(engine.get(b"other")?.context("other is there")?.value == b"value");
    drop(engine);

    let engine = open(dir.path())?;
    ensure!(engine.get(b"k")?.context("k survives a reopen")?.value == b"new");
    Ok(())
}

#[test]
fn without_sync_a_pending_write_is_committed_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = EngineConfig::new(dir.path()).durability(Durability::None);
    let engine = SingleNodeEngine::with_config(config)?;
    let mut batch = WriteBatch::default();
    batch.put(b"k", b"v");
    let pending = engine.write_pending(&batch)?;
    ensure!(pending.durable_after.is_none());
    ensure!(engine.get(b"k")?.context("k is there")?.value == b"v");
    Ok(())
}

#[test]
fn a_pending_condition_meeting_a_pending_write_fails_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path())?;
    let v1 = engine.put(b"k", b"old")?;

    let mut first = WriteBatch::default();
    first.put(b"k", b"new");
    let seq = engine
        .write_pending(&first)?
        .durable_after
        .context("a Sync write waits for its fsync")?;

    // The version the writer read is still the published one, but a
    // newer one is appended: the condition cannot hold, and a caller that
    // must not block is told so instead of waiting for the fsync.
    let mut second = WriteBatch::default();
    second.put_expecting(b"k", b"cas", Expect::Version(v1));
    let conflict = engine.write_pending(&second);
    ensure!(
        matches!(conflict, Err(EngineError::VersionConflict { .. })),
        "a pending check must see the pending version, got {conflict:?}"
    );

    engine.make_durable(seq)?;
    ensure!(engine.get(b"k")?.context("k is there")?.value == b"new");
    Ok(())
}

#[test]
fn one_fsync_for_two_pending_batches_counts_a_group_of_two() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path())?;
    let before = engine.metrics();
    let mut batch = WriteBatch::default();
    batch.put(b"a", b"1");
    engine.write_pending(&batch)?;
    batch.clear();
    batch.put(b"b", b"2");
    let seq = engine
        .write_pending(&batch)?
        .durable_after
        .context("a Sync write waits for its fsync")?;
    engine.make_durable(seq)?;
    let after = engine.metrics();
    let fsyncs = after.group_commit_size.count() - before.group_commit_size.count();
    let commits = after.group_commit_size.sum - before.group_commit_size.sum;
    ensure!(fsyncs == 1, "{fsyncs} fsyncs for two pending batches");
    ensure!(
        commits == 2,
        "the fsync counted {commits} commits, not the two batches it covered"
    );
    Ok(())
}
