//! The workload run against each engine, phase by phase, and what it
//! records.
//!
//! Each engine gets two fresh directories. The first takes the unsynced
//! single puts of the load keys and is then closed and reopened (the reopen
//! is timed). The second takes the same keys again in batches, so that both
//! load phases insert into an empty store; the random gets, the skewed
//! read/update mixes ([`SKEW_MIXES`]), then the synced puts of further
//! keys, run on it. Between phases each engine is asked to make its writes
//! durable, outside the timed sections.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::dataset::Dataset;
use crate::measure::{Measured, dir_bytes, rss_bytes, timed};
use crate::subjects::{EngineKind, HightowerOptions, Pair, Subject};

/// The skewed mixes, as percent reads (the rest are updates of loaded
/// keys, unsynced): 50/50, 95/5 and 100/0.
pub const SKEW_MIXES: [u8; 3] = [50, 95, 100];

/// How the workload runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Puts per batch in the batch phase.
    pub batch_size: usize,
    /// Submitting threads for an engine with group commit.
    pub sync_threads: usize,
    /// How Hightower is opened.
    pub hightower: HightowerOptions,
}

/// Everything measured for one engine.
#[derive(Debug, Clone)]
pub struct EngineReport {
    /// Which engine.
    pub kind: EngineKind,
    /// Unsynced single puts of the load keys into an empty store.
    pub single_puts: Measured,
    /// Unsynced batched puts of the load keys into an empty store.
    pub batch_puts: Measured,
    /// Random gets of load keys.
    pub gets: Measured,
    /// The skewed mixes, in the order of [`SKEW_MIXES`].
    pub skewed: [Measured; 3],
    /// Synced puts, from `sync_threads` threads for an engine with group
    /// commit, one by one otherwise.
    pub synced_puts: Measured,
    /// Synced puts from one thread, for an engine with group commit.
    pub synced_puts_one_thread: Option<Measured>,
    /// Time to open the store of the single-put phase again.
    pub reopen: Duration,
    /// Disk bytes of the single-put store after closing it.
    pub disk_single_bytes: u64,
    /// Disk bytes of the batch store (load keys and synced keys) after
    /// closing it.
    pub disk_main_bytes: u64,
    /// Growth of the process's resident memory over the single-put phase.
    pub rss_growth_bytes: Option<i64>,
    /// The engine's own figure for its index memory, if it has one.
    pub index_memory_bytes: Option<u64>,
}

fn progress(kind: EngineKind, what: &str, started: Instant) {
    eprintln!(
        "[{:>7.1} s] {}: {what}",
        started.elapsed().as_secs_f64(),
        kind.name()
    );
}

/// Runs every phase against `kind` in fresh directories under `base`.
pub fn run_engine(
    kind: EngineKind,
    data: &Dataset,
    plan: Plan,
    base: &Path,
) -> Result<EngineReport> {
    let started = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix(kind.name())
        .tempdir_in(base)?;
    let (dir_single, dir_main) = (tmp.path().join("single"), tmp.path().join("main"));
    let n = data.n_load();
    std::fs::create_dir_all(&dir_single)?;
    std::fs::create_dir_all(&dir_main)?;

    progress(kind, &format!("single puts of {n} keys"), started);
    let rss_before = rss_bytes();
    let mut subject = kind.open(&dir_single, plan.hightower)?;
    let single_puts = timed(n as u64, || {
        (0..n).try_for_each(|i| subject.put(data.key(i), data.value(i)))
    })?;
    subject.settle()?;
    let index_memory_bytes = subject.index_memory_bytes();
    let rss_growth_bytes = rss_before
        .zip(rss_bytes())
        .map(|(before, after)| after as i64 - before as i64);
    drop(subject);
    let disk_single_bytes = dir_bytes(&dir_single)?;

    progress(kind, "reopen", started);
    let opening = Instant::now();
    let mut subject = kind.open(&dir_single, plan.hightower)?;
    let reopen = opening.elapsed();
    check_present(subject.as_mut(), data, &[0, n / 2, n - 1])?;
    drop(subject);
    std::fs::remove_dir_all(&dir_single)?;

    progress(
        kind,
        &format!("batches of {} puts", plan.batch_size),
        started,
    );
    let mut subject = kind.open(&dir_main, plan.hightower)?;
    let batch_puts = timed(n as u64, || {
        put_batches(subject.as_mut(), data, plan.batch_size)
    })?;
    subject.settle()?;

    progress(kind, &format!("{n} random gets"), started);
    let gets = timed(n as u64, || read_all(subject.as_mut(), data))?;

    let mut skewed = Vec::with_capacity(SKEW_MIXES.len());
    for read_percent in SKEW_MIXES {
        progress(
            kind,
            &format!("{n} skewed operations, {read_percent} % reads"),
            started,
        );
        skewed.push(timed(n as u64, || {
            run_mix(subject.as_mut(), data, read_percent)
        })?);
        subject.settle()?;
    }
    let skewed: [Measured; 3] = skewed
        .try_into()
        .expect("one measurement for each of the three mixes");

    progress(kind, "synced puts", started);
    subject.prepare_synced()?;
    let (synced_puts, synced_puts_one_thread) =
        run_synced(kind, subject.as_mut(), data, plan.sync_threads)?;
    drop(subject);
    let disk_main_bytes = dir_bytes(&dir_main)?;
    progress(kind, "done", started);

    Ok(EngineReport {
        kind,
        single_puts,
        batch_puts,
        gets,
        skewed,
        synced_puts,
        synced_puts_one_thread,
        reopen,
        disk_single_bytes,
        disk_main_bytes,
        rss_growth_bytes,
        index_memory_bytes,
    })
}

fn put_batches(subject: &mut dyn Subject, data: &Dataset, batch_size: usize) -> Result<()> {
    let mut pairs: Vec<Pair<'_>> = Vec::with_capacity(batch_size);
    let n = data.n_load();
    for start in (0..n).step_by(batch_size) {
        pairs.clear();
        pairs.extend((start..n.min(start + batch_size)).map(|i| data.pair(i)));
        subject.put_batch(&pairs)?;
    }
    Ok(())
}

fn read_all(subject: &mut dyn Subject, data: &Dataset) -> Result<()> {
    let mut misses = 0_u64;
    let mut value_bytes = 0_u64;
    for &i in &data.read_order {
        match subject.get(data.key(i as usize))? {
            Some(len) => value_bytes += len as u64,
            None => misses += 1,
        }
    }
    std::hint::black_box(value_bytes);
    if misses > 0 {
        bail!(
            "{misses} of {} loaded keys were not found",
            data.read_order.len()
        );
    }
    Ok(())
}

/// One skewed mix: reads of the keys [`Dataset::skew_order`] picks (each
/// must be there), and updates of them with another of the values.
fn run_mix(subject: &mut dyn Subject, data: &Dataset, read_percent: u8) -> Result<()> {
    let mut misses = 0_u64;
    let mut value_bytes = 0_u64;
    for (op, (&i, &coin)) in data.skew_order.iter().zip(&data.skew_coin).enumerate() {
        let i = i as usize;
        if coin < read_percent {
            match subject.get(data.key(i))? {
                Some(len) => value_bytes += len as u64,
                None => misses += 1,
            }
        } else {
            subject.put(data.key(i), data.value(i.wrapping_add(op + 1)))?;
        }
    }
    std::hint::black_box(value_bytes);
    if misses > 0 {
        bail!("{misses} skewed reads of loaded keys found nothing");
    }
    Ok(())
}

fn check_present(subject: &mut dyn Subject, data: &Dataset, indexes: &[usize]) -> Result<()> {
    for &i in indexes {
        if subject.get(data.key(i))?.is_none() {
            bail!("key {i} is missing after reopening");
        }
    }
    Ok(())
}

/// The synced phase: `threads` submitters for Hightower (and one more run
/// from a single thread, on other keys, to show what group commit adds);
/// one by one for the peers.
fn run_synced(
    kind: EngineKind,
    subject: &mut dyn Subject,
    data: &Dataset,
    threads: usize,
) -> Result<(Measured, Option<Measured>)> {
    let pairs = data.sync_pairs(0);
    if kind != EngineKind::Hightower {
        let measured = timed(pairs.len() as u64, || subject.synced_puts(&pairs, 1))?;
        return Ok((measured, None));
    }
    let measured = timed(pairs.len() as u64, || subject.synced_puts(&pairs, threads))?;
    let pairs = data.sync_pairs(1);
    let one_thread = timed(pairs.len() as u64, || subject.synced_puts(&pairs, 1))?;
    Ok((measured, Some(one_thread)))
}
