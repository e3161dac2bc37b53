//! Scratch timing.
#![allow(clippy::print_stdout)]
use hightower_index::{IndexBuilder, Location};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
fn main() {
    let mut rng = StdRng::seed_from_u64(1);
    let keys: Vec<[u8; 16]> = (0..1_000_000).map(|_| rng.random()).collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut b = IndexBuilder::with_capacity(keys.len());
        for (n, k) in keys.iter().enumerate() {
            b.observe(k, n as u64, Some(Location { segment_id: 0, offset: n as u32, len: 1 }));
        }
        let t1 = t.elapsed();
        let s = b.build();
        let t2 = t.elapsed();
        drop(s);
        let t3 = t.elapsed();
        println!("observe {:?} build {:?} drop {:?}", t1, t2 - t1, t3 - t2);
    }
}
