//! Commands, expectations and results shared by the engine's traits.

use std::fmt;

/// What a conditional write expects of the key's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expect {
    /// No condition.
    #[default]
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist at exactly this version.
    Version(u64),
}

impl Expect {
    /// Whether a key at `actual` (None when absent) satisfies this.
    pub fn holds(self, actual: Option<u64>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => actual.is_none(),
            Expect::Version(v) => actual == Some(v),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => f.write_str("any version"),
            Expect::Absent => f.write_str("absent"),
            Expect::Version(v) => write!(f, "version {v}"),
        }
    }
}

/// One mutation, with its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Set `key` to `value`.
    Put {
        /// The key (non-empty).
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The condition.
        expect: Expect,
    },
    /// Delete `key` (a tombstone is written even when it is absent).
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The condition.
        expect: Expect,
    },
}

impl Command {
    /// An unconditional put.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Command::Put {
            key: key.into(),
            value: value.into(),
            expect: Expect::Any,
        }
    }

    /// An unconditional delete.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Command::Delete {
            key: key.into(),
            expect: Expect::Any,
        }
    }

    /// The same command under a condition.
    pub fn expecting(mut self, condition: Expect) -> Self {
        match &mut self {
            Command::Put { expect, .. } | Command::Delete { expect, .. } => *expect = condition,
        }
        self
    }

    /// The key the command touches.
    pub fn key(&self) -> &[u8] {
        match self {
            Command::Put { key, .. } | Command::Delete { key, .. } => key,
        }
    }

    /// The command's condition.
    pub fn expect(&self) -> Expect {
        match self {
            Command::Put { expect, .. } | Command::Delete { expect, .. } => *expect,
        }
    }

    pub(crate) fn as_mutation(&self) -> hightower_log::Mutation<'_> {
        match self {
            Command::Put { key, value, .. } => hightower_log::Mutation::Put { key, value },
            Command::Delete { key, .. } => hightower_log::Mutation::Delete { key },
        }
    }
}

/// A value with the version of the write that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: Vec<u8>,
    /// Its version.
    pub version: u64,
}

/// A key with its value and version, as scans return them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Its version.
    pub version: u64,
}

/// What a committed batch did: command `i` got version `first_version + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Version of the first command.
    pub first_version: u64,
    /// Number of commands.
    pub count: u32,
}

impl Committed {
    /// Version of the last command.
    pub fn last_version(&self) -> u64 {
        self.first_version + (u64::from(self.count).max(1) - 1)
    }
}
