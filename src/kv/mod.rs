//! The law: a key-value map that every priest builds by applying the passed decrees in
//! decree-number order (the paper's section 3: the Parliament's decrees are laws, and every
//! priest's ledger holds the same sequence of them).
//!
//! # The law and its sessions
//!
//! A [`Command`] is one client operation ([`Op`]: get, put, delete, compare-and-set) tagged
//! with its client's id and a per-client sequence number. A client sends one command at a
//! time and numbers them 1, 2, 3, ...; when it gets no answer it may send the same command
//! again (to the same priest or another), and a deposed president hands its unfinished
//! commands to its successor, so one command can be passed in more than one decree. The law
//! keeps, for each client, a *session*: the sequence number of the last command it executed
//! for that client and that command's answer. A command whose number is the session's number
//! is a retry and gets the recorded answer without being executed again; an older number is
//! stale (its client has moved on and nobody waits for it) and is ignored. So each command
//! takes effect once, in the first decree that carries it, and every copy of it gets the
//! answer of that one execution.
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
//! A get at a priest that keeps its law current is a *read*, answered from the law without
//! executing anything ([`KvMap::read`]); the Parliament's president answers one only once it
//! may (see [`crate::parliament`]: a confirmation round and the decrees begun before the read
//! applied), and a get that does pass in a decree (queued while a president was being
//! chosen) executes like any command. [`KvMap`] is the sequential specification the
//! model checks client histories against (stateright's `SequentialSpec`); [`Store`] is that
//! map plus sessions, as a priest holds it.

mod chamber;

pub use chamber::{
    Chamber, Change, Inc, Listed, Member, MemberAnswer, MemberOp, Refusal, MAX_INDEX,
};

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

/// One operation on the map.
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
    /// The compare-and-set: whether it swapped, and the value the key held before.
    Cas {
        swapped: bool,
        previous: Option<Value>,
    },
    /// What a member command did.
    Member(MemberAnswer),
}

impl Op {
    /// The key the operation reads or writes (a member command has none).
    pub fn key(&self) -> Option<&Key> {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Delete { key } | Op::Cas { key, .. } => {
                Some(key)
            }
            Op::Member(_) => None,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Value(v) => write!(f, "{}", v.as_deref().unwrap_or("nil")),
            Answer::Written => write!(f, "ok"),
            Answer::Deleted(existed) => write!(f, "deleted={existed}"),
            Answer::Cas { swapped, previous } => write!(
                f,
                "swapped={swapped} (was {})",
                previous.as_deref().unwrap_or("nil")
            ),
            Answer::Member(m) => write!(f, "{m}"),
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
        const FRAMING: usize = 24;
        FRAMING
            + match &self.op {
                Op::Get { key } | Op::Delete { key } => key.len(),
                Op::Put { key, value } => key.len() + value.len(),
                Op::Cas { key, expected, new } => {
                    key.len() + expected.as_ref().map_or(0, |e| e.len()) + new.len()
                }
                Op::Member(MemberOp::Add { addr, .. } | MemberOp::Replace { addr, .. }) => {
                    16 + addr.as_ref().map_or(0, |a| a.len())
                }
                Op::Member(_) => 2,
            }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{} {}", usize::from(self.client), self.seq, self.op)
    }
}

/// The plain map: the sequential specification of the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KvMap(pub OrdMap<Key, Value>);

impl KvMap {
    /// What a read returns, without executing anything: `None` if `op` is not a read (a
    /// `get`).
    pub fn read(&self, op: &Op) -> Option<Answer> {
        match op {
            Op::Get { key } => Some(Answer::Value(self.0.get(key).cloned())),
            _ => None,
        }
    }

    /// Executes one operation.
    pub fn execute(&mut self, op: &Op) -> Answer {
        match op {
            Op::Get { key } => Answer::Value(self.0.get(key).cloned()),
            Op::Put { key, value } => {
                self.0.insert(key.clone(), value.clone());
                Answer::Written
            }
            Op::Delete { key } => Answer::Deleted(self.0.remove(key).is_some()),
            Op::Cas { key, expected, new } => {
                let previous = self.0.get(key).cloned();
                let swapped = previous == *expected;
                if swapped {
                    self.0.insert(key.clone(), new.clone());
                }
                Answer::Cas { swapped, previous }
            }
            // The plain map has no Chamber.
            Op::Member(_) => Answer::Member(MemberAnswer::Refused(Refusal::Disabled)),
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

/// Whether the law remembers sessions (always, except under a seeded bug).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// Retries get the recorded answer; stale commands are ignored.
    Sessions,
    /// Every copy of a command is executed (the seeded bug `no-session-dedup`).
    Off,
    /// A command of a client with no session is new, even if the client began before the
    /// horizon (the seeded bug `expired-session-reexecutes`).
    ExpiredAsNew,
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

thread_local! {
    static BEFORE_CHAMBER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with laws read and written as ledger format 3 and the builds of its time laid
/// them out: without the chamber (read as `None`). The journal reads a format-3 ledger this
/// way, and the wire a snapshot from a priest of that build, so a cluster upgrades one
/// priest at a time without losing its ledgers.
pub fn with_law_before_chamber<T>(f: impl FnOnce() -> T) -> T {
    BEFORE_CHAMBER.with(|b| {
        let was = b.replace(true);
        let out = f();
        b.set(was);
        out
    })
}

/// The fields of a law before its chamber, as they are written: borrowed to write, owned
/// to read. Ledger format 3 wrote these alone; since, the chamber follows them.
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
        if BEFORE_CHAMBER.with(|b| b.get()) {
            return head.serialize(s);
        }
        (head, &self.chamber).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        type Head = LawHead<KvMap, OrdMap<Id, Session>>;
        let (head, chamber) = if BEFORE_CHAMBER.with(|b| b.get()) {
            (Head::deserialize(d)?, None)
        } else {
            <(Head, Option<Chamber>)>::deserialize(d)?
        };
        Ok(Store {
            map: head.map,
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
        if dedup != Dedup::Off {
            if let Some(outcome) = self.lookup_under(cmd.client, cmd.seq, dedup) {
                return outcome;
            }
        }
        let answer = match (&cmd.op, &mut self.chamber) {
            (Op::Member(op), Some(chamber)) => Answer::Member(chamber.execute(op, number)),
            (op, _) => {
                let entry = |map: &KvMap| {
                    op.key()
                        .and_then(|k| Some(k.len() + map.0.get(k)?.len()))
                        .unwrap_or(0) as u64
                };
                let before = entry(&self.map);
                let answer = self.map.execute(op);
                self.bytes = self.bytes + entry(&self.map) - before;
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
        for c in cmds {
            let o = self.apply(number, c, dedup);
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
        assert_eq!(s.map.0.get("x").map(|v| &**v), Some("b"));
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
                .0
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
        ];
        for (i, op) in ops.into_iter().enumerate() {
            s.apply(0, &cmd(1, i as u64 + 1, op), Dedup::Sessions);
            assert_eq!(s.bytes, bytes(&s), "after command {}", i + 1);
        }
        assert_eq!(s.bytes, 8);
    }

    #[test]
    fn without_sessions_a_retry_executes_twice() {
        let mut s = Store::default();
        let first = cmd(7, 1, put("x", "a"));
        s.apply(0, &first, Dedup::Off);
        s.apply(0, &cmd(8, 1, put("x", "b")), Dedup::Off);
        s.apply(0, &first, Dedup::Off);
        assert_eq!(s.map.0.get("x").map(|v| &**v), Some("a"));
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
        assert_eq!((s.executed, s.map.0.get("x").map(|v| &**v)), (1, Some("a")));
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
