//! A network that delays every message and loses one in seven: writes
//! still go through, acknowledged writes are kept, and the nodes converge.

mod common;

use std::time::Duration;

use common::{Cluster, raft_config};
use hightower_engine::Command;

const WRITERS: usize = 3;
const WRITES_EACH: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_through_a_slow_lossy_network() {
    let cluster = Cluster::start(3, raft_config(None)).await;
    cluster.router.set_delay(Duration::from_millis(20));
    cluster.router.set_drop_one_in(7);

    let nodes: Vec<_> = cluster.nodes.values().cloned().collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let nodes = nodes.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..WRITES_EACH {
                    let key = format!("w{writer}-{i}");
                    let value = format!("value {i} of writer {writer}");
                    let committed =
                        common::write_any(&nodes, vec![Command::put(key.clone(), value.clone())])
                            .await
                            .expect("a write goes through in the end");
                    acked.push((key, value, committed.first_version));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.expect("a writer finishes"));
    }
    assert!(
        cluster.router.dropped() > 0,
        "the network lost no message, so the test tested nothing"
    );

    cluster.router.set_drop_one_in(0);
    cluster.router.set_delay(Duration::ZERO);
    cluster.settle().await;
    cluster.assert_converged();
    for (id, node) in &cluster.nodes {
        for (key, value, version) in &acked {
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
