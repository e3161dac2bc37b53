//! `hightower serve`: PING, ECHO, SELECT, CLIENT, COMMAND, ACL WHOAMI,
//! CONFIG GET, INFO, unknown commands and QUIT, through the `redis` crate.

mod server_common;

use anyhow::Result;
use redis::{Value, cmd};
use server_common::{TestServer, error_text};

#[test]
fn connection_and_introspection_commands_answer_like_redis() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut con = server.connect()?;

    assert_eq!(cmd("PING").query::<String>(&mut con)?, "PONG");
    assert_eq!(cmd("PING").arg("hi").query::<String>(&mut con)?, "hi");
    assert_eq!(
        cmd("ECHO").arg(b"a\r\nb").query::<Vec<u8>>(&mut con)?,
        b"a\r\nb"
    );
    assert_eq!(cmd("SELECT").arg(0).query::<String>(&mut con)?, "OK");
    let other_db = cmd("SELECT").arg(1).query::<Value>(&mut con);
    assert!(error_text(&other_db.expect_err("one database")).contains("out of range"));

    // CLIENT.
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut con)?;
    assert!(id > 0);
    let name: Option<String> = cmd("CLIENT").arg("GETNAME").query(&mut con)?;
    assert_eq!(name, None);
    let _: () = cmd("CLIENT")
        .arg("SETNAME")
        .arg("worker-1")
        .query(&mut con)?;
    assert_eq!(
        cmd("CLIENT").arg("GETNAME").query::<String>(&mut con)?,
        "worker-1"
    );
    let bad_name = cmd("CLIENT")
        .arg("SETNAME")
        .arg("a b")
        .query::<Value>(&mut con);
    assert!(error_text(&bad_name.expect_err("blank in name")).contains("cannot contain spaces"));
    let info: String = cmd("CLIENT").arg("INFO").query(&mut con)?;
    assert!(info.contains(&format!("id={id} ")), "{info}");
    assert!(info.contains("name=worker-1 "), "{info}");
    assert!(info.contains("user=default "), "{info}");
    let unknown = cmd("CLIENT").arg("KILL").query::<Value>(&mut con);
    assert!(error_text(&unknown.expect_err("unknown subcommand")).contains("unknown subcommand"));

    // COMMAND, as redis-cli asks for it.
    let count: i64 = cmd("COMMAND").arg("COUNT").query(&mut con)?;
    let all: Vec<Value> = cmd("COMMAND").query(&mut con)?;
    assert_eq!(all.len() as i64, count);
    let Value::Array(get) = &cmd("COMMAND")
        .arg("INFO")
        .arg("get")
        .query::<Vec<Value>>(&mut con)?[0]
    else {
        panic!("COMMAND INFO get returns an entry");
    };
    assert_eq!(get.len(), 10);
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    let names: Vec<String> = cmd("COMMAND").arg("LIST").query(&mut con)?;
    for name in ["ht.getv", "ht.cas", "ht.compact", "scan", "hello", "auth"] {
        assert!(names.iter().any(|n| n == name), "{name} listed");
    }

    // ACL WHOAMI and CONFIG GET.
    assert_eq!(
        cmd("ACL").arg("WHOAMI").query::<String>(&mut con)?,
        "default"
    );
    let config: Vec<String> = cmd("CONFIG").arg("GET").arg("append*").query(&mut con)?;
    assert_eq!(config, ["appendonly", "yes", "appendfsync", "always"]);
    let set = cmd("CONFIG")
        .arg("SET")
        .arg("x")
        .arg("y")
        .query::<Value>(&mut con);
    assert_eq!(
        error_text(&set.expect_err("unknown setting")),
        "ERR Unknown option or number of arguments for CONFIG SET - 'x'"
    );

    // INFO, whole and by section.
    let _: () = cmd("SET").arg("k").arg("v").query(&mut con)?;
    let info: String = cmd("INFO").query(&mut con)?;
    for needle in [
        "# Server\r\n",
        "# Clients\r\n",
        "# Stats\r\n",
        "# Persistence\r\n",
        "# Keyspace\r\n",
        "# Engine\r\n",
        "db0:keys=1,",
        "connected_clients:1\r\n",
        "durability:sync\r\n",
        "engine_puts:1\r\n",
    ] {
        assert!(info.contains(needle), "INFO lacks {needle:?}:\n{info}");
    }
    let keyspace: String = cmd("INFO").arg("keyspace").query(&mut con)?;
    assert!(keyspace.starts_with("# Keyspace\r\n") && !keyspace.contains("# Server"));

    // Unknown commands and wrong arities.
    let unknown = cmd("FLY").arg("away").query::<Value>(&mut con);
    assert_eq!(
        error_text(&unknown.expect_err("unknown")),
        "ERR unknown command 'FLY', with args beginning with: 'away' "
    );
    let arity = cmd("GET").query::<Value>(&mut con);
    assert_eq!(
        error_text(&arity.expect_err("arity")),
        "ERR wrong number of arguments for 'get' command"
    );

    // Follower reads exist only on a node of a Raft group; a single node
    // refuses them as a Redis server outside a cluster does.
    for name in ["READONLY", "READWRITE"] {
        let refused = cmd(name).query::<Value>(&mut con);
        assert_eq!(
            error_text(&refused.expect_err("refused")),
            "ERR This instance has cluster support disabled"
        );
    }

    // QUIT answers OK, then the server closes the connection.
    assert_eq!(cmd("QUIT").query::<String>(&mut con)?, "OK");
    assert!(cmd("PING").query::<String>(&mut con).is_err());
    Ok(())
}
