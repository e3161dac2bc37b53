//! `hightower serve`: `HELLO 3` switches a connection to RESP3 (maps,
//! nulls, sets, verbatim strings), `HELLO 2` back, other versions are
//! refused; the `redis` crate works over RESP3.

mod server_common;

use std::io::Write;

use anyhow::Result;
use hightower_server::server::resp::Value;
use redis::Commands;
use server_common::{TestServer, bulk, read_value};

#[test]
fn hello_3_switches_to_resp3_replies() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut raw = server.raw()?;

    raw.write_all(b"GET missing\r\nHELLO 4\r\n")?;
    assert_eq!(read_value(&mut raw)?, Value::Null);
    assert_eq!(
        read_value(&mut raw)?,
        Value::Error(b"NOPROTO unsupported protocol version".to_vec())
    );

    raw.write_all(b"HELLO 3 SETNAME resp3-client\r\n")?;
    let Value::Map(hello) = read_value(&mut raw)? else {
        panic!("HELLO 3 replies with a map");
    };
    assert!(hello.contains(&(bulk("server"), bulk("hightower"))));
    assert!(hello.contains(&(bulk("proto"), Value::Integer(3))));
    assert!(hello.contains(&(bulk("modules"), Value::Array(vec![]))));

    raw.write_all(b"GET missing\r\nHT.GETV missing\r\nCONFIG GET databases\r\nCLIENT GETNAME\r\n")?;
    assert_eq!(read_value(&mut raw)?, Value::Null);
    assert_eq!(read_value(&mut raw)?, Value::Null);
    assert_eq!(
        read_value(&mut raw)?,
        Value::Map(vec![(bulk("databases"), bulk("1"))])
    );
    assert_eq!(read_value(&mut raw)?, bulk("resp3-client"));

    raw.write_all(b"COMMAND INFO ping\r\nINFO keyspace\r\n")?;
    let Value::Array(entries) = read_value(&mut raw)? else {
        panic!("COMMAND INFO replies with an array");
    };
    let Value::Array(ping) = &entries[0] else {
        panic!("one entry per command");
    };
    assert!(matches!(ping[2], Value::Set(_)), "flags are a set in RESP3");
    // INFO is a verbatim string in RESP3; the decoder strips its format.
    assert_eq!(read_value(&mut raw)?, bulk("# Keyspace\r\n"));

    raw.write_all(b"HELLO 2\r\nGET missing\r\n")?;
    assert!(matches!(read_value(&mut raw)?, Value::Array(fields) if fields.len() == 14));
    assert_eq!(read_value(&mut raw)?, Value::Null);

    // A client library speaking RESP3 from its first command.
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", server.addr))?;
    let mut con = client.get_connection()?;
    let _: () = con.set("k", "v")?;
    assert_eq!(con.get::<_, String>("k")?, "v");
    assert_eq!(con.get::<_, Option<String>>("nope")?, None);
    Ok(())
}
