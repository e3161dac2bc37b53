//! `hightower serve`: a key a transaction only reads is checked at EXEC,
//! not rewritten: its version stays (HT.GETV), so another client's
//! WATCH on it does not fire, and a change to it between the read and
//! EXEC still aborts the transaction.

mod server_common;

use anyhow::Result;
use redis::{Connection, Value, cmd};
use server_common::TestServer;

/// The key's `[value, version]` pair.
fn version(con: &mut Connection, key: &str) -> Result<Value> {
    Ok(cmd("HT.GETV").arg(key).query(con)?)
}

#[test]
fn reads_in_a_transaction_write_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut a = server.connect()?;
    let mut b = server.connect()?;
    let _: () = cmd("SET").arg("read").arg("v").query(&mut a)?;
    let before = version(&mut a, "read")?;

    // b watches the key that a's transaction will only read.
    let _: () = cmd("WATCH").arg("read").query(&mut b)?;
    let _: () = cmd("MULTI").query(&mut a)?;
    let _: Value = cmd("GET").arg("read").query(&mut a)?;
    let _: Value = cmd("INCR").arg("counter").query(&mut a)?;
    let replies: Vec<Value> = cmd("EXEC").query(&mut a)?;
    assert_eq!(replies.len(), 2);
    assert_eq!(version(&mut a, "read")?, before, "reading moved no version");
    let _: () = cmd("MULTI").query(&mut b)?;
    let _: Value = cmd("SET").arg("other").arg("1").query(&mut b)?;
    let committed: Value = cmd("EXEC").query(&mut b)?;
    assert_ne!(committed, Value::Nil, "b's WATCH did not fire");

    // A watched change still aborts.
    let _: () = cmd("WATCH").arg("read").query(&mut b)?;
    let _: () = cmd("SET").arg("read").arg("changed").query(&mut a)?;
    let _: () = cmd("MULTI").query(&mut b)?;
    let _: Value = cmd("GET").arg("read").query(&mut b)?;
    let aborted: Value = cmd("EXEC").query(&mut b)?;
    assert_eq!(aborted, Value::Nil, "a watched change aborts EXEC");
    Ok(())
}
