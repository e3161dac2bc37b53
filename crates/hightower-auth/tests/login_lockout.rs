//! Failed logins lock out the user name after its limit and the source
//! after its own; a locked-out call runs no hash; the lockout ends after
//! its duration; the right password from elsewhere is refused meanwhile.

mod common;

use std::time::Duration;

use hightower_auth::{AuthError, LockoutScope, LoginLimits};

fn limits() -> LoginLimits {
    LoginLimits {
        user_failures_max: 3,
        source_failures_max: 6,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(600),
        tracked_max: 1000,
    }
}

#[test]
fn user_lockout_blocks_without_hashing_then_ends() -> anyhow::Result<()> {
    let fx = common::fixture_with(limits())?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    for i in 0..3 {
        let source = format!("10.0.0.{i}");
        assert!(matches!(
            fx.auth.verify_password("ada", b"guess", &source),
            Err(AuthError::InvalidCredentials)
        ));
    }
    let before = fx.auth.hasher().hash_count();
    let err = fx
        .auth
        .verify_password("ada", b"correct horse", "192.168.1.1")
        .expect_err("locked");
    assert!(
        matches!(
            err,
            AuthError::LockedOut {
                scope: LockoutScope::User,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        fx.auth.hasher().hash_count(),
        before,
        "no hash while locked"
    );

    // Unknown names lock the same way, so lockouts reveal nothing.
    for _ in 0..3 {
        let _ = fx.auth.verify_password("nobody", b"guess", "10.1.0.1");
    }
    assert!(matches!(
        fx.auth.verify_password("nobody", b"guess", "10.1.0.2"),
        Err(AuthError::LockedOut {
            scope: LockoutScope::User,
            ..
        })
    ));

    fx.clock.advance(Duration::from_secs(600));
    fx.auth
        .verify_password("ada", b"correct horse", "192.168.1.1")?;
    Ok(())
}

#[test]
fn source_lockout_spans_user_names() -> anyhow::Result<()> {
    let fx = common::fixture_with(limits())?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    for i in 0..6 {
        let _ = fx
            .auth
            .verify_password(&format!("user{i}"), b"guess", "attacker");
    }
    assert!(matches!(
        fx.auth.verify_password("ada", b"correct horse", "attacker"),
        Err(AuthError::LockedOut {
            scope: LockoutScope::Source,
            ..
        })
    ));
    fx.auth.verify_password("ada", b"correct horse", "friend")?;
    Ok(())
}

#[test]
fn success_resets_the_user_count() -> anyhow::Result<()> {
    let fx = common::fixture_with(limits())?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    for _ in 0..10 {
        let _ = fx.auth.verify_password("ada", b"typo", "laptop");
        let _ = fx.auth.verify_password("ada", b"typo", "laptop");
        fx.auth.verify_password("ada", b"correct horse", "phone")?;
    }
    Ok(())
}
