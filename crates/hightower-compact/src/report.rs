//! What a pass did ([`CompactionReport`]) and which index entries must move
//! ([`Relocations`]).

use std::time::Duration;

use hightower_log::Location;

/// What one compaction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Data bytes read from the input segments.
    pub bytes_read: u64,
    /// Bytes of the output segment files (records, footers, trailers).
    pub bytes_written: u64,
    /// File bytes of the inputs minus file bytes of the outputs.
    pub bytes_reclaimed: u64,
    /// Records left behind: dead puts and tombstones no longer needed.
    pub records_dropped: u64,
    /// The tombstones among `records_dropped`.
    pub tombstones_dropped: u64,
    /// Records copied into the outputs (live puts and kept tombstones).
    pub records_kept: u64,
    /// Tombstones among `records_kept`: within their grace, or still
    /// hiding an older put in a segment outside the pass.
    pub tombstones_kept: u64,
    /// Live puts whose expiry time had come: each was dropped as a
    /// tombstone of its version would be (kept as one where an older put
    /// of its key lies outside the pass), and its index entry removed.
    pub expired_dropped: u64,
    /// Input segments.
    pub segments_in: usize,
    /// Output segments.
    pub segments_out: usize,
    /// Ids of the input segments, ascending.
    pub input_segment_ids: Vec<u32>,
    /// Ids of the output segments, ascending.
    pub output_segment_ids: Vec<u32>,
    /// Wall time of the pass.
    pub elapsed: Duration,
}

impl CompactionReport {
    /// Whether the pass took no input (the policy found nothing to do).
    pub fn is_empty(&self) -> bool {
        self.segments_in == 0
    }
}

/// One index entry to move: `key` was copied from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocation<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Where the live record was.
    pub from: Location,
    /// Where its copy is.
    pub to: Location,
}

/// The index entries a pass moves, keys packed into one buffer (about 32
/// bytes per entry plus the key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relocations {
    keys: Vec<u8>,
    moves: Vec<Move>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Move {
    key_end: usize,
    from: Location,
    to: Location,
}

impl Relocations {
    /// Adds one move.
    pub fn push(&mut self, key: &[u8], from: Location, to: Location) {
        self.keys.extend_from_slice(key);
        self.moves.push(Move {
            key_end: self.keys.len(),
            from,
            to,
        });
    }

    /// Number of moves.
    pub fn len(&self) -> usize {
        self.moves.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
    }

    /// The moves in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Relocation<'_>> + '_ {
        self.moves.iter().enumerate().map(|(i, m)| {
            let start = i
                .checked_sub(1)
                .map_or(0, |before| self.moves[before].key_end);
            Relocation {
                key: &self.keys[start..m.key_end],
                from: m.from,
                to: m.to,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(segment_id: u32, offset: u32) -> Location {
        Location {
            segment_id,
            offset,
            len: 40,
        }
    }

    #[test]
    fn relocations_keep_keys_apart_and_in_order() {
        let mut moves = Relocations::default();
        assert!(moves.is_empty());
        moves.push(b"alpha", at(1, 32), at(9, 32));
        moves.push(b"b", at(2, 64), at(9, 72));
        moves.push(b"", at(3, 32), at(9, 100));
        let seen: Vec<_> = moves
            .iter()
            .map(|m| (m.key.to_vec(), m.from, m.to))
            .collect();
        assert_eq!(
            seen,
            vec![
                (b"alpha".to_vec(), at(1, 32), at(9, 32)),
                (b"b".to_vec(), at(2, 64), at(9, 72)),
                (Vec::new(), at(3, 32), at(9, 100)),
            ]
        );
        assert_eq!(moves.len(), 3);
    }
}
