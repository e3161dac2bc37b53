//! `hightower serve`: the engine's tunables come from `serve` flags and
//! from the configuration file's `[store]` table (flags win), and `CONFIG
//! GET hightower-*` shows the values the engine runs with; a value the
//! engine cannot use stops the start with a clear message.

mod common;
mod server_common;

use std::collections::HashMap;

use anyhow::Result;
use redis::cmd;
use server_common::TestServer;

#[test]
fn flags_and_the_store_table_set_the_engines_tunables() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("hightower.toml");
    std::fs::write(
        &config,
        "[store]\nsegment_bytes_max = 1048576\nvalue_bytes_max = 65536\n\
         compaction_dead_ratio_min = 0.25\ncompaction_tombstone_grace_secs = 7\n",
    )?;
    let config_arg = config.display().to_string();
    let server = TestServer::start_open(
        &dir.path().join("data"),
        &[
            "--config",
            &config_arg,
            "--segment-bytes-max",
            "2097152",
            "--compaction-max-segments",
            "3",
        ],
    )?;
    let mut con = server.connect()?;
    let all: HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("hightower-*")
        .query(&mut con)?;
    let get = |name: &str| all.get(name).map(String::as_str);
    assert_eq!(
        get("hightower-segment-bytes-max"),
        Some("2097152"),
        "the flag wins"
    );
    assert_eq!(get("hightower-value-bytes-max"), Some("65536"));
    assert_eq!(get("hightower-compaction-dead-ratio-min"), Some("0.25"));
    assert_eq!(get("hightower-compaction-tombstone-grace-secs"), Some("7"));
    assert_eq!(get("hightower-compaction-max-segments"), Some("3"));
    assert_eq!(
        get("hightower-key-bytes-max"),
        Some("65536"),
        "unset: the default"
    );
    // The value limit is the engine's: a larger value is refused (as a
    // bulk string over the protocol limit, which ends the connection).
    let _: () = cmd("SET")
        .arg("k")
        .arg(vec![b'x'; 65_536])
        .query(&mut con)?;
    let big = vec![b'x'; 65_537];
    let refused = cmd("SET").arg("k").arg(big).query::<()>(&mut con);
    assert!(refused.is_err());
    let mut con = server.connect()?;
    let kept: Vec<u8> = cmd("GET").arg("k").query(&mut con)?;
    assert_eq!(kept.len(), 65_536);
    Ok(())
}

#[test]
fn a_tunable_the_engine_cannot_use_stops_the_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let serve = ["serve", "--no-auth", "--listen", "127.0.0.1:0"];
    let run = common::hightower(
        &data,
        &[&serve[..], &["--segment-bytes-max", "10"]].concat(),
    )?;
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("segment_bytes_max"), "{}", run.stderr);
    let run = common::hightower(
        &data,
        &[&serve[..], &["--compaction-dead-ratio-min", "2"]].concat(),
    )?;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("compaction_dead_ratio_min"),
        "{}",
        run.stderr
    );
    Ok(())
}
