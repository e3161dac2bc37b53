//! A group of nodes in one process over the in-process router, for the
//! cluster tests: start, stop and restart nodes on their own directories,
//! find the leader, write with retries, and compare the nodes' states.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hightower_engine::{
    Clock, Command, Committed, Durability, EngineConfig, EngineError, KeyValue, ManualClock,
    SingleNodeEngine,
};
use hightower_raft::types::{Node, RaftConfig};
use hightower_raft::{LogStoreOptions, RaftNode, Router};
use hightower_repl::{NodeId, ReplError, ReplicationHandle, Role};
use parking_lot::Mutex;

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

/// The nodes running now, for client tasks that outlive a node's stop
/// and restart: they take a handle for one call and let it go, so a
/// stopped node's engine is released soon.
pub type Live = Arc<Mutex<BTreeMap<NodeId, RaftNode>>>;

pub struct Cluster {
    pub router: Router,
    pub root: tempfile::TempDir,
    pub config: Arc<RaftConfig>,
    pub nodes: BTreeMap<NodeId, RaftNode>,
    pub ids: Vec<NodeId>,
    pub live: Live,
    /// The log settings of nodes started from now on.
    pub log_options: LogStoreOptions,
    /// The clock of each node's engine that has one of its own (the
    /// others use the system clock).
    pub clocks: BTreeMap<NodeId, Arc<ManualClock>>,
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) and forms a group of all of them.
    pub async fn start(n: u64, config: Arc<RaftConfig>) -> Cluster {
        Self::start_with(n, config, LogStoreOptions::default()).await
    }

    /// Starts `n` nodes with `log_options` and forms a group of them.
    pub async fn start_with(
        n: u64,
        config: Arc<RaftConfig>,
        log_options: LogStoreOptions,
    ) -> Cluster {
        Self::start_clocked(n, config, log_options, BTreeMap::new()).await
    }

    /// Starts `n` nodes whose engines judge expiry by `clocks` (where a
    /// node has one) and forms a group of them.
    pub async fn start_clocked(
        n: u64,
        config: Arc<RaftConfig>,
        log_options: LogStoreOptions,
        clocks: BTreeMap<NodeId, Arc<ManualClock>>,
    ) -> Cluster {
        let mut cluster = Cluster {
            router: Router::new(),
            root: tempfile::tempdir().expect("a temporary directory"),
            config,
            nodes: BTreeMap::new(),
            ids: (1..=n).collect(),
            live: Live::default(),
            log_options,
            clocks,
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
        let clock = self
            .clocks
            .get(&id)
            .map(|clock| clock.clone() as Arc<dyn Clock>);
        let engine = open_engine(dir.join("data"), clock).await;
        let node = RaftNode::start(
            id,
            &dir.join("raft"),
            Arc::new(engine),
            self.router.network(id),
            self.config.clone(),
            self.log_options.clone(),
        )
        .await
        .expect("the node starts");
        self.router.add(id, node.raft().clone());
        self.live.lock().insert(id, node.clone());
        self.nodes.insert(id, node);
    }

    /// Stops node `id` as a crash would look to the others: it answers
    /// nothing from now on, and its files stay as they are.
    pub async fn stop_node(&mut self, id: NodeId) {
        self.router.remove(id);
        self.live.lock().remove(&id);
        let node = self.nodes.remove(&id).expect("the node runs");
        node.shutdown().await.expect("the node stops");
    }

    /// Starts every node of the group that is not running.
    pub async fn start_stopped(&mut self) {
        for id in self.ids.clone() {
            if !self.nodes.contains_key(&id) {
                self.start_node(id).await;
            }
        }
    }

    /// Waits for a leader that every running node agrees on.
    pub async fn leader(&self) -> NodeId {
        let running: Vec<NodeId> = self.nodes.keys().copied().collect();
        self.leader_among(&running).await
    }

    /// Waits for a leader among `ids` that every one of them agrees on
    /// (the side of a partition that can elect one).
    pub async fn leader_among(&self, ids: &[NodeId]) -> NodeId {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen: Vec<Option<NodeId>> = ids
                .iter()
                .filter_map(|id| self.nodes.get(id))
                .map(|node| node.metrics().current_leader)
                .collect();
            if let Some(Some(leader)) = seen.first()
                && seen.iter().all(|s| *s == Some(*leader))
                && ids.contains(leader)
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
async fn open_engine(dir: PathBuf, clock: Option<Arc<dyn Clock>>) -> SingleNodeEngine {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut config = EngineConfig::new(&dir)
            .durability(Durability::None)
            .expiry_sweep_keys_per_second(0);
        if let Some(clock) = &clock {
            config = config.clock(clock.clone());
        }
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

/// What one write attempt on one node came to.
#[derive(Debug)]
pub enum Attempt {
    /// Committed and applied.
    Committed(Committed),
    /// A condition did not hold; the key was at this version (absent:
    /// `None`). Nothing was written.
    Conflict(Option<u64>),
    /// The write certainly took no effect: the node does not lead (it
    /// proposed nothing, or its entry was cut by a newer leader's log) or
    /// the batch was refused. `leader` is who leads, when known.
    NotTaken { leader: Option<NodeId> },
    /// No answer in time, or the node went away: the write may still
    /// commit.
    Unknown,
}

/// One write attempt through `node`, waiting at most `timeout`.
pub async fn write_once(node: &RaftNode, commands: Vec<Command>, timeout: Duration) -> Attempt {
    match tokio::time::timeout(timeout, node.write(commands)).await {
        Ok(Ok(committed)) => Attempt::Committed(committed),
        Ok(Err(ReplError::Engine(EngineError::VersionConflict { actual, .. }))) => {
            Attempt::Conflict(actual)
        }
        Ok(Err(ReplError::NotLeader { leader })) => Attempt::NotTaken { leader },
        Ok(Err(ReplError::Refused { .. })) => Attempt::NotTaken { leader: None },
        Ok(Err(_)) | Err(_) => Attempt::Unknown,
    }
}

/// A small deterministic generator (SplitMix64) for the tests' random
/// choices, so that a seed names a run's schedule.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration in `low..high`.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_millis() as u64;
        low + Duration::from_millis(self.below(span))
    }
}
