//! The error type of the compaction layer.

use std::path::PathBuf;

/// Errors of a compaction pass. A pass that fails with any of them has
/// changed nothing the store reads: its outputs are only ever written
/// under temporary names until the caller commits them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// Reading an input segment, probing another segment for an older
    /// put, or writing an output segment failed.
    #[error("compaction: {0}")]
    Log(#[from] hightower_log::LogError),
    /// A file-system call of the pass outside a segment (its staging
    /// directory, a file's modification time) failed.
    #[error("compaction: I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A [`crate::SuspendedCompaction`] guard is alive, so no pass may
    /// start; retry once it is dropped.
    #[error("compaction is suspended while a SuspendedCompaction guard is alive")]
    Suspended,
    /// The pass was cancelled (the store is closing) before it changed
    /// anything.
    #[error("the compaction pass was cancelled before it changed anything")]
    Cancelled,
    /// The store changed under the pass in a way that makes its output
    /// stale (a replication snapshot was installed); the output was
    /// discarded and nothing was changed.
    #[error("the store changed under the compaction pass ({reason}); its output was discarded")]
    Superseded {
        /// What changed.
        reason: &'static str,
    },
}

/// Result type of the compaction layer.
pub type Result<T, E = CompactError> = std::result::Result<T, E>;
