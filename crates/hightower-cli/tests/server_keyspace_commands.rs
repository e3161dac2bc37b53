//! `hightower serve`: SCAN (cursor, MATCH, COUNT, TYPE), KEYS and DBSIZE
//! over a few hundred keys, through the `redis` crate.

mod server_common;

use std::collections::BTreeSet;

use anyhow::Result;
use redis::{Value, cmd};
use server_common::{TestServer, error_text};

#[test]
fn scan_keys_and_dbsize_walk_the_keyspace() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;
    let mut mset = cmd("MSET");
    for i in 0..300 {
        let prefix = if i % 3 == 0 { "user" } else { "item" };
        mset.arg(format!("{prefix}:{i:03}")).arg(i);
    }
    let _: () = mset.query(&mut con)?;
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut con)?, 300);

    // A full SCAN returns every key exactly once.
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let (next, keys): (String, Vec<String>) = cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(7)
            .query(&mut con)?;
        assert!(keys.len() <= 7);
        seen.extend(keys);
        calls += 1;
        assert!(calls < 1000, "SCAN ends");
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 300);

    // MATCH filters; the client library's iterator follows the cursors.
    let users: BTreeSet<String> =
        redis::Commands::scan_match(&mut con, "user:*")?.collect::<Result<_, _>>()?;
    assert_eq!(users.len(), 100);
    assert!(users.iter().all(|k| k.starts_with("user:")));
    let (_, none): (String, Vec<String>) = cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("hash")
        .arg("COUNT")
        .arg(1000)
        .query(&mut con)?;
    assert!(none.is_empty());

    // KEYS with a glob.
    let mut keys: Vec<String> = cmd("KEYS").arg("user:0[0-1]?").query(&mut con)?;
    keys.sort();
    let expected: Vec<String> = (0..20)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("user:{i:03}"))
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(
        cmd("KEYS").arg("*").query::<Vec<String>>(&mut con)?.len(),
        300
    );

    // Bad cursors and options.
    let bad = cmd("SCAN").arg("12345").query::<Value>(&mut con);
    assert!(error_text(&bad.expect_err("unknown cursor")).contains("invalid cursor"));
    let bad = cmd("SCAN").arg("x").query::<Value>(&mut con);
    assert!(error_text(&bad.expect_err("not a number")).contains("invalid cursor"));
    let bad = cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(0)
        .query::<Value>(&mut con);
    assert!(error_text(&bad.expect_err("count 0")).contains("syntax error"));
    Ok(())
}
