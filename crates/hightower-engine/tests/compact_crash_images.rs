//! Crash images of a compaction commit. A file system wrapper copies the
//! data directory at every directory sync of the commit (after the roll,
//! after the snapshots go, after the outputs are renamed in, after the
//! manifest, after the inputs are deleted); each copy is what a crash at
//! that point leaves. Every image must reopen to exactly the contents the
//! engine holds after the pass.
//!
//! The pass is held at its end while a key it copied is deleted and a
//! checkpoint is written: a snapshot that survived the outputs' arrival
//! would bring the deleted key back from the copy (the snapshot covers the
//! delete, and a restart replays the outputs, which lie after its
//! position), so the images also check that snapshots go first.

mod common;
mod compaction_common;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context, ensure};
use common::{Contents, dump};
use compaction_common::{manual_config, roll, segment_of};
use hightower_engine::{CompactionOptions, SingleNodeEngine};
use hightower_log::vfs::{FileIo, StdVfs, Vfs};

/// Copies the data directory into a new image at each of its syncs while
/// armed.
#[derive(Debug)]
struct ImageVfs {
    data_dir: PathBuf,
    images_dir: PathBuf,
    armed: AtomicBool,
    taken: AtomicUsize,
}

impl ImageVfs {
    fn take_image(&self) -> io::Result<()> {
        let n = self.taken.fetch_add(1, Ordering::SeqCst);
        let image = self.images_dir.join(format!("image-{n:02}"));
        std::fs::create_dir_all(&image)?;
        for entry in std::fs::read_dir(&self.data_dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), image.join(entry.file_name()))?;
            }
        }
        Ok(())
    }
}

impl Vfs for ImageVfs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        StdVfs::default().create_new(path)
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        StdVfs::default().open(path, writable)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdVfs::default().sync_dir(dir)?;
        if self.armed.load(Ordering::SeqCst) && dir == self.data_dir {
            self.take_image()?;
        }
        Ok(())
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        StdVfs::default().read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdVfs::default().rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        StdVfs::default().remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        StdVfs::default().remove_dir(path)
    }
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        StdVfs::default().remove_dir_all(path)
    }
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        StdVfs::default().read_dir(dir)
    }
    fn create_dir(&self, dir: &Path) -> std::io::Result<()> {
        StdVfs::default().create_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        StdVfs::default().create_dir_all(dir)
    }
    fn modified(&self, path: &Path) -> std::io::Result<std::time::SystemTime> {
        StdVfs::default().modified(path)
    }
    fn try_lock(&self, path: &Path) -> std::io::Result<Option<hightower_log::vfs::FileLock>> {
        StdVfs::default().try_lock(path)
    }
}

#[test]
fn every_crash_image_of_a_commit_reopens_to_the_same_contents() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let data_dir = root.path().join("data");
    std::fs::create_dir(&data_dir)?;
    let vfs = Arc::new(ImageVfs {
        data_dir: data_dir.clone(),
        images_dir: root.path().join("images"),
        armed: AtomicBool::new(false),
        taken: AtomicUsize::new(0),
    });
    let engine = SingleNodeEngine::with_config(manual_config(&data_dir).vfs(vfs.clone()))?;
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
    let report = std::thread::scope(|scope| {
        let pass = scope.spawn(|| engine.run_compaction(options));
        reached.recv().context("the pass reached its end")?;
        engine.delete(b"k")?;
        engine.checkpoint()?;
        engine.sync()?;
        vfs.armed.store(true, Ordering::SeqCst);
        go.send(())?;
        let report = pass.join().expect("the pass does not panic")?;
        anyhow::Ok(report)
    })?;
    vfs.armed.store(false, Ordering::SeqCst);
    ensure!(report.records_kept > 0, "the pass copied k: {report:?}");
    let expected: Contents = dump(&engine)?;
    ensure!(!expected.contains_key(b"k".as_slice()));
    drop(engine);

    let images = vfs.taken.load(Ordering::SeqCst);
    ensure!(images >= 4, "only {images} crash images were taken");
    for n in 0..images {
        let image = root.path().join("images").join(format!("image-{n:02}"));
        let engine = SingleNodeEngine::with_config(manual_config(&image))
            .with_context(|| format!("open crash image {n}"))?;
        let got = dump(&engine)?;
        ensure!(
            !got.contains_key(b"k".as_slice()),
            "crash image {n} brought the deleted key back"
        );
        ensure!(got == expected, "crash image {n} differs");
    }
    let engine = SingleNodeEngine::with_config(manual_config(&data_dir))?;
    ensure!(dump(&engine)? == expected);
    Ok(())
}
