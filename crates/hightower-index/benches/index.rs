//! Benchmarks of the key directory on 1,000,000 random 16-byte keys:
//! insert, get (hit), snapshot, a prefix scan of about 100 keys, and the
//! recovery path (observe every key into a builder, build, install).
//!
//! Run with `cargo bench -p hightower-index`. The index is built once,
//! outside the timed loops.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hightower_index::{Entry, Index, IndexBuilder, Location};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const N_KEYS: usize = 1_000_000;
/// Keys a prefix scan takes: the first 100 under a 1-byte prefix, which
/// about 3,900 of the random keys share.
const SCAN_LEN: usize = 100;

fn entry(n: usize) -> Entry {
    Entry {
        version: n as u64,
        location: Location {
            segment_id: (n / 100_000) as u32,
            offset: (n % 100_000) as u32 * 128,
            len: 128,
        },
        expiring: false,
    }
}

fn random_keys(n_keys: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n_keys).map(|_| rng.random()).collect()
}

fn loaded_index(keys: &[[u8; 16]]) -> Index {
    let index = Index::new();
    for (n, key) in keys.iter().enumerate() {
        index.insert(key, entry(n));
    }
    index
}

fn bench_index(c: &mut Criterion) {
    let keys = random_keys(N_KEYS, 1);
    let fresh_keys = random_keys(N_KEYS, 2);
    let index = loaded_index(&keys);
    let mut group = c.benchmark_group("index_1m");
    group.throughput(Throughput::Elements(1));

    let mut next = 0usize;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            next = (next + 7_919) % N_KEYS;
            black_box(index.get(&keys[next]))
        })
    });

    // Overwrites of live keys, then inserts of new keys; the index grows
    // by at most the iteration count, a small fraction of its size.
    group.bench_function("insert_overwrite", |b| {
        b.iter(|| {
            next = (next + 7_919) % N_KEYS;
            black_box(index.insert(&keys[next], entry(next)))
        })
    });
    let mut fresh = 0usize;
    group.bench_function("insert_new", |b| {
        b.iter(|| {
            fresh = (fresh + 1) % N_KEYS;
            black_box(index.insert(&fresh_keys[fresh], entry(fresh)))
        })
    });

    group.bench_function("snapshot", |b| b.iter(|| black_box(index.snapshot())));

    // Writes right after a snapshot pay for copying the path to the leaf.
    group.bench_function("insert_after_snapshot", |b| {
        b.iter_batched(
            || index.snapshot(),
            |snapshot| {
                next = (next + 7_919) % N_KEYS;
                index.insert(&keys[next], entry(next));
                snapshot
            },
            BatchSize::SmallInput,
        )
    });

    let snapshot = index.snapshot();
    group.throughput(Throughput::Elements(SCAN_LEN as u64));
    let mut first_byte = 0u8;
    group.bench_function("prefix_scan_100", |b| {
        b.iter(|| {
            first_byte = first_byte.wrapping_add(37);
            let scanned = snapshot.prefix(&[first_byte]).take(SCAN_LEN).count();
            assert_eq!(scanned, SCAN_LEN);
            scanned
        })
    });
    group.finish();
}

fn bench_build(c: &mut Criterion) {
    let keys = random_keys(N_KEYS, 3);
    let index = Index::new();
    let mut group = c.benchmark_group("builder_1m");
    group.throughput(Throughput::Elements(N_KEYS as u64));
    group.bench_function("observe_build_install", |b| {
        b.iter(|| {
            let mut builder = IndexBuilder::with_capacity(N_KEYS);
            for (n, key) in keys.iter().enumerate() {
                builder.observe(key, n as u64, Some(entry(n).location));
            }
            index.install(builder.build());
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_index, bench_build
}
criterion_main!(benches);
