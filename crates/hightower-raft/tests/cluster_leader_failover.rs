//! Three nodes, writers on every side, and the leader stopped mid-load:
//! a new leader takes writes, no acknowledged write is lost, and the old
//! leader, restarted on its files, catches up to the same state.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Cluster, raft_config, write_any};
use hightower_engine::Command;
use hightower_raft::RaftNode;
use tokio::sync::Mutex;

const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_the_loss_of_the_leader() {
    let mut cluster = Cluster::start(3, raft_config(None)).await;
    let old_leader = cluster.leader().await;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<(Vec<u8>, Vec<u8>, u64, Instant)>::new()));
    let nodes: Vec<RaftNode> = cluster.nodes.values().cloned().collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (stop, acked, nodes) = (stop.clone(), acked.clone(), nodes.clone());
            tokio::spawn(async move {
                let mut i = 0_u64;
                // Bounded: the writers stop when told, or after 10,000 writes each.
                while !stop.load(Ordering::Relaxed) && i < 10_000 {
                    let key = format!("w{writer}-{i}").into_bytes();
                    let value = format!("value {i} of writer {writer}").into_bytes();
                    let committed =
                        write_any(&nodes, vec![Command::put(key.clone(), value.clone())])
                            .await
                            .expect("a write goes through in the end");
                    acked
                        .lock()
                        .await
                        .push((key, value, committed.first_version, Instant::now()));
                    i += 1;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    cluster.stop_node(old_leader).await;
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, old_leader);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("a writer finishes");
    }

    let acked = acked.lock().await;
    assert!(
        acked.iter().any(|(_, _, _, at)| *at > killed_at),
        "some writes were acknowledged after the leader stopped"
    );

    // The writers' handles hold the stopped node's engine open.
    drop(nodes);
    cluster.start_node(old_leader).await;
    cluster.settle().await;
    cluster.assert_converged();
    for (id, node) in &cluster.nodes {
        for (key, value, version, _) in acked.iter() {
            let got = node
                .engine()
                .get(key)
                .expect("the engine reads")
                .unwrap_or_else(|| panic!("node {id} lost an acknowledged write"));
            assert_eq!((&got.value, got.version), (value, *version), "node {id}");
        }
    }
}
