//! The engine of Hightower KV: [`SingleNodeEngine`], a versioned,
//! crash-safe key-value store over one data directory.
//!
//! Every committed mutation gets a version from one strictly increasing
//! counter. Writes can be conditional ([`Expect`]): on a mismatch the
//! engine returns [`EngineError::VersionConflict`] and writes nothing.
//! [`KvEngine::submit_batch`] commits several commands atomically, in one
//! log frame, also across a crash; [`WriteBatch`] with
//! [`SingleNodeEngine::write`] does the same from mutations encoded into
//! one buffer as they are added, the cheapest way to write many keys. Reads return the value with its version;
//! scans by prefix and by range return keys in order from a point-in-time
//! [`ReadView`].
//!
//! Durability is chosen per engine ([`Durability`]): `Sync` (the default;
//! concurrent writers share one fdatasync, and none holds a lock that a
//! writer of another key or a reader needs while it waits for it),
//! `Periodic(interval)` or `None`.
//! A failed write or fsync poisons the engine: later writes fail until it
//! is reopened.
//!
//! ```
//! use hightower_engine::{Command, EngineConfig, Expect, KvEngine, SingleNodeEngine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let engine = SingleNodeEngine::with_config(EngineConfig::new(dir.path()))?;
//! let v1 = engine.put(b"user:1", b"ada")?;
//! let got = engine.get(b"user:1")?.expect("just written");
//! assert_eq!((got.value.as_slice(), got.version), (b"ada".as_slice(), v1));
//!
//! // Compare-and-set: succeeds only at the version we read.
//! let v2 = engine.submit(Command::put(b"user:1".to_vec(), b"grace".to_vec()).expecting(Expect::Version(v1)))?;
//! assert!(v2 > v1);
//! assert!(engine.submit(Command::put(b"user:1".to_vec(), b"x".to_vec()).expecting(Expect::Version(v1))).is_err());
//!
//! let users = engine.scan_prefix(b"user:", 100)?;
//! assert_eq!(users.len(), 1);
//! # Ok(()) }
//! ```
//!
//! Keys can expire: a put may carry an absolute expiry time
//! ([`Command::put_expiring`], milliseconds since the Unix epoch); from
//! then on the key reads as absent everywhere, conditions included.
//! [`KvEngine::set_expiry`] changes or clears the time, [`KvEngine::expiry_of`]
//! reads it, and a background sweep deletes expired keys through the log
//! (`EngineConfig::expiry_sweep_keys_per_second`). "Now" comes from the
//! configured [`Clock`]; [`ManualClock`] makes expiry testable:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hightower_engine::{Command, EngineConfig, KvEngine, ManualClock, SingleNodeEngine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let clock = Arc::new(ManualClock::new(1_000_000));
//! let engine = SingleNodeEngine::with_config(EngineConfig::new(dir.path()).clock(clock.clone()))?;
//! engine.submit(Command::put_expiring(b"session".to_vec(), b"token".to_vec(), 1_000_500))?;
//! assert_eq!(engine.expiry_of(b"session")?, Some(Some(1_000_500)));
//! clock.advance(Duration::from_millis(500));
//! assert_eq!(engine.get(b"session")?, None);
//! # Ok(()) }
//! ```
//!
//! Space held by overwritten and deleted records is reclaimed by
//! compaction ([`hightower_compact`]): automatically on a background thread
//! when segments roll ([`CompactionConfig`] in [`EngineConfig`]), or now
//! with [`SingleNodeEngine::run_compaction_now`]; a
//! [`SuspendedCompaction`] guard holds passes off. Passes are crash-safe
//! and never bring a deleted key back (see docs/FORMAT.md, "Compaction").
//!
//! Limits: every live key and its location live in memory (values do
//! not); keys default to at most 64 KiB and values to 64 MiB. A compaction
//! pass walks the whole index and keeps 8 bytes per live key meanwhile.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod admin;
pub mod backup;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
mod expiry;
mod group_commit;
pub mod metrics;
mod poison;
pub mod read_view;
pub mod snapshot;
pub mod traits;
pub mod types;

// The internals: the directory layout, the key locks, the segments and
// the index. The layers above know the engine through its traits
// (docs/ARCHITECTURE.md, "the engine boundary"); tests that must look
// inside use the `testing` feature.
mod manifest;
mod state;
mod storage;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(test)]
mod tests;

pub use admin::{FooterInfo, ReplicationStatus, SegmentInfo};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Durability, EngineConfig};
pub use engine::SingleNodeEngine;
pub use error::{EngineError, KeyDisplay, Result};
pub use hightower_compact::{
    CompactError, CompactionConfig, CompactionOptions, CompactionProgress, CompactionReport,
    SegmentUsage, SuspendedCompaction,
};
pub use hightower_log::VerifyReport;
pub use metrics::{Metrics, MetricsSnapshot};
pub use read_view::ReadView;
pub use snapshot::{KvState, LogPosition, Snapshot};
pub use storage::RecoveryInfo;
pub use traits::{AdminEngine, KvEngine, SnapshotEngine};
pub use types::{Command, Committed, Expect, KeyValue, Pending, Versioned, WriteBatch};
