//! `peers`: runs one workload against Hightower KV, fjall, redb and sled in
//! one process and prints throughput tables with Hightower's ratio to the
//! best peer, disk and memory figures, and the bars of the brief.
//!
//! Run it from the repository root:
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- --keys 1000000
//! ```
//!
//! The phases are described in [`workload`]; what each engine does for
//! "unsynced" and "synced" is written on its adapter in [`subjects`].

mod dataset;
mod measure;
mod report;
mod subjects;
mod workload;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;

use crate::dataset::Dataset;
use crate::subjects::{EngineKind, HightowerOptions};
use crate::workload::{Plan, run_engine};

/// Compares Hightower KV with fjall, redb and sled on the same seeded
/// workload, in one run.
#[derive(Debug, Parser)]
#[command(name = "peers")]
struct Args {
    /// Keys loaded (and read back) per engine.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Bytes per key.
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Puts per batch in the batch phase.
    #[arg(long, default_value_t = 1_000)]
    batch_size: usize,
    /// Synced puts per engine.
    #[arg(long, default_value_t = 5_000)]
    sync_ops: usize,
    /// Submitting threads for Hightower's synced puts (group commit).
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Hightower's `worker_threads` (0 = writes run on the caller's thread).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Engines to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<EngineKind>,
    /// Seed of the keys, values and read order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the temporary stores go (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn validate(args: &Args) -> Result<()> {
    if args.keys == 0 || u32::try_from(args.keys).is_err() {
        bail!("--keys must be between 1 and {}", u32::MAX);
    }
    if args.key_size == 0 || args.key_size > 1024 {
        bail!("--key-size must be between 1 and 1024 bytes");
    }
    if args.value_size > 1 << 20 {
        bail!("--value-size must be at most 1 MiB");
    }
    if args.batch_size == 0 || args.threads == 0 || args.sync_ops == 0 {
        bail!("--batch-size, --threads and --sync-ops must be at least 1");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    validate(&args)?;
    let engines: Vec<EngineKind> = EngineKind::ALL
        .into_iter()
        .filter(|kind| args.only.is_empty() || args.only.contains(kind))
        .collect();
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;

    eprintln!("generating {} keys ...", args.keys);
    let data = Dataset::generate(
        args.seed,
        args.key_size,
        args.value_size,
        args.keys,
        args.sync_ops,
        2,
    );
    let plan = Plan {
        batch_size: args.batch_size,
        sync_threads: args.threads,
        hightower: HightowerOptions {
            worker_threads: args.workers,
        },
    };
    let mut reports = Vec::with_capacity(engines.len());
    for kind in engines {
        reports.push(run_engine(kind, &data, plan, &base)?);
    }
    let header = report::Header {
        n_keys: args.keys,
        key_size: args.key_size,
        value_size: args.value_size,
        batch_size: args.batch_size,
        sync_ops: args.sync_ops,
        threads: args.threads,
        workers: args.workers,
        seed: args.seed,
    };
    report::print(&header, &reports);
    Ok(())
}
