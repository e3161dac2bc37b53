//! The engine's traits: [`KvEngine`] for reads and writes, and
//! [`SnapshotEngine`] for what replication needs.

use std::ops::Bound;

use hightower_compact::SuspendedCompaction;

use crate::clock::{Clock, SystemClock};
use crate::error::{EngineError, Result};
use crate::read_view::ReadView;
use crate::types::{Command, Committed, Expect, KeyValue, Versioned};

/// Attempts [`KvEngine::set_expiry`] makes before it reports a conflict:
/// each one fails only because another writer changed the key between
/// its read and its write.
const SET_EXPIRY_ATTEMPTS_MAX: usize = 16;

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

    /// Now, by the clock the engine judges expiry with, in milliseconds
    /// since the Unix epoch.
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms()
    }

    /// When `key` expires: `None` when the key is absent, `Some(None)`
    /// when it never expires.
    fn expiry_of(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        self.read_view()?.expiry_of(key)
    }

    /// Gives `key` a new expiry time (`None`: never expires, which is
    /// `PERSIST`), keeping its value, by rewriting the value at a new
    /// version under a compare-and-set. Returns the new version, or `None`
    /// when the key is absent. A time already past deletes the key when
    /// the write lands (it reads as absent from then on).
    fn set_expiry(&self, key: &[u8], expires_at_ms: Option<u64>) -> Result<Option<u64>> {
        let mut attempts = 0;
        loop {
            let Some(current) = self.get(key)? else {
                return Ok(None);
            };
            let command = Command::Put {
                key: key.to_vec(),
                value: current.value,
                expect: Expect::Version(current.version),
                expires_at_ms,
            };
            match self.submit(command) {
                Err(EngineError::VersionConflict { .. })
                    if attempts + 1 < SET_EXPIRY_ATTEMPTS_MAX =>
                {
                    attempts += 1;
                }
                outcome => return outcome.map(Some),
            }
        }
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
