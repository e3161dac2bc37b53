//! Expiry in a group whose nodes' clocks disagree: a compare-and-set on
//! an expiring key is decided by the moment its entry carries, so every
//! node applies it alike and the nodes stay equal; and the leader's sweep
//! deletes an expired key on every node through the log.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Cluster, PATIENCE, raft_config};
use hightower_engine::{Command, Expect, ManualClock};
use hightower_raft::LogStoreOptions;

const T0: u64 = 1_900_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_other_clocks_decide_conditions_alike() {
    let clocks: BTreeMap<u64, Arc<ManualClock>> = (1..=3)
        .map(|id| (id, Arc::new(ManualClock::new(T0))))
        .collect();
    let cluster = Cluster::start_clocked(
        3,
        raft_config(None),
        LogStoreOptions::default(),
        clocks.clone(),
    )
    .await;
    let leader = cluster.leader().await;
    // The followers' clocks run 10 s ahead of the leader's.
    for (id, clock) in &clocks {
        if *id != leader {
            clock.set(T0 + 10_000);
        }
    }
    let node = &cluster.nodes[&leader];
    let put = node
        .write(vec![Command::put_expiring(
            b"k".to_vec(),
            b"old".to_vec(),
            T0 + 5_000,
        )])
        .await
        .expect("the expiring put commits");
    // By the leader's clock the key lives; by the followers' it expired.
    let cas = node
        .write(vec![
            Command::put(b"k".to_vec(), b"new".to_vec())
                .expecting(Expect::Version(put.first_version)),
        ])
        .await
        .expect("the compare-and-set holds at the moment its entry carries");
    cluster.settle().await;
    cluster.assert_converged();
    for id in cluster.nodes.keys() {
        let state = cluster.state_of(*id);
        let k = state
            .iter()
            .find(|kv| kv.key == b"k")
            .expect("k is on every node");
        assert_eq!(
            (k.value.as_slice(), k.version),
            (b"new".as_slice(), cas.first_version)
        );
    }

    // A key that expires, on every clock, is deleted by the leader's sweep.
    node.write(vec![Command::put_expiring(
        b"gone".to_vec(),
        b"x".to_vec(),
        T0 + 20_000,
    )])
    .await
    .expect("the expiring put commits");
    for clock in clocks.values() {
        clock.set(T0 + 30_000);
    }
    let sweeps: Vec<_> = cluster
        .nodes
        .values()
        .map(|node| node.spawn_expiry_sweep(1_000))
        .collect();
    let deadline = Instant::now() + PATIENCE;
    // Bounded by PATIENCE: every node's engine must drop the key.
    while cluster.nodes.values().any(|node| node.engine().len() != 2) {
        assert!(
            Instant::now() < deadline,
            "the sweep did not delete the expired key everywhere"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.settle().await;
    cluster.assert_converged();
    for node in cluster.nodes.values() {
        assert!(node.engine().expired_keys(10).is_empty());
    }
    for sweep in sweeps {
        sweep.abort();
    }
}
