//! An install that lowers the latest version lowers the group commit's
//! durable watermark with it: a `Sync` write after `install(0, empty)`
//! gets a version below the versions synced before, and must still be
//! fsynced, so a failing fsync fails it instead of acknowledging it.

use std::sync::Arc;

use anyhow::ensure;
use hightower_engine::{Durability, EngineConfig, SingleNodeEngine, SnapshotEngine};
use hightower_log::vfs::FaultyVfs;

#[test]
fn a_sync_write_after_a_lowering_install_is_fsynced() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let config = EngineConfig::new(dir.path())
        .durability(Durability::Sync)
        .vfs(Arc::new(vfs.clone()));
    let engine = SingleNodeEngine::with_config(config)?;
    for i in 0..20u32 {
        engine.put(format!("key-{i}").as_bytes(), b"synced")?;
    }
    ensure!(engine.latest_version() == 20, "twenty versions written");

    engine.install_snapshot(0, &mut std::iter::empty())?;
    ensure!(
        engine.latest_version() == 0,
        "the install lowered the latest version"
    );

    vfs.plan().set_fail_sync(true);
    let outcome = engine.put(b"after-install", b"not durable");
    ensure!(
        outcome.is_err(),
        "a Sync write at version {:?} was acknowledged though its fsync fails",
        outcome.ok()
    );
    ensure!(
        engine.poison_reason().is_some(),
        "the failed fsync did not poison the engine"
    );
    Ok(())
}
