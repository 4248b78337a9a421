//! `parliament check synod` and `parliament bugs` as a user runs them: exit codes, the JSON
//! report, counterexamples, the sequence diagram, clear usage errors.

use std::process::Command;

fn parliament(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parliament"))
        .args(args)
        .output()
        .expect("parliament runs")
}

#[test]
fn a_passing_check_exits_0_with_a_json_report() {
    let out = parliament(&[
        "check",
        "synod",
        "--rounds",
        "1",
        "--json",
        "--threads",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "model",
        "config",
        "complete",
        "unique_states",
        "total_states",
        "max_depth",
        "seconds",
        "states_per_second",
        "properties",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    assert_eq!(r["model"], "synod");
    assert_eq!(r["complete"], true);
    assert_eq!(r["unique_states"], 789); // 1,493 before votes and tries were observed
    assert_eq!(r["config"]["rounds"], 1);
    let props = r["properties"].as_array().unwrap();
    assert_eq!(props.len(), 8);
    for p in props {
        assert_eq!(p["holds"], true, "{p}");
        assert!(p["counterexample"].is_null());
        assert!(p["expectation"] == "always" || p["expectation"] == "sometimes");
    }
}

#[test]
fn a_seeded_bug_exits_1_with_a_counterexample_and_a_diagram() {
    let svg = std::env::temp_dir().join(format!("parliament-cli-{}.svg", std::process::id()));
    let out = parliament(&[
        "check",
        "synod",
        "--rounds",
        "1",
        "--bug",
        "no-tiebreak",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("b1-unique-ballots            FAIL"), "{text}");
    assert!(
        text.contains("counterexample to b1-unique-ballots (2 steps)"),
        "{text}"
    );
    assert!(text.contains("Retry timer fires"), "{text}");
    assert!(text.contains("INCOMPLETE"), "{text}");
    let diagram = std::fs::read_to_string(&svg).unwrap();
    assert!(diagram.starts_with("<svg"));
    std::fs::remove_file(svg).ok();
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    for (args, needle) in [
        (
            &["check", "synod", "--priests", "9"][..],
            "--priests must be 2 to 5",
        ),
        (
            &["check", "synod", "--bug", "nope"][..],
            "unknown bug 'nope'",
        ),
        (
            &["check", "synod", "--network", "carrier-pigeon"][..],
            "invalid value",
        ),
        (
            &["check", "synod", "--proposers", "4"][..],
            "--proposers must be",
        ),
    ] {
        let out = parliament(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn bugs_lists_every_seeded_bug_with_the_property_it_breaks() {
    let out = parliament(&["bugs", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let bugs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    // forget-promise is a bug of both protocols.
    let named: Vec<_> = bugs
        .iter()
        .filter(|b| b["name"] == "forget-promise" || b["name"] == "invent-decree")
        .collect();
    assert_eq!(named.len(), 3);
    assert_eq!(bugs.len(), 11 + parliament::parliament::Bug::ALL.len());
    for b in &bugs {
        for key in ["name", "breaks", "changes", "stands_for", "protocol"] {
            assert!(b[key].as_str().is_some_and(|s| !s.is_empty()), "{b}");
        }
        assert!(b["flags"].is_array(), "{b}");
    }
}

/// Each Synod bug's `flags` reproduce it: `check synod FLAGS --bug NAME` finds the property
/// it breaks. (The Parliament's flags are checked in-process, in `tests/parliament.rs`.)
#[test]
fn every_synod_bug_is_found_with_its_flags() {
    let out = parliament(&["bugs", "--json"]);
    let bugs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for b in bugs.iter().filter(|b| b["protocol"] == "synod") {
        let name = b["name"].as_str().unwrap();
        let mut args = vec!["check", "synod", "--json", "--threads", "1", "--bug", name];
        let flags: Vec<&str> = b["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        args.extend(&flags);
        let out = parliament(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let broken = report["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == b["breaks"])
            .unwrap();
        assert_eq!(broken["holds"], false, "{args:?}");
    }
}
