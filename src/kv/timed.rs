//! The sequential specification of a law whose keys expire: [`KvMap`] with a clock that
//! nobody sees.
//!
//! A key with a deadline is gone once the law's clock reaches it, and relative deadlines
//! (`EXPIRE`, `SET PX`) and `PTTL` are counted from the clock. The law's clock is the largest
//! stamp of the decrees applied so far: it never goes back, and each operation takes effect
//! at the clock of its decree (a read answered by a president, at its law's clock). What a
//! client sees of it is only what the answers show: the specification therefore does not
//! know the time either. Its state is every pair (clock, map) that the operations so far may
//! have left, the clock anywhere from where it was up to `until` (the model's last decree
//! number: a stamp is a decree's number there): an operation may take effect at any time
//! not before the last one, and a history is valid when some choice of times, never going
//! back, explains every answer.
//!
//! So it rejects exactly the answers no clock explains: a key that comes back after a read
//! found it gone, a `PTTL` larger than the deadline just set or than an earlier `PTTL` less
//! the time between, a present key with a `PTTL` of 0 or less, a key still there after a
//! `PTTL` said it had 1 left and a later operation said time moved on. It does not check
//! that time moves at the pace of any clock (that is real time, which the model has not):
//! docs/operations.md says what deployed priests do when clocks jump.
//!
//! Only a timed operation ([`Op::is_timed`]) or a map holding a deadline lets the clock
//! move (elsewhere the clock changes nothing an answer shows), so a history without them
//! keeps one state, and is checked as against [`KvMap`] alone.

use super::{Answer, KvMap, Op};
use serde::Serialize;
use stateright::semantics::SequentialSpec;
use std::collections::BTreeSet;

/// [`KvMap`] under a clock that moves, unseen, from 0 up to `until`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TimedMap {
    /// The latest time the law's clock may read.
    pub until: u64,
    /// Every (clock, map) the operations so far may have left.
    #[serde(skip)]
    pub states: BTreeSet<(u64, KvMap)>,
}

impl TimedMap {
    /// The empty map, its clock at 0, that may move up to `until`.
    pub fn new(until: u64) -> TimedMap {
        TimedMap {
            until,
            states: BTreeSet::from([(0, KvMap::default())]),
        }
    }

    /// Each (clock, map, answer) that executing `op` at some time from a state may give.
    fn steps(&self, op: &Op) -> Vec<(u64, KvMap, Answer)> {
        let mut out = Vec::new();
        for (now, map) in &self.states {
            let last = if op.is_timed() || !map.deadlines().is_empty() {
                self.until.max(*now)
            } else {
                *now
            };
            for t in *now..=last {
                let mut m = map.clone();
                m.expire_through(t);
                let answer = m.execute_at(op, t);
                out.push((t, m, answer));
            }
        }
        out
    }
}

impl Default for TimedMap {
    fn default() -> Self {
        TimedMap::new(0)
    }
}

impl SequentialSpec for TimedMap {
    type Op = Op;
    type Ret = Answer;

    /// Any of the answers; the states become every one reachable.
    fn invoke(&mut self, op: &Op) -> Answer {
        let steps = self.steps(op);
        let answer = steps.first().map(|(_, _, a)| a.clone());
        self.states = steps.into_iter().map(|(t, m, _)| (t, m)).collect();
        answer.expect("a state to step from")
    }

    fn is_valid_step(&mut self, op: &Op, ret: &Answer) -> bool {
        self.states = self
            .steps(op)
            .into_iter()
            .filter(|(_, _, a)| a == ret)
            .map(|(t, m, _)| (t, m))
            .collect();
        !self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{ExpireIf, Key, Time, Ttl, When};

    fn k() -> Key {
        "x".into()
    }
    fn set_px(ms: i64) -> Op {
        Op::SetTtl {
            key: k(),
            value: "v".into(),
            when: When::Always,
            ttl: Ttl::Expire(Time::In(ms)),
        }
    }
    fn pttl() -> Op {
        Op::Pttl { key: k() }
    }
    fn get() -> Op {
        Op::Get { key: k() }
    }
    fn ok() -> Answer {
        Answer::Cas {
            swapped: true,
            previous: None,
        }
    }
    fn int(n: i64) -> Answer {
        Answer::Int(n)
    }
    fn valid(h: Vec<(Op, Answer)>) -> bool {
        TimedMap::new(4).is_valid_history(h)
    }

    #[test]
    fn time_may_pass_between_operations_but_never_back() {
        let v = || Answer::Value(Some("v".into()));
        assert!(valid(vec![(set_px(2), ok()), (pttl(), int(2))]));
        assert!(valid(vec![(set_px(2), ok()), (pttl(), int(1))]));
        assert!(valid(vec![(set_px(2), ok()), (get(), v())]));
        assert!(valid(vec![(set_px(2), ok()), (pttl(), int(-2))]));
        // Longer than was set, or present with nothing left: no clock explains it.
        assert!(!valid(vec![(set_px(2), ok()), (pttl(), int(3))]));
        assert!(!valid(vec![(set_px(2), ok()), (pttl(), int(0))]));
        // Gone, then back; or less left, then more.
        assert!(!valid(vec![
            (set_px(2), ok()),
            (get(), Answer::Value(None)),
            (get(), v()),
        ]));
        assert!(!valid(vec![
            (set_px(3), ok()),
            (pttl(), int(1)),
            (pttl(), int(2)),
        ]));
        // PERSIST stops the clock's effect; EXPIRE in the past removes the key.
        assert!(!valid(vec![
            (set_px(1), ok()),
            (Op::Persist { key: k() }, int(1)),
            (get(), Answer::Value(None)),
        ]));
        let past = Op::Expire {
            key: k(),
            at: Time::At(0),
            when: ExpireIf::Always,
        };
        assert!(valid(vec![
            (set_px(5), ok()),
            (past, int(1)),
            (pttl(), int(-2))
        ]));
        // Up to `until` only.
        assert!(!TimedMap::new(1).is_valid_history(vec![(set_px(3), ok()), (pttl(), int(1))]));
    }

    #[test]
    fn without_timed_operations_the_clock_does_not_branch() {
        let mut spec = TimedMap::new(1_000);
        let put = Op::Put {
            key: k(),
            value: "a".into(),
        };
        assert!(spec.is_valid_step(&put, &Answer::Written));
        assert!(spec.is_valid_step(&get(), &Answer::Value(Some("a".into()))));
        assert_eq!(spec.states.len(), 1);
    }
}
