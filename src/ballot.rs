//! Ballot numbers and quorums: the two ingredients of the paper's conditions B1 and B2.
//!
//! **B1** asks that every ballot have a unique number. Lamport's priests get this by
//! construction: a ballot number is a pair `(round, priest)` compared lexicographically, and
//! a priest only ever begins ballots carrying its own name. Two priests can therefore never
//! pick the same number, and one priest never picks the same number twice as long as it
//! remembers, in its ledger, the last number it tried (`lastTried`).
//!
//! **B2** asks that any two ballots' quorums share a priest. [`QuorumSystem::Majority`] gets
//! this from arithmetic (two majorities of `n` always overlap); [`QuorumSystem::Explicit`]
//! lets a user write down any set of quorums, and the checker then verifies B2 on the
//! ballots it actually sees rather than trusting the configuration.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The name of a priest: its index in the cluster's list of priests (0-based).
pub type PriestIx = u8;

/// A ballot number: `(round, priest)`, ordered lexicographically (B1 by construction).
///
/// ```
/// use parliament::ballot::Ballot;
/// // A higher round wins; within a round, the priest's name breaks the tie.
/// assert!(Ballot::new(1, 2) < Ballot::new(2, 0));
/// assert!(Ballot::new(2, 0) < Ballot::new(2, 1));
/// assert_eq!(Ballot::new(2, 1).to_string(), "2.1");
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The round; a priest starting a new ballot picks a round above any it has seen.
    pub round: u32,
    /// The priest that owns (and alone may begin) ballots with this number.
    pub priest: PriestIx,
}

impl Ballot {
    pub const fn new(round: u32, priest: PriestIx) -> Self {
        Ballot { round, priest }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.priest)
    }
}

/// A set of priests, as a bit set over priest indices (at most 64 priests).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Priests(pub u64);

impl Priests {
    pub const EMPTY: Priests = Priests(0);

    /// All priests `0..n`.
    pub const fn all(n: usize) -> Self {
        if n >= 64 {
            Priests(u64::MAX)
        } else {
            Priests((1u64 << n) - 1)
        }
    }
    pub const fn single(p: PriestIx) -> Self {
        Priests(1u64 << p)
    }
    pub const fn contains(self, p: PriestIx) -> bool {
        self.0 & (1u64 << p) != 0
    }
    #[must_use]
    pub const fn with(self, p: PriestIx) -> Self {
        Priests(self.0 | (1u64 << p))
    }
    #[must_use]
    pub const fn without(self, p: PriestIx) -> Self {
        Priests(self.0 & !(1u64 << p))
    }
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub const fn intersects(self, other: Priests) -> bool {
        self.0 & other.0 != 0
    }
    pub const fn is_subset(self, other: Priests) -> bool {
        self.0 & !other.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = PriestIx> {
        (0..64u8).filter(move |&p| self.contains(p))
    }
}

impl FromIterator<PriestIx> for Priests {
    fn from_iter<I: IntoIterator<Item = PriestIx>>(iter: I) -> Self {
        iter.into_iter().fold(Priests::EMPTY, Priests::with)
    }
}

impl fmt::Display for Priests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")?;
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{p}")?;
        }
        write!(f, "}}")
    }
}

/// Which sets of priests count as a quorum.
///
/// ```
/// use parliament::ballot::{Priests, QuorumSystem};
/// let q = QuorumSystem::majority(3);
/// assert!(q.is_quorum(Priests(0b011)) && !q.is_quorum(Priests(0b100)));
/// assert!(q.quorums_intersect());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QuorumSystem {
    /// Any set of more than half of the `n` priests.
    Majority { priests: usize },
    /// Any superset of one of the listed sets. The configuration is not trusted: the model
    /// checks B2 on the quorums ballots really use.
    Explicit {
        priests: usize,
        quorums: Vec<Priests>,
    },
    /// Any set of at least `size` priests, whether or not that makes two quorums intersect.
    /// Exists so that a broken system (for instance `size = n / 2`) can be configured and
    /// the checker shown to catch it.
    AtLeast { priests: usize, size: usize },
}

impl QuorumSystem {
    pub fn majority(priests: usize) -> Self {
        QuorumSystem::Majority { priests }
    }

    /// Number of priests the system is over.
    pub fn priests(&self) -> usize {
        match self {
            QuorumSystem::Majority { priests }
            | QuorumSystem::Explicit { priests, .. }
            | QuorumSystem::AtLeast { priests, .. } => *priests,
        }
    }

    /// Whether `set` contains a quorum.
    pub fn is_quorum(&self, set: Priests) -> bool {
        match self {
            QuorumSystem::Majority { priests } => 2 * set.len() > *priests,
            QuorumSystem::Explicit { quorums, .. } => quorums.iter().any(|q| q.is_subset(set)),
            QuorumSystem::AtLeast { size, .. } => set.len() >= *size,
        }
    }

    /// Whether every two quorums of the system intersect (the configuration satisfies B2).
    pub fn quorums_intersect(&self) -> bool {
        let n = self.priests();
        let minimal: Vec<Priests> = (0..(1u64 << n))
            .map(Priests)
            .filter(|s| self.is_quorum(*s))
            .collect();
        minimal
            .iter()
            .all(|a| minimal.iter().all(|b| a.intersects(*b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_priest() {
        assert!(Ballot::new(1, 2) < Ballot::new(2, 0));
        assert!(Ballot::new(2, 0) < Ballot::new(2, 1));
        assert_ne!(Ballot::new(2, 0), Ballot::new(2, 1));
    }

    #[test]
    fn majorities_intersect_and_minorities_do_not() {
        let q = QuorumSystem::majority(3);
        assert!(q.is_quorum(Priests(0b011)));
        assert!(!q.is_quorum(Priests(0b001)));
        assert!(q.quorums_intersect());
        let broken = QuorumSystem::AtLeast {
            priests: 4,
            size: 2,
        };
        assert!(!broken.quorums_intersect());
    }

    #[test]
    fn explicit_quorums() {
        // A 2x2 grid: rows are phase quorums that still intersect every other row? No:
        // {0,1} and {2,3} are disjoint, so this system violates B2.
        let grid = QuorumSystem::Explicit {
            priests: 4,
            quorums: vec![Priests(0b0011), Priests(0b1100)],
        };
        assert!(!grid.quorums_intersect());
        let star = QuorumSystem::Explicit {
            priests: 4,
            quorums: vec![Priests(0b0011), Priests(0b0101), Priests(0b1001)],
        };
        assert!(star.quorums_intersect());
        assert!(star.is_quorum(Priests(0b0111)));
        assert!(!star.is_quorum(Priests(0b0110)));
    }

    #[test]
    fn priest_sets() {
        let s: Priests = [0u8, 2].into_iter().collect();
        assert_eq!(s.to_string(), "{0,2}");
        assert!(s.contains(2) && !s.contains(1));
        assert_eq!(Priests::all(3), Priests(0b111));
    }
}
