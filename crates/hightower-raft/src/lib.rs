//! A Raft group of Hightower KV nodes, on openraft 0.9.
//!
//! - [`RaftLogStore`]: the Raft log, vote, committed id and purge point
//!   in `hightower-log` segments of their own, durable before openraft is
//!   told so.
//! - [`EngineStateMachine`]: applies each committed entry to an engine as
//!   one batch with the machine's metadata, so applying is idempotent
//!   across crashes and every node gives the same versions; snapshots are
//!   the engine's point-in-time views.
//! - [`RaftNode`]: a running member, with `hightower-repl`'s
//!   [`CommandSubmitter`](hightower_repl::CommandSubmitter),
//!   [`SnapshotProvider`](hightower_repl::SnapshotProvider) and
//!   [`ReplicationHandle`](hightower_repl::ReplicationHandle) over it.
//! - [`admin`]: membership changes and status over the Raft port, for
//!   operators holding the cluster secret.
//! - [`linearizability`]: a checker of recorded histories, for tests of
//!   a group.
//! - [`Router`]: an in-process network for tests of a whole group, with
//!   partitions, delays and message loss.
//!
//! Every openraft type the crate names goes through [`types`], the one
//! place a move to another openraft release touches first.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//!
//! use hightower_engine::{Command, EngineConfig, SingleNodeEngine};
//! use hightower_raft::{LogStoreOptions, RaftNode, Router, types::{Node, RaftConfig}};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let engine = SingleNodeEngine::with_config(
//!     EngineConfig::new(dir.path().join("data")).expiry_sweep_keys_per_second(0),
//! )?;
//! let router = Router::new();
//! let config = Arc::new(RaftConfig::default().validate()?);
//! let node = RaftNode::start(
//!     1,
//!     &dir.path().join("raft"),
//!     Arc::new(engine),
//!     router.network(1),
//!     config,
//!     LogStoreOptions::default(),
//! )
//! .await?;
//! router.add(1, node.raft().clone());
//! node.initialize(BTreeMap::from([(1, Node::default())])).await?;
//! node.raft().wait(None).current_leader(1, "elected").await?;
//!
//! let committed = node.write(vec![Command::put("greeting", "hello")]).await?;
//! let got = node.get(b"greeting").await?.expect("written");
//! assert_eq!((got.value.as_slice(), got.version), (b"hello".as_slice(), committed.first_version));
//! node.shutdown().await?;
//! # Ok(()) }
//! ```

#![cfg_attr(not(test), warn(clippy::unwrap_used))]
// openraft's storage traits return its `StorageError`, a large type; the
// crate's own helpers return it too rather than convert at every call.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod engine;
pub mod linearizability;
pub mod log_store;
pub mod network;
pub mod node;
pub mod router;
pub mod state_machine;
pub mod types;

pub use engine::ReplicatedEngine;
pub use log_store::{LogStoreOptions, RaftLogStore};
pub use network::{ClusterSecret, RaftListener, TcpNetwork};
pub use node::RaftNode;
pub use router::Router;
pub use state_machine::{
    EngineStateMachine, MachineEngine, MachineMeta, RAFT_META_KEY, RAFT_PREFIX,
};
