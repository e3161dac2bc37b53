//! Background seals are bounded: however fast segments roll and however
//! slow the disk is, at most `SEALS_IN_FLIGHT_MAX` seals run at once (a
//! roll at the limit waits for the oldest), and every seal is joined.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::ensure;
use hightower_engine::testing::{self, SEALS_IN_FLIGHT_MAX};
use hightower_engine::{CompactionConfig, Durability, EngineConfig, SingleNodeEngine};
use hightower_log::vfs::{FileIo, FileLock, StdVfs, Vfs};

/// How long each fsync of a sealing thread takes.
const SEAL_FSYNC_DELAY: Duration = Duration::from_millis(30);

/// Seal fsyncs running now, and the most that ever ran at once.
#[derive(Debug, Default)]
struct SealCount {
    now: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

/// The real file system, with slow fsyncs on the engine's sealing threads
/// (told apart by their thread names).
#[derive(Debug, Default)]
struct SlowSeals {
    inner: StdVfs,
    count: Arc<SealCount>,
}

struct SlowFile {
    inner: Arc<dyn FileIo>,
    count: Arc<SealCount>,
}

impl fmt::Debug for SlowFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

fn on_seal_thread() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|name| name.contains("seal"))
}

impl FileIo for SlowFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        if !on_seal_thread() {
            return self.inner.sync_data();
        }
        let now = self.count.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.count.max.fetch_max(now, Ordering::SeqCst);
        self.count.total.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(SEAL_FSYNC_DELAY);
        let outcome = self.inner.sync_data();
        self.count.now.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl SlowSeals {
    fn wrap(&self, inner: Arc<dyn FileIo>) -> Arc<dyn FileIo> {
        Arc::new(SlowFile {
            inner,
            count: self.count.clone(),
        })
    }
}

impl Vfs for SlowSeals {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        Ok(self.wrap(self.inner.create_new(path)?))
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        Ok(self.wrap(self.inner.open(path, writable)?))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner.read_dir(dir)
    }
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn modified(&self, path: &Path) -> io::Result<SystemTime> {
        self.inner.modified(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        self.inner.try_lock(path)
    }
}

#[test]
fn at_most_the_bound_of_seals_run_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = Arc::new(SlowSeals::default());
    let count = vfs.count.clone();
    let config = EngineConfig::new(dir.path())
        .segment_bytes_max(4096)
        .durability(Durability::None)
        .compaction(CompactionConfig::manual())
        .vfs(vfs);
    let engine = SingleNodeEngine::with_config(config)?;
    let value = vec![b'v'; 1500];
    for i in 0..60u32 {
        engine.put(format!("key-{i}").as_bytes(), &value)?;
        let in_flight = testing::seals_in_flight(&engine);
        ensure!(
            in_flight <= SEALS_IN_FLIGHT_MAX,
            "{in_flight} seals not joined after put {i}"
        );
    }
    let rolls = testing::roll_count(&engine);
    ensure!(rolls >= 10, "only {rolls} rolls");
    testing::finish_seals(&engine)?;
    ensure!(
        testing::seals_in_flight(&engine) == 0,
        "seals left unjoined"
    );
    let (max, total) = (
        count.max.load(Ordering::SeqCst),
        count.total.load(Ordering::SeqCst),
    );
    ensure!(
        total as u64 >= rolls,
        "{total} seal fsyncs for {rolls} rolls"
    );
    ensure!(
        max <= SEALS_IN_FLIGHT_MAX,
        "{max} seals ran at once, above the bound of {SEALS_IN_FLIGHT_MAX}"
    );
    Ok(())
}
