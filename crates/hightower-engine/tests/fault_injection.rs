//! I/O failures injected through `FaultyVfs`: a failed fsync, a full disk
//! and a write cut short. Each must fail the write in progress with a
//! clear error, poison the engine so later writes fail with
//! `EngineError::Poisoned` while reads go on, and lose nothing that was
//! acknowledged before the failure once the store is reopened on a healthy
//! file system.

mod common;

use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use common::{Contents, dump, newest_segment, show, small_config};
use hightower_engine::{
    AdminEngine, Durability, EngineConfig, EngineError, KvEngine, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::LogError;
use hightower_log::vfs::FaultyVfs;

/// Writes before a failure is injected.
const WRITES_BEFORE_FAILURE: u32 = 60;
/// Puts tried before giving up on reaching a full disk.
const WRITES_MAX: u32 = 10_000;

fn faulty_config(dir: &std::path::Path, vfs: &FaultyVfs, worker_threads: usize) -> EngineConfig {
    small_config(dir, Durability::Sync, worker_threads).vfs(Arc::new(vfs.clone()))
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{:03}", i % 40).into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}-{}", "v".repeat(100)).into_bytes()
}

/// Puts `count` records starting at `first`, noting each acknowledged one.
fn write_acked(
    engine: &SingleNodeEngine,
    first: u32,
    count: u32,
    acked: &mut Contents,
) -> anyhow::Result<()> {
    for i in first..first + count {
        let version = engine.put(&key(i), &value(i))?;
        acked.insert(key(i), (value(i), version));
    }
    Ok(())
}

/// Whether `error` is the I/O failure itself rather than `Poisoned` by an
/// earlier one: what the one writer that hits a failure must be told.
fn first_failure(error: &EngineError) -> bool {
    matches!(
        error,
        EngineError::Log(LogError::Io { .. }) | EngineError::Io { .. }
    )
}

/// After the first failure: writes are refused as poisoned, reads work.
fn check_poisoned(engine: &SingleNodeEngine, acked: &Contents) -> anyhow::Result<()> {
    let reason = engine
        .poison_reason()
        .context("a failed write poisons the engine")?;
    match engine.put(b"after", b"failure") {
        Err(EngineError::Poisoned { reason: told }) => {
            ensure!(told == reason, "poison reason changed: {told}")
        }
        Err(other) => bail!("a write after the failure gave {other}, not Poisoned"),
        Ok(version) => bail!("a write after the failure was acknowledged at version {version}"),
    }
    let message = engine
        .put(b"after", b"failure")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(
        message.contains("poisoned") && message.contains("reopen"),
        "unclear message: {message}"
    );
    ensure!(
        matches!(engine.checkpoint(), Err(EngineError::Poisoned { .. })),
        "checkpoint on a poisoned engine"
    );
    ensure!(
        matches!(engine.sync(), Err(EngineError::Poisoned { .. })),
        "sync on a poisoned engine"
    );
    for (key, (value, version)) in acked {
        let got = engine
            .get(key)?
            .with_context(|| format!("{} unreadable after the failure", show(key)))?;
        ensure!(
            (&got.value, got.version) == (value, *version),
            "{} reads another value",
            show(key)
        );
    }
    ensure!(
        dump(engine)? == *acked,
        "a scan after the failure differs from what was acknowledged"
    );
    Ok(())
}

/// Reopens on the real file system: everything acknowledged is there.
fn reopen_healthy(dir: &std::path::Path, acked: &Contents) -> anyhow::Result<SingleNodeEngine> {
    let engine = SingleNodeEngine::with_config(small_config(dir, Durability::Sync, 0))
        .context("reopen healthy")?;
    let recovered = dump(&engine)?;
    for (key, expected) in acked {
        let got = recovered
            .get(key)
            .with_context(|| format!("acknowledged {} lost", show(key)))?;
        ensure!(
            got == expected,
            "acknowledged {} recovered as {:?}",
            show(key),
            got.1
        );
    }
    let latest_acked = acked
        .values()
        .map(|(_, version)| *version)
        .max()
        .unwrap_or(0);
    ensure!(
        engine.latest_version() >= latest_acked,
        "versions went backwards"
    );
    let version = engine.put(b"healed", b"yes")?;
    ensure!(
        version > latest_acked,
        "new version {version} is not above {latest_acked}"
    );
    Ok(engine)
}

#[test]
fn failed_fsync_poisons_and_keeps_acknowledged_writes() -> anyhow::Result<()> {
    for worker_threads in [0, 2] {
        let dir = tempfile::tempdir()?;
        let vfs = FaultyVfs::new();
        let mut acked = Contents::new();
        {
            let engine =
                SingleNodeEngine::with_config(faulty_config(dir.path(), &vfs, worker_threads))?;
            write_acked(&engine, 0, WRITES_BEFORE_FAILURE, &mut acked)?;
            vfs.plan().set_fail_sync(true);
            let failed = engine.put(b"during", b"failure");
            let error = match failed {
                Ok(version) => {
                    bail!("a write whose fsync failed was acknowledged at version {version}")
                }
                Err(e) => e,
            };
            let message = error.to_string();
            ensure!(
                message.contains("I/O error"),
                "the failed write's error does not say why: {message}"
            );
            ensure!(
                first_failure(&error),
                "the failing write blames an earlier one: {message}"
            );
            check_poisoned(&engine, &acked)?;
            // Faults lifted, the engine stays poisoned until it is reopened.
            vfs.plan().heal();
            ensure!(
                matches!(engine.put(b"x", b"y"), Err(EngineError::Poisoned { .. })),
                "healing unpoisoned"
            );
        }
        reopen_healthy(dir.path(), &acked).with_context(|| format!("{worker_threads} workers"))?;
    }
    Ok(())
}

/// Writes until the disk is full; returns the error of the write that hit it.
fn write_until_full(
    engine: &SingleNodeEngine,
    acked: &mut Contents,
) -> anyhow::Result<EngineError> {
    for i in 0..WRITES_MAX {
        match engine.put(&key(i), &value(i)) {
            Ok(version) => {
                acked.insert(key(i), (value(i), version));
            }
            Err(e) => return Ok(e),
        }
    }
    bail!("{WRITES_MAX} writes fit in the write budget")
}

#[test]
fn full_disk_poisons_and_keeps_acknowledged_writes() -> anyhow::Result<()> {
    // Budgets that run out in different places: in the first segment, at a
    // roll (a new segment's header), in a later segment or in a footer.
    for budget_bytes in [1_000, 7_000, 8_300, 20_000, 33_000] {
        let dir = tempfile::tempdir()?;
        let vfs = FaultyVfs::new();
        let mut acked = Contents::new();
        {
            let mut config = faulty_config(dir.path(), &vfs, 0);
            config.write_buffer_bytes = 512;
            let engine = SingleNodeEngine::with_config(config)?;
            vfs.plan().set_write_budget_bytes(budget_bytes);
            let error = write_until_full(&engine, &mut acked)?;
            let message = error.to_string();
            ensure!(
                message.contains("No space"),
                "budget {budget_bytes}: unclear error: {message}"
            );
            // A budget that runs out in a footer fails a background seal,
            // which poisons the engine before a writer meets the full disk:
            // that writer is told `Poisoned`, naming the seal's error.
            let seal_failed_first = matches!(&error, EngineError::Poisoned { .. });
            ensure!(
                first_failure(&error) || seal_failed_first,
                "budget {budget_bytes}: the failing write blames an earlier one: {message}"
            );
            ensure!(!acked.is_empty(), "budget {budget_bytes}: nothing fit");
            check_poisoned(&engine, &acked).with_context(|| format!("budget {budget_bytes}"))?;
        }
        vfs.plan().heal();
        reopen_healthy(dir.path(), &acked).with_context(|| format!("budget {budget_bytes}"))?;
    }
    Ok(())
}

#[test]
fn short_write_is_cut_and_keeps_acknowledged_writes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let mut acked = Contents::new();
    let (record_len_bytes, whole_len_bytes);
    {
        let mut config = faulty_config(dir.path(), &vfs, 0);
        // Unbuffered: each append is one write, so the budget cuts it.
        config.write_buffer_bytes = 0;
        let engine = SingleNodeEngine::with_config(config)?;
        write_acked(&engine, 0, 10, &mut acked)?;
        let before = engine.metrics().bytes_written;
        write_acked(&engine, 10, 1, &mut acked)?;
        record_len_bytes = engine.metrics().bytes_written - before;
        // Few small records: the torn one lands in the same segment.
        ensure!(engine.segments().len() == 1, "the records rolled over");
        whole_len_bytes = std::fs::metadata(newest_segment(dir.path())?)?.len();
        vfs.plan().set_write_budget_bytes(record_len_bytes / 2);
        let error = engine
            .put(b"torn-key", &value(99))
            .err()
            .context("a write cut short was acknowledged")?;
        let message = error.to_string();
        ensure!(message.contains("No space"), "unclear error: {message}");
        ensure!(
            first_failure(&error),
            "the failing write blames an earlier one: {message}"
        );
        check_poisoned(&engine, &acked)?;
        ensure!(
            engine.get(b"torn-key")?.is_none(),
            "the torn record is readable"
        );
    }
    vfs.plan().heal();
    let newest = newest_segment(dir.path())?;
    let torn_len_bytes = std::fs::metadata(&newest)?.len() - whole_len_bytes;
    ensure!(
        torn_len_bytes < record_len_bytes,
        "{torn_len_bytes} bytes of a {record_len_bytes}-byte record"
    );
    let engine = reopen_healthy(dir.path(), &acked)?;
    ensure!(
        engine.get(b"torn-key")?.is_none(),
        "half a record came back"
    );
    // Either the segment cut its own partial write at once, or recovery
    // cuts the torn tail now; either way the file ends on a whole record.
    ensure!(
        engine.recovery_info().truncated_bytes == torn_len_bytes,
        "recovery cut {} bytes of a {torn_len_bytes}-byte torn tail",
        engine.recovery_info().truncated_bytes
    );
    for (path, report) in engine.verify()? {
        ensure!(report.records > 0, "{} verified empty", path.display());
    }
    Ok(())
}
