//! Point-in-time state and snapshot files: a read view of engine A,
//! streamed into engine B with `install_snapshot`, makes B equal to the
//! view (and nothing else), at the view's version, also after B reopens;
//! writes to A after the view was taken stay out of it. A checkpoint file
//! with another format version is refused by `Snapshot::load` naming the
//! version, and a damaged newest checkpoint makes a reopen fall back to an
//! older one or to a full replay, with all data.

mod common;

use anyhow::{Context, ensure};
use common::{Contents, dump, show, small_config};
use hightower_engine::{
    Command, Durability, EngineError, KvEngine, ReadView, SingleNodeEngine, Snapshot,
    SnapshotEngine,
};
use hightower_log::vfs::StdVfs;

/// Writes a few hundred keys with overwrites and deletes, some values long
/// enough to roll segments.
fn fill(engine: &SingleNodeEngine, tag: &str, rounds: u32) -> anyhow::Result<()> {
    for i in 0..rounds {
        let key = format!("{tag}-{:03}", i % 150);
        let value = format!("{tag}-{i}-{}", "v".repeat((i % 5 * 300) as usize));
        engine.put(key.as_bytes(), value.as_bytes())?;
        if i % 7 == 0 {
            engine.delete(format!("{tag}-{:03}", (i * 3) % 150).as_bytes())?;
        }
        if i % 50 == 0 {
            let batch = (0..3)
                .map(|k| Command::put(format!("{tag}-batch-{k}"), i.to_le_bytes().to_vec()))
                .collect();
            engine.submit_batch(batch)?;
        }
    }
    Ok(())
}

fn view_contents(view: &ReadView) -> anyhow::Result<Contents> {
    let mut contents = Contents::new();
    for item in view.iter() {
        let kv = item?;
        contents.insert(kv.key, (kv.value, kv.version));
    }
    Ok(contents)
}

/// Streams `view` into `engine`, stopping at the first read error.
fn stream_into(engine: &SingleNodeEngine, view: &ReadView) -> anyhow::Result<()> {
    let mut failure: Option<EngineError> = None;
    let mut entries = view
        .iter()
        .map_while(|item| item.map_err(|e| failure = Some(e)).ok());
    engine.install_snapshot(view.version(), &mut entries)?;
    if let Some(error) = failure {
        return Err(error).context("reading the view while streaming it");
    }
    Ok(())
}

fn check_equals(
    engine: &SingleNodeEngine,
    expected: &Contents,
    version: u64,
    when: &str,
) -> anyhow::Result<()> {
    let got = dump(engine)?;
    if let Some(key) = got.keys().find(|k| !expected.contains_key(*k)) {
        anyhow::bail!("{when}: {} is there but not in the view", show(key));
    }
    ensure!(
        got == *expected,
        "{when}: {} keys differ from the view's {}",
        got.len(),
        expected.len()
    );
    ensure!(
        engine.latest_version() == version,
        "{when}: latest {} instead of {version}",
        engine.latest_version()
    );
    Ok(())
}

#[test]
fn a_streamed_view_installs_into_another_engine() -> anyhow::Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = SingleNodeEngine::with_config(small_config(dir_a.path(), Durability::None, 0))?;
    fill(&a, "a", 400)?;
    let view = a.snapshot_state()?;
    let expected = view_contents(&view)?;
    ensure!(
        view.version() == a.latest_version() && !expected.is_empty(),
        "the view is not of A now"
    );
    ensure!(expected == dump(&a)?, "the view differs from A");

    // Later writes, a checkpoint and new segments in A leave the view as it was.
    fill(&a, "a", 300)?;
    a.put(b"a-after-the-view", b"x")?;
    a.checkpoint()?;
    ensure!(
        view_contents(&view)? == expected,
        "writes after the view changed it"
    );
    ensure!(
        view.get(b"a-after-the-view")?.is_none(),
        "a write after the view is in it"
    );
    ensure!(
        view.version() < a.latest_version(),
        "the view's version moved"
    );

    for worker_threads in [0, 2] {
        let dir_b = dir_b.path().join(format!("workers-{worker_threads}"));
        let config = small_config(&dir_b, Durability::None, worker_threads);
        {
            let b = SingleNodeEngine::with_config(config.clone())?;
            // B had a life of its own, with versions above the view's.
            fill(&b, "b", 200)?;
            fill(&b, "a", 30)?;
            b.checkpoint()?;
            let b_before = b.read_view()?;
            let b_contents = view_contents(&b_before)?;
            stream_into(&b, &view)?;
            check_equals(&b, &expected, view.version(), "after install")?;
            // B's own older view still reads B as it was, though its
            // segment files are gone.
            ensure!(
                view_contents(&b_before)? == b_contents,
                "an install changed an older view of B"
            );
            let version = b.put(b"b-new", b"write")?;
            ensure!(
                version > view.version(),
                "B's next version {version} is not above the view's"
            );
            b.delete(b"b-new")?;
        }
        let b = SingleNodeEngine::with_config(config.clone()).context("reopen B")?;
        check_equals(&b, &expected, view.version() + 2, "after reopening B")?;
        fill(&b, "c", 100)?;
        let grown = dump(&b)?;
        drop(b);
        let b = SingleNodeEngine::with_config(config)?;
        let latest = b.latest_version();
        check_equals(&b, &grown, latest, "after writes on top of the install")?;
    }
    Ok(())
}

#[test]
fn an_install_cut_short_leaves_the_old_store() -> anyhow::Result<()> {
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = SingleNodeEngine::with_config(small_config(dir_a.path(), Durability::None, 0))?;
    fill(&a, "a", 400)?;
    let view = a.snapshot_state()?;
    // Budgets that end the install in its first segment and in a later one.
    for budget_bytes in [3_000, 20_000] {
        let dir_b = dir_b.path().join(format!("budget-{budget_bytes}"));
        let vfs = hightower_log::vfs::FaultyVfs::new();
        let config = small_config(&dir_b, Durability::Sync, 0);
        let (before, latest) = {
            let b = SingleNodeEngine::with_config(
                config.clone().vfs(std::sync::Arc::new(vfs.clone())),
            )?;
            fill(&b, "b", 100)?;
            vfs.plan().set_write_budget_bytes(budget_bytes);
            ensure!(
                stream_into(&b, &view).is_err(),
                "budget {budget_bytes}: the install fit"
            );
            ensure!(
                b.poison_reason().is_some(),
                "budget {budget_bytes}: a failed install left B unpoisoned"
            );
            (dump(&b)?, b.latest_version())
        };
        vfs.plan().heal();
        let b = SingleNodeEngine::with_config(config).context("reopen B")?;
        check_equals(
            &b,
            &before,
            latest,
            &format!("budget {budget_bytes}: after a failed install"),
        )?;
    }
    Ok(())
}

#[test]
fn another_snapshot_format_version_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = small_config(dir.path(), Durability::None, 0);
    let engine = SingleNodeEngine::with_config(config.clone())?;
    fill(&engine, "k", 200)?;
    let path = engine.checkpoint()?;
    let expected = dump(&engine)?;
    let latest = engine.latest_version();
    drop(engine);

    let state = Snapshot::load(&StdVfs::default(), &path)?;
    ensure!(
        state.latest_version == latest,
        "the checkpoint holds version {}",
        state.latest_version
    );
    let mut bytes = std::fs::read(&path)?;
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&path, &bytes)?;
    let error = Snapshot::load(&StdVfs::default(), &path)
        .err()
        .context("a snapshot of format version 7 loaded")?;
    let message = error.to_string();
    ensure!(
        message.contains("format version 7"),
        "the error does not name the version: {message}"
    );
    ensure!(
        message.contains(&path.display().to_string()),
        "the error does not name the file: {message}"
    );

    let engine = SingleNodeEngine::with_config(config)?;
    ensure!(
        engine.recovery_info().snapshots_skipped == 1,
        "{:?}",
        engine.recovery_info()
    );
    ensure!(
        engine.recovery_info().snapshot_version.is_none(),
        "{:?}",
        engine.recovery_info()
    );
    check_equals(&engine, &expected, latest, "after skipping the snapshot")?;
    Ok(())
}

#[test]
fn a_damaged_newest_snapshot_falls_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = small_config(dir.path(), Durability::None, 0);
    let engine = SingleNodeEngine::with_config(config.clone())?;
    fill(&engine, "k", 200)?;
    let older = engine.checkpoint()?;
    let older_version = engine.latest_version();
    let older_bytes = std::fs::read(&older)?;
    fill(&engine, "k", 200)?;
    let newer = engine.checkpoint()?;
    ensure!(
        !older.exists(),
        "a checkpoint keeps only the newest snapshot file"
    );
    fill(&engine, "m", 100)?;
    let expected = dump(&engine)?;
    let latest = engine.latest_version();
    drop(engine);

    // Damage the newest snapshot in its entries: the older one is used.
    let mut bytes = std::fs::read(&newer)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&newer, &bytes)?;
    std::fs::write(&older, &older_bytes)?;
    let engine = SingleNodeEngine::with_config(config.clone())?;
    let info = engine.recovery_info().clone();
    ensure!(
        info.snapshots_skipped == 1 && info.snapshot_version == Some(older_version),
        "{info:?}"
    );
    check_equals(
        &engine,
        &expected,
        latest,
        "falling back to the older snapshot",
    )?;
    drop(engine);

    // With no usable snapshot at all, the whole log is replayed.
    std::fs::remove_file(&older)?;
    std::fs::write(&newer, &bytes[..bytes.len() / 3])?;
    let engine = SingleNodeEngine::with_config(config)?;
    let info = engine.recovery_info().clone();
    ensure!(
        info.snapshots_skipped == 1 && info.snapshot_version.is_none(),
        "{info:?}"
    );
    check_equals(&engine, &expected, latest, "replaying the whole log")?;
    Ok(())
}
