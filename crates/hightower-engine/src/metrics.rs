//! Engine metrics: counters and latency histograms kept in relaxed
//! atomics, cheap enough to stay on in benchmarks, read as a plain struct
//! through [`Metrics::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: usize = 64;

/// A histogram over powers of two (bucket `i` counts values in
/// `[2^i, 2^(i+1))`; zero goes to bucket 0).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one value.
    pub fn record(&self, value: u64) {
        let bucket = (63 - value.max(1).leading_zeros()) as usize;
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Count per power-of-two bucket.
    pub buckets: [u64; BUCKETS],
    /// Sum of all values.
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Mean of the values (0 when empty).
    pub fn mean(&self) -> f64 {
        let count = self.count();
        if count == 0 {
            0.0
        } else {
            self.sum as f64 / count as f64
        }
    }

    /// Upper bound of the bucket holding quantile `q` (0.0..=1.0).
    pub fn quantile_upper_bound(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let rank = ((count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return if i >= 63 {
                    u64::MAX
                } else {
                    (1u64 << (i + 1)) - 1
                };
            }
        }
        u64::MAX
    }
}

/// The engine's live counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) puts: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) gets: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) expired_keys: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) fsync_latency_us: Histogram,
    pub(crate) group_commit_size: Histogram,
    pub(crate) commit_latency_us: Histogram,
    pub(crate) recovery_time_us: AtomicU64,
    pub(crate) compaction_passes: AtomicU64,
    pub(crate) compaction_failures: AtomicU64,
    pub(crate) compaction_bytes_reclaimed: AtomicU64,
    pub(crate) compaction_bytes_written: AtomicU64,
    pub(crate) compaction_tombstones_dropped: AtomicU64,
}

/// The metrics at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Put commands committed.
    pub puts: u64,
    /// Delete commands committed.
    pub deletes: u64,
    /// Point reads served.
    pub gets: u64,
    /// Submissions of more than one command committed.
    pub batches: u64,
    /// Conditional writes refused with a version conflict.
    pub conflicts: u64,
    /// Keys the active sweep deleted because their expiry time had come.
    pub expired_keys: u64,
    /// Record bytes appended to the log.
    pub bytes_written: u64,
    /// fdatasync calls made for commits.
    pub fsyncs: u64,
    /// Latency of those fsyncs, in microseconds.
    pub fsync_latency_us: HistogramSnapshot,
    /// Commits made durable by each fsync (group commit sizes).
    pub group_commit_size: HistogramSnapshot,
    /// Latency of a write submission from entry to acknowledgement, in
    /// microseconds.
    pub commit_latency_us: HistogramSnapshot,
    /// Time the last open took, in microseconds.
    pub recovery_time_us: u64,
    /// Compaction passes that took at least one segment and committed.
    pub compaction_passes: u64,
    /// Compaction passes that failed (the store was left unchanged, or, for
    /// a failure while committing, the engine was poisoned).
    pub compaction_failures: u64,
    /// File bytes compaction freed (inputs minus outputs).
    pub compaction_bytes_reclaimed: u64,
    /// Bytes compaction wrote into output segments.
    pub compaction_bytes_written: u64,
    /// Tombstones compaction dropped.
    pub compaction_tombstones_dropped: u64,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn record_fsync(&self, elapsed: Duration, commits: u64) {
        Self::add(&self.fsyncs, 1);
        self.fsync_latency_us.record(elapsed.as_micros() as u64);
        self.group_commit_size.record(commits);
    }

    /// Counts one committed compaction pass.
    pub(crate) fn record_compaction(&self, report: &hightower_compact::CompactionReport) {
        Self::add(&self.compaction_passes, 1);
        Self::add(&self.compaction_bytes_reclaimed, report.bytes_reclaimed);
        Self::add(&self.compaction_bytes_written, report.bytes_written);
        Self::add(
            &self.compaction_tombstones_dropped,
            report.tombstones_dropped,
        );
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            puts: load(&self.puts),
            deletes: load(&self.deletes),
            gets: load(&self.gets),
            batches: load(&self.batches),
            conflicts: load(&self.conflicts),
            expired_keys: load(&self.expired_keys),
            bytes_written: load(&self.bytes_written),
            fsyncs: load(&self.fsyncs),
            fsync_latency_us: self.fsync_latency_us.snapshot(),
            group_commit_size: self.group_commit_size.snapshot(),
            commit_latency_us: self.commit_latency_us.snapshot(),
            recovery_time_us: load(&self.recovery_time_us),
            compaction_passes: load(&self.compaction_passes),
            compaction_failures: load(&self.compaction_failures),
            compaction_bytes_reclaimed: load(&self.compaction_bytes_reclaimed),
            compaction_bytes_written: load(&self.compaction_bytes_written),
            compaction_tombstones_dropped: load(&self.compaction_tombstones_dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_bound_the_values() {
        let histogram = Histogram::default();
        for v in 1..=1000 {
            histogram.record(v);
        }
        let snap = histogram.snapshot();
        assert_eq!(snap.count(), 1000);
        assert_eq!(snap.sum, 500_500);
        assert!(snap.quantile_upper_bound(0.5) >= 500);
        assert!(snap.quantile_upper_bound(0.5) < 1024);
        assert_eq!(snap.quantile_upper_bound(1.0), 1023);
    }
}
