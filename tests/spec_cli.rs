//! The spec checks from the command line: same report and JSON as the other checks, clear
//! errors for constants the models cannot hold.

use std::process::Command;

fn parliament(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parliament"))
        .args(args)
        .output()
        .expect("parliament runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn paxos_spec_json_report() {
    let (code, r, _) = parliament(&[
        "check",
        "paxos-spec",
        "--max-ballot",
        "1",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(r["model"], "paxos-spec");
    assert_eq!(r["unique_states"], 3_921);
    assert_eq!(r["complete"], true);
    assert_eq!(r["config"]["max_ballot"], 1);
}

#[test]
fn paxos_spec_symmetry_from_the_command_line() {
    let (code, r, _) = parliament(&[
        "check",
        "paxos-spec",
        "--symmetry",
        "all",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(r["unique_states"], 17_153);
    assert_eq!(r["config"]["symmetry"], "all");
}

#[test]
fn a_violated_property_exits_1_with_its_counterexample() {
    let (code, r, _) = parliament(&[
        "check",
        "synod-spec",
        "--rounds",
        "1",
        "--bug",
        "ignore-last-votes",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(code, 1);
    let b3 = r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "b3-respects-earlier-votes")
        .unwrap();
    assert_eq!(b3["holds"], false);
    assert!(b3["counterexample"].as_array().unwrap().len() > 3);
}

#[test]
fn refinement_from_the_command_line() {
    let (code, r, _) = parliament(&["check", "synod-refinement", "--threads", "1", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(r["unique_states"], 1_558); // 2,979 before the Synod ghost observed votes
    assert_eq!(r["config"]["network"], "duplicating");
}

#[test]
fn constants_the_models_cannot_hold_are_refused_clearly() {
    for (args, says) in [
        (
            &["check", "paxos-spec", "--acceptors", "9"][..],
            "--acceptors must be 1 to 5",
        ),
        (
            &["check", "paxos-spec", "--values", "4", "--max-ballot", "4"][..],
            "possible messages",
        ),
        (
            &["check", "synod-spec", "--proposers", "4"][..],
            "--proposers must be 1 to the number of priests",
        ),
        (
            &["check", "synod-refinement", "--rounds", "0"][..],
            "--rounds must be at least 1",
        ),
    ] {
        let (code, _, stderr) = parliament(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
