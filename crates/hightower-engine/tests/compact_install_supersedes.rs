//! A replication snapshot installed while a compaction pass writes its
//! outputs replaces every segment the pass read: the pass must then give
//! up (`CompactError::Superseded`) without touching the new store, which
//! holds exactly the installed contents, also after a reopen.

mod common;
mod compaction_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use anyhow::{Context, ensure};
use common::{Contents, dump};
use compaction_common::manual_config;
use hightower_engine::{
    CompactError, CompactionOptions, EngineError, KeyValue, SingleNodeEngine, SnapshotEngine,
};

#[test]
fn install_during_a_pass_supersedes_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    for round in 0..3u32 {
        for i in 0..100u32 {
            engine.put(
                format!("old-{i:03}").as_bytes(),
                format!("{round}").repeat(80).as_bytes(),
            )?;
        }
    }
    let (reached_tx, reached) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let held = AtomicBool::new(false);
    let options = CompactionOptions::full().progress(move |progress| {
        if progress.bytes_done == progress.bytes_total && !held.swap(true, Ordering::SeqCst) {
            let _ = reached_tx.send(());
            let _ = go_rx.lock().map(|rx| rx.recv());
        }
    });
    let installed: Vec<KeyValue> = (0..50u64)
        .map(|i| KeyValue {
            key: format!("new-{i:02}").into_bytes(),
            value: b"installed".to_vec(),
            version: i + 1,
            expires_at_ms: None,
        })
        .collect();
    let latest = 10_000;
    let outcome = std::thread::scope(|scope| {
        let pass = scope.spawn(|| engine.run_compaction(options));
        reached.recv().context("the pass reached its end")?;
        engine.install_snapshot(latest, &mut installed.clone().into_iter())?;
        go.send(())?;
        anyhow::Ok(pass.join().expect("the pass does not panic"))
    })?;
    ensure!(
        matches!(
            outcome,
            Err(EngineError::Compaction(CompactError::Superseded { .. }))
        ),
        "{outcome:?}"
    );
    ensure!(
        engine.poison_reason().is_none(),
        "a superseded pass poisons nothing"
    );
    let expected: Contents = installed
        .into_iter()
        .map(|kv| (kv.key, (kv.value, kv.version)))
        .collect();
    ensure!(
        dump(&engine)? == expected,
        "the store differs from the install"
    );
    ensure!(
        !dir.path().join("compact").exists(),
        "the pass left its staging"
    );
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    ensure!(dump(&engine)? == expected, "the reopened store differs");
    ensure!(engine.latest_version() >= latest);
    engine.run_compaction_now()?;
    ensure!(dump(&engine)? == expected);
    Ok(())
}
