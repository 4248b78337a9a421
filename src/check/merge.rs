//! `parliament check merge FILE...`: the simulation reports of many seeds as one.
//!
//! A simulation of one seed is one job ([`simulation`](super::simulation)); a search of many
//! seeds is many jobs, each writing its JSON report, on whatever runs batch jobs (a Kubernetes
//! Job, a Slurm array, GNU parallel over hosts: docs/verification.md). Merging them gives the
//! report one run over every seed would have given:
//!
//! - the walks of every seed, and the states they visited, added up;
//! - each `always` or `eventually` property fails when it failed for any seed, told with the
//!   counterexample of the lowest seed that found one (and that seed, in `found_by`);
//! - each `sometimes` property has an example when any seed found one;
//! - otherwise a property keeps its verdict ("ok", or not checked and why).
//!
//! Only reports of the same simulation can be merged: the same model with the same flags
//! (its `config`) and the same depth. Two reports of one seed are refused too: their walks
//! are the same walks, and adding them up would count them twice. A report that is not a
//! simulation's (an exhaustive search) is refused. A merged report can be merged again.

use super::*;

/// Merges simulation reports (each named by where it came from, for the errors).
pub fn merge(reports: Vec<(String, Report)>) -> Result<Report, String> {
    let Some((first_name, first)) = reports.first() else {
        return Err("nothing to merge: give the JSON reports of simulation runs".into());
    };
    let simulation = |(name, r): &(String, Report)| -> Result<Simulation, String> {
        r.simulation.clone().ok_or_else(|| {
            format!(
                "{name} is not a simulation's report (its search is {}): only the reports of `parliament check ... --simulate` can be merged",
                serde_json::to_value(r.search).expect("serializes")
            )
        })
    };
    let depth = simulation(&reports[0])?.depth;
    let mut runs: Vec<(SimulatedRun, &str)> = Vec::new();
    for entry in &reports {
        let (name, r) = entry;
        let sim = simulation(entry)?;
        if r.model != first.model {
            return Err(format!(
                "{name} checks model {} but {first_name} checks {}: only runs of the same model with the same flags can be merged",
                r.model, first.model
            ));
        }
        if r.config != first.config {
            return Err(format!(
                "{name} and {first_name} check {} with different flags ({}): only runs of the same flags can be merged",
                r.model,
                config_difference(&first.config, &r.config)
            ));
        }
        if sim.depth != depth {
            return Err(format!(
                "{name} walks to depth {} but {first_name} to depth {depth}: only runs of the same depth can be merged",
                sim.depth
            ));
        }
        let names = |r: &Report| -> Vec<&str> { r.properties.iter().map(|p| p.name).collect() };
        if names(r) != names(first) {
            return Err(format!(
                "{name} and {first_name} report different properties: not runs of the same model"
            ));
        }
        for run in sim.runs {
            if let Some((_, other)) = runs.iter().find(|(r, _)| r.seed == run.seed) {
                return Err(format!(
                    "seed {} is in both {other} and {name}: its walks would be counted twice",
                    run.seed
                ));
            }
            runs.push((run, name));
        }
    }
    runs.sort_by_key(|(r, _)| r.seed);

    // Each property as the report that decided it with the lowest seed tells it, else as
    // the first report does.
    let properties: Vec<PropertyReport> = (0..first.properties.len())
        .map(|i| {
            let decided = |p: &PropertyReport| {
                p.not_checked.is_none() && (p.holds == (p.expectation == "sometimes"))
            };
            reports
                .iter()
                .map(|(_, r)| &r.properties[i])
                .filter(|p| decided(p))
                .min_by_key(|p| p.found_by.map_or(u64::MAX, |w| w.seed))
                .unwrap_or(&first.properties[i])
                .clone()
        })
        .collect();

    let total_states = reports.iter().map(|(_, r)| r.total_states).sum();
    let seconds = reports.iter().map(|(_, r)| r.seconds).sum::<f64>();
    Ok(Report {
        model: first.model.clone(),
        config: first.config.clone(),
        search: Search::Simulated,
        complete: false,
        unique_states: reports
            .iter()
            .map(|(_, r)| r.unique_states)
            .max()
            .unwrap_or(0),
        total_states,
        max_depth: reports.iter().map(|(_, r)| r.max_depth).max().unwrap_or(0),
        seconds,
        states_per_second: total_states as f64 / seconds.max(1e-9),
        liveness_states: None,
        liveness_transitions: None,
        liveness_seconds: None,
        depth_bound: None,
        simulation: Some(Simulation {
            depth,
            runs: runs.into_iter().map(|(r, _)| r).collect(),
        }),
        undecidable_here: first.undecidable_here.clone(),
        properties,
        svg: None,
        explorer_path: None,
    })
}

/// The first flag on which two configurations differ, as `key: a vs b`.
fn config_difference(a: &serde_json::Value, b: &serde_json::Value) -> String {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .find(|k| a.get(*k) != b.get(*k))
                .map(|k| {
                    let show = |v: Option<&serde_json::Value>| {
                        v.map_or("absent".to_string(), |v| v.to_string())
                    };
                    format!("{k}: {} vs {}", show(a.get(k)), show(b.get(k)))
                })
                .unwrap_or_default()
        }
        _ => format!("{a} vs {b}"),
    }
}
