//! The Parliament model checked exhaustively in several configurations (every count pinned,
//! every bound stated), and every seeded Parliament bug found by the checker.
//!
//! Bounds common to every configuration unless said otherwise: 3 priests, priest 0 starts as
//! president, candidates `proposers`, ballot rounds <= 1, decree numbers < 4, window 2,
//! batch 2, clients' scripts of one command (`cas x nil->i+1`), no client retries.

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::parliament::ParliamentConfig;
use parliament::models::synod::NetworkKind;
use parliament::parliament::Bug;

fn check(cfg: ParliamentConfig, stop_on_failure: bool) -> Report {
    cfg.validate().expect("valid config");
    let opts = CheckOptions {
        threads: 1,
        strategy: Strategy::Bfs,
        stop_on_failure,
        timeout: None,
        progress: false,
    };
    let json = serde_json::to_value(&cfg).unwrap();
    check::run(cfg.into_model(), "parliament", json, &opts, None)
}

const SAFETY: [&str; 8] = [
    "b1-unique-ballots",
    "b2-quorums-intersect",
    "b3-respects-earlier-votes",
    "agreement",
    "learned-implies-chosen",
    "logs-are-prefixes",
    "linearizable",
    "exactly-once",
];

fn assert_safe(r: &Report) {
    assert!(r.complete, "search must be complete:\n{}", r.to_text());
    for p in SAFETY {
        assert!(r.property(p).holds, "{p} must hold:\n{}", r.to_text());
    }
}

/// Default: 3 priests, 2 candidates, 2 clients, unordered non-duplicating network. No loss,
/// no crash, at most one takeover and room for every command: liveness is checked too.
#[test]
fn default_config_passes_every_property() {
    let r = check(ParliamentConfig::default(), false);
    assert_safe(&r);
    assert!(r.all_hold(), "{}", r.to_text());
    for p in [
        "decree-chosen",
        "president-changed",
        "gap-filled-with-no-op",
        "client-answered",
        "every-client-answered",
    ] {
        assert!(r.property(p).holds, "{p} must hold");
    }
    // 59,828 (depth 24) when the genesis president was in its own quorum and saved each decree it passed.
    // 657,432 (depth 28) before an elected president left its quorum when a late LastVote
    // let the others make one.
    assert_eq!(r.unique_states, 1_278_216);
    assert_eq!(r.max_depth, 32);
}

/// A lossy, duplicating network with a stable president (one candidate), 1 client that may
/// resend its command once to another priest.
#[test]
fn lossy_duplicating_network_with_a_retrying_client() {
    let r = check(
        ParliamentConfig {
            network: NetworkKind::Duplicating,
            lossy: true,
            proposers: 1,
            clients: 1,
            retries: 1,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.all_hold(), "{}", r.to_text());
    // 16,842 before a priest answered a repeated BeginBallot with Voted again; 20,682
    // when the genesis president was in its own quorum and saved each decree it passed.
    assert_eq!(r.unique_states, 101_334);
}

/// A duplicating network where the president sends heartbeats and a priest that learns
/// from a heartbeat that it lags asks for the decrees it lacks (catch-up): one candidate,
/// 2 clients.
#[test]
fn duplicating_network_with_heartbeats_and_catch_up() {
    let r = check(
        ParliamentConfig {
            network: NetworkKind::Duplicating,
            heartbeats: true,
            proposers: 1,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.all_hold(), "{}", r.to_text());
    assert!(r.property("every-client-answered").holds);
    // 73,464 before presidents asked again, on each heartbeat, for votes not yet arrived;
    // 93,732 when the genesis president was in its own quorum and saved each decree it passed.
    assert_eq!(r.unique_states, 142_214);
}

/// Heartbeats across a president change, on a duplicating network: 2 candidates, 1 client,
/// decree numbers < 2 (so no liveness: no room for an olive-day decree). An elected
/// president is in its own quorum until a late `LastVote` lets it leave; on each heartbeat
/// it asks the priests outside its quorum for their promise again, and saves what it learned
/// without a save. Safety only. The ghost records a `NextBallot` a priest sends again for
/// the same ballot as one try; before it did, this configuration reported a false
/// `b1-unique-ballots` violation, in which the renewed `NextBallot` counted as a second try.
#[test]
fn duplicating_network_with_heartbeats_and_a_president_change() {
    let r = check(
        ParliamentConfig {
            network: NetworkKind::Duplicating,
            heartbeats: true,
            clients: 1,
            decrees: 2,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.property("president-changed").holds);
    assert!(r.property("client-answered").holds);
    assert_eq!(r.unique_states, 2_776_029);
    assert_eq!(r.max_depth, 30);
}

/// A duplicating network (which, for safety, also covers loss: a message never delivered is
/// a lost one) with a president change: 2 candidates, 2 clients.
#[test]
fn duplicating_network_with_a_president_change() {
    let r = check(
        ParliamentConfig {
            network: NetworkKind::Duplicating,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.all_hold(), "{}", r.to_text());
    assert!(r.property("president-changed").holds);
    assert!(r.property("every-client-answered").holds);
    // 228,737 before a priest answered a repeated BeginBallot with Voted again; 279,897
    // when the genesis president was in its own quorum and saved each decree it passed.
    // 1,484,635 before an elected president left its quorum on a late LastVote.
    assert_eq!(r.unique_states, 3_215_545);
}

/// A lossy network with a president change: 2 candidates, 1 client.
#[test]
fn lossy_network_with_a_president_change() {
    let r = check(
        ParliamentConfig {
            lossy: true,
            clients: 1,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.property("president-changed").holds);
    assert!(r.property("client-answered").holds);
    // One client has one command in flight at a time: no gap can open.
    assert!(!r.property("gap-filled-with-no-op").holds);
    // 5,561 when the genesis president was in its own quorum and saved each decree it passed.
    // 11,703 before an elected president left its quorum on a late LastVote.
    assert_eq!(r.unique_states, 15_271);
}

/// One priest at a time may crash and restart from its ledger, with a president change:
/// 2 candidates, 1 client.
#[test]
fn one_crash_and_a_president_change() {
    let r = check(
        ParliamentConfig {
            crashes: 1,
            clients: 1,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.property("president-changed").holds);
    assert!(r.property("client-answered").holds);
    assert!(!r.property("gap-filled-with-no-op").holds);
    // 61,336 when the genesis president was in its own quorum and saved each decree it passed.
    // 194,790 before an elected president left its quorum on a late LastVote.
    assert_eq!(r.unique_states, 290_342);
}

/// A stable president (one candidate), no loss, no crash: liveness is checked. 2 clients of
/// two commands each (cas then get), decree numbers < 5, window 1 so commands queue.
#[test]
fn stable_president_answers_every_client() {
    let r = check(
        ParliamentConfig {
            proposers: 1,
            ops: 2,
            decrees: 5,
            window: 1,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.property("every-client-answered").holds, "{}", r.to_text());
    assert!(r.all_hold());
    // 20,169 when a get was a decree like any command, not a read; 2,425
    // when the genesis president was in its own quorum and saved each decree it passed.
    assert_eq!(r.unique_states, 7_009);
}

/// Reads (`get`) are answered by the president from its law after a confirmation round,
/// with no decree: here across a president change. 2 candidates, 1 client whose script is
/// `cas x nil->1`, `get x`, `put x=1`, `del x`; decree numbers < 6, so liveness is checked.
#[test]
fn reads_with_a_president_change() {
    let r = check(
        ParliamentConfig {
            clients: 1,
            ops: 4,
            decrees: 6,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&r);
    assert!(r.property("president-changed").holds);
    assert!(r.property("every-client-answered").holds, "{}", r.to_text());
    // 114,868 (depth 34) when the genesis president was in its own quorum and saved each decree it passed.
    // 397,680 (depth 39) before an elected president left its quorum on a late LastVote.
    assert_eq!(r.unique_states, 990_583);
    assert_eq!(r.max_depth, 47);
}

/// Reads when a priest may crash and restart, or on a lossy network, each with a president
/// change: 2 candidates, 1 client (`cas x nil->1`, then `get x`).
#[test]
fn reads_across_a_crash_and_on_a_lossy_network() {
    let crash = check(
        ParliamentConfig {
            clients: 1,
            ops: 2,
            crashes: 1,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&crash);
    assert!(crash.property("client-answered").holds);
    // 514,227 and 81,664 when the genesis president was in its own quorum and saved each decree it passed.
    // 2,867,900 and 298,496 before an elected president left its quorum on a late LastVote.
    assert_eq!(crash.unique_states, 5_979_412);
    let lossy = check(
        ParliamentConfig {
            clients: 1,
            ops: 2,
            lossy: true,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&lossy);
    assert!(lossy.property("client-answered").holds);
    assert_eq!(lossy.unique_states, 455_790);
}

/// Reads on a duplicating network (which also covers loss, for safety): with a stable
/// president and the whole script (`cas`, `get`, `put`, `del`; decree numbers < 6), and
/// across a president change (`cas`, then `get`). 1 client. Before a president remembered
/// each client's last read, a duplicated `get` began a confirmation round each time it came,
/// and neither search ended.
#[test]
fn reads_on_a_duplicating_network() {
    let stable = check(
        ParliamentConfig {
            network: NetworkKind::Duplicating,
            proposers: 1,
            clients: 1,
            ops: 4,
            decrees: 6,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&stable);
    assert!(stable.all_hold(), "{}", stable.to_text());
    assert!(stable.property("every-client-answered").holds);
    assert_eq!(stable.unique_states, 3_930);
    let change = check(
        ParliamentConfig {
            network: NetworkKind::Duplicating,
            clients: 1,
            ops: 2,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert_safe(&change);
    assert!(change.property("president-changed").holds);
    assert!(change.property("every-client-answered").holds);
    assert_eq!(change.unique_states, 81_254);
}

fn assert_found(bug: Bug, cfg: ParliamentConfig) {
    let breaks = bug.info().breaks;
    let r = check(ParliamentConfig { bug, ..cfg }, true);
    let p = r.property(breaks);
    assert!(!p.holds, "{bug} must break {breaks}:\n{}", r.to_text());
    assert!(p.counterexample.as_ref().is_some_and(|c| !c.is_empty()));
}

#[test]
fn every_seeded_bug_is_found() {
    for bug in Bug::ALL {
        let cfg = match bug {
            Bug::NoTiebreak => ParliamentConfig {
                proposers: 3,
                ..ParliamentConfig::default()
            },
            Bug::MinorityQuorum => ParliamentConfig {
                priests: 4,
                rounds: 2,
                clients: 1,
                ..ParliamentConfig::default()
            },
            // A deposed president that has not heard of its successor answers a get.
            Bug::ReadWithoutConfirm => ParliamentConfig {
                clients: 1,
                ops: 2,
                ..ParliamentConfig::default()
            },
            // A successor answers a get before the cas it re-proposed is applied.
            Bug::ReadIgnoresEarlierPresidents => ParliamentConfig {
                clients: 1,
                ops: 4,
                decrees: 6,
                ..ParliamentConfig::default()
            },
            Bug::StrandQueuedCommands => ParliamentConfig {
                proposers: 1,
                ops: 2,
                decrees: 5,
                window: 1,
                ..ParliamentConfig::default()
            },
            _ => ParliamentConfig::default(),
        };
        assert_found(bug, cfg);
    }
}

#[test]
fn bad_configs_are_refused_with_a_clear_message() {
    let e = ParliamentConfig {
        heartbeats: true,
        ..ParliamentConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(
        e.contains("--heartbeats needs --network duplicating"),
        "{e}"
    );
    let e = ParliamentConfig {
        clients: 0,
        ..ParliamentConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.contains("--clients"), "{e}");
    assert!("no-such-bug"
        .parse::<Bug>()
        .unwrap_err()
        .contains("skip-phase-one-on-takeover"));
}

/// `agreement` has its own witness: filling a reported vote's decree number with another
/// decree lets two decrees be chosen as the same number (found in the default config).
#[test]
fn fill_gap_with_own_decree_breaks_agreement() {
    let r = check(
        ParliamentConfig {
            bug: Bug::FillGapWithOwnDecree,
            ..ParliamentConfig::default()
        },
        false,
    );
    assert!(!r.property("agreement").holds, "{}", r.to_text());
    assert!(!r.property("b3-respects-earlier-votes").holds);
}

/// Symmetry: with 5 priests, priests 2, 3 and 4 (the genesis quorum, not candidates) are
/// interchangeable. 2 candidates, 1 client; DFS both ways so only the reduction differs.
#[test]
fn symmetry_over_the_genesis_quorum() {
    use parliament::models::parliament::representative_in_genesis_quorum;
    let cfg = ParliamentConfig {
        priests: 5,
        clients: 1,
        ..ParliamentConfig::default()
    };
    assert_eq!(cfg.symmetry_error(), None);
    let opts = |_: ()| CheckOptions {
        threads: 1,
        strategy: Strategy::Dfs,
        stop_on_failure: false,
        timeout: None,
        progress: false,
    };
    let json = serde_json::to_value(&cfg).unwrap();
    let full = check::run(
        cfg.clone().into_model(),
        "parliament",
        json.clone(),
        &opts(()),
        None,
    );
    let reduced = check::run(
        cfg.into_model(),
        "parliament",
        json,
        &opts(()),
        Some(representative_in_genesis_quorum),
    );
    assert_safe(&full);
    assert_safe(&reduced);
    for (a, b) in full.properties.iter().zip(&reduced.properties) {
        assert_eq!((a.name, a.holds), (b.name, b.holds));
    }
    assert!(reduced.property("every-client-answered").holds);
    // 32,071 and 17,760 when the genesis quorum was priests 0, 1 and 2, and only 3 and 4
    // were interchangeable.
    // 67,917 and 12,966 before an elected president left its quorum on a late LastVote.
    assert_eq!(full.unique_states, 145_748);
    assert_eq!(reduced.unique_states, 31_030);
    // With 3 priests and 2 candidates only priest 2 is left to permute.
    let e = ParliamentConfig::default().symmetry_error().unwrap();
    assert!(e.contains("--proposers at most 1"), "{e}");
    let e = ParliamentConfig {
        priests: 2,
        ..ParliamentConfig::default()
    }
    .symmetry_error()
    .unwrap();
    assert!(e.contains("at least 3 priests"), "{e}");
}
