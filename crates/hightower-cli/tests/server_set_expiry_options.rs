//! `hightower serve`: SET with EX, PX, EXAT, PXAT and KEEPTTL, SETEX,
//! PSETEX and GETEX, replies and error texts as Redis 7 writes them, and
//! a key set to expire soon read as absent once its time has come.

mod server_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use redis::{Connection, Value};
use server_common::{TestServer, query, refused};

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Polls until `key` reads as absent, for at most about five seconds.
fn wait_gone(con: &mut Connection, key: &str) -> Result<()> {
    for _ in 0..250 {
        if query::<Option<String>>(con, &["GET", key])?.is_none() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{key} did not expire")
}

#[test]
fn set_expiry_options_answer_as_redis_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;

    // EX, PX, EXAT, PXAT.
    let ok: String = query(&mut con, &["SET", "k", "v", "EX", "100"])?;
    assert_eq!(ok, "OK");
    assert_eq!(query::<i64>(&mut con, &["TTL", "k"])?, 100);
    let _: () = query(&mut con, &["SET", "k", "v", "PX", "50000"])?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "k"])?, 50);
    let at = (now_s() + 3600).to_string();
    let _: () = query(&mut con, &["SET", "k", "v", "exat", &at])?;
    assert_eq!(query::<String>(&mut con, &["EXPIRETIME", "k"])?, at);
    let at_ms = ((now_s() + 7200) * 1000 + 7).to_string();
    let _: () = query(&mut con, &["SET", "k", "v", "PXAT", &at_ms])?;
    assert_eq!(query::<String>(&mut con, &["PEXPIRETIME", "k"])?, at_ms);

    // KEEPTTL keeps it; a plain SET drops it.
    let _: () = query(&mut con, &["SET", "k", "w", "KEEPTTL"])?;
    assert_eq!(query::<String>(&mut con, &["PEXPIRETIME", "k"])?, at_ms);
    assert_eq!(query::<String>(&mut con, &["GET", "k"])?, "w");
    let old: String = query(&mut con, &["SET", "k", "x", "XX", "GET", "KEEPTTL"])?;
    assert_eq!(old, "w");
    assert_eq!(query::<String>(&mut con, &["PEXPIRETIME", "k"])?, at_ms);
    let _: () = query(&mut con, &["SET", "k", "y"])?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "k"])?, -1);
    let _: () = query(&mut con, &["SET", "n", "v", "NX", "EX", "100"])?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "n"])?, 100);
    let nothing: Option<String> = query(&mut con, &["SET", "n", "v", "NX", "EX", "5"])?;
    assert_eq!(nothing, None);
    assert_eq!(query::<i64>(&mut con, &["TTL", "n"])?, 100);

    // Errors.
    for args in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "PX", "-5"],
        &["SET", "k", "v", "EXAT", "0"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
    ] {
        assert_eq!(
            refused(&mut con, args),
            "ERR invalid expire time in 'set' command",
            "{args:?}"
        );
    }
    for args in [
        &["SET", "k", "v", "EX", "10", "PX", "10"][..],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "KEEPTTL", "PXAT", "10"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "SOON"],
    ] {
        assert_eq!(refused(&mut con, args), "ERR syntax error", "{args:?}");
    }
    // Options are read before the time is checked; the last time counts.
    assert_eq!(
        refused(&mut con, &["SET", "k", "v", "EX", "0", "SOON"]),
        "ERR syntax error"
    );
    let _: () = query(&mut con, &["SET", "e", "v", "EX", "0", "EX", "100"])?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "e"])?, 100);
    // A Unix time already past: the write lands and the key is gone.
    let ok: String = query(&mut con, &["SET", "e", "v", "EXAT", "1"])?;
    assert_eq!(ok, "OK");
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "e"])?, 0);
    assert_eq!(
        refused(&mut con, &["SET", "k", "v", "EX", "ten"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        query::<i64>(&mut con, &["TTL", "k"])?,
        -1,
        "errors change nothing"
    );

    // SETEX and PSETEX.
    let _: () = query(&mut con, &["SETEX", "s", "100", "v"])?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "s"])?, 100);
    assert_eq!(query::<String>(&mut con, &["GET", "s"])?, "v");
    let _: () = query(&mut con, &["PSETEX", "s", "20600", "w"])?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "s"])?, 21);
    for (name, zero) in [("SETEX", "0"), ("SETEX", "-3"), ("PSETEX", "0")] {
        assert_eq!(
            refused(&mut con, &[name, "s", zero, "v"]),
            format!(
                "ERR invalid expire time in '{}' command",
                name.to_lowercase()
            )
        );
    }

    // GETEX: no option reads only; the options change the expiry.
    assert_eq!(
        query::<Option<String>>(&mut con, &["GETEX", "absent", "EX", "5"])?,
        None
    );
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "absent"])?, 0);
    let _: () = query(&mut con, &["SET", "g", "v"])?;
    assert_eq!(query::<String>(&mut con, &["GETEX", "g"])?, "v");
    assert_eq!(query::<i64>(&mut con, &["TTL", "g"])?, -1);
    assert_eq!(
        query::<String>(&mut con, &["GETEX", "g", "EX", "100"])?,
        "v"
    );
    assert_eq!(query::<i64>(&mut con, &["TTL", "g"])?, 100);
    assert_eq!(
        query::<String>(&mut con, &["GETEX", "g", "PX", "30000"])?,
        "v"
    );
    assert_eq!(query::<i64>(&mut con, &["TTL", "g"])?, 30);
    assert_eq!(query::<String>(&mut con, &["GETEX", "g", "PERSIST"])?, "v");
    assert_eq!(query::<i64>(&mut con, &["TTL", "g"])?, -1);
    assert_eq!(
        refused(&mut con, &["GETEX", "g", "EX", "0"]),
        "ERR invalid expire time in 'getex' command"
    );
    assert_eq!(
        refused(&mut con, &["GETEX", "g", "EX", "5", "PERSIST"]),
        "ERR syntax error"
    );
    assert_eq!(
        refused(&mut con, &["GETEX", "g", "KEEPTTL"]),
        "ERR syntax error"
    );
    assert_eq!(
        query::<String>(&mut con, &["GETEX", "g", "PXAT", "1"])?,
        "v"
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXISTS", "g"])?,
        0,
        "a past time deletes"
    );

    // A short expiry: the key reads as absent once its time has come.
    let _: () = query(&mut con, &["SET", "soon", "v", "PX", "150"])?;
    let _: () = query(&mut con, &["PSETEX", "soon2", "200", "v"])?;
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "soon", "soon2"])?, 2);
    wait_gone(&mut con, "soon")?;
    wait_gone(&mut con, "soon2")?;
    assert_eq!(query::<i64>(&mut con, &["TTL", "soon"])?, -2);
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "soon", "soon2"])?, 0);
    // Gone, the key can be set anew, with NX.
    let ok: String = query(&mut con, &["SET", "soon", "again", "NX"])?;
    assert_eq!(ok, "OK");

    // Inside MULTI: SET EX and KEEPTTL, SETEX and GETEX.
    let _: () = query(&mut con, &["MULTI"])?;
    for args in [
        &["SET", "t", "v", "EX", "100"][..],
        &["SET", "t", "w", "KEEPTTL"],
        &["TTL", "t"],
        &["SETEX", "u", "50", "v"],
        &["GETEX", "u", "PERSIST"],
        &["TTL", "u"],
        &["SET", "t", "x"],
        &["TTL", "t"],
    ] {
        let _: () = query(&mut con, args)?;
    }
    let replies: Vec<Value> = query(&mut con, &["EXEC"])?;
    let ok = Value::Okay;
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        replies,
        [
            ok.clone(),
            ok.clone(),
            Value::Int(100),
            ok.clone(),
            bulk("v"),
            Value::Int(-1),
            ok,
            Value::Int(-1)
        ]
    );
    Ok(())
}
