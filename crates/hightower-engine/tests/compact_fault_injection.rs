//! I/O failures during a compaction pass. With `FaultyVfs`: a full disk
//! and a failed fsync while the outputs are written fail the pass with a
//! compaction error and leave the engine working; a failed fsync at the
//! pass's roll of the active segment poisons it. Then a sweep fails, one
//! at a time, every fsync and every write a full pass makes (outputs,
//! staging directory, roll, renames, snapshot removal, manifest): each
//! time the pass fails cleanly or succeeds, reads keep working, and the
//! directory reopens on a healthy file system with exactly the same data.

mod common;
mod compaction_common;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, bail, ensure};
use common::{Contents, dump};
use compaction_common::{manual_config, sealed_ids};
use hightower_engine::{
    CompactError, CompactionOptions, EngineError, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::vfs::{FaultyVfs, FileIo, StdVfs, Vfs};

/// Writes a few segments' worth of overwrites and deletes, a checkpoint
/// among them, and syncs; returns the contents.
fn fill(engine: &SingleNodeEngine) -> anyhow::Result<Contents> {
    for round in 0..4u32 {
        for i in 0..30u32 {
            let key = format!("key-{i:02}");
            if (i + round) % 7 == 0 {
                engine.delete(key.as_bytes())?;
            } else {
                engine.put(
                    key.as_bytes(),
                    format!("{round}-{}", "v".repeat(90)).as_bytes(),
                )?;
            }
        }
        if round == 1 {
            engine.checkpoint()?;
        }
    }
    engine.sync()?;
    dump(engine)
}

/// Reopens on the real file system and checks the contents.
fn reopen_matches(dir: &Path, expected: &Contents, latest: u64) -> anyhow::Result<()> {
    let engine = SingleNodeEngine::with_config(manual_config(dir)).context("reopen healthy")?;
    ensure!(dump(&engine)? == *expected, "the reopened store differs");
    ensure!(
        engine.latest_version() >= latest,
        "the latest version went down"
    );
    ensure!(
        !dir.join("compact").exists(),
        "the staging directory was left"
    );
    // The reopened store compacts and reopens cleanly too.
    engine.run_compaction_now()?;
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir))?;
    ensure!(
        dump(&engine)? == *expected,
        "a later pass changed the contents"
    );
    Ok(())
}

fn is_compaction_error(error: &EngineError) -> bool {
    matches!(error, EngineError::Compaction(_))
}

#[test]
fn full_disk_while_writing_outputs_fails_the_pass_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let engine =
        SingleNodeEngine::with_config(manual_config(dir.path()).vfs(Arc::new(vfs.clone())))?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    let only = CompactionOptions::default().only_segments(sealed_ids(&engine)?);
    vfs.plan().set_write_budget_bytes(64);
    let error = engine
        .run_compaction(only)
        .err()
        .context("the pass succeeded on a full disk")?;
    ensure!(is_compaction_error(&error), "{error}");
    ensure!(error.to_string().contains("compaction"), "unclear: {error}");
    ensure!(
        engine.poison_reason().is_none(),
        "a failed pass poisoned the engine"
    );
    ensure!(dump(&engine)? == expected);
    vfs.plan().heal();
    let version = engine.put(b"after", b"healed")?;
    let mut expected = expected;
    expected.insert(b"after".to_vec(), (b"healed".to_vec(), version));
    engine.sync()?;
    drop(engine);
    reopen_matches(dir.path(), &expected, latest)
}

#[test]
fn failed_fsync_while_writing_outputs_fails_the_pass_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let engine =
        SingleNodeEngine::with_config(manual_config(dir.path()).vfs(Arc::new(vfs.clone())))?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    let only = CompactionOptions::default().only_segments(sealed_ids(&engine)?);
    vfs.plan().set_fail_sync(true);
    let error = engine
        .run_compaction(only)
        .err()
        .context("the pass ignored a failed fsync")?;
    ensure!(is_compaction_error(&error), "{error}");
    ensure!(engine.poison_reason().is_none());
    ensure!(dump(&engine)? == expected);
    vfs.plan().heal();
    drop(engine);
    reopen_matches(dir.path(), &expected, latest)
}

#[test]
fn failed_fsync_of_the_active_segment_poisons() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let engine =
        SingleNodeEngine::with_config(manual_config(dir.path()).vfs(Arc::new(vfs.clone())))?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    engine.put(b"unsynced", b"maybe")?;
    vfs.plan().set_fail_sync(true);
    let error = engine
        .run_compaction_now()
        .err()
        .context("the pass ignored a failed fsync")?;
    ensure!(!is_compaction_error(&error), "{error}");
    ensure!(
        engine.poison_reason().is_some(),
        "a failed fsync on the write path must poison"
    );
    ensure!(matches!(
        engine.run_compaction_now(),
        Err(EngineError::Poisoned { .. })
    ));
    vfs.plan().heal();
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    let mut got = dump(&engine)?;
    // The unsynced write was flushed before the fsync failed; it may be there.
    got.remove(b"unsynced".as_slice());
    ensure!(got == expected, "the reopened store differs");
    ensure!(engine.latest_version() >= latest);
    Ok(())
}

/// Which call of a kind fails: the `n`th after arming, exactly once.
#[derive(Debug, Default)]
struct Trap {
    armed: AtomicBool,
    syncs_left: AtomicU64,
    writes_left: AtomicU64,
    tripped: AtomicBool,
}

impl Trap {
    fn arm(&self, syncs: u64, writes: u64) {
        self.syncs_left.store(syncs, Ordering::SeqCst);
        self.writes_left.store(writes, Ordering::SeqCst);
        self.tripped.store(false, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Whether this call is the one to fail.
    fn spring(&self, left: &AtomicU64) -> bool {
        if !self.armed.load(Ordering::SeqCst) {
            return false;
        }
        let before = left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .unwrap_or(0);
        if before == 1 {
            self.tripped.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }
}

/// A file system that fails the trap's chosen fsync or write.
#[derive(Debug, Clone, Default)]
struct TrapVfs {
    trap: Arc<Trap>,
}

#[derive(Debug)]
struct TrapFile {
    inner: Arc<dyn FileIo>,
    trap: Arc<Trap>,
}

impl FileIo for TrapFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.trap.spring(&self.trap.writes_left) {
            self.inner.write_all_at(&buf[..buf.len() / 2], offset)?;
            return Err(io::Error::from_raw_os_error(28));
        }
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.trap.spring(&self.trap.syncs_left) {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Vfs for TrapVfs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let inner = StdVfs::default().create_new(path)?;
        Ok(Arc::new(TrapFile {
            inner,
            trap: self.trap.clone(),
        }))
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        let inner = StdVfs::default().open(path, writable)?;
        Ok(Arc::new(TrapFile {
            inner,
            trap: self.trap.clone(),
        }))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.trap.spring(&self.trap.syncs_left) {
            return Err(io::Error::from_raw_os_error(5));
        }
        StdVfs::default().sync_dir(dir)
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

/// One run: a fresh store, the trap armed for the `syncs`th fsync or the
/// `writes`th write of a full pass. Returns whether the trap fired.
fn run_trapped(syncs: u64, writes: u64) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    let vfs = TrapVfs::default();
    let config = manual_config(dir.path()).vfs(Arc::new(vfs.clone()));
    let engine = SingleNodeEngine::with_config(config)?;
    let expected = fill(&engine)?;
    let latest = engine.latest_version();
    vfs.trap.arm(syncs, writes);
    let outcome = engine.run_compaction_now();
    vfs.trap.disarm();
    let tripped = vfs.trap.tripped.load(Ordering::SeqCst);
    match &outcome {
        // A failed fsync may hit the background seal of the segment the
        // pass rolled, or the directory sync after the inputs are deleted;
        // neither undoes the pass, and the reopen below checks it.
        Ok(_) => {}
        Err(error) if !tripped => bail!("the pass failed on its own: {error}"),
        Err(EngineError::Compaction(CompactError::Log(_) | CompactError::Io { .. })) => {
            ensure!(
                engine.poison_reason().is_none(),
                "a failed pass poisoned the engine"
            );
        }
        Err(error) => {
            ensure!(
                engine.poison_reason().is_some(),
                "a failure while committing must poison: {error}"
            );
        }
    }
    ensure!(
        dump(&engine)? == expected,
        "reads changed after the failure"
    );
    drop(engine);
    reopen_matches(dir.path(), &expected, latest).with_context(|| format!("after {outcome:?}"))?;
    Ok(tripped)
}

#[test]
fn every_fsync_and_write_of_a_pass_may_fail() -> anyhow::Result<()> {
    for (kind, trap) in [("fsync", (1, 0)), ("write", (0, 1))] {
        let mut n = 1;
        loop {
            let (syncs, writes) = (trap.0 * n, trap.1 * n);
            let tripped = run_trapped(syncs, writes)
                .with_context(|| format!("failing {kind} number {n} of the pass"))?;
            if !tripped {
                break;
            }
            n += 1;
            ensure!(n < 500, "a pass makes implausibly many {kind} calls");
        }
        eprintln!(
            "{kind}: failed each of the {} calls of a pass in turn",
            n - 1
        );
        ensure!(n > 5, "the sweep over {kind} calls tested almost nothing");
    }
    Ok(())
}
