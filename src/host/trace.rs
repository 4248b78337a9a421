//! Recording a priest's run (off by default): every handler's input and output, and when its
//! saves reached the disk and its messages left, so that the run can be replayed and checked
//! afterwards (`parliament trace check`, [`crate::service::trace`]).
//!
//! The host knows no protocol, and neither does the trace: it records the actor's own
//! inputs and `stateright` commands, encoded with postcard, for any actor whose messages,
//! timers, random choices and ledger serialize ([`Recorder`]).
//!
//! # What is recorded
//!
//! Each priest appends to its own file, `priest-<i>.trace` in the trace directory
//! (`[trace] dir` in the configuration, or `serve --trace DIR`). A priest that restarts
//! appends to the same file, beginning a new *incarnation* with a new `Start`. The records
//! ([`Record`]):
//!
//! - `Start`: the priest's index, how it was started (`restart`, `bootstrap`, `join`,
//!   `rejoin`), the configuration it was started with (the file's text: enough to build the
//!   same actor again) and the ledger `on_start` got;
//! - `Step`: one handler: its number in the incarnation (`on_start` is step 0), its input
//!   (a message and its sender, a timer, a random choice, or the start), its whole output
//!   (the commands in order: sends, saves, timers set and cancelled, random choices), and
//!   the values it read from the wall clock ([`crate::clock`]). A save is recorded as the
//!   ledger's delta from the previous save recorded ([`Durable::delta`]), or whole;
//! - `Synced(step)`: a save reached the disk (its `fdatasync` returned); `step` is the step
//!   whose saved ledger was written, so every save of the steps up to it is durable;
//! - `Sent(msgs)`: messages left the socket, each named by its step and the index of its
//!   `Send` in that step's output. A message too large for one datagram counts as sent when
//!   its chunks are queued (after the same sync as any other).
//!
//! # The file
//!
//! An 8-byte header (`PTRACE`, 0, format version), then records framed as the journal's
//! are ([`super::journal`]): `u32` LE body length, `u32` CRC-32C of that length, `u32`
//! CRC-32C of the body, then the body (a postcard-encoded [`Record`]).
//!
//! Records are buffered and written (no `fsync`: a killed process's writes stay in the page
//! cache) before any of the priest's messages leave and before any ledger write, so that a
//! step is in its trace before any other priest can receive what it sent, and before its
//! save can be on disk for a restart to start from. The rest (the last `Sent` records) is
//! written at the end of each batch. A priest killed in the middle of a write leaves a torn
//! last record: the reader takes it as the end of that incarnation's trace, and the next
//! incarnation's recorder cuts it off before appending (saying so in its `Start`). Any other
//! damaged record is an error, with the file and offset.

use super::journal::Durable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Command, Out};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MAGIC: &[u8; 7] = b"PTRACE\0";
const FORMAT: u8 = 1;
const FILE_HEADER: usize = 8;
const RECORD_HEADER: usize = 12;

/// The trace file of priest `me` in `dir`.
pub fn file_of(dir: &Path, me: usize) -> PathBuf {
    dir.join(format!("priest-{me}.trace"))
}

/// A handler's input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input<M, T, R> {
    /// `on_start` (step 0 of an incarnation).
    Start,
    /// `on_msg`: a message from the actor with this id.
    Msg(u64, M),
    /// `on_timeout`.
    Timeout(T),
    /// `on_random`.
    Random(R),
}

/// A save, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Saved<S, D> {
    /// The whole ledger.
    Whole(S),
    /// What changed since the previous save recorded in this incarnation (or its `Start`
    /// ledger): [`Durable::apply`] on that one rebuilds the saved ledger.
    Delta(D),
}

/// One command of a handler's output, as recorded (`stateright`'s `Command`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd<M, T, R, S, D> {
    CancelTimer(T),
    SetTimer(T, Range<Duration>),
    Send(u64, M),
    ChooseRandom(String, Vec<R>),
    Save(Saved<S, D>),
}

/// How an incarnation began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecord<S> {
    /// The priest's index.
    pub priest: u64,
    /// `restart` (from its ledger as the journal kept it), `bootstrap` (a new cluster's),
    /// `join`, `rejoin` (a ledger made at start), or `unchecked` (tests and benchmarks).
    pub mode: String,
    /// The configuration the actor was built from (the configuration file's text).
    pub config: String,
    /// The ledger `on_start` got.
    pub ledger: Option<S>,
    /// A torn record of the previous incarnation cut off before this one: its offset and
    /// length.
    pub cut: Option<(u64, u64)>,
}

/// One handler run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord<M, T, R, S, D> {
    /// The step's number in its incarnation; `on_start` is 0.
    pub seq: u64,
    pub input: Input<M, T, R>,
    pub output: Vec<Cmd<M, T, R, S, D>>,
    /// The wall-clock values the handler read, in order ([`crate::clock`]).
    pub clock: Vec<u64>,
}

/// A record of a trace file (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record<M, T, R, S, D> {
    Start(StartRecord<S>),
    Step(StepRecord<M, T, R, S, D>),
    /// The save of this step (and so of every step before it) is durable.
    Synced(u64),
    /// These messages left: (step, index of the `Send` in the step's output).
    Sent(Vec<(u64, u32)>),
}

/// The records of actor `A`'s trace.
pub type RecordOf<A> = Record<
    <A as Actor>::Msg,
    <A as Actor>::Timer,
    <A as Actor>::Random,
    <A as Actor>::Storage,
    <<A as Actor>::Storage as Durable>::Delta,
>;
/// A step of actor `A`'s trace.
pub type StepOf<A> = StepRecord<
    <A as Actor>::Msg,
    <A as Actor>::Timer,
    <A as Actor>::Random,
    <A as Actor>::Storage,
    <<A as Actor>::Storage as Durable>::Delta,
>;
/// Actor `A`'s trace file, read.
pub type ReadOf<A> = Read<
    <A as Actor>::Msg,
    <A as Actor>::Timer,
    <A as Actor>::Random,
    <A as Actor>::Storage,
    <<A as Actor>::Storage as Durable>::Delta,
>;
/// A command of actor `A`'s trace.
pub type CmdOf<A> = Cmd<
    <A as Actor>::Msg,
    <A as Actor>::Timer,
    <A as Actor>::Random,
    <A as Actor>::Storage,
    <<A as Actor>::Storage as Durable>::Delta,
>;

/// What the host tells a trace (object-safe, so that the host needs no serialization bounds
/// beyond its own: [`Recorder`] has them).
pub trait Trace<A: Actor>: Send {
    /// An incarnation begins with this ledger.
    fn start(&mut self, ledger: &Option<A::Storage>);
    /// A handler is about to run on `input` (the sender as its id's bits).
    fn begin(&mut self, input: Input<&A::Msg, &A::Timer, &A::Random>);
    /// The handler begun last returned `out`, having read `clock`; its step number.
    fn end(&mut self, out: &Out<A>, clock: &[u64]) -> u64;
    /// The save of `step` is durable.
    fn synced(&mut self, step: u64);
    /// These messages left (step, index of the `Send` in its output).
    fn sent(&mut self, msgs: &[(u64, u32)]);
    /// Writes what is buffered (no sync).
    fn flush(&mut self);
}

/// Writes a priest's trace file (see the module docs).
pub struct Recorder<A: Actor>
where
    A::Storage: Durable,
{
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// The input of the handler running, encoded.
    input: Vec<u8>,
    /// The next step's number.
    seq: u64,
    /// The last save recorded (or the `Start` ledger): saves are deltas from it.
    last_saved: Option<A::Storage>,
    priest: u64,
    mode: String,
    config: String,
    cut: Option<(u64, u64)>,
    /// Bytes written so far by this recorder.
    written: u64,
    failed: bool,
}

impl<A> Recorder<A>
where
    A: Actor,
    A::Msg: Serialize,
    A::Timer: Serialize,
    A::Random: Serialize,
    A::Storage: Durable,
{
    /// Opens (creating if need be) priest `priest`'s trace file in `dir` to append an
    /// incarnation started as `mode` (see [`StartRecord`]) with configuration text `config`.
    /// A torn last record of the previous incarnation is cut off first.
    pub fn open(dir: &Path, priest: usize, mode: &str, config: &str) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = file_of(dir, priest);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        let bytes = std::fs::read(&path)?;
        let mut cut = None;
        if bytes.len() < FILE_HEADER {
            file.set_len(0)?;
            file.write_all(&file_header())?;
        } else {
            if bytes[..7] != MAGIC[..] {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a trace file", path.display()),
                ));
            }
            if let Some(at) = torn_tail(&bytes) {
                file.set_len(at as u64)?;
                cut = Some((at as u64, (bytes.len() - at) as u64));
            }
        }
        use std::io::Seek;
        file.seek(io::SeekFrom::End(0))?;
        Ok(Recorder {
            path,
            file,
            buf: Vec::with_capacity(64 << 10),
            input: Vec::new(),
            seq: 0,
            last_saved: None,
            priest: priest as u64,
            mode: mode.to_string(),
            config: config.to_string(),
            cut,
            written: 0,
            failed: false,
        })
    }

    /// Bytes written by this recorder (this incarnation).
    pub fn written(&self) -> u64 {
        self.written
    }

    fn push(&mut self, body: impl FnOnce(&mut Vec<u8>)) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; RECORD_HEADER]);
        body(&mut self.buf);
        let len = ((self.buf.len() - at - RECORD_HEADER) as u32).to_le_bytes();
        let body_crc = crc32c::crc32c(&self.buf[at + RECORD_HEADER..]);
        self.buf[at..at + 4].copy_from_slice(&len);
        self.buf[at + 4..at + 8].copy_from_slice(&crc32c::crc32c(&len).to_le_bytes());
        self.buf[at + 8..at + 12].copy_from_slice(&body_crc.to_le_bytes());
    }
}

fn file_header() -> [u8; FILE_HEADER] {
    let mut h = [0; FILE_HEADER];
    h[..7].copy_from_slice(MAGIC);
    h[7] = FORMAT;
    h
}

/// Appends `v`'s postcard encoding to `buf`.
fn put<T: Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) {
    let taken = std::mem::take(buf);
    *buf = postcard::to_extend(v, taken).expect("a trace record encodes");
}

impl<A> Trace<A> for Recorder<A>
where
    A: Actor,
    A::Msg: Serialize,
    A::Timer: Serialize,
    A::Random: Serialize,
    A::Storage: Durable,
{
    fn start(&mut self, ledger: &Option<A::Storage>) {
        let (priest, cut) = (self.priest, self.cut);
        let (mode, config) = (
            std::mem::take(&mut self.mode),
            std::mem::take(&mut self.config),
        );
        // Variant 0 of `Record`, then the fields of `StartRecord` in order.
        self.push(|b| {
            put(b, &0u32);
            put(b, &priest);
            put(b, mode.as_str());
            put(b, config.as_str());
            put(b, ledger);
            put(b, &cut);
        });
        (self.mode, self.config) = (mode, config);
        self.last_saved = ledger.clone();
        self.seq = 0;
    }

    fn begin(&mut self, input: Input<&A::Msg, &A::Timer, &A::Random>) {
        self.input.clear();
        put(&mut self.input, &input);
    }

    fn end(&mut self, out: &Out<A>, clock: &[u64]) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        let mut cmds = Vec::with_capacity(out.len());
        for c in out.iter() {
            cmds.push(match c {
                Command::CancelTimer(t) => Cmd::CancelTimer(t),
                Command::SetTimer(t, r) => Cmd::SetTimer(t, r.clone()),
                Command::Send(dst, m) => Cmd::Send(usize::from(*dst) as u64, m),
                Command::ChooseRandom(k, rs) => Cmd::ChooseRandom(k.clone(), rs.clone()),
                Command::Save(s) => {
                    let saved = match self.last_saved.as_ref().and_then(|p| s.delta(p)) {
                        Some(d) => Saved::Delta(d),
                        None => Saved::Whole(s),
                    };
                    self.last_saved = Some(s.clone());
                    Cmd::Save(saved)
                }
            });
        }
        let input = std::mem::take(&mut self.input);
        self.push(|b| {
            put(b, &1u32);
            put(b, &seq);
            b.extend_from_slice(&input);
            put(b, &cmds);
            put(b, clock);
        });
        self.input = input;
        seq
    }

    fn synced(&mut self, step: u64) {
        self.push(|b| {
            put(b, &2u32);
            put(b, &step);
        });
    }

    fn sent(&mut self, msgs: &[(u64, u32)]) {
        if msgs.is_empty() {
            return;
        }
        self.push(|b| {
            put(b, &3u32);
            put(b, msgs);
        });
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if !self.failed {
            if let Err(e) = self.file.write_all(&self.buf) {
                // The priest runs on; its trace ends here, and says so.
                tracing::warn!(file = %self.path.display(), error = %e, "cannot write the trace; recording stops");
                self.failed = true;
            } else {
                self.written += self.buf.len() as u64;
            }
        }
        self.buf.clear();
    }
}

impl<A: Actor> Drop for Recorder<A>
where
    A::Storage: Durable,
{
    fn drop(&mut self) {
        if !self.failed && !self.buf.is_empty() {
            let _ = self.file.write_all(&self.buf);
        }
    }
}

/// Writes `records` as a whole trace file at `path` (for tools and tests: a recorder
/// appends as the priest runs).
pub fn write_file<M, T, R, S, D>(path: &Path, records: &[Record<M, T, R, S, D>]) -> io::Result<()>
where
    M: Serialize,
    T: Serialize,
    R: Serialize,
    S: Serialize,
    D: Serialize,
{
    let mut out = file_header().to_vec();
    for r in records {
        let body = postcard::to_stdvec(r).map_err(io::Error::other)?;
        let len = (body.len() as u32).to_le_bytes();
        out.extend_from_slice(&len);
        out.extend_from_slice(&crc32c::crc32c(&len).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }
    std::fs::write(path, out)
}

/// Checks the record at `at`: its total length, or why it is damaged, and whether the
/// damage can be a torn last write (it reaches the end of the file).
fn record_at(bytes: &[u8], at: usize) -> Result<usize, (String, bool)> {
    let word = |i: usize| u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
    if bytes.len() - at < RECORD_HEADER {
        return Err(("record header cut short".into(), true));
    }
    let len = word(0) as usize;
    if crc32c::crc32c(&bytes[at..at + 4]) != word(4) {
        return Err(("record header checksum mismatch".into(), false));
    }
    let end = at + RECORD_HEADER + len;
    if end > bytes.len() {
        return Err((
            format!("record of {len} bytes runs past the end of the file"),
            true,
        ));
    }
    if crc32c::crc32c(&bytes[at + RECORD_HEADER..end]) != word(8) {
        return Err(("record checksum mismatch".into(), end == bytes.len()));
    }
    Ok(RECORD_HEADER + len)
}

/// Where a torn last record begins, if the file ends with one.
fn torn_tail(bytes: &[u8]) -> Option<usize> {
    let mut at = FILE_HEADER;
    while at < bytes.len() {
        match record_at(bytes, at) {
            Ok(n) => at += n,
            Err((_, true)) => return Some(at),
            Err((_, false)) => return None,
        }
    }
    None
}

/// Why a trace file cannot be read.
#[derive(Debug)]
pub enum ReadError {
    Io {
        path: PathBuf,
        error: io::Error,
    },
    /// A damaged record that is not the torn last one, or one that does not decode.
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: String,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io { path, error } => write!(f, "trace file {}: {error}", path.display()),
            ReadError::Corrupt { path, offset, why } => write!(
                f,
                "trace file {} is corrupt at offset {offset}: {why}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// A trace file's records, each with its offset, and the torn last record if there was one
/// (its offset and length).
#[allow(clippy::type_complexity)]
pub struct Read<M, T, R, S, D> {
    pub records: Vec<(u64, Record<M, T, R, S, D>)>,
    pub torn: Option<(u64, u64)>,
}

/// Reads the records of a trace file. A torn last record ends the file (the recorder of a
/// later incarnation cuts it off before appending, so only the last incarnation can end
/// with one).
pub fn read<M, T, R, S, D>(path: &Path) -> Result<Read<M, T, R, S, D>, ReadError>
where
    M: DeserializeOwned,
    T: DeserializeOwned,
    R: DeserializeOwned,
    S: DeserializeOwned,
    D: DeserializeOwned,
{
    let bytes = std::fs::read(path).map_err(|error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse(&bytes, path)
}

/// Parses trace file bytes (`path` names it in errors).
pub fn parse<M, T, R, S, D>(bytes: &[u8], path: &Path) -> Result<Read<M, T, R, S, D>, ReadError>
where
    M: DeserializeOwned,
    T: DeserializeOwned,
    R: DeserializeOwned,
    S: DeserializeOwned,
    D: DeserializeOwned,
{
    let corrupt = |offset: usize, why: String| ReadError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        why,
    };
    if bytes.len() < FILE_HEADER || bytes[..7] != MAGIC[..] {
        return Err(corrupt(0, "not a trace file (no PTRACE header)".into()));
    }
    if bytes[7] != FORMAT {
        return Err(corrupt(
            7,
            format!("trace format {} (this build reads {FORMAT})", bytes[7]),
        ));
    }
    let mut records = Vec::new();
    let mut at = FILE_HEADER;
    let mut torn = None;
    while at < bytes.len() {
        match record_at(bytes, at) {
            Ok(n) => {
                let body = &bytes[at + RECORD_HEADER..at + n];
                let r = postcard::from_bytes(body)
                    .map_err(|e| corrupt(at, format!("record does not decode: {e}")))?;
                records.push((at as u64, r));
                at += n;
            }
            Err((_, true)) => {
                torn = Some((at as u64, (bytes.len() - at) as u64));
                break;
            }
            Err((why, false)) => return Err(corrupt(at, why)),
        }
    }
    Ok(Read { records, torn })
}

#[cfg(test)]
mod tests;
