//! What one `fdatasync` after a small append costs on this disk, when the
//! append grows the file (as a segment's appends do today) and when it
//! overwrites bytes already written as zeros (as a preallocated segment's
//! would): the second needs no file-size update in the same sync.
//!
//! ```text
//! cargo run --release -p hightower-log --example fsync_cost -- [DIR] [SYNCS] [RECORD_BYTES]
//! ```
//!
//! DIR defaults to a temporary directory on the system's temp file
//! system; run it on the disk the store will use.

#![allow(
    clippy::print_stdout,
    reason = "a measurement tool that prints its results"
)]

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

fn syncs_per_sec(
    path: &Path,
    zeroed_first: bool,
    syncs: usize,
    record: usize,
) -> std::io::Result<f64> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    if zeroed_first {
        file.write_all(&vec![0; syncs * record + 4096])?;
        file.sync_all()?;
        file.seek(SeekFrom::Start(0))?;
    }
    let bytes = vec![b'x'; record];
    let started = Instant::now();
    for _ in 0..syncs {
        file.write_all(&bytes)?;
        file.sync_data()?;
    }
    let rate = syncs as f64 / started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(path)?;
    Ok(rate)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let scratch = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| scratch.path().to_path_buf(), Into::into);
    let syncs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3_000);
    let record: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(150);
    for round in 1..=2 {
        let growing = syncs_per_sec(&dir.join("fsync-cost.grow"), false, syncs, record)?;
        let zeroed = syncs_per_sec(&dir.join("fsync-cost.zeroed"), true, syncs, record)?;
        println!(
            "round {round}: {syncs} appends of {record} B, each fdatasynced: growing the file {growing:.0}/s, over zeros {zeroed:.0}/s ({:.2}x)",
            zeroed / growing
        );
    }
    Ok(())
}
