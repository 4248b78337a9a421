//! Determinism: a model checker trusts that an action taken from a state always leads to
//! the same next state. An actor that iterates a `HashMap` (whose order changes with every
//! map's random seed), reads the clock or draws a random number outside stateright's
//! `ChooseRandom` breaks that silently: the search then explores some other graph than the
//! protocol's, and its counts change from run to run.
//!
//! [`first_nondeterministic_step`] explores a model breadth first, takes every action from
//! every state twice (once from the state, once from a clone of it) and compares the two
//! next states; it returns the first action whose two outcomes differ. (A `HashMap` built
//! in a handler gets a new random seed each time, so an order that depends on it shows.)

use stateright::Model;
use std::collections::{HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash};

/// A fixed-seed hash of `value`, the same for equal values in one process.
fn hash_of<T: Hash>(value: &T) -> u64 {
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(value)
}

/// Explores up to `limit` states of `model` breadth first; for each action of each state,
/// computes the next state twice, and returns a description of the first action whose two
/// next states differ (or whose action lists differ between two calls), if any.
pub fn first_nondeterministic_step<M>(model: &M, limit: usize) -> Option<String>
where
    M: Model,
    M::State: Clone + Hash + Debug,
    M::Action: Clone + Debug + PartialEq,
{
    let mut seen = HashSet::new();
    let mut queue: VecDeque<M::State> = model.init_states().into();
    for s in &queue {
        seen.insert(hash_of(s));
    }
    while let Some(state) = queue.pop_front() {
        if seen.len() > limit {
            break;
        }
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        let mut again = Vec::new();
        model.actions(&state.clone(), &mut again);
        if actions != again {
            return Some(format!(
                "the actions of a state differ: {actions:?} / {again:?}"
            ));
        }
        for action in actions {
            let a = model.next_state(&state, action.clone());
            let b = model.next_state(&state.clone(), action.clone());
            if a.as_ref().map(hash_of) != b.as_ref().map(hash_of) {
                return Some(format!("{action:?} leads to two different states"));
            }
            if let Some(next) = a {
                if model.within_boundary(&next) && seen.insert(hash_of(&next)) {
                    queue.push_back(next);
                }
            }
        }
    }
    None
}
