//! The engines under comparison, each behind [`Subject`], and
//! [`EngineKind`], which names them on the command line and opens them.
//!
//! Every adapter does the same operations in the way its engine's
//! documentation recommends for them; what "unsynced" and "synced" mean
//! for each is written on its module.

mod fjall_subject;
mod hightower_subject;
mod redb_subject;
mod sled_subject;

use std::path::Path;

use anyhow::Result;

/// A key and its value, borrowed from the data set.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// One engine opened on one directory.
pub trait Subject {
    /// Puts one pair without asking for an fsync.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Puts all pairs as one atomic batch (or one transaction), without
    /// asking for an fsync.
    fn put_batch(&mut self, pairs: &[Pair<'_>]) -> Result<()>;

    /// The length of the value stored under `key`, if there is one.
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>>;

    /// Makes everything written so far durable. Called between phases,
    /// outside the timed sections.
    fn settle(&mut self) -> Result<()>;

    /// Called once, untimed, before [`Subject::synced_puts`].
    fn prepare_synced(&mut self) -> Result<()> {
        Ok(())
    }

    /// Puts every pair so that each is on disk before it is acknowledged.
    /// Peers write one by one from the calling thread; an engine with group
    /// commit may spread the pairs over `threads` submitting threads.
    fn synced_puts(&mut self, pairs: &[Pair<'_>], threads: usize) -> Result<()>;

    /// Bytes the in-memory index holds, where the engine can say cheaply.
    fn index_memory_bytes(&self) -> Option<u64> {
        None
    }
}

/// The engines the harness knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Hightower KV's `SingleNodeEngine`.
    Hightower,
    /// fjall 3 (LSM tree).
    Fjall,
    /// redb 4 (copy-on-write B-tree).
    Redb,
    /// sled 0.34 (Bw-tree-like, log-structured).
    Sled,
}

/// How Hightower is opened for the unsynced phases.
#[derive(Debug, Clone, Copy)]
pub struct HightowerOptions {
    /// `worker_threads` of the engine (0 = inline).
    pub worker_threads: usize,
}

impl EngineKind {
    /// Every engine, Hightower first.
    pub const ALL: [EngineKind; 4] = [
        EngineKind::Hightower,
        EngineKind::Fjall,
        EngineKind::Redb,
        EngineKind::Sled,
    ];

    /// Whether the engine's synced write waits for fsync or fdatasync,
    /// which flush the disk's cache. sled 0.34 on Linux calls
    /// `sync_file_range`, which does not, and commits no file metadata, so
    /// its synced rate is not a durability barrier to compare against.
    pub fn syncs_with_fsync(self) -> bool {
        !matches!(self, EngineKind::Sled)
    }

    /// The name printed in tables.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Hightower => "hightower",
            EngineKind::Fjall => "fjall",
            EngineKind::Redb => "redb",
            EngineKind::Sled => "sled",
        }
    }

    /// Opens (or creates) the engine's store in `dir`.
    pub fn open(self, dir: &Path, hightower: HightowerOptions) -> Result<Box<dyn Subject>> {
        Ok(match self {
            EngineKind::Hightower => {
                Box::new(hightower_subject::HightowerSubject::open(dir, hightower)?)
            }
            EngineKind::Fjall => Box::new(fjall_subject::FjallSubject::open(dir)?),
            EngineKind::Redb => Box::new(redb_subject::RedbSubject::open(dir)?),
            EngineKind::Sled => Box::new(sled_subject::SledSubject::open(dir)?),
        })
    }
}
