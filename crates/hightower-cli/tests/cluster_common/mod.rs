//! Helpers shared by the tests of a Raft group of `hightower serve`
//! processes on loopback: start and kill nodes, ask their `INFO
//! replication`, run the `cluster` subcommands.

// Each test file is its own crate and uses a different subset of these.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::server_common::{TestServer, run_hightower};

/// How long any wait of a test may take.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A free loopback port (bound, then released for the node to take).
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Nodes of one group, each with its own data directory under `root`.
pub(crate) struct Group {
    pub(crate) root: tempfile::TempDir,
    /// Every node's Raft port, running or not.
    pub(crate) raft_ports: BTreeMap<u64, u16>,
    /// Every started node's client port, kept across restarts so that
    /// clients find it again.
    pub(crate) client_ports: BTreeMap<u64, u16>,
    /// The running nodes (dropping one kills it with SIGKILL).
    pub(crate) nodes: BTreeMap<u64, TestServer>,
}

impl Group {
    /// A group of nodes `1..=n` (none started yet) with a new cluster
    /// secret.
    pub(crate) fn new(n: u64) -> Result<Group> {
        let root = tempfile::tempdir()?;
        let secret = root.path().join("secret");
        run_hightower(
            root.path(),
            &["cluster", "new-secret", &secret.display().to_string()],
            "",
        )?;
        Ok(Group {
            raft_ports: (1..=n)
                .map(|id| Ok((id, free_port()?)))
                .collect::<Result<_>>()?,
            root,
            client_ports: BTreeMap::new(),
            nodes: BTreeMap::new(),
        })
    }

    /// The cluster secret file.
    pub(crate) fn secret(&self) -> PathBuf {
        self.root.path().join("secret")
    }

    /// The Raft address of node `id`.
    pub(crate) fn raft_addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.raft_ports[&id])
    }

    /// Starts node `id` with every other node of `raft_ports` as a peer,
    /// on the client port it had before, if it ran before.
    pub(crate) fn start_node(&mut self, id: u64) -> Result<()> {
        let dir = self.root.path().join(format!("node-{id}"));
        let client_port = match self.client_ports.get(&id) {
            Some(&port) => port,
            None => free_port()?,
        };
        self.client_ports.insert(id, client_port);
        let mut args = vec![
            "--listen".to_string(),
            format!("127.0.0.1:{client_port}"),
            "--node-id".to_string(),
            id.to_string(),
            "--raft-listen".to_string(),
            self.raft_addr(id),
            "--cluster-secret-file".to_string(),
            self.secret().display().to_string(),
        ];
        for &peer in self.raft_ports.keys() {
            if peer != id {
                args.push("--peer".to_string());
                args.push(format!("{peer}={}", self.raft_addr(peer)));
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = TestServer::start_open(&dir, &args)?;
        self.nodes.insert(id, server);
        Ok(())
    }

    /// `INFO replication` of node `id` as field -> value.
    pub(crate) fn replication(&self, id: u64) -> Result<BTreeMap<String, String>> {
        let mut con = self.nodes[&id].connect()?;
        let text: String = redis::cmd("INFO").arg("replication").query(&mut con)?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    /// The leader every running node names.
    pub(crate) fn leader(&self) -> Result<u64> {
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

    /// Whether every running node names `voters` (ids joined by commas)
    /// as the voters.
    pub(crate) fn voters_everywhere(&self, voters: &str) -> bool {
        self.nodes.keys().all(|&id| {
            self.replication(id)
                .ok()
                .and_then(|r| r.get("voters").cloned())
                .as_deref()
                == Some(voters)
        })
    }

    /// Every key with its value, as node `id` serves them.
    pub(crate) fn contents(&self, id: u64) -> Result<BTreeMap<String, String>> {
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

    /// Runs `hightower cluster SUBCOMMAND --node <node id's Raft address>
    /// --cluster-secret-file <secret> ARGS...`; its stdout, or its failure.
    pub(crate) fn cluster(&self, subcommand: &str, node: u64, args: &[&str]) -> Result<String> {
        let (addr, secret) = (self.raft_addr(node), self.secret().display().to_string());
        let mut all = vec![
            "cluster",
            subcommand,
            "--node",
            &addr,
            "--cluster-secret-file",
            &secret,
        ];
        all.extend_from_slice(args);
        run_hightower(self.root.path(), &all, "")
    }

    /// What each running node says of itself: its `INFO replication` and
    /// the warnings and errors it logged (the last few), for a failure's
    /// message.
    pub(crate) fn diagnose(&self) -> String {
        let mut report = String::new();
        for (id, node) in &self.nodes {
            let stderr = node.stderr();
            let alarms: Vec<&str> = stderr
                .lines()
                .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
                .collect();
            let tail = &alarms[alarms.len().saturating_sub(12)..];
            report.push_str(&format!(
                "node {id}: {:?}\n  {}\n",
                self.replication(*id),
                tail.join("\n  ")
            ));
        }
        report
    }

    /// Waits until `check` holds, asking again every 200 ms.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        mut check: impl FnMut(&Group) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        let mut last = Ok(false);
        while Instant::now() < deadline {
            last = check(self);
            if matches!(last, Ok(true)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("waited in vain for {what}: last check gave {last:?}")
    }
}
