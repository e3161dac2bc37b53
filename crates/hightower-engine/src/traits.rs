//! The engine's traits: [`KvEngine`] for reads and writes, and
//! [`SnapshotEngine`] for what replication needs.

use std::ops::Bound;

use hightower_compact::SuspendedCompaction;

use crate::error::Result;
use crate::read_view::ReadView;
use crate::types::{Command, Committed, KeyValue, Versioned};

/// A versioned key-value engine.
pub trait KvEngine: Send + Sync {
    /// Commits one command; returns its version.
    fn submit(&self, command: Command) -> Result<u64> {
        self.submit_batch(vec![command]).map(|c| c.first_version)
    }

    /// Commits all commands atomically (every condition holds and every
    /// mutation lands, or none does), command `i` at version
    /// `first_version + i`. Conditions are checked against the state
    /// before the batch.
    fn submit_batch(&self, commands: Vec<Command>) -> Result<Committed>;

    /// The newest value of `key` with its version.
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>>;

    /// Up to `limit` keys starting with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        self.read_view()?.prefix(prefix).take(limit).collect()
    }

    /// Up to `limit` keys in the range, in key order.
    fn scan_range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        self.read_view()?.range(start, end).take(limit).collect()
    }

    /// A point-in-time view that later writes do not change.
    fn read_view(&self) -> Result<ReadView>;

    /// The version of `key`'s newest write, `None` when the key is absent;
    /// reads no value. The default takes a read view; an engine with an
    /// in-memory index answers from it directly.
    fn version_of(&self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self.read_view()?.version_of(key))
    }
}

/// What replication needs of an engine: point-in-time state to stream,
/// installing such a state, and applying batches at versions its own log
/// assigns.
pub trait SnapshotEngine: Send + Sync {
    /// A point-in-time view with the version it reflects.
    fn snapshot_state(&self) -> Result<ReadView>;

    /// Holds compaction off until the guard drops, so the segment layout
    /// stays as it is while a snapshot is streamed; `None` for an engine
    /// without compaction.
    fn hold_compaction(&self) -> Option<SuspendedCompaction> {
        None
    }

    /// The highest committed version.
    fn latest_version(&self) -> u64;

    /// Replaces the whole state with `entries` at `latest_version`.
    fn install_snapshot(
        &self,
        latest_version: u64,
        entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<()>;

    /// Commits a batch at `first_version`, which must be above the latest
    /// version (replication assigns versions from its log).
    fn apply_at(&self, first_version: u64, commands: Vec<Command>) -> Result<Committed>;
}
