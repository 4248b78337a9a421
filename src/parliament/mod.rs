//! The multi-decree Parliament (paper, section 3), as a `stateright` actor: a president
//! passes a sequence of numbered decrees, and every priest applies them in order to the law,
//! a key-value map ([`crate::kv`]).
//!
//! # The algorithm
//!
//! The Synod protocol ([`crate::synod`]) passes one decree. The Parliament passes decree
//! number 0, 1, 2, ... and runs one instance of the Synod for each number, but it pays for
//! the first phase only once per presidency:
//!
//! 1. **Election.** Any priest may try to become president; any election is safe, because
//!    a president only ever passes decrees through ballots. A priest that hears no president
//!    (its election timer fires) picks a ballot number `b` above every one it tried or
//!    promised, writes `lastTried = b` in its ledger, and sends `NextBallot(b, n)` to the other
//!    priests, where `n` is the first decree number it does not know to be passed.
//! 2. **LastVote for every decree number at once.** A priest `q` with `nextBal < b` writes
//!    `nextBal = b` in its ledger and answers `LastVote(b, n, votes)`: its vote (ballot and
//!    decree) for *every* decree number `>= n` it ever voted on. It promises, for all those
//!    numbers at once, not to vote in a ballot below `b`.
//! 3. **Taking office.** With LastVotes from a quorum (itself included), the president picks,
//!    for each decree number from `n` up to the highest one reported, the decree of the
//!    highest-numbered vote reported for it (B3, exactly as in the Synod), and where nobody
//!    in the quorum voted, an *olive-day decree* (a no-op: the paper's priests passed
//!    "the olive day" decree to fill gaps). It begins a ballot numbered `b` for each.
//! 4. **Pipelined ballots.** From then on every new decree is one `BeginBallot(b, i, d)` /
//!    `Voted(b, i)` round with the same quorum: no NextBallot is needed, since the quorum's
//!    promise covers every decree number. Up to `window` decree numbers are in flight at once,
//!    and one decree carries up to `batch` client commands (batching).
//! 5. **Success.** When the whole quorum voted for decree `i`, the president writes it in its
//!    ledger (with its next save: see below) and sends `Success(i, d)` to every priest.
//! 6. **The law.** Each priest applies the decrees it knows in decree-number order, never
//!    skipping a number, to its copy of the law. The president answers each client whose
//!    command it applies. A priest that misses a Success learns the decree later: a
//!    president's heartbeat says how far it knows, and a priest that lags asks it for the
//!    decrees from its first gap (`Catchup`); a new president re-proposes any decree a
//!    quorum voted for, so a passed decree is never lost.
//!
//! 7. **Reads.** A `get` needs no decree: the president holds it, and begins a
//!    *confirmation round* (`Confirm(b, r)` to the rest of its quorum) unless one is in
//!    flight. A priest answers `Confirmed(b, r)` if it has promised no ballot above `b`,
//!    from its ledger as it stands (no write). When the whole quorum confirmed a round begun
//!    after the read came, no quorum had promised a higher ballot at that moment, so no
//!    later president had passed anything yet. A write that ended before the read began
//!    was answered by the priest that applied it; so it is either in a decree of an earlier
//!    president, numbered below this president's first own number (its `next` on taking
//!    office: every earlier decree a quorum voted for was reported to it and re-proposed
//!    below that), or in a decree this president passed, which it applied before anyone
//!    else could learn it. Its own decrees still in flight were answered by nobody. So once
//!    the decrees below its first own number are applied, the president answers from its
//!    law, without waiting for the writes in flight. Reads
//!    that come during a round wait for the next one, so one round serves every read that
//!    came before it began; a president that steps down hands its reads to its successor
//!    like any command. A president remembers each client's last read and its answer
//!    (volatile, like its rounds): a copy of that request, duplicated by the network or sent
//!    again after a lost answer, gets the same answer again, and an older one nothing, so a
//!    duplicate begins no round. (Without this, a network that duplicates a read could make
//!    a president begin rounds without end.)
//!
//! A priest votes in `BeginBallot(b, i, d)` when `b >= nextBal` (the Synod's step 4 for
//! decree number `i`; a higher `b` also raises `nextBal`). Ledger writes (`lastTried`,
//! `nextBal`, votes, passed decrees) are saved (`Out::save`) before any message that depends
//! on them leaves.
//!
//! # Rejoining after a lost ledger
//!
//! The paper's priests never lose their ledgers. A deployed priest can (a replaced disk, a
//! container restarted without its volume), and one that came back with an empty ledger
//! could break both of its duties: keep its promises (vote in no ballot below one it
//! promised) and report its votes (a decree chosen with its vote is known to a later
//! president only through the LastVotes of a quorum, and a quorum may meet the chosen
//! decree's voters in this priest alone). So the runtime refuses to start a priest from a
//! missing or empty ledger, and a priest that lost its ledger comes back *rejoining*
//! ([`Ledger::rejoining`], kept in its ledger so a crash does not end it). A rejoining
//! priest promises, votes and confirms nothing and runs for nothing; it learns decrees like
//! any priest. It is clear, and takes part again, when:
//!
//! 1. every other priest told it the highest ballot `h` it tried or promised (`Rejoin`,
//!    `Highest`). A ballot the priest took part in before the loss was tried by its owner,
//!    who saved it as `lastTried` before sending anything, so every such ballot is `<= h`;
//! 2. a president told it that it took office with a ballot `b > h` (`Rejoined(b, until)`):
//!    `b` was tried after its owner answered, so after the loss, and the rejoining priest
//!    promised nothing, so `b`'s quorum is made of other priests. A president asked by a
//!    rejoiner runs again with a new ballot, so one comes;
//! 3. it learned every decree below `until`, the first decree number `b`'s president took
//!    for its own commands.
//!
//! It then promises `b`. Its old promises were all for ballots `<= h < b`, so it keeps them.
//! Its old votes: a decree numbered below `until` it has learned, and a priest reports the
//! decrees it learned in its LastVote (as votes in the new ballot, the highest a report can
//! carry: a passed decree is the only one a later ballot may propose for its number). A
//! decree number `n >= until` had no vote in `b`'s quorum of other priests when they
//! promised `b`, and having promised `b` they vote in no earlier ballot; a quorum that
//! chooses a decree meets that quorum, so no ballot the priest voted in before the loss can
//! choose anything at `n` any more. Two priests that lost their ledgers at once do not
//! answer each other, and stay rejoining: with their memories gone, no rule can tell what
//! they promised. The model checks this rule with `--disk-loss N` (a priest loses
//! everything, messages in flight survive, and it restarts rejoining); the seeded bug
//! `rejoin-votes-at-once` (a priest starts from an empty ledger as if the Chamber were new,
//! what the runtime did before) breaks agreement.
//!
//! One thing the rule cannot give: a ballot number the priest tried before the loss that
//! no other priest had heard of yet (its `NextBallot` still in flight) may be tried again
//! after it is clear. Such a try never took office (its owner's memory of it is gone), so
//! its promises carry the promiser's current votes and mixing them is harmless; but the
//! model's B1 would count it, and the checked configurations (ballot rounds <= 1) cannot
//! reach it.
//!
//! # What this implementation chooses
//!
//! - **The genesis ballot.** Every priest starts having promised ballot `0.0` of priest 0
//!   with no votes, which is exactly the state after priest 0 sent `NextBallot(0.0, 0)` and
//!   every priest answered `LastVote(0.0, 0, nothing)`. So priest 0 starts as president of
//!   ballot `0.0` without a first phase. A priest restarting from a saved ledger is never
//!   president.
//! - **The president's quorum.** The paper lets a president choose any quorum of priests
//!   that promised its ballot; it need not belong to it. The genesis president takes the
//!   highest-numbered priests other than itself that make a quorum (priests 1 and 2 of 3):
//!   it votes in none of its ballots, so no decree waits for its disk. A president elected
//!   later takes office as soon as the LastVotes it has, with its own promise, make a
//!   quorum, and that set is its quorum: it is in it, and its own promise and votes happen
//!   locally, saved in the step that takes office or begins a ballot (as in
//!   [`crate::synod`]). When a LastVote comes after that and the others then make a quorum
//!   without it, it leaves its quorum for the decree numbers it has not begun (re-proposing
//!   what the newcomer reported voting for there, as on taking office). Either way
//!   `BeginBallot` goes only to the other members of the quorum: no message goes to
//!   oneself, which keeps the checked state space small.
//! - **Learning without a save.** A president learns a decree it passed in memory only, so
//!   the answers to its clients and its next ballot leave at once; the record reaches its
//!   disk with its next save (its next vote, or its next heartbeat). The decree was chosen
//!   when its quorum's votes became durable, whatever happens to the president: one that
//!   crashes first restarts without the record, as a priest that had not yet learned the
//!   decree, and learns it again like any other.
//! - **Candidates.** Only priests configured as candidates run an election timer. In the
//!   model a timer can fire at any moment, so every takeover timing is explored; `max_round`
//!   bounds the rounds tried (unbounded when deployed). Deployed priests also send
//!   heartbeats, and a candidate that heard its president since its timer last fired does
//!   not run. A deployed president asks again, on each heartbeat, every quorum member whose
//!   vote for a pending decree has not arrived (lost messages), and if no decree passed in a
//!   whole election timeout while some were pending (a quorum member is gone), it runs
//!   again with a higher ballot, whose quorum is whichever priests answer.
//! - **Client commands** ([`crate::kv::Command`]) arrive as `Request`. A president queues
//!   them and proposes them; a priest trying to become president queues them; any other
//!   priest forwards them to the owner of the ballot it promised. A president that learns
//!   of a higher ballot steps down and hands its queued and unfinished commands to the
//!   new ballot's owner, so a command can be passed twice: the law's sessions make the
//!   second copy a no-op that gets the first copy's answer.
//! - Decree numbers are bounded by `max_decrees` (unbounded when deployed) so the model is
//!   finite.
//! - [`Bug`] selects a seeded mutation for the checker to catch; deployed priests run
//!   [`Bug::None`].

mod bug;

pub use bug::{Bug, BugInfo};

use crate::ballot::{Ballot, PriestIx, Priests, QuorumSystem};
use crate::kv::{Answer, Command, Dedup, Op, Outcome, Session, Store};
use im::{OrdMap, Vector};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::fmt::{self, Debug, Display};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// A decree number: the position of a decree in the Parliament's sequence (0, 1, 2, ...).
pub type DecreeNumber = u32;

/// A deployed president's bound on the bytes of commands in one decree
/// ([`ParliamentPriest::batch_bytes`]); a client command larger than this is refused before
/// it reaches the Parliament. A decree, with its encoding's overhead, then fits in one UDP
/// datagram (64 KiB) with room to spare, and so does a `LastVote` reporting the one decree a
/// deployed president (window 1) has in flight.
pub const BATCH_BYTES: usize = 48_000;

/// How many decree numbers a deployed president keeps in flight. One: the commands that
/// arrive while a decree is being passed all go into the next decree, so under load each
/// decree (and each disk sync at every priest) carries many commands. Measured on the
/// 2-core machine with 16 clients, windows of 2, 4 and 8 passed fewer commands per second
/// than 1, since they spend more syncs on smaller decrees.
pub const WINDOW: usize = 1;

/// The ballot every priest starts having promised: priest 0's round 0.
pub const GENESIS: Ballot = Ballot::new(0, 0);

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
}

impl Decree {
    pub fn commands(&self) -> &[Command] {
        match self {
            Decree::OliveDay => &[],
            Decree::Commands(c) => c,
        }
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
            _ => false,
        }
    }
}

/// By content, as equality is.
impl std::hash::Hash for Decree {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        if let Decree::Commands(c) = self {
            c.hash(h);
        }
    }
}

/// A client command as the `Request` that carries it.
impl From<Command> for Msg {
    fn from(c: Command) -> Msg {
        Msg::Request {
            client: c.client,
            seq: c.seq,
            op: c.op,
        }
    }
}

impl Display for Decree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decree::OliveDay => write!(f, "olive-day"),
            Decree::Commands(cs) => {
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

/// The messages of the Parliament, named as in the paper, and the client messages.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Step 1: the president asks for promises for ballot `ballot`, for every decree number
    /// from `from` on.
    NextBallot { ballot: Ballot, from: DecreeNumber },
    /// Step 2: the sender promises; `votes` are its votes for decree numbers `>= from`.
    LastVote {
        ballot: Ballot,
        from: DecreeNumber,
        votes: Vec<(DecreeNumber, Vote)>,
    },
    /// Step 3/4: the president asks its quorum to vote for decree `decree` as number `number`.
    BeginBallot {
        ballot: Ballot,
        number: DecreeNumber,
        decree: Decree,
    },
    /// The sender voted for decree number `number` in ballot `ballot`.
    Voted {
        ballot: Ballot,
        number: DecreeNumber,
    },
    /// Step 5: decree `decree` is passed as number `number`.
    Success {
        number: DecreeNumber,
        decree: Decree,
    },
    /// The president of `ballot` knows every decree below `known`.
    Heartbeat { ballot: Ballot, known: DecreeNumber },
    /// Please send me every passed decree from `from` on.
    Catchup { from: DecreeNumber },
    /// The president of `ballot` asks, for the reads it holds, whether the sender still
    /// promises no higher ballot (confirmation round `round`).
    Confirm { ballot: Ballot, round: u32 },
    /// The sender had promised no ballot above `ballot` when round `round`'s Confirm came.
    Confirmed { ballot: Ballot, round: u32 },
    /// From a priest that lost its ledger and rejoins: tell me the highest ballot you tried
    /// or promised, and take office anew (see "Rejoining after a lost ledger").
    Rejoin,
    /// The answer to `Rejoin`: the highest ballot the sender tried or promised.
    Highest { ballot: Option<Ballot> },
    /// To a rejoining priest: the sender took office with `ballot` after the rejoiner began
    /// (so without it), and passed or knew every decree below `until` under it.
    Rejoined { ballot: Ballot, until: DecreeNumber },
    /// From a client (or forwarded by a priest): please pass this command.
    Request { client: Id, seq: u64, op: Op },
    /// To a client: the answer to its command number `seq`.
    Reply { seq: u64, answer: Answer },
}

impl Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::NextBallot { ballot, from } => write!(f, "NextBallot({ballot}, from {from})"),
            Msg::LastVote {
                ballot,
                from,
                votes,
            } => {
                write!(f, "LastVote({ballot}, from {from}:")?;
                if votes.is_empty() {
                    write!(f, " no votes")?;
                }
                for (n, v) in votes {
                    write!(f, " #{n} {} in {}", v.decree, v.ballot)?;
                }
                write!(f, ")")
            }
            Msg::BeginBallot {
                ballot,
                number,
                decree,
            } => write!(f, "BeginBallot({ballot}, #{number} {decree})"),
            Msg::Voted { ballot, number } => write!(f, "Voted({ballot}, #{number})"),
            Msg::Success { number, decree } => write!(f, "Success(#{number} {decree})"),
            Msg::Heartbeat { ballot, known } => write!(f, "Heartbeat({ballot}, knows <{known})"),
            Msg::Catchup { from } => write!(f, "Catchup(from {from})"),
            Msg::Confirm { ballot, round } => write!(f, "Confirm({ballot}, round {round})"),
            Msg::Confirmed { ballot, round } => write!(f, "Confirmed({ballot}, round {round})"),
            Msg::Rejoin => write!(f, "Rejoin"),
            Msg::Highest { ballot: Some(b) } => write!(f, "Highest({b})"),
            Msg::Highest { ballot: None } => write!(f, "Highest(none)"),
            Msg::Rejoined { ballot, until } => write!(f, "Rejoined({ballot}, until #{until})"),
            Msg::Request { client, seq, op } => {
                write!(f, "Request(c{}#{seq} {op})", usize::from(*client))
            }
            Msg::Reply { seq, answer } => write!(f, "Reply(#{seq} {answer})"),
        }
    }
}

impl Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
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

    /// The first decree number this priest does not know to be passed.
    pub fn first_gap(&self) -> DecreeNumber {
        let known = self.learned.len() as DecreeNumber;
        match self.learned.keys().next_back() {
            // The usual case: every number below the highest is known, so no scan.
            Some(&top) if top + 1 == known => known,
            // The numbers are ordered and distinct: the first gap is the first position
            // whose number is not the position.
            _ => self
                .learned
                .keys()
                .zip(0..)
                .find(|(n, i)| **n != *i)
                .map_or(known, |(_, i)| i),
        }
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
    },
    /// President of ballot lastTried with `quorum`; `next` is the next free decree number.
    Presiding {
        quorum: Priests,
        next: DecreeNumber,
        pending: OrdMap<DecreeNumber, Pending>,
        reads: Reads,
    },
}

/// A priest's whole state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PriestState {
    pub ledger: Ledger,
    pub status: Status,
    /// The law: the decrees applied so far, as a key-value map with client sessions.
    pub law: Store,
    /// The decree numbers applied to the law, in the order applied (`0, 1, 2, ...` unless a
    /// seeded bug applies them out of order).
    pub applied: Vector<DecreeNumber>,
    /// Client commands waiting to be proposed.
    pub queue: Vector<Command>,
    /// Heard from the president since the election timer last fired (deployed priests only).
    pub heard: bool,
    /// Rejoining priests that asked this priest to take office anew; whoever of them it is
    /// when it next takes office, it tells them (`Rejoined`).
    pub rejoiners: Priests,
}

impl PriestState {
    pub fn is_president(&self) -> bool {
        matches!(self.status, Status::Presiding { .. })
    }

    /// The decrees applied to the law, in the order applied.
    pub fn applied_decrees(&self) -> impl Iterator<Item = &Decree> + '_ {
        self.applied.iter().map(|n| &self.ledger.learned[n])
    }

    /// Whether the command is already queued, in flight, or passed but not yet applied.
    fn holds(&self, client: Id, seq: u64) -> bool {
        let same = |c: &Command| c.client == client && c.seq == seq;
        self.queue.iter().any(same)
            || self
                .ledger
                .learned
                .range(self.applied.len() as DecreeNumber..)
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
        self.ledger.learned.keys().next_back().copied()
    }

    /// The end of the prefix of decrees the law has applied: decrees `0..=n` were applied
    /// (decrees are applied in order, never skipping a number).
    pub fn highest_applied(&self) -> Option<DecreeNumber> {
        (self.applied.len() as DecreeNumber).checked_sub(1)
    }
}

/// The priest's timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A candidate that heard no president tries to become one.
    Election,
    /// A president tells the others it is alive and how far it knows.
    Heartbeat,
}

/// A Parliament priest: president when elected, voter and learner always.
#[derive(Clone, Debug)]
pub struct ParliamentPriest {
    /// This priest's index among `priests`.
    pub me: PriestIx,
    /// Every priest of the Chamber, by index.
    pub priests: Vec<Id>,
    /// Which sets of priests are quorums.
    pub quorums: QuorumSystem,
    /// Whether this priest runs for president when it hears none.
    pub candidate: bool,
    /// The highest ballot round this priest will try (`u32::MAX` when deployed).
    pub max_round: u32,
    /// Decree numbers stop here (`u32::MAX` when deployed).
    pub max_decrees: DecreeNumber,
    /// How many decree numbers a president keeps in flight at once.
    pub window: usize,
    /// How many client commands one decree carries at most.
    pub batch: usize,
    /// About how many bytes of commands ([`Command::size`]) one decree carries at most (a
    /// decree always carries at least one command). Deployed, this keeps every message
    /// that carries decrees (a `LastVote` reports up to `window` of them) within one
    /// datagram.
    pub batch_bytes: usize,
    /// Election timeout.
    pub election: Range<Duration>,
    /// Heartbeat period; `None` sends no heartbeats (the model's default: there a timer can
    /// fire at any moment, so heartbeats would not change which elections are explored).
    pub heartbeat: Option<Range<Duration>>,
    /// Whether a president whose decree stays pending for a whole election timeout runs
    /// again (deployed: yes; needs heartbeats). The model leaves it off: there timers fire at
    /// any moment, and a president's re-runs multiply the states past what fits in memory.
    pub rerun_when_stalled: bool,
    /// A seeded bug, for the checker to find; [`Bug::None`] when deployed.
    pub bug: Bug,
}

/// What a handler does, gathered so the ledger is saved before any message leaves.
#[derive(Default)]
struct Step {
    save: bool,
    sends: Vec<(Id, Msg)>,
}

impl ParliamentPriest {
    /// A correct, deployable priest `me` of `priests`, majority quorums, every priest a
    /// candidate.
    pub fn new(me: PriestIx, priests: Vec<Id>) -> Self {
        let n = priests.len();
        ParliamentPriest {
            me,
            priests,
            quorums: QuorumSystem::majority(n),
            candidate: true,
            max_round: u32::MAX,
            max_decrees: DecreeNumber::MAX,
            window: WINDOW,
            batch: 512,
            batch_bytes: BATCH_BYTES,
            election: Duration::from_millis(300)..Duration::from_millis(600),
            heartbeat: Some(Duration::from_millis(100)..Duration::from_millis(100)),
            rerun_when_stalled: true,
            bug: Bug::None,
        }
    }

    fn ix(&self, id: Id) -> Option<PriestIx> {
        self.priests
            .iter()
            .position(|&p| p == id)
            .map(|i| i as PriestIx)
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

    /// The genesis president's quorum: the highest-numbered priests other than itself that
    /// make a quorum (priests 1 and 2 of 3), or, in a Chamber too small for that, every
    /// priest up to a quorum with itself included.
    fn genesis_quorum(&self) -> Priests {
        let mut q = Priests::EMPTY;
        for i in (0..self.priests.len() as PriestIx).rev() {
            if self.is_quorum(q) {
                break;
            }
            if i != self.me {
                q = q.with(i);
            }
        }
        if !self.is_quorum(q) {
            q = q.with(self.me);
        }
        q
    }

    fn next_round(&self, ledger: &Ledger) -> u32 {
        let tried = ledger.last_tried.map_or(0, |b| b.round);
        let promised = ledger.next_bal.map_or(0, |b| b.round);
        tried.max(promised) + 1
    }

    fn dedup(&self) -> Dedup {
        if self.bug == Bug::NoSessionDedup {
            Dedup::Off
        } else {
            Dedup::Sessions
        }
    }

    fn may_run(&self, state: &PriestState) -> bool {
        self.candidate
            && !state.is_president()
            && state.ledger.rejoin.is_none()
            && self.next_round(&state.ledger) <= self.max_round
    }

    /// Every priest but this one.
    fn others_set(&self) -> Priests {
        (0..self.priests.len() as PriestIx)
            .filter(|&q| q != self.me)
            .collect()
    }

    /// A president runs again with a new ballot (a stalled one, or one a rejoining priest
    /// asked): the commands it had begun or held go back to its queue, so the new ballot
    /// proposes them again (those a quorum voted for come back through the LastVotes).
    fn rerun(&self, state: &mut PriestState, step: &mut Step) {
        if self.next_round(&state.ledger) > self.max_round {
            return;
        }
        if let Status::Presiding { pending, reads, .. } = &state.status {
            let mut held: Vec<Command> = pending
                .values()
                .flat_map(|p| p.decree.commands().iter().cloned())
                .collect();
            held.extend(reads.waiting.iter().map(|r| r.cmd.clone()));
            for c in held.into_iter().rev() {
                state.queue.push_front(c);
            }
        }
        self.run_for_president(state, step);
    }

    /// A rejoining priest is clear once every other priest told it its highest ballot `h`,
    /// a president told it that it took office with a ballot `b > h` (so after the rejoiner
    /// began, and without it), and it has learned every decree below that president's first
    /// own number. It then promises `b` and takes part again (see "Rejoining after a lost
    /// ledger").
    fn clear_rejoin(&self, state: &mut PriestState, step: &mut Step) {
        let Some(r) = &state.ledger.rejoin else {
            return;
        };
        let Some((ballot, until)) = r.offer else {
            return;
        };
        if !self.others_set().is_subset(r.heard)
            || r.highest.is_some_and(|h| ballot <= h)
            || state.ledger.first_gap() < until
        {
            return;
        }
        state.ledger.rejoin = None;
        if state.ledger.next_bal.is_none_or(|n| n < ballot) {
            state.ledger.next_bal = Some(ballot);
        }
        step.save = true;
    }

    /// A new president's timers (deployed only): its heartbeat, and the election timer by
    /// which it watches its own progress (see `on_timeout`).
    fn arm_office_timers(&self, o: &mut Out<Self>) {
        if let Some(h) = &self.heartbeat {
            o.set_timer(Timer::Heartbeat, h.clone());
            if self.rerun_when_stalled {
                o.set_timer(Timer::Election, self.election.clone());
            }
        }
    }

    fn finish(&self, state: &PriestState, step: Step, o: &mut Out<Self>) {
        if step.save {
            o.save(state.ledger.clone());
        }
        for (dst, msg) in step.sends {
            o.send(dst, msg);
        }
    }

    /// Step 1: run for president with a new ballot.
    fn run_for_president(&self, state: &mut PriestState, step: &mut Step) {
        let round = self.next_round(&state.ledger);
        let priest = if self.bug == Bug::NoTiebreak {
            0
        } else {
            self.me
        };
        let ballot = Ballot::new(round, priest);
        let from = state.ledger.first_gap();
        state.ledger.last_tried = Some(ballot);
        step.save = self.bug != Bug::ForgetLastTried;
        if self.bug == Bug::SkipPhaseOneOnTakeover {
            // Takes office at once, as if every priest had promised and reported nothing.
            let quorum = self.genesis_quorum();
            self.take_office(state, quorum, from, OrdMap::new(), step);
            return;
        }
        state.status = Status::Trying {
            from,
            promised: Priests::EMPTY,
            votes: OrdMap::new(),
        };
        for q in self.others() {
            step.sends.push((q, Msg::NextBallot { ballot, from }));
        }
    }

    /// Step 3: with a quorum's LastVotes, promise, re-propose what the quorum voted for, fill
    /// gaps with olive-day decrees, then propose queued commands.
    fn take_office(
        &self,
        state: &mut PriestState,
        quorum: Priests,
        from: DecreeNumber,
        reported: OrdMap<DecreeNumber, Vote>,
        step: &mut Step,
    ) {
        let ballot = state.ledger.last_tried.expect("running implies lastTried");
        if state.ledger.next_bal.is_some_and(|n| n > ballot) {
            // Promised a higher ballot meanwhile: this ballot is dead.
            state.status = Status::Follower;
            return;
        }
        state.ledger.next_bal = Some(ballot);
        let mut votes = reported;
        for (n, v) in state.ledger.votes.range(from..) {
            merge_vote(&mut votes, *n, v.clone());
        }
        let top = votes.keys().next_back().copied();
        let last_known = state.ledger.learned.keys().next_back().map(|n| n + 1);
        let next = [Some(from), top.map(|t| t + 1), last_known]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        state.status = Status::Presiding {
            quorum,
            next,
            pending: OrdMap::new(),
            reads: Reads {
                own: if self.bug == Bug::ReadIgnoresEarlierPresidents {
                    0
                } else {
                    next
                },
                ..Reads::default()
            },
        };
        step.save = true;
        for q in std::mem::take(&mut state.rejoiners).iter() {
            step.sends.push((
                self.priests[q as usize],
                Msg::Rejoined {
                    ballot,
                    until: next,
                },
            ));
        }
        self.repropose(state, from, &votes, step);
        // Commands re-proposed from the votes need not be proposed again.
        let Status::Presiding { pending, .. } = &state.status else {
            return;
        };
        let proposed: Vec<(Id, u64)> = pending
            .values()
            .flat_map(|p| p.decree.commands().iter().map(|c| (c.client, c.seq)))
            .collect();
        state
            .queue
            .retain(|c| !proposed.contains(&(c.client, c.seq)));
        self.propose_queued(state, step);
    }

    /// Whether the late LastVote of `q` lets the president, now in its own quorum, leave it:
    /// the others of its quorum and `q` make a quorum by themselves.
    fn joins_quorum(&self, state: &PriestState, q: PriestIx) -> bool {
        let Status::Presiding { quorum, .. } = &state.status else {
            return false;
        };
        q != self.me
            && quorum.contains(self.me)
            && !quorum.contains(q)
            && self.is_quorum(quorum.without(self.me).with(q))
    }

    /// A LastVote that came after the president took office (its promise and the first
    /// LastVotes made a quorum with itself in it): the others now make a quorum without it,
    /// so from its next free decree number on, its ballots ask them and it votes in none.
    /// Ballots already begun keep their quorum. The newcomer may have voted, in an earlier
    /// ballot, for numbers at or above the next free one (nobody in the first quorum did:
    /// they reported every such vote on taking office): B3 for the new quorum means
    /// re-proposing those decrees, with olive-day decrees in the gaps below them, exactly as
    /// on taking office.
    fn quorum_of_others(
        &self,
        state: &mut PriestState,
        q: PriestIx,
        votes: Vec<(DecreeNumber, Vote)>,
        step: &mut Step,
    ) {
        let Some(ballot) = state.ledger.last_tried else {
            return;
        };
        let Status::Presiding {
            quorum,
            next,
            reads,
            ..
        } = &mut state.status
        else {
            return;
        };
        *quorum = quorum.without(self.me).with(q);
        if reads.confirmed != reads.begun {
            // The round in flight now needs the newcomer's confirmation too.
            let round = reads.begun;
            step.sends
                .push((self.priests[q as usize], Msg::Confirm { ballot, round }));
        }
        let first = *next;
        let mut reported = OrdMap::new();
        for (n, v) in votes.into_iter().filter(|(n, _)| *n >= first) {
            merge_vote(&mut reported, n, v);
        }
        if let Some(&top) = reported.keys().next_back() {
            *next = top + 1;
        }
        self.repropose(state, first, &reported, step);
        self.propose_queued(state, step);
    }

    /// B3 for decree numbers `from` up to the highest reported: begins a ballot for each
    /// number not known to be passed, with the decree of the highest-numbered vote
    /// reported for it, or an olive-day decree where nobody reported one.
    fn repropose(
        &self,
        state: &mut PriestState,
        from: DecreeNumber,
        votes: &OrdMap<DecreeNumber, Vote>,
        step: &mut Step,
    ) {
        let Some(&top) = votes.keys().next_back() else {
            return;
        };
        for n in from..=top {
            if state.ledger.learned.contains_key(&n) {
                continue;
            }
            let decree = match votes.get(&n) {
                Some(_) if self.bug == Bug::FillGapWithOwnDecree && !state.queue.is_empty() => {
                    let cmds: Vec<Command> = std::mem::take(&mut state.queue).into_iter().collect();
                    Decree::Commands(cmds.into())
                }
                Some(v) => v.decree.clone(),
                None if self.bug == Bug::GapFillerWrites => Decree::Commands(
                    vec![Command {
                        client: self.priests[self.me as usize],
                        seq: 1,
                        op: Op::Put {
                            key: "x".into(),
                            value: String::new(),
                        },
                    }]
                    .into(),
                ),
                None => Decree::OliveDay,
            };
            self.begin_ballot(state, n, decree, step);
        }
    }

    /// Step 4 for decree number `n`: the president asks its quorum to vote, and votes too
    /// if it is in its quorum.
    fn begin_ballot(
        &self,
        state: &mut PriestState,
        n: DecreeNumber,
        decree: Decree,
        step: &mut Step,
    ) {
        let ballot = state
            .ledger
            .last_tried
            .expect("presiding implies lastTried");
        let Status::Presiding {
            quorum, pending, ..
        } = &mut state.status
        else {
            return;
        };
        let quorum = *quorum;
        let voted = if quorum.contains(self.me) {
            if self.bug != Bug::PresidentForgetsOwnVote {
                state.ledger.votes.insert(
                    n,
                    Vote {
                        ballot,
                        decree: decree.clone(),
                    },
                );
                step.save = true;
            }
            Priests::single(self.me)
        } else {
            Priests::EMPTY
        };
        pending.insert(
            n,
            Pending {
                decree: decree.clone(),
                quorum,
                voted,
            },
        );
        for q in quorum.iter().filter(|&q| q != self.me) {
            step.sends.push((
                self.priests[q as usize],
                Msg::BeginBallot {
                    ballot,
                    number: n,
                    decree: decree.clone(),
                },
            ));
        }
        if self.bug == Bug::ReplyBeforeChosen {
            self.reply_tentatively(state, n, step);
        }
        let passed = self.bug == Bug::PrematureSuccess || quorum == Priests::single(self.me);
        if passed {
            self.pass(state, n, step);
        }
    }

    /// Seeded bug: answer the clients of decree `n` from the president's tentative order.
    fn reply_tentatively(&self, state: &PriestState, n: DecreeNumber, step: &mut Step) {
        let Status::Presiding { pending, .. } = &state.status else {
            return;
        };
        let mut law = state.law.clone();
        for (m, p) in pending.range(..=n) {
            for c in p.decree.commands() {
                let outcome = law.apply(c, self.dedup());
                if *m == n {
                    if let Some(answer) = outcome.answer() {
                        step.sends.push((
                            c.client,
                            Msg::Reply {
                                seq: c.seq,
                                answer: answer.clone(),
                            },
                        ));
                    }
                }
            }
        }
    }

    /// Proposes queued commands while the window has room.
    fn propose_queued(&self, state: &mut PriestState, step: &mut Step) {
        loop {
            let Status::Presiding { next, pending, .. } = &mut state.status else {
                return;
            };
            if pending.len() >= self.window || state.queue.is_empty() || *next >= self.max_decrees {
                return;
            }
            let n = *next;
            *next += 1;
            let mut take = 0;
            let mut bytes = 0;
            for c in state.queue.iter().take(self.batch) {
                bytes += c.size();
                if take > 0 && bytes > self.batch_bytes {
                    break;
                }
                take += 1;
            }
            let cmds: Vec<Command> = state.queue.slice(..take).into_iter().collect();
            self.begin_ballot(state, n, Decree::Commands(cmds.into()), step);
        }
    }

    /// Step 5: decree `n` is passed; tell everyone, learn it, propose more. The president
    /// learns it without a save: the decree is chosen whatever happens to this priest (its
    /// quorum's votes are durable), so the answers to its clients and the next ballot need
    /// not wait for a disk write. The record goes to disk with the president's next save
    /// (its next vote or heartbeat); a president that crashes before then learns the decree
    /// again like any lagging priest.
    fn pass(&self, state: &mut PriestState, n: DecreeNumber, step: &mut Step) {
        let Status::Presiding { pending, .. } = &mut state.status else {
            return;
        };
        let Some(p) = pending.remove(&n) else { return };
        if self.rerun_when_stalled {
            // Progress, for the president's own election timer (see `on_timeout`).
            state.heard = true;
        }
        for q in self.others() {
            step.sends.push((
                q,
                Msg::Success {
                    number: n,
                    decree: p.decree.clone(),
                },
            ));
        }
        self.learn(state, n, p.decree, false, step);
        if self.bug != Bug::StrandQueuedCommands {
            self.propose_queued(state, step);
        }
    }

    /// Step 6: write decree `n` in the ledger (saved with this handler if `save`) and apply
    /// what can be applied.
    fn learn(
        &self,
        state: &mut PriestState,
        n: DecreeNumber,
        decree: Decree,
        save: bool,
        step: &mut Step,
    ) {
        if state.ledger.learned.contains_key(&n) {
            return;
        }
        // A decree this priest voted for comes back in its Success as a copy of its own:
        // keep the one it holds, so a follower's memory holds each decree once, not twice.
        let decree = match state.ledger.votes.get(&n) {
            Some(v) if v.decree == decree => v.decree.clone(),
            _ => decree,
        };
        state.ledger.learned.insert(n, decree.clone());
        step.save |= save;
        if let Status::Presiding { pending, .. } = &mut state.status {
            // Another president's decree passed as number `n`: the commands this president
            // had begun there wait for a new number.
            if let Some(p) = pending.remove(&n).filter(|p| p.decree != decree) {
                for c in p.decree.commands().iter().rev() {
                    state.queue.push_front(c.clone());
                }
            }
        }
        if self.bug == Bug::ApplyOutOfOrder {
            self.apply(state, n, step);
            return;
        }
        while state
            .ledger
            .learned
            .contains_key(&(state.applied.len() as DecreeNumber))
        {
            let n = state.applied.len() as DecreeNumber;
            self.apply(state, n, step);
            if self.bug == Bug::ApplyOnePerDecreeLearned {
                break;
            }
        }
        self.answer_reads(state, step);
        self.clear_rejoin(state, step);
    }

    /// A president's read: held until a confirmation round begun after it came succeeds
    /// (no higher ballot had been promised by a quorum, so no later president had passed
    /// anything) and the decrees of earlier presidents are applied; then answered from the
    /// law. No decree, no disk write.
    fn read(&self, state: &mut PriestState, cmd: Command, step: &mut Step) {
        if self.bug == Bug::ReadWithoutConfirm {
            answer_read(&state.law, &cmd, step);
            return;
        }
        let Status::Presiding { reads, .. } = &mut state.status else {
            return;
        };
        let round = reads.begun + 1;
        reads.waiting.push_back(Read { cmd, round });
        if reads.confirmed == reads.begun {
            self.begin_round(state, step);
        }
    }

    /// Begins a confirmation round: asks the rest of the quorum whether they still promise
    /// nothing above this president's ballot.
    fn begin_round(&self, state: &mut PriestState, step: &mut Step) {
        let Some(ballot) = state.ledger.last_tried else {
            return;
        };
        let Status::Presiding { quorum, reads, .. } = &mut state.status else {
            return;
        };
        reads.begun += 1;
        reads.acks = Priests::single(self.me);
        let round = reads.begun;
        for q in quorum.iter().filter(|&q| q != self.me) {
            step.sends
                .push((self.priests[q as usize], Msg::Confirm { ballot, round }));
        }
        self.round_done(state, step);
    }

    /// If the whole quorum confirmed the round in flight, it succeeded: answer what can be
    /// answered, and begin the next round if reads came meanwhile.
    fn round_done(&self, state: &mut PriestState, step: &mut Step) {
        let Status::Presiding { quorum, reads, .. } = &mut state.status else {
            return;
        };
        if reads.confirmed == reads.begun || !quorum.is_subset(reads.acks) {
            return;
        }
        reads.confirmed = reads.begun;
        self.answer_reads(state, step);
        let Status::Presiding { reads, .. } = &state.status else {
            return;
        };
        if reads.waiting.iter().any(|r| r.round > reads.confirmed) {
            self.begin_round(state, step);
        }
    }

    /// Answers, from the law, every read whose round succeeded, once the decrees of earlier
    /// presidents are applied.
    fn answer_reads(&self, state: &mut PriestState, step: &mut Step) {
        let applied = state.applied.len() as DecreeNumber;
        let Status::Presiding { reads, .. } = &mut state.status else {
            return;
        };
        if reads.waiting.is_empty() || applied < reads.own {
            return;
        }
        let confirmed = reads.confirmed;
        let (ready, wait): (Vector<Read>, Vector<Read>) = std::mem::take(&mut reads.waiting)
            .into_iter()
            .partition(|r| r.round <= confirmed);
        reads.waiting = wait;
        for r in ready {
            if let Some(answer) = answer_read(&state.law, &r.cmd, step) {
                let seq = r.cmd.seq;
                reads.answered.insert(r.cmd.client, Session { seq, answer });
            }
        }
    }

    /// Applies decree `n` to the law; a president answers the commands' clients.
    fn apply(&self, state: &mut PriestState, n: DecreeNumber, step: &mut Step) {
        state.applied.push_back(n);
        let decree = state.ledger.learned[&n].clone();
        let reply = state.is_president() && self.bug != Bug::ReplyBeforeChosen;
        for c in decree.commands() {
            let outcome = state.law.apply(c, self.dedup());
            state
                .queue
                .retain(|q| !(q.client == c.client && q.seq == c.seq));
            if let (true, Some(answer)) = (reply, outcome.answer()) {
                step.sends.push((
                    c.client,
                    Msg::Reply {
                        seq: c.seq,
                        answer: answer.clone(),
                    },
                ));
            }
        }
    }

    /// The priest learned of ballot `ballot` of another priest, higher than its own: it is
    /// no longer president (or candidate), and hands its commands to that ballot's owner.
    fn step_down(
        &self,
        state: &mut PriestState,
        ballot: Ballot,
        o: &mut Out<Self>,
        step: &mut Step,
    ) {
        let mut cmds: Vec<Command> = std::mem::take(&mut state.queue).into_iter().collect();
        let was_running = !matches!(state.status, Status::Follower);
        if let Status::Presiding { pending, reads, .. } = &state.status {
            for p in pending.values() {
                cmds.extend(p.decree.commands().iter().cloned());
            }
            cmds.extend(reads.waiting.iter().map(|r| r.cmd.clone()));
        }
        state.status = Status::Follower;
        if self.bug == Bug::StepDownDropsCommands {
            cmds.clear();
        }
        let owner = self.priests.get(ballot.priest as usize).copied();
        match owner {
            Some(owner) if ballot.priest != self.me => {
                for c in cmds {
                    step.sends.push((owner, c.into()));
                }
            }
            _ => state.queue = cmds.into_iter().collect(),
        }
        if was_running && self.may_run(state) {
            o.set_timer(Timer::Election, self.election.clone());
        }
    }

    fn rebuild(&self, ledger: Ledger) -> PriestState {
        let mut state = PriestState {
            ledger,
            status: Status::Follower,
            law: Store::default(),
            applied: Vector::new(),
            queue: Vector::new(),
            heard: false,
            rejoiners: Priests::EMPTY,
        };
        let mut step = Step::default();
        while state
            .ledger
            .learned
            .contains_key(&(state.applied.len() as DecreeNumber))
        {
            let n = state.applied.len() as DecreeNumber;
            self.apply(&mut state, n, &mut step);
        }
        state
    }
}

/// Answers the read `cmd` from `law` (a get: nothing is executed).
fn answer_read(law: &Store, cmd: &Command, step: &mut Step) -> Option<Answer> {
    let answer = law.map.read(&cmd.op)?;
    let seq = cmd.seq;
    step.sends.push((
        cmd.client,
        Msg::Reply {
            seq,
            answer: answer.clone(),
        },
    ));
    Some(answer)
}

/// Keeps, for decree number `n`, the higher-numbered of two votes.
fn merge_vote(votes: &mut OrdMap<DecreeNumber, Vote>, n: DecreeNumber, v: Vote) {
    if votes.get(&n).is_none_or(|w| v.ballot > w.ballot) {
        votes.insert(n, v);
    }
}

impl Actor for ParliamentPriest {
    type Msg = Msg;
    type State = PriestState;
    type Timer = Timer;
    type Random = ();
    type Storage = Ledger;

    fn on_start(&self, _id: Id, storage: &Option<Ledger>, o: &mut Out<Self>) -> PriestState {
        let storage = match storage {
            // The seeded bug: a priest that lost its ledger starts as if the Chamber were new.
            Some(l) if l.rejoin.is_some() && self.bug == Bug::RejoinVotesAtOnce => &None,
            _ => storage,
        };
        if storage.as_ref().is_some_and(|l| l.rejoin.is_some()) {
            // Rejoining after a lost ledger: ask every other priest for its highest ballot
            // (and a president to take office anew), again on each election timeout.
            let state = self.rebuild(storage.clone().unwrap_or_default());
            for q in self.others() {
                o.send(q, Msg::Rejoin);
            }
            if self.heartbeat.is_some() {
                o.set_timer(Timer::Election, self.election.clone());
            }
            return state;
        }
        let genesis = storage.is_none() && self.me == GENESIS.priest;
        let mut state = self.rebuild(storage.clone().unwrap_or_else(|| Ledger::genesis(self.me)));
        if genesis {
            state.status = Status::Presiding {
                quorum: self.genesis_quorum(),
                next: 0,
                pending: OrdMap::new(),
                reads: Reads::default(),
            };
            o.save(state.ledger.clone());
            self.arm_office_timers(o);
        } else if self.may_run(&state) {
            o.set_timer(Timer::Election, self.election.clone());
        }
        state
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<PriestState>, timer: &Timer, o: &mut Out<Self>) {
        match timer {
            Timer::Election if state.is_president() && self.rerun_when_stalled => {
                // Deployed presidents watch their own progress: if a decree stayed pending
                // for a whole election timeout (no decree passed, although the lost messages
                // were asked for again on every heartbeat), a member of the quorum is gone.
                // Take a new ballot: its quorum is whichever priests answer.
                let stalled = !state.heard
                    && matches!(&state.status, Status::Presiding { pending, .. } if !pending.is_empty());
                let state = state.to_mut();
                state.heard = false;
                if !stalled || self.next_round(&state.ledger) > self.max_round {
                    o.set_timer(Timer::Election, self.election.clone());
                    return;
                }
                let mut step = Step::default();
                self.rerun(state, &mut step);
                o.set_timer(Timer::Election, self.election.clone());
                self.finish(state, step, o);
            }
            Timer::Election if state.ledger.rejoin.is_some() => {
                // Deployed: ask again, until clear (lost messages, or no president yet).
                for q in self.others() {
                    o.send(q, Msg::Rejoin);
                }
                o.set_timer(Timer::Election, self.election.clone());
            }
            Timer::Election => {
                if !self.may_run(state) {
                    return;
                }
                let state = state.to_mut();
                if self.heartbeat.is_some() && state.heard {
                    state.heard = false;
                    o.set_timer(Timer::Election, self.election.clone());
                    return;
                }
                let mut step = Step::default();
                self.run_for_president(state, &mut step);
                if self.may_run(state) {
                    o.set_timer(Timer::Election, self.election.clone());
                }
                if state.is_president() {
                    self.arm_office_timers(o);
                }
                self.finish(state, step, o);
            }
            Timer::Heartbeat => {
                let Some(h) = &self.heartbeat else { return };
                let (Some(ballot), true) = (state.ledger.last_tried, state.is_president()) else {
                    return;
                };
                // The decrees it learned as it passed them reach its disk at least once per
                // heartbeat, even when it writes no vote (see `pass`).
                o.save(state.ledger.clone());
                let known = state.ledger.first_gap();
                for q in self.others() {
                    o.send(q, Msg::Heartbeat { ballot, known });
                }
                // A BeginBallot or its Voted may have been lost: ask again every member of
                // the quorum whose vote has not arrived (a priest that already voted answers
                // Voted again). Without this, one lost message would stall the decree, and
                // behind it every later one, while the heartbeats keep the president in office.
                if let Status::Presiding {
                    quorum,
                    next,
                    pending,
                    reads,
                } = &state.status
                {
                    if quorum.contains(self.me) {
                        // In its own quorum: ask the priests outside it (down when it ran,
                        // or their LastVote lost) for their promise again, from its next free
                        // decree number, so a late LastVote can let it leave its quorum.
                        for q in
                            (0..self.priests.len() as PriestIx).filter(|q| !quorum.contains(*q))
                        {
                            let from = *next;
                            o.send(self.priests[q as usize], Msg::NextBallot { ballot, from });
                        }
                    }
                    if reads.confirmed != reads.begun {
                        for q in quorum.iter().filter(|&q| !reads.acks.contains(q)) {
                            let round = reads.begun;
                            o.send(self.priests[q as usize], Msg::Confirm { ballot, round });
                        }
                    }
                    for (n, p) in pending {
                        for q in p.quorum.iter().filter(|&q| !p.voted.contains(q)) {
                            o.send(
                                self.priests[q as usize],
                                Msg::BeginBallot {
                                    ballot,
                                    number: *n,
                                    decree: p.decree.clone(),
                                },
                            );
                        }
                    }
                }
                o.set_timer(Timer::Heartbeat, h.clone());
            }
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<PriestState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let mut step = Step::default();
        match msg {
            // Step 2: promise for every decree number from `from` on; report the votes.
            Msg::NextBallot { ballot, from } => {
                if state.ledger.next_bal.is_some_and(|n| ballot <= n)
                    || state.ledger.rejoin.is_some()
                {
                    return;
                }
                let state = state.to_mut();
                state.ledger.next_bal = Some(ballot);
                step.save = self.bug != Bug::ForgetPromise;
                if ballot.priest != self.me || self.bug == Bug::NoTiebreak {
                    self.step_down(state, ballot, o, &mut step);
                }
                // Its votes, and the decrees it knows were passed, reported as votes in this
                // ballot (the highest any report can carry): a passed decree is the only one
                // any later ballot may propose for its number. (A priest that lost its votes
                // and rejoined still reports what it learned since.)
                let mut votes: OrdMap<DecreeNumber, Vote> = state
                    .ledger
                    .votes
                    .range(from..)
                    .map(|(n, v)| (*n, v.clone()))
                    .collect();
                for (n, d) in state.ledger.learned.range(from..) {
                    votes.insert(
                        *n,
                        Vote {
                            ballot,
                            decree: d.clone(),
                        },
                    );
                }
                let votes = votes.into_iter().collect();
                step.sends.insert(
                    0,
                    (
                        src,
                        Msg::LastVote {
                            ballot,
                            from,
                            votes,
                        },
                    ),
                );
                self.finish(state, step, o);
            }

            // Step 3: with LastVotes from a quorum, take office.
            Msg::LastVote {
                ballot,
                from,
                votes,
            } => {
                let Some(q) = self.ix(src) else { return };
                if state.is_president() && state.ledger.last_tried == Some(ballot) {
                    if self.joins_quorum(state, q) {
                        let state = state.to_mut();
                        self.quorum_of_others(state, q, votes, &mut step);
                        self.finish(state, step, o);
                    }
                    return;
                }
                let Status::Trying {
                    from: my_from,
                    promised,
                    votes: gathered,
                } = &state.status
                else {
                    return;
                };
                if state.ledger.last_tried != Some(ballot)
                    || from != *my_from
                    || promised.contains(q)
                    || q == self.me
                {
                    return;
                }
                let promised = promised.with(q);
                let mut gathered = gathered.clone();
                for (n, v) in votes {
                    merge_vote(&mut gathered, n, v);
                }
                let state = state.to_mut();
                let quorum = promised.with(self.me);
                if self.is_quorum(quorum) {
                    self.take_office(state, quorum, from, gathered, &mut step);
                    if state.is_president() {
                        self.arm_office_timers(o);
                    }
                } else {
                    state.status = Status::Trying {
                        from,
                        promised,
                        votes: gathered,
                    };
                }
                self.finish(state, step, o);
            }

            // Step 4: vote for decree number `number`, unless promised a higher ballot.
            Msg::BeginBallot {
                ballot,
                number,
                decree,
            } => {
                if state.ledger.next_bal.is_some_and(|n| n > ballot)
                    || state.ledger.rejoin.is_some()
                {
                    return;
                }
                if state
                    .ledger
                    .votes
                    .get(&number)
                    .is_some_and(|v| v.ballot == ballot)
                {
                    // Voted already (and saved that vote before saying so): the president
                    // asks again because the answer was lost. Answer again.
                    o.send(src, Msg::Voted { ballot, number });
                    return;
                }
                let state = state.to_mut();
                if state.ledger.next_bal != Some(ballot) {
                    state.ledger.next_bal = Some(ballot);
                    // The promise is saved (with the vote) even under `forget-vote`.
                    step.save = true;
                    self.step_down(state, ballot, o, &mut step);
                }
                state.ledger.votes.insert(number, Vote { ballot, decree });
                step.save |= self.bug != Bug::ForgetVote;
                step.sends.insert(0, (src, Msg::Voted { ballot, number }));
                self.finish(state, step, o);
            }

            // Step 5: with the whole quorum's votes, the decree is passed.
            Msg::Voted { ballot, number } => {
                let Some(q) = self.ix(src) else { return };
                let Status::Presiding { pending, .. } = &state.status else {
                    return;
                };
                let Some(p) = pending.get(&number) else {
                    return;
                };
                if state.ledger.last_tried != Some(ballot)
                    || !p.quorum.contains(q)
                    || p.voted.contains(q)
                {
                    return;
                }
                let voted = p.voted.with(q);
                let passed = p.quorum.is_subset(voted);
                let state = state.to_mut();
                if let Status::Presiding { pending, .. } = &mut state.status {
                    if let Some(p) = pending.get_mut(&number) {
                        p.voted = voted;
                    }
                }
                if passed {
                    self.pass(state, number, &mut step);
                }
                self.finish(state, step, o);
            }

            // Step 6: write the passed decree in the ledger.
            Msg::Success { number, decree } => {
                if state.ledger.learned.contains_key(&number) {
                    return;
                }
                let state = state.to_mut();
                self.learn(state, number, decree, true, &mut step);
                self.propose_queued(state, &mut step);
                self.finish(state, step, o);
            }

            Msg::Heartbeat { ballot, known } => {
                if state.ledger.next_bal.is_some_and(|n| n > ballot) {
                    return;
                }
                let gap = state.ledger.first_gap();
                if !state.heard {
                    state.to_mut().heard = true;
                }
                if gap < known {
                    o.send(src, Msg::Catchup { from: gap });
                }
                // A president (or candidate) of a lower ballot hears it was deposed: it
                // steps down and hands its commands to the new president.
                let deposed = !matches!(state.status, Status::Follower)
                    && state.ledger.last_tried.is_some_and(|t| t < ballot)
                    && ballot.priest != self.me;
                if deposed {
                    let state = state.to_mut();
                    self.step_down(state, ballot, o, &mut step);
                    self.finish(state, step, o);
                }
            }

            Msg::Catchup { from } => {
                for (n, d) in state.ledger.learned.range(from..) {
                    o.send(
                        src,
                        Msg::Success {
                            number: *n,
                            decree: d.clone(),
                        },
                    );
                }
            }

            // A read-only question: answered from the promise already in the ledger.
            Msg::Confirm { ballot, round } => {
                let promised_at_most = |n: Ballot| match self.bug {
                    Bug::ConfirmNeedsLowerPromise => n < ballot,
                    _ => n <= ballot,
                };
                if state.ledger.rejoin.is_none()
                    && state.ledger.next_bal.is_none_or(promised_at_most)
                {
                    o.send(src, Msg::Confirmed { ballot, round });
                }
            }

            Msg::Confirmed { ballot, round } => {
                let Some(q) = self.ix(src) else { return };
                let Status::Presiding { quorum, reads, .. } = &state.status else {
                    return;
                };
                if state.ledger.last_tried != Some(ballot)
                    || round != reads.begun
                    || reads.confirmed == reads.begun
                    || !quorum.contains(q)
                    || reads.acks.contains(q)
                {
                    return;
                }
                let state = state.to_mut();
                if let Status::Presiding { reads, .. } = &mut state.status {
                    reads.acks = reads.acks.with(q);
                }
                self.round_done(state, &mut step);
                self.finish(state, step, o);
            }

            // A priest that lost its ledger asks for the highest ballot this one tried or
            // promised, and for a president to take office anew. A rejoining priest does
            // not answer (what it knows is not what it knew).
            Msg::Rejoin => {
                let Some(q) = self.ix(src).filter(|&q| q != self.me) else {
                    return;
                };
                if state.ledger.rejoin.is_some() {
                    return;
                }
                let ballot = state.ledger.last_tried.max(state.ledger.next_bal);
                let state = state.to_mut();
                state.rejoiners = state.rejoiners.with(q);
                step.sends.push((src, Msg::Highest { ballot }));
                if state.is_president() {
                    self.rerun(state, &mut step);
                }
                self.finish(state, step, o);
            }

            Msg::Highest { ballot } => {
                let Some(q) = self.ix(src) else { return };
                let Some(r) = &state.ledger.rejoin else {
                    return;
                };
                if r.heard.contains(q) && ballot <= r.highest {
                    return;
                }
                let state = state.to_mut();
                if let Some(r) = &mut state.ledger.rejoin {
                    r.heard = r.heard.with(q);
                    r.highest = r.highest.max(ballot);
                }
                step.save = true;
                self.clear_rejoin(state, &mut step);
                self.finish(state, step, o);
            }

            Msg::Rejoined { ballot, until } => {
                let Some(r) = &state.ledger.rejoin else {
                    return;
                };
                if r.offer.is_some_and(|(b, _)| b >= ballot) {
                    return;
                }
                let state = state.to_mut();
                if let Some(r) = &mut state.ledger.rejoin {
                    r.offer = Some((ballot, until));
                }
                step.save = true;
                self.clear_rejoin(state, &mut step);
                self.finish(state, step, o);
            }

            Msg::Request { client, seq, op } => {
                // Answered before: a write, by the law's session of the client; a read, by
                // a president's last read of the client. The answer again, or nothing for
                // an older request.
                let write = (self.bug != Bug::NoSessionDedup)
                    .then(|| state.law.lookup(client, seq))
                    .flatten();
                let read = match &state.status {
                    Status::Presiding { reads, .. } => {
                        reads.answered.get(&client).and_then(|s| s.lookup(seq))
                    }
                    _ => None,
                };
                match write.or(read) {
                    Some(Outcome::Retry(answer)) => {
                        o.send(client, Msg::Reply { seq, answer });
                        return;
                    }
                    Some(_) => return,
                    None => {}
                }
                if state.holds(client, seq) {
                    return;
                }
                let cmd = Command { client, seq, op };
                let owner = state.ledger.next_bal.map(|b| b.priest);
                let state = state.to_mut();
                match &state.status {
                    Status::Presiding { .. } if matches!(cmd.op, Op::Get { .. }) => {
                        self.read(state, cmd, &mut step);
                    }
                    Status::Presiding { .. } => {
                        state.queue.push_back(cmd);
                        self.propose_queued(state, &mut step);
                    }
                    Status::Follower if owner.is_some_and(|p| p != self.me) => {
                        let owner = self.priests[owner.unwrap_or(0) as usize];
                        step.sends.push((owner, cmd.into()));
                    }
                    _ => state.queue.push_back(cmd),
                }
                self.finish(state, step, o);
            }

            Msg::Reply { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests;
