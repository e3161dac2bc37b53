//! `hightower serve`: APPEND, STRLEN, GETRANGE, SETRANGE, SETNX, GETDEL,
//! INCRBYFLOAT and LCS, replies and error texts as Redis 7 writes them.

mod server_common;

use anyhow::Result;
use redis::{Value, cmd};
use server_common::{TestServer, error_text};

#[test]
fn string_edit_commands_answer_as_redis_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;

    // APPEND creates, then extends; STRLEN counts bytes.
    assert_eq!(
        cmd("APPEND").arg("k").arg("Hello").query::<i64>(&mut con)?,
        5
    );
    assert_eq!(
        cmd("APPEND")
            .arg("k")
            .arg(" World")
            .query::<i64>(&mut con)?,
        11
    );
    assert_eq!(cmd("STRLEN").arg("k").query::<i64>(&mut con)?, 11);
    assert_eq!(cmd("STRLEN").arg("absent").query::<i64>(&mut con)?, 0);

    // GETRANGE clamps and counts from the end.
    let range = |con: &mut redis::Connection, start: i64, end: i64| -> Result<String> {
        Ok(cmd("GETRANGE").arg("k").arg(start).arg(end).query(con)?)
    };
    assert_eq!(range(&mut con, 0, 4)?, "Hello");
    assert_eq!(range(&mut con, -5, -1)?, "World");
    assert_eq!(range(&mut con, 5, 3)?, "");
    assert_eq!(range(&mut con, 0, 1000)?, "Hello World");
    let error = cmd("GETRANGE")
        .arg("k")
        .arg("x")
        .arg(1)
        .query::<String>(&mut con)
        .expect_err("not an integer");
    assert_eq!(
        error_text(&error),
        "ERR value is not an integer or out of range"
    );

    // SETRANGE pads with zero bytes; an empty patch creates nothing.
    assert_eq!(
        cmd("SETRANGE")
            .arg("pad")
            .arg(3)
            .arg("ab")
            .query::<i64>(&mut con)?,
        5
    );
    assert_eq!(
        cmd("GET").arg("pad").query::<Vec<u8>>(&mut con)?,
        b"\0\0\0ab"
    );
    assert_eq!(
        cmd("SETRANGE")
            .arg("none")
            .arg(3)
            .arg("")
            .query::<i64>(&mut con)?,
        0
    );
    assert_eq!(cmd("EXISTS").arg("none").query::<i64>(&mut con)?, 0);
    let error = cmd("SETRANGE")
        .arg("pad")
        .arg(-1)
        .arg("x")
        .query::<i64>(&mut con)
        .expect_err("negative offset");
    assert_eq!(error_text(&error), "ERR offset is out of range");
    let error = cmd("SETRANGE")
        .arg("pad")
        .arg(i64::MAX)
        .arg("x")
        .query::<i64>(&mut con)
        .expect_err("past the value limit");
    assert_eq!(
        error_text(&error),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );

    // SETNX and GETDEL.
    assert_eq!(cmd("SETNX").arg("n").arg("1").query::<i64>(&mut con)?, 1);
    assert_eq!(cmd("SETNX").arg("n").arg("2").query::<i64>(&mut con)?, 0);
    assert_eq!(
        cmd("GETDEL")
            .arg("n")
            .query::<Option<String>>(&mut con)?
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        cmd("GETDEL").arg("n").query::<Option<String>>(&mut con)?,
        None
    );

    // INCRBYFLOAT prints as Redis does, and refuses what Redis refuses.
    assert_eq!(
        cmd("INCRBYFLOAT")
            .arg("f")
            .arg("1")
            .query::<String>(&mut con)?,
        "1"
    );
    assert_eq!(
        cmd("INCRBYFLOAT")
            .arg("f")
            .arg("0.25")
            .query::<String>(&mut con)?,
        "1.25"
    );
    let _: () = cmd("SET").arg("big").arg("17179869184").query(&mut con)?;
    let big: String = cmd("INCRBYFLOAT").arg("big").arg("1.5").query(&mut con)?;
    assert_eq!(big, "17179869185.5");
    let error = cmd("INCRBYFLOAT")
        .arg("k")
        .arg("1")
        .query::<String>(&mut con)
        .expect_err("not a float");
    assert_eq!(error_text(&error), "ERR value is not a valid float");
    let error = cmd("INCRBYFLOAT")
        .arg("f")
        .arg("+inf")
        .query::<String>(&mut con)
        .expect_err("infinite");
    assert_eq!(
        error_text(&error),
        "ERR increment would produce NaN or Infinity"
    );

    // LCS: the string, its length, and the matching runs.
    let _: () = cmd("MSET")
        .arg("a")
        .arg("ohmytext")
        .arg("b")
        .arg("mynewtext")
        .query(&mut con)?;
    assert_eq!(
        cmd("LCS").arg("a").arg("b").query::<String>(&mut con)?,
        "mytext"
    );
    assert_eq!(
        cmd("LCS")
            .arg("a")
            .arg("b")
            .arg("LEN")
            .query::<i64>(&mut con)?,
        6
    );
    let idx: Value = cmd("LCS")
        .arg("a")
        .arg("b")
        .arg("IDX")
        .arg("MINMATCHLEN")
        .arg(4)
        .arg("WITHMATCHLEN")
        .query(&mut con)?;
    let int = Value::Int;
    let pair = |x, y| Value::Array(vec![int(x), int(y)]);
    let expected = Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(vec![Value::Array(vec![pair(4, 7), pair(5, 8), int(4)])]),
        Value::BulkString(b"len".to_vec()),
        int(6),
    ]);
    assert_eq!(idx, expected);
    let error = cmd("LCS")
        .arg("a")
        .arg("b")
        .arg("LEN")
        .arg("IDX")
        .query::<Value>(&mut con)
        .expect_err("both");
    assert_eq!(
        error_text(&error),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    Ok(())
}
