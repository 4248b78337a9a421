//! Running the model checker and reporting what it found.
//!
//! Every checked model in `models/` goes through [`run`]: it spawns stateright's checker with
//! the options a user gave (threads, BFS or DFS, symmetry), shows a live progress line on a
//! terminal, and condenses the outcome into a [`Report`]: state counts, speed, whether the
//! search was complete, and for every property whether it holds, with a counterexample in the
//! paper's vocabulary when it does not.
//!
//! Completeness is reported honestly: a search that hit its timeout or stopped early is
//! `complete: false`, and then an `always` property that found no counterexample is only
//! "not violated within the explored bound", never "verified".

use serde::Serialize;
use stateright::{Checker, CheckerBuilder, Expectation, HasDiscoveries, Model, Path};
use std::fmt::Debug;
use std::hash::Hash;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Asks a running check to stop. Models consult it in `within_boundary`, so that once a
/// check's time is up the checker stops expanding states and its queue drains quickly
/// (stateright's own timeout only takes effect when a thread's queue runs empty). Each model
/// carries its own flag, so checks running side by side do not disturb each other.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed)
    }
}

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Breadth first: counterexamples are shortest.
    Bfs,
    /// Depth first: less memory; the only strategy stateright offers symmetry reduction for.
    Dfs,
}

/// Options common to every check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub threads: usize,
    pub strategy: Strategy,
    /// Stop the search as soon as any `always`/`eventually` property fails.
    pub stop_on_failure: bool,
    /// Give up after this long (the report then says `complete: false`).
    pub timeout: Option<Duration>,
    /// Show a live progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            strategy: Strategy::Bfs,
            stop_on_failure: false,
            timeout: None,
            progress: false,
        }
    }
}

/// A model that can tell its counterexamples as a story: one line per step.
pub trait Narrate: Model {
    /// The steps of `path`, one line each, numbered by the caller.
    fn narrate(&self, path: &Path<Self::State, Self::Action>) -> Vec<String>;
    /// What matters in the state a counterexample ends in, one line (e.g. the ballots).
    fn describe(&self, _state: &Self::State) -> Option<String> {
        None
    }
    /// The flag this model's `within_boundary` consults; without one, a timeout waits for
    /// stateright's own (which may come late).
    fn stop_flag(&self) -> Option<StopFlag> {
        None
    }
    /// stateright's sequence diagram of `path`, when the model has one.
    fn svg(&self, _path: &Path<Self::State, Self::Action>) -> Option<String> {
        None
    }
}

/// One property's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    pub name: &'static str,
    /// `always`, `sometimes` or `eventually`.
    pub expectation: &'static str,
    /// For `always`/`eventually`: no counterexample was found. For `sometimes`: an example
    /// was found.
    pub holds: bool,
    /// The steps leading to the violation (for a failed `always`/`eventually`), else null.
    pub counterexample: Option<Vec<String>>,
    /// What the counterexample's last state holds, when the model can say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_state: Option<String>,
    /// Length of the example or counterexample path, in steps, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_length: Option<usize>,
}

/// Everything a check found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model: String,
    pub config: serde_json::Value,
    /// Every reachable state (within the model's own bounds) was visited.
    pub complete: bool,
    pub unique_states: usize,
    pub total_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    pub states_per_second: f64,
    pub properties: Vec<PropertyReport>,
    /// The sequence diagram of the first failed property's counterexample, if any.
    #[serde(skip)]
    pub svg: Option<String>,
}

impl Report {
    /// True when every property holds.
    pub fn all_hold(&self) -> bool {
        self.properties.iter().all(|p| p.holds)
    }

    /// The report of the named property. Panics on an unknown name (a test bug).
    pub fn property(&self, name: &str) -> &PropertyReport {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no property named {name}"))
    }

    /// Names of the properties that fail.
    pub fn failures(&self) -> Vec<&'static str> {
        self.properties
            .iter()
            .filter(|p| !p.holds)
            .map(|p| p.name)
            .collect()
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "model      {}", self.model);
        let _ = writeln!(s, "config     {}", self.config);
        let _ = writeln!(
            s,
            "search     {}",
            if self.complete {
                "complete: every reachable state within the model's bounds was explored"
            } else {
                "INCOMPLETE: stopped early (timeout or first failure); holds means only 'not violated in the states explored'"
            }
        );
        let _ = writeln!(
            s,
            "states     {} unique, {} total, max depth {}",
            self.unique_states, self.total_states, self.max_depth
        );
        let _ = writeln!(
            s,
            "time       {:.2} s, {:.0} total states/s",
            self.seconds, self.states_per_second
        );
        let _ = writeln!(s, "properties");
        for p in &self.properties {
            let verdict = match (p.expectation, p.holds) {
                ("sometimes", true) => "ok (example found)",
                ("sometimes", false) => "FAIL (never reached)",
                (_, true) => "ok",
                (_, false) => "FAIL",
            };
            let _ = writeln!(s, "  {:<10} {:<28} {}", p.expectation, p.name, verdict);
        }
        for p in self.properties.iter().filter(|p| !p.holds) {
            if let Some(steps) = &p.counterexample {
                let _ = writeln!(s, "\ncounterexample to {} ({} steps):", p.name, steps.len());
                for (i, step) in steps.iter().enumerate() {
                    let _ = writeln!(s, "  {:>3}. {}", i + 1, step);
                }
                if let Some(last) = &p.final_state {
                    let _ = writeln!(s, "  then: {last}");
                }
            }
        }
        s
    }
}

fn expectation_name(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Sometimes => "sometimes",
        Expectation::Eventually => "eventually",
    }
}

/// A symmetry-reduction representative function for the states of `M`.
pub type Representative<M> = fn(&<M as Model>::State) -> <M as Model>::State;

/// Check `model` and report. `symmetry`, when given, is a representative function; it makes
/// the search depth-first whatever `opts.strategy` says (stateright reduces symmetry only in
/// DFS), and the report's config should say so.
pub fn run<M>(
    model: M,
    name: &str,
    config: serde_json::Value,
    opts: &CheckOptions,
    symmetry: Option<Representative<M>>,
) -> Report
where
    M: Narrate + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq,
{
    let properties = model.properties();
    let stop = model.stop_flag().unwrap_or_default();
    let mut builder: CheckerBuilder<M> = model.checker().threads(opts.threads.max(1));
    if opts.stop_on_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    let dfs = symmetry.is_some() || opts.strategy == Strategy::Dfs;
    if let Some(rep) = symmetry {
        builder = builder.symmetry_fn(rep);
    }
    if let Some(t) = opts.timeout {
        builder = builder.timeout(t);
    }
    let start = Instant::now();
    let checker = if dfs {
        Box::new(builder.spawn_dfs()) as Box<dyn CheckerDyn<M>>
    } else {
        Box::new(builder.spawn_bfs()) as Box<dyn CheckerDyn<M>>
    };
    let progress = opts.progress && std::io::stderr().is_terminal();
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .expect("valid template"),
        );
        bar
    });
    while !checker.done() {
        if let Some(bar) = &bar {
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{} unique, {} total states, {:.0} states/s, depth {}",
                checker.unique(),
                checker.total(),
                checker.total() as f64 / secs,
                checker.depth()
            ));
            bar.tick();
        }
        std::thread::sleep(Duration::from_millis(if progress { 200 } else { 5 }));
        if opts.timeout.is_some_and(|t| start.elapsed() >= t) {
            // Time is up: the model's `within_boundary` now refuses new states, so the
            // checker's queues drain.
            stop.set();
        }
    }
    let checker = checker.finish();
    let seconds = start.elapsed().as_secs_f64();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let timed_out = stop.is_set() || opts.timeout.is_some_and(|t| start.elapsed() >= t);
    let discoveries = checker.discoveries();
    let stopped_early = opts.stop_on_failure
        && properties
            .iter()
            .any(|p| p.expectation.discovery_is_failure() && discoveries.contains_key(p.name));
    let all_discovered = properties.iter().all(|p| discoveries.contains_key(p.name));
    let complete = !timed_out && !stopped_early && !all_discovered;
    let model = checker.model();
    let mut svg = None;
    let reports = properties
        .iter()
        .map(|p| {
            let found = discoveries.get(p.name).map(|path| {
                let path = shortest_prefix(model, p, path);
                if opts.stop_on_failure && p.expectation == Expectation::Always {
                    shortest_counterexample(model, p, path)
                } else {
                    path
                }
            });
            let holds = found.is_some() != p.expectation.discovery_is_failure();
            let path_length = found.as_ref().map(|path| path.clone().into_actions().len());
            let (counterexample, final_state) = match &found {
                Some(path) if !holds => {
                    if svg.is_none() {
                        svg = model.svg(path);
                    }
                    (Some(model.narrate(path)), model.describe(path.last_state()))
                }
                _ => (None, None),
            };
            PropertyReport {
                name: p.name,
                expectation: expectation_name(&p.expectation),
                holds,
                counterexample,
                final_state,
                path_length,
            }
        })
        .collect();
    let total = checker.total();
    Report {
        model: name.to_string(),
        config,
        complete,
        unique_states: checker.unique(),
        total_states: total,
        max_depth: checker.depth(),
        seconds,
        states_per_second: total as f64 / seconds.max(1e-9),
        properties: reports,
        svg,
    }
}

/// The path cut at its first state that decides the property: the first state violating an
/// `always` property, or satisfying a `sometimes` one. stateright's BFS keeps the last
/// discovery it makes in a block of states, which can be a descendant of the first; cutting
/// restores a shortest counterexample along that path.
fn shortest_prefix<M>(
    model: &M,
    property: &stateright::Property<M>,
    path: &Path<M::State, M::Action>,
) -> Path<M::State, M::Action>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let steps = path.clone().into_vec();
    let decides = |s: &M::State| match property.expectation {
        Expectation::Always => !(property.condition)(model, s),
        Expectation::Sometimes => (property.condition)(model, s),
        Expectation::Eventually => false,
    };
    let Some(cut) = steps.iter().position(|(s, _)| decides(s)) else {
        return path.clone();
    };
    let actions: Vec<M::Action> = steps[..cut].iter().filter_map(|(_, a)| a.clone()).collect();
    Path::from_actions(model, steps[0].0.clone(), &actions).unwrap_or_else(|| path.clone())
}

/// A shortest counterexample to `property`, given one of its counterexamples: breadth-first
/// searches bounded below the length of the best path so far, until none finds a shorter.
fn shortest_counterexample<M>(
    model: &M,
    property: &stateright::Property<M>,
    mut best: Path<M::State, M::Action>,
) -> Path<M::State, M::Action>
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq,
{
    loop {
        let length = best.clone().into_actions().len();
        if length == 0 {
            return best;
        }
        // Depth counts states from 1 for the initial state: paths of fewer than `length`
        // actions end at depth `length` or less.
        let checker = model
            .clone()
            .checker()
            .target_max_depth(length + 1)
            .finish_when(HasDiscoveries::AnyOf([property.name].into()))
            .spawn_bfs()
            .join();
        match checker.discovery(property.name) {
            Some(path) => {
                let path = shortest_prefix(model, property, &path);
                if path.clone().into_actions().len() >= length {
                    return best;
                }
                best = path;
            }
            None => return best,
        }
    }
}

/// The parts of [`Checker`] the runner needs, object safe so BFS and DFS share one path.
trait CheckerDyn<M: Model> {
    fn done(&self) -> bool;
    fn unique(&self) -> usize;
    fn total(&self) -> usize;
    fn depth(&self) -> usize;
    fn finish(self: Box<Self>) -> Box<dyn FinishedDyn<M>>;
}

trait FinishedDyn<M: Model> {
    fn model(&self) -> &M;
    fn unique(&self) -> usize;
    fn total(&self) -> usize;
    fn depth(&self) -> usize;
    fn discoveries(&self) -> std::collections::HashMap<&'static str, Path<M::State, M::Action>>;
}

struct Finished<C>(C);

impl<M, C> CheckerDyn<M> for C
where
    M: Model + 'static,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M> + 'static,
{
    fn done(&self) -> bool {
        self.is_done()
    }
    fn unique(&self) -> usize {
        self.unique_state_count()
    }
    fn total(&self) -> usize {
        self.state_count()
    }
    fn depth(&self) -> usize {
        self.max_depth()
    }
    fn finish(self: Box<Self>) -> Box<dyn FinishedDyn<M>> {
        Box::new(Finished((*self).join()))
    }
}

impl<M, C> FinishedDyn<M> for Finished<C>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M>,
{
    fn model(&self) -> &M {
        self.0.model()
    }
    fn unique(&self) -> usize {
        self.0.unique_state_count()
    }
    fn total(&self) -> usize {
        self.0.state_count()
    }
    fn depth(&self) -> usize {
        self.0.max_depth()
    }
    fn discoveries(&self) -> std::collections::HashMap<&'static str, Path<M::State, M::Action>> {
        self.0.discoveries()
    }
}
