//! Engine configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hightower_compact::CompactionConfig;
use hightower_log::Limits;
use hightower_log::vfs::{StdVfs, Vfs};

use crate::clock::{Clock, SystemClock};

/// When a write is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A write is acknowledged only after it is on disk. Concurrent
    /// writers share one fdatasync (group commit).
    #[default]
    Sync,
    /// Writes are synced by a background thread at this interval; a crash
    /// loses at most about one interval of acknowledged writes.
    Periodic(Duration),
    /// Writes are never synced explicitly; a crash may lose any write not
    /// yet written back by the operating system (or still in the engine's
    /// write buffer when the process dies).
    None,
}

/// How to open a [`crate::SingleNodeEngine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The data directory (created when missing).
    pub data_dir: PathBuf,
    /// When writes become durable.
    pub durability: Durability,
    /// 0 runs writes on the caller's thread; more starts a worker pool fed
    /// by a bounded queue.
    pub worker_threads: usize,
    /// Capacity of the worker queue, in submissions.
    pub queue_capacity: usize,
    /// A segment is sealed and a new one started past this size.
    pub segment_bytes_max: u64,
    /// Key, value and batch size limits.
    pub limits: Limits,
    /// Appends are buffered up to this many bytes before a write syscall.
    pub write_buffer_bytes: usize,
    /// The file system (swapped for a fault-injecting one in tests). It
    /// creates every file and directory of the store, the data directory
    /// itself included: [`StdVfs::default`] makes them owner-only (0600
    /// and 0700), because segments hold every value and the auth layer's
    /// hashes; see [`EngineConfig::file_modes`].
    pub vfs: Arc<dyn Vfs>,
    /// When compaction runs and what it may drop; automatic by default
    /// ([`CompactionConfig::manual`] turns automatic passes off).
    pub compaction: CompactionConfig,
    /// Where "now" comes from when deciding whether a key has expired.
    pub clock: Arc<dyn Clock>,
    /// At most this many expired keys are deleted per second by the
    /// active sweep (a background thread); 0 turns the sweep off, and
    /// expired keys then only read as absent until they are overwritten.
    pub expiry_sweep_keys_per_second: usize,
}

impl EngineConfig {
    /// Defaults for a data directory: `Sync` durability, inline writes,
    /// 64 MiB segments, 64 KiB keys and 64 MiB values at most, automatic
    /// compaction with [`CompactionConfig::default`].
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            durability: Durability::Sync,
            worker_threads: 0,
            queue_capacity: 1024,
            segment_bytes_max: 64 * 1024 * 1024,
            limits: Limits::default(),
            write_buffer_bytes: 256 * 1024,
            vfs: Arc::new(StdVfs::default()),
            compaction: CompactionConfig::default(),
            clock: Arc::new(SystemClock),
            expiry_sweep_keys_per_second: 20_000,
        }
    }

    /// The same configuration with another clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same configuration with another bound on the active sweep.
    pub fn expiry_sweep_keys_per_second(mut self, keys: usize) -> Self {
        self.expiry_sweep_keys_per_second = keys;
        self
    }

    /// The same configuration with another durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The same configuration with `n` worker threads.
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = n;
        self
    }

    /// The same configuration with another segment size.
    pub fn segment_bytes_max(mut self, bytes: u64) -> Self {
        self.segment_bytes_max = bytes;
        self
    }

    /// The same configuration with another file system.
    pub fn vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// The same configuration on the real file system, creating files with
    /// permission bits `file_mode` and directories with `dir_mode` (before
    /// the umask), for example `0o640` and `0o750` to let the owner's group
    /// read the store (a backup agent, a monitoring user). Replaces the
    /// file system set before. The owner needs read and write on files and
    /// all three bits on directories, or the store cannot be used.
    pub fn file_modes(mut self, file_mode: u32, dir_mode: u32) -> Self {
        self.vfs = Arc::new(StdVfs::with_modes(file_mode, dir_mode));
        self
    }

    /// The same configuration with another compaction policy.
    pub fn compaction(mut self, compaction: CompactionConfig) -> Self {
        self.compaction = compaction;
        self
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |why: &str| Err(crate::EngineError::Config(why.to_string()));
        self.compaction
            .validate()
            .map_err(crate::EngineError::Config)?;
        if self.segment_bytes_max < 4096
            || self.segment_bytes_max > hightower_log::SEGMENT_DATA_BYTES_MAX
        {
            return bad("segment_bytes_max must be between 4 KiB and 3 GiB");
        }
        if self.worker_threads > 0 && self.queue_capacity == 0 {
            return bad("queue_capacity must be at least 1 with worker threads");
        }
        if let Durability::Periodic(interval) = self.durability
            && interval.is_zero()
        {
            return bad("a periodic sync interval must be above zero");
        }
        Ok(())
    }
}
