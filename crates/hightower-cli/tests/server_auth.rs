//! `hightower serve` with authentication (the default): the first start
//! creates `admin` with a random password kept in a 0600 file (printed
//! only on a terminal); commands before AUTH get NOAUTH, wrong credentials
//! WRONGPASS, keys outside a user's grants NOPERM; API keys work as
//! passwords; KEYS shows only readable keys.

mod server_common;

use anyhow::{Context, Result};
use redis::{Value, cmd};
use server_common::{TestServer, error_text, run_hightower as hightower};

#[test]
fn auth_is_enforced_per_command_and_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = TestServer::start(&data, &[])?;
    let banner = server.banner.join("\n");
    let file = data.join("admin-password");
    let password = std::fs::read_to_string(&file)
        .with_context(|| format!("no {}", file.display()))?
        .trim()
        .to_string();
    // Standard output is a pipe here: the banner names the file and keeps
    // the password out of whatever collects the output.
    assert!(
        banner.contains("created user admin; its password is in"),
        "{banner:?}"
    );
    assert!(
        !banner.contains(&password),
        "the password was printed: {banner:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file)?.permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        !server.stderr().contains(&password),
        "the password is never logged"
    );

    let mut con = server.connect()?;
    let mut get = cmd("GET");
    get.arg("k");
    let mut hello = cmd("HELLO");
    hello.arg(3);
    for command in [get, cmd("PING"), hello] {
        let refused = command.query::<Value>(&mut con);
        assert!(error_text(&refused.expect_err("not authenticated")).starts_with("NOAUTH"));
    }
    let wrong = cmd("AUTH")
        .arg("admin")
        .arg("not-the-password")
        .query::<Value>(&mut con);
    assert!(error_text(&wrong.expect_err("wrong password")).starts_with("WRONGPASS"));
    let _: () = cmd("AUTH").arg("admin").arg(&password).query(&mut con)?;
    assert_eq!(cmd("ACL").arg("WHOAMI").query::<String>(&mut con)?, "admin");
    let _: () = cmd("MSET")
        .arg("app/1")
        .arg("a")
        .arg("other/1")
        .arg("b")
        .query(&mut con)?;
    assert!(cmd("INFO").query::<String>(&mut con)?.contains("# Server"));

    // HELLO with AUTH authenticates and switches protocol in one step.
    let mut hello = server.connect()?;
    let reply: Value = cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("admin")
        .arg(&password)
        .query(&mut hello)?;
    assert!(matches!(reply, Value::Map(_)), "{reply:?}");

    // A reader of app/ and an API key, made while the server is stopped.
    server.terminate()?;
    hightower(
        &data,
        &[
            "user",
            "add",
            "reader",
            "--grant",
            "read:app/",
            "--password-stdin",
        ],
        "reader-password\n",
    )?;
    let token = hightower(&data, &["apikey", "create", "reader"], "")?;
    let token = token.trim().to_string();
    let server = TestServer::start(&data, &[])?;
    assert!(
        server.banner.is_empty(),
        "admin is created only once: {:?}",
        server.banner
    );

    let mut reader = server.connect()?;
    let _: () = cmd("AUTH")
        .arg("reader")
        .arg("reader-password")
        .query(&mut reader)?;
    assert_eq!(cmd("GET").arg("app/1").query::<String>(&mut reader)?, "a");
    let denied = cmd("GET").arg("other/1").query::<Value>(&mut reader);
    assert!(error_text(&denied.expect_err("outside grants")).starts_with("NOPERM"));
    let denied = cmd("SET").arg("app/1").arg("x").query::<Value>(&mut reader);
    assert!(error_text(&denied.expect_err("read only")).starts_with("NOPERM"));
    let denied = cmd("MGET")
        .arg("app/1")
        .arg("other/1")
        .query::<Value>(&mut reader);
    assert!(error_text(&denied.expect_err("one key outside")).starts_with("NOPERM"));
    let denied = cmd("HT.COMPACT").query::<Value>(&mut reader);
    assert!(error_text(&denied.expect_err("admin only")).starts_with("NOPERM"));
    let keys: Vec<String> = cmd("KEYS").arg("*").query(&mut reader)?;
    assert_eq!(keys, ["app/1"], "KEYS shows only readable keys");

    // The API key as the only AUTH argument, and in place of a password.
    let mut keyed = server.connect()?;
    let _: () = cmd("AUTH").arg(&token).query(&mut keyed)?;
    assert_eq!(
        cmd("ACL").arg("WHOAMI").query::<String>(&mut keyed)?,
        "reader"
    );
    assert_eq!(cmd("GET").arg("app/1").query::<String>(&mut keyed)?, "a");
    let mut keyed = server.connect()?;
    let _: () = cmd("AUTH").arg("reader").arg(&token).query(&mut keyed)?;
    let wrong = cmd("AUTH")
        .arg("hk_0000000000000000_nope")
        .query::<Value>(&mut keyed);
    assert!(error_text(&wrong.expect_err("bad key")).starts_with("WRONGPASS"));
    Ok(())
}
