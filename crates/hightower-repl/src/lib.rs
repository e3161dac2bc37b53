//! The replication layer of Hightower KV: the traits a replication
//! implementation provides to the layers above, and [`LocalReplication`],
//! the one-node implementation over any engine that is
//! `KvEngine + SnapshotEngine` (such as `SingleNodeEngine`).
//!
//! - [`CommandSubmitter`] replicates a batch of commands and returns once
//!   it is committed, with the versions it got.
//! - [`SnapshotProvider`] takes a [`ReplicaSnapshot`], a point-in-time
//!   view of the whole state with its version that streams in chunks, and
//!   installs one on a replica.
//! - [`ReplicationHandle`] tells a node's [`Role`], its leader and its
//!   applied version, and applies a replicated [`LogEntry`] at the
//!   versions the log gave it. Versions are dense, so a re-applied entry,
//!   a gap and an overlap are each reported ([`ReplError`]); the module
//!   [`replication`] states the rules.
//!
//! ```
//! use std::sync::Arc;
//!
//! use hightower_engine::{Command, KvEngine, SingleNodeEngine};
//! use hightower_repl::{
//!     CommandSubmitter, LocalReplication, LogEntry, ReplError, ReplicationHandle, SnapshotProvider,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let open = |name: &str| SingleNodeEngine::open(dir.path().join(name)).map(Arc::new);
//! let leader = LocalReplication::new(open("leader")?);
//! assert!(leader.is_leader());
//! let batch = vec![Command::put("user:1", "ada"), Command::put("user:2", "grace")];
//! let committed = leader.submit(batch.clone())?;
//!
//! // A replica applies the same batch at the same versions...
//! let follower = LocalReplication::new(open("follower")?);
//! let entry = LogEntry::new(committed.first_version, batch);
//! follower.apply_entry(entry.clone())?;
//! assert_eq!(follower.applied_version(), leader.applied_version());
//! // ...and knows when it sees one again.
//! assert!(matches!(follower.apply_entry(entry), Err(ReplError::AlreadyApplied { .. })));
//!
//! // Another catches up from a snapshot, streamed in chunks.
//! let learner = LocalReplication::new(open("learner")?);
//! let snapshot = leader.snapshot()?;
//! learner.install_chunks(snapshot.version(), &mut snapshot.chunks(1_000))?;
//! let got = learner.engine().get(b"user:2")?.expect("installed");
//! assert_eq!((got.value.as_slice(), got.version), (b"grace".as_slice(), committed.last_version()));
//! # Ok(()) }
//! ```
//!
//! Limits: [`LocalReplication`] is one node and always its own leader; it
//! replicates nothing by itself, and `apply_entry` and `install` only let
//! its engine act as a replica of another node that a caller drives. A
//! Raft group on openraft comes later, behind these same traits.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod replication;

pub use replication::{
    CommandSubmitter, LOCAL_NODE_ID, LocalReplication, LogEntry, NodeId, ReplError,
    ReplicaSnapshot, ReplicationHandle, Result, Role, SnapshotProvider,
};
