//! `hightower stats`: what the store holds and what the last open did.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use hightower_engine::{AdminEngine, SegmentUsage, SnapshotEngine};

use super::{Access, open_engine};
use crate::cli::Cli;

/// Prints keys, latest version, recovery, live and dead bytes, and one
/// line per segment. Live bytes are the records the index points at; the
/// rest of a segment's data (overwritten puts, tombstones) is dead, and
/// space amplification is data bytes over live bytes.
pub(crate) fn run(cli: &Cli) -> Result<()> {
    let engine = open_engine(cli, Access::MustExist)?;
    let recovery = engine.recovery_info();
    let segments = engine.segments();
    let data_bytes: u64 = segments.iter().map(|s| s.data_bytes).sum();
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
    let usage: BTreeMap<u32, SegmentUsage> = engine
        .segment_usage()
        .into_iter()
        .map(|u| (u.segment_id, u))
        .collect();
    let live_bytes: u64 = usage.values().map(|u| u.live_bytes).sum();
    let total_bytes: u64 = usage.values().map(|u| u.total_bytes).sum();
    writeln!(
        out,
        "live bytes       {live_bytes} of {total_bytes} ({} dead), space amplification {}",
        total_bytes - live_bytes.min(total_bytes),
        amplification(total_bytes, live_bytes)
    )?;
    writeln!(
        out,
        "  {:>6}  {:<16}  {:>12}  {:>12}  {:<6}  {:>11}  {:>12}  {:>12}  {:>6}  versions",
        "id",
        "file",
        "data bytes",
        "file bytes",
        "state",
        "footer keys",
        "live bytes",
        "dead bytes",
        "amp"
    )?;
    for segment in &segments {
        let footer = segment.footer;
        let file_bytes =
            std::fs::metadata(&segment.path).map_or("?".to_string(), |m| m.len().to_string());
        let (live, dead, amp) = usage.get(&segment.id).map_or(
            ("?".to_string(), "?".to_string(), "?".to_string()),
            |u| {
                (
                    u.live_bytes.to_string(),
                    u.dead_bytes().to_string(),
                    amplification(u.total_bytes, u.live_bytes),
                )
            },
        );
        writeln!(
            out,
            "  {:>6}  {:<16}  {:>12}  {:>12}  {:<6}  {:>11}  {live:>12}  {dead:>12}  {amp:>6}  {}",
            segment.id,
            file_name(&segment.path),
            segment.data_bytes,
            file_bytes,
            if segment.sealed { "sealed" } else { "active" },
            footer.map_or("-".to_string(), |f| f.entries.to_string()),
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

/// Data bytes over live bytes, for display ("-" with nothing live).
pub(super) fn amplification(total_bytes: u64, live_bytes: u64) -> String {
    if live_bytes == 0 {
        "-".to_string()
    } else {
        format!("{:.2}", total_bytes as f64 / live_bytes as f64)
    }
}
