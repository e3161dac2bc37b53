//! Benchmarks of one log segment: appends of 100-byte values under 16-byte
//! keys, `locate` on a sealed segment of 100,000 keys (hits and misses),
//! the footer's Bloom filter alone, and reads by location.
//!
//! Run with `cargo bench -p hightower-log --bench log_segment`. Files live
//! in the system temporary directory; reads are served by the page cache.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hightower_log::vfs::StdVfs;
use hightower_log::{Location, LogSegment, Mutation, SegmentOptions};

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
/// Keys in the sealed segment that `locate` and `read` run against.
const SEALED_KEYS: u32 = 100_000;
/// Appends into one segment before the append bench starts a fresh one,
/// so that files stay small however many iterations criterion asks for.
const APPENDS_PER_SEGMENT: u64 = 200_000;
/// Steps through key numbers in an order the page cache cannot predict.
const STRIDE: u32 = 7_919;

/// The `i`th key: exactly 16 bytes, sorting in numeric order.
fn key(i: u32) -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    key.copy_from_slice(format!("key-{i:012}").as_bytes());
    key
}

fn value(i: u32) -> [u8; VALUE_BYTES] {
    [i as u8; VALUE_BYTES]
}

fn create(dir: &Path, name: &str) -> LogSegment {
    LogSegment::create(
        &StdVfs::default(),
        &dir.join(name),
        1,
        SegmentOptions::default(),
    )
    .expect("create a segment")
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_segment/append");
    group.throughput(Throughput::ElementsAndBytes {
        elements: 1,
        bytes: (KEY_BYTES + VALUE_BYTES) as u64,
    });
    let value = value(7);
    group.bench_function("put_16b_key_100b_value", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            let mut done = 0u64;
            while done < iterations {
                let n = (iterations - done).min(APPENDS_PER_SEGMENT);
                let dir = tempfile::tempdir().expect("a temporary directory");
                let segment = create(dir.path(), "append.log");
                let keys: Vec<[u8; KEY_BYTES]> = (0..n as u32).map(key).collect();
                let start = Instant::now();
                for (version, key) in keys.iter().enumerate() {
                    let mutation = Mutation::Put { key, value: &value };
                    black_box(segment.append(version as u64, &mutation).expect("append"));
                }
                segment.flush().expect("flush");
                elapsed += start.elapsed();
                done += n;
            }
            elapsed
        });
    });
    group.finish();
}

/// A sealed segment of `SEALED_KEYS` even-numbered keys and their
/// locations; odd-numbered keys are misses that sort between them.
struct Sealed {
    _dir: tempfile::TempDir,
    segment: LogSegment,
    locations: Vec<Location>,
}

fn sealed() -> Sealed {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let segment = create(dir.path(), "sealed.log");
    let locations = (0..SEALED_KEYS)
        .map(|i| {
            segment
                .append(
                    u64::from(i),
                    &Mutation::Put {
                        key: &key(2 * i),
                        value: &value(i),
                    },
                )
                .expect("append")
        })
        .collect();
    segment.seal().expect("seal");
    Sealed {
        _dir: dir,
        segment,
        locations,
    }
}

fn lookups(c: &mut Criterion) {
    let sealed = sealed();
    let segment = &sealed.segment;
    let footer = segment.footer().expect("the segment is sealed");
    // Keys are built ahead so that formatting stays out of the timings.
    let hits: Vec<[u8; KEY_BYTES]> = (0..SEALED_KEYS).map(|i| key(2 * i)).collect();
    let misses: Vec<[u8; KEY_BYTES]> = (0..SEALED_KEYS).map(|i| key(2 * i + 1)).collect();
    let mut group = c.benchmark_group("log_segment/sealed_100k");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u32;
    let mut next = move || {
        i = (i + STRIDE) % SEALED_KEYS;
        i as usize
    };
    group.bench_function("locate_hit", |b| {
        b.iter(|| {
            let found = segment.locate(&hits[next()]).expect("locate");
            black_box(found.expect("a present key is found"))
        });
    });
    group.bench_function("locate_miss", |b| {
        b.iter(|| black_box(segment.locate(&misses[next()]).expect("locate")));
    });
    group.bench_function("bloom_hit", |b| {
        b.iter(|| black_box(footer.may_contain(&hits[next()])))
    });
    group.bench_function("bloom_miss", |b| {
        b.iter(|| black_box(footer.may_contain(&misses[next()])))
    });
    group.bench_function("read_by_location", |b| {
        b.iter(|| black_box(segment.read(sealed.locations[next()]).expect("read")));
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = append, lookups
}
criterion_main!(benches);
