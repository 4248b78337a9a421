//! Refinement: every step of the Parliament actor model is a sequence of steps of
//! `tla/Parliament.tla`, by the priest that took it, or a stutter.
//!
//! # The refinement mapping
//!
//! A state of the actor model (`models/parliament.rs`: the priests' states and disks, the
//! network, the ghost history) is mapped to a state of the spec (`models/parliament_spec.rs`,
//! started as deployed: `--genesis`):
//!
//! | spec variable | from the actor model |
//! |---|---|
//! | `lastTried[p]`, `nextBal[p]` | priest `p`'s *saved* ledger (its disk): `last_tried`, `next_bal` |
//! | `prevVote[p][n]` | the saved ledger's vote at number `n` |
//! | `learned[p][n]` | the saved ledger's decree at number `n` |
//! | `office[p]` | while `p` presides (and is up): its ballot (`lastTried` in memory), quorum and next free number; otherwise the office it held last (a history variable of the mapping: the spec's office never ends, and a president that left office just begins no more ballots in it, which the spec allows) |
//! | `msgs` | every envelope in the network of the five kinds of the spec: `NextBallot(b, n)`; `LastVote(b, n, votes)` from `q`, its votes spread over the numbers `n..D`; `BeginBallot(b, k, d)` to `q`; `Voted(b, k)` from `q`; `Success(k, d)`. The rest (client requests and replies, `Catchup`, `Confirm`, `Heartbeat`, ...) is not mapped |
//! | `ballots` | the ghost ballots (number, ballot, president, decree, quorum), their voters the priests whose disks held the vote |
//!
//! Ballots `(round, priest)` are the spec's numbers `round * N + priest` (the genesis ballot is
//! 0). Decrees are the spec's by identity: within the check of one step, each distinct decree
//! (a batch of client commands) gets a number, the olive-day decree is `Olive`, and a
//! president may begin any of them (`Proposes(p)` is every decree).
//!
//! Only what a priest *saved* counts, so a priest that sends a message before saving the
//! ledger change it depends on takes a step the spec does not have, and crashes and restarts
//! (which keep the saved ledger) are stutters. The spec's `msgs` is every message ever sent,
//! which is what a *duplicating* network holds, so the check runs on the duplicating, lossless
//! network (a lost message would leave `msgs`; loss is covered by the spec itself, where no
//! message has to be received).
//!
//! # One actor step, several spec steps
//!
//! A handler of the actor can do the work of several spec actions of its priest: take office
//! and begin the commands it holds (`TakeOffice`, then `BeginNew` for each); pass a decree and
//! begin the next (`Succeed`, `BeginNew`); save, with a vote, decrees it passed as president
//! and kept in memory until then (`Learn` of its own `Success`, then `CastVote`). So each step
//! from `s` to `t` of priest `p` is checked by a breadth-first search of the spec actions of
//! `p` from the image of `s` for the image of `t`, pruned to states that do not go beyond `t`
//! (more messages, ballots or decrees than `t` has) and bounded by [`MAX_SPEC_STEPS`]. A step
//! whose image has no such path sets `broken` and violates the property
//! `refines-parliament-spec`; its counterexample ends with the spec variables that changed.
//!
//! Decrees are numbered afresh in each step's check, and a president may begin any decree
//! (`Proposes(p)` is the set of decrees in the target's ballots): this is sound because the
//! spec treats every command alike, comparing decrees only for equality, and only the
//! olive-day decree is special (it keeps its own number).
//!
//! Running out of the bound of [`MAX_SPEC_STEPS`] is reported as a step with no path: a
//! false alarm at worst, never a step accepted.
//!
//! Seeded bugs of the actor that break the refinement with no crash at all:
//! `forget-promise` (a LastVote leaves before `nextBal` is saved; in the same configuration
//! without crashes, the actor model's safety properties all hold) and `forget-vote` (a Voted
//! leaves before the vote is saved; the safety properties see it only once a president
//! passes a decree on that unsaved vote, `learned-implies-chosen`).

use crate::ballot::{Ballot, Priests};
use crate::check::Narrate;
use crate::models::parliament::{
    narrate_action, voters, NodeState, ParliamentConfig, ParliamentModel, ParliamentState,
};
use crate::models::parliament_spec::{
    BallotRecord, Msg as SpecMsg, Office, ParliamentSpec, ParliamentSpecConfig,
    ParliamentSpecState, Vote as SpecVote, OLIVE,
};
use crate::parliament::{Decree, Ledger, Msg, Status, Vote};
use serde::Serialize;
use stateright::actor::{ActorModelAction, Id};
use stateright::{Expectation, Model, Path, Property};
use std::collections::{BTreeSet, HashSet};

/// The longest sequence of spec steps one actor step may stand for.
pub const MAX_SPEC_STEPS: usize = 12;

/// How the refinement check is built: the Parliament model's constants, on a duplicating,
/// lossless network.
#[derive(Clone, Debug, Serialize)]
pub struct ParliamentRefinementConfig {
    pub priests: usize,
    pub proposers: usize,
    pub rounds: u32,
    pub decrees: u32,
    pub clients: usize,
    pub ops: usize,
    pub window: usize,
    pub batch: usize,
    pub crashes: usize,
    pub heartbeats: bool,
    pub bug: crate::parliament::Bug,
}

/// The check's configuration as command-line flags (`parliament check
/// parliament-refinement ...`): the one place its defaults are declared.
#[derive(clap::Args, Clone, Debug)]
pub struct ParliamentRefinementArgs {
    /// Number of priests (2 to 4).
    #[arg(long, default_value_t = 3)]
    pub priests: usize,
    /// Number of priests that may run for president (priest 0 starts as president).
    #[arg(long, default_value_t = 2)]
    pub proposers: usize,
    /// Highest ballot round a priest tries.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Decree numbers 0..N may be used (1 to 4: the spec's D).
    #[arg(long, default_value_t = 2)]
    pub decrees: u32,
    /// Number of clients.
    #[arg(long, default_value_t = 2)]
    pub clients: usize,
    /// Commands per client.
    #[arg(long, default_value_t = 1)]
    pub ops: usize,
    /// Decrees a president keeps in flight.
    #[arg(long, default_value_t = 2)]
    pub window: usize,
    /// Client commands one decree carries at most.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// At most this many priests are crashed at once (they restart from their ledger).
    #[arg(long, default_value_t = 0)]
    pub crashes: usize,
    /// Presidents send heartbeats and lagging priests catch up.
    #[arg(long)]
    pub heartbeats: bool,
    /// Check a seeded bug of the priest (see `parliament bugs`).
    #[arg(long, default_value = "none")]
    pub bug: crate::parliament::Bug,
}

impl ParliamentRefinementArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> ParliamentRefinementConfig {
        ParliamentRefinementConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            decrees: self.decrees,
            clients: self.clients,
            ops: self.ops,
            window: self.window,
            batch: self.batch,
            crashes: self.crashes,
            heartbeats: self.heartbeats,
            bug: self.bug,
        }
    }
}

impl ParliamentRefinementConfig {
    /// The configuration of `parliament check parliament-refinement FLAGS`.
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<ParliamentRefinementArgs>(flags).map(|a| a.config())
    }

    /// The actor model's configuration.
    pub fn actor(&self) -> Result<ParliamentConfig, String> {
        let flags: Vec<String> = [
            ("--priests", self.priests.to_string()),
            ("--proposers", self.proposers.to_string()),
            ("--rounds", self.rounds.to_string()),
            ("--decrees", self.decrees.to_string()),
            ("--clients", self.clients.to_string()),
            ("--ops", self.ops.to_string()),
            ("--window", self.window.to_string()),
            ("--batch", self.batch.to_string()),
            ("--crashes", self.crashes.to_string()),
            ("--network", "duplicating".to_string()),
            (
                "--bug",
                serde_json::to_value(self.bug)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_else(|| "none".into()),
            ),
        ]
        .into_iter()
        .flat_map(|(f, v)| [f.to_string(), v])
        .chain(self.heartbeats.then(|| "--heartbeats".to_string()))
        .collect();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        ParliamentConfig::from_flags(&flags)
    }

    /// The spec's constants.
    pub fn spec(&self) -> ParliamentSpecConfig {
        ParliamentSpecConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds as usize,
            decrees: self.decrees as usize,
            genesis: true,
            bug: Default::default(),
        }
    }

    /// Checks the configuration against both the actor model's and the spec's limits.
    pub fn validate(&self) -> Result<(), String> {
        self.actor()?.validate()?;
        self.spec().validate()
    }

    /// The model. Panics if [`Self::validate`] fails.
    pub fn into_model(self) -> ParliamentRefinementModel {
        if let Err(e) = self.validate() {
            panic!("invalid parliament-refinement configuration: {e}");
        }
        let actor = self.actor().expect("validated").into_model();
        let actor_properties = actor
            .properties()
            .into_iter()
            .filter(|p| !matches!(p.expectation, Expectation::Eventually))
            .collect::<Vec<_>>();
        assert!(
            actor_properties.len() <= super::LIFTABLE,
            "too many properties"
        );
        ParliamentRefinementModel {
            actor,
            spec: self.spec().into_model(),
            actor_properties,
        }
    }
}

impl Default for ParliamentRefinementConfig {
    fn default() -> Self {
        ParliamentRefinementConfig::from_flags(&[]).expect("the defaults parse")
    }
}

/// The Parliament actor model, with each step checked against the spec.
#[derive(Clone)]
pub struct ParliamentRefinementModel {
    pub actor: ParliamentModel,
    pub spec: ParliamentSpec,
    actor_properties: Vec<Property<ParliamentModel>>,
}

/// A state of the actor model, the offices of the mapping (its history variable), and
/// whether the step into it refined no sequence of spec steps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RefinedState {
    pub actor: ParliamentState,
    pub office: Vec<Option<Office>>,
    pub broken: bool,
}

/// The spec's numbers for the decrees met in the check of one step (shared by the images of
/// the states before and after it).
#[derive(Clone, Default)]
pub struct Decrees(Vec<Decree>);

impl Decrees {
    /// The spec's decree for `d`.
    pub fn of(&mut self, d: &Decree) -> Result<u8, String> {
        if *d == Decree::OliveDay {
            return Ok(OLIVE);
        }
        if let Some(i) = self.0.iter().position(|e| e == d) {
            return Ok(i as u8);
        }
        if self.0.len() >= OLIVE as usize {
            return Err("more decrees than the spec's numbers".into());
        }
        self.0.push(d.clone());
        Ok(self.0.len() as u8 - 1)
    }

    /// The decree the spec's `i` stands for.
    pub fn show(&self, i: u8) -> String {
        match self.0.get(i as usize) {
            _ if i == OLIVE => "olive-day".into(),
            Some(d) => d.to_string(),
            None => format!("decree {i}"),
        }
    }
}

impl ParliamentRefinementModel {
    fn n(&self) -> usize {
        self.spec.cfg.priests
    }

    /// The spec's number of ballot `b`.
    pub fn slot(&self, b: Ballot) -> Result<i16, String> {
        let genesis = b == crate::parliament::GENESIS;
        let ok = genesis
            || ((1..=self.spec.cfg.rounds as u32).contains(&b.round)
                && (b.priest as usize) < self.spec.cfg.proposers);
        if !ok {
            return Err(format!("ballot {b} is not a ballot number of the spec"));
        }
        Ok(b.round as i16 * self.n() as i16 + b.priest as i16)
    }

    fn number(&self, n: u32) -> Result<u8, String> {
        (n < self.spec.cfg.decrees as u32)
            .then_some(n as u8)
            .ok_or_else(|| format!("decree number {n} is not a number of the spec"))
    }

    fn vote(&self, v: &Vote, decrees: &mut Decrees) -> Result<(i16, u8), String> {
        Ok((self.slot(v.ballot)?, decrees.of(&v.decree)?))
    }

    fn quorum(&self, q: Priests) -> u8 {
        q.iter().fold(0u8, |acc, p| acc | (1 << p))
    }

    /// The saved ledger of priest `p` (`None` before its first save: the genesis ledger).
    fn saved<'a>(&self, s: &'a ParliamentState, p: usize) -> Option<&'a Ledger> {
        match (&s.actor_storages[p], &*s.actor_states[p]) {
            (Some(d), _) => d.ledger.as_ref(),
            (None, NodeState::Priest(node)) => node.disk.ledger.as_ref(),
            (None, NodeState::Client(_)) => None,
        }
    }

    /// `office` after `s`: each priest presiding (and up) holds the office it presides in;
    /// the others keep the one they held last (`before`).
    pub fn offices(
        &self,
        s: &ParliamentState,
        before: &[Option<Office>],
    ) -> Result<Vec<Option<Office>>, String> {
        (0..self.n())
            .map(|p| {
                let NodeState::Priest(node) = &*s.actor_states[p] else {
                    return Ok(before[p]);
                };
                match &node.state.status {
                    Status::Presiding { quorum, next, .. } if !s.crashed[p] => {
                        let b = node
                            .state
                            .ledger
                            .last_tried
                            .ok_or("a president with no lastTried")?;
                        let next = u8::try_from(*next)
                            .ok()
                            .filter(|n| *n as usize <= self.spec.cfg.decrees)
                            .ok_or_else(|| format!("next free number {next} beyond the spec's"))?;
                        Ok(Some(Office {
                            bal: self.slot(b)?,
                            qrm: self.quorum(*quorum),
                            next,
                        }))
                    }
                    _ => Ok(before[p]),
                }
            })
            .collect()
    }

    /// The refinement mapping: the spec state an actor-model state (with the mapping's
    /// offices) stands for.
    pub fn abstraction(
        &self,
        s: &ParliamentState,
        office: &[Option<Office>],
        decrees: &mut Decrees,
    ) -> Result<ParliamentSpecState, String> {
        let (n, d) = (self.n(), self.spec.cfg.decrees);
        let mut a = ParliamentSpecState {
            last_tried: vec![-1; n],
            next_bal: vec![-1; n],
            prev_vote: vec![vec![None; d]; n],
            learned: vec![vec![None; d]; n],
            office: office.to_vec(),
            msgs: BTreeSet::new(),
            ballots: BTreeSet::new(),
        };
        for p in 0..n {
            // A founder with no ledger yet starts from the genesis ledger.
            let genesis = Ledger::genesis(p as crate::ballot::PriestIx);
            let l = self.saved(s, p).unwrap_or(&genesis);
            if l.snapshot.is_some() || l.rejoin.is_some() {
                return Err(format!(
                    "priest {p}'s ledger holds a snapshot or a rejoin: not in the spec"
                ));
            }
            a.last_tried[p] = l.last_tried.map_or(Ok(-1), |b| self.slot(b))?;
            a.next_bal[p] = l.next_bal.map_or(Ok(-1), |b| self.slot(b))?;
            for (k, v) in &l.votes {
                a.prev_vote[p][self.number(*k)? as usize] = Some(self.vote(v, decrees)?);
            }
            for (k, dec) in &l.learned {
                a.learned[p][self.number(*k)? as usize] = Some(decrees.of(dec)?);
            }
        }
        for env in s.network.iter_all() {
            let (src, dst) = (usize::from(env.src), usize::from(env.dst));
            if src >= n || dst >= n {
                continue;
            }
            let m = match env.msg {
                Msg::NextBallot { ballot, from, .. } => SpecMsg::NextBallot {
                    bal: self.slot(*ballot)?,
                    from: self.number(*from).or_else(|_| {
                        (*from as usize == d)
                            .then_some(d as u8)
                            .ok_or("NextBallot from beyond the spec's numbers")
                    })?,
                },
                Msg::LastVote {
                    ballot,
                    from,
                    base,
                    votes,
                    ..
                } => {
                    if *base != 0 {
                        return Err(format!("LastVote from priest {src} reports a snapshot"));
                    }
                    let start = (*from as usize).min(d);
                    let mut dense: Vec<SpecVote> = vec![None; d - start];
                    for (k, v) in votes {
                        let k = self.number(*k)? as usize;
                        let i = k.checked_sub(start).ok_or_else(|| {
                            format!("LastVote from priest {src} reports number {k} below {from}")
                        })?;
                        dense[i] = Some(self.vote(v, decrees)?);
                    }
                    SpecMsg::LastVote {
                        bal: self.slot(*ballot)?,
                        from: src as u8,
                        start: start as u8,
                        votes: dense,
                    }
                }
                Msg::BeginBallot {
                    ballot,
                    number,
                    decree,
                    ..
                } => SpecMsg::BeginBallot {
                    bal: self.slot(*ballot)?,
                    num: self.number(*number)?,
                    dec: decrees.of(decree)?,
                    to: dst as u8,
                },
                Msg::Voted { ballot, number, .. } => SpecMsg::Voted {
                    bal: self.slot(*ballot)?,
                    num: self.number(*number)?,
                    from: src as u8,
                },
                Msg::Success { number, decree } => SpecMsg::Success {
                    num: self.number(*number)?,
                    dec: decrees.of(decree)?,
                },
                _ => continue,
            };
            a.msgs.insert(m);
        }
        for g in &s.history.ballots {
            a.ballots.insert(BallotRecord {
                num: self.number(g.number)?,
                bal: self.slot(g.bal)?,
                pres: g.president,
                dec: decrees.of(&g.dec)?,
                qrm: self.quorum(g.qrm),
                vot: self.quorum(voters(s, g, false)),
            });
        }
        Ok(a)
    }

    /// Whether spec state `t` goes nowhere `to` does not: its messages, ballots (with their
    /// voters), decrees and ballot numbers are all within `to`'s. Spec steps only add to
    /// these, so a path to `to` passes only through such states.
    fn within(t: &ParliamentSpecState, to: &ParliamentSpecState) -> bool {
        t.msgs.is_subset(&to.msgs)
            && t.ballots.iter().all(|r| {
                to.ballots
                    .iter()
                    .any(|u| BallotRecord { vot: u.vot, ..*r } == *u && r.vot & !u.vot == 0)
            })
            && t.learned
                .iter()
                .zip(&to.learned)
                .all(|(a, b)| a.iter().zip(b).all(|(x, y)| x.is_none() || x == y))
            && t.last_tried.iter().zip(&to.last_tried).all(|(x, y)| x <= y)
            && t.next_bal.iter().zip(&to.next_bal).all(|(x, y)| x <= y)
    }

    /// Whether some sequence of at most [`MAX_SPEC_STEPS`] spec steps of priest `p` (none for
    /// a client's step) leads from `from` to `to`.
    pub fn connects(
        &self,
        from: &ParliamentSpecState,
        to: &ParliamentSpecState,
        p: Option<u8>,
    ) -> bool {
        if from == to {
            return true;
        }
        let Some(p) = p else { return false };
        let commands: Vec<u8> = to
            .ballots
            .iter()
            .map(|r| r.dec)
            .filter(|d| *d != OLIVE)
            .collect::<BTreeSet<u8>>()
            .into_iter()
            .collect();
        let mut seen: HashSet<ParliamentSpecState> = HashSet::new();
        let mut frontier = vec![from.clone()];
        let mut actions = Vec::new();
        for _ in 0..MAX_SPEC_STEPS {
            let mut next = Vec::new();
            for s in &frontier {
                actions.clear();
                self.spec.actions_of(s, p, &commands, &mut actions);
                for a in actions.drain(..) {
                    let Some(t) = self.spec.next_state(s, a) else {
                        continue;
                    };
                    if t == *to {
                        return true;
                    }
                    if Self::within(&t, to) && seen.insert(t.clone()) {
                        next.push(t);
                    }
                }
            }
            if next.is_empty() {
                return false;
            }
            frontier = next;
        }
        false
    }

    /// The priest whose step `action` is (`None` for a client's).
    fn actor_of(&self, action: &<ParliamentModel as Model>::Action) -> Option<u8> {
        let id: Id = match action {
            ActorModelAction::Deliver { dst, .. } => *dst,
            ActorModelAction::Drop(env) => env.dst,
            ActorModelAction::Timeout(id, _)
            | ActorModelAction::Crash(id)
            | ActorModelAction::Recover(id) => *id,
            ActorModelAction::SelectRandom { actor, .. } => *actor,
        };
        let i = usize::from(id);
        (i < self.n()).then_some(i as u8)
    }

    /// The image of `s` and the decrees it numbered, from this thread's last one when it is
    /// the image of the same state.
    fn cached_abstraction(
        &self,
        s: &RefinedState,
    ) -> Result<(ParliamentSpecState, Decrees), String> {
        type Last = Option<(RefinedState, [usize; 4], ParliamentSpecState, Decrees)>;
        thread_local! {
            static LAST: std::cell::RefCell<Last> = const { std::cell::RefCell::new(None) };
        }
        // Keyed by the state itself and the spec's constants, compared whole: a hash
        // collision must not hand back another state's image.
        let c = &self.spec.cfg;
        let constants = [c.priests, c.proposers, c.rounds, c.decrees];
        if let Some(hit) = LAST.with_borrow(|last| {
            last.as_ref()
                .filter(|(k, cs, ..)| k == s && *cs == constants)
                .map(|(_, _, a, d)| (a.clone(), d.clone()))
        }) {
            return Ok(hit);
        }
        let mut decrees = Decrees::default();
        let a = self.abstraction(&s.actor, &s.office, &mut decrees)?;
        LAST.set(Some((s.clone(), constants, a.clone(), decrees.clone())));
        Ok((a, decrees))
    }

    /// Whether the step from `s` to `t` (by `action`) maps to spec steps of its priest or a
    /// stutter; the error says which spec variables changed.
    pub fn refines(
        &self,
        s: &RefinedState,
        action: &<ParliamentModel as Model>::Action,
        t: &RefinedState,
    ) -> Result<(), String> {
        // The checker computes every successor of a state in a row: the image of the state
        // before is computed once for them all.
        let (from, mut decrees) = self.cached_abstraction(s)?;
        let to = self.abstraction(&t.actor, &t.office, &mut decrees)?;
        if self.connects(&from, &to, self.actor_of(action)) {
            Ok(())
        } else {
            Err(self.describe_change(&from, &to, &decrees))
        }
    }

    /// The spec variables that differ between two spec states.
    fn describe_change(
        &self,
        a: &ParliamentSpecState,
        b: &ParliamentSpecState,
        decrees: &Decrees,
    ) -> String {
        let mut parts = Vec::new();
        let show = |v: &SpecVote| match v {
            None => "none".to_string(),
            Some((bal, d)) => format!("{} in {bal}", decrees.show(*d)),
        };
        for p in 0..self.n() {
            if a.last_tried[p] != b.last_tried[p] {
                parts.push(format!(
                    "lastTried[{p}]: {} -> {}",
                    a.last_tried[p], b.last_tried[p]
                ));
            }
            if a.next_bal[p] != b.next_bal[p] {
                parts.push(format!(
                    "nextBal[{p}]: {} -> {}",
                    a.next_bal[p], b.next_bal[p]
                ));
            }
            for k in 0..self.spec.cfg.decrees {
                if a.prev_vote[p][k] != b.prev_vote[p][k] {
                    parts.push(format!(
                        "prevVote[{p}][{k}]: {} -> {}",
                        show(&a.prev_vote[p][k]),
                        show(&b.prev_vote[p][k])
                    ));
                }
                if a.learned[p][k] != b.learned[p][k] {
                    let l = |x: Option<u8>| x.map_or("none".into(), |d| decrees.show(d));
                    parts.push(format!(
                        "learned[{p}][{k}]: {} -> {}",
                        l(a.learned[p][k]),
                        l(b.learned[p][k])
                    ));
                }
            }
            if a.office[p] != b.office[p] {
                parts.push(format!(
                    "office[{p}]: {:?} -> {:?}",
                    a.office[p], b.office[p]
                ));
            }
        }
        for m in b.msgs.difference(&a.msgs) {
            parts.push(format!("msgs gains {m}"));
        }
        for m in a.msgs.difference(&b.msgs) {
            parts.push(format!("msgs loses {m}"));
        }
        for r in b.ballots.difference(&a.ballots) {
            parts.push(format!(
                "ballots gains #{} ballot {} of {}: {}, quorum {:b}, voted {:b}",
                r.num,
                r.bal,
                r.pres,
                decrees.show(r.dec),
                r.qrm,
                r.vot
            ));
        }
        for r in a.ballots.difference(&b.ballots) {
            parts.push(format!(
                "ballots loses #{} ballot {} of {}, voted {:b}",
                r.num, r.bal, r.pres, r.vot
            ));
        }
        parts.join("; ")
    }
}

impl super::Wraps for ParliamentRefinementModel {
    type Inner = ParliamentModel;
    fn inner(&self) -> &ParliamentModel {
        &self.actor
    }
    fn inner_state(s: &RefinedState) -> &<ParliamentModel as Model>::State {
        &s.actor
    }
    fn inner_properties(&self) -> &[Property<ParliamentModel>] {
        &self.actor_properties
    }
}

impl Model for ParliamentRefinementModel {
    type State = RefinedState;
    type Action = <ParliamentModel as Model>::Action;

    fn init_states(&self) -> Vec<RefinedState> {
        let none = vec![None; self.n()];
        self.actor
            .init_states()
            .into_iter()
            .map(|actor| {
                let office = self.offices(&actor, &none).unwrap_or(none.clone());
                let broken = self
                    .abstraction(&actor, &office, &mut Decrees::default())
                    .map_or(true, |a| a != self.spec.init_states()[0]);
                RefinedState {
                    actor,
                    office,
                    broken,
                }
            })
            .collect()
    }

    fn actions(&self, s: &RefinedState, actions: &mut Vec<Self::Action>) {
        if !s.broken {
            self.actor.actions(&s.actor, actions);
        }
    }

    fn next_state(&self, s: &RefinedState, action: Self::Action) -> Option<RefinedState> {
        let actor = self.actor.next_state(&s.actor, action.clone())?;
        let office = self.offices(&actor, &s.office);
        let unmapped = office.is_err();
        let mut t = RefinedState {
            office: office.unwrap_or_else(|_| s.office.clone()),
            actor,
            broken: false,
        };
        t.broken = unmapped || self.refines(s, &action, &t).is_err();
        Some(t)
    }

    fn within_boundary(&self, s: &RefinedState) -> bool {
        Model::within_boundary(&self.actor, &s.actor)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut props = vec![Property::always(
            "refines-parliament-spec",
            |_: &ParliamentRefinementModel, s: &RefinedState| !s.broken,
        )];
        props.extend(super::lifted_properties(self));
        props
    }
}

impl Narrate for ParliamentRefinementModel {
    fn narrate(&self, path: &Path<RefinedState, Self::Action>) -> Vec<String> {
        let states = path.clone().into_vec();
        let mut steps: Vec<String> = states
            .iter()
            .filter_map(|(_, a)| a.clone().map(|a| narrate_action(&self.actor.cfg, a)))
            .collect();
        let last = path.last_state();
        if last.broken {
            let why = match states.len() {
                0 | 1 => {
                    let mut decrees = Decrees::default();
                    match self.abstraction(&last.actor, &last.office, &mut decrees) {
                        Err(e) => e,
                        Ok(a) => format!(
                            "the initial state is not the spec's: {}",
                            self.describe_change(&self.spec.init_states()[0], &a, &decrees)
                        ),
                    }
                }
                k => {
                    let (before, action) = &states[k - 2];
                    let action = action.clone().expect("a step before the last state");
                    match self.refines(before, &action, last) {
                        Err(e) => e,
                        Ok(()) => match self.offices(&last.actor, &before.office) {
                            Err(e) => e,
                            Ok(_) => "refines (unexpected)".into(),
                        },
                    }
                }
            };
            steps.push(format!(
                "this last step is no sequence of steps of parliament-spec: {why}"
            ));
        }
        steps
    }

    fn stop_flag(&self) -> Option<crate::check::StopFlag> {
        Some(self.actor.cfg.stop.clone())
    }

    fn not_checked(&self) -> Vec<(&'static str, String)> {
        self.actor.not_checked()
    }
}
