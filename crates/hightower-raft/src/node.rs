//! [`RaftNode`]: one member of a Raft group, its log store and state
//! machine, and the replication traits of `hightower-repl` over them.
//!
//! The async methods ([`RaftNode::write`], [`RaftNode::read_barrier`],
//! ...) are the native interface. The traits are blocking: they hand the
//! work to the node's runtime and wait for it on a channel, so they must
//! be called from a thread that is not one of that runtime's workers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hightower_engine::{Command, Committed, EngineError, KeyDisplay, KeyValue, Versioned};
use hightower_repl::{
    CommandSubmitter, LogEntry, NodeId, ReplError, ReplicaSnapshot, ReplicationHandle, Role,
    SnapshotProvider,
};
use openraft::error::{ClientWriteError, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{RaftMetrics, ServerState};
use tokio::runtime::Handle;

use crate::log_store::{LogStoreOptions, RaftLogStore};
use crate::network::{RpcRequest, RpcResponse, TcpNetwork};
use crate::state_machine::{EngineStateMachine, MachineEngine, check_request};
use crate::types::{
    LogId, Node, Raft, RaftConfig, Request, Response, TypeConfig, WireCommand, WireExpect,
};

/// The log's directory under a node's Raft directory.
pub const LOG_DIR: &str = "log";
/// The snapshot's directory under a node's Raft directory.
pub const SNAPSHOT_DIR: &str = "snapshot";

/// How long a write or a read point forwarded to the leader may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// One running member of a Raft group.
#[derive(Clone)]
pub struct RaftNode {
    id: NodeId,
    raft: Raft,
    machine: EngineStateMachine,
    log: RaftLogStore,
    runtime: Handle,
    forwarder: Option<Arc<Forwarder>>,
    /// Unconditional writes waiting to share a log entry.
    merger: Arc<Merger>,
    /// Read points this node confirms as the leader.
    leader_points: Arc<ReadPoints>,
    /// Read points this node asks the leader for.
    forwarded_points: Arc<ReadPoints>,
}

/// Proposals a node keeps on their way to the log at once.
const PROPOSALS_IN_FLIGHT: usize = 2;

/// Commands one merged entry holds at most.
const MERGED_COMMANDS_MAX: usize = 4_096;

/// Key and value bytes one merged entry holds at most.
const MERGED_BYTES_MAX: usize = 4 << 20;

/// Unconditional writes waiting to be proposed, merged into one log entry
/// each time a proposal slot is free: while a proposal is on its way to a
/// majority, the writes that arrive meanwhile gather here, so a busy
/// group commits many writes per entry (and per fsync) instead of one.
///
/// Only writes without conditions are merged: a batch of them cannot fail
/// on a condition, so one entry of several behaves as those requests one
/// after the other, each at its own consecutive versions, and each caller
/// gets its own versions back.
#[derive(Debug)]
struct Merger {
    queue: parking_lot::Mutex<std::collections::VecDeque<Waiting>>,
    slots: tokio::sync::Semaphore,
    /// The id of the next write queued.
    next_id: AtomicU64,
}

impl Default for Merger {
    fn default() -> Self {
        Merger {
            queue: parking_lot::Mutex::default(),
            slots: tokio::sync::Semaphore::new(PROPOSALS_IN_FLIGHT),
            next_id: AtomicU64::new(0),
        }
    }
}

/// A write waiting in the [`Merger`].
#[derive(Debug)]
struct Waiting {
    /// Its place in the queue's order.
    id: u64,
    request: Request,
    done: tokio::sync::oneshot::Sender<Result<Committed, ReplError>>,
}

impl Merger {
    /// The oldest waiting writes, up to an entry's bounds (at least one),
    /// when write `id` is still among them. Otherwise a proposal took it
    /// while its caller waited for a slot, and nothing is taken: the
    /// writes queued since are left to their own callers, so that they
    /// gather into one entry rather than trickle out one by one.
    fn take_if_queued(&self, id: u64, bytes_max: usize) -> Vec<Waiting> {
        let mut queue = self.queue.lock();
        if !queue.iter().any(|waiting| waiting.id == id) {
            return Vec::new();
        }
        let (mut commands, mut bytes) = (0, 0);
        let mut taken = Vec::new();
        while let Some(next) = queue.front() {
            let next_bytes = request_bytes(&next.request);
            let fits = commands + next.request.commands.len() <= MERGED_COMMANDS_MAX
                && bytes + next_bytes <= bytes_max;
            if !taken.is_empty() && !fits {
                break;
            }
            commands += next.request.commands.len();
            bytes += next_bytes;
            taken.extend(queue.pop_front());
        }
        taken
    }
}

/// Key and value bytes one merged entry holds at most, well inside the
/// engine's batch limit (which also counts each record's framing).
fn merged_bytes_max(limits: &hightower_log::Limits) -> usize {
    MERGED_BYTES_MAX.min(limits.batch_bytes_max / 2)
}

/// Key and value bytes of a request.
fn request_bytes(request: &Request) -> usize {
    request
        .commands
        .iter()
        .map(|command| match command {
            WireCommand::Put { key, value, .. } => key.len() + value.len(),
            WireCommand::Delete { key, .. } | WireCommand::Check { key, .. } => key.len(),
        })
        .sum()
}

/// Whether `request` may share an entry with others: puts and deletes
/// without a condition, each within the engine's limits (so that applying
/// it cannot refuse it and with it the others), and small enough to merge.
fn merged_alike(request: &Request, limits: &hightower_log::Limits) -> bool {
    !request.sees_expired
        && request_bytes(request) <= merged_bytes_max(limits)
        && request.commands.len() <= MERGED_COMMANDS_MAX
        && request.commands.iter().all(|command| match command {
            WireCommand::Put {
                key,
                value,
                expect: WireExpect::Any,
                ..
            } => {
                !key.is_empty()
                    && key.len() <= limits.key_bytes_max
                    && value.len() <= limits.value_bytes_max
            }
            WireCommand::Delete {
                key,
                expect: WireExpect::Any,
            } => !key.is_empty() && key.len() <= limits.key_bytes_max,
            _ => false,
        })
}

/// The failure of a merged proposal, for each write that shared it.
fn shared_error(error: &ReplError) -> ReplError {
    match error {
        ReplError::NotLeader { leader } => ReplError::NotLeader { leader: *leader },
        ReplError::Refused { reason } => ReplError::Refused {
            reason: reason.clone(),
        },
        other => unavailable(other),
    }
}

/// Read points shared by concurrent reads: one confirmation at a time,
/// and every read that asked before a confirmation began takes that
/// confirmation's point, so a burst of reads costs one round trip to a
/// quorum rather than one each.
///
/// Why that is linearizable: a point confirmed after a read began (the
/// leader's applied log id once a quorum acknowledged it still leads) is
/// at least every write committed before the read began.
#[derive(Debug, Default)]
struct ReadPoints {
    /// Tickets handed out, one per read that asked.
    asked: AtomicU64,
    /// Held through a confirmation; the last confirmed round.
    round: tokio::sync::Mutex<Round>,
}

/// A confirmed round of [`ReadPoints`].
#[derive(Debug, Default)]
struct Round {
    /// Reads with a ticket up to this one asked before the round began.
    covered: u64,
    /// Its point.
    point: Option<LogId>,
}

impl ReadPoints {
    /// A read point for a read that asks now: the point of a round that
    /// began after it asked, running `confirm` for a new round when no
    /// such round was confirmed while it waited. A failed round is this
    /// caller's alone; the next waiter runs a round of its own.
    async fn get<E>(
        &self,
        confirm: impl std::future::Future<Output = Result<Option<LogId>, E>>,
    ) -> Result<Option<LogId>, E> {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut round = self.round.lock().await;
        if round.covered >= ticket {
            return Ok(round.point);
        }
        let covers = self.asked.load(Ordering::SeqCst);
        let point = confirm.await?;
        *round = Round {
            covered: covers,
            point,
        };
        Ok(point)
    }
}

/// Sends what a follower cannot do itself to the leader (over the
/// network's pooled connections).
struct Forwarder {
    network: TcpNetwork,
}

impl Forwarder {
    async fn call(
        &self,
        leader: NodeId,
        node: &Node,
        request: RpcRequest,
    ) -> Result<RpcResponse, ReplError> {
        self.network
            .link(leader, node.addr.clone())
            .call(&request, FORWARD_TIMEOUT)
            .await
            .map_err(|error| {
                unavailable(format!(
                    "the leader, node {leader} at {}, did not answer: {error}",
                    node.addr
                ))
            })
    }
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

fn unavailable(reason: impl std::fmt::Display) -> ReplError {
    ReplError::Unavailable {
        reason: reason.to_string(),
    }
}

/// What a write's error means to a client.
fn write_error(error: RaftError<NodeId, ClientWriteError<NodeId, Node>>) -> ReplError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => ReplError::NotLeader {
            leader: forward.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(error)) => ReplError::Refused {
            reason: error.to_string(),
        },
        RaftError::Fatal(fatal) => unavailable(fatal),
    }
}

impl RaftNode {
    /// Starts node `id` with its log and snapshot under `raft_dir` and
    /// its state machine over `engine`, talking to the others through
    /// `network`. Must run inside a tokio runtime, which then runs the
    /// node's tasks. A node that has never been a member waits to be
    /// initialized ([`RaftNode::initialize`]) or added by a leader.
    pub async fn start<N: RaftNetworkFactory<TypeConfig>>(
        id: NodeId,
        raft_dir: &Path,
        engine: Arc<dyn MachineEngine>,
        network: N,
        config: Arc<RaftConfig>,
        log_options: LogStoreOptions,
    ) -> Result<Self, ReplError> {
        let vfs = log_options.vfs.clone();
        let log =
            RaftLogStore::open_with(raft_dir.join(LOG_DIR), log_options).map_err(unavailable)?;
        let machine = EngineStateMachine::open(engine, vfs, raft_dir.join(SNAPSHOT_DIR))
            .map_err(unavailable)?;
        let raft = Raft::new(id, config, network, log.clone(), machine.clone())
            .await
            .map_err(unavailable)?;
        Ok(RaftNode {
            id,
            raft,
            machine,
            log,
            runtime: Handle::current(),
            forwarder: None,
            merger: Arc::default(),
            leader_points: Arc::default(),
            forwarded_points: Arc::default(),
        })
    }

    /// The same node, sending writes and read points it gets as a
    /// follower to the leader over `network` (without it, a follower
    /// answers them with [`ReplError::NotLeader`]).
    pub fn forwarding_through(mut self, network: TcpNetwork) -> Self {
        self.forwarder = Some(Arc::new(Forwarder { network }));
        self
    }

    /// The leader this node knows of, with its address, when it is another
    /// node and this one can forward to it.
    fn forward_target(&self) -> Option<(&Forwarder, NodeId, Node)> {
        let forwarder = self.forwarder.as_deref()?;
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader.filter(|&leader| leader != self.id)?;
        let node = metrics
            .membership_config
            .membership()
            .get_node(&leader)?
            .clone();
        Some((forwarder, leader, node))
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Raft's own handle, for what this type does not wrap.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The log store.
    pub fn log_store(&self) -> &RaftLogStore {
        &self.log
    }

    /// The engine the state machine applies to.
    pub fn engine(&self) -> &Arc<dyn MachineEngine> {
        self.machine.engine()
    }

    /// What the node reports of itself now.
    pub fn metrics(&self) -> RaftMetrics<NodeId, Node> {
        self.raft.metrics().borrow().clone()
    }

    /// Where this node stands in its group now.
    pub fn status(&self) -> hightower_engine::ReplicationStatus {
        let metrics = self.metrics();
        let role = match metrics.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let membership = metrics.membership_config.membership();
        let leader = metrics
            .current_leader
            .and_then(|leader| membership.get_node(&leader));
        let leader_addr = leader
            .map(|node| node.client_addr.clone())
            .filter(|addr| !addr.is_empty());
        let leader_raft_addr = leader.map(|node| node.addr.clone());
        let commit_index = self.log.committed().map(|id| id.index);
        hightower_engine::ReplicationStatus {
            role,
            node_id: self.id,
            term: metrics.current_term,
            leader_id: metrics.current_leader,
            leader_addr,
            leader_raft_addr,
            commit_index,
            applied_index: metrics.last_applied.map(|id| id.index),
            last_log_index: metrics.last_log_index,
            voters: membership.voter_ids().collect(),
        }
    }

    /// Forms a new group of `members` with this node in it. Only on the
    /// first start of a group, and on one node (or on every node with the
    /// same members); a node that holds any log refuses.
    pub async fn initialize(&self, members: BTreeMap<NodeId, Node>) -> Result<(), ReplError> {
        self.raft
            .initialize(members)
            .await
            .map_err(|error| ReplError::Refused {
                reason: error.to_string(),
            })
    }

    /// Replicates `commands` as one atomic batch through the leader and
    /// returns once a majority has it and this node applied it, command
    /// `i` that writes at `first_version + i`. A condition that does not
    /// hold comes back as the engine's `VersionConflict`.
    ///
    /// Writes without conditions that arrive while others are on their way
    /// share one log entry ([`Merger`]): the group commits them in one
    /// round, each at its own versions.
    pub async fn write(&self, commands: Vec<Command>) -> Result<Committed, ReplError> {
        let request = Request::at(commands, self.engine().now_ms());
        if merged_alike(&request, &self.engine().config().limits) {
            self.propose_merged(request).await
        } else {
            self.propose(request).await
        }
    }

    /// Proposes `request` (unconditional, see [`merged_alike`]) together
    /// with the others waiting when a proposal slot frees up.
    async fn propose_merged(&self, request: Request) -> Result<Committed, ReplError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let id = self.merger.next_id.fetch_add(1, Ordering::Relaxed);
        self.merger
            .queue
            .lock()
            .push_back(Waiting { id, request, done });
        let permit = self
            .merger
            .slots
            .acquire()
            .await
            .map_err(|_| unavailable("the node is shutting down"))?;
        let batch = self
            .merger
            .take_if_queued(id, merged_bytes_max(&self.engine().config().limits));
        if !batch.is_empty() {
            let counts: Vec<u32> = batch
                .iter()
                .map(|waiting| waiting.request.commands.len() as u32)
                .collect();
            let mut commands = Vec::with_capacity(counts.iter().sum::<u32>() as usize);
            let mut judged_at_ms = 0;
            let mut senders = Vec::with_capacity(batch.len());
            for waiting in batch {
                judged_at_ms = judged_at_ms.max(waiting.request.judged_at_ms);
                commands.extend(waiting.request.commands);
                senders.push(waiting.done);
            }
            let merged = Request {
                commands,
                judged_at_ms,
                sees_expired: false,
            };
            let outcome = self.propose(merged).await;
            drop(permit);
            // A caller that stopped waiting needs no answer.
            match outcome {
                Ok(committed) => {
                    let mut next = committed.first_version;
                    for (done, count) in senders.into_iter().zip(counts) {
                        let _ = done.send(Ok(Committed {
                            first_version: next,
                            count,
                        }));
                        next += u64::from(count);
                    }
                }
                Err(error) => {
                    for done in senders {
                        let _ = done.send(Err(shared_error(&error)));
                    }
                }
            }
        } else {
            drop(permit);
        }
        outcome
            .await
            .map_err(|_| unavailable("the write's proposal was abandoned; it may have committed"))?
    }

    /// Replicates `request` (see [`RaftNode::write`]).
    async fn propose(&self, request: Request) -> Result<Committed, ReplError> {
        check_request(&request).map_err(|reason| ReplError::Refused { reason })?;
        let reply = match self.forward_target() {
            Some((forwarder, leader, node)) => {
                match forwarder
                    .call(leader, &node, RpcRequest::ClientWrite(request))
                    .await?
                {
                    RpcResponse::ClientWrite(outcome) => outcome.map_err(write_error)?,
                    _ => return Err(unavailable("the leader answered another request")),
                }
            }
            None => self.raft.client_write(request).await.map_err(write_error)?,
        };
        match reply.data {
            Response::Applied {
                first_version,
                count,
            } => Ok(Committed {
                first_version,
                count,
            }),
            Response::Conflict {
                key,
                expected,
                actual,
            } => Err(ReplError::Engine(EngineError::VersionConflict {
                key: KeyDisplay(key),
                expected: expected.into(),
                actual,
            })),
            Response::Refused { reason } => Err(ReplError::Refused { reason }),
            Response::Membership => Err(unavailable(
                "a client write was applied as a membership entry",
            )),
        }
    }

    /// Returns once this node is sure it is the leader and has applied
    /// every write committed before the call: a read after it is
    /// linearizable.
    ///
    /// On a follower that can forward, the leader names the point (the
    /// log id it has applied once it confirmed its leadership) and the
    /// follower waits until it applied that far itself.
    pub async fn read_barrier(&self) -> Result<(), ReplError> {
        let not_leader = |error| match error {
            RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(forward)) => {
                ReplError::NotLeader {
                    leader: forward.leader_id,
                }
            }
            other => unavailable(other),
        };
        let point = match self.forward_target() {
            Some((forwarder, leader, node)) => {
                self.forwarded_points
                    .get(async {
                        match forwarder.call(leader, &node, RpcRequest::ReadIndex).await? {
                            RpcResponse::ReadIndex(outcome) => outcome.map_err(not_leader),
                            _ => Err(unavailable("the leader answered another request")),
                        }
                    })
                    .await?
            }
            None => self.leader_read_point().await.map_err(not_leader)?,
        };
        if let Some(point) = point {
            self.raft
                .wait(Some(FORWARD_TIMEOUT))
                .applied_index_at_least(Some(point.index), "a read point")
                .await
                .map_err(|error| unavailable(format!("catching up to the leader: {error}")))?;
        }
        Ok(())
    }

    /// The point a linearizable read must wait for, confirmed by this node
    /// as the leader (concurrent callers share a confirmation); an error
    /// when it does not lead. What a follower's `ReadIndex` gets.
    pub async fn leader_read_point(
        &self,
    ) -> Result<Option<LogId>, RaftError<NodeId, openraft::error::CheckIsLeaderError<NodeId, Node>>>
    {
        self.leader_points
            .get(self.raft.ensure_linearizable())
            .await
    }

    /// A linearizable read of `key`, through the leader.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Versioned>, ReplError> {
        self.read_barrier().await?;
        Ok(self.engine().get(key)?)
    }

    /// Adds `id` at `node` as a learner and waits until it caught up.
    pub async fn add_learner(&self, id: NodeId, node: Node) -> Result<(), ReplError> {
        self.raft
            .add_learner(id, node, true)
            .await
            .map(|_| ())
            .map_err(write_error)
    }

    /// Makes `voters` the voting members, through joint consensus;
    /// members left out stay as learners when `keep_as_learners`.
    pub async fn change_membership(
        &self,
        voters: std::collections::BTreeSet<NodeId>,
        keep_as_learners: bool,
    ) -> Result<(), ReplError> {
        self.raft
            .change_membership(voters, keep_as_learners)
            .await
            .map(|_| ())
            .map_err(write_error)
    }

    /// Starts deleting, while this node leads, the keys whose expiry time
    /// has come, through the log, at most `keys_per_second` (every node
    /// applies the same deletes; a node's own engine never deletes by
    /// itself). Each delete holds only if the key is still at the version
    /// that expired, so a key written again meanwhile stays. The task ends
    /// when the node shuts down.
    pub fn spawn_expiry_sweep(&self, keys_per_second: usize) -> tokio::task::JoinHandle<()> {
        const TICK: Duration = Duration::from_millis(100);
        let per_tick = keys_per_second.div_ceil(10).max(1);
        self.spawn_every(TICK, move |node, metrics| async move {
            if metrics.state == ServerState::Leader {
                node.sweep_once(per_tick).await;
            }
        })
    }

    /// Runs `round` every `tick`, with the node's metrics of that moment,
    /// until the node shuts down.
    pub(crate) fn spawn_every<F, Fut>(
        &self,
        tick: Duration,
        mut round: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnMut(RaftNode, RaftMetrics<NodeId, Node>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let node = self.clone();
        self.runtime.spawn(async move {
            let mut ticks = tokio::time::interval(tick);
            loop {
                ticks.tick().await;
                let metrics = node.metrics();
                if metrics.state == ServerState::Shutdown {
                    return;
                }
                round(node.clone(), metrics).await;
            }
        })
    }

    /// One round of the leader's sweep.
    async fn sweep_once(&self, limit: usize) {
        let engine = self.engine();
        let mut due = engine.expired_keys(limit);
        // Each round drops a key, so the loop ends.
        while !due.is_empty() {
            let deletes = due
                .iter()
                .map(|(key, version)| {
                    Command::delete(key.clone())
                        .expecting(hightower_engine::Expect::Version(*version))
                })
                .collect();
            let request = Request::at(deletes, engine.now_ms()).seeing_expired();
            match self.propose(request).await {
                Ok(_) => return,
                Err(ReplError::Engine(EngineError::VersionConflict { key, .. })) => {
                    let before = due.len();
                    due.retain(|(due_key, version)| {
                        let changed = *due_key == key.0;
                        if changed {
                            engine.forget_expired(due_key, *version);
                        }
                        !changed
                    });
                    if due.len() == before {
                        return;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "the expiry sweep will try again");
                    return;
                }
            }
        }
    }

    /// Takes a snapshot of everything applied and purges the log behind
    /// it, waiting up to `timeout` for both: a member added afterwards
    /// starts from the snapshot, not from the log's first entry. This is
    /// how a group of one brings a store's existing data into the group:
    /// data that never went through the log reaches the others only in a
    /// snapshot.
    pub async fn snapshot_and_purge(&self, timeout: Duration) -> Result<LogId, ReplError> {
        let last = self.metrics().last_log_index;
        let applied = self
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(last, "everything in the log applied")
            .await
            .map_err(|error| unavailable(format!("applying the log: {error}")))?
            .last_applied
            .ok_or_else(|| unavailable("the log is empty"))?;
        self.raft.trigger().snapshot().await.map_err(unavailable)?;
        self.raft
            .wait(Some(timeout))
            .metrics(
                |metrics| metrics.snapshot.is_some_and(|id| id.index >= applied.index),
                "a snapshot of everything applied",
            )
            .await
            .map_err(|error| unavailable(format!("building a snapshot: {error}")))?;
        let snapshot = self
            .metrics()
            .snapshot
            .ok_or_else(|| unavailable("the snapshot vanished"))?;
        self.raft
            .trigger()
            .purge_log(snapshot.index)
            .await
            .map_err(unavailable)?;
        self.raft
            .wait(Some(timeout))
            .metrics(
                |metrics| metrics.purged.is_some_and(|id| id.index >= snapshot.index),
                "the log purged up to the snapshot",
            )
            .await
            .map_err(|error| unavailable(format!("purging the log: {error}")))?;
        Ok(snapshot)
    }

    /// Stops the node's Raft tasks. The log and the engine stay as they
    /// are on disk.
    pub async fn shutdown(&self) -> Result<(), ReplError> {
        self.raft.shutdown().await.map_err(unavailable)
    }

    /// Runs `work` on the node's runtime and waits for it from this
    /// thread.
    pub(crate) fn blocking<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, ReplError>> + Send + 'static,
    ) -> Result<T, ReplError> {
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            // The caller may have stopped waiting; nothing to do then.
            let _ = done.send(work.await);
        });
        outcome
            .recv()
            .map_err(|_| unavailable("the node's runtime stopped"))?
    }
}

impl CommandSubmitter for RaftNode {
    fn submit(&self, commands: Vec<Command>) -> Result<Committed, ReplError> {
        let node = self.clone();
        self.blocking(async move { node.write(commands).await })
    }
}

impl ReplicationHandle for RaftNode {
    fn node_id(&self) -> NodeId {
        self.id
    }

    fn role(&self) -> Role {
        match self.raft.metrics().borrow().state {
            ServerState::Leader => Role::Leader,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Follower | ServerState::Shutdown => Role::Follower,
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    fn applied_version(&self) -> u64 {
        self.engine().latest_version()
    }

    fn apply_entry(&self, entry: LogEntry) -> Result<Committed, ReplError> {
        Err(ReplError::Refused {
            reason: format!(
                "entry at version {}: a Raft node applies only what its own log commits",
                entry.first_version
            ),
        })
    }
}

impl SnapshotProvider for RaftNode {
    fn latest_version(&self) -> u64 {
        self.engine().latest_version()
    }

    fn snapshot(&self) -> Result<ReplicaSnapshot, ReplError> {
        let engine = self.engine();
        let held = engine.hold_compaction();
        Ok(ReplicaSnapshot::new(engine.snapshot_state()?).holding(held))
    }

    fn install(
        &self,
        version: u64,
        _entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<(), ReplError> {
        Err(ReplError::Refused {
            reason: format!(
                "snapshot at version {version}: a Raft node installs only snapshots its leader sends"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openraft::CommittedLeaderId;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_share_rounds_that_began_after_they_asked() {
        let points = Arc::new(ReadPoints::default());
        // One logical clock for the asks and the rounds' beginnings.
        let clock = Arc::new(AtomicU64::new(1));
        let rounds = Arc::new(AtomicU64::new(0));
        let mut readers = Vec::new();
        for _ in 0..64 {
            let (points, clock, rounds) = (points.clone(), clock.clone(), rounds.clone());
            readers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..20 {
                    let asked = clock.fetch_add(1, Ordering::SeqCst);
                    let point = points
                        .get(async {
                            rounds.fetch_add(1, Ordering::SeqCst);
                            let began = clock.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_micros(200)).await;
                            Ok::<_, ()>(Some(LogId::new(CommittedLeaderId::new(1, 1), began)))
                        })
                        .await
                        .expect("no round fails");
                    seen.push((asked, point.expect("a point").index));
                }
                seen
            }));
        }
        let mut reads = 0;
        for reader in readers {
            for (asked, began) in reader.await.expect("a reader finishes") {
                assert!(
                    began > asked,
                    "a read asked at {asked} got a round that began at {began}"
                );
                reads += 1;
            }
        }
        let rounds = rounds.load(Ordering::SeqCst);
        assert!(rounds < reads / 4, "{rounds} rounds for {reads} reads");
    }

    #[tokio::test]
    async fn a_failed_round_is_its_callers_alone() {
        let points = ReadPoints::default();
        let failed = points.get(async { Err::<Option<LogId>, &str>("not the leader") });
        assert_eq!(failed.await, Err("not the leader"));
        let point = Some(LogId::new(CommittedLeaderId::new(2, 1), 7));
        assert_eq!(points.get(async { Ok::<_, &str>(point) }).await, Ok(point));
    }
}
