//! A small `bench` run: it exits 0, prints the table with ops/s for each
//! phase asked for, and removes its scratch directory.

mod common;

use anyhow::{Context, Result};
use common::hightower_ok;

#[test]
fn bench_prints_a_row_per_workload() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bench_dir = dir.path().join("scratch");
    let bench_dir_arg = bench_dir.to_str().context("temporary path is UTF-8")?;
    let stdout = hightower_ok(
        dir.path(),
        &[
            "bench",
            "--keys",
            "2000",
            "--workload",
            "fillrandom,readrandom",
            "--bench-dir",
            bench_dir_arg,
        ],
    )?;

    let header = stdout
        .lines()
        .find(|line| line.starts_with("workload"))
        .context("table header")?;
    for column in [
        "ops", "seconds", "ops/s", "MB/s", "p50 us", "p99 us", "p999 us",
    ] {
        assert!(header.contains(column), "column {column} in {header}");
    }
    let ops_per_second_column = header
        .split_whitespace()
        .position(|c| c == "ops/s")
        .context("ops/s column")?;
    for workload in ["fillrandom", "readrandom"] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(workload))
            .with_context(|| format!("row {workload}: {stdout}"))?;
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[1], "2000", "all ops ran: {row}");
        let ops_per_second: f64 = fields[ops_per_second_column]
            .parse()
            .with_context(|| format!("ops/s in {row}"))?;
        assert!(ops_per_second > 0.0, "{row}");
    }
    assert!(
        !stdout.lines().any(|line| line.starts_with("overwrite")),
        "only the phases asked for: {stdout}"
    );
    assert!(stdout.contains("found 2000 of 2000 keys"), "{stdout}");
    assert!(!bench_dir.exists(), "the scratch directory is removed");
    Ok(())
}
