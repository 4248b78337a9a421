//! Checking that what real clients saw is linearizable.
//!
//! A [`History`] records, for every command a client sent, when it was sent, when its answer
//! came (if it came: a command that timed out or whose connection broke is *indeterminate*,
//! it may or may not have taken effect, at any moment after it was sent), and the answer.
//! The history is linearizable if every command can be given one instant between its send
//! and its answer such that executing the commands in the order of those instants, one at a
//! time on a single map, gives every recorded answer (indeterminate commands may also be
//! left out altogether).
//!
//! The map's semantics here ([`step`]) are written apart from the law's (`kv::KvMap`), from
//! Redis's documentation, so a law that answers wrongly is caught as well as a protocol that
//! orders wrongly.
//!
//! The check is Wing and Gong's search with Lowe's memoisation, one *component* at a time: the
//! keys that some command names together (an `MSET` or `MGET` of several keys joins them)
//! form a component, and a history is linearizable iff each component's sub-history is
//! (linearizability is local, Herlihy and Wing: each component is an object no command
//! reaches beyond). For one component it searches for a next command among those sent
//! before every remaining command's answer came, applies it to the component's keys,
//! checks the answer, and backtracks on a mismatch, skipping any (set of linearized
//! commands, values) configuration it has already seen fail. Commands on no key or on the
//! whole keyspace (`DBSIZE`, `KEYS`, `SCAN`) are recorded but not checked.
//!
//! **Time.** A history carries no clock of the law, so the checker's rule for keys that
//! expire is that no deadline passes during a run: it checks only commands whose deadlines
//! are [`FAR`] or more ahead, longer than any run, and refuses to check
//! others (it panics, naming the command). A key then either has a deadline or not, and the
//! checker tracks exactly that (beside the key's value, as the entry [`deadline_of`] the key):
//! `EXPIRE` and `SET ... EX` give one, `PERSIST`, `GETEX PERSIST` and every write Redis says
//! clears it (`SET`, `MSET`, `GETSET`, `CAS`, a delete) take it away, `INCR` and `APPEND`
//! keep it; `TTL` and `PTTL` are checked as whether the key has one (a positive answer), has
//! none (`-1`) or is absent (`-2`). The clock-dependent rest (a key going at its deadline,
//! `TTL` going down) is checked by the model (docs/verification.md) and by
//! `tests/redis_commands.rs`.
//!
//! **Keeping the search small.** Three things keep a run of thousands of commands, with
//! transactions joining every key into one component, to thousands of configurations and a
//! few hundred megabytes: a `WATCH` no `EXEC` uses is left out ([`idle_watches`]: what it
//! read would otherwise stay among the values for good); an unanswered command is not taken
//! where it would change nothing (taking it later, or never, covers that); and the memo
//! keeps a 128-bit hash of each configuration ([`memo_key`]), not the configuration.
//!
//! Included by path by several test crates, each of which uses only some of it.

#![allow(dead_code)]

use parliament::kv::When;
use parliament::resp::{Command, Reply};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Instant;

/// An answer, reduced to what the map decides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// GET, GETDEL, SET ... GET, GETSET: the value (or none).
    Value(Option<String>),
    /// SET, MSET: done.
    Written,
    /// DEL, EXISTS of one key: whether the key existed; CAS, SET NX, SETNX, SET XX: whether
    /// it wrote.
    Bool(bool),
    /// INCR and the like, APPEND, STRLEN, DEL and EXISTS of several keys: the number.
    Int(i64),
    /// MGET: the values.
    Values(Vec<Option<String>>),
    /// The map refused the command (an increment of a non-integer, or past 64 bits): Redis's
    /// error text.
    Failed(String),
    /// EXEC: each queued command's outcome, in order; `None`: a watched key had changed,
    /// and nothing ran.
    Multi(Option<Vec<Outcome>>),
}

/// Redis's error for an increment of a value that is not an integer.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
/// Redis's error for an increment past the 64-bit integers.
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";

impl Outcome {
    /// What `reply` says about `cmd`; `None` for an error reply the map does not decide (a
    /// timeout, a lost connection), or a reply of the wrong kind (the command is then
    /// indeterminate).
    pub fn from_reply(cmd: &Command, reply: &Reply) -> Option<Outcome> {
        let text =
            |b: &Option<Vec<u8>>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        match (cmd, reply) {
            (Command::IncrBy { .. }, Reply::Error(e)) if e == NOT_AN_INTEGER || e == OVERFLOW => {
                Some(Outcome::Failed(e.clone()))
            }
            (_, Reply::Error(_)) => None,
            (
                Command::Get { .. }
                | Command::GetDel { .. }
                | Command::SetWith { get: true, .. }
                | Command::SetTtl { get: true, .. }
                | Command::GetEx { .. },
                Reply::Bulk(v),
            ) => Some(Outcome::Value(text(v))),
            // TTL and PTTL: whether the key has a deadline (see "Time").
            (Command::Ttl { .. }, Reply::Integer(n)) => Some(Outcome::Int((*n).clamp(-2, 1))),
            (Command::Expire { .. } | Command::Persist { .. }, Reply::Integer(n)) => {
                Some(Outcome::Int(*n))
            }
            (
                Command::Set { .. } | Command::MSet { .. } | Command::Watch { .. },
                Reply::Simple(s),
            ) if s == "OK" => Some(Outcome::Written),
            (
                Command::Del { .. }
                | Command::Exists { .. }
                | Command::SetNx { .. }
                | Command::Cas {
                    expected: Some(_), ..
                },
                Reply::Integer(n),
            ) => Some(Outcome::Bool(*n > 0)),
            (
                Command::Cas { expected: None, .. }
                | Command::SetWith { get: false, .. }
                | Command::SetTtl { get: false, .. },
                Reply::Simple(s),
            ) if s == "OK" => Some(Outcome::Bool(true)),
            (
                Command::Cas { expected: None, .. }
                | Command::SetWith { get: false, .. }
                | Command::SetTtl { get: false, .. },
                Reply::Bulk(None),
            ) => Some(Outcome::Bool(false)),
            (
                Command::IncrBy { .. }
                | Command::Append { .. }
                | Command::Strlen { .. }
                | Command::DelMany { .. }
                | Command::ExistsMany { .. }
                | Command::DbSize,
                Reply::Integer(n),
            ) => Some(Outcome::Int(*n)),
            (Command::MGet { keys }, Reply::Array(Some(items))) if items.len() == keys.len() => {
                items
                    .iter()
                    .map(|r| match r {
                        Reply::Bulk(v) => Some(text(v)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(Outcome::Values)
            }
            (Command::Exec { .. }, Reply::Array(None)) => Some(Outcome::Multi(None)),
            (Command::Exec { cmds, .. }, Reply::Array(Some(items)))
                if items.len() == cmds.len() =>
            {
                cmds.iter()
                    .zip(items)
                    .map(|(c, r)| Outcome::from_reply(c, r))
                    .collect::<Option<Vec<_>>>()
                    .map(|os| Outcome::Multi(Some(os)))
            }
            _ => None,
        }
    }

    /// The RESP reply that says this to `cmd` (the inverse of [`Outcome::from_reply`]).
    pub fn reply(&self, cmd: &Command) -> Reply {
        let bulk = |v: &Option<String>| Reply::Bulk(v.clone().map(String::into_bytes));
        match (cmd, self) {
            (_, Outcome::Value(v)) => bulk(v),
            (_, Outcome::Written) => Reply::ok(),
            (
                Command::Cas { expected: None, .. }
                | Command::SetWith { .. }
                | Command::SetTtl { .. },
                Outcome::Bool(b),
            ) => {
                if *b {
                    Reply::ok()
                } else {
                    Reply::nil()
                }
            }
            (_, Outcome::Bool(b)) => Reply::Integer(*b as i64),
            (_, Outcome::Int(n)) => Reply::Integer(*n),
            (_, Outcome::Values(vs)) => Reply::Array(Some(vs.iter().map(bulk).collect())),
            (_, Outcome::Failed(e)) => Reply::Error(e.clone()),
            (_, Outcome::Multi(None)) => Reply::Array(None),
            (Command::Exec { cmds, .. }, Outcome::Multi(Some(os))) => {
                Reply::Array(Some(cmds.iter().zip(os).map(|(c, o)| o.reply(c)).collect()))
            }
            (_, Outcome::Multi(Some(_))) => {
                Reply::err("a transaction's outcome for another command")
            }
        }
    }
}

/// The values of some keys (an absent key is not in the map), and, as the entry
/// [`deadline_of`] a key, whether it has a deadline.
pub type Values = BTreeMap<String, String>;

/// How far ahead a deadline the checker checks must be, in milliseconds: an hour, longer
/// than any run (see "Time" above).
pub const FAR: i64 = 3_600_000;

/// The entry of `values` that says `key` has a deadline (no key the workload names begins
/// with a NUL).
pub fn deadline_of(key: &str) -> String {
    format!("\0deadline {key}")
}

/// Whether a conditional `SET` (`NX`, `XX`, or neither) writes over the value `before`
/// (written apart from the law's rule, as the rest of this checker).
fn writes(when: When, before: &Option<String>) -> bool {
    match when {
        When::Always => true,
        When::Absent => before.is_none(),
        When::Present => before.is_some(),
    }
}

/// A deadline the checker can check: relative, [`FAR`] or more ahead.
fn far(at: &parliament::kv::Time, cmd: &Command) {
    assert!(
        matches!(at, parliament::kv::Time::In(ms) if *ms >= FAR),
        "the history checks only deadlines {FAR} ms or more ahead, not {cmd:?}"
    );
}

/// The integer a value holds, by Redis's rule: exactly the decimal form of a 64-bit signed
/// integer (so no `+`, no leading zero, no `-0`, no spaces).
fn integer(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().filter(|n| n.to_string() == v)
}

/// Where the search keeps what client `client`'s `WATCH` read of `key`: a name no real key
/// has (real keys are the workload's, without a NUL), so it travels with the values.
fn watched_key(client: usize, key: &str) -> String {
    format!("\0watch {client} {key}")
}

/// A watched value as the search keeps it (`-`: absent).
fn watched_value(v: Option<&String>) -> String {
    v.map_or("-".into(), |v| format!("={v}"))
}

/// Executes `cmd` of client `client` on `values` (those of the keys it names, at least): the
/// values after, and the outcome. Commands on no key or on the whole keyspace change nothing
/// here.
///
/// `WATCH` and `EXEC` are the client's transaction: a `WATCH` reads its keys at its instant
/// (a client does not see what it read: `WATCH` answers `+OK`), and the search keeps what it
/// read among the values, under names of the client's ([`watched_key`]); an `EXEC` executes
/// its queued commands one after the other if each key it watched (`watch`'s keys; their
/// values in the command are not used) still holds what that client's `WATCH` read, and
/// nothing otherwise. So the search tries every instant of the `WATCH` as well.
pub fn step(values: &Values, client: usize, cmd: &Command) -> (Values, Outcome) {
    let mut after = values.clone();
    let get = |k: &str| values.get(k).cloned();
    let outcome = match cmd {
        Command::Ping(_)
        | Command::Info(_)
        | Command::Member(_)
        | Command::Commands(_)
        | Command::DbSize
        | Command::Keys { .. }
        | Command::Scan { .. }
        | Command::Multi
        | Command::Discard
        | Command::Unwatch => Outcome::Written,
        Command::Watch { keys } => {
            for k in keys {
                after.insert(watched_key(client, k), watched_value(values.get(k)));
            }
            Outcome::Written
        }
        Command::Exec { watch, cmds } => {
            let holds = |(k, _): &(String, Option<String>)| {
                values.get(&watched_key(client, k)) == Some(&watched_value(values.get(k)))
            };
            let runs = watch.iter().all(holds);
            // EXEC forgets the watches, whatever it does.
            for (k, _) in watch {
                after.remove(&watched_key(client, k));
            }
            if !runs {
                Outcome::Multi(None)
            } else {
                let mut outcomes = Vec::new();
                for c in cmds {
                    let (next, o) = step(&after, client, c);
                    after = next;
                    outcomes.push(o);
                }
                Outcome::Multi(Some(outcomes))
            }
        }
        Command::Get { key } => Outcome::Value(get(key)),
        Command::Set { key, value } => {
            after.insert(key.clone(), value.clone());
            after.remove(&deadline_of(key));
            Outcome::Written
        }
        Command::Del { key } => {
            after.remove(&deadline_of(key));
            Outcome::Bool(after.remove(key).is_some())
        }
        Command::Exists { key } => Outcome::Bool(values.contains_key(key)),
        Command::Cas { key, expected, new } => {
            let swap = get(key) == *expected;
            if swap {
                after.insert(key.clone(), new.clone());
                after.remove(&deadline_of(key));
            }
            Outcome::Bool(swap)
        }
        Command::SetNx { key, value } => {
            let swap = !values.contains_key(key);
            if swap {
                after.insert(key.clone(), value.clone());
                after.remove(&deadline_of(key));
            }
            Outcome::Bool(swap)
        }
        Command::SetWith {
            key,
            value,
            when,
            get: with_get,
        } => {
            let before = get(key);
            let write = writes(*when, &before);
            if write {
                after.insert(key.clone(), value.clone());
                after.remove(&deadline_of(key));
            }
            if *with_get {
                Outcome::Value(before)
            } else {
                Outcome::Bool(write)
            }
        }
        Command::GetDel { key } => {
            after.remove(&deadline_of(key));
            Outcome::Value(after.remove(key))
        }
        Command::MGet { keys } => Outcome::Values(keys.iter().map(|k| get(k)).collect()),
        Command::MSet { pairs } => {
            for (k, v) in pairs {
                after.insert(k.clone(), v.clone());
                after.remove(&deadline_of(k));
            }
            Outcome::Written
        }
        Command::IncrBy { key, by, .. } => {
            let now = match get(key) {
                None => Some(0),
                Some(v) => integer(&v),
            };
            match now.map(|n| n.checked_add(*by)) {
                None => Outcome::Failed(NOT_AN_INTEGER.into()),
                Some(None) => Outcome::Failed(OVERFLOW.into()),
                Some(Some(n)) => {
                    after.insert(key.clone(), n.to_string());
                    Outcome::Int(n)
                }
            }
        }
        Command::Append { key, value } => {
            let v = get(key).unwrap_or_default() + value;
            let n = v.len() as i64;
            after.insert(key.clone(), v);
            Outcome::Int(n)
        }
        Command::Strlen { key } => Outcome::Int(get(key).map_or(0, |v| v.len() as i64)),
        Command::DelMany { keys } => {
            for k in keys {
                after.remove(&deadline_of(k));
            }
            Outcome::Int(keys.iter().filter(|k| after.remove(*k).is_some()).count() as i64)
        }
        Command::ExistsMany { keys } => {
            Outcome::Int(keys.iter().filter(|k| values.contains_key(*k)).count() as i64)
        }
        Command::Expire { key, at, when, .. } => {
            far(at, cmd);
            assert!(
                *when == parliament::kv::ExpireIf::Always,
                "the history checks EXPIRE without a condition only, not {cmd:?}"
            );
            let present = values.contains_key(key);
            if present {
                after.insert(deadline_of(key), String::new());
            }
            Outcome::Int(present as i64)
        }
        Command::Ttl { key, .. } => Outcome::Int(match values.contains_key(key) {
            false => -2,
            true if values.contains_key(&deadline_of(key)) => 1,
            true => -1,
        }),
        Command::Persist { key } => Outcome::Int(after.remove(&deadline_of(key)).is_some() as i64),
        Command::SetTtl {
            key,
            value,
            when,
            get: with_get,
            ttl,
        } => {
            if let parliament::kv::Ttl::Expire(at) = ttl {
                far(at, cmd);
            }
            let before = get(key);
            let write = writes(*when, &before);
            if write {
                after.insert(key.clone(), value.clone());
                if matches!(ttl, parliament::kv::Ttl::Expire(_)) {
                    after.insert(deadline_of(key), String::new());
                }
            }
            if *with_get {
                Outcome::Value(before)
            } else {
                Outcome::Bool(write)
            }
        }
        Command::GetEx { key, at } => {
            let v = get(key);
            match at {
                Some(at) => {
                    far(at, cmd);
                    if v.is_some() {
                        after.insert(deadline_of(key), String::new());
                    }
                }
                None => drop(after.remove(&deadline_of(key))),
            }
            Outcome::Value(v)
        }
    };
    (after, outcome)
}

/// One recorded command.
#[derive(Clone, Debug)]
pub struct Event {
    /// Which client sent it (for the report).
    pub client: usize,
    pub cmd: Command,
    /// Nanoseconds since the history began.
    pub sent: u64,
    /// When the answer came and what it said; `None`: indeterminate.
    pub answered: Option<(u64, Outcome)>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .cmd
            .words()
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        write!(
            f,
            "client {} [{:>9.3} ms",
            self.client,
            self.sent as f64 / 1e6
        )?;
        match &self.answered {
            Some((t, o)) => write!(
                f,
                " .. {:>9.3} ms] {} -> {o:?}",
                *t as f64 / 1e6,
                words.join(" ")
            ),
            None => write!(f, " .. (no answer)] {}", words.join(" ")),
        }
    }
}

/// A history being recorded (shared by the clients through a mutex, or merged).
#[derive(Clone, Debug)]
pub struct History {
    start: Instant,
    events: Vec<Event>,
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

/// A component (keys some commands name together) whose sub-history is not linearizable,
/// with that sub-history.
#[derive(Clone, Debug)]
pub struct NotLinearizable {
    /// The component's keys, in order.
    pub keys: Vec<String>,
    pub events: Vec<Event>,
}

impl fmt::Display for NotLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the history of key(s) '{}' is not linearizable ({} commands):",
            self.keys.join("' '"),
            self.events.len()
        )?;
        const SHOWN: usize = 200;
        for e in self.events.iter().take(SHOWN) {
            writeln!(f, "  {e}")?;
        }
        if self.events.len() > SHOWN {
            writeln!(f, "  ... and {} more", self.events.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for NotLinearizable {}

impl History {
    /// An empty history starting now.
    pub fn new() -> History {
        History {
            start: Instant::now(),
            events: Vec::new(),
        }
    }

    /// Nanoseconds since the start, as event times.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Records a command sent at `sent` with its reply (`None`: no reply) received at
    /// `answered`. PINGs, INFOs and COMMANDs are not recorded.
    pub fn record(&mut self, client: usize, cmd: Command, sent: u64, reply: Option<(u64, &Reply)>) {
        if matches!(
            cmd,
            Command::Ping(_) | Command::Info(_) | Command::Commands(_)
        ) {
            return;
        }
        let answered = reply.and_then(|(t, r)| Outcome::from_reply(&cmd, r).map(|o| (t, o)));
        self.events.push(Event {
            client,
            cmd,
            sent,
            answered,
        });
    }

    /// The recorded events.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// A recorded event, as it is (to build a history by hand from another's events).
    pub fn push(&mut self, e: Event) {
        self.events.push(e);
    }

    /// The components of the history: the keys its commands name, grouped so that every
    /// command's keys are in one group (union-find); each with its events, in order.
    pub fn components(&self) -> Vec<(Vec<String>, Vec<&Event>)> {
        let mut parent: HashMap<&str, &str> = HashMap::new();
        fn root<'a>(parent: &mut HashMap<&'a str, &'a str>, k: &'a str) -> &'a str {
            let p = *parent.entry(k).or_insert(k);
            if p == k {
                return k;
            }
            let r = root(parent, p);
            parent.insert(k, r);
            r
        }
        for e in &self.events {
            let keys = e.cmd.keys();
            for k in &keys {
                root(&mut parent, k);
            }
            for w in keys.windows(2) {
                let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
                if a != b {
                    parent.insert(a, b);
                }
            }
        }
        let mut groups: BTreeMap<&str, (Vec<String>, Vec<&Event>)> = BTreeMap::new();
        let keys: Vec<&str> = parent.keys().copied().collect();
        for k in keys {
            let r = root(&mut parent, k);
            groups.entry(r).or_default().0.push(k.to_string());
        }
        for e in &self.events {
            if let Some(k) = e.cmd.keys().first() {
                let r = root(&mut parent, k);
                groups.get_mut(r).expect("every key has a group").1.push(e);
            }
        }
        groups
            .into_values()
            .map(|(mut keys, events)| {
                keys.sort();
                (keys, events)
            })
            .collect()
    }

    /// Checks the history, component by component (every key starts absent).
    pub fn check(&self) -> Result<(), NotLinearizable> {
        let idle = idle_watches(&self.events);
        for (keys, events) in self.components() {
            let events: Vec<&Event> = events
                .into_iter()
                .filter(|e| !idle.contains(&(*e as *const Event)))
                .collect();
            if !linearizable(&events) {
                return Err(NotLinearizable {
                    keys,
                    events: events.into_iter().cloned().collect(),
                });
            }
        }
        Ok(())
    }
}

/// The `WATCH`es no `EXEC` uses: those of a client whose next `EXEC` or `WATCH` after it is
/// another `WATCH`, or who sent none (its connection broke first: the server forgot the
/// watch with the connection). Such a `WATCH` answers `+OK` whatever it read and nothing
/// reads what it read, so leaving it out of the history changes neither what is
/// linearizable nor what is not; kept in, what it read would stay among the search's values
/// for good and multiply the configurations it keeps.
fn idle_watches(events: &[Event]) -> HashSet<*const Event> {
    let mut idle = HashSet::new();
    let mut by_client: BTreeMap<usize, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_client.entry(e.client).or_default().push(e);
    }
    for (_, mut mine) in by_client {
        mine.sort_by_key(|e| e.sent);
        let mut watching: Option<&Event> = None;
        for e in mine {
            match &e.cmd {
                Command::Watch { .. } => {
                    if let Some(w) = watching.replace(e) {
                        idle.insert(w as *const Event);
                    }
                }
                Command::Exec { watch, .. } if !watch.is_empty() => watching = None,
                _ => {}
            }
        }
        if let Some(w) = watching {
            idle.insert(w as *const Event);
        }
    }
    idle
}

/// A configuration of the search, as the memo keeps it: a 128-bit hash of the set of
/// commands linearized and the values after them. Two different configurations share a hash
/// with a chance of about 2^-128 per pair (a few times 10^-25 for the ten million a large
/// history visits), and the worst such a collision could do is skip a configuration that
/// would have linearized, failing a correct history: never pass a wrong one.
fn memo_key(done: &[u64], values: &Values) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut halves = [0u64; 2];
    for (salt, half) in halves.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        done.hash(&mut h);
        values.hash(&mut h);
        *half = h.finish();
    }
    (halves[0] as u128) << 64 | halves[1] as u128
}

/// Wing–Gong–Lowe search over one component's events.
fn linearizable(events: &[&Event]) -> bool {
    search(events).0
}

/// The search: whether the events are linearizable, and how many configurations it kept.
fn search(events: &[&Event]) -> (bool, usize) {
    let n = events.len();
    let ret = |e: &Event| e.answered.as_ref().map_or(u64::MAX, |(t, _)| *t);
    // Sorted by send time; `done` marks the events already linearized.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| events[i].sent);
    let words = n.div_ceil(64);
    let mut done = vec![0u64; words];
    let mut seen: HashSet<u128> = HashSet::new();
    // The search stack: (event linearized, values before it).
    let mut stack: Vec<(usize, Values)> = Vec::new();
    let mut value = Values::new();
    let mut remaining_determinate = events.iter().filter(|e| e.answered.is_some()).count();
    // Where to resume the scan for a candidate at each depth.
    let mut cursor = 0usize;
    let is_done = |done: &[u64], i: usize| done[i / 64] & (1 << (i % 64)) != 0;
    let stats = std::env::var_os("PARLIAMENT_HISTORY_STATS").is_some();
    let began = Instant::now();
    let report = |seen: &HashSet<u128>, verdict: bool| {
        if stats {
            eprintln!(
                "history component: {n} commands, {} unanswered; {} configurations, {:?}: {}",
                events.iter().filter(|e| e.answered.is_none()).count(),
                seen.len(),
                began.elapsed(),
                if verdict {
                    "linearizable"
                } else {
                    "not linearizable"
                }
            );
        }
        (verdict, seen.len())
    };
    loop {
        if remaining_determinate == 0 {
            // The rest are indeterminate: they need not take effect.
            return report(&seen, true);
        }
        // The earliest answer among the remaining events bounds the candidates.
        let horizon = order
            .iter()
            .filter(|&&i| !is_done(&done, i))
            .map(|&i| ret(events[i]))
            .min()
            .unwrap_or(u64::MAX);
        let mut advanced = false;
        while cursor < n {
            let i = order[cursor];
            cursor += 1;
            if is_done(&done, i) {
                continue;
            }
            if events[i].sent > horizon {
                cursor = n;
                break;
            }
            let (next, outcome) = step(&value, events[i].client, &events[i].cmd);
            let ok = match &events[i].answered {
                Some((_, o)) => *o == outcome,
                // An unanswered command that would change nothing here is left for later:
                // taking it now leads nowhere that leaving it does not (it may still be
                // taken later, or never).
                None => next != value,
            };
            if !ok {
                continue;
            }
            done[i / 64] |= 1 << (i % 64);
            if seen.insert(memo_key(&done, &next)) {
                stack.push((cursor, std::mem::replace(&mut value, next)));
                if events[i].answered.is_some() {
                    remaining_determinate -= 1;
                }
                // Remember which event this level took, by its position in `order`.
                cursor = 0;
                advanced = true;
                break;
            }
            done[i / 64] &= !(1 << (i % 64));
        }
        if advanced {
            continue;
        }
        // Backtrack: undo the last step and try the next candidate at that depth.
        let Some((resume, before)) = stack.pop() else {
            return report(&seen, false);
        };
        let i = order[resume - 1];
        done[i / 64] &= !(1 << (i % 64));
        if events[i].answered.is_some() {
            remaining_determinate += 1;
        }
        value = before;
        cursor = resume;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn get(k: &str) -> Command {
        Command::Get { key: k.into() }
    }
    fn set(k: &str, v: &str) -> Command {
        Command::Set {
            key: k.into(),
            value: v.into(),
        }
    }
    fn cas(k: &str, e: Option<&str>, n: &str) -> Command {
        Command::Cas {
            key: k.into(),
            expected: e.map(Into::into),
            new: n.into(),
        }
    }
    fn ev(client: usize, cmd: Command, sent: u64, answered: Option<(u64, Outcome)>) -> Event {
        Event {
            client,
            cmd,
            sent: sent * MS,
            answered: answered.map(|(t, o)| (t * MS, o)),
        }
    }
    fn val(v: Option<&str>) -> Outcome {
        Outcome::Value(v.map(Into::into))
    }
    fn history(events: Vec<Event>) -> History {
        History {
            start: Instant::now(),
            events,
        }
    }

    /// A transaction takes effect at one instant, all of it; a watched one only if the keys
    /// hold at that instant what its client's WATCH read at the WATCH's instant.
    #[test]
    fn transactions_take_effect_at_once_and_only_if_the_watched_values_hold() {
        let exec = |watch: &[&str], cmds: Vec<Command>| Command::Exec {
            watch: watch.iter().map(|k| (k.to_string(), None)).collect(),
            cmds,
        };
        let watch = |k: &str| Command::Watch {
            keys: vec![k.into()],
        };
        let multi = |os: Vec<Outcome>| Outcome::Multi(Some(os));
        // Client 1's transaction writes a and b at once; client 2's MGET, concurrent with it,
        // sees both or neither.
        let both = |seen: [Option<&str>; 2]| {
            history(vec![
                ev(
                    1,
                    exec(&[], vec![set("a", "1"), set("b", "1")]),
                    0,
                    Some((10, multi(vec![Outcome::Written, Outcome::Written]))),
                ),
                ev(
                    2,
                    Command::MGet {
                        keys: vec!["a".into(), "b".into()],
                    },
                    1,
                    Some((
                        9,
                        Outcome::Values(seen.iter().map(|v| v.map(Into::into)).collect()),
                    )),
                ),
            ])
        };
        assert!(both([None, None]).check().is_ok());
        assert!(both([Some("1"), Some("1")]).check().is_ok());
        assert!(both([Some("1"), None]).check().is_err());
        // Client 1 watches a (absent), then client 2 sets it, then client 1's EXEC: it must
        // abort; had nobody written a, it must run.
        let watched = |aborted: bool, written: bool| {
            let mut events = vec![ev(1, watch("a"), 0, Some((1, Outcome::Written)))];
            if written {
                events.push(ev(2, set("a", "x"), 2, Some((3, Outcome::Written))));
            }
            let outcome = if aborted {
                Outcome::Multi(None)
            } else {
                multi(vec![Outcome::Written])
            };
            events.push(ev(
                1,
                exec(&["a"], vec![set("a", "mine")]),
                4,
                Some((5, outcome)),
            ));
            history(events)
        };
        assert!(watched(true, true).check().is_ok());
        assert!(watched(false, true).check().is_err());
        assert!(watched(false, false).check().is_ok());
        assert!(watched(true, false).check().is_err());
        // The set concurrent with the WATCH: either order, so either outcome.
        for aborted in [true, false] {
            let h = history(vec![
                ev(1, watch("a"), 0, Some((3, Outcome::Written))),
                ev(2, set("a", "x"), 1, Some((2, Outcome::Written))),
                ev(
                    1,
                    exec(&["a"], vec![get("a")]),
                    4,
                    Some((
                        5,
                        if aborted {
                            Outcome::Multi(None)
                        } else {
                            multi(vec![val(Some("x"))])
                        },
                    )),
                ),
            ]);
            assert!(h.check().is_ok(), "aborted {aborted}");
        }
    }

    #[test]
    fn a_watch_no_exec_uses_is_left_out_and_the_one_it_uses_kept() {
        let watch = |k: &str| Command::Watch {
            keys: vec![k.into()],
        };
        let exec = |k: &str, outcome: Outcome| {
            let cmd = Command::Exec {
                watch: vec![(k.into(), None)],
                cmds: vec![set(k, "mine")],
            };
            ev(1, cmd, 6, Some((7, outcome)))
        };
        // Client 1 watches a (absent) on a connection that then broke, client 2 sets a, and
        // client 1 watches a again (x) and runs its EXEC: that one reads what the second
        // WATCH read, so it runs; client 3's WATCH has no EXEC at all.
        let events = |outcome: Outcome| {
            vec![
                ev(1, watch("a"), 0, Some((1, Outcome::Written))),
                ev(3, watch("a"), 0, Some((1, Outcome::Written))),
                ev(2, set("a", "x"), 2, Some((3, Outcome::Written))),
                ev(1, watch("a"), 4, Some((5, Outcome::Written))),
                exec("a", outcome),
            ]
        };
        let runs = events(Outcome::Multi(Some(vec![Outcome::Written])));
        let idle = idle_watches(&runs);
        let left_out: Vec<(usize, u64)> = runs
            .iter()
            .filter(|e| idle.contains(&(*e as *const Event)))
            .map(|e| (e.client, e.sent))
            .collect();
        assert_eq!(left_out, [(1, 0), (3, 0)]);
        assert!(history(runs).check().is_ok());
        assert!(history(events(Outcome::Multi(None))).check().is_err());
    }

    #[test]
    fn unanswered_commands_that_change_nothing_cost_no_configurations() {
        // Twenty unanswered SETs of the same value, then a read of a value nobody wrote: the
        // search must try everything before it fails. Taking any of the SETs after the
        // first changes nothing, so it tries each as the first and no more: without that
        // rule, every subset of the twenty (about a million configurations).
        let mut events: Vec<Event> = (0..20).map(|c| ev(c, set("a", "1"), 0, None)).collect();
        events.push(ev(99, get("a"), 1, Some((2, val(Some("2"))))));
        let refs: Vec<&Event> = events.iter().collect();
        let (linearizable, configurations) = search(&refs);
        assert!(!linearizable);
        assert!(configurations <= 40, "{configurations} configurations");
    }

    #[test]
    fn sequential_histories_check_against_the_map() {
        let ok = history(vec![
            ev(0, get("a"), 0, Some((1, val(None)))),
            ev(0, set("a", "1"), 2, Some((3, Outcome::Written))),
            ev(
                0,
                cas("a", Some("0"), "2"),
                4,
                Some((5, Outcome::Bool(false))),
            ),
            ev(
                0,
                cas("a", Some("1"), "2"),
                6,
                Some((7, Outcome::Bool(true))),
            ),
            ev(0, cas("a", None, "3"), 8, Some((9, Outcome::Bool(false)))),
            ev(0, get("a"), 10, Some((11, val(Some("2"))))),
            ev(
                0,
                Command::Del { key: "a".into() },
                12,
                Some((13, Outcome::Bool(true))),
            ),
            ev(
                0,
                Command::Exists { key: "a".into() },
                14,
                Some((15, Outcome::Bool(false))),
            ),
            ev(0, get("b"), 16, Some((17, val(None)))),
        ]);
        assert!(ok.check().is_ok());
        let mut bad = ok.clone();
        bad.events[5].answered = Some((11 * MS, val(Some("1"))));
        let err = bad.check().unwrap_err();
        assert_eq!(err.keys, vec!["a".to_string()]);
        assert!(
            err.to_string().contains("GET a -> Value(Some(\"1\"))"),
            "{err}"
        );
    }

    #[test]
    fn a_read_after_a_write_finished_must_see_it() {
        // Stale read: the write was answered before the read was sent.
        let stale = history(vec![
            ev(0, set("k", "1"), 0, Some((1, Outcome::Written))),
            ev(1, set("k", "2"), 2, Some((3, Outcome::Written))),
            ev(2, get("k"), 4, Some((5, val(Some("1"))))),
        ]);
        assert!(stale.check().is_err());
        // Overlapping the second write, either value is fine.
        for v in ["1", "2"] {
            let h = history(vec![
                ev(0, set("k", "1"), 0, Some((1, Outcome::Written))),
                ev(1, set("k", "2"), 2, Some((6, Outcome::Written))),
                ev(2, get("k"), 4, Some((5, val(Some(v))))),
            ]);
            assert!(h.check().is_ok(), "{v}");
        }
        // Two reads in sequence cannot see the writes in opposite orders.
        let flip = history(vec![
            ev(0, set("k", "1"), 0, Some((10, Outcome::Written))),
            ev(1, set("k", "2"), 0, Some((10, Outcome::Written))),
            ev(2, get("k"), 1, Some((2, val(Some("1"))))),
            ev(2, get("k"), 3, Some((4, val(Some("2"))))),
            ev(3, get("k"), 5, Some((6, val(Some("1"))))),
        ]);
        assert!(flip.check().is_err());
    }

    #[test]
    fn indeterminate_commands_may_or_may_not_take_effect() {
        for seen in [None, Some("x")] {
            let h = history(vec![
                ev(0, set("k", "x"), 0, None),
                ev(1, get("k"), 5, Some((6, val(seen)))),
                ev(1, get("k"), 7, Some((8, val(seen)))),
            ]);
            assert!(h.check().is_ok());
        }
        // ... but once seen, it cannot be undone.
        let h = history(vec![
            ev(0, set("k", "x"), 0, None),
            ev(1, get("k"), 5, Some((6, val(Some("x"))))),
            ev(1, get("k"), 7, Some((8, val(None)))),
        ]);
        assert!(h.check().is_err());
        // An error reply is indeterminate too.
        let mut h = History::new();
        h.record(0, set("k", "y"), 0, Some((MS, &Reply::err("timeout"))));
        h.record(
            1,
            get("k"),
            2 * MS,
            Some((3 * MS, &Reply::Bulk(Some(b"y".to_vec())))),
        );
        assert!(h.events()[0].answered.is_none());
        assert!(h.check().is_ok());
    }

    #[test]
    fn compare_and_set_swaps_at_most_once_per_value() {
        // Two concurrent CAS from the same expected value cannot both succeed.
        let h = history(vec![
            ev(0, set("c", "0"), 0, Some((1, Outcome::Written))),
            ev(
                1,
                cas("c", Some("0"), "1"),
                2,
                Some((5, Outcome::Bool(true))),
            ),
            ev(
                2,
                cas("c", Some("0"), "2"),
                2,
                Some((5, Outcome::Bool(true))),
            ),
        ]);
        assert!(h.check().is_err());
        let h = history(vec![
            ev(0, set("c", "0"), 0, Some((1, Outcome::Written))),
            ev(
                1,
                cas("c", Some("0"), "1"),
                2,
                Some((5, Outcome::Bool(true))),
            ),
            ev(
                2,
                cas("c", Some("0"), "2"),
                2,
                Some((5, Outcome::Bool(false))),
            ),
            ev(3, get("c"), 6, Some((7, val(Some("1"))))),
        ]);
        assert!(h.check().is_ok());
    }

    #[test]
    fn many_concurrent_clients_check_quickly() {
        // 8 clients, 400 overlapping commands on one key, from a sequential execution whose
        // instants are inside each command's interval: must be found linearizable.
        let mut events = Vec::new();
        let mut value = Values::new();
        let mut x = 12345u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for t in 0..400u64 {
            let at = t * 10 + 50;
            let cmd = match rand() % 3 {
                0 => get("k"),
                1 => set("k", &(t % 7).to_string()),
                _ => cas("k", Some(&(rand() % 7).to_string()), &(t % 7).to_string()),
            };
            let (next, outcome) = step(&value, 0, &cmd);
            value = next;
            let sent = at - rand() % 40;
            let answered = if rand() % 20 == 0 {
                None
            } else {
                Some((at + rand() % 40, outcome))
            };
            events.push(ev((t % 8) as usize, cmd, sent, answered));
        }
        let h = history(events);
        assert!(h.check().is_ok());
        // One GET answered with a value nobody wrote breaks it.
        let mut bad = h.clone();
        let i = bad
            .events
            .iter()
            .position(|e| matches!(e.cmd, Command::Get { .. }) && e.answered.is_some())
            .unwrap();
        bad.events[i].answered.as_mut().unwrap().1 = val(Some("never written"));
        assert!(bad.check().is_err());
    }

    fn mset(pairs: &[(&str, &str)]) -> Command {
        Command::MSet {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
    fn mget(keys: &[&str]) -> Command {
        Command::MGet {
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }
    fn incr(k: &str) -> Command {
        Command::IncrBy {
            name: "incr",
            key: k.into(),
            by: 1,
        }
    }
    fn vals(vs: &[Option<&str>]) -> Outcome {
        Outcome::Values(vs.iter().map(|v| v.map(Into::into)).collect())
    }

    #[test]
    fn an_mget_sees_all_of_an_mset_or_none_of_it() {
        let base = vec![
            ev(
                0,
                mset(&[("x", "1"), ("y", "1")]),
                0,
                Some((1, Outcome::Written)),
            ),
            ev(
                1,
                mset(&[("x", "2"), ("y", "2")]),
                2,
                Some((10, Outcome::Written)),
            ),
        ];
        for (seen, ok) in [
            (vals(&[Some("1"), Some("1")]), true),
            (vals(&[Some("2"), Some("2")]), true),
            (vals(&[Some("2"), Some("1")]), false),
            (vals(&[Some("1"), Some("2")]), false),
        ] {
            let mut events = base.clone();
            events.push(ev(2, mget(&["x", "y"]), 3, Some((4, seen.clone()))));
            assert_eq!(history(events).check().is_ok(), ok, "{seen:?}");
        }
        // Single-key reads of the two keys may not split it either, once in order.
        let split = history(vec![
            base[0].clone(),
            base[1].clone(),
            ev(2, get("x"), 3, Some((4, val(Some("2"))))),
            ev(2, get("y"), 5, Some((6, val(Some("1"))))),
        ]);
        let err = split.check().unwrap_err();
        assert_eq!(err.keys, vec!["x".to_string(), "y".to_string()]);
    }

    #[test]
    fn keys_named_together_are_one_component_and_the_others_apart() {
        let h = history(vec![
            ev(
                0,
                mset(&[("a", "1"), ("b", "1")]),
                0,
                Some((1, Outcome::Written)),
            ),
            ev(0, mget(&["b", "c"]), 2, Some((3, vals(&[Some("1"), None])))),
            ev(0, set("d", "1"), 4, Some((5, Outcome::Written))),
            ev(0, Command::DbSize, 6, Some((7, Outcome::Int(3)))),
        ]);
        let comps: Vec<Vec<String>> = h.components().into_iter().map(|(k, _)| k).collect();
        assert_eq!(comps, vec![vec!["a", "b", "c"], vec!["d"]]);
        assert!(h.check().is_ok());
    }

    #[test]
    fn two_increments_cannot_both_answer_the_same_number() {
        let lost = history(vec![
            ev(0, incr("n"), 0, Some((5, Outcome::Int(1)))),
            ev(1, incr("n"), 0, Some((5, Outcome::Int(1)))),
        ]);
        assert!(lost.check().is_err());
        let ok = history(vec![
            ev(0, incr("n"), 0, Some((5, Outcome::Int(2)))),
            ev(1, incr("n"), 0, Some((5, Outcome::Int(1)))),
            ev(2, get("n"), 6, Some((7, val(Some("2"))))),
        ]);
        assert!(ok.check().is_ok());
        // A refused increment is an answer the map decides: it changes nothing.
        let word = history(vec![
            ev(0, set("n", "word"), 0, Some((1, Outcome::Written))),
            ev(
                0,
                incr("n"),
                2,
                Some((3, Outcome::Failed(NOT_AN_INTEGER.into()))),
            ),
            ev(0, get("n"), 4, Some((5, val(Some("word"))))),
        ]);
        assert!(word.check().is_ok());
        let mut wrong = word.clone();
        wrong.events[1].answered = Some((3 * MS, Outcome::Int(1)));
        assert!(wrong.check().is_err());
        let mut h = History::new();
        h.record(0, incr("m"), 0, Some((MS, &Reply::Error(OVERFLOW.into()))));
        assert_eq!(
            h.events()[0].answered,
            Some((MS, Outcome::Failed(OVERFLOW.into())))
        );
        assert!(h.check().is_err(), "0 + 1 does not overflow");
        // Redis's integer rule: "01" is not an integer.
        assert_eq!(
            step(&Values::from([("n".into(), "01".into())]), 0, &incr("n")).1,
            Outcome::Failed(NOT_AN_INTEGER.into())
        );
    }

    #[test]
    fn deadlines_far_ahead_are_given_kept_and_cleared_as_redis_does() {
        use parliament::kv::{ExpireIf, Time, Ttl};
        let ttl = || Command::Ttl {
            name: "ttl",
            key: "k".into(),
        };
        let expire = Command::Expire {
            name: "pexpire",
            key: "k".into(),
            at: Time::In(FAR),
            when: ExpireIf::Always,
        };
        let int = |n| Some(Outcome::Int(n));
        let mut v = Values::new();
        let mut run = |cmd: &Command| {
            let (after, out) = step(&v, 0, cmd);
            v = after;
            Some(out)
        };
        assert_eq!(run(&ttl()), int(-2));
        assert_eq!(run(&expire), int(0), "absent");
        assert_eq!(run(&set("k", "1")), Some(Outcome::Written));
        assert_eq!(run(&ttl()), int(-1));
        assert_eq!(run(&expire), int(1));
        assert_eq!(run(&ttl()), int(1));
        assert_eq!(run(&incr("k")), int(2), "INCR keeps it");
        assert_eq!(run(&ttl()), int(1));
        assert_eq!(run(&Command::Persist { key: "k".into() }), int(1));
        assert_eq!(run(&ttl()), int(-1));
        let set_ex = Command::SetTtl {
            key: "k".into(),
            value: "w".into(),
            when: When::Always,
            get: false,
            ttl: Ttl::Expire(Time::In(FAR)),
        };
        assert_eq!(run(&set_ex), Some(Outcome::Bool(true)));
        assert_eq!(run(&ttl()), int(1));
        assert_eq!(run(&set("k", "x")), Some(Outcome::Written), "SET clears it");
        assert_eq!(run(&ttl()), int(-1));
        // TTL's answer is read as whether the key has a deadline.
        let mut h = History::new();
        h.record(0, ttl(), 0, Some((MS, &Reply::Integer(3_599))));
        assert_eq!(h.events()[0].answered, Some((MS, Outcome::Int(1))));
        assert!(h.check().is_err(), "an absent key has no TTL");
    }

    #[test]
    fn appends_getdels_and_conditional_sets_follow_redis() {
        let append = |v: &str| Command::Append {
            key: "k".into(),
            value: v.into(),
        };
        let h = history(vec![
            ev(0, append("ab"), 0, Some((1, Outcome::Int(2)))),
            ev(0, append("c"), 2, Some((3, Outcome::Int(3)))),
            ev(
                0,
                Command::Strlen { key: "k".into() },
                4,
                Some((5, Outcome::Int(3))),
            ),
            ev(
                0,
                Command::GetDel { key: "k".into() },
                6,
                Some((7, val(Some("abc")))),
            ),
            ev(
                0,
                Command::GetDel { key: "k".into() },
                8,
                Some((9, val(None))),
            ),
            ev(
                0,
                Command::SetWith {
                    key: "k".into(),
                    value: "v".into(),
                    when: When::Present,
                    get: false,
                },
                10,
                Some((11, Outcome::Bool(false))),
            ),
            ev(
                0,
                Command::SetNx {
                    key: "k".into(),
                    value: "w".into(),
                },
                12,
                Some((13, Outcome::Bool(true))),
            ),
            ev(
                0,
                Command::SetWith {
                    key: "k".into(),
                    value: "v".into(),
                    when: When::Absent,
                    get: true,
                },
                14,
                Some((15, val(Some("w")))),
            ),
            ev(
                0,
                Command::ExistsMany {
                    keys: vec!["k".into(), "k".into(), "z".into()],
                },
                16,
                Some((17, Outcome::Int(2))),
            ),
        ]);
        assert!(h.check().is_ok());
        for i in 0..h.events.len() {
            let mut bad = h.clone();
            let o = bad.events[i].answered.as_mut().unwrap();
            o.1 = match &o.1 {
                Outcome::Int(n) => Outcome::Int(n + 1),
                Outcome::Bool(b) => Outcome::Bool(!b),
                Outcome::Value(None) => val(Some("x")),
                Outcome::Value(Some(_)) => val(None),
                other => panic!("{other:?}"),
            };
            assert!(bad.check().is_err(), "event {i} changed");
        }
        // Each outcome is read back from the reply it is written as.
        for e in h.events() {
            let (_, o) = e.answered.clone().unwrap();
            assert_eq!(Outcome::from_reply(&e.cmd, &o.reply(&e.cmd)), Some(o));
        }
    }
}
