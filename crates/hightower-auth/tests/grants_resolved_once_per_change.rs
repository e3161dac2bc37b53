//! A principal's grants are read from the records once and kept until a
//! user, grant or API key changes: checking many keys reads nothing
//! more, and a change (by the service, or a direct write reported with
//! `records_changed`) takes effect on the next check.

mod common;

use hightower_auth::{ApiKeyOptions, Grant, Operation, Permission};
use hightower_engine::{Command, KvEngine};

#[test]
fn many_checks_one_read_and_changes_apply_at_once() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user(
        "ada",
        b"correct horse",
        vec![Grant::new(Permission::Read, "a:")],
    )?;
    let key = fx.auth.create_api_key("ada", ApiKeyOptions::default())?;
    let user = fx.auth.verify_password("ada", b"correct horse", "test")?;
    let keyed = fx.auth.verify_api_key(key.token.expose_secret())?;
    assert!(fx.auth.authorize(&user, Operation::Read, b"a:0")?);
    assert!(fx.auth.authorize(&keyed, Operation::Read, b"a:0")?);

    let gets_before = fx.auth.engine().metrics().gets;
    for i in 0..1000 {
        let key = format!("a:{i}");
        assert!(fx.auth.authorize(&user, Operation::Read, key.as_bytes())?);
        assert!(fx.auth.authorize(&keyed, Operation::Read, key.as_bytes())?);
        assert!(!fx.auth.authorize(&user, Operation::Write, key.as_bytes())?);
    }
    assert_eq!(
        fx.auth.engine().metrics().gets,
        gets_before,
        "no record read"
    );

    fx.auth
        .set_grants("ada", vec![Grant::new(Permission::Write, "a:")])?;
    assert!(fx.auth.authorize(&user, Operation::Write, b"a:1")?);
    assert!(fx.auth.authorize(&keyed, Operation::Write, b"a:1")?);
    fx.auth.disable_user("ada")?;
    assert!(!fx.auth.authorize(&user, Operation::Read, b"a:1")?);
    assert!(!fx.auth.authorize(&keyed, Operation::Read, b"a:1")?);
    fx.auth.enable_user("ada")?;
    assert!(fx.auth.authorize(&user, Operation::Read, b"a:1")?);

    // A write that goes around the service counts once reported.
    let mut user_key = hightower_auth::AUTH_PREFIX.to_vec();
    user_key.extend_from_slice(b"user/ada");
    fx.auth.engine().submit(Command::delete(user_key))?;
    assert!(
        fx.auth.authorize(&user, Operation::Read, b"a:1")?,
        "not yet seen"
    );
    fx.auth.records_changed();
    assert!(!fx.auth.authorize(&user, Operation::Read, b"a:1")?);
    Ok(())
}
