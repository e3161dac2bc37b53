//! Backups: every live key of a store with its value, version and expiry
//! time, in a format of their own that outlives the store's segments
//! (docs/FORMAT.md, "Backups", gives every byte).
//!
//! A backup directory holds two files:
//!
//! - [`DATA_FILE_NAME`]: a header, then chunks of records in key order,
//!   each chunk with an xxh3-64 checksum. [`BackupWriter`] writes it from
//!   one point-in-time view; [`BackupReader`] reads it back, checking
//!   every checksum and every field.
//! - [`MANIFEST_FILE_NAME`]: magic, format version, the view's version,
//!   the key, chunk and byte counts and the checksum of the whole data
//!   file ([`Manifest`]). Written last, so that a backup cut short has
//!   no manifest, and a manifest always describes a whole data file.
//!
//! The bytes of a backup are outside input when read back: the reader
//! checks every length against what remains before it allocates, and
//! refuses anything the format does not allow, without panicking.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::types::KeyValue;

/// The data file of a backup directory.
pub const DATA_FILE_NAME: &str = "backup.data";
/// The manifest of a backup directory; a backup without one is not whole.
pub const MANIFEST_FILE_NAME: &str = "backup.manifest";
/// The manifest being written; never read.
pub const MANIFEST_TMP_FILE_NAME: &str = "backup.manifest.tmp";

/// First bytes of the data file.
const DATA_MAGIC: [u8; 8] = *b"HTKVBKD\0";
/// First bytes of the manifest.
const MANIFEST_MAGIC: [u8; 8] = *b"HTKVBKM\0";
/// The one format version written and read, of both files.
pub const FORMAT_VERSION: u32 = 1;

/// Magic, format version, reserved.
const DATA_HEADER_BYTES: usize = 16;
/// Payload length, record count, checksum.
const CHUNK_HEADER_BYTES: usize = 16;
/// Key length, value length, version, flags, expiry time.
const RECORD_HEADER_BYTES: usize = 25;
/// Every field of [`Manifest`] and its checksum.
pub const MANIFEST_BYTES: usize = 72;
const _: () = assert!(DATA_HEADER_BYTES == 8 + 4 + 4);
const _: () = assert!(CHUNK_HEADER_BYTES == 4 + 4 + 8);
const _: () = assert!(RECORD_HEADER_BYTES == 4 + 4 + 8 + 1 + 8);
const _: () = assert!(MANIFEST_BYTES == 8 + 4 + 4 + 6 * 8 + 8);

/// A chunk is closed once its payload reaches this size (a single larger
/// record makes a chunk of its own): what the writer and the reader hold
/// in memory besides one record.
pub const CHUNK_PAYLOAD_BYTES_TARGET: usize = 1 << 20;
/// Record flag: the key expires at the record's expiry time.
const FLAG_EXPIRES: u8 = 1;

/// What a backup's manifest records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest {
    /// The version of the view the backup was taken from; every record's
    /// version is at most this.
    pub latest_version: u64,
    /// The moment the view judged expiry at, in milliseconds since the
    /// Unix epoch: keys expired by then are not in the backup.
    pub taken_at_ms: u64,
    /// Records in the data file.
    pub n_keys: u64,
    /// Chunks in the data file.
    pub n_chunks: u64,
    /// Length of the data file.
    pub data_bytes: u64,
    /// xxh3-64 of the whole data file.
    pub data_checksum: u64,
}

impl Manifest {
    pub fn encode(&self) -> [u8; MANIFEST_BYTES] {
        let mut bytes = [0u8; MANIFEST_BYTES];
        bytes[0..8].copy_from_slice(&MANIFEST_MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Bytes 12..16 are reserved, zero.
        let fields = [
            self.latest_version,
            self.taken_at_ms,
            self.n_keys,
            self.n_chunks,
            self.data_bytes,
            self.data_checksum,
        ];
        for (i, field) in fields.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&field.to_le_bytes());
        }
        let checksum = xxh3_64(&bytes[..MANIFEST_BYTES - 8]);
        bytes[MANIFEST_BYTES - 8..].copy_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// Decodes and checks a manifest; an error gives the offset of the
    /// first field found wrong.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, (u64, String)> {
        if bytes.len() != MANIFEST_BYTES {
            let reason = format!("{} bytes, a manifest has {MANIFEST_BYTES}", bytes.len());
            return Err((0, reason));
        }
        if bytes[0..8] != MANIFEST_MAGIC {
            return Err((0, "not a backup manifest (wrong magic)".to_string()));
        }
        let stored = le_u64(bytes, MANIFEST_BYTES - 8);
        let computed = xxh3_64(&bytes[..MANIFEST_BYTES - 8]);
        if stored != computed {
            let reason =
                format!("checksum mismatch (stored {stored:#018x}, computed {computed:#018x})");
            return Err(((MANIFEST_BYTES - 8) as u64, reason));
        }
        let version = le_u32(bytes, 8);
        if version != FORMAT_VERSION {
            let reason = format!("format version {version}, this build reads {FORMAT_VERSION}");
            return Err((8, reason));
        }
        if le_u32(bytes, 12) != 0 {
            return Err((12, "reserved field is not zero".to_string()));
        }
        let manifest = Manifest {
            latest_version: le_u64(bytes, 16),
            taken_at_ms: le_u64(bytes, 24),
            n_keys: le_u64(bytes, 32),
            n_chunks: le_u64(bytes, 40),
            data_bytes: le_u64(bytes, 48),
            data_checksum: le_u64(bytes, 56),
        };
        if manifest.n_chunks > manifest.n_keys || (manifest.n_keys > 0) != (manifest.n_chunks > 0) {
            let reason = format!(
                "{} chunks cannot hold {} keys",
                manifest.n_chunks, manifest.n_keys
            );
            return Err((40, reason));
        }
        Ok(manifest)
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// A backup file that cannot be used, and where.
#[derive(Debug)]
pub enum BackupError {
    /// The bytes at `offset` are not what the format allows.
    Damaged {
        /// The file.
        file: PathBuf,
        /// Byte offset in the file of the chunk, record or field found wrong.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Reading the file failed.
    Io {
        /// The file.
        file: PathBuf,
        /// Byte offset in the file the read started at.
        offset: u64,
        /// The failure.
        source: io::Error,
    },
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupError::Damaged {
                file,
                offset,
                reason,
            } => write!(
                f,
                "backup file {} is damaged at offset {offset}: {reason}",
                file.display()
            ),
            BackupError::Io {
                file,
                offset,
                source,
            } => write!(
                f,
                "cannot read backup file {} at offset {offset}: {source}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Damaged { .. } => None,
            BackupError::Io { source, .. } => Some(source),
        }
    }
}

/// A writer that counts and hashes every byte it passes on.
struct HashingWriter<W> {
    inner: W,
    hasher: Xxh3,
    written_bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a data file: records go into a chunk buffer, and a full chunk
/// goes out with its header and checksum.
pub struct BackupWriter<W> {
    output: HashingWriter<W>,
    latest_version: u64,
    /// The payload of the chunk being filled.
    chunk: Vec<u8>,
    chunk_records: u32,
    n_chunks: u64,
    n_keys: u64,
    /// The last key written: keys must come in strictly ascending order.
    previous_key: Vec<u8>,
}

impl<W> std::fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupWriter")
            .field("latest_version", &self.latest_version)
            .field("n_chunks", &self.n_chunks)
            .field("n_keys", &self.n_keys)
            .finish_non_exhaustive()
    }
}

impl<W: Write> BackupWriter<W> {
    /// Writes the header; every record pushed must be at or below
    /// `latest_version`.
    pub fn new(output: W, latest_version: u64) -> io::Result<Self> {
        let mut output = HashingWriter {
            inner: output,
            hasher: Xxh3::new(),
            written_bytes: 0,
        };
        let mut header = [0u8; DATA_HEADER_BYTES];
        header[0..8].copy_from_slice(&DATA_MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        output.write_all(&header)?;
        Ok(BackupWriter {
            output,
            latest_version,
            chunk: Vec::with_capacity(CHUNK_PAYLOAD_BYTES_TARGET),
            chunk_records: 0,
            n_chunks: 0,
            n_keys: 0,
            previous_key: Vec::new(),
        })
    }

    /// Appends one record, writing out the chunk once it is full.
    pub fn push(&mut self, kv: &KeyValue) -> io::Result<()> {
        // What the view guarantees, checked before it reaches the disk.
        assert!(!kv.key.is_empty(), "a stored key is never empty");
        assert!(
            (1..=self.latest_version).contains(&kv.version),
            "a view holds versions 1..={} only, got {}",
            self.latest_version,
            kv.version
        );
        assert!(
            self.n_keys == 0 || kv.key > self.previous_key,
            "a view yields keys in ascending order"
        );
        let record_bytes = RECORD_HEADER_BYTES + kv.key.len() + kv.value.len();
        let too_long = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a record of {record_bytes} bytes does not fit a backup chunk"),
            )
        };
        if u32::try_from(record_bytes).is_err() {
            return Err(too_long());
        }
        let key_len = u32::try_from(kv.key.len()).expect("shorter than the record");
        let value_len = u32::try_from(kv.value.len()).expect("shorter than the record");
        if u32::try_from(self.chunk.len() + record_bytes).is_err() {
            // The chunk holds records (an empty one plus this record
            // would fit), so it can go out first.
            self.write_chunk()?;
        }
        self.chunk.extend_from_slice(&key_len.to_le_bytes());
        self.chunk.extend_from_slice(&value_len.to_le_bytes());
        self.chunk.extend_from_slice(&kv.version.to_le_bytes());
        let (flags, expires_at_ms) = match kv.expires_at_ms {
            Some(at) => (FLAG_EXPIRES, at),
            None => (0, 0),
        };
        self.chunk.push(flags);
        self.chunk.extend_from_slice(&expires_at_ms.to_le_bytes());
        self.chunk.extend_from_slice(&kv.key);
        self.chunk.extend_from_slice(&kv.value);
        self.chunk_records += 1;
        self.n_keys += 1;
        self.previous_key.clone_from(&kv.key);
        if self.chunk.len() >= CHUNK_PAYLOAD_BYTES_TARGET {
            self.write_chunk()?;
        }
        Ok(())
    }

    fn write_chunk(&mut self) -> io::Result<()> {
        assert!(self.chunk_records > 0, "a chunk holds at least one record");
        let payload_len = u32::try_from(self.chunk.len()).expect("push keeps a chunk below 4 GiB");
        let mut header = [0u8; CHUNK_HEADER_BYTES];
        header[0..4].copy_from_slice(&payload_len.to_le_bytes());
        header[4..8].copy_from_slice(&self.chunk_records.to_le_bytes());
        let checksum = chunk_checksum(&header[..8], &self.chunk);
        header[8..16].copy_from_slice(&checksum.to_le_bytes());
        self.output.write_all(&header)?;
        self.output.write_all(&self.chunk)?;
        self.chunk.clear();
        self.chunk_records = 0;
        self.n_chunks += 1;
        Ok(())
    }

    /// Writes the last chunk and returns the output with the manifest
    /// that describes what was written.
    pub fn finish(mut self, taken_at_ms: u64) -> io::Result<(W, Manifest)> {
        if self.chunk_records > 0 {
            self.write_chunk()?;
        }
        let manifest = Manifest {
            latest_version: self.latest_version,
            taken_at_ms,
            n_keys: self.n_keys,
            n_chunks: self.n_chunks,
            data_bytes: self.output.written_bytes,
            data_checksum: self.output.hasher.digest(),
        };
        Ok((self.output.inner, manifest))
    }
}

/// The checksum of a chunk: xxh3-64 over the first eight header bytes
/// (payload length and record count) and the payload.
fn chunk_checksum(header_counts: &[u8], payload: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(header_counts);
    hasher.update(payload);
    hasher.digest()
}

/// Reads a data file back against its manifest, checking every chunk's
/// checksum as it arrives, every record's fields, the key order, the
/// counts and the checksum of the whole file at its end.
pub struct BackupReader<R> {
    input: R,
    file: PathBuf,
    manifest: Manifest,
    /// Bytes read so far, the offset of the next read.
    offset: u64,
    hasher: Xxh3,
    /// The payload of the current chunk.
    chunk: Vec<u8>,
    /// File offset of the current chunk's payload.
    chunk_offset: u64,
    /// Position of the next record in the payload.
    chunk_position: usize,
    chunk_records_left: u32,
    n_chunks: u64,
    n_keys: u64,
    previous_key: Vec<u8>,
    /// Keys under this prefix are refused (see
    /// [`BackupReader::refusing_prefix`]).
    reserved_prefix: Option<Vec<u8>>,
    finished: bool,
}

impl<R> std::fmt::Debug for BackupReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupReader")
            .field("file", &self.file)
            .field("offset", &self.offset)
            .field("n_keys", &self.n_keys)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BackupReader<R> {
    /// The same reader, refusing as damage any key under `prefix` (keys a
    /// backup never holds, such as a Raft node's own metadata, which a
    /// crafted backup must not plant).
    pub fn refusing_prefix(mut self, prefix: &[u8]) -> Self {
        self.reserved_prefix = Some(prefix.to_vec());
        self
    }

    /// Reads and checks the header of the data file `file`.
    pub fn new(input: R, file: &Path, manifest: Manifest) -> Result<Self, BackupError> {
        let mut reader = BackupReader {
            input,
            file: file.to_path_buf(),
            manifest,
            offset: 0,
            hasher: Xxh3::new(),
            chunk: Vec::new(),
            chunk_offset: 0,
            chunk_position: 0,
            chunk_records_left: 0,
            n_chunks: 0,
            n_keys: 0,
            previous_key: Vec::new(),
            reserved_prefix: None,
            finished: false,
        };
        let mut header = [0u8; DATA_HEADER_BYTES];
        reader.read_exact(&mut header, "file header")?;
        if header[0..8] != DATA_MAGIC {
            return Err(reader.damaged(0, "not a backup data file (wrong magic)"));
        }
        let version = le_u32(&header, 8);
        if version != FORMAT_VERSION {
            let reason = format!("format version {version}, this build reads {FORMAT_VERSION}");
            return Err(reader.damaged(8, reason));
        }
        if le_u32(&header, 12) != 0 {
            return Err(reader.damaged(12, "reserved field is not zero"));
        }
        Ok(reader)
    }

    fn damaged(&self, offset: u64, reason: impl Into<String>) -> BackupError {
        BackupError::Damaged {
            file: self.file.clone(),
            offset,
            reason: reason.into(),
        }
    }

    /// Fills `buf` from the file, hashing what it reads.
    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), BackupError> {
        let start = self.offset;
        let wanted = buf.len() as u64;
        if start + wanted > self.manifest.data_bytes {
            let reason = format!(
                "{what} of {wanted} bytes runs past the {} bytes the manifest gives",
                self.manifest.data_bytes
            );
            return Err(self.damaged(start, reason));
        }
        match self.input.read_exact(buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(self.damaged(start, format!("file ends inside the {what}")));
            }
            Err(source) => {
                return Err(BackupError::Io {
                    file: self.file.clone(),
                    offset: start,
                    source,
                });
            }
        }
        self.hasher.update(buf);
        self.offset += wanted;
        Ok(())
    }

    /// Reads a chunk's payload into the chunk buffer. The buffer grows
    /// only as bytes arrive, so a length field that lies costs no memory
    /// the file does not back.
    fn read_payload(&mut self, payload_len: u32) -> Result<(), BackupError> {
        let start = self.offset;
        let wanted = u64::from(payload_len);
        if start + wanted > self.manifest.data_bytes {
            let reason = format!(
                "chunk payload of {wanted} bytes runs past the {} bytes the manifest gives",
                self.manifest.data_bytes
            );
            return Err(self.damaged(start, reason));
        }
        self.chunk.clear();
        let read = (&mut self.input).take(wanted).read_to_end(&mut self.chunk);
        match read {
            Ok(n) if n as u64 == wanted => {}
            Ok(_) => return Err(self.damaged(start, "file ends inside the chunk payload")),
            Err(source) => {
                return Err(BackupError::Io {
                    file: self.file.clone(),
                    offset: start,
                    source,
                });
            }
        }
        self.hasher.update(&self.chunk);
        self.offset += wanted;
        Ok(())
    }

    /// The next record, `None` after the last one once the whole file
    /// has checked out against the manifest.
    pub fn next_record(&mut self) -> Result<Option<KeyValue>, BackupError> {
        if self.finished {
            return Ok(None);
        }
        if self.chunk_records_left == 0 {
            if self.offset == self.manifest.data_bytes {
                self.finish()?;
                return Ok(None);
            }
            self.read_chunk()?;
        }
        let kv = self.decode_record()?;
        self.chunk_records_left -= 1;
        if self.chunk_records_left == 0 && self.chunk_position != self.chunk.len() {
            let offset = self.chunk_offset + self.chunk_position as u64;
            return Err(self.damaged(offset, "bytes after the chunk's last record"));
        }
        Ok(Some(kv))
    }

    fn read_chunk(&mut self) -> Result<(), BackupError> {
        let chunk_start = self.offset;
        let mut header = [0u8; CHUNK_HEADER_BYTES];
        self.read_exact(&mut header, "chunk header")?;
        let payload_len = le_u32(&header, 0);
        let n_records = le_u32(&header, 4);
        let stored = le_u64(&header, 8);
        if n_records == 0 || n_records as usize > payload_len as usize / RECORD_HEADER_BYTES {
            let reason = format!("a chunk of {payload_len} bytes cannot hold {n_records} records");
            return Err(self.damaged(chunk_start, reason));
        }
        self.read_payload(payload_len)?;
        let computed = chunk_checksum(&header[..8], &self.chunk);
        if stored != computed {
            let reason = format!(
                "chunk checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"
            );
            return Err(self.damaged(chunk_start, reason));
        }
        self.n_chunks += 1;
        self.chunk_offset = chunk_start + CHUNK_HEADER_BYTES as u64;
        self.chunk_position = 0;
        self.chunk_records_left = n_records;
        Ok(())
    }

    fn decode_record(&mut self) -> Result<KeyValue, BackupError> {
        let start = self.chunk_position;
        let offset = self.chunk_offset + start as u64;
        let rest = &self.chunk[start..];
        if rest.len() < RECORD_HEADER_BYTES {
            return Err(self.damaged(offset, "record header runs past its chunk"));
        }
        let key_len = le_u32(rest, 0) as usize;
        let value_len = le_u32(rest, 4) as usize;
        let version = le_u64(rest, 8);
        let flags = rest[16];
        let expires_at_ms = le_u64(rest, 17);
        let body = &rest[RECORD_HEADER_BYTES..];
        if key_len > body.len() || value_len > body.len() - key_len {
            let reason =
                format!("key of {key_len} and value of {value_len} bytes run past their chunk");
            return Err(self.damaged(offset, reason));
        }
        let key = &body[..key_len];
        let reason = if key.is_empty() {
            Some("empty key".to_string())
        } else if !(1..=self.manifest.latest_version).contains(&version) {
            Some(format!(
                "version {version} outside 1..={}",
                self.manifest.latest_version
            ))
        } else if flags > FLAG_EXPIRES || (flags == 0 && expires_at_ms != 0) {
            Some(format!(
                "flags {flags:#04x} with expiry time {expires_at_ms}"
            ))
        } else if self.n_keys > 0 && key <= self.previous_key.as_slice() {
            Some("key not above the one before it".to_string())
        } else if self
            .reserved_prefix
            .as_deref()
            .is_some_and(|prefix| key.starts_with(prefix))
        {
            Some("key under a reserved prefix".to_string())
        } else if self.n_keys == self.manifest.n_keys {
            Some(format!(
                "more than the {} keys the manifest gives",
                self.manifest.n_keys
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(self.damaged(offset, reason));
        }
        let kv = KeyValue {
            key: key.to_vec(),
            value: body[key_len..key_len + value_len].to_vec(),
            version,
            expires_at_ms: (flags == FLAG_EXPIRES).then_some(expires_at_ms),
        };
        self.chunk_position = start + RECORD_HEADER_BYTES + key_len + value_len;
        self.n_keys += 1;
        self.previous_key.clone_from(&kv.key);
        Ok(kv)
    }

    /// At the manifest's length: the counts and the whole file's checksum
    /// must match, and nothing may follow.
    fn finish(&mut self) -> Result<(), BackupError> {
        let end = self.offset;
        let manifest = self.manifest;
        if self.n_keys != manifest.n_keys || self.n_chunks != manifest.n_chunks {
            let reason = format!(
                "{} keys in {} chunks, the manifest gives {} in {}",
                self.n_keys, self.n_chunks, manifest.n_keys, manifest.n_chunks
            );
            return Err(self.damaged(end, reason));
        }
        let computed = self.hasher.digest();
        if computed != manifest.data_checksum {
            let reason = format!(
                "file checksum mismatch (manifest {:#018x}, computed {computed:#018x})",
                manifest.data_checksum
            );
            return Err(self.damaged(0, reason));
        }
        let mut extra = [0u8; 1];
        match self.input.read(&mut extra) {
            Ok(0) => {}
            Ok(_) => return Err(self.damaged(end, "bytes after the length the manifest gives")),
            Err(source) => {
                return Err(BackupError::Io {
                    file: self.file.clone(),
                    offset: end,
                    source,
                });
            }
        }
        self.finished = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kv(key: &[u8], value: &[u8], version: u64, expires_at_ms: Option<u64>) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            version,
            expires_at_ms,
        }
    }

    fn encode(records: &[KeyValue], latest_version: u64) -> (Vec<u8>, Manifest) {
        let mut writer = BackupWriter::new(Vec::new(), latest_version).expect("in memory");
        for record in records {
            writer.push(record).expect("in memory");
        }
        writer.finish(1_700_000_000_000).expect("in memory")
    }

    fn decode(bytes: &[u8], manifest: Manifest) -> Result<Vec<KeyValue>, BackupError> {
        let mut reader = BackupReader::new(bytes, Path::new("backup.data"), manifest)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    /// The offset of a damage report; panics on anything else.
    fn damaged_at(outcome: Result<Vec<KeyValue>, BackupError>) -> u64 {
        match outcome {
            Err(BackupError::Damaged { offset, .. }) => offset,
            other => panic!("a damage report expected, got {other:?}"),
        }
    }

    fn sample() -> Vec<KeyValue> {
        vec![
            kv(b"a", b"1", 3, None),
            kv(b"b", b"", 1, Some(42)),
            kv(b"c\xff", &[7; 300], 5, Some(u64::MAX)),
        ]
    }

    #[test]
    fn records_round_trip_with_versions_and_expiry() {
        let records = sample();
        let (bytes, manifest) = encode(&records, 5);
        assert_eq!(manifest.n_keys, 3);
        assert_eq!(manifest.n_chunks, 1);
        assert_eq!(manifest.data_bytes, bytes.len() as u64);
        assert_eq!(manifest.latest_version, 5);
        assert_eq!(decode(&bytes, manifest).expect("intact"), records);
    }

    #[test]
    fn an_empty_backup_has_a_header_and_no_chunk() {
        let (bytes, manifest) = encode(&[], 0);
        assert_eq!(bytes.len(), DATA_HEADER_BYTES);
        assert_eq!(manifest.n_chunks, 0);
        assert!(decode(&bytes, manifest).expect("intact").is_empty());
    }

    #[test]
    fn large_stores_span_several_chunks() {
        let value = vec![b'v'; 100_000];
        let records: Vec<_> = (0..40u32)
            .map(|i| {
                kv(
                    format!("key:{i:03}").as_bytes(),
                    &value,
                    u64::from(i) + 1,
                    None,
                )
            })
            .collect();
        let (bytes, manifest) = encode(&records, 40);
        assert!(manifest.n_chunks >= 3, "{manifest:?}");
        assert_eq!(decode(&bytes, manifest).expect("intact"), records);
    }

    #[test]
    fn a_flipped_payload_byte_names_its_chunk() {
        let (mut bytes, manifest) = encode(&sample(), 5);
        bytes[DATA_HEADER_BYTES + CHUNK_HEADER_BYTES + 2] ^= 0x01;
        assert_eq!(
            damaged_at(decode(&bytes, manifest)),
            DATA_HEADER_BYTES as u64
        );
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let (bytes, manifest) = encode(&sample(), 5);
        for len in [
            0,
            5,
            DATA_HEADER_BYTES,
            DATA_HEADER_BYTES + 20,
            bytes.len() - 1,
        ] {
            let outcome = decode(&bytes[..len], manifest);
            assert!(
                matches!(outcome, Err(BackupError::Damaged { .. })),
                "{len}: {outcome:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let (mut bytes, manifest) = encode(&sample(), 5);
        bytes.push(0);
        assert_eq!(damaged_at(decode(&bytes, manifest)), manifest.data_bytes);
    }

    #[test]
    fn a_manifest_of_another_backup_is_refused() {
        let (bytes, _) = encode(&sample(), 5);
        let mut other = sample();
        other[0].value = b"2".to_vec();
        let (_, manifest) = encode(&other, 5);
        assert_eq!(damaged_at(decode(&bytes, manifest)), 0);
    }

    #[test]
    fn a_version_above_the_manifest_is_refused() {
        let (bytes, mut manifest) = encode(&sample(), 5);
        manifest.latest_version = 4;
        let offset = damaged_at(decode(&bytes, manifest));
        assert!(offset > DATA_HEADER_BYTES as u64, "{offset}");
    }

    #[test]
    fn keys_out_of_order_are_refused_even_with_good_checksums() {
        let mut writer = BackupWriter::new(Vec::new(), 9).expect("in memory");
        writer.push(&kv(b"b", b"", 1, None)).expect("in memory");
        // The writer asserts the order; forge a second chunk behind it.
        writer.write_chunk().expect("in memory");
        writer.previous_key.clear();
        writer.n_keys = 0;
        writer.push(&kv(b"a", b"", 2, None)).expect("in memory");
        writer.n_keys = 2;
        let (bytes, manifest) = writer.finish(0).expect("in memory");
        let offset = damaged_at(decode(&bytes, manifest));
        assert!(offset > (DATA_HEADER_BYTES + CHUNK_HEADER_BYTES) as u64);
    }

    #[test]
    fn manifest_round_trips_and_checks_every_field() {
        let (_, manifest) = encode(&sample(), 5);
        let bytes = manifest.encode();
        assert_eq!(Manifest::decode(&bytes), Ok(manifest));
        for at in 0..MANIFEST_BYTES {
            let mut flipped = bytes;
            flipped[at] ^= 0x10;
            assert!(Manifest::decode(&flipped).is_err(), "byte {at}");
        }
        assert!(Manifest::decode(&bytes[..MANIFEST_BYTES - 1]).is_err());
    }

    #[test]
    fn a_future_format_version_is_named() {
        let (_, manifest) = encode(&[], 0);
        let mut bytes = manifest.encode();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let checksum = xxh3_64(&bytes[..MANIFEST_BYTES - 8]);
        bytes[MANIFEST_BYTES - 8..].copy_from_slice(&checksum.to_le_bytes());
        let (offset, reason) = Manifest::decode(&bytes).expect_err("version 2");
        assert_eq!(offset, 8);
        assert!(reason.contains("format version 2"), "{reason}");
    }

    fn records_strategy() -> impl Strategy<Value = Vec<KeyValue>> {
        let entry = (
            proptest::collection::vec(any::<u8>(), 0..64),
            1..1000u64,
            proptest::option::of(any::<u64>()),
        );
        proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 1..16), entry, 0..50)
            .prop_map(|map| {
                map.into_iter()
                    .map(|(key, (value, version, expires_at_ms))| KeyValue {
                        key,
                        value,
                        version,
                        expires_at_ms,
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn any_records_round_trip(records in records_strategy()) {
            let (bytes, manifest) = encode(&records, 1000);
            prop_assert_eq!(decode(&bytes, manifest).expect("intact"), records);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoders(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            data_bytes in any::<u64>(),
            n_keys in 0..8u64,
            n_chunks in 0..8u64,
            latest_version in any::<u64>(),
        ) {
            let _ = Manifest::decode(&bytes);
            let manifest = Manifest {
                latest_version,
                taken_at_ms: 0,
                n_keys,
                n_chunks,
                data_bytes,
                data_checksum: 0,
            };
            let _ = decode(&bytes, manifest);
        }

        #[test]
        fn damage_anywhere_is_found(records in records_strategy(), at in any::<usize>(), bit in 0..8u8) {
            let (mut bytes, manifest) = encode(&records, 1000);
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            prop_assert!(decode(&bytes, manifest).is_err());
        }
    }
}
