//! Refinement: every step of the Synod actor model is a step of `tla/Synod.tla`, or a stutter.
//!
//! # The refinement mapping
//!
//! A state of the actor model (`models/synod.rs`: the priests' states and ledgers, the
//! network, the ghost history) is mapped to a state of the spec (`models/synod_spec.rs`):
//!
//! | spec variable | from the actor model |
//! |---|---|
//! | `lastTried[p]`, `nextBal[p]`, `prevVote[p]` | priest `p`'s *saved* ledger (`actor_storages[p]`: `last_tried`, `next_bal`, `prev_vote`), empty before its first save |
//! | `outcome[p]` | the saved ledger's `decree` |
//! | `msgs` | every envelope in the network: `NextBallot(b)` from anyone to anyone is `NextBallot(b)`; `LastVote(b, v)` from `q` is `LastVote(b, q, v)`; `BeginBallot(b, d)` from `p` to `q` is `BeginBallot(b, d, p, q)`; `Voted(b)` from `q` to `p` is `Voted(b, q, p)`; `Success(d)` is `Success(d)` |
//! | `ballots` | the ghost ballots (`Ghost::ballots`): number, president, decree, quorum; voters are the priests whose ghost (in storage beside the ledger) holds the vote `(number, decree)` |
//!
//! Ballots `(round, priest)` become the spec's numbers `round * N + priest`; decree `'a' + i`
//! is the spec's decree `i`. Only what a priest has *saved* counts, so a priest that sends a
//! message before saving the ledger change it depends on takes a step the spec does not
//! have, and crashes and restarts (which keep the saved ledger) are stutters.
//!
//! The spec's `msgs` is every message ever sent, which is what a *duplicating* network holds:
//! delivering a message leaves it in the network. So the check runs on the duplicating,
//! lossless network (a lost message would leave `msgs`, which no spec step does; loss is
//! covered by the spec itself, where no message has to be received).
//!
//! # The check
//!
//! [`RefinementModel`] wraps the actor model: each of its steps computes the mapping of the
//! states before and after and asks the spec whether one of its actions leads from the first to
//! the second (or whether they are equal). A step that maps to neither, or a state the mapping
//! cannot express (a ballot number or message the spec does not have), sets `broken`, ends the
//! path, and violates the property `refines-synod-spec`, whose counterexample ends with the
//! spec variables that changed. Every property of the actor model is checked as well.
//!
//! Seeded bugs of the actor that break it with no crash at all: `forget-promise` (LastVote
//! leaves before `nextBal` is saved), `forget-vote`, `forget-last-tried`, `vote-below-promise`,
//! `premature-success`, `no-tiebreak`. The safety properties catch `forget-promise` and
//! `forget-last-tried` only once a priest crashes and forgets (and `forget-vote` once a
//! president passes a decree on `Voted` messages no saved vote backs); refinement catches them
//! at the step that sends.

use crate::ballot::Ballot;
use crate::check::Narrate;
use crate::models::synod::{
    narrate_action, voters, NetworkKind, SynodConfig, SynodModel, SynodState, WatchedPriest,
};
use crate::models::synod_spec::{
    BallotRecord, SynodMessage, SynodSpec, SynodSpecBug, SynodSpecConfig, SynodSpecState,
    MAX_BALLOTS,
};
use crate::synod::{Msg, Vote};
use serde::Serialize;
use stateright::{Model, Path, Property};

/// How the refinement check is built: the Synod model's constants, on a duplicating,
/// lossless network.
#[derive(Clone, Debug, Serialize)]
pub struct RefinementConfig {
    pub priests: usize,
    pub proposers: usize,
    pub rounds: u32,
    pub crashes: usize,
    pub bug: crate::synod::Bug,
}

/// The check's configuration as command-line flags (`parliament check synod-refinement
/// ...`): the one place its defaults are declared. [`RefinementConfig::default`] and
/// [`RefinementConfig::from_flags`] parse these.
#[derive(clap::Args, Clone, Debug)]
pub struct RefinementArgs {
    /// Number of priests (2 to 5).
    #[arg(long, default_value_t = 3)]
    pub priests: usize,
    /// Number of priests that propose a decree of their own.
    #[arg(long, default_value_t = 2)]
    pub proposers: usize,
    /// Highest ballot round a priest tries.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// At most this many priests are crashed at once (they restart from their ledger).
    #[arg(long, default_value_t = 0)]
    pub crashes: usize,
    /// Check a seeded bug of the priest (see `parliament bugs`).
    #[arg(long, default_value = "none")]
    pub bug: crate::synod::Bug,
}

impl RefinementArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> RefinementConfig {
        RefinementConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            crashes: self.crashes,
            bug: self.bug,
        }
    }
}

impl RefinementConfig {
    /// The configuration of `parliament check synod-refinement FLAGS` (e.g. `["--crashes", "1"]`).
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<RefinementArgs>(flags).map(|a| a.config())
    }
}

impl Default for RefinementConfig {
    fn default() -> Self {
        RefinementConfig::from_flags(&[]).expect("the defaults parse")
    }
}

impl RefinementConfig {
    fn synod(&self) -> SynodConfig {
        SynodConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            network: NetworkKind::Duplicating,
            crashes: self.crashes,
            bug: self.bug,
            // Lossless (the default): a lost message would leave the spec's `msgs`.
            ..SynodConfig::default()
        }
    }

    fn spec(&self) -> SynodSpecConfig {
        SynodSpecConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds as usize,
            bug: SynodSpecBug::None,
        }
    }

    /// Checks the configuration against both the actor model's and the spec's limits.
    pub fn validate(&self) -> Result<(), String> {
        self.synod().validate()?;
        self.spec().validate()
    }

    /// The model. Panics if [`Self::validate`] fails.
    pub fn into_model(self) -> RefinementModel {
        if let Err(e) = self.validate() {
            panic!("invalid synod-refinement configuration: {e}");
        }
        let actor = self.synod().into_model();
        let actor_properties = actor.properties();
        assert!(
            actor_properties.len() <= super::LIFTABLE,
            "too many properties"
        );
        RefinementModel {
            actor,
            spec: self.spec().into_model(),
            actor_properties,
        }
    }
}

/// The Synod actor model, with each step checked against the spec.
#[derive(Clone)]
pub struct RefinementModel {
    pub actor: SynodModel,
    pub spec: SynodSpec,
    actor_properties: Vec<Property<SynodModel>>,
}

/// A state of the actor model, and whether the step into it refined no spec step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RefinedState {
    pub actor: SynodState,
    pub broken: bool,
}

impl RefinementModel {
    fn slot(&self, b: Ballot) -> Result<u8, String> {
        self.spec
            .slot_of(b.round, b.priest)
            .ok_or_else(|| format!("ballot {b} is not a ballot number of the spec"))
    }

    fn decree(&self, d: char) -> Result<u8, String> {
        let i = d as i64 - 'a' as i64;
        (0..self.spec.cfg.proposers as i64)
            .contains(&i)
            .then_some(i as u8)
            .ok_or_else(|| format!("decree {d} is not a decree of the spec"))
    }

    fn vote(&self, v: &Option<Vote<char>>) -> Result<(i8, i8), String> {
        match v {
            None => Ok((-1, -1)),
            Some(v) => Ok((self.slot(v.ballot)? as i8, self.decree(v.decree)? as i8)),
        }
    }

    fn proposer(&self, p: usize) -> Result<u8, String> {
        (p < self.spec.cfg.proposers)
            .then_some(p as u8)
            .ok_or_else(|| format!("priest {p} presides but proposes nothing"))
    }

    /// The refinement mapping: the spec state an actor-model state stands for.
    pub fn abstraction(&self, s: &SynodState) -> Result<SynodSpecState, String> {
        let mut a = self.spec.init_states().remove(0);
        for (p, disk) in s.actor_storages.iter().enumerate() {
            let Some((Some(l), _)) = disk else { continue };
            let slot = |b: Option<Ballot>| b.map_or(Ok(-1), |b| self.slot(b).map(|s| s as i8));
            a.last_tried[p] = slot(l.last_tried)?;
            a.next_bal[p] = slot(l.next_bal)?;
            (a.prev_vote_bal[p], a.prev_vote_dec[p]) = self.vote(&l.prev_vote)?;
            a.outcome[p] = l
                .decree
                .map_or(Ok(-1), |d| self.decree(d).map(|d| d as i8))?;
        }
        for env in s.network.iter_all() {
            let src = usize::from(env.src);
            let dst = usize::from(env.dst);
            let m = match env.msg {
                Msg::NextBallot(b) => SynodMessage::NextBallot {
                    bal: self.slot(*b)?,
                },
                Msg::LastVote(b, v) => {
                    let bal = self.slot(*b)?;
                    let (vote_bal, vote_dec) = self.vote(v)?;
                    if vote_bal >= bal as i8 {
                        return Err(format!(
                            "LastVote({b}) from priest {src} reports a vote not below {b}"
                        ));
                    }
                    SynodMessage::LastVote {
                        bal,
                        from: src as u8,
                        vote_bal,
                        vote_dec,
                    }
                }
                Msg::BeginBallot(b, d) => SynodMessage::BeginBallot {
                    bal: self.slot(*b)?,
                    dec: self.decree(*d)?,
                    from: self.proposer(src)?,
                    to: dst as u8,
                },
                Msg::Voted(b) => SynodMessage::Voted {
                    bal: self.slot(*b)?,
                    from: src as u8,
                    to: self.proposer(dst)?,
                },
                Msg::Success(d) => SynodMessage::Success {
                    dec: self.decree(*d)?,
                },
                Msg::Propose(_) | Msg::Chosen(_) => continue,
            };
            a.send(self.spec.layout.index(m));
        }
        let ghost = &s.history.ballots;
        if ghost.len() > MAX_BALLOTS {
            return Err(format!(
                "{} ballots: more than the spec's slots",
                ghost.len()
            ));
        }
        for (i, g) in ghost.iter().enumerate() {
            a.ballots[i] = BallotRecord {
                bal: self.slot(g.bal)?,
                pres: self.proposer(g.president as usize)?,
                dec: self.decree(g.dec)?,
                qrm: g.qrm.0 as u8,
                vot: voters(s, g).0 as u8,
            };
        }
        a.ballot_count = ghost.len() as u8;
        a.ballots[..ghost.len()].sort_unstable();
        Ok(a)
    }

    /// Whether the step from `s` to `t` maps to a step of the spec or a stutter.
    pub fn refines(&self, s: &SynodState, t: &SynodState) -> Result<(), String> {
        let from = self.abstraction(s)?;
        let to = self.abstraction(t)?;
        if self.spec.is_step_or_stutter(&from, &to) {
            Ok(())
        } else {
            Err(self.describe_change(&from, &to))
        }
    }

    /// The spec variables that differ between two spec states.
    fn describe_change(&self, a: &SynodSpecState, b: &SynodSpecState) -> String {
        let n = self.spec.cfg.priests;
        let mut parts = Vec::new();
        let num = |s: i8| self.spec.number(s);
        for p in 0..n {
            if a.last_tried[p] != b.last_tried[p] {
                parts.push(format!(
                    "lastTried[{p}]: {} -> {}",
                    num(a.last_tried[p]),
                    num(b.last_tried[p])
                ));
            }
            if a.next_bal[p] != b.next_bal[p] {
                parts.push(format!(
                    "nextBal[{p}]: {} -> {}",
                    num(a.next_bal[p]),
                    num(b.next_bal[p])
                ));
            }
            if (a.prev_vote_bal[p], a.prev_vote_dec[p]) != (b.prev_vote_bal[p], b.prev_vote_dec[p])
            {
                parts.push(format!(
                    "prevVote[{p}]: ({}, {}) -> ({}, {})",
                    num(a.prev_vote_bal[p]),
                    a.prev_vote_dec[p],
                    num(b.prev_vote_bal[p]),
                    b.prev_vote_dec[p]
                ));
            }
            if a.outcome[p] != b.outcome[p] {
                parts.push(format!(
                    "outcome[{p}]: {} -> {}",
                    a.outcome[p], b.outcome[p]
                ));
            }
        }
        let universe = self.spec.layout.universe();
        for i in 0..universe {
            let m = self.spec.show_message(self.spec.layout.message(i));
            match (a.has(i), b.has(i)) {
                (false, true) => parts.push(format!("msgs gains {m}")),
                (true, false) => parts.push(format!("msgs loses {m}")),
                _ => {}
            }
        }
        if a.ballots() != b.ballots() {
            parts.push(format!("ballots: {}", self.spec.describe_ballots(b)));
        }
        parts.join("; ")
    }
}

impl super::Wraps for RefinementModel {
    type Inner = SynodModel;
    fn inner(&self) -> &SynodModel {
        &self.actor
    }
    fn inner_state(s: &RefinedState) -> &<SynodModel as Model>::State {
        &s.actor
    }
    fn inner_properties(&self) -> &[Property<SynodModel>] {
        &self.actor_properties
    }
}

impl Model for RefinementModel {
    type State = RefinedState;
    type Action = <SynodModel as Model>::Action;

    fn init_states(&self) -> Vec<RefinedState> {
        self.actor
            .init_states()
            .into_iter()
            .map(|actor| {
                let broken = self
                    .abstraction(&actor)
                    .map_or(true, |a| a != self.spec.init_states()[0]);
                RefinedState { actor, broken }
            })
            .collect()
    }

    fn actions(&self, s: &RefinedState, actions: &mut Vec<Self::Action>) {
        if !s.broken {
            self.actor.actions(&s.actor, actions);
        }
    }

    fn next_state(&self, s: &RefinedState, action: Self::Action) -> Option<RefinedState> {
        let t = self.actor.next_state(&s.actor, action)?;
        let broken = self.refines(&s.actor, &t).is_err();
        Some(RefinedState { actor: t, broken })
    }

    fn within_boundary(&self, s: &RefinedState) -> bool {
        Model::within_boundary(&self.actor, &s.actor)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut props = vec![Property::always(
            "refines-synod-spec",
            |_: &RefinementModel, s: &RefinedState| !s.broken,
        )];
        props.extend(super::lifted_properties(self));
        props
    }
}

impl Narrate for RefinementModel {
    fn narrate(&self, path: &Path<RefinedState, Self::Action>) -> Vec<String> {
        let states = path.clone().into_vec();
        let mut steps: Vec<String> = states
            .iter()
            .filter_map(|(_, a)| a.as_ref().map(narrate_action::<WatchedPriest>))
            .collect();
        let last = path.last_state();
        if last.broken {
            let why = match states.len() {
                0 | 1 => self
                    .abstraction(&last.actor)
                    .err()
                    .unwrap_or_else(|| "the initial state is not the spec's".into()),
                k => match self.refines(&states[k - 2].0.actor, &last.actor) {
                    Err(e) => e,
                    Ok(()) => "refines (unexpected)".into(),
                },
            };
            steps.push(format!("this last step is no step of synod-spec: {why}"));
        }
        steps.push(format!(
            "final ballots: {}",
            crate::models::synod::describe_ballots(&self.actor.cfg, &last.actor)
        ));
        steps
    }
}
