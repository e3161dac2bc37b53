//! `hightower serve`: the commands that rewrite a value keep or drop its
//! expiry as Redis does (APPEND, SETRANGE, INCR, INCRBYFLOAT and SETBIT
//! keep it; SET, GETSET and MSET drop it; RENAME and COPY move it with
//! the value), alone and inside MULTI.

mod server_common;

use anyhow::Result;
use redis::{Connection, cmd};
use server_common::TestServer;

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> Result<T> {
    let mut command = cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    Ok(command.query(con)?)
}

fn ttl(con: &mut Connection, key: &str) -> Result<i64> {
    query(con, &["TTL", key])
}

fn check(con: &mut Connection, in_multi: bool) -> Result<()> {
    let run = |con: &mut Connection, args: &[&str]| -> Result<()> {
        if in_multi {
            let _: () = query(con, &["MULTI"])?;
            let _: () = query(con, args)?;
            let _: redis::Value = query(con, &["EXEC"])?;
        } else {
            let _: redis::Value = query(con, args)?;
        }
        Ok(())
    };
    let kept: [&[&str]; 5] = [
        &["APPEND", "k", "x"],
        &["SETRANGE", "k", "0", "9"],
        &["INCR", "k"],
        &["INCRBYFLOAT", "k", "1.5"],
        &["SETBIT", "k", "3", "1"],
    ];
    for args in kept {
        let _: () = query(con, &["SET", "k", "10", "EX", "100"])?;
        run(con, args)?;
        assert_eq!(ttl(con, "k")?, 100, "{args:?} in_multi={in_multi}");
    }
    let _: () = query(con, &["SET", "k", "10", "EX", "100"])?;
    run(con, &["INCRBY", "k", "5"])?;
    run(con, &["DECR", "k"])?;
    assert_eq!(query::<i64>(con, &["GET", "k"])?, 14);
    assert_eq!(ttl(con, "k")?, 100);

    let dropped: [&[&str]; 3] = [
        &["SET", "k", "v"],
        &["GETSET", "k", "v"],
        &["MSET", "k", "v", "other", "w"],
    ];
    for args in dropped {
        let _: () = query(con, &["SET", "k", "10", "EX", "100"])?;
        run(con, args)?;
        assert_eq!(ttl(con, "k")?, -1, "{args:?} in_multi={in_multi}");
    }

    // RENAME moves the expiry; the target's own expiry goes.
    let _: () = query(con, &["SET", "src", "v", "EX", "100"])?;
    let _: () = query(con, &["SET", "dst", "old", "EX", "500"])?;
    run(con, &["RENAME", "src", "dst"])?;
    assert_eq!(ttl(con, "src")?, -2);
    assert_eq!(ttl(con, "dst")?, 100);
    let _: () = query(con, &["SET", "plain", "v"])?;
    run(con, &["RENAME", "plain", "dst"])?;
    assert_eq!(ttl(con, "dst")?, -1);
    // COPY gives the copy the source's expiry.
    let _: () = query(con, &["SET", "src", "v", "EX", "200"])?;
    run(con, &["COPY", "src", "dst", "REPLACE"])?;
    assert_eq!(ttl(con, "src")?, 200);
    assert_eq!(ttl(con, "dst")?, 200);
    assert_eq!(query::<String>(con, &["GET", "dst"])?, "v");
    // GETDEL takes the key, expiry and all.
    run(con, &["GETDEL", "dst"])?;
    assert_eq!(ttl(con, "dst")?, -2);
    Ok(())
}

#[test]
fn value_edits_keep_or_drop_the_expiry_as_redis_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;
    check(&mut con, false)?;
    check(&mut con, true)?;

    // Reads inside MULTI leave the expiry alone.
    let _: () = query(&mut con, &["SET", "r", "v", "EX", "100"])?;
    let _: () = query(&mut con, &["MULTI"])?;
    let _: () = query(&mut con, &["GET", "r"])?;
    let _: () = query(&mut con, &["SET", "w", "v"])?;
    let _: () = query(&mut con, &["EXEC"])?;
    assert_eq!(ttl(&mut con, "r")?, 100);
    Ok(())
}
