//! Membership and status over the Raft port: what an operator asks of a
//! group (`hightower cluster status|add-learner|promote|remove`), and how
//! a node tells the group its client address.
//!
//! An [`AdminRequest`] travels in a frame of its own kind on the Raft
//! port, so only a holder of the cluster secret may send one. Any node
//! answers [`AdminRequest::Status`]; a change is made by the leader, and
//! another node answers [`AdminReply::NotLeader`] with the leader's Raft
//! address, which [`call`] follows. Every membership change goes through
//! openraft's joint consensus: one change at a time, each committed by a
//! majority of the old and of the new voters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hightower_repl::NodeId;
use openraft::{RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};

use crate::network::{ClusterSecret, RpcRequest, RpcResponse, TcpNetwork};
use crate::node::RaftNode;
use crate::types::{ChangeMembers, Node};

/// How far behind the leader's log a learner may be when it is promoted.
pub const PROMOTE_LAG_MAX: u64 = 1_000;

/// Leaders [`call`] follows before it gives up.
const HOPS_MAX: usize = 3;

/// The longest a Raft address or a client address may be.
const ADDR_BYTES_MAX: usize = 255;

/// What an operator (or a node, for its own client address) asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// How the group stands, as the node asked sees it.
    Status,
    /// Add node `id`, whose Raft port is at `addr`, as a learner: it gets
    /// the log but does not vote.
    AddLearner {
        /// The new node's id.
        id: NodeId,
        /// Its Raft address.
        addr: String,
    },
    /// Make learner `id` a voter.
    Promote {
        /// The learner.
        id: NodeId,
    },
    /// Remove node `id`, voter or learner, from the group.
    Remove {
        /// The node.
        id: NodeId,
    },
    /// Node `id` tells the group where its clients connect.
    SetClientAddr {
        /// The node.
        id: NodeId,
        /// Its client address.
        client_addr: String,
    },
}

/// The answer to an [`AdminRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminReply {
    /// To [`AdminRequest::Status`].
    Status(GroupStatus),
    /// The change is committed; what it did.
    Done(String),
    /// Only the leader makes changes; this is the one the node knows of.
    NotLeader {
        /// The leader's id, when there is one.
        leader: Option<NodeId>,
        /// Its Raft address.
        addr: Option<String>,
    },
    /// The change was refused or failed; why.
    Failed(String),
}

/// A group as one of its nodes sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// The node that answered.
    pub node_id: NodeId,
    /// Its role: `leader`, `follower`, `candidate`, `learner` or
    /// `shutdown`.
    pub role: String,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// The last log index it knows committed.
    pub commit_index: Option<u64>,
    /// The last log index it applied.
    pub applied_index: Option<u64>,
    /// The last index in its log.
    pub last_log_index: Option<u64>,
    /// Whether a membership change is half done (the joint configuration
    /// is in force).
    pub changing: bool,
    /// Every member, by id.
    pub members: Vec<MemberStatus>,
}

/// One member of a [`GroupStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Its id.
    pub id: NodeId,
    /// Its Raft address.
    pub addr: String,
    /// Its client address, empty until it announced it.
    pub client_addr: String,
    /// Whether it votes.
    pub voter: bool,
    /// The last log index the leader knows it holds (only in a leader's
    /// answer).
    pub matched: Option<u64>,
}

/// The last log index the leader knows node `id` holds (`None` on
/// another node, or before the leader heard from it).
fn matched_index(metrics: &RaftMetrics<NodeId, Node>, id: NodeId) -> Option<u64> {
    metrics
        .replication
        .as_ref()
        .and_then(|replication| replication.get(&id).copied().flatten())
        .map(|log_id| log_id.index)
}

fn check_addr(addr: &str) -> Result<(), String> {
    if addr.is_empty() || addr.len() > ADDR_BYTES_MAX || addr.chars().any(char::is_whitespace) {
        return Err(format!(
            "an address is HOST:PORT, 1 to {ADDR_BYTES_MAX} bytes without spaces"
        ));
    }
    Ok(())
}

impl RaftNode {
    /// Answers an operator's request (see the module's documentation).
    pub async fn admin(&self, request: AdminRequest) -> AdminReply {
        let metrics = self.metrics();
        if request == AdminRequest::Status {
            return AdminReply::Status(self.group_status());
        }
        if metrics.state != ServerState::Leader {
            let leader = metrics.current_leader;
            let addr = leader
                .and_then(|id| {
                    metrics
                        .membership_config
                        .membership()
                        .get_node(&id)
                        .cloned()
                })
                .map(|node| node.addr);
            return AdminReply::NotLeader { leader, addr };
        }
        let membership = metrics.membership_config.membership().clone();
        let is_voter = |id: NodeId| membership.voter_ids().any(|voter| voter == id);
        let change = match request {
            AdminRequest::Status => unreachable!("answered above"),
            AdminRequest::AddLearner { id, addr } => {
                if let Err(reason) = check_addr(&addr) {
                    return AdminReply::Failed(reason);
                }
                if membership.get_node(&id).is_some() {
                    return AdminReply::Failed(format!("node {id} is already a member"));
                }
                return match self.raft().add_learner(id, Node::new(&addr), false).await {
                    Ok(_) => AdminReply::Done(format!(
                        "node {id} at {addr} added as a learner; it catches up from the log \
                         or a snapshot (see `cluster status`), then it can be promoted"
                    )),
                    Err(error) => AdminReply::Failed(error.to_string()),
                };
            }
            AdminRequest::Promote { id } => {
                if is_voter(id) {
                    return AdminReply::Failed(format!("node {id} is a voter already"));
                }
                if membership.get_node(&id).is_none() {
                    return AdminReply::Failed(format!(
                        "node {id} is not a member; add it as a learner first"
                    ));
                }
                let matched = matched_index(&metrics, id);
                let last = metrics.last_log_index.unwrap_or(0);
                let behind = last.saturating_sub(matched.unwrap_or(0));
                if matched.is_none() || behind > PROMOTE_LAG_MAX {
                    return AdminReply::Failed(format!(
                        "node {id} is {behind} entries behind the leader (at most \
                         {PROMOTE_LAG_MAX} to be promoted); wait until `cluster status` shows \
                         it caught up"
                    ));
                }
                (
                    ChangeMembers::AddVoterIds(BTreeSet::from([id])),
                    format!("node {id} is a voter"),
                )
            }
            AdminRequest::Remove { id } => {
                if is_voter(id) {
                    if membership.voter_ids().count() == 1 {
                        return AdminReply::Failed(format!("node {id} is the group's last voter"));
                    }
                    (
                        ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                        format!("node {id} is no longer a member"),
                    )
                } else if membership.get_node(&id).is_some() {
                    (
                        ChangeMembers::RemoveNodes(BTreeSet::from([id])),
                        format!("learner {id} is no longer a member"),
                    )
                } else {
                    return AdminReply::Failed(format!("node {id} is not a member"));
                }
            }
            AdminRequest::SetClientAddr { id, client_addr } => {
                if let Err(reason) = check_addr(&client_addr) {
                    return AdminReply::Failed(reason);
                }
                let Some(node) = membership.get_node(&id) else {
                    return AdminReply::Failed(format!("node {id} is not a member"));
                };
                if node.client_addr == client_addr {
                    return AdminReply::Done(format!("node {id} serves clients at {client_addr}"));
                }
                // Only the client address changes: the Raft address stays
                // what the group reaches the node at.
                let node = Node {
                    addr: node.addr.clone(),
                    client_addr: client_addr.clone(),
                };
                (
                    ChangeMembers::SetNodes(BTreeMap::from([(id, node)])),
                    format!("node {id} serves clients at {client_addr}"),
                )
            }
        };
        let (change, done) = change;
        match self.raft().change_membership(change, false).await {
            Ok(_) => AdminReply::Done(done),
            Err(error) => AdminReply::Failed(error.to_string()),
        }
    }

    /// The group as this node sees it.
    pub fn group_status(&self) -> GroupStatus {
        let status = self.status();
        let metrics = self.metrics();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(&id, node)| MemberStatus {
                id,
                addr: node.addr.clone(),
                client_addr: node.client_addr.clone(),
                voter: voters.contains(&id),
                matched: matched_index(&metrics, id).or_else(|| {
                    (id == status.node_id)
                        .then_some(status.last_log_index)
                        .flatten()
                }),
            })
            .collect();
        GroupStatus {
            node_id: status.node_id,
            role: status.role.to_string(),
            term: status.term,
            leader: status.leader_id,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            last_log_index: status.last_log_index,
            changing: membership.get_joint_config().len() > 1,
            members,
        }
    }

    /// Starts telling the group, through its leader, that this node's
    /// clients connect at `client_addr`, whenever the membership says
    /// otherwise (on the first start, after it was added, after a
    /// restart on another port). Checks every second; the task ends when
    /// the node shuts down.
    pub fn spawn_client_addr_announcer(
        &self,
        client_addr: String,
        network: TcpNetwork,
    ) -> tokio::task::JoinHandle<()> {
        const TICK: Duration = Duration::from_secs(1);
        self.spawn_every(TICK, move |node, metrics| {
            let (client_addr, network) = (client_addr.clone(), network.clone());
            async move { announce_client_addr(&node, &metrics, client_addr, &network).await }
        })
    }
}

/// One round of [`RaftNode::spawn_client_addr_announcer`].
async fn announce_client_addr(
    node: &RaftNode,
    metrics: &RaftMetrics<NodeId, Node>,
    client_addr: String,
    network: &TcpNetwork,
) {
    let membership = metrics.membership_config.membership();
    let Some(own) = membership.get_node(&node.id()) else {
        return;
    };
    if own.client_addr == client_addr || metrics.current_leader.is_none() {
        return;
    }
    let request = AdminRequest::SetClientAddr {
        id: node.id(),
        client_addr,
    };
    let reply = if metrics.current_leader == Some(node.id()) {
        node.admin(request).await
    } else {
        let Some(leader) = metrics
            .current_leader
            .and_then(|id| membership.get_node(&id))
        else {
            return;
        };
        match call_once(network, &leader.addr, &request, Duration::from_secs(5)).await {
            Ok(reply) => reply,
            Err(error) => AdminReply::Failed(error),
        }
    };
    if let AdminReply::Failed(reason) = reply {
        tracing::debug!(%reason, "announcing the client address again later");
    }
}

async fn call_once(
    network: &TcpNetwork,
    addr: &str,
    request: &AdminRequest,
    deadline: Duration,
) -> Result<AdminReply, String> {
    let mut link = network.link(0, addr.to_string());
    match link
        .call(&RpcRequest::Admin(request.clone()), deadline)
        .await
        .map_err(|error| format!("node at {addr}: {error}"))?
    {
        RpcResponse::Admin(reply) => Ok(reply),
        _ => Err(format!("node at {addr} answered another request")),
    }
}

/// Sends `request` to the node at `addr`, proving `secret`, and follows
/// the leader it names for a change (at most a few hops). Each hop may
/// take up to `deadline`.
pub async fn call(
    secret: &ClusterSecret,
    addr: &str,
    request: AdminRequest,
    deadline: Duration,
) -> Result<AdminReply, String> {
    let network = TcpNetwork::new(secret.clone());
    let mut addr = addr.to_string();
    for _ in 0..HOPS_MAX {
        match call_once(&network, &addr, &request, deadline).await? {
            AdminReply::NotLeader {
                addr: Some(leader_addr),
                ..
            } if leader_addr != addr => addr = leader_addr,
            reply => return Ok(reply),
        }
    }
    Err(format!(
        "the leader changed {HOPS_MAX} times while the request looked for it; retry"
    ))
}
