//! The replication interface: [`CommandSubmitter`], [`SnapshotProvider`]
//! and [`ReplicationHandle`], the types they share ([`LogEntry`],
//! [`ReplicaSnapshot`], [`Role`], [`ReplError`]), and
//! [`LocalReplication`], the one-node implementation over any
//! `KvEngine + SnapshotEngine`.
//!
//! # Versions of replicated entries
//!
//! Versions are dense: a node whose applied version is `v` applies the next
//! entry only at `v + 1` ([`LogEntry::check_next`]). The engine alone would
//! accept any version above its latest; this layer is stricter, because on
//! a replica a gap can only mean a lost entry. An entry is known by its
//! versions, so re-applying one is detected without the engine keeping any
//! log:
//!
//! - every version at or below the applied version: [`ReplError::AlreadyApplied`],
//!   which carries the [`Committed`] the entry got, and nothing is written;
//! - some versions at or below it, some above: [`ReplError::VersionOverlap`];
//! - the first version past `v + 1`: [`ReplError::VersionGap`].
//!
//! A batch whose condition does not hold fails with the engine's
//! `VersionConflict` and uses no version, on every replica alike, since
//! every replica applies the same entries to the same state.
//!
//! # How a Raft state machine maps onto this
//!
//! An openraft 0.9 `RaftStateMachine` applies each normal entry, in log
//! order, with [`ReplicationHandle::apply_entry`] (blank and membership
//! entries carry no commands and use no version); it may number an entry
//! when it applies it, as `applied_version() + 1`, or carry the leader's
//! versions in the entry, and either way the checks above hold. It treats
//! `AlreadyApplied` as success when entries are replayed after a restart.
//! Its snapshot builder calls [`SnapshotProvider::snapshot`], a
//! point-in-time view that later writes do not change, and streams
//! [`ReplicaSnapshot::chunks`]; installing one is
//! [`SnapshotProvider::install_chunks`].

use std::sync::Arc;

use hightower_engine::{
    Command, Committed, EngineError, KeyDisplay, KeyValue, KvEngine, ReadView, SnapshotEngine,
    SuspendedCompaction,
};
use parking_lot::RwLock;

/// The identity of a node in a replication group (openraft's default
/// node id type).
pub type NodeId = u64;

/// The node id [`LocalReplication::new`] gives its node.
pub const LOCAL_NODE_ID: NodeId = 1;

/// Errors of the replication layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplError {
    /// The engine failed: I/O, a size limit, a poisoned engine, or a
    /// condition that did not hold (`VersionConflict`), in which case
    /// nothing was written and no version was used.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// This node does not take writes; send them to `leader` (`None`
    /// while no leader is known). [`LocalReplication`] never returns it.
    #[error("this node is not the leader (leader: {})", .leader.map_or("unknown".to_string(), |id| format!("node {id}")))]
    NotLeader {
        /// The leader this node knows of.
        leader: Option<NodeId>,
    },
    /// The group cannot take the request now: no leader is elected, the
    /// node is shutting down, or its Raft core stopped. Nothing was
    /// written by this node; a write may still commit if it reached the
    /// log before the failure, so a retry should be idempotent or
    /// conditional. [`LocalReplication`] never returns it.
    #[error("the replication group is unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// The request breaks a rule of the group (a reserved key, an entry
    /// handed to a node whose entries come from its own log) and was not
    /// applied anywhere.
    #[error("refused: {reason}")]
    Refused {
        /// The rule broken.
        reason: String,
    },
    /// Every version of the entry is at or below the applied version: it
    /// was applied before and nothing was written now. `committed` is
    /// what the entry got then.
    #[error(
        "entry at versions {}..={} is already applied (applied version {applied_version})",
        .committed.first_version,
        last_version(.committed)
    )]
    AlreadyApplied {
        /// The versions the entry holds.
        committed: Committed,
        /// The node's applied version.
        applied_version: u64,
    },
    /// The entry starts past the next version: an entry in between is
    /// missing. Nothing was written.
    #[error(
        "entry starts at version {first_version} but the next version is {next_version}: an entry is missing"
    )]
    VersionGap {
        /// The entry's first version.
        first_version: u64,
        /// The only version the next entry may start at.
        next_version: u64,
    },
    /// The entry straddles the applied version: part of it would be
    /// applied a second time. Nothing was written.
    #[error(
        "entry at versions {first_version}..={last_version} straddles the applied version {applied_version}"
    )]
    VersionOverlap {
        /// The entry's first version.
        first_version: u64,
        /// The entry's last version.
        last_version: u64,
        /// The node's applied version.
        applied_version: u64,
    },
    /// The entry cannot be applied at any version (no commands, version 0,
    /// or more versions than are left).
    #[error("entry at version {first_version} is invalid: {reason}")]
    InvalidEntry {
        /// The entry's first version.
        first_version: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A snapshot broke a rule (an empty key, keys not strictly ascending,
    /// an entry newer than the snapshot). The replica was reset to empty
    /// at version 0, so it cannot pass a partial state off as complete.
    #[error(
        "snapshot at version {version} is invalid: {reason}; the replica was reset to empty at version 0"
    )]
    InvalidSnapshot {
        /// The snapshot's version.
        version: u64,
        /// The first rule broken.
        reason: String,
    },
    /// A snapshot stream failed part way. The replica was reset to empty
    /// at version 0, as for [`ReplError::InvalidSnapshot`].
    #[error(
        "snapshot at version {version} broke off after {n_entries_received} entries ({source}); \
         the replica was reset to empty at version 0"
    )]
    SnapshotInterrupted {
        /// The snapshot's version.
        version: u64,
        /// Entries received before the failure.
        n_entries_received: u64,
        /// Why the stream failed.
        #[source]
        source: Box<ReplError>,
    },
}

/// The last version of `committed`. `Committed::last_version` adds the
/// count before it subtracts one, which overflows for a batch ending at
/// `u64::MAX`; this does not.
fn last_version(committed: &Committed) -> u64 {
    committed
        .first_version
        .saturating_add(u64::from(committed.count).saturating_sub(1))
}

/// Result type of the replication layer.
pub type Result<T, E = ReplError> = std::result::Result<T, E>;

/// A batch of commands at the versions a replication log gave it:
/// command `i` at `first_version + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Version of the first command.
    pub first_version: u64,
    /// The commands, applied atomically.
    pub commands: Vec<Command>,
}

impl LogEntry {
    /// An entry starting at `first_version`.
    pub fn new(first_version: u64, commands: Vec<Command>) -> Self {
        LogEntry {
            first_version,
            commands,
        }
    }

    /// The versions the entry holds, or why it cannot hold any.
    pub fn versions(&self) -> Result<Committed> {
        let invalid = |reason| ReplError::InvalidEntry {
            first_version: self.first_version,
            reason,
        };
        if self.commands.is_empty() {
            return Err(invalid("an entry needs at least one command"));
        }
        if self.first_version == 0 {
            return Err(invalid("version 0 is never assigned"));
        }
        let count = u32::try_from(self.commands.len())
            .map_err(|_| invalid("more than u32::MAX commands"))?;
        if self
            .first_version
            .checked_add(u64::from(count) - 1)
            .is_none()
        {
            return Err(invalid("its versions run past u64::MAX"));
        }
        Ok(Committed {
            first_version: self.first_version,
            count,
        })
    }

    /// Checks that this entry is the next one for a node at
    /// `applied_version` and returns the versions it will get. See the
    /// module docs for the rules and errors.
    pub fn check_next(&self, applied_version: u64) -> Result<Committed> {
        let committed = self.versions()?;
        let (first_version, last_version) = (committed.first_version, last_version(&committed));
        if last_version <= applied_version {
            return Err(ReplError::AlreadyApplied {
                committed,
                applied_version,
            });
        }
        if first_version <= applied_version {
            return Err(ReplError::VersionOverlap {
                first_version,
                last_version,
                applied_version,
            });
        }
        // `last_version > applied_version`, so the addition cannot overflow.
        let next_version = applied_version + 1;
        if first_version != next_version {
            return Err(ReplError::VersionGap {
                first_version,
                next_version,
            });
        }
        Ok(committed)
    }
}

/// What a node is in its replication group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Takes writes and replicates them.
    Leader,
    /// Votes and applies what the leader replicates.
    Follower,
    /// Seeks votes to become leader; no leader is known.
    Candidate,
    /// Applies what the leader replicates but does not vote.
    Learner,
}

/// Submits commands for replication.
pub trait CommandSubmitter: Send + Sync {
    /// Replicates `commands` as one atomic batch and returns once it is
    /// committed, command `i` at `first_version + i`. Conditions are
    /// checked against the state the batch applies to: on a mismatch the
    /// engine's `VersionConflict` comes back and nothing is written. A
    /// node that does not take writes returns [`ReplError::NotLeader`].
    fn submit(&self, commands: Vec<Command>) -> Result<Committed>;

    /// Replicates one command; returns its version.
    fn submit_one(&self, command: Command) -> Result<u64> {
        self.submit(vec![command])
            .map(|committed| committed.first_version)
    }
}

/// Point-in-time state for a replica to catch up from, and installing it.
pub trait SnapshotProvider: Send + Sync {
    /// The highest version this node holds.
    fn latest_version(&self) -> u64;

    /// A point-in-time view of the whole state with its version; later
    /// writes do not change it.
    fn snapshot(&self) -> Result<ReplicaSnapshot>;

    /// Replaces the whole state with `entries` (in strictly ascending key
    /// order, each at a version in `1..=version`) at `version`. A broken
    /// rule resets the node to empty at version 0 and returns
    /// [`ReplError::InvalidSnapshot`]. `install(0, &mut empty)` must leave
    /// the node empty at version 0.
    fn install(&self, version: u64, entries: &mut dyn Iterator<Item = KeyValue>) -> Result<()>;

    /// [`SnapshotProvider::install`] from a stream of chunks, as
    /// [`ReplicaSnapshot::chunks`] yields them. When the stream fails part
    /// way, the node is reset to empty at version 0 and the error comes
    /// back as [`ReplError::SnapshotInterrupted`]: a replica never keeps
    /// part of a snapshot under the snapshot's version.
    fn install_chunks(
        &self,
        version: u64,
        chunks: &mut dyn Iterator<Item = Result<Vec<KeyValue>>>,
    ) -> Result<()> {
        let mut stream = ChunkStream {
            chunks,
            current: Vec::new().into_iter(),
            n_entries_received: 0,
            failure: None,
        };
        self.install(version, &mut stream)?;
        let Some(failure) = stream.failure else {
            return Ok(());
        };
        self.install(0, &mut std::iter::empty())?;
        Err(ReplError::SnapshotInterrupted {
            version,
            n_entries_received: stream.n_entries_received,
            source: Box::new(failure),
        })
    }
}

/// The role and progress of this node, and applying what its log
/// replicates.
pub trait ReplicationHandle: Send + Sync {
    /// This node's id.
    fn node_id(&self) -> NodeId;

    /// What this node is in its group now.
    fn role(&self) -> Role;

    /// The leader this node knows of.
    fn leader(&self) -> Option<NodeId>;

    /// Whether this node takes writes now.
    fn is_leader(&self) -> bool {
        self.role() == Role::Leader
    }

    /// The highest version applied on this node.
    fn applied_version(&self) -> u64;

    /// Applies one replicated batch at the versions its entry holds, which
    /// must follow the applied version; see the module docs for the rules
    /// and for how a re-applied entry is reported.
    fn apply_entry(&self, entry: LogEntry) -> Result<Committed>;
}

/// A point-in-time view of a node's whole state with its version, to
/// stream to a replica. It holds the engine's [`ReadView`], so later
/// writes, and compaction, do not change what it yields; and, when the
/// engine compacts, a [`SuspendedCompaction`] guard, so no pass rewrites
/// the segments while the snapshot is streamed.
#[derive(Debug, Clone)]
pub struct ReplicaSnapshot {
    view: ReadView,
    _held: Option<Arc<SuspendedCompaction>>,
}

impl ReplicaSnapshot {
    /// A snapshot of `view`.
    pub fn new(view: ReadView) -> Self {
        ReplicaSnapshot { view, _held: None }
    }

    /// The same snapshot, holding compaction off until it (and every
    /// clone of it) drops.
    pub fn holding(mut self, held: Option<SuspendedCompaction>) -> Self {
        self._held = held.map(Arc::new);
        self
    }

    /// Every write at or below this version is in the snapshot, none
    /// above it.
    pub fn version(&self) -> u64 {
        self.view.version()
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// Whether the snapshot holds no keys.
    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// The engine's view underneath.
    pub fn read_view(&self) -> &ReadView {
        &self.view
    }

    /// Every key with its value and version, in key order.
    pub fn entries(&self) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.view.iter().map(|entry| entry.map_err(ReplError::from))
    }

    /// The entries in key order, in chunks of at most `entries_max`
    /// entries (at least one). After an error the stream ends.
    pub fn chunks(&self, entries_max: usize) -> impl Iterator<Item = Result<Vec<KeyValue>>> + '_ {
        self.chunks_bounded(entries_max, usize::MAX)
    }

    /// Like [`ReplicaSnapshot::chunks`], and a chunk also ends once its
    /// keys and values reach `bytes_max` bytes. Every chunk holds at least
    /// one entry, so one value larger than `bytes_max` is a chunk of its
    /// own.
    pub fn chunks_bounded(
        &self,
        entries_max: usize,
        bytes_max: usize,
    ) -> impl Iterator<Item = Result<Vec<KeyValue>>> + '_ {
        let entries_max = entries_max.max(1);
        let mut entries = self.view.iter();
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let mut chunk = Vec::new();
            let mut chunk_bytes = 0_usize;
            while chunk.len() < entries_max && (chunk.is_empty() || chunk_bytes < bytes_max) {
                match entries.next() {
                    None => break,
                    Some(Ok(entry)) => {
                        chunk_bytes =
                            chunk_bytes.saturating_add(entry.key.len() + entry.value.len());
                        chunk.push(entry);
                    }
                    Some(Err(error)) => {
                        failed = true;
                        return Some(Err(error.into()));
                    }
                }
            }
            (!chunk.is_empty()).then_some(Ok(chunk))
        })
    }
}

/// Flattens a chunk stream into entries; ends at the first failed chunk
/// and keeps its error.
struct ChunkStream<'a> {
    chunks: &'a mut dyn Iterator<Item = Result<Vec<KeyValue>>>,
    current: std::vec::IntoIter<KeyValue>,
    n_entries_received: u64,
    failure: Option<ReplError>,
}

impl Iterator for ChunkStream<'_> {
    type Item = KeyValue;

    fn next(&mut self) -> Option<KeyValue> {
        // Ends when the chunk stream ends: every turn either yields an
        // entry or takes the next chunk.
        loop {
            if let Some(entry) = self.current.next() {
                self.n_entries_received += 1;
                return Some(entry);
            }
            if self.failure.is_some() {
                return None;
            }
            match self.chunks.next()? {
                Ok(chunk) => self.current = chunk.into_iter(),
                Err(error) => self.failure = Some(error),
            }
        }
    }
}

/// Passes snapshot entries on while they keep the rules of
/// [`SnapshotProvider::install`]; stops at the first that does not and
/// keeps the reason.
struct CheckedEntries<'a> {
    entries: &'a mut dyn Iterator<Item = KeyValue>,
    version: u64,
    previous_key: Vec<u8>,
    n_entries: u64,
    violation: Option<String>,
}

impl CheckedEntries<'_> {
    fn check(&self, entry: &KeyValue) -> std::result::Result<(), String> {
        let n = self.n_entries;
        if entry.key.is_empty() {
            return Err(format!("entry {n} has an empty key"));
        }
        if n > 0 && entry.key <= self.previous_key {
            let (key, previous) = (
                KeyDisplay(entry.key.clone()),
                KeyDisplay(self.previous_key.clone()),
            );
            return Err(format!(
                "entry {n}: key {key:?} does not follow key {previous:?}"
            ));
        }
        if entry.version == 0 || entry.version > self.version {
            let key = KeyDisplay(entry.key.clone());
            return Err(format!(
                "entry {n}: key {key:?} has version {}, outside 1..={}",
                entry.version, self.version
            ));
        }
        Ok(())
    }
}

impl Iterator for CheckedEntries<'_> {
    type Item = KeyValue;

    fn next(&mut self) -> Option<KeyValue> {
        if self.violation.is_some() {
            return None;
        }
        let entry = self.entries.next()?;
        if let Err(reason) = self.check(&entry) {
            self.violation = Some(reason);
            return None;
        }
        self.previous_key.clear();
        self.previous_key.extend_from_slice(&entry.key);
        self.n_entries += 1;
        Some(entry)
    }
}

/// The replication interface over one engine: the leader of a one-node
/// group. Writes get their versions from the engine; [`apply_entry`]
/// and [`install`] let the same engine act as a replica of another
/// node, as a follower's state machine would.
///
/// [`apply_entry`]: ReplicationHandle::apply_entry
/// [`install`]: SnapshotProvider::install
pub struct LocalReplication<E> {
    engine: Arc<E>,
    node_id: NodeId,
    /// Shared by submits, held alone by `apply_entry` and `install`, so
    /// that a version check and the write after it see no local write in
    /// between.
    gate: RwLock<()>,
}

impl<E> std::fmt::Debug for LocalReplication<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalReplication")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl<E: KvEngine + SnapshotEngine> LocalReplication<E> {
    /// The replication interface over `engine`, as node [`LOCAL_NODE_ID`].
    pub fn new(engine: Arc<E>) -> Self {
        LocalReplication {
            engine,
            node_id: LOCAL_NODE_ID,
            gate: RwLock::new(()),
        }
    }

    /// The same, as node `node_id`.
    pub fn with_node_id(mut self, node_id: NodeId) -> Self {
        self.node_id = node_id;
        self
    }

    /// The engine underneath, for reads.
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }
}

impl<E: KvEngine + SnapshotEngine> CommandSubmitter for LocalReplication<E> {
    fn submit(&self, commands: Vec<Command>) -> Result<Committed> {
        let _shared = self.gate.read();
        Ok(self.engine.submit_batch(commands)?)
    }
}

impl<E: KvEngine + SnapshotEngine> SnapshotProvider for LocalReplication<E> {
    fn latest_version(&self) -> u64 {
        self.engine.latest_version()
    }

    fn snapshot(&self) -> Result<ReplicaSnapshot> {
        // Compaction is held off first, so the view is taken on the layout
        // the snapshot will stream from.
        let held = self.engine.hold_compaction();
        Ok(ReplicaSnapshot::new(self.engine.snapshot_state()?).holding(held))
    }

    fn install(&self, version: u64, entries: &mut dyn Iterator<Item = KeyValue>) -> Result<()> {
        let _alone = self.gate.write();
        let mut checked = CheckedEntries {
            entries,
            version,
            previous_key: Vec::new(),
            n_entries: 0,
            violation: None,
        };
        self.engine.install_snapshot(version, &mut checked)?;
        let Some(reason) = checked.violation else {
            return Ok(());
        };
        // The engine now holds the entries before the violation under
        // `version`; replace them with an empty state at version 0.
        self.engine.install_snapshot(0, &mut std::iter::empty())?;
        Err(ReplError::InvalidSnapshot { version, reason })
    }
}

impl<E: KvEngine + SnapshotEngine> ReplicationHandle for LocalReplication<E> {
    fn node_id(&self) -> NodeId {
        self.node_id
    }

    fn role(&self) -> Role {
        Role::Leader
    }

    fn leader(&self) -> Option<NodeId> {
        Some(self.node_id)
    }

    fn applied_version(&self) -> u64 {
        self.engine.latest_version()
    }

    fn apply_entry(&self, entry: LogEntry) -> Result<Committed> {
        let _alone = self.gate.write();
        let expected = entry.check_next(self.engine.latest_version())?;
        let committed = self.engine.apply_at(entry.first_version, entry.commands)?;
        assert_eq!(
            committed, expected,
            "the engine commits a batch at the version it is given"
        );
        Ok(committed)
    }
}

#[cfg(test)]
mod tests {
    use hightower_engine::{Durability, EngineConfig, Expect, SingleNodeEngine};

    use super::*;

    fn node(dir: &std::path::Path) -> LocalReplication<SingleNodeEngine> {
        let config = EngineConfig::new(dir).durability(Durability::None);
        LocalReplication::new(Arc::new(
            SingleNodeEngine::with_config(config).expect("open engine"),
        ))
    }

    fn put(key: &str, value: &str) -> Command {
        Command::put(key.as_bytes(), value.as_bytes())
    }

    fn contents(node: &LocalReplication<SingleNodeEngine>) -> Vec<KeyValue> {
        node.engine()
            .read_view()
            .unwrap()
            .iter()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn kv(key: &str, version: u64) -> KeyValue {
        KeyValue {
            key: key.as_bytes().to_vec(),
            value: b"v".to_vec(),
            version,
            expires_at_ms: None,
        }
    }

    #[test]
    fn check_next_accepts_only_the_next_version() {
        let entry = |first, n| LogEntry::new(first, vec![put("k", "v"); n]);
        assert_eq!(
            entry(6, 3).check_next(5).unwrap(),
            Committed {
                first_version: 6,
                count: 3
            }
        );
        assert_eq!(
            entry(1, 1).check_next(0).unwrap(),
            Committed {
                first_version: 1,
                count: 1
            }
        );
        let applied = entry(3, 3).check_next(5).unwrap_err();
        assert!(
            matches!(
                applied,
                ReplError::AlreadyApplied {
                    committed: Committed {
                        first_version: 3,
                        count: 3
                    },
                    applied_version: 5
                }
            ),
            "{applied:?}"
        );
        let overlap = entry(4, 3).check_next(5).unwrap_err();
        assert!(
            matches!(
                overlap,
                ReplError::VersionOverlap {
                    first_version: 4,
                    last_version: 6,
                    applied_version: 5
                }
            ),
            "{overlap:?}"
        );
        let gap = entry(8, 1).check_next(5).unwrap_err();
        assert!(
            matches!(
                gap,
                ReplError::VersionGap {
                    first_version: 8,
                    next_version: 6
                }
            ),
            "{gap:?}"
        );
        assert!(gap.to_string().contains("an entry is missing"), "{gap}");
    }

    #[test]
    fn check_next_refuses_entries_without_versions() {
        for (entry, applied) in [
            (LogEntry::new(1, Vec::new()), 0),
            (LogEntry::new(0, vec![put("k", "v")]), 0),
            (
                LogEntry::new(u64::MAX, vec![put("k", "v"); 2]),
                u64::MAX - 1,
            ),
        ] {
            let error = entry.check_next(applied).unwrap_err();
            assert!(matches!(error, ReplError::InvalidEntry { .. }), "{error:?}");
        }
        assert!(
            LogEntry::new(u64::MAX, vec![put("k", "v")])
                .check_next(u64::MAX - 1)
                .is_ok()
        );
    }

    #[test]
    fn local_node_is_leader_of_itself() {
        let dir = tempfile::tempdir().unwrap();
        let local = node(dir.path()).with_node_id(7);
        assert_eq!(
            (local.node_id(), local.role(), local.leader()),
            (7, Role::Leader, Some(7))
        );
        assert!(local.is_leader());
        assert!(format!("{local:?}").contains("node_id: 7"));
    }

    #[test]
    fn submit_passes_engine_errors_through() {
        let dir = tempfile::tempdir().unwrap();
        let local = node(dir.path());
        assert!(matches!(
            local.submit(Vec::new()),
            Err(ReplError::Engine(EngineError::EmptyBatch))
        ));
        let v1 = local.submit_one(put("k", "a")).unwrap();
        let stale = put("k", "b").expecting(Expect::Absent);
        let conflict = local.submit(vec![put("other", "x"), stale]).unwrap_err();
        assert!(
            matches!(
                conflict,
                ReplError::Engine(EngineError::VersionConflict { .. })
            ),
            "{conflict:?}"
        );
        assert_eq!(
            local.applied_version(),
            v1,
            "a failed batch uses no version"
        );
        assert!(
            local.engine().get(b"other").unwrap().is_none(),
            "a failed batch writes nothing"
        );
    }

    #[test]
    fn apply_entry_with_a_failing_condition_uses_no_version() {
        let dir = tempfile::tempdir().unwrap();
        let local = node(dir.path());
        local
            .apply_entry(LogEntry::new(1, vec![put("k", "a")]))
            .unwrap();
        let entry = LogEntry::new(2, vec![put("k", "b").expecting(Expect::Version(9))]);
        let error = local.apply_entry(entry).unwrap_err();
        assert!(
            matches!(
                error,
                ReplError::Engine(EngineError::VersionConflict { .. })
            ),
            "{error:?}"
        );
        assert_eq!(local.applied_version(), 1);
        assert_eq!(
            local
                .apply_entry(LogEntry::new(2, vec![put("k", "c")]))
                .unwrap()
                .first_version,
            2
        );
    }

    #[test]
    fn chunks_respect_both_limits_and_hold_at_least_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let local = node(dir.path());
        let batch = (0..10)
            .map(|i| put(&format!("key-{i}"), "0123456789"))
            .collect();
        local.submit(batch).unwrap();
        let snapshot = local.snapshot().unwrap();
        let sizes = |chunks: Vec<Result<Vec<KeyValue>>>| -> Vec<usize> {
            chunks
                .into_iter()
                .map(|chunk| chunk.unwrap().len())
                .collect()
        };
        assert_eq!(sizes(snapshot.chunks(3).collect()), [3, 3, 3, 1]);
        assert_eq!(sizes(snapshot.chunks(0).collect()), [1; 10]);
        assert_eq!(sizes(snapshot.chunks(100).collect()), [10]);
        // Each entry is 15 bytes: a chunk ends at the entry that reaches 40.
        assert_eq!(
            sizes(snapshot.chunks_bounded(100, 40).collect()),
            [3, 3, 3, 1]
        );
        assert_eq!(sizes(snapshot.chunks_bounded(100, 0).collect()), [1; 10]);
        let flat: Vec<KeyValue> = snapshot
            .chunks(4)
            .flat_map(|chunk| chunk.unwrap())
            .collect();
        assert_eq!(flat, contents(&local));
    }

    #[test]
    fn empty_snapshot_has_no_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = node(dir.path()).snapshot().unwrap();
        assert!(snapshot.is_empty());
        assert_eq!(
            (
                snapshot.version(),
                snapshot.len(),
                snapshot.chunks(10).count()
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn install_refuses_broken_snapshots_and_resets() {
        let broken: [(&str, Vec<KeyValue>); 4] = [
            ("does not follow", vec![kv("b", 1), kv("a", 2)]),
            ("does not follow", vec![kv("a", 1), kv("a", 2)]),
            ("outside 1..=5", vec![kv("a", 1), kv("b", 6)]),
            ("empty key", vec![kv("", 1)]),
        ];
        for (expected, entries) in broken {
            let dir = tempfile::tempdir().unwrap();
            let local = node(dir.path());
            local.submit_one(put("old", "state")).unwrap();
            let error = local.install(5, &mut entries.into_iter()).unwrap_err();
            assert!(
                matches!(&error, ReplError::InvalidSnapshot { version: 5, .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains(expected), "{error}");
            assert_eq!((local.applied_version(), contents(&local)), (0, Vec::new()));
        }
    }

    #[test]
    fn install_chunks_resets_when_the_stream_fails() {
        let dir = tempfile::tempdir().unwrap();
        let local = node(dir.path());
        local.submit_one(put("old", "state")).unwrap();
        let mut chunks = vec![
            Ok(vec![kv("a", 1), kv("b", 2)]),
            Err(ReplError::NotLeader { leader: None }),
            Ok(vec![kv("c", 3)]),
        ]
        .into_iter();
        let error = local.install_chunks(3, &mut chunks).unwrap_err();
        let ReplError::SnapshotInterrupted {
            version: 3,
            n_entries_received: 2,
            source,
        } = &error
        else {
            panic!("unexpected error {error:?}");
        };
        assert!(
            matches!(**source, ReplError::NotLeader { .. }),
            "{source:?}"
        );
        assert_eq!((local.applied_version(), contents(&local)), (0, Vec::new()));
        assert_eq!(chunks.count(), 1, "the stream is not read past its failure");
        drop(local);
        let reopened = node(dir.path());
        let state = (reopened.applied_version(), contents(&reopened));
        assert_eq!(state, (0, Vec::new()), "the reset lasts across a reopen");
    }

    #[test]
    fn install_chunks_installs_a_whole_stream() {
        let dir = tempfile::tempdir().unwrap();
        let local = node(dir.path());
        let mut chunks = vec![
            Ok(vec![kv("a", 1)]),
            Ok(Vec::new()),
            Ok(vec![kv("b", 4), kv("c", 2)]),
        ]
        .into_iter();
        local.install_chunks(4, &mut chunks).unwrap();
        assert_eq!(local.applied_version(), 4);
        assert_eq!(contents(&local), [kv("a", 1), kv("b", 4), kv("c", 2)]);
        assert_eq!(
            local.submit_one(put("d", "v")).unwrap(),
            5,
            "writes follow the snapshot's version"
        );
    }
}
