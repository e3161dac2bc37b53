//! [`LatencyHistogram`]: a fixed-size log-linear histogram of latencies in
//! nanoseconds.
//!
//! Values below 64 are counted exactly. Above that, every power of two
//! `[2^k, 2^(k+1))` is split into 32 equal sub-buckets, so a bucket is at
//! most 1/32 of its values wide and a quantile is reported within about
//! 3 %. The whole `u64` range fits in [`BUCKET_COUNT`] counters (15 KiB),
//! whatever the number of values recorded: memory stays bounded however
//! long a benchmark runs, unlike a vector of every sample.

/// log2 of the number of exact values, and of twice the sub-buckets per
/// power of two.
const SUB_BUCKET_BITS: u32 = 6;
/// Values below this are counted exactly.
const EXACT_BELOW: u64 = 1 << SUB_BUCKET_BITS;
/// Sub-buckets per power of two above [`EXACT_BELOW`].
const HALF: usize = 1 << (SUB_BUCKET_BITS - 1);
/// Number of counters: the exact ones, then 32 per power of two up to 2^63.
pub(crate) const BUCKET_COUNT: usize = (64 - SUB_BUCKET_BITS as usize + 1) * HALF + HALF;

const _: () = assert!(BUCKET_COUNT == 1920);

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LatencyHistogram {
    counts: Box<[u64; BUCKET_COUNT]>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket holding `value`.
fn bucket_of(value: u64) -> usize {
    if value < EXACT_BELOW {
        return value as usize;
    }
    let magnitude = 63 - value.leading_zeros() - (SUB_BUCKET_BITS - 1);
    let sub_bucket = (value >> magnitude) as usize;
    debug_assert!((HALF..2 * HALF).contains(&sub_bucket));
    magnitude as usize * HALF + sub_bucket
}

/// The largest value bucket `index` holds.
fn bucket_upper_bound(index: usize) -> u64 {
    if index < EXACT_BELOW as usize {
        return index as u64;
    }
    let magnitude = (index / HALF - 1) as u32;
    let sub_bucket = (index - magnitude as usize * HALF) as u64;
    let low = sub_bucket << magnitude;
    low + ((1u64 << magnitude) - 1)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        LatencyHistogram {
            counts: Box::new([0; BUCKET_COUNT]),
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Records one value.
    pub(crate) fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.max = self.max.max(value);
    }

    /// Adds every value `other` recorded.
    pub(crate) fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Number of values recorded.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Mean of the values (0 when empty).
    #[cfg(test)]
    pub(crate) fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The largest value recorded (exact).
    #[cfg(test)]
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0): the upper bound of the bucket
    /// holding it, never above the largest value recorded. 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((self.count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_upper_bound(index).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut previous_upper = None;
        for index in 0..BUCKET_COUNT {
            let upper = bucket_upper_bound(index);
            if let Some(previous) = previous_upper {
                assert_eq!(
                    bucket_of(previous + 1),
                    index,
                    "value after bucket {}",
                    index - 1
                );
            }
            assert_eq!(bucket_of(upper), index);
            previous_upper = Some(upper);
        }
        assert_eq!(previous_upper, Some(u64::MAX));
    }

    #[test]
    fn small_values_are_exact() {
        let mut histogram = LatencyHistogram::new();
        for value in [0, 1, 7, 63] {
            histogram.record(value);
        }
        assert_eq!(histogram.quantile(0.25), 0);
        assert_eq!(histogram.quantile(0.5), 1);
        assert_eq!(histogram.quantile(0.75), 7);
        assert_eq!(histogram.quantile(1.0), 63);
    }

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut histogram = LatencyHistogram::new();
        for value in 1..=100_000u64 {
            histogram.record(value * 1000);
        }
        for (q, exact) in [
            (0.5, 50_000_000u64),
            (0.99, 99_000_000),
            (0.999, 99_900_000),
        ] {
            let got = histogram.quantile(q);
            assert!(got >= exact, "q {q}: {got} below {exact}");
            assert!(
                (got - exact) as f64 <= exact as f64 / 32.0,
                "q {q}: {got} too far from {exact}"
            );
        }
        assert_eq!(histogram.quantile(1.0), 100_000_000);
        assert_eq!(histogram.max(), 100_000_000);
    }

    #[test]
    fn merge_adds_counts() {
        let (mut a, mut b) = (LatencyHistogram::new(), LatencyHistogram::new());
        a.record(10);
        b.record(1_000_000);
        b.record(u64::MAX);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), u64::MAX);
        assert_eq!(a.quantile(0.0), 10);
        assert_eq!(a.quantile(1.0), u64::MAX);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let histogram = LatencyHistogram::new();
        assert_eq!(
            (
                histogram.count(),
                histogram.quantile(0.99),
                histogram.mean()
            ),
            (0, 0, 0.0)
        );
    }
}
