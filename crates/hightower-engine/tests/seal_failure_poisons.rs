//! A background seal that fails (here: the disk is full when the footer
//! is written) poisons the engine with its I/O error, though no write on
//! the caller's path failed: later writes fail with `Poisoned` naming it,
//! and joining the seal reports the error itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use hightower_engine::{
    CompactionConfig, Durability, EngineConfig, EngineError, SingleNodeEngine, testing,
};
use hightower_log::SEGMENT_HEADER_BYTES;
use hightower_log::vfs::FaultyVfs;

/// Puts of this many bytes fill a 4 KiB segment in a few writes.
const VALUE_BYTES: usize = 700;
/// At most this many puts before one rolls the segment.
const PUTS_MAX: usize = 100;
/// How long the sealing thread may take to report.
const REPORT_WAIT_MAX: Duration = Duration::from_secs(10);

#[test]
fn a_failed_background_seal_poisons_the_engine() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let config = EngineConfig::new(dir.path())
        .segment_bytes_max(4096)
        .durability(Durability::None)
        .compaction(CompactionConfig::manual())
        .vfs(Arc::new(vfs.clone()));
    let engine = SingleNodeEngine::with_config(config)?;
    let value = vec![b'v'; VALUE_BYTES];

    // Before each put the buffered records are written out, and the disk
    // is left room for one segment header only: a put that rolls creates
    // the next segment in it, and the seal of the old one finds the disk full.
    let mut rolled = false;
    for i in 0..PUTS_MAX {
        vfs.plan().heal();
        testing::flush(&engine)?;
        vfs.plan()
            .set_write_budget_bytes(SEGMENT_HEADER_BYTES as u64);
        let rolls = testing::roll_count(&engine);
        engine.put(format!("key-{i}").as_bytes(), &value)?;
        if testing::roll_count(&engine) > rolls {
            rolled = true;
            break;
        }
    }
    ensure!(rolled, "no put rolled the segment");

    // Nobody joins the seal here: its thread poisons the engine itself.
    let deadline = Instant::now() + REPORT_WAIT_MAX;
    let reason = loop {
        if let Some(reason) = engine.poison_reason() {
            break reason;
        }
        ensure!(
            Instant::now() < deadline,
            "the failed seal never poisoned the engine"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    ensure!(
        reason.contains("os error 28"),
        "poisoned by something else: {reason}"
    );

    vfs.plan().heal();
    match engine.put(b"after", b"refused") {
        Err(EngineError::Poisoned { reason }) => {
            ensure!(reason.contains("os error 28"), "Poisoned names {reason}");
        }
        other => anyhow::bail!("a write after a failed seal returned {other:?}"),
    }
    let joined = testing::finish_seals(&engine)
        .err()
        .context("joining the failed seal reported no error")?;
    ensure!(
        matches!(joined, EngineError::Log(hightower_log::LogError::Io { .. })),
        "the seal's failure came back as {joined:?}"
    );
    Ok(())
}
