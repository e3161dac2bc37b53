//! Replaying segments into an [`IndexBuilder`] at open and after an
//! install: the footers' hint blocks of sealed segments, the records of
//! an unsealed one, and the records after a snapshot's position.
//!
//! A large replay runs on up to [`REPLAY_THREADS_MAX`] threads (the
//! calling one included): each replays whole segments into a builder of
//! its own, and the builders are absorbed in ascending segment id order,
//! so the result is exactly the one a replay on one thread gives (the
//! later observation wins a tie of versions either way). Segments go in
//! waves of at most twice as many segments as threads, which bounds the
//! observations held before they are absorbed. A small replay stays on the
//! calling thread, so that small stores read their files in one
//! deterministic order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hightower_index::{IndexBuilder, Key};
use hightower_log::{Location, LogSegment};
use parking_lot::Mutex;

use crate::error::Result;
use crate::snapshot::LogPosition;

/// An expiring put seen at recovery: key, version, expiry time.
pub(crate) type ExpiringWrite = (Key, u64, u64);

/// Threads a replay uses at most.
const REPLAY_THREADS_MAX: usize = 8;

/// Below this many bytes to read (hint blocks of sealed segments, data of
/// unsealed ones) a replay runs on the calling thread alone.
const PARALLEL_REPLAY_BYTES_MIN: u64 = 256 << 10;

/// What replaying one segment gave.
struct Replayed {
    builder: IndexBuilder,
    expiring: Vec<ExpiringWrite>,
    /// The highest version seen.
    latest: u64,
}

/// The threads worth using to replay `segments` after `position`.
pub(super) fn replay_threads<'a>(
    segments: impl IntoIterator<Item = &'a Arc<LogSegment>>,
    position: LogPosition,
) -> usize {
    let replayed: Vec<u64> = segments
        .into_iter()
        .filter(|segment| segment.id() >= position.segment_id)
        .map(|segment| replay_bytes(segment))
        .collect();
    if replayed.len() < 2 || replayed.iter().sum::<u64>() < PARALLEL_REPLAY_BYTES_MIN {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(REPLAY_THREADS_MAX)
        .min(replayed.len())
}

/// About how many bytes replaying `segment` reads.
fn replay_bytes(segment: &LogSegment) -> u64 {
    match segment.footer() {
        Some(footer) => u64::from(footer.entries_len),
        None => segment.data_len_bytes(),
    }
}

/// Feeds what `segments` (in ascending id order) hold after `position` to
/// `builder`, on up to `n_threads` threads, and their expiring puts to
/// `expiring`; returns the highest version seen. On an error the builder
/// may hold part of the observations.
pub(super) fn replay_segments(
    segments: &[&LogSegment],
    position: LogPosition,
    n_threads: usize,
    builder: &mut IndexBuilder,
    expiring: &mut Vec<ExpiringWrite>,
) -> Result<u64> {
    let segments: Vec<&LogSegment> = segments
        .iter()
        .copied()
        .filter(|segment| segment.id() >= position.segment_id)
        .collect();
    let mut latest = 0;
    if n_threads <= 1 {
        for segment in segments {
            latest = latest.max(replay_segment(segment, position, builder, expiring)?);
        }
        return Ok(latest);
    }
    for wave in segments.chunks(2 * n_threads) {
        for replayed in replay_wave(wave, position, n_threads) {
            let replayed = replayed?;
            builder.absorb(replayed.builder);
            expiring.extend(replayed.expiring);
            latest = latest.max(replayed.latest);
        }
    }
    Ok(latest)
}

/// Replays each of `wave` into a builder of its own on `n_threads`
/// threads (the calling one included); the results in `wave`'s order.
fn replay_wave(
    wave: &[&LogSegment],
    position: LogPosition,
    n_threads: usize,
) -> Vec<Result<Replayed>> {
    let slots: Vec<Mutex<Option<Result<Replayed>>>> =
        wave.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        // Each pass takes one segment, so the loop ends after wave.len().
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let Some(segment) = wave.get(at) else {
                break;
            };
            let capacity = segment
                .footer()
                .map_or(0, |footer| footer.entry_count as usize);
            let mut builder = IndexBuilder::with_capacity(capacity);
            let mut expiring = Vec::new();
            let outcome =
                replay_segment(segment, position, &mut builder, &mut expiring).map(|latest| {
                    Replayed {
                        builder,
                        expiring,
                        latest,
                    }
                });
            *slots[at].lock() = Some(outcome);
        }
    };
    // The scope joins every worker and passes a worker's panic on.
    std::thread::scope(|scope| {
        for _ in 1..n_threads.min(wave.len()) {
            scope.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("every segment of the wave was replayed")
        })
        .collect()
}

/// Feeds what `segment` holds after `position` to `builder`, and its
/// expiring puts to `expiring`; returns the highest version seen.
///
/// A sealed segment (after the position's) answers from its footer; an
/// unsealed one, and the position's own segment from the offset on, by
/// a scan of every record, which the builder reduces to the newest of each
/// key as it does across segments.
pub(super) fn replay_segment(
    segment: &LogSegment,
    position: LogPosition,
    builder: &mut IndexBuilder,
    expiring: &mut Vec<ExpiringWrite>,
) -> Result<u64> {
    let mut latest = 0;
    let mut observe = |key: &[u8], version, location: Option<Location>, expires_at_ms| match (
        location,
        expires_at_ms,
    ) {
        (Some(location), Some(at)) => {
            builder.observe_expiring(key, version, location);
            expiring.push((Key::from_slice(key), version, at));
        }
        (location, _) => builder.observe(key, version, location),
    };
    if segment.id() < position.segment_id {
        return Ok(0);
    }
    let footer = segment
        .footer()
        .filter(|_| segment.id() > position.segment_id);
    let Some(footer) = footer else {
        let from_offset = if segment.id() == position.segment_id {
            position.offset
        } else {
            0
        };
        segment.scan(|location, record| {
            if location.offset >= from_offset {
                let kept = record.is_put().then_some(location);
                observe(record.key, record.version, kept, record.expires_at_ms);
                latest = latest.max(record.version);
            }
            Ok(())
        })?;
        return Ok(latest);
    };
    latest = footer.max_version;
    segment.for_each_hint(|hint| {
        let kept = (!hint.tombstone).then_some(hint.location);
        observe(hint.key, hint.version, kept, hint.expires_at_ms);
        latest = latest.max(hint.version);
    })?;
    Ok(latest)
}

/// About how many distinct keys `segments` hold, so that the recovery
/// directory is sized once: the footers' entry counts (which count a key
/// once per segment, so at most an overestimate of the segments'
/// overlap), and a guess for unsealed segments.
pub(super) fn expected_keys(segments: &BTreeMap<u32, Arc<LogSegment>>) -> usize {
    let keys: u64 = segments
        .values()
        .map(|segment| match segment.footer() {
            Some(footer) => u64::from(footer.entry_count),
            None => segment.data_len_bytes() / RECORD_BYTES_GUESS,
        })
        .sum();
    usize::try_from(keys).unwrap_or(usize::MAX)
}

/// Bytes per record assumed when sizing the recovery directory for an
/// unsealed segment, whose record count only a scan would tell.
const RECORD_BYTES_GUESS: u64 = 128;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hightower_index::{Entry, IndexSnapshot};
    use hightower_log::vfs::StdVfs;
    use hightower_log::{Mutation, SegmentOptions};
    use proptest::prelude::*;

    use super::*;

    /// One write: key, put (with an expiry time or not) or delete.
    type Write = (u8, Option<Option<u64>>);

    /// Writes `history` (one version per write, from 1) into segments of
    /// `per_segment` writes each, seals all but the last `unsealed`, and
    /// returns them in id order.
    fn segments_of(
        dir: &std::path::Path,
        history: &[Write],
        per_segment: usize,
        unsealed: usize,
    ) -> Vec<LogSegment> {
        let vfs = StdVfs::default();
        let chunks: Vec<&[Write]> = history.chunks(per_segment.max(1)).collect();
        let n_chunks = chunks.len();
        let mut version = 0;
        let mut segments = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let id = u32::try_from(i + 1).expect("few segments");
            let path = dir.join(format!("{id:010}.log"));
            let segment =
                LogSegment::create(&vfs, &path, id, SegmentOptions::default()).expect("created");
            for (key, write) in chunk {
                version += 1;
                let key = [*key];
                let mutation = match write {
                    None => Mutation::Delete { key: &key },
                    Some(None) => Mutation::Put {
                        key: &key,
                        value: b"value",
                    },
                    Some(Some(at)) => Mutation::PutExpiring {
                        key: &key,
                        value: b"value",
                        expires_at_ms: *at,
                    },
                };
                segment.append(version, &mutation).expect("appended");
            }
            segment.flush().expect("flushed");
            if i + unsealed < n_chunks {
                segment.seal().expect("sealed");
            }
            segments.push(segment);
        }
        segments
    }

    /// The live keys `history` leaves, with their versions and expiry flag.
    fn model(history: &[Write]) -> BTreeMap<Vec<u8>, (u64, bool)> {
        let mut live = BTreeMap::new();
        for (at, (key, write)) in history.iter().enumerate() {
            let version = at as u64 + 1;
            match write {
                None => live.remove(&vec![*key]),
                Some(expiry) => live.insert(vec![*key], (version, expiry.is_some())),
            };
        }
        live
    }

    fn replayed(
        segments: &[LogSegment],
        position: LogPosition,
        n_threads: usize,
    ) -> (IndexSnapshot, Vec<ExpiringWrite>, u64) {
        let in_order: Vec<&LogSegment> = segments.iter().collect();
        let mut builder = IndexBuilder::new();
        let mut expiring = Vec::new();
        let latest = replay_segments(&in_order, position, n_threads, &mut builder, &mut expiring)
            .expect("replayed");
        (builder.build(), expiring, latest)
    }

    fn entries(snapshot: &IndexSnapshot) -> Vec<(Vec<u8>, Entry)> {
        snapshot
            .iter()
            .map(|(key, entry)| (key.to_vec(), entry))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Replays on several threads give what one thread gives, and the
        /// model's live keys, for any split into sealed and unsealed
        /// segments and any snapshot position at a segment's start.
        #[test]
        fn parallel_replay_equals_sequential(
            history in prop::collection::vec(
                (0u8..12, prop::option::weighted(0.75, prop::option::weighted(0.3, 1u64..1_000))),
                1..120,
            ),
            per_segment in 1usize..30,
            unsealed in 0usize..3,
            n_threads in 2usize..6,
        ) {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let segments = segments_of(dir.path(), &history, per_segment, unsealed);
            let position = LogPosition::default();
            let (one, one_expiring, one_latest) = replayed(&segments, position, 1);
            let (many, many_expiring, many_latest) = replayed(&segments, position, n_threads);
            prop_assert_eq!(entries(&one), entries(&many));
            prop_assert_eq!(one_expiring, many_expiring);
            prop_assert_eq!(one_latest, many_latest);
            prop_assert_eq!(many_latest, history.len() as u64);
            let built: BTreeMap<Vec<u8>, (u64, bool)> = entries(&many)
                .into_iter()
                .map(|(key, entry)| (key, (entry.version, entry.expiring)))
                .collect();
            prop_assert_eq!(built, model(&history));
        }
    }

    #[test]
    fn replay_after_a_position_skips_what_it_covers() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let history: Vec<Write> = (0..40).map(|n| (n % 7, Some(None))).collect();
        let segments = segments_of(dir.path(), &history, 10, 1);
        let position = LogPosition {
            segment_id: 3,
            offset: 0,
        };
        let (one, _, one_latest) = replayed(&segments, position, 1);
        let (many, _, many_latest) = replayed(&segments, position, 3);
        assert_eq!(entries(&one), entries(&many));
        assert_eq!((one_latest, many_latest), (40, 40));
        // Only the writes of segments 3 and 4 (versions 21 to 40).
        assert!(entries(&many).iter().all(|(_, entry)| entry.version > 20));
    }
}
