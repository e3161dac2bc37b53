//! The printed report: one table per workload with Hightower's ratio to the
//! best peer, a table of disk, memory and reopen figures, and the bars of
//! the brief with PASS or MISS.

use crate::dataset::ZIPF_THETA;
use crate::measure::Measured;
use crate::subjects::EngineKind;
use crate::workload::{EngineReport, SKEW_MIXES};

/// A bar from the brief: Hightower's rate over the best peer's.
struct RatioBar {
    what: &'static str,
    at_least: f64,
    /// The rate compared, the same for every engine.
    pick: fn(&EngineReport) -> Measured,
    /// Only peers whose synced writes wait for an fsync count.
    fsync_peers_only: bool,
}

const RATIO_BARS: [RatioBar; 7] = [
    RatioBar {
        what: "unsynced single puts",
        at_least: 5.0,
        pick: |r| r.single_puts,
        fsync_peers_only: false,
    },
    RatioBar {
        what: "unsynced batched puts",
        at_least: 5.0,
        pick: |r| r.batch_puts,
        fsync_peers_only: false,
    },
    RatioBar {
        what: "random gets",
        at_least: 2.0,
        pick: |r| r.gets,
        fsync_peers_only: false,
    },
    RatioBar {
        what: "synced puts, group commit vs one-by-one fsync",
        at_least: 10.0,
        pick: |r| r.synced_puts,
        fsync_peers_only: true,
    },
    RatioBar {
        what: "skewed mix, 50 % reads 50 % updates",
        at_least: 2.0,
        pick: |r| r.skewed[0],
        fsync_peers_only: false,
    },
    RatioBar {
        what: "skewed mix, 95 % reads 5 % updates",
        at_least: 2.0,
        pick: |r| r.skewed[1],
        fsync_peers_only: false,
    },
    RatioBar {
        what: "skewed mix, reads only",
        at_least: 2.0,
        pick: |r| r.skewed[2],
        fsync_peers_only: false,
    },
];

/// Reopening a store after a clean close should take at most this long
/// per million keys.
const REOPEN_SECS_PER_MILLION_KEYS_MAX: f64 = 0.3;

/// Index memory per live key beyond the key's own bytes, at most.
const INDEX_BYTES_PER_KEY_MAX: f64 = 48.0;

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The fastest peer at a workload, with its rate.
fn best_peer(
    reports: &[EngineReport],
    pick: fn(&EngineReport) -> Measured,
    fsync_peers_only: bool,
) -> Option<(EngineKind, f64)> {
    reports
        .iter()
        .filter(|r| r.kind != EngineKind::Hightower)
        .filter(|r| !fsync_peers_only || r.kind.syncs_with_fsync())
        .map(|r| (r.kind, pick(r).ops_per_sec()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn table_header() {
    println!("{:<26} {:>13} {:>9}  ratio", "engine", "ops/s", "seconds");
}

fn row(label: &str, measured: Measured, note: &str) {
    println!(
        "{label:<26} {:>13} {:>9.3}  {note}",
        group_digits(measured.ops_per_sec().round() as u64),
        measured.elapsed.as_secs_f64()
    );
}

fn ratio_note(rate: f64, best: Option<(EngineKind, f64)>) -> String {
    match best {
        Some((kind, best_rate)) => format!("{:.2}x best peer ({})", rate / best_rate, kind.name()),
        None => "no peer in this run".to_string(),
    }
}

fn workload_table(title: &str, reports: &[EngineReport], bar: &RatioBar) {
    println!("\n== {title} ==");
    table_header();
    let best = best_peer(reports, bar.pick, bar.fsync_peers_only);
    for report in reports {
        if report.kind == EngineKind::Hightower {
            let measured = (bar.pick)(report);
            row(
                "hightower",
                measured,
                &ratio_note(measured.ops_per_sec(), best),
            );
        } else {
            let is_best = best.is_some_and(|(kind, _)| kind == report.kind);
            row(
                report.kind.name(),
                (bar.pick)(report),
                if is_best { "best peer" } else { "" },
            );
        }
    }
}

fn synced_table(reports: &[EngineReport], threads: usize) {
    println!("\n== puts, each fsynced before it is acknowledged ==");
    table_header();
    let best = best_peer(reports, |r| r.synced_puts, true);
    for report in reports {
        if report.kind == EngineKind::Hightower {
            let label = format!("hightower ({threads} threads)");
            row(
                &label,
                report.synced_puts,
                &ratio_note(report.synced_puts.ops_per_sec(), best),
            );
            if let Some(one) = report.synced_puts_one_thread {
                row(
                    "hightower (1 thread)",
                    one,
                    &ratio_note(one.ops_per_sec(), best),
                );
            }
        } else {
            let is_best = best.is_some_and(|(kind, _)| kind == report.kind);
            let label = format!("{} (one by one)", report.kind.name());
            let note = if is_best {
                "best peer"
            } else if !report.kind.syncs_with_fsync() {
                "sync_file_range, no fsync: not counted"
            } else {
                ""
            };
            row(&label, report.synced_puts, note);
        }
    }
}

fn resources_table(reports: &[EngineReport], n_keys: usize) {
    println!("\n== disk, memory and reopen ==");
    println!(
        "{:<10} {:>28} {:>28} {:>10} {:>14}",
        "engine", "disk after single puts", "disk after all phases", "reopen s", "RSS growth"
    );
    for r in reports {
        let rss = r.rss_growth_bytes.map_or("n/a".to_string(), |b| {
            format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
        });
        println!(
            "{:<10} {:>28} {:>28} {:>10.3} {:>14}",
            r.kind.name(),
            format!(
                "{} ({})",
                group_digits(r.disk_single_bytes),
                mib(r.disk_single_bytes)
            ),
            format!(
                "{} ({})",
                group_digits(r.disk_main_bytes),
                mib(r.disk_main_bytes)
            ),
            r.reopen.as_secs_f64(),
            rss
        );
    }
    println!(
        "(disk: bytes allocated, as du counts them, after closing; reopen: opening the store of {} single puts again; RSS growth: resident memory of this process over the single-put phase, engine caches included)",
        group_digits(n_keys as u64)
    );
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn bars(reports: &[EngineReport], n_keys: usize, key_size: usize) {
    println!("\n== bars ==");
    let Some(hightower) = reports.iter().find(|r| r.kind == EngineKind::Hightower) else {
        println!("hightower was not in this run");
        return;
    };
    for bar in &RATIO_BARS {
        let rate = (bar.pick)(hightower).ops_per_sec();
        match best_peer(reports, bar.pick, bar.fsync_peers_only) {
            Some((kind, best)) => {
                let ratio = rate / best;
                println!(
                    "{:<46} >= {:.1}x best peer: {:>7.2}x vs {:<6} {}",
                    bar.what,
                    bar.at_least,
                    ratio,
                    kind.name(),
                    pass(ratio >= bar.at_least)
                );
            }
            None => println!(
                "{:<46} >= {:.1}x best peer: n/a (no peer in this run)",
                bar.what, bar.at_least
            ),
        }
    }
    let reopen_secs = hightower.reopen.as_secs_f64();
    // Below a million keys the bar stays that of a million: fixed costs
    // are not scaled down.
    let reopen_secs_max = REOPEN_SECS_PER_MILLION_KEYS_MAX * (n_keys as f64 / 1e6).max(1.0);
    println!(
        "{:<46} <= {REOPEN_SECS_PER_MILLION_KEYS_MAX:.1} s per 1M keys: {reopen_secs:.3} s for {} keys {}",
        "reopen",
        group_digits(n_keys as u64),
        pass(reopen_secs <= reopen_secs_max)
    );
    index_memory_bar(hightower, n_keys, key_size);
}

fn index_memory_bar(hightower: &EngineReport, n_keys: usize, key_size: usize) {
    let per_key = |bytes: f64| bytes / n_keys as f64 - key_size as f64;
    let what = "index memory per key beyond the key's bytes";
    if let Some(estimate) = hightower.index_memory_bytes {
        let estimate = per_key(estimate as f64);
        println!(
            "{what:<46} <= {INDEX_BYTES_PER_KEY_MAX:.0} B: {estimate:>7.1} B (engine's estimate) {}",
            pass(estimate <= INDEX_BYTES_PER_KEY_MAX)
        );
    }
    if let Some(growth) = hightower.rss_growth_bytes {
        let measured = per_key(growth as f64);
        println!(
            "{what:<46} <= {INDEX_BYTES_PER_KEY_MAX:.0} B: {measured:>7.1} B (RSS growth, an upper bound; fixed costs dominate at small N) {}",
            pass(measured <= INDEX_BYTES_PER_KEY_MAX)
        );
    }
}

/// What the run was, printed above the tables.
pub struct Header {
    /// Keys loaded.
    pub n_keys: usize,
    /// Key bytes.
    pub key_size: usize,
    /// Value bytes.
    pub value_size: usize,
    /// Puts per batch.
    pub batch_size: usize,
    /// Synced puts.
    pub sync_ops: usize,
    /// Hightower's submitting threads under `Sync`.
    pub threads: usize,
    /// Hightower's worker threads.
    pub workers: usize,
    /// The data set's seed.
    pub seed: u64,
}

/// Prints everything.
pub fn print(header: &Header, reports: &[EngineReport]) {
    println!(
        "Hightower KV against its peers: {} random keys of {} bytes, values of {} bytes, batches of {}, {} synced puts; \
         hightower: Durability::None with worker_threads {} unsynced, Durability::Sync from {} submitting threads synced; seed {}",
        group_digits(header.n_keys as u64),
        header.key_size,
        header.value_size,
        group_digits(header.batch_size as u64),
        group_digits(header.sync_ops as u64),
        header.workers,
        header.threads,
        header.seed
    );
    let title_batches = format!(
        "batches of {} puts, no fsync",
        group_digits(header.batch_size as u64)
    );
    workload_table("single-op puts, no fsync", reports, &RATIO_BARS[0]);
    workload_table(&title_batches, reports, &RATIO_BARS[1]);
    workload_table("random gets, one thread", reports, &RATIO_BARS[2]);
    for (i, read_percent) in SKEW_MIXES.into_iter().enumerate() {
        let rest = if read_percent < 100 {
            ", the rest updates"
        } else {
            ""
        };
        let title =
            format!("skewed keys (zipf {ZIPF_THETA}), {read_percent} % reads{rest}, one thread");
        workload_table(&title, reports, &RATIO_BARS[4 + i]);
    }
    synced_table(reports, header.threads);
    resources_table(reports, header.n_keys);
    bars(reports, header.n_keys, header.key_size);
}
