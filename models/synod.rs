//! The Synod model: `SynodPriest` actors on a stateright network, with the paper's ghost
//! history of ballots and the properties B1, B2, B3, validity, agreement and sound learning.
//!
//! # What is modelled
//!
//! `priests` priests (3 by default, up to 5); the first `proposers` of them propose one
//! distinct decree each (`a`, `b`, ...). A proposer tries a ballot whenever its timer fires,
//! up to round `rounds`, so the state space is finite. The network is unordered
//! (non-duplicating or duplicating) or ordered per channel, optionally lossy, and up to
//! `crashes` priests can be down at once; a crashed priest restarts from its ledger (the
//! actor's `Storage`) with an empty memory.
//!
//! # The ghost history
//!
//! Lamport reasons about the set `B` of ballots that have begun. The model records it from
//! the messages the priests send (never read by the priests themselves):
//!
//! - every `NextBallot(b)` a president sends starts a *try* of ballot number `b` (recorded
//!   once per try: on the copy addressed to the lowest-numbered other priest, which every
//!   try addresses);
//! - every `BeginBallot(b, d)` sent by president `p` adds its addressee to the quorum of the
//!   ballot `(b, p, d)`. The president is a member of its own quorum and voted in the same
//!   step, so a new ballot starts with `p` in both its quorum and its voters. A president
//!   sends BeginBallot to each other quorum member once per ballot, so a copy to a member
//!   already in the quorum means the number was reused and starts a new ballot;
//! - every `Voted(b)` from `q` to `p` adds `q` to the voters of `p`'s ballot `b`.
//!
//! A ballot *succeeds* (its decree is *chosen*) when every member of its quorum voted in it.
//!
//! # Properties
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `b1-unique-ballots` | always | no ballot number was tried twice |
//! | `b2-quorums-intersect` | always | any two ballots' quorums share a priest |
//! | `b3-respects-earlier-votes` | always | if a quorum member of `B` voted in an earlier ballot, `B`'s decree is that of the latest such ballot |
//! | `validity` | always | every chosen decree was proposed |
//! | `agreement` | always | at most one decree is chosen |
//! | `learned-implies-chosen` | always | a decree in any priest's ledger was chosen |
//! | `decree-chosen` | sometimes | some decree is chosen |
//! | `second-ballot-after-votes` | sometimes | a ballot begins when another ballot already has votes |

use crate::ballot::{Ballot, PriestIx, Priests, QuorumSystem};
use crate::check::Narrate;
use crate::models::symmetry::{least_hash_representative, permute, rename_actors};
use crate::synod::{Bug, Msg, PriestState, Status, SynodPriest};
use serde::Serialize;
use stateright::actor::{
    model_timeout, Actor, ActorModel, ActorModelAction, ActorModelState, Envelope, Id,
    LossyNetwork, Network,
};
use stateright::{Model, Path, Rewrite, RewritePlan};

/// The decrees of the model: proposer `i` proposes the letter `'a' + i`.
pub type ModelDecree = char;

/// The Synod actor as the model runs it.
pub type ModelPriest = SynodPriest<ModelDecree>;

/// Which network the priests' messengers form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// Messages race one another and each is delivered at most once.
    Unordered,
    /// Messages race one another and can be delivered any number of times.
    Duplicating,
    /// Messages between two priests arrive in the order sent.
    Ordered,
}

impl NetworkKind {
    /// An empty network of this kind, as a model starts with.
    pub fn empty<Msg: Eq + std::hash::Hash>(self) -> Network<Msg> {
        match self {
            NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
            NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
            NetworkKind::Ordered => Network::new_ordered([]),
        }
    }
}

/// How the Synod model is built.
#[derive(Clone, Debug, Serialize)]
pub struct SynodConfig {
    pub priests: usize,
    pub proposers: usize,
    /// Highest ballot round any priest tries.
    pub rounds: u32,
    pub network: NetworkKind,
    pub lossy: bool,
    /// Explore loss literally (stateright's drop action) even where it is subsumed; see
    /// [`SynodConfig::loss`].
    pub literal_loss: bool,
    /// At most this many priests are crashed at once.
    pub crashes: usize,
    pub bug: Bug,
    /// Set when a timed check's time is up.
    #[serde(skip)]
    pub stop: crate::check::StopFlag,
}

impl Default for SynodConfig {
    fn default() -> Self {
        SynodConfig {
            priests: 3,
            proposers: 2,
            rounds: 2,
            network: NetworkKind::Unordered,
            lossy: false,
            literal_loss: false,
            crashes: 0,
            bug: Bug::None,
            stop: Default::default(),
        }
    }
}

/// A ballot in the ghost history: the paper's `B = (bal, dec, qrm, vot)`, plus its president.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GhostBallot {
    pub bal: Ballot,
    pub president: PriestIx,
    pub dec: ModelDecree,
    pub qrm: Priests,
    pub vot: Priests,
    /// Another ballot already had votes when this one began.
    pub after_votes: bool,
}

impl GhostBallot {
    pub fn succeeded(&self) -> bool {
        !self.qrm.is_empty() && self.qrm.is_subset(self.vot)
    }
}

/// The ghost history: every try and every ballot, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Ballot numbers tried (one entry per NextBallot broadcast), each once.
    pub tried: Vec<Ballot>,
    /// A ballot number was tried a second time (B1 is violated). Recorded as a flag rather
    /// than as more entries so that a priest reusing numbers forever keeps the history finite.
    pub reused: bool,
    pub ballots: Vec<GhostBallot>,
}

impl Ghost {
    /// Decrees chosen so far.
    pub fn chosen(&self) -> impl Iterator<Item = ModelDecree> + '_ {
        self.ballots.iter().filter(|b| b.succeeded()).map(|b| b.dec)
    }
}

pub type SynodModel = ActorModel<ModelPriest, SynodConfig, Ghost>;
pub type SynodState = ActorModelState<ModelPriest, Ghost>;

fn record_out(_: &SynodConfig, ghost: &Ghost, env: Envelope<&Msg<ModelDecree>>) -> Option<Ghost> {
    let src = usize::from(env.src) as PriestIx;
    let dst = usize::from(env.dst) as PriestIx;
    match env.msg {
        Msg::NextBallot(b) if dst == u8::from(src == 0) => {
            let mut g = ghost.clone();
            if g.tried.contains(b) {
                g.reused = true;
            } else {
                g.tried.push(*b);
            }
            Some(g)
        }
        Msg::BeginBallot(b, d) => {
            let mut g = ghost.clone();
            let reused_again = g.reused
                && g.ballots
                    .iter()
                    .any(|x| x.bal == *b && x.president == src && x.dec == *d);
            let existing =
                g.ballots.iter_mut().rev().find(|x| {
                    x.bal == *b && x.president == src && x.dec == *d && !x.qrm.contains(dst)
                });
            match existing {
                Some(x) => x.qrm = x.qrm.with(dst),
                // The same ballot begun again after a restart (B1 violated): keep one entry
                // so the history stays finite.
                None if reused_again => {}
                None => {
                    let after_votes = g.ballots.iter().any(|x| !x.vot.is_empty());
                    g.ballots.push(GhostBallot {
                        bal: *b,
                        president: src,
                        dec: *d,
                        qrm: Priests::single(src).with(dst),
                        vot: Priests::single(src),
                        after_votes,
                    });
                }
            }
            Some(g)
        }
        Msg::Voted(b) => {
            let mut g = ghost.clone();
            if let Some(x) = g
                .ballots
                .iter_mut()
                .rev()
                .find(|x| x.bal == *b && x.president == dst)
            {
                x.vot = x.vot.with(src);
            }
            Some(g)
        }
        _ => None,
    }
}

/// B1: no ballot number was tried twice (by one priest after a restart, or by two priests).
pub fn b1_unique_ballots(ghost: &Ghost) -> bool {
    !ghost.reused
}

/// B2: the quorums of any two ballots intersect.
pub fn b2_quorums_intersect(ghost: &Ghost) -> bool {
    let bs = &ghost.ballots;
    bs.iter()
        .enumerate()
        .all(|(i, a)| bs[i + 1..].iter().all(|b| a.qrm.intersects(b.qrm)))
}

/// B3: for every ballot B, if a member of B's quorum voted in an earlier ballot, B's decree
/// is the decree of the latest such ballot.
pub fn b3_respects_earlier_votes(ghost: &Ghost) -> bool {
    ghost.ballots.iter().all(|b| {
        ghost
            .ballots
            .iter()
            .filter(|e| e.bal < b.bal && e.vot.intersects(b.qrm))
            .max_by_key(|e| e.bal)
            .is_none_or(|latest| latest.dec == b.dec)
    })
}

impl SynodConfig {
    /// The decree proposer `i` proposes.
    pub fn decree_of(i: usize) -> ModelDecree {
        (b'a' + i as u8) as char
    }

    /// How loss is explored: `"none"`, `"literal"` (stateright drops messages), or
    /// `"subsumed"`. On unordered networks a lost message is indistinguishable, for every
    /// property checked here (they read priests' states and the ghost history, never the
    /// network), from a message that is never delivered, and an unordered network never forces
    /// a delivery: every behaviour with a loss is, step for step without the drops, a
    /// behaviour without it, reaching the same priest states and ghost history. Dropping
    /// messages would only multiply network states (every subset of the sent messages), so on
    /// unordered networks `lossy` is checked by the model without drop actions, unless
    /// `literal_loss` asks for them. On ordered networks a loss unblocks the messages queued
    /// behind it, so there loss is always literal. The test
    /// `loss_is_subsumed_on_unordered_networks` checks the claim on small configurations.
    pub fn loss(&self) -> &'static str {
        match (self.lossy, self.network, self.literal_loss) {
            (false, _, _) => "none",
            (true, NetworkKind::Ordered, _) | (true, _, true) => "literal",
            (true, _, false) => "subsumed",
        }
    }

    /// Checks the configuration, returning a clear message when it is not sensible.
    pub fn validate(&self) -> Result<(), String> {
        if !(2..=5).contains(&self.priests) {
            return Err(format!("--priests must be 2 to 5, not {}", self.priests));
        }
        if self.proposers == 0 || self.proposers > self.priests {
            return Err(format!(
                "--proposers must be 1 to the number of priests ({}), not {}",
                self.priests, self.proposers
            ));
        }
        if self.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if self.crashes > self.priests {
            return Err(format!(
                "--crashes must be at most the number of priests ({})",
                self.priests
            ));
        }
        Ok(())
    }

    /// The priests of this configuration.
    pub fn priests(&self) -> Vec<ModelPriest> {
        let ids = Id::vec_from(0..self.priests);
        (0..self.priests)
            .map(|i| {
                let proposal = (i < self.proposers).then(|| Self::decree_of(i));
                let mut p = SynodPriest::new(i as PriestIx, ids.clone(), proposal);
                p.max_round = self.rounds;
                p.retry = model_timeout();
                p.bug = self.bug;
                if self.bug == Bug::MinorityQuorum {
                    p.quorums = QuorumSystem::AtLeast {
                        priests: self.priests,
                        size: (self.priests / 2).max(1),
                    };
                }
                p
            })
            .collect()
    }

    /// The stateright model of this configuration, with every property.
    pub fn into_model(self) -> SynodModel {
        let network = self.network.empty();
        let lossy = if self.loss() == "literal" {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        };
        let crashes = self.crashes;
        ActorModel::new(self.clone(), Ghost::default())
            .actors(self.priests())
            .init_network(network)
            .lossy_network(lossy)
            .max_crashes(crashes)
            .record_msg_out(record_out)
            .within_boundary(|cfg, _| !cfg.stop.is_set())
            .property(
                stateright::Expectation::Always,
                "b1-unique-ballots",
                |_, s| b1_unique_ballots(&s.history),
            )
            .property(
                stateright::Expectation::Always,
                "b2-quorums-intersect",
                |_, s| b2_quorums_intersect(&s.history),
            )
            .property(
                stateright::Expectation::Always,
                "b3-respects-earlier-votes",
                |_, s| b3_respects_earlier_votes(&s.history),
            )
            .property(stateright::Expectation::Always, "validity", |m, s| {
                s.history
                    .chosen()
                    .all(|d| (0..m.cfg.proposers).any(|i| SynodConfig::decree_of(i) == d))
            })
            .property(stateright::Expectation::Always, "agreement", |_, s| {
                let mut chosen = s.history.chosen();
                let first = chosen.next();
                chosen.all(|d| Some(d) == first)
            })
            .property(
                stateright::Expectation::Always,
                "learned-implies-chosen",
                |_, s| {
                    s.actor_states.iter().all(|p| {
                        p.ledger
                            .decree
                            .is_none_or(|d| s.history.chosen().any(|c| c == d))
                    })
                },
            )
            .property(
                stateright::Expectation::Sometimes,
                "decree-chosen",
                |_, s| s.history.chosen().next().is_some(),
            )
            .property(
                stateright::Expectation::Sometimes,
                "second-ballot-after-votes",
                |_, s| s.history.ballots.iter().any(|b| b.after_votes),
            )
    }
}

/// One step of an actor model's path, told in the paper's words.
pub fn narrate_action<A>(action: &ActorModelAction<A::Msg, A::Timer, A::Random>) -> String
where
    A: Actor,
    A::Msg: std::fmt::Display,
{
    let p = |id: &Id| usize::from(*id);
    match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("priest {} receives {} from priest {}", p(dst), msg, p(src))
        }
        ActorModelAction::Drop(env) => format!(
            "the messenger carrying {} from priest {} to priest {} is lost",
            env.msg,
            p(&env.src),
            p(&env.dst)
        ),
        ActorModelAction::Timeout(id, timer) => {
            format!("priest {}'s {:?} timer fires", p(id), timer)
        }
        ActorModelAction::Crash(id) => format!("priest {} leaves the Chamber (crash)", p(id)),
        ActorModelAction::Recover(id) => format!(
            "priest {} returns to the Chamber (restart from its ledger)",
            p(id)
        ),
        other => format!("{other:?}"),
    }
}

/// A path through an actor model.
pub type ActorPath<A, H> = Path<
    ActorModelState<A, H>,
    ActorModelAction<<A as Actor>::Msg, <A as Actor>::Timer, <A as Actor>::Random>,
>;

/// Tells a path of an actor model: each step, and what it sent.
pub fn narrate_actor_path<A, H>(
    model: &ActorModel<A, impl Clone, H>,
    path: &ActorPath<A, H>,
) -> Vec<String>
where
    A: Actor,
    A::Msg: std::fmt::Display + Ord,
    A::Timer: Ord,
    H: Clone + std::fmt::Debug + std::hash::Hash,
{
    let _ = model;
    path.clone()
        .into_vec()
        .into_iter()
        .filter_map(|(_, action)| action.map(|a| narrate_action::<A>(&a)))
        .collect()
}

impl Narrate for SynodModel {
    fn stop_flag(&self) -> Option<crate::check::StopFlag> {
        Some(self.cfg.stop.clone())
    }

    fn narrate(&self, path: &Path<SynodState, <Self as Model>::Action>) -> Vec<String> {
        narrate_actor_path(self, path)
    }

    fn describe(&self, state: &SynodState) -> Option<String> {
        let learned: Vec<String> = state
            .actor_states
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.ledger.decree.map(|d| format!("priest {i} learned {d}")))
            .collect();
        Some(format!(
            "ballots {}{}{}",
            describe_ballots(&state.history),
            if state.history.reused {
                "; a ballot number was tried twice"
            } else {
                ""
            },
            if learned.is_empty() {
                String::new()
            } else {
                format!("; {}", learned.join(", "))
            }
        ))
    }

    fn svg(&self, path: &Path<SynodState, <Self as Model>::Action>) -> Option<String> {
        self.as_svg(path.clone())
    }
}

/// The ghost ballots, one line.
pub fn describe_ballots(ghost: &Ghost) -> String {
    let parts: Vec<String> = ghost
        .ballots
        .iter()
        .map(|b| {
            format!(
                "[ballot {} by priest {}: decree {}, quorum {}, voted {}{}]",
                b.bal,
                b.president,
                b.dec,
                b.qrm,
                b.vot,
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

impl<D: Clone> Rewrite<Id> for Msg<D> {
    /// Messages name no priest but in ballot numbers, and ballots belong to proposers, which
    /// symmetry never permutes.
    fn rewrite<S>(&self, _: &RewritePlan<Id, S>) -> Self {
        self.clone()
    }
}

/// Symmetry reduction: non-proposing priests are interchangeable (they own no ballots and
/// propose nothing, and majority quorums treat every priest alike), so every permutation of
/// them maps a state to an equivalent one. The representative is exact: of all the states
/// obtained by permuting the non-proposers, the one with the least hash (for at most 3
/// non-proposers that is at most 6 candidates). Proposers are never permuted: ballot
/// numbers carry their names.
pub fn representative(state: &SynodState) -> SynodState {
    let n = state.actor_states.len();
    let movable: Vec<usize> = (0..n)
        .filter(|&i| state.actor_states[i].proposal.is_none())
        .collect();
    least_hash_representative(state, n, &movable, permuted)
}

/// `state` with priest `new_to_old[i]` renamed `i`.
fn permuted(state: &SynodState, new_to_old: &[usize]) -> SynodState {
    let priest = |p: &PriestState<ModelDecree>, old_to_new: &[usize]| {
        let mut p = p.clone();
        p.status = match p.status {
            Status::Idle => Status::Idle,
            Status::Trying { promised, latest } => Status::Trying {
                promised: permute(promised, old_to_new),
                latest,
            },
            Status::Polling {
                quorum,
                voted,
                decree,
            } => Status::Polling {
                quorum: permute(quorum, old_to_new),
                voted: permute(voted, old_to_new),
                decree,
            },
        };
        p
    };
    let ghost = |g: &Ghost, old_to_new: &[usize]| {
        let mut g = g.clone();
        for b in &mut g.ballots {
            b.qrm = permute(b.qrm, old_to_new);
            b.vot = permute(b.vot, old_to_new);
        }
        g
    };
    rename_actors(state, new_to_old, priest, ghost)
}
