//! `hightower bench`: a built-in workload in the manner of RocksDB's
//! `db_bench`, run against a scratch store.
//!
//! Phases (`--workload`): `fillrandom` puts every key once, `readrandom`
//! gets keys picked uniformly at random, `overwrite` puts keys picked
//! uniformly at random, `compact` runs one full compaction pass. Automatic
//! compaction runs during the phases unless `--compaction off`; the
//! summary shows the space the store takes against its live data. Key `i` is the output of a seeded generator
//! (splitmix64 over the seed and `i`), so keys are random bytes that any
//! thread can rebuild from their number without a table: memory stays flat
//! whatever `--keys` is, apart from the engine's own index.
//!
//! Each client thread takes an equal share of a phase and times every
//! engine call with `Instant`; latencies go to a fixed-size
//! [`LatencyHistogram`] per thread, merged at the end of the phase. A phase
//! stops at `--phase-seconds-max` even when unfinished, so a run is
//! bounded in time as well as in memory.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hightower_engine::{
    AdminEngine, Command, CompactionConfig, CompactionReport, Durability, EngineConfig, KvEngine,
    MetricsSnapshot, SingleNodeEngine,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::cli::{BenchArgs, Cli, DurabilityArg, Switch, Workload};
use crate::latency::LatencyHistogram;

/// The file that marks a directory as made by `bench`; only such a
/// directory (or an empty one) is ever emptied.
const MARKER_FILE: &str = "HIGHTOWER_BENCH";

/// Progress is reported to the bar every this many operations per thread.
const PROGRESS_STEP_OPS: u64 = 1024;

/// How often the space a store takes is sampled during `overwrite` phases.
const SPACE_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// Bytes of keys and values all threads may hold in unsubmitted batches.
const IN_FLIGHT_BYTES_MAX: u64 = 256 * 1024 * 1024;

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Fillrandom => "fillrandom",
            Workload::Readrandom => "readrandom",
            Workload::Overwrite => "overwrite",
            Workload::Compact => "compact",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Workload::Fillrandom | Workload::Overwrite)
    }
}

/// The run's parameters, as plain numbers.
#[derive(Debug, Clone, Copy)]
struct Plan {
    keys: u64,
    key_bytes: usize,
    value_bytes: usize,
    threads: u64,
    batch_size: usize,
    seed: u64,
    phase_duration_max: Duration,
    compaction: bool,
    segment_bytes_max: u64,
    dead_ratio_min: Option<f64>,
    max_segments: Option<usize>,
}

/// What one thread did in one phase.
#[derive(Debug)]
struct ThreadOutcome {
    ops: u64,
    found: u64,
    latency_ns: LatencyHistogram,
}

/// What one phase did.
#[derive(Debug)]
struct PhaseReport {
    workload: Workload,
    ops: u64,
    found: u64,
    elapsed: Duration,
    latency_ns: LatencyHistogram,
    fsyncs: u64,
    group_commit_mean: Option<f64>,
    /// What a `compact` phase's pass did.
    compaction: Option<CompactionReport>,
}

/// Runs the benchmark and prints its table.
pub(crate) fn run(cli: &Cli, args: &BenchArgs) -> Result<()> {
    let dir = args
        .bench_dir
        .clone()
        .unwrap_or_else(|| cli.data_dir.join("bench"));
    let durability = super::durability(cli.durability, DurabilityArg::Periodic);
    let plan = Plan {
        keys: args.keys,
        key_bytes: usize::from(args.key_size),
        value_bytes: args.value_size as usize,
        threads: u64::from(args.threads),
        batch_size: args.batch_size as usize,
        seed: args.seed,
        phase_duration_max: Duration::from_secs(args.phase_seconds_max),
        compaction: args.compaction == Switch::On,
        segment_bytes_max: u64::from(args.segment_mib) << 20,
        dead_ratio_min: args.compaction_dead_ratio,
        max_segments: args.compaction_max_segments.map(|n| n as usize),
    };
    check_in_flight_bytes(&plan)?;
    let created_parent = prepare_scratch_dir(&dir)?;
    print_header(&plan, durability, &dir)?;
    let outcome = run_phases(&dir, durability, &plan, &args.workload);
    if !args.keep {
        remove_scratch_dir(&dir, created_parent)?;
    }
    let (reports, engine_summary) = outcome?;
    print_table(&plan, &reports, &engine_summary)
}

/// Refuses a plan whose batches would hold more than
/// [`IN_FLIGHT_BYTES_MAX`] at once.
fn check_in_flight_bytes(plan: &Plan) -> Result<()> {
    let record_bytes = (plan.key_bytes + plan.value_bytes) as u64;
    let in_flight_bytes = plan.threads * plan.batch_size as u64 * record_bytes;
    if in_flight_bytes > IN_FLIGHT_BYTES_MAX {
        bail!(
            "--threads {} x --batch-size {} x {record_bytes} key and value bytes = {in_flight_bytes} bytes in flight, above the limit of {IN_FLIGHT_BYTES_MAX} bytes",
            plan.threads,
            plan.batch_size
        );
    }
    Ok(())
}

/// Empties `dir` (it must be new, empty or an earlier bench's) and marks
/// it. Returns the parent when this call created it.
fn prepare_scratch_dir(dir: &Path) -> Result<Option<PathBuf>> {
    if dir.exists() {
        let marked = dir.join(MARKER_FILE).is_file();
        let empty = dir
            .read_dir()
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !marked && !empty {
            bail!(
                "refusing to empty {}: it holds files and has no {MARKER_FILE} file from an earlier bench; pass a new or empty --bench-dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let marker = dir.join(MARKER_FILE);
    std::fs::write(
        &marker,
        b"scratch directory of `hightower bench`; removed by the next run\n",
    )
    .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(parent)
}

/// Removes the scratch directory, and its parent when the run created it
/// and it is empty again.
fn remove_scratch_dir(dir: &Path, created_parent: Option<PathBuf>) -> Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    if let Some(parent) = created_parent {
        // Fails, harmlessly, when something else was put there meanwhile.
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Totals from the engine after the last phase.
#[derive(Debug)]
struct EngineSummary {
    keys: usize,
    segments: usize,
    metrics: MetricsSnapshot,
    /// Data bytes of the segments (after their headers).
    data_bytes: u64,
    /// Bytes of the records the index points at.
    live_bytes: u64,
    /// Bytes of the segment files (data, footers, trailers).
    file_bytes: u64,
    /// Data bytes over live record bytes, sampled during `overwrite`
    /// phases: (mean, max, samples).
    overwrite_space: Option<(f64, f64, usize)>,
}

/// Space samples taken while `overwrite` phases run.
#[derive(Debug, Default)]
struct SpaceSamples {
    sum: f64,
    max: f64,
    count: usize,
}

impl SpaceSamples {
    fn add(&mut self, amplification: Option<f64>) {
        if let Some(amplification) = amplification {
            self.sum += amplification;
            self.max = self.max.max(amplification);
            self.count += 1;
        }
    }

    /// (mean, max, count), when there is a sample.
    fn summary(&self) -> Option<(f64, f64, usize)> {
        (self.count > 0).then(|| (self.sum / self.count as f64, self.max, self.count))
    }
}

/// Bytes of every segment (headers included, so a slight overestimate)
/// over the bytes of the live records, cheaply: every record of a bench
/// has the same size, `record_bytes`, measured once before sampling.
fn space_amplification(engine: &SingleNodeEngine, record_bytes: u64) -> Option<f64> {
    let live = engine.len() as u64 * record_bytes;
    let data: u64 = engine.segments().iter().map(|s| s.data_bytes).sum();
    (live > 0).then(|| data as f64 / live as f64)
}

/// The size of one record as stored, from one walk over the index.
fn measured_record_bytes(engine: &SingleNodeEngine) -> u64 {
    let live: u64 = engine.segment_usage().iter().map(|u| u.live_bytes).sum();
    live / (engine.len() as u64).max(1)
}

fn run_phases(
    dir: &Path,
    durability: Durability,
    plan: &Plan,
    workloads: &[Workload],
) -> Result<(Vec<PhaseReport>, EngineSummary)> {
    let engine = SingleNodeEngine::with_config(engine_config(dir, durability, plan))
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let (reports, samples) = run_sampled(&engine, plan, workloads)?;
    Ok((reports, summarize(&engine, &samples)))
}

fn engine_config(dir: &Path, durability: Durability, plan: &Plan) -> EngineConfig {
    let compaction = if plan.compaction {
        let defaults = CompactionConfig::default();
        CompactionConfig {
            dead_ratio_min: plan.dead_ratio_min.unwrap_or(defaults.dead_ratio_min),
            max_segments: plan.max_segments.unwrap_or(defaults.max_segments),
            ..defaults
        }
    } else {
        CompactionConfig::manual()
    };
    EngineConfig::new(dir)
        .durability(durability)
        .segment_bytes_max(plan.segment_bytes_max)
        .compaction(compaction)
}

/// Runs the phases while a thread samples the space the store takes during
/// `overwrite` phases.
fn run_sampled(
    engine: &SingleNodeEngine,
    plan: &Plan,
    workloads: &[Workload],
) -> Result<(Vec<PhaseReport>, SpaceSamples)> {
    let record_bytes = AtomicU64::new(0);
    let sampling = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut samples = SpaceSamples::default();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(SPACE_SAMPLE_INTERVAL);
                if sampling.load(Ordering::Relaxed) {
                    let record_bytes = record_bytes.load(Ordering::Relaxed);
                    samples.add(space_amplification(engine, record_bytes));
                }
            }
            samples
        });
        let mut reports = Vec::with_capacity(workloads.len());
        let mut outcome = Ok(());
        for (phase, &workload) in workloads.iter().enumerate() {
            let overwrite = workload == Workload::Overwrite;
            if overwrite && record_bytes.load(Ordering::Relaxed) == 0 {
                record_bytes.store(measured_record_bytes(engine), Ordering::Relaxed);
            }
            sampling.store(overwrite, Ordering::Relaxed);
            match run_phase(engine, plan, workload, phase as u64) {
                Ok(report) => reports.push(report),
                Err(e) => {
                    outcome = Err(e.context(format!("{} failed", workload.name())));
                    break;
                }
            }
        }
        done.store(true, Ordering::Relaxed);
        let samples = sampler.join().unwrap_or_default();
        outcome.map(|()| (reports, samples))
    })
}

fn summarize(engine: &SingleNodeEngine, samples: &SpaceSamples) -> EngineSummary {
    let usage = engine.segment_usage();
    let segments = engine.segments();
    EngineSummary {
        keys: engine.len(),
        segments: segments.len(),
        metrics: engine.metrics(),
        data_bytes: usage.iter().map(|u| u.total_bytes).sum(),
        live_bytes: usage.iter().map(|u| u.live_bytes).sum(),
        file_bytes: segments
            .iter()
            .map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len()))
            .sum(),
        overwrite_space: samples.summary(),
    }
}

fn progress_bar(workload: Workload, ops: u64) -> Result<ProgressBar> {
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {pos}/{len} ops, {per_sec}, eta {eta}",
    )
    .context("progress bar template")?
    .progress_chars("=> ");
    Ok(ProgressBar::new(ops)
        .with_style(style)
        .with_prefix(workload.name()))
}

/// Runs one phase on `plan.threads` threads and merges what they measured.
fn run_phase(
    engine: &SingleNodeEngine,
    plan: &Plan,
    workload: Workload,
    phase: u64,
) -> Result<PhaseReport> {
    if workload == Workload::Compact {
        return run_compaction_phase(engine);
    }
    let bar = progress_bar(workload, plan.keys)?;
    let before = engine.metrics();
    let started = Instant::now();
    let deadline = started + plan.phase_duration_max;
    let outcomes: Vec<Result<ThreadOutcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..plan.threads)
            .map(|thread| {
                let share =
                    (plan.keys * thread / plan.threads)..(plan.keys * (thread + 1) / plan.threads);
                let rng = StdRng::seed_from_u64(mix(plan.seed ^ mix((phase << 16) | thread)));
                let bar = bar.clone();
                scope.spawn(move || run_share(engine, plan, workload, share, rng, deadline, &bar))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a bench thread panicked"))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let after = engine.metrics();
    let mut report = PhaseReport {
        workload,
        ops: 0,
        found: 0,
        elapsed,
        latency_ns: LatencyHistogram::new(),
        fsyncs: after.fsyncs - before.fsyncs,
        group_commit_mean: group_commit_mean(&before, &after),
        compaction: None,
    };
    for outcome in outcomes {
        let outcome = outcome?;
        report.ops += outcome.ops;
        report.found += outcome.found;
        report.latency_ns.merge(&outcome.latency_ns);
    }
    Ok(report)
}

/// One full compaction pass, with a progress bar over its input bytes.
fn run_compaction_phase(engine: &SingleNodeEngine) -> Result<PhaseReport> {
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {bytes}/{total_bytes}, {bytes_per_sec}, eta {eta}",
    )
    .context("progress bar template")?
    .progress_chars("=> ");
    let bar = ProgressBar::new(0)
        .with_style(style)
        .with_prefix(Workload::Compact.name());
    let shown = bar.clone();
    let options = hightower_engine::CompactionOptions::full().progress(move |progress| {
        shown.set_length(progress.bytes_total);
        shown.set_position(progress.bytes_done);
    });
    let started = Instant::now();
    let report = engine.run_compaction(options);
    bar.finish_and_clear();
    let report = report?;
    Ok(PhaseReport {
        workload: Workload::Compact,
        ops: report.segments_in as u64,
        found: 0,
        elapsed: started.elapsed(),
        latency_ns: LatencyHistogram::new(),
        fsyncs: 0,
        group_commit_mean: None,
        compaction: Some(report),
    })
}

/// Mean commits per fsync between two snapshots; `None` when no fsync
/// covered a commit (reads, or durability other than `sync`).
fn group_commit_mean(before: &MetricsSnapshot, after: &MetricsSnapshot) -> Option<f64> {
    let fsyncs = after.group_commit_size.count() - before.group_commit_size.count();
    let commits = after.group_commit_size.sum - before.group_commit_size.sum;
    (commits > 0).then(|| commits as f64 / fsyncs as f64)
}

/// One thread's share of a phase.
fn run_share(
    engine: &SingleNodeEngine,
    plan: &Plan,
    workload: Workload,
    share: Range<u64>,
    mut rng: StdRng,
    deadline: Instant,
    bar: &ProgressBar,
) -> Result<ThreadOutcome> {
    let mut outcome = ThreadOutcome {
        ops: 0,
        found: 0,
        latency_ns: LatencyHistogram::new(),
    };
    let mut key = vec![0u8; plan.key_bytes];
    let mut value = vec![0u8; plan.value_bytes];
    rng.fill_bytes(&mut value);
    let mut batch = Vec::with_capacity(if workload.writes() {
        plan.batch_size
    } else {
        0
    });
    let mut unreported_ops = 0;
    for op in share.clone() {
        let index = if workload == Workload::Fillrandom {
            op
        } else {
            rng.random_range(0..plan.keys)
        };
        fill_key(plan.seed, index, &mut key);
        let is_last = op + 1 == share.end;
        if workload.writes() {
            // Each write carries its own value bytes.
            let stamp = op.to_le_bytes();
            let n = stamp.len().min(value.len());
            value[..n].copy_from_slice(&stamp[..n]);
            batch.push(Command::put(key.as_slice(), value.as_slice()));
            if batch.len() < plan.batch_size && !is_last {
                continue;
            }
        }
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let n_ops = if workload.writes() {
            let n = batch.len() as u64;
            engine.submit_batch(std::mem::replace(
                &mut batch,
                Vec::with_capacity(plan.batch_size),
            ))?;
            n
        } else {
            outcome.found += u64::from(engine.get(&key)?.is_some());
            1
        };
        outcome
            .latency_ns
            .record(started.elapsed().as_nanos().try_into().unwrap_or(u64::MAX));
        outcome.ops += n_ops;
        unreported_ops += n_ops;
        if unreported_ops >= PROGRESS_STEP_OPS {
            bar.inc(unreported_ops);
            unreported_ops = 0;
        }
    }
    bar.inc(unreported_ops);
    Ok(outcome)
}

/// splitmix64's output function: a bijection on `u64` that scatters bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes key `index` into `key`: splitmix64 seeded with `seed` and
/// stepped to `index`. The first 8 bytes are a bijection of `index`, so
/// distinct indices give distinct keys (keys are at least 8 bytes).
fn fill_key(seed: u64, index: u64, key: &mut [u8]) {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    debug_assert!(
        key.len() >= 8,
        "keys of at least 8 bytes keep indices distinct"
    );
    let mut state = seed.wrapping_add(index.wrapping_mul(GAMMA));
    for chunk in key.chunks_mut(8) {
        let word = mix(state).to_be_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
        state = state.wrapping_add(GAMMA ^ index);
    }
}

fn durability_name(durability: Durability) -> String {
    match durability {
        Durability::Sync => "sync".to_string(),
        Durability::Periodic(interval) => format!("periodic ({} ms)", interval.as_millis()),
        Durability::None => "none".to_string(),
    }
}

fn print_header(plan: &Plan, durability: Durability, dir: &Path) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "hightower bench: {} keys of {} bytes, values of {} bytes, {} thread(s), batch size {}, durability {}, compaction {}, {} MiB segments, seed {}, in {}",
        plan.keys,
        plan.key_bytes,
        plan.value_bytes,
        plan.threads,
        plan.batch_size,
        durability_name(durability),
        if plan.compaction { "on" } else { "off" },
        plan.segment_bytes_max >> 20,
        plan.seed,
        dir.display()
    )?;
    out.flush()?;
    Ok(())
}

fn print_table(plan: &Plan, reports: &[PhaseReport], engine: &EngineSummary) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<10}  {:>10}  {:>8}  {:>11}  {:>8}  {:>9}  {:>9}  {:>9}  {:>8}  {:>13}",
        "workload",
        "ops",
        "seconds",
        "ops/s",
        "MB/s",
        "p50 us",
        "p99 us",
        "p999 us",
        "fsyncs",
        "commits/fsync"
    )?;
    let record_bytes = (plan.key_bytes + plan.value_bytes) as f64;
    for report in reports {
        let seconds = report.elapsed.as_secs_f64().max(1e-9);
        let moved = if report.workload.writes() {
            report.ops
        } else {
            report.found
        };
        let us = |q: f64| report.latency_ns.quantile(q) as f64 / 1000.0;
        writeln!(
            out,
            "{:<10}  {:>10}  {:>8.3}  {:>11.0}  {:>8.2}  {:>9.1}  {:>9.1}  {:>9.1}  {:>8}  {:>13}",
            report.workload.name(),
            report.ops,
            seconds,
            report.ops as f64 / seconds,
            moved as f64 * record_bytes / 1e6 / seconds,
            us(0.5),
            us(0.99),
            us(0.999),
            report.fsyncs,
            report
                .group_commit_mean
                .map_or("-".to_string(), |m| format!("{m:.2}")),
        )?;
    }
    for report in reports {
        if let Some(pass) = &report.compaction {
            writeln!(
                out,
                "note: compact rewrote {} segments into {} in {:.3} s: read {:.1} MB, wrote {:.1} MB, reclaimed {:.1} MB, dropped {} records",
                pass.segments_in,
                pass.segments_out,
                pass.elapsed.as_secs_f64(),
                pass.bytes_read as f64 / 1e6,
                pass.bytes_written as f64 / 1e6,
                pass.bytes_reclaimed as f64 / 1e6,
                pass.records_dropped
            )?;
            continue;
        }
        if report.ops < plan.keys {
            writeln!(
                out,
                "note: {} stopped at --phase-seconds-max after {} of {} ops",
                report.workload.name(),
                report.ops,
                plan.keys
            )?;
        }
        if !report.workload.writes() {
            writeln!(
                out,
                "note: {} found {} of {} keys read",
                report.workload.name(),
                report.found,
                report.ops
            )?;
        }
    }
    let metrics = &engine.metrics;
    // Only `sync` commits wait for an fsync; other modes record none.
    let group_commit = match metrics.group_commit_size.sum {
        0 => "-".to_string(),
        _ => format!("{:.2}", metrics.group_commit_size.mean()),
    };
    let fsync_p99 = match metrics.fsyncs {
        0 => String::new(),
        _ => format!(
            " (p99 <= {} us)",
            metrics.fsync_latency_us.quantile_upper_bound(0.99)
        ),
    };
    writeln!(
        out,
        "engine: {} keys in {} segments, {:.1} MB of records written, {} fsyncs{fsync_p99}, group commit mean {group_commit} commits/fsync",
        engine.keys,
        engine.segments,
        metrics.bytes_written as f64 / 1e6,
        metrics.fsyncs,
    )?;
    let ratio = |bytes: u64| {
        if engine.live_bytes == 0 {
            "-".to_string()
        } else {
            format!("{:.2}x", bytes as f64 / engine.live_bytes as f64)
        }
    };
    writeln!(
        out,
        "space: {:.1} MB live records, {:.1} MB data ({}), {:.1} MB segment files ({}); {} compaction passes reclaimed {:.1} MB",
        engine.live_bytes as f64 / 1e6,
        engine.data_bytes as f64 / 1e6,
        ratio(engine.data_bytes),
        engine.file_bytes as f64 / 1e6,
        ratio(engine.file_bytes),
        metrics.compaction_passes,
        metrics.compaction_bytes_reclaimed as f64 / 1e6,
    )?;
    if let Some((mean, max, count)) = engine.overwrite_space {
        writeln!(
            out,
            "space during overwrite: data bytes / live record bytes mean {mean:.2}x, max {max:.2}x ({count} samples, every {} ms)",
            SPACE_SAMPLE_INTERVAL.as_millis()
        )?;
    }
    writeln!(
        out,
        "latency: per engine call (a batch counts once), from a log-linear histogram within 3 %; MB/s counts key and value bytes"
    )?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_repeatable() {
        let mut seen = std::collections::HashSet::new();
        let mut key = [0u8; 16];
        for index in 0..10_000 {
            fill_key(7, index, &mut key);
            assert!(seen.insert(key), "key {index} repeats an earlier one");
        }
        let mut again = [0u8; 16];
        fill_key(7, 42, &mut key);
        fill_key(7, 42, &mut again);
        assert_eq!(key, again);
        fill_key(8, 42, &mut again);
        assert_ne!(key, again, "another seed gives other keys");
    }

    #[test]
    fn odd_key_sizes_are_filled() {
        let mut key = [0u8; 13];
        fill_key(1, 1, &mut key);
        assert!(key[8..].iter().any(|&b| b != 0));
    }

    #[test]
    fn scratch_dir_with_foreign_files_is_refused() -> Result<()> {
        let parent = tempfile::tempdir()?;
        let dir = parent.path().join("bench");
        std::fs::create_dir(&dir)?;
        std::fs::write(dir.join("precious.txt"), b"keep me")?;
        assert!(prepare_scratch_dir(&dir).is_err());
        assert!(dir.join("precious.txt").exists());
        Ok(())
    }

    #[test]
    fn scratch_dir_of_an_earlier_bench_is_emptied() -> Result<()> {
        let parent = tempfile::tempdir()?;
        let dir = parent.path().join("bench");
        assert_eq!(prepare_scratch_dir(&dir)?, None);
        std::fs::write(dir.join("0000000001.log"), b"old")?;
        prepare_scratch_dir(&dir)?;
        assert!(!dir.join("0000000001.log").exists());
        assert!(dir.join(MARKER_FILE).exists());
        remove_scratch_dir(&dir, None)?;
        assert!(!dir.exists());
        Ok(())
    }
}
