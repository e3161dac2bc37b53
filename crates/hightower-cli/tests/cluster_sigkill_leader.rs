//! Three `hightower serve` processes form a Raft group on loopback;
//! clients write through every node while the leader is killed with
//! SIGKILL. A new leader takes writes within the test's bound, no
//! acknowledged write is lost, and the killed node, restarted on its
//! files, ends with the same keys and values as the others.

mod cluster_common;
mod server_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cluster_common::{Group, PATIENCE};

const NODES: u64 = 3;
const WRITERS: usize = 4;

/// Writes keys of writer `writer` through the nodes at `addrs`, moving to
/// the next node on any error, until `stop`; returns what was
/// acknowledged, with when.
fn writer(
    writer: usize,
    addrs: Vec<std::net::SocketAddr>,
    stop: Arc<AtomicBool>,
) -> Vec<(String, String, Instant)> {
    let mut acked = Vec::new();
    let mut at = writer % addrs.len();
    let mut con: Option<redis::Connection> = None;
    let mut i = 0;
    // Bounded by the stop flag and by a write count.
    while !stop.load(Ordering::Relaxed) && i < 100_000 {
        let (key, value) = (
            format!("w{writer}-{i}"),
            format!("value {i} of writer {writer}"),
        );
        if con.is_none() {
            con = redis::Client::open(format!("redis://{}/", addrs[at]))
                .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
                .ok();
            if let Some(con) = &con {
                let _ = con.set_read_timeout(Some(Duration::from_secs(10)));
            }
        }
        let outcome = match con.as_mut() {
            Some(con) => redis::cmd("SET").arg(&key).arg(&value).query::<String>(con),
            None => Err(redis::RedisError::from(std::io::Error::other(
                "no connection",
            ))),
        };
        match outcome {
            Ok(_) => {
                acked.push((key, value, Instant::now()));
                i += 1;
            }
            Err(_) => {
                con = None;
                at = (at + 1) % addrs.len();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    acked
}

#[test]
fn no_acknowledged_write_is_lost_when_the_leader_is_killed() -> Result<()> {
    let mut group = Group::new(NODES)?;
    for id in 1..=NODES {
        group.start_node(id)?;
    }
    let old_leader = group.leader()?;

    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<_> = group.nodes.values().map(|node| node.addr).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (addrs, stop) = (addrs.clone(), stop.clone());
            std::thread::spawn(move || writer(w, addrs, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    // Dropping a test server kills it with SIGKILL.
    drop(group.nodes.remove(&old_leader));
    let killed_at = Instant::now();
    let new_leader = group.leader()?;
    assert_ne!(new_leader, old_leader);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<_> = writers
        .into_iter()
        .map(|w| w.join().expect("a writer finishes"))
        .collect::<Vec<_>>()
        .concat();
    let first_after = acked
        .iter()
        .filter(|(_, _, at)| *at > killed_at)
        .map(|(_, _, at)| at.duration_since(killed_at))
        .min()
        .context("no write was acknowledged after the leader was killed")?;
    eprintln!(
        "{} writes acknowledged; first after the kill {:.2} s later",
        acked.len(),
        first_after.as_secs_f64()
    );

    group.start_node(old_leader)?;
    let deadline = Instant::now() + PATIENCE;
    // A node just restarted answers TRYAGAIN until it knows its leader.
    let contents = loop {
        let all: Result<Vec<_>> = group.nodes.keys().map(|&id| group.contents(id)).collect();
        if let Ok(all) = all
            && all.windows(2).all(|pair| pair[0] == pair[1])
        {
            break all.into_iter().next().context("a node")?;
        }
        if Instant::now() > deadline {
            let report: Vec<String> = group
                .nodes
                .keys()
                .map(|&id| {
                    let contents = group.contents(id).map(|c| c.len());
                    format!("node {id}: {:?} {contents:?}", group.replication(id))
                })
                .collect();
            bail!("the nodes did not converge: {report:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for (key, value, _) in &acked {
        assert_eq!(
            contents.get(key),
            Some(value),
            "acknowledged write of {key} lost"
        );
    }
    for id in group.nodes.keys() {
        let status = group.replication(*id)?;
        assert_eq!(status.get("voters").map(String::as_str), Some("1,2,3"));
    }
    Ok(())
}
