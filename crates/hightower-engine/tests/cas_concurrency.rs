//! Eight threads increment three shared counters by compare-and-set: read
//! the value and its version, put the value plus one expecting that
//! version, retry on a version conflict. No increment may be lost: each
//! counter ends equal to the number of successful increments on it, also
//! after a reopen. Runs inline and with a worker pool, with and without
//! `Sync` (where concurrent commits may share an fsync).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail, ensure};
use common::small_config;
use hightower_engine::{Command, Durability, EngineError, Expect, KvEngine, SingleNodeEngine};

const THREADS: usize = 8;
const KEYS: [&[u8]; 3] = [b"counter-a", b"counter-b", b"counter-c"];
/// Conflicts one increment may meet before the test gives up on it.
const RETRIES_MAX: u32 = 100_000;

/// Successful increments and conflicts met, per key.
#[derive(Debug, Default)]
struct Tally {
    increments: [AtomicU64; 3],
    conflicts: AtomicU64,
}

fn read_counter(engine: &SingleNodeEngine, key: &[u8]) -> anyhow::Result<(u64, Expect)> {
    match engine.get(key)? {
        Some(found) => {
            let text = std::str::from_utf8(&found.value)?;
            Ok((text.parse()?, Expect::Version(found.version)))
        }
        None => Ok((0, Expect::Absent)),
    }
}

/// One increment of `KEYS[k]`, retried until it wins.
fn increment(engine: &SingleNodeEngine, k: usize, tally: &Tally) -> anyhow::Result<()> {
    for _ in 0..RETRIES_MAX {
        let (count, expect) = read_counter(engine, KEYS[k])?;
        let command = Command::put(KEYS[k], (count + 1).to_string()).expecting(expect);
        match engine.submit(command) {
            Ok(version) => {
                if let Expect::Version(read) = expect {
                    ensure!(
                        version > read,
                        "version {version} is not above the version read, {read}"
                    );
                }
                tally.increments[k].fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(EngineError::VersionConflict {
                key,
                expected,
                actual,
            }) => {
                ensure!(
                    key.0 == KEYS[k] && expected == expect,
                    "conflict names {key:?} expecting {expected}"
                );
                ensure!(
                    actual.is_some() && Some(expected) != actual.map(Expect::Version),
                    "conflict found {actual:?}"
                );
                tally.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => bail!("increment failed: {other}"),
        }
    }
    bail!("an increment lost {RETRIES_MAX} conflicts in a row")
}

fn check_counters(engine: &SingleNodeEngine, tally: &Tally) -> anyhow::Result<()> {
    for (k, key) in KEYS.iter().enumerate() {
        let (count, _) = read_counter(engine, key)?;
        let increments = tally.increments[k].load(Ordering::Relaxed);
        ensure!(
            count == increments,
            "{} is {count} after {increments} increments",
            common::show(key)
        );
    }
    Ok(())
}

fn run(
    durability: Durability,
    worker_threads: usize,
    increments_per_thread: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = small_config(dir.path(), durability, worker_threads);
    let tally = Tally::default();
    {
        let engine = SingleNodeEngine::with_config(config.clone())?;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (engine, tally) = (&engine, &tally);
                    scope.spawn(move || {
                        (0..increments_per_thread)
                            .try_for_each(|i| increment(engine, (t + i) % KEYS.len(), tally))
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().expect("an incrementing thread does not panic"))
        })?;
        let total: u64 = tally
            .increments
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum();
        ensure!(
            total == (THREADS * increments_per_thread) as u64,
            "{total} increments counted"
        );
        check_counters(&engine, &tally)?;
        let metrics = engine.metrics();
        ensure!(
            metrics.conflicts == tally.conflicts.load(Ordering::Relaxed),
            "conflict metric {}",
            metrics.conflicts
        );
        if durability == Durability::Sync {
            // Group commit may share fsyncs but does not promise to; report.
            eprintln!(
                "{worker_threads} workers, Sync: {} fsyncs for {total} commits ({:.2} commits per fsync), {} conflicts",
                metrics.fsyncs,
                total as f64 / metrics.fsyncs.max(1) as f64,
                metrics.conflicts
            );
        }
    }
    let engine = SingleNodeEngine::with_config(config).context("reopen")?;
    check_counters(&engine, &tally).context("after reopen")
}

#[test]
fn cas_increments_are_not_lost_inline_sync() -> anyhow::Result<()> {
    run(Durability::Sync, 0, 50)
}

#[test]
fn cas_increments_are_not_lost_with_workers() -> anyhow::Result<()> {
    run(Durability::None, 4, 300)
}

#[test]
fn cas_increments_are_not_lost_with_workers_sync() -> anyhow::Result<()> {
    run(Durability::Sync, 4, 50)
}
