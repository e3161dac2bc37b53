//! `hightower serve`: RENAME, RENAMENX, COPY, UNLINK, TOUCH, RANDOMKEY,
//! OBJECT ENCODING, TIME, SELECT and DEBUG, as Redis 7 answers them.

mod server_common;

use anyhow::Result;
use redis::cmd;
use server_common::{TestServer, error_text};

#[test]
fn keyspace_commands_move_copy_and_inspect_keys() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;
    let get = |con: &mut redis::Connection, key: &str| -> Result<Option<String>> {
        Ok(cmd("GET").arg(key).query(con)?)
    };

    // RENAME moves the value and replaces the target.
    let _: () = cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut con)?;
    let _: () = cmd("RENAME").arg("a").arg("b").query(&mut con)?;
    assert_eq!(get(&mut con, "a")?, None);
    assert_eq!(get(&mut con, "b")?.as_deref(), Some("1"));
    let error = cmd("RENAME")
        .arg("a")
        .arg("c")
        .query::<()>(&mut con)
        .expect_err("no source");
    assert_eq!(error_text(&error), "ERR no such key");
    let _: () = cmd("RENAME").arg("b").arg("b").query(&mut con)?;

    // RENAMENX leaves an existing target alone.
    let _: () = cmd("SET").arg("c").arg("3").query(&mut con)?;
    assert_eq!(cmd("RENAMENX").arg("b").arg("c").query::<i64>(&mut con)?, 0);
    assert_eq!(cmd("RENAMENX").arg("b").arg("d").query::<i64>(&mut con)?, 1);
    assert_eq!(cmd("RENAMENX").arg("d").arg("d").query::<i64>(&mut con)?, 0);

    // COPY, with REPLACE; DB 0 is the one database, others are refused.
    assert_eq!(cmd("COPY").arg("d").arg("c").query::<i64>(&mut con)?, 0);
    assert_eq!(
        cmd("COPY")
            .arg("d")
            .arg("c")
            .arg("REPLACE")
            .query::<i64>(&mut con)?,
        1
    );
    assert_eq!(get(&mut con, "c")?.as_deref(), Some("1"));
    assert_eq!(
        cmd("COPY")
            .arg("d")
            .arg("e")
            .arg("DB")
            .arg(0)
            .query::<i64>(&mut con)?,
        1
    );
    assert_eq!(
        cmd("COPY").arg("nothing").arg("f").query::<i64>(&mut con)?,
        0
    );
    let error = cmd("COPY")
        .arg("d")
        .arg("g")
        .arg("DB")
        .arg(9)
        .query::<i64>(&mut con)
        .expect_err("other database");
    assert_eq!(error_text(&error), "ERR DB index is out of range");
    let error = cmd("COPY")
        .arg("d")
        .arg("d")
        .query::<i64>(&mut con)
        .expect_err("same key");
    assert_eq!(
        error_text(&error),
        "ERR source and destination objects are the same"
    );

    // TOUCH counts, UNLINK deletes.
    assert_eq!(
        cmd("TOUCH")
            .arg("c")
            .arg("d")
            .arg("zz")
            .query::<i64>(&mut con)?,
        2
    );
    assert_eq!(cmd("UNLINK").arg("c").arg("zz").query::<i64>(&mut con)?, 1);

    // RANDOMKEY returns a key that exists, nil on an empty store.
    let key: String = cmd("RANDOMKEY").query(&mut con)?;
    assert!(["d", "e"].contains(&key.as_str()), "{key}");
    let _: () = cmd("FLUSHDB").query(&mut con)?;
    assert_eq!(cmd("RANDOMKEY").query::<Option<String>>(&mut con)?, None);

    // OBJECT ENCODING by Redis's thresholds.
    let _: () = cmd("MSET")
        .arg("i")
        .arg("123")
        .arg("s")
        .arg("abc")
        .query(&mut con)?;
    let _: () = cmd("SET").arg("r").arg("x".repeat(45)).query(&mut con)?;
    for (key, encoding) in [("i", "int"), ("s", "embstr"), ("r", "raw")] {
        let got: String = cmd("OBJECT").arg("ENCODING").arg(key).query(&mut con)?;
        assert_eq!(got, encoding, "{key}");
    }
    assert_eq!(
        cmd("OBJECT")
            .arg("ENCODING")
            .arg("none")
            .query::<Option<String>>(&mut con)?,
        None
    );

    // TIME, SELECT and DEBUG.
    let (seconds, micros): (String, String) = cmd("TIME").query(&mut con)?;
    assert!(seconds.parse::<u64>()? > 1_600_000_000);
    assert!(micros.parse::<u64>()? < 1_000_000);
    let _: () = cmd("SELECT").arg(0).query(&mut con)?;
    let error = cmd("SELECT")
        .arg(1)
        .query::<()>(&mut con)
        .expect_err("one database");
    assert_eq!(error_text(&error), "ERR DB index is out of range");
    let error = cmd("DEBUG")
        .arg("SLEEP")
        .arg(0)
        .query::<()>(&mut con)
        .expect_err("off");
    assert!(error_text(&error).starts_with("ERR DEBUG command not allowed."));
    Ok(())
}
