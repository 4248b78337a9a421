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
//!    promise covers every decree number. The president votes itself and asks every other
//!    priest of its quorum. Up to `window` decree numbers are in flight at once, and one
//!    decree carries up to `batch` client commands (batching).
//! 5. **Success.** As soon as the priests that voted for decree `i` include a quorum (the
//!    first majority of votes, not the whole quorum asked), the president writes it in its
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
//!    from its ledger as it stands (no write). When the priests that confirmed a round begun
//!    after the read came (the president among them) include a quorum, no quorum had
//!    promised a higher ballot at that moment (any two quorums share a priest), so no
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
//!    duplicate begins no round. It remembers at most `read_cache` clients (deployed:
//!    [`READ_CACHE`]), forgetting the lowest client ids first; a forgotten client's copy
//!    begins a round and is answered again. (Without this, a network that duplicates a read could make
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
//! # Snapshots of the law
//!
//! The paper's priests keep every decree forever; a store that runs for months cannot. A
//! priest may, at any moment, take a *snapshot*: its law (the key-value map and the client
//! sessions) after decrees `0..a`, where `a` is how many it applied. Every one of those
//! decrees was passed, so from then on the snapshot stands for them, and the priest drops
//! from its ledger every vote and every decree numbered below `a` (its *base*), saving the
//! snapshot in the same write. It keeps its promises (`nextBal`, `lastTried`) and its votes
//! from the base on: those are all the protocol asks of it. Before it erases the decrees it
//! writes its ledger as it stood (a second save in the same step, of which the model keeps
//! the last), so that the runtime can record the snapshot as those decrees applied, in a few
//! bytes, instead of writing the law.
//!
//! - **Reporting.** A priest's `LastVote` says where its snapshot ends (`base`), with its
//!   votes and decrees from there. A candidate that hears of a base above the number it
//!   asked from knows every decree below it was passed: it begins no ballot there (its
//!   first number is the highest base reported, if higher), and asks that priest for what
//!   it is missing (`Catchup`). Without this, B3 would have it fill those numbers with
//!   olive-day decrees, overwriting passed ones.
//! - **Catching up.** A priest asked for decrees from a number below its base sends its
//!   snapshot (`Snapshot`) and then the decrees it keeps. A priest installs a snapshot only
//!   if it covers more than it applied (an older one would take its law back): its law
//!   becomes the snapshot's, its ledger drops what the snapshot covers, and it applies the
//!   decrees it knows above it. A president that installs a snapshot covering decrees it
//!   passed but had not applied answers their clients from the snapshot's sessions, as if it
//!   had applied them; the commands the snapshot's law never executed wait for new numbers.
//! - **Restarting.** A priest starts from its snapshot's law, then applies the decrees its
//!   ledger keeps.
//!
//! The snapshot timer (`Timer::Snapshot`) decides when: when at least `snapshot_after`
//! decrees were applied since the last snapshot, or when the commands applied since hold at
//! least `snapshot_bytes` bytes (deployed).
//! The model lets it fire at any moment at which a decree was applied since the last
//! snapshot (`--snapshots`, `snapshot_after` 1), which every rule of when is a choice among;
//! the seeded bugs `truncate-unchosen`, `snapshot-without-sessions`,
//! `install-stale-snapshot` and `install-drops-replies` each break one of these rules.
//!
//! # Changing the Chamber
//!
//! With a Chamber in the law ([`ParliamentPriest::chamber`]; see [`crate::kv::Chamber`] and
//! docs/membership.md), the priests that vote on decree number `n` are the members in force
//! at `n`: a change passed as decree `i` is in force from `i + alpha`, so a priest that
//! applied decrees `0..a` knows the voters of every number below `a + alpha`, and no more.
//! The rule here is *one office, one membership*:
//!
//! - A candidate runs over the membership in force at its first gap `from`: it sends
//!   `NextBallot` to those members only, counts only their `LastVote`s, and takes office
//!   with a quorum (a majority) of them.
//! - A president begins decree `n` only if it knows the membership in force at `n` and it is
//!   its office's (`office_limit`); re-proposals stop there too, and the
//!   votes reported above wait for the next office.
//! - Once another membership is in force at the first number it has not applied and
//!   nothing it began is pending, it runs again with a new ballot over that membership, or,
//!   no member of it, steps down (`follow_the_chamber`). The new office's phase 1 reports,
//!   from a quorum of the new membership, every vote the old office ignored above its limit,
//!   so B3 holds office by office exactly as without changes.
//! - While a change is pending or in force, reads pass as decrees instead of confirmation
//!   rounds, which speak only for one office's quorum.
//!
//! A priest index may name several machines over time: an index removed and added again
//! is a new *incarnation* ([`crate::kv::Inc`]), given by the decree that added it. The
//! requests for a promise, a vote or a confirmation name the incarnation they are for, and
//! the answers the incarnation that gives them: a priest acts only on requests for its own
//! incarnation, the one its law names with its ledger's token ([`Ledger::joining`]; a
//! founder's is 0), so a priest that joins acts on nothing until it has applied the decree
//! that adds it, and a president counts only answers from the incarnations its office was
//! elected over. Nothing a removed machine promised or voted counts for its index's new
//! incarnation. A president that applies a change sends the priests it adds its snapshot and
//! decrees.
//!
//! The model checks this with `--change add|replace|readd` (docs/verification.md,
//! "Membership changes"); the seeded bugs `alpha-zero`, `old-quorum-after-change`,
//! `promote-before-caught-up` and `reuse-removed-id` each break it. A president a change
//! removed hands over: the lowest-numbered member runs at once (`Handover`) and gets the
//! commands it held. Not yet: a rejoining priest does not follow the membership (the runtime
//! refuses `--rejoin` where the Chamber changes).
//!
//! # What this implementation chooses
//!
//! - **The genesis ballot.** Every priest starts having promised ballot `0.0` of priest 0
//!   with no votes, which is exactly the state after priest 0 sent `NextBallot(0.0, 0)` and
//!   every priest answered `LastVote(0.0, 0, nothing)`. So priest 0 starts as president of
//!   ballot `0.0` without a first phase. A priest restarting from a saved ledger is never
//!   president.
//! - **The president's quorum.** The paper lets a president choose any quorum of priests
//!   that promised its ballot. Here a president's quorum is *every* priest that promised
//!   it, itself included, and a decree passes on the first quorum of their votes: so one
//!   priest that stops answering (crashed, paused, cut off) stalls nothing while a quorum
//!   of the others answers. The genesis president's quorum is every member (every priest
//!   starts having promised the genesis ballot). A president elected later takes office as
//!   soon as the LastVotes it has, with its own promise, make a quorum, and that set is its
//!   quorum; a LastVote that comes after that joins its priest to the quorum for the decree
//!   numbers not yet begun (re-proposing what the newcomer reported voting for there, as on
//!   taking office: the others reported theirs then). A ballot's quorum is the priests it
//!   asked; each reported its votes, so B3 holds for whichever quorum of them votes.
//!   Confirmation rounds likewise succeed on a quorum of confirmations.
//! - **The president's own vote.** When the others a ballot asks make a quorum without
//!   the president (three priests that all promised: the two others), the president leaves
//!   its own vote out: their votes pass the decree, and the president's disk sync is not on
//!   the way. When they are slow or gone, its vote timer (`vote_after`, `Timer::Vote`)
//!   runs out and it votes in every ballot of its own still pending, saved before anything
//!   leaves, and each passes on its vote and the first other's. Having run out, the timer
//!   rests until the president's next heartbeat (`votes_first`): it votes in each ballot as
//!   it begins it, so a follower gone for good costs one wait per heartbeat, not one per
//!   decree. When the others are no quorum without it (only one of two others promised),
//!   it votes in the step that begins the ballot, saved before its `BeginBallot`s leave (as
//!   in [`crate::synod`]). No message
//!   goes to oneself: a vote sent to oneself would be one more message in flight per
//!   decree, which multiplies the checked states about a hundredfold. The model checks the
//!   timer where heartbeats are on (there it fires at any moment: before, between and after
//!   the others' votes); without heartbeats the model's president votes as it begins every
//!   ballot, one of the timer's behaviours.
//! - **Learning without a save.** A president learns a decree it passed in memory only, so
//!   the answers to its clients and its next ballot leave at once; the record reaches its
//!   disk with its next save (its next vote, or its next heartbeat). The decree was chosen
//!   when its quorum's votes became durable, whatever happens to the president: one that
//!   crashes first restarts without the record, as a priest that had not yet learned the
//!   decree, and learns it again like any other.
//! - **Candidates.** Only priests configured as candidates run an election timer. In the
//!   model a timer can fire at any moment, so every takeover timing is explored; `max_round`
//!   bounds the rounds tried (unbounded when deployed). Deployed priests also send
//!   heartbeats, and each heartbeat starts a candidate's election timer again, so it runs
//!   one election timeout after the last heartbeat it heard. A deployed president asks
//!   again, on each heartbeat, every quorum member whose vote for a pending decree has not
//!   arrived (lost messages), and every member outside its quorum for its promise; if no
//!   decree passed in a whole election timeout while some were pending (a quorum of its
//!   quorum is gone), it runs again with a higher ballot.
//! - **Client commands** ([`crate::kv::Command`]) arrive as `Request`. A president queues
//!   them and proposes them; a priest trying to become president queues them; any other
//!   priest forwards them to the owner of the ballot it promised. A president that learns
//!   of a higher ballot steps down and hands its queued and unfinished commands to the
//!   new ballot's owner, so a command can be passed twice: the law's sessions make the
//!   second copy a no-op that gets the first copy's answer.
//! - **Stamps.** A deployed president stamps each decree it begins with the time on its
//!   clock ([`Clock`]) and a horizon `expire_after` (`[sessions] expire_after_s`) earlier, 0
//!   when sessions never expire; the law expires keys by the stamps' times (see
//!   [`crate::kv`], "Keys that expire"). A president answering a read of a key whose deadline
//!   its clock reached, and the law's clock not yet, passes the read as a decree instead,
//!   whose stamp removes the key first. The law forgets idle sessions by the stamps'
//!   horizons and refuses the clients it may have forgotten (`Msg::Expired`; see
//!   [`crate::kv`], "Forgetting sessions"). A re-proposed decree keeps its stamp, so every
//!   priest applies the same stamps. The model stamps with the decree number, only with
//!   `--expire-after` or `--script expire`.
//! - Decree numbers are bounded by `max_decrees` (unbounded when deployed) so the model is
//!   finite.
//! - [`Bug`] selects a seeded mutation for the checker to catch; deployed priests run
//!   [`Bug::None`].
//!
//! # The code, by role
//!
//! - `ledger.rs`: what a priest keeps: `Decree`, `Vote`, its `Ledger`, and its volatile
//!   state (`PriestState`, its `Status`, a president's `Pending` ballots and `Reads`, and the
//!   `President` that only a presiding priest's state makes).
//! - `message.rs`: the messages (`Msg`).
//! - `president.rs`: running for president, taking office, beginning ballots, passing
//!   decrees, answering reads through confirmation rounds, heartbeats.
//! - `follower.rs`: what every priest does: promising, voting, learning decrees and catching
//!   up, stepping down, forwarding commands.
//! - `rejoin.rs`: rejoining after a lost ledger.
//! - `snapshot.rs`: snapshots of the law: taking one, sending one, installing one.
//!
//! The actor's handlers (`impl Actor` below) first decide the priest's role ([`Role`]:
//! president, candidate, follower, rejoining) and hand the message or timer to that role's
//! handler (`step_president`, `step_candidate`, `step_follower`, `step_rejoining`; what any
//! priest does, whatever its role, is `step_priest`). A president's helpers take a
//! `President`, which only a presiding priest's state makes, so they cannot run on a priest
//! that does not preside. Every handler records what it does in a `Step` (its ledger
//! writes, messages and timers), and `finish` saves the ledger before any message leaves.

mod bug;
mod follower;
mod ledger;
mod message;
mod president;
mod rejoin;
mod snapshot;

pub use bug::{Bug, BugInfo};
pub use ledger::{
    Decree, Incs, Ledger, Pending, PriestState, Read, Reads, Rejoin, Role, Snapshot, Status, Vote,
};
pub use message::Msg;

use crate::ballot::{Ballot, PriestIx, Priests, QuorumSystem};
use crate::kv::{Chamber, Dedup, Inc, Stamp, Store};
use im::OrdMap;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::ops::Range;
use std::time::Duration;

/// A decree number: the position of a decree in the Parliament's sequence (0, 1, 2, ...).
pub type DecreeNumber = u32;

/// A deployed president's bound on the bytes of commands in one decree
/// ([`ParliamentPriest::batch_bytes`]): a decree of small commands, with its encoding's
/// overhead, then fits in one UDP datagram (64 KiB); a larger command makes a decree of its
/// own, which travels in chunks (see `host::wire`).
pub const BATCH_BYTES: usize = 48_000;

/// The largest client command a deployed priest takes (keys and values, [`crate::kv::Command::size`]):
/// 4 MiB. A larger one is refused before it reaches the Parliament.
pub const MAX_COMMAND_BYTES: usize = 4 << 20;

/// How many decree numbers a deployed president keeps in flight. One: the commands that
/// arrive while a decree is being passed all go into the next decree, so under load each
/// decree (and each disk sync at every priest) carries many commands. Measured on the
/// 2-core machine with 16 clients, windows of 2, 4 and 8 passed fewer commands per second
/// than 1, since they spend more syncs on smaller decrees.
pub const WINDOW: usize = 1;

/// How many clients' last reads a deployed president remembers: beyond this, the lowest
/// client ids are forgotten first (their duplicate reads then each begin a round).
pub const READ_CACHE: usize = 65_536;

/// A president's clock, for the stamps on its decrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Milliseconds since the Unix epoch (deployed).
    Wall,
    /// The decree's number (the model: time passes one unit per decree number, the same
    /// at every president).
    DecreeNumber,
}

/// The ballot every priest starts having promised: priest 0's round 0.
pub const GENESIS: Ballot = Ballot::new(0, 0);

/// The priest's timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A candidate that heard no president tries to become one.
    Election,
    /// A president tells the others it is alive and how far it knows.
    Heartbeat,
    /// The priest snapshots its law and truncates its ledger, if enough decrees were applied
    /// since its last snapshot.
    Snapshot,
    /// A president votes in those of its own ballots still pending (it left its vote out
    /// while the others it asked could make a quorum without it).
    Vote,
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
    /// About how many bytes of commands ([`crate::kv::Command::size`]) one decree carries at most (a
    /// decree always carries at least one command). Deployed, this keeps every message
    /// that carries decrees (a `LastVote` reports up to `window` of them) within one
    /// datagram.
    pub batch_bytes: usize,
    /// Election timeout.
    pub election: Range<Duration>,
    /// Heartbeat period; `None` sends no heartbeats (the model's default: there a timer can
    /// fire at any moment, so heartbeats would not change which elections are explored).
    pub heartbeat: Option<Range<Duration>>,
    /// How long a president leaves its own vote out of a ballot whose others make a quorum
    /// without it: a decree then passes on the others' votes without the president's disk
    /// sync, and when one of them is slow or gone, the president votes after this long and
    /// the decree passes with it (`Timer::Vote`). `None`: the president votes as it begins
    /// every ballot (the model's default; with heartbeats it sets this, and there the timer
    /// fires at any moment).
    pub vote_after: Option<Range<Duration>>,
    /// Whether a president whose decree stays pending for a whole election timeout runs
    /// again (deployed: yes; needs heartbeats). The model leaves it off: there timers fire at
    /// any moment, and a president's re-runs multiply the states past what fits in memory.
    pub rerun_when_stalled: bool,
    /// How many clients' last reads a president remembers ([`Reads::answered`]) at most.
    pub read_cache: usize,
    /// Snapshot the law and truncate the ledger once this many decrees were applied since
    /// the last snapshot (checked on each `Timer::Snapshot`); `None` never snapshots.
    pub snapshot_after: Option<DecreeNumber>,
    /// Or once the commands of the decrees applied since the last snapshot hold at least
    /// this many bytes ([`crate::kv::Command::size`]). `None`: by count only (the model's).
    pub snapshot_bytes: Option<u64>,
    /// How often `Timer::Snapshot` fires.
    pub snapshot_period: Range<Duration>,
    /// Sessions idle for longer than this, on the president's clock, are forgotten: the
    /// president stamps each decree ([`crate::kv::Stamp`]). `None`: no stamps, sessions
    /// are kept forever (the model, unless `--expire-after`).
    pub expire_after: Option<u64>,
    /// The president's clock, for its stamps.
    pub clock: Clock,
    /// The model's clients use keys that expire: its presidents stamp every decree with
    /// its number even without `expire_after` (deployed presidents always stamp).
    pub keys_expire: bool,
    /// The founders' Chamber, when the membership changes by decree (docs/membership.md):
    /// the law starts with it, and the priests that vote on a decree are the members in
    /// force at its number. `None`: every priest of `priests` votes on every decree.
    pub chamber: Option<Chamber>,
    /// The token of the ledger this priest starts with when it has none and joins a running
    /// Chamber ([`Ledger::joining`]); `None`: a founder, which starts from the genesis ledger.
    /// (Deployed, `serve --join` saves the joining ledger before the priest starts.)
    pub joins: Option<u64>,
    /// A seeded bug, for the checker to find; [`Bug::None`] when deployed.
    pub bug: Bug,
}

/// What a handler does, gathered so the ledger is saved before any message leaves: its
/// ledger writes (`save`: the ledger as the handler leaves it), the messages it sends and
/// the timers it sets. Every handler records them here, and `finish` does them, the save
/// first.
#[derive(Default)]
struct Step {
    save: bool,
    /// The ledger as it stood before a snapshot truncated it, saved before the truncated
    /// one: a priest writes the decrees a snapshot covers in its ledger before it erases
    /// them, so the runtime can record the snapshot as "these decrees, applied" (see
    /// `service::parliament`, "The ledger on disk"). The model keeps the last save.
    covered: Option<Ledger>,
    sends: Vec<(Id, Msg)>,
    timers: Vec<(Timer, Range<Duration>)>,
}

impl Step {
    fn send(&mut self, dst: Id, msg: Msg) {
        self.sends.push((dst, msg));
    }

    fn set_timer(&mut self, timer: Timer, duration: Range<Duration>) {
        self.timers.push((timer, duration));
    }
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
            vote_after: Some(Duration::from_millis(5)..Duration::from_millis(5)),
            rerun_when_stalled: true,
            read_cache: READ_CACHE,
            snapshot_after: None,
            snapshot_bytes: None,
            snapshot_period: Duration::from_secs(1)..Duration::from_secs(1),
            expire_after: None,
            clock: Clock::Wall,
            keys_expire: false,
            chamber: None,
            joins: None,
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

    /// Every priest of `priests`.
    fn everyone(&self) -> Priests {
        Priests::all(self.priests.len())
    }

    /// The law a priest starts from before any decree: empty, with the founders' Chamber.
    fn genesis_law(&self) -> Store {
        Store {
            chamber: self.chamber.clone(),
            ..Store::default()
        }
    }

    /// The priests that vote on decree number `n`, as this priest's law knows them: every
    /// priest when the Chamber is fixed; else the members in force at `n`, if the law
    /// applied far enough to know them (`n < applied + alpha`).
    fn members_at(&self, state: &PriestState, n: DecreeNumber) -> Option<Priests> {
        match &state.law.chamber {
            None => Some(self.everyone()),
            Some(c) => c
                .at(state.applied, n)
                .map(|ms| ms.iter().map(|m| m.ix).collect()),
        }
    }

    /// The members in force at `n`, as [`Self::members_at`], with their incarnations.
    fn electorate_at(&self, state: &PriestState, n: DecreeNumber) -> Option<(Priests, Incs)> {
        match &state.law.chamber {
            None => Some((self.everyone(), Incs::default())),
            Some(c) => c.at(state.applied, n).map(|ms| {
                let set = ms.iter().map(|m| m.ix).collect();
                (set, Incs(Some(ms.into())))
            }),
        }
    }

    /// Which incarnation of its index this priest is: 0 when the Chamber is fixed; else the
    /// one its law names with its ledger's token (a founder's token is 0). `None` for a
    /// priest that joins and has not yet applied the decree that adds it, and for one whose
    /// law no longer names it (removed, or its index added again for another ledger).
    fn my_inc(&self, state: &PriestState) -> Option<Inc> {
        let Some(c) = &state.law.chamber else {
            return Some(0);
        };
        c.named()
            .find(|m| m.ix == self.me && m.nonce == state.ledger.nonce)
            .map(|m| m.inc)
    }

    /// Whether this priest acts on a request (`NextBallot`, `BeginBallot`, `Confirm`) for
    /// incarnation `to`, and if so the incarnation its answer names: only a request for its
    /// own incarnation. A request for an earlier incarnation of its index, still in flight,
    /// speaks for a ledger that is gone; one for a later incarnation speaks for another
    /// machine.
    fn accepts(&self, state: &PriestState, to: Inc) -> Option<Inc> {
        match (self.my_inc(state), self.bug) {
            // Seeded bugs: incarnations ignored; a priest that joins acts before it knows
            // its own.
            (_, Bug::ReuseRemovedId) => Some(to),
            (None, Bug::PromoteBeforeCaughtUp) if state.ledger.nonce != 0 => Some(to),
            (mine, _) => mine.filter(|&i| i == to),
        }
    }

    /// Whether an answer from `q` naming incarnation `inc` is one from the member the office
    /// of `incs` was elected over.
    fn answered_by_member(&self, incs: &Incs, q: PriestIx, inc: Inc) -> bool {
        self.bug == Bug::ReuseRemovedId || incs.of(q) == inc
    }

    /// Whether `set` holds a quorum of `members`: the configured quorum system when the
    /// Chamber is fixed, else a majority of `members`.
    fn is_quorum_of(&self, members: Priests, set: Priests) -> bool {
        match self.chamber {
            None => self.is_quorum(set),
            Some(_) => 2 * Priests(set.0 & members.0).len() > members.len(),
        }
    }

    /// The first decree number an office elected over `members` may not begin: where the
    /// law does not know the membership yet (`applied + alpha`), or where another
    /// membership is in force.
    fn office_limit(&self, state: &PriestState, members: Priests) -> DecreeNumber {
        let Some(c) = &state.law.chamber else {
            return DecreeNumber::MAX;
        };
        let set = |ms: &[crate::kv::Member]| ms.iter().map(|m| m.ix).collect::<Priests>();
        let applied = state.applied;
        if self.bug == Bug::OldQuorumAfterChange {
            // Seeded bug: the office keeps its membership's quorums past a change.
            return applied.saturating_add(c.alpha);
        }
        if c.at(applied, applied).map(set) != Some(members) {
            return applied;
        }
        let known = match self.bug {
            // Seeded bug: no lookahead; decrees above a change in flight.
            Bug::AlphaZero => DecreeNumber::MAX,
            _ => applied.saturating_add(c.alpha),
        };
        match &c.next {
            Some(change) if change.at > applied && set(&change.members) != members => {
                change.at.min(known)
            }
            _ => known,
        }
    }

    /// The priests a president tells what passed, and a rejoining priest asks: every other
    /// priest when the Chamber is fixed; else the other members, in force or pending.
    fn recipients(&self, state: &PriestState) -> Vec<Id> {
        let Some(c) = &state.law.chamber else {
            return self.others().collect();
        };
        let set: Priests = c.named().map(|m| m.ix).collect();
        set.without(self.me)
            .iter()
            .filter_map(|q| self.priests.get(q as usize).copied())
            .collect()
    }

    fn next_round(&self, ledger: &Ledger) -> u32 {
        let tried = ledger.last_tried.map_or(0, |b| b.round);
        let promised = ledger.next_bal.map_or(0, |b| b.round);
        tried.max(promised) + 1
    }

    fn dedup(&self) -> Dedup {
        match self.bug {
            Bug::NoSessionDedup => Dedup::Off,
            Bug::ExpiredSessionReexecutes => Dedup::ExpiredAsNew,
            Bug::BatchReadsBeforeItsDecree => Dedup::ReadsBeforeDecree,
            Bug::WatchIgnored => Dedup::WatchIgnored,
            Bug::TransactionReadsBeforeItsWrites => Dedup::TransactionReadsBefore,
            _ => Dedup::Sessions,
        }
    }

    /// How this priest applies its next decree: [`ParliamentPriest::dedup`], except under
    /// the seeded bug `expire-by-own-clock`, where relative deadlines are counted from the
    /// priest's own clock (in the model: the decree number after the last it learned).
    pub(super) fn dedup_in(&self, state: &PriestState) -> Dedup {
        if self.bug != Bug::ExpireByOwnClock {
            return self.dedup();
        }
        let known = (state.ledger.learned.keys().next_back())
            .map_or(state.applied, |n| (n + 1).max(state.applied));
        Dedup::DeadlinesFrom(self.clock_at(known))
    }

    /// The stamp a president puts on decree number `n`: the time on its clock, and the
    /// horizon `expire_after` before it (0, which forgets nothing, when sessions never
    /// expire). Deployed, every decree is stamped: the law's clock is what keys expire by.
    /// The model stamps only when sessions or keys expire (`--expire-after`,
    /// `--script expire`), so that its other configurations keep their states.
    fn stamp(&self, n: DecreeNumber) -> Option<Stamp> {
        let at = match self.clock {
            Clock::DecreeNumber if self.expire_after.is_none() && !self.keys_expire => return None,
            Clock::DecreeNumber => u64::from(n),
            // Through `crate::clock`: recorded when traced, given back on replay.
            Clock::Wall => crate::clock::unix_millis(),
        };
        Some(Stamp {
            at,
            horizon: self
                .expire_after
                .map_or(0, |after| at.saturating_sub(after)),
        })
    }

    /// The time on this priest's clock, as it would stamp decree number `n` now
    /// ([`ParliamentPriest::stamp`]).
    pub(super) fn clock_at(&self, n: DecreeNumber) -> u64 {
        match self.clock {
            Clock::DecreeNumber => u64::from(n),
            Clock::Wall => crate::clock::unix_millis(),
        }
    }

    fn may_run(&self, state: &PriestState) -> bool {
        self.candidate
            && !state.is_president()
            && state.ledger.rejoin.is_none()
            && self.next_round(&state.ledger) <= self.max_round
            && self
                .electorate_at(state, state.ledger.first_gap())
                .is_some_and(|(m, incs)| {
                    m.contains(self.me) && self.my_inc(state) == Some(incs.of(self.me))
                })
    }

    /// Every priest but this one.
    fn others_set(&self) -> Priests {
        (0..self.priests.len() as PriestIx)
            .filter(|&q| q != self.me)
            .collect()
    }

    /// Does what a handler gathered: saves the ledger first (ledger writes are saved before
    /// any message that depends on them leaves), then sends and sets timers.
    fn finish(&self, state: &PriestState, step: Step, o: &mut Out<Self>) {
        if let Some(covered) = step.covered {
            o.save(covered);
        }
        if step.save {
            o.save(state.ledger.clone());
        }
        for (dst, msg) in step.sends {
            o.send(dst, msg);
        }
        for (timer, duration) in step.timers {
            o.set_timer(timer, duration);
        }
    }
}

/// `map` split at decree number `n`: the entries below it, and those from `n` on.
fn split_at<V: Clone>(
    map: &OrdMap<DecreeNumber, V>,
    n: DecreeNumber,
) -> (OrdMap<DecreeNumber, V>, OrdMap<DecreeNumber, V>) {
    let (below, at, mut from) = map.split_lookup(&n);
    if let Some(v) = at {
        from.insert(n, v);
    }
    (below, from)
}

/// Keeps, for decree number `n`, the higher-numbered of two votes.
fn merge_vote(votes: &mut OrdMap<DecreeNumber, Vote>, n: DecreeNumber, v: Vote) {
    if votes.get(&n).is_none_or(|w| v.ballot > w.ballot) {
        votes.insert(n, v);
    }
}

/// The actor dispatches by role: it decides what the priest is (presiding, candidate,
/// follower, rejoining) and hands the event to that role's handler, which records what it
/// does in a `Step`; then `finish` saves and sends.
impl Actor for ParliamentPriest {
    type Msg = Msg;
    type State = PriestState;
    type Timer = Timer;
    type Random = ();
    type Storage = Ledger;

    fn on_start(&self, _id: Id, storage: &Option<Ledger>, o: &mut Out<Self>) -> PriestState {
        let mut step = Step::default();
        let storage = match storage {
            // The seeded bug: a priest that lost its ledger starts as if the Chamber were new.
            Some(l) if l.rejoin.is_some() && self.bug == Bug::RejoinVotesAtOnce => &None,
            _ => storage,
        };
        let state = match storage {
            Some(l) if l.rejoin.is_some() => self.start_rejoining(l.clone(), &mut step),
            _ => {
                let genesis =
                    storage.is_none() && self.me == GENESIS.priest && self.joins.is_none();
                let mut state = self.rebuild(storage.clone().unwrap_or_else(|| match self.joins {
                    Some(nonce) => Ledger::joining(nonce),
                    None => Ledger::genesis(self.me),
                }));
                if genesis {
                    self.take_genesis_office(&mut state, &mut step);
                } else if self.may_run(&state) || (self.chamber.is_some() && self.candidate) {
                    step.set_timer(Timer::Election, self.election.clone());
                }
                state
            }
        };
        if self.snapshot_after.is_some() {
            step.set_timer(Timer::Snapshot, self.snapshot_period.clone());
        }
        self.finish(&state, step, o);
        state
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<PriestState>, timer: &Timer, o: &mut Out<Self>) {
        let mut step = Step::default();
        match (timer, state.role()) {
            (Timer::Election, Role::President) => self.watch_progress(state, &mut step),
            (Timer::Election, Role::Candidate | Role::Follower) => {
                self.election_timeout(state, &mut step)
            }
            (Timer::Election, Role::Rejoining) => self.ask_again(&mut step),
            (Timer::Heartbeat, Role::President) => self.heartbeat(state, &mut step),
            (Timer::Heartbeat, _) => {}
            (Timer::Vote, Role::President) => self.vote_late(state, &mut step),
            (Timer::Vote, _) => {}
            (Timer::Snapshot, _) => self.snapshot_timeout(state, &mut step),
        }
        self.follow_the_chamber(state, &mut step);
        self.finish(state, step, o);
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<PriestState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let mut step = Step::default();
        match state.role() {
            Role::President => self.step_president(state, src, msg, &mut step),
            Role::Candidate => self.step_candidate(state, src, msg, &mut step),
            Role::Follower => self.step_follower(state, src, msg, &mut step),
            Role::Rejoining => self.step_rejoining(state, src, msg, &mut step),
        }
        self.follow_the_chamber(state, &mut step);
        self.finish(state, step, o);
    }
}

#[cfg(test)]
mod tests;
