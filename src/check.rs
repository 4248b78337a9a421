//! Running the model checker and reporting what it found.
//!
//! Every checked model in `models/` goes through [`run`]: it spawns stateright's checker with
//! the options a user gave (threads, BFS or DFS, symmetry), shows a live progress line on a
//! terminal, and condenses the outcome into a [`Report`]: state counts, speed, whether the
//! search was complete, and for every property whether it holds, with a counterexample in the
//! paper's vocabulary when it does not. `eventually` properties are then decided by a
//! liveness check of our own over the whole state graph ([`check_liveness`]), not by
//! stateright.
//!
//! # Verdicts
//!
//! Every property gets one of three verdicts: it holds, it fails (with a counterexample), or
//! it was *not checked*, with the reason ([`PropertyReport::not_checked`]; JSON `holds: null`).
//!
//! - `always`: fails when stateright found a reachable state violating it; otherwise holds.
//!   Completeness is reported honestly: a search that hit its timeout or stopped early is
//!   `complete: false`, and then an `always` property that found no counterexample is only
//!   "not violated within the explored bound", never "verified".
//! - `sometimes`: holds when stateright found an example; fails when a complete search found
//!   none; not checked when an incomplete search found none (the example may lie beyond).
//! - `eventually`: decided by the liveness check below when stateright's search was complete.
//!   When it was not (timeout, or stopped at another property's failure), the property is not
//!   checked: a search cut short has states with unexplored successors, which must not be
//!   mistaken for dead ends. The one exception is a violation stateright itself found before
//!   it stopped without a timeout: a reachable state with no successor at all where the
//!   property does not hold. That is a real counterexample (the liveness check would find it
//!   too), and it is reported as a failure.
//!
//! # Liveness: `eventually P` checked as `AG EF P`
//!
//! An `eventually` property's condition is a state predicate `P` (for the Parliament,
//! `every-client-answered`: every client has every answer). We check the CTL formula
//! `AG EF P`: *from every reachable state, some continuation reaches a state satisfying `P`*.
//! On a finite state graph that is exactly: every *fair* run passes through `P`-states again
//! and again (or ends in one), where a run is fair if every transition enabled infinitely
//! often is taken infinitely often (strong fairness over transitions). A fair run that visits
//! a state infinitely often takes every transition out of it infinitely often, so it visits
//! everything reachable from that state, a `P`-state included; and if some reachable state
//! cannot reach `P`, a run that goes there and then cycles fairly through what it can reach
//! is fair and never sees `P` again. When `P` is stable (once true, true forever, as "every
//! client has every answer" is), this is "every fair run eventually satisfies `P`": every
//! client is answered, provided no message is delivered again forever while another message
//! waits, no timer fires forever while a delivery is possible, and so on. Without fairness,
//! liveness fails trivially on any graph with a cycle (redeliver the same duplicate forever).
//!
//! The check ([`check_liveness`]) explores the graph itself, breadth first from the initial
//! states, with the model's `actions`, `next_state` and `within_boundary`. A state is
//! identified by a 64-bit hash of it; the graph keeps, per state, its BFS parent, the position
//! of the action that led to it, its distinct successors (compressed sparse rows of `u32`
//! indices, self-loops left out) and one bit per `eventually` property; no state is stored
//! except the BFS frontier, and the table from hash to index is dropped once the graph is
//! built. Then a backward search over the reversed edges from the `P`-states marks every state
//! that can reach `P`; any state left unmarked violates `AG EF P`. The counterexample is the
//! BFS path to the unmarked state nearest the initial states, replayed through the model
//! (from the initial state, the recorded action of each step) and narrated like any other,
//! followed by a line saying that no continuation from its last state satisfies the property,
//! and how many states are reachable from there.
//!
//! With symmetry, a state is identified by the hash of its representative, and the first
//! state of each class found is the one expanded (as stateright's DFS does; a representative
//! need not be reachable itself). `AG EF P` is preserved by a symmetry under which `P` is
//! invariant (the Parliament's `P` speaks of clients; symmetry permutes priests), so the check
//! is as exact as the symmetry is. The Parliament's renaming now covers every place a state
//! names a priest (`symmetry_is_exact` in `tests/parliament.rs`). Before a pending ballot's
//! quorum was renamed it was not: of the 145,748 states of `--priests 5 --clients 1` then,
//! 35,896 had distinct representatives, but a search expanding one state per representative
//! reached 31,030 of them (stateright's DFS) or 31,125 (this BFS).
//!
//! Why not stateright's own `eventually`: it evaluates such a property only at *terminal*
//! states (no successor) and reports the paths that reach one without `P` having held. On a
//! duplicating network an old message can always be delivered again, and with heartbeats a
//! timer always re-arms, so no state is terminal and every `eventually` property was reported
//! to hold, whatever the protocol did. Its per-path "P has held" bits are also left out of its
//! fingerprints, so even on an acyclic graph a violation reachable only through a state first
//! visited along a path that had satisfied `P` is missed. And a search stopped by its timeout
//! turned every state with unexplored successors into a "terminal" one, and so reported
//! spurious violations.
//!
//! The liveness check is a second exploration after stateright's: it runs only when that
//! search was complete and the model has `eventually` properties, on the same threads, and
//! within the same timeout (past it, the property is not checked). [`Report::liveness_states`]
//! says how many states its graph had; without symmetry it equals `unique_states` (both
//! searches explore the same graph within the same bounds).
//!
//! # Exit status
//!
//! [`Report::exit_status`] is what `parliament check` exits with: 0 when the search was
//! complete and every property holds; 1 when some property fails (a real counterexample,
//! whether or not the search was complete); 3 when none fails but the search was incomplete
//! or some property was not checked. (2 is the command line's usage error.)

use serde::{Serialize, Serializer};
use stateright::{Checker, CheckerBuilder, Expectation, HasDiscoveries, Model, Path, Property};
use std::collections::hash_map::{Entry, HashMap};
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hash, Hasher};
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
    /// Stop the search as soon as this property fails (a seeded bug's own property).
    pub stop_on: Option<&'static str>,
    /// Explore only the states at most this many steps from the start: a bounded search
    /// (the report says so; it is never complete, and liveness is not checked).
    pub max_depth: Option<usize>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            strategy: Strategy::Bfs,
            stop_on_failure: false,
            timeout: None,
            progress: false,
            stop_on: None,
            max_depth: None,
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
    /// The properties this configuration of the model cannot decide, each with the reason
    /// (e.g. liveness where bounded retries let a lost message rightly strand a client):
    /// the report says "not checked" and why, and they do not make the exit status 3.
    fn not_checked(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// One property's verdict.
#[derive(Clone, Debug)]
pub struct PropertyReport {
    pub name: &'static str,
    /// `always`, `sometimes` or `eventually`.
    pub expectation: &'static str,
    /// For `always`/`eventually`: no counterexample was found. For `sometimes`: an example
    /// was found. False when the property was not checked (JSON `null` then).
    pub holds: bool,
    /// The steps leading to the violation (for a failed `always`/`eventually`), else null.
    pub counterexample: Option<Vec<String>>,
    /// What the counterexample's last state holds, when the model can say.
    pub final_state: Option<String>,
    /// Length of the example or counterexample path, in steps, when there is one.
    pub path_length: Option<usize>,
    /// Set when the property was not checked: why (the verdict is then unknown, neither
    /// holds nor fails).
    pub not_checked: Option<String>,
}

impl PropertyReport {
    /// The property fails: a real counterexample (or, for `sometimes`, a complete search
    /// without an example).
    pub fn fails(&self) -> bool {
        !self.holds && self.not_checked.is_none()
    }
}

/// As JSON: `holds` is `null` when the property was not checked; `final_state`,
/// `path_length` and `not_checked` appear only when set.
impl Serialize for PropertyReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PropertyReport", 7)?;
        s.serialize_field("name", self.name)?;
        s.serialize_field("expectation", self.expectation)?;
        s.serialize_field("holds", &self.not_checked.is_none().then_some(self.holds))?;
        s.serialize_field("counterexample", &self.counterexample)?;
        match &self.final_state {
            Some(f) => s.serialize_field("final_state", f)?,
            None => s.skip_field("final_state")?,
        }
        match &self.path_length {
            Some(n) => s.serialize_field("path_length", n)?,
            None => s.skip_field("path_length")?,
        }
        match &self.not_checked {
            Some(why) => s.serialize_field("not_checked", why)?,
            None => s.skip_field("not_checked")?,
        }
        s.end()
    }
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
    /// stateright's search (the liveness check's time is [`Report::liveness_seconds`]).
    pub seconds: f64,
    pub states_per_second: f64,
    /// States of the liveness check's graph, when it ran to the end ([`check_liveness`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_states: Option<usize>,
    /// Its distinct transitions between distinct states (self-loops left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_transitions: Option<usize>,
    /// How long the liveness check took, when it ran (to the end or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_seconds: Option<f64>,
    /// A bounded search: every state at most this many steps from the start was explored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth_bound: Option<usize>,
    /// Properties this configuration cannot decide (see [`Narrate::not_checked`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecidable_here: Vec<&'static str>,
    pub properties: Vec<PropertyReport>,
    /// The sequence diagram of the first failed property's counterexample, if any.
    #[serde(skip)]
    pub svg: Option<String>,
}

impl Report {
    /// True when every property holds (false if any fails or was not checked).
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

    /// Names of the properties that fail (not those that were not checked).
    pub fn failures(&self) -> Vec<&'static str> {
        self.properties
            .iter()
            .filter(|p| p.fails())
            .map(|p| p.name)
            .collect()
    }

    /// Names of the properties that were not checked.
    pub fn not_checked(&self) -> Vec<&'static str> {
        self.properties
            .iter()
            .filter(|p| p.not_checked.is_some())
            .map(|p| p.name)
            .collect()
    }

    /// The exit status of `parliament check` for this report: 0 when the search was complete
    /// and every property holds, 1 when some property fails, 3 when none fails but the
    /// search was incomplete or some property was not checked.
    pub fn exit_status(&self) -> u8 {
        if self.properties.iter().any(PropertyReport::fails) {
            1
        } else if !self.complete
            || self
                .properties
                .iter()
                .any(|p| !p.holds && !self.undecidable_here.contains(&p.name))
        {
            3
        } else {
            0
        }
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
            match (self.complete, self.depth_bound) {
                (true, _) => "complete: every reachable state within the model's bounds was explored".to_string(),
                (false, Some(d)) => format!("BOUNDED: every state within {d} steps of the start was explored, none deeper; ok means only 'not violated within the bound'"),
                (false, None) => "INCOMPLETE: stopped early (timeout or first failure); ok means only 'not violated in the states explored'".to_string(),
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
        match (self.liveness_states, self.liveness_seconds) {
            (Some(states), Some(secs)) => {
                let _ = writeln!(
                    s,
                    "liveness   {} states, {} transitions, {:.2} s",
                    states,
                    self.liveness_transitions.unwrap_or(0),
                    secs
                );
            }
            (None, Some(secs)) => {
                let _ = writeln!(s, "liveness   stopped after {secs:.2} s");
            }
            _ => {}
        }
        let _ = writeln!(s, "properties");
        for p in &self.properties {
            let verdict = match (&p.not_checked, p.expectation, p.holds) {
                (Some(why), _, _) => format!("not checked ({why})"),
                (None, "sometimes", true) => "ok (example found)".into(),
                (None, "sometimes", false) => "FAIL (never reached)".into(),
                (None, _, true) => "ok".into(),
                (None, _, false) => "FAIL".into(),
            };
            let _ = writeln!(s, "  {:<10} {:<28} {}", p.expectation, p.name, verdict);
        }
        for p in self.properties.iter().filter(|p| p.fails()) {
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

/// A path of `M`'s states and actions.
pub type ModelPath<M> = Path<<M as Model>::State, <M as Model>::Action>;

/// Check `model` and report. `symmetry`, when given, is a representative function; it makes
/// the search depth-first whatever `opts.strategy` says (stateright reduces symmetry only in
/// DFS), and the report's config should say so. `eventually` properties are decided by
/// [`check_liveness`] after a complete search (see the module documentation).
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
    let undecidable = model.not_checked();
    let stop = model.stop_flag().unwrap_or_default();
    let mut builder: CheckerBuilder<M> = model.checker().threads(opts.threads.max(1));
    if opts.stop_on_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    } else if let Some(name) = opts.stop_on {
        builder = builder.finish_when(HasDiscoveries::AnyOf([name].into()));
    }
    if let Some(d) = opts.max_depth {
        builder = builder.target_max_depth(d);
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
    let timed_out = stop.is_set() || opts.timeout.is_some_and(|t| start.elapsed() >= t);
    let discoveries = checker.discoveries();
    let (unique_states, total_states, max_depth) =
        (checker.unique(), checker.total(), checker.depth());
    // The checker's table of fingerprints is no longer needed: free it before the liveness
    // check builds its own graph.
    let model = checker.model().clone();
    drop(checker);
    let stopped_early = (opts.stop_on_failure
        && properties
            .iter()
            .any(|p| p.expectation.discovery_is_failure() && discoveries.contains_key(p.name)))
        || opts
            .stop_on
            .is_some_and(|name| discoveries.contains_key(name));
    let all_discovered = properties.iter().all(|p| discoveries.contains_key(p.name));
    // A depth bound cut the search if it reached the bound (stateright expands nothing
    // deeper).
    let bounded = opts.max_depth.is_some_and(|d| max_depth >= d);
    let complete = !timed_out && !stopped_early && !all_discovered && !bounded;
    let incomplete_because = if timed_out {
        "the search timed out before every state was explored"
    } else if bounded {
        "a bounded search: states deeper than the bound were not explored"
    } else if stopped_early {
        "the search stopped at the first failure, before every state was explored"
    } else {
        "the search stopped once every property had a verdict, before every state was explored"
    };

    let has_eventually = properties.iter().any(|p| {
        p.expectation == Expectation::Eventually && !undecidable.iter().any(|(n, _)| *n == p.name)
    });
    let live_start = Instant::now();
    let liveness = (complete && has_eventually).then(|| {
        explore_and_check(
            &model,
            symmetry,
            opts.threads,
            opts.timeout.map(|t| start + t),
            Some(&stop),
            bar.as_ref(),
        )
    });
    let liveness_seconds = liveness
        .as_ref()
        .map(|_| live_start.elapsed().as_secs_f64());
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let (Some(Ok(l)), None) = (&liveness, symmetry) {
        debug_assert_eq!(
            l.states, unique_states,
            "the liveness graph and stateright's search explore the same states"
        );
    }

    let model = &model;
    let mut svg = None;
    let mut reports = Vec::with_capacity(properties.len());
    for p in &properties {
        let discovered = discoveries.get(p.name);
        let mut report = PropertyReport {
            name: p.name,
            expectation: expectation_name(&p.expectation),
            holds: true,
            counterexample: None,
            final_state: None,
            path_length: None,
            not_checked: None,
        };
        // The counterexample (a failed `always` or `eventually`) or example (`sometimes`),
        // with any line to add after the narrated steps.
        let mut found: Option<(ModelPath<M>, Option<String>)> = None;
        if let Some((_, why)) = undecidable.iter().find(|(n, _)| *n == p.name) {
            report.holds = false;
            report.not_checked = Some(format!("not in this configuration: {why}"));
            reports.push(report);
            continue;
        }
        match p.expectation {
            Expectation::Always => {
                if let Some(path) = discovered {
                    let path = shortest_prefix(model, p, path);
                    let path = if opts.stop_on_failure {
                        shortest_counterexample(model, p, path)
                    } else {
                        path
                    };
                    report.holds = false;
                    found = Some((path, None));
                }
            }
            Expectation::Sometimes => match discovered {
                Some(path) => found = Some((shortest_prefix(model, p, path), None)),
                None if complete => report.holds = false,
                None => {
                    report.holds = false;
                    report.not_checked = Some(format!(
                        "no example in the states explored: {incomplete_because}"
                    ));
                }
            },
            Expectation::Eventually => match &liveness {
                Some(Ok(l)) => {
                    let verdict = l
                        .properties
                        .iter()
                        .find(|v| v.name == p.name)
                        .expect("a verdict for every eventually property");
                    debug_assert!(
                        discovered.is_none() || verdict.violation.is_some(),
                        "stateright found a violation of {} the liveness check did not",
                        p.name
                    );
                    if let Some(v) = &verdict.violation {
                        report.holds = false;
                        let line = format!(
                            "from here no continuation reaches a state where {} holds: {} states are reachable from this one (itself included), none satisfying it ({} of the {} states explored cannot reach one)",
                            p.name, v.reachable, v.stuck_states, l.states
                        );
                        match &v.path {
                            Some(path) => found = Some((path.clone(), Some(line))),
                            None => {
                                report.counterexample = Some(vec![
                                    format!("(the path to the {}-step state could not be replayed through the model)", v.depth),
                                    line,
                                ]);
                                report.path_length = Some(v.depth);
                            }
                        }
                    }
                }
                Some(Err(why)) => {
                    report.holds = false;
                    report.not_checked = Some(why.clone());
                }
                // stateright stopped without a timeout at a state with no successor where
                // the property does not hold: a real violation.
                None if discovered.is_some() && !timed_out => {
                    report.holds = false;
                    let line = format!(
                        "this state has no successor, and {} does not hold in it",
                        p.name
                    );
                    found = Some((discovered.expect("discovered").clone(), Some(line)));
                }
                None => {
                    report.holds = false;
                    report.not_checked = Some(incomplete_because.to_string());
                }
            },
        }
        if let Some((path, line)) = found {
            report.path_length = Some(path.clone().into_actions().len());
            if !report.holds {
                if svg.is_none() {
                    svg = model.svg(&path);
                }
                let mut steps = model.narrate(&path);
                steps.extend(line);
                report.counterexample = Some(steps);
                report.final_state = model.describe(path.last_state());
            }
        }
        reports.push(report);
    }
    let (liveness_states, liveness_transitions) = match &liveness {
        Some(Ok(l)) => (Some(l.states), Some(l.transitions)),
        _ => (None, None),
    };
    Report {
        model: name.to_string(),
        config,
        complete,
        unique_states,
        total_states,
        max_depth,
        seconds,
        states_per_second: total_states as f64 / seconds.max(1e-9),
        liveness_states,
        liveness_transitions,
        liveness_seconds,
        depth_bound: opts.max_depth.filter(|_| bounded),
        undecidable_here: undecidable.iter().map(|(n, _)| *n).collect(),
        properties: reports,
        svg,
    }
}

// ---------------------------------------------------------------------------------------
// The liveness check: `AG EF P` over the explored state graph (see the module documentation).
// ---------------------------------------------------------------------------------------

/// What [`check_liveness`] found: the size of the graph, and a verdict per `eventually`
/// property of the model (in the model's order).
pub struct Liveness<M: Model> {
    /// Distinct states (after symmetry, when given).
    pub states: usize,
    /// Distinct transitions between distinct states (self-loops left out).
    pub transitions: usize,
    pub properties: Vec<LivenessVerdict<M>>,
}

/// One `eventually` property's verdict.
pub struct LivenessVerdict<M: Model> {
    pub name: &'static str,
    /// `None` when `AG EF P` holds.
    pub violation: Option<LivenessViolation<M>>,
}

/// A reachable state from which no continuation satisfies the property: the one nearest
/// the initial states.
pub struct LivenessViolation<M: Model> {
    /// A shortest path from an initial state to it (`None` only if it could not be replayed
    /// through the model, which takes a model whose `actions` are not deterministic).
    pub path: Option<ModelPath<M>>,
    /// Its distance from the initial states, in steps.
    pub depth: usize,
    /// How many states are reachable from it, itself included (none satisfies the property).
    pub reachable: usize,
    /// How many of the graph's states cannot reach the property (it included).
    pub stuck_states: usize,
}

/// Checks every `eventually` property `P` of `model` as `AG EF P`: from every reachable state
/// some continuation reaches a state satisfying `P`. Explores the state graph breadth first
/// (`threads` threads expand states; with `symmetry`, a state is known by its
/// representative's hash), then searches it backward from the `P`-states. Err (with the
/// reason) when stopped: `deadline` passed or `stop` set (the exploration then is not the
/// whole graph).
pub fn check_liveness<M>(
    model: &M,
    symmetry: Option<Representative<M>>,
    threads: usize,
    deadline: Option<Instant>,
    stop: Option<&StopFlag>,
) -> Result<Liveness<M>, String>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    explore_and_check(model, symmetry, threads, deadline, stop, None)
}

/// The 64-bit hash identifying a state ([`StateHasher`]).
fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut h = StateHasher::default();
    state.hash(&mut h);
    h.finish()
}

/// A fast deterministic 64-bit hasher (the design of `ahash`'s portable fallback, which
/// stateright's own fingerprints use, with fixed keys): every word is folded into the state
/// with a 64x64->128-bit multiply. std's SipHash took a fifth of the liveness check's time.
struct StateHasher {
    buffer: u64,
}

impl Default for StateHasher {
    fn default() -> Self {
        StateHasher {
            buffer: 0x243f_6a88_85a3_08d3,
        }
    }
}

/// The high and low halves of `a * b`, xored.
fn folded_multiply(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl StateHasher {
    const MULTIPLE: u64 = 6_364_136_223_846_793_005;
    const PAD: u64 = 0x1319_8a2e_0370_7344;

    fn update(&mut self, word: u64) {
        self.buffer = folded_multiply(word ^ self.buffer, Self::MULTIPLE);
    }
}

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        let rot = (self.buffer & 63) as u32;
        folded_multiply(self.buffer, Self::PAD).rotate_left(rot)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.update(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.update(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.update(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.update(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.update(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.update(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.update(i as u64);
        self.update((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.update(i as u64);
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// State hash to state index.
type StateIndex = HashMap<u64, u32, BuildHasherDefault<Prehashed>>;

/// A set of state indices.
#[derive(Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn with_len(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    fn set(&mut self, i: usize) {
        if i / 64 >= self.0.len() {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }
}

/// No parent: an initial state.
const ROOT: u32 = u32::MAX;

/// The explored graph: per state its BFS parent, its successors, and which properties hold.
struct StateGraph {
    /// BFS parent of each state ([`ROOT`] for an initial state): states are numbered in BFS
    /// order, so following parents gives a shortest path.
    parent: Vec<u32>,
    /// For each state not initial, the position in its parent's `actions` of the action
    /// that led to it (to replay a path).
    via: Vec<u32>,
    /// The successors of state `i` are `succ[first[i]..first[i + 1]]` (distinct, not `i`).
    first: Vec<u32>,
    succ: Vec<u32>,
    /// Per `eventually` property, the states satisfying its condition.
    sat: Vec<Bits>,
    /// For each initial state `i` (numbered first), its position in `init_states()`.
    roots: Vec<usize>,
}

impl StateGraph {
    fn successors(&self, i: usize) -> &[u32] {
        &self.succ[self.first[i] as usize..self.first[i + 1] as usize]
    }
}

/// A successor as a worker found it: already numbered, new as far as it knows (with the
/// position of the action that led to it), or new but already found by this worker (then
/// numbered with the first).
enum Succ<S> {
    Known(u32),
    New(u64, S, u32),
    Again(u64),
}

/// What a worker found about one state: which properties hold in it, and its successors.
type Expanded<S> = (u64, Vec<Succ<S>>);

/// Expands `states`: evaluates the properties and generates the successors within the
/// boundary, numbered when `index` knows them. With symmetry a state is known by its
/// representative's hash, but the state itself is kept and expanded, as stateright's DFS
/// does: a representative need not be reachable itself.
fn expand<M>(
    model: &M,
    props: &[Property<M>],
    symmetry: Option<Representative<M>>,
    index: &StateIndex,
    states: &[M::State],
) -> Vec<Expanded<M::State>>
where
    M: Model,
    M::State: Hash,
{
    let mut actions = Vec::new();
    // The new states this worker found: a state found again is dropped at once.
    let mut found = std::collections::HashSet::<u64, BuildHasherDefault<Prehashed>>::default();
    states
        .iter()
        .map(|s| {
            let mut sat = 0u64;
            for (k, p) in props.iter().enumerate() {
                if (p.condition)(model, s) {
                    sat |= 1 << k;
                }
            }
            model.actions(s, &mut actions);
            let mut succ = Vec::with_capacity(actions.len());
            for (at, a) in actions.drain(..).enumerate() {
                let Some(next) = model.next_state(s, a) else {
                    continue;
                };
                if !model.within_boundary(&next) {
                    continue;
                }
                let h = match symmetry {
                    Some(rep) => state_hash(&rep(&next)),
                    None => state_hash(&next),
                };
                succ.push(match index.get(&h) {
                    Some(&j) => Succ::Known(j),
                    None if found.insert(h) => Succ::New(h, next, at as u32),
                    None => Succ::Again(h),
                });
            }
            (sat, succ)
        })
        .collect()
}

/// States numbered per batch, per thread: a batch is expanded in parallel, in pieces that
/// threads take as they become free, then numbered in order by the calling thread.
const BATCH_PER_THREAD: usize = 256;
/// States per piece.
const PIECE: usize = 32;

/// A piece of a batch: its position in the batch, and its states.
type Piece<S> = (usize, Vec<S>);

/// Explores the graph of `model` breadth first, or Err(why) when stopped. The calling
/// thread and `threads - 1` workers (alive for the whole exploration) expand each batch;
/// the calling thread numbers its new states while the workers wait.
fn explore<M>(
    model: &M,
    props: &[Property<M>],
    symmetry: Option<Representative<M>>,
    threads: usize,
    stopped: &dyn Fn() -> bool,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<StateGraph, String>
where
    M: Model + Sync,
    M::State: Hash + Send + Sync,
{
    use std::sync::{mpsc, Mutex, RwLock};
    let threads = threads.max(1);
    let mut graph = StateGraph {
        parent: Vec::new(),
        via: Vec::new(),
        first: vec![0],
        succ: Vec::new(),
        sat: vec![Bits::default(); props.len()],
        roots: Vec::new(),
    };
    // The BFS frontier: the states numbered but not yet expanded, in order; the first is
    // state `graph.first.len() - 1`.
    let mut queue = std::collections::VecDeque::new();
    // State hash to state number. Workers read it while they expand; the calling thread
    // writes it only once every piece of the batch is back.
    let mut index = StateIndex::default();
    for (i, s) in model.init_states().into_iter().enumerate() {
        if !model.within_boundary(&s) {
            continue;
        }
        let h = match symmetry {
            Some(rep) => state_hash(&rep(&s)),
            None => state_hash(&s),
        };
        if let Entry::Vacant(e) = index.entry(h) {
            e.insert(graph.parent.len() as u32);
            graph.parent.push(ROOT);
            graph.via.push(0);
            graph.roots.push(i);
            queue.push_back(s);
        }
    }
    let index = RwLock::new(index);
    let pieces: Mutex<Vec<Piece<M::State>>> = Mutex::new(Vec::new());
    let work = |(at, states): Piece<M::State>| {
        let index = index.read().expect("index lock");
        (at, expand(model, props, symmetry, &index, &states))
    };
    let take = || pieces.lock().expect("pieces lock").pop();
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel();
        let mut wake = Vec::new();
        for _ in 1..threads {
            let (wake_tx, wake_rx) = mpsc::channel::<()>();
            wake.push(wake_tx);
            let done_tx = done_tx.clone();
            let (work, take) = (&work, &take);
            scope.spawn(move || {
                while wake_rx.recv().is_ok() {
                    while let Some(piece) = take() {
                        let result =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(piece)));
                        if done_tx.send(result).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        let mut row = Vec::new();
        let mut last_tick = Instant::now();
        let mut expanded = Vec::new();
        while !queue.is_empty() {
            if stopped() {
                return Err(format!(
                    "the liveness check timed out after {} states",
                    graph.parent.len()
                ));
            }
            let batch = queue.len().min(BATCH_PER_THREAD * threads);
            let count = batch.div_ceil(PIECE);
            {
                let mut pieces = pieces.lock().expect("pieces lock");
                for at in 0..count {
                    let n = PIECE.min(queue.len());
                    pieces.push((at, queue.drain(..n).collect()));
                }
                // Taken from the end: the first pieces first.
                pieces.reverse();
            }
            for w in &wake {
                let _ = w.send(());
            }
            expanded.clear();
            expanded.resize_with(count, Vec::new);
            let mut received = 0;
            while let Some(piece) = take() {
                let (at, result) = work(piece);
                expanded[at] = result;
                received += 1;
            }
            while received < count {
                match done_rx.recv().expect("a liveness worker is alive") {
                    Ok((at, result)) => expanded[at] = result,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
                received += 1;
            }
            let mut index = index.write().expect("index lock");
            for (sat, succs) in expanded.drain(..).flatten() {
                let i = (graph.first.len() - 1) as u32;
                for (k, bits) in graph.sat.iter_mut().enumerate() {
                    if sat >> k & 1 == 1 {
                        bits.set(i as usize);
                    }
                }
                row.clear();
                for s in succs {
                    let j = match s {
                        Succ::Known(j) => j,
                        Succ::Again(h) => index[&h],
                        Succ::New(h, state, at) => match index.entry(h) {
                            Entry::Occupied(e) => *e.get(),
                            Entry::Vacant(e) => {
                                let j = u32::try_from(graph.parent.len())
                                    .ok()
                                    .filter(|&j| j != ROOT)
                                    .ok_or("more than 4 billion states: too many for the liveness check")?;
                                e.insert(j);
                                graph.parent.push(i);
                                graph.via.push(at);
                                queue.push_back(state);
                                j
                            }
                        },
                    };
                    if j != i {
                        row.push(j);
                    }
                }
                row.sort_unstable();
                row.dedup();
                graph.succ.extend_from_slice(&row);
                let end = u32::try_from(graph.succ.len()).map_err(|_| {
                    "more than 4 billion transitions: too many for the liveness check"
                })?;
                graph.first.push(end);
            }
            drop(index);
            if let Some(bar) = bar {
                if last_tick.elapsed() >= Duration::from_millis(200) {
                    last_tick = Instant::now();
                    bar.set_message(format!(
                        "liveness: {} states, {} expanded, {} transitions",
                        graph.parent.len(),
                        graph.first.len() - 1,
                        graph.succ.len()
                    ));
                    bar.tick();
                }
            }
        }
        // Dropping `wake` lets the workers go.
        Ok(())
    })?;
    Ok(graph)
}

/// [`check_liveness`], with a progress bar to update.
fn explore_and_check<M>(
    model: &M,
    symmetry: Option<Representative<M>>,
    threads: usize,
    deadline: Option<Instant>,
    stop: Option<&StopFlag>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<Liveness<M>, String>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    let props: Vec<Property<M>> = model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Eventually)
        .collect();
    if props.len() > 64 {
        return Err("more than 64 eventually properties".into());
    }
    // A set stop flag also makes the model's `within_boundary` refuse states, so a graph
    // explored while it was set is not the whole graph: checked after the exploration too.
    let stopped =
        || stop.is_some_and(StopFlag::is_set) || deadline.is_some_and(|d| Instant::now() >= d);
    let graph = explore(model, &props, symmetry, threads, &stopped, bar)?;
    if stop.is_some_and(StopFlag::is_set) {
        return Err(format!(
            "the liveness check was stopped after {} states",
            graph.parent.len()
        ));
    }
    let n = graph.parent.len();
    // The reversed edges, in the same compressed form.
    let mut rfirst = vec![0u32; n + 1];
    for &j in &graph.succ {
        rfirst[j as usize + 1] += 1;
    }
    for i in 0..n {
        rfirst[i + 1] += rfirst[i];
    }
    let mut rsucc = vec![0u32; graph.succ.len()];
    {
        let mut fill = rfirst.clone();
        for i in 0..n {
            for &j in graph.successors(i) {
                rsucc[fill[j as usize] as usize] = i as u32;
                fill[j as usize] += 1;
            }
        }
    }
    let init_states = model.init_states();
    let mut properties = Vec::with_capacity(props.len());
    for (k, p) in props.iter().enumerate() {
        // Backward from the states satisfying P: every state that can reach one.
        let mut can_reach = graph.sat[k].clone();
        can_reach.0.resize(n.div_ceil(64), 0);
        let mut stack: Vec<u32> = (0..n as u32)
            .filter(|&i| can_reach.get(i as usize))
            .collect();
        while let Some(j) = stack.pop() {
            for &i in &rsucc[rfirst[j as usize] as usize..rfirst[j as usize + 1] as usize] {
                if !can_reach.get(i as usize) {
                    can_reach.set(i as usize);
                    stack.push(i);
                }
            }
        }
        let mut stuck = (0..n).filter(|&i| !can_reach.get(i));
        let violation = stuck.next().map(|v| {
            let stuck_states = 1 + stuck.count();
            // Everything reachable from v (none of it satisfies P: v cannot reach P).
            let mut seen = Bits::with_len(n);
            seen.set(v);
            let mut stack = vec![v as u32];
            let mut reachable = 1;
            while let Some(i) = stack.pop() {
                for &j in graph.successors(i as usize) {
                    if !seen.get(j as usize) {
                        seen.set(j as usize);
                        reachable += 1;
                        stack.push(j);
                    }
                }
            }
            let (path, depth) = replay(model, &graph, &init_states, v as u32);
            LivenessViolation {
                path,
                depth,
                reachable,
                stuck_states,
            }
        });
        properties.push(LivenessVerdict {
            name: p.name,
            violation,
        });
    }
    Ok(Liveness {
        states: n,
        transitions: graph.succ.len(),
        properties,
    })
}

/// The BFS path to state `target`, rebuilt as a path of the model by replaying from its
/// initial state the action that led to each state of the path; also its length in steps.
fn replay<M>(
    model: &M,
    graph: &StateGraph,
    init_states: &[M::State],
    target: u32,
) -> (Option<ModelPath<M>>, usize)
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let mut chain = vec![target];
    while let Some(&i) = chain.last() {
        match graph.parent[i as usize] {
            ROOT => break,
            p => chain.push(p),
        }
    }
    chain.reverse();
    let depth = chain.len() - 1;
    let init = init_states[graph.roots[chain[0] as usize]].clone();
    let mut state = init.clone();
    let mut path_actions = Vec::with_capacity(depth);
    let mut actions = Vec::new();
    for &i in &chain[1..] {
        model.actions(&state, &mut actions);
        let Some(a) = actions.drain(..).nth(graph.via[i as usize] as usize) else {
            return (None, depth);
        };
        let Some(next) = model.next_state(&state, a.clone()) else {
            return (None, depth);
        };
        path_actions.push(a);
        state = next;
    }
    (Path::from_actions(model, init, &path_actions), depth)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph as a model: states are vertices, from 0; an action is the target of an edge;
    /// `eventually` "goal": the state is one of `goal`.
    struct Graph {
        edges: Vec<Vec<usize>>,
        goal: Vec<usize>,
    }

    impl Model for Graph {
        type State = usize;
        type Action = usize;
        fn init_states(&self) -> Vec<usize> {
            vec![0]
        }
        fn actions(&self, s: &usize, actions: &mut Vec<usize>) {
            actions.extend(&self.edges[*s]);
        }
        fn next_state(&self, _: &usize, a: usize) -> Option<usize> {
            Some(a)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::eventually("goal", |m, s| m.goal.contains(s))]
        }
    }

    fn graph(edges: &[&[usize]], goal: &[usize]) -> Graph {
        Graph {
            edges: edges.iter().map(|e| e.to_vec()).collect(),
            goal: goal.to_vec(),
        }
    }

    fn verdict(g: &Graph) -> Liveness<Graph> {
        check_liveness(g, None, 1, None, None).expect("not stopped")
    }

    /// What stateright's own checker says of "goal".
    fn stateright_finds_a_violation(g: Graph) -> bool {
        g.checker().spawn_bfs().join().discovery("goal").is_some()
    }

    #[test]
    fn a_cycle_that_can_always_leave_for_the_goal_is_live() {
        // 0 <-> 1 -> 2: a run may loop 0, 1, 0, 1 ... but not fairly.
        let g = graph(&[&[1], &[0, 2], &[]], &[2]);
        let l = verdict(&g);
        assert_eq!((l.states, l.transitions), (3, 3));
        assert!(l.properties[0].violation.is_none());
    }

    #[test]
    fn a_trap_is_found_where_stateright_sees_no_terminal_state() {
        // 0 -> 1 -> 2 (goal), 1 -> 3 <-> 4: once in 3, the goal is out of reach.
        let g = graph(&[&[1], &[2, 3], &[], &[4], &[3]], &[2]);
        let l = verdict(&g);
        let v = l.properties[0].violation.as_ref().expect("a violation");
        assert_eq!((v.depth, v.reachable, v.stuck_states), (2, 2, 2));
        let path = v.path.clone().expect("replayed");
        assert_eq!(path.into_states(), vec![0, 1, 3]);
        // stateright evaluates `eventually` only at terminal states: 2 is the only one.
        assert!(!stateright_finds_a_violation(g));
    }

    #[test]
    fn a_violation_behind_a_join_is_found() {
        // 0 -> 1 (goal) -> 3, 0 -> 2 -> 3 (terminal): the run 0, 2, 3 never reaches the goal.
        // (stateright, which keeps no "goal seen" bit in its fingerprints, misses it when it
        // reaches 3 through 1 first.)
        let g = graph(&[&[1, 2], &[3], &[3], &[]], &[1]);
        let l = verdict(&g);
        let v = l.properties[0].violation.as_ref().expect("a violation");
        // The nearest state that cannot reach the goal: 2, one step from 0.
        assert_eq!(v.path.clone().expect("replayed").into_states(), vec![0, 2]);
        assert_eq!((v.reachable, v.stuck_states), (2, 2));
    }

    #[test]
    fn a_goal_state_itself_satisfies_the_property() {
        let g = graph(&[&[0]], &[0]);
        assert!(verdict(&g).properties[0].violation.is_none());
    }

    #[test]
    fn with_symmetry_a_state_is_known_by_its_representative() {
        // 2 and 3 are alike, and so are 6 and 7: 0 -> 1 (goal), 0 -> 2 -> 6, 0 -> 3 -> 7,
        // and 6 and 7 loop.
        let g = graph(&[&[1, 2, 3], &[], &[6], &[7], &[], &[], &[6], &[7]], &[1]);
        let pairs: Representative<Graph> = |s| if *s >= 2 { s / 2 * 2 } else { *s };
        let l = check_liveness(&g, Some(pairs), 1, None, None).expect("not stopped");
        assert_eq!((l.states, l.transitions), (4, 3));
        let v = l.properties[0].violation.as_ref().expect("a violation");
        assert_eq!(v.path.clone().expect("replayed").into_states(), vec![0, 2]);
        assert_eq!((v.reachable, v.stuck_states), (2, 2));
    }

    #[test]
    fn a_passed_deadline_stops_the_check() {
        let g = graph(&[&[1], &[0]], &[1]);
        let e = check_liveness(&g, None, 1, Some(Instant::now()), None)
            .err()
            .expect("stopped");
        assert!(e.contains("timed out"), "{e}");
        let stop = StopFlag::default();
        stop.set();
        assert!(check_liveness(&g, None, 1, None, Some(&stop)).is_err());
    }

    #[test]
    fn states_are_expanded_by_several_threads_alike() {
        // A ring of 1,200 states with steps of 1 and 3 (enough states for several batches),
        // and from state 700 a trap: state 1,200, which loops on itself.
        let n = 1200;
        let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n, (i + 3) % n]).collect();
        edges[700].push(n);
        edges.push(vec![n]);
        let edges: Vec<&[usize]> = edges.iter().map(|e| e.as_slice()).collect();
        let g = graph(&edges, &[n - 1]);
        let one = check_liveness(&g, None, 1, None, None).expect("not stopped");
        let four = check_liveness(&g, None, 4, None, None).expect("not stopped");
        for l in [&one, &four] {
            assert_eq!((l.states, l.transitions), (n + 1, 2 * n + 1));
            let v = l.properties[0].violation.as_ref().expect("the trap");
            assert_eq!((v.reachable, v.stuck_states), (1, 1));
            let states = v.path.clone().expect("replayed").into_states();
            assert_eq!(states.last(), Some(&n));
            assert_eq!(states.len(), 236);
        }
    }

    #[test]
    fn not_checked_serializes_as_null() {
        let p = PropertyReport {
            name: "p",
            expectation: "eventually",
            holds: false,
            counterexample: None,
            final_state: None,
            path_length: None,
            not_checked: Some("why".into()),
        };
        let j = serde_json::to_value(&p).unwrap();
        assert!(j["holds"].is_null());
        assert_eq!(j["not_checked"], "why");
        let j = serde_json::to_value(PropertyReport {
            holds: true,
            not_checked: None,
            ..p
        })
        .unwrap();
        assert_eq!(j["holds"], true);
        assert!(j.get("not_checked").is_none() && j.get("path_length").is_none());
    }
}
