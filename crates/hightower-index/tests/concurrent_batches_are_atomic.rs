//! Writers apply pairs of keys as batches while another thread takes
//! snapshots: no snapshot may see half a pair.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::ensure;
use common::entry;
use hightower_index::{Entry, Index};

const N_WRITERS: u64 = 2;
const N_PAIRS: u64 = 100;
/// Writers stop once the checker has verified this many snapshots taken
/// while they were writing...
const N_CHECKS_MIN: u64 = 40;
/// ...or after this many rounds, whichever comes first.
const N_ROUNDS_MAX: u64 = 100_000;

fn pair_keys(writer: u64, pair: u64) -> (Vec<u8>, Vec<u8>) {
    // The second key is longer than the inline capacity on purpose.
    let a = format!("w{writer}-p{pair:03}-a").into_bytes();
    let b = format!("w{writer}-p{pair:03}-b-and-some-more-bytes").into_bytes();
    (a, b)
}

fn write(index: &Index, writer: u64, n_checks: &AtomicU64) {
    let mut round = 0;
    while round < N_ROUNDS_MAX && (round < 3 || n_checks.load(Ordering::Acquire) < N_CHECKS_MIN) {
        for pair in 0..N_PAIRS {
            let (a, b) = pair_keys(writer, pair);
            // Odd rounds remove the pairs, even rounds overwrite them.
            let update: Option<Entry> = (round % 2 == 0).then(|| entry(round * N_PAIRS + pair));
            index.apply([(a.as_slice(), update), (b.as_slice(), update)]);
        }
        round += 1;
    }
    // End with every pair present.
    for pair in 0..N_PAIRS {
        let (a, b) = pair_keys(writer, pair);
        let update = Some(entry(pair));
        index.apply([(a.as_slice(), update), (b.as_slice(), update)]);
    }
}

fn check_pairs(index: &Index) -> anyhow::Result<()> {
    let snapshot = index.snapshot();
    for writer in 0..N_WRITERS {
        for pair in 0..N_PAIRS {
            let (a, b) = pair_keys(writer, pair);
            ensure!(
                snapshot.get(&a) == snapshot.get(&b),
                "half a pair: writer {writer} pair {pair}"
            );
        }
    }
    let n_scanned = snapshot.iter().count();
    ensure!(
        n_scanned == snapshot.len(),
        "scan {n_scanned} != len {}",
        snapshot.len()
    );
    ensure!(
        n_scanned.is_multiple_of(2),
        "odd number of keys: {n_scanned}"
    );
    Ok(())
}

#[test]
fn concurrent_batches_are_atomic() -> anyhow::Result<()> {
    let index = Arc::new(Index::new());
    let n_checks = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..N_WRITERS)
        .map(|writer| {
            let index = Arc::clone(&index);
            let n_checks = Arc::clone(&n_checks);
            std::thread::spawn(move || write(&index, writer, &n_checks))
        })
        .collect();
    while !writers.iter().all(|writer| writer.is_finished()) {
        check_pairs(&index)?;
        n_checks.fetch_add(1, Ordering::Release);
    }
    for writer in writers {
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer panicked"))?;
    }
    check_pairs(&index)?;
    ensure!(index.len() as u64 == N_WRITERS * N_PAIRS * 2);
    ensure!(
        n_checks.load(Ordering::Acquire) >= N_CHECKS_MIN,
        "the checker overlapped the writers"
    );
    Ok(())
}
