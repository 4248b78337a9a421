//! The Chamber in the law: which priests pass decrees, changed by decree (the paper's
//! lookahead).
//!
//! The paper's Parliament changed its own membership by passing decrees, and used for decree
//! number `n` the membership the law held after decree `n - 3`. Here the lookahead is
//! `alpha` (at least 1): a change passed as decree number `i` is *in force* from decree number
//! `i + alpha` on. Since the membership for `n` depends only on decrees below
//! `n - alpha + 1`, a priest that applied decrees `0..a` knows the membership in force at
//! every number below `a + alpha` ([`Chamber::at`]), and agreement on the lower decrees
//! gives agreement on who votes for `n`. A president keeps at most `alpha` decrees in flight
//! beyond what it applied, so it never begins a decree whose electorate it does not know.
//!
//! A member is a priest index with an *incarnation* ([`Member::inc`]): 0 for the founders,
//! `i + 1` for a priest added by decree `i`. An index removed and added again is a new
//! incarnation, so the promises and votes of its previous ledger never count for it. The
//! `nonce` is the token of the new priest's ledger, named in its add, by which that priest
//! (and no earlier machine of the same index) recognizes itself in the law.
//!
//! The law applies a member command like any command (once per client command, under the
//! session rules) and refuses, with the reason, a change while another is pending, an index
//! in use, the removal of a non-member or of the last member, and any change in a law that
//! has no chamber (membership changes disabled). See docs/membership.md for the protocol
//! built on it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Priest indices are below this (a set of priests is a 64-bit set).
pub const MAX_INDEX: u8 = 64;

/// A member's incarnation: 0 for a founder, `i + 1` for one added by decree number `i`.
pub type Inc = u32;

/// A priest of the Chamber.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Member {
    /// Its index: its actor id, and its bit in a set of priests.
    pub ix: u8,
    pub inc: Inc,
    /// The token of the ledger it was added with (0 for a founder).
    pub nonce: u64,
    /// Where it listens, for the runtime (the model's members have none).
    pub addr: Option<Arc<str>>,
}

/// A passed change, in force from decree number `at`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Change {
    pub at: u32,
    pub members: Arc<[Member]>,
}

/// The membership as the law holds it after the decrees it applied: the members in force,
/// and at most one passed change not yet in force.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Chamber {
    pub alpha: u32,
    pub members: Arc<[Member]>,
    pub next: Option<Change>,
}

/// A command that changes (or lists) the Chamber.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberOp {
    /// Add priest `ix`, whose new ledger has token `nonce`.
    Add {
        ix: u8,
        nonce: u64,
        addr: Option<Arc<str>>,
    },
    /// Remove priest `ix`.
    Remove { ix: u8 },
    /// Remove `old` and add `ix` in one change.
    Replace {
        old: u8,
        ix: u8,
        nonce: u64,
        addr: Option<Arc<str>>,
    },
    /// The members in force and the pending change.
    List,
}

/// Why the law refused a member command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Refusal {
    /// The law has no chamber: membership changes are not enabled.
    Disabled,
    /// A change passed and not yet in force: one change at a time.
    Pending,
    /// The index to add is a member (or is in the pending change).
    InUse,
    /// The index to remove is no member.
    NotMember,
    /// The change would leave no priest.
    LastPriest,
    /// The index is not one a priest can have (0 to 63), or a replacement names one index
    /// twice.
    BadIndex,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Disabled => "membership changes are not enabled in this cluster",
            Refusal::Pending => "a membership change is pending: one change at a time",
            Refusal::InUse => "that priest id is a member already",
            Refusal::NotMember => "that priest id is not a member",
            Refusal::LastPriest => "the change would leave no priest",
            Refusal::BadIndex => {
                "a priest id is 0 to 63, and a replacement names two different ids"
            }
        })
    }
}

/// What a member command answers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberAnswer {
    /// The change passed; it is in force from this decree number.
    Changed {
        at: u32,
    },
    /// The members in force, and the pending change.
    Members {
        members: Arc<[Member]>,
        next: Option<Change>,
    },
    Refused(Refusal),
}

impl Chamber {
    /// A new cluster's chamber: founders `0..n` (incarnation 0), with their addresses if
    /// given.
    pub fn founders(alpha: u32, n: u8, addrs: &[Arc<str>]) -> Self {
        assert!(alpha >= 1, "the lookahead is at least 1");
        Chamber {
            alpha,
            members: (0..n)
                .map(|ix| Member {
                    ix,
                    inc: 0,
                    nonce: 0,
                    addr: addrs.get(ix as usize).cloned(),
                })
                .collect(),
            next: None,
        }
    }

    /// Makes the pending change the membership in force once decree number `number` is
    /// applied under it.
    pub(super) fn fold(&mut self, number: u32) {
        if self.next.as_ref().is_some_and(|c| c.at <= number) {
            self.members = self.next.take().expect("checked").members;
        }
    }

    /// The membership in force at decree number `n`, for a law that applied decrees
    /// `0..applied`: exact for `applied <= n < applied + alpha` (and for `n` below
    /// `applied` back to the last change in force); for `n >= applied + alpha` nobody
    /// knows it yet, and this is `None`.
    pub fn at(&self, applied: u32, n: u32) -> Option<&[Member]> {
        if n >= applied.saturating_add(self.alpha) {
            return None;
        }
        Some(match &self.next {
            Some(c) if c.at <= n => &c.members,
            _ => &self.members,
        })
    }

    /// Every member the law names: those in force, then those of the pending change (a
    /// member of both appears twice).
    pub fn named(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .chain(self.next.iter().flat_map(|c| c.members.iter()))
    }

    /// The member with index `ix`, in force or pending.
    pub fn member(&self, ix: u8) -> Option<&Member> {
        self.named().find(|m| m.ix == ix)
    }

    /// Executes a member command passed as decree number `number`.
    pub(super) fn execute(&mut self, op: &MemberOp, number: u32) -> MemberAnswer {
        let (remove, add) = match op {
            MemberOp::List => {
                return MemberAnswer::Members {
                    members: self.members.clone(),
                    next: self.next.clone(),
                }
            }
            MemberOp::Add { ix, nonce, addr } => (None, Some((*ix, *nonce, addr))),
            MemberOp::Remove { ix } => (Some(*ix), None),
            MemberOp::Replace {
                old,
                ix,
                nonce,
                addr,
            } => (Some(*old), Some((*ix, *nonce, addr))),
        };
        let bad = |ix: u8| ix >= MAX_INDEX;
        if remove.is_some_and(bad) || add.is_some_and(|(ix, ..)| bad(ix) || remove == Some(ix)) {
            return MemberAnswer::Refused(Refusal::BadIndex);
        }
        if self.next.is_some() {
            return MemberAnswer::Refused(Refusal::Pending);
        }
        let mut members: Vec<Member> = self.members.to_vec();
        if let Some(old) = remove {
            let before = members.len();
            members.retain(|m| m.ix != old);
            if members.len() == before {
                return MemberAnswer::Refused(Refusal::NotMember);
            }
        }
        if let Some((ix, nonce, addr)) = add {
            if members.iter().any(|m| m.ix == ix) || remove.is_none() && self.member(ix).is_some() {
                return MemberAnswer::Refused(Refusal::InUse);
            }
            members.push(Member {
                ix,
                inc: number + 1,
                nonce,
                addr: addr.clone(),
            });
            members.sort();
        }
        if members.is_empty() {
            return MemberAnswer::Refused(Refusal::LastPriest);
        }
        let at = number.saturating_add(self.alpha);
        self.next = Some(Change {
            at,
            members: members.into(),
        });
        MemberAnswer::Changed { at }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ix)?;
        if self.inc > 0 {
            write!(f, "'{}", self.inc)?;
        }
        Ok(())
    }
}

/// Members as `{0,1,2'5}` (an incarnation after the quote).
pub struct Listed<'a>(pub &'a [Member]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Display for MemberOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberOp::Add { ix, .. } => write!(f, "add priest {ix}"),
            MemberOp::Remove { ix } => write!(f, "remove priest {ix}"),
            MemberOp::Replace { old, ix, .. } => write!(f, "replace priest {old} by {ix}"),
            MemberOp::List => write!(f, "list members"),
        }
    }
}

impl fmt::Display for MemberAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberAnswer::Changed { at } => write!(f, "in force from decree {at}"),
            MemberAnswer::Members { members, next } => {
                write!(f, "{}", Listed(members))?;
                if let Some(c) = next {
                    write!(f, ", then {} from decree {}", Listed(&c.members), c.at)?;
                }
                Ok(())
            }
            MemberAnswer::Refused(r) => write!(f, "refused: {r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Answer, Command, Dedup, Op, Outcome, Store};
    use super::*;
    use stateright::actor::Id;

    fn member(cmd: MemberOp, seq: u64) -> Command {
        Command {
            client: Id::from(9usize),
            seq,
            op: Op::Member(cmd),
        }
    }

    fn answer(law: &mut Store, number: u32, cmd: &Command) -> MemberAnswer {
        let mut got = None;
        law.apply_all(number, None, [cmd], Dedup::Sessions, |_, o| got = Some(o));
        match got {
            Some(Outcome::Executed(Answer::Member(a)) | Outcome::Retry(Answer::Member(a))) => a,
            other => panic!("{other:?}"),
        }
    }

    fn ixs(members: &[Member]) -> Vec<(u8, Inc)> {
        members.iter().map(|m| (m.ix, m.inc)).collect()
    }

    #[test]
    fn a_change_passed_at_i_is_in_force_from_i_plus_alpha() {
        let mut law = Store {
            chamber: Some(Chamber::founders(2, 3, &[])),
            ..Store::default()
        };
        let add = member(
            MemberOp::Add {
                ix: 3,
                nonce: 77,
                addr: Some("10.0.0.4:7000".into()),
            },
            1,
        );
        // Passed as decree 4: in force from 6.
        law.apply_all(0, None, [], Dedup::Sessions, |_, _| {});
        assert_eq!(answer(&mut law, 4, &add), MemberAnswer::Changed { at: 6 });
        let c = law.chamber.clone().unwrap();
        // Applied 0..5: it knows decrees 5 and 6 (5 + alpha), not 7.
        assert_eq!(ixs(c.at(5, 5).unwrap()), [(0, 0), (1, 0), (2, 0)]);
        assert_eq!(
            ixs(c.at(5, 6).unwrap()),
            [(0, 0), (1, 0), (2, 0), (3, 5)],
            "incarnation: decree number + 1"
        );
        assert_eq!(c.at(5, 7), None);
        assert_eq!(c.member(3).unwrap().nonce, 77);
        // A retry of the command gets its first answer, and changes nothing.
        assert_eq!(answer(&mut law, 5, &add), MemberAnswer::Changed { at: 6 });
        assert_eq!(law.chamber, Some(c));
        // Decree 6 applied under the new membership: the change is folded in.
        law.apply_all(6, None, [], Dedup::Sessions, |_, _| {});
        let c = law.chamber.clone().unwrap();
        assert_eq!((c.members.len(), c.next), (4, None));
    }

    #[test]
    fn the_law_refuses_what_would_break_the_chamber() {
        let mut law = Store {
            chamber: Some(Chamber::founders(1, 2, &[])),
            ..Store::default()
        };
        let refused = |r| MemberAnswer::Refused(r);
        let add = |ix, seq| {
            member(
                MemberOp::Add {
                    ix,
                    nonce: 1,
                    addr: None,
                },
                seq,
            )
        };
        assert_eq!(answer(&mut law, 0, &add(1, 1)), refused(Refusal::InUse));
        assert_eq!(
            answer(&mut law, 0, &member(MemberOp::Remove { ix: 5 }, 2)),
            refused(Refusal::NotMember)
        );
        assert_eq!(
            answer(&mut law, 0, &member(MemberOp::Remove { ix: 1 }, 3)),
            MemberAnswer::Changed { at: 1 }
        );
        // One change at a time: the next is refused until decree 1 folds the first in.
        assert_eq!(answer(&mut law, 0, &add(2, 4)), refused(Refusal::Pending));
        assert_eq!(
            answer(&mut law, 1, &member(MemberOp::Remove { ix: 0 }, 5)),
            refused(Refusal::LastPriest)
        );
        // Re-adding the removed index makes a new incarnation.
        assert_eq!(
            answer(&mut law, 2, &add(1, 6)),
            MemberAnswer::Changed { at: 3 }
        );
        law.apply_all(3, None, [], Dedup::Sessions, |_, _| {});
        let c = law.chamber.clone().unwrap();
        assert_eq!(ixs(&c.members), [(0, 0), (1, 3)]);
        // A replacement is one change; the index it adds may not be in use.
        let replace = |old, ix, seq| {
            member(
                MemberOp::Replace {
                    old,
                    ix,
                    nonce: 2,
                    addr: None,
                },
                seq,
            )
        };
        assert_eq!(
            answer(&mut law, 3, &replace(1, 0, 7)),
            refused(Refusal::InUse)
        );
        assert_eq!(
            answer(&mut law, 3, &replace(1, 4, 8)),
            MemberAnswer::Changed { at: 4 }
        );
        assert_eq!(
            answer(&mut law, 3, &member(MemberOp::List, 9)).to_string(),
            "{0,1'3}, then {0,4'4} from decree 4"
        );
        // Indices a priest cannot have, and a replacement of an index by itself.
        assert_eq!(
            answer(&mut law, 3, &add(64, 10)),
            refused(Refusal::BadIndex)
        );
        assert_eq!(
            answer(&mut law, 3, &replace(0, 0, 11)),
            refused(Refusal::BadIndex)
        );
        // A law without a chamber refuses every member command, and so does the plain map.
        let mut fixed = Store::default();
        assert_eq!(
            answer(&mut fixed, 0, &add(3, 1)),
            refused(Refusal::Disabled)
        );
        assert_eq!(fixed.executed, 1);
    }
}
