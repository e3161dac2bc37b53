//! `compact` rewrites a store full of overwrites, prints what it did, and
//! leaves every key readable; `stats` then shows no dead bytes and a space
//! amplification of 1.00.

mod common;

use anyhow::{Context, Result, ensure};
use common::hightower_ok;
use hightower_engine::{CompactionConfig, EngineConfig, SingleNodeEngine};

#[test]
fn compact_reclaims_and_stats_shows_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let config = EngineConfig::new(dir.path())
            .segment_bytes_max(4096)
            .compaction(CompactionConfig::manual());
        let engine = SingleNodeEngine::with_config(config)?;
        for round in 0..5u32 {
            for i in 0..40u32 {
                engine.put(
                    format!("key:{i:02}").as_bytes(),
                    format!("{round}").repeat(64).as_bytes(),
                )?;
            }
        }
        engine.delete(b"key:00")?;
    }
    let before = hightower_ok(dir.path(), &["stats"])?;
    ensure!(before.contains("dead bytes"), "{before}");

    let stdout = hightower_ok(dir.path(), &["compact"])?;
    ensure!(stdout.starts_with("compacted "), "{stdout}");
    let dropped = stdout
        .lines()
        .find(|line| line.contains("records dropped"))
        .context("a records dropped line")?;
    ensure!(dropped.contains("(1 tombstones)"), "{stdout}");
    ensure!(stdout.contains("space amplification 1.00"), "{stdout}");

    let after = hightower_ok(dir.path(), &["stats"])?;
    ensure!(after.contains("keys             39\n"), "{after}");
    ensure!(
        after.contains("(0 dead), space amplification 1.00"),
        "{after}"
    );
    let again = hightower_ok(dir.path(), &["compact"])?;
    ensure!(again.starts_with("nothing to compact"), "{again}");
    let value = hightower_ok(dir.path(), &["get", "key:07"])?;
    ensure!(value == format!("{}\n", "4".repeat(64)), "{value}");
    Ok(())
}
