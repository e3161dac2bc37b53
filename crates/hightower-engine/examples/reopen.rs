//! Times reopening a store of 1,000,000 keys (16 random bytes each,
//! 100-byte values, written one put at a time under `Durability::None`):
//! after a clean close, and from a crash image, a copy of the files taken
//! while the engine was still open, with the newest sealed segment's
//! footer cut off (a seal the crash interrupted) and a torn frame at the
//! end of the active segment. The crash reopen scans both unsealed
//! segments and seals the older one.
//!
//! Run with `cargo run --release -p hightower-engine --example reopen`.
//! Optional arguments: the number of keys, a directory to keep the
//! stores in (a later run given the same directory only reopens them,
//! which is what a profile of the reopen wants), and `clean` or `crash`
//! to time only that case.

#![allow(
    clippy::print_stdout,
    reason = "a measurement tool that prints its results"
)]

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use hightower_engine::{Durability, EngineConfig, SingleNodeEngine};
use hightower_log::footer::TRAILER_MAGIC;
use rand::{Rng, SeedableRng};

/// Reopens timed per case.
const ROUNDS: usize = 3;

fn open(dir: &Path) -> Result<(SingleNodeEngine, f64)> {
    let started = Instant::now();
    let engine = SingleNodeEngine::with_config(EngineConfig::new(dir).durability(Durability::None))
        .with_context(|| format!("opening {}", dir.display()))?;
    Ok((engine, started.elapsed().as_secs_f64()))
}

/// Copies every file of `from` into `to`.
fn copy_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext != "lock") {
            std::fs::copy(&path, to.join(path.file_name().context("a file name")?))?;
        }
    }
    Ok(())
}

/// Turns the copy in `dir` into what a crash leaves: the newest sealed
/// segment loses its footer and trailer, the newest segment gets half a
/// frame at its end.
fn make_crash_image(dir: &Path) -> Result<()> {
    let mut segments: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    segments.retain(|path| path.extension().is_some_and(|ext| ext == "log"));
    segments.sort();
    let (newest, older) = segments.split_last().context("a segment")?;
    if let Some(sealed) = older.last() {
        let bytes = std::fs::read(sealed)?;
        let trailer = &bytes[bytes.len() - 16..];
        // A seal still running when the files were copied left no trailer.
        if trailer[8..] == TRAILER_MAGIC {
            let footer_offset = u64::from_le_bytes(trailer[..8].try_into()?);
            std::fs::OpenOptions::new()
                .write(true)
                .open(sealed)?
                .set_len(footer_offset)?;
        }
    }
    let mut torn = std::fs::read(newest)?;
    torn.extend_from_slice(&[5u8; 20]);
    std::fs::write(newest, torn)?;
    Ok(())
}

/// Writes `n_keys` keys into a new store at `store`, and copies its files
/// to `crash_source` while the engine is still open.
fn fill(store: &Path, crash_source: &Path, n_keys: u64) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let value = [7u8; 100];
    let (engine, _) = open(store)?;
    for _ in 0..n_keys {
        let key: [u8; 16] = rng.random();
        engine.put(&key, &value)?;
    }
    engine.sync()?;
    copy_files(store, crash_source)?;
    Ok(())
}

fn main() -> Result<()> {
    let n_keys: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().context("the number of keys")?,
        None => 1_000_000,
    };
    let tmp = tempfile::tempdir()?;
    let base = match std::env::args().nth(2) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => tmp.path().to_path_buf(),
    };
    let (store, crash_source) = (base.join("store"), base.join("crash"));
    if !crash_source.exists() {
        fill(&store, &crash_source, n_keys)?;
    }
    let only = std::env::args().nth(3);
    let (clean, crash) = match only.as_deref() {
        Some("clean") => (ROUNDS, 0),
        Some("crash") => (0, ROUNDS),
        _ => (ROUNDS, ROUNDS),
    };
    println!("{n_keys} keys");
    for round in 0..clean {
        let (engine, secs) = open(&store)?;
        println!(
            "clean close, round {round}: {secs:.3} s ({} keys)",
            engine.recovery_info().keys
        );
    }
    for round in 0..crash {
        let crashed = base.join(format!("crash-{round}"));
        copy_files(&crash_source, &crashed)?;
        make_crash_image(&crashed)?;
        let (engine, secs) = open(&crashed)?;
        println!(
            "crash image, round {round}: {secs:.3} s ({} keys, {} bytes cut)",
            engine.recovery_info().keys,
            engine.recovery_info().truncated_bytes
        );
        drop(engine);
        std::fs::remove_dir_all(&crashed)?;
    }
    Ok(())
}
