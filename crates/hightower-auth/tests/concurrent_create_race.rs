//! Several threads create the same user at the same moment: exactly one
//! succeeds, the others get `UserExists`, and the stored user is the
//! winner's.

mod common;

use std::sync::Barrier;

use hightower_auth::AuthError;

#[test]
fn exactly_one_concurrent_create_wins() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    const THREADS: usize = 4;
    for round in 0..25 {
        let name = format!("user{round}");
        let barrier = Barrier::new(THREADS);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let (auth, barrier, name) = (&fx.auth, &barrier, &name);
                    scope.spawn(move || {
                        let password = format!("password-of-thread-{thread}");
                        barrier.wait();
                        auth.create_user(name, password.as_bytes(), Vec::new())
                            .map(|()| thread)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let winners: Vec<usize> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for result in &results {
            if let Err(err) = result {
                assert!(matches!(err, AuthError::UserExists { .. }), "{err}");
            }
        }
        let password = format!("password-of-thread-{}", winners[0]);
        fx.auth.verify_password(&name, password.as_bytes(), "s")?;
    }
    assert_eq!(fx.auth.list_users(100)?.len(), 25);
    Ok(())
}
