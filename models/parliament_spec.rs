//! `tla/Parliament.tla`, transliterated action for action into a plain `stateright::Model`.
//!
//! # The spec
//!
//! The multi-decree Parliament of the paper (section 3) as `src/parliament` runs it, without
//! clients, reads, batching, snapshots or membership changes. Priests `0..N` pass decrees
//! numbered `0..D`, one Synod instance per number; a president pays for the first phase once
//! per presidency. The first `P` priests may be president, and president `p`'s own command is
//! decree `p`; the olive-day decree fills a number nobody in its quorum voted at. Ballot
//! numbers are `tla/Synod.tla`'s: priest `p`'s ballot of round `r` is `r * N + p`.
//!
//! Variables: each priest's ledger `lastTried[p]`, `nextBal[p]`, `prevVote[p][n]` and
//! `learned[p][n]`; `office[p]`, what a president holds while in office (ballot, quorum, next
//! free number); `msgs`, every message ever sent; and `ballots`, the paper's set `B` for
//! every decree number (number, ballot, president, decree, quorum, voters).
//!
//! Actions:
//!
//! 1. `TryNewBallot(p, b)`: a candidate picks one of its numbers `b` above every one it tried
//!    or promised, sets `lastTried[p] = b`, sends `NextBallot(b, n)`, `n` its first unknown
//!    decree number (`D` if it knows them all).
//! 2. `SendLastVote(q)`: on `NextBallot(b, n)` from another priest with `b > nextBal[q]`,
//!    promises `b` and sends `LastVote(b, q, votes)`: its vote at every number `>= n`, a
//!    decree it learned reported as a vote in `b`.
//! 3. `TakeOffice(p, Q)`: holding `LastVote(b)` from every other member of `Q` (`p` in `Q`),
//!    promises `b`, and for each number from `n` to the highest reported that it does not
//!    know passed, begins ballot `b` with the latest decree reported there (its own votes
//!    counted; olive-day where none), votes in each if `Votes(p, Q)` (the others of `Q` are
//!    no quorum without it), sends `BeginBallot(b, k, d)` to the others of `Q`; its next
//!    free number is above those and above every decree it knows.
//! 4. `BeginNew(p, d)`: a president in office that promised nothing higher begins command `d`
//!    of `Proposes(p)` at its next free number, votes if `Votes(p, Q)`, and asks the others
//!    of its quorum `Q`.
//!    The spec's own checks take `Proposes(p) = {p}` ([`ParliamentSpec::actions_of`] takes
//!    any set).
//!
//! With `Genesis` (`--genesis`), the Chamber starts as deployed: every ledger has promised
//! ballot 0, and priest 0 is in office in it with every priest as its quorum.
//! 5. `CastVote(q)`: on `BeginBallot(b, k, d)` with `b >= nextBal[q]`, not yet voted in `b` at
//!    `k`: raises `nextBal[q]` to `b`, votes, adds itself to the ballot's voters, sends
//!    `Voted(b, k, q)`.
//! 4a. `VoteLate(p, k)`: a president in office in `b` that promised nothing higher votes in
//!    its own ballot `b` at `k` that it began without its vote, unless it knows `k` passed
//!    (deployed: its vote timer ran out before the others' votes came).
//! 6. `Succeed(p, k)`: the president of ballot `lastTried[p]` at `k`, once the members of
//!    its quorum it holds `Voted` from, with itself if it voted, are a quorum, sends `Success(k, d)` (it
//!    writes `d` by `Learn`, as the actor saves it with a later save).
//! 7. `Learn(q)`: on `Success(k, d)`, a priest that does not know `k` writes `d`.
//! 8. `JoinQuorum(p, q)`: a president in office in `b` and having promised nothing higher,
//!    holding a `LastVote(b)` from `q` outside its quorum: `q` joins its quorum, so from its
//!    next free number on its ballots ask `q` too, and it begins `b` (voting if
//!    `Votes(p, Q)` for the grown quorum) at each number
//!    up to the highest `q` reported that it does not know passed, with `q`'s reported
//!    decree or olive-day.
//!
//! Invariants, per decree number: `B1`, `B2`, `B3`, `Agreement`, `LearnedImpliesChosen` and
//! `LogsArePrefixes`, named as in the Parliament actor model (`b1-unique-ballots`, ...), and
//! `sometimes` properties `decree-chosen` and `olive-day-decree-chosen`.
//!
//! The state is kept as the spec writes it (vectors, sets of messages and of ballots),
//! not compacted: for the same constants the model reaches TLC's distinct-state count,
//! generated count and depth (one successor per witness of each action's quantifiers, as TLC
//! counts them).

use crate::check::Narrate;
use serde::Serialize;
use stateright::{Model, Path, Property};
use std::collections::BTreeSet;
use std::fmt;

/// The olive-day decree.
pub const OLIVE: u8 = u8::MAX;
/// No ballot: below every ballot number.
const NO_BALLOT: i16 = -1;
/// The genesis ballot: round 0 of priest 0 (`--genesis`).
const GENESIS_BALLOT: i16 = 0;

/// A seeded bug in the spec, for the checker to find.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ParliamentSpecBug {
    /// The spec as written in `tla/Parliament.tla`.
    #[default]
    None,
    /// Every candidate numbers its round-`r` ballot `r * N`, as if it were priest 0. Breaks
    /// `b1-unique-ballots`, then `agreement`, `learned-implies-chosen` and
    /// `logs-are-prefixes` (and no olive-day decree is chosen).
    NoTiebreak,
    /// A quorum is any `N / 2` priests (rounded down). Breaks `b2-quorums-intersect`, then
    /// `agreement` and `logs-are-prefixes`.
    MinorityQuorum,
    /// A president taking office begins nothing at the numbers reported to it, and passes
    /// its own commands there, from its NextBallot's `n`. Breaks
    /// `b3-respects-earlier-votes`, then `agreement` and `logs-are-prefixes` (and no
    /// olive-day decree is chosen).
    OverwriteReported,
    /// The president announces Success once it voted itself. Breaks
    /// `learned-implies-chosen` and `logs-are-prefixes`.
    PrematureSuccess,
    /// A priest votes only in a ballot above `nextBal` (never in the one it promised). Breaks
    /// `decree-chosen` and `olive-day-decree-chosen`.
    StrictVote,
}

/// The constants of `tla/MCParliament.cfg`.
#[derive(Clone, Debug, Serialize)]
pub struct ParliamentSpecConfig {
    /// `N`: the number of priests.
    pub priests: usize,
    /// `P`: priests `0..P` may be president, priest `i`'s command is decree `i`.
    pub proposers: usize,
    /// `MaxRound`: ballots have rounds `1..=rounds`.
    pub rounds: usize,
    /// `D`: decree numbers `0..decrees`.
    pub decrees: usize,
    /// `Genesis`: priest 0 starts in office in ballot 0, promised by every ledger.
    pub genesis: bool,
    pub bug: ParliamentSpecBug,
}

/// The spec's constants as command-line flags (`parliament check parliament-spec ...`): the
/// one place their defaults are declared.
#[derive(clap::Args, Clone, Debug)]
pub struct ParliamentSpecArgs {
    /// Number of priests (the spec's N, 2 to 4).
    #[arg(long, default_value_t = 3)]
    pub priests: usize,
    /// Priests 0..P may be president, priest i's command decree i (the spec's P).
    #[arg(long, default_value_t = 2)]
    pub proposers: usize,
    /// Ballots have rounds 1..=ROUNDS (the spec's MaxRound).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Decree numbers 0..DECREES (the spec's D).
    #[arg(long, default_value_t = 2)]
    pub decrees: usize,
    /// The Chamber starts as deployed: priest 0 in office in the genesis ballot 0, which
    /// every ledger promised, with the highest-numbered majority of the others as its quorum
    /// (the spec's Genesis).
    #[arg(long)]
    pub genesis: bool,
    /// Check a seeded bug in the spec instead of the spec itself.
    #[arg(long, value_enum, default_value_t = ParliamentSpecBug::None)]
    pub bug: ParliamentSpecBug,
}

impl ParliamentSpecArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> ParliamentSpecConfig {
        ParliamentSpecConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            decrees: self.decrees,
            genesis: self.genesis,
            bug: self.bug,
        }
    }
}

impl ParliamentSpecConfig {
    /// The configuration of `parliament check parliament-spec FLAGS`.
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<ParliamentSpecArgs>(flags).map(|a| a.config())
    }

    /// Checks the constants, returning a clear message when the model cannot hold them.
    pub fn validate(&self) -> Result<(), String> {
        if !(2..=4).contains(&self.priests) {
            return Err(format!(
                "--priests must be 2 to 4, not {} (with 5, a reported learned decree may break B3 \
                 as stated: see tla/README.md)",
                self.priests
            ));
        }
        if self.proposers == 0 || self.proposers > self.priests {
            return Err(format!(
                "--proposers must be 1 to the number of priests ({}), not {}",
                self.priests, self.proposers
            ));
        }
        if !(1..=4).contains(&self.rounds) {
            return Err(format!("--rounds must be 1 to 4, not {}", self.rounds));
        }
        if !(1..=4).contains(&self.decrees) {
            return Err(format!("--decrees must be 1 to 4, not {}", self.decrees));
        }
        Ok(())
    }

    /// The model. Panics if [`Self::validate`] fails.
    pub fn into_model(self) -> ParliamentSpec {
        if let Err(e) = self.validate() {
            panic!("invalid parliament-spec constants: {e}");
        }
        let n = self.priests;
        let quorums = (1u8..(1 << n))
            .filter(|q| {
                let size = q.count_ones() as usize;
                match self.bug {
                    ParliamentSpecBug::MinorityQuorum => size >= (n / 2).max(1),
                    _ => 2 * size > n,
                }
            })
            .collect();
        ParliamentSpec { cfg: self, quorums }
    }
}

impl Default for ParliamentSpecConfig {
    fn default() -> Self {
        ParliamentSpecConfig::from_flags(&[]).expect("the defaults parse")
    }
}

/// A vote: ballot number and decree (`None`: the spec's `NoVote`).
pub type Vote = Option<(i16, u8)>;

/// A message of the spec.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Msg {
    NextBallot {
        bal: i16,
        from: u8,
    },
    /// `votes` is the function from numbers `start..D`.
    LastVote {
        bal: i16,
        from: u8,
        start: u8,
        votes: Vec<Vote>,
    },
    BeginBallot {
        bal: i16,
        num: u8,
        dec: u8,
        to: u8,
    },
    Voted {
        bal: i16,
        num: u8,
        from: u8,
    },
    Success {
        num: u8,
        dec: u8,
    },
}

/// A begun ballot of decree number `num`: the paper's `B = (bal, dec, qrm, vot)`, with its
/// president.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BallotRecord {
    pub num: u8,
    pub bal: i16,
    pub pres: u8,
    pub dec: u8,
    pub qrm: u8,
    pub vot: u8,
}

impl BallotRecord {
    /// `Succeeded(B)`: its voters include a quorum (a majority of the `n` priests).
    pub fn succeeded(&self, n: usize) -> bool {
        2 * (self.vot & self.qrm).count_ones() as usize > n
    }
}

/// `office[p]`: the ballot a president holds office in, its quorum and its next free number
/// (`None`: the spec's `NoOffice`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Office {
    pub bal: i16,
    pub qrm: u8,
    pub next: u8,
}

/// A state of the spec: its seven variables.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParliamentSpecState {
    pub last_tried: Vec<i16>,
    pub next_bal: Vec<i16>,
    pub prev_vote: Vec<Vec<Vote>>,
    pub learned: Vec<Vec<Option<u8>>>,
    pub office: Vec<Option<Office>>,
    pub msgs: BTreeSet<Msg>,
    pub ballots: BTreeSet<BallotRecord>,
}

/// A step of the spec, with the witnesses of its existential quantifiers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ParliamentAction {
    TryNewBallot {
        p: u8,
        b: i16,
    },
    /// Receiving `NextBallot(b, n)`.
    SendLastVote {
        q: u8,
        b: i16,
        n: u8,
    },
    TakeOffice {
        p: u8,
        quorum: u8,
    },
    /// Beginning command `d` (`Proposes(p)`: `p` itself, in the spec's own checks).
    BeginNew {
        p: u8,
        d: u8,
    },
    /// The president's own vote in the ballot `record`, begun without it.
    VoteLate {
        p: u8,
        k: u8,
        record: BallotRecord,
    },
    /// Receiving `BeginBallot(b, k, d, q)`.
    CastVote {
        q: u8,
        b: i16,
        k: u8,
        d: u8,
    },
    /// For the ballot `record`.
    Succeed {
        p: u8,
        k: u8,
        record: BallotRecord,
    },
    /// Receiving `Success(k, d)`.
    Learn {
        q: u8,
        k: u8,
        d: u8,
    },
    /// With the late `LastVote(b)` of `q` and what it reported.
    JoinQuorum {
        p: u8,
        q: u8,
        start: u8,
        votes: Vec<Vote>,
    },
}

/// The spec as a stateright model.
#[derive(Clone, Debug)]
pub struct ParliamentSpec {
    pub cfg: ParliamentSpecConfig,
    /// The quorums, as bit sets of priests.
    pub quorums: Vec<u8>,
}

impl ParliamentSpec {
    fn n(&self) -> u8 {
        self.cfg.priests as u8
    }
    fn d(&self) -> u8 {
        self.cfg.decrees as u8
    }

    /// `BallotsOf(p)`.
    fn ballots_of(&self, p: u8) -> impl Iterator<Item = i16> + '_ {
        let owner = if self.cfg.bug == ParliamentSpecBug::NoTiebreak {
            0
        } else {
            p
        };
        (1..=self.cfg.rounds as i16).map(move |r| r * self.n() as i16 + owner as i16)
    }

    fn owner(&self, b: i16) -> u8 {
        (b % self.n() as i16) as u8
    }

    /// `FirstGap(p)`.
    fn first_gap(&self, s: &ParliamentSpecState, p: u8) -> u8 {
        s.learned[p as usize]
            .iter()
            .position(Option::is_none)
            .map_or(self.d(), |n| n as u8)
    }

    /// `ReportOf(p, b, n)`.
    fn report_of(&self, s: &ParliamentSpecState, p: u8, b: i16, n: u8) -> Vec<Vote> {
        (n..self.d())
            .map(|k| match s.learned[p as usize][k as usize] {
                Some(d) => Some((b, d)),
                None => s.prev_vote[p as usize][k as usize],
            })
            .collect()
    }

    /// The `n` of the NextBallot of ballot `b`, which its owner sent when it tried `b`.
    fn asked_from(&self, s: &ParliamentSpecState, b: i16) -> Option<u8> {
        s.msgs.iter().find_map(|m| match m {
            Msg::NextBallot { bal, from } if *bal == b => Some(*from),
            _ => None,
        })
    }

    /// The LastVotes of ballot `b` from the members of `quorum` other than `p`.
    fn last_votes(
        &self,
        s: &ParliamentSpecState,
        b: i16,
        quorum: u8,
        p: u8,
    ) -> Vec<(u8, u8, Vec<Vote>)> {
        s.msgs
            .iter()
            .filter_map(|m| match m {
                Msg::LastVote {
                    bal,
                    from,
                    start,
                    votes,
                } if *bal == b && *from != p && quorum & (1 << from) != 0 => {
                    Some((*from, *start, votes.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn take_office_enabled(&self, s: &ParliamentSpecState, p: u8, quorum: u8) -> bool {
        let b = s.last_tried[p as usize];
        if b == NO_BALLOT
            || s.office[p as usize].is_some_and(|o| o.bal == b)
            || s.next_bal[p as usize] >= b
            || quorum & (1 << p) == 0
        {
            return false;
        }
        let heard = self
            .last_votes(s, b, quorum, p)
            .iter()
            .fold(0u8, |acc, (q, ..)| acc | (1 << q));
        heard | (1 << p) == quorum
    }

    /// The steps of priest `p` enabled in `s` (the spec's `Next`, for one priest), a
    /// president beginning the commands `commands` (`Proposes(p)`).
    pub fn actions_of(
        &self,
        s: &ParliamentSpecState,
        p: u8,
        commands: &[u8],
        actions: &mut Vec<ParliamentAction>,
    ) {
        let d = self.d();
        let pi = p as usize;
        if p < self.cfg.proposers as u8 {
            for b in self.ballots_of(p) {
                if b > s.last_tried[pi] && b > s.next_bal[pi] {
                    actions.push(ParliamentAction::TryNewBallot { p, b });
                }
            }
            for &quorum in &self.quorums {
                if self.take_office_enabled(s, p, quorum) {
                    actions.push(ParliamentAction::TakeOffice { p, quorum });
                }
            }
            let b = s.last_tried[pi];
            if let Some(o) = s.office[pi] {
                if b != NO_BALLOT && o.bal == b && s.next_bal[pi] == b && o.next < d {
                    for &d in commands {
                        actions.push(ParliamentAction::BeginNew { p, d });
                    }
                }
            }
            if let Some(o) = s.office[pi] {
                if b != NO_BALLOT && o.bal == b && s.next_bal[pi] == b {
                    for k in 0..d {
                        let voted = s.prev_vote[pi][k as usize].is_some_and(|(vb, _)| vb == b);
                        if voted || s.learned[pi][k as usize].is_some() {
                            continue;
                        }
                        for r in &s.ballots {
                            if r.pres == p && r.bal == b && r.num == k {
                                actions.push(ParliamentAction::VoteLate { p, k, record: *r });
                            }
                        }
                    }
                }
            }
            for k in 0..d {
                if s.learned[pi][k as usize].is_some() {
                    continue;
                }
                for r in &s.ballots {
                    if r.pres == p
                        && r.bal == b
                        && r.num == k
                        && self.voted_by_quorum(s, r, p)
                        && !s.msgs.contains(&Msg::Success { num: k, dec: r.dec })
                    {
                        actions.push(ParliamentAction::Succeed { p, k, record: *r });
                    }
                }
            }
            if let Some(o) = s.office[pi] {
                if b != NO_BALLOT && o.bal == b && s.next_bal[pi] == b {
                    for m in &s.msgs {
                        if let Msg::LastVote {
                            bal,
                            from: q,
                            start,
                            votes,
                        } = m
                        {
                            if *bal == b && *q != p && o.qrm & (1 << q) == 0 {
                                actions.push(ParliamentAction::JoinQuorum {
                                    p,
                                    q: *q,
                                    start: *start,
                                    votes: votes.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        let q = p;
        let qi = pi;
        for m in &s.msgs {
            match *m {
                Msg::NextBallot { bal, from } if self.owner(bal) != q && bal > s.next_bal[qi] => {
                    actions.push(ParliamentAction::SendLastVote { q, b: bal, n: from });
                }
                Msg::BeginBallot { bal, num, dec, to } if to == q => {
                    let promised = s.next_bal[qi];
                    let votes = if self.cfg.bug == ParliamentSpecBug::StrictVote {
                        bal > promised
                    } else {
                        bal >= promised
                    };
                    let already = s.prev_vote[qi][num as usize].is_some_and(|(vb, _)| vb == bal);
                    if votes && !already {
                        actions.push(ParliamentAction::CastVote {
                            q,
                            b: bal,
                            k: num,
                            d: dec,
                        });
                    }
                }
                Msg::Success { num, dec } if s.learned[qi][num as usize].is_none() => {
                    actions.push(ParliamentAction::Learn { q, k: num, d: dec });
                }
                _ => {}
            }
        }
    }

    fn init(&self) -> ParliamentSpecState {
        let (n, d) = (self.cfg.priests, self.cfg.decrees);
        let mut s = ParliamentSpecState {
            last_tried: vec![NO_BALLOT; n],
            next_bal: vec![NO_BALLOT; n],
            prev_vote: vec![vec![None; d]; n],
            learned: vec![vec![None; d]; n],
            office: vec![None; n],
            msgs: BTreeSet::new(),
            ballots: BTreeSet::new(),
        };
        if self.cfg.genesis {
            s.last_tried[0] = GENESIS_BALLOT;
            s.next_bal = vec![GENESIS_BALLOT; n];
            s.office[0] = Some(Office {
                bal: GENESIS_BALLOT,
                qrm: self.genesis_quorum(),
                next: 0,
            });
        }
        s
    }

    /// `GenesisQuorum`: every priest (every ledger starts having promised ballot 0).
    fn genesis_quorum(&self) -> u8 {
        ((1u16 << self.n()) - 1) as u8
    }
}

/// The latest of a set of votes (`None` if none is a vote).
fn latest(votes: impl Iterator<Item = Vote>) -> Vote {
    votes.flatten().max_by_key(|(b, _)| *b)
}

impl Model for ParliamentSpec {
    type State = ParliamentSpecState;
    type Action = ParliamentAction;

    fn init_states(&self) -> Vec<ParliamentSpecState> {
        vec![self.init()]
    }

    fn actions(&self, s: &ParliamentSpecState, actions: &mut Vec<ParliamentAction>) {
        for p in 0..self.n() {
            self.actions_of(s, p, &[p], actions);
        }
    }

    fn next_state(
        &self,
        s: &ParliamentSpecState,
        action: ParliamentAction,
    ) -> Option<ParliamentSpecState> {
        let mut t = s.clone();
        match action {
            ParliamentAction::TryNewBallot { p, b } => {
                t.last_tried[p as usize] = b;
                t.msgs.insert(Msg::NextBallot {
                    bal: b,
                    from: self.first_gap(s, p),
                });
            }
            ParliamentAction::SendLastVote { q, b, n } => {
                t.next_bal[q as usize] = b;
                t.msgs.insert(Msg::LastVote {
                    bal: b,
                    from: q,
                    start: n,
                    votes: self.report_of(s, q, b, n),
                });
            }
            ParliamentAction::TakeOffice { p, quorum } => {
                let b = s.last_tried[p as usize];
                let n = self.asked_from(s, b)?;
                let mut reports: Vec<(u8, Vec<Vote>)> = self
                    .last_votes(s, b, quorum, p)
                    .into_iter()
                    .map(|(_, start, votes)| (start, votes))
                    .collect();
                // Its own votes (not what it learned: it begins nothing there).
                reports.push((n, s.prev_vote[p as usize][n as usize..].to_vec()));
                // (Every report starts at `n` unless ballot numbers collide: `no-tiebreak`.)
                let latest_at = |k: u8| {
                    latest(reports.iter().map(|(start, votes)| {
                        k.checked_sub(*start)
                            .and_then(|i| votes.get(i as usize).copied())
                            .flatten()
                    }))
                };
                let top = (n..self.d())
                    .rev()
                    .find(|&k| latest_at(k).is_some())
                    .map_or(n as i16 - 1, i16::from);
                let known = s.learned[p as usize]
                    .iter()
                    .rposition(Option::is_some)
                    .map_or(0, |k| k as i16 + 1);
                let overwrite = self.cfg.bug == ParliamentSpecBug::OverwriteReported;
                let begun: Vec<(u8, u8)> = if overwrite {
                    Vec::new()
                } else {
                    (n as i16..=top)
                        .map(|k| k as u8)
                        .filter(|&k| s.learned[p as usize][k as usize].is_none())
                        .map(|k| (k, latest_at(k).map_or(OLIVE, |(_, d)| d)))
                        .collect()
                };
                let next = if overwrite {
                    n
                } else {
                    (n as i16).max(top + 1).max(known) as u8
                };
                t.next_bal[p as usize] = b;
                let me = self.votes(p, quorum);
                for &(k, dec) in &begun {
                    if me != 0 {
                        t.prev_vote[p as usize][k as usize] = Some((b, dec));
                    }
                    t.ballots.insert(BallotRecord {
                        num: k,
                        bal: b,
                        pres: p,
                        dec,
                        qrm: quorum,
                        vot: me,
                    });
                    for q in (0..self.n()).filter(|&q| q != p && quorum & (1 << q) != 0) {
                        t.msgs.insert(Msg::BeginBallot {
                            bal: b,
                            num: k,
                            dec,
                            to: q,
                        });
                    }
                }
                t.office[p as usize] = Some(Office {
                    bal: b,
                    qrm: quorum,
                    next,
                });
            }
            ParliamentAction::BeginNew { p, d } => {
                let b = s.last_tried[p as usize];
                let o = s.office[p as usize]?;
                let k = o.next;
                let me = self.votes(p, o.qrm);
                if me != 0 {
                    t.prev_vote[p as usize][k as usize] = Some((b, d));
                }
                t.office[p as usize] = Some(Office { next: k + 1, ..o });
                t.ballots.insert(BallotRecord {
                    num: k,
                    bal: b,
                    pres: p,
                    dec: d,
                    qrm: o.qrm,
                    vot: me,
                });
                for q in (0..self.n()).filter(|&q| q != p && o.qrm & (1 << q) != 0) {
                    t.msgs.insert(Msg::BeginBallot {
                        bal: b,
                        num: k,
                        dec: d,
                        to: q,
                    });
                }
            }
            ParliamentAction::VoteLate { p, k, record } => {
                t.prev_vote[p as usize][k as usize] = Some((record.bal, record.dec));
                t.ballots.remove(&record);
                t.ballots.insert(BallotRecord {
                    vot: record.vot | (1 << p),
                    ..record
                });
            }
            ParliamentAction::CastVote { q, b, k, d } => {
                t.next_bal[q as usize] = b;
                t.prev_vote[q as usize][k as usize] = Some((b, d));
                t.ballots = s
                    .ballots
                    .iter()
                    .map(|r| {
                        if r.num == k && r.bal == b {
                            BallotRecord {
                                vot: r.vot | (1 << q),
                                ..*r
                            }
                        } else {
                            *r
                        }
                    })
                    .collect();
                t.msgs.insert(Msg::Voted {
                    bal: b,
                    num: k,
                    from: q,
                });
            }
            ParliamentAction::Succeed { k, record, .. } => {
                t.msgs.insert(Msg::Success {
                    num: k,
                    dec: record.dec,
                });
            }
            ParliamentAction::Learn { q, k, d } => {
                t.learned[q as usize][k as usize] = Some(d);
            }
            ParliamentAction::JoinQuorum { p, q, start, votes } => {
                let b = s.last_tried[p as usize];
                let o = s.office[p as usize]?;
                let quorum = o.qrm | (1 << q);
                let first = o.next;
                let reported = |k: u8| {
                    k.checked_sub(start)
                        .and_then(|i| votes.get(i as usize).copied())
                        .flatten()
                };
                let top = (first..self.d())
                    .rev()
                    .find(|&k| reported(k).is_some())
                    .map_or(first as i16 - 1, i16::from);
                for k in (first as i16..=top).map(|k| k as u8) {
                    if s.learned[p as usize][k as usize].is_some() {
                        continue;
                    }
                    let dec = reported(k).map_or(OLIVE, |(_, d)| d);
                    let me = self.votes(p, quorum);
                    if me != 0 {
                        t.prev_vote[p as usize][k as usize] = Some((b, dec));
                    }
                    t.ballots.insert(BallotRecord {
                        num: k,
                        bal: b,
                        pres: p,
                        dec,
                        qrm: quorum,
                        vot: me,
                    });
                    for r in (0..self.n()).filter(|&r| r != p && quorum & (1 << r) != 0) {
                        t.msgs.insert(Msg::BeginBallot {
                            bal: b,
                            num: k,
                            dec,
                            to: r,
                        });
                    }
                }
                t.office[p as usize] = Some(Office {
                    bal: b,
                    qrm: quorum,
                    next: (top + 1) as u8,
                });
            }
        }
        Some(t)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("b1-unique-ballots", |_, s: &ParliamentSpecState| b1(s)),
            Property::always("b2-quorums-intersect", |_, s: &ParliamentSpecState| b2(s)),
            Property::always("b3-respects-earlier-votes", |_, s: &ParliamentSpecState| {
                b3(s)
            }),
            Property::always("agreement", |_, s: &ParliamentSpecState| agreement(s)),
            Property::always("learned-implies-chosen", |_, s: &ParliamentSpecState| {
                learned_implies_chosen(s)
            }),
            Property::always("logs-are-prefixes", |_, s: &ParliamentSpecState| {
                logs_are_prefixes(s)
            }),
            Property::sometimes("decree-chosen", |_, s: &ParliamentSpecState| {
                s.ballots.iter().any(|b| b.succeeded(s.last_tried.len()))
            }),
            Property::sometimes("olive-day-decree-chosen", |_, s: &ParliamentSpecState| {
                s.ballots
                    .iter()
                    .any(|b| b.succeeded(s.last_tried.len()) && b.dec == OLIVE)
            }),
        ]
    }
}

impl ParliamentSpec {
    /// `Votes(p, Q)`: president `p` votes in a ballot of quorum `Q` as it begins it when the
    /// others of `Q` are no quorum without it. Returns `p`'s bit if so, 0 otherwise.
    fn votes(&self, p: u8, quorum: u8) -> u8 {
        let others = quorum & !(1 << p);
        if 2 * others.count_ones() as usize > self.n() as usize {
            0
        } else {
            quorum & (1 << p)
        }
    }

    /// Whether the members of `r`'s quorum that sent `Voted` for it, with its president
    /// `p` if it voted, are a quorum.
    fn voted_by_quorum(&self, s: &ParliamentSpecState, r: &BallotRecord, p: u8) -> bool {
        if self.cfg.bug == ParliamentSpecBug::PrematureSuccess {
            return true;
        }
        let voted = (0..self.n())
            .filter(|&q| q != p && r.qrm & (1 << q) != 0)
            .filter(|&q| {
                s.msgs.contains(&Msg::Voted {
                    bal: r.bal,
                    num: r.num,
                    from: q,
                })
            })
            .fold(r.vot & (1 << p), |v, q| v | (1 << q));
        // A majority (the `minority-quorum` bug takes smaller quorums of promises only).
        2 * voted.count_ones() as usize > self.n() as usize
    }
}

/// `B1`: the ballots of one decree number have unique ballot numbers.
pub fn b1(s: &ParliamentSpecState) -> bool {
    s.ballots.iter().all(|b| {
        s.ballots
            .iter()
            .all(|c| !(b.num == c.num && b.bal == c.bal) || b == c)
    })
}

/// `B2`: the quorums of any two ballots of one number share a priest.
pub fn b2(s: &ParliamentSpecState) -> bool {
    s.ballots.iter().all(|b| {
        s.ballots
            .iter()
            .all(|c| b.num != c.num || b.qrm & c.qrm != 0)
    })
}

/// `B3`, per decree number.
pub fn b3(s: &ParliamentSpecState) -> bool {
    s.ballots.iter().all(|b| {
        let earlier: Vec<&BallotRecord> = s
            .ballots
            .iter()
            .filter(|c| c.num == b.num && c.bal < b.bal && c.vot & b.qrm != 0)
            .collect();
        let Some(max) = earlier.iter().map(|c| c.bal).max() else {
            return true;
        };
        earlier
            .iter()
            .filter(|c| c.bal == max)
            .all(|c| c.dec == b.dec)
    })
}

/// `Agreement`: two successful ballots of one number passed the same decree.
pub fn agreement(s: &ParliamentSpecState) -> bool {
    let n = s.last_tried.len();
    s.ballots.iter().filter(|b| b.succeeded(n)).all(|b| {
        s.ballots
            .iter()
            .filter(|c| c.succeeded(n) && c.num == b.num)
            .all(|c| c.dec == b.dec)
    })
}

/// `LearnedImpliesChosen`.
pub fn learned_implies_chosen(s: &ParliamentSpecState) -> bool {
    let n = s.last_tried.len();
    s.learned.iter().all(|ledger| {
        ledger.iter().enumerate().all(|(k, d)| {
            d.is_none_or(|d| {
                s.ballots
                    .iter()
                    .any(|b| b.num as usize == k && b.succeeded(n) && b.dec == d)
            })
        })
    })
}

/// `LogsArePrefixes`: two ledgers that both know a number know the same decree there.
pub fn logs_are_prefixes(s: &ParliamentSpecState) -> bool {
    s.learned.iter().all(|a| {
        s.learned.iter().all(|b| {
            a.iter()
                .zip(b)
                .all(|(x, y)| x.is_none() || y.is_none() || x == y)
        })
    })
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::NextBallot { bal, from } => write!(f, "NextBallot({bal}, {from})"),
            Msg::LastVote {
                bal,
                from,
                start,
                votes,
            } => {
                write!(f, "LastVote({bal}) from {from}: ")?;
                let shown: Vec<String> = votes
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        None => format!("{}: none", *start as usize + i),
                        Some((b, d)) => format!("{}: {} in {b}", *start as usize + i, decree(*d)),
                    })
                    .collect();
                write!(f, "[{}]", shown.join(", "))
            }
            Msg::BeginBallot { bal, num, dec, to } => {
                write!(f, "BeginBallot({bal}, {num}, {}) to {to}", decree(*dec))
            }
            Msg::Voted { bal, num, from } => write!(f, "Voted({bal}, {num}) from {from}"),
            Msg::Success { num, dec } => write!(f, "Success({num}, {})", decree(*dec)),
        }
    }
}

fn decree(d: u8) -> String {
    if d == OLIVE {
        "olive-day".into()
    } else {
        format!("command of {d}")
    }
}

fn priests(set: u8) -> String {
    let v: Vec<String> = (0..8)
        .filter(|i| set & (1 << i) != 0)
        .map(|i| i.to_string())
        .collect();
    format!("{{{}}}", v.join(", "))
}

impl ParliamentSpec {
    /// The ballots, one per line part: number, ballot, president, decree, quorum, voters.
    pub fn describe_ballots(&self, s: &ParliamentSpecState) -> String {
        let v: Vec<String> = s
            .ballots
            .iter()
            .map(|b| {
                format!(
                    "#{} ballot {} of {}: {}, quorum {}, voted {}",
                    b.num,
                    b.bal,
                    b.pres,
                    decree(b.dec),
                    priests(b.qrm),
                    priests(b.vot)
                )
            })
            .collect();
        v.join("; ")
    }
}

impl Narrate for ParliamentSpec {
    fn narrate(&self, path: &Path<ParliamentSpecState, ParliamentAction>) -> Vec<String> {
        let mut steps: Vec<String> = path
            .clone()
            .into_vec()
            .into_iter()
            .filter_map(|(s, action)| {
                let action = action?;
                let t = self.next_state(&s, action.clone())?;
                let new: Vec<String> = t.msgs.difference(&s.msgs).map(|m| m.to_string()).collect();
                Some(match action {
                    ParliamentAction::TryNewBallot { p, b } => {
                        format!(
                            "TryNewBallot: priest {p} tries ballot {b}, sends {}",
                            new.join(", ")
                        )
                    }
                    ParliamentAction::SendLastVote { q, b, .. } => {
                        format!(
                            "SendLastVote: priest {q} promises {b}, sends {}",
                            new.join(", ")
                        )
                    }
                    ParliamentAction::TakeOffice { p, quorum } => format!(
                        "TakeOffice: priest {p} takes office with quorum {}, sends [{}]",
                        priests(quorum),
                        new.join(", ")
                    ),
                    ParliamentAction::BeginNew { p, .. } => {
                        format!("BeginNew: priest {p} sends [{}]", new.join(", "))
                    }
                    ParliamentAction::JoinQuorum { p, q, .. } => format!(
                        "JoinQuorum: priest {q}'s late LastVote joins it to priest {p}'s quorum, \
                         sends [{}]",
                        new.join(", ")
                    ),
                    ParliamentAction::CastVote { q, b, k, .. } => {
                        format!("CastVote: priest {q} votes in ballot {b} at number {k}")
                    }
                    ParliamentAction::VoteLate { p, k, record } => format!(
                        "VoteLate: priest {p} votes in its own ballot {} at number {k}",
                        record.bal
                    ),
                    ParliamentAction::Succeed { p, k, record } => format!(
                        "Succeed: priest {p} passes {} as decree {k}, sends Success",
                        decree(record.dec)
                    ),
                    ParliamentAction::Learn { q, k, d } => {
                        format!("Learn: priest {q} writes {} as decree {k}", decree(d))
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

    fn describe(&self, s: &ParliamentSpecState) -> Option<String> {
        Some(self.describe_ballots(s))
    }
}
