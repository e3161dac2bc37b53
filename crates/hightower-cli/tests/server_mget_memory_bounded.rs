//! `hightower serve`: an `MGET` whose values pass `--reply-bytes-max` is
//! refused before the values are gathered, so the server's memory grows by
//! about the limit, not by what the keys hold.

mod server_common;

use anyhow::{Result, ensure};
use server_common::{TestServer, error_text};

/// The peak resident memory of process `pid`, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

#[test]
fn mget_over_the_reply_limit_does_not_gather_the_values() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(
        &dir.path().join("data"),
        &["--reply-bytes-max", "8388608", "--durability", "none"],
    )?;
    let pid = server.pid().expect("the server runs");
    let mut client = server.connect()?;
    let value = vec![b'm'; 1 << 20];
    redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query::<()>(&mut client)?;
    let before_kib = peak_rss_kib(pid)?;
    let mut mget = redis::cmd("MGET");
    for _ in 0..300 {
        mget.arg("big");
    }
    let refused = mget.query::<Vec<Option<Vec<u8>>>>(&mut client);
    let error = refused.err().map(|e| error_text(&e)).unwrap_or_default();
    ensure!(error.contains("reply_bytes_max"), "not refused: {error:?}");
    let grown_kib = peak_rss_kib(pid)?.saturating_sub(before_kib);
    ensure!(
        grown_kib < 100 * 1024,
        "memory grew by {grown_kib} KiB for a refused MGET"
    );
    Ok(())
}
