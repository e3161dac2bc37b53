//! Measurements around the timed sections: disk bytes of a directory,
//! resident memory of this process, and a timer over a whole phase.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Operations done in a timed section and the wall-clock time they took.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Operations done.
    pub ops: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl Measured {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `work`, which does `ops` operations, and times it.
pub fn timed(ops: u64, work: impl FnOnce() -> Result<()>) -> Result<Measured> {
    let started = Instant::now();
    work()?;
    Ok(Measured {
        ops,
        elapsed: started.elapsed(),
    })
}

/// Bytes allocated on disk for every file under `dir` (as `du` counts
/// them, so sparse or preallocated files count what they really hold).
pub fn dir_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;

    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in
            std::fs::read_dir(&next).with_context(|| format!("listing {}", next.display()))?
        {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                total += metadata.blocks() * 512;
            }
        }
    }
    Ok(total)
}

/// Resident set size of this process, from `/proc/self/status` (Linux
/// only; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
