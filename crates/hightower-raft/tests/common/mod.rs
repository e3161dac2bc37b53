//! A group of nodes in one process over the in-process router, for the
//! cluster tests: start, stop and restart nodes on their own directories,
//! find the leader, write with retries, and compare the nodes' states.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hightower_engine::{
    Command, Committed, Durability, EngineConfig, EngineError, KeyValue, SingleNodeEngine,
};
use hightower_raft::types::{Node, RaftConfig};
use hightower_raft::{LogStoreOptions, RaftNode, Router};
use hightower_repl::{NodeId, ReplError, ReplicationHandle, Role};

/// How long any one wait of a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Raft timing for tests: quick elections, small snapshots when asked.
pub fn raft_config(snapshot_every: Option<u64>) -> Arc<RaftConfig> {
    let mut config = RaftConfig {
        cluster_name: "hightower-test".to_string(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        ..RaftConfig::default()
    };
    if let Some(every) = snapshot_every {
        config.snapshot_policy = openraft::SnapshotPolicy::LogsSinceLast(every);
        config.max_in_snapshot_log_to_keep = 0;
        config.purge_batch_size = 1;
    }
    Arc::new(config.validate().expect("a valid Raft configuration"))
}

pub struct Cluster {
    pub router: Router,
    pub root: tempfile::TempDir,
    pub config: Arc<RaftConfig>,
    pub nodes: BTreeMap<NodeId, RaftNode>,
    pub ids: Vec<NodeId>,
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) and forms a group of all of them.
    pub async fn start(n: u64, config: Arc<RaftConfig>) -> Cluster {
        let mut cluster = Cluster {
            router: Router::new(),
            root: tempfile::tempdir().expect("a temporary directory"),
            config,
            nodes: BTreeMap::new(),
            ids: (1..=n).collect(),
        };
        for id in cluster.ids.clone() {
            cluster.start_node(id).await;
        }
        let members: BTreeMap<NodeId, Node> = cluster
            .ids
            .iter()
            .map(|&id| (id, Node::default()))
            .collect();
        cluster.nodes[&1]
            .initialize(members)
            .await
            .expect("the group forms");
        cluster.leader().await;
        cluster
    }

    fn dir(&self, id: NodeId) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    /// Starts node `id` on its directory (new or kept from before).
    pub async fn start_node(&mut self, id: NodeId) {
        let dir = self.dir(id);
        let engine = open_engine(dir.join("data")).await;
        let node = RaftNode::start(
            id,
            &dir.join("raft"),
            Arc::new(engine),
            self.router.network(id),
            self.config.clone(),
            LogStoreOptions::default(),
        )
        .await
        .expect("the node starts");
        self.router.add(id, node.raft().clone());
        self.nodes.insert(id, node);
    }

    /// Stops node `id` as a crash would look to the others: it answers
    /// nothing from now on, and its files stay as they are.
    pub async fn stop_node(&mut self, id: NodeId) {
        self.router.remove(id);
        let node = self.nodes.remove(&id).expect("the node runs");
        node.shutdown().await.expect("the node stops");
    }

    /// Waits for a leader that every running node agrees on.
    pub async fn leader(&self) -> NodeId {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen: Vec<Option<NodeId>> = self
                .nodes
                .values()
                .map(|node| node.metrics().current_leader)
                .collect();
            if let Some(Some(leader)) = seen.first()
                && seen.iter().all(|s| *s == Some(*leader))
                && self
                    .nodes
                    .get(leader)
                    .is_some_and(|node| node.role() == Role::Leader)
            {
                return *leader;
            }
            assert!(Instant::now() < deadline, "no leader agreed on: {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Writes through whichever node leads; see [`write_any`].
    pub async fn write(&self, commands: Vec<Command>) -> Result<Committed, ReplError> {
        let nodes: Vec<RaftNode> = self.nodes.values().cloned().collect();
        write_any(&nodes, commands).await
    }

    /// Waits until every running node applied as far as the leader.
    pub async fn settle(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let applied: Vec<_> = self
                .nodes
                .values()
                .map(|node| node.metrics().last_applied)
                .collect();
            let leader = self.leader().await;
            let target = self.nodes[&leader].metrics().last_log_index;
            if applied.iter().all(|a| a.map(|id| id.index) == target) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nodes did not converge: {applied:?} vs {target:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every key of node `id`'s engine with value, version and expiry.
    pub fn state_of(&self, id: NodeId) -> Vec<KeyValue> {
        let view = self.nodes[&id].engine().read_view().expect("a read view");
        view.iter()
            .collect::<Result<Vec<_>, _>>()
            .expect("the view reads")
    }

    /// Asserts that every running node holds the same keys, values and
    /// versions.
    pub fn assert_converged(&self) {
        let mut states = self.nodes.keys().map(|&id| (id, self.state_of(id)));
        let (first_id, first) = states.next().expect("a running node");
        for (id, state) in states {
            assert_eq!(
                state.len(),
                first.len(),
                "node {id} holds {} keys, node {first_id} {}",
                state.len(),
                first.len()
            );
            assert!(state == first, "node {id} differs from node {first_id}");
        }
    }
}

/// Opens a node's engine; a stopped node's engine may take a moment to be
/// released by the tasks that held it.
async fn open_engine(dir: PathBuf) -> SingleNodeEngine {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let config = EngineConfig::new(&dir)
            .durability(Durability::None)
            .expiry_sweep_keys_per_second(0);
        match SingleNodeEngine::with_config(config) {
            Ok(engine) => return engine,
            Err(EngineError::Locked { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("the engine opens: {error}"),
        }
    }
}

/// Writes through whichever of `nodes` leads, retrying while there is
/// none. A write that timed out may still commit later; callers treat only
/// acknowledged writes as known.
pub async fn write_any(nodes: &[RaftNode], commands: Vec<Command>) -> Result<Committed, ReplError> {
    let deadline = Instant::now() + PATIENCE;
    let mut at = 0;
    loop {
        let node = &nodes[at % nodes.len()];
        let outcome =
            tokio::time::timeout(Duration::from_secs(2), node.write(commands.clone())).await;
        match outcome {
            Ok(Ok(committed)) => return Ok(committed),
            Ok(Err(error @ ReplError::Engine(EngineError::VersionConflict { .. }))) => {
                return Err(error);
            }
            Ok(Err(ReplError::NotLeader {
                leader: Some(leader),
            })) if let Some(position) = nodes.iter().position(|n| n.node_id() == leader) => {
                at = position;
            }
            Ok(Err(_)) | Err(_) => {
                at += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert!(Instant::now() < deadline, "no write went through");
    }
}
