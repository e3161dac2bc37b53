//! Random sequences of auth operations, applied to the service and to a
//! simple model, with close and reopen in between: every outcome and the
//! listed users and keys must agree.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use hightower_auth::{ApiKeyOptions, AuthError, AuthService, LoginLimits, ManualClock};
use hightower_engine::SingleNodeEngine;
use proptest::prelude::*;

const NAMES: [&str; 4] = ["ada", "bob", "eve", "mallory"];

#[derive(Debug, Clone)]
enum Op {
    Create { user: usize, password: u8 },
    Verify { user: usize, password: u8 },
    ChangePassword { user: usize, password: u8 },
    Disable { user: usize },
    Enable { user: usize },
    Delete { user: usize },
    CreateKey { user: usize },
    VerifyKey { key: usize },
    RevokeKey { key: usize },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..NAMES.len();
    let password = 0u8..3;
    prop_oneof![
        4 => (user.clone(), password.clone()).prop_map(|(user, password)| Op::Create { user, password }),
        4 => (user.clone(), password.clone()).prop_map(|(user, password)| Op::Verify { user, password }),
        1 => (user.clone(), password).prop_map(|(user, password)| Op::ChangePassword { user, password }),
        1 => user.clone().prop_map(|user| Op::Disable { user }),
        1 => user.clone().prop_map(|user| Op::Enable { user }),
        1 => user.clone().prop_map(|user| Op::Delete { user }),
        3 => user.prop_map(|user| Op::CreateKey { user }),
        4 => any::<usize>().prop_map(|key| Op::VerifyKey { key }),
        1 => any::<usize>().prop_map(|key| Op::RevokeKey { key }),
        1 => Just(Op::Reopen),
    ]
}

/// What a call returned, reduced to what the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    OkAs(String),
    InvalidCredentials,
    UserExists,
    UserNotFound,
    UserDisabled,
    Revoked,
    KeyNotFound,
    Other(String),
}

fn outcome<T>(result: Result<T, AuthError>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(value) => ok(value),
        Err(AuthError::InvalidCredentials) => Outcome::InvalidCredentials,
        Err(AuthError::UserExists { .. }) => Outcome::UserExists,
        Err(AuthError::UserNotFound { .. }) => Outcome::UserNotFound,
        Err(AuthError::UserDisabled { .. }) => Outcome::UserDisabled,
        Err(AuthError::ApiKeyRevoked { .. }) => Outcome::Revoked,
        Err(AuthError::ApiKeyNotFound { .. }) => Outcome::KeyNotFound,
        Err(other) => Outcome::Other(other.to_string()),
    }
}

#[derive(Debug)]
struct ModelUser {
    password: u8,
    disabled: bool,
}

#[derive(Debug)]
struct ModelKey {
    token: String,
    id: String,
    owner: String,
    revoked: bool,
    deleted: bool,
}

#[derive(Debug, Default)]
struct Model {
    users: BTreeMap<String, ModelUser>,
    keys: Vec<ModelKey>,
}

fn password(index: u8) -> Vec<u8> {
    format!("password-{index}").into_bytes()
}

struct Harness {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    auth: Option<AuthService<SingleNodeEngine>>,
    model: Model,
}

impl Harness {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::new(common::T0_UNIX_MS));
        let auth = common::service(
            dir.path(),
            common::encryptor(1),
            clock.clone(),
            LoginLimits::off(),
        )?;
        Ok(Harness {
            dir,
            clock,
            auth: Some(auth),
            model: Model::default(),
        })
    }

    fn auth(&self) -> &AuthService<SingleNodeEngine> {
        self.auth.as_ref().expect("open between operations")
    }

    fn apply(&mut self, op: &Op) -> anyhow::Result<(Outcome, Outcome)> {
        let ok = |()| Outcome::Ok;
        let as_user = |p: hightower_auth::Principal| Outcome::OkAs(p.user_name().to_owned());
        Ok(match *op {
            Op::Create { user, password: pw } => {
                let name = NAMES[user];
                let got = outcome(self.auth().create_user(name, &password(pw), Vec::new()), ok);
                let expected = if self.model.users.contains_key(name) {
                    Outcome::UserExists
                } else {
                    self.model.users.insert(
                        name.into(),
                        ModelUser {
                            password: pw,
                            disabled: false,
                        },
                    );
                    Outcome::Ok
                };
                (got, expected)
            }
            Op::Verify { user, password: pw } => {
                let name = NAMES[user];
                let got = outcome(
                    self.auth().verify_password(name, &password(pw), "s"),
                    as_user,
                );
                let expected = match self.model.users.get(name) {
                    Some(u) if u.password != pw => Outcome::InvalidCredentials,
                    Some(u) if u.disabled => Outcome::UserDisabled,
                    Some(_) => Outcome::OkAs(name.into()),
                    None => Outcome::InvalidCredentials,
                };
                (got, expected)
            }
            Op::ChangePassword { user, password: pw } => {
                let name = NAMES[user];
                let got = outcome(self.auth().change_password(name, &password(pw)), ok);
                let expected = match self.model.users.get_mut(name) {
                    Some(u) => {
                        u.password = pw;
                        Outcome::Ok
                    }
                    None => Outcome::UserNotFound,
                };
                (got, expected)
            }
            Op::Disable { user } | Op::Enable { user } => {
                let name = NAMES[user];
                let disable = matches!(op, Op::Disable { .. });
                let result = if disable {
                    self.auth().disable_user(name)
                } else {
                    self.auth().enable_user(name)
                };
                let expected = match self.model.users.get_mut(name) {
                    Some(u) => {
                        u.disabled = disable;
                        Outcome::Ok
                    }
                    None => Outcome::UserNotFound,
                };
                (outcome(result, ok), expected)
            }
            Op::Delete { user } => {
                let name = NAMES[user];
                let got = outcome(self.auth().delete_user(name), ok);
                let expected = match self.model.users.remove(name) {
                    Some(_) => {
                        for key in self.model.keys.iter_mut().filter(|k| k.owner == name) {
                            key.deleted = true;
                        }
                        Outcome::Ok
                    }
                    None => Outcome::UserNotFound,
                };
                (got, expected)
            }
            Op::CreateKey { user } => {
                let name = NAMES[user];
                let created = self.auth().create_api_key(name, ApiKeyOptions::default());
                let expected = match self.model.users.get(name) {
                    Some(u) if u.disabled => Outcome::UserDisabled,
                    Some(_) => Outcome::Ok,
                    None => Outcome::UserNotFound,
                };
                let got = outcome(created, |key| {
                    self.model.keys.push(ModelKey {
                        token: key.token.expose_secret().to_owned(),
                        id: key.id,
                        owner: name.into(),
                        revoked: false,
                        deleted: false,
                    });
                    Outcome::Ok
                });
                (got, expected)
            }
            Op::VerifyKey { key } => {
                if self.model.keys.is_empty() {
                    return Ok((Outcome::Ok, Outcome::Ok));
                }
                let key = &self.model.keys[key % self.model.keys.len()];
                let got = outcome(self.auth().verify_api_key(&key.token), as_user);
                let expected = if key.deleted {
                    Outcome::InvalidCredentials
                } else if key.revoked {
                    Outcome::Revoked
                } else if self.model.users[&key.owner].disabled {
                    Outcome::UserDisabled
                } else {
                    Outcome::OkAs(key.owner.clone())
                };
                (got, expected)
            }
            Op::RevokeKey { key } => {
                if self.model.keys.is_empty() {
                    return Ok((Outcome::Ok, Outcome::Ok));
                }
                let index = key % self.model.keys.len();
                let got = outcome(self.auth().revoke_api_key(&self.model.keys[index].id), ok);
                let key = &mut self.model.keys[index];
                let expected = if key.deleted {
                    Outcome::KeyNotFound
                } else {
                    key.revoked = true;
                    Outcome::Ok
                };
                (got, expected)
            }
            Op::Reopen => {
                self.auth = None;
                self.auth = Some(common::service(
                    self.dir.path(),
                    common::encryptor(1),
                    self.clock.clone(),
                    LoginLimits::off(),
                )?);
                (Outcome::Ok, Outcome::Ok)
            }
        })
    }

    /// The users and keys the service lists agree with the model.
    fn check_listings(&self) -> anyhow::Result<()> {
        let users: Vec<(String, bool)> = self
            .auth()
            .list_users(100)?
            .into_iter()
            .map(|u| (u.name, u.disabled))
            .collect();
        let expected: Vec<(String, bool)> = self
            .model
            .users
            .iter()
            .map(|(name, u)| (name.clone(), u.disabled))
            .collect();
        anyhow::ensure!(users == expected, "users {users:?} != model {expected:?}");

        let mut keys: Vec<(String, String, bool)> = self
            .auth()
            .list_api_keys(None, 1000)?
            .into_iter()
            .map(|k| (k.id, k.owner, k.revoked_unix_ms.is_some()))
            .collect();
        keys.sort();
        let mut expected: Vec<(String, String, bool)> = self
            .model
            .keys
            .iter()
            .filter(|k| !k.deleted)
            .map(|k| (k.id.clone(), k.owner.clone(), k.revoked))
            .collect();
        expected.sort();
        anyhow::ensure!(keys == expected, "keys {keys:?} != model {expected:?}");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn auth_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut harness = Harness::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (step, op) in ops.iter().enumerate() {
            let (got, expected) = harness.apply(op).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&got, &expected, "step {} {:?}", step, op);
            harness.check_listings().map_err(|e| TestCaseError::fail(format!("step {step} {op:?}: {e}")))?;
        }
    }
}
