//! A snapshot keeps showing the state it was taken in while the index is
//! overwritten, shrunk, relocated and batch-updated afterwards.

mod common;

use anyhow::ensure;
use common::{Model, all_ranges, check_snapshot, entry, location};
use hightower_index::Index;

#[test]
fn snapshot_isolation() -> anyhow::Result<()> {
    let index = Index::new();
    let mut model = Model::new();
    for n in 0..500u64 {
        let key = format!("key-{n:04}").into_bytes();
        index.insert(&key, entry(n));
        model.insert(key, entry(n));
    }
    let long_key = vec![b'L'; 40];
    index.insert(&long_key, entry(1_000));
    model.insert(long_key.clone(), entry(1_000));

    let snapshot = index.snapshot();
    let frozen = model.clone();

    for n in (0..500u64).step_by(3) {
        index.remove(format!("key-{n:04}").as_bytes());
    }
    for n in (1..500u64).step_by(3) {
        index.insert(format!("key-{n:04}").as_bytes(), entry(2_000 + n));
    }
    ensure!(index.relocate(&long_key, location(1_000), location(9_999)));
    index.apply([
        (b"fresh".as_slice(), Some(entry(3_000))),
        (b"key-0002".as_slice(), None),
    ]);

    let probes = vec![
        b"key-0000".to_vec(),
        b"key-0001".to_vec(),
        b"key-0002".to_vec(),
        b"key-02".to_vec(),
        b"fresh".to_vec(),
        long_key.clone(),
        b"key-".to_vec(),
        Vec::new(),
    ];
    let ranges = all_ranges(&[b"key-0001", b"key-0100", b"key-0499", b"zz"]);
    check_snapshot(&snapshot, &frozen, &probes, &ranges)?;
    ensure!(
        index.get(b"key-0000").is_none(),
        "the index itself moved on"
    );
    ensure!(index.get(&long_key).map(|e| e.location) == Some(location(9_999)));
    Ok(())
}
