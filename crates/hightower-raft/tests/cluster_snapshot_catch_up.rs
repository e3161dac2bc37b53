//! A follower stopped while the group writes on and purges its log
//! behind snapshots: restarted, it can only catch up through a snapshot
//! install, and does; restarted again after the install, it reopens on
//! the installed state and its log, and keeps up with later writes.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Cluster, PATIENCE, raft_config};
use hightower_engine::Command;
use hightower_raft::LogStoreOptions;
use hightower_raft::types::LogId;
use hightower_raft::{MachineMeta, RAFT_META_KEY};
use hightower_repl::NodeId;
use openraft::storage::RaftLogStorage;

const SNAPSHOT_EVERY: u64 = 20;

async fn write_batch(
    cluster: &Cluster,
    acked: &mut BTreeMap<String, (String, u64)>,
    range: std::ops::Range<usize>,
) {
    for i in range {
        let key = format!("k{}", i % 60);
        let value = format!("value {i}");
        let committed = cluster
            .write(vec![Command::put(key.clone(), value.clone())])
            .await
            .expect("a write goes through");
        acked.insert(key, (value, committed.first_version));
    }
}

fn assert_holds(cluster: &Cluster, acked: &BTreeMap<String, (String, u64)>) {
    for (id, node) in &cluster.nodes {
        for (key, (value, version)) in acked {
            let got = node
                .engine()
                .get(key.as_bytes())
                .expect("the engine reads")
                .unwrap_or_else(|| panic!("node {id} lost {key}"));
            assert_eq!(
                (got.value.as_slice(), got.version),
                (value.as_bytes(), *version),
                "node {id}, {key}"
            );
        }
    }
}

async fn purged_of(cluster: &Cluster, id: NodeId) -> Option<LogId> {
    let mut log = cluster.nodes[&id].log_store().clone();
    log.get_log_state()
        .await
        .expect("the log state reads")
        .last_purged_log_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_catches_up_through_a_snapshot() {
    // Small segments, so that purging also deletes segment files.
    let log_options = LogStoreOptions {
        segment_bytes_max: 4 << 10,
        ..LogStoreOptions::default()
    };
    let mut cluster = Cluster::start_with(3, raft_config(Some(SNAPSHOT_EVERY)), log_options).await;
    let mut acked = BTreeMap::new();
    write_batch(&cluster, &mut acked, 0..10).await;
    cluster.settle().await;
    let leader = cluster.leader().await;
    let lagging = *cluster
        .ids
        .iter()
        .find(|&&id| id != leader)
        .expect("a follower");
    let lagging_last = cluster.nodes[&lagging]
        .metrics()
        .last_log_index
        .expect("the follower has a log");
    cluster.stop_node(lagging).await;

    write_batch(&cluster, &mut acked, 10..160).await;
    // The leader's log no longer holds what the stopped node lacks.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let purged = purged_of(&cluster, leader).await;
        if purged.is_some_and(|purged| purged.index > lagging_last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leader never purged past {lagging_last}: {purged:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let segments = cluster.nodes[&leader].log_store().segment_count();
    assert!(
        segments <= 4,
        "the leader keeps {segments} segments after purging"
    );

    cluster.start_node(lagging).await;
    cluster.settle().await;
    cluster.assert_converged();
    assert_holds(&cluster, &acked);
    let metrics = cluster.nodes[&lagging].metrics();
    let snapshot = metrics
        .snapshot
        .expect("the restarted node holds a snapshot");
    assert!(
        snapshot.index > lagging_last,
        "the node's snapshot {snapshot} is not past what it had ({lagging_last})"
    );
    let purged = purged_of(&cluster, lagging).await.expect("a purged log");
    assert!(
        purged.index > lagging_last,
        "its log was purged to {purged}"
    );

    // Restarted after the install, the node reopens on what it installed.
    let applied_before = cluster.nodes[&lagging].metrics().last_applied;
    cluster.stop_node(lagging).await;
    cluster.start_node(lagging).await;
    let stored = cluster.nodes[&lagging]
        .engine()
        .get(RAFT_META_KEY)
        .expect("reads")
        .expect("the machine's metadata survived the restart");
    let reopened: MachineMeta = postcard::from_bytes(&stored.value).expect("the metadata decodes");
    assert!(
        reopened.last_applied >= Some(snapshot) && reopened.last_applied <= applied_before,
        "reopened at {:?}, had applied {applied_before:?} over the snapshot {snapshot}",
        reopened.last_applied
    );
    cluster.nodes[&lagging]
        .raft()
        .wait(Some(PATIENCE))
        .snapshot(
            snapshot,
            "the reopened node reports the snapshot it installed",
        )
        .await
        .expect("the snapshot is reported");
    write_batch(&cluster, &mut acked, 160..200).await;
    cluster.settle().await;
    cluster.assert_converged();
    assert_holds(&cluster, &acked);
}
