//! `parliament check paxos-spec` reaches TLC's exact state counts for `tla/Paxos.tla`.
//!
//! The distinct-state counts and depths pinned here are TLC's, from
//! `docs/tla.md` ("TLC's figures for Paxos.tla"): 3 acceptors, 2 values,
//! majority quorums. The generated-state counts are TLC's on `tla/Paxos.tla` itself (TLC
//! built from the tlaplus sources, run with `tla/run-tlc.sh`; see `tla/README.md`); the
//! reference table's generated counts are lower (see there).

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::paxos_spec::{PaxosSpecBug, PaxosSpecConfig, PaxosSymmetry};

fn check(max_ballot: usize, symmetry: Option<PaxosSymmetry>, bug: PaxosSpecBug) -> Report {
    let cfg = PaxosSpecConfig {
        acceptors: 3,
        values: 2,
        max_ballot,
        bug,
    };
    let opts = CheckOptions {
        threads: 2,
        strategy: Strategy::Bfs,
        ..CheckOptions::default()
    };
    check::run(
        cfg.into_model(),
        "paxos-spec",
        serde_json::Value::Null,
        &opts,
        symmetry.map(PaxosSymmetry::representative),
    )
}

fn assert_verified(r: &Report, unique: usize, generated: usize, depth: usize) {
    assert!(r.complete, "{}", r.to_text());
    assert!(r.all_hold(), "{}", r.to_text());
    assert_eq!(
        (r.unique_states, r.total_states, r.max_depth),
        (unique, generated, depth),
        "{}",
        r.to_text()
    );
}

/// docs/tla.md: ballots 0..1, no symmetry: 3,921 distinct states, depth 17.
#[test]
fn ballots_0_to_1_reach_tlcs_3921_states() {
    assert_verified(&check(1, None, PaxosSpecBug::None), 3_921, 23_839, 17);
}

/// docs/tla.md: ballots 0..2, no symmetry: 185,369 distinct states, depth 25.
#[test]
fn ballots_0_to_2_reach_tlcs_185369_states() {
    assert_verified(&check(2, None, PaxosSpecBug::None), 185_369, 1_382_794, 25);
}

/// docs/tla.md: ballots 0..2, symmetry over acceptors and values (12 permutations): 17,153.
/// stateright reduces symmetry only depth first; the counts and depth still are TLC's.
#[test]
fn symmetry_over_acceptors_and_values_reaches_tlcs_17153_orbits() {
    let r = check(2, Some(PaxosSymmetry::All), PaxosSpecBug::None);
    assert_verified(&r, 17_153, 129_479, 25);
}

/// docs/tla.md: ballots 0..2, symmetry over acceptors only (6 permutations): 34,113.
#[test]
fn symmetry_over_acceptors_reaches_tlcs_34113_orbits() {
    let r = check(2, Some(PaxosSymmetry::Acceptors), PaxosSpecBug::None);
    assert_verified(&r, 34_113, 256_896, 25);
}

#[test]
fn forgetting_the_vote_in_1b_breaks_agreement() {
    let r = check(1, None, PaxosSpecBug::ForgetVoteIn1b);
    assert_eq!(r.failures(), vec!["agreement"], "{}", r.to_text());
    let steps = r.property("agreement").counterexample.as_ref().unwrap();
    assert!(
        steps.last().unwrap().contains("chosen: {v1, v2}"),
        "{steps:?}"
    );
}

#[test]
fn strict_2b_breaks_value_chosen() {
    let r = check(1, None, PaxosSpecBug::Strict2b);
    assert!(r.complete, "{}", r.to_text());
    assert_eq!(r.failures(), vec!["value-chosen"], "{}", r.to_text());
}

#[test]
fn constants_too_large_for_the_compact_state_are_refused() {
    let cfg = PaxosSpecConfig {
        acceptors: 5,
        values: 4,
        max_ballot: 3,
        bug: PaxosSpecBug::None,
    };
    let e = cfg.validate().unwrap_err();
    assert!(e.contains("at most 128"), "{e}");
    assert!(PaxosSpecConfig::default().validate().is_ok());
}
