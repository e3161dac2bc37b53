//! A leader isolated from the others: it acknowledges no write and
//! serves no linearizable read, the majority elects a new leader and
//! goes on, and once the partition heals the old leader's uncommitted
//! entries are gone from its log and every node holds the same state.

mod common;

use std::time::Duration;

use common::{Attempt, Cluster, raft_config, write_once};
use hightower_engine::Command;
use hightower_raft::types::EntryPayload;
use hightower_repl::NodeId;
use openraft::storage::RaftLogReader;

const STRANDED: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_takes_no_write_and_loses_its_uncommitted_entries() {
    let cluster = Cluster::start(3, raft_config(None)).await;
    for i in 0..10 {
        cluster
            .write(vec![Command::put(format!("before-{i}"), "kept")])
            .await
            .expect("a write before the partition");
    }
    cluster.settle().await;
    let old_leader = cluster.leader().await;
    let old_term = cluster.nodes[&old_leader].metrics().current_term;
    let committed_before = cluster.nodes[&old_leader].metrics().last_applied;
    let majority: Vec<NodeId> = cluster
        .ids
        .iter()
        .copied()
        .filter(|&id| id != old_leader)
        .collect();

    cluster.router.isolate(old_leader);
    // Writes to the isolated leader: it may append them, never commit.
    let stranded: Vec<_> = (0..STRANDED)
        .map(|i| {
            let node = cluster.nodes[&old_leader].clone();
            tokio::spawn(async move {
                let command = Command::put(format!("stranded-{i}"), "lost");
                write_once(&node, vec![command], Duration::from_millis(1500)).await
            })
        })
        .collect();
    let read = tokio::time::timeout(
        Duration::from_millis(1500),
        cluster.nodes[&old_leader].get(b"before-0"),
    )
    .await;
    assert!(
        !matches!(read, Ok(Ok(_))),
        "the isolated leader served a linearizable read: {read:?}"
    );
    let new_leader = cluster.leader_among(&majority).await;
    assert_ne!(new_leader, old_leader);
    let majority_nodes: Vec<_> = majority
        .iter()
        .map(|id| cluster.nodes[id].clone())
        .collect();
    for i in 0..10 {
        common::write_any(
            &majority_nodes,
            vec![Command::put(format!("after-{i}"), "kept")],
        )
        .await
        .expect("the majority takes writes");
    }
    for write in stranded {
        let attempt = write.await.expect("a stranded write finishes");
        assert!(
            matches!(attempt, Attempt::Unknown | Attempt::NotTaken { .. }),
            "the isolated leader acknowledged a write: {attempt:?}"
        );
    }
    let old_metrics = cluster.nodes[&old_leader].metrics();
    let stranded_from = committed_before.map_or(0, |id| id.index + 1);
    let stranded_to = old_metrics.last_log_index.expect("a log");
    assert!(
        stranded_to >= stranded_from,
        "the isolated leader appended the stranded writes ({old_metrics:?})"
    );

    cluster.router.heal();
    cluster.settle().await;
    cluster.assert_converged();
    for (id, node) in &cluster.nodes {
        for i in 0..STRANDED {
            let key = format!("stranded-{i}");
            assert!(
                node.engine().get(key.as_bytes()).expect("reads").is_none(),
                "node {id} holds {key}, which no majority accepted"
            );
        }
        for i in 0..10 {
            for key in [format!("before-{i}"), format!("after-{i}")] {
                assert!(
                    node.engine().get(key.as_bytes()).expect("reads").is_some(),
                    "node {id} lost {key}"
                );
            }
        }
    }
    // The old leader's own log: every entry it appended alone is gone,
    // replaced by the new term's.
    let mut log = cluster.nodes[&old_leader].log_store().clone();
    let entries = log
        .try_get_log_entries(stranded_from..=stranded_to)
        .await
        .expect("the log reads");
    for entry in entries {
        assert!(
            entry.log_id.leader_id.term > old_term,
            "entry {} of the old term survived the heal",
            entry.log_id
        );
        if let EntryPayload::Normal(request) = &entry.payload {
            assert!(
                request
                    .commands
                    .iter()
                    .all(|command| !command.key().starts_with(b"stranded-")),
                "a stranded write is still in the old leader's log at {}",
                entry.log_id
            );
        }
    }
}
