//! A limited user's KEYS over many keys reads no auth record per key
//! (the engine's point reads stay flat), and a change of the auth
//! records made through the server still refuses the user at its next
//! command.

mod server_common;

use anyhow::{Context, Result};
use redis::{Value, cmd};
use server_common::{TestServer, add_user, admin_password, error_text, http_get, metric};

fn engine_gets(server: &TestServer) -> Result<u64> {
    let addr = server.metrics_addr.context("metrics endpoint configured")?;
    let text = http_get(addr, "/metrics")?;
    metric(&text, "hightower_engine_gets_total").context("no gets counter")
}

#[test]
fn keys_reads_no_record_per_key_and_revocation_is_immediate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let config = dir.path().join("hightower.toml");
    std::fs::write(&config, "metrics_listen = \"127.0.0.1:0\"\n")?;
    let config_arg = config.to_string_lossy().into_owned();
    let server = TestServer::start(&data, &["--config", &config_arg])?;
    let password = admin_password(&server)?;
    server.terminate()?;
    add_user(&data, "reader", "reader-password", "read:b:")?;
    let server = TestServer::start(&data, &["--config", &config_arg])?;

    let mut admin = server.connect()?;
    let _: () = cmd("AUTH").arg("admin").arg(&password).query(&mut admin)?;
    let mut mset = cmd("MSET");
    for i in 0..500 {
        mset.arg(format!("b:{i:03}")).arg("x");
    }
    let _: () = mset.query(&mut admin)?;
    let mut reader = server.connect()?;
    let _: () = cmd("AUTH")
        .arg("reader")
        .arg("reader-password")
        .query(&mut reader)?;

    let before = engine_gets(&server)?;
    for _ in 0..3 {
        let keys: Vec<String> = cmd("KEYS").arg("*").query(&mut reader)?;
        assert_eq!(keys.len(), 500);
        let exists: i64 = cmd("EXISTS").arg("b:001").arg("b:002").query(&mut reader)?;
        assert_eq!(exists, 2);
    }
    let reads = engine_gets(&server)? - before;
    assert!(reads < 10, "{reads} point reads for 1,500 keys examined");

    // Deleting the user record through the server refuses it at once.
    let _: i64 = cmd("DEL").arg(b"\xffauth/user/reader").query(&mut admin)?;
    let refused = cmd("GET").arg("b:001").query::<Value>(&mut reader);
    let refused = error_text(&refused.expect_err("the user is gone"));
    assert!(refused.starts_with("NOPERM"), "{refused}");
    let keys: Vec<String> = cmd("KEYS").arg("*").query(&mut reader)?;
    assert!(keys.is_empty());
    Ok(())
}
