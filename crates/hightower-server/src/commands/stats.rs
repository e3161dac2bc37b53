//! `hightower stats`: what the store holds and what the last open did.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use hightower_engine::SnapshotEngine;

use super::{Access, open_engine};
use crate::cli::Cli;

/// Prints keys, latest version, recovery and one line per segment.
pub(crate) fn run(cli: &Cli) -> Result<()> {
    let engine = open_engine(cli, Access::MustExist)?;
    let recovery = engine.recovery_info();
    let segments = engine.storage().segments();
    let data_bytes: u64 = segments.values().map(|s| s.data_len_bytes()).sum();
    let snapshot = recovery
        .snapshot_version
        .map_or("none".to_string(), |v| format!("at version {v}"));

    let mut out = std::io::stdout().lock();
    writeln!(out, "data directory   {}", cli.data_dir.display())?;
    writeln!(out, "keys             {}", engine.len())?;
    writeln!(out, "latest version   {}", engine.latest_version())?;
    writeln!(
        out,
        "recovery time    {:.3} ms",
        recovery.elapsed.as_secs_f64() * 1000.0
    )?;
    writeln!(
        out,
        "snapshot loaded  {snapshot} ({} skipped)",
        recovery.snapshots_skipped
    )?;
    writeln!(out, "torn tail cut    {} bytes", recovery.truncated_bytes)?;
    writeln!(
        out,
        "segments         {} ({data_bytes} data bytes)",
        segments.len()
    )?;
    writeln!(
        out,
        "  {:>6}  {:<16}  {:>12}  {:>12}  {:<6}  {:>11}  versions",
        "id", "file", "data bytes", "file bytes", "state", "footer keys"
    )?;
    for segment in segments.values() {
        let footer = segment.footer();
        let file_bytes =
            std::fs::metadata(segment.path()).map_or("?".to_string(), |m| m.len().to_string());
        writeln!(
            out,
            "  {:>6}  {:<16}  {:>12}  {:>12}  {:<6}  {:>11}  {}",
            segment.id(),
            file_name(segment.path()),
            segment.data_len_bytes(),
            file_bytes,
            if segment.is_sealed() {
                "sealed"
            } else {
                "active"
            },
            footer.map_or("-".to_string(), |f| f.entry_count.to_string()),
            footer.map_or("-".to_string(), |f| format!(
                "{}..={}",
                f.min_version, f.max_version
            )),
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The file name of a segment, for display.
pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}
