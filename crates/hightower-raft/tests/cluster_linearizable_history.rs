//! Three nodes, six clients reading, writing and compare-and-setting
//! three keys, while faults come and go: the leader stopped and
//! restarted, the leader isolated, a majority/minority split, the leader
//! cut from the others one way. The whole history, timed-out calls
//! included, must be linearizable, and once the faults heal every node
//! holds the same state.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Attempt, Cluster, Live, Rng, raft_config, write_once};
use hightower_engine::{Command, Expect as EngineExpect};
use hightower_raft::RaftNode;
use hightower_raft::linearizability::{self, Call, Expect, History, Outcome};
use hightower_repl::{NodeId, ReplError};

const SEED: u64 = 0x6c69_6e65_6172;
const CLIENTS: usize = 6;
const KEYS: [&[u8]; 3] = [b"x", b"y", b"z"];
/// How long one call of a client may take, retries on another node
/// included.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt on one node may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(700);
/// A bound on each client's calls, should the faults end late.
const CALLS_MAX: u64 = 5_000;

#[derive(Debug, Clone, Copy)]
enum Fault {
    StopLeader,
    IsolateLeader,
    /// The leader and one follower on one side, the other alone.
    SplitMinority,
    /// The leader's messages to the others are lost; theirs reach it.
    LeaderCutOneWay,
}

const FAULTS: [Fault; 4] = [
    Fault::StopLeader,
    Fault::IsolateLeader,
    Fault::SplitMinority,
    Fault::LeaderCutOneWay,
];

/// The node a client tries first: the leader it last heard of, or any
/// running node.
fn pick(live: &Live, hint: Option<NodeId>, rng: &mut Rng) -> Option<(NodeId, RaftNode)> {
    let live = live.lock();
    if let Some(node) = hint.and_then(|id| live.get(&id)) {
        return hint.map(|id| (id, node.clone()));
    }
    let ids: Vec<NodeId> = live.keys().copied().collect();
    let id = *ids.get(rng.below(ids.len() as u64) as usize)?;
    Some((id, live[&id].clone()))
}

struct Client {
    id: usize,
    live: Live,
    history: Arc<History>,
    rng: Rng,
    hint: Option<NodeId>,
    /// The version this client last saw of each key.
    seen: [Option<u64>; KEYS.len()],
    n_calls: u64,
}

impl Client {
    /// Writes through whichever node leads, retrying only while a retry
    /// cannot apply the write twice; records the call.
    async fn write(&mut self, key_at: usize, call: Call) {
        let key = KEYS[key_at];
        let command = match &call {
            Call::Write { value } => Command::put(key, value.clone()),
            Call::Cas { expect, value } => Command::Put {
                key: key.to_vec(),
                value: value.clone(),
                expect: match *expect {
                    Expect::Absent => EngineExpect::Absent,
                    Expect::Version(version) => EngineExpect::Version(version),
                },
                expires_at_ms: None,
            },
            Call::Read => unreachable!("a read is not a write"),
        };
        let invoked_at = self.history.now();
        let deadline = Instant::now() + CALL_TIMEOUT;
        // Bounded by the deadline: each turn takes a timeout or a pause.
        while Instant::now() < deadline {
            let Some((id, node)) = pick(&self.live, self.hint, &mut self.rng) else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let attempt = write_once(&node, vec![command.clone()], ATTEMPT_TIMEOUT).await;
            drop(node);
            let outcome = match attempt {
                Attempt::Committed(committed) => {
                    self.seen[key_at] = Some(committed.first_version);
                    Outcome::Written(committed.first_version)
                }
                Attempt::Conflict(actual) => {
                    self.seen[key_at] = actual;
                    Outcome::Conflict { actual }
                }
                Attempt::Unknown => {
                    self.hint = None;
                    Outcome::Unknown
                }
                Attempt::NotTaken { leader } => {
                    self.hint = leader.filter(|&leader| leader != id);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            self.history.record(self.id, key, call, invoked_at, outcome);
            return;
        }
        // Every attempt certainly failed: the call had no effect, and a
        // history may leave it out.
    }

    /// A linearizable read through whichever node leads; a read that
    /// gets no answer is left out of the history (it changed nothing).
    async fn read(&mut self, key_at: usize) {
        let key = KEYS[key_at];
        let invoked_at = self.history.now();
        let deadline = Instant::now() + CALL_TIMEOUT;
        while Instant::now() < deadline {
            let Some((id, node)) = pick(&self.live, self.hint, &mut self.rng) else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, node.get(key)).await;
            drop(node);
            match outcome {
                Ok(Ok(got)) => {
                    self.seen[key_at] = got.as_ref().map(|got| got.version);
                    let got = got.map(|got| (got.value, got.version));
                    self.history
                        .record(self.id, key, Call::Read, invoked_at, Outcome::Read(got));
                    return;
                }
                Ok(Err(ReplError::NotLeader { leader })) => {
                    self.hint = leader.filter(|&leader| leader != id);
                }
                Ok(Err(_)) | Err(_) => self.hint = None,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn one_call(&mut self) {
        let key_at = self.rng.below(KEYS.len() as u64) as usize;
        self.n_calls += 1;
        let value = format!("c{}-{}", self.id, self.n_calls).into_bytes();
        match self.rng.below(10) {
            0..=3 => self.read(key_at).await,
            4..=6 => self.write(key_at, Call::Write { value }).await,
            _ => {
                // Mostly the version last seen; now and then a stale one
                // or absent, which should conflict.
                let expect = match (self.seen[key_at], self.rng.chance(20)) {
                    (Some(version), false) => Expect::Version(version),
                    (Some(version), true) => Expect::Version(version.saturating_sub(1)),
                    (None, _) => Expect::Absent,
                };
                self.write(key_at, Call::Cas { expect, value }).await;
            }
        }
    }
}

async fn inject(cluster: &mut Cluster, fault: Fault, rng: &mut Rng) {
    let leader = cluster.leader().await;
    let others: Vec<NodeId> = cluster
        .ids
        .iter()
        .copied()
        .filter(|&id| id != leader)
        .collect();
    let hold = rng.between(Duration::from_millis(700), Duration::from_millis(1400));
    match fault {
        Fault::StopLeader => {
            cluster.stop_node(leader).await;
            cluster.leader_among(&others).await;
            tokio::time::sleep(hold).await;
            cluster.start_node(leader).await;
        }
        Fault::IsolateLeader => {
            cluster.router.isolate(leader);
            cluster.leader_among(&others).await;
            tokio::time::sleep(hold).await;
        }
        Fault::SplitMinority => {
            let alone = others[rng.below(others.len() as u64) as usize];
            let with_leader: Vec<NodeId> = cluster
                .ids
                .iter()
                .copied()
                .filter(|&id| id != alone)
                .collect();
            cluster.router.partition(&[&with_leader, &[alone]]);
            tokio::time::sleep(hold).await;
        }
        Fault::LeaderCutOneWay => {
            for &other in &others {
                cluster.router.cut_one_way(leader, other);
            }
            cluster.leader_among(&others).await;
            tokio::time::sleep(hold).await;
        }
    }
    cluster.router.heal();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_under_faults_is_linearizable() {
    let mut cluster = Cluster::start(3, raft_config(None)).await;
    let history = Arc::new(History::new());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let mut client = Client {
                id,
                live: cluster.live.clone(),
                history: history.clone(),
                rng: Rng::new(SEED ^ (id as u64 + 1)),
                hint: None,
                seen: [None; KEYS.len()],
                n_calls: 0,
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) && client.n_calls < CALLS_MAX {
                    client.one_call().await;
                }
            })
        })
        .collect();

    let mut rng = Rng::new(SEED);
    let mut faults = FAULTS.to_vec();
    // A seeded order of the faults, each once, with calm between.
    for i in (1..faults.len()).rev() {
        faults.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for fault in faults {
        tokio::time::sleep(rng.between(Duration::from_millis(300), Duration::from_millis(600)))
            .await;
        inject(&mut cluster, fault, &mut rng).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client finishes");
    }

    cluster.start_stopped().await;
    cluster.settle().await;
    cluster.assert_converged();

    // The final state joins the history: a read of every key at the end.
    let leader = cluster.leader().await;
    for key in KEYS {
        let invoked_at = history.now();
        let got = cluster.nodes[&leader]
            .get(key)
            .await
            .expect("a read after the faults healed");
        let got = got.map(|got| (got.value, got.version));
        history.record(CLIENTS, key, Call::Read, invoked_at, Outcome::Read(got));
    }

    let ops = history.ops();
    let n_written = ops
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Written(_)))
        .count();
    let n_read = ops
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Read(_)))
        .count();
    let n_unknown = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Unknown)
        .count();
    let n_conflict = ops.len() - n_written - n_read - n_unknown;
    eprintln!(
        "{} operations: {n_written} written, {n_conflict} conflicts, {n_read} reads, \
         {n_unknown} unknown",
        ops.len()
    );
    assert!(n_written >= 50, "too few writes went through: {n_written}");
    assert!(
        n_conflict >= 5,
        "too few compare-and-sets conflicted: {n_conflict}"
    );
    if let Err(violation) = linearizability::check(&ops) {
        panic!("the history is not linearizable: {violation}");
    }
}
