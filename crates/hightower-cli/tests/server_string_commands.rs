//! `hightower serve`: GET, SET (NX, XX, GET), GETSET, DEL, EXISTS, MGET,
//! MSET, MSETNX, INCR/INCRBY/DECR/DECRBY, TYPE and the WRONGTYPE answer,
//! through the `redis` client crate.

mod server_common;

use anyhow::Result;
use redis::{Commands, Value, cmd};
use server_common::{TestServer, error_text};

#[test]
fn string_commands_behave_as_in_redis() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut con = server.connect()?;

    // GET and SET.
    let absent: Option<String> = con.get("user:1")?;
    assert_eq!(absent, None);
    let _: () = con.set("user:1", "ada")?;
    assert_eq!(con.get::<_, String>("user:1")?, "ada");
    let binary = b"\x00\r\n\xff".to_vec();
    let _: () = con.set("bin", &binary)?;
    assert_eq!(con.get::<_, Vec<u8>>("bin")?, binary);

    // NX and XX.
    let nx: Option<String> = cmd("SET")
        .arg("user:1")
        .arg("x")
        .arg("NX")
        .query(&mut con)?;
    assert_eq!(nx, None, "NX on an existing key writes nothing");
    let nx: Option<String> = cmd("SET")
        .arg("user:2")
        .arg("grace")
        .arg("NX")
        .query(&mut con)?;
    assert_eq!(nx.as_deref(), Some("OK"));
    let xx: Option<String> = cmd("SET")
        .arg("user:3")
        .arg("x")
        .arg("XX")
        .query(&mut con)?;
    assert_eq!(xx, None, "XX on an absent key writes nothing");
    assert!(!con.exists::<_, bool>("user:3")?);
    let xx: Option<String> = cmd("SET")
        .arg("user:2")
        .arg("hopper")
        .arg("XX")
        .query(&mut con)?;
    assert_eq!(xx.as_deref(), Some("OK"));
    assert_eq!(con.get::<_, String>("user:2")?, "hopper");

    // GET option and GETSET return the old value.
    let old: Option<String> = cmd("SET")
        .arg("user:2")
        .arg("g2")
        .arg("GET")
        .query(&mut con)?;
    assert_eq!(old.as_deref(), Some("hopper"));
    let old: Option<String> = cmd("SET")
        .arg("new")
        .arg("v")
        .arg("NX")
        .arg("GET")
        .query(&mut con)?;
    assert_eq!(old, None);
    assert_eq!(con.get::<_, String>("new")?, "v");
    let old: Option<String> = con.getset("user:2", "g3")?;
    assert_eq!(old.as_deref(), Some("g2"));
    let syntax = cmd("SET")
        .arg("k")
        .arg("v")
        .arg("NX")
        .arg("XX")
        .query::<Value>(&mut con);
    assert!(error_text(&syntax.expect_err("NX with XX")).contains("syntax error"));
    let expiry = cmd("SET")
        .arg("k")
        .arg("v")
        .arg("EX")
        .arg("10")
        .arg("KEEPTTL")
        .query::<Value>(&mut con);
    assert!(error_text(&expiry.expect_err("EX with KEEPTTL")).contains("syntax error"));

    // MSET, MGET, MSETNX.
    let _: () = con.mset(&[("a", "1"), ("b", "2"), ("a", "3")])?;
    let values: Vec<Option<String>> = con.mget(&["a", "b", "missing"])?;
    assert_eq!(values, [Some("3".into()), Some("2".into()), None]);
    let set: i64 = cmd("MSETNX")
        .arg("c")
        .arg("1")
        .arg("a")
        .arg("9")
        .query(&mut con)?;
    assert_eq!(set, 0, "one key exists: nothing is written");
    assert!(!con.exists::<_, bool>("c")?);
    let set: i64 = cmd("MSETNX")
        .arg("c")
        .arg("1")
        .arg("d")
        .arg("2")
        .query(&mut con)?;
    assert_eq!(set, 1);
    let odd = cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .query::<Value>(&mut con);
    assert!(error_text(&odd.expect_err("odd pairs")).contains("wrong number of arguments"));

    // EXISTS counts repeats; DEL counts keys that existed.
    let n: i64 = cmd("EXISTS")
        .arg("a")
        .arg("a")
        .arg("nope")
        .query(&mut con)?;
    assert_eq!(n, 2);
    let n: i64 = cmd("DEL")
        .arg("a")
        .arg("b")
        .arg("nope")
        .arg("a")
        .query(&mut con)?;
    assert_eq!(n, 2);
    assert_eq!(con.get::<_, Option<String>>("a")?, None);

    // Counters.
    assert_eq!(con.incr::<_, _, i64>("counter", 1)?, 1);
    assert_eq!(
        cmd("INCRBY")
            .arg("counter")
            .arg(41)
            .query::<i64>(&mut con)?,
        42
    );
    assert_eq!(cmd("DECR").arg("counter").query::<i64>(&mut con)?, 41);
    assert_eq!(
        cmd("DECRBY")
            .arg("counter")
            .arg(50)
            .query::<i64>(&mut con)?,
        -9
    );
    assert_eq!(con.get::<_, String>("counter")?, "-9");
    let not_int = cmd("INCR").arg("user:1").query::<i64>(&mut con);
    assert!(error_text(&not_int.expect_err("not an integer")).contains("not an integer"));
    let _: () = con.set("max", i64::MAX.to_string())?;
    let overflow = cmd("INCR").arg("max").query::<i64>(&mut con);
    assert!(error_text(&overflow.expect_err("overflow")).contains("overflow"));
    let overflow = cmd("DECRBY")
        .arg("counter")
        .arg(i64::MIN)
        .query::<i64>(&mut con);
    assert!(error_text(&overflow.expect_err("overflow")).contains("overflow"));

    // TYPE, and other data types' commands on a string key.
    assert_eq!(
        cmd("TYPE").arg("user:1").query::<String>(&mut con)?,
        "string"
    );
    assert_eq!(cmd("TYPE").arg("nope").query::<String>(&mut con)?, "none");
    let wrong = cmd("LPUSH").arg("user:1").arg("x").query::<Value>(&mut con);
    assert!(error_text(&wrong.expect_err("string key")).starts_with("WRONGTYPE"));
    let unsupported = cmd("HSET")
        .arg("nope")
        .arg("f")
        .arg("v")
        .query::<Value>(&mut con);
    assert!(error_text(&unsupported.expect_err("no hashes")).contains("string values only"));

    // Keys above the engine's limit are refused with the sizes.
    let big_key = vec![b'k'; 64 * 1024 + 1];
    let refused = cmd("SET").arg(&big_key).arg("v").query::<Value>(&mut con);
    assert!(error_text(&refused.expect_err("key too large")).contains("65536"));
    Ok(())
}
