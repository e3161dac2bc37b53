//! The auth records as they are stored in the engine: where their keys
//! live, how their values are framed, and the public views of them.
//!
//! Every record lives under [`AUTH_PREFIX`]: users at
//! `AUTH_PREFIX + "user/" + name`, API keys at `AUTH_PREFIX + "apikey/" +
//! id`, failed-login counts at `AUTH_PREFIX + "login/" + id` (their value
//! the limiter's own fixed-width form). A value is a 4-byte frame (magic `HA`, record kind, format
//! version) followed by the record in postcard. The engine checksums every
//! record; the frame tells a record of one kind or version from another.

use std::fmt;

use hightower_engine::KeyDisplay;
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, Result, shown};
use crate::grants::Grant;

/// The prefix of every auth record; only `admin` grants reach it.
pub const AUTH_PREFIX: &[u8] = b"\xffauth/";
/// The longest user name, in bytes.
pub const USER_NAME_BYTES_MAX: usize = 64;
/// The longest API key label, in bytes.
pub const LABEL_BYTES_MAX: usize = 128;

const USER_SPACE: &[u8] = b"user/";
const API_KEY_SPACE: &[u8] = b"apikey/";
const LOGIN_SPACE: &[u8] = b"login/";
const FRAME_MAGIC: [u8; 2] = *b"HA";
const FRAME_BYTES: usize = 4;
const RECORD_FORMAT_VERSION: u8 = 1;

/// The kinds of auth record, as the frame names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordKind {
    User = 1,
    ApiKey = 2,
}

/// A user as stored.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    /// Random id of this incarnation of the name: API keys and sealed
    /// metadata are bound to it, so a user deleted and created again does
    /// not inherit them.
    pub(crate) uid: [u8; 16],
    pub(crate) name: String,
    /// The Argon2id PHC string.
    pub(crate) password_hash: String,
    pub(crate) disabled: bool,
    pub(crate) grants: Vec<Grant>,
    /// Metadata sealed by the envelope encryptor.
    pub(crate) metadata: Option<Vec<u8>>,
    pub(crate) created_unix_ms: u64,
    pub(crate) password_changed_unix_ms: u64,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .field("grants", &self.grants)
            .field("metadata_bytes", &self.metadata.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// The id that binds sealed metadata to this user.
    pub(crate) fn blob_record_id(&self) -> Vec<u8> {
        let mut id = user_key(&self.name);
        id.push(b'/');
        id.extend_from_slice(&self.uid);
        id
    }

    pub(crate) fn info(&self) -> UserInfo {
        UserInfo {
            name: self.name.clone(),
            disabled: self.disabled,
            grants: self.grants.clone(),
            has_metadata: self.metadata.is_some(),
            created_unix_ms: self.created_unix_ms,
            password_changed_unix_ms: self.password_changed_unix_ms,
        }
    }
}

/// An API key as stored: a hash of its secret, never the secret.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ApiKeyRecord {
    pub(crate) id: String,
    pub(crate) owner: String,
    pub(crate) owner_uid: [u8; 16],
    pub(crate) secret_hash: [u8; 32],
    pub(crate) label: String,
    /// `None`: the owner's grants. `Some`: these, within the owner's.
    pub(crate) grants: Option<Vec<Grant>>,
    pub(crate) created_unix_ms: u64,
    pub(crate) expires_unix_ms: Option<u64>,
    pub(crate) revoked_unix_ms: Option<u64>,
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("secret_hash", &"<redacted>")
            .field("label", &self.label)
            .field("grants", &self.grants)
            .field("expires_unix_ms", &self.expires_unix_ms)
            .field("revoked_unix_ms", &self.revoked_unix_ms)
            .finish_non_exhaustive()
    }
}

impl ApiKeyRecord {
    pub(crate) fn info(&self) -> ApiKeyInfo {
        ApiKeyInfo {
            id: self.id.clone(),
            owner: self.owner.clone(),
            label: self.label.clone(),
            grants: self.grants.clone(),
            created_unix_ms: self.created_unix_ms,
            expires_unix_ms: self.expires_unix_ms,
            revoked_unix_ms: self.revoked_unix_ms,
        }
    }
}

/// What [`crate::AuthService::list_users`] shows of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// Whether logins are refused.
    pub disabled: bool,
    /// The user's grants.
    pub grants: Vec<Grant>,
    /// Whether the user has (encrypted) metadata.
    pub has_metadata: bool,
    /// When the user was created, in ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// When the password was last set, in ms since the Unix epoch.
    pub password_changed_unix_ms: u64,
}

/// What [`crate::AuthService::list_api_keys`] shows of an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// The key id (the public part of the key).
    pub id: String,
    /// The user the key acts for.
    pub owner: String,
    /// A free-text label.
    pub label: String,
    /// `None`: the owner's grants; `Some`: these, within the owner's.
    pub grants: Option<Vec<Grant>>,
    /// When the key was created, in ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// When the key stops working, in ms since the Unix epoch.
    pub expires_unix_ms: Option<u64>,
    /// When the key was revoked, in ms since the Unix epoch.
    pub revoked_unix_ms: Option<u64>,
}

impl ApiKeyInfo {
    /// Whether the key is neither revoked nor expired at `now_unix_ms`.
    pub fn is_active(&self, now_unix_ms: u64) -> bool {
        self.revoked_unix_ms.is_none() && self.expires_unix_ms.is_none_or(|at| now_unix_ms < at)
    }
}

/// The engine key of user `name`.
pub(crate) fn user_key(name: &str) -> Vec<u8> {
    [AUTH_PREFIX, USER_SPACE, name.as_bytes()].concat()
}

/// The prefix of every user record.
pub(crate) fn users_prefix() -> Vec<u8> {
    [AUTH_PREFIX, USER_SPACE].concat()
}

/// The engine key of the failed-login count `id`.
pub(crate) fn login_count_key(id: &[u8]) -> Vec<u8> {
    [AUTH_PREFIX, LOGIN_SPACE, id].concat()
}

/// The prefix of every failed-login count.
pub(crate) fn login_counts_prefix() -> Vec<u8> {
    [AUTH_PREFIX, LOGIN_SPACE].concat()
}

/// The engine key of API key `id`.
pub(crate) fn api_key_key(id: &str) -> Vec<u8> {
    [AUTH_PREFIX, API_KEY_SPACE, id.as_bytes()].concat()
}

/// The prefix of every API key record.
pub(crate) fn api_keys_prefix() -> Vec<u8> {
    [AUTH_PREFIX, API_KEY_SPACE].concat()
}

/// Checks a user name: 1 to 64 bytes of ASCII letters, digits, `.`, `_`,
/// `-` and `@`, starting with a letter or digit.
pub fn validate_user_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(AuthError::InvalidName {
            name: shown(name),
            reason,
        })
    };
    if name.is_empty() || name.len() > USER_NAME_BYTES_MAX {
        return bad("a name has 1 to 64 bytes");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("a name starts with an ASCII letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
    {
        return bad("a name holds only ASCII letters, digits, `.`, `_`, `-` and `@`");
    }
    Ok(())
}

/// Checks an API key label: at most 128 bytes of printable ASCII.
pub(crate) fn validate_label(label: &str) -> Result<()> {
    if label.len() > LABEL_BYTES_MAX || !label.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(AuthError::InvalidName {
            name: shown(label),
            reason: "a label has at most 128 bytes of printable ASCII",
        });
    }
    Ok(())
}

/// The framed value of a record.
pub(crate) fn encode<T: Serialize>(kind: RecordKind, record: &T) -> Vec<u8> {
    let mut value = Vec::with_capacity(256);
    value.extend_from_slice(&FRAME_MAGIC);
    value.push(kind as u8);
    value.push(RECORD_FORMAT_VERSION);
    postcard::to_extend(record, value)
        .expect("postcard encodes structs of strings, vectors and integers into a Vec")
}

/// The record in a framed value read from `key`.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    kind: RecordKind,
    key: &[u8],
    value: &[u8],
) -> Result<T> {
    let corrupt = |reason: String| AuthError::CorruptRecord {
        key: KeyDisplay(key.to_vec()),
        reason,
    };
    if value.len() < FRAME_BYTES || value[..2] != FRAME_MAGIC {
        return Err(corrupt("no auth record frame".into()));
    }
    if value[2] != kind as u8 {
        return Err(corrupt(format!(
            "record kind {} where {} was expected",
            value[2], kind as u8
        )));
    }
    if value[3] != RECORD_FORMAT_VERSION {
        return Err(corrupt(format!(
            "record format version {}; this build reads {RECORD_FORMAT_VERSION}",
            value[3]
        )));
    }
    let (record, rest) = postcard::take_from_bytes(&value[FRAME_BYTES..])
        .map_err(|e| corrupt(format!("payload does not decode: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} bytes after the payload", rest.len())));
    }
    Ok(record)
}

/// Decodes a user record and checks that it is the one `key` names.
pub(crate) fn decode_user(key: &[u8], value: &[u8]) -> Result<UserRecord> {
    let record: UserRecord = decode(RecordKind::User, key, value)?;
    if user_key(&record.name) != key {
        return Err(AuthError::CorruptRecord {
            key: KeyDisplay(key.to_vec()),
            reason: format!("the record names user {:?}", shown(&record.name)),
        });
    }
    Ok(record)
}

/// Decodes an API key record and checks that it is the one `key` names.
pub(crate) fn decode_api_key(key: &[u8], value: &[u8]) -> Result<ApiKeyRecord> {
    let record: ApiKeyRecord = decode(RecordKind::ApiKey, key, value)?;
    if api_key_key(&record.id) != key {
        return Err(AuthError::CorruptRecord {
            key: KeyDisplay(key.to_vec()),
            reason: format!("the record names API key {:?}", shown(&record.id)),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::Permission;

    fn user() -> UserRecord {
        UserRecord {
            uid: [9; 16],
            name: "ada".into(),
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            disabled: false,
            grants: vec![Grant::new(Permission::Read, "app/")],
            metadata: Some(vec![1, 2, 3]),
            created_unix_ms: 1,
            password_changed_unix_ms: 2,
        }
    }

    #[test]
    fn records_round_trip_through_the_frame() {
        let record = user();
        let key = user_key("ada");
        let value = encode(RecordKind::User, &record);
        assert_eq!(&value[..4], b"HA\x01\x01");
        let back = decode_user(&key, &value).unwrap();
        assert_eq!(back.name, "ada");
        assert_eq!(back.grants, record.grants);
        assert_eq!(back.metadata, record.metadata);
    }

    #[test]
    fn damaged_frames_are_corrupt_records() {
        let key = user_key("ada");
        let value = encode(RecordKind::User, &user());
        let mut wrong_kind = value.clone();
        wrong_kind[2] = RecordKind::ApiKey as u8;
        let mut wrong_version = value.clone();
        wrong_version[3] = 9;
        let mut trailing = value.clone();
        trailing.push(0);
        for bad in [
            &value[..3],
            &value[..value.len() - 1],
            &wrong_kind,
            &wrong_version,
            &trailing,
            b"",
        ] {
            assert!(
                matches!(decode_user(&key, bad), Err(AuthError::CorruptRecord { .. })),
                "{bad:?}"
            );
        }
        // A record stored under another user's key is refused too.
        assert!(decode_user(&user_key("bob"), &value).is_err());
    }

    #[test]
    fn user_names_are_checked() {
        for good in [
            "ada",
            "a",
            "ada.lovelace@example.org",
            "svc-1_x",
            &"a".repeat(64),
        ] {
            assert!(validate_user_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-ada",
            ".x",
            "ada lovelace",
            "ada/x",
            "\u{e9}",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(validate_user_name(bad), Err(AuthError::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_hides_hashes() {
        let shown = format!("{:?}", user());
        assert!(!shown.contains("argon2id"), "{shown}");
        let key = ApiKeyRecord {
            id: "00".into(),
            owner: "ada".into(),
            owner_uid: [0; 16],
            secret_hash: [0xee; 32],
            label: String::new(),
            grants: None,
            created_unix_ms: 0,
            expires_unix_ms: None,
            revoked_unix_ms: None,
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("238"), "{shown}");
    }

    #[test]
    fn key_activity() {
        let mut info = ApiKeyInfo {
            id: "x".into(),
            owner: "ada".into(),
            label: String::new(),
            grants: None,
            created_unix_ms: 0,
            expires_unix_ms: Some(100),
            revoked_unix_ms: None,
        };
        assert!(info.is_active(99));
        assert!(!info.is_active(100));
        info.expires_unix_ms = None;
        info.revoked_unix_ms = Some(5);
        assert!(!info.is_active(0));
    }
}
