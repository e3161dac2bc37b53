//! Installing a built index swaps every shard at once, while a reader that
//! holds the old snapshot, and an iterator halfway through it, keep seeing
//! the old state.

mod common;

use anyhow::ensure;
use common::{Model, all_ranges, check_snapshot, entry, location};
use hightower_index::{Index, IndexBuilder};

#[test]
fn install_while_reading() -> anyhow::Result<()> {
    let index = Index::new();
    let mut old_model = Model::new();
    for n in 0..1_000u64 {
        let key = format!("old-{n:04}").into_bytes();
        index.insert(&key, entry(n));
        old_model.insert(key, entry(n));
    }
    let held = index.snapshot();
    let mut halfway = held.iter();
    let first_half: Vec<_> = halfway.by_ref().take(500).collect();

    let mut builder = IndexBuilder::new();
    let mut new_model = Model::new();
    for n in 0..800u64 {
        let key = format!("new-{n:04}").into_bytes();
        builder.observe(&key, 10_000 + n, Some(location(10_000 + n)));
        new_model.insert(key, entry(10_000 + n));
    }
    builder.observe(b"new-0000", 5, None);
    builder.observe(b"new-0001", 20_000, None);
    new_model.remove(b"new-0001".as_slice());

    let reader = std::thread::spawn(move || held.iter().count());
    index.install(builder.build());

    ensure!(index.len() == new_model.len(), "count reset by install");
    ensure!(index.get(b"old-0000").is_none(), "old keys are gone");
    let probes = vec![
        b"new-0000".to_vec(),
        b"new-0001".to_vec(),
        b"old-0000".to_vec(),
        b"new-07".to_vec(),
    ];
    let ranges = all_ranges(&[b"new-0001", b"new-0500", b"old"]);
    check_snapshot(&index.snapshot(), &new_model, &probes, &ranges)?;

    let rest: Vec<_> = halfway.collect();
    ensure!(
        first_half.len() + rest.len() == old_model.len(),
        "the iterator finished the old state"
    );
    ensure!(rest.iter().all(|(key, _)| key.starts_with(b"old-")));
    let counted = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    ensure!(
        counted == old_model.len(),
        "the reader saw the old state whole"
    );
    Ok(())
}
