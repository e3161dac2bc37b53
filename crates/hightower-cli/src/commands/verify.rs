//! `hightower verify`: checks every checksum and footer of every segment.
//!
//! This checks the segments one at a time through
//! `AdminEngine::verify_segment`, so that it can report each one as it
//! goes, draw a progress bar, and keep going past a bad segment to report
//! all of them.
//!
//! Opening the store already checks a lot: an unsealed segment is scanned
//! whole (a bad record with whole records after it fails the open), a
//! sealed one has its footer checked. A failed open through the log layer
//! is therefore reported as a failed verification too.

use std::io::Write;

use anyhow::Result;
use hightower_engine::{AdminEngine, EngineError};

use super::stats::file_name;
use super::{Access, open_engine};
use crate::cli::Cli;

/// Segments from which on a progress bar is drawn.
const PROGRESS_BAR_SEGMENTS_MIN: u64 = 8;

/// A segment failed its checks (exit status 4). The message names the
/// file and the offset.
#[derive(Debug)]
pub(crate) struct VerificationFailed {
    message: String,
}

impl std::fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "verification failed: {}", self.message)
    }
}

impl std::error::Error for VerificationFailed {}

/// Totals over the segments that passed.
#[derive(Debug, Default)]
struct Totals {
    segments_ok: usize,
    records: u64,
    data_bytes: u64,
}

/// Verifies the store in `--data-dir`.
pub(crate) fn run(cli: &Cli) -> Result<()> {
    let engine = open_engine(cli, Access::MustExist).map_err(|error| {
        match error.downcast_ref::<EngineError>() {
            Some(EngineError::Log(_)) => VerificationFailed {
                message: format!("{error:#}"),
            }
            .into(),
            _ => error,
        }
    })?;
    let (totals, failures) = verify_segments(&engine)?;
    let n_segments = totals.segments_ok + failures.len();
    let Some(first) = failures.first() else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "ok: {n_segments} segments, {} records, {} data bytes checked",
            totals.records, totals.data_bytes
        )?;
        out.flush()?;
        return Ok(());
    };
    let message = format!(
        "{} of {n_segments} segments failed; first: {first}",
        failures.len()
    );
    Err(VerificationFailed { message }.into())
}

/// Checks each segment, printing one line per segment; returns the totals
/// and the failure messages.
fn verify_segments(engine: &dyn AdminEngine) -> Result<(Totals, Vec<String>)> {
    let segments = engine.segments();
    let bar = super::progress_bar(
        segments.len() as u64,
        PROGRESS_BAR_SEGMENTS_MIN,
        "verify [{bar:40}] {pos}/{len} segments, eta {eta}",
    )?;
    let mut out = std::io::stdout().lock();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for segment in &segments {
        let state = if segment.sealed { "sealed" } else { "active" };
        let name = file_name(&segment.path);
        let line = match engine.verify_segment(segment.id) {
            // Compacted away since the listing (not on a store this
            // process just opened).
            Ok(None) => format!("{name}  {state}  gone"),
            Ok(Some(report)) => {
                totals.segments_ok += 1;
                totals.records += report.records;
                totals.data_bytes += report.data_len_bytes;
                let footer = report
                    .footer_entries
                    .map_or("-".to_string(), |n| n.to_string());
                format!(
                    "{name}  {state}  records {}  data bytes {}  footer entries {footer}  ok",
                    report.records, report.data_len_bytes
                )
            }
            Err(error) => {
                failures.push(error.to_string());
                format!("{name}  {state}  FAILED: {error}")
            }
        };
        bar.suspend(|| writeln!(out, "{line}"))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.flush()?;
    Ok((totals, failures))
}
