//! The messages of the Parliament, named as in the paper, and the client messages.

use super::{Decree, DecreeNumber, Snapshot, Vote};
use crate::ballot::Ballot;
use crate::kv::{Answer, Command, Inc, Op, Outcome};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::fmt::{self, Debug, Display};

/// The messages of the Parliament, named as in the paper, and the client messages.
///
/// With a Chamber in the law, a priest index may name several machines over time: an index
/// removed and added again is a new *incarnation* ([`Inc`]). So the requests that ask for a
/// promise, a vote or a confirmation name the incarnation they are for (`to`), and the
/// answers say which incarnation gives them (`inc`): a priest acts only on requests for its
/// own incarnation, and a president counts only answers from the incarnation its office's
/// membership names. Without a Chamber every tag is 0. Each tag is its message's last field,
/// so a message of a build before tags decodes as tag 0 (see `host::wire`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Step 1: the president asks for promises for ballot `ballot`, for every decree number
    /// from `from` on.
    NextBallot {
        ballot: Ballot,
        from: DecreeNumber,
        to: Inc,
    },
    /// Step 2: the sender promises; `votes` are its votes for decree numbers `>= from`, and
    /// at or above `base`, its snapshot's end: every decree below `base` was passed, and it
    /// keeps no vote there.
    LastVote {
        ballot: Ballot,
        from: DecreeNumber,
        base: DecreeNumber,
        votes: Vec<(DecreeNumber, Vote)>,
        inc: Inc,
    },
    /// Step 3/4: the president asks its quorum to vote for decree `decree` as number `number`.
    BeginBallot {
        ballot: Ballot,
        number: DecreeNumber,
        decree: Decree,
        to: Inc,
    },
    /// The sender voted for decree number `number` in ballot `ballot`.
    Voted {
        ballot: Ballot,
        number: DecreeNumber,
        inc: Inc,
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
    /// The law after every decree below `snapshot.upto`: the answer to a `Catchup` for
    /// decrees the sender no longer keeps.
    Snapshot { snapshot: Snapshot },
    /// The president of `ballot` asks, for the reads it holds, whether the sender still
    /// promises no higher ballot (confirmation round `round`).
    Confirm { ballot: Ballot, round: u32, to: Inc },
    /// The sender had promised no ballot above `ballot` when round `round`'s Confirm came.
    Confirmed {
        ballot: Ballot,
        round: u32,
        inc: Inc,
    },
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
    /// To a client: the law refused its command number `seq`, and will refuse every later
    /// one: it has no session for the client, and may have forgotten it (see [`crate::kv`],
    /// "Forgetting sessions"). The client starts again as a new client.
    Expired { seq: u64 },
    /// From a president a change removed, to a member of the membership now in force: run
    /// for president now, rather than after an election timeout (see "Changing the
    /// Chamber"). Last, so a build before it drops it as undecodable.
    Handover,
}

impl Msg {
    /// What a client is told of its command `seq` when the law gave `outcome`: its answer,
    /// that its session expired, or nothing (a stale command: nobody waits for it).
    pub fn to_client(seq: u64, outcome: &Outcome) -> Option<Msg> {
        match outcome {
            Outcome::Executed(answer) | Outcome::Retry(answer) => Some(Msg::Reply {
                seq,
                answer: answer.clone(),
            }),
            Outcome::Expired => Some(Msg::Expired { seq }),
            Outcome::Stale => None,
        }
    }
}

impl Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::NextBallot { ballot, from, to } => {
                write!(
                    f,
                    "NextBallot({ballot}, from {from}{})",
                    Tag("to inc ", *to)
                )
            }
            Msg::LastVote {
                ballot,
                from,
                base,
                votes,
                inc,
            } => {
                write!(f, "LastVote({ballot}{}, from {from}:", Tag("inc ", *inc))?;
                if *base > 0 {
                    write!(f, " snapshot <{base};")?;
                }
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
                to,
            } => write!(
                f,
                "BeginBallot({ballot}, #{number} {decree}{})",
                Tag("to inc ", *to)
            ),
            Msg::Voted {
                ballot,
                number,
                inc,
            } => write!(f, "Voted({ballot}, #{number}{})", Tag("inc ", *inc)),
            Msg::Success { number, decree } => write!(f, "Success(#{number} {decree})"),
            Msg::Heartbeat { ballot, known } => write!(f, "Heartbeat({ballot}, knows <{known})"),
            Msg::Catchup { from } => write!(f, "Catchup(from {from})"),
            Msg::Snapshot { snapshot } => write!(f, "Snapshot(<{})", snapshot.upto),
            Msg::Confirm { ballot, round, to } => {
                write!(f, "Confirm({ballot}, round {round}{})", Tag("to inc ", *to))
            }
            Msg::Confirmed { ballot, round, inc } => {
                write!(f, "Confirmed({ballot}, round {round}{})", Tag("inc ", *inc))
            }
            Msg::Rejoin => write!(f, "Rejoin"),
            Msg::Highest { ballot: Some(b) } => write!(f, "Highest({b})"),
            Msg::Highest { ballot: None } => write!(f, "Highest(none)"),
            Msg::Rejoined { ballot, until } => write!(f, "Rejoined({ballot}, until #{until})"),
            Msg::Request { client, seq, op } => {
                write!(f, "Request(c{}#{seq} {op})", usize::from(*client))
            }
            Msg::Reply { seq, answer } => write!(f, "Reply(#{seq} {answer})"),
            Msg::Expired { seq } => write!(f, "Expired(#{seq})"),
            Msg::Handover => write!(f, "Handover"),
        }
    }
}

/// An incarnation tag as a message shows it: only when it is not 0.
struct Tag(&'static str, Inc);

impl Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            0 => Ok(()),
            inc => write!(f, ", {}{inc}", self.0),
        }
    }
}

impl Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
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
