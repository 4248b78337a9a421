//! Simulation: random walks through a model too large to explore exhaustively
//! (`parliament check MODEL --simulate --seed S --walks N --depth D`).
//!
//! # The walks
//!
//! Walk `w` (numbered from 1) of seed `S` starts at an initial state chosen at random and
//! takes at most `D` steps. At each state it lists the model's actions, puts them in a fixed
//! order (by a hash of each action that does not vary between processes: stateright's
//! actor networks keep their messages in hash maps whose iteration order does), and draws
//! actions at random until one leads somewhere: to a state within the model's boundary that
//! differs from the current one. A stutter (an action that changes nothing) would only use up
//! the walk's depth. Drawing without replacement and skipping what leads nowhere makes the
//! step uniform among the steps that lead somewhere. A state from which no action leads
//! anywhere is a *dead end*, and the walk ends there.
//!
//! The random numbers of walk `w` are ChaCha8's stream `w - 1` under the key `S`, so each walk
//! depends on `S` and `w` alone: the same seed gives the same walks and the same result, in
//! any process, and walk `w` of one run is walk `w` of any run of the same seed with at least
//! `w` walks. One seed runs on one thread; many seeds are many independent jobs, whose JSON
//! reports `parliament check merge` adds up ([`merge`](super::merge)).
//!
//! # What a walk decides
//!
//! Every property is evaluated at every state a walk visits (its first state included):
//!
//! - `always`: a visited state that violates it is a real counterexample (the walk is a path
//!   of the model). No violation says only that the walks met none: nothing is verified.
//! - `sometimes`: a visited state that satisfies it is an example; without one the property is
//!   not checked (the walks see a small part of the states).
//! - `eventually P` is checked exhaustively as `AG EF P` (see [`crate::check`]), which needs
//!   every continuation of every state. A walk stopped at depth `D` ends where the run goes
//!   on, and what comes later is unknown, so `eventually` is *not checked* by simulation. The
//!   one exception is a walk that ends in a dead end where `P` does not hold: no continuation
//!   of that state reaches `P`, a real counterexample (the liveness check would report it
//!   too, since its graph has the same steps and leaves out the same stutters).
//!
//! # Counterexamples
//!
//! A violation is told like an exhaustive search's counterexample, in the paper's words, with
//! the seed, walk and step that found it. A walk wanders, so before it is told it is
//! shortened by replay. First its loops are cut out: a walk that comes back to a state it
//! visited goes on from its first visit. Then each step, from the last to the first, is
//! dropped when the walk without it is still a path of the model (every remaining step leads
//! somewhere from where it is taken) that still reaches a violation. The result is a
//! counterexample, not necessarily a shortest one.
//!
//! # The report
//!
//! The report's search is `simulated`; its JSON carries the seed, walks and depth (field
//! `simulation`) and, for every property decided by a walk, the walk that decided it
//! (`found_by`). A simulated report never says "verified": its exit status is 1 when a
//! property fails and 3 (unknown) otherwise, never 0.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::HashSet;

/// What a simulation runs: `walks` random walks of at most `depth` steps under `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walks {
    pub seed: u64,
    pub walks: usize,
    pub depth: usize,
}

/// The walk that decided a property: walk `walk` (from 1) of seed `seed`, at its step
/// `step` (0 is its initial state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkRef {
    pub seed: u64,
    pub walk: usize,
    pub step: usize,
}

/// The simulation behind a report: every walk took at most `depth` steps; one run per seed
/// (a merged report has several).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub depth: usize,
    pub runs: Vec<SimulatedRun>,
}

impl Simulation {
    /// The walks taken, over every seed.
    pub fn walks_run(&self) -> usize {
        self.runs.iter().map(|r| r.walks_run).sum()
    }
    /// The walks asked for, over every seed.
    pub fn walks(&self) -> usize {
        self.runs.iter().map(|r| r.walks).sum()
    }
    /// The seeds, in order.
    pub fn seeds(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.seed).collect()
    }
}

/// One seed's walks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulatedRun {
    pub seed: u64,
    /// The walks asked for.
    pub walks: usize,
    /// The walks taken: fewer when the run stopped early (see `stopped`).
    pub walks_run: usize,
    /// How many of them ended in a dead end (a state with no step that leads anywhere)
    /// rather than at the depth.
    pub dead_ends: usize,
    pub seconds: f64,
    /// Why the run stopped before its last walk, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Where a walk goes from a state.
enum Step<M: Model> {
    /// This action, to this state (within the boundary, not the same state).
    To(M::Action, M::State),
    /// No action leads anywhere.
    DeadEnd,
}

/// The model's actions at `state`, in an order that is the same in every process.
pub(super) fn ordered_actions<M>(model: &M, state: &M::State) -> Vec<M::Action>
where
    M: Model,
    M::Action: Hash,
{
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    actions.sort_by_cached_key(state_hash);
    actions
}

/// Where `action` leads from `state`, if it leads somewhere.
fn successor<M>(model: &M, state: &M::State, action: M::Action) -> Option<M::State>
where
    M: Model,
    M::State: PartialEq,
{
    model
        .next_state(state, action)
        .filter(|next| next != state && model.within_boundary(next))
}

/// One random step from `state`: uniform among the actions that lead somewhere.
fn random_step<M>(model: &M, state: &M::State, rng: &mut ChaCha8Rng) -> Step<M>
where
    M: Model,
    M::State: PartialEq,
    M::Action: Clone + Hash,
{
    let mut actions = ordered_actions(model, state);
    while !actions.is_empty() {
        let action = actions.swap_remove(rng.random_range(0..actions.len()));
        if let Some(next) = successor(model, state, action.clone()) {
            return Step::To(action, next);
        }
    }
    Step::DeadEnd
}

/// No action leads anywhere from `state`.
fn is_dead_end<M>(model: &M, state: &M::State) -> bool
where
    M: Model,
    M::State: PartialEq,
    M::Action: Clone + Hash,
{
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    actions
        .into_iter()
        .all(|a| successor(model, state, a).is_none())
}

/// Does `state` decide `property`: violate an `always` one, satisfy a `sometimes` one, or,
/// being a dead end, not satisfy an `eventually` one? (`dead_end` is computed only when
/// needed.)
fn decides<M: Model>(
    model: &M,
    property: &Property<M>,
    state: &M::State,
    dead_end: impl FnOnce() -> bool,
) -> bool {
    match property.expectation {
        Expectation::Always => !(property.condition)(model, state),
        Expectation::Sometimes => (property.condition)(model, state),
        Expectation::Eventually => !(property.condition)(model, state) && dead_end(),
    }
}

/// A walk that decided a property: where, and its steps up to there.
struct Decided<M: Model> {
    at: WalkRef,
    init: M::State,
    actions: Vec<M::Action>,
}

/// Replays `actions` from `init`: the number of steps to the first state that decides
/// `property`, or `None` if some step does not lead anywhere or no state decides it.
fn replay<M>(
    model: &M,
    property: &Property<M>,
    init: &M::State,
    actions: &[M::Action],
) -> Option<usize>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq + Hash,
{
    let mut state = init.clone();
    for (i, action) in actions.iter().enumerate() {
        if decides(model, property, &state, || is_dead_end(model, &state)) {
            return Some(i);
        }
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        if !enabled.contains(action) {
            return None;
        }
        state = successor(model, &state, action.clone())?;
    }
    decides(model, property, &state, || is_dead_end(model, &state)).then_some(actions.len())
}

/// The walk's steps, shortened (see the module docs): first every loop is cut out (a walk
/// that comes back to a state it visited goes on from the first visit), then each step, from
/// the last to the first, is dropped when the walk without it still reaches a state that
/// decides `property`.
fn shorten<M>(
    model: &M,
    property: &Property<M>,
    init: &M::State,
    actions: Vec<M::Action>,
) -> Vec<M::Action>
where
    M: Model,
    M::State: Clone + PartialEq + Hash,
    M::Action: Clone + PartialEq + Hash,
{
    // The states of the walk without its loops, and the steps between them.
    let mut states = vec![init.clone()];
    let mut steps: Vec<M::Action> = Vec::new();
    // Where each state was visited (by hash; an index past a loop cut out is stale, and
    // an index is used only when its state is the one sought).
    let mut visited: HashMap<u64, Vec<usize>> = HashMap::new();
    visited.entry(state_hash(init)).or_default().push(0);
    for action in actions {
        let next = model
            .next_state(states.last().expect("a state"), action.clone())
            .expect("a walk's step leads somewhere");
        let h = state_hash(&next);
        let earlier = visited.get(&h).and_then(|at| {
            at.iter()
                .copied()
                .find(|&i| i < states.len() && states[i] == next)
        });
        match earlier {
            Some(i) => {
                states.truncate(i + 1);
                steps.truncate(i);
            }
            None => {
                visited.entry(h).or_default().push(states.len());
                states.push(next);
                steps.push(action);
            }
        }
    }
    let mut actions = match replay(model, property, init, &steps) {
        Some(n) => {
            steps.truncate(n);
            steps
        }
        None => unreachable!("the walk without its loops still reaches its last state"),
    };
    let mut i = actions.len();
    while i > 0 {
        i -= 1;
        let mut shorter = actions.clone();
        shorter.remove(i);
        if let Some(n) = replay(model, property, init, &shorter) {
            shorter.truncate(n);
            actions = shorter;
            i = i.min(actions.len());
        }
    }
    actions
}

/// Runs the walks and reports (see the module documentation). `opts.stop_on` and
/// `opts.stop_on_failure` stop the walks as they stop an exhaustive search; otherwise every
/// walk is taken. `opts.timeout` stops the walks between two walks.
pub(super) fn simulate<M>(
    model: M,
    name: &str,
    config: serde_json::Value,
    opts: &CheckOptions,
    walks: Walks,
) -> Report
where
    M: Narrate,
    M::State: Clone + Debug + Hash + PartialEq,
    M::Action: Clone + Debug + PartialEq + Hash,
{
    let properties = model.properties();
    let undecidable = model.not_checked();
    let skip: Vec<bool> = properties
        .iter()
        .map(|p| undecidable.iter().any(|(n, _)| *n == p.name))
        .collect();
    let start = Instant::now();
    let inits: Vec<M::State> = model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(s))
        .collect();
    let progress = opts.progress && std::io::stderr().is_terminal();
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(walks.walks as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed} walk {pos}/{len} {msg}")
                .expect("valid template"),
        );
        bar
    });

    let mut decided: Vec<Option<Decided<M>>> = properties.iter().map(|_| None).collect();
    let mut seen: HashSet<u64> = HashSet::new();
    let (mut total, mut deepest, mut dead_ends, mut walks_run) = (0usize, 0usize, 0usize, 0);
    let mut stopped = None;
    let must_stop = |decided: &[Option<Decided<M>>]| -> Option<String> {
        let failed =
            |i: usize| decided[i].is_some() && properties[i].expectation.discovery_is_failure();
        if let Some(name) = opts.stop_on {
            let i = properties.iter().position(|p| p.name == name)?;
            return failed(i).then(|| format!("stopped at the first violation of {name}"));
        }
        if opts.stop_on_failure && (0..properties.len()).any(failed) {
            return Some("stopped at the first violation".into());
        }
        (0..properties.len())
            .all(|i| skip[i] || decided[i].is_some())
            .then(|| "stopped once every property had a verdict".into())
    };
    'walks: for w in 0..walks.walks {
        if opts.timeout.is_some_and(|t| start.elapsed() >= t) {
            stopped = Some("the time given ran out".to_string());
            break;
        }
        if inits.is_empty() {
            break;
        }
        walks_run += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(walks.seed);
        rng.set_stream(w as u64);
        let init = inits[rng.random_range(0..inits.len())].clone();
        let mut state = init.clone();
        let mut taken: Vec<M::Action> = Vec::new();
        loop {
            total += 1;
            seen.insert(state_hash(&state));
            let next = (taken.len() < walks.depth).then(|| random_step(&model, &state, &mut rng));
            let dead_end = matches!(next, Some(Step::DeadEnd));
            for (i, p) in properties.iter().enumerate() {
                if skip[i] || decided[i].is_some() {
                    continue;
                }
                if decides(&model, p, &state, || dead_end) {
                    decided[i] = Some(Decided {
                        at: WalkRef {
                            seed: walks.seed,
                            walk: w + 1,
                            step: taken.len(),
                        },
                        init: init.clone(),
                        actions: taken.clone(),
                    });
                }
            }
            if let Some(why) = must_stop(&decided) {
                stopped = Some(why);
                deepest = deepest.max(taken.len());
                break 'walks;
            }
            match next {
                Some(Step::To(action, s)) => {
                    taken.push(action);
                    state = s;
                }
                Some(Step::DeadEnd) => {
                    dead_ends += 1;
                    break;
                }
                None => break,
            }
        }
        deepest = deepest.max(taken.len());
        if let Some(bar) = &bar {
            bar.set_position(walks_run as u64);
            bar.set_message(format!("{total} states visited, {} distinct", seen.len()));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let seconds = start.elapsed().as_secs_f64();

    let mut svg = None;
    let mut explorer_path = None;
    let mut reports = Vec::with_capacity(properties.len());
    for (i, p) in properties.iter().enumerate() {
        let mut report = PropertyReport::holding(p.name, expectation_name(&p.expectation));
        if let Some((_, why)) = undecidable.iter().find(|(n, _)| *n == p.name) {
            report.holds = false;
            report.not_checked = Some(format!("not in this configuration: {why}"));
            reports.push(report);
            continue;
        }
        match (&decided[i], &p.expectation) {
            (Some(d), Expectation::Sometimes) => {
                report.found_by = Some(d.at);
                report.path_length = Some(d.actions.len());
            }
            (Some(d), e) => {
                let actions = shorten(&model, p, &d.init, d.actions.clone());
                let path = Path::from_actions(&model, d.init.clone(), &actions)
                    .expect("a shortened walk is a path of the model");
                report.holds = false;
                report.found_by = Some(d.at);
                report.path_length = Some(actions.len());
                let mut steps = model.narrate(&path);
                if *e == Expectation::Eventually {
                    steps.push(format!(
                        "this state has no successor, and {} does not hold in it",
                        p.name
                    ));
                }
                report.counterexample = Some(steps);
                report.final_state = model.describe(path.last_state());
                if svg.is_none() {
                    svg = model.svg(&path);
                }
                if explorer_path.is_none() {
                    explorer_path = Some(super::explore::encode(&model, &path));
                }
            }
            (None, Expectation::Always) => {}
            (None, Expectation::Sometimes) => {
                report.holds = false;
                report.not_checked = Some(
                    "no example along the walks: random walks visit only some of the states".into(),
                );
            }
            (None, Expectation::Eventually) => {
                report.holds = false;
                let dead = match dead_ends {
                    0 => "no walk ended in one".to_string(),
                    n => format!("none of the {n} walks that ended in one did"),
                };
                report.not_checked = Some(format!(
                    "not checked by simulation: a walk cut at depth {} ends where the run goes on, so it cannot show that no continuation reaches {}; that takes every continuation of every state (an exhaustive search). Only a walk ending in a dead end where it does not hold would be a counterexample, and {dead}",
                    walks.depth, p.name
                ));
            }
        }
        reports.push(report);
    }
    Report {
        model: name.to_string(),
        config,
        search: Search::Simulated,
        complete: false,
        unique_states: seen.len(),
        total_states: total,
        max_depth: deepest,
        seconds,
        states_per_second: total as f64 / seconds.max(1e-9),
        liveness_states: None,
        liveness_transitions: None,
        liveness_seconds: None,
        depth_bound: None,
        simulation: Some(Simulation {
            depth: walks.depth,
            runs: vec![SimulatedRun {
                seed: walks.seed,
                walks: walks.walks,
                walks_run,
                dead_ends,
                seconds,
                stopped,
            }],
        }),
        undecidable_here: undecidable.iter().map(|(n, _)| *n).collect(),
        properties: reports,
        svg,
        explorer_path,
    }
}
