//! [`ReplicatedEngine`]: the engine traits over a [`RaftNode`], so a
//! server that knows an engine only through `KvEngine`, `SnapshotEngine`
//! and `AdminEngine` serves a Raft group unchanged.
//!
//! - Writes go through the group's log (a follower forwards them to the
//!   leader) and return once a majority holds them and this node applied
//!   them. While there is no leader they fail with
//!   `EngineError::Unavailable`, which a server answers as `TRYAGAIN`.
//! - Reads are linearizable: each `get` and each read view first passes a
//!   read barrier ([`RaftNode::read_barrier`]), then reads the local
//!   engine. [`ReplicatedEngine::follower_reads`] gives the same engine
//!   reading this node's state as it is, without the barrier (Redis's
//!   `READONLY`): faster, never waiting for the leader, possibly behind.
//! - What an operator asks of the engine (`AdminEngine`) is this node's
//!   own engine.
//! - The group's own keys (under `RAFT_PREFIX`) are invisible: no read
//!   returns them and no write may touch them.
//!
//! Every call blocks its thread while the group answers, so it must not
//! run on a worker of the node's own runtime.

use std::sync::Arc;

use hightower_engine::{
    AdminEngine, Command, Committed, CompactionOptions, CompactionReport, EngineConfig,
    EngineError, KeyValue, KvEngine, MetricsSnapshot, ReadView, RecoveryInfo, ReplicationStatus,
    SegmentInfo, SegmentUsage, SnapshotEngine, SuspendedCompaction, VerifyReport, Versioned,
    WriteBatch,
};
use hightower_repl::{ReplError, ReplicationHandle};

use crate::node::RaftNode;
use crate::state_machine::RAFT_PREFIX;

/// Keys a replicated `FLUSHALL` deletes in one entry at most.
pub const FLUSH_KEYS_MAX: usize = 100_000;

/// The engine traits over one node of a Raft group.
#[derive(Clone)]
pub struct ReplicatedEngine {
    node: RaftNode,
    /// Reads skip the read barrier.
    follower_reads: bool,
}

impl std::fmt::Debug for ReplicatedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedEngine")
            .field("node", &self.node)
            .field("follower_reads", &self.follower_reads)
            .finish()
    }
}

/// What a replication failure means to a caller of the engine traits.
fn engine_error(error: ReplError) -> EngineError {
    match error {
        ReplError::Engine(error) => error,
        ReplError::NotLeader { leader: None } => EngineError::Unavailable {
            reason: "no leader is elected now; retry".to_string(),
        },
        ReplError::NotLeader {
            leader: Some(leader),
        } => EngineError::Unavailable {
            reason: format!("the leader is node {leader}, which this node cannot reach now; retry"),
        },
        other => EngineError::Unavailable {
            reason: other.to_string(),
        },
    }
}

impl ReplicatedEngine {
    /// The engine traits over `node`.
    pub fn new(node: RaftNode) -> Self {
        ReplicatedEngine {
            node,
            follower_reads: false,
        }
    }

    /// The same engine whose reads see this node's state as it is, without
    /// asking the leader first: they may miss writes the group committed
    /// but this node has not applied yet. Writes still go through the log.
    pub fn follower_reads(&self) -> Self {
        ReplicatedEngine {
            node: self.node.clone(),
            follower_reads: true,
        }
    }

    /// The node underneath.
    pub fn node(&self) -> &RaftNode {
        &self.node
    }

    fn local(&self) -> &Arc<dyn crate::MachineEngine> {
        self.node.engine()
    }

    fn barrier(&self) -> Result<(), EngineError> {
        if self.follower_reads {
            return Ok(());
        }
        self.linearizable_barrier()
    }

    fn linearizable_barrier(&self) -> Result<(), EngineError> {
        let node = self.node.clone();
        self.node
            .blocking(async move { node.read_barrier().await })
            .map_err(engine_error)
    }
}

impl KvEngine for ReplicatedEngine {
    fn submit_batch(&self, commands: Vec<Command>) -> Result<Committed, EngineError> {
        if commands.is_empty() {
            return Err(EngineError::EmptyBatch);
        }
        hightower_repl::CommandSubmitter::submit(&self.node, commands).map_err(engine_error)
    }

    fn write(&self, batch: &WriteBatch) -> Result<Committed, EngineError> {
        self.submit_batch(batch.to_commands())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, EngineError> {
        self.barrier()?;
        if key.starts_with(RAFT_PREFIX) {
            return Ok(None);
        }
        self.local().get(key)
    }

    fn read_view(&self) -> Result<ReadView, EngineError> {
        self.barrier()?;
        Ok(self.local().read_view()?.hiding(RAFT_PREFIX))
    }

    fn version_of(&self, key: &[u8]) -> Result<Option<u64>, EngineError> {
        self.barrier()?;
        if key.starts_with(RAFT_PREFIX) {
            return Ok(None);
        }
        self.local().version_of(key)
    }

    fn now_ms(&self) -> u64 {
        self.local().now_ms()
    }

    fn expiry_of(&self, key: &[u8]) -> Result<Option<Option<u64>>, EngineError> {
        self.barrier()?;
        if key.starts_with(RAFT_PREFIX) {
            return Ok(None);
        }
        self.local().expiry_of(key)
    }
}

impl SnapshotEngine for ReplicatedEngine {
    fn snapshot_state(&self) -> Result<ReadView, EngineError> {
        self.read_view()
    }

    fn hold_compaction(&self) -> Option<SuspendedCompaction> {
        self.local().hold_compaction()
    }

    fn latest_version(&self) -> u64 {
        self.local().latest_version()
    }

    fn install_snapshot(
        &self,
        latest_version: u64,
        _entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<(), EngineError> {
        Err(EngineError::Unavailable {
            reason: format!(
                "snapshot at version {latest_version}: a node of a Raft group installs only \
                 snapshots its leader sends"
            ),
        })
    }

    /// Deletes every key outside `prefix` (and outside the group's own
    /// keys) in one entry of the log, so every node drops the same keys at
    /// the same versions; `version_gap` does not apply (versions stay
    /// dense in a group). Refuses, changing nothing, above
    /// [`FLUSH_KEYS_MAX`] keys to delete or `kept_max` keys kept.
    fn replace_keeping_prefix(
        &self,
        prefix: &[u8],
        kept_max: usize,
        _version_gap: u64,
    ) -> Result<u64, EngineError> {
        // Even on a connection that reads from followers: a flush deletes
        // what the group holds, not what this node applied so far.
        self.linearizable_barrier()?;
        let view = self.local().read_view()?.hiding(RAFT_PREFIX);
        let mut kept = 0;
        let mut deletes = Vec::new();
        for kv in view.iter() {
            let kv = kv?;
            if kv.key.starts_with(prefix) || kv.key.starts_with(RAFT_PREFIX) {
                kept += 1;
                if kept > kept_max {
                    return Err(EngineError::TooManyKept { max: kept_max });
                }
                continue;
            }
            if deletes.len() == FLUSH_KEYS_MAX {
                return Err(EngineError::Unavailable {
                    reason: format!(
                        "a replicated flush deletes at most {FLUSH_KEYS_MAX} keys at once; \
                         delete in parts"
                    ),
                });
            }
            deletes.push(Command::Delete {
                key: kv.key,
                expect: hightower_engine::Expect::Version(kv.version),
            });
        }
        if deletes.is_empty() {
            return Ok(self.latest_version());
        }
        let committed = self.submit_batch(deletes)?;
        Ok(committed.last_version())
    }

    fn apply_at(
        &self,
        first_version: u64,
        _commands: Vec<Command>,
    ) -> Result<Committed, EngineError> {
        Err(EngineError::Unavailable {
            reason: format!(
                "a batch at version {first_version}: a node of a Raft group applies only what its \
                 own log commits"
            ),
        })
    }

    fn apply_batch_at(
        &self,
        first_version: u64,
        _batch: &WriteBatch,
    ) -> Result<Committed, EngineError> {
        self.apply_at(first_version, Vec::new())
    }
}

impl AdminEngine for ReplicatedEngine {
    fn config(&self) -> &EngineConfig {
        self.local().config()
    }

    fn recovery_info(&self) -> &RecoveryInfo {
        self.local().recovery_info()
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.local().metrics()
    }

    /// Keys the clients see (the group's own metadata left out).
    fn len(&self) -> usize {
        self.local()
            .read_view()
            .map_or(0, |view| view.hiding(RAFT_PREFIX).len())
    }

    fn poison_reason(&self) -> Option<String> {
        self.local().poison_reason()
    }

    fn sync(&self) -> Result<(), EngineError> {
        self.local().sync()
    }

    fn run_compaction(&self, options: CompactionOptions) -> Result<CompactionReport, EngineError> {
        self.local().run_compaction(options)
    }

    fn segments(&self) -> Vec<SegmentInfo> {
        self.local().segments()
    }

    fn segment_usage(&self) -> Vec<SegmentUsage> {
        self.local().segment_usage()
    }

    fn index_memory_bytes(&self) -> Option<u64> {
        self.local().index_memory_bytes()
    }

    fn verify_segment(&self, segment_id: u32) -> Result<Option<VerifyReport>, EngineError> {
        self.local().verify_segment(segment_id)
    }

    fn expired_keys(&self, limit: usize) -> Vec<(Vec<u8>, u64)> {
        self.local().expired_keys(limit)
    }

    fn forget_expired(&self, key: &[u8], version: u64) {
        self.local().forget_expired(key, version);
    }

    fn replication(&self) -> Option<ReplicationStatus> {
        Some(self.node.status())
    }
}

impl ReplicationHandle for ReplicatedEngine {
    fn node_id(&self) -> hightower_repl::NodeId {
        self.node.node_id()
    }

    fn role(&self) -> hightower_repl::Role {
        self.node.role()
    }

    fn leader(&self) -> Option<hightower_repl::NodeId> {
        self.node.leader()
    }

    fn applied_version(&self) -> u64 {
        self.node.applied_version()
    }

    fn apply_entry(&self, entry: hightower_repl::LogEntry) -> Result<Committed, ReplError> {
        self.node.apply_entry(entry)
    }
}
