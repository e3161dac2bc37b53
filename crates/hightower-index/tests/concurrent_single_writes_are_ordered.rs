//! A writer overwrites keys one at a time, in key order, round after
//! round, while the test thread takes snapshots: every snapshot must show
//! a state that existed, never a later write without an earlier one.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::ensure;
use common::entry;
use hightower_index::{Index, IndexSnapshot};

/// Keys spread over every shard.
const N_KEYS: u64 = 1_000;
/// The writer stops once this many snapshots were checked...
const N_CHECKS_MIN: u64 = 150;
/// ...or after this many rounds.
const N_ROUNDS_MAX: u64 = 10_000;

fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Round `round` writes version `round * N_KEYS + n` to key `n`, for `n`
/// ascending; so at any moment the rounds seen in key order are some
/// rounds `r` followed by rounds `r - 1`, or, during round 0, a prefix of
/// the keys.
fn check(snapshot: &IndexSnapshot) -> anyhow::Result<()> {
    let rounds: Vec<u64> = snapshot
        .iter()
        .map(|(_, found)| found.version / N_KEYS)
        .collect();
    ensure!(
        rounds.windows(2).all(|pair| pair[0] >= pair[1]),
        "a later write without an earlier one"
    );
    let (Some(first), Some(last)) = (rounds.first(), rounds.last()) else {
        return Ok(());
    };
    ensure!(first - last <= 1, "rounds {first} and {last} at once");
    if *first == 0 {
        for n in 0..rounds.len() as u64 {
            ensure!(snapshot.get(&key(n)).is_some(), "gap at key {n} in round 0");
        }
    } else {
        ensure!(rounds.len() as u64 == N_KEYS, "keys missing after round 0");
    }
    Ok(())
}

#[test]
fn concurrent_single_writes_are_ordered() -> anyhow::Result<()> {
    let index = Arc::new(Index::new());
    let n_checks = Arc::new(AtomicU64::new(0));
    let writer = {
        let index = Arc::clone(&index);
        let n_checks = Arc::clone(&n_checks);
        std::thread::spawn(move || {
            let mut round = 0;
            while round < N_ROUNDS_MAX
                && (round < 2 || n_checks.load(Ordering::Acquire) < N_CHECKS_MIN)
            {
                for n in 0..N_KEYS {
                    index.insert(&key(n), entry(round * N_KEYS + n));
                }
                round += 1;
            }
        })
    };
    while !writer.is_finished() {
        check(&index.snapshot())?;
        n_checks.fetch_add(1, Ordering::Release);
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))?;
    check(&index.snapshot())?;
    ensure!(index.len() as u64 == N_KEYS);
    ensure!(
        n_checks.load(Ordering::Acquire) >= N_CHECKS_MIN,
        "the checker overlapped the writer"
    );
    Ok(())
}
