//! Measures what expiry costs in memory: heap bytes per key of an engine
//! holding 1,000,000 keys of 16 bytes (100-byte values, which stay on
//! disk) written without an expiry, and the same written with one.
//!
//! The difference is the table of expiry times (`expiry.rs`); the index
//! entry is the same 24 bytes either way. Heap bytes are counted by a
//! global allocator that wraps the system one.
//!
//! Run with `cargo run --release -p hightower-engine --example expiry_memory`.

#![allow(
    clippy::print_stdout,
    reason = "a measurement tool that prints its results"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hightower_engine::{Command, Durability, EngineConfig, KvEngine, SingleNodeEngine};

const N_KEYS: u64 = 1_000_000;

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
            LIVE_HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_HEAP_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        new_pointer
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap bytes per key of an engine holding `N_KEYS` keys, each expiring
/// when `expiring` is set.
fn heap_bytes_per_key(expiring: bool) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let config = EngineConfig::new(dir.path())
        .durability(Durability::None)
        .expiry_sweep_keys_per_second(0);
    let engine = SingleNodeEngine::with_config(config)?;
    let far_future_ms = engine.now_ms() + 86_400_000;
    let before = LIVE_HEAP_BYTES.load(Ordering::Relaxed);
    let value = [7u8; 100];
    for n in 0..N_KEYS {
        // Spread like random keys: a multiplicative hash of the counter.
        let key = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) as u128).to_be_bytes();
        let command = match expiring {
            true => Command::put_expiring(key.to_vec(), value.to_vec(), far_future_ms + n),
            false => Command::put(key.to_vec(), value.to_vec()),
        };
        engine.submit(command)?;
    }
    engine.sync()?;
    let after = LIVE_HEAP_BYTES.load(Ordering::Relaxed);
    Ok((after.saturating_sub(before)) as f64 / N_KEYS as f64)
}

fn main() -> anyhow::Result<()> {
    let plain = heap_bytes_per_key(false)?;
    let expiring = heap_bytes_per_key(true)?;
    println!("{N_KEYS} keys of 16 bytes, heap bytes per key (key bytes included):");
    println!("  without expiry: {plain:.1}");
    println!("  with expiry:    {expiring:.1}");
    println!("  expiry's cost:  {:.1} per expiring key", expiring - plain);
    Ok(())
}
