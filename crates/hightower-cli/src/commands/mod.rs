//! The subcommands, one module per group, and what they share: opening
//! the engine, and the mapping from errors to exit statuses.
//!
//! Every command returns `anyhow::Result<()>`. Outcomes that are not a
//! success but not a malfunction either (an absent key, a version conflict,
//! a failed verification) are errors of a type [`Status::for_error`]
//! recognises, so `main` prints every failure the same way, as one line.

mod auth;
mod backup;
mod bench;
mod cluster;
mod compact;
mod kv;
mod master_key;
mod serve;
mod stats;
mod verify;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hightower_engine::{Durability, EngineConfig, EngineError, SingleNodeEngine};
use hightower_raft::admin::AdminRequest;

use crate::cli::{Cli, ClusterCommand, Command, DurabilityArg};

pub(crate) use kv::KeyNotFound;
pub(crate) use verify::VerificationFailed;

/// The interval of `--durability periodic`.
pub(crate) const PERIODIC_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// How the process ends; the values are documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Everything asked for was done.
    Success = 0,
    /// `get` found no such key.
    NotFound = 1,
    /// Anything else went wrong.
    Failure = 2,
    /// A compare-and-set condition did not hold; nothing was written.
    Conflict = 3,
    /// `verify` found a corrupt or unreadable segment.
    VerifyFailed = 4,
}

impl Status {
    /// The status a failure ends the process with.
    pub(crate) fn for_error(error: &anyhow::Error) -> Status {
        if find_cause::<KeyNotFound>(error).is_some() {
            Status::NotFound
        } else if find_cause::<VerificationFailed>(error).is_some() {
            Status::VerifyFailed
        } else if let Some(EngineError::VersionConflict { .. }) = find_cause::<EngineError>(error) {
            Status::Conflict
        } else {
            Status::Failure
        }
    }

    /// The process exit code.
    pub(crate) fn exit_code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// The first error of type `E` in the chain of causes.
fn find_cause<E: std::error::Error + 'static>(error: &anyhow::Error) -> Option<&E> {
    error.chain().find_map(|cause| cause.downcast_ref::<E>())
}

/// Whether the failure is stdout closed by its reader (`hightower scan |
/// head`), which ends the output early but is not an error.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    find_cause::<std::io::Error>(error).is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Runs the subcommand `cli` names.
pub(crate) fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Put(args) => kv::put(cli, args),
        Command::Get(args) => kv::get(cli, args),
        Command::Del(args) => kv::del(cli, args),
        Command::Scan(args) => kv::scan(cli, args),
        Command::Stats => stats::run(cli),
        Command::Verify => verify::run(cli),
        Command::Compact(args) => compact::run(cli, args),
        Command::Bench(args) => bench::run(cli, args),
        Command::Serve(args) => serve::run(cli, args),
        Command::Cluster(ClusterCommand::NewSecret { file }) => cluster::new_secret(file),
        Command::Cluster(ClusterCommand::Status(node)) => cluster::status(node),
        Command::Cluster(ClusterCommand::AddLearner {
            node,
            id,
            raft_addr,
        }) => cluster::change(
            node,
            AdminRequest::AddLearner {
                id: *id,
                addr: raft_addr.clone(),
            },
        ),
        Command::Cluster(ClusterCommand::Promote { node, id }) => {
            cluster::change(node, AdminRequest::Promote { id: *id })
        }
        Command::Cluster(ClusterCommand::Remove { node, id }) => {
            cluster::change(node, AdminRequest::Remove { id: *id })
        }
        Command::User(args) => auth::user(cli, args),
        Command::Apikey(args) => auth::apikey(cli, args),
        Command::Backup(args) => backup::backup(cli, args),
        Command::Restore(args) => backup::restore(cli, args),
    }
}

/// Whether a command may create the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Writes create the directory when it is missing.
    CreateMissing,
    /// Reads and checks need an existing directory: opening a mistyped
    /// path must not leave an empty store behind.
    MustExist,
}

/// The engine durability for the flag, or `default` without one.
fn durability(flag: Option<DurabilityArg>, default: DurabilityArg) -> Durability {
    match flag.unwrap_or(default) {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Periodic => Durability::Periodic(PERIODIC_SYNC_INTERVAL),
        DurabilityArg::None => Durability::None,
    }
}

/// Opens the store in `--data-dir` with `--durability` (default `sync`).
fn open_engine(cli: &Cli, access: Access) -> Result<SingleNodeEngine> {
    let durability = durability(cli.durability, DurabilityArg::Sync);
    open_dir(&cli.data_dir, durability, access)
}

fn open_dir(dir: &Path, durability: Durability, access: Access) -> Result<SingleNodeEngine> {
    if access == Access::MustExist && !dir.is_dir() {
        bail!(
            "data directory {} does not exist or is not a directory (pass --data-dir)",
            dir.display()
        );
    }
    // A one-shot command does not sweep expired keys: reading or
    // verifying a store must not write to it (the server sweeps).
    let config = EngineConfig::new(dir)
        .durability(durability)
        .expiry_sweep_keys_per_second(0);
    SingleNodeEngine::with_config(config)
        .with_context(|| format!("cannot open data directory {}", dir.display()))
}

/// A progress bar on stderr over `total` steps, drawn with `template`;
/// hidden below `shown_from` steps, where it would only flicker.
pub(crate) fn progress_bar(
    total: u64,
    shown_from: u64,
    template: &str,
) -> Result<indicatif::ProgressBar> {
    if total < shown_from {
        return Ok(indicatif::ProgressBar::hidden());
    }
    let style = indicatif::ProgressStyle::with_template(template)
        .context("progress bar template")?
        .progress_chars("=> ");
    Ok(indicatif::ProgressBar::new(total).with_style(style))
}
