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
//! Lamport reasons about the set `B` of ballots that have begun, each with its number,
//! decree, quorum and voters. The model records it without the priests ever reading it, in
//! two places:
//!
//! - **Ballots** come from the messages (stateright's `record_msg_out`, into the history
//!   [`Ghost`]): every `BeginBallot(b, d)` sent by president `p` adds its addressee to the
//!   quorum of the ballot `(b, p, d)`, which starts with `p` itself (the quorum the president
//!   asked, not a vote). A president sends BeginBallot to each other quorum member once per
//!   ballot, so a copy to a member already in the quorum means the number was tried again
//!   (B1 is violated, and the tries below say so); it is merged into the entry already there,
//!   which keeps the history finite.
//! - **Votes and tries** are observed at each priest, by a wrapper around it
//!   ([`WatchedPriest`]) that keeps a per-priest ghost ([`PriestGhost`]) in the actor's
//!   storage beside the ledger, so it survives crashes as the ledger does and the priest never
//!   reads it. A *vote* `(b, d)` is recorded when a ledger the priest saves (`Out::save`)
//!   holds it as `prevVote`: a vote is what stable storage holds, so a president that never
//!   saves its own vote, or a priest that sends `Voted` before saving, has not voted. A *try*
//!   of ballot number `b` is recorded when the priest's `lastTried` in memory changes to `b` in
//!   a handler (not when it restarts from its ledger); a number tried again, by the same
//!   priest after it forgot it or by another, is a second try.
//!
//! The voters of a ballot `(b, p, d)` are the priests whose ghost holds the vote `(b, d)`. A
//! ballot *succeeds* (its decree is *chosen*) when its voters include a quorum of the
//! configured quorum system ([`SynodConfig::quorums`]).
//!
//! # Properties
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `b1-unique-ballots` | always | no ballot number was tried twice (by one priest or by two) |
//! | `b2-quorums-intersect` | always | any two ballots' quorums share a priest |
//! | `b3-respects-earlier-votes` | always | if a quorum member of `B` voted in an earlier ballot, `B`'s decree is that of the latest such ballot |
//! | `validity` | always | every chosen decree was proposed |
//! | `agreement` | always | at most one decree is chosen |
//! | `learned-implies-chosen` | always | a decree in any priest's ledger was chosen |
//! | `decree-chosen` | sometimes | some decree is chosen |
//! | `second-ballot-after-votes` | sometimes | a ballot began after another ballot that has votes |

use crate::ballot::{Ballot, PriestIx, Priests, QuorumSystem};
use crate::check::Narrate;
use crate::models::symmetry::{least_hash_representative, permute, rename_actors};
use crate::synod::{Bug, Ledger, Msg, PriestState, Status, SynodPriest, Timer, Vote};
use serde::Serialize;
use stateright::actor::{
    model_timeout, Actor, ActorModel, ActorModelAction, ActorModelState, Command, Envelope, Id,
    LossyNetwork, Network, Out,
};
use stateright::{Model, Path, Rewrite, RewritePlan};
use std::borrow::Cow;

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

/// The model's configuration as command-line flags (`parliament check synod ...`): the one
/// place its defaults are declared. [`SynodConfig::default`] and [`SynodConfig::from_flags`]
/// parse these.
#[derive(clap::Args, Clone, Debug)]
pub struct SynodArgs {
    /// Number of priests (2 to 5).
    #[arg(long, default_value_t = 3)]
    pub priests: usize,
    /// Number of priests that propose a decree of their own.
    #[arg(long, default_value_t = 2)]
    pub proposers: usize,
    /// Highest ballot round a priest tries (bounds the state space).
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// The messengers' network.
    #[arg(long, value_enum, default_value_t = NetworkKind::Unordered)]
    pub network: NetworkKind,
    /// Messengers may lose messages.
    #[arg(long)]
    pub lossy: bool,
    /// With --lossy on an unordered network, explore drops literally instead of as
    /// never-delivered messages (same verdicts, far more states; see docs/verification.md).
    #[arg(long)]
    pub literal_loss: bool,
    /// At most this many priests are crashed at once (they restart from their ledger).
    #[arg(long, default_value_t = 0)]
    pub crashes: usize,
    /// Check a seeded bug instead of the correct protocol (see `parliament bugs`).
    #[arg(long, default_value = "none")]
    pub bug: Bug,
}

impl SynodArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> SynodConfig {
        SynodConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            network: self.network,
            lossy: self.lossy,
            literal_loss: self.literal_loss,
            crashes: self.crashes,
            bug: self.bug,
            stop: Default::default(),
        }
    }
}

impl SynodConfig {
    /// The configuration of `parliament check synod FLAGS` (e.g. `["--crashes", "1"]`).
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<SynodArgs>(flags).map(|a| a.config())
    }
}

impl Default for SynodConfig {
    fn default() -> Self {
        SynodConfig::from_flags(&[]).expect("the defaults parse")
    }
}

/// A ballot in the ghost history: the paper's `B = (bal, dec, qrm)`, plus its president. Its
/// voters are observed at the priests ([`voters`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GhostBallot {
    pub bal: Ballot,
    pub president: PriestIx,
    pub dec: ModelDecree,
    pub qrm: Priests,
}

/// The ghost history: every ballot, in the order they began.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    pub ballots: Vec<GhostBallot>,
}

/// What the ghost observes at one priest, kept in its storage beside the ledger (so it
/// survives crashes) and never read by the priest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PriestGhost {
    /// Every vote a ledger the priest saved held as `prevVote`, sorted, each once.
    pub votes: Vec<Vote<ModelDecree>>,
    /// Every ballot number the priest tried (its `lastTried` in memory changed to it in a
    /// handler), in the order tried, each once.
    pub tried: Vec<Ballot>,
    /// The priest tried a number a second time (B1 is violated). Recorded as a flag rather
    /// than as more entries so that a priest reusing numbers forever keeps the state finite.
    pub reused: bool,
}

impl PriestGhost {
    fn record_vote(&mut self, vote: &Vote<ModelDecree>) {
        if let Err(i) = self.votes.binary_search(vote) {
            self.votes.insert(i, vote.clone());
        }
    }

    fn record_try(&mut self, b: Ballot) {
        if self.tried.contains(&b) {
            self.reused = true;
        } else {
            self.tried.push(b);
        }
    }

    /// Whether the priest voted `decree` in ballot `ballot`.
    pub fn voted(&self, ballot: Ballot, decree: ModelDecree) -> bool {
        self.votes
            .binary_search_by(|v| (v.ballot, v.decree).cmp(&(ballot, decree)))
            .is_ok()
    }
}

/// A priest's storage in the model: its ledger as it last saved it (none before its first
/// save) and its ghost.
pub type Disk = (Option<Ledger<ModelDecree>>, PriestGhost);

/// The model's actor: a Synod priest, watched. It runs the priest unchanged and forwards every
/// command, but stores [`Disk`] instead of the bare ledger: on every `Save(ledger)` it records
/// the vote the ledger holds, and on every change of `lastTried` in memory the ballot tried.
#[derive(Clone, Debug)]
pub struct WatchedPriest {
    pub priest: ModelPriest,
}

/// The state of a [`WatchedPriest`]: the priest's state, and a copy of its storage (equal to
/// the actor's `Storage` at every step; restored from it on restart), so that the ghost can
/// be saved in a step where the priest saves nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchedState {
    pub priest: PriestState<ModelDecree>,
    pub disk: Disk,
}

impl WatchedPriest {
    /// Forwards the priest's commands to `o`; each `Save(ledger)` becomes a save of `disk`
    /// with the ledger and the vote it holds. Saves `disk` as well if it differs from
    /// `saved` (what storage held before the step) and no save of the priest carried it.
    fn forward(&self, out: Out<ModelPriest>, saved: &Disk, disk: &mut Disk, o: &mut Out<Self>) {
        use Command as C;
        let mut last = None;
        for c in out {
            match c {
                C::Send(dst, msg) => o.send(dst, msg),
                C::SetTimer(t, d) => o.set_timer(t, d),
                C::CancelTimer(t) => o.cancel_timer(t),
                C::Save(ledger) => {
                    if let Some(v) = &ledger.prev_vote {
                        disk.1.record_vote(v);
                    }
                    disk.0 = Some(ledger);
                    if last.as_ref().unwrap_or(saved) != disk {
                        o.save(disk.clone());
                        last = Some(disk.clone());
                    }
                }
                C::ChooseRandom(..) => {}
            }
        }
        if last.as_ref().unwrap_or(saved) != disk {
            o.save(disk.clone());
        }
    }

    /// Forwards commands that contain no save.
    fn forward_unsaved(out: Out<ModelPriest>, o: &mut Out<Self>) {
        for c in out {
            match c {
                Command::Send(dst, msg) => o.send(dst, msg),
                Command::SetTimer(t, d) => o.set_timer(t, d),
                Command::CancelTimer(t) => o.cancel_timer(t),
                Command::Save(_) | Command::ChooseRandom(..) => {}
            }
        }
    }

    /// After a handler of the priest: records the try if `lastTried` changed, forwards the
    /// commands, and updates `state` if the priest's state or the disk changed.
    fn observe(
        &self,
        state: &mut Cow<WatchedState>,
        next: Option<PriestState<ModelDecree>>,
        out: Out<ModelPriest>,
        o: &mut Out<Self>,
    ) {
        let tried = next
            .as_ref()
            .and_then(|p| p.ledger.last_tried)
            .filter(|&b| Some(b) != state.priest.ledger.last_tried);
        let saves = out.iter().any(|c| matches!(c, Command::Save(_)));
        if tried.is_none() && !saves {
            // Nothing to record: the disk stays as it is.
            Self::forward_unsaved(out, o);
        } else {
            let mut disk = state.disk.clone();
            if let Some(b) = tried {
                disk.1.record_try(b);
            }
            self.forward(out, &state.disk, &mut disk, o);
            if disk != state.disk {
                state.to_mut().disk = disk;
            }
        }
        if let Some(p) = next {
            state.to_mut().priest = p;
        }
    }
}

impl Actor for WatchedPriest {
    type Msg = Msg<ModelDecree>;
    type State = WatchedState;
    type Timer = Timer;
    type Random = ();
    type Storage = Disk;

    fn name(&self) -> String {
        "priest".into()
    }

    fn on_start(&self, id: Id, storage: &Option<Disk>, o: &mut Out<Self>) -> WatchedState {
        let saved = storage.clone().unwrap_or_default();
        let mut out = Out::new();
        let priest = self.priest.on_start(id, &saved.0, &mut out);
        let mut disk = saved.clone();
        self.forward(out, &saved, &mut disk, o);
        WatchedState { priest, disk }
    }

    fn on_msg(
        &self,
        id: Id,
        state: &mut Cow<WatchedState>,
        src: Id,
        msg: Self::Msg,
        o: &mut Out<Self>,
    ) {
        let mut p = Cow::Borrowed(&state.priest);
        let mut out = Out::new();
        self.priest.on_msg(id, &mut p, src, msg, &mut out);
        let next = match p {
            Cow::Owned(p) => Some(p),
            Cow::Borrowed(_) => None,
        };
        self.observe(state, next, out, o);
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<WatchedState>, timer: &Timer, o: &mut Out<Self>) {
        let mut p = Cow::Borrowed(&state.priest);
        let mut out = Out::new();
        self.priest.on_timeout(id, &mut p, timer, &mut out);
        let next = match p {
            Cow::Owned(p) => Some(p),
            Cow::Borrowed(_) => None,
        };
        self.observe(state, next, out, o);
    }
}

pub type SynodModel = ActorModel<WatchedPriest, SynodConfig, Ghost>;
pub type SynodState = ActorModelState<WatchedPriest, Ghost>;

fn record_out(_: &SynodConfig, ghost: &Ghost, env: Envelope<&Msg<ModelDecree>>) -> Option<Ghost> {
    let Msg::BeginBallot(b, d) = env.msg else {
        return None;
    };
    let src = usize::from(env.src) as PriestIx;
    let dst = usize::from(env.dst) as PriestIx;
    let same = |x: &GhostBallot| x.bal == *b && x.president == src && x.dec == *d;
    let mut g = ghost.clone();
    if let Some(x) = g
        .ballots
        .iter_mut()
        .rev()
        .find(|x| same(x) && !x.qrm.contains(dst))
    {
        x.qrm = x.qrm.with(dst);
    } else if ghost.ballots.iter().any(same) {
        // The same ballot begun again (its number tried twice, which B1 reports): merged into
        // the entry already there, so the history stays finite.
        return None;
    } else {
        g.ballots.push(GhostBallot {
            bal: *b,
            president: src,
            dec: *d,
            qrm: Priests::single(src).with(dst),
        });
    }
    Some(g)
}

/// Each priest's ghost, from its storage (none before its first save).
pub fn ghosts(s: &SynodState) -> impl Iterator<Item = (PriestIx, &PriestGhost)> {
    s.actor_storages
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.as_ref().map(|(_, g)| (i as PriestIx, g)))
}

/// The voters of ballot `b`: the priests whose saved ledger held the vote `(b.bal, b.dec)`.
pub fn voters(s: &SynodState, b: &GhostBallot) -> Priests {
    ghosts(s)
        .filter(|(_, g)| g.voted(b.bal, b.dec))
        .map(|(p, _)| p)
        .collect()
}

/// Whether ballot `b` succeeded: its voters include a quorum of `quorums`.
pub fn succeeded(quorums: &QuorumSystem, s: &SynodState, b: &GhostBallot) -> bool {
    quorums.is_quorum(voters(s, b))
}

/// Decrees chosen so far (one entry per successful ballot).
pub fn chosen<'a>(
    quorums: &'a QuorumSystem,
    s: &'a SynodState,
) -> impl Iterator<Item = ModelDecree> + 'a {
    s.history
        .ballots
        .iter()
        .filter(move |b| succeeded(quorums, s, b))
        .map(|b| b.dec)
}

/// B1: no ballot number was tried twice (by one priest, after forgetting it, or by two).
pub fn b1_unique_ballots(s: &SynodState) -> bool {
    let mut seen: Vec<Ballot> = Vec::new();
    for (_, g) in ghosts(s) {
        if g.reused || g.tried.iter().any(|b| seen.contains(b)) {
            return false;
        }
        seen.extend(&g.tried);
    }
    true
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
pub fn b3_respects_earlier_votes(s: &SynodState) -> bool {
    let ballots = &s.history.ballots;
    ballots.iter().all(|b| {
        ballots
            .iter()
            .filter(|e| e.bal < b.bal && voters(s, e).intersects(b.qrm))
            .max_by_key(|e| e.bal)
            .is_none_or(|latest| latest.dec == b.dec)
    })
}

/// Some ballot began after another ballot that has votes.
pub fn second_ballot_after_votes(s: &SynodState) -> bool {
    let ballots = &s.history.ballots;
    ballots.len() >= 2
        && ballots[..ballots.len() - 1]
            .iter()
            .any(|a| !voters(s, a).is_empty())
}

impl SynodConfig {
    /// The decree proposer `i` proposes.
    pub fn decree_of(i: usize) -> ModelDecree {
        (b'a' + i as u8) as char
    }

    /// How loss is explored: `"none"`, `"literal"` (stateright drops messages), or
    /// `"subsumed"`. On unordered networks a lost message is indistinguishable, for every
    /// property checked here (they read priests' states, their storages with the per-priest
    /// ghosts, and the ghost history, never the network), from a message that is never
    /// delivered, and an unordered network never forces a delivery: every behaviour with a
    /// loss is, step for step without the drops, a behaviour without it, reaching the same
    /// priest states, storages and ghost history. Dropping
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

    /// The quorum system the priests are configured with: majorities, or under the seeded bug
    /// `minority-quorum` any `n/2` priests (rounded down, at least one).
    pub fn quorums(&self) -> QuorumSystem {
        if self.bug == Bug::MinorityQuorum {
            QuorumSystem::AtLeast {
                priests: self.priests,
                size: (self.priests / 2).max(1),
            }
        } else {
            QuorumSystem::majority(self.priests)
        }
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
                p.quorums = self.quorums();
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
            .actors(
                self.priests()
                    .into_iter()
                    .map(|priest| WatchedPriest { priest }),
            )
            .init_network(network)
            .lossy_network(lossy)
            .max_crashes(crashes)
            .record_msg_out(record_out)
            .within_boundary(|cfg, _| !cfg.stop.is_set())
            .property(
                stateright::Expectation::Always,
                "b1-unique-ballots",
                |_, s| b1_unique_ballots(s),
            )
            .property(
                stateright::Expectation::Always,
                "b2-quorums-intersect",
                |_, s| b2_quorums_intersect(&s.history),
            )
            .property(
                stateright::Expectation::Always,
                "b3-respects-earlier-votes",
                |_, s| b3_respects_earlier_votes(s),
            )
            .property(stateright::Expectation::Always, "validity", |m, s| {
                chosen(&m.cfg.quorums(), s)
                    .all(|d| (0..m.cfg.proposers).any(|i| SynodConfig::decree_of(i) == d))
            })
            .property(stateright::Expectation::Always, "agreement", |m, s| {
                let quorums = m.cfg.quorums();
                let mut chosen = chosen(&quorums, s);
                let first = chosen.next();
                chosen.all(|d| Some(d) == first)
            })
            .property(
                stateright::Expectation::Always,
                "learned-implies-chosen",
                |m, s| {
                    let quorums = m.cfg.quorums();
                    s.actor_states.iter().all(|p| {
                        p.priest
                            .ledger
                            .decree
                            .is_none_or(|d| chosen(&quorums, s).any(|c| c == d))
                    })
                },
            )
            .property(
                stateright::Expectation::Sometimes,
                "decree-chosen",
                |m, s| chosen(&m.cfg.quorums(), s).next().is_some(),
            )
            .property(
                stateright::Expectation::Sometimes,
                "second-ballot-after-votes",
                |_, s| second_ballot_after_votes(s),
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

    fn tell_action(&self, action: &<Self as Model>::Action) -> String {
        narrate_action::<WatchedPriest>(action)
    }

    fn describe(&self, state: &SynodState) -> Option<String> {
        let learned: Vec<String> = state
            .actor_states
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.priest
                    .ledger
                    .decree
                    .map(|d| format!("priest {i} learned {d}"))
            })
            .collect();
        Some(format!(
            "ballots {}{}{}",
            describe_ballots(&self.cfg, state),
            if b1_unique_ballots(state) {
                ""
            } else {
                "; a ballot number was tried twice"
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

/// The ghost ballots, one line, each with its voters as observed at the priests.
pub fn describe_ballots(cfg: &SynodConfig, state: &SynodState) -> String {
    let quorums = cfg.quorums();
    let parts: Vec<String> = state
        .history
        .ballots
        .iter()
        .map(|b| {
            format!(
                "[ballot {} by priest {}: decree {}, quorum {}, voted {}{}]",
                b.bal,
                b.president,
                b.dec,
                b.qrm,
                voters(state, b),
                if succeeded(&quorums, state, b) {
                    ", passed"
                } else {
                    ""
                }
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
        .filter(|&i| state.actor_states[i].priest.proposal.is_none())
        .collect();
    least_hash_representative(state, n, &movable, permuted)
}

/// `state` with priest `new_to_old[i]` renamed `i`.
fn permuted(state: &SynodState, new_to_old: &[usize]) -> SynodState {
    // A priest's disk (ledger and ghost) names no priest but in ballot numbers, which belong
    // to proposers; it moves with its priest, as the storages do.
    let priest = |w: &WatchedState, old_to_new: &[usize]| {
        let mut w = w.clone();
        let p = &mut w.priest;
        p.status = match std::mem::replace(&mut p.status, Status::Idle) {
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
        w
    };
    let ghost = |g: &Ghost, old_to_new: &[usize]| {
        let mut g = g.clone();
        for b in &mut g.ballots {
            b.qrm = permute(b.qrm, old_to_new);
        }
        g
    };
    rename_actors(state, new_to_old, priest, ghost)
}
