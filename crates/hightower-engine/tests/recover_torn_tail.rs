//! Recovery from damaged segment files. A torn tail of the newest segment
//! (its last record or batch cut short, or garbage after it) is cut back to
//! the last whole record at reopen and reported in `truncated_bytes`; every
//! earlier record survives and a torn batch leaves none of its writes. A
//! damaged byte with whole records after it is corruption, never skipped:
//! the error names the file and the offset of the bad record.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use common::{Contents, dump, newest_segment, segment_files, show, small_config};
use hightower_engine::{
    AdminEngine, Command, Durability, EngineError, KvEngine, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::record::RECORD_HEADER_BYTES;
use hightower_log::{LogError, Mutation, SEGMENT_HEADER_BYTES};

/// Records written; with 8 KiB segments they span several.
const RECORDS: u32 = 200;

fn open(dir: &Path) -> Result<SingleNodeEngine, EngineError> {
    SingleNodeEngine::with_config(small_config(dir, Durability::Sync, 0))
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:04}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    let len = 10 + (i as usize * 37) % 300;
    (0..len).map(|b| (b as u32 + i) as u8).collect()
}

/// Writes `RECORDS` distinct keys and closes the engine. Returns what it
/// holds and each segment's data length (without its footer).
fn write_records(dir: &Path) -> anyhow::Result<(Contents, BTreeMap<u32, u64>)> {
    let engine = open(dir)?;
    let mut contents = Contents::new();
    for i in 0..RECORDS {
        let version = engine.put(&key(i), &value(i))?;
        contents.insert(key(i), (value(i), version));
    }
    engine.checkpoint()?; // Waits for background seals.
    let segments = engine.segments();
    let data_lens = segments.iter().map(|s| (s.id, s.data_bytes)).collect();
    ensure!(
        segments.len() >= 3,
        "the records did not span several segments"
    );
    drop(engine);
    // The checkpoint would let recovery skip the damaged records.
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "snap") {
            std::fs::remove_file(path)?;
        }
    }
    Ok((contents, data_lens))
}

fn cut_tail(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    let len = file.metadata()?.len();
    file.set_len(len - bytes)?;
    Ok(())
}

fn flip_byte(path: &Path, offset: u64) -> anyhow::Result<()> {
    let mut bytes = std::fs::read(path)?;
    let at = usize::try_from(offset)?;
    ensure!(
        at < bytes.len(),
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes)?;
    Ok(())
}

fn check_contents(engine: &SingleNodeEngine, expected: &Contents) -> anyhow::Result<()> {
    let got = dump(engine)?;
    for (key, value) in expected {
        ensure!(got.get(key) == Some(value), "{} did not survive", show(key));
    }
    ensure!(
        got.len() == expected.len(),
        "{} keys recovered, {} expected",
        got.len(),
        expected.len()
    );
    Ok(())
}

/// New writes work after recovery and survive one more reopen.
fn check_writable(
    dir: &Path,
    engine: SingleNodeEngine,
    mut expected: Contents,
) -> anyhow::Result<()> {
    let latest = engine.latest_version();
    let version = engine.put(b"after-recovery", b"yes")?;
    ensure!(
        version > latest,
        "version {version} after recovery is not above {latest}"
    );
    expected.insert(b"after-recovery".to_vec(), (b"yes".to_vec(), version));
    drop(engine);
    let engine = open(dir)?;
    ensure!(
        engine.recovery_info().truncated_bytes == 0,
        "a clean reopen cut {:?}",
        engine.recovery_info()
    );
    check_contents(&engine, &expected)
}

#[test]
fn a_torn_last_record_is_cut() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut expected, _) = write_records(dir.path())?;
    let last = key(RECORDS - 1);
    let record_len_bytes = Mutation::Put {
        key: &last,
        value: &value(RECORDS - 1),
    }
    .encoded_len() as u64;
    let cut_bytes = record_len_bytes / 2;
    cut_tail(&newest_segment(dir.path())?, cut_bytes)?;
    expected.remove(&last);

    let engine = open(dir.path())?;
    let truncated = engine.recovery_info().truncated_bytes;
    ensure!(
        truncated == record_len_bytes - cut_bytes,
        "cut {truncated} bytes of a {record_len_bytes}-byte record"
    );
    check_contents(&engine, &expected)?;
    check_writable(dir.path(), engine, expected)
}

#[test]
fn garbage_after_the_last_record_is_cut() -> anyhow::Result<()> {
    // Zeros (space a file system allocated but never wrote) and noise that
    // starts like a record header.
    let noise: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut header_like = vec![0u8; 40];
    header_like[8] = 1;
    for garbage in [vec![0u8; 200], noise, header_like] {
        let dir = tempfile::tempdir()?;
        let (expected, _) = write_records(dir.path())?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(newest_segment(dir.path())?)?;
        file.write_all(&garbage)?;
        drop(file);

        let engine = open(dir.path())?;
        let truncated = engine.recovery_info().truncated_bytes;
        ensure!(
            truncated == garbage.len() as u64,
            "cut {truncated} bytes of {} bytes of garbage",
            garbage.len()
        );
        check_contents(&engine, &expected)?;
        check_writable(dir.path(), engine, expected)?;
    }
    Ok(())
}

#[test]
fn a_torn_batch_leaves_none_of_its_writes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (expected, _) = write_records(dir.path())?;
    let batch_keys: Vec<Vec<u8>> = (0..4).map(key).collect();
    let new_value = vec![0xEE; 100];
    let frame_len_bytes = {
        let engine = open(dir.path())?;
        let batch: Vec<Command> = batch_keys
            .iter()
            .map(|k| Command::put(k.clone(), new_value.clone()))
            .collect();
        engine.submit_batch(batch)?;
        let mutations = batch_keys.iter().map(|k| {
            Mutation::Put {
                key: k,
                value: &new_value,
            }
            .encoded_len()
        });
        (RECORD_HEADER_BYTES + mutations.sum::<usize>()) as u64
    };
    // Cut into the last record of the batch: the first three stay whole.
    let cut_bytes = 10;
    cut_tail(&newest_segment(dir.path())?, cut_bytes)?;

    let engine = open(dir.path())?;
    let truncated = engine.recovery_info().truncated_bytes;
    ensure!(
        truncated == frame_len_bytes - cut_bytes,
        "cut {truncated} bytes of a {frame_len_bytes}-byte batch"
    );
    for key in &batch_keys {
        let got = engine
            .get(key)?
            .with_context(|| format!("{} lost its older value", show(key)))?;
        ensure!(
            Some(&(got.value, got.version)) == expected.get(key),
            "{} holds part of a torn batch",
            show(key)
        );
    }
    check_contents(&engine, &expected)?;
    check_writable(dir.path(), engine, expected)
}

/// The open must fail, naming `path` and `offset`.
fn expect_corrupt_open(dir: &Path, path: &Path, offset: u64) -> anyhow::Result<()> {
    let error = match open(dir) {
        Ok(engine) => bail!("opened with a corrupt record: {:?}", engine.recovery_info()),
        Err(error) => error,
    };
    check_names(&error, path, offset)
}

fn check_names(error: &EngineError, path: &Path, offset: u64) -> anyhow::Result<()> {
    let message = error.to_string();
    match error {
        EngineError::Log(LogError::Corrupt {
            path: named,
            offset: at,
            ..
        }) => {
            ensure!(
                (named.as_path(), *at) == (path, offset),
                "names {} at {at}: {message}",
                named.display()
            );
        }
        other => bail!("expected a corruption error, got {other}"),
    }
    ensure!(
        message.contains(&path.display().to_string()),
        "the message does not name the file: {message}"
    );
    ensure!(
        message.contains(&format!("offset {offset}")),
        "the message does not name the offset: {message}"
    );
    Ok(())
}

/// Offset of a byte inside the first record of a segment, past its header.
fn inside_first_record() -> u64 {
    (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 2) as u64
}

#[test]
fn a_bad_record_in_the_newest_segment_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    write_records(dir.path())?;
    let newest = newest_segment(dir.path())?;
    ensure!(
        std::fs::metadata(&newest)?.len() > 1_000,
        "the newest segment holds too few records"
    );
    flip_byte(&newest, inside_first_record())?;
    expect_corrupt_open(dir.path(), &newest, SEGMENT_HEADER_BYTES as u64)?;
    // The failed open changed nothing: it fails the same way again.
    expect_corrupt_open(dir.path(), &newest, SEGMENT_HEADER_BYTES as u64)
}

#[test]
fn a_bad_record_in_a_sealed_segment_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    write_records(dir.path())?;
    let first: PathBuf = segment_files(dir.path())?
        .first()
        .cloned()
        .context("no segment")?;
    let value_offset = inside_first_record() + key(0).len() as u64;
    flip_byte(&first, value_offset)?;
    let offset = SEGMENT_HEADER_BYTES as u64;
    // A sealed segment opens by its footer; the damage shows when the
    // record is read, and in a verify. Either way it is never skipped.
    let engine = match open(dir.path()) {
        Err(error) => return check_names(&error, &first, offset),
        Ok(engine) => engine,
    };
    let error = engine
        .get(&key(0))
        .err()
        .context("a damaged value was read back")?;
    check_names(&error, &first, offset)?;
    let error = engine
        .verify()
        .err()
        .context("verify passed over a damaged value")?;
    check_names(&error, &first, offset)?;
    let error = engine
        .scan_prefix(b"key-", usize::MAX)
        .err()
        .context("a scan passed over a damaged value")?;
    check_names(&error, &first, offset)
}

#[test]
fn an_unsealed_older_segment_is_resealed_or_refused() -> anyhow::Result<()> {
    // A crash between starting a new segment and sealing the old one
    // leaves an older segment without a footer.
    let dir = tempfile::tempdir()?;
    let (expected, data_lens) = write_records(dir.path())?;
    let (id, data_len) = data_lens
        .iter()
        .next()
        .map(|(id, len)| (*id, *len))
        .context("no segment")?;
    let first = segment_files(dir.path())?
        .first()
        .cloned()
        .context("no segment")?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)?
        .set_len(data_len)?;
    {
        let engine = open(dir.path())?;
        ensure!(
            engine.recovery_info().truncated_bytes == 0,
            "{:?}",
            engine.recovery_info()
        );
        let segment = engine
            .segments()
            .into_iter()
            .find(|segment| segment.id == id)
            .context("the segment is gone")?;
        ensure!(segment.sealed, "the older segment was not sealed again");
        check_contents(&engine, &expected)?;
    }
    // Unsealed again, now with a bad record followed by whole ones.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)?
        .set_len(data_len)?;
    flip_byte(&first, inside_first_record())?;
    expect_corrupt_open(dir.path(), &first, SEGMENT_HEADER_BYTES as u64)
}

#[test]
fn a_torn_record_in_an_older_segment_is_refused() -> anyhow::Result<()> {
    // Older segments are synced before the next one starts, so a record
    // cut short there is damage, not a crash: it must not be cut silently.
    let dir = tempfile::tempdir()?;
    let (_, data_lens) = write_records(dir.path())?;
    let data_len = *data_lens.values().next().context("no segment")?;
    let first = segment_files(dir.path())?
        .first()
        .cloned()
        .context("no segment")?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)?
        .set_len(data_len - 5)?;
    let error = match open(dir.path()) {
        Ok(engine) => bail!(
            "opened over a torn older segment: {:?}",
            engine.recovery_info()
        ),
        Err(error) => error,
    };
    ensure!(error.is_corruption(), "not a corruption error: {error}");
    ensure!(
        error.to_string().contains(&first.display().to_string()),
        "the message does not name the file: {error}"
    );
    Ok(())
}
