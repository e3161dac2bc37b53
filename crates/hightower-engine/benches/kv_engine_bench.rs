//! Criterion benchmarks of [`SingleNodeEngine`]: single puts, batches of
//! 100 puts and random gets, with 16-byte random keys and 100-byte values,
//! under `Durability::None` so that the figures measure the engine rather
//! than the disk's fsync latency.
//!
//! Groups:
//!
//! - `put_single`: one put per iteration. `inline/1_submitter` runs
//!   `worker_threads == 0` from the bench thread; `inline/8_submitters` and
//!   `workers_{1,2,4,8}/8_submitters` run 8 threads that each submit their
//!   share of the iterations, so the worker pool always has a full queue to
//!   drain and the figures show how throughput moves with the pool size.
//!   Throughput is reported per put, summed over all submitters.
//! - `put_batch_100`: one `submit_batch` of 100 puts per iteration, inline.
//! - `get_random`: point reads of random keys from a store preloaded with
//!   100,000 keys, inline.
//!
//! Every configuration opens its own engine in a fresh temporary directory.
//! Sample size 10 with short warm-up and measurement times keeps the whole
//! run well under two minutes; the peer comparison (`benches/peers`) is the
//! place for long runs against other engines.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hightower_engine::{Command, Durability, EngineConfig, KvEngine, SingleNodeEngine};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
const SUBMITTER_THREADS: usize = 8;
const BATCH_COMMANDS: usize = 100;
const PRELOADED_KEYS: usize = 100_000;

/// An engine in a temporary directory that lives as long as the engine.
struct Subject {
    engine: SingleNodeEngine,
    _dir: tempfile::TempDir,
}

fn open(worker_threads: usize) -> Subject {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let config = EngineConfig::new(dir.path())
        .durability(Durability::None)
        .worker_threads(worker_threads);
    let engine = SingleNodeEngine::with_config(config).expect("a fresh directory opens");
    Subject { engine, _dir: dir }
}

fn random_key(rng: &mut StdRng) -> [u8; KEY_BYTES] {
    rng.random()
}

/// Runs `iters` puts split over [`SUBMITTER_THREADS`] threads; returns the
/// wall-clock time from the first spawn to the last join.
fn put_from_threads(engine: &SingleNodeEngine, iters: u64, seed: u64) -> Duration {
    let value = [0xAB_u8; VALUE_BYTES];
    let threads = SUBMITTER_THREADS as u64;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let share = iters / threads + u64::from(t < iters % threads);
            let value = &value;
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ (t << 32));
                for _ in 0..share {
                    let key = random_key(&mut rng);
                    engine.put(&key, value).expect("an unsynced put succeeds");
                }
            });
        }
    });
    started.elapsed()
}

fn bench_put_single(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_single");
    group.throughput(Throughput::Elements(1));
    let value = [0xAB_u8; VALUE_BYTES];

    let subject = open(0);
    let mut rng = StdRng::seed_from_u64(1);
    group.bench_function(BenchmarkId::new("inline", "1_submitter"), |b| {
        b.iter(|| {
            let key = random_key(&mut rng);
            black_box(
                subject
                    .engine
                    .put(&key, &value)
                    .expect("an unsynced put succeeds"),
            )
        })
    });
    drop(subject);

    for worker_threads in [0, 1, 2, 4, 8] {
        let subject = open(worker_threads);
        let name = match worker_threads {
            0 => "inline".to_string(),
            n => format!("workers_{n}"),
        };
        let mut seed = 0;
        group.bench_function(
            BenchmarkId::new(name, format!("{SUBMITTER_THREADS}_submitters")),
            |b| {
                b.iter_custom(|iters| {
                    seed += 1;
                    put_from_threads(&subject.engine, iters, seed)
                })
            },
        );
    }
    group.finish();
}

fn bench_put_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_batch_100");
    group.throughput(Throughput::Elements(BATCH_COMMANDS as u64));
    let subject = open(0);
    let mut rng = StdRng::seed_from_u64(2);
    group.bench_function("inline", |b| {
        b.iter(|| {
            let commands = (0..BATCH_COMMANDS)
                .map(|_| Command::put(random_key(&mut rng).to_vec(), vec![0xCD_u8; VALUE_BYTES]))
                .collect();
            black_box(
                subject
                    .engine
                    .submit_batch(commands)
                    .expect("an unsynced batch succeeds"),
            )
        })
    });
    group.finish();
}

fn bench_get_random(c: &mut Criterion) {
    let mut group = c.benchmark_group("get_random");
    group.throughput(Throughput::Elements(1));
    let subject = open(0);
    let mut rng = StdRng::seed_from_u64(3);
    let keys: Vec<[u8; KEY_BYTES]> = (0..PRELOADED_KEYS).map(|_| random_key(&mut rng)).collect();
    for chunk in keys.chunks(1000) {
        let commands = chunk
            .iter()
            .map(|key| Command::put(key.to_vec(), vec![0xEF_u8; VALUE_BYTES]))
            .collect();
        subject
            .engine
            .submit_batch(commands)
            .expect("preloading succeeds");
    }
    subject.engine.sync().expect("the preloaded store syncs");
    group.bench_function(
        BenchmarkId::new("inline", format!("{PRELOADED_KEYS}_keys")),
        |b| {
            b.iter(|| {
                let key = &keys[rng.random_range(0..keys.len())];
                let got = subject.engine.get(key).expect("a get succeeds");
                assert!(got.is_some(), "every preloaded key is present");
                black_box(got)
            })
        },
    );
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_put_single, bench_put_batch, bench_get_random
}
criterion_main!(benches);
