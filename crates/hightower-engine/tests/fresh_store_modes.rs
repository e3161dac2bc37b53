//! A store is private by default: the data directory (and any parent the
//! engine creates) is 0700, every file in it (segments, `MANIFEST`,
//! snapshots, `LOCK`) 0600. `EngineConfig::file_modes(0o640, 0o750)`
//! lets the owner's group read them instead.

#![cfg(unix)]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, ensure};
use hightower_engine::{CompactionConfig, EngineConfig, SingleNodeEngine};

fn mode(path: &Path) -> anyhow::Result<u32> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} is missing", path.display()))?
        .permissions()
        .mode()
        & 0o777)
}

/// The bits the umask lets through, found from a directory asked for 0777.
fn umask_allows(scratch: &Path) -> anyhow::Result<u32> {
    let probe = scratch.join("umask-probe");
    std::fs::DirBuilder::new().mode(0o777).create(&probe)?;
    let allowed = mode(&probe)?;
    std::fs::remove_dir(&probe)?;
    Ok(allowed)
}

/// Opens a new store at `dir` (two levels below an existing directory),
/// gives it segments, a snapshot and a manifest, and checks every mode.
fn check_store(config: EngineConfig, file_mode: u32, dir_mode: u32) -> anyhow::Result<()> {
    let dir = config.data_dir.clone();
    let engine = SingleNodeEngine::with_config(
        config
            .segment_bytes_max(4096)
            .compaction(CompactionConfig::manual()),
    )?;
    for i in 0..40u32 {
        engine.put(format!("key-{}", i % 10).as_bytes(), &[b'v'; 500])?;
    }
    engine.run_compaction_now()?;
    engine.checkpoint()?;
    drop(engine);
    let parent = dir.parent().context("the store has a parent")?;
    ensure!(
        mode(parent)? == dir_mode,
        "created parent: {:04o}",
        mode(parent)?
    );
    ensure!(
        mode(&dir)? == dir_mode,
        "data directory: {:04o}",
        mode(&dir)?
    );
    let (mut segments, mut snapshots) = (0, 0);
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        segments += usize::from(name.ends_with(".log"));
        snapshots += usize::from(name.ends_with(".snap"));
        ensure!(mode(&path)? == file_mode, "{name}: {:04o}", mode(&path)?);
    }
    ensure!(
        segments > 1 && snapshots == 1,
        "{segments} segments, {snapshots} snapshots"
    );
    for name in ["MANIFEST", "LOCK"] {
        ensure!(mode(&dir.join(name))? == file_mode, "{name}");
    }
    Ok(())
}

#[test]
fn a_fresh_store_is_owner_only_unless_asked_otherwise() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let allowed = umask_allows(scratch.path())?;
    let private = scratch.path().join("private").join("store");
    check_store(EngineConfig::new(private), 0o600 & allowed, 0o700 & allowed)?;
    let shared = scratch.path().join("shared").join("store");
    check_store(
        EngineConfig::new(shared).file_modes(0o640, 0o750),
        0o640 & allowed,
        0o750 & allowed,
    )?;
    Ok(())
}
