//! What a priest keeps: its ledger (what it must not forget across a crash: the decrees,
//! votes and ballots of the paper's priests), and the volatile rest of its state (its
//! status as president, candidate or follower, the law, the commands it holds).

use super::{split_at, DecreeNumber, GENESIS};
use crate::ballot::{Ballot, PriestIx, Priests};
use crate::kv::{Command, Inc, Member, Session, Stamp, Store};
use im::{OrdMap, Vector};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::fmt::{self, Display};
use std::sync::Arc;

/// A decree of the Parliament.
#[derive(Clone, Debug, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Decree {
    /// The olive-day decree: changes nothing; fills a decree number nobody voted for.
    OliveDay,
    /// A batch of client commands, applied in this order. Shared, not copied: a decree
    /// sits in the ledger's votes and learned maps, in the president's pending map and in
    /// messages at once, and `im` copies map nodes (and so their decrees) when it changes
    /// a shared map.
    Commands(Arc<[Command]>),
    /// A batch of client commands stamped by its president (when sessions expire: see
    /// [`crate::kv`], "Forgetting sessions"): the law takes the stamp's time and horizon,
    /// then applies the commands.
    Stamped(Stamp, Arc<[Command]>),
}

impl Decree {
    pub fn commands(&self) -> &[Command] {
        match self {
            Decree::OliveDay => &[],
            Decree::Commands(c) | Decree::Stamped(_, c) => c,
        }
    }

    /// The president's stamp, if the decree has one.
    pub fn stamp(&self) -> Option<&Stamp> {
        match self {
            Decree::Stamped(s, _) => Some(s),
            _ => None,
        }
    }

    /// A decree of these commands, stamped if `stamp` is given.
    pub fn of(stamp: Option<Stamp>, cmds: Vec<Command>) -> Decree {
        match stamp {
            Some(s) => Decree::Stamped(s, cmds.into()),
            None => Decree::Commands(cmds.into()),
        }
    }

    /// Applies the decree, passed as number `number`, to `law`: the membership change in
    /// force from it, its stamp, then its commands in order, calling `outcome` with each
    /// command and what applying it did.
    pub fn apply_to<'a>(
        &'a self,
        number: DecreeNumber,
        law: &mut Store,
        dedup: crate::kv::Dedup,
        outcome: impl FnMut(&'a Command, crate::kv::Outcome),
    ) {
        law.apply_all(number, self.stamp(), self.commands(), dedup, outcome)
    }
}

/// Equal when the same shared commands, else compared command by command. (The ledger's
/// saves compare the decrees of every map node a change copied; the copies share their
/// commands, so this makes those comparisons cheap.)
impl PartialEq for Decree {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Decree::OliveDay, Decree::OliveDay) => true,
            (Decree::Commands(a), Decree::Commands(b)) => Arc::ptr_eq(a, b) || a == b,
            (Decree::Stamped(s, a), Decree::Stamped(t, b)) => {
                s == t && (Arc::ptr_eq(a, b) || a == b)
            }
            _ => false,
        }
    }
}

/// By content, as equality is.
impl std::hash::Hash for Decree {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        if let Decree::Stamped(s, _) = self {
            s.hash(h);
        }
        if let Decree::Commands(c) | Decree::Stamped(_, c) = self {
            c.hash(h);
        }
    }
}

impl Display for Decree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decree::OliveDay => write!(f, "olive-day"),
            Decree::Commands(cs) | Decree::Stamped(_, cs) => {
                if let Some(s) = self.stamp() {
                    write!(f, "@{} ", s.at)?;
                }
                write!(f, "[")?;
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{c}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A vote: the priest voted for `decree` in ballot `ballot` (for some decree number).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vote {
    pub ballot: Ballot,
    pub decree: Decree,
}

/// The ledger: what a priest must not forget across a crash (the actor's `Storage`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ledger {
    /// `lastTried[p]`: the last ballot this priest tried to begin.
    pub last_tried: Option<Ballot>,
    /// `nextBal[p]`: the highest ballot this priest promised (for every decree number).
    pub next_bal: Option<Ballot>,
    /// This priest's latest vote for each decree number.
    pub votes: OrdMap<DecreeNumber, Vote>,
    /// The decrees this priest knows were passed, by number.
    pub learned: OrdMap<DecreeNumber, Decree>,
    /// Set while this priest rejoins after losing its ledger: it promises, votes, confirms
    /// and runs for nothing until it is clear (see "Rejoining after a lost ledger").
    #[serde(default)]
    pub rejoin: Option<Rejoin>,
    /// The latest snapshot of the law: decrees `0..upto` applied. The ledger holds no vote
    /// and no decree below `upto` (see "Snapshots of the law").
    #[serde(default)]
    pub snapshot: Option<Snapshot>,
    /// The token of this ledger when it was made for a priest joining a running Chamber
    /// ([`Ledger::joining`]): the Chamber's change that adds the priest names it, and that
    /// is how the priest finds which incarnation of its index it is (see "Changing the
    /// Chamber"). 0 for a founder's ledger. Last, so a ledger written before it reads as 0.
    #[serde(default)]
    pub nonce: u64,
}

/// A snapshot of the law: the key-value map and the client sessions after applying decrees
/// `0..upto`, in order. Every decree it covers was passed, so it stands for them: a priest
/// that holds it needs none of their votes or records.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// Decrees `0..upto` are applied to `law`.
    pub upto: DecreeNumber,
    pub law: Store,
}

/// A rejoining priest's progress, kept in its ledger so a crash does not restart it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rejoin {
    /// The other priests that told it their highest ballot.
    pub heard: Priests,
    /// The highest ballot they tried or promised: at least every ballot this priest took
    /// part in before it lost its ledger.
    pub highest: Option<Ballot>,
    /// The highest `Rejoined(ballot, until)` a president sent it.
    pub offer: Option<(Ballot, DecreeNumber)>,
}

impl Ledger {
    /// The ledger every priest starts with: the genesis ballot promised; priest 0 tried it.
    pub fn genesis(me: PriestIx) -> Self {
        Ledger {
            last_tried: (me == GENESIS.priest).then_some(GENESIS),
            next_bal: Some(GENESIS),
            ..Ledger::default()
        }
    }

    /// The ledger of a priest that lost its own and rejoins: empty, promising nothing, and
    /// marked as rejoining.
    pub fn rejoining() -> Self {
        Ledger {
            rejoin: Some(Rejoin::default()),
            ..Ledger::default()
        }
    }

    /// The ledger of a priest that joins a running Chamber, with token `nonce` (never 0):
    /// empty, promising nothing. It learns decrees like any priest, and takes part only
    /// once its law names it (a member with this token), from the incarnation the law gave it.
    pub fn joining(nonce: u64) -> Self {
        assert_ne!(nonce, 0, "a founder's ledger has token 0");
        Ledger {
            nonce,
            ..Ledger::default()
        }
    }

    /// The truncation point: the first decree number not covered by the snapshot (0 with
    /// none). The ledger keeps no vote and no decree below it.
    pub fn base(&self) -> DecreeNumber {
        self.snapshot.as_ref().map_or(0, |s| s.upto)
    }

    /// The first decree number this priest does not know to be passed.
    pub fn first_gap(&self) -> DecreeNumber {
        let base = self.base();
        let known = base + self.learned.len() as DecreeNumber;
        match self.learned.keys().next_back() {
            // The usual case: every number from the base to the highest is known, so no
            // scan.
            Some(&top) if top + 1 == known => known,
            // The numbers are ordered and distinct: the first gap is the first position
            // whose number is not the position.
            _ => self
                .learned
                .keys()
                .zip(base..)
                .find(|(n, i)| **n != *i)
                .map_or(known, |(_, i)| i),
        }
    }

    /// Drops every vote and decree below `upto` (they are covered by a snapshot).
    pub fn truncate(&mut self, upto: DecreeNumber) {
        self.votes = split_at(&self.votes, upto).1;
        self.learned = split_at(&self.learned, upto).1;
    }
}

/// A decree the president began and has not yet seen passed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pending {
    pub decree: Decree,
    /// The quorum asked to vote: the president's quorum when the ballot began.
    pub quorum: Priests,
    pub voted: Priests,
}

/// A read (a `get`) held by a president until it may answer it from its law.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Read {
    pub cmd: Command,
    /// The confirmation round that must succeed first: one begun after the read came.
    pub round: u32,
}

/// A president's reads and its confirmation rounds (volatile).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reads {
    /// The first decree number this president took for commands of its own (its `next` on
    /// taking office). No read is answered before every decree below it is applied: those
    /// are the decrees of earlier presidents, which may have answered their clients.
    pub own: DecreeNumber,
    /// The last confirmation round begun, and the last that succeeded (`confirmed <= begun`;
    /// a round is in flight while they differ).
    pub begun: u32,
    pub confirmed: u32,
    /// Who has confirmed round `begun` so far (the president included).
    pub acks: Priests,
    /// The reads not yet answered, in the order they came.
    pub waiting: Vector<Read>,
    /// Each client's last read answered, as a session of the law records a write: a copy
    /// of that request (the network's duplicate, or the client asking again after the
    /// answer was lost) gets the same answer again, which is still right (the client is
    /// still waiting for it, or has moved on and ignores it), and an older request gets
    /// nothing. So neither begins a confirmation round.
    pub answered: OrdMap<Id, Session>,
}

/// What the priest, as (would-be) president of ballot `lastTried`, is doing (volatile).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Not president.
    Follower,
    /// Sent NextBallot(lastTried, from); collecting LastVotes: who promised, and the
    /// highest-numbered vote reported for each decree number.
    Trying {
        from: DecreeNumber,
        promised: Priests,
        votes: OrdMap<DecreeNumber, Vote>,
        /// The highest snapshot end reported above `from`, and who reported it.
        floor: Option<(DecreeNumber, PriestIx)>,
        /// The membership it runs over: in force at `from` (every priest when the Chamber
        /// is fixed).
        members: Priests,
        /// Their incarnations.
        incs: Incs,
    },
    /// President of ballot lastTried with `quorum`; `next` is the next free decree number.
    Presiding {
        quorum: Priests,
        next: DecreeNumber,
        pending: OrdMap<DecreeNumber, Pending>,
        reads: Reads,
        /// The membership the office was elected over: it begins only decrees this
        /// membership votes on, and runs again when a change puts another in force.
        members: Priests,
        /// Their incarnations.
        incs: Incs,
        /// Its vote timer ran out with ballots the others had not passed (a follower is
        /// slow or gone): until its next heartbeat, it votes in each ballot as it begins it
        /// instead of leaving its vote for the timer (see `begin_ballot`).
        votes_first: bool,
    },
}

/// The incarnations of the members an office was elected over, by which it tags its requests
/// and checks the answers (see "Changing the Chamber"): none when the Chamber is fixed, and
/// then every tag is 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Incs(pub Option<Arc<[Member]>>);

impl Incs {
    /// The incarnation of member `q` (0 when the Chamber is fixed, or for no member).
    pub fn of(&self, q: PriestIx) -> Inc {
        self.0
            .as_ref()
            .and_then(|ms| ms.iter().find(|m| m.ix == q))
            .map_or(0, |m| m.inc)
    }
}

/// A priest's whole state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PriestState {
    pub ledger: Ledger,
    pub status: Status,
    /// The law: the decrees applied so far, as a key-value map with client sessions.
    pub law: Store,
    /// Decrees `0..applied` are applied to the law, in order (unless a seeded bug skipped
    /// some).
    pub applied: DecreeNumber,
    /// Client commands waiting to be proposed.
    pub queue: Vector<Command>,
    /// A president's progress: a decree passed since its election timer last fired
    /// (deployed priests only; see `watch_progress`).
    pub progress: bool,
    /// Rejoining priests that asked this priest to take office anew; whoever of them it is
    /// when it next takes office, it tells them (`Rejoined`).
    pub rejoiners: Priests,
    /// A president's answers to member commands whose change is not yet in force, each with
    /// the decree number it is in force from: a change is answered once it is in force.
    pub held: Vector<(DecreeNumber, Id, super::Msg)>,
}

impl PriestState {
    pub fn is_president(&self) -> bool {
        matches!(self.status, Status::Presiding { .. })
    }

    /// Whether the priest knows decree `n` was passed: it keeps it, or its snapshot covers
    /// it.
    pub fn knows(&self, n: DecreeNumber) -> bool {
        n < self.ledger.base() || self.ledger.learned.contains_key(&n)
    }

    /// Whether the command is already queued, in flight, or passed but not yet applied.
    pub(super) fn holds(&self, client: Id, seq: u64) -> bool {
        let same = |c: &Command| c.client == client && c.seq == seq;
        self.queue.iter().any(same)
            || self
                .ledger
                .learned
                .range(self.applied..)
                .any(|(_, d)| d.commands().iter().any(same))
            || match &self.status {
                Status::Presiding { pending, reads, .. } => {
                    pending
                        .values()
                        .any(|p| p.decree.commands().iter().any(same))
                        || reads.waiting.iter().any(|r| same(&r.cmd))
                }
                _ => false,
            }
    }
}

/// What a priest is doing, as a status view reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Presiding over the ballot it leads (`Status::Presiding`).
    President,
    /// Sent NextBallot for a ballot of its own, gathering LastVotes (`Status::Trying`).
    Candidate,
    /// Neither: votes in the ballots of the president it promised (`Status::Follower`).
    Follower,
    /// Rejoining after losing its ledger (`Ledger::rejoin` is set): it learns decrees, and
    /// promises, votes and runs for nothing until it is clear.
    Rejoining,
}

impl Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::President => "president",
            Role::Candidate => "candidate",
            Role::Follower => "follower",
            Role::Rejoining => "rejoining",
        })
    }
}

/// Read-only views of a priest's state, for status pages: they decide nothing.
impl PriestState {
    pub fn role(&self) -> Role {
        if self.ledger.rejoin.is_some() {
            return Role::Rejoining;
        }
        match self.status {
            Status::Presiding { .. } => Role::President,
            Status::Trying { .. } => Role::Candidate,
            Status::Follower => Role::Follower,
        }
    }

    /// The ballot the priest leads or tries (`lastTried`) as president or candidate, or
    /// the ballot it follows (`nextBal`, its highest promise) as a follower.
    pub fn ballot(&self) -> Option<Ballot> {
        match self.status {
            Status::Presiding { .. } | Status::Trying { .. } => self.ledger.last_tried,
            Status::Follower => self.ledger.next_bal,
        }
    }

    /// The president this priest knows: itself when presiding, else the owner of the
    /// highest ballot it promised (where it forwards client requests).
    pub fn president(&self) -> Option<PriestIx> {
        match self.status {
            Status::Presiding { .. } => self.ledger.last_tried.map(|b| b.priest),
            _ => self.ledger.next_bal.map(|b| b.priest),
        }
    }

    /// The quorum a president asks to vote in its ballots (`None` unless presiding).
    pub fn quorum(&self) -> Option<Priests> {
        match self.status {
            Status::Presiding { quorum, .. } => Some(quorum),
            _ => None,
        }
    }

    /// The highest decree number this priest knows was passed (chosen).
    pub fn highest_learned(&self) -> Option<DecreeNumber> {
        let kept = self.ledger.learned.keys().next_back().copied();
        kept.or(self.ledger.base().checked_sub(1))
    }

    /// The end of the prefix of decrees the law has applied: decrees `0..=n` were applied
    /// (decrees are applied in order, never skipping a number).
    pub fn highest_applied(&self) -> Option<DecreeNumber> {
        self.applied.checked_sub(1)
    }
}

/// A presiding priest's state (`Status::Presiding`), with the ballot it presides over
/// (`lastTried`). Made only from a presiding priest's state.
pub(super) struct President<'a> {
    pub(super) ballot: Ballot,
    state: &'a mut PriestState,
}

/// A president's state borrowed apart: the fields of `Status::Presiding` beside the rest of
/// the priest's state, so both can change at once.
pub(super) struct Office<'a> {
    pub(super) members: Priests,
    pub(super) incs: &'a Incs,
    pub(super) quorum: &'a mut Priests,
    pub(super) next: &'a mut DecreeNumber,
    pub(super) pending: &'a mut OrdMap<DecreeNumber, Pending>,
    pub(super) reads: &'a mut Reads,
    pub(super) ledger: &'a mut Ledger,
    pub(super) law: &'a mut Store,
    pub(super) applied: &'a mut DecreeNumber,
    pub(super) queue: &'a mut Vector<Command>,
    pub(super) progress: &'a mut bool,
    pub(super) votes_first: &'a mut bool,
}

impl<'a> President<'a> {
    /// The president this priest is, if it presides.
    pub(super) fn new(state: &'a mut PriestState) -> Option<Self> {
        match (&state.status, state.ledger.last_tried) {
            (Status::Presiding { .. }, Some(ballot)) => Some(President { ballot, state }),
            _ => None,
        }
    }

    /// The president a priest the dispatch found presiding is.
    pub(super) fn of(state: &'a mut PriestState) -> Self {
        Self::new(state).expect("presiding implies lastTried")
    }

    pub(super) fn office(&mut self) -> Office<'_> {
        let PriestState {
            ledger,
            status,
            law,
            applied,
            queue,
            progress,
            ..
        } = &mut *self.state;
        let Status::Presiding {
            quorum,
            next,
            pending,
            reads,
            members,
            incs,
            votes_first,
        } = status
        else {
            unreachable!("a President is made only from a presiding priest")
        };
        Office {
            members: *members,
            incs,
            quorum,
            next,
            pending,
            reads,
            ledger,
            law,
            applied,
            queue,
            progress,
            votes_first,
        }
    }

    /// The priest's whole state, for what every priest does (learning, applying).
    pub(super) fn priest(&mut self) -> &mut PriestState {
        self.state
    }

    pub(super) fn into_priest(self) -> &'a mut PriestState {
        self.state
    }
}

/// A presiding priest's office, read only: for the checks a handler makes before it changes
/// anything.
pub(super) struct Presidency<'a> {
    pub(super) members: Priests,
    pub(super) incs: &'a Incs,
    pub(super) quorum: Priests,
    pub(super) next: DecreeNumber,
    pub(super) pending: &'a OrdMap<DecreeNumber, Pending>,
    pub(super) reads: &'a Reads,
    pub(super) votes_first: bool,
}

impl<'a> Presidency<'a> {
    /// The office of a priest the dispatch found presiding.
    pub(super) fn of(state: &'a PriestState) -> Self {
        let Status::Presiding {
            quorum,
            next,
            pending,
            reads,
            members,
            incs,
            votes_first,
        } = &state.status
        else {
            unreachable!("only a presiding priest's handlers ask")
        };
        Presidency {
            members: *members,
            incs,
            quorum: *quorum,
            next: *next,
            pending,
            reads,
            votes_first: *votes_first,
        }
    }
}
