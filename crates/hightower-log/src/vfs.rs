//! The file-system seam: every file-system call of the storage crates goes
//! through [`Vfs`] and [`FileIo`], so tests can inject short writes, failed
//! fsyncs and a full disk with [`FaultyVfs`], and, with the `testing`
//! feature, power cuts and countdown failures with `CrashVfs`.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

#[cfg(feature = "testing")]
mod crash;
#[cfg(feature = "testing")]
pub use crash::{CallKind, CrashVfs};

/// One open file, addressed by positioned reads and writes so that many
/// readers can share it with one writer.
// `len` is a fallible I/O call; an `is_empty` beside it would add nothing.
#[allow(clippy::len_without_is_empty)]
pub trait FileIo: Send + Sync + fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Maps the whole file read-only, where the file system can. Used for
    /// sealed segments, which never change again, and for the written part
    /// of the active segment, which only grows while it is mapped.
    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        Ok(None)
    }
}

/// A held lock on a file; the lock is released when the guard drops.
pub type FileLock = Box<dyn fmt::Debug + Send + Sync>;

/// Every file-system call of the storage crates. [`StdVfs`] is the real
/// one; tests wrap it to inject failures and to simulate power cuts.
///
/// Paths are whole paths; a directory's entries (created, renamed,
/// removed files) are durable only after [`Vfs::sync_dir`] on it.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates a new file for reading and writing; fails if it exists.
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// Opens an existing file, for writing too when `writable`.
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The paths of a directory's entries, in no particular order.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Creates one directory; fails if it exists.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a directory and its missing parents; succeeds if it exists.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// When a file's data last changed.
    fn modified(&self, path: &Path) -> io::Result<SystemTime>;
    /// Makes a directory's entries (created, renamed, removed files) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates `path` if needed and takes an exclusive lock on it, held
    /// until the returned guard drops. `Ok(None)` when another holder has it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>>;
}

/// The outcome of a remove call where a missing file or directory is
/// fine: `Ok(true)` when something was removed, `Ok(false)` when nothing
/// was there, the error otherwise.
pub fn removed_if_present(outcome: io::Result<()>) -> io::Result<bool> {
    match outcome {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its missing ancestors, and makes each new entry
/// durable in its parent: a power cut right after must not take away a
/// directory whose files were fsynced (and with them acknowledged
/// writes).
pub fn create_dir_durably(vfs: &dyn Vfs, dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    // Bounded by the depth of the path.
    for at in dir.ancestors().filter(|at| !at.as_os_str().is_empty()) {
        match vfs.modified(at) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(at),
            Err(e) => return Err(e),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    vfs.create_dir_all(dir)?;
    for at in missing {
        let parent = at
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        vfs.sync_dir(parent)?;
    }
    Ok(())
}

/// Permission bits of what [`StdVfs`] creates: owner-only by default,
/// because segments hold every value and the auth layer's hashes.
pub const FILE_MODE_DEFAULT: u32 = 0o600;
/// Permission bits of the directories [`StdVfs`] creates.
pub const DIR_MODE_DEFAULT: u32 = 0o700;

/// The operating system's file system. Files are created with mode
/// `file_mode` and directories with `dir_mode` (both before the umask);
/// [`StdVfs::default`] makes them owner-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdVfs {
    file_mode: u32,
    dir_mode: u32,
}

impl Default for StdVfs {
    fn default() -> Self {
        StdVfs::with_modes(FILE_MODE_DEFAULT, DIR_MODE_DEFAULT)
    }
}

impl StdVfs {
    /// A file system that creates files and directories with these
    /// permission bits (for example `0o640` and `0o750` for group read).
    pub const fn with_modes(file_mode: u32, dir_mode: u32) -> Self {
        StdVfs {
            file_mode,
            dir_mode,
        }
    }

    /// Permission bits of new files.
    pub fn file_mode(&self) -> u32 {
        self.file_mode
    }

    /// Permission bits of new directories.
    pub fn dir_mode(&self) -> u32 {
        self.dir_mode
    }
}

#[derive(Debug)]
struct StdFile(File);

impl FileIo for StdFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        // SAFETY: callers read through the map only bytes this process will
        // not change or cut away: all of a sealed segment, and the written
        // part of an active one (appends go after it; a failed write cuts
        // the file back to it, never below). The mapping stays valid after
        // the file is unlinked. Another process truncating the file under
        // us would fault the reader; the data directory is locked against
        // other engines, and tampering with it from outside is not
        // supported.
        let map = unsafe { memmap2::Mmap::map(&self.0)? };
        Ok(Some(map))
    }
}

impl Vfs for StdVfs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(self.file_mode)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect()
    }
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new().mode(self.dir_mode).create(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(self.dir_mode)
            .create(dir)
    }
    fn modified(&self, path: &Path) -> io::Result<SystemTime> {
        fs::metadata(path)?.modified()
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(self.file_mode)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// What a [`FaultyVfs`] does wrong, shared by every file it opened and
/// changeable while they are in use.
#[derive(Debug)]
pub struct FaultPlan {
    fail_sync: AtomicBool,
    /// Bytes that may still be written before the disk is "full".
    write_budget_bytes: AtomicU64,
    /// While closed, every `sync_data` blocks (a slow disk held still).
    latch: Mutex<SyncLatch>,
    latch_changed: Condvar,
}

/// The sync latch of a [`FaultPlan`].
#[derive(Debug, Default)]
struct SyncLatch {
    closed: bool,
    /// Syncs blocked on the latch now.
    blocked: u32,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            fail_sync: AtomicBool::new(false),
            write_budget_bytes: AtomicU64::new(u64::MAX),
            latch: Mutex::new(SyncLatch::default()),
            latch_changed: Condvar::new(),
        }
    }
}

impl FaultPlan {
    /// Makes every later `sync_data` fail (or succeed again).
    pub fn set_fail_sync(&self, fail: bool) {
        self.fail_sync.store(fail, Ordering::SeqCst);
    }

    /// Lets only `bytes` more bytes be written; the write that crosses the
    /// budget writes what fits (a short write) and fails with "no space".
    pub fn set_write_budget_bytes(&self, bytes: u64) {
        self.write_budget_bytes.store(bytes, Ordering::SeqCst);
    }

    /// Lifts every fault.
    pub fn heal(&self) {
        self.set_fail_sync(false);
        self.set_write_budget_bytes(u64::MAX);
        self.release_syncs();
    }

    /// Makes every later `sync_data` block until [`FaultPlan::release_syncs`].
    pub fn hold_syncs(&self) {
        self.lock_latch().closed = true;
    }

    /// Lets held syncs go on, and later ones run freely.
    pub fn release_syncs(&self) {
        self.lock_latch().closed = false;
        self.latch_changed.notify_all();
    }

    /// Waits up to `timeout` until a sync is held; returns whether one is.
    pub fn wait_for_held_sync(&self, timeout: std::time::Duration) -> bool {
        let latch = self.lock_latch();
        let (latch, _) = self
            .latch_changed
            .wait_timeout_while(latch, timeout, |latch| latch.blocked == 0)
            .unwrap_or_else(PoisonError::into_inner);
        latch.blocked > 0
    }

    fn lock_latch(&self) -> MutexGuard<'_, SyncLatch> {
        // A test thread that panicked while holding it changed no count.
        self.latch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks while the latch is closed.
    fn pass_latch(&self) {
        let mut latch = self.lock_latch();
        if !latch.closed {
            return;
        }
        latch.blocked += 1;
        self.latch_changed.notify_all();
        let mut latch = self
            .latch_changed
            .wait_while(latch, |latch| latch.closed)
            .unwrap_or_else(PoisonError::into_inner);
        latch.blocked -= 1;
    }

    /// Takes up to `want` bytes from the budget and returns how many.
    fn take(&self, want: u64) -> u64 {
        let mut granted = 0;
        let _ = self
            .write_budget_bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                granted = want.min(left);
                Some(left - granted)
            });
        granted
    }
}

/// A [`Vfs`] over the real file system that injects the faults of a shared
/// [`FaultPlan`]. Meant for tests of this crate and the crates above it.
#[derive(Debug, Default, Clone)]
pub struct FaultyVfs {
    plan: Arc<FaultPlan>,
    inner: StdVfs,
}

impl FaultyVfs {
    /// A file system with no faults planned yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plan, to change faults while files are open.
    pub fn plan(&self) -> &Arc<FaultPlan> {
        &self.plan
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn FileIo>,
    plan: Arc<FaultPlan>,
}

impl FileIo for FaultyFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let granted = self.plan.take(buf.len() as u64) as usize;
        self.inner.write_all_at(&buf[..granted], offset)?;
        if granted < buf.len() {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.plan.pass_latch();
        if self.plan.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        self.inner.map()
    }
}

impl Vfs for FaultyVfs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let inner = self.inner.create_new(path)?;
        Ok(Arc::new(FaultyFile {
            inner,
            plan: self.plan.clone(),
        }))
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        let inner = self.inner.open(path, writable)?;
        Ok(Arc::new(FaultyFile {
            inner,
            plan: self.plan.clone(),
        }))
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
        if self.plan.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.inner.sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        self.inner.try_lock(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_gives_a_short_write_then_no_space() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = FaultyVfs::new();
        let file = vfs.create_new(&dir.path().join("f")).unwrap();
        vfs.plan().set_write_budget_bytes(3);
        let err = file.write_all_at(b"hello", 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28));
        assert_eq!(file.len().unwrap(), 3);
        vfs.plan().heal();
        file.write_all_at(b"hello", 0).unwrap();
        vfs.plan().set_fail_sync(true);
        assert!(file.sync_data().is_err());
    }
}
