//! [`CrashVfs`]: a file system for tests that simulates power cuts and
//! fails chosen calls.
//!
//! It works on a real directory (so maps, modification times and paths
//! behave as usual) and records, beside it, what a power cut would keep:
//!
//! - **File data** is durable up to the file's last `sync_data`. Every
//!   write and `set_len` after it is kept in order with the bytes it
//!   replaced, so that a crash can undo it.
//! - **Directory entries** (creates, renames, removes, new directories)
//!   are durable only once the parent directory is synced: `sync_dir`
//!   records the directory's entries as they are at that moment, and a
//!   crash brings back exactly the recorded ones. This is the rule POSIX
//!   promises and careful programs on ext4 rely on; ext4 often commits an
//!   entry sooner (with the file's own fsync, or a rename over an existing
//!   file in its default mode), so the model is the stricter one.
//!
//! Files and directories are known by inode, and every inode the model
//! may need is kept open, so an entry changed behind the Vfs's back (by a
//! direct `std::fs` call) is still modelled at the next directory sync and
//! a removed file's content can still be restored. Paths outside the root
//! pass through unmodelled. No call reaches the real disk's fsync: nothing
//! cuts the real power, and durability is what this model says it is.
//!
//! [`CrashVfs::crash`] freezes the Vfs (every later call on it and on the
//! files it opened fails with `EIO`, so a process still running cannot
//! write past the power cut) and rewrites the directory tree into the
//! image the cut leaves: per file, a random number of its unsynced changes
//! kept in order, the next one torn at a random byte (the rest of it
//! dropped or filled with garbage), every later one dropped; entries as
//! their directory's last sync saw them. The choices come from a seed, so
//! a crash reproduces.
//!
//! A countdown fails the `n`th call of chosen kinds ([`CrashVfs::fail_nth`];
//! a failed write first writes half its bytes) or cuts the power right
//! after it ([`CrashVfs::cut_power_after_nth`]).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

use super::{DIR_MODE_DEFAULT, FILE_MODE_DEFAULT, FileIo, FileLock, StdFile, StdVfs, Vfs};

/// `EIO`: what a frozen Vfs and a failed call return.
const EIO: i32 = 5;
/// `ENOSPC`: what a failed write returns after its short write.
const ENOSPC: i32 = 28;

/// One kind of call, for countdowns to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallKind {
    /// [`Vfs::create_new`].
    CreateNew,
    /// [`Vfs::open`].
    Open,
    /// [`Vfs::read`].
    Read,
    /// [`Vfs::rename`].
    Rename,
    /// [`Vfs::remove_file`], [`Vfs::remove_dir`] and [`Vfs::remove_dir_all`].
    Remove,
    /// [`Vfs::read_dir`].
    ReadDir,
    /// [`Vfs::create_dir`] and [`Vfs::create_dir_all`].
    CreateDir,
    /// [`Vfs::modified`].
    Modified,
    /// [`Vfs::sync_dir`].
    SyncDir,
    /// [`Vfs::try_lock`].
    TryLock,
    /// [`FileIo::read_exact_at`].
    ReadAt,
    /// [`FileIo::write_all_at`].
    WriteAt,
    /// [`FileIo::sync_data`].
    SyncData,
    /// [`FileIo::set_len`].
    SetLen,
    /// [`FileIo::len`].
    Len,
    /// [`FileIo::map`].
    Map,
}

impl CallKind {
    /// Every kind: a countdown over these counts every call.
    pub const ALL: &'static [CallKind] = &[
        CallKind::CreateNew,
        CallKind::Open,
        CallKind::Read,
        CallKind::Rename,
        CallKind::Remove,
        CallKind::ReadDir,
        CallKind::CreateDir,
        CallKind::Modified,
        CallKind::SyncDir,
        CallKind::TryLock,
        CallKind::ReadAt,
        CallKind::WriteAt,
        CallKind::SyncData,
        CallKind::SetLen,
        CallKind::Len,
        CallKind::Map,
    ];
    /// Both kinds of fsync.
    pub const SYNCS: &'static [CallKind] = &[CallKind::SyncData, CallKind::SyncDir];
    /// Calls that change the directory tree.
    pub const NAMESPACE: &'static [CallKind] = &[
        CallKind::CreateNew,
        CallKind::Rename,
        CallKind::Remove,
        CallKind::CreateDir,
    ];
}

/// What a countdown does when it reaches its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trip {
    /// The call fails.
    Fail,
    /// The call succeeds, then the Vfs freezes as at a power cut.
    PowerCut,
}

#[derive(Debug)]
struct Countdown {
    calls_left: u64,
    kinds: Vec<CallKind>,
    trip: Trip,
}

/// What one call may do, as the countdown and the freeze decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admit {
    Go,
    Fail,
    GoThenFreeze,
}

/// One unsynced change to a file, with what it replaced.
#[derive(Debug)]
enum Change {
    Write {
        offset: u64,
        bytes: Vec<u8>,
        len_before: u64,
        /// The bytes the write covered that existed before it.
        replaced: Vec<u8>,
    },
    SetLen {
        len_before: u64,
        len_after: u64,
        /// The bytes a shrink cut away.
        cut: Vec<u8>,
    },
}

/// A file or directory the model knows, held open so its inode is not
/// reused and its content stays readable after it is unlinked.
#[derive(Debug)]
struct Node {
    pin: File,
    is_dir: bool,
    /// Changes since the last `sync_data`, oldest first.
    unsynced: Mutex<Vec<Change>>,
}

#[derive(Debug, Default)]
struct State {
    frozen: bool,
    tripped: bool,
    countdown: Option<Countdown>,
    nodes: HashMap<u64, Arc<Node>>,
    /// Each directory's entries (name to inode) as of its last sync.
    durable_entries: HashMap<u64, BTreeMap<OsString, u64>>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    root_inode: u64,
    state: Mutex<State>,
}

/// A file system over a real directory that can be cut off as at a power
/// failure and told to fail chosen calls; see the [module docs](self).
/// Clones share one model.
#[derive(Clone)]
pub struct CrashVfs {
    shared: Arc<Shared>,
}

impl fmt::Debug for CrashVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashVfs")
            .field("root", &self.shared.root)
            .finish_non_exhaustive()
    }
}

impl CrashVfs {
    /// A Vfs over `root` (created if missing). Everything already under
    /// `root` counts as durable.
    pub fn new(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        let mut state = State::default();
        let root_inode = pin_node(&mut state, root)?;
        let mut dirs = vec![root.to_path_buf()];
        // Bounded by the tree: each directory is visited once.
        while let Some(dir) = dirs.pop() {
            let inode = pin_node(&mut state, &dir)?;
            let entries = list_entries(&mut state, &dir)?;
            for name in entries.keys() {
                let path = dir.join(name);
                if fs::symlink_metadata(&path)?.is_dir() {
                    dirs.push(path);
                }
            }
            state.durable_entries.insert(inode, entries);
        }
        let shared = Shared {
            root: root.to_path_buf(),
            root_inode,
            state: Mutex::new(state),
        };
        Ok(CrashVfs {
            shared: Arc::new(shared),
        })
    }

    /// The directory this Vfs models.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Fails the `nth` call (counting from 1, from now on) whose kind is in
    /// `kinds`, once. A failed write first writes the first half of its
    /// bytes (a short write) and then reports "no space"; any other call
    /// fails with `EIO` and does nothing.
    pub fn fail_nth(&self, nth: u64, kinds: &[CallKind]) {
        self.arm(nth, kinds, Trip::Fail);
    }

    /// Lets the `nth` call (counting from 1, from now on) whose kind is in
    /// `kinds` succeed and then freezes the Vfs, as a power cut right
    /// after it would. [`CrashVfs::crash`] then writes the image.
    pub fn cut_power_after_nth(&self, nth: u64, kinds: &[CallKind]) {
        self.arm(nth, kinds, Trip::PowerCut);
    }

    fn arm(&self, nth: u64, kinds: &[CallKind], trip: Trip) {
        let mut state = self.shared.state.lock();
        state.tripped = false;
        state.countdown = Some(Countdown {
            calls_left: nth.max(1),
            kinds: kinds.to_vec(),
            trip,
        });
    }

    /// Cancels a countdown that has not reached its call.
    pub fn disarm(&self) {
        self.shared.state.lock().countdown = None;
    }

    /// Whether the last countdown reached its call.
    pub fn tripped(&self) -> bool {
        self.shared.state.lock().tripped
    }

    /// Whether the Vfs is frozen: every call fails with `EIO`.
    pub fn is_frozen(&self) -> bool {
        self.shared.state.lock().frozen
    }

    /// Cuts the power: freezes the Vfs, then rewrites the directory tree
    /// under the root into what the cut leaves (see the [module
    /// docs](self)), the random choices drawn from `seed`. Open the result
    /// on a fresh Vfs; this one stays frozen.
    pub fn crash(&self, seed: u64) -> io::Result<()> {
        let mut state = self.shared.state.lock();
        state.frozen = true;
        let mut rng = SplitMix64(seed);
        let mut contents = HashMap::new();
        let image = image_of_dir(&state, self.shared.root_inode, &mut rng, &mut contents)?;
        for entry in fs::read_dir(&self.shared.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
        write_image(&self.shared.root, &image)?;
        // The model is spent; let go of the inodes it held.
        state.nodes.clear();
        state.durable_entries.clear();
        Ok(())
    }

    /// Decides what a call of `kind` may do, counting it down.
    fn admit(&self, kind: CallKind) -> io::Result<Admit> {
        let mut state = self.shared.state.lock();
        if state.frozen {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        let Some(countdown) = &mut state.countdown else {
            return Ok(Admit::Go);
        };
        if !countdown.kinds.contains(&kind) {
            return Ok(Admit::Go);
        }
        countdown.calls_left -= 1;
        if countdown.calls_left > 0 {
            return Ok(Admit::Go);
        }
        let trip = countdown.trip;
        state.countdown = None;
        state.tripped = true;
        Ok(match trip {
            Trip::Fail => Admit::Fail,
            Trip::PowerCut => Admit::GoThenFreeze,
        })
    }

    fn freeze(&self) {
        self.shared.state.lock().frozen = true;
    }

    /// Runs a call of `kind` that needs no special failure.
    fn call<T>(&self, kind: CallKind, run: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        match self.admit(kind)? {
            Admit::Fail => Err(io::Error::from_raw_os_error(EIO)),
            Admit::Go => run(),
            Admit::GoThenFreeze => {
                let outcome = run();
                self.freeze();
                outcome
            }
        }
    }

    fn in_root(&self, path: &Path) -> bool {
        path.starts_with(&self.shared.root)
    }

    /// A handle on `file`, with the node of its inode.
    fn handle(&self, file: File, fresh: bool) -> io::Result<Arc<dyn FileIo>> {
        let inode = file.metadata()?.ino();
        let mut state = self.shared.state.lock();
        // A new file on a known inode cannot happen while the node pins
        // it, but a fresh one must start without stale changes anyway.
        let node = match state.nodes.get(&inode) {
            Some(node) if !fresh => node.clone(),
            _ => {
                let node = Arc::new(Node {
                    pin: file.try_clone()?,
                    is_dir: false,
                    unsynced: Mutex::new(Vec::new()),
                });
                state.nodes.insert(inode, node.clone());
                node
            }
        };
        Ok(Arc::new(CrashFile {
            vfs: self.clone(),
            file: StdFile(file),
            node,
        }))
    }
}

/// Opens and remembers the node of `path` if the model does not know its
/// inode yet; returns the inode.
fn pin_node(state: &mut State, path: &Path) -> io::Result<u64> {
    let pin = File::open(path)?;
    let metadata = pin.metadata()?;
    let inode = metadata.ino();
    state.nodes.entry(inode).or_insert_with(|| {
        Arc::new(Node {
            pin,
            is_dir: metadata.is_dir(),
            unsynced: Mutex::new(Vec::new()),
        })
    });
    Ok(inode)
}

/// The files and directories in `dir` now, pinned.
fn list_entries(state: &mut State, dir: &Path) -> io::Result<BTreeMap<OsString, u64>> {
    let mut entries = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if !kind.is_file() && !kind.is_dir() {
            continue;
        }
        match pin_node(state, &entry.path()) {
            Ok(inode) => {
                entries.insert(entry.file_name(), inode);
            }
            // Removed while listing: the sync saw it gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(entries)
}

/// What a power cut leaves of one directory or file.
#[derive(Debug)]
enum Image {
    Dir(BTreeMap<OsString, Image>),
    File(Arc<Vec<u8>>),
}

fn image_of_dir(
    state: &State,
    inode: u64,
    rng: &mut SplitMix64,
    contents: &mut HashMap<u64, Arc<Vec<u8>>>,
) -> io::Result<BTreeMap<OsString, Image>> {
    let mut image = BTreeMap::new();
    // A directory never synced since it was made comes back empty.
    let Some(entries) = state.durable_entries.get(&inode) else {
        return Ok(image);
    };
    for (name, inode) in entries {
        let node = state
            .nodes
            .get(inode)
            .expect("every inode of a durable entry is pinned");
        let entry = if node.is_dir {
            Image::Dir(image_of_dir(state, *inode, rng, contents)?)
        } else if let Some(content) = contents.get(inode) {
            // Hard links share one torn content.
            Image::File(content.clone())
        } else {
            let content = Arc::new(torn_content(node, rng)?);
            contents.insert(*inode, content.clone());
            Image::File(content)
        };
        image.insert(name.clone(), entry);
    }
    Ok(image)
}

/// A file's content after the cut: its durable bytes with a random prefix
/// of its unsynced changes, the last of them maybe torn.
fn torn_content(node: &Node, rng: &mut SplitMix64) -> io::Result<Vec<u8>> {
    let len = node.pin.metadata()?.len();
    let mut content = vec![0; usize::try_from(len).expect("test files fit in memory")];
    node.pin.read_exact_at(&mut content, 0)?;
    let changes = node.unsynced.lock();
    for change in changes.iter().rev() {
        undo(&mut content, change);
    }
    let kept = rng.below(changes.len() as u64 + 1) as usize;
    for change in &changes[..kept] {
        redo(&mut content, change);
    }
    if let Some(Change::Write { offset, bytes, .. }) = changes.get(kept) {
        let torn_at = rng.below(bytes.len() as u64) as usize;
        let mut written = bytes[..torn_at].to_vec();
        if rng.below(2) == 0 {
            written.extend((torn_at..bytes.len()).map(|_| rng.next() as u8));
        }
        write_at(&mut content, *offset, &written);
    }
    Ok(content)
}

fn undo(content: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Write {
            offset,
            len_before,
            replaced,
            ..
        } => {
            let start = *offset as usize;
            content[start..start + replaced.len()].copy_from_slice(replaced);
            content.truncate(*len_before as usize);
        }
        Change::SetLen {
            len_before,
            len_after,
            cut,
        } => {
            content.resize(*len_before as usize, 0);
            if len_after < len_before {
                content[*len_after as usize..].copy_from_slice(cut);
            }
        }
    }
}

fn redo(content: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Write { offset, bytes, .. } => write_at(content, *offset, bytes),
        Change::SetLen { len_after, .. } => content.resize(*len_after as usize, 0),
    }
}

fn write_at(content: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    if content.len() < start + bytes.len() {
        content.resize(start + bytes.len(), 0);
    }
    content[start..start + bytes.len()].copy_from_slice(bytes);
}

fn write_image(dir: &Path, image: &BTreeMap<OsString, Image>) -> io::Result<()> {
    for (name, entry) in image {
        let path = dir.join(name);
        match entry {
            Image::Dir(entries) => {
                fs::DirBuilder::new().mode(DIR_MODE_DEFAULT).create(&path)?;
                write_image(&path, entries)?;
            }
            Image::File(content) => {
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(FILE_MODE_DEFAULT)
                    .open(&path)?;
                file.write_all_at(content, 0)?;
            }
        }
    }
    Ok(())
}

/// A small seeded generator (SplitMix64), so a crash needs no dependency
/// and reproduces from its seed.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound`; 0 when `bound` is 0.
    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }
}

/// A file opened through a [`CrashVfs`].
#[derive(Debug)]
struct CrashFile {
    vfs: CrashVfs,
    file: StdFile,
    node: Arc<Node>,
}

impl CrashFile {
    /// Writes `buf` and records the change with the bytes it replaces.
    fn record_write(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        // One lock over read, write and record keeps the changes in the
        // order the file saw them.
        let mut unsynced = self.node.unsynced.lock();
        let len_before = self.file.0.metadata()?.len();
        let end = offset.saturating_add(buf.len() as u64);
        let replaced_len = end.min(len_before).saturating_sub(offset);
        let mut replaced = vec![0; replaced_len as usize];
        self.file.0.read_exact_at(&mut replaced, offset)?;
        self.file.write_all_at(buf, offset)?;
        unsynced.push(Change::Write {
            offset,
            bytes: buf.to_vec(),
            len_before,
            replaced,
        });
        Ok(())
    }
}

impl FileIo for CrashFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.vfs
            .call(CallKind::ReadAt, || self.file.read_exact_at(buf, offset))
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match self.vfs.admit(CallKind::WriteAt)? {
            Admit::Go => self.record_write(buf, offset),
            Admit::Fail => {
                self.record_write(&buf[..buf.len() / 2], offset)?;
                Err(io::Error::from_raw_os_error(ENOSPC))
            }
            Admit::GoThenFreeze => {
                let outcome = self.record_write(buf, offset);
                self.vfs.freeze();
                outcome
            }
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        // The changes so far are durable; the real fsync is skipped (see
        // the module docs).
        self.vfs.call(CallKind::SyncData, || {
            self.node.unsynced.lock().clear();
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.vfs.call(CallKind::SetLen, || {
            let mut unsynced = self.node.unsynced.lock();
            let len_before = self.file.0.metadata()?.len();
            let mut cut = vec![0; len_before.saturating_sub(len) as usize];
            self.file.0.read_exact_at(&mut cut, len)?;
            self.file.set_len(len)?;
            unsynced.push(Change::SetLen {
                len_before,
                len_after: len,
                cut,
            });
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.vfs.call(CallKind::Len, || self.file.len())
    }

    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        self.vfs.call(CallKind::Map, || self.file.map())
    }
}

impl Vfs for CrashVfs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        self.call(CallKind::CreateNew, || {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(FILE_MODE_DEFAULT)
                .open(path)?;
            self.handle(file, true)
        })
    }

    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        self.call(CallKind::Open, || {
            let file = OpenOptions::new().read(true).write(writable).open(path)?;
            self.handle(file, false)
        })
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.call(CallKind::Read, || fs::read(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        // Entries are modelled at the next directory sync; nothing to record.
        self.call(CallKind::Rename, || fs::rename(from, to))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.call(CallKind::Remove, || fs::remove_file(path))
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.call(CallKind::Remove, || fs::remove_dir(path))
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.call(CallKind::Remove, || fs::remove_dir_all(path))
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.call(CallKind::ReadDir, || StdVfs::default().read_dir(dir))
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.call(CallKind::CreateDir, || StdVfs::default().create_dir(dir))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.call(CallKind::CreateDir, || {
            StdVfs::default().create_dir_all(dir)
        })
    }

    fn modified(&self, path: &Path) -> io::Result<SystemTime> {
        self.call(CallKind::Modified, || StdVfs::default().modified(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.call(CallKind::SyncDir, || {
            if !self.in_root(dir) {
                return Ok(());
            }
            let mut state = self.shared.state.lock();
            let inode = pin_node(&mut state, dir)?;
            let entries = list_entries(&mut state, dir)?;
            state.durable_entries.insert(inode, entries);
            Ok(())
        })
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        self.call(CallKind::TryLock, || StdVfs::default().try_lock(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_bytes(path: &Path) -> Option<Vec<u8>> {
        fs::read(path).ok()
    }

    /// Runs `scenario` on a fresh directory, crashes with each of `seeds`
    /// and returns what `look` saw in each image.
    fn images<T>(
        seeds: std::ops::Range<u64>,
        scenario: impl Fn(&CrashVfs, &Path),
        look: impl Fn(&Path) -> T,
    ) -> Vec<T> {
        seeds
            .map(|seed| {
                let dir = tempfile::tempdir().unwrap();
                let vfs = CrashVfs::new(dir.path()).unwrap();
                scenario(&vfs, dir.path());
                vfs.crash(seed).unwrap();
                look(dir.path())
            })
            .collect()
    }

    #[test]
    fn synced_bytes_stay_and_unsynced_bytes_are_dropped_or_torn() {
        let seen = images(
            0..64,
            |vfs, dir| {
                let file = vfs.create_new(&dir.join("f")).unwrap();
                vfs.sync_dir(dir).unwrap();
                file.write_all_at(b"durable", 0).unwrap();
                file.sync_data().unwrap();
                file.write_all_at(b"-one", 7).unwrap();
                file.write_all_at(b"-two", 11).unwrap();
            },
            |dir| file_bytes(&dir.join("f")).unwrap(),
        );
        for bytes in &seen {
            assert!(bytes.starts_with(b"durable"), "{bytes:?}");
            assert!(bytes.len() <= b"durable-one-two".len());
        }
        assert!(seen.iter().any(|b| b == b"durable"), "nothing dropped");
        assert!(seen.iter().any(|b| b == b"durable-one-two"), "nothing kept");
        assert!(
            seen.iter()
                .any(|b| b.len() > 7 && !b"durable-one-two".starts_with(b)),
            "no torn write had garbage"
        );
    }

    #[test]
    fn an_unsynced_overwrite_is_undone_to_the_old_bytes() {
        let seen = images(
            0..32,
            |vfs, dir| {
                let file = vfs.create_new(&dir.join("f")).unwrap();
                file.write_all_at(b"hello", 0).unwrap();
                file.sync_data().unwrap();
                vfs.sync_dir(dir).unwrap();
                file.write_all_at(b"HE", 0).unwrap();
                file.set_len(3).unwrap();
            },
            |dir| file_bytes(&dir.join("f")).unwrap(),
        );
        assert!(seen.iter().any(|b| b == b"hello"));
        assert!(seen.iter().any(|b| b == b"HEl"));
        for bytes in &seen {
            assert!(bytes.len() == 5 || bytes == b"HEl", "{bytes:?}");
            if bytes.len() == 5 {
                assert_eq!(&bytes[2..], b"llo", "bytes past the write changed");
            }
        }
    }

    #[test]
    fn a_create_lasts_only_after_its_directory_sync() {
        let unsynced = images(
            0..4,
            |vfs, dir| {
                let file = vfs.create_new(&dir.join("f")).unwrap();
                file.write_all_at(b"data", 0).unwrap();
                file.sync_data().unwrap();
            },
            |dir| file_bytes(&dir.join("f")),
        );
        assert!(unsynced.iter().all(Option::is_none));
        let synced = images(
            0..4,
            |vfs, dir| {
                let file = vfs.create_new(&dir.join("f")).unwrap();
                file.write_all_at(b"data", 0).unwrap();
                file.sync_data().unwrap();
                vfs.sync_dir(dir).unwrap();
            },
            |dir| file_bytes(&dir.join("f")),
        );
        assert!(
            synced
                .iter()
                .all(|b| b.as_deref() == Some(b"data".as_slice()))
        );
    }

    #[test]
    fn an_unsynced_rename_or_remove_is_undone() {
        let seen = images(
            0..4,
            |vfs, dir| {
                let old = vfs.create_new(&dir.join("target")).unwrap();
                old.write_all_at(b"old", 0).unwrap();
                old.sync_data().unwrap();
                let gone = vfs.create_new(&dir.join("gone")).unwrap();
                gone.write_all_at(b"gone", 0).unwrap();
                gone.sync_data().unwrap();
                vfs.sync_dir(dir).unwrap();
                let new = vfs.create_new(&dir.join("tmp")).unwrap();
                new.write_all_at(b"new", 0).unwrap();
                new.sync_data().unwrap();
                vfs.rename(&dir.join("tmp"), &dir.join("target")).unwrap();
                vfs.remove_file(&dir.join("gone")).unwrap();
            },
            |dir| {
                (
                    file_bytes(&dir.join("target")),
                    file_bytes(&dir.join("tmp")),
                    file_bytes(&dir.join("gone")),
                )
            },
        );
        for (target, tmp, gone) in seen {
            assert_eq!(target.as_deref(), Some(b"old".as_slice()));
            assert_eq!(tmp, None);
            assert_eq!(gone.as_deref(), Some(b"gone".as_slice()));
        }
    }

    #[test]
    fn a_synced_rename_lasts_and_a_new_directory_comes_back_empty() {
        let seen = images(
            0..4,
            |vfs, dir| {
                let new = vfs.create_new(&dir.join("tmp")).unwrap();
                new.write_all_at(b"new", 0).unwrap();
                new.sync_data().unwrap();
                vfs.rename(&dir.join("tmp"), &dir.join("target")).unwrap();
                vfs.create_dir(&dir.join("sub")).unwrap();
                vfs.create_new(&dir.join("sub").join("inner")).unwrap();
                vfs.sync_dir(dir).unwrap();
            },
            |dir| {
                let sub: Vec<_> = fs::read_dir(dir.join("sub")).unwrap().collect();
                (file_bytes(&dir.join("target")), sub.len())
            },
        );
        for (target, sub_entries) in seen {
            assert_eq!(target.as_deref(), Some(b"new".as_slice()));
            assert_eq!(sub_entries, 0);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_image() {
        let scenario = |vfs: &CrashVfs, dir: &Path| {
            let file = vfs.create_new(&dir.join("f")).unwrap();
            vfs.sync_dir(dir).unwrap();
            for i in 0..20u8 {
                file.write_all_at(&[i; 7], u64::from(i) * 7).unwrap();
            }
        };
        let look = |dir: &Path| file_bytes(&dir.join("f"));
        assert_eq!(images(5..6, scenario, look), images(5..6, scenario, look));
    }

    #[test]
    fn a_crash_freezes_the_vfs_and_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = CrashVfs::new(dir.path()).unwrap();
        let file = vfs.create_new(&dir.path().join("f")).unwrap();
        vfs.crash(1).unwrap();
        assert!(vfs.is_frozen());
        assert_eq!(
            file.write_all_at(b"late", 0).unwrap_err().raw_os_error(),
            Some(EIO)
        );
        assert!(vfs.create_new(&dir.path().join("g")).is_err());
        assert!(!dir.path().join("g").exists());
    }

    #[test]
    fn a_countdown_fails_the_nth_call_of_its_kinds_once() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = CrashVfs::new(dir.path()).unwrap();
        let file = vfs.create_new(&dir.path().join("f")).unwrap();
        vfs.fail_nth(2, &[CallKind::WriteAt]);
        file.sync_data().unwrap();
        file.write_all_at(b"one", 0).unwrap();
        let error = file.write_all_at(b"four", 3).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(ENOSPC));
        assert!(vfs.tripped());
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"onefo", "half");
        file.write_all_at(b"again", 0).unwrap();

        vfs.fail_nth(1, CallKind::ALL);
        assert_eq!(
            vfs.read_dir(dir.path()).unwrap_err().raw_os_error(),
            Some(EIO)
        );
        vfs.read_dir(dir.path()).unwrap();
    }

    #[test]
    fn a_countdown_can_cut_the_power_right_after_its_call() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = CrashVfs::new(dir.path()).unwrap();
        let file = vfs.create_new(&dir.path().join("f")).unwrap();
        vfs.sync_dir(dir.path()).unwrap();
        vfs.cut_power_after_nth(1, CallKind::SYNCS);
        file.write_all_at(b"kept", 0).unwrap();
        file.sync_data().unwrap();
        assert!(vfs.is_frozen());
        assert!(file.write_all_at(b"lost", 4).is_err());
        vfs.crash(0).unwrap();
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"kept");
    }

    #[test]
    fn what_was_there_before_counts_as_durable() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub").join("f"), b"before").unwrap();
        let vfs = CrashVfs::new(dir.path()).unwrap();
        vfs.remove_dir_all(&dir.path().join("sub")).unwrap();
        vfs.crash(3).unwrap();
        assert_eq!(
            fs::read(dir.path().join("sub").join("f")).unwrap(),
            b"before"
        );
    }
}
