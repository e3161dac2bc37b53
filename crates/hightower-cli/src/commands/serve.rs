//! `hightower serve`: the Redis-protocol server on the data directory.
//!
//! Settings come from the defaults, then `--config FILE`, then the flags.
//! The process prints `metrics on ADDR` (with `--metrics-listen`) and then
//! `listening on ADDR` on stdout once it accepts connections, logs through tracing on stderr, and on SIGINT or SIGTERM
//! stops accepting, lets connections finish what they have sent, syncs
//! the engine and exits with status 0.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap::parser::ValueSource;
use hightower_auth::{AuthService, Grant, Permission, SecretHasher};
use hightower_engine::{KvEngine, SingleNodeEngine};
use hightower_server::server::auth::ServiceAuthorizer;
use hightower_server::server::config::{DurabilityMode, FileConfig, ServeArgs};
use hightower_server::server::{Authorizer, OpenAccess, ServedEngine, Server, ServerConfig};
use rand::distr::{Alphanumeric, SampleString};
use zeroize::Zeroizing;

use super::master_key::{self, Missing, create_owner_only, sync_parent_dir};
use crate::cli::{Cli, DurabilityArg};

/// The first user, created when the store has none.
const ADMIN_USER: &str = "admin";

/// The file in the data directory that holds the first admin's password.
const ADMIN_PASSWORD_FILE: &str = "admin-password";

/// Characters of the first admin's password (about 143 bits).
const ADMIN_PASSWORD_CHARS: usize = 24;

/// Threads of the blocking pool at most (writes under `sync` durability,
/// compaction, password checks).
const BLOCKING_THREADS_MAX: usize = 256;

/// Runs the server until a signal stops it: one node on its own, or a
/// node of a Raft group when cluster settings are given.
pub(crate) fn run(cli: &Cli, args: &ServeArgs) -> Result<()> {
    let config = resolve_config(cli, args)?;
    init_logging(&config);
    if let Some(cluster) = config.cluster()? {
        return super::cluster::serve(config, cluster);
    }
    let engine_config = config.engine_config();
    let engine = Arc::new(
        SingleNodeEngine::with_config(engine_config)
            .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?,
    );
    let authorizer = authorizer(&config, &engine)?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        keys = engine.len(),
        durability = ?config.durability,
        "engine open"
    );
    let runtime = runtime(&config)?;
    serve_engine(config, engine.clone(), authorizer, runtime, None)?;
    // Everything acknowledged reaches the disk before the process exits,
    // whatever the durability mode, even if a task that outlived the
    // runtime's grace still holds a handle on the engine.
    engine
        .sync()
        .context("cannot make the last writes durable at shutdown")?;
    drop(engine);
    Ok(())
}

/// What a node of a Raft group adds to [`serve_engine`].
pub(super) struct NodeServing {
    /// The engine `READONLY` connections read from.
    pub(super) follower_reads: Arc<dyn ServedEngine>,
    /// Called with the client address once the server listens.
    pub(super) listening: Box<dyn FnOnce(std::net::SocketAddr)>,
}

/// Serves `engine` on `runtime` until a signal, then lets the
/// connections finish within the grace.
pub(super) fn serve_engine<E: ServedEngine + 'static>(
    config: ServerConfig,
    engine: Arc<E>,
    authorizer: Arc<dyn Authorizer>,
    runtime: tokio::runtime::Runtime,
    node: Option<NodeServing>,
) -> Result<()> {
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let report = runtime.block_on(async {
        let stop = shutdown_signal()?;
        let mut server = Server::bind(config, engine, authorizer).await?;
        let addr = server
            .local_addr()
            .context("the listening socket has no address")?;
        if let Some(node) = node {
            server = server.with_follower_reads(node.follower_reads);
            (node.listening)(addr);
        }
        tracing::info!(%addr, "listening");
        let mut out = std::io::stdout().lock();
        if let Some(metrics) = server.metrics_addr() {
            tracing::info!(%metrics, "serving Prometheus metrics at /metrics");
            writeln!(out, "metrics on {metrics}")?;
        }
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
        drop(out);
        Ok::<_, anyhow::Error>(server.run(stop).await?)
    })?;
    runtime.shutdown_timeout(grace);
    tracing::info!(
        connections_open = report.connections_open,
        connections_aborted = report.connections_aborted,
        "server stopped"
    );
    Ok(())
}

/// Defaults, then the file, then the flags.
fn resolve_config(cli: &Cli, args: &ServeArgs) -> Result<ServerConfig> {
    let mut config = ServerConfig::default();
    if let Some(path) = &args.config {
        config.apply_file(FileConfig::load(path)?);
    }
    let data_dir = data_dir_given().then(|| cli.data_dir.clone());
    let durability = cli.durability.map(|flag| match flag {
        DurabilityArg::Sync => DurabilityMode::Sync,
        DurabilityArg::Periodic => DurabilityMode::Periodic,
        DurabilityArg::None => DurabilityMode::None,
    });
    config.apply_args(args, data_dir, durability);
    config.validate()?;
    Ok(config)
}

/// Whether `--data-dir` was on the command line (rather than its default),
/// so that it overrides the configuration file only then.
fn data_dir_given() -> bool {
    let Ok(matches) = Cli::command().try_get_matches_from(std::env::args_os()) else {
        return false;
    };
    let given = |m: &clap::ArgMatches| m.value_source("data_dir") == Some(ValueSource::CommandLine);
    given(&matches) || matches.subcommand().is_some_and(|(_, sub)| given(sub))
}

fn init_logging(config: &ServerConfig) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = config.log_level().unwrap_or(tracing::Level::INFO);
    // openraft tells of every election and replication step at info; its
    // warnings and errors are what an operator needs unless debugging.
    let raft_level = if level >= tracing::Level::DEBUG {
        level
    } else {
        tracing::Level::WARN.min(level)
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("openraft", raft_level);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .try_init();
}

/// The authorizer the settings ask for: open access with `--no-auth`,
/// else the store's users and API keys, with the service itself (to make
/// the first admin user later).
pub(super) fn auth_service<E: KvEngine + 'static>(
    config: &ServerConfig,
    engine: &Arc<E>,
) -> Result<Option<Arc<AuthService<E>>>> {
    if config.no_auth {
        tracing::warn!(listen = %config.listen, "authentication is off (--no-auth)");
        return Ok(None);
    }
    let loaded = master_key::load(
        &config.data_dir,
        config.master_key_file.as_deref(),
        Missing::Create,
    )?;
    if let Some(path) = &loaded.created {
        tracing::warn!(
            path = %path.display(),
            "generated a new master key (mode 0600); keep it safe and apart from the data directory"
        );
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "generated the master key {} (mode 0600): back it up apart from the data \
             directory; without it the users' sealed metadata cannot be read",
            path.display()
        )?;
        out.flush()?;
    }
    let encryptor = loaded.encryptor;
    let hasher = SecretHasher::builder().build()?;
    Ok(Some(Arc::new(AuthService::new(
        engine.clone(),
        hasher,
        encryptor,
    ))))
}

/// The authorizer over `service`, or open access without one.
pub(super) fn authorizer_of<E: KvEngine + 'static>(
    service: Option<Arc<AuthService<E>>>,
) -> Arc<dyn Authorizer> {
    match service {
        Some(service) => Arc::new(ServiceAuthorizer::new(service)),
        None => Arc::new(OpenAccess),
    }
}

/// The authorizer of a node on its own; makes the first admin user when
/// the store has none.
fn authorizer(
    config: &ServerConfig,
    engine: &Arc<SingleNodeEngine>,
) -> Result<Arc<dyn Authorizer>> {
    let service = auth_service(config, engine)?;
    if let Some(service) = &service {
        ensure_first_admin(service, &config.data_dir)?;
    }
    Ok(authorizer_of(service))
}

/// Creates the first admin user when the store has no user.
pub(super) fn ensure_first_admin<E: KvEngine + ?Sized>(
    service: &AuthService<E>,
    data_dir: &Path,
) -> Result<()> {
    if service
        .list_users(1)
        .context("cannot read the users")?
        .is_empty()
    {
        create_first_admin(service, data_dir)?;
    }
    Ok(())
}

/// Creates the first user, `admin`, with every permission and a random
/// password, written to a file readable only by its owner in the data
/// directory. The password is printed once when standard output is a
/// terminal; otherwise (a service manager, a pipe) only the file is named,
/// so that the password does not end up in a journal.
fn create_first_admin<E: KvEngine + ?Sized>(
    service: &AuthService<E>,
    data_dir: &Path,
) -> Result<()> {
    let password =
        Zeroizing::new(Alphanumeric.sample_string(&mut rand::rng(), ADMIN_PASSWORD_CHARS));
    let path = data_dir.join(ADMIN_PASSWORD_FILE);
    let mut file = create_owner_only(&path)?;
    writeln!(file, "{}", password.as_str())?;
    file.sync_all()?;
    sync_parent_dir(&path)?;
    let grants = vec![Grant::new(Permission::Admin, Vec::new())];
    if let Err(error) = service.create_user(ADMIN_USER, password.as_bytes(), grants) {
        let _ = std::fs::remove_file(&path);
        return Err(error).context("cannot create the first admin user");
    }
    tracing::warn!(user = ADMIN_USER, file = %path.display(), "no user existed: created the admin user");
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        writeln!(
            out,
            "created user {ADMIN_USER} with password {} (also in {}, mode 0600; shown only this once)",
            password.as_str(),
            path.display()
        )?;
    } else {
        writeln!(
            out,
            "created user {ADMIN_USER}; its password is in {} (mode 0600)",
            path.display()
        )?;
    }
    out.flush()?;
    Ok(())
}

pub(super) fn runtime(config: &ServerConfig) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        builder.worker_threads(config.threads);
    }
    builder
        .thread_name("hightower-net")
        .max_blocking_threads(BLOCKING_THREADS_MAX)
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// Watches for SIGINT and SIGTERM from now on, and returns a future that
/// completes on the first. The handlers are in place when this returns:
/// a signal that arrives after `listening on` is printed must stop the
/// server gracefully (with its last writes made durable), never kill it.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// Returns a future that completes on the first interrupt.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("interrupt received");
    })
}
