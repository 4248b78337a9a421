//! Seeded bugs of the multi-decree Parliament: minimal mutations of the priest that real
//! multi-Paxos and replicated-state-machine implementations have shipped. Each exists so a
//! test can show the checker catching it. The deployed priest always runs [`Bug::None`].

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The configuration in which sessions expire: two clients of three commands each (two of
/// them writes), one candidate, sessions forgotten after one decree number idle; two priests
/// (with three, a late vote in flight for each decree multiplies the states past what CI
/// affords).
pub const EXPIRY_FLAGS: &[&str] = &[
    "--expire-after",
    "1",
    "--ops",
    "3",
    "--proposers",
    "1",
    "--priests",
    "2",
];

/// The configuration of Redis's string commands in which three clients increment one key at
/// once, one candidate, one decree in flight, two decree numbers: the two increments that
/// queue behind the first pass in one decree, decree 1.
pub const REDIS_FLAGS: &[&str] = &[
    "--script",
    "redis",
    "--proposers",
    "1",
    "--clients",
    "3",
    "--window",
    "1",
    "--decrees",
    "2",
];

/// The configuration of the transactions (`--script multi`): one candidate, 2 clients, one
/// conditional transaction each, one decree in flight, so the second to pass must find `x`
/// written.
pub const MULTI_FLAGS: &[&str] = &[
    "--script",
    "multi",
    "--proposers",
    "1",
    "--ops",
    "1",
    "--window",
    "1",
];

/// The configuration of keys that expire: three clients (two set `x` to expire two decree
/// numbers on, one asks its `PTTL`), one candidate, one decree in flight, two decree
/// numbers, so that a `SET PX` and a `PTTL` queue behind the first command and pass in one
/// decree, decree 1.
pub const EXPIRE_FLAGS: &[&str] = &[
    "--script",
    "expire",
    "--proposers",
    "1",
    "--clients",
    "3",
    "--window",
    "1",
    "--decrees",
    "2",
];

/// Transactions against each other (`--script multi`): after the conditional transaction,
/// each client runs `multi { incr y; mget x y }`, which reads its own write; two priests.
pub const MULTI_AGAINST_FLAGS: &[&str] = &[
    "--script",
    "multi",
    "--proposers",
    "1",
    "--ops",
    "2",
    "--decrees",
    "5",
    "--priests",
    "2",
];

/// The configurations of membership changes (see docs/membership.md, "The model"), one
/// candidate: priest 3 added; priest 2 replaced by priest 3; priest 2 removed and added again
/// as a new ledger (two changes, so two new ballots); the same on a duplicating network,
/// where a request for the removed ledger can reach the new one.
pub const CHANGE_ADD_FLAGS: &[&str] = &["--change", "add", "--proposers", "1", "--decrees", "5"];
pub const CHANGE_REPLACE_FLAGS: &[&str] =
    &["--change", "replace", "--proposers", "1", "--decrees", "5"];
pub const CHANGE_ALPHA_FLAGS: &[&str] = &[
    "--change",
    "add",
    "--proposers",
    "1",
    "--alpha",
    "2",
    "--clients",
    "1",
    "--decrees",
    "5",
];
pub const CHANGE_READD_FLAGS: &[&str] = &[
    "--change",
    "readd",
    "--proposers",
    "1",
    "--rounds",
    "2",
    "--decrees",
    "6",
];
pub const CHANGE_READD_DUPLICATING_FLAGS: &[&str] = &[
    "--change",
    "readd",
    "--proposers",
    "1",
    "--rounds",
    "2",
    "--decrees",
    "6",
    "--network",
    "duplicating",
];

/// A seeded bug in the Parliament priest (or [`Bug::None`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// The correct protocol.
    #[default]
    None,
    SkipPhaseOneOnTakeover,
    FillGapWithOwnDecree,
    ApplyOutOfOrder,
    NoSessionDedup,
    ReplyBeforeChosen,
    NoTiebreak,
    MinorityQuorum,
    PrematureSuccess,
    StrandQueuedCommands,
    ReadWithoutConfirm,
    ReadIgnoresEarlierPresidents,
    ForgetPromise,
    ForgetVote,
    ForgetLastTried,
    PresidentForgetsOwnVote,
    GapFillerWrites,
    RejoinVotesAtOnce,
    StepDownDropsCommands,
    ConfirmNeedsLowerPromise,
    ApplyOnePerDecreeLearned,
    TruncateUnchosen,
    SnapshotWithoutSessions,
    InstallStaleSnapshot,
    InstallDropsReplies,
    ExpiredSessionReexecutes,
    AlphaZero,
    OldQuorumAfterChange,
    PromoteBeforeCaughtUp,
    ReuseRemovedId,
    NoOliveDayFillers,
    BatchReadsBeforeItsDecree,
    WatchIgnored,
    TransactionReadsBeforeItsWrites,
    ExpireByOwnClock,
    QuorumOfTheAsked,
    LateVotePassesAlone,
}

/// What a bug is, what it breaks, and where it comes from.
#[derive(Clone, Debug, Serialize)]
pub struct BugInfo {
    pub name: &'static str,
    /// The property the checker is expected to find violated.
    pub breaks: &'static str,
    pub changes: &'static str,
    pub stands_for: &'static str,
    /// The `parliament check parliament` flags of the configuration in which the checker
    /// finds it (the correct protocol passes the same configuration; see docs).
    pub flags: &'static [&'static str],
}

impl Bug {
    /// Every seeded bug (not [`Bug::None`]).
    pub const ALL: [Bug; 36] = [
        Bug::SkipPhaseOneOnTakeover,
        Bug::FillGapWithOwnDecree,
        Bug::ApplyOutOfOrder,
        Bug::NoSessionDedup,
        Bug::ReplyBeforeChosen,
        Bug::NoTiebreak,
        Bug::MinorityQuorum,
        Bug::PrematureSuccess,
        Bug::StrandQueuedCommands,
        Bug::ReadWithoutConfirm,
        Bug::ReadIgnoresEarlierPresidents,
        Bug::ForgetPromise,
        Bug::ForgetVote,
        Bug::ForgetLastTried,
        Bug::PresidentForgetsOwnVote,
        Bug::GapFillerWrites,
        Bug::RejoinVotesAtOnce,
        Bug::StepDownDropsCommands,
        Bug::ConfirmNeedsLowerPromise,
        Bug::ApplyOnePerDecreeLearned,
        Bug::TruncateUnchosen,
        Bug::SnapshotWithoutSessions,
        Bug::InstallStaleSnapshot,
        Bug::InstallDropsReplies,
        Bug::ExpiredSessionReexecutes,
        Bug::AlphaZero,
        Bug::OldQuorumAfterChange,
        Bug::PromoteBeforeCaughtUp,
        Bug::ReuseRemovedId,
        Bug::NoOliveDayFillers,
        Bug::BatchReadsBeforeItsDecree,
        Bug::WatchIgnored,
        Bug::TransactionReadsBeforeItsWrites,
        Bug::ExpireByOwnClock,
        Bug::QuorumOfTheAsked,
        Bug::LateVotePassesAlone,
    ];

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The flags of the configuration that shows this bug (see [`BugInfo::flags`]).
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Bug::None
            | Bug::SkipPhaseOneOnTakeover
            | Bug::FillGapWithOwnDecree
            | Bug::ApplyOutOfOrder
            | Bug::NoSessionDedup
            | Bug::ReplyBeforeChosen
            | Bug::PrematureSuccess
            | Bug::GapFillerWrites => &[],
            Bug::NoTiebreak => &["--proposers", "3", "--clients", "1"],
            Bug::MinorityQuorum => &["--priests", "4", "--proposers", "3", "--clients", "1"],
            Bug::QuorumOfTheAsked => &["--priests", "4", "--clients", "1", "--decrees", "1"],
            Bug::LateVotePassesAlone => &[
                "--network",
                "duplicating",
                "--heartbeats",
                "--proposers",
                "1",
                "--clients",
                "1",
                "--ops",
                "2",
            ],
            Bug::StrandQueuedCommands => &[
                "--network",
                "duplicating",
                "--proposers",
                "1",
                "--window",
                "1",
            ],
            Bug::ReadWithoutConfirm => &["--clients", "1", "--ops", "2"],
            Bug::ReadIgnoresEarlierPresidents => {
                &["--clients", "1", "--ops", "4", "--decrees", "6"]
            }
            Bug::ForgetPromise
            | Bug::ForgetVote
            | Bug::ForgetLastTried
            | Bug::PresidentForgetsOwnVote => &["--crashes", "1", "--decrees", "1"],
            Bug::RejoinVotesAtOnce => &["--disk-loss", "1", "--decrees", "1"],
            Bug::StepDownDropsCommands => &["--clients", "1", "--ops", "2"],
            Bug::ConfirmNeedsLowerPromise => &["--clients", "1", "--ops", "2"],
            Bug::ApplyOnePerDecreeLearned => &["--network", "duplicating", "--proposers", "1"],
            Bug::TruncateUnchosen
            | Bug::SnapshotWithoutSessions
            | Bug::InstallStaleSnapshot
            | Bug::InstallDropsReplies => &[
                "--snapshots",
                "--clients",
                "1",
                "--ops",
                "2",
                "--window",
                "1",
                "--decrees",
                "3",
            ],
            Bug::ExpiredSessionReexecutes => EXPIRY_FLAGS,
            Bug::BatchReadsBeforeItsDecree => REDIS_FLAGS,
            Bug::WatchIgnored => MULTI_FLAGS,
            Bug::TransactionReadsBeforeItsWrites => MULTI_AGAINST_FLAGS,
            Bug::ExpireByOwnClock => EXPIRE_FLAGS,
            Bug::AlphaZero => CHANGE_ADD_FLAGS,
            Bug::OldQuorumAfterChange => CHANGE_REPLACE_FLAGS,
            Bug::ReuseRemovedId => CHANGE_READD_FLAGS,
            Bug::PromoteBeforeCaughtUp => CHANGE_READD_DUPLICATING_FLAGS,
            Bug::NoOliveDayFillers => CHANGE_ALPHA_FLAGS,
        }
    }

    pub fn info(self) -> BugInfo {
        let (name, breaks, changes, stands_for) = match self {
            Bug::None => ("none", "", "the correct protocol", ""),
            Bug::SkipPhaseOneOnTakeover => (
                "skip-phase-one-on-takeover",
                "b3-respects-earlier-votes",
                "a priest taking over the presidency begins ballots at once, without NextBallot, filling decree numbers with its own commands",
                "leaders that assume they already hold the lease after an election; the paper's president must learn the earlier votes first",
            ),
            Bug::FillGapWithOwnDecree => (
                "fill-gap-with-own-decree",
                "b3-respects-earlier-votes",
                "a new president puts a queued client command in a decree number for which a LastVote reported a vote, instead of the highest reported vote",
                "multi-Paxos leaders that re-propose only the slots they know were chosen (Paxos Made Live, section 5.2, on catching up a new master)",
            ),
            Bug::ApplyOutOfOrder => (
                "apply-out-of-order",
                "logs-are-prefixes",
                "a priest applies each decree to the law as soon as it learns it, not in decree-number order: one learned past a gap is applied at once, and the decrees of the gap never are",
                "state machines fed from an unordered commit stream; the paper's priests apply decrees in order of their numbers",
            ),
            Bug::NoSessionDedup => (
                "no-session-dedup",
                "exactly-once",
                "the law keeps no client sessions, so a command passed in two decrees (a retry, or one handed over by a deposed president) is executed twice",
                "the missing client table of early Raft/Paxos key-value stores (Raft thesis, section 6.3)",
            ),
            Bug::ReplyBeforeChosen => (
                "reply-before-chosen",
                "linearizable",
                "the president answers a client when it begins the ballot for its command, from its own tentative order, not when the decree is passed",
                "acknowledging writes on the leader's local append before a quorum accepted them",
            ),
            Bug::NoTiebreak => (
                "no-tiebreak",
                "b1-unique-ballots",
                "ballot numbers carry no priest id, so two priests taking over in the same round use the same number",
                "proposal numbers without a node id; the paper makes ballot numbers unique by construction",
            ),
            Bug::MinorityQuorum => (
                "minority-quorum",
                "b2-quorums-intersect",
                "a quorum is n/2 priests rounded down, so two quorums can miss each other",
                "off-by-one quorum sizes in home-grown consensus code",
            ),
            Bug::PrematureSuccess => (
                "premature-success",
                "learned-implies-chosen",
                "the president sends Success for a decree as soon as it voted for it itself",
                "learners that treat one acceptance as a decision",
            ),
            Bug::StrandQueuedCommands => (
                "strand-queued-commands",
                "every-client-answered",
                "when a decree passes, the president does not propose the commands that queued while its window was full",
                "a pipeline that only proposes on new requests, never on completions",
            ),
            Bug::ReadWithoutConfirm => (
                "read-without-confirm",
                "linearizable",
                "a president answers a get from its law at once, without a confirmation round, so a deposed president that has not heard of its successor answers with an old value",
                "leader reads served without a lease or a ReadIndex round (the Raft thesis, section 6.4; etcd's stale reads before 3.0)",
            ),
            Bug::ReadIgnoresEarlierPresidents => (
                "read-ignores-earlier-presidents",
                "linearizable",
                "a new president answers confirmed reads before applying the decrees it re-proposed from earlier presidents, which may already have answered their clients",
                "a ReadIndex taken before the new leader has committed an entry of its own term (the Raft thesis, section 6.4: a leader must first commit a no-op)",
            ),
            Bug::ForgetPromise => (
                "forget-promise",
                "b3-respects-earlier-votes",
                "a priest answers NextBallot with its LastVote without first saving its promise (nextBal), so after a crash it votes in a ballot below the one it promised",
                "acceptors that keep the promised ballot in memory only, or sync it lazily",
            ),
            Bug::ForgetVote => (
                "forget-vote",
                "learned-implies-chosen",
                "a priest sends Voted without first saving its vote, so the vote the president counts may not be on its disk (and a crash erases it)",
                "acknowledging an accept before the write is durable (fsync after reply)",
            ),
            Bug::ForgetLastTried => (
                "forget-last-tried",
                "b1-unique-ballots",
                "a priest running for president sends NextBallot without first saving lastTried, so after a crash it tries the same ballot number again",
                "proposers that derive their next proposal number from volatile state",
            ),
            Bug::PresidentForgetsOwnVote => (
                "president-forgets-own-vote",
                "learned-implies-chosen",
                "a president in its own quorum counts itself as having voted without writing the vote in its ledger",
                "leaders that count their own acceptance before (or without) appending to their own log",
            ),
            Bug::GapFillerWrites => (
                "gap-filler-writes",
                "validity",
                "a new president fills a decree number nobody voted for with a write of its own (a blank put) instead of an olive-day decree",
                "no-op entries that are not no-ops: a filler built from a stale buffer",
            ),
            Bug::RejoinVotesAtOnce => (
                "rejoin-votes-at-once",
                "agreement",
                "a priest that lost its ledger starts at once from an empty one, as if the Chamber were new, and votes and presides as before",
                "a replaced disk, or a container restarted without its volume, taken for a new node",
            ),
            Bug::StepDownDropsCommands => (
                "step-down-drops-commands",
                "every-client-answered",
                "a president that learns of a higher ballot drops its queued and unfinished commands instead of handing them to the new ballot's owner",
                "in-flight client requests lost on a leader change, left for client timeouts that a client without retries never has",
            ),
            Bug::ConfirmNeedsLowerPromise => (
                "confirm-needs-lower-promise",
                "every-client-answered",
                "a priest confirms a read round only if it promised a ballot below the president's (< for <=), so the quorum, which promised exactly that ballot, never confirms and reads wait forever",
                "off-by-one ballot comparisons in lease and read-index checks",
            ),
            Bug::ApplyOnePerDecreeLearned => (
                "apply-one-per-decree-learned",
                "every-client-answered",
                "a priest applies at most one decree each time it learns one, so when a missing decree arrives after later ones, the later ones stay unapplied (and their clients unanswered) until yet another decree is learned",
                "commit loops that apply one entry per commit notification instead of every entry that has become contiguous"),
            Bug::TruncateUnchosen => (
                "truncate-unchosen",
                "agreement",
                "a priest taking a snapshot truncates its ledger past what it applied, up to its highest vote, so it forgets votes for decrees not yet known to be passed and reports none of them to the next president",
                "log compaction that trims to the last accepted entry instead of the last committed (applied) one",
            ),
            Bug::SnapshotWithoutSessions => (
                "snapshot-without-sessions",
                "exactly-once",
                "a snapshot holds the key-value map but not the client sessions, so a priest that installs it (or restarts from it) forgets which commands it executed",
                "state-machine snapshots that serialize the data but not the deduplication table",
            ),
            Bug::InstallStaleSnapshot => (
                "install-stale-snapshot",
                "exactly-once",
                "a priest installs any snapshot it receives, even one older than what it applied, so its law goes back: it no longer holds what its decree log says it applied",
                "an InstallSnapshot handler that does not compare the snapshot's index with its own applied index",
            ),
            Bug::InstallDropsReplies => (
                "install-drops-replies",
                "every-client-answered",
                "a president that installs a snapshot covering decrees it passed but had not applied answers none of their clients (it never applies those decrees itself)",
                "leaders that answer clients only from their own apply loop, so entries covered by an installed snapshot are never acknowledged",
            ),
            Bug::ExpiredSessionReexecutes => (
                "expired-session-reexecutes",
                "exactly-once",
                "the law takes a command of a client it has no session for as new, even when the client began before the horizon: a client whose session was forgotten gets a new one, so a late copy of a command it executed before would run again",
                "client tables that expire idle sessions and then treat the client's next request as its first (the Raft thesis, section 6.3, on why sessions need registration)",
            ),
            Bug::AlphaZero => (
                "alpha-zero",
                "quorums-of-the-membership-in-force",
                "a president begins decrees beyond those whose membership it knows: a change takes effect at once, while the decrees above it are already in flight under the old membership's quorum",
                "reconfiguration that switches configuration as soon as the change entry is appended or applied, with entries after it already replicated under the old one (the paper's lookahead, and Raft's single-server-change bug)",
            ),
            Bug::OldQuorumAfterChange => (
                "old-quorum-after-change",
                "quorums-of-the-membership-in-force",
                "a president keeps its office, and its quorum of the old membership, after a change is in force: it neither runs again over the new membership nor stops at the change",
                "leaders that cache the quorum set and do not recompute it when a configuration entry commits",
            ),
            Bug::PromoteBeforeCaughtUp => (
                "promote-before-caught-up",
                "quorums-of-the-membership-in-force",
                "a priest that joins acts on requests before it has applied the decree that adds it, so before it knows which incarnation of its index it is: it answers, as its index's earlier incarnation, a request still in flight for that one",
                "learners promoted to voters before they caught up to their own configuration entry",
            ),
            Bug::NoOliveDayFillers => (
                "no-olive-day-fillers",
                "every-client-answered",
                "with a lookahead above 1, a president passes no olive-day decree to bring a passed change into force when no command comes, so the change (and its answer, given once it is in force) waits for client traffic that may never come",
                "reconfiguration that takes effect only when later entries happen to be committed, so a change made on an idle cluster never completes",
            ),
            Bug::BatchReadsBeforeItsDecree => (
                "batch-reads-before-its-decree",
                "linearizable",
                "the law applies a decree's commands as if at once: each reads the map as it stood before the decree, and its writes then replace what it wrote, so two increments of one key in one decree both answer the same number and one is lost",
                "state machines that execute a batch's commands in parallel against the state before the batch and merge their writes without detecting conflicts, and read-modify-write commands (INCR) turned into a read and a write by a proxy or a client library",
            ),
            Bug::WatchIgnored => (
                "watch-ignored",
                "linearizable",
                "the law executes a transaction without checking its watched keys: two clients' transactions conditional on x being absent both run, the second overwriting the first's x",
                "optimistic transactions whose version check is skipped or done outside the atomic step (check-then-act: WATCH honoured by the client library but not by the server, or a read-validate-write done as separate requests)",
            ),
            Bug::TransactionReadsBeforeItsWrites => (
                "transaction-reads-before-its-writes",
                "linearizable",
                "the law runs each command of a transaction against the map as it stood before the transaction and then writes what it wrote, so a transaction that increments y and then reads it answers the old y",
                "transactions executed as a batch of independent commands against one snapshot of the state (read-your-own-writes lost inside a transaction, as in stores that buffer a transaction's writes apart from its reads)",
            ),
            Bug::ExpireByOwnClock => (
                "expire-by-own-clock",
                "linearizable",
                "a priest counts a relative deadline (SET PX, EXPIRE) from its own clock as it applies the decree (in the model: the number after the last decree it learned), not from the decree's stamp: the key gets a later deadline at that priest than the decree says, and a PTTL in the same decree answers more time than was set",
                "replicated stores that turn a relative TTL into an absolute one at each replica, or when the replica applies the write, instead of once in the replicated command",
            ),
            Bug::QuorumOfTheAsked => (
                "quorum-of-the-asked",
                "learned-implies-chosen",
                "a president passes a decree once a majority of the priests it asked voted, not a quorum of the members: a president that took office with 3 promises of 4 priests passes on 2 votes",
                "leaders that count acknowledgements against the followers they replicate to rather than the whole configuration",
            ),
            Bug::LateVotePassesAlone => (
                "late-vote-passes-alone",
                "learned-implies-chosen",
                "a president whose vote timer runs out passes each ballot it then votes in on its own vote, without waiting for another priest's",
                "a leader that counts its own late write as the acknowledgement it was waiting for",
            ),
            Bug::ReuseRemovedId => (
                "reuse-removed-id",
                "quorums-of-the-membership-in-force",
                "incarnations are ignored: a removed priest's machine, still running, answers requests meant for its index's new incarnation, and presidents count its promises and votes as the new member's",
                "the rejoin bug of Raft libraries that reuse a removed node's id: stale messages from the old node count for the new one",
            ),
        };
        BugInfo {
            name,
            breaks,
            changes,
            stands_for,
            flags: self.flags(),
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        std::iter::once(Bug::None)
            .chain(Bug::ALL)
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!(
                    "unknown parliament bug '{s}'; known bugs: {}",
                    names.join(", ")
                )
            })
    }
}
