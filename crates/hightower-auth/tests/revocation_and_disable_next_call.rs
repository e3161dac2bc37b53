//! Revoking a key, a key expiring, disabling or deleting a user: each
//! takes effect on the very next call, for verification and for
//! `authorize` with a principal obtained before.

mod common;

use std::time::Duration;

use hightower_auth::{ApiKeyOptions, AuthError, Grant, Operation, Permission};

fn everything() -> Vec<Grant> {
    vec![Grant::new(Permission::Write, "")]
}

#[test]
fn revoked_key_fails_on_next_use() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", everything())?;
    let key = fx.auth.create_api_key("ada", ApiKeyOptions::default())?;
    let token = key.token.expose_secret();
    let principal = fx.auth.verify_api_key(token)?;
    assert!(fx.auth.authorize(&principal, Operation::Write, b"k")?);

    fx.auth.revoke_api_key(&key.id)?;
    let err = fx.auth.verify_api_key(token).expect_err("revoked");
    assert!(
        matches!(err, AuthError::ApiKeyRevoked { ref id } if *id == key.id),
        "{err}"
    );
    assert!(!fx.auth.authorize(&principal, Operation::Read, b"k")?);
    // Revoking again is harmless; an unknown id is an error.
    fx.auth.revoke_api_key(&key.id)?;
    assert!(matches!(
        fx.auth.revoke_api_key("0000000000000000"),
        Err(AuthError::ApiKeyNotFound { .. })
    ));
    let listed = fx.auth.list_api_keys(Some("ada"), 10)?;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_unix_ms.is_some());
    Ok(())
}

#[test]
fn expired_key_fails_on_next_use() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", everything())?;
    let options = ApiKeyOptions {
        expires_in: Some(Duration::from_secs(60)),
        ..ApiKeyOptions::default()
    };
    let key = fx.auth.create_api_key("ada", options)?;
    let principal = fx.auth.verify_api_key(key.token.expose_secret())?;
    fx.clock.advance(Duration::from_secs(59));
    fx.auth.verify_api_key(key.token.expose_secret())?;
    assert!(fx.auth.authorize(&principal, Operation::Read, b"k")?);
    fx.clock.advance(Duration::from_secs(1));
    assert!(matches!(
        fx.auth.verify_api_key(key.token.expose_secret()),
        Err(AuthError::ApiKeyExpired { .. })
    ));
    assert!(!fx.auth.authorize(&principal, Operation::Read, b"k")?);
    Ok(())
}

#[test]
fn disabled_user_fails_on_next_call_and_can_be_enabled() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", everything())?;
    let session = fx.auth.verify_password("ada", b"correct horse", "s")?;
    let key = fx.auth.create_api_key("ada", ApiKeyOptions::default())?;
    let key_principal = fx.auth.verify_api_key(key.token.expose_secret())?;

    fx.auth.disable_user("ada")?;
    assert!(matches!(
        fx.auth.verify_password("ada", b"correct horse", "s"),
        Err(AuthError::UserDisabled { .. })
    ));
    assert!(matches!(
        fx.auth.verify_api_key(key.token.expose_secret()),
        Err(AuthError::UserDisabled { .. })
    ));
    assert!(!fx.auth.authorize(&session, Operation::Read, b"k")?);
    assert!(!fx.auth.authorize(&key_principal, Operation::Read, b"k")?);
    assert!(fx.auth.user("ada")?.disabled);
    assert!(matches!(
        fx.auth.create_api_key("ada", ApiKeyOptions::default()),
        Err(AuthError::UserDisabled { .. })
    ));

    fx.auth.enable_user("ada")?;
    fx.auth.verify_password("ada", b"correct horse", "s")?;
    assert!(fx.auth.authorize(&session, Operation::Read, b"k")?);
    assert!(fx.auth.authorize(&key_principal, Operation::Read, b"k")?);
    Ok(())
}

#[test]
fn deleted_user_and_its_keys_stay_dead_when_the_name_returns() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", everything())?;
    let session = fx.auth.verify_password("ada", b"correct horse", "s")?;
    let key = fx.auth.create_api_key("ada", ApiKeyOptions::default())?;

    fx.auth.delete_user("ada")?;
    assert!(
        fx.auth.list_api_keys(None, 10)?.is_empty(),
        "keys deleted with the user"
    );
    assert!(matches!(
        fx.auth.verify_password("ada", b"correct horse", "s"),
        Err(AuthError::InvalidCredentials)
    ));
    assert!(!fx.auth.authorize(&session, Operation::Read, b"k")?);
    assert!(matches!(
        fx.auth.delete_user("ada"),
        Err(AuthError::UserNotFound { .. })
    ));

    // A new user of the same name inherits neither sessions nor keys.
    fx.auth.create_user("ada", b"correct horse", everything())?;
    assert!(!fx.auth.authorize(&session, Operation::Read, b"k")?);
    assert!(matches!(
        fx.auth.verify_api_key(key.token.expose_secret()),
        Err(AuthError::InvalidCredentials)
    ));
    Ok(())
}

#[test]
fn changed_password_applies_on_next_login() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", everything())?;
    fx.auth.change_password("ada", b"new battery staple")?;
    assert!(matches!(
        fx.auth.verify_password("ada", b"correct horse", "s"),
        Err(AuthError::InvalidCredentials)
    ));
    fx.auth.verify_password("ada", b"new battery staple", "s")?;
    assert!(matches!(
        fx.auth.change_password("ada", b"short"),
        Err(AuthError::PasswordTooShort { min: 8, .. })
    ));
    assert!(matches!(
        fx.auth.change_password("nobody", b"long enough"),
        Err(AuthError::UserNotFound { .. })
    ));
    Ok(())
}
