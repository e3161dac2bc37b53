//! `hightower serve`: CONFIG GET answers Redis names and the store's own
//! tunables, `*` included; CONFIG SET accepts the current value and
//! refuses others and unknown names with Redis's texts; FUNCTION FLUSH
//! succeeds.

mod server_common;

use std::collections::HashMap;

use anyhow::Result;
use redis::cmd;
use server_common::{TestServer, error_text};

#[test]
fn config_get_and_set_answer_as_redis_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;

    let all: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("*").query(&mut con)?;
    assert_eq!(all.get("appendfsync").map(String::as_str), Some("no"));
    assert_eq!(all.get("databases").map(String::as_str), Some("1"));
    assert!(all.contains_key("hightower-segment-bytes-max"), "{all:?}");
    assert!(all.contains_key("hightower-compaction-tombstone-grace-secs"));
    let none: HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("no-such-setting")
        .query(&mut con)?;
    assert!(none.is_empty());

    let maxclients = all.get("maxclients").cloned().unwrap_or_default();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(&maxclients)
        .query(&mut con)?;
    let error = cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("1")
        .query::<()>(&mut con)
        .expect_err("changes by restart");
    assert!(
        error_text(&error)
            .starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients')"),
        "{}",
        error_text(&error)
    );
    let error = cmd("CONFIG")
        .arg("SET")
        .arg("no-such-setting")
        .arg("1")
        .query::<()>(&mut con)
        .expect_err("unknown");
    assert_eq!(
        error_text(&error),
        "ERR Unknown option or number of arguments for CONFIG SET - 'no-such-setting'"
    );
    let _: () = cmd("FUNCTION").arg("FLUSH").query(&mut con)?;
    Ok(())
}
