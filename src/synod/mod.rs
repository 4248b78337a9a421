//! The single-decree Synod protocol (paper, section 2), as a `stateright` actor.
//!
//! # The algorithm
//!
//! The priests of Paxos must pass one decree, although any of them may leave the Chamber at
//! any moment and messengers may lose, delay, duplicate or reorder the notes they carry. A
//! decree is passed in a *ballot*: a priest acting as president picks a ballot number `b`,
//! a *quorum* of priests and a decree `d`; the ballot succeeds when every quorum member votes
//! for it. Lamport shows that consistency follows from three conditions on the set of ballots:
//!
//! - **B1** every ballot has a unique number;
//! - **B2** any two ballots' quorums have a priest in common;
//! - **B3** if any quorum member of ballot `B` voted in an earlier ballot, `B`'s decree is the
//!   decree of the latest of those earlier ballots.
//!
//! The protocol maintains B1–B3 with only what each priest writes in its *ledger*:
//!
//! - `lastTried[p]`: the number of the last ballot `p` tried to begin;
//! - `nextBal[p]`: the largest ballot number for which `p` answered a NextBallot, that is
//!   promised not to vote in any lower ballot;
//! - `prevVote[p]`: the vote `p` cast in its highest-numbered ballot;
//! - the decree, once `p` learned it was passed.
//!
//! and takes six steps (the paper's "basic protocol", section 2.3):
//!
//! 1. Priest `p` chooses a ballot number `b > lastTried[p]`, sets `lastTried[p] = b`, and
//!    sends `NextBallot(b)` to the other priests.
//! 2. On `NextBallot(b)` with `b > nextBal[q]`, priest `q` sets `nextBal[q] = b` and answers
//!    `LastVote(b, v)`, where `v` is `prevVote[q]`: its latest vote (or none).
//! 3. When `p` (still trying `b = lastTried[p]`) holds `LastVote(b, v)` from every member of
//!    some quorum `Q`, it begins ballot `b` with quorum `Q` and decree `d`: the decree of the
//!    highest-numbered vote among those `v`, or, if none of them voted, its own proposal. It
//!    sends `BeginBallot(b, d)` to every member of `Q`.
//! 4. On `BeginBallot(b, d)` with `b = nextBal[q]`, priest `q` votes: sets
//!    `prevVote[q] = (b, d)` and sends `Voted(b, q)` to `p`.
//! 5. When `p` holds `Voted(b, q)` from every `q` in `Q` (and `b = lastTried[p]`), the decree
//!    is passed: `p` writes `d` in its ledger and sends `Success(d)` to every priest.
//! 6. On `Success(d)`, a priest writes `d` in its ledger.
//!
//! Every ledger change is saved (`Out::save`) before any message that depends on it leaves;
//! stateright applies a handler's commands atomically, and the deployed runtime makes every
//! save of a handler durable before sending (see `docs/design.md`).
//!
//! # What this implementation chooses
//!
//! - Ballot numbers are `(round, priest)` ([`Ballot`]); a new ballot takes a round above both
//!   `lastTried` and `nextBal`, so a priest that has seen a higher ballot does not start a
//!   doomed one. B1 holds by construction as long as `lastTried` survives crashes.
//! - The president is always a member of its own quorum, and its own NextBallot and
//!   BeginBallot are "delivered" to itself at the moment it gathers the others' LastVotes: in
//!   one step it promises `b` (if it has promised nothing higher meanwhile; otherwise it
//!   abandons the ballot), counts its own latest vote, picks the decree and votes for it. This
//!   is one of the paper's interleavings (a message to oneself arriving late), and it keeps
//!   messages to oneself off the network, which makes the checked state space far smaller.
//!   A quorum is therefore `{p}` plus the first priests whose LastVote made it a quorum.
//! - A priest *configured to propose* (its `proposal`) starts its first ballot, and every
//!   later one, when its retry timer fires; a timer can fire at any moment in the model, so
//!   dueling presidents and ballots abandoned after lost messages are all explored. A priest
//!   that learns the decree stops its timer. `max_round` bounds the rounds a priest will try,
//!   which keeps the checked state space finite (deployments leave it unbounded).
//! - Clients outside the Chamber may send `Propose(d)`: a priest with no proposal of its own
//!   adopts `d`, starts trying, and answers `Chosen(d')` with the passed decree once it knows
//!   it.
//! - [`Bug`] selects a seeded mutation of the protocol for the checker to catch. The deployed
//!   priest always runs [`Bug::None`].

mod bug;

pub use bug::Bug;

use crate::ballot::{Ballot, PriestIx, Priests, QuorumSystem};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::fmt::{self, Debug, Display};
use std::hash::Hash;
use std::ops::Range;
use std::time::Duration;

/// What a decree may be: anything small that can be compared, hashed, shown and sent.
pub trait Decree:
    Clone
    + Debug
    + Display
    + Eq
    + Ord
    + Hash
    + Send
    + Sync
    + Serialize
    + for<'de> Deserialize<'de>
    + 'static
{
    /// A decree nobody proposed (used only by the seeded bug [`Bug::InventDecree`]).
    fn invented() -> Self;
}

impl Decree for char {
    fn invented() -> Self {
        '?'
    }
}

impl Decree for String {
    fn invented() -> Self {
        "?".to_string()
    }
}

/// A vote: priest voted for `decree` in ballot `ballot` (the paper's `v` with `v_bal`, `v_dec`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vote<D> {
    pub ballot: Ballot,
    pub decree: D,
}

/// The messages of the Synod protocol, named as in the paper.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg<D> {
    /// Step 1: the president asks for promises for ballot `b`.
    NextBallot(Ballot),
    /// Step 2: the sender promises not to vote below `b`; `vote` is its latest earlier vote.
    LastVote(Ballot, Option<Vote<D>>),
    /// Step 3: the president asks its quorum to vote for the decree in ballot `b`.
    BeginBallot(Ballot, D),
    /// Step 4: the sender voted in ballot `b`.
    Voted(Ballot),
    /// Step 5: the decree is passed.
    Success(D),
    /// From a client: please pass this decree (or tell me which one was passed).
    Propose(D),
    /// To a client: this decree was passed.
    Chosen(D),
}

impl<D: Display> Display for Msg<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::NextBallot(b) => write!(f, "NextBallot({b})"),
            Msg::LastVote(b, None) => write!(f, "LastVote({b}, no vote)"),
            Msg::LastVote(b, Some(v)) => {
                write!(f, "LastVote({b}, voted {} in {})", v.decree, v.ballot)
            }
            Msg::BeginBallot(b, d) => write!(f, "BeginBallot({b}, {d})"),
            Msg::Voted(b) => write!(f, "Voted({b})"),
            Msg::Success(d) => write!(f, "Success({d})"),
            Msg::Propose(d) => write!(f, "Propose({d})"),
            Msg::Chosen(d) => write!(f, "Chosen({d})"),
        }
    }
}

impl<D: Display> Debug for Msg<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// The ledger: what a priest must not forget across a crash (the actor's `Storage`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ledger<D> {
    /// `lastTried[p]`: the last ballot this priest tried to begin.
    pub last_tried: Option<Ballot>,
    /// `nextBal[p]`: the highest ballot this priest promised (answered with LastVote).
    pub next_bal: Option<Ballot>,
    /// `prevVote[p]`: this priest's vote in its highest-numbered ballot.
    pub prev_vote: Option<Vote<D>>,
    /// The decree, once this priest learned it was passed.
    pub decree: Option<D>,
}

impl<D> Default for Ledger<D> {
    fn default() -> Self {
        Ledger {
            last_tried: None,
            next_bal: None,
            prev_vote: None,
            decree: None,
        }
    }
}

/// What the priest, as president of ballot `lastTried`, is doing (volatile).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status<D> {
    /// Not conducting a ballot.
    Idle,
    /// Sent NextBallot(lastTried); collecting LastVote messages: who answered, and the
    /// highest-numbered vote among the answers.
    Trying {
        promised: Priests,
        latest: Option<Vote<D>>,
    },
    /// Sent BeginBallot(lastTried, decree) to `quorum`; collecting Voted messages.
    Polling {
        quorum: Priests,
        voted: Priests,
        decree: D,
    },
}

/// A priest's whole state: its ledger and what it is doing as president.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PriestState<D> {
    pub ledger: Ledger<D>,
    pub status: Status<D>,
    /// The decree this priest tries to pass when it presides (its own or a client's).
    pub proposal: Option<D>,
    /// Clients waiting to hear the passed decree.
    pub clients: Vec<Id>,
}

/// The priest's one timer: when it fires, a priest with a proposal tries a new ballot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    Retry,
}

/// A Synod priest: proposer, acceptor and learner in one, as in the paper.
#[derive(Clone, Debug)]
pub struct SynodPriest<D> {
    /// This priest's index among `priests`.
    pub me: PriestIx,
    /// Every priest of the Chamber, by index (the actor ids messages are sent to).
    pub priests: Vec<Id>,
    /// Which sets of priests are quorums.
    pub quorums: QuorumSystem,
    /// The decree this priest proposes from the start, if any.
    pub proposal: Option<D>,
    /// The highest round this priest will try (bounds the model; `u32::MAX` when deployed).
    pub max_round: u32,
    /// How long to wait before trying a new ballot.
    pub retry: Range<Duration>,
    /// A seeded bug, for the checker to find; [`Bug::None`] when deployed.
    pub bug: Bug,
}

impl<D: Decree> SynodPriest<D> {
    /// A correct priest `me` of `n` priests with ids `0..n` (the model's numbering), majority
    /// quorums, optionally proposing `proposal`.
    pub fn new(me: PriestIx, priests: Vec<Id>, proposal: Option<D>) -> Self {
        let n = priests.len();
        SynodPriest {
            me,
            priests,
            quorums: QuorumSystem::majority(n),
            proposal,
            max_round: u32::MAX,
            retry: Duration::from_millis(100)..Duration::from_millis(200),
            bug: Bug::None,
        }
    }

    fn ix(&self, id: Id) -> Option<PriestIx> {
        self.priests
            .iter()
            .position(|&p| p == id)
            .map(|i| i as PriestIx)
    }

    /// The ledger as it is written to stable storage. Under [`Bug::ForgetLastTried`] the
    /// priest keeps `lastTried` only in memory.
    fn persisted(&self, ledger: &Ledger<D>) -> Ledger<D> {
        let mut saved = ledger.clone();
        if self.bug == Bug::ForgetLastTried {
            saved.last_tried = None;
        }
        saved
    }

    /// Whether this priest would start a ballot when its timer fires.
    fn wants_to_try(&self, state: &PriestState<D>) -> bool {
        state.proposal.is_some()
            && state.ledger.decree.is_none()
            && self.next_round(&state.ledger) <= self.max_round
    }

    fn next_round(&self, ledger: &Ledger<D>) -> u32 {
        let tried = ledger.last_tried.map_or(0, |b| b.round);
        let promised = ledger.next_bal.map_or(0, |b| b.round);
        tried.max(promised) + 1
    }

    fn others(&self) -> impl Iterator<Item = Id> + '_ {
        self.priests
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != self.me as usize)
            .map(|(_, id)| *id)
    }

    fn is_quorum(&self, set: Priests) -> bool {
        match self.bug {
            Bug::MinorityQuorum => set.len() >= (self.priests.len() / 2).max(1),
            _ => self.quorums.is_quorum(set),
        }
    }

    /// Step 1: try a new ballot.
    fn try_new_ballot(&self, state: &mut PriestState<D>, o: &mut Out<Self>) {
        let round = self.next_round(&state.ledger);
        let priest = if self.bug == Bug::NoTiebreak {
            0
        } else {
            self.me
        };
        let b = Ballot::new(round, priest);
        state.ledger.last_tried = Some(b);
        state.status = Status::Trying {
            promised: Priests::EMPTY,
            latest: None,
        };
        o.save(self.persisted(&state.ledger));
        if !self.begin_if_quorum(state, o) {
            for q in self.others() {
                o.send(q, Msg::NextBallot(b));
            }
        }
    }

    /// Step 3, with the president's own steps 2 and 4: if the priests that answered, with the
    /// president, form a quorum, the president promises, picks the decree, votes for it and
    /// sends BeginBallot to the others of the quorum. Returns whether the ballot began (or was
    /// abandoned because the president promised a higher ballot meanwhile).
    fn begin_if_quorum(&self, state: &mut PriestState<D>, o: &mut Out<Self>) -> bool {
        let Status::Trying { promised, latest } = &state.status else {
            return false;
        };
        let promised = *promised;
        let quorum = promised.with(self.me);
        if !self.is_quorum(quorum) {
            return false;
        }
        let ballot = state.ledger.last_tried.expect("trying implies lastTried");
        let (Some(own), false) = (
            state.proposal.clone(),
            state.ledger.next_bal.is_some_and(|n| n >= ballot),
        ) else {
            state.status = Status::Idle;
            return true;
        };
        let latest = self.later_vote(latest.clone(), state.ledger.prev_vote.clone());
        let decree = match (latest, self.bug) {
            (_, Bug::IgnoreLastVotes) => own,
            (None, Bug::InventDecree) => D::invented(),
            (None, _) => own,
            (Some(v), _) => v.decree,
        };
        state.ledger.next_bal = Some(ballot);
        state.ledger.prev_vote = Some(Vote {
            ballot,
            decree: decree.clone(),
        });
        state.status = Status::Polling {
            quorum,
            voted: Priests::single(self.me),
            decree: decree.clone(),
        };
        o.save(self.persisted(&state.ledger));
        for q in promised.iter() {
            o.send(
                self.priests[q as usize],
                Msg::BeginBallot(ballot, decree.clone()),
            );
        }
        if self.bug == Bug::PrematureSuccess || quorum == Priests::single(self.me) {
            // A quorum of one (or, under the bug, the president's own vote taken for the
            // quorum's): the decree is passed at once.
            self.announce(state, decree, o);
        }
        true
    }

    /// Step 5's conclusion: write the decree in the ledger and tell every other priest.
    fn announce(&self, state: &mut PriestState<D>, decree: D, o: &mut Out<Self>) {
        self.learn(state, decree.clone(), o);
        for q in self.others() {
            o.send(q, Msg::Success(decree.clone()));
        }
    }

    /// Of two votes, the one B3 says to follow: the higher-numbered (under
    /// [`Bug::LowestLastVote`], wrongly, the lower-numbered).
    fn later_vote(&self, a: Option<Vote<D>>, b: Option<Vote<D>>) -> Option<Vote<D>> {
        match (a, b) {
            (None, v) | (v, None) => v,
            (Some(a), Some(b)) => {
                let b_wins = match self.bug {
                    Bug::LowestLastVote => b.ballot < a.ballot,
                    _ => b.ballot > a.ballot,
                };
                Some(if b_wins { b } else { a })
            }
        }
    }

    fn learn(&self, state: &mut PriestState<D>, decree: D, o: &mut Out<Self>) {
        state.ledger.decree = Some(decree.clone());
        state.status = Status::Idle;
        o.save(self.persisted(&state.ledger));
        o.cancel_timer(Timer::Retry);
        for client in std::mem::take(&mut state.clients) {
            o.send(client, Msg::Chosen(decree.clone()));
        }
    }
}

impl<D: Decree> Actor for SynodPriest<D> {
    type Msg = Msg<D>;
    type State = PriestState<D>;
    type Timer = Timer;
    type Random = ();
    type Storage = Ledger<D>;

    fn on_start(&self, _id: Id, storage: &Option<Ledger<D>>, o: &mut Out<Self>) -> PriestState<D> {
        let state = PriestState {
            ledger: storage.clone().unwrap_or_default(),
            status: Status::Idle,
            proposal: self.proposal.clone(),
            clients: Vec::new(),
        };
        if self.wants_to_try(&state) {
            o.set_timer(Timer::Retry, self.retry.clone());
        }
        state
    }

    fn on_timeout(
        &self,
        _id: Id,
        state: &mut Cow<PriestState<D>>,
        _timer: &Timer,
        o: &mut Out<Self>,
    ) {
        if !self.wants_to_try(state) {
            return;
        }
        let state = state.to_mut();
        self.try_new_ballot(state, o);
        if self.wants_to_try(state) {
            o.set_timer(Timer::Retry, self.retry.clone());
        }
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<PriestState<D>>,
        src: Id,
        msg: Msg<D>,
        o: &mut Out<Self>,
    ) {
        match msg {
            // Step 2: promise not to vote below b, report the latest vote.
            Msg::NextBallot(b) => {
                if state.ledger.next_bal.is_some_and(|n| b <= n) {
                    return;
                }
                let state = state.to_mut();
                state.ledger.next_bal = Some(b);
                if self.bug != Bug::ForgetPromise {
                    o.save(self.persisted(&state.ledger));
                }
                o.send(src, Msg::LastVote(b, state.ledger.prev_vote.clone()));
            }

            // Step 3: with LastVotes from a quorum, begin the ballot.
            Msg::LastVote(b, vote) => {
                let Some(q) = self.ix(src) else { return };
                let Status::Trying { promised, latest } = &state.status else {
                    return;
                };
                let current = state.ledger.last_tried == Some(b);
                let stale_but_counted = self.bug == Bug::StaleLastVote
                    && b.priest == self.me
                    && state.ledger.last_tried.is_some_and(|t| b < t);
                if !(current || stale_but_counted) || promised.contains(q) || q == self.me {
                    return;
                }
                let promised = promised.with(q);
                let latest = self.later_vote(latest.clone(), vote);
                let state = state.to_mut();
                state.status = Status::Trying { promised, latest };
                self.begin_if_quorum(state, o);
            }

            // Step 4: vote, unless promised a higher ballot.
            Msg::BeginBallot(b, d) => {
                let may_vote = match self.bug {
                    Bug::VoteBelowPromise => true,
                    _ => state.ledger.next_bal == Some(b),
                };
                let already = state
                    .ledger
                    .prev_vote
                    .as_ref()
                    .is_some_and(|v| v.ballot == b);
                if !may_vote || already {
                    return;
                }
                let state = state.to_mut();
                state.ledger.prev_vote = Some(Vote {
                    ballot: b,
                    decree: d,
                });
                if self.bug != Bug::ForgetVote {
                    o.save(self.persisted(&state.ledger));
                }
                o.send(src, Msg::Voted(b));
            }

            // Step 5: with Voted from the whole quorum, the decree is passed.
            Msg::Voted(b) => {
                let Some(q) = self.ix(src) else { return };
                let Status::Polling {
                    quorum,
                    voted,
                    decree,
                } = &state.status
                else {
                    return;
                };
                if state.ledger.last_tried != Some(b) || !quorum.contains(q) || voted.contains(q) {
                    return;
                }
                let voted = voted.with(q);
                let passed = quorum.is_subset(voted);
                let decree = decree.clone();
                let state = state.to_mut();
                if !passed {
                    if let Status::Polling { voted: v, .. } = &mut state.status {
                        *v = voted;
                    }
                    return;
                }
                self.announce(state, decree, o);
            }

            // Step 6: write the passed decree in the ledger.
            Msg::Success(d) => {
                if state.ledger.decree.is_some() {
                    return;
                }
                self.learn(state.to_mut(), d, o);
            }

            Msg::Propose(d) => {
                if let Some(passed) = &state.ledger.decree {
                    o.send(src, Msg::Chosen(passed.clone()));
                    return;
                }
                let state = state.to_mut();
                if !state.clients.contains(&src) {
                    state.clients.push(src);
                }
                if state.proposal.is_none() {
                    state.proposal = Some(d);
                    if self.wants_to_try(state) {
                        self.try_new_ballot(state, o);
                        o.set_timer(Timer::Retry, self.retry.clone());
                    }
                }
            }

            Msg::Chosen(_) => {}
        }
    }
}
