//! The policy: how much of each segment is dead, and which segments a pass
//! takes.
//!
//! A segment's live bytes are the lengths of the records the index points
//! at in it; everything else in its data region (overwritten puts,
//! tombstones, batch headers) counts as dead. Tombstones that an earlier
//! pass had to carry forward are counted as live until what kept them
//! changes (see [`crate::Compactor::plan`]), so that a segment holding
//! nothing but needed tombstones is not rewritten over and over.

use std::collections::HashMap;

use hightower_index::{Entry, IndexSnapshot};
use hightower_log::{Location, LogSegment, SEGMENT_HEADER_BYTES};

use crate::config::{CompactionConfig, CompactionOptions};

/// How much of one segment is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentUsage {
    /// The segment.
    pub segment_id: u32,
    /// Whether it is sealed (only sealed segments are compacted).
    pub sealed: bool,
    /// Bytes of its data region after the header.
    pub total_bytes: u64,
    /// Bytes of the records the index points at.
    pub live_bytes: u64,
}

impl SegmentUsage {
    /// Bytes that no reader needs any more.
    pub fn dead_bytes(&self) -> u64 {
        self.total_bytes.saturating_sub(self.live_bytes)
    }

    /// The dead fraction of the data bytes (0 for an empty segment).
    pub fn dead_ratio(&self) -> f64 {
        if self.total_bytes == 0 {
            0.0
        } else {
            self.dead_bytes() as f64 / self.total_bytes as f64
        }
    }
}

/// The usage of each of `segments`, measured against `index`: one pass
/// over the index, summing record lengths per segment.
pub fn segment_usage<'a>(
    segments: impl IntoIterator<Item = &'a LogSegment>,
    index: &IndexSnapshot,
) -> Vec<SegmentUsage> {
    let mut live_bytes: HashMap<u32, u64> = HashMap::new();
    for (_, entry) in index.iter() {
        *live_bytes.entry(entry.location.segment_id).or_default() += u64::from(entry.location.len);
    }
    usage_of(segments, |id| live_bytes.get(&id).copied().unwrap_or(0))
}

fn usage_of<'a>(
    segments: impl IntoIterator<Item = &'a LogSegment>,
    live_bytes: impl Fn(u32) -> u64,
) -> Vec<SegmentUsage> {
    segments
        .into_iter()
        .map(|segment| SegmentUsage {
            segment_id: segment.id(),
            sealed: segment.is_sealed(),
            total_bytes: segment
                .data_len_bytes()
                .saturating_sub(SEGMENT_HEADER_BYTES as u64),
            live_bytes: live_bytes(segment.id()),
        })
        .collect()
}

/// Every record an index snapshot points at, by segment, from one walk
/// over the snapshot: what a pass measures its candidates with and what it
/// copies. Costs 8 bytes per live key.
///
/// A record that is not live in a snapshot can never become live again (a
/// key only ever moves to newer records, or to a copy made by a pass), so a
/// pass may decide from a snapshot taken at its start: at worst it copies a
/// record overwritten since, and that copy is dead on arrival.
#[derive(Debug, Default)]
pub struct LiveRecords {
    segments: HashMap<u32, SegmentLive>,
}

#[derive(Debug, Default)]
struct SegmentLive {
    bytes: u64,
    /// `(offset, len)` of each live record, sorted.
    records: Vec<(u32, u32)>,
}

impl LiveRecords {
    /// Walks `index` once.
    pub fn from_index(index: &IndexSnapshot) -> Self {
        Self::from_index_expiring(index, |_, _| false)
    }

    /// Walks `index` once; the records `expired` names (puts whose
    /// expiry time has come) stay among the records a pass sees as live
    /// (it drops them as expired, see `CompactionJob::expired_at_ms`) but
    /// count as dead bytes, so the policy takes the segments they fill.
    pub fn from_index_expiring(
        index: &IndexSnapshot,
        mut expired: impl FnMut(&[u8], &Entry) -> bool,
    ) -> Self {
        let mut segments: HashMap<u32, SegmentLive> = HashMap::new();
        for (key, entry) in index.iter() {
            let location = entry.location;
            let live = segments.entry(location.segment_id).or_default();
            if !(entry.expiring && expired(&key, &entry)) {
                live.bytes += u64::from(location.len);
            }
            live.records.push((location.offset, location.len));
        }
        for live in segments.values_mut() {
            live.records.sort_unstable();
        }
        LiveRecords { segments }
    }

    /// Whether the snapshot pointed at exactly this record.
    pub fn contains(&self, location: Location) -> bool {
        self.segments.get(&location.segment_id).is_some_and(|live| {
            live.records
                .binary_search(&(location.offset, location.len))
                .is_ok()
        })
    }

    /// A cursor over the live records of one segment, for a reader that
    /// visits the segment's records in offset order (a scan).
    pub fn cursor(&self, segment_id: u32) -> LiveCursor<'_> {
        LiveCursor {
            segment_id,
            records: self
                .segments
                .get(&segment_id)
                .map_or(&[], |live| live.records.as_slice()),
        }
    }

    /// Live bytes of one segment.
    pub fn live_bytes(&self, segment_id: u32) -> u64 {
        self.segments.get(&segment_id).map_or(0, |live| live.bytes)
    }

    /// The usage of each of `segments`.
    pub fn usage<'a>(
        &self,
        segments: impl IntoIterator<Item = &'a LogSegment>,
    ) -> Vec<SegmentUsage> {
        usage_of(segments, |id| self.live_bytes(id))
    }
}

/// The live records of one segment, consumed in offset order: O(1) per
/// record where a lookup by location would search.
#[derive(Debug, Clone)]
pub struct LiveCursor<'a> {
    segment_id: u32,
    /// The live records not yet passed, sorted by offset.
    records: &'a [(u32, u32)],
}

impl LiveCursor<'_> {
    /// Whether the record at `location` is live. Locations must be asked
    /// for in increasing offset order; records skipped over are dropped
    /// from the cursor.
    pub fn contains(&mut self, location: Location) -> bool {
        if location.segment_id != self.segment_id {
            return false;
        }
        let passed = self
            .records
            .iter()
            .take_while(|(offset, _)| *offset < location.offset)
            .count();
        self.records = &self.records[passed..];
        self.records.first() == Some(&(location.offset, location.len))
    }
}

/// The segments a pass takes, lowest id first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionPlan {
    /// Input segment ids, ascending.
    pub segment_ids: Vec<u32>,
    /// Dead bytes the policy expects the pass to reclaim.
    pub reclaimable_bytes: u64,
}

impl CompactionPlan {
    /// Whether the pass has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.segment_ids.is_empty()
    }
}

/// Chooses the inputs of a pass. `retained_bytes(id)` is how many of a
/// segment's bytes are tombstones known to be still needed; they count as
/// live.
///
/// Sealed segments with no data at all are always taken (they cost
/// nothing) but never start a pass on their own. Otherwise candidates are
/// the sealed segments whose dead fraction reaches `dead_ratio_min` (any
/// dead byte when forced), most dead bytes first, up to the segment limit;
/// an unforced pass needs `min_bytes` of dead bytes in all candidates
/// together.
pub(crate) fn choose(
    usage: &[SegmentUsage],
    config: &CompactionConfig,
    options: &CompactionOptions,
    retained_bytes: impl Fn(u32) -> u64,
) -> CompactionPlan {
    let adjusted = |u: &SegmentUsage| SegmentUsage {
        live_bytes: (u.live_bytes + retained_bytes(u.segment_id)).min(u.total_bytes),
        ..*u
    };
    if let Some(only) = &options.only_segments {
        let chosen: Vec<SegmentUsage> = usage
            .iter()
            .filter(|u| u.sealed && only.contains(&u.segment_id))
            .map(adjusted)
            .collect();
        return plan_of(chosen);
    }
    let (empty, mut candidates): (Vec<SegmentUsage>, Vec<SegmentUsage>) = usage
        .iter()
        .filter(|u| u.sealed)
        .map(adjusted)
        .filter(|u| {
            u.total_bytes == 0
                || if options.force {
                    u.dead_bytes() > 0
                } else {
                    u.dead_ratio() >= config.dead_ratio_min && u.dead_bytes() > 0
                }
        })
        .partition(|u| u.total_bytes == 0);
    // The threshold looks at every candidate, not only the ones this pass
    // takes: a limit on segments per pass must not keep a store with
    // plenty of garbage in small segments from ever being compacted.
    let candidates_dead_bytes: u64 = candidates.iter().map(SegmentUsage::dead_bytes).sum();
    if candidates.is_empty() || (!options.force && candidates_dead_bytes < config.min_bytes) {
        return CompactionPlan::default();
    }
    candidates.sort_by(|a, b| {
        b.dead_bytes()
            .cmp(&a.dead_bytes())
            .then(a.segment_id.cmp(&b.segment_id))
    });
    candidates.truncate(options.max_segments.unwrap_or(config.max_segments).max(1));
    candidates.extend(empty);
    plan_of(candidates)
}

fn plan_of(chosen: Vec<SegmentUsage>) -> CompactionPlan {
    let reclaimable_bytes = chosen.iter().map(SegmentUsage::dead_bytes).sum();
    let mut segment_ids: Vec<u32> = chosen.iter().map(|u| u.segment_id).collect();
    segment_ids.sort_unstable();
    CompactionPlan {
        segment_ids,
        reclaimable_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(segment_id: u32, total_bytes: u64, live_bytes: u64) -> SegmentUsage {
        SegmentUsage {
            segment_id,
            sealed: true,
            total_bytes,
            live_bytes,
        }
    }

    fn config(min_bytes: u64, max_segments: usize, dead_ratio_min: f64) -> CompactionConfig {
        CompactionConfig {
            min_bytes,
            max_segments,
            dead_ratio_min,
            ..CompactionConfig::default()
        }
    }

    #[test]
    fn live_records_answer_by_exact_location() {
        use hightower_index::{Entry, Index};
        let index = Index::new();
        let at = |segment_id, offset, len| Location {
            segment_id,
            offset,
            len,
        };
        index.insert(
            b"a",
            Entry {
                version: 1,
                location: at(1, 32, 40),
                expiring: false,
            },
        );
        index.insert(
            b"b",
            Entry {
                version: 2,
                location: at(1, 72, 50),
                expiring: false,
            },
        );
        index.insert(
            b"c",
            Entry {
                version: 3,
                location: at(2, 32, 40),
                expiring: false,
            },
        );
        let live = LiveRecords::from_index(&index.snapshot());
        assert!(live.contains(at(1, 72, 50)) && live.contains(at(2, 32, 40)));
        assert!(!live.contains(at(1, 72, 49)) && !live.contains(at(3, 32, 40)));
        let mut cursor = live.cursor(1);
        assert!(!cursor.contains(at(1, 0, 40)));
        assert!(cursor.contains(at(1, 32, 40)));
        assert!(!cursor.contains(at(1, 50, 22)));
        assert!(cursor.contains(at(1, 72, 50)));
        assert!(!cursor.contains(at(2, 32, 40)), "another segment");
        assert!(!cursor.contains(at(1, 200, 50)), "past the end");
        assert_eq!(
            (live.live_bytes(1), live.live_bytes(2), live.live_bytes(9)),
            (90, 40, 0)
        );
    }

    #[test]
    fn takes_the_deadest_segments_up_to_the_limit_in_id_order() {
        let all = [
            usage(1, 1000, 900),
            usage(2, 1000, 100),
            usage(3, 1000, 0),
            usage(4, 1000, 400),
            usage(5, 1000, 500),
        ];
        let plan = choose(
            &all,
            &config(0, 3, 0.5),
            &CompactionOptions::default(),
            |_| 0,
        );
        assert_eq!(plan.segment_ids, vec![2, 3, 4]);
        assert_eq!(plan.reclaimable_bytes, 900 + 1000 + 600);
    }

    #[test]
    fn min_bytes_counts_every_candidate_not_only_this_pass() {
        let all: Vec<SegmentUsage> = (1..=10).map(|id| usage(id, 1000, 0)).collect();
        let plan = choose(
            &all,
            &config(5000, 2, 0.5),
            &CompactionOptions::default(),
            |_| 0,
        );
        assert_eq!(plan.segment_ids, vec![1, 2]);
    }

    #[test]
    fn below_min_bytes_nothing_happens_unless_forced() {
        let all = [usage(1, 1000, 100)];
        let quiet = config(10_000, 8, 0.5);
        assert!(choose(&all, &quiet, &CompactionOptions::default(), |_| 0).is_empty());
        let forced = choose(&all, &quiet, &CompactionOptions::full(), |_| 0);
        assert_eq!(forced.segment_ids, vec![1]);
    }

    #[test]
    fn unsealed_and_fully_live_segments_are_never_taken() {
        let mut active = usage(9, 1000, 0);
        active.sealed = false;
        let all = [active, usage(1, 1000, 1000)];
        assert!(choose(&all, &config(0, 8, 0.0), &CompactionOptions::full(), |_| 0).is_empty());
    }

    #[test]
    fn empty_segments_ride_along_but_start_nothing() {
        let all = [usage(1, 0, 0), usage(2, 1000, 0)];
        let cfg = config(0, 8, 0.5);
        let plan = choose(&all, &cfg, &CompactionOptions::default(), |_| 0);
        assert_eq!(plan.segment_ids, vec![1, 2]);
        let only_empty = [usage(1, 0, 0)];
        assert!(choose(&only_empty, &cfg, &CompactionOptions::default(), |_| 0).is_empty());
    }

    #[test]
    fn retained_tombstones_count_as_live() {
        let all = [usage(1, 1000, 0)];
        let cfg = config(0, 8, 0.5);
        let plan = choose(&all, &cfg, &CompactionOptions::default(), |_| 900);
        assert!(plan.is_empty(), "900 of 1000 bytes are needed tombstones");
    }

    #[test]
    fn only_segments_overrides_the_policy() {
        let mut active = usage(3, 10, 0);
        active.sealed = false;
        let all = [usage(1, 1000, 1000), usage(2, 1000, 0), active];
        let options = CompactionOptions::default().only_segments([1, 3]);
        let plan = choose(&all, &config(u64::MAX, 1, 1.0), &options, |_| 0);
        assert_eq!(plan.segment_ids, vec![1]);
    }
}
