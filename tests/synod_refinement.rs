//! Refinement: every step of the Synod actor model maps, by the refinement mapping of
//! `models/synod_refinement.rs`, to a step of `tla/Synod.tla` or a stutter.

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::synod_refinement::RefinementConfig;
use parliament::synod::Bug;

fn check(crashes: usize, bug: Bug) -> Report {
    let cfg = RefinementConfig {
        priests: 3,
        proposers: 2,
        rounds: 1,
        crashes,
        bug,
    };
    let opts = CheckOptions {
        threads: 2,
        strategy: Strategy::Bfs,
        ..CheckOptions::default()
    };
    check::run(
        cfg.into_model(),
        "synod-refinement",
        serde_json::Value::Null,
        &opts,
        None,
    )
}

#[test]
fn the_priests_refine_the_spec() {
    let r = check(0, Bug::None);
    assert!(r.complete && r.all_hold(), "{}", r.to_text());
    // Every state of the duplicating Synod model (3 priests, 2 proposers, round 1).
    // 2,979 before votes and tries were observed at the priests.
    assert_eq!(r.unique_states, 1_558, "{}", r.to_text());
}

#[test]
fn the_priests_refine_the_spec_across_crashes() {
    let r = check(1, Bug::None);
    assert!(r.complete && r.all_hold(), "{}", r.to_text());
    assert_eq!(r.unique_states, 11_284, "{}", r.to_text()); // 21,852 before
}

fn last_step(r: &Report) -> String {
    let steps = r
        .property("refines-synod-spec")
        .counterexample
        .as_ref()
        .expect("a counterexample");
    steps
        .iter()
        .find(|s| s.starts_with("this last step is no step of synod-spec"))
        .cloned()
        .unwrap_or_else(|| panic!("no refinement verdict in {steps:?}"))
}

/// A priest that answers LastVote before saving its promise: the spec's SendLastVote sets
/// nextBal as it sends, so the step is no spec step, with no crash needed (the safety
/// properties see this bug only after a crash).
#[test]
fn sending_before_saving_the_promise_breaks_refinement() {
    let r = check(0, Bug::ForgetPromise);
    assert!(!r.property("refines-synod-spec").holds, "{}", r.to_text());
    let why = last_step(&r);
    assert!(why.contains("msgs gains LastVote"), "{why}");
    assert!(!why.contains("nextBal"), "{why}");
}

#[test]
fn forgetting_last_tried_breaks_refinement() {
    let r = check(0, Bug::ForgetLastTried);
    let why = last_step(&r);
    assert!(why.contains("msgs gains NextBallot"), "{why}");
}

#[test]
fn voting_below_the_promise_breaks_refinement() {
    let r = check(0, Bug::VoteBelowPromise);
    let why = last_step(&r);
    assert!(why.contains("prevVote["), "{why}");
}

#[test]
fn a_ballot_number_the_spec_does_not_own_breaks_refinement() {
    let r = check(0, Bug::NoTiebreak);
    let why = last_step(&r);
    assert!(why.contains("lastTried[1]"), "{why}");
}

#[test]
fn bad_configurations_are_refused() {
    let cfg = RefinementConfig {
        priests: 6,
        ..RefinementConfig::default()
    };
    assert!(cfg.validate().unwrap_err().contains("--priests"));
}
