//! Grants: read, write or admin permission on a key prefix, and the rule
//! that decides whether a set of grants allows an operation on a key.
//!
//! Permissions are ordered: `write` includes `read`, `admin` includes
//! both. Keys under [`AUTH_PREFIX`] (the auth records themselves) are
//! reachable only through an `admin` grant whose prefix covers them, such
//! as `admin` on the empty prefix; a `read` or `write` grant on the empty
//! prefix covers every other key but not those.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AuthError, Result, shown};
use crate::records::AUTH_PREFIX;

/// The most grants one user or API key holds.
pub const GRANTS_MAX: usize = 256;
/// The longest prefix a grant may name, in bytes.
pub const GRANT_PREFIX_BYTES_MAX: usize = 1024;

/// What a grant permits; each level includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Read keys.
    Read,
    /// Read and write keys.
    Write,
    /// Read and write keys, including the auth records, and manage users.
    Admin,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        })
    }
}

/// An operation to authorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reading a key (get, scan).
    Read,
    /// Writing a key (put, delete).
    Write,
    /// An administrative action on a key or prefix (managing users when
    /// the key is under [`AUTH_PREFIX`]).
    Admin,
}

impl Operation {
    /// The lower-case name used in error messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Admin => "admin",
        }
    }

    /// The lowest permission that allows the operation.
    pub fn needs(self) -> Permission {
        match self {
            Operation::Read => Permission::Read,
            Operation::Write => Permission::Write,
            Operation::Admin => Permission::Admin,
        }
    }
}

/// A permission on every key that starts with `prefix`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// What is permitted.
    pub permission: Permission,
    /// The keys it covers: those starting with these bytes.
    pub prefix: Vec<u8>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Grant {
    /// `read:user/`; bytes outside printable ASCII (and `\`) as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.permission)?;
        for &byte in &self.prefix {
            if byte.is_ascii_graphic() && byte != b'\\' || byte == b' ' {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl Grant {
    /// A grant of `permission` on keys starting with `prefix`.
    pub fn new(permission: Permission, prefix: impl Into<Vec<u8>>) -> Self {
        Grant {
            permission,
            prefix: prefix.into(),
        }
    }

    /// Parses `read:PREFIX`, `write:PREFIX` or `admin:PREFIX` (an empty
    /// prefix covers every key; `\xNN` in the prefix stands for a byte),
    /// the form [`Grant`]'s `Display` writes.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason| AuthError::InvalidGrant {
            text: shown(text),
            reason,
        };
        let (permission, prefix) = text
            .split_once(':')
            .ok_or_else(|| bad("expected PERMISSION:PREFIX"))?;
        let permission = match permission {
            "read" => Permission::Read,
            "write" => Permission::Write,
            "admin" => Permission::Admin,
            _ => return Err(bad("the permission is not read, write or admin")),
        };
        let prefix = unescape(prefix).ok_or_else(|| bad("a `\\` is not followed by xNN"))?;
        let grant = Grant { permission, prefix };
        grant.validate()?;
        Ok(grant)
    }

    /// Whether this grant allows `operation` on `key`.
    pub fn allows(&self, operation: Operation, key: &[u8]) -> bool {
        if !key.starts_with(&self.prefix) || self.permission < operation.needs() {
            return false;
        }
        self.permission == Permission::Admin || !key.starts_with(AUTH_PREFIX)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.prefix.len() > GRANT_PREFIX_BYTES_MAX {
            return Err(AuthError::InvalidGrant {
                text: shown(&self.to_string()),
                reason: "the prefix is over 1024 bytes",
            });
        }
        Ok(())
    }
}

/// Whether any of `grants` allows `operation` on `key`.
pub fn allows(grants: &[Grant], operation: Operation, key: &[u8]) -> bool {
    grants.iter().any(|grant| grant.allows(operation, key))
}

/// Checks a whole grant list against the limits.
pub(crate) fn validate_all(grants: &[Grant]) -> Result<()> {
    if grants.len() > GRANTS_MAX {
        return Err(AuthError::TooMany {
            what: "grants",
            count: grants.len(),
            max: GRANTS_MAX,
        });
    }
    grants.iter().try_for_each(Grant::validate)
}

fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'\\' {
            let digits = bytes.get(at + 1..at + 4)?;
            if digits[0] != b'x' {
                return None;
            }
            let mut byte = [0u8];
            crate::crypto::hex_decode_into(&digits[1..], &mut byte)?;
            out.push(byte[0]);
            at += 4;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_include_lower_ones() {
        let write = Grant::new(Permission::Write, "app/");
        assert!(write.allows(Operation::Read, b"app/x"));
        assert!(write.allows(Operation::Write, b"app/x"));
        assert!(!write.allows(Operation::Admin, b"app/x"));
        assert!(!write.allows(Operation::Read, b"other/x"));
        let read = Grant::new(Permission::Read, "app/");
        assert!(!read.allows(Operation::Write, b"app/x"));
    }

    #[test]
    fn auth_records_need_admin() {
        let mut auth_key = AUTH_PREFIX.to_vec();
        auth_key.extend_from_slice(b"user/ada");
        for permission in [Permission::Read, Permission::Write] {
            let everything = Grant::new(permission, "");
            assert!(everything.allows(Operation::Read, b"anything"));
            assert!(!everything.allows(Operation::Read, &auth_key));
            let exact = Grant::new(permission, AUTH_PREFIX);
            assert!(!exact.allows(Operation::Read, &auth_key));
        }
        let admin = Grant::new(Permission::Admin, "");
        assert!(admin.allows(Operation::Write, &auth_key));
        assert!(admin.allows(Operation::Admin, &auth_key));
        let admin_app = Grant::new(Permission::Admin, "app/");
        assert!(!admin_app.allows(Operation::Read, &auth_key));
    }

    #[test]
    fn grants_parse_and_print() {
        let grant = Grant::parse("write:app/\\xff").unwrap();
        assert_eq!(grant, Grant::new(Permission::Write, b"app/\xff".to_vec()));
        assert_eq!(grant.to_string(), "write:app/\\xff");
        assert_eq!(Grant::parse(&grant.to_string()).unwrap(), grant);
        assert_eq!(
            Grant::parse("admin:").unwrap(),
            Grant::new(Permission::Admin, "")
        );
        for bad in ["read", "owner:x", "read:\\x", "read:\\q00", "read:\\xzz"] {
            assert!(
                matches!(Grant::parse(bad), Err(AuthError::InvalidGrant { .. })),
                "{bad}"
            );
        }
        let long = format!("read:{}", "a".repeat(GRANT_PREFIX_BYTES_MAX + 1));
        assert!(Grant::parse(&long).is_err());
    }

    #[test]
    fn any_grant_may_allow() {
        let grants = [
            Grant::new(Permission::Read, "a/"),
            Grant::new(Permission::Write, "b/"),
        ];
        assert!(allows(&grants, Operation::Read, b"a/1"));
        assert!(!allows(&grants, Operation::Write, b"a/1"));
        assert!(allows(&grants, Operation::Write, b"b/1"));
        assert!(!allows(&[], Operation::Read, b"a/1"));
    }
}
