//! A snapshot install cut short by a crash at any point of its last step,
//! the renames of its segments out of the staging directory, which happen
//! in no particular order: the directory states such a crash can leave are
//! built by hand (every subset of the segments already moved), and each
//! must reopen as exactly the whole installed store. A crash before the
//! manifest switch (all or part of the segments staged) must reopen as
//! exactly the old store.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use common::{Contents, dump, small_config};
use hightower_engine::{
    CompactionConfig, Durability, EngineConfig, KeyValue, SingleNodeEngine, SnapshotEngine,
};

/// Versions of the installed entries go up to this.
const INSTALLED_VERSION: u64 = 5_000;

fn config(dir: &Path) -> EngineConfig {
    small_config(dir, Durability::Sync, 0).compaction(CompactionConfig::manual())
}

/// Copies the files of `from` (no subdirectories) into a new `to`.
fn copy_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.is_file() {
            let name = path.file_name().context("a file has a name")?;
            std::fs::copy(&path, to.join(name))?;
        }
    }
    Ok(())
}

/// Segment ids of the files of `dir`.
fn segment_ids(dir: &Path) -> anyhow::Result<BTreeSet<u32>> {
    Ok(common::segment_files(dir)?
        .iter()
        .filter_map(|path| path.file_stem()?.to_str()?.parse().ok())
        .collect())
}

fn segment_name(id: u32) -> String {
    format!("{id:010}.log")
}

/// Writes the old store: several segments, a checkpoint, more writes.
fn write_old_store(dir: &Path) -> anyhow::Result<(Contents, u64)> {
    let engine = SingleNodeEngine::with_config(config(dir))?;
    for i in 0..300u32 {
        let value = format!("old-{i}-{}", "o".repeat(150));
        engine.put(format!("old-{:03}", i % 120).as_bytes(), value.as_bytes())?;
        if i == 200 {
            engine.checkpoint()?;
        }
    }
    engine.delete(b"old-007")?;
    Ok((dump(&engine)?, engine.latest_version()))
}

/// The entries installed over the old store, spanning several segments.
fn new_entries() -> Vec<KeyValue> {
    (0..150u64)
        .map(|i| KeyValue {
            key: format!("new-{i:03}").into_bytes(),
            value: format!("new-{i}-{}", "n".repeat(250)).into_bytes(),
            version: INSTALLED_VERSION - 150 + i,
            expires_at_ms: None,
        })
        .collect()
}

/// Reopens `dir` and checks it holds exactly `expected` at `latest`, with
/// no staging directory left.
fn check_reopens_as(
    dir: &Path,
    expected: &Contents,
    latest: u64,
    case: &str,
) -> anyhow::Result<()> {
    let engine = SingleNodeEngine::with_config(config(dir)).with_context(|| case.to_string())?;
    let got = dump(&engine)?;
    ensure!(
        got == *expected,
        "{case}: {} keys, expected {} (new keys {}, old keys {})",
        got.len(),
        expected.len(),
        got.keys().filter(|k| k.starts_with(b"new-")).count(),
        got.keys().filter(|k| k.starts_with(b"old-")).count(),
    );
    ensure!(
        engine.latest_version() == latest,
        "{case}: latest version {} instead of {latest}",
        engine.latest_version()
    );
    drop(engine);
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    ensure!(leftovers.is_empty(), "{case}: {leftovers:?} left behind");
    Ok(())
}

#[test]
fn a_crash_among_the_install_renames_keeps_old_or_whole_new() -> anyhow::Result<()> {
    let base = tempfile::tempdir()?;
    let live = base.path().join("live");
    let (old_contents, old_latest) = write_old_store(&live)?;
    let before = base.path().join("before");
    copy_files(&live, &before)?;
    let old_ids = segment_ids(&before)?;

    let entries = new_entries();
    let new_contents: Contents = entries
        .iter()
        .map(|kv| (kv.key.clone(), (kv.value.clone(), kv.version)))
        .collect();
    {
        let engine = SingleNodeEngine::with_config(config(&live))?;
        engine.install_snapshot(INSTALLED_VERSION, &mut entries.into_iter())?;
    }
    let new_ids: Vec<u32> = segment_ids(&live)?.difference(&old_ids).copied().collect();
    ensure!(
        new_ids.len() >= 3 && old_ids.len() >= 2,
        "the stores are too small: old {old_ids:?}, new {new_ids:?}"
    );
    let first_id = new_ids[0];
    let staging_name = format!("install-{first_id}");

    // Committed: the new manifest is in place; `moved` is the set of the
    // segments already renamed, the others are still staged.
    for moved in 0..1u32 << new_ids.len() {
        let case = format!("committed, moved set {moved:#b} of {new_ids:?}");
        let dir = base.path().join(format!("committed-{moved}"));
        copy_files(&before, &dir)?;
        std::fs::copy(live.join("MANIFEST"), dir.join("MANIFEST"))?;
        let staging = dir.join(&staging_name);
        std::fs::create_dir(&staging)?;
        for (bit, id) in new_ids.iter().enumerate() {
            let target = if moved & (1 << bit) != 0 {
                &dir
            } else {
                &staging
            };
            std::fs::copy(live.join(segment_name(*id)), target.join(segment_name(*id)))?;
        }
        check_reopens_as(&dir, &new_contents, INSTALLED_VERSION, &case)?;
        ensure!(
            segment_ids(&dir)?.is_disjoint(&old_ids),
            "{case}: an old segment is left"
        );
    }

    // Not committed: the old manifest (none here), and the first `staged`
    // segments written into the staging directory.
    for staged in 0..=new_ids.len() {
        let case = format!(
            "not committed, {staged} of {} segments staged",
            new_ids.len()
        );
        let dir = base.path().join(format!("uncommitted-{staged}"));
        copy_files(&before, &dir)?;
        let staging = dir.join(&staging_name);
        std::fs::create_dir(&staging)?;
        for id in &new_ids[..staged] {
            std::fs::copy(
                live.join(segment_name(*id)),
                staging.join(segment_name(*id)),
            )?;
        }
        check_reopens_as(&dir, &old_contents, old_latest, &case)?;
    }
    Ok(())
}
