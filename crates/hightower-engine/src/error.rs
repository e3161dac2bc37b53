//! The error type of the engine layer.

use std::path::PathBuf;

use crate::types::Expect;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The log layer failed (I/O, corruption, size limits).
    #[error(transparent)]
    Log(#[from] hightower_log::LogError),
    /// The engine cannot take the request now: a replicated engine with
    /// no leader, or whose group lost its majority. Nothing is known to
    /// have been written; retry later (a write may still land if it
    /// reached the group's log before the failure).
    #[error("{reason}")]
    Unavailable {
        /// What failed, for the client.
        reason: String,
    },
    /// A conditional write found another version; nothing was written.
    #[error("version conflict on key {key:?}: expected {expected}, found {}", .actual.map_or("absent".to_string(), |v| format!("version {v}")))]
    VersionConflict {
        /// The key, lossily shown as text in the message.
        key: KeyDisplay,
        /// What the write expected.
        expected: Expect,
        /// The key's version at the time, or `None` when absent.
        actual: Option<u64>,
    },
    /// An earlier write or fsync failed; the engine takes no more writes
    /// until it is reopened.
    #[error("the engine is poisoned by an earlier I/O failure ({reason}); reopen it")]
    Poisoned {
        /// What failed first.
        reason: String,
    },
    /// Another process (or engine) holds the data directory.
    #[error("data directory {path} is locked by another process")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// A file-system call outside the log failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file failed to load.
    #[error("snapshot {path}: {reason}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A batch held no commands.
    #[error("a batch needs at least one command")]
    EmptyBatch,
    /// A replacement that keeps a prefix found more keys under it than
    /// it may hold in memory; nothing was changed.
    #[error("more than {max} keys to keep; nothing was replaced")]
    TooManyKept {
        /// The bound.
        max: usize,
    },
    /// A replicated batch came with a version at or below the latest.
    #[error("version {requested} is not above the latest version {latest}")]
    VersionNotAhead {
        /// The version asked for.
        requested: u64,
        /// The engine's latest version.
        latest: u64,
    },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A background thread of the engine panicked. This is a bug, not
    /// damaged data; the engine is poisoned until it is reopened.
    #[error(
        "a background thread panicked while {task}: {message}; this is a bug, please report it"
    )]
    BackgroundPanic {
        /// What the thread was doing (for example which segment it sealed).
        task: String,
        /// The panic's message.
        message: String,
    },
    /// The engine is shutting down.
    #[error("the engine is closed")]
    Closed,
    /// A compaction pass failed before its commit, or could not start; the
    /// store is unchanged and the engine goes on. (A failure while a pass
    /// commits is reported as the I/O error itself and poisons the engine.)
    #[error(transparent)]
    Compaction(#[from] hightower_compact::CompactError),
}

/// A key inside an error: shown as text when it is printable UTF-8, as hex
/// otherwise, and cut after 64 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDisplay(pub Vec<u8>);

impl std::fmt::Debug for KeyDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.0[..self.0.len().min(64)];
        match std::str::from_utf8(shown) {
            Ok(text) if text.chars().all(|c| !c.is_control()) => write!(f, "{text:?}")?,
            _ => {
                f.write_str("0x")?;
                for byte in shown {
                    write!(f, "{byte:02x}")?;
                }
            }
        }
        if self.0.len() > 64 {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// Result type of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// Whether the error reports damaged data (a checksum mismatch, a bad
    /// frame, a bad magic number, a snapshot that does not verify) rather
    /// than a failed call or a refused request.
    pub fn is_corruption(&self) -> bool {
        use hightower_compact::CompactError;
        use hightower_log::LogError;
        matches!(
            self,
            EngineError::Log(
                LogError::Corrupt { .. }
                    | LogError::BadMagic { .. }
                    | LogError::UnsupportedVersion { .. }
            ) | EngineError::Compaction(CompactError::Log(
                LogError::Corrupt { .. }
                    | LogError::BadMagic { .. }
                    | LogError::UnsupportedVersion { .. }
            )) | EngineError::Snapshot { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }
}
