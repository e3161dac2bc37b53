//! A node of a Raft group (`hightower serve --node-id ...`), and the
//! `hightower cluster` subcommands: `new-secret FILE`, and `status`,
//! `add-learner`, `promote` and `remove`, which ask a running node over
//! its Raft port with the cluster secret (`hightower_raft::admin`).
//!
//! A node keeps its Raft log and snapshot in `<data dir>/raft/` and its
//! engine in the data directory as a single node does, with the engine's
//! own expiry sweep off: the leader deletes expired keys through the log
//! (`RaftNode::spawn_expiry_sweep`), so every change goes through it. The Raft runtime has
//! threads of its own, apart from the network runtime, since the server's
//! calls wait for the group. The group forms by itself: on its first
//! start with an empty log, the node with the lowest id of the members
//! initializes it with every member; openraft refuses to initialize a
//! node that holds any log, so a restart never does it again. With
//! authentication on, that node also makes the first admin user once the
//! group has a leader.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hightower_engine::SingleNodeEngine;
use hightower_raft::admin::{AdminReply, AdminRequest};
use hightower_raft::types::{Node, RaftConfig};
use hightower_raft::{
    ClusterSecret, LogStoreOptions, RaftListener, RaftNode, ReplicatedEngine, TcpNetwork,
};
use hightower_server::server::ServerConfig;
use hightower_server::server::config::ClusterConfig;

use super::master_key::create_owner_only;
use super::serve::{
    NodeServing, auth_service, authorizer_of, ensure_first_admin, runtime, serve_engine,
};
use crate::cli::ClusterNodeArgs;

/// The Raft directory under the data directory.
const RAFT_DIR: &str = "raft";

/// Threads of the Raft runtime.
const RAFT_THREADS: usize = 2;

/// How long the initializing node waits for a leader to make the first
/// admin user.
const FIRST_ADMIN_WAIT: Duration = Duration::from_secs(300);

/// Raft timing: heartbeats every 100 ms, and an election once a follower
/// heard nothing for its leader lease (openraft's: the longest election
/// timeout, 1 s) and then its own election timeout (0.5 to 1 s, drawn at
/// random), so a new leader serves writes about 2 s after the old one
/// died.
fn raft_config() -> Result<Arc<RaftConfig>> {
    let config = RaftConfig {
        cluster_name: "hightower".to_string(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1_000,
        ..RaftConfig::default()
    };
    Ok(Arc::new(config.validate().context("the Raft settings")?))
}

/// Reads the cluster secret file.
fn read_secret(path: &Path) -> Result<ClusterSecret> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the cluster secret file {} (every node of a group and the `cluster` \
             subcommands need it; make one with `hightower cluster new-secret FILE` and copy \
             it to every node)",
            path.display()
        )
    })?;
    ClusterSecret::from_file_text(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cluster secret file {}", path.display()))
}

/// `hightower cluster new-secret FILE`: a new random secret, mode 0600.
pub(crate) fn new_secret(path: &Path) -> Result<()> {
    if path.exists() {
        bail!("{} exists; a group's secret is made once", path.display());
    }
    let secret = ClusterSecret::generate().context("cannot draw a random secret")?;
    let mut file = create_owner_only(path)?;
    file.write_all(secret.to_file_text().as_bytes())?;
    file.sync_all()?;
    super::master_key::sync_parent_dir(path)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote a cluster secret to {} (mode 0600): copy it to every node of the group",
        path.display()
    )?;
    Ok(())
}

/// How long a group of one may take to elect itself and to snapshot the
/// data it brings.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(120);

/// Forms the group on its first start, before the Raft port opens.
///
/// - A node that has never been a member and holds no data initializes
///   the group when it has the lowest id of `members`, and otherwise
///   waits to be added.
/// - A node that has never been a member but holds data (a single node's
///   store, a restored backup) may only start a group of one: data that
///   did not come through the log exists on no other node, so every other
///   member must start from a snapshot of it. Anything else is refused.
/// - A group of one whose log was never purged and whose engine holds
///   data snapshots everything and purges its log before the port opens
///   (again after a crash part way), so members added later catch up
///   from that snapshot.
async fn form_group(node: &RaftNode, members: &BTreeMap<u64, Node>, data_dir: &Path) -> Result<()> {
    let id = node.id();
    let pristine = !node
        .raft()
        .is_initialized()
        .await
        .context("the Raft node stopped")?;
    let engine = node.engine();
    let holds_data = engine.latest_version() > 0;
    let alone = members.len() == 1;
    if pristine && holds_data && !alone {
        bail!(
            "{} holds a store (at version {}) but this node has never been a member of a group: \
             a node joins a group on an empty data directory. To bring this store's data into a \
             new group, start this node alone (no --peer), then start the others on empty data \
             directories and add them with `hightower cluster add-learner` and `promote`",
            data_dir.display(),
            engine.latest_version()
        );
    }
    if pristine && members.keys().next() == Some(&id) {
        node.initialize(members.clone())
            .await
            .context("cannot initialize the group")?;
        tracing::info!(
            node_id = id,
            members = members.len(),
            "initialized the group"
        );
    }
    if !holds_data {
        return Ok(());
    }
    // The membership the node starts with: the one it stored, or the one
    // it just initialized, once that is in the metrics.
    node.raft()
        .wait(Some(BOOTSTRAP_TIMEOUT))
        .metrics(
            |metrics| {
                metrics
                    .membership_config
                    .membership()
                    .voter_ids()
                    .next()
                    .is_some()
            },
            "a membership",
        )
        .await
        .context("the node has no membership")?;
    let metrics = node.metrics();
    let sole_voter = metrics
        .membership_config
        .membership()
        .voter_ids()
        .eq(std::iter::once(id));
    if sole_voter && metrics.purged.is_none() {
        node.raft()
            .wait(Some(BOOTSTRAP_TIMEOUT))
            .current_leader(id, "a group of one electing itself")
            .await
            .context("the group of one did not elect itself")?;
        let snapshot = node
            .snapshot_and_purge(BOOTSTRAP_TIMEOUT)
            .await
            .context("cannot snapshot the data this node brings into its group")?;
        tracing::info!(
            node_id = id,
            keys = engine.len(),
            snapshot_index = snapshot.index,
            "the store's data is in a snapshot; members added from now on start from it"
        );
    }
    Ok(())
}

/// Runs this node of the group until a signal stops it.
pub(super) fn serve(config: ServerConfig, cluster: ClusterConfig) -> Result<()> {
    let secret = read_secret(&cluster.secret_file)?;
    // The engine deletes nothing by itself; the leader's sweep deletes
    // expired keys through the log at the rate the settings ask for.
    let engine_config = config.engine_config();
    let sweep_keys_per_second = engine_config.expiry_sweep_keys_per_second;
    // The Raft log is what makes a write durable (a majority fsynced it
    // before it is acknowledged); the engine is its applied state, which
    // openraft applies again from the log after a crash, from the last
    // applied id the engine kept. So the engine syncs in the background
    // rather than on every entry; it syncs before a snapshot is handed
    // over or installed (the log behind a snapshot is dropped).
    let engine_config = engine_config.expiry_sweep_keys_per_second(0).durability(
        hightower_engine::Durability::Periodic(super::PERIODIC_SYNC_INTERVAL),
    );
    let local = Arc::new(
        SingleNodeEngine::with_config(engine_config)
            .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?,
    );
    let raft_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RAFT_THREADS)
        .thread_name("hightower-raft")
        .enable_all()
        .build()
        .context("cannot start the Raft runtime")?;
    let members: BTreeMap<u64, Node> = cluster
        .members()
        .into_iter()
        .map(|(id, addr)| (id, Node::new(addr)))
        .collect();
    let raft_dir = config.data_dir.join(RAFT_DIR);
    let node = raft_runtime.block_on(async {
        let listener = RaftListener::bind(cluster.raft_listen, secret.clone())
            .await
            .with_context(|| format!("cannot listen for Raft on {}", cluster.raft_listen))?;
        let raft_addr = listener.local_addr()?;
        let node = RaftNode::start(
            cluster.node_id,
            &raft_dir,
            local.clone(),
            TcpNetwork::new(secret.clone()),
            raft_config()?,
            LogStoreOptions::default(),
        )
        .await
        .context("cannot start the Raft node")?
        .forwarding_through(TcpNetwork::new(secret.clone()));
        form_group(&node, &members, &config.data_dir).await?;
        tokio::spawn(listener.serve(node.clone()));
        if sweep_keys_per_second > 0 {
            node.spawn_expiry_sweep(sweep_keys_per_second);
        }
        tracing::info!(node_id = cluster.node_id, %raft_addr, "Raft port open");
        let mut out = std::io::stdout().lock();
        writeln!(out, "raft on {raft_addr}")?;
        out.flush()?;
        Ok::<_, anyhow::Error>(node)
    })?;
    let initializes = members.keys().next() == Some(&cluster.node_id);
    let engine = Arc::new(ReplicatedEngine::new(node.clone()));
    let service = auth_service(&config, &engine)?;
    if let (Some(service), true) = (&service, initializes) {
        let (service, data_dir) = (service.clone(), config.data_dir.clone());
        std::thread::Builder::new()
            .name("hightower-first-admin".to_string())
            .spawn(move || {
                let deadline = Instant::now() + FIRST_ADMIN_WAIT;
                // Bounded: gives up once the group has had a leader for
                // the whole wait.
                while Instant::now() < deadline {
                    match ensure_first_admin(&service, &data_dir) {
                        Ok(()) => return,
                        Err(error) => tracing::debug!(%error, "waiting for a leader to check the users"),
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                tracing::warn!("no leader to make the first admin user with; create one with `hightower user add`");
            })?;
    }
    let authorizer = authorizer_of(service);
    tracing::info!(
        data_dir = %config.data_dir.display(),
        keys = local.len(),
        node_id = cluster.node_id,
        "engine open as a node of a Raft group"
    );
    let network = runtime(&config)?;
    let announcer = node.clone();
    let serving = NodeServing {
        follower_reads: Arc::new(engine.follower_reads()),
        listening: Box::new(move |addr| {
            // The group learns where this node's clients connect (INFO
            // replication and `cluster status` show it).
            announcer.spawn_client_addr_announcer(addr.to_string(), TcpNetwork::new(secret));
        }),
    };
    serve_engine(config, engine, authorizer, network, Some(serving))?;
    if let Err(error) = raft_runtime.block_on(node.shutdown()) {
        tracing::warn!(%error, "the Raft node did not stop cleanly");
    }
    raft_runtime.shutdown_timeout(Duration::from_secs(2));
    local
        .sync()
        .context("cannot make the last writes durable at shutdown")?;
    Ok(())
}

/// How long a `cluster` subcommand waits for each node it asks.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `request` to the node `args` names, following the leader.
fn ask(args: &ClusterNodeArgs, request: AdminRequest) -> Result<AdminReply> {
    let secret = read_secret(&args.cluster_secret_file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    runtime
        .block_on(hightower_raft::admin::call(
            &secret,
            &args.node,
            request,
            ADMIN_TIMEOUT,
        ))
        .map_err(anyhow::Error::msg)
}

fn or_none(value: Option<u64>) -> String {
    value.map_or_else(|| "none".to_string(), |value| value.to_string())
}

/// `hightower cluster status`: the group as the node asked sees it, one
/// line about the node, then one tab-separated line per member.
pub(crate) fn status(args: &ClusterNodeArgs) -> Result<()> {
    let status = match ask(args, AdminRequest::Status)? {
        AdminReply::Status(status) => status,
        other => bail!("the node answered {other:?}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "node {} is {}, term {}, leader {}, commit index {}, applied index {}, last log index {}{}",
        status.node_id,
        status.role,
        status.term,
        or_none(status.leader),
        or_none(status.commit_index),
        or_none(status.applied_index),
        or_none(status.last_log_index),
        if status.changing {
            ", a membership change is under way"
        } else {
            ""
        }
    )?;
    writeln!(out, "id\tmember\traft_addr\tclient_addr\tmatched_index")?;
    for member in &status.members {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            member.id,
            if member.voter { "voter" } else { "learner" },
            member.addr,
            if member.client_addr.is_empty() {
                "unknown"
            } else {
                &member.client_addr
            },
            or_none(member.matched),
        )?;
    }
    Ok(())
}

/// `hightower cluster add-learner|promote|remove`: one change through the
/// leader.
pub(crate) fn change(args: &ClusterNodeArgs, request: AdminRequest) -> Result<()> {
    match ask(args, request)? {
        AdminReply::Done(done) => {
            writeln!(std::io::stdout().lock(), "{done}")?;
            Ok(())
        }
        AdminReply::Failed(reason) => bail!("{reason}"),
        AdminReply::NotLeader { leader: None, .. } => {
            bail!("the group has no leader now; retry")
        }
        AdminReply::NotLeader {
            leader: Some(leader),
            ..
        } => bail!("node {leader} leads, but its Raft address is not known here; ask it"),
        other => bail!("the node answered {other:?}"),
    }
}
