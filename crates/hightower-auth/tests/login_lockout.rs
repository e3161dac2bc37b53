//! Failed logins lock out one (user name, source) pair after its free
//! allowance, and one source over all names after its own; a locked-out
//! call runs no hash; the right password from another source still logs
//! in meanwhile; lockouts double and end.

mod common;

use std::time::Duration;

use hightower_auth::{AuthError, LockoutScope, LoginLimits};

fn limits() -> LoginLimits {
    LoginLimits {
        pair_failures_free: 3,
        source_failures_free: 6,
        lockout_first: Duration::from_secs(60),
        lockout_max: Duration::from_secs(600),
        forget_after: Duration::from_secs(3600),
        tracked_max: 1000,
    }
}

fn is_locked(outcome: &Result<hightower_auth::Principal, AuthError>, want: LockoutScope) -> bool {
    matches!(outcome, Err(AuthError::LockedOut { scope, .. }) if *scope == want)
}

#[test]
fn a_guessed_user_still_logs_in_from_elsewhere() -> anyhow::Result<()> {
    let fx = common::fixture_with(limits())?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    for _ in 0..4 {
        assert!(matches!(
            fx.auth.verify_password("ada", b"guess", "attacker"),
            Err(AuthError::InvalidCredentials)
        ));
    }
    let before = fx.auth.hasher().hash_count();
    let locked = fx.auth.verify_password("ada", b"correct horse", "attacker");
    assert!(is_locked(&locked, LockoutScope::User), "{locked:?}");
    assert_eq!(
        fx.auth.hasher().hash_count(),
        before,
        "no hash while locked"
    );
    fx.auth.verify_password("ada", b"correct horse", "laptop")?;

    // The lockout ends; the next failure locks twice as long.
    fx.clock.advance(Duration::from_secs(60));
    let _ = fx.auth.verify_password("ada", b"guess", "attacker");
    fx.clock.advance(Duration::from_secs(119));
    let locked = fx.auth.verify_password("ada", b"correct horse", "attacker");
    assert!(is_locked(&locked, LockoutScope::User), "{locked:?}");
    fx.clock.advance(Duration::from_secs(1));
    fx.auth
        .verify_password("ada", b"correct horse", "attacker")?;
    Ok(())
}

#[test]
fn a_source_locks_across_user_names_and_only_itself() -> anyhow::Result<()> {
    let fx = common::fixture_with(limits())?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    for i in 0..7 {
        let _ = fx
            .auth
            .verify_password(&format!("user{i}"), b"guess", "attacker");
    }
    let locked = fx.auth.verify_password("ada", b"correct horse", "attacker");
    assert!(is_locked(&locked, LockoutScope::Source), "{locked:?}");
    fx.auth.verify_password("ada", b"correct horse", "friend")?;
    Ok(())
}

#[test]
fn typos_between_successes_do_not_add_up_for_the_pair() -> anyhow::Result<()> {
    let fx = common::fixture_with(limits())?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    // More typos than the pair allows, fewer than the source does (a
    // success does not clear the source's count).
    for _ in 0..6 {
        let _ = fx.auth.verify_password("ada", b"typo", "laptop");
        fx.auth.verify_password("ada", b"correct horse", "laptop")?;
    }
    Ok(())
}
