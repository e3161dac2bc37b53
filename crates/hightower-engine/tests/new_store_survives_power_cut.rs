//! A store created in directories that did not exist survives a power
//! cut right after its first durable write: the engine makes every
//! directory it creates durable in its parent, so the cut cannot take the
//! store (and the acknowledged write) away with an unsynced directory
//! entry.

use std::sync::Arc;

use anyhow::{Context, ensure};
use hightower_engine::{Durability, EngineConfig, KvEngine, SingleNodeEngine};
use hightower_log::vfs::CrashVfs;

#[test]
fn a_new_store_keeps_its_first_write_through_a_power_cut() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    // The crash model covers the root; the store is two levels below it,
    // both created by the engine.
    let data_dir = root.path().join("parent").join("store");
    for seed in 0..8 {
        let vfs = CrashVfs::new(root.path())?;
        let config = EngineConfig::new(&data_dir)
            .durability(Durability::Sync)
            .vfs(Arc::new(vfs.clone()));
        let engine = SingleNodeEngine::with_config(config)?;
        let version = engine.put(b"k", b"acknowledged")?;
        vfs.crash(seed)?;
        drop(engine);

        let engine = SingleNodeEngine::with_config(EngineConfig::new(&data_dir))
            .context("open the crash image")?;
        let got = engine
            .get(b"k")?
            .with_context(|| format!("seed {seed}: the acknowledged write is gone"))?;
        ensure!(got.value == b"acknowledged" && got.version == version);
        drop(engine);
        std::fs::remove_dir_all(root.path().join("parent"))?;
    }
    Ok(())
}
