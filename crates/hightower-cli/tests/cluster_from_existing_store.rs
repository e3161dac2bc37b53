//! A single node's store becomes a Raft group and keeps its data and its
//! versions: started alone as node 1, it snapshots what it holds; nodes
//! 2 and 3, started on empty directories and added with `hightower
//! cluster add-learner` and `promote`, catch up from that snapshot and
//! hold every key at the version it had. A node that holds data of its
//! own and was never a member is refused, since its data exists nowhere
//! else in the group.

mod cluster_common;
mod server_common;

use std::path::Path;

use anyhow::{Context, Result, ensure};
use cluster_common::Group;
use server_common::{TestServer, run_hightower};

const KEYS: usize = 12;

/// Puts `key` into the store in `dir` offline; the version it got.
fn offline_put(dir: &Path, key: &str, value: &str) -> Result<u64> {
    let out = run_hightower(dir, &["put", key, value], "")?;
    out.trim()
        .parse()
        .with_context(|| format!("put printed {out:?}"))
}

#[test]
fn a_single_store_grows_into_a_group_with_its_versions() -> Result<()> {
    let mut group = Group::new(1)?;
    let node_1 = group.root.path().join("node-1");
    let mut versions = Vec::new();
    for i in 0..KEYS {
        versions.push(offline_put(&node_1, &format!("k{i}"), &format!("v{i}"))?);
    }
    run_hightower(&node_1, &["del", "k0"], "")?;
    group.start_node(1)?;
    group.leader()?;

    // A node with a store of its own, never a member, is refused.
    group.raft_ports.insert(2, cluster_common::free_port()?);
    group.raft_ports.insert(3, cluster_common::free_port()?);
    let node_3 = group.root.path().join("node-3");
    offline_put(&node_3, "stray", "data")?;
    let started = {
        let secret = group.secret().display().to_string();
        let (raft_3, peer_1) = (group.raft_addr(3), format!("1={}", group.raft_addr(1)));
        TestServer::start_open(
            &node_3,
            &[
                "--node-id",
                "3",
                "--raft-listen",
                &raft_3,
                "--peer",
                &peer_1,
                "--cluster-secret-file",
                &secret,
            ],
        )
    };
    let refusal = match started {
        Ok(_) => anyhow::bail!("a node holding data of its own joined a group"),
        Err(error) => format!("{error:#}"),
    };
    ensure!(refusal.contains("never been a member"), "{refusal}");
    std::fs::remove_dir_all(&node_3)?;

    group.start_node(2)?;
    group.start_node(3)?;
    for id in ["2", "3"] {
        let raft = group.raft_addr(id.parse()?);
        group.cluster("add-learner", 1, &[id, &raft])?;
    }
    group.wait_for("both learners caught up", |group| {
        let status = group.cluster("status", 1, &[])?;
        Ok(status
            .lines()
            .filter(|line| line.contains("\tlearner\t"))
            .filter(|line| !line.ends_with("\tnone"))
            .count()
            == 2)
    })?;
    group.cluster("promote", 1, &["2"])?;
    group.cluster("promote", 1, &["3"])?;
    group.wait_for("three voters everywhere", |group| {
        Ok(group.voters_everywhere("1,2,3"))
    })?;

    // Every node holds the store's keys at their versions, in its own
    // state.
    for id in [1, 2, 3] {
        let mut con = group.nodes[&id].connect()?;
        redis::cmd("READONLY").query::<()>(&mut con)?;
        let gone: Option<(String, u64)> = redis::cmd("HT.GETV").arg("k0").query(&mut con)?;
        ensure!(gone.is_none(), "node {id} holds the deleted key");
        for (i, version) in versions.iter().enumerate().skip(1) {
            let got: Option<(String, u64)> =
                redis::cmd("HT.GETV").arg(format!("k{i}")).query(&mut con)?;
            ensure!(
                got == Some((format!("v{i}"), *version)),
                "node {id}, k{i}: {got:?}, expected version {version}"
            );
        }
    }
    // Versions go on above the store's.
    let mut con = group.nodes[&3].connect()?;
    let version: u64 = redis::cmd("HT.CAS")
        .arg("new")
        .arg(0)
        .arg("x")
        .query(&mut con)?;
    ensure!(
        version > *versions.last().context("a version")?,
        "version {version}"
    );
    Ok(())
}
