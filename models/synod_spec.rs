//! `tla/Synod.tla`, transliterated action for action into a plain `stateright::Model`.
//!
//! # The spec
//!
//! The basic Synod protocol of the paper (section 2.3), as the priests of `src/synod` run it.
//! Priests `0..N` pass one decree; the first `P` propose, priest `i` proposing decree `i`.
//! Priest `p`'s ballot of round `r` (`1..=MaxRound`) is numbered `r * N + p`: unique (B1) and
//! ordered as the Rust [`Ballot`](crate::ballot::Ballot) `(round, priest)`.
//!
//! Variables: each priest's ledger `lastTried[p]`, `nextBal[p]`, `prevVote[p]` and
//! `outcome[p]`; `msgs`, every message ever sent (so loss, duplication and reordering are
//! implicit); and `ballots`, the paper's set `B` of ballots begun, each with number,
//! president, decree, quorum (`qrm`) and voters (`vot`).
//!
//! Actions (the paper's six steps; a president takes its own steps 2 and 4 inside step 3, as
//! `src/synod` does):
//!
//! 1. `TryNewBallot(p, b)`: a proposer that has not learned the outcome picks one of its
//!    numbers `b > lastTried[p]`, sets `lastTried[p] = b`, sends `NextBallot(b)`.
//! 2. `SendLastVote(q)`: on `NextBallot(b)` from another priest with `b > nextBal[q]`, sets
//!    `nextBal[q] = b` and sends `LastVote(b, q, prevVote[q])`.
//! 3. `BeginBallot(p, Q)`: `p` trying `b = lastTried[p]`, with `nextBal[p] < b`, holding
//!    `LastVote(b, q, _)` from every `q` in quorum `Q \ {p}` (`p` in `Q`): takes the decree of
//!    the latest vote among those and `prevVote[p]` (its proposal if none), promises and votes
//!    in `b`, adds the ballot to `ballots`, sends `BeginBallot(b, d, p, q)` to every other `q`.
//! 4. `CastVote(q)`: on `BeginBallot(b, d, p, q)` with `b = nextBal[q]`, sets `prevVote[q]`,
//!    adds `q` to the ballot's voters, sends `Voted(b, q, p)`.
//! 5. `Succeed(p)`: president of ballot `lastTried[p]` holding `Voted` from every other quorum
//!    member writes the decree in `outcome[p]` and sends `Success(d)`.
//! 6. `Learn(q)`: on `Success(d)`, a priest with no outcome writes `d`.
//!
//! Invariants: `B1`, `B2`, `B3`, `Agreement` and `LearnedImpliesChosen`, named here as in the
//! Synod actor model (`b1-unique-ballots`, ...), and a `sometimes` property `decree-chosen`.
//!
//! # The compact state
//!
//! Ballot numbers are stored as their index ("slot") in the sorted list of the numbers
//! proposers own: slot `(r - 1) * P + p` for number `r * N + p`. The map is order-preserving,
//! so every comparison of the spec is a comparison of slots. `msgs` is a bit set over the
//! finite message universe ([`SynodLayout`]); a `LastVote(b, q, v)` always reports a vote `v`
//! below `b` (`prevVote[q].bal <= nextBal[q] < b` when it is sent), so only those are
//! enumerated. `ballots` is a sorted array of records, at most one per slot and president.

use crate::check::Narrate;
use serde::Serialize;
use stateright::{Model, Path, Property};
use std::fmt;

/// The most priests the compact state holds.
pub const MAX_PRIESTS: usize = 5;
/// The most ballots (rounds times proposers) the compact state holds.
pub const MAX_BALLOTS: usize = 12;
/// Words of the message bit set.
const WORDS: usize = 8;
const NONE: i8 = -1;

/// A seeded bug in the spec, for the checker to find.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SynodSpecBug {
    /// The spec as written in `tla/Synod.tla`.
    #[default]
    None,
    /// Every proposer numbers its round-`r` ballot `r * N`, as if it were priest 0. Breaks
    /// `b1-unique-ballots`.
    NoTiebreak,
    /// A quorum is any `N / 2` priests (rounded down). Breaks `b2-quorums-intersect`.
    MinorityQuorum,
    /// The president begins its ballot with its own proposal whatever the LastVotes say.
    /// Breaks `b3-respects-earlier-votes` (and then `agreement`).
    IgnoreLastVotes,
    /// The president announces Success once it voted itself. Breaks `learned-implies-chosen`.
    PrematureSuccess,
    /// A priest votes only in a ballot above `nextBal` (never in the one it promised). Breaks
    /// `decree-chosen`.
    StrictVote,
}

/// The constants of `tla/MCSynod.cfg`.
#[derive(Clone, Debug, Serialize)]
pub struct SynodSpecConfig {
    /// `N`: the number of priests.
    pub priests: usize,
    /// `P`: priests `0..P` propose, priest `i` decree `i`.
    pub proposers: usize,
    /// `MaxRound`: ballots have rounds `1..=rounds`.
    pub rounds: usize,
    pub bug: SynodSpecBug,
}

/// The spec's constants as command-line flags (`parliament check synod-spec ...`): the one
/// place their defaults are declared. [`SynodSpecConfig::default`] and
/// [`SynodSpecConfig::from_flags`] parse these.
#[derive(clap::Args, Clone, Debug)]
pub struct SynodSpecArgs {
    /// Number of priests (the spec's N, 2 to 5).
    #[arg(long, default_value_t = 3)]
    pub priests: usize,
    /// Priests 0..P propose, priest i decree i (the spec's P).
    #[arg(long, default_value_t = 2)]
    pub proposers: usize,
    /// Ballots have rounds 1..=N (the spec's MaxRound).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Check a seeded bug in the spec instead of the spec itself.
    #[arg(long, value_enum, default_value_t = SynodSpecBug::None)]
    pub bug: SynodSpecBug,
}

impl SynodSpecArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> SynodSpecConfig {
        SynodSpecConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            bug: self.bug,
        }
    }
}

impl SynodSpecConfig {
    /// The configuration of `parliament check synod-spec FLAGS` (e.g. `["--rounds", "3"]`).
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<SynodSpecArgs>(flags).map(|a| a.config())
    }
}

impl Default for SynodSpecConfig {
    fn default() -> Self {
        SynodSpecConfig::from_flags(&[]).expect("the defaults parse")
    }
}

impl SynodSpecConfig {
    /// Checks the constants, returning a clear message when the compact state cannot hold them.
    pub fn validate(&self) -> Result<(), String> {
        if !(2..=MAX_PRIESTS).contains(&self.priests) {
            return Err(format!(
                "--priests must be 2 to {MAX_PRIESTS}, not {}",
                self.priests
            ));
        }
        if self.proposers == 0 || self.proposers > self.priests {
            return Err(format!(
                "--proposers must be 1 to the number of priests ({}), not {}",
                self.priests, self.proposers
            ));
        }
        if self.rounds == 0 || self.rounds * self.proposers > MAX_BALLOTS {
            return Err(format!(
                "--rounds must be at least 1 and rounds times proposers at most {MAX_BALLOTS}, \
                 not {} x {}",
                self.rounds, self.proposers
            ));
        }
        let l = self.layout();
        if l.universe() > 64 * WORDS as u32 {
            return Err(format!(
                "these constants give {} possible messages; the compact state holds at most {} \
                 (try fewer priests, proposers or rounds)",
                l.universe(),
                64 * WORDS
            ));
        }
        Ok(())
    }

    fn layout(&self) -> SynodLayout {
        SynodLayout {
            n: self.priests as u32,
            p: self.proposers as u32,
            s: (self.rounds * self.proposers) as u32,
        }
    }

    /// The model. Panics if [`Self::validate`] fails.
    pub fn into_model(self) -> SynodSpec {
        if let Err(e) = self.validate() {
            panic!("invalid synod-spec constants: {e}");
        }
        let n = self.priests;
        let quorums = (1u8..(1 << n))
            .filter(|q| {
                let size = q.count_ones() as usize;
                match self.bug {
                    SynodSpecBug::MinorityQuorum => size >= (n / 2).max(1),
                    _ => 2 * size > n,
                }
            })
            .collect();
        SynodSpec {
            layout: self.layout(),
            cfg: self,
            quorums,
        }
    }
}

/// Where each message's bit lives. Bits, in order: `NextBallot(b)`; per priest `q` and slot
/// `b` a block of `1 + b * P` bits for `LastVote(b, q, v)` (no vote, then each earlier slot
/// and decree); `BeginBallot(b, d, from, to)`; `Voted(b, from, to)`; `Success(d)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynodLayout {
    n: u32,
    p: u32,
    /// Slots: rounds times proposers.
    s: u32,
}

/// A message of the spec (ballots as slots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynodMessage {
    NextBallot {
        bal: u8,
    },
    LastVote {
        bal: u8,
        from: u8,
        vote_bal: i8,
        vote_dec: i8,
    },
    BeginBallot {
        bal: u8,
        dec: u8,
        from: u8,
        to: u8,
    },
    Voted {
        bal: u8,
        from: u8,
        to: u8,
    },
    Success {
        dec: u8,
    },
}

impl SynodLayout {
    fn per_priest_lv(self) -> u32 {
        self.s + self.p * self.s * (self.s - 1) / 2
    }
    fn base_lv(self) -> u32 {
        self.s
    }
    /// First bit and length of `LastVote(b, q, _)`.
    fn block_lv(self, b: u8, q: u8) -> (u32, u32) {
        let b = b as u32;
        let start =
            self.base_lv() + q as u32 * self.per_priest_lv() + b + self.p * b * (b.max(1) - 1) / 2;
        (start, 1 + b * self.p)
    }
    fn base_bb(self) -> u32 {
        self.base_lv() + self.n * self.per_priest_lv()
    }
    fn base_voted(self) -> u32 {
        self.base_bb() + self.s * self.p * self.p * self.n
    }
    fn base_success(self) -> u32 {
        self.base_voted() + self.s * self.n * self.p
    }
    pub fn universe(self) -> u32 {
        self.base_success() + self.p
    }

    pub fn index(self, m: SynodMessage) -> u32 {
        match m {
            SynodMessage::NextBallot { bal } => bal as u32,
            SynodMessage::LastVote {
                bal,
                from,
                vote_bal,
                vote_dec,
            } => {
                assert!(
                    (vote_bal as i32) < bal as i32,
                    "LastVote reports a vote below its ballot"
                );
                let (start, _) = self.block_lv(bal, from);
                if vote_bal < 0 {
                    start
                } else {
                    start + 1 + vote_bal as u32 * self.p + vote_dec as u32
                }
            }
            SynodMessage::BeginBallot { bal, dec, from, to } => {
                self.base_bb()
                    + ((bal as u32 * self.p + dec as u32) * self.p + from as u32) * self.n
                    + to as u32
            }
            SynodMessage::Voted { bal, from, to } => {
                self.base_voted() + (bal as u32 * self.n + from as u32) * self.p + to as u32
            }
            SynodMessage::Success { dec } => self.base_success() + dec as u32,
        }
    }

    pub fn message(self, i: u32) -> SynodMessage {
        if i < self.base_lv() {
            return SynodMessage::NextBallot { bal: i as u8 };
        }
        if i < self.base_bb() {
            let from = ((i - self.base_lv()) / self.per_priest_lv()) as u8;
            let bal = (0..self.s as u8)
                .rev()
                .find(|&b| self.block_lv(b, from).0 <= i)
                .expect("slot 0 starts every block");
            let k = i - self.block_lv(bal, from).0;
            let (vote_bal, vote_dec) = if k == 0 {
                (NONE, NONE)
            } else {
                (((k - 1) / self.p) as i8, ((k - 1) % self.p) as i8)
            };
            return SynodMessage::LastVote {
                bal,
                from,
                vote_bal,
                vote_dec,
            };
        }
        if i < self.base_voted() {
            let k = i - self.base_bb();
            return SynodMessage::BeginBallot {
                to: (k % self.n) as u8,
                from: (k / self.n % self.p) as u8,
                dec: (k / self.n / self.p % self.p) as u8,
                bal: (k / self.n / self.p / self.p) as u8,
            };
        }
        if i < self.base_success() {
            let k = i - self.base_voted();
            return SynodMessage::Voted {
                to: (k % self.p) as u8,
                from: (k / self.p % self.n) as u8,
                bal: (k / self.p / self.n) as u8,
            };
        }
        SynodMessage::Success {
            dec: (i - self.base_success()) as u8,
        }
    }
}

/// A begun ballot: the paper's `B = (bal, dec, qrm, vot)`, with its president.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BallotRecord {
    /// The ballot's slot.
    pub bal: u8,
    pub pres: u8,
    pub dec: u8,
    pub qrm: u8,
    pub vot: u8,
}

impl BallotRecord {
    pub fn succeeded(&self) -> bool {
        self.qrm & !self.vot == 0
    }
}

/// A state of the spec: its six variables.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SynodSpecState {
    /// `msgs`, a bit set over [`SynodLayout`].
    pub msgs: [u64; WORDS],
    /// `lastTried[p]` (a slot, or -1).
    pub last_tried: [i8; MAX_PRIESTS],
    /// `nextBal[p]` (a slot, or -1).
    pub next_bal: [i8; MAX_PRIESTS],
    /// `prevVote[p].bal` (a slot, or -1).
    pub prev_vote_bal: [i8; MAX_PRIESTS],
    /// `prevVote[p].dec` (a decree, or -1 for None).
    pub prev_vote_dec: [i8; MAX_PRIESTS],
    /// `outcome[p]` (a decree, or -1 for None).
    pub outcome: [i8; MAX_PRIESTS],
    /// `ballots`: the first `ballot_count` entries, sorted by slot then president.
    pub ballots: [BallotRecord; MAX_BALLOTS],
    pub ballot_count: u8,
}

impl SynodSpecState {
    pub fn has(&self, bit: u32) -> bool {
        self.msgs[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }
    /// Adds the message at `bit` to `msgs`.
    pub fn send(&mut self, bit: u32) {
        self.msgs[(bit / 64) as usize] |= 1 << (bit % 64);
    }
    pub fn ballots(&self) -> &[BallotRecord] {
        &self.ballots[..self.ballot_count as usize]
    }
    fn messages(&self) -> impl Iterator<Item = u32> + '_ {
        (0..WORDS as u32 * 64).filter(|&i| self.has(i))
    }
}

impl fmt::Debug for SynodSpecState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lastTried={:?} nextBal={:?} prevVote={:?} outcome={:?} ballots={:?} msgs={:?}",
            self.last_tried,
            self.next_bal,
            self.prev_vote_bal
                .iter()
                .zip(self.prev_vote_dec)
                .collect::<Vec<_>>(),
            self.outcome,
            self.ballots(),
            self.messages().collect::<Vec<_>>()
        )
    }
}

/// A step of the spec, with the witnesses of its existential quantifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SynodAction {
    /// `TryNewBallot(p, b)`.
    TryNewBallot { p: u8, b: u8 },
    /// `SendLastVote(q)`, receiving `NextBallot(b)`.
    SendLastVote { q: u8, b: u8 },
    /// `BeginBallot(p, Q)`.
    BeginBallot { p: u8, quorum: u8 },
    /// `CastVote(q)`, receiving `BeginBallot(b, d, from, q)`.
    CastVote { q: u8, b: u8, d: u8, from: u8 },
    /// `Succeed(p)`, for the ballot at index `ballot` of `ballots`.
    Succeed { p: u8, ballot: u8 },
    /// `Learn(q)`, receiving `Success(d)`.
    Learn { q: u8, d: u8 },
}

/// The spec as a stateright model.
#[derive(Clone, Debug)]
pub struct SynodSpec {
    pub cfg: SynodSpecConfig,
    pub layout: SynodLayout,
    /// The quorums, as bit sets of priests.
    pub quorums: Vec<u8>,
}

impl SynodSpec {
    fn n(&self) -> u8 {
        self.cfg.priests as u8
    }
    fn p(&self) -> u8 {
        self.cfg.proposers as u8
    }

    /// The slot of priest `p`'s ballot of round `r` (the spec's `BallotsOf(p)`).
    pub fn slot(&self, r: u8, p: u8) -> u8 {
        let owner = if self.cfg.bug == SynodSpecBug::NoTiebreak {
            0
        } else {
            p
        };
        (r - 1) * self.p() + owner
    }

    /// The slot of the Rust ballot `(round, priest)`, if the spec has that ballot number.
    pub fn slot_of(&self, round: u32, priest: u8) -> Option<u8> {
        let ok = (1..=self.cfg.rounds as u32).contains(&round) && priest < self.p();
        ok.then(|| (round as u8 - 1) * self.p() + priest)
    }

    /// Whether `to` follows from `from` by one step of the spec (`Next`), or equals it (a
    /// stutter): `[Next]_vars`.
    pub fn is_step_or_stutter(&self, from: &SynodSpecState, to: &SynodSpecState) -> bool {
        if from == to {
            return true;
        }
        let mut actions = Vec::new();
        self.actions(from, &mut actions);
        actions
            .into_iter()
            .any(|a| self.next_state(from, a).as_ref() == Some(to))
    }

    /// The ballot number `r * N + p` of a slot.
    pub fn number(&self, slot: i8) -> i32 {
        if slot < 0 {
            return -1;
        }
        let (r, p) = (
            slot as i32 / self.p() as i32 + 1,
            slot as i32 % self.p() as i32,
        );
        r * self.n() as i32 + p
    }

    /// `Owner(b)`.
    fn owner(&self, slot: u8) -> u8 {
        slot % self.p()
    }

    /// The decree of the latest vote among the LastVotes of `Q \ {p}` for `b` and `p`'s own
    /// `prevVote` (`Latest` in the spec), or -1 if none is a vote.
    fn latest_decree(&self, s: &SynodSpecState, p: u8, b: u8, quorum: u8) -> i8 {
        let l = self.layout;
        let mut best = (s.prev_vote_bal[p as usize], s.prev_vote_dec[p as usize]);
        for q in (0..self.n()).filter(|&q| q != p && quorum & (1 << q) != 0) {
            let (start, len) = l.block_lv(b, q);
            for i in start..start + len {
                if s.has(i) {
                    if let SynodMessage::LastVote {
                        vote_bal, vote_dec, ..
                    } = l.message(i)
                    {
                        if vote_bal > best.0 {
                            best = (vote_bal, vote_dec);
                        }
                    }
                }
            }
        }
        best.1
    }

    fn begin_enabled(&self, s: &SynodSpecState, p: u8, quorum: u8) -> bool {
        let b = s.last_tried[p as usize];
        if b < 0
            || s.outcome[p as usize] != NONE
            || quorum & (1 << p) == 0
            || s.next_bal[p as usize] >= b
        {
            return false;
        }
        (0..self.n())
            .filter(|&q| q != p && quorum & (1 << q) != 0)
            .all(|q| {
                let (start, len) = self.layout.block_lv(b as u8, q);
                (start..start + len).any(|i| s.has(i))
            })
    }
}

impl Model for SynodSpec {
    type State = SynodSpecState;
    type Action = SynodAction;

    fn init_states(&self) -> Vec<SynodSpecState> {
        vec![SynodSpecState {
            msgs: [0; WORDS],
            last_tried: [NONE; MAX_PRIESTS],
            next_bal: [NONE; MAX_PRIESTS],
            prev_vote_bal: [NONE; MAX_PRIESTS],
            prev_vote_dec: [NONE; MAX_PRIESTS],
            outcome: [NONE; MAX_PRIESTS],
            ballots: [BallotRecord::default(); MAX_BALLOTS],
            ballot_count: 0,
        }]
    }

    fn actions(&self, s: &SynodSpecState, actions: &mut Vec<SynodAction>) {
        let l = self.layout;
        for p in 0..self.p() {
            let pi = p as usize;
            // \E b \in BallotsOf(p) : TryNewBallot(p, b)
            if s.outcome[pi] == NONE {
                for r in 1..=self.cfg.rounds as u8 {
                    let b = self.slot(r, p);
                    if b as i8 > s.last_tried[pi] {
                        actions.push(SynodAction::TryNewBallot { p, b });
                    }
                }
            }
            // \E Q \in Quorum : BeginBallot(p, Q)
            for &quorum in &self.quorums {
                if self.begin_enabled(s, p, quorum) {
                    actions.push(SynodAction::BeginBallot { p, quorum });
                }
            }
            // Succeed(p)
            if s.outcome[pi] == NONE {
                for (i, rec) in s.ballots().iter().enumerate() {
                    if rec.pres != p || rec.bal as i8 != s.last_tried[pi] {
                        continue;
                    }
                    let premature = self.cfg.bug == SynodSpecBug::PrematureSuccess;
                    let all_voted = (0..self.n())
                        .filter(|&q| q != p && rec.qrm & (1 << q) != 0)
                        .all(|q| {
                            s.has(l.index(SynodMessage::Voted {
                                bal: rec.bal,
                                from: q,
                                to: p,
                            }))
                        });
                    if premature || all_voted {
                        actions.push(SynodAction::Succeed { p, ballot: i as u8 });
                    }
                }
            }
        }
        for q in 0..self.n() {
            let qi = q as usize;
            // SendLastVote(q)
            for b in 0..l.s as u8 {
                if s.has(l.index(SynodMessage::NextBallot { bal: b }))
                    && self.owner(b) != q
                    && b as i8 > s.next_bal[qi]
                {
                    actions.push(SynodAction::SendLastVote { q, b });
                }
            }
            // CastVote(q)
            let nb = s.next_bal[qi];
            let strict = self.cfg.bug == SynodSpecBug::StrictVote;
            let ballots = 0..l.s as u8;
            for b in ballots.filter(|&b| if strict { b as i8 > nb } else { b as i8 == nb }) {
                for d in 0..self.p() {
                    for from in 0..self.p() {
                        let m = SynodMessage::BeginBallot {
                            bal: b,
                            dec: d,
                            from,
                            to: q,
                        };
                        if s.has(l.index(m)) {
                            actions.push(SynodAction::CastVote { q, b, d, from });
                        }
                    }
                }
            }
            // Learn(q)
            if s.outcome[qi] == NONE {
                for d in 0..self.p() {
                    if s.has(l.index(SynodMessage::Success { dec: d })) {
                        actions.push(SynodAction::Learn { q, d });
                    }
                }
            }
        }
    }

    fn next_state(&self, s: &SynodSpecState, action: SynodAction) -> Option<SynodSpecState> {
        let l = self.layout;
        let mut t = s.clone();
        match action {
            SynodAction::TryNewBallot { p, b } => {
                t.last_tried[p as usize] = b as i8;
                t.send(l.index(SynodMessage::NextBallot { bal: b }));
            }
            SynodAction::SendLastVote { q, b } => {
                let qi = q as usize;
                t.next_bal[qi] = b as i8;
                t.send(l.index(SynodMessage::LastVote {
                    bal: b,
                    from: q,
                    vote_bal: s.prev_vote_bal[qi],
                    vote_dec: s.prev_vote_dec[qi],
                }));
            }
            SynodAction::BeginBallot { p, quorum } => {
                let pi = p as usize;
                let b = s.last_tried[pi] as u8;
                let latest = self.latest_decree(s, p, b, quorum);
                let d = if latest < 0 || self.cfg.bug == SynodSpecBug::IgnoreLastVotes {
                    p
                } else {
                    latest as u8
                };
                t.next_bal[pi] = b as i8;
                t.prev_vote_bal[pi] = b as i8;
                t.prev_vote_dec[pi] = d as i8;
                let rec = BallotRecord {
                    bal: b,
                    pres: p,
                    dec: d,
                    qrm: quorum,
                    vot: 1 << p,
                };
                let n = t.ballot_count as usize;
                assert!(n < MAX_BALLOTS, "more ballots than slots");
                t.ballots[n] = rec;
                t.ballot_count += 1;
                t.ballots[..=n].sort_unstable();
                for q in (0..self.n()).filter(|&q| q != p && quorum & (1 << q) != 0) {
                    t.send(l.index(SynodMessage::BeginBallot {
                        bal: b,
                        dec: d,
                        from: p,
                        to: q,
                    }));
                }
            }
            SynodAction::CastVote { q, b, d, from } => {
                let qi = q as usize;
                t.prev_vote_bal[qi] = b as i8;
                t.prev_vote_dec[qi] = d as i8;
                let n = t.ballot_count as usize;
                for rec in t.ballots[..n].iter_mut() {
                    if rec.bal == b && rec.pres == from {
                        rec.vot |= 1 << q;
                    }
                }
                t.send(l.index(SynodMessage::Voted {
                    bal: b,
                    from: q,
                    to: from,
                }));
            }
            SynodAction::Succeed { p, ballot } => {
                let d = s.ballots[ballot as usize].dec;
                t.outcome[p as usize] = d as i8;
                t.send(l.index(SynodMessage::Success { dec: d }));
            }
            SynodAction::Learn { q, d } => {
                t.outcome[q as usize] = d as i8;
            }
        }
        Some(t)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("b1-unique-ballots", |_, s: &SynodSpecState| b1(s)),
            Property::always("b2-quorums-intersect", |_, s: &SynodSpecState| b2(s)),
            Property::always("b3-respects-earlier-votes", |_, s: &SynodSpecState| b3(s)),
            Property::always("agreement", |_, s: &SynodSpecState| agreement(s)),
            Property::always(
                "learned-implies-chosen",
                |m: &SynodSpec, s: &SynodSpecState| {
                    (0..m.n() as usize).all(|p| {
                        s.outcome[p] == NONE
                            || s.ballots()
                                .iter()
                                .any(|b| b.succeeded() && b.dec as i8 == s.outcome[p])
                    })
                },
            ),
            Property::sometimes("decree-chosen", |_, s: &SynodSpecState| {
                s.ballots().iter().any(BallotRecord::succeeded)
            }),
        ]
    }
}

/// `B1`: every ballot has a unique number.
pub fn b1(s: &SynodSpecState) -> bool {
    let bs = s.ballots();
    bs.iter()
        .enumerate()
        .all(|(i, a)| bs[i + 1..].iter().all(|b| a.bal != b.bal))
}

/// `B2`: the quorums of any two ballots share a priest.
pub fn b2(s: &SynodSpecState) -> bool {
    let bs = s.ballots();
    bs.iter().all(|a| bs.iter().all(|b| a.qrm & b.qrm != 0))
}

/// `B3`: if a member of B's quorum voted in an earlier ballot, B's decree is the decree of
/// the latest such ballot (of every latest one, should two share a number).
pub fn b3(s: &SynodSpecState) -> bool {
    let bs = s.ballots();
    bs.iter().all(|b| {
        let earlier = || {
            bs.iter()
                .filter(move |c| c.bal < b.bal && c.vot & b.qrm != 0)
        };
        match earlier().map(|c| c.bal).max() {
            None => true,
            Some(top) => earlier().filter(|c| c.bal == top).all(|c| c.dec == b.dec),
        }
    })
}

/// `Agreement`: any two successful ballots have the same decree.
pub fn agreement(s: &SynodSpecState) -> bool {
    let mut chosen = s.ballots().iter().filter(|b| b.succeeded()).map(|b| b.dec);
    let first = chosen.next();
    chosen.all(|d| Some(d) == first)
}

impl SynodSpec {
    /// A message in the paper's words, ballot numbers as in the spec.
    pub fn show_message(&self, m: SynodMessage) -> String {
        let num = |slot: u8| self.number(slot as i8);
        match m {
            SynodMessage::NextBallot { bal } => format!("NextBallot({})", num(bal)),
            SynodMessage::LastVote {
                bal,
                from,
                vote_bal,
                vote_dec,
            } => {
                if vote_bal < 0 {
                    format!("LastVote({}, no vote) from {from}", num(bal))
                } else {
                    format!(
                        "LastVote({}, voted {vote_dec} in {}) from {from}",
                        num(bal),
                        self.number(vote_bal)
                    )
                }
            }
            SynodMessage::BeginBallot { bal, dec, from, to } => {
                format!("BeginBallot({}, {dec}) from {from} to {to}", num(bal))
            }
            SynodMessage::Voted { bal, from, to } => {
                format!("Voted({}) from {from} to {to}", num(bal))
            }
            SynodMessage::Success { dec } => format!("Success({dec})"),
        }
    }

    /// The ballots, one line, numbers as in the spec.
    pub fn describe_ballots(&self, s: &SynodSpecState) -> String {
        let parts: Vec<String> = s
            .ballots()
            .iter()
            .map(|b| {
                let set = |x: u8| {
                    let v: Vec<String> = (0..self.n())
                        .filter(|q| x & (1 << q) != 0)
                        .map(|q| q.to_string())
                        .collect();
                    format!("{{{}}}", v.join(","))
                };
                format!(
                    "[ballot {} by priest {}: decree {}, quorum {}, voted {}{}]",
                    self.number(b.bal as i8),
                    b.pres,
                    b.dec,
                    set(b.qrm),
                    set(b.vot),
                    if b.succeeded() { ", passed" } else { "" }
                )
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }
}

impl Narrate for SynodSpec {
    fn narrate(&self, path: &Path<SynodSpecState, SynodAction>) -> Vec<String> {
        let mut steps: Vec<String> = path
            .clone()
            .into_vec()
            .into_iter()
            .filter_map(|(s, action)| {
                let t = self.next_state(&s, action?)?;
                Some(match action? {
                    SynodAction::TryNewBallot { p, b } => format!(
                        "TryNewBallot: priest {p} tries ballot {} and sends NextBallot",
                        self.number(b as i8)
                    ),
                    SynodAction::SendLastVote { q, b } => format!(
                        "SendLastVote: priest {q} promises ballot {} and sends {}",
                        self.number(b as i8),
                        self.show_message(SynodMessage::LastVote {
                            bal: b,
                            from: q,
                            vote_bal: s.prev_vote_bal[q as usize],
                            vote_dec: s.prev_vote_dec[q as usize],
                        })
                    ),
                    SynodAction::BeginBallot { p, .. } => format!(
                        "BeginBallot: priest {p} begins ballot {} with decree {} (ballots now {})",
                        self.number(t.last_tried[p as usize]),
                        t.prev_vote_dec[p as usize],
                        self.describe_ballots(&t)
                    ),
                    SynodAction::CastVote { q, b, d, from } => format!(
                        "CastVote: priest {q} receives {} and votes",
                        self.show_message(SynodMessage::BeginBallot {
                            bal: b,
                            dec: d,
                            from,
                            to: q
                        })
                    ),
                    SynodAction::Succeed { p, .. } => format!(
                        "Succeed: priest {p} writes decree {} in its ledger and sends Success",
                        t.outcome[p as usize]
                    ),
                    SynodAction::Learn { q, d } => {
                        format!("Learn: priest {q} receives Success({d}) and writes it")
                    }
                })
            })
            .collect();
        steps.push(format!(
            "final ballots: {}",
            self.describe_ballots(path.last_state())
        ));
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_enumerates_every_message_once() {
        for (n, p, r) in [(3, 2, 2), (5, 2, 2), (3, 3, 1), (2, 1, 3)] {
            let cfg = SynodSpecConfig {
                priests: n,
                proposers: p,
                rounds: r,
                bug: SynodSpecBug::None,
            };
            let l = cfg.layout();
            for i in 0..l.universe() {
                assert_eq!(l.index(l.message(i)), i, "{n} {p} {r}: bit {i}");
            }
        }
    }

    #[test]
    fn slots_preserve_the_order_of_ballot_numbers() {
        let m = SynodSpecConfig::default().into_model();
        let numbers: Vec<i32> = (0..4).map(|s| m.number(s)).collect();
        assert_eq!(numbers, vec![3, 4, 6, 7]);
        assert_eq!(m.slot(2, 1), 3);
    }
}
