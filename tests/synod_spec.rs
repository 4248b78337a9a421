//! `parliament check synod-spec`: the transliteration of `tla/Synod.tla` pins its state
//! counts, which are TLC's on `tla/MCSynod.tla` (distinct, generated and depth; TLC built from
//! the tlaplus sources and run with `tla/run-tlc.sh synod`, see `tla/README.md`), and every
//! property is broken by a seeded bug in the spec.

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::synod_spec::{SynodSpecBug, SynodSpecConfig};

fn check(rounds: usize, bug: SynodSpecBug) -> Report {
    let cfg = SynodSpecConfig {
        priests: 3,
        proposers: 2,
        rounds,
        bug,
    };
    let opts = CheckOptions {
        threads: 2,
        strategy: Strategy::Bfs,
        ..CheckOptions::default()
    };
    check::run(
        cfg.into_model(),
        "synod-spec",
        serde_json::Value::Null,
        &opts,
        None,
    )
}

/// The README's default constants (MCSynod.cfg): 3 priests, 2 proposers, rounds 1..2.
#[test]
fn default_constants_reach_275401_states() {
    let r = check(2, SynodSpecBug::None);
    assert!(r.complete && r.all_hold(), "{}", r.to_text());
    assert_eq!(
        (r.unique_states, r.total_states, r.max_depth),
        (275_401, 883_897, 28),
        "{}",
        r.to_text()
    );
}

#[test]
fn one_round_reaches_919_states() {
    let r = check(1, SynodSpecBug::None);
    assert!(r.complete && r.all_hold(), "{}", r.to_text());
    assert_eq!(
        (r.unique_states, r.total_states, r.max_depth),
        (919, 2_822, 16),
        "{}",
        r.to_text()
    );
}

fn assert_breaks(bug: SynodSpecBug, expected: &[&str]) {
    let r = check(1, bug);
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
        SynodSpecBug::NoTiebreak,
        &["b1-unique-ballots", "agreement"],
    );
}

#[test]
fn minority_quorum_breaks_b2() {
    assert_breaks(
        SynodSpecBug::MinorityQuorum,
        &["b2-quorums-intersect", "agreement"],
    );
}

#[test]
fn ignoring_last_votes_breaks_b3_and_agreement() {
    assert_breaks(
        SynodSpecBug::IgnoreLastVotes,
        &["b3-respects-earlier-votes", "agreement"],
    );
}

#[test]
fn premature_success_breaks_learned_implies_chosen() {
    assert_breaks(SynodSpecBug::PrematureSuccess, &["learned-implies-chosen"]);
}

#[test]
fn strict_vote_breaks_decree_chosen() {
    let r = check(1, SynodSpecBug::StrictVote);
    assert!(r.complete, "{}", r.to_text());
    assert_eq!(r.failures(), vec!["decree-chosen"], "{}", r.to_text());
}

#[test]
fn constants_beyond_the_compact_state_are_refused() {
    let cfg = SynodSpecConfig {
        priests: 5,
        proposers: 5,
        rounds: 2,
        bug: SynodSpecBug::None,
    };
    assert!(cfg.validate().is_err());
    let one = SynodSpecConfig {
        priests: 1,
        ..SynodSpecConfig::default()
    };
    assert!(one.validate().unwrap_err().contains("--priests"));
}
