//! `hightower serve`: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX, XX,
//! GT and LT, TTL, PTTL, EXPIRETIME, PEXPIRETIME and PERSIST, replies and
//! error texts as Redis 7 writes them.

mod server_common;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use redis::{Connection, cmd};
use server_common::{TestServer, query, refused};

fn int(con: &mut Connection, args: &[&str]) -> Result<i64> {
    query(con, args)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

#[test]
fn expire_family_answers_as_redis_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;

    // Absent and persistent keys.
    for name in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut con, &[name, "absent"])?, -2, "{name}");
    }
    assert_eq!(int(&mut con, &["EXPIRE", "absent", "100"])?, 0);
    let _: () = cmd("SET").arg("k").arg("v").query(&mut con)?;
    for name in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut con, &[name, "k"])?, -1, "{name}");
    }
    assert_eq!(int(&mut con, &["PERSIST", "k"])?, 0);

    // EXPIRE and PEXPIRE count from now; TTL rounds to the nearest second.
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100"])?, 1);
    assert_eq!(int(&mut con, &["TTL", "k"])?, 100);
    let pttl = int(&mut con, &["PTTL", "k"])?;
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "50400"])?, 1);
    assert_eq!(int(&mut con, &["TTL", "k"])?, 50);
    let at = int(&mut con, &["PEXPIRETIME", "k"])?;
    assert!(
        (now_ms() + 49_000..=now_ms() + 50_400).contains(&at),
        "{at}"
    );
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"])?, (at + 500) / 1000);
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut con)?, "v");

    // EXPIREAT and PEXPIREAT take Unix times.
    let in_an_hour = now_ms() / 1000 + 3600;
    let text = in_an_hour.to_string();
    assert_eq!(int(&mut con, &["EXPIREAT", "k", &text])?, 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"])?, in_an_hour);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"])?, in_an_hour * 1000);
    let ms = (in_an_hour * 1000 + 1234).to_string();
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &ms])?, 1);
    assert_eq!(
        int(&mut con, &["PEXPIRETIME", "k"])?,
        in_an_hour * 1000 + 1234
    );

    // NX, XX, GT, LT: a key without expiry counts as never expiring.
    let _: () = cmd("SET").arg("p").arg("v").query(&mut con)?;
    assert_eq!(int(&mut con, &["EXPIRE", "p", "100", "XX"])?, 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "100", "GT"])?, 0);
    assert_eq!(int(&mut con, &["TTL", "p"])?, -1);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "100", "NX"])?, 1);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "200", "nx"])?, 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "50", "GT"])?, 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "200", "GT"])?, 1);
    assert_eq!(int(&mut con, &["TTL", "p"])?, 200);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "300", "LT"])?, 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "150", "XX", "LT"])?, 1);
    assert_eq!(int(&mut con, &["TTL", "p"])?, 150);
    let _: () = cmd("SET").arg("q").arg("v").query(&mut con)?;
    assert_eq!(int(&mut con, &["EXPIRE", "q", "150", "LT"])?, 1);

    // Option errors.
    assert_eq!(
        refused(&mut con, &["EXPIRE", "p", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        refused(&mut con, &["EXPIRE", "p", "10", "NX", "GT"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        refused(&mut con, &["PEXPIRE", "p", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        refused(&mut con, &["EXPIRE", "p", "10", "SOON"]),
        "ERR Unsupported option SOON"
    );
    assert_eq!(
        refused(&mut con, &["EXPIRE", "p", "ten"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        refused(&mut con, &["EXPIRE", "p", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        refused(&mut con, &["PEXPIRE", "p", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    assert_eq!(int(&mut con, &["TTL", "p"])?, 150, "errors change nothing");

    // PERSIST drops the expiry.
    assert_eq!(int(&mut con, &["PERSIST", "p"])?, 1);
    assert_eq!(int(&mut con, &["TTL", "p"])?, -1);
    assert_eq!(int(&mut con, &["PERSIST", "p"])?, 0);
    assert_eq!(int(&mut con, &["PERSIST", "absent"])?, 0);

    // A time already past deletes the key and answers 1.
    assert_eq!(int(&mut con, &["EXPIRE", "p", "-1"])?, 1);
    assert_eq!(int(&mut con, &["EXISTS", "p"])?, 0);
    assert_eq!(int(&mut con, &["TTL", "p"])?, -2);
    assert_eq!(int(&mut con, &["PEXPIREAT", "q", "1"])?, 1);
    assert_eq!(cmd("GET").arg("q").query::<Option<String>>(&mut con)?, None);
    let _: () = cmd("SET").arg("r").arg("v").query(&mut con)?;
    assert_eq!(int(&mut con, &["EXPIREAT", "r", "0", "GT"])?, 0);
    assert_eq!(int(&mut con, &["EXISTS", "r"])?, 1, "GT refused: kept");

    // The value stays as it was through every change of expiry.
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut con)?, "v");

    // Inside MULTI the same commands answer the same.
    let _: () = cmd("SET").arg("m").arg("v").query(&mut con)?;
    let _: () = cmd("MULTI").query(&mut con)?;
    for args in [
        &["EXPIRE", "m", "100", "NX"][..],
        &["TTL", "m"],
        &["EXPIRE", "m", "50", "GT"],
        &["PERSIST", "m"],
        &["PTTL", "m"],
        &["PEXPIRE", "m", "-5"],
        &["EXISTS", "m"],
    ] {
        let mut command = cmd(args[0]);
        args[1..].iter().for_each(|arg| {
            command.arg(*arg);
        });
        let _: () = command.query(&mut con)?;
    }
    let replies: Vec<i64> = cmd("EXEC").query(&mut con)?;
    assert_eq!(replies, [1, 100, 0, 1, -1, 1, 0]);
    assert_eq!(int(&mut con, &["EXISTS", "m"])?, 0);
    Ok(())
}
