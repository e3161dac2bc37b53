//! `hightower compact`: one compaction pass on the store in `--data-dir`,
//! with a progress bar over the input bytes and a summary of what the pass
//! did.
//!
//! By default the pass takes every segment with a dead byte, the active
//! segment's records included (it is sealed first); `--policy` takes only
//! what the automatic policy would.

use std::io::Write;

use anyhow::{Context, Result};
use hightower_engine::{AdminEngine, CompactionOptions, CompactionReport};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Access, open_engine};
use crate::cli::{Cli, CompactArgs};

/// Runs the pass and prints its report.
pub(crate) fn run(cli: &Cli, args: &CompactArgs) -> Result<()> {
    let engine = open_engine(cli, Access::MustExist)?;
    let mut options = if args.policy {
        CompactionOptions::default()
    } else {
        CompactionOptions::full()
    };
    if let Some(max_segments) = args.max_segments {
        options = options.max_segments(max_segments as usize);
    }
    let bar = progress_bar()?;
    let shown = bar.clone();
    let options = options.progress(move |progress| {
        shown.set_length(progress.bytes_total);
        shown.set_position(progress.bytes_done);
    });
    let outcome = engine.run_compaction(options);
    bar.finish_and_clear();
    let report = outcome.context("compaction failed")?;
    print_report(&engine, &report)
}

fn progress_bar() -> Result<ProgressBar> {
    let style = ProgressStyle::with_template(
        "compact [{bar:40}] {bytes}/{total_bytes}, {bytes_per_sec}, eta {eta}",
    )
    .context("progress bar template")?
    .progress_chars("=> ");
    Ok(ProgressBar::new(0).with_style(style))
}

fn print_report(engine: &dyn AdminEngine, report: &CompactionReport) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if report.is_empty() {
        writeln!(out, "nothing to compact")?;
    } else {
        writeln!(
            out,
            "compacted {} segments into {} in {:.3} s",
            report.segments_in,
            report.segments_out,
            report.elapsed.as_secs_f64()
        )?;
        writeln!(out, "  bytes read        {}", report.bytes_read)?;
        writeln!(out, "  bytes written     {}", report.bytes_written)?;
        writeln!(out, "  bytes reclaimed   {}", report.bytes_reclaimed)?;
        writeln!(
            out,
            "  records kept      {} ({} tombstones)",
            report.records_kept, report.tombstones_kept
        )?;
        writeln!(
            out,
            "  records dropped   {} ({} tombstones)",
            report.records_dropped, report.tombstones_dropped
        )?;
    }
    let usage = engine.segment_usage();
    let total: u64 = usage.iter().map(|u| u.total_bytes).sum();
    let live: u64 = usage.iter().map(|u| u.live_bytes).sum();
    writeln!(
        out,
        "store: {} segments, {total} data bytes, {live} live, space amplification {}",
        usage.len(),
        super::stats::amplification(total, live)
    )?;
    out.flush()?;
    Ok(())
}
