//! The law: a key-value map that every priest builds by applying the passed decrees in
//! decree-number order (the paper's section 3: the Parliament's decrees are laws, and every
//! priest's ledger holds the same sequence of them).
//!
//! # The law and its sessions
//!
//! A [`Command`] is one client operation ([`Op`]: get, put, delete, compare-and-set, and
//! Redis's string commands: several keys read or written at once, increments, appends, and
//! the like) tagged with its client's id and a per-client sequence number. A client sends
//! one command at a time and numbers them 1, 2, 3, ...; when it gets no answer it may send
//! the same command again (to the same priest or another), and a deposed president hands
//! its unfinished commands to its successor, so one command can be passed in more than one
//! decree. The law keeps, for each client, a *session*: the sequence number of the last
//! command it executed for that client and that command's answer. A command whose number
//! is the session's number is a retry and gets the recorded answer without being executed
//! again; an older number is stale (its client has moved on and nobody waits for it) and is
//! ignored. So each command takes effect once, in the first decree that carries it, and
//! every copy of it gets the answer of that one execution.
//!
//! # Forgetting sessions
//!
//! A store that serves clients for months cannot keep a session for every client it ever
//! saw, but forgetting one is dangerous: a late copy of that client's command (delayed by
//! the network, handed from a deposed president to its successor) would find no session
//! and run a second time. So the law forgets by a rule every priest applies identically
//! from the decrees, and remembers enough to refuse every such copy:
//!
//! - The president stamps each decree it begins with a [`Stamp`]: the time on its clock
//!   (`at`) and a *horizon*, `at` minus the configured idle time. The law's clock (`now`)
//!   and horizon are the largest stamped so far, so they never go back, whatever the
//!   presidents' clocks do.
//! - A client id carries the time its client began ([`born`]). Applying a decree whose
//!   horizon crosses a sweep mark (every sixteenth of the idle time) forgets every session
//!   whose client began, and was last served, before the horizon.
//! - A command of a client with no session is new if the client began at or after the
//!   horizon, and refused ([`Outcome::Expired`]) if it began before: its session may have
//!   been forgotten.
//!
//! Once a session is forgotten, its client began before a horizon the law passed, and
//! horizons only grow: every later command of that client is refused. So no command runs
//! twice, whatever the stamps are; the stamps only decide how soon sessions go. A client
//! refused this way gets a clear error and starts again as a new client.
//!
//! An operation that only reads ([`Op::is_read`]: a get, several gets, a length, the count of
//! keys, the keys matching a pattern, a step of a scan) at a priest that keeps its law current
//! is a *read*, answered from the law without executing anything ([`KvMap::read`]); the
//! Parliament's president answers one only once it may (see [`crate::parliament`]: a
//! confirmation round and the decrees begun before the read applied), and a read that does
//! pass in a decree (queued while a president was being chosen) executes like any command.
//! Every other operation is one command of one decree, however many keys it touches: an
//! `MSET` or a several-key `DEL` takes effect at once, and an increment reads and writes in
//! one step. [`KvMap`] is the sequential specification the model checks client histories
//! against (stateright's `SequentialSpec`); [`Store`] is that map plus sessions, as a priest
//! holds it.
//!
//! # Transactions
//!
//! A transaction ([`Op::Multi`]: Redis's `MULTI` ... `EXEC`) is one operation too: its
//! operations execute in order, within one command of one decree, so no other command comes
//! between them and no read sees part of it. It may carry *watched* keys, each with the value
//! a linearizable read returned when the client watched it (`WATCH`); if a watched key holds
//! another value when the transaction executes, nothing is executed and the answer says so
//! ([`Answer::Multi`]`(None)`). The check is by value: a key written since the watch but
//! holding the watched value again does not abort the transaction (Redis aborts on any write
//! to a watched key). A transaction is never a read, even one of reads alone: it always
//! passes in a decree.
//!
//! # Keys that expire
//!
//! A key may have a *deadline*: a time on the law's clock (`now`, the largest stamp so far;
//! Unix milliseconds when deployed, the decree number in the model). A key whose deadline is
//! at or before the law's clock is gone: applying a decree's stamp ([`Store::advance`])
//! removes every such key, soonest first from the deadlines kept in order ([`Deadlines`]),
//! before the decree's commands run; and a command that sets a deadline at or before the
//! clock removes the key at once. So the law never holds a key past its deadline, and every
//! priest removes the same keys at the same decree, whatever its own clock says. A relative
//! time ([`Time::In`]: `EXPIRE`, `SET PX`) travels in the decree as the client gave it and is
//! counted from the law's clock after the stamp; an absolute one ([`Time::At`]) is taken as it
//! is. `PTTL`, `PERSIST` and `EXPIRE` are commands, never reads, so their answers come from
//! one decree. Writes that Redis says clear a deadline (`SET`, `MSET`, `GETSET`, a delete)
//! clear it; `INCR` and `APPEND` keep it. The law's clock never goes back, so a key once gone
//! never comes back. [`TimedMap`] is the sequential specification with this clock, which
//! no client sees.
//!
//! # The order of keys
//!
//! The map keeps its keys in the order of a 64-bit hash of each ([`Slot`]), not of the keys
//! themselves: a `SCAN` cursor is then a number, as every Redis client expects, namely the
//! place of the last key the step returned, and the law keeps no state for a scan
//! ([`KvMap::scan`]). `KEYS` lists keys in that order.

mod chamber;
mod text;
mod timed;

pub use chamber::{
    Chamber, Change, Inc, Listed, Member, MemberAnswer, MemberOp, Refusal, MAX_INDEX,
};
pub use text::{glob_matches, integer};
pub use timed::TimedMap;

use im::OrdMap;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use stateright::semantics::SequentialSpec;
use std::fmt;
use std::sync::Arc;

/// A key of the map. Shared, not copied: a key and its value sit in the law, in its
/// snapshot and in the ledger's copies at once, and `im` copies the map's nodes (and so
/// their entries) when it changes a shared map.
pub type Key = Arc<str>;
/// A value of the map.
pub type Value = Arc<str>;

/// The longest value the law holds, in bytes: an `APPEND` that would make a longer one is
/// refused ([`Failure::TooLarge`]). Redis's bound (`proto-max-bulk-len`) is 512 MB; here it
/// is the largest command a deployed priest takes.
pub const MAX_VALUE_BYTES: usize = 4 << 20;

/// How many keys a `SCAN` step looks at when its client gives no `COUNT` (Redis's default).
pub const SCAN_COUNT: u32 = 10;

/// One operation on the map.
///
/// The variants after `Member` came with the Redis string commands. A new operation goes at
/// the end: an operation is written by its variant's position (in ledgers and messages), so
/// the earlier ones keep theirs and a ledger written before reads the same.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Read a key.
    Get { key: Key },
    /// Write a key.
    Put { key: Key, value: Value },
    /// Remove a key.
    Delete { key: Key },
    /// Write `new` if the key currently holds `expected` (`None`: the key is absent).
    Cas {
        key: Key,
        expected: Option<Value>,
        new: Value,
    },
    /// Change or list the Chamber ([`Chamber`]).
    Member(MemberOp),
    /// Read several keys (`MGET`, and `EXISTS` of several keys).
    MGet { keys: Vec<Key> },
    /// Write several keys (`MSET`): one operation, so no read sees some of its writes
    /// without the others. A key given twice gets its last value.
    MSet { pairs: Vec<(Key, Value)> },
    /// Add `by` to the integer the key holds, an absent key holding 0 (`INCR`, `INCRBY`,
    /// `DECR`, `DECRBY`).
    IncrBy { key: Key, by: i64 },
    /// Append to the key's value, an absent key holding the empty string (`APPEND`).
    Append { key: Key, value: Value },
    /// The length in bytes of the key's value, 0 if absent (`STRLEN`).
    Strlen { key: Key },
    /// Read the key and remove it (`GETDEL`).
    GetDel { key: Key },
    /// Write the key if `when` allows (`SET` with `NX`, `XX` or `GET`, `GETSET`).
    SetIf { key: Key, value: Value, when: When },
    /// Remove several keys (`DEL` of several keys).
    DeleteMany { keys: Vec<Key> },
    /// How many keys the map holds (`DBSIZE`).
    Count,
    /// Every key that matches a glob pattern ([`glob_matches`]), in the law's order
    /// (`KEYS`).
    Keys { pattern: Key },
    /// One step of a scan (`SCAN`): the next `count` keys after place `cursor` in the law's
    /// order ([`Slot`]), those of them that match `pattern`. See [`KvMap::scan`].
    Scan {
        cursor: u64,
        pattern: Option<Key>,
        count: u32,
    },
    /// A transaction (`MULTI` ... `EXEC`): if every `watch`ed key still holds the value
    /// given (`None`: absent), the operations in order, as one operation (no other command
    /// comes between them, and no read sees some of their effects without the others);
    /// otherwise nothing. The values are those a linearizable read returned at `WATCH`
    /// time: the check is by value (see [`KvMap::execute`]).
    Multi {
        watch: Vec<(Key, Option<Value>)>,
        ops: Vec<Op>,
    },
    /// Give the key a deadline, if it is present and `when` allows (`EXPIRE`, `PEXPIRE`,
    /// `EXPIREAT`, `PEXPIREAT`): [`Answer::Int`] 1 if it did, 0 if not. A deadline at or
    /// before the law's clock removes the key at once (and answers 1). See "Keys that
    /// expire".
    Expire { key: Key, at: Time, when: ExpireIf },
    /// The milliseconds left before the key's deadline (`PTTL`, and `TTL` rounded to
    /// seconds): -1 if it has none, -2 if the key is absent.
    Pttl { key: Key },
    /// Remove the key's deadline (`PERSIST`): 1 if it had one, else 0.
    Persist { key: Key },
    /// [`Op::SetIf`] that also sets the key's deadline or keeps it (`SET` with `EX`, `PX`,
    /// `EXAT`, `PXAT` or `KEEPTTL`, `SETEX`, `PSETEX`).
    SetTtl {
        key: Key,
        value: Value,
        when: When,
        ttl: Ttl,
    },
    /// Read the key and set its deadline (`Some`) or remove it (`None`) (`GETEX` with an
    /// option).
    GetEx { key: Key, at: Option<Time> },
}

/// A time an expiring command names, in milliseconds on the law's clock (Unix time when
/// deployed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Time {
    /// This long after the decree's stamp: the law's clock once the decree's stamp is
    /// applied, the same at every priest (`EXPIRE`, `PEXPIRE`, `SET EX`/`PX`).
    In(i64),
    /// At this time (`EXPIREAT`, `PEXPIREAT`, `SET EXAT`/`PXAT`).
    At(i64),
}

impl Time {
    /// The deadline on the law's clock when it reads `now`; `None` past the 64-bit
    /// integers (Redis's "invalid expire time").
    pub fn deadline(self, now: u64) -> Option<i64> {
        match self {
            Time::In(ms) => i64::try_from(now).ok()?.checked_add(ms),
            Time::At(ms) => Some(ms),
        }
    }
}

/// When an [`Op::Expire`] sets the deadline (Redis 7's options; no deadline counts as one
/// infinitely far).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ExpireIf {
    Always,
    /// Only if the key has no deadline (`NX`).
    None,
    /// Only if it has one (`XX`).
    Some,
    /// Only if the new one is later (`GT`).
    Later,
    /// Only if the new one is sooner (`LT`).
    Sooner,
    /// Only if the key has one and the new one is sooner (`XX LT`).
    SomeSooner,
}

/// What an [`Op::SetTtl`] that writes does to the key's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ttl {
    /// Keeps it (`KEEPTTL`).
    Keep,
    /// Sets it.
    Expire(Time),
}

/// When a [`Op::SetIf`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum When {
    Always,
    /// Only if the key is absent (`NX`).
    Absent,
    /// Only if the key is present (`XX`).
    Present,
}

impl When {
    /// Whether it writes a key that is `present` or not.
    pub fn allows(self, present: bool) -> bool {
        match self {
            When::Always => true,
            When::Absent => !present,
            When::Present => present,
        }
    }
}

/// The answer to an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Answer {
    /// The value read (`None`: absent).
    Value(Option<Value>),
    /// The put took effect.
    Written,
    /// The delete took effect; whether the key was present.
    Deleted(bool),
    /// The compare-and-set: whether it swapped, and the value the key held before. (Also
    /// a conditional set's: whether it wrote.)
    Cas {
        swapped: bool,
        previous: Option<Value>,
    },
    /// What a member command did.
    Member(MemberAnswer),
    /// A number: the new value of an increment, a length, how many keys were removed or
    /// are held.
    Int(i64),
    /// The values of several keys, in the order asked (`None`: absent).
    Values(Vec<Option<Value>>),
    /// Keys, in the law's order.
    Keys(Vec<Key>),
    /// One step of a scan: the cursor of the next step (0: the scan is over) and the keys.
    Scan { cursor: u64, keys: Vec<Key> },
    /// The operation changed nothing, for this reason.
    Failed(Failure),
    /// A transaction's answers, one per operation in order (a failed one among them: the
    /// others still took effect); `None`: a watched key no longer held the value watched,
    /// and nothing was executed.
    Multi(Option<Vec<Answer>>),
}

/// Why an operation changed nothing: Redis's errors, whose texts `Display` gives (without
/// Redis's `ERR ` prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Failure {
    /// An increment of a value that is not an integer ([`integer`]).
    NotAnInteger,
    /// An increment past the 64-bit signed integers.
    Overflow,
    /// An append past [`MAX_VALUE_BYTES`].
    TooLarge,
    /// A deadline past the 64-bit integers of milliseconds (the RESP reply names the
    /// command, as Redis's does).
    InvalidExpire,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotAnInteger => f.write_str("value is not an integer or out of range"),
            Failure::Overflow => f.write_str("increment or decrement would overflow"),
            Failure::TooLarge => write!(
                f,
                "string exceeds maximum allowed size ({MAX_VALUE_BYTES} bytes)"
            ),
            Failure::InvalidExpire => f.write_str("invalid expire time"),
        }
    }
}

impl Op {
    /// The keys the operation reads or writes, in the order it names them (a key named
    /// twice is listed twice). None for a member command, and for `Count`, `Keys` and
    /// `Scan`, which read the whole map.
    pub fn keys(&self) -> Vec<&Key> {
        match self {
            Op::Get { key }
            | Op::Put { key, .. }
            | Op::Delete { key }
            | Op::Cas { key, .. }
            | Op::IncrBy { key, .. }
            | Op::Append { key, .. }
            | Op::Strlen { key }
            | Op::GetDel { key }
            | Op::SetIf { key, .. }
            | Op::Expire { key, .. }
            | Op::Pttl { key }
            | Op::Persist { key }
            | Op::SetTtl { key, .. }
            | Op::GetEx { key, .. } => vec![key],
            Op::MGet { keys } | Op::DeleteMany { keys } => keys.iter().collect(),
            Op::MSet { pairs } => pairs.iter().map(|(k, _)| k).collect(),
            Op::Member(_) | Op::Count | Op::Keys { .. } | Op::Scan { .. } => Vec::new(),
            Op::Multi { watch, ops } => watch
                .iter()
                .map(|(k, _)| k)
                .chain(ops.iter().flat_map(Op::keys))
                .collect(),
        }
    }

    /// Whether the operation only reads. A president answers a read after a confirmation
    /// round, without a decree (see [`crate::parliament`]); every other operation passes
    /// in a decree.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Op::Get { .. }
                | Op::MGet { .. }
                | Op::Strlen { .. }
                | Op::Count
                | Op::Keys { .. }
                | Op::Scan { .. }
        )
    }

    /// Whether what it does depends on the law's clock besides which keys have expired:
    /// the operations on deadlines.
    pub fn is_timed(&self) -> bool {
        match self {
            Op::Multi { ops, .. } => ops.iter().any(Op::is_timed),
            _ => matches!(
                self,
                Op::Expire { .. }
                    | Op::Pttl { .. }
                    | Op::SetTtl {
                        ttl: Ttl::Expire(_),
                        ..
                    }
                    | Op::GetEx { at: Some(_), .. }
            ),
        }
    }

    /// The bytes of the strings it carries.
    fn text_bytes(&self) -> usize {
        let opt = |v: &Option<Value>| v.as_ref().map_or(0, |v| v.len());
        match self {
            Op::Get { key } | Op::Delete { key } | Op::Strlen { key } | Op::GetDel { key } => {
                key.len()
            }
            Op::Pttl { key } | Op::Persist { key } => key.len(),
            Op::Expire { key, .. } | Op::GetEx { key, .. } => key.len() + 10,
            Op::Put { key, value } | Op::Append { key, value } | Op::SetIf { key, value, .. } => {
                key.len() + value.len()
            }
            Op::SetTtl { key, value, .. } => key.len() + value.len() + 10,
            Op::Cas { key, expected, new } => key.len() + opt(expected) + new.len(),
            Op::IncrBy { key, .. } => key.len() + 8,
            Op::MGet { keys } | Op::DeleteMany { keys } => keys.iter().map(|k| k.len() + 2).sum(),
            Op::MSet { pairs } => pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum(),
            Op::Keys { pattern } => pattern.len(),
            Op::Scan { pattern, .. } => opt(pattern) + 12,
            Op::Count => 0,
            Op::Member(MemberOp::Add { addr, .. } | MemberOp::Replace { addr, .. }) => {
                16 + opt(addr)
            }
            Op::Member(_) => 2,
            Op::Multi { watch, ops } => {
                let watched: usize = watch.iter().map(|(k, v)| k.len() + opt(v) + 4).sum();
                watched + ops.iter().map(|op| op.text_bytes() + 4).sum::<usize>()
            }
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |keys: &[Key]| keys.join(" ");
        match self {
            Op::Get { key } => write!(f, "get {key}"),
            Op::Put { key, value } => write!(f, "put {key}={value}"),
            Op::Delete { key } => write!(f, "del {key}"),
            Op::Cas { key, expected, new } => write!(
                f,
                "cas {key} {}->{new}",
                expected.as_deref().unwrap_or("nil")
            ),
            Op::Member(m) => write!(f, "{m}"),
            Op::MGet { keys } => write!(f, "mget {}", list(keys)),
            Op::MSet { pairs } => {
                f.write_str("mset")?;
                for (k, v) in pairs {
                    write!(f, " {k}={v}")?;
                }
                Ok(())
            }
            Op::IncrBy { key, by } => write!(f, "incrby {key} {by}"),
            Op::Append { key, value } => write!(f, "append {key} {value}"),
            Op::Strlen { key } => write!(f, "strlen {key}"),
            Op::GetDel { key } => write!(f, "getdel {key}"),
            Op::SetIf { key, value, when } => {
                let when = match when {
                    When::Always => "",
                    When::Absent => " nx",
                    When::Present => " xx",
                };
                write!(f, "set {key}={value}{when}")
            }
            Op::DeleteMany { keys } => write!(f, "del {}", list(keys)),
            Op::Count => write!(f, "dbsize"),
            Op::Keys { pattern } => write!(f, "keys {pattern}"),
            Op::Scan {
                cursor,
                pattern,
                count,
            } => {
                write!(f, "scan {cursor} count {count}")?;
                match pattern {
                    Some(p) => write!(f, " match {p}"),
                    None => Ok(()),
                }
            }
            Op::Multi { watch, ops } => {
                f.write_str("multi")?;
                for (k, v) in watch {
                    write!(f, " watch {k}={}", v.as_deref().unwrap_or("nil"))?;
                }
                f.write_str(" {")?;
                for (i, op) in ops.iter().enumerate() {
                    write!(f, "{}{op}", if i == 0 { " " } else { "; " })?;
                }
                f.write_str(" }")
            }
            Op::Expire { key, at, when } => {
                write!(f, "expire {key} {at}")?;
                match when {
                    ExpireIf::Always => Ok(()),
                    ExpireIf::None => f.write_str(" nx"),
                    ExpireIf::Some => f.write_str(" xx"),
                    ExpireIf::Later => f.write_str(" gt"),
                    ExpireIf::Sooner => f.write_str(" lt"),
                    ExpireIf::SomeSooner => f.write_str(" xx lt"),
                }
            }
            Op::Pttl { key } => write!(f, "pttl {key}"),
            Op::Persist { key } => write!(f, "persist {key}"),
            Op::SetTtl {
                key,
                value,
                when,
                ttl,
            } => {
                write!(
                    f,
                    "{}",
                    Op::SetIf {
                        key: key.clone(),
                        value: value.clone(),
                        when: *when,
                    }
                )?;
                match ttl {
                    Ttl::Keep => f.write_str(" keepttl"),
                    Ttl::Expire(at) => write!(f, " {at}"),
                }
            }
            Op::GetEx { key, at } => match at {
                Some(at) => write!(f, "getex {key} {at}"),
                None => write!(f, "getex {key} persist"),
            },
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Time::In(ms) => write!(f, "px {ms}"),
            Time::At(ms) => write!(f, "pxat {ms}"),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = |v: &Option<Value>| v.as_deref().unwrap_or("nil").to_string();
        match self {
            Answer::Value(v) => write!(f, "{}", value(v)),
            Answer::Written => write!(f, "ok"),
            Answer::Deleted(existed) => write!(f, "deleted={existed}"),
            Answer::Cas { swapped, previous } => {
                write!(f, "swapped={swapped} (was {})", value(previous))
            }
            Answer::Member(m) => write!(f, "{m}"),
            Answer::Int(n) => write!(f, "{n}"),
            Answer::Values(vs) => {
                let vs: Vec<String> = vs.iter().map(value).collect();
                write!(f, "[{}]", vs.join(", "))
            }
            Answer::Keys(keys) => write!(f, "keys [{}]", keys.join(", ")),
            Answer::Scan { cursor, keys } => write!(f, "cursor {cursor} [{}]", keys.join(", ")),
            Answer::Failed(why) => write!(f, "failed: {why}"),
            Answer::Multi(None) => write!(f, "aborted (a watched key changed)"),
            Answer::Multi(Some(answers)) => {
                let answers: Vec<String> = answers.iter().map(|a| a.to_string()).collect();
                write!(f, "exec [{}]", answers.join(", "))
            }
        }
    }
}

/// A client's command: the operation, who asked, and the client's sequence number for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Command {
    pub client: Id,
    /// 1 for the client's first command, then 2, 3, ...
    pub seq: u64,
    pub op: Op,
}

impl Command {
    /// About how many bytes the command takes in a message: its strings and a fixed
    /// allowance for the client, the number and the framing. A president bounds a decree's
    /// size with it, so every message carrying decrees fits in one datagram.
    pub fn size(&self) -> usize {
        Command::size_of(&self.op)
    }

    /// The [`Command::size`] of a command of `op`.
    pub fn size_of(op: &Op) -> usize {
        const FRAMING: usize = 24;
        FRAMING + op.text_bytes()
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{} {}", usize::from(self.client), self.seq, self.op)
    }
}

/// A key in its place in the law's order: the law keeps its keys ordered by a 64-bit hash
/// of each (then by the key itself, should two hashes meet), so a place is a number, and
/// `SCAN`'s cursor is the place of the last key a step returned. Every Redis client reads a
/// cursor as a number (some as an unsigned 64-bit one), which a key itself could not be.
///
/// The hash is the first 8 bytes of the key's BLAKE3 hash, little-endian, with 0 taken as
/// 1: no key has place 0, the cursor that starts and ends a scan. It is a function of the
/// key alone, the same on every priest and in every build. A slot is written as its key
/// alone, and its hash is computed again when it is read, so the law is written as a plain
/// map of keys to values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    place: u64,
    key: Key,
}

impl Slot {
    /// `key` in its place.
    pub fn of(key: &Key) -> Slot {
        Slot {
            place: place_of(key),
            key: key.clone(),
        }
    }

    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Its place in the law's order: 1 to 2^64 - 1.
    pub fn place(&self) -> u64 {
        self.place
    }
}

/// The place of `key` in the law's order ([`Slot`]).
pub fn place_of(key: &str) -> u64 {
    let hash = blake3::hash(key.as_bytes());
    let bytes: [u8; 8] = hash.as_bytes()[..8].try_into().expect("8 bytes");
    u64::from_le_bytes(bytes).max(1)
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.key.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Slot::of(&Key::deserialize(d)?))
    }
}

/// The plain map: the sequential specification of the service. Its keys are in their
/// places ([`Slot`]), and some have a deadline ([`Deadlines`]). The map is written as a map
/// of keys to values; its deadlines are written by the [`Store`] after the rest of the law
/// (ledger format 6), so a law written before deadlines reads as one with none.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KvMap(pub OrdMap<Slot, Value>, pub Deadlines);

impl Serialize for KvMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for KvMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(KvMap(OrdMap::deserialize(d)?, Deadlines::default()))
    }
}

/// The keys that have a deadline, and the deadlines in order (an index kept with them), so
/// that the law finds the keys whose deadline its clock passed without walking the map.
/// Every key here is in the map, and its deadline is after the law's clock.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadlines {
    of: OrdMap<Slot, u64>,
    by: im::OrdSet<(u64, Slot)>,
}

impl Deadlines {
    /// The deadline of the key in `slot`.
    pub fn get(&self, slot: &Slot) -> Option<u64> {
        self.of.get(slot).copied()
    }

    fn set(&mut self, slot: Slot, at: u64) {
        if let Some(was) = self.of.insert(slot.clone(), at) {
            self.by.remove(&(was, slot.clone()));
        }
        self.by.insert((at, slot));
    }

    fn clear(&mut self, slot: &Slot) -> Option<u64> {
        let was = self.of.remove(slot)?;
        self.by.remove(&(was, slot.clone()));
        Some(was)
    }

    /// The soonest deadline.
    pub fn earliest(&self) -> Option<u64> {
        self.by.get_min().map(|(at, _)| *at)
    }

    /// How many keys have a deadline.
    pub fn len(&self) -> usize {
        self.of.len()
    }

    /// Whether no key has one.
    pub fn is_empty(&self) -> bool {
        self.of.is_empty()
    }

    /// Every key with a deadline, and the deadline, in the law's order.
    pub fn iter(&self) -> impl Iterator<Item = (&Slot, u64)> {
        self.of.iter().map(|(s, at)| (s, *at))
    }

    /// The changes from `prev` to this: each key whose deadline changed, with its new one
    /// (`None`: it has none now).
    pub fn delta(&self, prev: &Deadlines) -> Vec<(Slot, Option<u64>)> {
        use im::ordmap::DiffItem;
        prev.of
            .diff(&self.of)
            .map(|item| match item {
                DiffItem::Add(s, at) | DiffItem::Update { new: (s, at), .. } => {
                    (s.clone(), Some(*at))
                }
                DiffItem::Remove(s, _) => (s.clone(), None),
            })
            .collect()
    }

    /// Applies changes [`Deadlines::delta`] listed.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = (Slot, Option<u64>)>) {
        for (slot, at) in changes {
            match at {
                Some(at) => self.set(slot, at),
                None => drop(self.clear(&slot)),
            }
        }
    }
}

impl Serialize for Deadlines {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.of.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Deadlines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let of = OrdMap::<Slot, u64>::deserialize(d)?;
        let by = of.iter().map(|(s, at)| (*at, s.clone())).collect();
        Ok(Deadlines { of, by })
    }
}

impl KvMap {
    /// The value `key` holds.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(&Slot::of(&Key::from(key)))
    }

    /// The deadline of `key`, if it has one.
    pub fn deadline(&self, key: &str) -> Option<u64> {
        self.1.get(&Slot::of(&Key::from(key)))
    }

    /// The keys that have a deadline.
    pub fn deadlines(&self) -> &Deadlines {
        &self.1
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every key and its value, in the law's order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.0.iter().map(|(s, v)| (&s.key, v))
    }

    fn value(&self, key: &Key) -> Option<&Value> {
        self.0.get(&Slot::of(key))
    }

    /// Writes the key, removing its deadline: a write Redis says clears it (`SET`, `MSET`,
    /// `GETSET`, ...).
    fn insert(&mut self, key: &Key, value: Value) {
        let slot = Slot::of(key);
        self.1.clear(&slot);
        self.0.insert(slot, value);
    }

    /// Writes the key, keeping its deadline (`INCR`, `APPEND`, `SET KEEPTTL`).
    fn update(&mut self, key: &Key, value: Value) {
        self.0.insert(Slot::of(key), value);
    }

    fn remove(&mut self, key: &Key) -> Option<Value> {
        let slot = Slot::of(key);
        self.1.clear(&slot);
        self.0.remove(&slot)
    }

    /// Removes every key whose deadline is at or before `now`, soonest first, and returns
    /// them with their values.
    pub fn expire_through(&mut self, now: u64) -> Vec<(Key, Value)> {
        let mut gone = Vec::new();
        while let Some((at, slot)) = self.1.by.get_min().cloned() {
            if at > now {
                break;
            }
            self.1.clear(&slot);
            if let Some(v) = self.0.remove(&slot) {
                gone.push((slot.key, v));
            }
        }
        gone
    }

    /// Gives `key` (present) the deadline `at` when the law's clock reads `now`: removes it
    /// if `at` is not after `now`.
    fn set_deadline(&mut self, key: &Key, at: i64, now: u64) {
        match u64::try_from(at) {
            Ok(at) if at > now => self.1.set(Slot::of(key), at),
            _ => drop(self.remove(key)),
        }
    }

    /// What a read returns, without executing anything: `None` if `op` is not a read
    /// ([`Op::is_read`]).
    pub fn read(&self, op: &Op) -> Option<Answer> {
        Some(match op {
            Op::Get { key } => Answer::Value(self.value(key).cloned()),
            Op::MGet { keys } => {
                Answer::Values(keys.iter().map(|k| self.value(k).cloned()).collect())
            }
            Op::Strlen { key } => Answer::Int(self.value(key).map_or(0, |v| v.len()) as i64),
            Op::Count => Answer::Int(self.0.len() as i64),
            // `*` is every key, the empty one too (Redis decides so before matching).
            Op::Keys { pattern } => Answer::Keys(
                self.iter()
                    .filter(|(k, _)| {
                        &**pattern == "*" || glob_matches(pattern.as_bytes(), k.as_bytes())
                    })
                    .map(|(k, _)| k.clone())
                    .collect(),
            ),
            Op::Scan {
                cursor,
                pattern,
                count,
            } => self.scan(*cursor, pattern.as_deref().filter(|p| *p != "*"), *count),
            _ => return None,
        })
    }

    /// One step of a scan: the `count` keys (at least one) with the lowest places after
    /// `cursor`, and any others that share the last one's place, so that a step returns
    /// every key of each place it reaches; of those, the keys that match `pattern`. The
    /// next cursor is the last place reached, or 0 when no key lies after it.
    ///
    /// So a scan from cursor 0 to cursor 0 reaches every place once, in order, each step
    /// at its own moment: a key held from the scan's first step to its last is returned
    /// exactly once; a key written or removed meanwhile may be returned or not. Any number
    /// is a cursor (a place): one that no step returned starts the scan from there.
    pub fn scan(&self, cursor: u64, pattern: Option<&str>, count: u32) -> Answer {
        use std::ops::Bound::{Included, Unbounded};
        let mut keys = Vec::new();
        let mut reached: Option<u64> = None;
        let mut more = false;
        if cursor < u64::MAX {
            // The least slot at the place after the cursor: the range holds every key there
            // and after.
            let from = Slot {
                place: cursor + 1,
                key: Key::from(""),
            };
            for (walked, (slot, _)) in self.0.range((Included(from), Unbounded)).enumerate() {
                if walked >= count.max(1) as usize && reached != Some(slot.place) {
                    more = true;
                    break;
                }
                reached = Some(slot.place);
                if pattern.is_none_or(|p| glob_matches(p.as_bytes(), slot.key.as_bytes())) {
                    keys.push(slot.key.clone());
                }
            }
        }
        let cursor = match (more, reached) {
            (true, Some(place)) => place,
            _ => 0,
        };
        Answer::Scan { cursor, keys }
    }

    /// Executes one operation with the law's clock at 0 (a map whose keys never expire
    /// unless told a time in the past).
    pub fn execute(&mut self, op: &Op) -> Answer {
        self.execute_at(op, 0)
    }

    /// Executes one operation with the law's clock reading `now` (every key whose deadline
    /// is at or before `now` already removed: [`KvMap::expire_through`]).
    pub fn execute_at(&mut self, op: &Op, now: u64) -> Answer {
        self.execute_timed(op, now, now)
    }

    /// [`KvMap::execute_at`], relative deadlines counted from `base` instead of `now` (the
    /// seeded bug `expire-by-own-clock`: `base` is the priest's own clock).
    fn execute_timed(&mut self, op: &Op, now: u64, base: u64) -> Answer {
        if let Some(answer) = self.read(op) {
            return answer;
        }
        match op {
            Op::Put { key, value } => {
                self.insert(key, value.clone());
                Answer::Written
            }
            Op::Delete { key } => Answer::Deleted(self.remove(key).is_some()),
            Op::Cas { key, expected, new } => {
                let previous = self.value(key).cloned();
                let swapped = previous == *expected;
                if swapped {
                    self.insert(key, new.clone());
                }
                Answer::Cas { swapped, previous }
            }
            // The plain map has no Chamber.
            Op::Member(_) => Answer::Member(MemberAnswer::Refused(Refusal::Disabled)),
            Op::MSet { pairs } => {
                for (k, v) in pairs {
                    self.insert(k, v.clone());
                }
                Answer::Written
            }
            Op::IncrBy { key, by } => {
                let now = match self.value(key) {
                    None => 0,
                    Some(v) => match integer(v.as_bytes()) {
                        Some(n) => n,
                        None => return Answer::Failed(Failure::NotAnInteger),
                    },
                };
                let Some(next) = now.checked_add(*by) else {
                    return Answer::Failed(Failure::Overflow);
                };
                self.update(key, next.to_string().into());
                Answer::Int(next)
            }
            Op::Append { key, value } => {
                let now = self.value(key).map_or("", |v| v);
                if now.len() + value.len() > MAX_VALUE_BYTES {
                    return Answer::Failed(Failure::TooLarge);
                }
                let next: Value = [now, value].concat().into();
                let len = next.len();
                self.update(key, next);
                Answer::Int(len as i64)
            }
            Op::GetDel { key } => Answer::Value(self.remove(key)),
            Op::SetIf { key, value, when } => {
                let previous = self.value(key).cloned();
                let swapped = when.allows(previous.is_some());
                if swapped {
                    self.insert(key, value.clone());
                }
                Answer::Cas { swapped, previous }
            }
            Op::DeleteMany { keys } => {
                Answer::Int(keys.iter().filter(|k| self.remove(k).is_some()).count() as i64)
            }
            // Optimistic by value: a watched key that was written since the watch, but holds
            // the value watched again (A, then B, then A), does not abort the transaction.
            Op::Multi { watch, ops } => {
                if watch.iter().any(|(k, v)| self.value(k) != v.as_ref()) {
                    return Answer::Multi(None);
                }
                Answer::Multi(Some(
                    ops.iter()
                        .map(|op| self.execute_timed(op, now, base))
                        .collect(),
                ))
            }
            Op::Expire { key, at, when } => {
                let Some(at) = at.deadline(base) else {
                    return Answer::Failed(Failure::InvalidExpire);
                };
                if self.value(key).is_none() {
                    return Answer::Int(0);
                }
                let had = self.1.get(&Slot::of(key)).map(|d| d as i64);
                let allowed = match (when, had) {
                    (ExpireIf::Always, _) => true,
                    (ExpireIf::None, had) => had.is_none(),
                    (ExpireIf::Some, had) => had.is_some(),
                    (ExpireIf::Later, had) => had.is_some_and(|had| at > had),
                    (ExpireIf::Sooner, had) => had.is_none_or(|had| at < had),
                    (ExpireIf::SomeSooner, had) => had.is_some_and(|had| at < had),
                };
                if allowed {
                    self.set_deadline(key, at, now);
                }
                Answer::Int(allowed as i64)
            }
            Op::Pttl { key } => Answer::Int(match (self.value(key), self.1.get(&Slot::of(key))) {
                (None, _) => -2,
                (Some(_), None) => -1,
                (Some(_), Some(at)) => at.saturating_sub(now).min(i64::MAX as u64) as i64,
            }),
            Op::Persist { key } => Answer::Int(self.1.clear(&Slot::of(key)).is_some() as i64),
            Op::SetTtl {
                key,
                value,
                when,
                ttl,
            } => {
                let at = match ttl {
                    Ttl::Keep => None,
                    Ttl::Expire(at) => match at.deadline(base) {
                        Some(at) => Some(at),
                        None => return Answer::Failed(Failure::InvalidExpire),
                    },
                };
                let previous = self.value(key).cloned();
                let swapped = when.allows(previous.is_some());
                if swapped {
                    match at {
                        None => self.update(key, value.clone()),
                        Some(at) => {
                            self.insert(key, value.clone());
                            self.set_deadline(key, at, now);
                        }
                    }
                }
                Answer::Cas { swapped, previous }
            }
            Op::GetEx { key, at } => {
                let at = match at.map(|at| at.deadline(base)) {
                    Some(None) => return Answer::Failed(Failure::InvalidExpire),
                    Some(Some(at)) => Some(at),
                    None => None,
                };
                let value = self.value(key).cloned();
                if value.is_some() {
                    match at {
                        Some(at) => self.set_deadline(key, at, now),
                        None => drop(self.1.clear(&Slot::of(key))),
                    }
                }
                Answer::Value(value)
            }
            Op::Get { .. }
            | Op::MGet { .. }
            | Op::Strlen { .. }
            | Op::Count
            | Op::Keys { .. }
            | Op::Scan { .. } => unreachable!("a read is answered above"),
        }
    }
}

impl SequentialSpec for KvMap {
    type Op = Op;
    type Ret = Answer;
    fn invoke(&mut self, op: &Op) -> Answer {
        self.execute(op)
    }
}

/// A client's session: its latest executed command, that command's answer, and when the
/// law last served the client (the law's clock then).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Session {
    pub seq: u64,
    pub answer: Answer,
    pub at: u64,
}

/// A president's stamp on a decree: the time on its clock, and the horizon before which
/// idle sessions are forgotten (see "Forgetting sessions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub at: u64,
    pub horizon: u64,
}

/// The bit that marks a deployed client's id (the model's clients are actors numbered
/// after the priests, without it).
pub const CLIENT_BIT: u64 = 1 << 63;
/// How many sweeps of the sessions an idle time spans: a session is forgotten at most a
/// sixteenth of the idle time late ([`Store::advance`]).
pub const SWEEPS: u64 = 16;
/// A deployed client id: [`CLIENT_BIT`], then the second it began (32 bits), then 31
/// random bits.
const BORN_SHIFT: u32 = 31;

/// Milliseconds since the Unix epoch on this machine's clock (0 if it is set before 1970):
/// the scale of the law's clock when deployed.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A client id for a client beginning at `millis` (the time on the law's clock scale:
/// milliseconds since the Unix epoch when deployed), with random low bits.
pub fn client_id_at(millis: u64) -> Id {
    let secs = (millis / 1000) & 0xFFFF_FFFF;
    let random = rand::random::<u64>() & ((1 << BORN_SHIFT) - 1);
    Id::from((CLIENT_BIT | secs << BORN_SHIFT | random) as usize)
}

/// When the client with this id began, on the law's clock (rounded down to the second): 0
/// for an id that is not a deployed client's (the model's clients began at time 0).
pub fn born(client: Id) -> u64 {
    let bits = usize::from(client) as u64;
    if bits & CLIENT_BIT == 0 {
        return 0;
    }
    ((bits & !CLIENT_BIT) >> BORN_SHIFT) * 1000
}

impl Session {
    /// What the session says about its client's command numbered `seq`: `Some(outcome)` for
    /// a retry or a stale command, `None` for a new one.
    pub fn lookup(&self, seq: u64) -> Option<Outcome> {
        if seq == self.seq {
            Some(Outcome::Retry(self.answer.clone()))
        } else if seq < self.seq {
            Some(Outcome::Stale)
        } else {
            None
        }
    }
}

/// How the law applies commands: remembering sessions, one command after the other (always,
/// except under a seeded bug).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// Retries get the recorded answer; stale commands are ignored.
    Sessions,
    /// Every copy of a command is executed (the seeded bug `no-session-dedup`).
    Off,
    /// A command of a client with no session is new, even if the client began before the
    /// horizon (the seeded bug `expired-session-reexecutes`).
    ExpiredAsNew,
    /// Sessions as `Sessions`, but each command of a decree reads the map as it stood before
    /// the decree, and its writes then replace the keys it wrote (a state machine that
    /// executes a batch's commands in parallel and merges their writes): two increments of
    /// one key in one decree both read the same value, and one is lost (the seeded bug
    /// `batch-reads-before-its-decree`).
    ReadsBeforeDecree,
    /// Sessions as `Sessions`, but a transaction runs whatever its watched keys hold (the
    /// seeded bug `watch-ignored`).
    WatchIgnored,
    /// Sessions as `Sessions`, but each command of a transaction reads the map as it stood
    /// before the transaction, and its writes then replace the keys it wrote: a transaction
    /// does not read its own writes (the seeded bug `transaction-reads-before-its-writes`).
    TransactionReadsBefore,
    /// Sessions as `Sessions`, but a relative deadline (`EXPIRE`, `SET PX`) is counted from
    /// this time, the priest's own clock as it applies the decree, instead of the law's
    /// clock at the decree's stamp (the seeded bug `expire-by-own-clock`).
    DeadlinesFrom(u64),
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Executed now, with this answer.
    Executed(Answer),
    /// A retry of the session's latest command: not executed again; its recorded answer.
    Retry(Answer),
    /// Older than the session's latest command: ignored, nobody waits for it.
    Stale,
    /// Its client has no session and began before the horizon: refused, not executed (its
    /// session may have been forgotten; see "Forgetting sessions").
    Expired,
}

/// The law as a priest holds it: the map, every client's session, and how many commands it
/// executed (each distinct command at most once: the `exactly-once` property).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Store {
    pub map: KvMap,
    pub sessions: OrdMap<Id, Session>,
    /// Commands executed so far (retries and stale copies not counted).
    pub executed: u64,
    /// The live data: the bytes of every key and value in the map (kept as commands
    /// execute, so a priest knows its law's size without walking it).
    pub bytes: u64,
    /// The law's clock: the latest time a decree was stamped with (0 before any).
    pub now: u64,
    /// The latest horizon stamped: sessions of clients that began and were last served
    /// before it are forgotten, and clients that began before it get no new session.
    pub horizon: u64,
    /// The Chamber, if membership changes by decree (`None`: the priests are fixed by
    /// configuration, and member commands are refused).
    pub chamber: Option<Chamber>,
}

/// How a law is laid out when it is written (ledger formats, and the wire of builds that
/// wrote them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Ledger format 6: the fields, the chamber, the deadlines.
    Now,
    /// Ledger formats 4 and 5: the fields and the chamber (no key had a deadline).
    BeforeDeadlines,
    /// Ledger format 3: the fields alone.
    BeforeChamber,
}

thread_local! {
    static LAYOUT: std::cell::Cell<Layout> = const { std::cell::Cell::new(Layout::Now) };
}

fn with_layout<T>(layout: Layout, f: impl FnOnce() -> T) -> T {
    LAYOUT.with(|l| {
        let was = l.replace(layout);
        let out = f();
        l.set(was);
        out
    })
}

/// Runs `f` with laws read and written as ledger format 3 and the builds of its time laid
/// them out: without the chamber (read as `None`) or deadlines (read as none). The journal
/// reads a format-3 ledger this way, and the wire a snapshot from a priest of that build, so
/// a cluster upgrades one priest at a time without losing its ledgers.
pub fn with_law_before_chamber<T>(f: impl FnOnce() -> T) -> T {
    with_layout(Layout::BeforeChamber, f)
}

/// Runs `f` with laws read and written as ledger formats 4 and 5 and the builds of their
/// time laid them out: without the deadlines of keys (read as none).
pub fn with_law_before_deadlines<T>(f: impl FnOnce() -> T) -> T {
    with_layout(Layout::BeforeDeadlines, f)
}

/// The fields of a law before its chamber, as they are written: borrowed to write, owned
/// to read. Ledger format 3 wrote these alone; format 4 and 5 the chamber after them, and
/// format 6 the deadlines of keys after that.
#[derive(Serialize, Deserialize)]
struct LawHead<M, S> {
    map: M,
    sessions: S,
    executed: u64,
    bytes: u64,
    now: u64,
    horizon: u64,
}

impl Serialize for Store {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let head = LawHead {
            map: &self.map,
            sessions: &self.sessions,
            executed: self.executed,
            bytes: self.bytes,
            now: self.now,
            horizon: self.horizon,
        };
        match LAYOUT.with(|l| l.get()) {
            Layout::BeforeChamber => head.serialize(s),
            Layout::BeforeDeadlines => (head, &self.chamber).serialize(s),
            Layout::Now => (head, &self.chamber, &self.map.1).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        type Head = LawHead<KvMap, OrdMap<Id, Session>>;
        let (head, chamber, deadlines) = match LAYOUT.with(|l| l.get()) {
            Layout::BeforeChamber => (Head::deserialize(d)?, None, Deadlines::default()),
            Layout::BeforeDeadlines => {
                let (head, chamber) = <(Head, Option<Chamber>)>::deserialize(d)?;
                (head, chamber, Deadlines::default())
            }
            Layout::Now => <(Head, Option<Chamber>, Deadlines)>::deserialize(d)?,
        };
        let mut map = head.map;
        map.1 = deadlines;
        Ok(Store {
            map,
            sessions: head.sessions,
            executed: head.executed,
            bytes: head.bytes,
            now: head.now,
            horizon: head.horizon,
            chamber,
        })
    }
}

/// When a session may be forgotten: once the horizon passes both its client's beginning
/// and its last use.
fn expiry(client: Id, session: &Session) -> u64 {
    born(client).max(session.at)
}

impl Store {
    /// What the session table says about `cmd` without applying it: `Some(outcome)` for
    /// a retry, a stale command or a refused one, `None` for a new one.
    pub fn lookup(&self, client: Id, seq: u64) -> Option<Outcome> {
        self.lookup_under(client, seq, Dedup::Sessions)
    }

    /// As [`Store::lookup`], under `dedup` (a seeded bug may change it).
    pub fn lookup_under(&self, client: Id, seq: u64, dedup: Dedup) -> Option<Outcome> {
        match self.sessions.get(&client) {
            Some(s) => s.lookup(seq),
            None if dedup != Dedup::ExpiredAsNew && born(client) < self.horizon => {
                Some(Outcome::Expired)
            }
            None => None,
        }
    }

    /// Moves the law's clock and horizon to a decree's stamp (never back). Each time the
    /// horizon crosses a multiple of a [`SWEEPS`]th of the idle time (`at - horizon`), the law
    /// sweeps: it forgets every session the horizon passed. Between sweeps such a session is
    /// merely kept a little longer, which is always safe; sweeping by the stamps alone keeps
    /// every priest's law the same, and costs one walk of the sessions a sweep instead of an
    /// index kept up to date on every command.
    pub fn advance(&mut self, stamp: &Stamp) {
        self.now = self.now.max(stamp.at);
        for (key, value) in self.map.expire_through(self.now) {
            self.bytes -= (key.len() + value.len()) as u64;
        }
        if stamp.horizon <= self.horizon {
            return;
        }
        let every = (stamp.at.saturating_sub(stamp.horizon) / SWEEPS).max(1);
        let sweep = stamp.horizon / every > self.horizon / every;
        self.horizon = stamp.horizon;
        if sweep {
            let gone: Vec<Id> = self
                .sessions
                .iter()
                .filter(|(&client, session)| expiry(client, session) < self.horizon)
                .map(|(&client, _)| client)
                .collect();
            for client in gone {
                self.sessions.remove(&client);
            }
        }
    }

    /// Sets or removes sessions (as a snapshot's changes list them).
    pub fn set_sessions(&mut self, changes: impl IntoIterator<Item = (Id, Option<Session>)>) {
        for (client, session) in changes {
            match session {
                Some(s) => self.sessions.insert(client, s),
                None => self.sessions.remove(&client),
            };
        }
    }

    /// Applies one command of decree number `number` under `dedup`.
    pub fn apply(&mut self, number: u32, cmd: &Command, dedup: Dedup) -> Outcome {
        self.apply_reading(number, cmd, dedup, None)
    }

    /// [`Store::apply`], the command reading `reads` instead of the map when given (the
    /// seeded bug [`Dedup::ReadsBeforeDecree`]).
    fn apply_reading(
        &mut self,
        number: u32,
        cmd: &Command,
        dedup: Dedup,
        reads: Option<&KvMap>,
    ) -> Outcome {
        if dedup != Dedup::Off {
            if let Some(outcome) = self.lookup_under(cmd.client, cmd.seq, dedup) {
                return outcome;
            }
        }
        let answer = match (&cmd.op, &mut self.chamber) {
            (Op::Member(op), Some(chamber)) => Answer::Member(chamber.execute(op, number)),
            (op, _) => {
                // The live bytes of the keys it may write, before and after (each key once).
                let mut keys = op.keys();
                keys.sort_unstable();
                keys.dedup();
                let entries = |map: &KvMap| -> u64 {
                    keys.iter()
                        .map(|k| map.value(k).map_or(0, |v| k.len() + v.len()) as u64)
                        .sum()
                };
                let before = entries(&self.map);
                let base = match dedup {
                    Dedup::DeadlinesFrom(clock) => clock,
                    _ => self.now,
                };
                let unwatched;
                let op = match op {
                    Op::Multi { ops, .. } if dedup == Dedup::WatchIgnored => {
                        unwatched = Op::Multi {
                            watch: Vec::new(),
                            ops: ops.clone(),
                        };
                        &unwatched
                    }
                    op => op,
                };
                let answer = match (reads, op) {
                    (None, Op::Multi { watch, ops })
                        if dedup == Dedup::TransactionReadsBefore
                            && watch.iter().all(|(k, v)| self.map.value(k) == v.as_ref()) =>
                    {
                        let before = self.map.clone();
                        let answers = ops
                            .iter()
                            .map(|op| {
                                let mut scratch = before.clone();
                                let answer = scratch.execute_timed(op, self.now, base);
                                for k in op.keys() {
                                    match scratch.value(k) {
                                        Some(v) => self.map.insert(k, v.clone()),
                                        None => drop(self.map.remove(k)),
                                    }
                                }
                                answer
                            })
                            .collect();
                        Answer::Multi(Some(answers))
                    }
                    (None, op) => self.map.execute_timed(op, self.now, base),
                    (Some(reads), op) => {
                        let mut scratch = reads.clone();
                        let answer = scratch.execute_at(op, self.now);
                        for k in &keys {
                            let slot = Slot::of(k);
                            match scratch.value(k) {
                                Some(v) => self.map.insert(k, v.clone()),
                                None => drop(self.map.remove(k)),
                            }
                            if let Some(at) = scratch.1.get(&slot) {
                                self.map.1.set(slot, at);
                            }
                        }
                        answer
                    }
                };
                self.bytes = self.bytes + entries(&self.map) - before;
                answer
            }
        };
        self.executed += 1;
        let session = Session {
            seq: cmd.seq,
            answer: answer.clone(),
            at: self.now,
        };
        self.sessions.insert(cmd.client, session);
        Outcome::Executed(answer)
    }

    /// Applies decree number `number`: the change of membership in force from it (if
    /// any), its stamp (if it has one), then each command in order, calling `outcome` with
    /// each command and what applying it did.
    pub fn apply_all<'a>(
        &mut self,
        number: u32,
        stamp: Option<&Stamp>,
        cmds: impl IntoIterator<Item = &'a Command>,
        dedup: Dedup,
        mut outcome: impl FnMut(&'a Command, Outcome),
    ) {
        if let Some(chamber) = &mut self.chamber {
            chamber.fold(number);
        }
        if let Some(stamp) = stamp {
            self.advance(stamp);
        }
        let before = (dedup == Dedup::ReadsBeforeDecree).then(|| self.map.clone());
        for c in cmds {
            let o = self.apply_reading(number, c, dedup, before.as_ref());
            outcome(c, o);
        }
    }

    /// How many commands a deduplicating law that never forgets executes for this sequence
    /// of commands: the reference count for `exactly-once`.
    pub fn distinct_executions<'a>(cmds: impl IntoIterator<Item = &'a Command>) -> u64 {
        let mut latest: OrdMap<Id, u64> = OrdMap::new();
        let mut n = 0;
        for c in cmds {
            if latest.get(&c.client).is_none_or(|&s| c.seq > s) {
                latest.insert(c.client, c.seq);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Op {
        Op::Put {
            key: k.into(),
            value: v.into(),
        }
    }
    fn get(k: &str) -> Op {
        Op::Get { key: k.into() }
    }
    fn cmd(client: usize, seq: u64, op: Op) -> Command {
        Command {
            client: Id::from(client),
            seq,
            op,
        }
    }

    #[test]
    fn map_semantics() {
        let mut m = KvMap::default();
        assert_eq!(m.execute(&get("x")), Answer::Value(None));
        assert_eq!(m.execute(&put("x", "1")), Answer::Written);
        assert_eq!(m.execute(&get("x")), Answer::Value(Some("1".into())));
        let cas = |expected: Option<&str>, new: &str| Op::Cas {
            key: "x".into(),
            expected: expected.map(Into::into),
            new: new.into(),
        };
        assert_eq!(
            m.execute(&cas(None, "2")),
            Answer::Cas {
                swapped: false,
                previous: Some("1".into())
            }
        );
        assert_eq!(
            m.execute(&cas(Some("1"), "2")),
            Answer::Cas {
                swapped: true,
                previous: Some("1".into())
            }
        );
        assert_eq!(m.execute(&get("x")), Answer::Value(Some("2".into())));
        assert_eq!(
            m.execute(&Op::Delete { key: "x".into() }),
            Answer::Deleted(true)
        );
        assert_eq!(
            m.execute(&Op::Delete { key: "x".into() }),
            Answer::Deleted(false)
        );
        assert_eq!(
            m.execute(&cas(None, "3")),
            Answer::Cas {
                swapped: true,
                previous: None
            }
        );
        assert_eq!(m.execute(&get("x")), Answer::Value(Some("3".into())));
    }

    #[test]
    fn a_retried_command_takes_effect_once_and_gets_its_first_answer() {
        let mut s = Store::default();
        let first = cmd(7, 1, put("x", "a"));
        assert_eq!(
            s.apply(0, &first, Dedup::Sessions),
            Outcome::Executed(Answer::Written)
        );
        // Another client overwrites; then client 7's retry of its put arrives in a later
        // decree. It must not overwrite again, and must get its original answer.
        s.apply(0, &cmd(8, 1, put("x", "b")), Dedup::Sessions);
        assert_eq!(
            s.apply(0, &first, Dedup::Sessions),
            Outcome::Retry(Answer::Written)
        );
        assert_eq!(s.map.get("x").map(|v| &**v), Some("b"));
        assert_eq!(s.executed, 2);
        // The next command of client 7 executes; after it, the first is stale.
        let second = cmd(7, 2, get("x"));
        assert_eq!(
            s.apply(0, &second, Dedup::Sessions),
            Outcome::Executed(Answer::Value(Some("b".into())))
        );
        assert_eq!(s.apply(0, &first, Dedup::Sessions), Outcome::Stale);
        assert_eq!(
            s.lookup(Id::from(7), 2),
            Some(Outcome::Retry(Answer::Value(Some("b".into()))))
        );
        assert_eq!(s.lookup(Id::from(7), 3), None);
        assert_eq!(s.executed, 3);
    }

    #[test]
    fn the_law_knows_its_live_bytes() {
        let mut s = Store::default();
        let bytes = |s: &Store| {
            s.map
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>()
        };
        let ops = [
            put("x", "aaaa"),
            put("yy", "b"),
            put("x", "c"),
            get("x"),
            Op::Cas {
                key: "yy".into(),
                expected: Some("b".into()),
                new: "bbbbbb".into(),
            },
            Op::Cas {
                key: "z".into(),
                expected: Some("no".into()),
                new: "n".into(),
            },
            Op::Delete { key: "x".into() },
            Op::Delete { key: "x".into() },
            // yy=bbbbbb is left (8 bytes); then the string commands.
            Op::MSet {
                pairs: vec![
                    (k("m"), "12".into()),
                    (k("m"), "1".into()),
                    (k("n"), "22".into()),
                ],
            },
            Op::IncrBy {
                key: k("m"),
                by: 99,
            },
            Op::IncrBy { key: k("z"), by: 1 },
            Op::Append {
                key: k("n"),
                value: "333".into(),
            },
            Op::Append {
                key: k("w"),
                value: "4".into(),
            },
            Op::GetDel { key: k("w") },
            Op::SetIf {
                key: k("z"),
                value: "long value".into(),
                when: When::Present,
            },
            Op::SetIf {
                key: k("q"),
                value: "v".into(),
                when: When::Present,
            },
            Op::DeleteMany {
                keys: vec![k("yy"), k("yy"), k("none")],
            },
            // A transaction that writes and removes keys; one that a watch aborts.
            Op::Multi {
                watch: vec![(k("m"), v("100"))],
                ops: vec![put("t", "tt"), Op::Delete { key: k("t") }, put("u", "uuu")],
            },
            Op::Multi {
                watch: vec![(k("m"), v("1"))],
                ops: vec![put("never", "written")],
            },
            Op::Multi {
                watch: vec![],
                ops: vec![Op::Delete { key: k("u") }],
            },
        ];
        for (i, op) in ops.into_iter().enumerate() {
            s.apply(0, &cmd(1, i as u64 + 1, op), Dedup::Sessions);
            assert_eq!(s.bytes, bytes(&s), "after command {}", i + 1);
        }
        // m=100, n=22333, z=long value
        assert_eq!(s.bytes, 4 + 6 + 11);
    }

    fn k(s: &str) -> Key {
        s.into()
    }
    fn v(s: &str) -> Option<Value> {
        Some(s.into())
    }
    fn int(n: i64) -> Answer {
        Answer::Int(n)
    }

    #[test]
    fn a_transaction_executes_its_operations_in_order_unless_a_watched_value_changed() {
        let mut m = KvMap::default();
        m.execute(&put("x", "1"));
        m.execute(&put("s", "text"));
        let incr = |key: &str| Op::IncrBy { key: k(key), by: 1 };
        let multi = |watch: Vec<(Key, Option<Value>)>, ops| Op::Multi { watch, ops };
        // In order: the get sees the increment before it. A failed increment is its own
        // entry, and the others still take effect.
        assert_eq!(
            m.execute(&multi(
                vec![],
                vec![incr("x"), get("x"), incr("s"), put("y", "a")]
            )),
            Answer::Multi(Some(vec![
                int(2),
                Answer::Value(v("2")),
                Answer::Failed(Failure::NotAnInteger),
                Answer::Written,
            ]))
        );
        assert_eq!(m.get("y").map(|v| &**v), Some("a"));
        // A watch that holds: executed; an absent key watched as absent holds too.
        assert_eq!(
            m.execute(&multi(
                vec![(k("x"), v("2")), (k("no"), None)],
                vec![incr("x")]
            )),
            Answer::Multi(Some(vec![int(3)]))
        );
        // A watch that no longer holds: nothing is executed.
        let before = m.clone();
        for watch in [(k("x"), v("2")), (k("x"), None), (k("y"), v("b"))] {
            assert_eq!(
                m.execute(&multi(vec![watch], vec![incr("x"), put("y", "z")])),
                Answer::Multi(None)
            );
            assert_eq!(m, before);
        }
        // By value: x written away and back since the watch does not abort.
        m.execute(&put("x", "9"));
        m.execute(&put("x", "3"));
        assert_eq!(
            m.execute(&multi(vec![(k("x"), v("3"))], vec![get("x")])),
            Answer::Multi(Some(vec![Answer::Value(v("3"))]))
        );
        // An empty transaction answers an empty list.
        assert_eq!(
            m.execute(&multi(vec![], vec![])),
            Answer::Multi(Some(vec![]))
        );
        let t = multi(vec![(k("x"), None)], vec![incr("x"), get("y")]);
        assert_eq!(t.keys(), vec![&k("x"), &k("x"), &k("y")]);
        assert!(!t.is_read());
        assert_eq!(t.to_string(), "multi watch x=nil { incrby x 1; get y }");
    }

    #[test]
    fn several_keys_are_read_and_written_at_once() {
        let mut m = KvMap::default();
        let mset = Op::MSet {
            pairs: vec![
                (k("a"), "1".into()),
                (k("b"), "2".into()),
                (k("a"), "3".into()),
            ],
        };
        assert_eq!(m.execute(&mset), Answer::Written);
        let mget = Op::MGet {
            keys: vec![k("a"), k("c"), k("b"), k("a")],
        };
        assert_eq!(
            m.execute(&mget),
            Answer::Values(vec![v("3"), None, v("2"), v("3")])
        );
        assert_eq!(m.read(&mget), Some(m.clone().execute(&mget)));
        let del = Op::DeleteMany {
            keys: vec![k("a"), k("a"), k("c")],
        };
        assert_eq!(m.execute(&del), int(1));
        assert_eq!(m.execute(&Op::Count), int(1));
        assert_eq!(m.get("b").map(|v| &**v), Some("2"));
    }

    #[test]
    fn increments_follow_redis() {
        let mut m = KvMap::default();
        let incr = |by: i64| Op::IncrBy { key: k("n"), by };
        assert_eq!(m.execute(&incr(1)), int(1));
        assert_eq!(m.execute(&incr(-5)), int(-4));
        assert_eq!(m.get("n").map(|v| &**v), Some("-4"));
        m.execute(&put("n", "9223372036854775806"));
        assert_eq!(m.execute(&incr(1)), int(i64::MAX));
        assert_eq!(m.execute(&incr(1)), Answer::Failed(Failure::Overflow));
        assert_eq!(m.get("n").map(|v| &**v), Some("9223372036854775807"));
        m.execute(&put("n", "-9223372036854775808"));
        assert_eq!(m.execute(&incr(-1)), Answer::Failed(Failure::Overflow));
        for bad in [
            "",
            "abc",
            "1.5",
            " 1",
            "01",
            "+1",
            "-0",
            "99999999999999999999",
        ] {
            m.execute(&put("n", bad));
            assert_eq!(
                m.execute(&incr(1)),
                Answer::Failed(Failure::NotAnInteger),
                "{bad:?}"
            );
            assert_eq!(m.get("n").map(|v| &**v), Some(bad), "unchanged");
        }
        assert_eq!(
            Failure::NotAnInteger.to_string(),
            "value is not an integer or out of range"
        );
        assert_eq!(
            Failure::Overflow.to_string(),
            "increment or decrement would overflow"
        );
    }

    #[test]
    fn append_strlen_getdel_and_conditional_sets() {
        let mut m = KvMap::default();
        let append = |s: &str| Op::Append {
            key: k("s"),
            value: s.into(),
        };
        let strlen = Op::Strlen { key: k("s") };
        assert_eq!(m.execute(&strlen), int(0));
        assert_eq!(m.execute(&append("ab")), int(2));
        assert_eq!(m.execute(&append("é")), int(4), "bytes, not characters");
        assert_eq!(m.execute(&strlen), int(4));
        let big = "x".repeat(MAX_VALUE_BYTES - 4);
        assert_eq!(m.execute(&append(&big)), int(MAX_VALUE_BYTES as i64));
        assert_eq!(m.execute(&append("y")), Answer::Failed(Failure::TooLarge));
        assert_eq!(m.execute(&strlen), int(MAX_VALUE_BYTES as i64));
        let getdel = Op::GetDel { key: k("s") };
        assert!(matches!(m.execute(&getdel), Answer::Value(Some(_))));
        assert_eq!(m.execute(&getdel), Answer::Value(None));
        let set = |value: &str, when| Op::SetIf {
            key: k("c"),
            value: value.into(),
            when,
        };
        let cas = |swapped, previous| Answer::Cas { swapped, previous };
        assert_eq!(m.execute(&set("1", When::Present)), cas(false, None));
        assert_eq!(m.get("c"), None);
        assert_eq!(m.execute(&set("1", When::Absent)), cas(true, None));
        assert_eq!(m.execute(&set("2", When::Absent)), cas(false, v("1")));
        assert_eq!(m.execute(&set("3", When::Present)), cas(true, v("1")));
        assert_eq!(m.execute(&set("4", When::Always)), cas(true, v("3")));
        assert_eq!(m.get("c").map(|v| &**v), Some("4"));
    }

    #[test]
    fn reads_are_exactly_the_operations_that_read() {
        let mut m = KvMap::default();
        m.execute(&put("a", "1"));
        let ops = [
            get("a"),
            put("a", "2"),
            Op::Delete { key: k("a") },
            Op::MGet { keys: vec![k("a")] },
            Op::MSet { pairs: vec![] },
            Op::IncrBy { key: k("a"), by: 1 },
            Op::Append {
                key: k("a"),
                value: "x".into(),
            },
            Op::Strlen { key: k("a") },
            Op::GetDel { key: k("a") },
            Op::SetIf {
                key: k("a"),
                value: "x".into(),
                when: When::Always,
            },
            Op::DeleteMany { keys: vec![k("a")] },
            Op::Count,
            Op::Keys { pattern: k("*") },
            Op::Scan {
                cursor: 0,
                pattern: None,
                count: 1,
            },
            Op::Member(MemberOp::List),
            Op::Multi {
                watch: vec![],
                ops: vec![get("a")],
            },
            Op::Expire {
                key: k("a"),
                at: Time::In(5),
                when: ExpireIf::Always,
            },
            Op::Pttl { key: k("a") },
            Op::Persist { key: k("a") },
            Op::GetEx {
                key: k("a"),
                at: None,
            },
        ];
        for op in ops {
            let before = m.clone();
            let read = m.read(&op);
            assert_eq!(read.is_some(), op.is_read(), "{op}");
            if let Some(answer) = read {
                assert_eq!(m.clone().execute(&op), answer, "{op}");
                assert_eq!(m, before);
            }
        }
    }

    #[test]
    fn keys_lists_the_matching_keys_in_the_law_s_order() {
        let mut m = KvMap::default();
        for key in ["user:1", "user:2", "user:10", "admin", "u"] {
            m.execute(&put(key, "v"));
        }
        let keys = |p: &str| match m.read(&Op::Keys { pattern: k(p) }) {
            Some(Answer::Keys(ks)) => ks,
            other => panic!("{other:?}"),
        };
        let mut all = keys("*");
        assert_eq!(all.len(), 5);
        let places: Vec<u64> = all.iter().map(|k| place_of(k)).collect();
        assert!(places.windows(2).all(|w| w[0] < w[1]), "in place order");
        all.sort();
        assert_eq!(
            all,
            vec![k("admin"), k("u"), k("user:1"), k("user:10"), k("user:2")]
        );
        let mut users = keys("user:?");
        users.sort();
        assert_eq!(users, vec![k("user:1"), k("user:2")]);
        assert!(keys("nobody*").is_empty());
    }

    /// Steps of a scan, from cursor 0 until it is 0 again: the keys each step returned.
    fn scan_all(m: &mut KvMap, count: u32, between: &mut dyn FnMut(&mut KvMap, usize)) -> Vec<Key> {
        let mut cursor = 0;
        let mut all = Vec::new();
        for step in 0.. {
            let Answer::Scan { cursor: next, keys } = m.scan(cursor, None, count) else {
                unreachable!()
            };
            assert!(next == 0 || next > cursor, "the cursor only moves on");
            all.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
            between(m, step);
        }
        all
    }

    #[test]
    fn a_scan_returns_every_key_held_throughout_exactly_once() {
        let mut m = KvMap::default();
        for i in 0..100 {
            m.execute(&put(&format!("k{i}"), "v"));
        }
        for count in [1, 3, 10, 1000] {
            let mut got = scan_all(&mut m, count, &mut |_, _| {});
            got.sort();
            let mut want: Vec<Key> = m.iter().map(|(k, _)| k.clone()).collect();
            want.sort();
            assert_eq!(got, want, "COUNT {count}");
        }
        // Keys written and removed between steps: those held throughout are returned once,
        // and no key is returned twice.
        let got = scan_all(&mut m, 7, &mut |m, step| {
            m.execute(&Op::Delete {
                key: format!("k{}", 50 + step).into(),
            });
            m.execute(&put(&format!("new{step}"), "v"));
        });
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "no key twice");
        for i in 0..50 {
            assert!(got.contains(&format!("k{i}").into()), "k{i}");
        }
        // With a pattern: the same steps, the matching keys.
        let Answer::Scan { keys, .. } = m.scan(0, Some("k1?"), 1000) else {
            unreachable!()
        };
        assert_eq!(keys.len(), 10);
        // The empty map, and cursors no step gave: any number is a place.
        assert_eq!(
            KvMap::default().scan(0, None, 10),
            Answer::Scan {
                cursor: 0,
                keys: vec![]
            }
        );
        assert_eq!(
            m.scan(u64::MAX, None, 10),
            Answer::Scan {
                cursor: 0,
                keys: vec![]
            }
        );
    }

    #[test]
    fn a_scan_step_returns_every_key_of_the_places_it_reaches() {
        // Hashes that collide are made here by hand: keys at places 5, 7, 7, 7, 9.
        let mut m = KvMap::default();
        for (place, key) in [(5, "a"), (7, "b"), (7, "c"), (7, "d"), (9, "e")] {
            m.0.insert(Slot { place, key: k(key) }, "v".into());
        }
        let step = |cursor, count| m.scan(cursor, None, count);
        let scan = |cursor, keys: &[&str]| Answer::Scan {
            cursor,
            keys: keys.iter().map(|s| k(s)).collect(),
        };
        assert_eq!(step(0, 2), scan(7, &["a", "b", "c", "d"]));
        assert_eq!(step(7, 2), scan(0, &["e"]));
        assert_eq!(step(0, 1), scan(5, &["a"]));
        assert_eq!(step(5, 1), scan(7, &["b", "c", "d"]));
        assert_eq!(step(6, 5), scan(0, &["b", "c", "d", "e"]));
        assert_eq!(step(0, 5), scan(0, &["a", "b", "c", "d", "e"]));
        assert_eq!(step(9, 5), scan(0, &[]));
    }

    #[test]
    fn a_slot_is_written_as_its_key_and_read_back_in_its_place() {
        let mut m = KvMap::default();
        for i in 0..20 {
            m.execute(&put(&format!("key{i}"), &i.to_string()));
        }
        let plain: OrdMap<Key, Value> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        // Written as a plain map of keys to values (in the law's order), so a law written
        // before slots reads as one, and one written now reads as a plain map.
        let bytes = postcard::to_allocvec(&m).unwrap();
        assert_eq!(
            postcard::from_bytes::<OrdMap<Key, Value>>(&bytes).unwrap(),
            plain
        );
        let from_plain: KvMap =
            postcard::from_bytes(&postcard::to_allocvec(&plain).unwrap()).unwrap();
        assert_eq!(from_plain, m);
        let back: KvMap = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            postcard::to_allocvec(&back).unwrap(),
            bytes,
            "the same bytes again"
        );
        assert_eq!(place_of("key3"), Slot::of(&k("key3")).place());
        assert!(m.iter().all(|(k, _)| place_of(k) >= 1));
    }

    #[test]
    fn reading_before_the_decree_loses_an_increment() {
        let incr = |client| cmd(client, 1, Op::IncrBy { key: k("n"), by: 1 });
        let (a, b) = (incr(1), incr(2));
        let answers = |dedup| {
            let mut s = Store::default();
            let mut got = Vec::new();
            s.apply_all(0, None, [&a, &b], dedup, |_, o| got.push(o));
            (got, s.map.get("n").cloned())
        };
        let done = |n| Outcome::Executed(int(n));
        assert_eq!(answers(Dedup::Sessions), (vec![done(1), done(2)], v("2")));
        assert_eq!(
            answers(Dedup::ReadsBeforeDecree),
            (vec![done(1), done(1)], v("1"))
        );
    }

    #[test]
    fn without_sessions_a_retry_executes_twice() {
        let mut s = Store::default();
        let first = cmd(7, 1, put("x", "a"));
        s.apply(0, &first, Dedup::Off);
        s.apply(0, &cmd(8, 1, put("x", "b")), Dedup::Off);
        s.apply(0, &first, Dedup::Off);
        assert_eq!(s.map.get("x").map(|v| &**v), Some("a"));
        assert_eq!(s.executed, 3);
        let cmds = [first.clone(), cmd(8, 1, put("x", "b")), first];
        assert_eq!(Store::distinct_executions(&cmds), 2);
    }

    fn stamp(at: u64, horizon: u64) -> Stamp {
        Stamp { at, horizon }
    }

    #[test]
    fn a_forgotten_session_refuses_every_later_command_of_its_client() {
        let mut s = Store::default();
        let old = client_id_at(1_000);
        let young = client_id_at(9_000);
        assert_eq!(born(old), 1_000);
        assert_eq!(born(Id::from(3)), 0, "the model's clients began at 0");
        let first = Command {
            client: old,
            seq: 1,
            op: put("x", "a"),
        };
        s.apply_all(
            0,
            Some(&stamp(2_000, 0)),
            [&first],
            Dedup::Sessions,
            |_, o| assert_eq!(o, Outcome::Executed(Answer::Written)),
        );
        assert_eq!(s.sessions[&old].at, 2_000);
        // Idle since 2_000, began at 1_000: a horizon at 2_000 keeps it, one past it does not.
        s.advance(&stamp(7_000, 2_000));
        assert!(s.sessions.contains_key(&old));
        // Past it, but short of the next sweep mark (every 6_000 / 16 = 374): kept a
        // little longer, and a late copy is still a retry.
        s.advance(&stamp(8_000, 2_001));
        assert_eq!(
            s.apply(0, &first, Dedup::Sessions),
            Outcome::Retry(Answer::Written)
        );
        s.advance(&stamp(8_250, 2_250));
        assert!(!s.sessions.contains_key(&old));
        // A late copy of its first command, and its next command, are refused.
        assert_eq!(s.apply(0, &first, Dedup::Sessions), Outcome::Expired);
        let next = Command {
            seq: 2,
            ..first.clone()
        };
        assert_eq!(s.lookup(old, 2), Some(Outcome::Expired));
        assert_eq!(s.apply(0, &next, Dedup::Sessions), Outcome::Expired);
        assert_eq!((s.executed, s.map.get("x").map(|v| &**v)), (1, Some("a")));
        // A client that began after the horizon is new.
        let other = Command {
            client: young,
            seq: 1,
            op: put("x", "b"),
        };
        assert_eq!(
            s.apply(0, &other, Dedup::Sessions),
            Outcome::Executed(Answer::Written)
        );
        // A horizon never goes back, and neither does the clock.
        s.advance(&stamp(3_000, 1_000));
        assert_eq!((s.now, s.horizon), (8_250, 2_250));
        // Under the seeded bug the late copy runs again.
        assert_eq!(
            s.apply(0, &first, Dedup::ExpiredAsNew),
            Outcome::Executed(Answer::Written)
        );
        assert_eq!(s.executed, 3);
    }

    #[test]
    fn a_session_of_a_client_that_began_after_the_horizon_is_kept() {
        // Its client's machine's clock is ahead: the session lasts until the horizon passes
        // the client's beginning too, so a forgotten client is always one the law refuses.
        let mut s = Store::default();
        let ahead = client_id_at(50_000);
        s.apply_all(
            0,
            Some(&stamp(10_000, 0)),
            [&cmd_of(ahead, 1, put("k", "v"))],
            Dedup::Sessions,
            |_, _| {},
        );
        s.advance(&stamp(40_000, 30_000));
        assert!(s.sessions.contains_key(&ahead));
        s.advance(&stamp(60_000, 50_001));
        assert!(s.sessions.is_empty());
        assert_eq!(s.lookup(ahead, 2), Some(Outcome::Expired));
    }

    #[test]
    fn a_law_read_back_is_the_same_bytes_and_forgets_the_same() {
        let mut s = Store::default();
        for (i, at) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
            let c = cmd_of(client_id_at(0), 1, put(&format!("k{i}"), "v"));
            s.apply_all(0, Some(&stamp(at, 0)), [&c], Dedup::Sessions, |_, _| {});
        }
        let bytes = postcard::to_allocvec(&s).unwrap();
        let mut back: Store = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
        // Written again, it is the same bytes: a snapshot sent again after its sender
        // restarted makes the same chunks, so the receiver's transfer resumes.
        assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes);
        s.advance(&stamp(4_000, 2_500));
        back.advance(&stamp(4_000, 2_500));
        assert_eq!(back, s);
        assert_eq!(s.sessions.len(), 1);
    }

    fn expire(key: &str, at: Time) -> Op {
        Op::Expire {
            key: k(key),
            at,
            when: ExpireIf::Always,
        }
    }

    fn set_px(key: &str, value: &str, ms: i64) -> Op {
        Op::SetTtl {
            key: k(key),
            value: value.into(),
            when: When::Always,
            ttl: Ttl::Expire(Time::In(ms)),
        }
    }

    /// Applies `op` as client `client`'s command `seq` in a decree stamped `at`.
    fn at(s: &mut Store, at: u64, client: usize, seq: u64, op: Op) -> Answer {
        let mut got = None;
        s.apply_all(
            0,
            Some(&stamp(at, 0)),
            [&cmd(client, seq, op)],
            Dedup::Sessions,
            |_, o| got = Some(o),
        );
        match got {
            Some(Outcome::Executed(a)) => a,
            o => panic!("{o:?}"),
        }
    }

    fn live_bytes(s: &Store) -> u64 {
        s.map.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }

    #[test]
    fn keys_expire_when_a_stamp_passes_their_deadline() {
        let mut s = Store::default();
        // Deadlines relative to the decree's stamp: 1_000 + 50.
        assert_eq!(
            at(&mut s, 1_000, 1, 1, set_px("a", "1", 50)),
            cas_of(true, None)
        );
        assert_eq!(at(&mut s, 1_000, 1, 2, put("b", "22")), Answer::Written);
        assert_eq!(at(&mut s, 1_010, 1, 3, expire("b", Time::In(100))), int(1));
        assert_eq!(s.map.deadline("a"), Some(1_050));
        assert_eq!(s.map.deadline("b"), Some(1_110));
        assert_eq!(at(&mut s, 1_020, 1, 4, Op::Pttl { key: k("a") }), int(30));
        // A stamp at a deadline removes the key: every priest, by the same stamp.
        s.advance(&stamp(1_050, 0));
        assert_eq!(s.map.get("a"), None);
        assert_eq!(s.map.get("b").map(|v| &**v), Some("22"));
        assert_eq!(s.bytes, live_bytes(&s));
        // A stamp behind the law's clock moves nothing back, and expires nothing again.
        assert_eq!(at(&mut s, 900, 1, 5, Op::Pttl { key: k("b") }), int(60));
        assert_eq!(at(&mut s, 2_000, 1, 6, Op::Pttl { key: k("b") }), int(-2));
        assert!(s.map.deadlines().is_empty());
        assert_eq!((s.map.len(), s.bytes), (0, 0));
    }

    fn cas_of(swapped: bool, previous: Option<Value>) -> Answer {
        Answer::Cas { swapped, previous }
    }

    #[test]
    fn writes_clear_or_keep_the_deadline_as_redis_s_do() {
        let mut s = Store::default();
        let pttl = |s: &mut Store, seq| at(s, 100, 2, seq, Op::Pttl { key: k("x") });
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            seq
        };
        at(&mut s, 100, 2, next(), set_px("x", "1", 1_000));
        at(&mut s, 100, 2, next(), Op::IncrBy { key: k("x"), by: 1 });
        at(
            &mut s,
            100,
            2,
            next(),
            Op::Append {
                key: k("x"),
                value: "0".into(),
            },
        );
        assert_eq!(s.map.get("x").map(|v| &**v), Some("20"));
        assert_eq!(pttl(&mut s, next()), int(1_000), "INCR and APPEND keep it");
        let keep = Op::SetTtl {
            key: k("x"),
            value: "k".into(),
            when: When::Always,
            ttl: Ttl::Keep,
        };
        at(&mut s, 100, 2, next(), keep);
        assert_eq!(pttl(&mut s, next()), int(1_000), "KEEPTTL");
        for clears in [
            put("x", "p"),
            Op::MSet {
                pairs: vec![(k("x"), "m".into())],
            },
            Op::SetIf {
                key: k("x"),
                value: "s".into(),
                when: When::Present,
            },
        ] {
            at(&mut s, 100, 2, next(), set_px("x", "1", 1_000));
            at(&mut s, 100, 2, next(), clears.clone());
            assert_eq!(pttl(&mut s, next()), int(-1), "{clears}");
        }
        // A key removed and written again has no deadline.
        at(&mut s, 100, 2, next(), set_px("x", "1", 1_000));
        at(&mut s, 100, 2, next(), Op::GetDel { key: k("x") });
        at(&mut s, 100, 2, next(), Op::IncrBy { key: k("x"), by: 1 });
        assert_eq!(pttl(&mut s, next()), int(-1));
        assert_eq!(
            at(&mut s, 100, 2, next(), Op::Persist { key: k("x") }),
            int(0)
        );
        at(&mut s, 100, 2, next(), expire("x", Time::At(5_000)));
        assert_eq!(
            at(&mut s, 100, 2, next(), Op::Persist { key: k("x") }),
            int(1)
        );
        assert_eq!(pttl(&mut s, next()), int(-1));
        assert!(s.map.deadlines().is_empty());
        assert_eq!(s.bytes, live_bytes(&s));
    }

    #[test]
    fn expire_s_conditions_the_past_and_overflow() {
        let mut m = KvMap::default();
        let now = 1_000;
        let ex = |when, ms| Op::Expire {
            key: k("x"),
            at: Time::In(ms),
            when,
        };
        assert_eq!(
            m.execute_at(&ex(ExpireIf::Always, 10), now),
            int(0),
            "absent"
        );
        m.execute_at(&put("x", "v"), now);
        assert_eq!(m.execute_at(&ex(ExpireIf::Some, 10), now), int(0));
        assert_eq!(m.execute_at(&ex(ExpireIf::Later, 10), now), int(0));
        assert_eq!(m.execute_at(&ex(ExpireIf::SomeSooner, 10), now), int(0));
        assert_eq!(m.execute_at(&ex(ExpireIf::Sooner, 500), now), int(1));
        assert_eq!(m.execute_at(&ex(ExpireIf::None, 10), now), int(0));
        assert_eq!(m.execute_at(&ex(ExpireIf::Later, 400), now), int(0));
        assert_eq!(m.execute_at(&ex(ExpireIf::Later, 600), now), int(1));
        assert_eq!(m.execute_at(&ex(ExpireIf::SomeSooner, 550), now), int(1));
        assert_eq!(m.deadline("x"), Some(1_550));
        // Past 64 bits: refused, whether or not the key is there; the key stays.
        let far = Op::Expire {
            key: k("nobody"),
            at: Time::In(i64::MAX),
            when: ExpireIf::Always,
        };
        assert_eq!(
            m.execute_at(&far, now),
            Answer::Failed(Failure::InvalidExpire)
        );
        assert_eq!(
            m.execute_at(&set_px("x", "w", i64::MAX), now),
            Answer::Failed(Failure::InvalidExpire)
        );
        assert_eq!(m.get("x").map(|v| &**v), Some("v"));
        // A deadline at or before the clock removes the key at once, answering 1.
        assert_eq!(m.execute_at(&ex(ExpireIf::Always, 0), now), int(1));
        assert_eq!(m.get("x"), None);
        m.execute_at(&put("x", "v"), now);
        assert_eq!(m.execute_at(&expire("x", Time::At(-7)), now), int(1));
        assert_eq!(m.get("x"), None);
        assert_eq!(
            m.execute_at(
                &Op::GetEx {
                    key: k("x"),
                    at: Some(Time::In(5))
                },
                now
            ),
            Answer::Value(None)
        );
        assert!(m.deadlines().is_empty() && m.is_empty());
    }

    #[test]
    fn a_law_with_deadlines_is_written_in_format_6_and_older_laws_read_with_none() {
        let mut s = Store::default();
        at(&mut s, 1_000, 1, 1, set_px("a", "1", 50));
        at(&mut s, 1_000, 1, 2, put("b", "2"));
        let bytes = postcard::to_allocvec(&s).unwrap();
        let back: Store = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.map.deadlines().earliest(), Some(1_050));
        // Formats 4 and 5 laid the law out without deadlines: read so, it has none.
        let old = with_law_before_deadlines(|| postcard::to_allocvec(&s).unwrap());
        assert!(old.len() < bytes.len());
        let back: Store = with_law_before_deadlines(|| postcard::from_bytes(&old).unwrap());
        assert_eq!(back.map.0, s.map.0);
        assert!(back.map.deadlines().is_empty());
        // Deltas of deadlines rebuild them.
        let mut later = s.clone();
        at(&mut later, 1_010, 1, 3, expire("b", Time::In(10)));
        at(&mut later, 1_010, 1, 4, Op::Persist { key: k("a") });
        let mut rebuilt = s.map.1.clone();
        rebuilt.apply(later.map.1.delta(&s.map.1));
        assert_eq!(rebuilt, later.map.1);
        assert_eq!(rebuilt.earliest(), Some(1_020));
    }

    fn cmd_of(client: Id, seq: u64, op: Op) -> Command {
        Command { client, seq, op }
    }

    #[test]
    fn the_spec_accepts_and_rejects_histories() {
        assert!(KvMap::default().is_valid_history(vec![
            (put("x", "1"), Answer::Written),
            (get("x"), Answer::Value(Some("1".into()))),
        ]));
        assert!(!KvMap::default().is_valid_history(vec![
            (put("x", "1"), Answer::Written),
            (get("x"), Answer::Value(None)),
        ]));
    }

    #[test]
    fn commands_and_answers_round_trip_through_serde() {
        let c = cmd(
            3,
            9,
            Op::Cas {
                key: "k".into(),
                expected: None,
                new: "v".into(),
            },
        );
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), c);
        assert_eq!(c.to_string(), "c3#9 cas k nil->v");
    }
}
