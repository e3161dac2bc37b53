//! The engine's traits: [`KvEngine`] for reads and writes,
//! [`SnapshotEngine`] for what replication needs, and [`AdminEngine`] for
//! what an operator's tools and a server's administrative commands need.
//! The layers above (the server, the command line) know an engine only
//! through these, so that another engine (the replicated one) drops in
//! behind them.

use std::ops::Bound;

use hightower_compact::{CompactionOptions, CompactionReport, SegmentUsage, SuspendedCompaction};
use hightower_log::VerifyReport;

use crate::admin::SegmentInfo;
use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::metrics::MetricsSnapshot;
use crate::read_view::ReadView;
use crate::storage::RecoveryInfo;
use crate::types::{Command, Committed, Expect, KeyValue, Pending, Versioned, WriteBatch};

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

    /// Commits `batch` atomically, as [`KvEngine::submit_batch`] does with
    /// commands, from mutations already encoded: the cheapest way to write
    /// many keys at once. The batch is left as it was.
    fn write(&self, batch: &WriteBatch) -> Result<Committed>;

    /// Appends `batch` as [`KvEngine::write`] does, but returns before the
    /// fsync that `Durability::Sync` waits for: the batch is then neither
    /// acknowledged nor visible to readers until [`KvEngine::make_durable`]
    /// has covered its place ([`Pending::durable_after`]). Lets a caller
    /// that must not block (a network thread) have one thread wait for
    /// the fsyncs of many. A condition that meets a write still waiting
    /// for its fsync fails at once. Engines without such a wait commit
    /// fully, as `write` does.
    fn write_pending(&self, batch: &WriteBatch) -> Result<Pending> {
        self.write(batch).map(Pending::from)
    }

    /// Waits until every batch [`KvEngine::write_pending`] appended up to
    /// place `seq` is durable and visible, leading an fsync if none is
    /// under way; returns the place it reached (`seq` or later). Fails
    /// when the fsync fails, which poisons the engine.
    fn make_durable(&self, seq: u64) -> Result<u64> {
        Ok(seq)
    }

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

    /// Replaces the whole state with the keys under `prefix` alone (the
    /// store's own records, say), read and installed while no write can
    /// run, so none that lands meanwhile is lost or undone. The new state
    /// is at a version `version_gap` above every version so far, so no
    /// version is reused; that version is returned. Fails, changing
    /// nothing, when more than `kept_max` keys lie under `prefix`.
    fn replace_keeping_prefix(
        &self,
        prefix: &[u8],
        kept_max: usize,
        version_gap: u64,
    ) -> Result<u64>;

    /// Commits a batch at `first_version`, which must be above the latest
    /// version (replication assigns versions from its log).
    fn apply_at(&self, first_version: u64, commands: Vec<Command>) -> Result<Committed>;

    /// [`SnapshotEngine::apply_at`] of an encoded batch, which keeps how
    /// its conditions judge expiry ([`WriteBatch::judge_expiry_at`],
    /// [`WriteBatch::see_expired`]): what a replicated log's entries need
    /// so that every node decides them alike.
    fn apply_batch_at(&self, first_version: u64, batch: &WriteBatch) -> Result<Committed>;
}

/// What an operator's tools (`stats`, `verify`, `compact`, `bench`) and a
/// server's administrative commands (INFO, CONFIG GET, HT.COMPACT) need of
/// an engine: its settings and counters, durability on demand, compaction
/// passes, and reports on the segments it keeps. Every report is a copy,
/// so no caller holds on to the engine's internals.
pub trait AdminEngine: Send + Sync {
    /// The configuration the engine runs with.
    fn config(&self) -> &EngineConfig;

    /// What the last open found and did.
    fn recovery_info(&self) -> &RecoveryInfo;

    /// The engine's counters and histograms.
    fn metrics(&self) -> MetricsSnapshot;

    /// Number of live keys.
    fn len(&self) -> usize;

    /// Whether the store holds no keys.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The error that poisoned the engine, if one did.
    fn poison_reason(&self) -> Option<String>;

    /// Makes every acknowledged write durable now, whatever the durability.
    fn sync(&self) -> Result<()>;

    /// Runs one compaction pass now with the given overrides (the
    /// configured policy by default; see [`CompactionOptions`]).
    fn run_compaction(&self, options: CompactionOptions) -> Result<CompactionReport>;

    /// Runs one full compaction pass now: every segment with a dead byte.
    fn run_compaction_now(&self) -> Result<CompactionReport> {
        self.run_compaction(CompactionOptions::full())
    }

    /// The segments as of now, in id order (the active one last).
    fn segments(&self) -> Vec<SegmentInfo>;

    /// Live and dead bytes of every segment, measured against the keys
    /// live now. Walks every key.
    fn segment_usage(&self) -> Vec<SegmentUsage>;

    /// Estimated bytes of memory the key index takes; `None` for an engine
    /// that keeps no index in memory.
    fn index_memory_bytes(&self) -> Option<u64> {
        None
    }

    /// Up to `limit` keys whose expiry time has come but which are not yet
    /// deleted, each with the version that expired, soonest first within
    /// each shard (what a replicated engine's leader deletes through its
    /// log). Empty for an engine that keeps no such table.
    fn expired_keys(&self, limit: usize) -> Vec<(Vec<u8>, u64)> {
        let _ = limit;
        Vec::new()
    }

    /// Drops `key` at `version` from the keys [`AdminEngine::expired_keys`]
    /// lists: a replicated sweep found it written again meanwhile.
    fn forget_expired(&self, key: &[u8], version: u64) {
        let _ = (key, version);
    }

    /// Where this node stands in its replication group; `None` for an
    /// engine on its own.
    fn replication(&self) -> Option<crate::admin::ReplicationStatus> {
        None
    }

    /// Checks every checksum (and the footer, when sealed) of one segment;
    /// `Ok(None)` when the store has no segment `segment_id` (any more).
    fn verify_segment(&self, segment_id: u32) -> Result<Option<VerifyReport>>;
}
