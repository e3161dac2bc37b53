//! Three `hightower serve` processes form a Raft group on loopback;
//! clients write through every node while the leader is killed with
//! SIGKILL. A new leader takes writes within the test's bound, no
//! acknowledged write is lost, and the killed node, restarted on its
//! files, ends with the same keys and values as the others.

mod server_common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use server_common::{TestServer, run_hightower};

const NODES: u64 = 3;
const WRITERS: usize = 4;
/// How long any wait of the test may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// A free loopback port (bound, then released for the node to take).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Group {
    root: tempfile::TempDir,
    raft_ports: BTreeMap<u64, u16>,
    nodes: BTreeMap<u64, TestServer>,
}

impl Group {
    fn start_node(&mut self, id: u64) -> Result<()> {
        let dir = self.root.path().join(format!("node-{id}"));
        let secret = self.root.path().join("secret");
        let mut args = vec![
            "--node-id".to_string(),
            id.to_string(),
            "--raft-listen".to_string(),
            format!("127.0.0.1:{}", self.raft_ports[&id]),
            "--cluster-secret-file".to_string(),
            secret.display().to_string(),
        ];
        for (&peer, port) in &self.raft_ports {
            if peer != id {
                args.push("--peer".to_string());
                args.push(format!("{peer}=127.0.0.1:{port}"));
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = TestServer::start_open(&dir, &args)?;
        self.nodes.insert(id, server);
        Ok(())
    }

    /// `INFO replication` of node `id` as field -> value.
    fn replication(&self, id: u64) -> Result<BTreeMap<String, String>> {
        let mut con = self.nodes[&id].connect()?;
        let text: String = redis::cmd("INFO").arg("replication").query(&mut con)?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    /// The leader every running node names.
    fn leader(&self) -> Result<u64> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen: Vec<Option<String>> = self
                .nodes
                .keys()
                .map(|&id| {
                    self.replication(id)
                        .ok()
                        .and_then(|r| r.get("leader_id").cloned())
                })
                .collect();
            if let Some(Some(leader)) = seen.first()
                && seen.iter().all(|s| s.as_deref() == Some(leader.as_str()))
                && let Ok(leader) = leader.parse::<u64>()
                && self.nodes.contains_key(&leader)
            {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                bail!("no leader agreed on: {seen:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every key with its value, as node `id` serves them.
    fn contents(&self, id: u64) -> Result<BTreeMap<String, String>> {
        let mut con = self.nodes[&id].connect()?;
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con)?;
        keys.sort();
        let values: Vec<String> = if keys.is_empty() {
            Vec::new()
        } else {
            redis::cmd("MGET").arg(&keys).query(&mut con)?
        };
        Ok(keys.into_iter().zip(values).collect())
    }
}

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
    let root = tempfile::tempdir()?;
    let secret = root.path().join("secret");
    run_hightower(
        root.path(),
        &["cluster", "new-secret", &secret.display().to_string()],
        "",
    )?;
    let mut group = Group {
        raft_ports: (1..=NODES)
            .map(|id| Ok((id, free_port()?)))
            .collect::<Result<_>>()?,
        root,
        nodes: BTreeMap::new(),
    };
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
