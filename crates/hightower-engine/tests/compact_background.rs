//! Automatic compaction: under an overwrite workload the engine wakes its
//! compaction thread when segments roll, and passes keep the space in
//! check while the contents stay exactly what was written, also after a
//! reopen. With automatic passes turned off, none runs.

mod common;
mod compaction_common;

use std::time::{Duration, Instant};

use anyhow::ensure;
use common::{Contents, dump};
use compaction_common::{data_and_live_bytes, manual_config};
use hightower_engine::{CompactionConfig, SingleNodeEngine};

const KEYS: u32 = 50;
const WRITES: u32 = 10_000;
/// How long the test waits for the thread to catch up before it fails.
const WAIT_MAX: Duration = Duration::from_secs(30);

fn automatic() -> CompactionConfig {
    CompactionConfig {
        automatic: true,
        min_bytes: 16 * 1024,
        max_segments: 4,
        dead_ratio_min: 0.5,
        ..CompactionConfig::default()
    }
}

/// Overwrites the keys until `done` says so; returns the last writes.
fn overwrite(
    engine: &SingleNodeEngine,
    mut done: impl FnMut(u32) -> bool,
) -> anyhow::Result<Contents> {
    let mut written = Contents::new();
    let mut i = 0;
    while !done(i) {
        let key = format!("key-{:02}", i % KEYS).into_bytes();
        let value = format!("{i}-{}", "v".repeat(100)).into_bytes();
        let version = engine.put(&key, &value)?;
        written.insert(key, (value, version));
        i += 1;
    }
    Ok(written)
}

#[test]
fn overwrites_trigger_background_passes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = manual_config(dir.path()).compaction(automatic());
    let engine = SingleNodeEngine::with_config(config.clone())?;
    let written = overwrite(&engine, |i| i >= WRITES)?;
    // Passes run on their own while the writes go on; once they stop, the
    // thread is woken until it has caught up (no claim about how fast).
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let (data_bytes, live_bytes) = data_and_live_bytes(&engine);
        if data_bytes <= 2 * live_bytes + 64 * 1024 || Instant::now() > deadline {
            break;
        }
        engine.maybe_run_compaction();
        std::thread::sleep(Duration::from_millis(20));
    }
    let metrics = engine.metrics();
    let (data_bytes, live_bytes) = data_and_live_bytes(&engine);
    eprintln!(
        "{} passes, {} bytes reclaimed; data {data_bytes}, live {live_bytes}; written {}",
        metrics.compaction_passes, metrics.compaction_bytes_reclaimed, metrics.bytes_written
    );
    ensure!(
        metrics.compaction_passes >= 1,
        "no background pass ran: {metrics:?}"
    );
    ensure!(metrics.compaction_failures == 0, "{metrics:?}");
    ensure!(
        data_bytes <= 2 * live_bytes + 64 * 1024,
        "background passes left {data_bytes} data bytes for {live_bytes} live ones"
    );
    ensure!(dump(&engine)? == written, "the contents differ");
    drop(engine);
    let engine = SingleNodeEngine::with_config(config)?;
    ensure!(dump(&engine)? == written, "the reopened contents differ");
    Ok(())
}

#[test]
fn no_background_pass_when_automatic_is_off() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = manual_config(dir.path()).compaction(CompactionConfig {
        automatic: false,
        ..automatic()
    });
    let engine = SingleNodeEngine::with_config(config)?;
    overwrite(&engine, |i| i >= 3000)?;
    ensure!(
        !engine.maybe_run_compaction(),
        "woke a thread that does not exist"
    );
    std::thread::sleep(Duration::from_millis(50));
    ensure!(engine.metrics().compaction_passes == 0);
    Ok(())
}
