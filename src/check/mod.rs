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
//! # Simulation
//!
//! With [`CheckOptions::simulate`], [`run`] takes seeded random walks instead of searching
//! exhaustively ([`simulation`]): for models and configurations too large to explore. Its
//! report's search is [`Search::Simulated`]; it is never complete, and nothing it finds
//! absent is verified. `parliament check merge` adds up the reports of many seeds
//! ([`merge`]).
//!
//! # Exit status
//!
//! [`Report::exit_status`] is what `parliament check` exits with: 0 when the search was
//! complete and every property holds; 1 when some property fails (a real counterexample,
//! whether or not the search was complete); 3 when none fails but the search was incomplete
//! (bounded, stopped, or simulated) or some property was not checked. (2 is the command
//! line's usage error.)

use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    /// Take these random walks instead of searching exhaustively ([`simulation`]).
    pub simulate: Option<Walks>,
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
            simulate: None,
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
    /// One action, in the paper's words, without the state it is taken in (the explorer's
    /// lists of actions; [`explore`]).
    fn tell_action(&self, action: &Self::Action) -> String
    where
        Self::Action: Debug,
    {
        format!("{action:?}")
    }
    /// A state, in the paper's words (the explorer's current state; [`explore`]). By
    /// default what [`Narrate::describe`] says.
    fn tell_state(&self, state: &Self::State) -> Option<String> {
        self.describe(state)
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
    /// In a simulation: the walk that found the counterexample (or the example).
    pub found_by: Option<WalkRef>,
}

impl PropertyReport {
    /// The report of `name`, an `expectation` property, before any verdict: it holds, with
    /// nothing found yet.
    pub fn holding(name: &'static str, expectation: &'static str) -> PropertyReport {
        PropertyReport {
            name,
            expectation,
            holds: true,
            counterexample: None,
            final_state: None,
            path_length: None,
            not_checked: None,
            found_by: None,
        }
    }

    /// The property fails: a real counterexample (or, for `sometimes`, a complete search
    /// without an example).
    pub fn fails(&self) -> bool {
        !self.holds && self.not_checked.is_none()
    }
}

/// As JSON: `holds` is `null` when the property was not checked; `final_state`,
/// `path_length`, `not_checked` and `found_by` appear only when set.
impl Serialize for PropertyReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PropertyReport", 8)?;
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
        match &self.found_by {
            Some(w) => s.serialize_field("found_by", w)?,
            None => s.skip_field("found_by")?,
        }
        s.end()
    }
}

/// Read back from JSON (by `parliament check merge`), the inverse of the serialization above.
impl<'de> Deserialize<'de> for PropertyReport {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Json {
            name: String,
            expectation: String,
            holds: Option<bool>,
            counterexample: Option<Vec<String>>,
            #[serde(default)]
            final_state: Option<String>,
            #[serde(default)]
            path_length: Option<usize>,
            #[serde(default)]
            not_checked: Option<String>,
            #[serde(default)]
            found_by: Option<WalkRef>,
        }
        let j = Json::deserialize(deserializer)?;
        let Some(expectation) = ["always", "sometimes", "eventually"]
            .into_iter()
            .find(|e| *e == j.expectation)
        else {
            return Err(serde::de::Error::custom(format!(
                "unknown expectation {:?}",
                j.expectation
            )));
        };
        if j.holds.is_none() != j.not_checked.is_some() {
            return Err(serde::de::Error::custom(format!(
                "property {}: holds is null exactly when not_checked says why",
                j.name
            )));
        }
        Ok(PropertyReport {
            name: keep(j.name),
            expectation,
            holds: j.holds.unwrap_or(false),
            counterexample: j.counterexample,
            final_state: j.final_state,
            path_length: j.path_length,
            not_checked: j.not_checked,
            found_by: j.found_by,
        })
    }
}

/// A property's name read from JSON. Names are `&'static str` in a report, as
/// the model's properties give them; a report read back keeps its few names for the rest of
/// the process.
fn keep(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

fn read_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<&'static str>, D::Error> {
    Vec::<String>::deserialize(deserializer).map(|v| v.into_iter().map(keep).collect())
}

/// How far a search went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Every reachable state within the model's bounds was explored.
    Complete,
    /// Every state within [`Report::depth_bound`] steps of the start, none deeper.
    Bounded,
    /// Stopped early: a timeout, or the first failure.
    Incomplete,
    /// Random walks ([`Report::simulation`] says which).
    Simulated,
}

/// Everything a check found.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub model: String,
    pub config: serde_json::Value,
    /// How far the search went (`complete` is `search == Complete`).
    pub search: Search,
    /// Every reachable state (within the model's own bounds) was visited.
    pub complete: bool,
    /// Distinct states visited (in a merged simulation: the most any one seed visited, a
    /// lower bound).
    pub unique_states: usize,
    pub total_states: usize,
    /// The longest path explored (in a simulation: the longest walk, in steps).
    pub max_depth: usize,
    /// stateright's search (the liveness check's time is [`Report::liveness_seconds`]).
    pub seconds: f64,
    pub states_per_second: f64,
    /// States of the liveness check's graph, when it ran to the end ([`check_liveness`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_states: Option<usize>,
    /// Its distinct transitions between distinct states (self-loops left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_transitions: Option<usize>,
    /// How long the liveness check took, when it ran (to the end or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_seconds: Option<f64>,
    /// A bounded search: every state at most this many steps from the start was explored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_bound: Option<usize>,
    /// A simulation: its seeds, walks and depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Simulation>,
    /// Properties this configuration cannot decide (see [`Narrate::not_checked`]).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "read_names"
    )]
    pub undecidable_here: Vec<&'static str>,
    pub properties: Vec<PropertyReport>,
    /// The sequence diagram of the first failed property's counterexample, if any.
    #[serde(skip)]
    pub svg: Option<String>,
    /// The first failed property's counterexample as the explorer's path of action indices
    /// ([`explore::encode`]), if any.
    #[serde(skip)]
    pub explorer_path: Option<String>,
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

    /// The search line of a simulated report: the walks, the depth, the seeds, and either
    /// "no violation" or the first violation and the walk that found it.
    fn simulated_search(&self, sim: &Simulation) -> String {
        let walks = if sim.walks_run() == sim.walks() {
            format!("{} walks", sim.walks())
        } else {
            format!("{} of {} walks", sim.walks_run(), sim.walks())
        };
        let seeds = sim.seeds();
        let seeds = match seeds.as_slice() {
            [one] => format!("seed {one}"),
            many => format!("{} seeds {}", many.len(), seed_ranges(many)),
        };
        let mut line = format!("simulated: {walks} to depth {}, {seeds}, ", sim.depth);
        let violations: Vec<String> = self
            .properties
            .iter()
            .filter(|p| p.fails())
            .map(|p| match &p.found_by {
                Some(w) => format!("{} (walk {} of seed {})", p.name, w.walk, w.seed),
                None => p.name.to_string(),
            })
            .collect();
        if violations.is_empty() {
            line.push_str("no violation");
        } else {
            line.push_str(&format!("VIOLATION of {}", violations.join(", ")));
        }
        let stops: Vec<String> = sim
            .runs
            .iter()
            .filter_map(|r| {
                r.stopped
                    .as_ref()
                    .map(|why| format!("seed {}: {why}", r.seed))
            })
            .collect();
        if !stops.is_empty() {
            line.push_str(&format!(" ({})", stops.join("; ")));
        }
        line.push_str(
            "\n           random walks verify nothing: ok means only 'not violated along these walks'",
        );
        line
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "model      {}", self.model);
        let _ = writeln!(s, "config     {}", self.config);
        let search = match (&self.simulation, self.complete, self.depth_bound) {
            (Some(sim), _, _) => self.simulated_search(sim),
            (None, true, _) => "complete: every reachable state within the model's bounds was explored".to_string(),
            (None, false, Some(d)) => format!("BOUNDED: every state within {d} steps of the start was explored, none deeper; ok means only 'not violated within the bound'"),
            (None, false, None) => "INCOMPLETE: stopped early (timeout or first failure); ok means only 'not violated in the states explored'".to_string(),
        };
        let _ = writeln!(s, "search     {search}");
        if self.simulation.is_some() {
            let _ = writeln!(
                s,
                "states     {} visited along the walks ({}{} distinct), longest walk {} steps",
                self.total_states,
                if self
                    .simulation
                    .as_ref()
                    .is_some_and(|sim| sim.runs.len() > 1)
                {
                    "at least "
                } else {
                    ""
                },
                self.unique_states,
                self.max_depth
            );
        } else {
            let _ = writeln!(
                s,
                "states     {} unique, {} total, max depth {}",
                self.unique_states, self.total_states, self.max_depth
            );
        }
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
                // The path's steps; the narration may add lines on the final state.
                let n = p.path_length.unwrap_or(steps.len());
                let _ = write!(s, "\ncounterexample to {} ({n} steps", p.name);
                if let Some(w) = &p.found_by {
                    let _ = write!(
                        s,
                        "; found by walk {} of seed {} at its step {}, shortened by replay",
                        w.walk, w.seed, w.step
                    );
                }
                let _ = writeln!(s, "):");
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

/// Seeds as ranges: `0-9, 12, 20-21`.
fn seed_ranges(seeds: &[u64]) -> String {
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    parts.join(", ")
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
    M::Action: Clone + Debug + PartialEq + Hash,
{
    if let Some(walks) = opts.simulate {
        return simulation::simulate(model, name, config, opts, walks);
    }
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
    let mut explorer_path = None;
    let mut reports = Vec::with_capacity(properties.len());
    for p in &properties {
        let discovered = discoveries.get(p.name);
        let mut report = PropertyReport::holding(p.name, expectation_name(&p.expectation));
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
                if explorer_path.is_none() {
                    explorer_path = Some(explore::encode(model, &path));
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
        search: if complete {
            Search::Complete
        } else if bounded {
            Search::Bounded
        } else {
            Search::Incomplete
        },
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
        simulation: None,
        undecidable_here: undecidable.iter().map(|(n, _)| *n).collect(),
        properties: reports,
        svg,
        explorer_path,
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

pub mod explore;
mod liveness;
pub mod merge;
pub mod simulation;
use liveness::*;
pub use liveness::{check_liveness, Liveness, LivenessVerdict, LivenessViolation};
pub use merge::merge;
pub use simulation::{SimulatedRun, Simulation, WalkRef, Walks};

#[cfg(test)]
mod tests;
