//! `parliament check parliament-spec`: the transliteration of `tla/Parliament.tla` pins its
//! state counts, which are TLC's on `tla/MCParliament.tla` (distinct, generated and depth;
//! TLC built from the tlaplus sources and run with `tla/run-tlc.sh parliament`, see
//! `tla/README.md`), and every property is broken by a seeded bug in the spec.

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::parliament_spec::{ParliamentSpecBug, ParliamentSpecConfig};

/// Checks `cfg` breadth first on 2 threads, stopping at the first violation of `stop_on`.
fn check_config(cfg: ParliamentSpecConfig, stop_on: Option<&'static str>) -> Report {
    let opts = CheckOptions {
        threads: 2,
        strategy: Strategy::Bfs,
        stop_on,
        ..CheckOptions::default()
    };
    check::run(
        cfg.into_model(),
        "parliament-spec",
        serde_json::Value::Null,
        &opts,
        None,
    )
}

fn check(rounds: usize, bug: ParliamentSpecBug) -> Report {
    let cfg = ParliamentSpecConfig {
        rounds,
        bug,
        ..ParliamentSpecConfig::default()
    };
    check_config(cfg, None)
}

/// The defaults (MCParliament.cfg): 3 priests, 2 presidents, rounds 1..1, decree numbers
/// 0..1. TLC: 2,362,442 distinct states, 9,871,864 generated, depth 31.
#[test]
fn default_constants_reach_2362442_states() {
    let r = check(1, ParliamentSpecBug::None);
    assert!(r.complete && r.all_hold(), "{}", r.to_text());
    assert_eq!(
        (r.unique_states, r.total_states, r.max_depth),
        (2_362_442, 9_871_864, 31),
        "{}",
        r.to_text()
    );
}

/// With the genesis office (`--genesis`: the Chamber starts as deployed, priest 0 in office
/// with every priest as its quorum), one decree number (MCParliamentGenesis.cfg). TLC:
/// 125,051 distinct states, 314,151 generated, depth 23. With one number no gap can open, so no
/// olive-day decree is chosen; every other property holds.
#[test]
fn the_genesis_office_reaches_125051_states() {
    let cfg = ParliamentSpecConfig {
        genesis: true,
        decrees: 1,
        ..ParliamentSpecConfig::default()
    };
    let r = check_config(cfg, None);
    assert!(r.complete, "{}", r.to_text());
    assert_eq!(r.failures(), ["olive-day-decree-chosen"], "{}", r.to_text());
    assert_eq!(
        (r.unique_states, r.total_states, r.max_depth),
        (125_051, 314_151, 23),
        "{}",
        r.to_text()
    );
}

/// Each seeded bug is found with the genesis office too: the search stops at the first
/// violation of the property it is known for.
#[test]
fn every_spec_bug_is_found_with_the_genesis_office() {
    for (bug, breaks) in [
        (ParliamentSpecBug::NoTiebreak, "b1-unique-ballots"),
        (ParliamentSpecBug::MinorityQuorum, "b2-quorums-intersect"),
        (
            ParliamentSpecBug::OverwriteReported,
            "b3-respects-earlier-votes",
        ),
        (
            ParliamentSpecBug::PrematureSuccess,
            "learned-implies-chosen",
        ),
    ] {
        let cfg = ParliamentSpecConfig {
            genesis: true,
            decrees: 1,
            bug,
            ..ParliamentSpecConfig::default()
        };
        let r = check_config(cfg, Some(breaks));
        assert!(r.failures().contains(&breaks), "{bug:?}: {}", r.to_text());
    }
}

/// `bug` breaks exactly `expected` (in the report's order), with a told counterexample.
fn assert_breaks(bug: ParliamentSpecBug, expected: &[&str]) {
    let r = check(1, bug);
    assert!(r.complete, "{}", r.to_text());
    assert_eq!(r.failures(), expected, "{}", r.to_text());
    let first = r.property(expected[0]);
    if first.expectation == "always" {
        let steps = first.counterexample.as_ref().expect("a counterexample");
        assert!(
            steps.last().unwrap().starts_with("final ballots"),
            "{steps:?}"
        );
    }
}

#[test]
fn no_tiebreak_breaks_b1() {
    assert_breaks(
        ParliamentSpecBug::NoTiebreak,
        &[
            "b1-unique-ballots",
            "agreement",
            "learned-implies-chosen",
            "logs-are-prefixes",
            "olive-day-decree-chosen",
        ],
    );
}

#[test]
fn minority_quorum_breaks_b2() {
    assert_breaks(
        ParliamentSpecBug::MinorityQuorum,
        // A quorum of promises from one priest of three: its ballots ask that one priest,
        // and pass on no minority of votes, so only B2 breaks (before issue 21, when a
        // ballot passed once its whole quorum voted, agreement and the logs broke too).
        &["b2-quorums-intersect"],
    );
}

#[test]
fn overwriting_reported_votes_breaks_b3_agreement_and_logs() {
    assert_breaks(
        ParliamentSpecBug::OverwriteReported,
        &[
            "b3-respects-earlier-votes",
            "agreement",
            "logs-are-prefixes",
        ],
    );
}

#[test]
fn premature_success_breaks_learned_implies_chosen() {
    assert_breaks(
        ParliamentSpecBug::PrematureSuccess,
        &["learned-implies-chosen", "logs-are-prefixes"],
    );
}

#[test]
fn strict_vote_breaks_decree_chosen() {
    assert_breaks(
        ParliamentSpecBug::StrictVote,
        &["decree-chosen", "olive-day-decree-chosen"],
    );
}

#[test]
fn constants_beyond_the_model_are_refused() {
    let one = ParliamentSpecConfig {
        priests: 1,
        ..ParliamentSpecConfig::default()
    };
    assert!(one.validate().unwrap_err().contains("--priests"));
    let many = ParliamentSpecConfig {
        decrees: 9,
        ..ParliamentSpecConfig::default()
    };
    assert!(many.validate().unwrap_err().contains("--decrees"));
}
