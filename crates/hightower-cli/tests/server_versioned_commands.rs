//! `hightower serve`: the versioned extensions HT.GETV, HT.CAS, HT.CAD and
//! HT.COMPACT, through the `redis` crate.

mod server_common;

use std::collections::HashMap;

use anyhow::Result;
use redis::{Value, cmd};
use server_common::{TestServer, error_text};

#[test]
fn versioned_extensions_read_versions_and_compare_and_set() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut con = server.connect()?;

    assert_eq!(
        cmd("HT.GETV").arg("k").query::<Value>(&mut con)?,
        Value::Nil
    );
    let v1: i64 = cmd("HT.CAS").arg("k").arg(0).arg("first").query(&mut con)?;
    let (value, version): (String, i64) = cmd("HT.GETV").arg("k").query(&mut con)?;
    assert_eq!((value.as_str(), version), ("first", v1));

    let again = cmd("HT.CAS")
        .arg("k")
        .arg(0)
        .arg("x")
        .query::<i64>(&mut con);
    assert_eq!(
        error_text(&again.expect_err("exists")),
        format!("CONFLICT expected absent, the key is at version {v1}")
    );
    let v2: i64 = cmd("HT.CAS")
        .arg("k")
        .arg(v1)
        .arg("second")
        .query(&mut con)?;
    assert!(v2 > v1);
    let stale = cmd("HT.CAS")
        .arg("k")
        .arg(v1)
        .arg("x")
        .query::<i64>(&mut con);
    assert!(error_text(&stale.expect_err("stale")).starts_with("CONFLICT"));
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut con)?, "second");

    // A plain SET moves the version too.
    let _: () = cmd("SET").arg("k").arg("third").query(&mut con)?;
    let (_, v3): (String, i64) = cmd("HT.GETV").arg("k").query(&mut con)?;
    assert!(v3 > v2);

    let stale = cmd("HT.CAD").arg("k").arg(v2).query::<i64>(&mut con);
    assert!(error_text(&stale.expect_err("stale")).starts_with("CONFLICT"));
    let deleted: i64 = cmd("HT.CAD").arg("k").arg(v3).query(&mut con)?;
    assert!(deleted > v3);
    assert_eq!(cmd("EXISTS").arg("k").query::<i64>(&mut con)?, 0);
    let bad = cmd("HT.CAS")
        .arg("k")
        .arg("-1")
        .arg("x")
        .query::<i64>(&mut con);
    assert!(error_text(&bad.expect_err("negative")).contains("unsigned integer"));

    // Overwrites leave dead records; a compaction pass reclaims them.
    for i in 0..50 {
        let _: () = cmd("SET").arg("hot").arg(i).query(&mut con)?;
    }
    let report: HashMap<String, i64> = cmd("HT.COMPACT").query(&mut con)?;
    assert!(report["records_dropped"] >= 49, "{report:?}");
    assert!(report["bytes_reclaimed"] > 0, "{report:?}");
    assert_eq!(cmd("GET").arg("hot").query::<String>(&mut con)?, "49");
    Ok(())
}
