//! `hightower serve`: bytes a web page can make a browser send to a
//! loopback port (an HTTP `POST` whose body is Redis commands, a `GET` with
//! its headers) close the connection without running anything, with and
//! without authentication, and the attempt is logged.

mod server_common;

use anyhow::{Result, ensure};
use server_common::{TestServer, exchange_until_close};

const POST_WITH_COMMANDS: &[u8] = b"POST / HTTP/1.1\r\nHost: 127.0.0.1:7379\r\n\
Content-Type: text/plain\r\nContent-Length: 25\r\n\r\nSET pwned 1\r\nSET pwned2 1\r\n";
const GET_WITH_HEADERS: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7379\r\nAccept: */*\r\n\r\nSET pwned3 1\r\n";

#[test]
fn http_requests_are_closed_before_any_command_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    for request in [POST_WITH_COMMANDS, GET_WITH_HEADERS] {
        let mut raw = server.raw()?;
        let (reply, closed) = exchange_until_close(&mut raw, request)?;
        ensure!(closed, "the connection stays open after {request:?}");
        ensure!(
            !reply.starts_with(b"+OK"),
            "a command ran: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    let mut client = server.connect()?;
    for key in ["pwned", "pwned2", "pwned3"] {
        let value: Option<String> = redis::cmd("GET").arg(key).query(&mut client)?;
        ensure!(value.is_none(), "{key} was set by an HTTP request");
    }
    // A Redis client is not mistaken for HTTP, even with such values.
    redis::cmd("SET")
        .arg("page")
        .arg("HTTP/1.1")
        .query::<()>(&mut client)?;
    let value: String = redis::cmd("GET").arg("page").query(&mut client)?;
    ensure!(value == "HTTP/1.1");
    let log = server.stderr();
    ensure!(log.contains("HTTP request arrived"), "not logged:\n{log}");
    Ok(())
}

#[test]
fn http_requests_are_closed_before_authentication_too() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("data"), &[])?;
    let mut raw = server.raw()?;
    let (reply, closed) = exchange_until_close(&mut raw, POST_WITH_COMMANDS)?;
    ensure!(closed, "open after an HTTP request");
    ensure!(
        reply.is_empty(),
        "replied {}",
        String::from_utf8_lossy(&reply)
    );
    Ok(())
}
