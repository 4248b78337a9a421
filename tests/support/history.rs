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
//! The check is Wing and Gong's search with Lowe's memoisation, one key at a time (every
//! command touches one key, and a history is linearizable iff each key's sub-history is:
//! linearizability is local, Herlihy and Wing). For one key it searches for a next command
//! among those sent before every remaining command's answer came, applies it to the key's
//! value, checks the answer, and backtracks on a mismatch, skipping any (set of linearized
//! commands, value) configuration it has already seen fail.

use parliament::resp::{Command, Reply};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Instant;

/// An answer, reduced to what the map decides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// GET: the value (or none).
    Value(Option<String>),
    /// SET: done.
    Written,
    /// DEL: whether the key existed; EXISTS: whether it exists; CAS and SET NX: whether it
    /// swapped.
    Bool(bool),
}

impl Outcome {
    /// What `reply` says about `cmd`; `None` for an error reply or one of the wrong kind
    /// (the command is then indeterminate).
    pub fn from_reply(cmd: &Command, reply: &Reply) -> Option<Outcome> {
        match (cmd, reply) {
            (Command::Get { .. }, Reply::Bulk(v)) => Some(Outcome::Value(
                v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
            )),
            (Command::Set { .. }, Reply::Simple(s)) if s == "OK" => Some(Outcome::Written),
            (Command::Del { .. } | Command::Exists { .. }, Reply::Integer(n)) => {
                Some(Outcome::Bool(*n > 0))
            }
            (
                Command::Cas {
                    expected: Some(_), ..
                },
                Reply::Integer(n),
            ) => Some(Outcome::Bool(*n > 0)),
            (Command::Cas { expected: None, .. }, Reply::Simple(s)) if s == "OK" => {
                Some(Outcome::Bool(true))
            }
            (Command::Cas { expected: None, .. }, Reply::Bulk(None)) => Some(Outcome::Bool(false)),
            _ => None,
        }
    }
}

/// Executes `cmd` on a key holding `value`: the new value and the outcome.
pub fn step(value: &Option<String>, cmd: &Command) -> (Option<String>, Outcome) {
    match cmd {
        Command::Ping(_) | Command::Info(_) | Command::Member(_) => {
            (value.clone(), Outcome::Written)
        }
        Command::Get { .. } => (value.clone(), Outcome::Value(value.clone())),
        Command::Set { value: v, .. } => (Some(v.clone()), Outcome::Written),
        Command::Del { .. } => (None, Outcome::Bool(value.is_some())),
        Command::Exists { .. } => (value.clone(), Outcome::Bool(value.is_some())),
        Command::Cas { expected, new, .. } => {
            if value == expected {
                (Some(new.clone()), Outcome::Bool(true))
            } else {
                (value.clone(), Outcome::Bool(false))
            }
        }
    }
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

/// A key whose sub-history is not linearizable, with that sub-history.
#[derive(Clone, Debug)]
pub struct NotLinearizable {
    pub key: String,
    pub events: Vec<Event>,
}

impl fmt::Display for NotLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the history of key '{}' is not linearizable ({} commands):",
            self.key,
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
    /// `answered`. PINGs and INFOs are not recorded.
    pub fn record(&mut self, client: usize, cmd: Command, sent: u64, reply: Option<(u64, &Reply)>) {
        if matches!(cmd, Command::Ping(_) | Command::Info(_)) {
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

    /// Checks the history, key by key (every key starts absent).
    pub fn check(&self) -> Result<(), NotLinearizable> {
        let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for e in &self.events {
            if let Some(k) = e.cmd.key() {
                by_key.entry(k).or_default().push(e);
            }
        }
        for (key, events) in by_key {
            if !linearizable(&events) {
                return Err(NotLinearizable {
                    key: key.to_string(),
                    events: events.into_iter().cloned().collect(),
                });
            }
        }
        Ok(())
    }
}

/// Wing–Gong–Lowe search over one key's events.
fn linearizable(events: &[&Event]) -> bool {
    let n = events.len();
    let ret = |e: &Event| e.answered.as_ref().map_or(u64::MAX, |(t, _)| *t);
    // Sorted by send time; `done` marks the events already linearized.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| events[i].sent);
    let words = n.div_ceil(64);
    let mut done = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
    // The search stack: (event linearized, value before it).
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut value: Option<String> = None;
    let mut remaining_determinate = events.iter().filter(|e| e.answered.is_some()).count();
    // Where to resume the scan for a candidate at each depth.
    let mut cursor = 0usize;
    let is_done = |done: &[u64], i: usize| done[i / 64] & (1 << (i % 64)) != 0;
    loop {
        if remaining_determinate == 0 {
            return true; // the rest are indeterminate: they need not take effect
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
            let (next, outcome) = step(&value, &events[i].cmd);
            let ok = match &events[i].answered {
                Some((_, o)) => *o == outcome,
                None => true,
            };
            if !ok {
                continue;
            }
            done[i / 64] |= 1 << (i % 64);
            if seen.insert((done.clone(), next.clone())) {
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
            return false;
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
        assert_eq!(err.key, "a");
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
        let mut value: Option<String> = None;
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
            let (next, outcome) = step(&value, &cmd);
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
}
