//! Symmetry reduction shared by the actor models: renaming interchangeable priests.
//!
//! A model declares which actors are interchangeable; [`least_hash_representative`] then maps
//! a state to the member of its orbit (all the states obtained by permuting those actors)
//! with the least hash. Every state of an orbit maps to the same representative (up to
//! collisions of the 64-bit hash, which the checker's fingerprints accept anyway), so the
//! reduction is exact. [`rename_actors`] does the renaming of everything stateright keeps per
//! actor; the model supplies how its own actor states and ghost history name priests.

use crate::ballot::{PriestIx, Priests};
use stateright::actor::{Actor, ActorModelState, Id};
use stateright::{Rewrite, RewritePlan};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// `set` with priest `p` renamed `old_to_new[p]`.
pub fn permute(set: Priests, old_to_new: &[usize]) -> Priests {
    set.iter()
        .map(|p| old_to_new[p as usize] as PriestIx)
        .collect()
}

/// Every ordering of `items`.
pub fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// `state` with actor `new_to_old[i]` renamed `i`: actor states (through `actor`, given the
/// old-to-new renaming), the network's envelopes, timers, random choices, crash flags,
/// ledgers and the ghost history (through `history`).
pub fn rename_actors<A, H>(
    state: &ActorModelState<A, H>,
    new_to_old: &[usize],
    actor: impl Fn(&A::State, &[usize]) -> A::State,
    history: impl FnOnce(&H, &[usize]) -> H,
) -> ActorModelState<A, H>
where
    A: Actor,
    A::Msg: Rewrite<Id>,
{
    let mut old_to_new = vec![0; new_to_old.len()];
    for (new, &old) in new_to_old.iter().enumerate() {
        old_to_new[old] = new;
    }
    let plan = RewritePlan::new(old_to_new.clone(), |id: &Id, map: &Vec<usize>| {
        Id::from(map[usize::from(*id)])
    });
    ActorModelState {
        actor_states: new_to_old
            .iter()
            .map(|&o| Arc::new(actor(&state.actor_states[o], &old_to_new)))
            .collect(),
        network: state.network.rewrite(&plan),
        timers_set: new_to_old
            .iter()
            .map(|&o| state.timers_set[o].clone())
            .collect(),
        random_choices: new_to_old
            .iter()
            .map(|&o| state.random_choices[o].clone())
            .collect(),
        crashed: new_to_old.iter().map(|&o| state.crashed[o]).collect(),
        history: history(&state.history, &old_to_new),
        actor_storages: new_to_old
            .iter()
            .map(|&o| state.actor_storages[o].clone())
            .collect(),
    }
}

/// Of all the states obtained by permuting the actors `movable` among themselves (with
/// `rename`, given a new-to-old renaming), the one with the least hash.
pub fn least_hash_representative<S: Clone + Hash>(
    state: &S,
    actors: usize,
    movable: &[usize],
    rename: impl Fn(&S, &[usize]) -> S,
) -> S {
    if movable.len() < 2 {
        return state.clone();
    }
    let mut best: Option<(u64, S)> = None;
    for order in permutations(movable) {
        let mut new_to_old: Vec<usize> = (0..actors).collect();
        for (slot, old) in movable.iter().zip(&order) {
            new_to_old[*slot] = *old;
        }
        let candidate = rename(state, &new_to_old);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        candidate.hash(&mut h);
        let key = h.finish();
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, candidate));
        }
    }
    best.expect("at least one permutation").1
}
