//! Wrong passwords from one source lock out that source's attempts at
//! the user, not the user: the right password from another address still
//! logs in. The counts are stored, so a restart does not reset them.

mod server_common;

use std::net::{IpAddr, Ipv4Addr, TcpStream};

use anyhow::Result;
use hightower_server::server::resp::Value;
use redis::cmd;
use server_common::{TestServer, admin_password, call, raw_from};

fn auth(stream: &mut TcpStream, password: &str) -> Result<Value> {
    call(stream, &[b"AUTH", b"admin", password.as_bytes()])
}

fn is_ok(reply: &Value) -> bool {
    matches!(reply, Value::Simple(text) if text == b"OK")
}

fn is_wrongpass(reply: &Value) -> bool {
    matches!(reply, Value::Error(text) if text.starts_with(b"WRONGPASS"))
}

#[test]
fn a_guessing_source_cannot_lock_the_user_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = TestServer::start(&data, &[])?;
    let password = admin_password(&server)?;
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut guessing = raw_from(attacker, server.addr)?;
    for _ in 0..8 {
        assert!(is_wrongpass(&auth(&mut guessing, "guess-guess")?));
    }
    let refused = auth(&mut guessing, &password)?;
    assert!(
        is_wrongpass(&refused),
        "the guessing source is locked: {refused:?}"
    );
    let mut con = server.connect()?;
    let _: () = cmd("AUTH").arg("admin").arg(&password).query(&mut con)?;

    // A second source uses its whole free allowance, then the server
    // restarts: one more failure locks it, so the count was kept.
    let second = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let mut typing = raw_from(second, server.addr)?;
    for _ in 0..5 {
        assert!(is_wrongpass(&auth(&mut typing, "typo-typo")?));
    }
    server.terminate()?;
    let server = TestServer::start(&data, &[])?;
    let mut typing = raw_from(second, server.addr)?;
    assert!(is_wrongpass(&auth(&mut typing, "typo-typo")?));
    let refused = auth(&mut typing, &password)?;
    assert!(
        is_wrongpass(&refused),
        "the stored count locked it: {refused:?}"
    );
    let mut con = server.connect()?;
    let _: () = cmd("AUTH").arg("admin").arg(&password).query(&mut con)?;
    assert!(is_ok(&call(
        &mut server.raw()?,
        &[b"AUTH", b"admin", password.as_bytes()]
    )?));
    Ok(())
}
