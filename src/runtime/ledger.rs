//! The ledger on disk: what a priest must not forget across a crash.
//!
//! The paper's priests write in ink in a ledger they carry with them; this one is a directory
//! of files that grows by appending, so that the cost of a save is the cost of what changed
//! and one `fdatasync`, however much was written before.
//!
//! # Files
//!
//! A priest's ledger directory holds *segments* `log-N` and *snapshots* `snap-N`
//! (N a sequence number, written as 20 decimal digits so names sort):
//!
//! - `snap-N` is the whole ledger as it stood when segment `log-N` was started;
//! - `log-N` holds the records appended since, each one a full ledger or a delta;
//! - the ledger is `snap-S` for the highest `S` with a snapshot (or nothing if there is
//!   none), then every record of `log-S`, `log-S+1`, ... in order.
//!
//! Each file starts with an 8-byte header (`PLEDGER` and a format version); each record is
//!
//! ```text
//! u32 LE  length of the body
//! u32 LE  CRC-32C of the length (so a damaged length is never trusted)
//! u32 LE  CRC-32C of the body
//! body:   kind (1 = full ledger, 2 = delta), then the postcard encoding
//! ```
//!
//! # Recovery
//!
//! Only the last record of the last segment can have been written without being synced: a
//! crash in the middle of a group commit leaves it torn (cut short, with a bad checksum, or
//! followed by zeros), and no intact record can follow it, since each sync appends one.
//! Such a record belongs to a batch whose messages never left, so dropping it is the
//! model's lost message; opening the ledger cuts it off. Any other bad record or header
//! means the disk lost something a priest may have promised on: opening refuses, naming the
//! file and the byte offset, and the priest does not start. (The one damage this cannot tell
//! from a torn write is damage to the last record itself; no format can, without a second
//! copy.) A `LOCK` file, locked while the ledger is open, keeps a second process out.
//!
//! # Deltas and compaction
//!
//! The [`Durable`] trait lets a Storage type say how to write only what changed. A type that
//! keeps the default (every save a full ledger) is right for a small ledger such as the Synod
//! priest's. A large ledger (the Parliament's votes per decree number) returns a delta;
//! `im::OrdMap` implements [`Durable`] with the entries changed since the last save.
//! When a segment has grown past `max(compact_min_bytes, compact_ratio x last snapshot)`,
//! the next save starts a new segment and a background thread writes its snapshot from a
//! clone of the ledger (cheap for `im` collections), renames it into place, and deletes the
//! files it supersedes. Saves never wait for a snapshot, so their cost stays flat.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// How a Storage type is written to the ledger.
///
/// The runtime calls [`Durable::delta`] with the last state it made durable and the state to
/// save; `None` (the default) writes the whole state. [`Durable::apply`] replays a delta on the
/// state it was taken against, and must rebuild exactly the saved state.
pub trait Durable: Clone + Serialize + DeserializeOwned + Send + 'static {
    /// What one save changes (use `()` for a ledger that is always written whole).
    type Delta: Serialize + DeserializeOwned;

    /// What changed from `prev` to `self`, or `None` to write `self` whole.
    fn delta(&self, _prev: &Self) -> Option<Self::Delta> {
        None
    }

    /// Replays a delta returned by [`Durable::delta`] on the state it was taken against.
    fn apply(&mut self, _delta: Self::Delta) {}
}

/// A map from (say) decree numbers to votes saves only the entries that changed: `im`'s
/// `diff` skips the subtrees two versions share, so a save costs what changed, not what the
/// map holds. When more entries changed than the map now holds, the map is written whole. A Storage type
/// holding such a map builds its own delta from this one.
impl<K, V> Durable for im::OrdMap<K, V>
where
    K: Ord + Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    V: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Each changed key with its new value, or `None` if it was removed.
    type Delta = Vec<(K, Option<V>)>;

    fn delta(&self, prev: &Self) -> Option<Self::Delta> {
        let mut changes = Vec::new();
        for item in prev.diff(self) {
            if changes.len() == self.len() {
                return None;
            }
            changes.push(match item {
                im::ordmap::DiffItem::Add(k, v)
                | im::ordmap::DiffItem::Update { new: (k, v), .. } => (k.clone(), Some(v.clone())),
                im::ordmap::DiffItem::Remove(k, _) => (k.clone(), None),
            });
        }
        Some(changes)
    }

    fn apply(&mut self, delta: Self::Delta) {
        for (k, v) in delta {
            match v {
                Some(v) => {
                    self.insert(k, v);
                }
                None => {
                    self.remove(&k);
                }
            }
        }
    }
}

const MAGIC: &[u8; 7] = b"PLEDGER";
const FORMAT: u8 = 1;
const FILE_HEADER: usize = 8;
const RECORD_HEADER: usize = 12;
const FULL: u8 = 1;
const DELTA: u8 = 2;

/// Why a ledger could not be opened or written.
#[derive(Debug)]
pub enum LedgerError {
    /// An I/O error on a file of the ledger.
    Io { path: PathBuf, error: io::Error },
    /// A record or header that is not the torn tail of the last segment is damaged.
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: String,
    },
    /// Another process holds the ledger.
    Locked { path: PathBuf },
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Io { path, error } => write!(f, "ledger file {}: {error}", path.display()),
            LedgerError::Corrupt { path, offset, why } => write!(
                f,
                "ledger file {} is corrupt at offset {offset}: {why}; refusing to start, since the \
                 priest may have promised or voted on what was lost",
                path.display()
            ),
            LedgerError::Locked { path } => {
                write!(f, "ledger {} is in use by another process", path.display())
            }
        }
    }
}

impl std::error::Error for LedgerError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |error| LedgerError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// When to start a new segment and snapshot, and how far ahead to allocate.
#[derive(Clone, Copy, Debug)]
pub struct LedgerOptions {
    /// Never compact a segment smaller than this.
    pub compact_min_bytes: u64,
    /// Compact when a segment exceeds this multiple of the last snapshot's size.
    pub compact_ratio: u64,
    /// Zeros written ahead of the records, this many bytes at a time (0: none; each save
    /// then grows the file).
    pub preallocate: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            compact_min_bytes: 4 << 20,
            compact_ratio: 4,
            preallocate: 256 << 10,
        }
    }
}

/// One record found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    pub path: PathBuf,
    /// Offset of the record's header in the file.
    pub offset: u64,
    /// Length of header and body.
    pub len: u64,
    /// 1 = full ledger, 2 = delta.
    pub kind: u8,
}

/// What opening a ledger found.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// The snapshot the ledger started from, if any.
    pub snapshot: Option<PathBuf>,
    /// Segments replayed.
    pub segments: usize,
    /// Records replayed.
    pub records: usize,
    /// A torn record cut off: the file, the offset it started at, and how many bytes.
    pub torn: Option<(PathBuf, u64, u64)>,
}

fn name(prefix: &str, seq: u64) -> String {
    format!("{prefix}-{seq:020}")
}

fn parse_name(file: &str, prefix: &str) -> Option<u64> {
    let digits = file.strip_prefix(prefix)?.strip_prefix('-')?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn file_header() -> [u8; FILE_HEADER] {
    let mut h = [0; FILE_HEADER];
    h[..7].copy_from_slice(MAGIC);
    h[7] = FORMAT;
    h
}

fn record(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = ((1 + payload.len()) as u32).to_le_bytes();
    let body_crc = crc32c::crc32c_append(crc32c::crc32c(&[kind]), payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32c::crc32c(&len).to_le_bytes());
    out.extend_from_slice(&body_crc.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

/// Reads the record at `at`: its total length, or why it is damaged.
fn record_at(bytes: &[u8], at: usize) -> Result<usize, String> {
    let word = |i: usize| u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
    if bytes.len() - at < RECORD_HEADER {
        return Err("record header cut short".into());
    }
    if crc32c::crc32c(&bytes[at..at + 4]) != word(4) {
        return Err("record header checksum mismatch".into());
    }
    let len = word(0) as usize;
    let end = at + RECORD_HEADER + len;
    if len == 0 {
        return Err("empty record".into());
    }
    if end > bytes.len() {
        return Err(format!(
            "record of {len} bytes runs past the end of the file"
        ));
    }
    let body = &bytes[at + RECORD_HEADER..end];
    if crc32c::crc32c(body) != word(8) {
        return Err("record checksum mismatch".into());
    }
    if body[0] != FULL && body[0] != DELTA {
        return Err(format!("unknown record kind {}", body[0]));
    }
    Ok(RECORD_HEADER + len)
}

/// Writes zeros into `file` from `from` up to `to` (nothing if `to <= from`); returns the
/// file's new length. Real zeros, not a hole or `fallocate`d extents, so that later writes
/// over them change no file metadata, and `fdatasync` writes only the data.
fn zero_fill(file: &File, from: u64, to: u64) -> io::Result<u64> {
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..n], at)?;
        at += n as u64;
    }
    Ok(at.max(from))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("ledger values serialize")
}

fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The records of one file, and where its valid part ends.
struct Parsed {
    records: Vec<(RecordInfo, Vec<u8>)>,
    valid_len: u64,
    file_len: u64,
    /// Everything after `valid_len` is zeros: space allocated ahead, not a torn record.
    zero_tail: bool,
}

/// Reads one ledger file. A damaged tail is accepted (reported through `valid_len`) only
/// when `tail_may_tear`; any other damage is [`LedgerError::Corrupt`].
fn parse_file(path: &Path, tail_may_tear: bool) -> Result<Parsed, LedgerError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let corrupt = |offset: usize, why: String| LedgerError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        why,
    };
    let file_len = bytes.len() as u64;
    if bytes.len() < FILE_HEADER {
        // A segment whose header never reached the disk holds no record.
        if tail_may_tear && file_header().starts_with(&bytes) {
            return Ok(Parsed {
                records: vec![],
                valid_len: 0,
                file_len,
                zero_tail: false,
            });
        }
        return Err(corrupt(0, "file header is cut short".into()));
    }
    if bytes[..FILE_HEADER] != file_header() {
        return Err(corrupt(
            0,
            "not a ledger file of this format (bad header)".into(),
        ));
    }
    let mut records = Vec::new();
    let mut at = FILE_HEADER;
    while at < bytes.len() {
        match record_at(&bytes, at) {
            Ok(len) => {
                records.push((
                    RecordInfo {
                        path: path.to_path_buf(),
                        offset: at as u64,
                        len: len as u64,
                        kind: bytes[at + RECORD_HEADER],
                    },
                    bytes[at + RECORD_HEADER + 1..at + len].to_vec(),
                ));
                at += len;
            }
            Err(_) if bytes[at..].iter().all(|&b| b == 0) => {
                // Space allocated ahead (or a write that never reached the disk): the end.
                return Ok(Parsed {
                    records,
                    valid_len: at as u64,
                    file_len,
                    zero_tail: true,
                });
            }
            Err(why) => {
                // Each sync appends one record, so a torn write damages only the last one:
                // the damage is a torn tail only if no intact record follows it anywhere.
                let intact_after = (at + 1..bytes.len()).any(|p| record_at(&bytes, p).is_ok());
                if tail_may_tear && !intact_after {
                    return Ok(Parsed {
                        records,
                        valid_len: at as u64,
                        file_len,
                        zero_tail: false,
                    });
                }
                return Err(corrupt(at, why));
            }
        }
    }
    Ok(Parsed {
        records,
        valid_len: file_len,
        file_len,
        zero_tail: false,
    })
}

/// The files of a ledger directory: snapshots and segments by sequence number.
struct Listing {
    snaps: Vec<u64>,
    logs: Vec<u64>,
    temps: Vec<PathBuf>,
}

fn list(dir: &Path) -> Result<Listing, LedgerError> {
    let mut l = Listing {
        snaps: vec![],
        logs: vec![],
        temps: vec![],
    };
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if let Some(n) = parse_name(file, "snap") {
            l.snaps.push(n);
        } else if let Some(n) = parse_name(file, "log") {
            l.logs.push(n);
        } else if file.ends_with(".tmp") {
            l.temps.push(entry.path());
        }
    }
    l.snaps.sort_unstable();
    l.logs.sort_unstable();
    Ok(l)
}

/// The state a ledger directory holds, read without changing anything.
struct Replay<S> {
    state: Option<S>,
    recovery: Recovery,
    /// The last segment's sequence number, its valid length, its length on disk, and
    /// whether all after the valid part is zeros.
    tail: Option<(u64, u64, u64, bool)>,
    /// The base snapshot's sequence number and size.
    base: Option<(u64, u64)>,
    listing: Listing,
}

fn replay<S: Durable>(dir: &Path) -> Result<Replay<S>, LedgerError> {
    let listing = list(dir)?;
    let mut recovery = Recovery::default();
    let mut state: Option<S> = None;
    let mut base = None;
    let start = match listing.snaps.last() {
        Some(&s) => {
            let path = dir.join(name("snap", s));
            let parsed = parse_file(&path, false)?;
            let [(info, payload)] = &parsed.records[..] else {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: FILE_HEADER as u64,
                    why: format!(
                        "a snapshot holds one full record, found {}",
                        parsed.records.len()
                    ),
                });
            };
            if info.kind != FULL {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: info.offset,
                    why: "a snapshot holds a full record, found a delta".into(),
                });
            }
            state = Some(
                postcard::from_bytes(payload).map_err(|e| LedgerError::Corrupt {
                    path: path.clone(),
                    offset: info.offset,
                    why: format!("snapshot does not decode: {e}"),
                })?,
            );
            base = Some((s, parsed.file_len));
            recovery.snapshot = Some(path);
            s
        }
        None => 0,
    };
    let logs: Vec<u64> = listing
        .logs
        .iter()
        .copied()
        .filter(|&n| n >= start)
        .collect();
    for (i, &n) in logs.iter().enumerate() {
        let expected = start + i as u64;
        if n != expected {
            return Err(LedgerError::Corrupt {
                path: dir.join(name("log", expected)),
                offset: 0,
                why: "segment missing (later segments exist)".into(),
            });
        }
    }
    let mut tail = None;
    for (i, &n) in logs.iter().enumerate() {
        let path = dir.join(name("log", n));
        let last = i + 1 == logs.len();
        let parsed = parse_file(&path, last)?;
        for (info, payload) in &parsed.records {
            let bad = |why: String| LedgerError::Corrupt {
                path: path.clone(),
                offset: info.offset,
                why,
            };
            match info.kind {
                FULL => {
                    state = Some(
                        postcard::from_bytes(payload)
                            .map_err(|e| bad(format!("ledger does not decode: {e}")))?,
                    )
                }
                _ => {
                    let delta: S::Delta = postcard::from_bytes(payload)
                        .map_err(|e| bad(format!("delta does not decode: {e}")))?;
                    let Some(s) = state.as_mut() else {
                        return Err(bad("a delta with no ledger before it".into()));
                    };
                    s.apply(delta);
                }
            }
            recovery.records += 1;
        }
        recovery.segments += 1;
        if parsed.valid_len < parsed.file_len && !parsed.zero_tail {
            recovery.torn = Some((
                path.clone(),
                parsed.valid_len,
                parsed.file_len - parsed.valid_len,
            ));
        }
        if last {
            tail = Some((n, parsed.valid_len, parsed.file_len, parsed.zero_tail));
        }
    }
    Ok(Replay {
        state,
        recovery,
        tail,
        base,
        listing,
    })
}

/// Reads the ledger in `dir` without changing anything (for inspection; a torn tail is
/// reported in the [`Recovery`] but left on disk).
pub fn read<S: Durable>(dir: &Path) -> Result<(Option<S>, Recovery), LedgerError> {
    let r = replay::<S>(dir)?;
    Ok((r.state, r.recovery))
}

/// Every intact record of every file in `dir`, in replay order (for tests and inspection).
pub fn scan(dir: &Path) -> Result<Vec<RecordInfo>, LedgerError> {
    let l = list(dir)?;
    let mut out = Vec::new();
    let files = l
        .snaps
        .iter()
        .map(|&n| name("snap", n))
        .chain(l.logs.iter().map(|&n| name("log", n)));
    for f in files {
        let parsed = parse_file(&dir.join(f), true)?;
        out.extend(parsed.records.into_iter().map(|(info, _)| info));
    }
    Ok(out)
}

/// A ledger open for saving.
pub struct Ledger<S: Durable> {
    dir: PathBuf,
    options: LedgerOptions,
    /// The segment being appended to.
    seq: u64,
    file: File,
    /// Where the segment's records end (the next record's offset).
    segment_bytes: u64,
    /// The segment file's length: records, then zeros allocated ahead.
    allocated: u64,
    /// The last state made durable.
    durable: Option<S>,
    snapshot_bytes: u64,
    compactor: Option<JoinHandle<Result<u64, LedgerError>>>,
    buf: Vec<u8>,
    _lock: File,
}

impl<S: Durable> Ledger<S> {
    /// Opens (creating if need be) the ledger in `dir`: replays it, cuts off a torn last
    /// record, and returns the ledger with the last durable state.
    pub fn open(
        dir: &Path,
        options: LedgerOptions,
    ) -> Result<(Self, Option<S>, Recovery), LedgerError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(LedgerError::Locked {
                path: dir.to_path_buf(),
            });
        }
        let r = replay::<S>(dir)?;
        for t in &r.listing.temps {
            fs::remove_file(t).map_err(io_err(t))?;
        }
        let (seq, file, segment_bytes, allocated) = match r.tail {
            Some((seq, valid, on_disk, zero_tail)) => {
                let path = dir.join(name("log", seq));
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                let mut valid = valid;
                let mut allocated = on_disk;
                if valid < on_disk && !zero_tail {
                    // A torn record: cut it off (zeros are allocated again as saves need).
                    file.set_len(valid).map_err(io_err(&path))?;
                    allocated = valid;
                }
                if valid == 0 {
                    file.write_all_at(&file_header(), 0)
                        .map_err(io_err(&path))?;
                    valid = FILE_HEADER as u64;
                    allocated = allocated.max(valid);
                }
                file.sync_data().map_err(io_err(&path))?;
                (seq, file, valid, allocated)
            }
            None => {
                let seq = r.base.map_or(0, |(s, _)| s);
                let (file, allocated) = Self::create_segment(dir, seq, &options)?;
                (seq, file, FILE_HEADER as u64, allocated)
            }
        };
        let ledger = Ledger {
            dir: dir.to_path_buf(),
            options,
            seq,
            file,
            segment_bytes,
            allocated,
            durable: r.state.clone(),
            snapshot_bytes: r.base.map_or(0, |(_, b)| b),
            compactor: None,
            buf: Vec::new(),
            _lock: lock,
        };
        Ok((ledger, r.state, r.recovery))
    }

    /// A new, empty segment, with zeros allocated ahead; returns it and its length.
    fn create_segment(
        dir: &Path,
        seq: u64,
        options: &LedgerOptions,
    ) -> Result<(File, u64), LedgerError> {
        let path = dir.join(name("log", seq));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.write_all_at(&file_header(), 0)
            .map_err(io_err(&path))?;
        let allocated = FILE_HEADER as u64;
        let allocated =
            zero_fill(&file, allocated, allocated + options.preallocate).map_err(io_err(&path))?;
        file.sync_data().map_err(io_err(&path))?;
        sync_dir(dir)?;
        Ok((file, allocated))
    }

    /// The directory this ledger lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last state made durable.
    pub fn durable(&self) -> Option<&S> {
        self.durable.as_ref()
    }

    /// Makes `next` durable: appends one record (a delta when the type gives one) and syncs.
    /// Returns the bytes appended (0 when `next` equals the durable state).
    pub fn save(&mut self, next: &S) -> Result<u64, LedgerError>
    where
        S: PartialEq,
    {
        if self.durable.as_ref() == Some(next) {
            return Ok(0);
        }
        self.maybe_compact()?;
        self.buf.clear();
        match self.durable.as_ref().and_then(|prev| next.delta(prev)) {
            Some(delta) => record(DELTA, &encode(&delta), &mut self.buf),
            None => record(FULL, &encode(next), &mut self.buf),
        }
        let path = self.segment_path();
        let end = self.segment_bytes + self.buf.len() as u64;
        if end > self.allocated && self.options.preallocate > 0 {
            // Allocate ahead, so the next saves' syncs write data only, not the file size.
            self.allocated = zero_fill(&self.file, self.allocated, end + self.options.preallocate)
                .map_err(io_err(&path))?;
        }
        self.file
            .write_all_at(&self.buf, self.segment_bytes)
            .map_err(io_err(&path))?;
        self.file.sync_data().map_err(io_err(&path))?;
        self.segment_bytes = end;
        self.allocated = self.allocated.max(end);
        self.durable = Some(next.clone());
        Ok(self.buf.len() as u64)
    }

    fn segment_path(&self) -> PathBuf {
        self.dir.join(name("log", self.seq))
    }

    /// Waits for a running snapshot, if any (for tests and orderly shutdown).
    pub fn finish_compaction(&mut self) -> Result<(), LedgerError> {
        if let Some(handle) = self.compactor.take() {
            self.snapshot_bytes = handle.join().expect("the compactor does not panic")?;
        }
        Ok(())
    }

    /// Whether a snapshot is being written.
    pub fn compacting(&self) -> bool {
        self.compactor.as_ref().is_some_and(|h| !h.is_finished())
    }

    fn maybe_compact(&mut self) -> Result<(), LedgerError> {
        if let Some(h) = &self.compactor {
            if !h.is_finished() {
                return Ok(());
            }
            // A failed snapshot leaves the old files in place; the ledger stays whole.
            if let Err(e) = self.finish_compaction() {
                tracing::warn!(error = %e, "ledger snapshot failed; will retry");
            }
        }
        let threshold = self
            .options
            .compact_min_bytes
            .max(self.options.compact_ratio * self.snapshot_bytes);
        let Some(state) = self.durable.clone() else {
            return Ok(());
        };
        if self.segment_bytes < threshold {
            return Ok(());
        }
        let seq = self.seq + 1;
        // The snapshot is about the last one plus what was logged since.
        let hint = (self.snapshot_bytes + self.segment_bytes) as usize;
        (self.file, self.allocated) = Self::create_segment(&self.dir, seq, &self.options)?;
        self.seq = seq;
        self.segment_bytes = FILE_HEADER as u64;
        let dir = self.dir.clone();
        let snapshot = std::thread::Builder::new()
            .name("ledger-snapshot".into())
            .spawn(move || write_snapshot(&dir, seq, &state, hint))
            .map_err(io_err(&self.dir))?;
        self.compactor = Some(snapshot);
        Ok(())
    }
}

/// Writes `snap-seq` (the state at the start of segment `seq`), then deletes what it replaces.
fn write_snapshot<S: Durable>(
    dir: &Path,
    seq: u64,
    state: &S,
    size_hint: usize,
) -> Result<u64, LedgerError> {
    let bytes = write_snapshot_file(dir, seq, state, size_hint)?;
    let l = list(dir)?;
    for n in l.snaps.into_iter().filter(|&n| n < seq) {
        let p = dir.join(name("snap", n));
        fs::remove_file(&p).map_err(io_err(&p))?;
    }
    for n in l.logs.into_iter().filter(|&n| n < seq) {
        let p = dir.join(name("log", n));
        fs::remove_file(&p).map_err(io_err(&p))?;
    }
    sync_dir(dir)?;
    Ok(bytes)
}

/// Writes `snap-seq` durably through a temporary file and a rename; returns its size.
fn write_snapshot_file<S: Durable>(
    dir: &Path,
    seq: u64,
    state: &S,
    size_hint: usize,
) -> Result<u64, LedgerError> {
    let final_path = dir.join(name("snap", seq));
    let tmp = dir.join(format!("{}.tmp", name("snap", seq)));
    // The whole state is large: serialize it once, into a buffer sized like the last
    // snapshot, and write the record's header and body separately (no second copy).
    let mut body = Vec::with_capacity(size_hint);
    body.push(FULL);
    let body = postcard::to_extend(state, body).expect("ledger values serialize");
    let len = (body.len() as u32).to_le_bytes();
    let mut head = file_header().to_vec();
    head.extend_from_slice(&len);
    head.extend_from_slice(&crc32c::crc32c(&len).to_le_bytes());
    head.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(&head).map_err(io_err(&tmp))?;
    file.write_all(&body).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &final_path).map_err(io_err(&final_path))?;
    sync_dir(dir)?;
    Ok((head.len() + body.len()) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A ledger of numbered entries that saves only the entries added (like the Parliament's
    /// decrees), with `im` so that clones are cheap.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Entries(im::Vector<u64>);

    impl Durable for Entries {
        type Delta = (usize, Vec<u64>);
        fn delta(&self, prev: &Self) -> Option<Self::Delta> {
            (self.0.len() >= prev.0.len() && self.0.take(prev.0.len()) == prev.0).then(|| {
                (
                    prev.0.len(),
                    self.0.skip(prev.0.len()).into_iter().collect(),
                )
            })
        }
        fn apply(&mut self, (from, added): Self::Delta) {
            assert_eq!(self.0.len(), from);
            self.0.extend(added);
        }
    }

    /// A ledger always written whole (the trait's default).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Whole(u32, String);
    impl Durable for Whole {
        type Delta = ();
    }

    fn small() -> LedgerOptions {
        LedgerOptions {
            compact_min_bytes: 256,
            compact_ratio: 2,
            preallocate: 0,
        }
    }

    #[test]
    fn preallocated_segments_keep_records_and_cut_a_torn_one_among_the_zeros() {
        let options = LedgerOptions {
            preallocate: 4096,
            ..small()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut e = Entries::default();
        {
            let (mut l, _, _) = Ledger::<Entries>::open(dir.path(), options).unwrap();
            for i in 0..300 {
                e.0.push_back(i);
                l.save(&e).unwrap();
            }
            l.finish_compaction().unwrap();
        }
        // Every segment is allocated ahead: its length is past its last record, in zeros.
        let recs = scan(dir.path()).unwrap();
        let last = recs.last().unwrap().clone();
        let bytes = fs::read(&last.path).unwrap();
        let end = (last.offset + last.len) as usize;
        assert!(bytes.len() > end && bytes[end..].iter().all(|&b| b == 0));
        let (_, s, rec) = Ledger::<Entries>::open(dir.path(), options).unwrap();
        assert_eq!(s, Some(e.clone()));
        assert_eq!(
            rec.torn, None,
            "zeros allocated ahead are not a torn record"
        );

        // A record torn inside the allocated space (its end never written) is cut off.
        let mut torn = bytes.clone();
        for b in &mut torn[end - 3..end] {
            *b = 0;
        }
        fs::write(&last.path, &torn).unwrap();
        let (mut l, s, rec) = Ledger::<Entries>::open(dir.path(), options).unwrap();
        let mut before = e.clone();
        before.0.pop_back();
        assert_eq!(s, Some(before.clone()));
        assert_eq!(rec.torn.map(|t| t.1), Some(last.offset));
        // Saves after the cut land where the torn record was, and are read back.
        before.0.push_back(1000);
        l.save(&before).unwrap();
        drop(l);
        assert_eq!(read::<Entries>(dir.path()).unwrap().0, Some(before));

        // Damage before the last record is still refused.
        let first = &scan(dir.path()).unwrap()[0];
        let mut bad = fs::read(&first.path).unwrap();
        bad[first.offset as usize + RECORD_HEADER] ^= 0x10;
        fs::write(&first.path, &bad).unwrap();
        assert!(matches!(
            read::<Entries>(dir.path()).err(),
            Some(LedgerError::Corrupt { .. })
        ));
    }

    #[test]
    fn saves_survive_reopening_with_deltas_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Entries::default();
        {
            let (mut l, s, rec) = Ledger::<Entries>::open(dir.path(), small()).unwrap();
            assert_eq!(s, None);
            assert_eq!(rec.records, 0);
            for i in 0..500 {
                e.0.push_back(i);
                let bytes = l.save(&e).unwrap();
                assert!(bytes < 32, "save {i} wrote {bytes} bytes: not a delta");
            }
            l.finish_compaction().unwrap();
        }
        let (s, rec) = read::<Entries>(dir.path()).unwrap();
        assert_eq!(s.as_ref(), Some(&e));
        assert!(rec.snapshot.is_some(), "the ledger was compacted");
        let l = list(dir.path()).unwrap();
        assert_eq!(l.snaps.len(), 1, "old snapshots are deleted");
        assert!(
            l.logs.iter().all(|&n| n >= l.snaps[0]),
            "old segments are deleted"
        );
        let (mut led, s, _) = Ledger::<Entries>::open(dir.path(), small()).unwrap();
        assert_eq!(s.as_ref(), Some(&e));
        e.0.push_back(1000);
        led.save(&e).unwrap();
        drop(led);
        assert_eq!(read::<Entries>(dir.path()).unwrap().0, Some(e));
    }

    #[test]
    fn an_ordmap_saves_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut l, _, _) = Ledger::<im::OrdMap<u64, String>>::open(dir.path(), small()).unwrap();
        let mut m: im::OrdMap<u64, String> = (0..10_000u64).map(|i| (i, format!("v{i}"))).collect();
        let whole = l.save(&m).unwrap();
        assert!(whole > 50_000, "{whole}");
        m.insert(5, "changed".into());
        m.insert(20_000, "added".into());
        m.remove(&7);
        let bytes = l.save(&m).unwrap();
        assert!(bytes < 64, "a delta of three changes took {bytes} bytes");
        drop(l);
        let (back, _) = read::<im::OrdMap<u64, String>>(dir.path()).unwrap();
        assert_eq!(back, Some(m.clone()));
        let mut d = im::OrdMap::new();
        d.insert(1u64, 2u64);
        assert_eq!(d.delta(&im::OrdMap::new()), Some(vec![(1, Some(2))]));
        assert_eq!(
            im::OrdMap::<u64, u64>::new().delta(&d),
            None,
            "all changed: whole"
        );
    }

    #[test]
    fn whole_ledgers_and_unchanged_saves() {
        let dir = tempfile::tempdir().unwrap();
        let (mut l, _, _) = Ledger::<Whole>::open(dir.path(), small()).unwrap();
        assert!(l.save(&Whole(1, "a".into())).unwrap() > 0);
        assert_eq!(l.save(&Whole(1, "a".into())).unwrap(), 0, "nothing changed");
        l.save(&Whole(2, "b".into())).unwrap();
        drop(l);
        let (s, rec) = read::<Whole>(dir.path()).unwrap();
        assert_eq!(s, Some(Whole(2, "b".into())));
        assert_eq!(rec.records, 2);
    }

    #[test]
    fn a_second_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _l = Ledger::<Whole>::open(dir.path(), small()).unwrap();
        let err = Ledger::<Whole>::open(dir.path(), small()).err().unwrap();
        assert!(matches!(err, LedgerError::Locked { .. }), "{err}");
    }

    fn three_saves(dir: &Path) -> Vec<RecordInfo> {
        let (mut l, _, _) = Ledger::<Whole>::open(dir, small()).unwrap();
        for i in 1..=3 {
            l.save(&Whole(i, format!("decree {i}"))).unwrap();
        }
        drop(l);
        scan(dir).unwrap()
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        for cut in [1, 5, 9] {
            let dir = tempfile::tempdir().unwrap();
            let recs = three_saves(dir.path());
            let last = recs.last().unwrap();
            let f = OpenOptions::new().write(true).open(&last.path).unwrap();
            f.set_len(last.offset + last.len - cut).unwrap();
            drop(f);
            let (mut l, s, rec) = Ledger::<Whole>::open(dir.path(), small()).unwrap();
            assert_eq!(s, Some(Whole(2, "decree 2".into())), "cut {cut}");
            assert_eq!(
                rec.torn,
                Some((last.path.clone(), last.offset, last.len - cut))
            );
            l.save(&Whole(4, "decree 4".into())).unwrap();
            drop(l);
            assert_eq!(
                read::<Whole>(dir.path()).unwrap().0,
                Some(Whole(4, "decree 4".into())),
                "appends after the cut are readable"
            );
        }
    }

    #[test]
    fn every_cut_of_the_last_record_recovers_and_every_flip_before_it_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let recs = three_saves(dir.path());
        let path = recs[0].path.clone();
        let good = fs::read(&path).unwrap();
        let last = recs.last().unwrap();
        for cut in last.offset..=last.offset + last.len {
            fs::write(&path, &good[..cut as usize]).unwrap();
            let (s, _) = read::<Whole>(dir.path()).unwrap();
            let want = if cut == last.offset + last.len { 3 } else { 2 };
            assert_eq!(s.unwrap().0, want, "cut at {cut}");
        }
        for at in 0..last.offset as usize {
            let mut bad = good.clone();
            bad[at] ^= 0xff;
            fs::write(&path, &bad).unwrap();
            let err = read::<Whole>(dir.path()).err();
            assert!(
                matches!(err, Some(LedgerError::Corrupt { .. })),
                "flip at {at} was not refused"
            );
        }
        for at in last.offset as usize..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0xff;
            fs::write(&path, &bad).unwrap();
            let (s, rec) = read::<Whole>(dir.path()).unwrap();
            assert_eq!((s.unwrap().0, rec.torn.unwrap().1), (2, last.offset));
        }
    }

    #[test]
    fn a_zero_filled_or_garbled_tail_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let recs = three_saves(dir.path());
        let last = recs.last().unwrap();
        let mut bytes = fs::read(&last.path).unwrap();
        let end = bytes.len();
        bytes[end - 1] ^= 0xff;
        bytes.extend_from_slice(&[0; 100]);
        fs::write(&last.path, &bytes).unwrap();
        let (_, s, rec) = Ledger::<Whole>::open(dir.path(), small()).unwrap();
        assert_eq!(s, Some(Whole(2, "decree 2".into())));
        assert_eq!(rec.torn.unwrap().1, last.offset);
    }

    #[test]
    fn corruption_before_the_last_record_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let recs = three_saves(dir.path());
        let first = &recs[0];
        let mut bytes = fs::read(&first.path).unwrap();
        bytes[first.offset as usize + RECORD_HEADER + 2] ^= 0x01;
        fs::write(&first.path, &bytes).unwrap();
        let err = Ledger::<Whole>::open(dir.path(), small()).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains(&first.path.display().to_string())
                && text.contains(&format!("offset {}", first.offset)),
            "{text}"
        );
        assert!(matches!(err, LedgerError::Corrupt { .. }));
        // Nothing was changed: the file is as the disk left it.
        assert_eq!(fs::read(&first.path).unwrap(), bytes);
    }

    #[test]
    fn a_damaged_length_before_the_last_record_refuses_to_open() {
        for (field, mask) in [(0, 0xffu8), (1, 0x01), (4, 0x5a), (8, 0x80)] {
            let dir = tempfile::tempdir().unwrap();
            let recs = three_saves(dir.path());
            let mut bytes = fs::read(&recs[1].path).unwrap();
            bytes[recs[1].offset as usize + field] ^= mask;
            fs::write(&recs[1].path, &bytes).unwrap();
            let err = Ledger::<Whole>::open(dir.path(), small()).err().unwrap();
            assert!(
                err.to_string()
                    .contains(&format!("offset {}", recs[1].offset)),
                "{err}"
            );
        }
    }

    #[test]
    fn a_damaged_header_or_snapshot_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let recs = three_saves(dir.path());
        let mut bytes = fs::read(&recs[0].path).unwrap();
        bytes[0] = b'X';
        fs::write(&recs[0].path, &bytes).unwrap();
        let err = Ledger::<Whole>::open(dir.path(), small()).err().unwrap();
        assert!(err.to_string().contains("offset 0"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        {
            let (mut l, _, _) = Ledger::<Entries>::open(dir.path(), small()).unwrap();
            let mut e = Entries::default();
            for i in 0..200 {
                e.0.push_back(i);
                l.save(&e).unwrap();
            }
            l.finish_compaction().unwrap();
        }
        let snap = list(dir.path()).unwrap().snaps[0];
        let path = dir.path().join(name("snap", snap));
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let err = Ledger::<Entries>::open(dir.path(), small()).err().unwrap();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_crash_during_compaction_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Entries::default();
        {
            let (mut l, _, _) = Ledger::<Entries>::open(dir.path(), small()).unwrap();
            for i in 0..10 {
                e.0.push_back(i);
                l.save(&e).unwrap();
            }
        }
        // Crash after segment 1 was started, before its snapshot was renamed into place.
        drop(Ledger::<Entries>::create_segment(dir.path(), 1, &small()).unwrap());
        fs::write(dir.path().join("snap-00000000000000000001.tmp"), b"half").unwrap();
        let (mut l, s, rec) = Ledger::<Entries>::open(dir.path(), small()).unwrap();
        assert_eq!(s.as_ref(), Some(&e));
        assert_eq!((rec.segments, rec.snapshot), (2, None));
        assert!(
            list(dir.path()).unwrap().temps.is_empty(),
            "temporary removed"
        );
        e.0.push_back(10);
        l.save(&e).unwrap();
        drop(l);
        // Crash after the snapshot was renamed, before the old segment was deleted.
        let mut at_one = e.clone();
        at_one.0.pop_back();
        write_snapshot_file(dir.path(), 1, &at_one, 0).unwrap();
        let (s, rec) = read::<Entries>(dir.path()).unwrap();
        assert_eq!(s.as_ref(), Some(&e));
        assert_eq!(rec.segments, 1, "segment 0 is superseded by snapshot 1");
        // A segment missing in the middle is corruption, not an empty ledger.
        fs::remove_file(dir.path().join(name("snap", 1))).unwrap();
        fs::remove_file(dir.path().join(name("log", 0))).unwrap();
        let err = Ledger::<Entries>::open(dir.path(), small()).err().unwrap();
        assert!(err.to_string().contains("segment missing"), "{err}");
    }
}
