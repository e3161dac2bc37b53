//! Crash images of a compaction commit. `CrashVfs` cuts the power right
//! after each directory sync of the commit in turn (the staging
//! directory's, after the roll, after the snapshots go, after the outputs
//! are renamed in, after the manifest, after the inputs are deleted), one
//! run per sync; each image is what a power cut at that point leaves.
//! Every image must reopen to exactly the contents the engine holds
//! before and after the pass.
//!
//! The pass is held at its end while a key it copied is deleted and a
//! checkpoint is written: a snapshot that survived the outputs' arrival
//! would bring the deleted key back from the copy (the snapshot covers the
//! delete, and a restart replays the outputs, which lie after its
//! position), so the images also check that snapshots go first.

mod common;
mod compaction_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context, ensure};
use common::{Contents, dump};
use compaction_common::{manual_config, roll, segment_of};
use hightower_engine::{CompactionOptions, SingleNodeEngine};
use hightower_log::vfs::{CallKind, CrashVfs};

/// One run: the pass is held at its end while `k` is deleted and a
/// checkpoint written, then the power is cut right after the `nth`
/// directory sync from there on. Returns whether the cut came before the
/// pass ended.
fn cut_after_sync(nth: u64) -> anyhow::Result<bool> {
    let root = tempfile::tempdir()?;
    let data_dir = root.path().join("data");
    std::fs::create_dir(&data_dir)?;
    let vfs = CrashVfs::new(&data_dir)?;
    let config = manual_config(&data_dir).vfs(Arc::new(vfs.clone()));
    let engine = SingleNodeEngine::with_config(config)?;
    engine.put(b"k", b"copied, then deleted")?;
    for i in 0..10u32 {
        engine.put(format!("dead-{i}").as_bytes(), &[b'd'; 100])?;
        engine.put(format!("dead-{i}").as_bytes(), &[b'e'; 100])?;
    }
    let input = roll(&engine, "a")?;
    ensure!(segment_of(&engine, b"k") == Some(input));

    // Hold the pass at its end (its last progress report).
    let (reached_tx, reached) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let held = AtomicBool::new(false);
    let options = CompactionOptions::default()
        .only_segments([input])
        .progress(move |progress| {
            if progress.bytes_done == progress.bytes_total && !held.swap(true, Ordering::SeqCst) {
                let _ = reached_tx.send(());
                let _ = go_rx.lock().map(|rx| rx.recv());
            }
        });
    let (expected, outcome) = std::thread::scope(|scope| {
        let pass = scope.spawn(|| engine.run_compaction(options));
        reached.recv().context("the pass reached its end")?;
        engine.delete(b"k")?;
        engine.checkpoint()?;
        engine.sync()?;
        let expected: Contents = dump(&engine)?;
        vfs.cut_power_after_nth(nth, &[CallKind::SyncDir]);
        go.send(())?;
        let outcome = pass.join().expect("the pass does not panic");
        anyhow::Ok((expected, outcome))
    })?;
    ensure!(!expected.contains_key(b"k".as_slice()));
    if !vfs.tripped() {
        vfs.disarm();
        let report = outcome.context("the pass failed without a power cut")?;
        ensure!(report.records_kept > 0, "the pass copied k: {report:?}");
        ensure!(dump(&engine)? == expected, "the pass changed the contents");
        return Ok(false);
    }
    vfs.crash(nth)?;
    drop(engine);
    let engine =
        SingleNodeEngine::with_config(manual_config(&data_dir)).context("open the crash image")?;
    let got = dump(&engine)?;
    ensure!(
        !got.contains_key(b"k".as_slice()),
        "the crash image brought the deleted key back"
    );
    ensure!(got == expected, "the crash image differs");
    Ok(true)
}

#[test]
fn every_crash_image_of_a_commit_reopens_to_the_same_contents() -> anyhow::Result<()> {
    let mut nth = 1;
    while cut_after_sync(nth).with_context(|| format!("power cut after directory sync {nth}"))? {
        nth += 1;
        ensure!(nth < 100, "a commit makes implausibly many directory syncs");
    }
    let images = nth - 1;
    eprintln!("cut the power after each of the {images} directory syncs of a commit");
    ensure!(images >= 4, "only {images} crash images were taken");
    Ok(())
}
