//! [`Router`]: an in-process network between the nodes of one process,
//! for tests of a whole group. It can cut links one way or both, isolate
//! a node, and delay or drop messages, so elections, partitions and
//! message loss run without sockets and with the same code paths as the
//! real network.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hightower_repl::NodeId;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use parking_lot::Mutex;

use crate::types::{Node, Raft, TypeConfig};

/// The links between the nodes of one process.
#[derive(Debug, Clone, Default)]
pub struct Router {
    state: Arc<Mutex<RouterState>>,
}

#[derive(Default)]
struct RouterState {
    nodes: HashMap<NodeId, Raft>,
    /// Directed links that carry nothing: (from, to).
    cut: HashSet<(NodeId, NodeId)>,
    /// Nodes no link reaches or leaves, whether they run now or start
    /// later.
    isolated: HashSet<NodeId>,
    /// Every message waits this long before delivery.
    delay: Duration,
    /// One message in this many is dropped (0: none).
    drop_one_in: u64,
    sent: u64,
    /// Messages lost to `drop_one_in`.
    dropped: u64,
}

impl std::fmt::Debug for RouterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterState")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .field("cut", &self.cut)
            .field("isolated", &self.isolated)
            .field("delay", &self.delay)
            .field("drop_one_in", &self.drop_one_in)
            .finish()
    }
}

/// A link failure, as the router reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LinkDown(String);

impl Router {
    /// A router with no nodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `raft` reachable as node `id`.
    pub fn add(&self, id: NodeId, raft: Raft) {
        self.state.lock().nodes.insert(id, raft);
    }

    /// Makes node `id` unreachable (it stopped).
    pub fn remove(&self, id: NodeId) {
        self.state.lock().nodes.remove(&id);
    }

    /// Cuts every link to and from `id`, also those to nodes that are
    /// stopped now and start before [`Router::heal`].
    pub fn isolate(&self, id: NodeId) {
        self.state.lock().isolated.insert(id);
    }

    /// Cuts the link from `from` to `to` only.
    pub fn cut_one_way(&self, from: NodeId, to: NodeId) {
        self.state.lock().cut.insert((from, to));
    }

    /// Splits the nodes into `groups`: links inside a group carry, links
    /// between groups do not.
    pub fn partition(&self, groups: &[&[NodeId]]) {
        let mut state = self.state.lock();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i == j {
                    continue;
                }
                for &from in *a {
                    for &to in *b {
                        state.cut.insert((from, to));
                    }
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        let mut state = self.state.lock();
        state.cut.clear();
        state.isolated.clear();
    }

    /// Delays every message by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().delay = delay;
    }

    /// Drops one message in `n` (0 drops none).
    pub fn set_drop_one_in(&self, n: u64) {
        self.state.lock().drop_one_in = n;
    }

    /// How many messages [`Router::set_drop_one_in`] has dropped so far.
    pub fn dropped(&self) -> u64 {
        self.state.lock().dropped
    }

    /// The network factory node `source` uses.
    pub fn network(&self, source: NodeId) -> RouterNetwork {
        RouterNetwork {
            router: self.clone(),
            source,
        }
    }

    /// The node a message from `from` to `to` reaches, and how long it
    /// takes; an error when the link carries nothing now.
    fn route(&self, from: NodeId, to: NodeId) -> Result<(Raft, Duration), LinkDown> {
        let mut state = self.state.lock();
        state.sent += 1;
        if state.cut.contains(&(from, to))
            || state.isolated.contains(&from)
            || state.isolated.contains(&to)
        {
            return Err(LinkDown(format!(
                "the link from node {from} to node {to} is cut"
            )));
        }
        if state.drop_one_in > 0 && state.sent.is_multiple_of(state.drop_one_in) {
            state.dropped += 1;
            return Err(LinkDown(format!(
                "a message from node {from} to node {to} was lost"
            )));
        }
        let raft = state
            .nodes
            .get(&to)
            .cloned()
            .ok_or_else(|| LinkDown(format!("node {to} is not running")))?;
        Ok((raft, state.delay))
    }

    async fn deliver(&self, from: NodeId, to: NodeId) -> Result<Raft, LinkDown> {
        let (raft, delay) = self.route(from, to)?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(raft)
    }
}

/// The network factory of one node over a [`Router`].
#[derive(Debug, Clone)]
pub struct RouterNetwork {
    router: Router,
    source: NodeId,
}

/// The link from one node to another over a [`Router`].
#[derive(Debug, Clone)]
pub struct RouterLink {
    router: Router,
    source: NodeId,
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for RouterNetwork {
    type Network = RouterLink;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> Self::Network {
        RouterLink {
            router: self.router.clone(),
            source: self.source,
            target,
        }
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl RouterLink {
    async fn target<E: std::error::Error>(
        &self,
    ) -> Result<Raft, RPCError<NodeId, Node, RaftError<NodeId, E>>> {
        self.router
            .deliver(self.source, self.target)
            .await
            .map_err(|down| RPCError::Unreachable(Unreachable::new(&down)))
    }

    fn remote<T, E: std::error::Error>(
        &self,
        outcome: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>> {
        outcome.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }

    /// The reply crosses the link back: a link cut one way loses it.
    fn back<T, E: std::error::Error>(
        &self,
        reply: T,
    ) -> Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>> {
        match self.router.route(self.target, self.source) {
            Ok(_) => Ok(reply),
            Err(down) => Err(RPCError::Network(NetworkError::new(&down))),
        }
    }
}

impl RaftNetwork<TypeConfig> for RouterLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let raft = self.target().await?;
        let reply = self.remote(raft.append_entries(rpc).await)?;
        self.back(reply)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let raft = self.target().await?;
        let reply = self.remote(raft.install_snapshot(rpc).await)?;
        self.back(reply)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let raft = self.target().await?;
        let reply = self.remote(raft.vote(rpc).await)?;
        self.back(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_cut(router: &Router, from: NodeId, to: NodeId) -> bool {
        router
            .route(from, to)
            .err()
            .is_some_and(|down| down.0.contains("is cut"))
    }

    #[test]
    fn an_isolated_node_stays_cut_from_nodes_that_start_later() {
        let router = Router::new();
        // No node runs yet: isolation must not depend on who runs.
        router.isolate(1);
        assert!(is_cut(&router, 1, 2));
        assert!(is_cut(&router, 3, 1));
        assert!(!is_cut(&router, 2, 3));
        router.heal();
        assert!(!is_cut(&router, 1, 2));
        assert!(!is_cut(&router, 3, 1));
    }

    #[test]
    fn a_partition_cuts_between_groups_only() {
        let router = Router::new();
        router.partition(&[&[1, 2], &[3]]);
        assert!(is_cut(&router, 1, 3));
        assert!(is_cut(&router, 3, 2));
        assert!(!is_cut(&router, 1, 2));
        router.cut_one_way(1, 2);
        assert!(is_cut(&router, 1, 2));
        assert!(!is_cut(&router, 2, 1));
    }

    #[test]
    fn one_message_in_n_is_dropped() {
        let router = Router::new();
        router.set_drop_one_in(4);
        let n_lost = (0..40)
            .filter(|_| {
                router
                    .route(1, 2)
                    .err()
                    .is_some_and(|down| down.0.contains("lost"))
            })
            .count();
        assert_eq!(n_lost, 10);
        assert_eq!(router.dropped(), 10);
    }
}
