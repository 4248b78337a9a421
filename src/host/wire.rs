//! The wire format: how messages travel in UDP datagrams.
//!
//! A datagram carries one message (version 1) or several (version 2, a *bundle*):
//!
//! ```text
//! version 1                                   version 2 (a bundle)
//! offset  size  field                         offset  size  field
//! 0       1     version (1)                   0       1     version (2)
//! 1       8     sender's actor Id, u64 BE     then, for each message:
//! 9       n     the message, postcard           8     its sender's actor Id, u64 BE
//! 9+n     16    MAC                             4     n, u32 BE
//!                                               n     the message, postcard
//!                                             end-16  16    MAC
//! ```
//!
//! The message is postcard-encoded (compact binary serde). The MAC is the keyed BLAKE3 of
//! every byte before it under the cluster key, first 16 bytes. It proves the datagram was
//! made by a holder of the cluster key and that the claimed senders, which the receiver uses
//! as each message's `src`, were not altered. Nothing stops a replay; replays are harmless
//! by construction, since the checked model has a duplicating network. A datagram is
//! checked in this order, and the first failure names the drop: length and version
//! ([`Reject::Malformed`]), MAC ([`Reject::BadMac`]), then the messages
//! ([`Reject::Undecodable`], also for a bundle whose lengths do not add up); whether each
//! sender is a member is the host's business.
//!
//! A bundle is only transport: the host sends every message a batch addresses to one
//! socket in as few datagrams as fit ([`Bundle`]), and the receiver handles its messages
//! one by one, as if each had come alone. Losing or duplicating a bundle loses or
//! duplicates each of its messages, which the lossy, duplicating model already covers.
//!
//! # Large messages travel in chunks (version 3)
//!
//! A message whose encoding does not fit in one datagram (a snapshot of the law, a decree
//! carrying a large value, a `LastVote` reporting many decrees) is cut into *chunks*
//! ([`chunks`]), each a datagram of at most [`CHUNK_DATAGRAM`] bytes with its own MAC:
//!
//! ```text
//! offset  size  field
//! 0       1     version (3)
//! 1       8     sender's actor Id, u64 BE
//! 9       8     transfer id: the first 8 bytes of BLAKE3 of the sender and the message
//! 17      4     chunk index, u32 BE
//! 21      4     chunk count, u32 BE
//! 25      n     this chunk's bytes of the message
//! 25+n    16    MAC
//! ```
//!
//! The receiver ([`Reassembly`]) keeps the chunks of each transfer until it has them all,
//! then decodes the message and hands it on as if it had come in one datagram. Chunks may
//! come in any order and any number of times. A lost chunk leaves the transfer incomplete
//! and the message is lost, as the model allows; the protocol asks again (a lagging priest
//! sends `Catchup` on the next heartbeat), and since the transfer id depends only on the
//! sender and the message, the copy sent again *resumes* the transfer: the chunks already
//! received count, whichever side restarted in between. A sender that restarted makes the
//! same bytes again (a law is written in key order, so its snapshot encodes the same); a
//! priest that restarts takes back the chunks it had spooled to disk beside its ledger
//! ([`Reassembly::spooled`]). A transfer is dropped when
//! no chunk of it came for [`TRANSFER_IDLE`], and the receiver holds at most
//! [`MAX_TRANSFERS`] transfers and [`MAX_MESSAGE`] bytes per message: a chunk beyond those
//! bounds, or one that disagrees with its transfer's count, is dropped and counted.

use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::actor::Id;
use std::fmt;
use std::path::{Path, PathBuf};

/// The version byte of a datagram carrying one message.
pub const VERSION: u8 = 1;
/// The version byte of a bundle: several messages, each with its sender.
pub const VERSION_BUNDLE: u8 = 2;
/// Bytes before each message of a bundle: its sender and its length.
pub const ENTRY_HEADER: usize = 12;
/// Bytes before the message: version and sender.
pub const HEADER: usize = 9;
/// Bytes of the MAC at the end.
pub const MAC_LEN: usize = 16;
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;
/// The version byte of a chunk of a large message.
pub const VERSION_CHUNK: u8 = 3;
/// Bytes before a chunk's payload: version, sender, transfer id, index, count.
pub const CHUNK_HEADER: usize = 25;
/// The size of a chunk datagram: 60,000 bytes, the size of the datagrams that carry
/// decrees (IP fragments them; see docs/operations.md).
pub const CHUNK_DATAGRAM: usize = 60_000;
/// The bytes of the message one chunk carries (all but the last carry exactly this many).
pub const CHUNK_PAYLOAD: usize = CHUNK_DATAGRAM - CHUNK_HEADER - MAC_LEN;
/// The largest message the wire carries, in chunks: 1 GiB (a snapshot of a law of about
/// that size; a receiver holds a transfer's chunks in memory until it is complete).
pub const MAX_MESSAGE: usize = 1 << 30;
/// How many incomplete transfers a receiver holds at once.
pub const MAX_TRANSFERS: usize = 16;
/// A transfer with no chunk for this long is dropped.
pub const TRANSFER_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The cluster key: 32 bytes shared by every priest and client of one cluster.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Self {
        Key(rand::random())
    }

    /// Parses 64 hexadecimal digits (surrounding whitespace is ignored).
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        blake3::Hash::from_hex(text)
            .map(|h| Key(*h.as_bytes()))
            .map_err(|_| {
                format!(
                    "a cluster key is 64 hexadecimal digits (32 bytes); found {} characters",
                    text.len()
                )
            })
    }

    /// The key as 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Reads a key file (64 hexadecimal digits).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read cluster key file {}: {e}", path.display()))?;
        Key::from_hex(&text).map_err(|e| format!("cluster key file {}: {e}", path.display()))
    }

    /// Whether `mac` is the MAC of `bytes`. Constant-time comparison is not needed for a
    /// truncated MAC checked once per datagram, but it costs nothing to avoid an early exit.
    fn verify(&self, bytes: &[u8], mac: &[u8]) -> bool {
        let expected = self.mac(bytes);
        mac.len() == MAC_LEN
            && expected
                .iter()
                .zip(mac)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// This key bound to `context`: a key of its own, derived from both. A cluster with
    /// `[membership]` binds its key to its genesis Chamber (see `Config::load`), so priests
    /// configured with different founders or lookahead, which would count different quorums,
    /// cannot exchange a single message.
    pub fn bound_to(&self, context: &str) -> Key {
        Key(*blake3::keyed_hash(&self.0, context.as_bytes()).as_bytes())
    }

    fn mac(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let full = blake3::keyed_hash(&self.0, bytes);
        let mut mac = [0; MAC_LEN];
        mac.copy_from_slice(&full.as_bytes()[..MAC_LEN]);
        mac
    }
}

/// Why a datagram was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Too short, or a version this build does not speak.
    Malformed(String),
    /// The MAC does not match: wrong key, truncated or altered.
    BadMac,
    /// The MAC matched but the message did not decode (a peer running another protocol).
    Undecodable(String),
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Malformed(why) => write!(f, "malformed datagram: {why}"),
            Reject::BadMac => write!(f, "bad MAC"),
            Reject::Undecodable(why) => write!(f, "undecodable message: {why}"),
        }
    }
}

fn id_bits(id: Id) -> u64 {
    usize::from(id) as u64
}

fn id_from_bits(bits: u64) -> Id {
    Id::from(bits as usize)
}

/// Appends the datagram carrying `msg` from `src` to `out` (which is cleared first).
pub fn encode<M: Serialize>(
    key: &Key,
    src: Id,
    msg: &M,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    out.clear();
    out.push(VERSION);
    out.extend_from_slice(&id_bits(src).to_be_bytes());
    let taken = std::mem::take(out);
    *out = postcard::to_extend(msg, taken)?;
    let mac = key.mac(out);
    out.extend_from_slice(&mac);
    Ok(())
}

/// A bundle being filled: messages to one destination, sealed with the MAC when full or
/// when the batch ends.
#[derive(Debug)]
pub struct Bundle {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

impl Bundle {
    pub fn new() -> Self {
        Bundle {
            buf: vec![VERSION_BUNDLE],
            count: 0,
        }
    }

    /// Messages in it.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends `msg` from `src`, unless the sealed datagram would then exceed `max` bytes.
    /// Returns whether it went in: a message refused by an empty bundle fits in no datagram
    /// and goes in chunks ([`chunks`]).
    pub fn push<M: Serialize>(
        &mut self,
        src: Id,
        msg: &M,
        max: usize,
    ) -> Result<bool, postcard::Error> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&id_bits(src).to_be_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        if let Err(e) = postcard::to_io(msg, &mut self.buf) {
            // The messages already in stay; this one is not.
            self.buf.truncate(start);
            return Err(e);
        }
        let n = self.buf.len() - start - ENTRY_HEADER;
        if self.buf.len() + MAC_LEN > max {
            self.buf.truncate(start);
            return Ok(false);
        }
        self.buf[start + 8..start + ENTRY_HEADER].copy_from_slice(&(n as u32).to_be_bytes());
        self.count += 1;
        Ok(true)
    }

    /// The datagram: the messages and the MAC over them. The bundle is empty again after.
    pub fn seal(&mut self, key: &Key, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.buf);
        let mac = key.mac(out);
        out.extend_from_slice(&mac);
        self.buf.truncate(1);
        self.count = 0;
    }
}

/// The datagrams that carry `msg` from `src`: one (version 1) if it fits in `max` bytes,
/// else its chunks (version 3) of at most [`CHUNK_DATAGRAM`] bytes. An error if it does not
/// encode or is larger than [`MAX_MESSAGE`].
pub fn chunks<M: Serialize>(
    key: &Key,
    src: Id,
    msg: &M,
    max: usize,
) -> Result<Vec<Vec<u8>>, String> {
    let mut single = Vec::new();
    encode(key, src, msg, &mut single).map_err(|e| e.to_string())?;
    if single.len() <= max {
        return Ok(vec![single]);
    }
    let body = &single[HEADER..single.len() - MAC_LEN];
    if body.len() > MAX_MESSAGE {
        return Err(format!(
            "a message of {} bytes, above the wire's limit of {MAX_MESSAGE}",
            body.len()
        ));
    }
    let mut h = blake3::Hasher::new();
    h.update(&id_bits(src).to_be_bytes());
    h.update(body);
    let transfer: [u8; 8] = h.finalize().as_bytes()[..8].try_into().expect("8 bytes");
    let count = body.len().div_ceil(CHUNK_PAYLOAD) as u32;
    Ok(body
        .chunks(CHUNK_PAYLOAD)
        .enumerate()
        .map(|(i, part)| {
            let mut out = Vec::with_capacity(CHUNK_HEADER + part.len() + MAC_LEN);
            out.push(VERSION_CHUNK);
            out.extend_from_slice(&id_bits(src).to_be_bytes());
            out.extend_from_slice(&transfer);
            out.extend_from_slice(&(i as u32).to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
            out.extend_from_slice(part);
            let mac = key.mac(&out);
            out.extend_from_slice(&mac);
            out
        })
        .collect())
}

/// Sends a message's chunks to `to`, starting at a random one: a copy sent again (the
/// protocol asking again after a loss) then fills other gaps than the first, even when a
/// full receive buffer drops every chunk past the same point each time.
pub fn send_chunks(
    socket: &std::net::UdpSocket,
    datagrams: &[Vec<u8>],
    to: std::net::SocketAddr,
) -> std::io::Result<()> {
    let start = rand::random::<u32>() as usize % datagrams.len().max(1);
    let mut result = Ok(());
    for d in datagrams[start..].iter().chain(&datagrams[..start]) {
        if let Err(e) = socket.send_to(d, to) {
            result = Err(e);
        }
    }
    result
}

/// Asks for socket buffers of 4 MiB each way (the kernel caps them at its maximum): a
/// message in chunks arrives as a burst of datagrams. Best effort: a smaller buffer only
/// loses more chunks, which the protocol asks for again.
pub fn widen_buffers(socket: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4 << 20;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// The chunks of incomplete transfers a receiver holds (see "Large messages travel in
/// chunks"), in memory and, for a priest, spooled to a directory so that a transfer resumes
/// after the receiver restarts ([`Reassembly::spooled`]).
#[derive(Default)]
pub struct Reassembly {
    transfers: std::collections::HashMap<(u64, [u8; 8]), Partial>,
    spool: Option<PathBuf>,
}

struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    have: usize,
    bytes: usize,
    last: std::time::Instant,
    /// The spool file the transfer's chunk datagrams are appended to, if any.
    file: Option<std::fs::File>,
}

/// What [`Reassembly::spooled`] found of the transfers a previous run left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    pub transfers: usize,
    pub chunks: usize,
    /// Records that were torn (cut off at a crash) or failed their MAC: dropped.
    pub dropped: usize,
}

impl Reassembly {
    /// A receiver that keeps chunks in memory only: one that restarts starts every transfer
    /// afresh (a client).
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver that also appends each new chunk, as the datagram it came in, to a file
    /// per transfer in `dir` (a priest's, beside its ledger), and first takes back the
    /// chunks a previous run left there: a transfer cut by a restart of the receiver then
    /// resumes with the chunks it had. A spool file holds records of a 4-byte big-endian
    /// length and a chunk datagram; each is checked again (its MAC) when taken back, and
    /// the first torn or bad record ends the file. Files are not synced: a crash of the
    /// machine loses at most chunks, which are sent again. A file goes when its transfer
    /// completes, idles out or is evicted; a transfer that a restart found complete is
    /// dropped (the protocol asks again). Failing to write the spool only costs resuming.
    pub fn spooled(dir: &Path, key: &Key, now: std::time::Instant) -> (Self, Resumed) {
        let mut r = Reassembly {
            transfers: Default::default(),
            spool: Some(dir.to_path_buf()),
        };
        let mut found = Resumed::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (r, found);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "part") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            let _ = std::fs::remove_file(&path);
            let mut at = 0;
            let mut valid = 0;
            let mut k = None;
            while let Some(len) = bytes
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes(b.try_into().expect("4")) as usize)
            {
                let Some(d) = bytes.get(at + 4..at + 4 + len) else {
                    break;
                };
                let Ok((key_of, _)) = r.accept(key, d, now) else {
                    break;
                };
                if k.is_some_and(|k| k != key_of) {
                    break;
                }
                k = Some(key_of);
                at += 4 + len;
                valid += 1;
            }
            found.chunks += valid;
            if at < bytes.len() {
                found.dropped += 1;
            }
            let Some(k) = k else { continue };
            match r.transfers.get(&k) {
                Some(p) if p.have < p.parts.len() => {
                    found.transfers += 1;
                    // The file again, holding the records taken back.
                    let file = std::fs::File::create(&path).and_then(|mut f| {
                        std::io::Write::write_all(&mut f, &bytes[..at])?;
                        Ok(f)
                    });
                    r.transfers.get_mut(&k).expect("present").file = file.ok();
                }
                _ => {
                    r.transfers.remove(&k);
                }
            }
        }
        (r, found)
    }

    /// Transfers in progress.
    pub fn in_progress(&self) -> usize {
        self.transfers.len()
    }

    fn spool_path(&self, (src, transfer): (u64, [u8; 8])) -> Option<PathBuf> {
        let t = u64::from_be_bytes(transfer);
        Some(
            self.spool
                .as_ref()?
                .join(format!("{src:016x}-{t:016x}.part")),
        )
    }

    fn forget(&mut self, k: (u64, [u8; 8])) -> Option<Partial> {
        let p = self.transfers.remove(&k)?;
        if p.file.is_some() {
            if let Some(path) = self.spool_path(k) {
                let _ = std::fs::remove_file(path);
            }
        }
        Some(p)
    }

    /// Checks and decodes one datagram of any version: its messages, or, for a chunk,
    /// the message it completes (nothing while its transfer is incomplete).
    pub fn decode<M: DeserializeOwned>(
        &mut self,
        key: &Key,
        bytes: &[u8],
        now: std::time::Instant,
    ) -> Result<Vec<(Id, M)>, Reject> {
        if bytes.first() != Some(&VERSION_CHUNK) {
            return decode(key, bytes);
        }
        let (k, new) = self.accept(key, bytes, now)?;
        let p = &self.transfers[&k];
        if p.have < p.parts.len() {
            if new && self.spool.is_some() {
                self.spool_chunk(k, bytes);
            }
            return Ok(Vec::new());
        }
        let p = self.forget(k).expect("present");
        let body: Vec<u8> = p.parts.into_iter().flatten().flatten().collect();
        let msg = message(&body).map_err(|e| Reject::Undecodable(e.to_string()))?;
        Ok(vec![(id_from_bits(k.0), msg)])
    }

    /// Appends a chunk datagram to its transfer's spool file, opening it first if need be.
    fn spool_chunk(&mut self, k: (u64, [u8; 8]), datagram: &[u8]) {
        use std::io::Write;
        let path = self.spool_path(k).expect("spooled");
        let p = self.transfers.get_mut(&k).expect("present");
        if p.file.is_none() && p.have == 1 {
            let dir = path.parent().expect("in the spool");
            p.file = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::File::create(&path))
                .map_err(|error| {
                    tracing::warn!(file = %path.display(), %error, "cannot spool a transfer")
                })
                .ok();
        }
        let Some(f) = &mut p.file else { return };
        let mut record = (datagram.len() as u32).to_be_bytes().to_vec();
        record.extend_from_slice(datagram);
        if let Err(error) = f.write_all(&record) {
            tracing::warn!(file = %path.display(), %error, "cannot spool a transfer");
            p.file = None;
            let _ = std::fs::remove_file(&path);
        }
    }

    /// Checks a chunk and files it with its transfer: the transfer, and whether the chunk
    /// was new to it.
    fn accept(
        &mut self,
        key: &Key,
        bytes: &[u8],
        now: std::time::Instant,
    ) -> Result<((u64, [u8; 8]), bool), Reject> {
        if bytes.len() < CHUNK_HEADER + MAC_LEN || bytes[0] != VERSION_CHUNK {
            return Err(Reject::Malformed(format!(
                "a chunk of {} bytes, shorter than its header and MAC",
                bytes.len()
            )));
        }
        let (signed, mac) = bytes.split_at(bytes.len() - MAC_LEN);
        if !key.verify(signed, mac) {
            return Err(Reject::BadMac);
        }
        let u32_at = |i: usize| u32::from_be_bytes(signed[i..i + 4].try_into().expect("4"));
        let src = u64::from_be_bytes(signed[1..9].try_into().expect("8 bytes"));
        let transfer: [u8; 8] = signed[9..17].try_into().expect("8 bytes");
        let (index, count) = (u32_at(17) as usize, u32_at(21) as usize);
        let part = &signed[CHUNK_HEADER..];
        if count < 2
            || index >= count
            || count > MAX_MESSAGE.div_ceil(CHUNK_PAYLOAD)
            || part.is_empty()
        {
            return Err(Reject::Malformed(format!(
                "chunk {index} of {count}, of {} bytes",
                part.len()
            )));
        }
        let idle: Vec<_> = self
            .transfers
            .iter()
            .filter(|(_, p)| now.duration_since(p.last) >= TRANSFER_IDLE)
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            self.forget(k);
        }
        let k = (src, transfer);
        if !self.transfers.contains_key(&k) && self.transfers.len() >= MAX_TRANSFERS {
            // Make room: the transfer that progressed least recently goes.
            if let Some(oldest) = self
                .transfers
                .iter()
                .min_by_key(|(_, p)| p.last)
                .map(|(k, _)| *k)
            {
                self.forget(oldest);
            }
        }
        let p = self.transfers.entry(k).or_insert_with(|| Partial {
            parts: vec![None; count],
            have: 0,
            bytes: 0,
            last: now,
            file: None,
        });
        if p.parts.len() != count || p.bytes + part.len() > MAX_MESSAGE {
            return Err(Reject::Malformed(format!(
                "chunk {index} of {count} disagrees with its transfer of {} chunks",
                p.parts.len()
            )));
        }
        p.last = now;
        let new = p.parts[index].is_none();
        if new {
            p.parts[index] = Some(part.to_vec());
            p.have += 1;
            p.bytes += part.len();
        }
        Ok((k, new))
    }
}

/// Decodes one message: as this build writes it; else as a build before incarnation tags
/// wrote it (a message whose last field, its tag, is missing: a zero byte after it reads as
/// tag 0); else as the builds before the law held the deadlines of keys, or its Chamber,
/// wrote it (a snapshot from a priest not yet upgraded). A build before tags decodes this
/// build's messages as they are: postcard ignores the byte after the fields it knows.
fn message<M: DeserializeOwned>(bytes: &[u8]) -> postcard::Result<M> {
    use crate::kv::{with_law_before_chamber, with_law_before_deadlines};
    postcard::from_bytes(bytes).or_else(|e| {
        postcard::from_bytes(&[bytes, &[0]].concat())
            .or_else(|_| with_law_before_deadlines(|| postcard::from_bytes(bytes)))
            .or_else(|_| with_law_before_chamber(|| postcard::from_bytes(bytes)))
            .map_err(|_| e)
    })
}

/// Checks and decodes one datagram (version 1 or 2) into its messages, each with its
/// sender, in the order they were put in.
pub fn decode<M: DeserializeOwned>(key: &Key, bytes: &[u8]) -> Result<Vec<(Id, M)>, Reject> {
    if bytes.len() < 1 + MAC_LEN {
        return Err(Reject::Malformed(format!(
            "{} bytes, shorter than a version byte and a MAC",
            bytes.len()
        )));
    }
    if bytes[0] != VERSION && bytes[0] != VERSION_BUNDLE {
        return Err(Reject::Malformed(format!(
            "version {}, this build speaks {VERSION} and {VERSION_BUNDLE}",
            bytes[0]
        )));
    }
    if bytes[0] == VERSION && bytes.len() < HEADER + MAC_LEN {
        return Err(Reject::Malformed(format!(
            "{} bytes, shorter than the {} of header and MAC",
            bytes.len(),
            HEADER + MAC_LEN
        )));
    }
    let (signed, mac) = bytes.split_at(bytes.len() - MAC_LEN);
    if !key.verify(signed, mac) {
        return Err(Reject::BadMac);
    }
    let undecodable = |e: postcard::Error| Reject::Undecodable(e.to_string());
    if signed[0] == VERSION {
        let src = id_from_bits(u64::from_be_bytes(
            signed[1..HEADER].try_into().expect("8 bytes"),
        ));
        let msg = message(&signed[HEADER..]).map_err(undecodable)?;
        return Ok(vec![(src, msg)]);
    }
    let mut msgs = Vec::new();
    let mut rest = &signed[1..];
    while !rest.is_empty() {
        if rest.len() < ENTRY_HEADER {
            return Err(Reject::Undecodable(format!(
                "a bundle entry of {} bytes, shorter than its header",
                rest.len()
            )));
        }
        let src = id_from_bits(u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")));
        let n = u32::from_be_bytes(rest[8..ENTRY_HEADER].try_into().expect("4 bytes")) as usize;
        let body = &rest[ENTRY_HEADER..];
        if body.len() < n {
            return Err(Reject::Undecodable(format!(
                "a bundle entry says {n} bytes, {} are left",
                body.len()
            )));
        }
        msgs.push((src, message(&body[..n]).map_err(undecodable)?));
        rest = &body[n..];
    }
    if msgs.is_empty() {
        return Err(Reject::Undecodable("an empty bundle".into()));
    }
    Ok(msgs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A message of no protocol: the wire carries any message that serializes.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    enum Msg {
        Success(String),
        Propose(String),
    }

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn wrong_key_truncation_and_garbage_are_rejected() {
        let mut buf = Vec::new();
        let m: Msg = Msg::Success("d".into());
        encode(&key(1), Id::from(0usize), &m, &mut buf).unwrap();
        assert_eq!(decode::<Msg>(&key(2), &buf).unwrap_err(), Reject::BadMac);
        for cut in 0..buf.len() {
            assert!(decode::<Msg>(&key(1), &buf[..cut]).is_err());
        }
        let mut flipped = buf.clone();
        flipped[3] ^= 0x10;
        assert_eq!(
            decode::<Msg>(&key(1), &flipped).unwrap_err(),
            Reject::BadMac
        );
        let mut other_version = buf.clone();
        other_version[0] = 9;
        assert!(matches!(
            decode::<Msg>(&key(1), &other_version),
            Err(Reject::Malformed(_))
        ));
        // A correctly signed datagram whose body is not a message of this protocol.
        let mut nonsense = vec![VERSION];
        nonsense.extend_from_slice(&0u64.to_be_bytes());
        nonsense.extend_from_slice(&[0xff, 0xff, 0xff]);
        let mac = key(1).mac(&nonsense);
        nonsense.extend_from_slice(&mac);
        assert!(matches!(
            decode::<Msg>(&key(1), &nonsense),
            Err(Reject::Undecodable(_))
        ));
    }

    #[test]
    fn a_bundle_carries_many_messages_each_with_its_sender() {
        let msgs: Vec<(Id, Msg)> = (0..50usize)
            .map(|i| (Id::from(i % 3), Msg::Propose(format!("decree {i}"))))
            .collect();
        let mut bundle = Bundle::new();
        for (src, m) in &msgs {
            assert!(bundle.push(*src, m, MAX_DATAGRAM).unwrap());
        }
        assert_eq!(bundle.count(), 50);
        let mut buf = Vec::new();
        bundle.seal(&key(1), &mut buf);
        assert_eq!(bundle.count(), 0, "sealing empties the bundle");
        assert_eq!(decode::<Msg>(&key(1), &buf).unwrap(), msgs);
        // Altered, truncated or under another key: refused whole.
        assert_eq!(decode::<Msg>(&key(2), &buf).unwrap_err(), Reject::BadMac);
        for cut in 0..buf.len() {
            assert!(decode::<Msg>(&key(1), &buf[..cut]).is_err());
        }
    }

    #[test]
    fn a_full_bundle_refuses_a_message_and_an_empty_one_a_message_that_never_fits() {
        let big: Msg = Msg::Propose("x".repeat(600));
        let mut bundle = Bundle::new();
        let mut taken = 0;
        while bundle.push(Id::from(1usize), &big, 2_000).unwrap() {
            taken += 1;
        }
        assert_eq!(
            taken, 3,
            "three 600-byte messages fit in 2,000 bytes, four do not"
        );
        let mut buf = Vec::new();
        bundle.seal(&key(1), &mut buf);
        assert!(buf.len() <= 2_000);
        assert_eq!(decode::<Msg>(&key(1), &buf).unwrap().len(), 3);
        // A message too large for any datagram is refused even by an empty bundle: it
        // goes in chunks.
        let huge: Msg = Msg::Propose("x".repeat(5_000));
        assert!(!bundle.push(Id::from(1usize), &huge, 2_000).unwrap());
        assert_eq!(bundle.count(), 0);
        assert!(bundle.push(Id::from(1usize), &big, 2_000).unwrap());
    }

    #[test]
    fn a_message_that_fails_to_encode_leaves_the_bundle_as_it_was() {
        struct Unencodable;
        impl Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let ok: Msg = Msg::Propose("kept".into());
        let mut bundle = Bundle::new();
        assert!(bundle.push(Id::from(1usize), &ok, MAX_DATAGRAM).unwrap());
        assert!(bundle
            .push(Id::from(1usize), &Unencodable, MAX_DATAGRAM)
            .is_err());
        assert_eq!(bundle.count(), 1);
        let mut buf = Vec::new();
        bundle.seal(&key(1), &mut buf);
        assert_eq!(
            decode::<Msg>(&key(1), &buf).unwrap(),
            vec![(Id::from(1usize), ok)]
        );
    }

    #[test]
    fn signed_bundles_whose_entries_do_not_add_up_are_undecodable() {
        let sign = |body: &[u8]| {
            let mut d = vec![VERSION_BUNDLE];
            d.extend_from_slice(body);
            let mac = key(1).mac(&d);
            d.extend_from_slice(&mac);
            d
        };
        let mut entry = 7u64.to_be_bytes().to_vec();
        entry.extend_from_slice(&100u32.to_be_bytes());
        entry.extend_from_slice(&[0; 5]);
        for body in [&[][..], &[1, 2, 3][..], &entry[..]] {
            assert!(
                matches!(
                    decode::<Msg>(&key(1), &sign(body)),
                    Err(Reject::Undecodable(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn keys_parse_from_hex_with_clear_errors() {
        let k = Key::random();
        let back = Key::from_hex(&format!("  {}\n", k.to_hex())).unwrap();
        assert_eq!(back.0, k.0);
        let err = Key::from_hex("abc").unwrap_err();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
    }

    #[test]
    fn a_large_message_travels_in_chunks_in_any_order_and_resumes() {
        let big = Msg::Success("v".repeat(200_000));
        let src = Id::from(3usize);
        let parts = chunks(&key(1), src, &big, MAX_DATAGRAM).unwrap();
        assert_eq!(parts.len(), 4);
        assert!(parts
            .iter()
            .all(|p| p.len() <= CHUNK_DATAGRAM && p[0] == VERSION_CHUNK));
        let now = std::time::Instant::now();
        // Reversed and duplicated: the message comes out once, when the last chunk is in.
        let mut r = Reassembly::new();
        let mut got = Vec::new();
        for p in parts.iter().rev().chain(parts.iter().take(2)) {
            got.extend(r.decode::<Msg>(&key(1), p, now).unwrap());
        }
        assert_eq!(got, vec![(src, big.clone())]);
        // The duplicates that came after it begin a transfer again (a message sent again
        // completes again), which idles out.
        assert_eq!(r.in_progress(), 1);
        // A lost chunk leaves it incomplete; the copy sent again resumes the transfer.
        let mut r = Reassembly::new();
        for p in &parts[..3] {
            assert!(r.decode::<Msg>(&key(1), p, now).unwrap().is_empty());
        }
        assert_eq!(r.in_progress(), 1);
        let again = chunks(&key(1), src, &big, MAX_DATAGRAM).unwrap();
        assert_eq!(again, parts, "the same message makes the same chunks");
        assert_eq!(
            r.decode::<Msg>(&key(1), &again[3], now).unwrap(),
            vec![(src, big)]
        );
        // A transfer idle too long is dropped.
        let mut r = Reassembly::new();
        r.decode::<Msg>(&key(1), &parts[0], now).unwrap();
        r.decode::<Msg>(&key(1), &parts[1], now + TRANSFER_IDLE)
            .unwrap();
        assert_eq!(r.in_progress(), 1);
        // Small messages go in one datagram.
        let small = chunks(&key(1), src, &Msg::Propose("p".into()), MAX_DATAGRAM).unwrap();
        assert_eq!(small.len(), 1);
        assert_eq!(small[0][0], VERSION);
    }

    #[test]
    fn bad_chunks_are_dropped_and_named() {
        let big = Msg::Success("w".repeat(100_000));
        let parts = chunks(&key(1), Id::from(0usize), &big, MAX_DATAGRAM).unwrap();
        let now = std::time::Instant::now();
        let mut r = Reassembly::new();
        assert_eq!(
            r.decode::<Msg>(&key(2), &parts[0], now).unwrap_err(),
            Reject::BadMac
        );
        let mut flipped = parts[1].clone();
        flipped[40] ^= 1;
        assert_eq!(
            r.decode::<Msg>(&key(1), &flipped, now).unwrap_err(),
            Reject::BadMac
        );
        assert!(matches!(
            r.decode::<Msg>(&key(1), &parts[0][..20], now),
            Err(Reject::Malformed(_))
        ));
        // Signed, but claiming chunk 5 of 2.
        let mut lying = parts[0][..CHUNK_HEADER].to_vec();
        lying[17..21].copy_from_slice(&5u32.to_be_bytes());
        lying.push(0);
        let mac = key(1).mac(&lying);
        lying.extend_from_slice(&mac);
        assert!(matches!(
            r.decode::<Msg>(&key(1), &lying, now),
            Err(Reject::Malformed(_))
        ));
        assert_eq!(r.in_progress(), 0);
        // Signed chunks whose bytes are no message: undecodable once complete.
        let mut r = Reassembly::new();
        let junk = chunks(
            &key(1),
            Id::from(0usize),
            &vec![0xffu8; 70_000],
            MAX_DATAGRAM,
        )
        .unwrap();
        r.decode::<Msg>(&key(1), &junk[0], now).unwrap();
        assert!(matches!(
            r.decode::<Msg>(&key(1), &junk[1], now),
            Err(Reject::Undecodable(_))
        ));
        // Too many transfers at once: the least recent goes.
        let mut r = Reassembly::new();
        for i in 0..MAX_TRANSFERS + 3 {
            let m = Msg::Success(format!("{i}").repeat(70_000));
            let p = chunks(&key(1), Id::from(0usize), &m, MAX_DATAGRAM).unwrap();
            r.decode::<Msg>(&key(1), &p[0], now).unwrap();
        }
        assert_eq!(r.in_progress(), MAX_TRANSFERS);
    }

    #[test]
    fn a_spooled_transfer_resumes_after_the_receiver_restarts() {
        let big = Msg::Success("s".repeat(300_000));
        let src = Id::from(2usize);
        let parts = chunks(&key(1), src, &big, MAX_DATAGRAM).unwrap();
        assert_eq!(parts.len(), 6);
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("transfers");
        let now = std::time::Instant::now();
        let (mut r, found) = Reassembly::spooled(&spool, &key(1), now);
        assert_eq!(found, Resumed::default());
        for p in &parts[..3] {
            assert!(r.decode::<Msg>(&key(1), p, now).unwrap().is_empty());
        }
        drop(r);
        let files: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
        assert_eq!(files.len(), 1);
        // A crash tore the last record: it is dropped, the two before it are kept.
        let file = files[0].as_ref().unwrap().path();
        let len = std::fs::metadata(&file).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
        let (mut r, found) = Reassembly::spooled(&spool, &key(1), now);
        assert_eq!(
            found,
            Resumed {
                transfers: 1,
                chunks: 2,
                dropped: 1
            }
        );
        assert_eq!(r.in_progress(), 1);
        // The sender's copy sent again: only the missing chunks are needed.
        for p in &parts[2..5] {
            assert!(r.decode::<Msg>(&key(1), p, now).unwrap().is_empty());
        }
        // A second restart, mid-way, keeps what the first took back and what came since.
        drop(r);
        let (mut r, found) = Reassembly::spooled(&spool, &key(1), now);
        assert_eq!((found.transfers, found.chunks, found.dropped), (1, 5, 0));
        assert_eq!(
            r.decode::<Msg>(&key(1), &parts[5], now).unwrap(),
            vec![(src, big)]
        );
        // Complete: its file is gone.
        assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
        // Chunks under another key are not taken back; an idle transfer's file goes too.
        let (mut r, _) = Reassembly::spooled(&spool, &key(1), now);
        r.decode::<Msg>(&key(1), &parts[0], now).unwrap();
        drop(r);
        let (mut r, found) = Reassembly::spooled(&spool, &key(2), now);
        assert_eq!((found.transfers, found.chunks, found.dropped), (0, 0, 1));
        assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
        r.decode::<Msg>(
            &key(2),
            &chunks(
                &key(2),
                src,
                &Msg::Success("t".repeat(70_000)),
                MAX_DATAGRAM,
            )
            .unwrap()[0],
            now,
        )
        .unwrap();
        assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 1);
        let other = chunks(
            &key(2),
            src,
            &Msg::Success("u".repeat(70_000)),
            MAX_DATAGRAM,
        )
        .unwrap();
        r.decode::<Msg>(&key(2), &other[0], now + TRANSFER_IDLE)
            .unwrap();
        assert_eq!(r.in_progress(), 1);
        assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 1);
    }
}
