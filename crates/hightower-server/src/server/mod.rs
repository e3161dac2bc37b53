//! The Redis-protocol server over any engine with the engine's traits
//! ([`ServedEngine`]): [`Server`].
//!
//! ```text
//! Server::run            accept loop, connection limit, graceful shutdown
//!   connection           one task per client: read, parse, execute, reply
//!     resp               RESP2/RESP3 request parser and reply encoder
//!     dispatch           command table, auth checks, errors in Redis's forms
//!       commands/*       the commands, one module per group
//!     coalesce           runs of SET and MSET committed as one batch
//!   syncer               one thread waiting for the fsyncs of `sync` sets
//!   cache                recently read values, checked against the index
//!   metrics              counters, Prometheus text, the HTTP endpoint
//! ```
//!
//! Invariants:
//! - Nothing read from a client is trusted: every length is checked before
//!   it is believed (see [`resp`]), and a protocol error closes only that
//!   connection.
//! - Each connection has at most [`ServerConfig::pending_replies_max`]
//!   replies (and about 256 KiB beyond its last one) waiting to be sent;
//!   the server reads no more of its requests until they are written.
//! - Engine calls that may wait on the disk (writes under `sync`
//!   durability, compaction) run on tokio's blocking pool, so they never
//!   stall the network threads; SET and MSET under `sync` instead append
//!   on the network thread and leave the wait to one thread for all
//!   connections (`syncer`), their replies held until durable. Password
//!   checks run on their own bounded pool ([`hashing`]), so an `AUTH`
//!   flood gets fast refusals and never holds the threads writes wait on.
//! - Shutdown stops accepting, lets every connection finish the requests
//!   it has read, then syncs the engine.

pub mod auth;
pub mod cache;
mod coalesce;
mod commands;
pub mod config;
mod connection;
mod dispatch;
pub mod glob;
mod hashing;
pub mod metrics;
pub mod resp;
pub mod scan;
mod syncer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

use hightower_engine::{AdminEngine, KvEngine, SnapshotEngine};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use auth::{AuthFailure, Authorizer, OpenAccess, Operation, Principal};
pub use config::{DurabilityMode, ServerConfig};

use crate::server::cache::ValueCache;
use crate::server::hashing::HashPool;
use crate::server::metrics::{Gauges, ServerMetrics};
use crate::server::resp::ParserLimits;
use crate::server::scan::CursorTable;
use crate::server::syncer::Syncer;

/// The version `INFO` and `HELLO` report.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The password-check or fsync-waiting threads could not be started.
    #[error("cannot start the server's threads: {0}")]
    Threads(#[source] std::io::Error),
    /// The engine failed while the server shut down.
    #[error("engine: {0}")]
    Engine(#[from] hightower_engine::EngineError),
}

/// What the server needs of the store: reads and writes ([`KvEngine`]),
/// point-in-time state for FLUSHALL and INFO ([`SnapshotEngine`]), and the
/// settings, counters and compaction of INFO, CONFIG GET and HT.COMPACT
/// ([`AdminEngine`]). Every engine with the three traits is one; the server
/// holds it as `Arc<dyn ServedEngine>`, one indirect call per engine call.
pub trait ServedEngine: KvEngine + SnapshotEngine + AdminEngine + std::fmt::Debug {}

impl<E: KvEngine + SnapshotEngine + AdminEngine + std::fmt::Debug> ServedEngine for E {}

/// What every connection shares: the engine, the authorizer, the settings
/// and the counters.
#[derive(Debug)]
pub struct Shared {
    engine: Arc<dyn ServedEngine>,
    /// The engine `READONLY` connections read from, on a node of a Raft
    /// group.
    follower_reads: Option<Arc<dyn ServedEngine>>,
    authorizer: Arc<dyn Authorizer>,
    config: ServerConfig,
    limits: ParserLimits,
    metrics: ServerMetrics,
    cache: Option<ValueCache>,
    cursors: Mutex<CursorTable>,
    /// The threads that check passwords.
    hash_pool: HashPool,
    /// The thread that waits for the fsyncs of `sync` durability for every
    /// connection; none when writes do not wait for an fsync, or wait for
    /// a Raft group.
    syncer: Option<Syncer>,
    next_client_id: AtomicU64,
    /// Bytes held in the input buffers of connections not yet
    /// authenticated, all together (see `connection.rs`).
    unauthenticated_input_bytes: Arc<AtomicUsize>,
    started: Instant,
}

impl Shared {
    fn new(
        config: ServerConfig,
        engine: Arc<dyn ServedEngine>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Self, ServerError> {
        let hash_pool = HashPool::new().map_err(ServerError::Threads)?;
        let engine_limits = &engine.config().limits;
        let limits = ParserLimits {
            bulk_bytes_max: engine_limits
                .value_bytes_max
                .max(engine_limits.key_bytes_max),
            request_bytes_max: engine_limits
                .batch_bytes_max
                .max(engine_limits.value_bytes_max + 1024 * 1024),
            ..ParserLimits::default()
        };
        let cache = ValueCache::new(config.value_cache_mib.saturating_mul(1024 * 1024));
        let syncer = if config.durability == DurabilityMode::Sync && !config.replicated() {
            Some(Syncer::start(engine.clone()).map_err(ServerError::Threads)?)
        } else {
            None
        };
        Ok(Shared {
            engine,
            follower_reads: None,
            authorizer,
            config,
            limits,
            metrics: ServerMetrics::default(),
            cache,
            cursors: Mutex::new(CursorTable::default()),
            hash_pool,
            syncer,
            next_client_id: AtomicU64::new(1),
            unauthenticated_input_bytes: Arc::new(AtomicUsize::new(0)),
            started: Instant::now(),
        })
    }

    /// The engine served.
    pub fn engine(&self) -> &dyn ServedEngine {
        self.engine.as_ref()
    }

    /// The server's counters.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Whether writes wait for an fsync or a Raft group (and so run on the
    /// blocking pool, but for the sets the syncer waits for).
    fn writes_block(&self) -> bool {
        self.config.durability == DurabilityMode::Sync || self.replicated()
    }

    /// Whether the engine is a node of a Raft group, whose reads and
    /// writes wait for the group (and so run on the blocking pool).
    fn replicated(&self) -> bool {
        self.config.replicated()
    }

    fn gauges(&self) -> Gauges {
        Gauges {
            connected_clients: ServerMetrics::get(&self.metrics.connected_clients),
            keys: self.engine.len() as u64,
            latest_version: self.engine.latest_version(),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }

    /// The Prometheus text exposition of the server and the engine.
    pub fn prometheus_text(&self) -> String {
        metrics::render_prometheus(&self.metrics, &self.engine.metrics(), self.gauges())
    }
}

/// What a finished [`Server::run`] did at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections open when shutdown began.
    pub connections_open: usize,
    /// Connections that did not finish within the grace period and were
    /// cut.
    pub connections_aborted: usize,
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds the listening sockets of `config` (and of the metrics endpoint
    /// when configured). Must be called inside a tokio runtime.
    pub async fn bind(
        config: ServerConfig,
        engine: Arc<dyn ServedEngine>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Server, ServerError> {
        config.validate()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?,
            ),
            None => None,
        };
        Ok(Server {
            listener,
            metrics_listener,
            shared: Arc::new(Shared::new(config, engine, authorizer)?),
        })
    }

    /// The same server, letting connections that sent `READONLY` read
    /// from `engine`: on a node of a Raft group, the served engine reading
    /// this node's state without the leader's read barrier. Without it,
    /// `READONLY` is refused as on a Redis server outside a cluster.
    pub fn with_follower_reads(mut self, engine: Arc<dyn ServedEngine>) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("no connection shares the state before the server runs")
            .follower_reads = Some(engine);
        self
    }

    /// The address the server listens on (the port chosen when it was 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The address of the metrics endpoint, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// What the connections share (for statistics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves until `shutdown` completes, then stops accepting, lets the
    /// open connections finish the requests they have read (for at most
    /// `shutdown_grace_secs`), and syncs the engine.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ShutdownReport, ServerError> {
        let Server {
            listener,
            metrics_listener,
            shared,
        } = self;
        let (stop, stopped) = watch::channel(false);
        let metrics_task = metrics_listener
            .map(|l| tokio::spawn(metrics::serve_http(l, shared.clone(), stopped.clone())));
        let slots = Arc::new(Semaphore::new(shared.config.max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        connection::admit(&mut connections, stream, peer, &shared, &slots, &stopped);
                    }
                    Err(error) => {
                        // Out of file descriptors, most likely: back off
                        // instead of spinning.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        let connections_open = connections.len();
        tracing::info!(
            connections_open,
            "shutting down: no longer accepting connections"
        );
        let _ = stop.send(true);
        let grace = Duration::from_secs(shared.config.shutdown_grace_secs);
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        let connections_aborted = if drained.is_err() {
            connections.len()
        } else {
            0
        };
        if connections_aborted > 0 {
            tracing::warn!(
                connections_aborted,
                "cutting connections still busy after the grace period"
            );
            connections.shutdown().await;
        }
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        let engine = shared.engine.clone();
        tokio::task::spawn_blocking(move || engine.sync())
            .await
            .map_err(|_| hightower_engine::EngineError::Closed)??;
        tracing::info!("engine synced");
        Ok(ShutdownReport {
            connections_open,
            connections_aborted,
        })
    }
}
