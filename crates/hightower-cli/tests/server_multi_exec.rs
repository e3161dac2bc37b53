//! `hightower serve`: MULTI/EXEC/DISCARD queue commands and run them as
//! one atomic unit; errors while queueing abort EXEC, errors while
//! running are replies inside it, as Redis documents.

mod server_common;

use std::io::Write;

use anyhow::Result;
use redis::{Value, cmd};
use server_common::{TestServer, error_text, expect_reply};

#[test]
fn multi_exec_runs_queued_commands_as_one_unit() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "none"])?;
    let mut con = server.connect()?;
    let mut other = server.connect()?;
    let queued = Value::SimpleString("QUEUED".into());

    // Queued commands see each other's writes; nothing is visible before
    // EXEC.
    let _: () = cmd("MULTI").query(&mut con)?;
    for command in [
        cmd("SET").arg("a").arg("1").clone(),
        cmd("INCR").arg("a").clone(),
        cmd("APPEND").arg("a").arg("0").clone(),
        cmd("RENAME").arg("a").arg("b").clone(),
        cmd("GET").arg("b").clone(),
        cmd("PING").clone(),
    ] {
        assert_eq!(command.query::<Value>(&mut con)?, queued);
    }
    assert_eq!(cmd("EXISTS").arg("a").arg("b").query::<i64>(&mut other)?, 0);
    let replies: Value = cmd("EXEC").query(&mut con)?;
    let expected = Value::Array(vec![
        Value::Okay,
        Value::Int(2),
        Value::Int(2),
        Value::Okay,
        Value::BulkString(b"20".to_vec()),
        Value::SimpleString("PONG".into()),
    ]);
    assert_eq!(replies, expected);
    assert_eq!(cmd("GET").arg("b").query::<String>(&mut other)?, "20");

    // A runtime error is that command's reply; the others still run.
    // Byte for byte, on a raw socket: clients turn an error inside the
    // array into a failure of the whole call.
    let mut raw = server.raw()?;
    raw.write_all(b"MULTI\r\nSET s text\r\nINCR s\r\nSET t ok\r\nEXEC\r\n")?;
    expect_reply(
        &mut raw,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
          *3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n",
    )?;
    assert_eq!(cmd("GET").arg("t").query::<String>(&mut other)?, "ok");

    // An error while queueing aborts the whole transaction.
    let _: () = cmd("MULTI").query(&mut con)?;
    let _: Value = cmd("SET").arg("u").arg("1").query(&mut con)?;
    let unknown = cmd("NO-SUCH-COMMAND")
        .query::<Value>(&mut con)
        .expect_err("unknown");
    assert!(error_text(&unknown).starts_with("ERR unknown command"));
    let arity = cmd("GET").query::<Value>(&mut con).expect_err("arity");
    assert_eq!(
        error_text(&arity),
        "ERR wrong number of arguments for 'get' command"
    );
    let abort = cmd("EXEC").query::<Value>(&mut con).expect_err("aborted");
    assert_eq!(
        error_text(&abort),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(cmd("EXISTS").arg("u").query::<i64>(&mut other)?, 0);

    // DISCARD drops the queue; the misuses answer Redis's texts.
    let _: () = cmd("MULTI").query(&mut con)?;
    let nested = cmd("MULTI").query::<()>(&mut con).expect_err("nested");
    assert_eq!(error_text(&nested), "ERR MULTI calls can not be nested");
    let watch = cmd("WATCH")
        .arg("x")
        .query::<()>(&mut con)
        .expect_err("inside");
    assert_eq!(error_text(&watch), "ERR WATCH inside MULTI is not allowed");
    let _: Value = cmd("SET").arg("v").arg("1").query(&mut con)?;
    let _: () = cmd("DISCARD").query(&mut con)?;
    assert_eq!(cmd("EXISTS").arg("v").query::<i64>(&mut con)?, 0);
    let exec = cmd("EXEC").query::<()>(&mut con).expect_err("no MULTI");
    assert_eq!(error_text(&exec), "ERR EXEC without MULTI");
    let discard = cmd("DISCARD").query::<()>(&mut con).expect_err("no MULTI");
    assert_eq!(error_text(&discard), "ERR DISCARD without MULTI");

    // An empty transaction answers an empty array.
    let _: () = cmd("MULTI").query(&mut con)?;
    assert_eq!(cmd("EXEC").query::<Value>(&mut con)?, Value::Array(vec![]));
    Ok(())
}
