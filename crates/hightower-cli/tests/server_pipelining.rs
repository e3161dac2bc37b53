//! `hightower serve`: a long pipeline (more requests than the per-client
//! bound on pending replies) gets every reply, in order, also when runs of
//! sets are committed together; raw pipelined bytes split at odd places
//! parse the same.

mod server_common;

use std::io::Write;

use anyhow::Result;
use server_common::{TestServer, expect_reply};

#[test]
fn pipelined_requests_get_every_reply_in_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(
        &dir.path().join("data"),
        &["--pending-replies-max", "16", "--durability", "periodic"],
    )?;
    let mut con = server.connect()?;

    let n = 5_000;
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
        pipe.cmd("INCR").arg("counter");
        pipe.cmd("GET").arg(format!("key:{i}"));
    }
    let replies: Vec<(i64, i64)> = pipe.query(&mut con)?;
    assert_eq!(replies.len(), n);
    for (i, (counter, value)) in replies.into_iter().enumerate() {
        assert_eq!((counter, value), (i as i64 + 1, i as i64));
    }

    // Runs of plain sets (committed as batches) interleaved with reads of
    // the keys they set, under `sync` durability on the second server.
    let sync_server = TestServer::start_open(&dir.path().join("sync"), &["--durability", "sync"])?;
    let mut sync_con = sync_server.connect()?;
    let mut pipe = redis::pipe();
    for i in 0..2_000 {
        pipe.cmd("SET")
            .arg(format!("run:{}", i % 10))
            .arg(i)
            .ignore();
        if i % 100 == 99 {
            pipe.cmd("GET").arg(format!("run:{}", i % 10));
        }
    }
    let reads: Vec<i64> = pipe.query(&mut sync_con)?;
    assert_eq!(reads, (0..20).map(|k| k * 100 + 99).collect::<Vec<i64>>());
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg("a").arg("1");
    pipe.cmd("SET").arg(vec![b'k'; 70_000]).arg("v");
    pipe.cmd("SET").arg("b").arg("2");
    let outcome: redis::RedisResult<Vec<String>> = pipe.query(&mut sync_con);
    assert!(outcome.is_err(), "the oversized key gets its own error");
    assert_eq!(redis::Commands::get::<_, String>(&mut sync_con, "b")?, "2");

    // Raw bytes: two requests in one write, a third split mid-bulk.
    let mut raw = server.raw()?;
    raw.write_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:7\r\n*2\r\n$4\r\nEC")?;
    expect_reply(&mut raw, b"+PONG\r\n$1\r\n7\r\n")?;
    raw.write_all(b"HO\r\n$2\r\nhi\r\n")?;
    expect_reply(&mut raw, b"$2\r\nhi\r\n")?;
    Ok(())
}
