//! `SuspendedCompaction`: while a guard lives no pass runs (manual passes
//! fail with `CompactError::Suspended`, the background thread is not
//! woken); guards nest, and passes run again once the last one drops.

mod compaction_common;

use anyhow::{Context, ensure};
use compaction_common::manual_config;
use hightower_engine::{
    AdminEngine, CompactError, CompactionConfig, EngineError, SingleNodeEngine, SnapshotEngine,
};

fn suspended(outcome: Result<hightower_engine::CompactionReport, EngineError>) -> bool {
    matches!(
        outcome,
        Err(EngineError::Compaction(CompactError::Suspended))
    )
}

#[test]
fn suspension_blocks_passes_until_the_last_guard_drops() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = manual_config(dir.path()).compaction(CompactionConfig::default());
    let engine = SingleNodeEngine::with_config(config)?;
    for round in 0..3u32 {
        for i in 0..100u32 {
            engine.put(
                format!("k{i:03}").as_bytes(),
                format!("{round}").repeat(50).as_bytes(),
            )?;
        }
    }
    let view = engine.snapshot_state()?;
    let segments_before: Vec<u32> = engine.segments().iter().map(|s| s.id).collect();

    let outer = engine.suspend_compaction();
    let inner = engine.suspend_compaction();
    ensure!(
        suspended(engine.run_compaction_now()),
        "a pass ran while suspended"
    );
    ensure!(
        !engine.maybe_run_compaction(),
        "the background thread was woken"
    );
    drop(inner);
    ensure!(
        suspended(engine.run_compaction_now()),
        "one guard still lives"
    );
    let segments_now: Vec<u32> = engine.segments().iter().map(|s| s.id).collect();
    ensure!(
        segments_now == segments_before,
        "the segment layout changed while suspended"
    );
    ensure!(
        engine.metrics().compaction_failures == 0,
        "a refusal is not a failure"
    );
    drop(outer);

    let report = engine.run_compaction_now()?;
    ensure!(report.segments_in > 0, "{report:?}");
    ensure!(engine.metrics().compaction_passes >= 1);
    let got = view.get(b"k000")?.context("the view still reads")?;
    ensure!(got.value == b"2".repeat(50));
    Ok(())
}

#[test]
fn suspend_waits_for_a_running_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    for i in 0..400u32 {
        engine.put(format!("k{:03}", i % 50).as_bytes(), &[b'v'; 100])?;
    }
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let options = hightower_engine::CompactionOptions::full().progress(move |_| {
        let _ = started_tx.send(());
        let _ = release_rx.lock().map(|rx| rx.recv());
    });
    std::thread::scope(|scope| {
        let pass = scope.spawn(|| engine.run_compaction(options));
        started.recv().context("the pass started")?;
        let suspender = scope.spawn(|| drop(engine.suspend_compaction()));
        std::thread::sleep(std::time::Duration::from_millis(30));
        ensure!(
            !suspender.is_finished(),
            "suspend returned while a pass ran"
        );
        drop(release);
        let report = pass.join().expect("the pass does not panic")?;
        suspender.join().expect("the suspender does not panic");
        ensure!(report.segments_in > 0);
        Ok(())
    })
}
