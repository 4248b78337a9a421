//! Seeded bugs: faithful, minimal mutations of the Synod protocol that real Paxos
//! implementations have shipped. Each exists so a test can show the checker catching it; a
//! property that no bug can break proves nothing. The deployed priest always runs
//! [`Bug::None`] and no server command line can select another.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A seeded bug in the Synod priest (or [`Bug::None`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// The correct protocol.
    #[default]
    None,
    IgnoreLastVotes,
    LowestLastVote,
    MinorityQuorum,
    ForgetLastTried,
    ForgetPromise,
    ForgetVote,
    VoteBelowPromise,
    StaleLastVote,
    PrematureSuccess,
    NoTiebreak,
    InventDecree,
}

/// What a bug is, what it breaks, and where it comes from.
#[derive(Clone, Debug, Serialize)]
pub struct BugInfo {
    pub name: &'static str,
    /// The property the checker is expected to find violated.
    pub breaks: &'static str,
    pub changes: &'static str,
    pub stands_for: &'static str,
    /// The `parliament check synod` flags of the configuration in which the checker finds
    /// it (the correct protocol passes the same configuration).
    pub flags: &'static [&'static str],
}

impl Bug {
    /// Every seeded bug (not [`Bug::None`]).
    pub const ALL: [Bug; 11] = [
        Bug::IgnoreLastVotes,
        Bug::LowestLastVote,
        Bug::MinorityQuorum,
        Bug::ForgetLastTried,
        Bug::ForgetPromise,
        Bug::ForgetVote,
        Bug::VoteBelowPromise,
        Bug::StaleLastVote,
        Bug::PrematureSuccess,
        Bug::NoTiebreak,
        Bug::InventDecree,
    ];

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn info(self) -> BugInfo {
        let (name, breaks, changes, stands_for) = match self {
            Bug::None => ("none", "", "the correct protocol", ""),
            Bug::IgnoreLastVotes => (
                "ignore-last-votes",
                "b3-respects-earlier-votes",
                "the president begins its ballot with its own decree even when a LastVote reported an earlier vote",
                "the classic error of treating phase 1 as leader election only; Lamport, Paxos Made Simple, section 2.2",
            ),
            Bug::LowestLastVote => (
                "lowest-last-vote",
                "b3-respects-earlier-votes",
                "the president takes the decree of the lowest-numbered earlier vote instead of the highest",
                "the paper's B3 names the latest earlier ballot; taking any other is the error Lamport's proof of B3 rules out",
            ),
            Bug::MinorityQuorum => (
                "minority-quorum",
                "b2-quorums-intersect",
                "a quorum is n/2 priests rounded down, so two quorums can miss each other",
                "off-by-one quorum sizes (n/2 instead of n/2+1) in home-grown consensus code",
            ),
            Bug::ForgetLastTried => (
                "forget-last-tried",
                "b1-unique-ballots",
                "lastTried is not kept in the ledger, so a restarted priest reuses a ballot number",
                "ballot counters kept in memory only; the paper keeps lastTried[p] in the ledger for exactly this reason",
            ),
            Bug::ForgetPromise => (
                "forget-promise",
                "b3-respects-earlier-votes",
                "nextBal is not saved before LastVote leaves, so a restarted priest votes below its promise",
                "acceptors that fsync votes but not promises; Chandra, Griesemer, Redstone, Paxos Made Live (disk corruption and lost state)",
            ),
            Bug::ForgetVote => (
                "forget-vote",
                "learned-implies-chosen",
                "prevVote is not saved before Voted leaves: a Voted that no saved ledger backs is no vote, so a president can pass a decree without a quorum's votes (and a restarted priest reports no earlier vote)",
                "acknowledging before the write is durable (the fsync bugs studied by Alagappan et al., OSDI 2016)",
            ),
            Bug::VoteBelowPromise => (
                "vote-below-promise",
                "b3-respects-earlier-votes",
                "a priest votes in a BeginBallot whose number is lower than its nextBal",
                "accept handlers that check only that the ballot is not older than the last vote",
            ),
            Bug::StaleLastVote => (
                "stale-last-vote",
                "b3-respects-earlier-votes",
                "LastVote messages from an older ballot of the same president count towards the current one",
                "responses matched by sender only, not by ballot number (a common retry bug)",
            ),
            Bug::PrematureSuccess => (
                "premature-success",
                "learned-implies-chosen",
                "Success is sent once any one priest voted",
                "learners that treat one acceptance as a decision",
            ),
            Bug::NoTiebreak => (
                "no-tiebreak",
                "b1-unique-ballots",
                "ballot numbers carry no priest id, so two presidents can use the same number",
                "proposal numbers without a node id; the paper makes ballot numbers unique by construction",
            ),
            Bug::InventDecree => (
                "invent-decree",
                "validity",
                "a president that finds no earlier vote begins its ballot with a default decree nobody proposed",
                "no-op or default values passed where a client value was required",
            ),
        };
        let flags: &'static [&'static str] = match self {
            Bug::LowestLastVote | Bug::StaleLastVote => &["--rounds", "2"],
            Bug::MinorityQuorum => &["--priests", "4", "--rounds", "1"],
            Bug::ForgetLastTried | Bug::ForgetPromise | Bug::ForgetVote => {
                &["--rounds", "1", "--crashes", "1"]
            }
            _ => &["--rounds", "1"],
        };
        BugInfo {
            name,
            breaks,
            changes,
            stands_for,
            flags,
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
                format!("unknown bug '{s}'; known bugs: {}", names.join(", "))
            })
    }
}
