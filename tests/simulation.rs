//! `parliament check MODEL --simulate` (seeded random walks) and `parliament check merge`.
//!
//! The seeded bugs' table in docs/verification.md ("Seeded bugs found by simulation") is the
//! source of the bug tests: `the_table_s_ci_rows_are_found_as_stated` runs the rows marked
//! for CI; `every_row_of_the_table_is_found_as_stated` (ignored, outside CI:
//! `cargo test --release --test simulation -- --ignored`) runs every row, and the correct
//! protocol with the same flags, seed and walks.

use parliament::check::Report;
use std::path::Path;
use std::process::Command;

/// Runs `parliament ARGS`: exit status, stdout, stderr.
fn parliament(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parliament"))
        .args(args)
        .output()
        .expect("parliament runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs a check with `--json` and reads its report back.
fn report(args: &[&str]) -> (i32, Report) {
    let mut args = args.to_vec();
    args.push("--json");
    let (code, out, err) = parliament(&args);
    let report = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{args:?}: no JSON report ({e}): {out}\n{err}"));
    (code, report)
}

/// The report as JSON without its timings (which differ from run to run).
fn without_timings(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).expect("serializes");
    v["seconds"] = serde_json::Value::Null;
    v["states_per_second"] = serde_json::Value::Null;
    for run in v["simulation"]["runs"].as_array_mut().expect("runs") {
        run["seconds"] = serde_json::Value::Null;
    }
    v
}

const SYNOD: &[&str] = &[
    "check",
    "synod",
    "--priests",
    "5",
    "--proposers",
    "3",
    "--rounds",
    "3",
    "--network",
    "duplicating",
    "--crashes",
    "1",
    "--simulate",
    "--walks",
    "40",
    "--depth",
    "60",
];

fn with_seed(args: &[&'static str], seed: &'static str) -> Vec<&'static str> {
    let mut v = args.to_vec();
    v.extend(["--seed", seed]);
    v
}

#[test]
fn the_same_seed_takes_the_same_walks_in_another_process() {
    let (code, a) = report(&with_seed(SYNOD, "7"));
    let (_, b) = report(&with_seed(SYNOD, "7"));
    let (_, c) = report(&with_seed(SYNOD, "8"));
    assert_eq!(code, 3, "no violation is unknown, not verified");
    assert_eq!(without_timings(&a), without_timings(&b));
    // Another seed, other walks: they visit other states.
    assert_ne!(a.unique_states, c.unique_states);
    let sim = a.simulation.as_ref().expect("a simulation");
    assert_eq!((sim.depth, sim.walks(), sim.walks_run()), (60, 40, 40));
    assert_eq!(serde_json::to_value(a.search).unwrap(), "simulated");
    assert!(!a.complete);
    // On a duplicating network no walk ends before its depth: 40 walks of 60 steps.
    assert_eq!(a.total_states, 40 * 61);
    assert_eq!(a.max_depth, 60);
}

#[test]
fn the_report_says_simulated_and_never_verified() {
    let (code, text, _) = parliament(&with_seed(SYNOD, "3"));
    assert_eq!(code, 3);
    assert!(
        text.contains("simulated: 40 walks to depth 60, seed 3, no violation"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("verified:"), "{text}");
    assert!(text.contains("random walks verify nothing"), "{text}");
}

#[test]
fn a_violation_is_told_in_the_paper_s_words_with_the_walk_that_found_it() {
    let (code, text, _) = parliament(&[
        "check",
        "synod",
        "--rounds",
        "1",
        "--bug",
        "ignore-last-votes",
        "--simulate",
        "--seed",
        "0",
        "--walks",
        "100",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("VIOLATION of b3-respects-earlier-votes (walk 11 of seed 0)"));
    assert!(
        text.contains("counterexample to b3-respects-earlier-votes (7 steps; found by walk 11 of seed 0 at its step 10, shortened by replay):"),
        "{text}"
    );
    assert!(text.contains("receives NextBallot("), "{text}");
    assert!(text.contains("then: ballots [ballot"), "{text}");
}

/// The walks that found a president beginning ballots below its own snapshot (agreement
/// broken at walk 2,382 of seed 0, before `take_office` began at the ledger's base; see
/// docs/verification.md, "Found by simulation") meet no violation now.
#[test]
fn a_president_begins_nothing_below_its_own_snapshot() {
    let (code, r) = report(&[
        "check",
        "parliament",
        "--snapshots",
        "--clients",
        "1",
        "--ops",
        "2",
        "--window",
        "1",
        "--decrees",
        "2",
        "--rounds",
        "2",
        "--simulate",
        "--seed",
        "0",
        "--walks",
        "3000",
    ]);
    assert_eq!(r.failures(), Vec::<&str>::new(), "{}", r.to_text());
    assert_eq!(code, 3, "simulated, so never 0");
    assert!(r.property("agreement").holds);
    assert!(r.property("ledger-truncated").holds);
}

#[test]
fn liveness_is_not_checked_by_walks_cut_at_their_depth() {
    // A duplicating network has no dead end: every walk stops at its depth.
    let (code, r) = report(&[
        "check",
        "parliament",
        "--network",
        "duplicating",
        "--proposers",
        "1",
        "--ops",
        "2",
        "--decrees",
        "5",
        "--window",
        "1",
        "--bug",
        "strand-queued-commands",
        "--simulate",
        "--walks",
        "20",
        "--depth",
        "40",
    ]);
    assert_eq!(code, 3);
    let p = r.property("every-client-answered");
    let why = p.not_checked.as_deref().expect("not checked");
    assert!(why.contains("not checked by simulation"), "{why}");
    assert!(why.contains("no walk ended in one"), "{why}");
    assert_eq!(r.simulation.unwrap().runs[0].dead_ends, 0);
}

#[test]
fn what_a_simulation_cannot_do_is_refused() {
    for (args, says) in [
        (
            &["check", "synod", "--simulate", "--symmetry"][..],
            "--symmetry reduces an exhaustive search",
        ),
        (
            &["check", "paxos-spec", "--simulate", "--symmetry", "all"][..],
            "--symmetry reduces an exhaustive search",
        ),
        (
            &["check", "synod", "--simulate", "--strategy", "dfs"][..],
            "cannot be used with",
        ),
        (
            &["check", "synod", "--simulate", "--max-depth", "3"][..],
            "cannot be used with",
        ),
        (
            &["check", "synod", "--simulate", "--threads", "2"][..],
            "cannot be used with",
        ),
        (&["check", "synod", "--seed", "3"][..], "--simulate"),
        (
            &["check", "synod", "--simulate", "--walks", "0"][..],
            "--walks must be at least 1",
        ),
    ] {
        let (code, _, err) = parliament(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn every_model_takes_walks_in_configurations_too_large_to_explore() {
    for args in [
        &[
            "synod",
            "--priests",
            "5",
            "--rounds",
            "4",
            "--network",
            "duplicating",
            "--lossy",
            "--crashes",
            "2",
        ][..],
        &[
            "parliament",
            "--priests",
            "5",
            "--rounds",
            "3",
            "--network",
            "duplicating",
            "--crashes",
            "1",
            "--ops",
            "2",
            "--decrees",
            "6",
        ][..],
        &[
            "parliament",
            "--priests",
            "5",
            "--rounds",
            "3",
            "--network",
            "duplicating",
            "--heartbeats",
            "--crashes",
            "1",
        ][..],
        &["paxos-spec", "--acceptors", "5", "--max-ballot", "2"][..],
        &["synod-spec", "--priests", "5", "--rounds", "3"][..],
        &[
            "parliament-spec",
            "--priests",
            "4",
            "--proposers",
            "3",
            "--rounds",
            "3",
            "--decrees",
            "3",
        ][..],
        &["synod-refinement", "--priests", "5", "--rounds", "3"][..],
        &[
            "parliament-refinement",
            "--priests",
            "4",
            "--rounds",
            "2",
            "--crashes",
            "1",
        ][..],
    ] {
        let mut a = vec!["check"];
        a.extend(args);
        a.extend(["--simulate", "--seed", "1", "--walks", "3", "--depth", "40"]);
        let (code, r) = report(&a);
        assert_eq!(code, 3, "{a:?}: {}", r.to_text());
        assert_eq!(r.simulation.as_ref().unwrap().walks_run(), 3, "{a:?}");
        assert!(r.failures().is_empty(), "{a:?}: {}", r.to_text());
    }
}

// ---------------------------------------------------------------------------------------
// check merge

/// Writes the JSON reports of `runs` (each a list of arguments) into `dir`: their paths.
fn reports_in(dir: &Path, runs: &[Vec<&str>]) -> Vec<String> {
    runs.iter()
        .enumerate()
        .map(|(i, args)| {
            let mut args = args.clone();
            args.push("--json");
            let (code, out, err) = parliament(&args);
            assert!([0, 1, 3].contains(&code), "{args:?}: {err}");
            let path = dir.join(format!("{i}.json"));
            std::fs::write(&path, out).unwrap();
            path.display().to_string()
        })
        .collect()
}

fn merge(files: &[String]) -> (i32, String, String) {
    let mut args = vec!["check", "merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    parliament(&args)
}

#[test]
fn merged_seeds_add_up_their_walks() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = ["0", "1", "2"];
    let files = reports_in(dir.path(), &seeds.map(|s| with_seed(SYNOD, s)));
    let singles: Vec<Report> = files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    let (code, out, err) = merge(&files);
    assert_eq!(code, 3, "{err}");
    let merged: Report = serde_json::from_str(&out).unwrap();
    let sim = merged.simulation.as_ref().unwrap();
    assert_eq!(sim.seeds(), vec![0, 1, 2]);
    assert_eq!(sim.walks(), 120);
    assert_eq!(
        merged.total_states,
        singles.iter().map(|r| r.total_states).sum::<usize>()
    );
    assert!(merged.failures().is_empty());
    // The text says so, for three seeds.
    let mut args = vec!["check", "merge"];
    args.extend(files.iter().map(String::as_str));
    let (_, text, _) = parliament(&args);
    assert!(
        text.contains("simulated: 120 walks to depth 60, 3 seeds 0-2, no violation"),
        "{text}"
    );
    // A merged report merges again, with another seed.
    let more = reports_in(&dir.path().join(".."), &[with_seed(SYNOD, "9")]);
    let merged_file = dir.path().join("merged.json");
    std::fs::write(&merged_file, &out).unwrap();
    let (code, out, err) = merge(&[merged_file.display().to_string(), more[0].clone()]);
    assert_eq!(code, 3, "{err}");
    let again: Report = serde_json::from_str(&out).unwrap();
    assert_eq!(again.simulation.unwrap().seeds(), vec![0, 1, 2, 9]);
}

#[test]
fn a_merged_violation_names_the_seed_that_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let bug = |seed: &'static str| {
        vec![
            "check",
            "synod",
            "--rounds",
            "2",
            "--bug",
            "lowest-last-vote",
            "--simulate",
            "--walks",
            "30",
            "--seed",
            seed,
        ]
    };
    // Seed 0 finds lowest-last-vote only at walk 47; in 30 walks, no violation.
    let files = reports_in(dir.path(), &[bug("0"), bug("5"), bug("6")]);
    let (code, out, err) = merge(&files);
    assert_eq!(code, 1, "{err}");
    let merged: Report = serde_json::from_str(&out).unwrap();
    let singles: Vec<Report> = files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    let finders: Vec<u64> = singles
        .iter()
        .filter(|r| !r.failures().is_empty())
        .map(|r| r.simulation.as_ref().unwrap().runs[0].seed)
        .collect();
    assert!(!finders.is_empty() && !finders.contains(&0), "{finders:?}");
    let p = merged.property("b3-respects-earlier-votes");
    assert!(p.fails());
    assert_eq!(p.found_by.unwrap().seed, finders[0]);
    assert!(p.counterexample.as_ref().is_some_and(|c| !c.is_empty()));
}

#[test]
fn merge_refuses_reports_of_different_runs() {
    let dir = tempfile::tempdir().unwrap();
    let other_flags = {
        let mut v = with_seed(SYNOD, "1");
        v[3] = "4"; // --priests 4
        v
    };
    let deeper = {
        let mut v = with_seed(SYNOD, "2");
        v[16] = "61"; // --depth 61
        v
    };
    let files = reports_in(
        dir.path(),
        &[
            with_seed(SYNOD, "0"),
            vec![
                "check",
                "synod-spec",
                "--simulate",
                "--walks",
                "5",
                "--seed",
                "1",
            ],
            other_flags,
            deeper,
            with_seed(SYNOD, "0"),
            vec!["check", "synod", "--rounds", "1", "--threads", "1"],
        ],
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"model\": 3}").unwrap();
    for (pair, says) in [
        ([0, 1], "checks model synod-spec but"),
        ([0, 2], "with different flags (priests: 5 vs 4)"),
        ([0, 3], "to depth 61 but"),
        ([0, 4], "seed 0 is in both"),
        (
            [0, 5],
            "is not a simulation's report (its search is \"complete\")",
        ),
    ] {
        let (code, out, err) = merge(&[files[pair[0]].clone(), files[pair[1]].clone()]);
        assert_eq!(code, 2, "{pair:?}: {out}");
        assert!(out.is_empty());
        assert!(
            err.contains("cannot merge: ") && err.contains(says),
            "{pair:?}: {err}"
        );
    }
    let (code, _, err) = merge(&[files[0].clone(), garbage.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("is not the JSON report"), "{err}");
    let (code, _, err) = merge(&[dir.path().join("nope.json").display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

// ---------------------------------------------------------------------------------------
// The seeded bugs' table

/// A row of the table in docs/verification.md.
#[derive(Debug)]
struct Row {
    model: String,
    bug: String,
    breaks: String,
    flags: Vec<String>,
    seed: String,
    walks: String,
    depth: String,
    found_by_walk: usize,
    steps: usize,
    ci: bool,
}

fn table() -> Vec<Row> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verification.md"))
        .expect("docs/verification.md");
    let start = doc
        .find("<!-- simulation table -->")
        .expect("the table's marker");
    let cell = |s: &str| s.trim().trim_matches('`').replace(',', "");
    let rows: Vec<Row> = doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| model"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c: Vec<String> = l.trim_matches('|').split('|').map(cell).collect();
            assert_eq!(c.len(), 11, "{l}");
            Row {
                model: c[0].clone(),
                bug: c[1].clone(),
                breaks: c[2].clone(),
                flags: c[3].split_whitespace().map(String::from).collect(),
                seed: c[4].clone(),
                walks: c[5].clone(),
                depth: c[6].clone(),
                found_by_walk: c[7].parse().unwrap_or_else(|_| panic!("{l}")),
                steps: c[8].parse().unwrap_or_else(|_| panic!("{l}")),
                ci: c[10] == "CI",
            }
        })
        .collect();
    assert!(rows.len() > 40, "the table has a row per seeded bug");
    rows
}

fn args(row: &Row, bug: bool) -> Vec<String> {
    let mut a: Vec<String> = vec!["check".into(), row.model.clone()];
    a.extend(row.flags.iter().cloned());
    if bug {
        a.extend(["--bug".into(), row.bug.clone()]);
    }
    a.extend(
        [
            "--simulate",
            "--seed",
            &row.seed,
            "--walks",
            &row.walks,
            "--depth",
            &row.depth,
        ]
        .map(String::from),
    );
    a
}

/// The row's bug is found by the walk the table says, with a counterexample of the length it
/// says; with `correct`, the correct protocol takes as many walks without a violation.
fn check_row(row: &Row, correct: bool) {
    let a = args(row, true);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, r) = report(&a);
    assert_eq!(code, 1, "{a:?}: {}", r.to_text());
    let p = r.property(&row.breaks);
    assert!(p.fails(), "{a:?}: {}", r.to_text());
    let found = p.found_by.expect("found by a walk");
    assert_eq!(
        (found.walk, p.path_length.unwrap()),
        (row.found_by_walk, row.steps),
        "{a:?}: {}",
        r.to_text()
    );
    if correct {
        let mut b = args(row, false);
        let found = row.found_by_walk.to_string();
        let at = b.iter().position(|x| x == "--walks").unwrap() + 1;
        b[at] = found;
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let (code, r) = report(&b);
        assert_eq!(code, 3, "the correct protocol, {b:?}: {}", r.to_text());
    }
}

#[test]
fn a_bug_that_breaks_only_a_sometimes_property_shows_as_no_example() {
    for (model, flags, bug, property) in [
        (
            "paxos-spec",
            "--acceptors 5 --max-ballot 2",
            "strict2b",
            "value-chosen",
        ),
        (
            "synod-spec",
            "--priests 5 --rounds 2",
            "strict-vote",
            "decree-chosen",
        ),
        (
            "parliament-spec",
            "--priests 4 --proposers 3 --rounds 3 --decrees 3",
            "strict-vote",
            "decree-chosen",
        ),
    ] {
        for b in ["none", bug] {
            let mut a = vec!["check", model];
            a.extend(flags.split(' '));
            a.extend(["--bug", b, "--simulate", "--seed", "0", "--walks", "1000"]);
            a.extend(["--depth", "200"]);
            let (code, r) = report(&a);
            assert_eq!(code, 3, "{a:?}: {}", r.to_text());
            let p = r.property(property);
            if b == "none" {
                assert!(p.holds, "{a:?}: {}", r.to_text());
                assert_eq!(p.found_by.unwrap().walk, 1);
            } else {
                assert!(!p.holds && !p.fails(), "{a:?}: {}", r.to_text());
                assert!(p
                    .not_checked
                    .as_deref()
                    .unwrap()
                    .contains("no example along the walks"));
            }
        }
    }
}

/// Every seeded bug of the Parliament and of the Synod has a row: a new bug is not left out
/// of the table.
#[test]
fn every_actor_bug_has_a_row() {
    let rows = table();
    let has = |model: &str, bug: &str| rows.iter().any(|r| r.model == model && r.bug == bug);
    for bug in parliament::parliament::Bug::ALL {
        assert!(has("parliament", bug.name()), "no simulation row for {bug}");
    }
    for bug in parliament::synod::Bug::ALL {
        assert!(has("synod", bug.name()), "no simulation row for {bug}");
    }
}

#[test]
fn the_table_s_ci_rows_are_found_as_stated() {
    let rows = table();
    let ci: Vec<&Row> = rows.iter().filter(|r| r.ci).collect();
    assert!(ci.len() >= 8, "a representative subset runs in CI");
    for row in ci {
        check_row(row, false);
    }
}

#[test]
#[ignore = "the whole table: minutes (cargo test --release --test simulation -- --ignored)"]
fn every_row_of_the_table_is_found_as_stated() {
    for row in table() {
        check_row(&row, true);
    }
}
