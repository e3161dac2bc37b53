//! While an fsync is held up, a read view completes and shows only what
//! is durable, a compare-and-set on the same key sees the pending write
//! and appends after it, and a writer of another key appends: no lock
//! that they need is held across the fsync.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use hightower_engine::{
    Command, Durability, EngineConfig, EngineError, Expect, KvEngine, SingleNodeEngine,
    SnapshotEngine,
};
use hightower_log::vfs::FaultyVfs;

/// How long the test waits for something that should happen at once
/// before it calls it stuck (a guard against a hang, not a speed bar).
const STUCK_AFTER: Duration = Duration::from_secs(20);

/// Runs `work` on its own thread and waits for it, up to [`STUCK_AFTER`].
fn within<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (done, outcome) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    outcome
        .recv_timeout(STUCK_AFTER)
        .with_context(|| format!("{what} waited for the held fsync"))?
}

#[test]
fn a_read_view_completes_while_an_fsync_is_held() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let config = EngineConfig::new(dir.path())
        .durability(Durability::Sync)
        .vfs(Arc::new(vfs.clone()));
    let engine = Arc::new(SingleNodeEngine::with_config(config)?);
    let v1 = engine.put(b"k", b"durable")?;

    vfs.plan().hold_syncs();
    let held_writer = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.put(b"k", b"held"))
    };
    ensure!(
        vfs.plan().wait_for_held_sync(STUCK_AFTER),
        "the write never reached its fsync"
    );
    let v2 = engine.latest_version();
    ensure!(v2 == v1 + 1, "the held write is appended");

    let view = {
        let engine = engine.clone();
        within("a read view", move || Ok(engine.read_view()?))?
    };
    ensure!(
        view.version() == v1,
        "the view shows version {}",
        view.version()
    );
    let got = view.get(b"k")?.context("k is there")?;
    ensure!(
        got.value == b"durable",
        "a read saw a write before it was durable"
    );

    // A check sees the pending version: a compare-and-set expecting it
    // appends at once, though that version is not durable yet.
    let cas_writer = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let next = Command::put(b"k".to_vec(), b"cas".to_vec()).expecting(Expect::Version(v2));
            engine.submit(next)
        })
    };
    wait_for_version(&engine, v2 + 1, "a compare-and-set on the held key")?;
    // A stale one conflicts, and reports it once what it met is durable.
    let stale_writer = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let stale =
                Command::put(b"k".to_vec(), b"stale".to_vec()).expecting(Expect::Version(v1));
            engine.submit(stale)
        })
    };
    let other_writer = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.put(b"other", b"value"))
    };
    wait_for_version(&engine, v2 + 2, "a writer of another key")?;

    vfs.plan().release_syncs();
    let written = held_writer.join().expect("the writer does not panic")?;
    ensure!(written == v2);
    let cas = cas_writer.join().expect("the writer does not panic")?;
    ensure!(cas == v2 + 1, "the compare-and-set got version {cas}");
    other_writer.join().expect("the writer does not panic")?;
    let stale = stale_writer.join().expect("the writer does not panic");
    ensure!(
        matches!(stale, Err(EngineError::VersionConflict { actual: Some(v), .. }) if v > v1),
        "a stale compare-and-set: {stale:?}"
    );
    let got = engine.get(b"k")?.context("k is there")?;
    ensure!(got.value == b"cas" && got.version == v2 + 1);
    Ok(())
}

/// Waits until the engine has appended `version`, up to [`STUCK_AFTER`].
fn wait_for_version(
    engine: &Arc<SingleNodeEngine>,
    version: u64,
    what: &str,
) -> anyhow::Result<()> {
    let engine = engine.clone();
    within(what, move || {
        // Bounded: `within` gives up on it.
        while engine.latest_version() < version {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    })
}
