//! A group of three `hightower serve` processes grows and shrinks while
//! it serves: a fourth node, started on an empty directory, is added with
//! `hightower cluster add-learner`, catches up, is promoted to a voter,
//! and then the first leader is removed with `hightower cluster remove`.
//! Every step keeps the data; `cluster status` and `INFO replication`
//! tell the members and their client addresses; a `READONLY` connection
//! reads the node's own state.

mod cluster_common;
mod server_common;

use anyhow::{Context, Result, ensure};
use cluster_common::Group;

const KEYS: usize = 200;

/// The `cluster status` member lines of node `id`: id -> (member kind,
/// client address, matched index).
fn members(group: &Group, id: u64) -> Result<Vec<(u64, String, String, String)>> {
    let text = group.cluster("status", id, &[])?;
    let mut lines = text.lines();
    let head = lines.next().context("a status line")?;
    ensure!(head.starts_with(&format!("node {id} is ")), "{text}");
    ensure!(
        lines.next() == Some("id\tmember\traft_addr\tclient_addr\tmatched_index"),
        "{text}"
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            ensure!(fields.len() == 5, "{line}");
            Ok((
                fields[0].parse()?,
                fields[1].to_string(),
                fields[3].to_string(),
                fields[4].to_string(),
            ))
        })
        .collect()
}

#[test]
fn a_node_joins_is_promoted_and_the_old_leader_leaves() -> Result<()> {
    let mut group = Group::new(3)?;
    for id in 1..=3 {
        group.start_node(id)?;
    }
    let first_leader = group.leader()?;
    {
        let mut con = group.nodes[&first_leader].connect()?;
        for i in 0..KEYS {
            redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(format!("v{i}"))
                .query::<()>(&mut con)?;
        }
    }

    // Every node announces where its clients connect; a follower's INFO
    // names the leader's.
    let follower = *group
        .nodes
        .keys()
        .find(|&&id| id != first_leader)
        .context("a follower")?;
    let leader_client = group.nodes[&first_leader].addr.to_string();
    group.wait_for(
        "the leader's client address in a follower's INFO",
        |group| Ok(group.replication(follower)?.get("leader_addr") == Some(&leader_client)),
    )?;
    group.wait_for("every client address in `cluster status`", |group| {
        let members = members(group, follower)?;
        Ok(members.len() == 3
            && members.iter().all(|(id, kind, client, _)| {
                kind == "voter" && *client == group.nodes[id].addr.to_string()
            }))
    })?;

    // Node 4 starts on an empty directory; it is no member, so it waits.
    group.raft_ports.insert(4, cluster_common::free_port()?);
    group.start_node(4)?;
    let raft_4 = group.raft_addr(4);
    let added = group.cluster("add-learner", follower, &["4", &raft_4])?;
    ensure!(added.contains("learner"), "{added}");
    let refused = group.cluster("add-learner", follower, &["4", &raft_4]);
    ensure!(refused.is_err(), "adding a member twice is refused");
    group.wait_for("node 4 caught up as a learner", |group| {
        let members = members(group, first_leader)?;
        Ok(members
            .iter()
            .any(|(id, kind, _, matched)| *id == 4 && kind == "learner" && matched != "none"))
    })?;
    let promoted = group.cluster("promote", 4, &["4"])?;
    ensure!(promoted.contains("voter"), "{promoted}");
    group.wait_for("four voters on every node", |group| {
        Ok(group.voters_everywhere("1,2,3,4"))
    })?;
    // The new voter holds everything written before it joined.
    ensure!(group.contents(4)?.len() == KEYS, "node 4 holds every key");

    // A READONLY connection reads node 4's own state; its writes still go
    // through the group.
    {
        let mut con = group.nodes[&4].connect()?;
        let ok: String = redis::cmd("READONLY").query(&mut con)?;
        ensure!(ok == "OK");
        let value: String = redis::cmd("GET").arg("k7").query(&mut con)?;
        ensure!(value == "v7");
        redis::cmd("SET")
            .arg("from-4")
            .arg("x")
            .query::<()>(&mut con)?;
        let ok: String = redis::cmd("READWRITE").query(&mut con)?;
        ensure!(ok == "OK");
    }

    // The first leader leaves; the other three go on.
    let removed = group.cluster("remove", 4, &[&first_leader.to_string()])?;
    ensure!(removed.contains("no longer a member"), "{removed}");
    drop(group.nodes.remove(&first_leader));
    let expected_voters: Vec<String> = [1, 2, 3, 4]
        .into_iter()
        .filter(|&id| id != first_leader)
        .map(|id: u64| id.to_string())
        .collect();
    let expected_voters = expected_voters.join(",");
    group.wait_for("three voters after the removal", |group| {
        Ok(group.voters_everywhere(&expected_voters))
    })?;
    let leader = group.leader()?;
    ensure!(leader != first_leader);
    let mut con = group.nodes[&4].connect()?;
    redis::cmd("SET")
        .arg("after")
        .arg("removal")
        .query::<()>(&mut con)?;
    let contents = group.contents(leader)?;
    ensure!(contents.len() == KEYS + 2, "{} keys", contents.len());
    ensure!(contents.get("after").map(String::as_str) == Some("removal"));
    let refused = group.cluster("remove", 4, &["9"]);
    ensure!(refused.is_err(), "removing a stranger is refused");
    Ok(())
}
