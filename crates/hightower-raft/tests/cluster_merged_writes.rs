//! Many writers at once on the leader: unconditional writes that arrive
//! while others are on their way share log entries, yet each writer gets
//! versions of its own, its key holds its value at exactly those versions
//! on every node, and a compare-and-set among them is still judged alone.

mod common;

use std::collections::BTreeSet;

use common::{Cluster, raft_config};
use hightower_engine::{Command, EngineError, Expect};
use hightower_repl::ReplError;

const WRITERS: u64 = 32;
const WRITES: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_keep_their_own_versions() {
    let cluster = Cluster::start(3, raft_config(None)).await;
    let leader = cluster.nodes[&cluster.leader().await].clone();
    let entries_before = leader.metrics().last_log_index.unwrap_or(0);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let node = leader.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..WRITES {
                    // Two commands a write: one atomic batch of a put and a
                    // delete of a key never written.
                    let key = format!("w{writer}-{i}").into_bytes();
                    let commands = vec![
                        Command::put(key.clone(), format!("v{writer}-{i}")),
                        Command::delete(format!("gone{writer}-{i}")),
                    ];
                    let committed = node.write(commands).await.expect("a write commits");
                    assert_eq!(committed.count, 2);
                    got.push((key, committed.first_version));
                }
                got
            })
        })
        .collect();
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.expect("a writer finishes"));
    }

    // Versions of their own: no two writes share one.
    let versions: BTreeSet<u64> = written
        .iter()
        .flat_map(|&(_, first)| [first, first + 1])
        .collect();
    assert_eq!(versions.len(), written.len() * 2);
    // Fewer entries than writes: they shared entries.
    let entries = leader.metrics().last_log_index.unwrap_or(0) - entries_before;
    assert!(
        entries < written.len() as u64,
        "{entries} entries for {} writes",
        written.len()
    );

    cluster.settle().await;
    cluster.assert_converged();
    for (id, node) in &cluster.nodes {
        for (key, version) in &written {
            let got = node.engine().get(key).expect("a read").expect("the key");
            assert_eq!(got.version, *version, "node {id}, key {key:?}");
        }
    }

    // A compare-and-set is never merged: it is judged on its own.
    let (key, version) = written[0].clone();
    let stale = leader
        .write(vec![
            Command::put(key.clone(), "x").expecting(Expect::Version(version + 1)),
        ])
        .await;
    assert!(matches!(
        stale,
        Err(ReplError::Engine(EngineError::VersionConflict { .. }))
    ));
    leader
        .write(vec![
            Command::put(key, "y").expecting(Expect::Version(version)),
        ])
        .await
        .expect("the right version holds");
}
