//! Grants on key prefixes: a user gets what its grants allow; an API key
//! gets only what both its own grants and its owner's allow; the auth
//! records need an admin grant, whatever else a principal holds.

mod common;

use hightower_auth::{AUTH_PREFIX, ApiKeyOptions, Grant, Operation, Permission};

#[test]
fn users_get_what_their_grants_allow() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    let grants = vec![
        Grant::new(Permission::Read, "shared/"),
        Grant::new(Permission::Write, "ada/"),
    ];
    fx.auth.create_user("ada", b"correct horse", grants)?;
    let ada = fx.auth.verify_password("ada", b"correct horse", "s")?;
    let cases: [(Operation, &[u8], bool); 7] = [
        (Operation::Read, b"shared/x", true),
        (Operation::Write, b"shared/x", false),
        (Operation::Read, b"ada/x", true),
        (Operation::Write, b"ada/x", true),
        (Operation::Admin, b"ada/x", false),
        (Operation::Read, b"bob/x", false),
        (Operation::Read, b"shared", false),
    ];
    for (operation, key, expected) in cases {
        assert_eq!(
            fx.auth.authorize(&ada, operation, key)?,
            expected,
            "{operation:?} {key:?}"
        );
    }

    // New grants apply on the next call.
    fx.auth
        .set_grants("ada", vec![Grant::new(Permission::Read, "")])?;
    assert!(!fx.auth.authorize(&ada, Operation::Write, b"ada/x")?);
    assert!(fx.auth.authorize(&ada, Operation::Read, b"bob/x")?);
    Ok(())
}

#[test]
fn auth_records_need_an_admin_grant() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user(
        "writer",
        b"correct horse",
        vec![Grant::new(Permission::Write, "")],
    )?;
    fx.auth.create_user(
        "root",
        b"correct horse",
        vec![Grant::new(Permission::Admin, "")],
    )?;
    let writer = fx.auth.verify_password("writer", b"correct horse", "s")?;
    let root = fx.auth.verify_password("root", b"correct horse", "s")?;
    let mut record = AUTH_PREFIX.to_vec();
    record.extend_from_slice(b"user/root");
    for operation in [Operation::Read, Operation::Write, Operation::Admin] {
        assert!(
            !fx.auth.authorize(&writer, operation, &record)?,
            "{operation:?}"
        );
        assert!(
            !fx.auth.authorize(&writer, operation, AUTH_PREFIX)?,
            "{operation:?}"
        );
        assert!(
            fx.auth.authorize(&root, operation, &record)?,
            "{operation:?}"
        );
    }
    assert!(
        fx.auth
            .authorize(&writer, Operation::Write, b"\xfeanything")?
    );
    Ok(())
}

#[test]
fn api_keys_stay_within_their_owner() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    let owner_grants = vec![
        Grant::new(Permission::Write, "app/"),
        Grant::new(Permission::Read, "logs/"),
    ];
    fx.auth.create_user("ada", b"correct horse", owner_grants)?;

    let inherit = fx.auth.create_api_key("ada", ApiKeyOptions::default())?;
    let inherit = fx.auth.verify_api_key(inherit.token.expose_secret())?;
    assert!(fx.auth.authorize(&inherit, Operation::Write, b"app/1")?);
    assert!(fx.auth.authorize(&inherit, Operation::Read, b"logs/1")?);

    let scoped = ApiKeyOptions {
        label: "ci reader".into(),
        // Asks for more than the owner has: write on logs/, admin on all.
        grants: Some(vec![
            Grant::new(Permission::Read, "app/public/"),
            Grant::new(Permission::Write, "logs/"),
            Grant::new(Permission::Admin, ""),
        ]),
        expires_in: None,
    };
    let scoped = fx.auth.create_api_key("ada", scoped)?;
    let scoped = fx.auth.verify_api_key(scoped.token.expose_secret())?;
    assert!(
        fx.auth
            .authorize(&scoped, Operation::Read, b"app/public/1")?
    );
    assert!(
        fx.auth
            .authorize(&scoped, Operation::Write, b"app/private/1")?,
        "admin:'' within owner's write:app/"
    );
    assert!(
        !fx.auth.authorize(&scoped, Operation::Write, b"logs/1")?,
        "owner only reads logs/"
    );
    assert!(!fx.auth.authorize(&scoped, Operation::Read, b"other/1")?);
    assert!(!fx.auth.authorize(&scoped, Operation::Read, AUTH_PREFIX)?);

    // Narrowing the owner narrows its keys on the next call.
    fx.auth
        .set_grants("ada", vec![Grant::new(Permission::Read, "app/public/")])?;
    assert!(!fx.auth.authorize(&inherit, Operation::Write, b"app/1")?);
    assert!(
        fx.auth
            .authorize(&scoped, Operation::Read, b"app/public/1")?
    );
    let listed = fx.auth.list_api_keys(Some("ada"), 10)?;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|k| k.label == "ci reader"));
    Ok(())
}
