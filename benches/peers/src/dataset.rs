//! The data every engine gets: the same seeded random keys, values, read
//! order and skewed operation sequence, generated once before the first
//! engine runs.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::subjects::Pair;

/// Random bytes that values are cut from; large enough that values do not
/// repeat within any block an engine might compress.
const VALUE_POOL_BYTES: usize = 1 << 20;

/// The exponent of the skewed key choice (YCSB's default).
pub const ZIPF_THETA: f64 = 0.99;

/// Keys, values and read order for one run.
pub struct Dataset {
    key_size: usize,
    value_size: usize,
    /// Keys of the load phases, then the keys of the synced phases, back to
    /// back, `key_size` bytes each.
    keys: Vec<u8>,
    n_load: usize,
    n_sync: usize,
    value_pool: Vec<u8>,
    /// Indexes into the load keys, in the order the get phase reads them.
    pub read_order: Vec<u32>,
    /// Indexes into the load keys drawn from a Zipf distribution of
    /// exponent [`ZIPF_THETA`] over the keys' popularity ranks (the ranks
    /// shuffled over the keys, so hot keys are anywhere in key order).
    pub skew_order: Vec<u32>,
    /// One number below 100 per skewed operation: with a mix of `r`
    /// percent reads, operation `i` reads when `skew_coin[i] < r`.
    pub skew_coin: Vec<u8>,
}

impl Dataset {
    /// `n_load` keys to load and read, and `n_sync_sets` sets of `n_sync`
    /// further keys for the synced phases, all from `seed`.
    pub fn generate(
        seed: u64,
        key_size: usize,
        value_size: usize,
        n_load: usize,
        n_sync: usize,
        n_sync_sets: usize,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut keys = vec![0; (n_load + n_sync * n_sync_sets) * key_size];
        rng.fill_bytes(&mut keys);
        let mut value_pool = vec![0; VALUE_POOL_BYTES.max(2 * value_size)];
        rng.fill_bytes(&mut value_pool);
        let n_load_u32 =
            u32::try_from(n_load).expect("the key count fits in u32 (checked by the caller)");
        let read_order = (0..n_load)
            .map(|_| rng.random_range(0..n_load_u32))
            .collect();
        let mut by_rank: Vec<u32> = (0..n_load_u32).collect();
        by_rank.shuffle(&mut rng);
        let zipf = Zipf::new(n_load as f64, ZIPF_THETA)
            .expect("a Zipf distribution over at least one key");
        let skew_order = (0..n_load)
            .map(|_| by_rank[(zipf.sample(&mut rng) as usize - 1).min(n_load - 1)])
            .collect();
        let skew_coin = (0..n_load).map(|_| rng.random_range(0..100)).collect();
        Dataset {
            key_size,
            value_size,
            keys,
            n_load,
            n_sync,
            value_pool,
            read_order,
            skew_order,
            skew_coin,
        }
    }

    /// Number of keys the load phases write.
    pub fn n_load(&self) -> usize {
        self.n_load
    }

    /// Load key `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        &self.keys[i * self.key_size..(i + 1) * self.key_size]
    }

    /// The value written under key `i` (a pseudo-random window of the pool).
    pub fn value(&self, i: usize) -> &[u8] {
        let windows = (self.value_pool.len() - self.value_size) as u64;
        let offset = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) % windows;
        &self.value_pool[offset as usize..offset as usize + self.value_size]
    }

    /// The pair for load key `i`.
    pub fn pair(&self, i: usize) -> Pair<'_> {
        (self.key(i), self.value(i))
    }

    /// The pairs of synced set `set` (0-based).
    pub fn sync_pairs(&self, set: usize) -> Vec<Pair<'_>> {
        let start = self.n_load + set * self.n_sync;
        (start..start + self.n_sync).map(|i| self.pair(i)).collect()
    }
}
