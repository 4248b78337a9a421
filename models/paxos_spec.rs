//! `tla/Paxos.tla`, transliterated action for action into a plain `stateright::Model`.
//!
//! # The spec
//!
//! Single-decree Paxos in its classic form. Acceptors (the paper's priests) keep three
//! variables each; every message ever sent stays in the set `msgs`, so loss, duplication and
//! reordering are implicit:
//!
//! - `maxBal[a]`: the highest ballot `a` has taken part in (initially -1);
//! - `maxVBal[a]`, `maxVal[a]`: the ballot and value of `a`'s latest vote (initially -1 and
//!   `None`);
//! - `msgs`: every message sent.
//!
//! The next-state relation is the disjunction of four actions, for every ballot `b`, value
//! `v` and acceptor `a`:
//!
//! - **1a(b)** (NextBallot): send `(1a, b)`.
//! - **1b(a)** (LastVote): for a `(1a, b)` in `msgs` with `b > maxBal[a]`, set `maxBal[a] = b`
//!   and send `(1b, a, b, maxVBal[a], maxVal[a])`.
//! - **2a(b, v)** (BeginBallot): if no `(2a, b, _)` was sent and some quorum `Q` sent
//!   `(1b, _, b, ...)` from every member, and among those messages none reports a vote or `v`
//!   is the value of one reporting the highest-numbered vote, send `(2a, b, v)`.
//! - **2b(a)** (Voted): for a `(2a, b, v)` in `msgs` with `b >= maxBal[a]`, set `maxBal[a]`
//!   and `maxVBal[a]` to `b`, `maxVal[a]` to `v`, and send `(2b, a, b, v)`.
//!
//! Quorums are the majorities of the acceptors, ballots `0..=max_ballot`, as in
//! `tla/MCPaxos.tla`. The property `agreement` is the spec's `Agreement` invariant; the
//! `sometimes` property `value-chosen` shows that the model is not vacuous.
//!
//! # One action per TLC successor
//!
//! Each [`PaxosAction`] carries the witness of the existential quantifiers in the action (the
//! message received, the quorum, the message holding the highest vote), so a state has one
//! successor per way the spec's action can be satisfied, stutters included, exactly as TLC
//! enumerates them. The model reaches TLC's distinct states and depth from
//! `docs/tla.md`, and TLC's *generated*-state counts on `tla/Paxos.tla` as
//! well (23,839 for ballots 0..1, 1,382,794 for 0..2; `tla/README.md`). The reference table's
//! generated counts (23,563 and 1,361,380) are lower; see `tla/README.md`.
//!
//! # A compact state
//!
//! The message universe is finite and enumerated once ([`Layout`]): `msgs` is a bit set over
//! it, in a `u128`. A 1b message `(1b, a, b, mbal, mval)` always has `mbal < b`, because
//! `maxVBal[a] <= maxBal[a] < b` when it is sent, so only those are enumerated; with 3
//! acceptors, 2 values and ballots `0..=2` the universe has 54 messages. The acceptors'
//! variables are fixed-size arrays of `i8` (-1 for "no ballot" and "no value"). A state is
//! 32 bytes, `Copy`, and hashes in a few nanoseconds.
//!
//! # Symmetry
//!
//! Acceptors and values are interchangeable. [`representative_all`] and
//! [`representative_acceptors`] return the least state (in the derived order) over all
//! permutations of acceptors and values (respectively acceptors only): an exact canonical
//! representative, so the check counts orbits, as TLC does with `SYMMETRY`. stateright takes a
//! plain function pointer, so a state carries the (constant) [`Layout`] it was built with.

use crate::check::Narrate;
use serde::Serialize;
use stateright::{Model, Path, Property};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// The most acceptors the compact state holds.
pub const MAX_ACCEPTORS: usize = 5;
/// The most values the compact state holds.
pub const MAX_VALUES: usize = 4;
/// `-1` in the spec: no ballot, and (for `maxVal`) no value.
const NONE: i8 = -1;

/// A seeded bug in the spec, for the checker to find.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PaxosSpecBug {
    /// The spec as written in `tla/Paxos.tla`.
    #[default]
    None,
    /// 1b reports no vote (`mbal = -1`) whatever the acceptor voted: a later ballot may then
    /// pick another value. Breaks `agreement`.
    ForgetVoteIn1b,
    /// 2b requires `b > maxBal[a]` instead of `>=`: an acceptor never votes in a ballot it
    /// joined, so no quorum can vote. Breaks `value-chosen`.
    Strict2b,
}

/// The constants of `tla/MCPaxos.tla`.
#[derive(Clone, Debug, Serialize)]
pub struct PaxosSpecConfig {
    /// Number of acceptors (the spec's `Acceptor`); quorums are their majorities.
    pub acceptors: usize,
    /// Number of values (the spec's `Value`).
    pub values: usize,
    /// Ballots are `0..=max_ballot` (the spec's `MaxBallot`).
    pub max_ballot: usize,
    pub bug: PaxosSpecBug,
}

/// The spec's constants as command-line flags (`parliament check paxos-spec ...`): the one
/// place their defaults are declared. [`PaxosSpecConfig::default`] and
/// [`PaxosSpecConfig::from_flags`] parse these.
#[derive(clap::Args, Clone, Debug)]
pub struct PaxosSpecArgs {
    /// Number of acceptors (the spec's Acceptor); quorums are their majorities.
    #[arg(long, default_value_t = 3)]
    pub acceptors: usize,
    /// Number of values (the spec's Value).
    #[arg(long, default_value_t = 2)]
    pub values: usize,
    /// Ballots are 0..=N (the spec's MaxBallot).
    #[arg(long, default_value_t = 2)]
    pub max_ballot: usize,
    /// Check a seeded bug in the spec instead of the spec itself.
    #[arg(long, value_enum, default_value_t = PaxosSpecBug::None)]
    pub bug: PaxosSpecBug,
}

impl PaxosSpecArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> PaxosSpecConfig {
        PaxosSpecConfig {
            acceptors: self.acceptors,
            values: self.values,
            max_ballot: self.max_ballot,
            bug: self.bug,
        }
    }
}

impl PaxosSpecConfig {
    /// The configuration of `parliament check paxos-spec FLAGS` (e.g. `["--acceptors", "2"]`).
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<PaxosSpecArgs>(flags).map(|a| a.config())
    }
}

impl Default for PaxosSpecConfig {
    fn default() -> Self {
        PaxosSpecConfig::from_flags(&[]).expect("the defaults parse")
    }
}

impl PaxosSpecConfig {
    /// Checks the constants, returning a clear message when the compact state cannot hold them.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_ACCEPTORS).contains(&self.acceptors) {
            return Err(format!(
                "--acceptors must be 1 to {MAX_ACCEPTORS}, not {}",
                self.acceptors
            ));
        }
        if !(1..=MAX_VALUES).contains(&self.values) {
            return Err(format!(
                "--values must be 1 to {MAX_VALUES}, not {}",
                self.values
            ));
        }
        if self.max_ballot > 100 {
            return Err(format!(
                "--max-ballot must be at most 100, not {}",
                self.max_ballot
            ));
        }
        let layout = Layout::new(self.acceptors, self.values, self.max_ballot + 1);
        if layout.universe() > 128 {
            return Err(format!(
                "these constants give {} possible messages; the compact state holds at most 128 \
                 (try fewer acceptors, values or ballots)",
                layout.universe()
            ));
        }
        Ok(())
    }

    /// The model. Panics if [`Self::validate`] fails.
    pub fn into_model(self) -> PaxosSpec {
        if let Err(e) = self.validate() {
            panic!("invalid paxos-spec constants: {e}");
        }
        let layout = Layout::new(self.acceptors, self.values, self.max_ballot + 1);
        let n = self.acceptors;
        let quorums = (1u8..(1 << n))
            .filter(|q| 2 * q.count_ones() as usize > n)
            .collect();
        let mut votes_2b = Vec::new();
        for b in 0..layout.ballots {
            for v in 0..layout.values {
                let mask = (0..layout.acceptors).fold(0u128, |m, a| m | 1 << layout.m2b(a, b, v));
                votes_2b.push((v, mask));
            }
        }
        let all_2b = votes_2b.iter().fold(0, |m, (_, mask)| m | mask);
        PaxosSpec {
            cfg: self,
            layout,
            quorums,
            votes_2b,
            all_2b,
        }
    }
}

/// The shape of the message universe: how many acceptors, values and ballots, and so where
/// each message's bit lives in `msgs`.
///
/// Bits, in order: `(1a, b)` for every ballot; then per acceptor `a` and ballot `b` a block of
/// `1 + b * values` bits for `(1b, a, b, -1, None)` and `(1b, a, b, mbal, v)` with `mbal < b`;
/// then `(2a, b, v)`; then `(2b, a, b, v)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Layout {
    pub acceptors: u8,
    pub values: u8,
    pub ballots: u8,
}

impl Layout {
    pub fn new(acceptors: usize, values: usize, ballots: usize) -> Self {
        Layout {
            acceptors: acceptors as u8,
            values: values as u8,
            ballots: ballots as u8,
        }
    }

    fn a(self) -> u32 {
        self.acceptors as u32
    }
    fn v(self) -> u32 {
        self.values as u32
    }
    fn nb(self) -> u32 {
        self.ballots as u32
    }

    /// Bits of one acceptor's 1b messages over all ballots.
    fn per_acceptor_1b(self) -> u32 {
        self.nb() + self.v() * self.nb() * (self.nb() - 1) / 2
    }

    /// Index of `(1a, b)`.
    pub fn m1a(self, b: u8) -> u32 {
        b as u32
    }

    /// Index of the first 1b message of acceptor `a` in ballot `b`, and the block's length.
    pub fn block_1b(self, a: u8, b: u8) -> (u32, u32) {
        let b32 = b as u32;
        let start = self.nb()
            + a as u32 * self.per_acceptor_1b()
            + b32
            + self.v() * b32 * (b32.max(1) - 1) / 2;
        (start, 1 + b32 * self.v())
    }

    /// Index of `(1b, a, b, mbal, mval)`; `mbal < b`, and `mval` is `-1` exactly when `mbal` is.
    pub fn m1b(self, a: u8, b: u8, mbal: i8, mval: i8) -> u32 {
        assert!(
            (mbal as i32) < b as i32,
            "1b messages report a vote below their ballot"
        );
        let (start, _) = self.block_1b(a, b);
        if mbal < 0 {
            start
        } else {
            start + 1 + mbal as u32 * self.v() + mval as u32
        }
    }

    /// The `(mbal, mval)` of the 1b message at `offset` in its block.
    pub fn decode_1b(self, offset: u32) -> (i8, i8) {
        if offset == 0 {
            (NONE, NONE)
        } else {
            let k = offset - 1;
            ((k / self.v()) as i8, (k % self.v()) as i8)
        }
    }

    fn base_2a(self) -> u32 {
        self.nb() + self.a() * self.per_acceptor_1b()
    }

    /// Index of `(2a, b, v)`.
    pub fn m2a(self, b: u8, v: u8) -> u32 {
        self.base_2a() + b as u32 * self.v() + v as u32
    }

    fn base_2b(self) -> u32 {
        self.base_2a() + self.nb() * self.v()
    }

    /// Index of `(2b, a, b, v)`.
    pub fn m2b(self, a: u8, b: u8, v: u8) -> u32 {
        self.base_2b() + (a as u32 * self.nb() + b as u32) * self.v() + v as u32
    }

    /// How many messages there are.
    pub fn universe(self) -> u32 {
        self.base_2b() + self.a() * self.nb() * self.v()
    }

    /// The message at bit `i`.
    pub fn message(self, i: u32) -> Message {
        if i < self.nb() {
            return Message::OneA { bal: i as u8 };
        }
        if i < self.base_2a() {
            let k = i - self.nb();
            let acc = (k / self.per_acceptor_1b()) as u8;
            let bal = (0..self.ballots)
                .rev()
                .find(|&b| self.block_1b(acc, b).0 <= i)
                .expect("ballot 0 starts every block");
            let (mbal, mval) = self.decode_1b(i - self.block_1b(acc, bal).0);
            return Message::OneB {
                acc,
                bal,
                mbal,
                mval,
            };
        }
        if i < self.base_2b() {
            let k = i - self.base_2a();
            return Message::TwoA {
                bal: (k / self.v()) as u8,
                val: (k % self.v()) as u8,
            };
        }
        let k = i - self.base_2b();
        Message::TwoB {
            acc: (k / (self.nb() * self.v())) as u8,
            bal: (k / self.v() % self.nb()) as u8,
            val: (k % self.v()) as u8,
        }
    }

    /// The message's bit.
    pub fn index(self, m: Message) -> u32 {
        match m {
            Message::OneA { bal } => self.m1a(bal),
            Message::OneB {
                acc,
                bal,
                mbal,
                mval,
            } => self.m1b(acc, bal, mbal, mval),
            Message::TwoA { bal, val } => self.m2a(bal, val),
            Message::TwoB { acc, bal, val } => self.m2b(acc, bal, val),
        }
    }
}

/// A message of the spec, decoded from its bit (for narration and symmetry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    OneA {
        bal: u8,
    },
    OneB {
        acc: u8,
        bal: u8,
        mbal: i8,
        mval: i8,
    },
    TwoA {
        bal: u8,
        val: u8,
    },
    TwoB {
        acc: u8,
        bal: u8,
        val: u8,
    },
}

fn show_val(v: i8) -> String {
    if v < 0 {
        "None".into()
    } else {
        format!("v{}", v + 1)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Message::OneA { bal } => write!(f, "(1a, {bal})"),
            Message::OneB {
                acc,
                bal,
                mbal,
                mval,
            } => write!(f, "(1b, a{}, {bal}, {mbal}, {})", acc + 1, show_val(mval)),
            Message::TwoA { bal, val } => write!(f, "(2a, {bal}, v{})", val + 1),
            Message::TwoB { acc, bal, val } => {
                write!(f, "(2b, a{}, {bal}, v{})", acc + 1, val + 1)
            }
        }
    }
}

/// A state of the spec: its four variables (and the constant layout, for symmetry).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PaxosSpecState {
    /// `msgs`, a bit set over [`Layout`]'s messages.
    pub msgs: u128,
    /// `maxBal[a]`.
    pub max_bal: [i8; MAX_ACCEPTORS],
    /// `maxVBal[a]`.
    pub max_vbal: [i8; MAX_ACCEPTORS],
    /// `maxVal[a]` (`-1` is `None`, `v` is value `v + 1` of the spec's `v1, v2, ...`).
    pub max_val: [i8; MAX_ACCEPTORS],
    /// Constant: the shape of the message universe.
    pub layout: Layout,
}

impl PaxosSpecState {
    pub fn has(&self, bit: u32) -> bool {
        self.msgs & (1u128 << bit) != 0
    }

    /// The messages in `msgs`.
    pub fn messages(&self) -> impl Iterator<Item = Message> + '_ {
        bits(self.msgs).map(|i| self.layout.message(i))
    }
}

impl fmt::Debug for PaxosSpecState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.layout.acceptors as usize;
        let msgs: Vec<String> = self.messages().map(|m| m.to_string()).collect();
        write!(
            f,
            "maxBal={:?} maxVBal={:?} maxVal=[{}] msgs={{{}}}",
            &self.max_bal[..n],
            &self.max_vbal[..n],
            self.max_val[..n]
                .iter()
                .map(|&v| show_val(v))
                .collect::<Vec<_>>()
                .join(", "),
            msgs.join(", ")
        )
    }
}

/// The bits set in `x`, lowest first.
fn bits(mut x: u128) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (x != 0).then(|| {
            let i = x.trailing_zeros();
            x &= x - 1;
            i
        })
    })
}

/// A step of the spec, with the witness of each existential quantifier TLC enumerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaxosAction {
    /// `Phase1a(b)`.
    Phase1a { b: u8 },
    /// `Phase1b(a)`, receiving `(1a, b)`.
    Phase1b { a: u8, b: u8 },
    /// `Phase2a(b, v)` with quorum `q` (a bit set of acceptors), justified by the 1b message
    /// at bit `witness` carrying the highest vote, or by no vote at all (`None`).
    Phase2a {
        b: u8,
        v: u8,
        q: u8,
        witness: Option<u8>,
    },
    /// `Phase2b(a)`, receiving `(2a, b, v)`.
    Phase2b { a: u8, b: u8, v: u8 },
}

/// The spec as a stateright model.
#[derive(Clone, Debug)]
pub struct PaxosSpec {
    pub cfg: PaxosSpecConfig,
    pub layout: Layout,
    /// The quorums, as bit sets of acceptors (every majority).
    pub quorums: Vec<u8>,
    /// For each ballot and value: the value, and the bits of every acceptor's 2b message.
    votes_2b: Vec<(u8, u128)>,
    /// The bits of every 2b message.
    all_2b: u128,
}

impl PaxosSpec {
    /// The values `v` with `Chosen(v)`: some quorum sent `(2b, a, b, v)` from every member,
    /// for one ballot `b`.
    pub fn chosen(&self, s: &PaxosSpecState) -> impl Iterator<Item = u8> {
        let set = self.chosen_set(s);
        (0..self.layout.values).filter(move |v| set & (1 << v) != 0)
    }

    /// [`Self::chosen`] as a bit set of values. Quorums are the majorities, so a quorum voted
    /// for `v` in `b` exactly when more than half the acceptors did.
    pub fn chosen_set(&self, s: &PaxosSpecState) -> u8 {
        if s.msgs & self.all_2b == 0 {
            return 0;
        }
        let n = self.layout.acceptors as u32;
        self.votes_2b
            .iter()
            .filter(|(_, mask)| 2 * (s.msgs & mask).count_ones() > n)
            .fold(0, |set, (v, _)| set | 1 << v)
    }

    /// The 1b messages of acceptor `a` for ballot `b`, as bit indices.
    fn one_bs(&self, s: &PaxosSpecState, a: u8, b: u8) -> impl Iterator<Item = u32> {
        let (start, len) = self.layout.block_1b(a, b);
        let block = (s.msgs >> start) & ((1u128 << len) - 1);
        bits(block).map(move |i| start + i)
    }

    /// Phase2a's enabling condition for quorum `q`: the witnesses it can be justified by.
    fn phase2a_witnesses(
        &self,
        s: &PaxosSpecState,
        b: u8,
        v: u8,
        q: u8,
        out: &mut Vec<PaxosAction>,
    ) {
        let l = self.layout;
        // \A a \in Q : \E m \in Q1b : m.acc = a
        let members = (0..l.acceptors).filter(|&a| q & (1 << a) != 0);
        if !members
            .clone()
            .all(|a| self.one_bs(s, a, b).next().is_some())
        {
            return;
        }
        // Q1bv: the 1b messages of Q in ballot b that report a vote.
        let mut highest = NONE;
        let mut any_vote = false;
        for a in members.clone() {
            for i in self.one_bs(s, a, b) {
                let (mbal, _) = l.decode_1b(i - l.block_1b(a, b).0);
                if mbal != NONE {
                    any_vote = true;
                    highest = highest.max(mbal);
                }
            }
        }
        if !any_vote {
            out.push(PaxosAction::Phase2a {
                b,
                v,
                q,
                witness: None,
            });
            return;
        }
        for a in members {
            for i in self.one_bs(s, a, b) {
                let (mbal, mval) = l.decode_1b(i - l.block_1b(a, b).0);
                if mbal == highest && mval == v as i8 {
                    out.push(PaxosAction::Phase2a {
                        b,
                        v,
                        q,
                        witness: Some(i as u8),
                    });
                }
            }
        }
    }
}

impl Model for PaxosSpec {
    type State = PaxosSpecState;
    type Action = PaxosAction;

    fn init_states(&self) -> Vec<PaxosSpecState> {
        vec![PaxosSpecState {
            msgs: 0,
            max_bal: [NONE; MAX_ACCEPTORS],
            max_vbal: [NONE; MAX_ACCEPTORS],
            max_val: [NONE; MAX_ACCEPTORS],
            layout: self.layout,
        }]
    }

    fn actions(&self, s: &PaxosSpecState, actions: &mut Vec<PaxosAction>) {
        let l = self.layout;
        // \E b \in Ballot : Phase1a(b) \/ \E v \in Value : Phase2a(b, v)
        for b in 0..l.ballots {
            actions.push(PaxosAction::Phase1a { b });
            let no_2a = (0..l.values).all(|v| !s.has(l.m2a(b, v)));
            if no_2a {
                for v in 0..l.values {
                    for &q in &self.quorums {
                        self.phase2a_witnesses(s, b, v, q, actions);
                    }
                }
            }
        }
        // \E a \in Acceptor : Phase1b(a) \/ Phase2b(a)
        for a in 0..l.acceptors {
            let max_bal = s.max_bal[a as usize];
            for b in 0..l.ballots {
                if s.has(l.m1a(b)) && b as i8 > max_bal {
                    actions.push(PaxosAction::Phase1b { a, b });
                }
            }
            for b in 0..l.ballots {
                let strict = self.cfg.bug == PaxosSpecBug::Strict2b;
                if (strict && b as i8 <= max_bal) || (b as i8) < max_bal {
                    continue;
                }
                for v in 0..l.values {
                    if s.has(l.m2a(b, v)) {
                        actions.push(PaxosAction::Phase2b { a, b, v });
                    }
                }
            }
        }
    }

    fn next_state(&self, s: &PaxosSpecState, action: PaxosAction) -> Option<PaxosSpecState> {
        let l = self.layout;
        let mut t = *s;
        match action {
            PaxosAction::Phase1a { b } => t.msgs |= 1 << l.m1a(b),
            PaxosAction::Phase1b { a, b } => {
                let ai = a as usize;
                t.max_bal[ai] = b as i8;
                let (mbal, mval) = match self.cfg.bug {
                    PaxosSpecBug::ForgetVoteIn1b => (NONE, NONE),
                    _ => (s.max_vbal[ai], s.max_val[ai]),
                };
                t.msgs |= 1 << l.m1b(a, b, mbal, mval);
            }
            PaxosAction::Phase2a { b, v, .. } => t.msgs |= 1 << l.m2a(b, v),
            PaxosAction::Phase2b { a, b, v } => {
                let ai = a as usize;
                t.max_bal[ai] = b as i8;
                t.max_vbal[ai] = b as i8;
                t.max_val[ai] = v as i8;
                t.msgs |= 1 << l.m2b(a, b, v);
            }
        }
        Some(t)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("agreement", |m: &PaxosSpec, s: &PaxosSpecState| {
                m.chosen_set(s).count_ones() <= 1
            }),
            Property::sometimes("value-chosen", |m: &PaxosSpec, s: &PaxosSpecState| {
                m.chosen_set(s) != 0
            }),
        ]
    }
}

impl Narrate for PaxosSpec {
    fn narrate(&self, path: &Path<PaxosSpecState, PaxosAction>) -> Vec<String> {
        let l = self.layout;
        let mut steps: Vec<String> = path
            .clone()
            .into_vec()
            .into_iter()
            .filter_map(|(s, action)| {
                let action = action?;
                Some(match action {
                    PaxosAction::Phase1a { b } => format!("1a: send {}", l.message(l.m1a(b))),
                    PaxosAction::Phase1b { a, b } => {
                        let ai = a as usize;
                        format!(
                            "1b: acceptor a{} receives (1a, {b}) and sends (1b, a{}, {b}, {}, {})",
                            a + 1,
                            a + 1,
                            s.max_vbal[ai],
                            show_val(s.max_val[ai])
                        )
                    }
                    PaxosAction::Phase2a { b, v, q, witness } => {
                        let members: Vec<String> = (0..l.acceptors)
                            .filter(|&a| q & (1 << a) != 0)
                            .map(|a| format!("a{}", a + 1))
                            .collect();
                        let why = match witness {
                            None => "none of them reports a vote".to_string(),
                            Some(i) => format!("highest vote in {}", l.message(i as u32)),
                        };
                        format!(
                            "2a: with 1b messages of quorum {{{}}} for ballot {b} ({why}), send (2a, {b}, v{})",
                            members.join(", "),
                            v + 1
                        )
                    }
                    PaxosAction::Phase2b { a, b, v } => format!(
                        "2b: acceptor a{} receives (2a, {b}, v{}) and votes: sends (2b, a{}, {b}, v{})",
                        a + 1,
                        v + 1,
                        a + 1,
                        v + 1
                    ),
                })
            })
            .collect();
        let last = path.last_state();
        let chosen: Vec<String> = self.chosen(last).map(|v| format!("v{}", v + 1)).collect();
        steps.push(format!(
            "final state: {last:?}; chosen: {{{}}}",
            chosen.join(", ")
        ));
        steps
    }

    fn tell_action(&self, action: &PaxosAction) -> String {
        let l = self.layout;
        match *action {
            PaxosAction::Phase1a { b } => format!("1a: send {}", l.message(l.m1a(b))),
            PaxosAction::Phase1b { a, b } => format!(
                "1b: acceptor a{} receives (1a, {b}) and sends its 1b message",
                a + 1
            ),
            PaxosAction::Phase2a { b, v, q, .. } => {
                let members: Vec<String> = (0..l.acceptors)
                    .filter(|&a| q & (1 << a) != 0)
                    .map(|a| format!("a{}", a + 1))
                    .collect();
                format!(
                    "2a: with 1b messages of quorum {{{}}} for ballot {b}, send (2a, {b}, v{})",
                    members.join(", "),
                    v + 1
                )
            }
            PaxosAction::Phase2b { a, b, v } => format!(
                "2b: acceptor a{} receives (2a, {b}, v{}) and votes",
                a + 1,
                v + 1
            ),
        }
    }

    fn tell_state(&self, state: &PaxosSpecState) -> Option<String> {
        let chosen: Vec<String> = self.chosen(state).map(|v| format!("v{}", v + 1)).collect();
        Some(format!("{state:?}\nchosen: {{{}}}", chosen.join(", ")))
    }
}

/// Which permutations a symmetry representative ranges over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PaxosSymmetry {
    /// Permutations of the acceptors (TLC: `Permutations(Acceptor)`).
    Acceptors,
    /// Permutations of the acceptors and of the values
    /// (TLC: `Permutations(Acceptor) \cup Permutations(Value)`).
    All,
}

/// One permutation of acceptors and values, with where it sends every message bit.
struct Permutation {
    acceptor: [u8; MAX_ACCEPTORS],
    value: [u8; MAX_VALUES],
    bit: Vec<u8>,
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<u8>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..n {
            let mut q = p.clone();
            q.insert(pos, (n - 1) as u8);
            out.push(q);
        }
    }
    out
}

fn build_permutations(layout: Layout, symmetry: PaxosSymmetry) -> Vec<Permutation> {
    let accs = permutations(layout.acceptors as usize);
    let vals = match symmetry {
        PaxosSymmetry::Acceptors => vec![(0..layout.values).collect()],
        PaxosSymmetry::All => permutations(layout.values as usize),
    };
    let mut out = Vec::new();
    for pa in &accs {
        for pv in &vals {
            let mut acceptor = [0; MAX_ACCEPTORS];
            acceptor[..pa.len()].copy_from_slice(pa);
            let mut value = [0; MAX_VALUES];
            value[..pv.len()].copy_from_slice(pv);
            let pval = |v: i8| if v < 0 { v } else { value[v as usize] as i8 };
            let bit = (0..layout.universe())
                .map(|i| {
                    let m = match layout.message(i) {
                        Message::OneA { bal } => Message::OneA { bal },
                        Message::OneB {
                            acc,
                            bal,
                            mbal,
                            mval,
                        } => Message::OneB {
                            acc: acceptor[acc as usize],
                            bal,
                            mbal,
                            mval: pval(mval),
                        },
                        Message::TwoA { bal, val } => Message::TwoA {
                            bal,
                            val: value[val as usize],
                        },
                        Message::TwoB { acc, bal, val } => Message::TwoB {
                            acc: acceptor[acc as usize],
                            bal,
                            val: value[val as usize],
                        },
                    };
                    layout.index(m) as u8
                })
                .collect();
            out.push(Permutation {
                acceptor,
                value,
                bit,
            });
        }
    }
    out
}

type PermutationCache = Option<(Layout, PaxosSymmetry, Rc<Vec<Permutation>>)>;

thread_local! {
    static PERMUTATIONS: RefCell<PermutationCache> = const { RefCell::new(None) };
}

fn representative(s: &PaxosSpecState, symmetry: PaxosSymmetry) -> PaxosSpecState {
    let perms = PERMUTATIONS.with(|cache| {
        let mut cache = cache.borrow_mut();
        match &*cache {
            Some((l, sym, p)) if *l == s.layout && *sym == symmetry => Rc::clone(p),
            _ => {
                let p = Rc::new(build_permutations(s.layout, symmetry));
                *cache = Some((s.layout, symmetry, Rc::clone(&p)));
                p
            }
        }
    });
    let n = s.layout.acceptors as usize;
    let mut best = *s;
    for p in perms.iter() {
        let mut t = *s;
        t.msgs = bits(s.msgs).fold(0, |set, i| set | 1u128 << p.bit[i as usize]);
        for a in 0..n {
            let to = p.acceptor[a] as usize;
            t.max_bal[to] = s.max_bal[a];
            t.max_vbal[to] = s.max_vbal[a];
            t.max_val[to] = if s.max_val[a] < 0 {
                NONE
            } else {
                p.value[s.max_val[a] as usize] as i8
            };
        }
        best = best.min(t);
    }
    best
}

/// The least state over all permutations of acceptors and values.
pub fn representative_all(s: &PaxosSpecState) -> PaxosSpecState {
    representative(s, PaxosSymmetry::All)
}

/// The least state over all permutations of acceptors.
pub fn representative_acceptors(s: &PaxosSpecState) -> PaxosSpecState {
    representative(s, PaxosSymmetry::Acceptors)
}

impl PaxosSymmetry {
    /// The representative function stateright is given.
    pub fn representative(self) -> fn(&PaxosSpecState) -> PaxosSpecState {
        match self {
            PaxosSymmetry::Acceptors => representative_acceptors,
            PaxosSymmetry::All => representative_all,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_enumerates_every_message_once() {
        let l = Layout::new(3, 2, 3);
        assert_eq!(l.universe(), 54);
        for i in 0..l.universe() {
            assert_eq!(l.index(l.message(i)), i, "bit {i}: {}", l.message(i));
        }
    }

    #[test]
    fn representative_is_canonical_over_the_orbit() {
        // A state and its image under swapping a1/a2 and v1/v2 have one representative.
        let m = PaxosSpecConfig::default().into_model();
        let l = m.layout;
        let mut s = m.init_states()[0];
        s = m.next_state(&s, PaxosAction::Phase1a { b: 1 }).unwrap();
        s = m
            .next_state(&s, PaxosAction::Phase1b { a: 0, b: 1 })
            .unwrap();
        let mut t = m.init_states()[0];
        t = m.next_state(&t, PaxosAction::Phase1a { b: 1 }).unwrap();
        t = m
            .next_state(&t, PaxosAction::Phase1b { a: 1, b: 1 })
            .unwrap();
        assert_ne!(s, t);
        assert_eq!(representative_all(&s), representative_all(&t));
        assert_eq!(representative_acceptors(&s), representative_acceptors(&t));
        let mut u = s;
        u.msgs |= 1 << l.m2a(0, 0);
        let mut w = s;
        w.msgs |= 1 << l.m2a(0, 1);
        assert_eq!(representative_all(&u), representative_all(&w));
        assert_ne!(representative_acceptors(&u), representative_acceptors(&w));
    }
}
