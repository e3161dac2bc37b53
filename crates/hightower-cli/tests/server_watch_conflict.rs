//! `hightower serve`: WATCH makes EXEC commit only when the watched keys
//! are unchanged (a null reply otherwise), also when a concurrent writer
//! changes one between WATCH and EXEC, and concurrent WATCH/MULTI
//! increments lose no update.

mod server_common;

use anyhow::Result;
use redis::{Value, cmd};
use server_common::TestServer;

/// One optimistic increment of `key`: WATCH, read, MULTI, SET, EXEC;
/// returns whether EXEC committed.
fn increment_once(con: &mut redis::Connection, key: &str) -> Result<bool> {
    let _: () = cmd("WATCH").arg(key).query(con)?;
    let current: Option<i64> = cmd("GET").arg(key).query(con)?;
    let _: () = cmd("MULTI").query(con)?;
    let _: Value = cmd("SET")
        .arg(key)
        .arg(current.unwrap_or(0) + 1)
        .query(con)?;
    let reply: Value = cmd("EXEC").query(con)?;
    Ok(reply != Value::Nil)
}

#[test]
fn watched_keys_changed_by_others_abort_exec() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;
    let mut other = server.connect()?;

    // Unchanged: EXEC commits.
    let _: () = cmd("SET").arg("x").arg("30").query(&mut con)?;
    let _: () = cmd("WATCH").arg("x").arg("absent").query(&mut con)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    let _: Value = cmd("PING").query(&mut con)?;
    let reply: Value = cmd("EXEC").query(&mut con)?;
    assert_eq!(
        reply,
        Value::Array(vec![Value::SimpleString("PONG".into())])
    );

    // Changed by another connection, even to the same value: null, and
    // the queued write did not happen.
    let _: () = cmd("WATCH").arg("x").query(&mut con)?;
    let _: () = cmd("SET").arg("x").arg("30").query(&mut other)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    let _: Value = cmd("SET").arg("y").arg("1").query(&mut con)?;
    assert_eq!(cmd("EXEC").query::<Value>(&mut con)?, Value::Nil);
    assert_eq!(cmd("EXISTS").arg("y").query::<i64>(&mut con)?, 0);

    // After EXEC nothing is watched any more.
    let _: () = cmd("SET").arg("x").arg("40").query(&mut other)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    let _: Value = cmd("PING").query(&mut con)?;
    assert_ne!(cmd("EXEC").query::<Value>(&mut con)?, Value::Nil);

    // A watched absent key that another connection creates; UNWATCH
    // forgets it.
    let _: () = cmd("WATCH").arg("fresh").query(&mut con)?;
    let _: () = cmd("SET").arg("fresh").arg("1").query(&mut other)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    assert_eq!(cmd("EXEC").query::<Value>(&mut con)?, Value::Nil);
    let _: () = cmd("WATCH").arg("fresh").query(&mut con)?;
    let _: () = cmd("DEL").arg("fresh").query(&mut other)?;
    let _: () = cmd("UNWATCH").query(&mut con)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    assert_ne!(cmd("EXEC").query::<Value>(&mut con)?, Value::Nil);

    // FLUSHALL touches a watched key that existed.
    let _: () = cmd("SET").arg("x").arg("1").query(&mut con)?;
    let _: () = cmd("WATCH").arg("x").query(&mut con)?;
    let _: () = cmd("FLUSHALL").query(&mut other)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    assert_eq!(cmd("EXEC").query::<Value>(&mut con)?, Value::Nil);

    // Racing optimistic increments: every committed one counts.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut con = server.connect()?;
            Ok(std::thread::spawn(move || -> Result<u64> {
                let mut committed = 0;
                for _ in 0..200 {
                    committed += u64::from(increment_once(&mut con, "counter")?);
                }
                Ok(committed)
            }))
        })
        .collect::<Result<_>>()?;
    let mut committed = 0;
    for thread in threads {
        committed += thread
            .join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
    }
    assert!(committed > 0);
    let counter: u64 = cmd("GET").arg("counter").query(&mut con)?;
    assert_eq!(counter, committed, "no committed increment is lost");
    Ok(())
}
