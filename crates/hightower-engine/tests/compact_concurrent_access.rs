//! Gets, puts and scans from other threads while compaction passes run
//! one after another: no get or scan ever fails or sees a value go back,
//! every put is acknowledged, and at the end (and after a reopen) the store
//! holds exactly the last acknowledged value of every key. Inline and with
//! a worker pool.

mod common;
mod compaction_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use common::{Contents, dump};
use compaction_common::manual_config;
use hightower_engine::{KvEngine, SingleNodeEngine};

const WRITERS: u32 = 2;
const KEYS_PER_WRITER: u32 = 40;
const RUN_TIME: Duration = Duration::from_millis(800);
/// On a loaded machine the run goes on past `RUN_TIME` until two passes
/// have found work, up to this long.
const RUN_TIME_MAX: Duration = Duration::from_secs(10);

fn key(writer: u32, i: u32) -> Vec<u8> {
    format!("w{writer}-k{i:02}").into_bytes()
}

/// The value carries its sequence number, so readers can check it only grows.
fn value(sequence: u64) -> Vec<u8> {
    format!("{sequence:010}-{}", "x".repeat(60)).into_bytes()
}

fn sequence_of(value: &[u8]) -> anyhow::Result<u64> {
    let digits = value.get(..10).context("value too short")?;
    Ok(std::str::from_utf8(digits)?.parse()?)
}

/// Writes its own keys round-robin until `stop`; returns what it wrote last.
fn write(engine: &SingleNodeEngine, writer: u32, stop: &AtomicBool) -> anyhow::Result<Contents> {
    let mut last = Contents::new();
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let i = (sequence % u64::from(KEYS_PER_WRITER)) as u32;
        let value = value(sequence);
        let version = engine.put(&key(writer, i), &value)?;
        last.insert(key(writer, i), (value, version));
        sequence += 1;
    }
    Ok(last)
}

/// Reads every key over and over; a key's sequence must never go down.
fn read(engine: &SingleNodeEngine, stop: &AtomicBool) -> anyhow::Result<u64> {
    let mut highest = std::collections::HashMap::new();
    let mut reads = 0;
    while !stop.load(Ordering::Relaxed) {
        for writer in 0..WRITERS {
            for i in 0..KEYS_PER_WRITER {
                let key = key(writer, i);
                let Some(got) = engine.get(&key).context("a get failed")? else {
                    continue;
                };
                let sequence = sequence_of(&got.value)?;
                let seen = highest.entry(key).or_insert(0);
                if sequence < *seen {
                    bail!("a value went back from {seen} to {sequence}");
                }
                *seen = sequence;
                reads += 1;
            }
        }
        engine
            .scan_prefix(b"w", usize::MAX)
            .context("a scan failed")?;
    }
    Ok(reads)
}

fn run(worker_threads: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = manual_config(dir.path()).worker_threads(worker_threads);
    let engine = SingleNodeEngine::with_config(config)?;
    let stop = AtomicBool::new(false);
    let (written, reads, passes) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (engine, stop) = (&engine, &stop);
                scope.spawn(move || write(engine, writer, stop))
            })
            .collect();
        let reader = scope.spawn(|| read(&engine, &stop));
        let started = Instant::now();
        let mut passes = 0u32;
        let mut outcome = Ok(());
        let running = |passes| {
            let elapsed = started.elapsed();
            elapsed < RUN_TIME || (passes < 2 && elapsed < RUN_TIME_MAX)
        };
        while running(passes) {
            match engine.run_compaction_now() {
                Ok(report) => passes += u32::from(!report.is_empty()),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut written = Contents::new();
        for handle in writers {
            written.extend(handle.join().expect("a writer panicked")?);
        }
        let reads = reader.join().expect("the reader panicked")?;
        outcome?;
        anyhow::Ok((written, reads, passes))
    })?;
    eprintln!(
        "{worker_threads} workers: {passes} passes, {reads} reads, {} keys",
        written.len()
    );
    ensure!(passes >= 2, "only {passes} passes ran");
    ensure!(
        dump(&engine)? == written,
        "the store differs from the last writes"
    );
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    ensure!(dump(&engine)? == written, "the reopened store differs");
    Ok(())
}

#[test]
fn concurrent_access_during_compaction_inline() -> anyhow::Result<()> {
    run(0)
}

#[test]
fn concurrent_access_during_compaction_with_workers() -> anyhow::Result<()> {
    run(2)
}
