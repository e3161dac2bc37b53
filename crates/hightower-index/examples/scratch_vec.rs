//! Scratch timing.
#![allow(clippy::print_stdout)]
use hightower_index::{shard_of, Entry, Key, Location, SHARD_COUNT};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
fn main() {
    let mut rng = StdRng::seed_from_u64(1);
    let keys: Vec<[u8; 16]> = (0..1_000_000).map(|_| rng.random()).collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut shards: Vec<Vec<(Key, u64, Option<Location>)>> = (0..SHARD_COUNT).map(|_| Vec::new()).collect();
        for (n, k) in keys.iter().enumerate() {
            shards[shard_of(k)].push((Key::from_slice(k), n as u64, Some(Location { segment_id: 0, offset: n as u32, len: 1 })));
        }
        let t1 = t.elapsed();
        let mut total = 0;
        let mut maps = Vec::new();
        for mut v in shards {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut out: Vec<(Key, Entry)> = Vec::with_capacity(v.len());
            let mut it = v.into_iter().peekable();
            while let Some(x) = it.next() {
                if it.peek().is_some_and(|y| y.0 == x.0) { continue; }
                if let Some(l) = x.2 { out.push((x.0, Entry { version: x.1, location: l })); }
            }
            total += out.len();
            let mut map = imbl::OrdMap::new();
            let mut odds = Vec::new();
            for (i, (k, e)) in out.into_iter().enumerate() { if i % 2 == 0 { map.insert(k, e); } else { odds.push((k, e)); } }
            for (k, e) in odds { map.insert(k, e); }
            maps.push(map);
        }
        let t2 = t.elapsed();
        println!("push {:?} sort+build {:?} total {}", t1, t2 - t1, total);
    }
}
