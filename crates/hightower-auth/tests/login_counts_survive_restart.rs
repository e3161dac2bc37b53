//! Failed-login counts are stored under the auth prefix: a service
//! reopened over the same data keeps a lockout and a count, and a
//! successful login removes the pair's stored count.

mod common;

use std::time::Duration;

use hightower_auth::{AUTH_PREFIX, AuthError, AuthService, LockoutScope, LoginLimits};
use hightower_engine::{KvEngine, SingleNodeEngine};

fn limits() -> LoginLimits {
    LoginLimits {
        pair_failures_free: 2,
        source_failures_free: 100,
        lockout_first: Duration::from_secs(60),
        lockout_max: Duration::from_secs(600),
        forget_after: Duration::from_secs(3600),
        tracked_max: 1000,
    }
}

fn login_counts(auth: &AuthService<SingleNodeEngine>) -> anyhow::Result<usize> {
    let mut prefix = AUTH_PREFIX.to_vec();
    prefix.extend_from_slice(b"login/");
    Ok(auth.engine().scan_prefix(&prefix, 10_000)?.len())
}

#[test]
fn a_lockout_and_a_count_survive_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = std::sync::Arc::new(hightower_auth::ManualClock::new(common::T0_UNIX_MS));
    {
        let auth = common::service(dir.path(), common::encryptor(1), clock.clone(), limits())?;
        auth.create_user("ada", b"correct horse", Vec::new())?;
        for _ in 0..3 {
            let _ = auth.verify_password("ada", b"guess", "attacker");
        }
        // Two failures of a pair that stays under its allowance.
        for _ in 0..2 {
            let _ = auth.verify_password("ada", b"typo", "laptop");
        }
        assert_eq!(login_counts(&auth)?, 4, "two pairs, two sources");
        auth.engine().sync()?;
    }
    let auth = common::service(dir.path(), common::encryptor(1), clock.clone(), limits())?;
    let locked = auth.verify_password("ada", b"correct horse", "attacker");
    assert!(
        matches!(
            locked,
            Err(AuthError::LockedOut {
                scope: LockoutScope::User,
                ..
            })
        ),
        "{locked:?}"
    );
    // The laptop's two failures were kept: one more locks it.
    let _ = auth.verify_password("ada", b"typo", "laptop");
    let locked = auth.verify_password("ada", b"correct horse", "laptop");
    assert!(locked.is_err(), "{locked:?}");

    clock.advance(Duration::from_secs(60));
    auth.verify_password("ada", b"correct horse", "laptop")?;
    assert_eq!(login_counts(&auth)?, 3, "a success drops the pair's count");
    Ok(())
}
