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
//! A get at a priest that keeps its law current is a *read*, answered from the law without
//! executing anything ([`KvMap::read`]); the Parliament's president answers one only once it
//! may (see [`crate::parliament`]: a confirmation round and the decrees begun before the read
//! applied), and a get that does pass in a decree (queued while a president was being
//! chosen) executes like any command. [`KvMap`] is the sequential specification the
//! model checks client histories against (stateright's `SequentialSpec`); [`Store`] is that
//! map plus sessions, as a priest holds it.

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
}

impl Op {
    /// The key the operation reads or writes.
    pub fn key(&self) -> &Key {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Delete { key } | Op::Cas { key, .. } => key,
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

/// A client's session: its latest executed command and that command's answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Session {
    pub seq: u64,
    pub answer: Answer,
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
}

impl Outcome {
    /// The answer to send the client, if any.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Outcome::Executed(a) | Outcome::Retry(a) => Some(a),
            Outcome::Stale => None,
        }
    }
}

/// The law as a priest holds it: the map, every client's session, and how many commands it
/// executed (each distinct command at most once: the `exactly-once` property).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Store {
    pub map: KvMap,
    pub sessions: OrdMap<Id, Session>,
    /// Commands executed so far (retries and stale copies not counted).
    pub executed: u64,
    /// The live data: the bytes of every key and value in the map (kept as commands
    /// execute, so a priest knows its law's size without walking it).
    pub bytes: u64,
}

impl Store {
    /// What the session table says about `cmd` without applying it: `Some(outcome)` for a
    /// retry or a stale command, `None` for a new one.
    pub fn lookup(&self, client: Id, seq: u64) -> Option<Outcome> {
        self.sessions.get(&client)?.lookup(seq)
    }

    /// Applies one command under `dedup`.
    pub fn apply(&mut self, cmd: &Command, dedup: Dedup) -> Outcome {
        if dedup == Dedup::Sessions {
            if let Some(outcome) = self.lookup(cmd.client, cmd.seq) {
                return outcome;
            }
        }
        let key = cmd.op.key();
        let entry = |map: &KvMap| map.0.get(key).map_or(0, |v| (key.len() + v.len()) as u64);
        let before = entry(&self.map);
        let answer = self.map.execute(&cmd.op);
        self.bytes = self.bytes + entry(&self.map) - before;
        self.executed += 1;
        self.sessions.insert(
            cmd.client,
            Session {
                seq: cmd.seq,
                answer: answer.clone(),
            },
        );
        Outcome::Executed(answer)
    }

    /// How many commands a deduplicating law executes for this sequence of commands: the
    /// reference count for `exactly-once`.
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
            s.apply(&first, Dedup::Sessions),
            Outcome::Executed(Answer::Written)
        );
        // Another client overwrites; then client 7's retry of its put arrives in a later
        // decree. It must not overwrite again, and must get its original answer.
        s.apply(&cmd(8, 1, put("x", "b")), Dedup::Sessions);
        assert_eq!(
            s.apply(&first, Dedup::Sessions),
            Outcome::Retry(Answer::Written)
        );
        assert_eq!(s.map.0.get("x").map(|v| &**v), Some("b"));
        assert_eq!(s.executed, 2);
        // The next command of client 7 executes; after it, the first is stale.
        let second = cmd(7, 2, get("x"));
        assert_eq!(
            s.apply(&second, Dedup::Sessions),
            Outcome::Executed(Answer::Value(Some("b".into())))
        );
        assert_eq!(s.apply(&first, Dedup::Sessions), Outcome::Stale);
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
            s.apply(&cmd(1, i as u64 + 1, op), Dedup::Sessions);
            assert_eq!(s.bytes, bytes(&s), "after command {}", i + 1);
        }
        assert_eq!(s.bytes, 8);
    }

    #[test]
    fn without_sessions_a_retry_executes_twice() {
        let mut s = Store::default();
        let first = cmd(7, 1, put("x", "a"));
        s.apply(&first, Dedup::Off);
        s.apply(&cmd(8, 1, put("x", "b")), Dedup::Off);
        s.apply(&first, Dedup::Off);
        assert_eq!(s.map.0.get("x").map(|v| &**v), Some("a"));
        assert_eq!(s.executed, 3);
        let cmds = [first.clone(), cmd(8, 1, put("x", "b")), first];
        assert_eq!(Store::distinct_executions(&cmds), 2);
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
