//! `hightower serve`: a key whose time has come is gone for every command
//! a client may use to look (GET, EXISTS, KEYS, SCAN, TTL), behaves as
//! absent for writes (SET NX creates it, INCR starts from zero, APPEND
//! starts empty), and the background sweep deletes it, so DBSIZE drops,
//! without any client touching it.

mod server_common;

use std::time::Duration;

use anyhow::{Result, bail};
use redis::{Connection, cmd};
use server_common::TestServer;

/// Polls until `key` has expired: 20 ms apart, 5 s at most.
fn wait_expired(con: &mut Connection, key: &str) -> Result<()> {
    for _ in 0..250 {
        let ttl: i64 = cmd("PTTL").arg(key).query(con)?;
        if ttl == -2 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{key} did not expire")
}

#[test]
fn expired_keys_are_gone_for_every_command() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut con = server.connect()?;
    for key in ["gone:a", "gone:b", "gone:counter", "gone:text"] {
        let _: () = cmd("SET")
            .arg(key)
            .arg("7")
            .arg("PX")
            .arg("150")
            .query(&mut con)?;
    }
    let _: () = cmd("SET").arg("stays").arg("v").query(&mut con)?;
    let exists: i64 = cmd("EXISTS").arg("gone:a").query(&mut con)?;
    assert_eq!(exists, 1);
    wait_expired(&mut con, "gone:a")?;
    for key in ["gone:b", "gone:counter", "gone:text"] {
        wait_expired(&mut con, key)?;
    }

    let value: Option<String> = cmd("GET").arg("gone:a").query(&mut con)?;
    assert_eq!(value, None);
    let exists: i64 = cmd("EXISTS")
        .arg("gone:a")
        .arg("gone:b")
        .arg("stays")
        .query(&mut con)?;
    assert_eq!(exists, 1);
    let mut keys: Vec<String> = cmd("KEYS").arg("*").query(&mut con)?;
    keys.sort();
    assert_eq!(keys, vec!["stays".to_string()]);
    let (cursor, scanned): (String, Vec<String>) = cmd("SCAN")
        .arg("0")
        .arg("COUNT")
        .arg("1000")
        .query(&mut con)?;
    assert_eq!((cursor.as_str(), scanned), ("0", vec!["stays".to_string()]));
    let ttl: i64 = cmd("TTL").arg("gone:a").query(&mut con)?;
    assert_eq!(ttl, -2);

    let created: bool = cmd("SET")
        .arg("gone:b")
        .arg("new")
        .arg("NX")
        .query(&mut con)?;
    assert!(created, "SET NX on an expired key creates it");
    let ttl: i64 = cmd("TTL").arg("gone:b").query(&mut con)?;
    assert_eq!(ttl, -1, "without the old expiry");
    let counter: i64 = cmd("INCR").arg("gone:counter").query(&mut con)?;
    assert_eq!(counter, 1, "INCR starts from zero");
    let len: i64 = cmd("APPEND").arg("gone:text").arg("xy").query(&mut con)?;
    assert_eq!(len, 2, "APPEND starts empty");

    // The sweep deletes what no one touches: only `gone:a` is left to it.
    let _: () = cmd("SET")
        .arg("swept")
        .arg("v")
        .arg("PX")
        .arg("50")
        .query(&mut con)?;
    let mut size = 0;
    for _ in 0..250 {
        size = cmd("DBSIZE").query(&mut con)?;
        if size == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(size, 4, "stays, gone:b, gone:counter, gone:text");
    Ok(())
}
