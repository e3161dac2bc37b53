//! [`AdminEngine`] for [`SingleNodeEngine`], [`SegmentInfo`], the report
//! on one segment that it hands out instead of the segment itself, and
//! [`ReplicationStatus`], what a replicated engine reports of its group.

use std::path::PathBuf;

use hightower_compact::{CompactionOptions, CompactionReport, SegmentUsage};
use hightower_log::{LogSegment, VerifyReport};

use crate::config::EngineConfig;
use crate::engine::SingleNodeEngine;
use crate::error::Result;
use crate::metrics::MetricsSnapshot;
use crate::storage::RecoveryInfo;
use crate::traits::AdminEngine;

/// Where a node of a replication group stands, as `INFO replication`
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    /// This node's id.
    pub node_id: u64,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader_id: Option<u64>,
    /// The leader's client address, when known.
    pub leader_addr: Option<String>,
    /// The address of the leader's Raft port, when known.
    pub leader_raft_addr: Option<String>,
    /// The index of the last entry known committed.
    pub commit_index: Option<u64>,
    /// The index of the last entry applied here.
    pub applied_index: Option<u64>,
    /// The index of the last entry in this node's log.
    pub last_log_index: Option<u64>,
    /// The voting members' ids.
    pub voters: Vec<u64>,
}

/// One segment of the store as it was when [`AdminEngine::segments`] was
/// called: a copy, so holding it keeps no file open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The segment id; ids only grow, and the active segment has the
    /// highest.
    pub id: u32,
    /// The segment file.
    pub path: PathBuf,
    /// Bytes of the data region (records, after the header).
    pub data_bytes: u64,
    /// Whether the segment is sealed (its footer written; it never
    /// changes again).
    pub sealed: bool,
    /// What the footer of a sealed segment says.
    pub footer: Option<FooterInfo>,
}

/// What the footer of a sealed segment says about its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FooterInfo {
    /// Keys in the footer's hint table.
    pub entries: u32,
    /// The lowest version of a record in the segment.
    pub min_version: u64,
    /// The highest version of a record in the segment.
    pub max_version: u64,
}

impl SegmentInfo {
    fn of(segment: &LogSegment) -> Self {
        SegmentInfo {
            id: segment.id(),
            path: segment.path().to_path_buf(),
            data_bytes: segment.data_len_bytes(),
            sealed: segment.is_sealed(),
            footer: segment.footer().map(|footer| FooterInfo {
                entries: footer.entry_count,
                min_version: footer.min_version,
                max_version: footer.max_version,
            }),
        }
    }
}

impl AdminEngine for SingleNodeEngine {
    fn config(&self) -> &EngineConfig {
        SingleNodeEngine::config(self)
    }

    fn recovery_info(&self) -> &RecoveryInfo {
        SingleNodeEngine::recovery_info(self)
    }

    fn metrics(&self) -> MetricsSnapshot {
        SingleNodeEngine::metrics(self)
    }

    fn len(&self) -> usize {
        SingleNodeEngine::len(self)
    }

    fn poison_reason(&self) -> Option<String> {
        SingleNodeEngine::poison_reason(self)
    }

    fn sync(&self) -> Result<()> {
        SingleNodeEngine::sync(self)
    }

    fn run_compaction(&self, options: CompactionOptions) -> Result<CompactionReport> {
        SingleNodeEngine::run_compaction(self, options)
    }

    fn segments(&self) -> Vec<SegmentInfo> {
        let segments = self.storage().segments();
        segments.values().map(|s| SegmentInfo::of(s)).collect()
    }

    fn segment_usage(&self) -> Vec<SegmentUsage> {
        self.storage().segment_usage()
    }

    fn index_memory_bytes(&self) -> Option<u64> {
        Some(self.storage().index().memory_estimate_bytes() as u64)
    }

    fn expired_keys(&self, limit: usize) -> Vec<(Vec<u8>, u64)> {
        let now_ms = self.config().clock.now_ms();
        self.storage()
            .expiries()
            .due(now_ms, limit)
            .into_iter()
            .map(|due| (due.key.to_vec(), due.version))
            .collect()
    }

    fn forget_expired(&self, key: &[u8], version: u64) {
        self.storage().expiries().forget_version(key, version);
    }

    /// Waits for background seals and writes buffered appends out first,
    /// so the check sees every record appended so far.
    fn verify_segment(&self, segment_id: u32) -> Result<Option<VerifyReport>> {
        let storage = self.storage();
        storage.finish_seals()?;
        storage.flush()?;
        let Some(segment) = storage.segments().get(&segment_id).cloned() else {
            return Ok(None);
        };
        Ok(Some(segment.verify()?))
    }
}
