//! The server's settings: [`ServerConfig`], built from defaults, then a
//! TOML file ([`FileConfig`], `--config`), then command-line flags
//! ([`ServeArgs`]), each overriding the one before.
//!
//! A file names any subset of the settings, with the flags' names in
//! snake case:
//!
//! ```toml
//! listen = "127.0.0.1:7379"
//! data_dir = "./hightower-data"
//! durability = "periodic"      # sync | periodic | none
//! periodic_sync_ms = 100
//! no_auth = false
//! master_key_file = "/etc/hightower/master-key"
//! max_connections = 10000
//! idle_timeout_secs = 300      # 0: never
//! pending_replies_max = 1024
//! reply_bytes_max = 268435456
//! value_cache_mib = 0          # 0: off
//! threads = 0                  # 0: one per core
//! metrics_listen = "127.0.0.1:9379"
//! shutdown_grace_secs = 10
//! log_level = "info"
//! group_read = false           # true: files 0640, directories 0750
//!
//! [store]                      # the engine's tunables; each defaults to the engine's
//! segment_bytes_max = 67108864
//! write_buffer_bytes = 262144
//! key_bytes_max = 65536
//! value_bytes_max = 67108864
//! compaction_min_bytes = 67108864
//! compaction_max_segments = 8
//! compaction_dead_ratio_min = 0.5
//! compaction_tombstone_grace_secs = 0
//! expiry_sweep_keys_per_second = 20000   # 0: expired keys go only when overwritten or compacted
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// The address `hightower serve` listens on by default. Not Redis's 6379,
/// so that a `redis-server` installed beside it (as the server benchmark
/// needs) does not clash with it.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7379";

/// When the engine makes writes durable (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    /// A write is acknowledged once it is on disk (concurrent writers share
    /// one fdatasync).
    #[default]
    Sync,
    /// fdatasync every `periodic_sync_ms` in the background.
    Periodic,
    /// No explicit fdatasync.
    None,
}

/// The engine's tunables, as flags (`--segment-bytes-max`, ...) and as the
/// `[store]` table of the configuration file. Each one left unset keeps
/// the engine's default ([`hightower_engine::EngineConfig::new`],
/// [`hightower_engine::CompactionConfig::default`]); the engine checks
/// their ranges when it opens. `CONFIG GET hightower-*` shows them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Seal a segment and start the next past this size, in bytes
    /// [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub segment_bytes_max: Option<u64>,
    /// Appends buffered before a write to the operating system, in bytes
    /// [default: 262144].
    #[arg(long, value_name = "BYTES")]
    pub write_buffer_bytes: Option<u64>,
    /// The longest key, in bytes [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub key_bytes_max: Option<u64>,
    /// The largest value, in bytes [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub value_bytes_max: Option<u64>,
    /// Compaction runs once this much garbage may be reclaimed, in bytes
    /// [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub compaction_min_bytes: Option<u64>,
    /// Segments one compaction pass takes at most [default: 8].
    #[arg(long, value_name = "N")]
    pub compaction_max_segments: Option<u64>,
    /// A segment is worth compacting once this share of it is dead, 0 to 1
    /// [default: 0.5].
    #[arg(long, value_name = "RATIO")]
    pub compaction_dead_ratio_min: Option<f64>,
    /// Tombstones stay this long before compaction may drop them, in
    /// seconds [default: 0].
    #[arg(long, value_name = "SECS")]
    pub compaction_tombstone_grace_secs: Option<u64>,
    /// Expired keys the background sweep deletes per second at most; 0
    /// turns the sweep off [default: 20000].
    #[arg(long, value_name = "N")]
    pub expiry_sweep_keys_per_second: Option<u64>,
}

impl StoreSettings {
    /// Takes every setting `other` has.
    fn override_with(&mut self, other: &StoreSettings) {
        let StoreSettings {
            segment_bytes_max,
            write_buffer_bytes,
            key_bytes_max,
            value_bytes_max,
            compaction_min_bytes,
            compaction_max_segments,
            compaction_dead_ratio_min,
            compaction_tombstone_grace_secs,
            expiry_sweep_keys_per_second,
        } = other.clone();
        set_some(&mut self.segment_bytes_max, segment_bytes_max);
        set_some(&mut self.write_buffer_bytes, write_buffer_bytes);
        set_some(&mut self.key_bytes_max, key_bytes_max);
        set_some(&mut self.value_bytes_max, value_bytes_max);
        set_some(&mut self.compaction_min_bytes, compaction_min_bytes);
        set_some(&mut self.compaction_max_segments, compaction_max_segments);
        set_some(
            &mut self.compaction_dead_ratio_min,
            compaction_dead_ratio_min,
        );
        set_some(
            &mut self.compaction_tombstone_grace_secs,
            compaction_tombstone_grace_secs,
        );
        set_some(
            &mut self.expiry_sweep_keys_per_second,
            expiry_sweep_keys_per_second,
        );
    }

    /// `config` with every setting given here.
    fn applied_to(
        &self,
        mut config: hightower_engine::EngineConfig,
    ) -> hightower_engine::EngineConfig {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(bytes) = self.segment_bytes_max {
            config.segment_bytes_max = bytes;
        }
        if let Some(bytes) = self.write_buffer_bytes {
            config.write_buffer_bytes = size(bytes);
        }
        if let Some(bytes) = self.key_bytes_max {
            config.limits.key_bytes_max = size(bytes);
        }
        if let Some(bytes) = self.value_bytes_max {
            config.limits.value_bytes_max = size(bytes);
        }
        let compaction = &mut config.compaction;
        if let Some(bytes) = self.compaction_min_bytes {
            compaction.min_bytes = bytes;
        }
        if let Some(n) = self.compaction_max_segments {
            compaction.max_segments = size(n);
        }
        if let Some(ratio) = self.compaction_dead_ratio_min {
            compaction.dead_ratio_min = ratio;
        }
        if let Some(secs) = self.compaction_tombstone_grace_secs {
            compaction.tombstone_grace = Duration::from_secs(secs);
        }
        if let Some(n) = self.expiry_sweep_keys_per_second {
            config.expiry_sweep_keys_per_second = size(n);
        }
        config
    }

    /// Checks what the engine does not check itself.
    fn validate(&self) -> Result<(), ConfigError> {
        if self
            .compaction_dead_ratio_min
            .is_some_and(|ratio| !(0.0..=1.0).contains(&ratio))
        {
            return Err(ConfigError::Invalid {
                setting: "compaction_dead_ratio_min",
                reason: "must be between 0 and 1".to_string(),
            });
        }
        if self.compaction_max_segments == Some(0) {
            return Err(ConfigError::Invalid {
                setting: "compaction_max_segments",
                reason: "must be at least 1".to_string(),
            });
        }
        Ok(())
    }
}

/// Overrides `target` with `value` when it is set.
fn set_some<T>(target: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *target = value;
    }
}

/// The settings of a node of a Raft group: `serve` flags and the
/// `[cluster]` table of the configuration file. None of them given: one
/// node on its own, as without a cluster.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// This node's id in a Raft group (with --raft-listen, --peer and
    /// --cluster-secret-file).
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub node_id: Option<u64>,
    /// The address of this node's Raft port.
    #[arg(long, value_name = "ADDR")]
    pub raft_listen: Option<SocketAddr>,
    /// Another node of the group as ID=ADDR (its Raft port); once per node.
    #[arg(long = "peer", value_name = "ID=ADDR")]
    #[serde(default)]
    pub peers: Vec<String>,
    /// The file with the secret every node of the group holds (`hightower
    /// cluster new-secret FILE` makes one).
    #[arg(long, value_name = "FILE")]
    pub cluster_secret_file: Option<PathBuf>,
}

impl ClusterSettings {
    fn override_with(&mut self, other: &ClusterSettings) {
        set_some(&mut self.node_id, other.node_id);
        set_some(&mut self.raft_listen, other.raft_listen);
        if !other.peers.is_empty() {
            self.peers.clone_from(&other.peers);
        }
        set_some(
            &mut self.cluster_secret_file,
            other.cluster_secret_file.clone(),
        );
    }

    fn is_empty(&self) -> bool {
        self == &ClusterSettings::default()
    }
}

/// A node's place in its Raft group, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's id.
    pub node_id: u64,
    /// Its Raft port.
    pub raft_listen: SocketAddr,
    /// The other nodes' ids and Raft addresses.
    pub peers: std::collections::BTreeMap<u64, String>,
    /// The cluster secret's file.
    pub secret_file: PathBuf,
}

impl ClusterConfig {
    /// Every node of the group with its Raft address, this one included.
    pub fn members(&self) -> std::collections::BTreeMap<u64, String> {
        let mut members = self.peers.clone();
        members.insert(self.node_id, self.raft_listen.to_string());
        members
    }
}

/// The resolved settings of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The data directory of the engine.
    pub data_dir: PathBuf,
    /// When writes become durable.
    pub durability: DurabilityMode,
    /// The interval of [`DurabilityMode::Periodic`], in milliseconds.
    pub periodic_sync_ms: u64,
    /// Serve without authentication (allowed on loopback addresses only).
    pub no_auth: bool,
    /// The master key file of the user store (`None`: the default place).
    pub master_key_file: Option<PathBuf>,
    /// Connections served at once; more are answered with an error and
    /// closed.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (0: never).
    pub idle_timeout_secs: u64,
    /// Replies a connection may have waiting to be sent; past this the
    /// server stops reading its requests until the client reads.
    pub pending_replies_max: usize,
    /// The largest single reply (`KEYS`, `MGET`), in bytes; a larger one is
    /// replaced by an error.
    pub reply_bytes_max: usize,
    /// Memory for recently read values, in MiB (0, the default: no cache;
    /// with segments read through maps it measured slower than none).
    pub value_cache_mib: usize,
    /// Worker threads of the network runtime (0: one per core).
    pub threads: usize,
    /// Where to serve Prometheus metrics over HTTP (off when `None`).
    pub metrics_listen: Option<SocketAddr>,
    /// How long shutdown waits for connections to finish their commands.
    pub shutdown_grace_secs: u64,
    /// The log level: error, warn, info, debug or trace.
    pub log_level: String,
    /// Let the owner's group read the data directory: the engine creates
    /// files 0640 and directories 0750 instead of 0600 and 0700. Secrets
    /// (the master key, the first admin's password) stay 0600.
    pub group_read: bool,
    /// The engine's tunables.
    pub store: StoreSettings,
    /// The node's Raft group settings as given (see
    /// [`ServerConfig::cluster`]).
    pub cluster_settings: ClusterSettings,
}

/// Permission bits of the store's files and directories with `group_read`.
pub const GROUP_READ_MODES: (u32, u32) = (0o640, 0o750);

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listen address is a valid socket address"),
            data_dir: PathBuf::from("./hightower-data"),
            durability: DurabilityMode::Sync,
            periodic_sync_ms: 100,
            no_auth: false,
            master_key_file: None,
            max_connections: 10_000,
            idle_timeout_secs: 300,
            pending_replies_max: 1024,
            reply_bytes_max: 256 * 1024 * 1024,
            value_cache_mib: 0,
            threads: 0,
            metrics_listen: None,
            shutdown_grace_secs: 10,
            log_level: "info".to_string(),
            group_read: false,
            store: StoreSettings::default(),
            cluster_settings: ClusterSettings::default(),
        }
    }
}

/// The settings a configuration file may hold; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub durability: Option<DurabilityMode>,
    pub periodic_sync_ms: Option<u64>,
    pub no_auth: Option<bool>,
    pub master_key_file: Option<PathBuf>,
    pub max_connections: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
    pub pending_replies_max: Option<usize>,
    pub reply_bytes_max: Option<usize>,
    pub value_cache_mib: Option<usize>,
    pub threads: Option<usize>,
    pub metrics_listen: Option<SocketAddr>,
    pub shutdown_grace_secs: Option<u64>,
    pub log_level: Option<String>,
    pub group_read: Option<bool>,
    pub store: Option<StoreSettings>,
    pub cluster: Option<ClusterSettings>,
}

/// The flags of `hightower serve` (besides the global `--data-dir` and
/// `--durability`). Each overrides the configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A TOML configuration file; flags override what it sets.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:7379].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve without authentication; refused unless the address is loopback.
    #[arg(long)]
    pub no_auth: bool,
    /// The master key file of the user store [default: $HIGHTOWER_MASTER_KEY_FILE,
    /// else <DATA_DIR>.master-key, created with mode 0600 when missing].
    #[arg(long, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// The fsync interval of `--durability periodic`, in milliseconds [default: 100].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub periodic_sync_ms: Option<u64>,
    /// Connections served at once [default: 10000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: Option<u64>,
    /// Close a connection silent this long, in seconds; 0 never [default: 300].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Replies waiting to be sent per connection before its reading pauses [default: 1024].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub pending_replies_max: Option<u64>,
    /// The largest single reply in bytes [default: 268435456].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    pub reply_bytes_max: Option<u64>,
    /// Memory for recently read values in MiB; 0 turns the cache off [default: 0].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(0..=1_048_576))]
    pub value_cache_mib: Option<u64>,
    /// Network worker threads; 0 is one per core [default: 0].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=1024))]
    pub threads: Option<u64>,
    /// Serve Prometheus metrics over HTTP on this address (at /metrics).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds shutdown waits for connections to finish [default: 10].
    #[arg(long, value_name = "SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// error, warn, info, debug or trace [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Create the store's files 0640 and directories 0750, so that the
    /// owner's group can read them (backups, monitoring) [default: 0600 and 0700].
    #[arg(long)]
    pub group_read: bool,
    /// The engine's tunables.
    #[command(flatten)]
    pub store: StoreSettings,
    /// The node's Raft group.
    #[command(flatten)]
    pub cluster: ClusterSettings,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or names an unknown setting.
    #[error("configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A setting has a value the server cannot run with.
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

impl FileConfig {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the text of a configuration file.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }
}

/// Overrides `target` with `value` when there is one.
fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

impl ServerConfig {
    /// Whether the server is a node of a Raft group.
    pub(crate) fn replicated(&self) -> bool {
        self.cluster_settings.node_id.is_some()
    }

    /// Applies the settings a file names.
    pub fn apply_file(&mut self, file: FileConfig) {
        set(&mut self.listen, file.listen);
        set(&mut self.data_dir, file.data_dir);
        set(&mut self.durability, file.durability);
        set(&mut self.periodic_sync_ms, file.periodic_sync_ms);
        set(&mut self.no_auth, file.no_auth);
        if file.master_key_file.is_some() {
            self.master_key_file = file.master_key_file;
        }
        set(&mut self.max_connections, file.max_connections);
        set(&mut self.idle_timeout_secs, file.idle_timeout_secs);
        set(&mut self.pending_replies_max, file.pending_replies_max);
        set(&mut self.reply_bytes_max, file.reply_bytes_max);
        set(&mut self.value_cache_mib, file.value_cache_mib);
        set(&mut self.threads, file.threads);
        if file.metrics_listen.is_some() {
            self.metrics_listen = file.metrics_listen;
        }
        set(&mut self.shutdown_grace_secs, file.shutdown_grace_secs);
        set(&mut self.log_level, file.log_level);
        set(&mut self.group_read, file.group_read);
        if let Some(store) = &file.store {
            self.store.override_with(store);
        }
        if let Some(cluster) = &file.cluster {
            self.cluster_settings.override_with(cluster);
        }
    }

    /// Applies the flags given on the command line. `data_dir` and
    /// `durability` are the global flags, when given explicitly.
    pub fn apply_args(
        &mut self,
        args: &ServeArgs,
        data_dir: Option<PathBuf>,
        durability: Option<DurabilityMode>,
    ) {
        let as_usize = |n: Option<u64>| n.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        set(&mut self.listen, args.listen);
        set(&mut self.data_dir, data_dir);
        set(&mut self.durability, durability);
        set(&mut self.periodic_sync_ms, args.periodic_sync_ms);
        if args.no_auth {
            self.no_auth = true;
        }
        if args.master_key_file.is_some() {
            self.master_key_file.clone_from(&args.master_key_file);
        }
        set(&mut self.max_connections, as_usize(args.max_connections));
        set(&mut self.idle_timeout_secs, args.idle_timeout_secs);
        set(
            &mut self.pending_replies_max,
            as_usize(args.pending_replies_max),
        );
        set(&mut self.reply_bytes_max, as_usize(args.reply_bytes_max));
        set(&mut self.value_cache_mib, as_usize(args.value_cache_mib));
        set(&mut self.threads, as_usize(args.threads));
        if args.metrics_listen.is_some() {
            self.metrics_listen = args.metrics_listen;
        }
        set(&mut self.shutdown_grace_secs, args.shutdown_grace_secs);
        set(&mut self.log_level, args.log_level.clone());
        if args.group_read {
            self.group_read = true;
        }
        self.store.override_with(&args.store);
        self.cluster_settings.override_with(&args.cluster);
    }

    /// Checks the settings against each other and their ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_string(),
            })
        };
        if self.no_auth && !self.listen.ip().is_loopback() {
            return invalid(
                "no_auth",
                &format!(
                    "serving without authentication is allowed only on a loopback address, not {}",
                    self.listen
                ),
            );
        }
        if self.max_connections == 0 {
            return invalid("max_connections", "must be at least 1");
        }
        if self.pending_replies_max == 0 {
            return invalid("pending_replies_max", "must be at least 1");
        }
        if self.periodic_sync_ms == 0 {
            return invalid("periodic_sync_ms", "must be at least 1");
        }
        if self.reply_bytes_max < 1024 {
            return invalid("reply_bytes_max", "must be at least 1024");
        }
        if self.log_level().is_none() {
            return invalid(
                "log_level",
                "must be one of error, warn, info, debug, trace",
            );
        }
        self.cluster()?;
        self.store.validate()
    }

    /// The node's place in a Raft group; `None` when no cluster setting is
    /// given. A cluster needs the node id, the Raft address and the secret
    /// file; each peer is `ID=ADDR` with an id other than this node's.
    pub fn cluster(&self) -> Result<Option<ClusterConfig>, ConfigError> {
        let settings = &self.cluster_settings;
        if settings.is_empty() {
            return Ok(None);
        }
        let invalid = |setting, reason: String| ConfigError::Invalid { setting, reason };
        let needs = |what: &str| format!("a node of a Raft group needs {what}");
        let node_id = settings
            .node_id
            .ok_or_else(|| invalid("node_id", needs("--node-id")))?;
        let raft_listen = settings
            .raft_listen
            .ok_or_else(|| invalid("raft_listen", needs("--raft-listen")))?;
        let secret_file = settings.cluster_secret_file.clone().ok_or_else(|| {
            invalid(
                "cluster_secret_file",
                needs("--cluster-secret-file (make one with `hightower cluster new-secret FILE`)"),
            )
        })?;
        let mut peers = std::collections::BTreeMap::new();
        for peer in &settings.peers {
            let (id, addr) = peer
                .split_once('=')
                .ok_or_else(|| invalid("peer", format!("`{peer}` is not ID=ADDR")))?;
            let id: u64 = id.trim().parse().ok().filter(|&id| id > 0).ok_or_else(|| {
                invalid("peer", format!("`{peer}`: the id is not a number above 0"))
            })?;
            let addr = addr.trim();
            if addr.is_empty() {
                return Err(invalid("peer", format!("`{peer}` names no address")));
            }
            if id == node_id {
                return Err(invalid(
                    "peer",
                    format!("`{peer}` has this node's own id {node_id}"),
                ));
            }
            if peers.insert(id, addr.to_string()).is_some() {
                return Err(invalid("peer", format!("node {id} is named twice")));
            }
        }
        Ok(Some(ClusterConfig {
            node_id,
            raft_listen,
            peers,
            secret_file,
        }))
    }

    /// The log level as a tracing level, `None` when it names none.
    pub fn log_level(&self) -> Option<tracing::Level> {
        self.log_level.parse().ok()
    }

    /// The idle timeout, `None` for never.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout_secs > 0).then(|| Duration::from_secs(self.idle_timeout_secs))
    }

    /// The engine configuration these settings ask for: the data
    /// directory, the durability and the permission bits of new files.
    pub fn engine_config(&self) -> hightower_engine::EngineConfig {
        let config = self.store.applied_to(
            hightower_engine::EngineConfig::new(&self.data_dir)
                .durability(self.engine_durability()),
        );
        if self.group_read {
            let (file_mode, dir_mode) = GROUP_READ_MODES;
            return config.file_modes(file_mode, dir_mode);
        }
        config
    }

    /// The engine durability these settings ask for.
    pub fn engine_durability(&self) -> hightower_engine::Durability {
        match self.durability {
            DurabilityMode::Sync => hightower_engine::Durability::Sync,
            DurabilityMode::Periodic => {
                hightower_engine::Durability::Periodic(Duration::from_millis(self.periodic_sync_ms))
            }
            DurabilityMode::None => hightower_engine::Durability::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = FileConfig::parse(
            "listen = \"127.0.0.1:1234\"\nmax_connections = 7\ndurability = \"periodic\"\n",
        )
        .expect("valid file");
        let mut config = ServerConfig::default();
        config.apply_file(file);
        let args = ServeArgs {
            max_connections: Some(9),
            ..ServeArgs::default()
        };
        config.apply_args(&args, Some(PathBuf::from("/tmp/x")), None);
        assert_eq!(config.listen.port(), 1234);
        assert_eq!(config.max_connections, 9);
        assert_eq!(config.durability, DurabilityMode::Periodic);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.idle_timeout_secs, 300);
        config.validate().expect("valid");
    }

    #[test]
    fn group_read_comes_from_the_file_or_the_flag() {
        let mut config = ServerConfig::default();
        assert!(!config.group_read);
        config.apply_file(FileConfig::parse("group_read = true\n").expect("valid file"));
        assert!(config.group_read);
        let mut config = ServerConfig::default();
        let args = ServeArgs {
            group_read: true,
            ..ServeArgs::default()
        };
        config.apply_args(&args, None, None);
        assert!(config.group_read);
    }

    #[test]
    fn store_tunables_come_from_the_file_then_the_flags() {
        let file = FileConfig::parse(
            "[store]\nsegment_bytes_max = 1048576\ncompaction_dead_ratio_min = 0.25\n\
             expiry_sweep_keys_per_second = 5\n",
        )
        .expect("valid file");
        let mut config = ServerConfig::default();
        config.apply_file(file);
        let args = ServeArgs {
            store: StoreSettings {
                segment_bytes_max: Some(2 << 20),
                value_bytes_max: Some(4096),
                ..StoreSettings::default()
            },
            ..ServeArgs::default()
        };
        config.apply_args(&args, None, None);
        config.validate().expect("valid");
        let engine = config.engine_config();
        assert_eq!(engine.segment_bytes_max, 2 << 20, "the flag wins");
        assert_eq!(engine.limits.value_bytes_max, 4096);
        assert_eq!(engine.compaction.dead_ratio_min, 0.25);
        assert_eq!(engine.expiry_sweep_keys_per_second, 5);
        let defaults = hightower_engine::EngineConfig::new("unused");
        assert_eq!(
            engine.write_buffer_bytes, defaults.write_buffer_bytes,
            "unset keeps the default"
        );
        assert!(FileConfig::parse("[store]\nsegment_size = 1\n").is_err());
        config.store.compaction_dead_ratio_min = Some(1.5);
        assert!(config.validate().is_err());
    }

    #[test]
    fn unknown_settings_are_refused() {
        let error = FileConfig::parse("listen_port = 1\n").expect_err("unknown field");
        assert!(error.contains("listen_port"), "{error}");
    }

    #[test]
    fn no_auth_is_refused_off_loopback() {
        let config = ServerConfig {
            listen: "0.0.0.0:7379".parse().expect("valid"),
            no_auth: true,
            ..ServerConfig::default()
        };
        let error = config.validate().expect_err("not loopback");
        assert!(error.to_string().contains("loopback"), "{error}");
    }

    #[test]
    fn a_bad_log_level_is_refused() {
        let config = ServerConfig {
            log_level: "loud".into(),
            ..ServerConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
