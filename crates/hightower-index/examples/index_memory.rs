//! Measures the memory the index costs per live key beyond the key's own
//! bytes, for 1,000,000 keys of 16 bytes.
//!
//! Two figures per scenario: heap bytes counted by a global allocator that
//! wraps the system one (exact, but blind to the allocator's own overhead
//! per allocation), and the growth of the process's resident set from
//! `/proc/self/statm` (includes that overhead, assumes 4 KiB pages).
//!
//! Run with `cargo run --release -p hightower-index --example index_memory`.
//! Without arguments it runs every scenario, each in a fresh process so
//! that resident-set figures do not mix; with a scenario name it runs that
//! one: `random` (writes in random key order), `ascending` (writes in key
//! order, the worst case for node fill), `builder` (recovery through
//! `IndexBuilder`, also timed), `snapshot-churn` (what a held snapshot costs while
//! 10% of the keys are overwritten).

#![allow(
    clippy::print_stdout,
    reason = "a measurement tool that prints its results"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hightower_index::{Entry, Index, IndexBuilder, Location};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const N_KEYS: usize = 1_000_000;
const KEY_BYTES: usize = 16;
const PAGE_BYTES: usize = 4096;
const SCENARIOS: [&str; 4] = ["random", "ascending", "builder", "snapshot-churn"];

/// Counts the bytes currently allocated through it.
struct CountingAllocator;

static LIVE_HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments,
// so `System`'s guarantees carry over; the counter has no effect on them.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_HEAP_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(pointer, layout) };
        LIVE_HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new_pointer = unsafe { System.realloc(pointer, layout, new_size) };
        if !new_pointer.is_null() {
            LIVE_HEAP_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new_pointer
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Heap and resident bytes at one moment.
#[derive(Clone, Copy)]
struct Usage {
    heap_bytes: usize,
    resident_bytes: usize,
}

fn usage() -> anyhow::Result<Usage> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let resident_pages: usize = statm
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("/proc/self/statm has no resident field"))?
        .parse()?;
    Ok(Usage {
        heap_bytes: LIVE_HEAP_BYTES.load(Ordering::Relaxed),
        resident_bytes: resident_pages * PAGE_BYTES,
    })
}

fn report(scenario: &str, before: Usage, after: Usage, n_keys: usize) {
    let per_key = |before: usize, after: usize| after.saturating_sub(before) as f64 / n_keys as f64;
    let heap = per_key(before.heap_bytes, after.heap_bytes);
    let resident = per_key(before.resident_bytes, after.resident_bytes);
    println!(
        "{scenario:>14}: {n_keys} keys, heap {heap:.1} B/key ({:.1} beyond the key), \
         resident {resident:.1} B/key ({:.1} beyond the key)",
        heap - KEY_BYTES as f64,
        resident - KEY_BYTES as f64,
    );
}

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

fn random_keys(seed: u64) -> impl Iterator<Item = [u8; KEY_BYTES]> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..N_KEYS).map(move |_| rng.random())
}

fn ascending_keys() -> impl Iterator<Item = [u8; KEY_BYTES]> {
    (0..N_KEYS).map(|n| (n as u128).to_be_bytes())
}

fn run(scenario: &str) -> anyhow::Result<()> {
    match scenario {
        "random" => measure_writes(scenario, random_keys(1)),
        "ascending" => measure_writes(scenario, ascending_keys()),
        "builder" => measure_builder(),
        "snapshot-churn" => measure_snapshot_churn(),
        other => anyhow::bail!("unknown scenario {other:?}; known: {SCENARIOS:?}"),
    }
}

/// Inserts `keys` one by one into a live index.
fn measure_writes(
    scenario: &str,
    keys: impl Iterator<Item = [u8; KEY_BYTES]>,
) -> anyhow::Result<()> {
    let before = usage()?;
    let index = Index::new();
    for (n, key) in keys.enumerate() {
        index.insert(&key, entry(n));
    }
    report(scenario, before, usage()?, index.len());
    let estimate = index.memory_estimate_bytes() as f64 / index.len() as f64;
    println!(
        "{:>14}  memory_estimate_bytes() says {estimate:.1} B/key",
        ""
    );
    Ok(())
}

/// Observes every key into a builder, builds, installs; prints how long
/// each step took as well.
fn measure_builder() -> anyhow::Result<()> {
    let before = usage()?;
    let started = Instant::now();
    let mut builder = IndexBuilder::with_capacity(N_KEYS);
    for (n, key) in random_keys(1).enumerate() {
        builder.observe(&key, n as u64, Some(entry(n).location));
    }
    let observed_ms = started.elapsed().as_millis();
    let started = Instant::now();
    let index = Index::from_snapshot(builder.build());
    let built_ms = started.elapsed().as_millis();
    report("builder", before, usage()?, index.len());
    println!(
        "{:>14}  observe took {observed_ms} ms, build and install {built_ms} ms",
        ""
    );
    Ok(())
}

/// Holds a snapshot while 10% of the keys are overwritten.
fn measure_snapshot_churn() -> anyhow::Result<()> {
    let before = usage()?;
    let index = Index::new();
    for (n, key) in random_keys(1).enumerate() {
        index.insert(&key, entry(n));
    }
    let loaded = usage()?;
    let held = index.snapshot();
    for (n, key) in random_keys(1).step_by(10).enumerate() {
        index.insert(&key, entry(N_KEYS + n));
    }
    let churned = usage()?;
    report("random", before, loaded, index.len());
    let extra = churned.heap_bytes.saturating_sub(loaded.heap_bytes) as f64 / index.len() as f64;
    println!(
        "{:>14}  holding a snapshot while 10% of the keys are overwritten costs {extra:.1} B/key more (heap)",
        ""
    );
    drop(held);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if let Some(scenario) = std::env::args().nth(1) {
        return run(&scenario);
    }
    let program = std::env::current_exe()?;
    for scenario in SCENARIOS {
        let status = std::process::Command::new(&program)
            .arg(scenario)
            .status()?;
        anyhow::ensure!(status.success(), "scenario {scenario} failed: {status}");
    }
    Ok(())
}
