//! The journal: a priest's ledger on disk, what a priest must not forget across a crash.
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
use std::io::{self, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// How a Storage type is written to the ledger.
///
/// The host calls [`Durable::delta`] with the last state it made durable and the state to
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

    /// Whether `earlier`, a state saved before `self` and not yet durable, should be made
    /// durable first, in a record of its own: for a type whose delta from `earlier` is
    /// small where its delta from an older state is not. The host then syncs twice.
    fn save_first(&self, _earlier: &Self) -> bool {
        false
    }

    /// Decodes a record (the state or a delta) of a ledger written in an older `format`
    /// (the oldest this build reads, or later): for a type whose layout changed since. By
    /// default the layout is today's.
    fn decode_old<T: DeserializeOwned>(_format: u8, payload: &[u8]) -> postcard::Result<T> {
        postcard::from_bytes(payload)
    }
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
/// 2: the Parliament's deltas carry snapshots of the law. 3: decrees carry their
/// president's stamp, and the law its sessions' times. 4: the law holds its Chamber (the
/// membership, when it changes by decree). 5: a joining priest's ledger holds its token. 6:
/// the law holds the deadlines of keys that expire. 7: the Parliament's deltas carry a
/// priest's first snapshot of the law as the decrees it covers.
const FORMAT: u8 = 7;
/// The oldest format this build reads: a ledger in it is read ([`Durable::decode_old`]) and
/// written again in [`FORMAT`] when the journal opens.
const OLDEST_FORMAT: u8 = 3;
const FILE_HEADER: usize = 8;
const RECORD_HEADER: usize = 12;
const FULL: u8 = 1;
const DELTA: u8 = 2;

/// Why a ledger could not be opened or written.
#[derive(Debug)]
pub enum JournalError {
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

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, error } => {
                write!(f, "ledger file {}: {error}", path.display())
            }
            JournalError::Corrupt { path, offset, why } => write!(
                f,
                "ledger file {} is corrupt at offset {offset}: {why}; refusing to start, since the \
                 priest may have promised or voted on what was lost",
                path.display()
            ),
            JournalError::Locked { path } => {
                write!(f, "ledger {} is in use by another process", path.display())
            }
        }
    }
}

impl std::error::Error for JournalError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// When to start a new segment and snapshot, and how far ahead to allocate.
#[derive(Clone, Copy, Debug)]
pub struct JournalOptions {
    /// Never compact a segment smaller than this.
    pub compact_min_bytes: u64,
    /// Compact when a segment exceeds this multiple of the last snapshot's size. With 1,
    /// the ledger's files hold at most about twice the ledger (three times while a
    /// snapshot is written), and a restart replays at most one ledger's worth of records.
    pub compact_ratio: u64,
    /// Zeros written ahead of the records, this many bytes at a time (0: none; each save
    /// then grows the file).
    pub preallocate: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            compact_min_bytes: 4 << 20,
            compact_ratio: 1,
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

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The records of one file, and where its valid part ends.
struct Parsed {
    /// The ledger format the file was written in.
    format: u8,
    records: Vec<(RecordInfo, Vec<u8>)>,
    valid_len: u64,
    file_len: u64,
    /// Everything after `valid_len` is zeros: space allocated ahead, not a torn record.
    zero_tail: bool,
}

/// Reads one ledger file. A damaged tail is accepted (reported through `valid_len`) only
/// when `tail_may_tear`; any other damage is [`JournalError::Corrupt`].
fn parse_file(path: &Path, tail_may_tear: bool) -> Result<Parsed, JournalError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let corrupt = |offset: usize, why: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        why,
    };
    let file_len = bytes.len() as u64;
    if bytes.len() < FILE_HEADER {
        // A segment whose header never reached the disk holds no record.
        if tail_may_tear && file_header().starts_with(&bytes) {
            return Ok(Parsed {
                format: FORMAT,
                records: vec![],
                valid_len: 0,
                file_len,
                zero_tail: false,
            });
        }
        return Err(corrupt(0, "file header is cut short".into()));
    }
    let format = bytes[7];
    if bytes[..7] != MAGIC[..] || !(OLDEST_FORMAT..=FORMAT).contains(&format) {
        let why = if bytes[..7] == MAGIC[..] {
            format!(
                "written in ledger format {format}, and this parliament reads formats \
                 {OLDEST_FORMAT} to {FORMAT} only (see \"Upgrading\" in docs/operations.md)"
            )
        } else {
            "not a ledger file (bad header)".into()
        };
        return Err(corrupt(0, why));
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
                    format,
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
                        format,
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
        format,
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

fn list(dir: &Path) -> Result<Listing, JournalError> {
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
    /// The oldest format of a file that held a record.
    oldest: u8,
}

fn replay<S: Durable>(dir: &Path) -> Result<Replay<S>, JournalError> {
    let listing = list(dir)?;
    let mut recovery = Recovery::default();
    let mut state: Option<S> = None;
    let mut base = None;
    let mut oldest = FORMAT;
    let start = match listing.snaps.last() {
        Some(&s) => {
            let path = dir.join(name("snap", s));
            let parsed = parse_file(&path, false)?;
            let [(info, payload)] = &parsed.records[..] else {
                return Err(JournalError::Corrupt {
                    path,
                    offset: FILE_HEADER as u64,
                    why: format!(
                        "a snapshot holds one full record, found {}",
                        parsed.records.len()
                    ),
                });
            };
            if info.kind != FULL {
                return Err(JournalError::Corrupt {
                    path,
                    offset: info.offset,
                    why: "a snapshot holds a full record, found a delta".into(),
                });
            }
            oldest = oldest.min(parsed.format);
            state = Some(decode::<S, S>(parsed.format, payload).map_err(|e| {
                JournalError::Corrupt {
                    path: path.clone(),
                    offset: info.offset,
                    why: format!("snapshot does not decode: {e}"),
                }
            })?);
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
            return Err(JournalError::Corrupt {
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
        if !parsed.records.is_empty() {
            oldest = oldest.min(parsed.format);
        }
        for (info, payload) in &parsed.records {
            let bad = |why: String| JournalError::Corrupt {
                path: path.clone(),
                offset: info.offset,
                why,
            };
            match info.kind {
                FULL => {
                    state = Some(
                        decode::<S, S>(parsed.format, payload)
                            .map_err(|e| bad(format!("ledger does not decode: {e}")))?,
                    )
                }
                _ => {
                    let delta: S::Delta = decode::<S, S::Delta>(parsed.format, payload)
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
        oldest,
    })
}

/// Decodes a record of a file written in `format`.
fn decode<S: Durable, T: DeserializeOwned>(format: u8, payload: &[u8]) -> postcard::Result<T> {
    if format == FORMAT {
        postcard::from_bytes(payload)
    } else {
        S::decode_old(format, payload)
    }
}

/// Reads the ledger in `dir` without changing anything (for inspection; a torn tail is
/// reported in the [`Recovery`] but left on disk).
pub fn read<S: Durable>(dir: &Path) -> Result<(Option<S>, Recovery), JournalError> {
    let r = replay::<S>(dir)?;
    Ok((r.state, r.recovery))
}

/// Every intact record of every file in `dir`, in replay order (for tests and inspection).
pub fn scan(dir: &Path) -> Result<Vec<RecordInfo>, JournalError> {
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

/// A priest's ledger on disk, open for saving: the journal of its saves.
pub struct Journal<S: Durable> {
    dir: PathBuf,
    options: JournalOptions,
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
    compactor: Option<JoinHandle<Result<u64, JournalError>>>,
    buf: Vec<u8>,
    _lock: File,
}

impl<S: Durable> Journal<S> {
    /// Opens (creating if need be) the ledger in `dir`: replays it, cuts off a torn last
    /// record, and returns the ledger with the last durable state.
    pub fn open(
        dir: &Path,
        options: JournalOptions,
    ) -> Result<(Self, Option<S>, Recovery), JournalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(JournalError::Locked {
                path: dir.to_path_buf(),
            });
        }
        let mut r = replay::<S>(dir)?;
        for t in &r.listing.temps {
            fs::remove_file(t).map_err(io_err(t))?;
        }
        if r.oldest < FORMAT {
            // Written by an older build: the ledger as read is written again, whole, in
            // this format (a snapshot file after every file there is, which then go), and
            // new records go to a new segment after it.
            let seq = r
                .listing
                .snaps
                .iter()
                .chain(&r.listing.logs)
                .max()
                .map_or(0, |n| n + 1);
            let bytes = match &r.state {
                Some(state) => write_snapshot(dir, seq, state)?,
                None => 0,
            };
            tracing::info!(
                ledger = %dir.display(),
                from = r.oldest,
                to = FORMAT,
                "ledger written again in this build's format"
            );
            r.tail = None;
            r.base = Some((seq, bytes));
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
        let journal = Journal {
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
        Ok((journal, r.state, r.recovery))
    }

    /// A new, empty segment, with zeros allocated ahead; returns it and its length.
    fn create_segment(
        dir: &Path,
        seq: u64,
        options: &JournalOptions,
    ) -> Result<(File, u64), JournalError> {
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
    pub fn save(&mut self, next: &S) -> Result<u64, JournalError>
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
    pub fn finish_compaction(&mut self) -> Result<(), JournalError> {
        if let Some(handle) = self.compactor.take() {
            self.snapshot_bytes = handle.join().expect("the compactor does not panic")?;
        }
        Ok(())
    }

    /// Whether a snapshot is being written.
    pub fn compacting(&self) -> bool {
        self.compactor.as_ref().is_some_and(|h| !h.is_finished())
    }

    fn maybe_compact(&mut self) -> Result<(), JournalError> {
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
        (self.file, self.allocated) = Self::create_segment(&self.dir, seq, &self.options)?;
        self.seq = seq;
        self.segment_bytes = FILE_HEADER as u64;
        let dir = self.dir.clone();
        let snapshot = std::thread::Builder::new()
            .name("ledger-snapshot".into())
            .spawn(move || write_snapshot(&dir, seq, &state))
            .map_err(io_err(&self.dir))?;
        self.compactor = Some(snapshot);
        Ok(())
    }
}

/// Writes `snap-seq` (the state at the start of segment `seq`), then deletes what it replaces.
fn write_snapshot<S: Durable>(dir: &Path, seq: u64, state: &S) -> Result<u64, JournalError> {
    let bytes = write_snapshot_file(dir, seq, state)?;
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
///
/// The state is large (the Parliament's law): it is encoded straight into the file through a
/// buffer, its length and checksum taken as it goes, and the record header written last,
/// over the zeros left for it; no copy of the encoding is held in memory.
fn write_snapshot_file<S: Durable>(dir: &Path, seq: u64, state: &S) -> Result<u64, JournalError> {
    let final_path = dir.join(name("snap", seq));
    let tmp = dir.join(format!("{}.tmp", name("snap", seq)));
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let head_len = FILE_HEADER + RECORD_HEADER;
    file.write_all_at(&[0; FILE_HEADER + RECORD_HEADER], 0)
        .map_err(io_err(&tmp))?;
    (&file)
        .seek(io::SeekFrom::Start(head_len as u64))
        .map_err(io_err(&tmp))?;
    let mut body = Body {
        out: io::BufWriter::with_capacity(1 << 20, &file),
        len: 0,
        crc: 0,
    };
    body.write_all(&[FULL]).map_err(io_err(&tmp))?;
    let mut body = postcard::to_io(state, body).map_err(|e| JournalError::Io {
        path: tmp.clone(),
        error: io::Error::other(e),
    })?;
    body.out.flush().map_err(io_err(&tmp))?;
    let len = u32::try_from(body.len).map_err(|_| JournalError::Io {
        path: tmp.clone(),
        error: io::Error::other(format!("a ledger of {} bytes is over 4 GiB", body.len)),
    })?;
    let len = len.to_le_bytes();
    let mut head = file_header().to_vec();
    head.extend_from_slice(&len);
    head.extend_from_slice(&crc32c::crc32c(&len).to_le_bytes());
    head.extend_from_slice(&body.crc.to_le_bytes());
    debug_assert_eq!(head.len(), head_len);
    file.write_all_at(&head, 0).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &final_path).map_err(io_err(&final_path))?;
    sync_dir(dir)?;
    Ok(head_len as u64 + body.len)
}

/// A record body on its way to a file: counts its bytes and takes its CRC-32C as they pass.
struct Body<W> {
    out: W,
    len: u64,
    crc: u32,
}

impl<W: Write> Write for Body<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests;
