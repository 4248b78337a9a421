//! The Parliament model checked in every pinned configuration, and every seeded Parliament
//! bug found in the configuration its `flags` name (which the correct protocol passes).
//!
//! Each row is the flags of `parliament check parliament`, how far the search goes, and the
//! exact number of distinct states and the greatest depth it reaches. The table in
//! `docs/verification.md` is checked against these rows (`the_docs_table_is_these_rows`).
//! Rows marked `ci: false` take minutes or gigabytes and run outside CI:
//! `cargo test --release --test parliament -- --ignored` (their figures are in the docs).

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::parliament::ParliamentConfig;
use parliament::parliament::Bug;

/// How far a row's search goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// Every reachable state within the model's own bounds.
    Complete,
    /// Every state at most this many steps from the start (breadth first).
    Depth(usize),
}

/// A pinned configuration.
pub struct Row {
    pub flags: &'static [&'static str],
    pub bound: Bound,
    /// Distinct states and greatest depth reached; `None` for a row outside CI not yet run
    /// on the current protocol (the docs say so).
    pub states: Option<usize>,
    pub depth: Option<usize>,
    /// What the row adds, for the docs.
    pub what: &'static str,
    /// The seeded bugs found in this configuration, each by the property it breaks: every
    /// bug whose own flags are this row, and others. A row that checks liveness names a
    /// liveness bug, a crash row a bug that needs a crash, a disk-loss row
    /// `rejoin-votes-at-once` (`every_row_shows_a_bug_for_what_it_claims`).
    pub bugs: &'static [&'static str],
}

const SAFETY: [&str; 9] = [
    "b1-unique-ballots",
    "b2-quorums-intersect",
    "b3-respects-earlier-votes",
    "validity",
    "agreement",
    "learned-implies-chosen",
    "logs-are-prefixes",
    "linearizable",
    "exactly-once",
];

fn options(bound: Bound, stop_on: Option<&'static str>, dfs: bool) -> CheckOptions {
    CheckOptions {
        threads: 1,
        strategy: if dfs { Strategy::Dfs } else { Strategy::Bfs },
        stop_on,
        max_depth: match bound {
            Bound::Complete => None,
            Bound::Depth(d) => Some(d),
        },
        ..CheckOptions::default()
    }
}

fn run(cfg: ParliamentConfig, opts: &CheckOptions) -> Report {
    cfg.validate().expect("valid config");
    let json = serde_json::to_value(&cfg).unwrap();
    check::run(cfg.into_model(), "parliament", json, opts, None)
}

/// Checks the correct protocol in `row`'s configuration: every safety property holds, every
/// `sometimes` the configuration can reach is reached, `every-client-answered` holds where
/// the configuration checks liveness and is reported not checked elsewhere; the counts are
/// exact.
fn check_row(row: &Row, ci: bool) {
    let cfg = ParliamentConfig::from_flags(row.flags).unwrap();
    let liveness = cfg.checks_liveness();
    // One client has one command in flight at a time, and one decree number has no gap
    // below it: then no gap is ever filled, and the report says so.
    let no_gap = cfg.why_no_gap().is_some();
    let takeovers = cfg.proposers > 1;
    let disk_loss = cfg.disk_loss > 0;
    // Rows outside CI search depth first: breadth first would hold millions of whole states.
    let r = run(cfg, &options(row.bound, None, !ci));
    let text = r.to_text();
    match row.bound {
        Bound::Complete => assert!(r.complete, "{:?} must be complete:\n{text}", row.flags),
        Bound::Depth(d) => {
            assert!(!r.complete && r.max_depth <= d + 1, "{text}");
            assert_eq!(r.depth_bound, Some(d), "{text}");
        }
    }
    for p in SAFETY {
        assert!(
            r.property(p).holds,
            "{p} must hold in {:?}:\n{text}",
            row.flags
        );
    }
    for p in ["decree-chosen", "client-answered"] {
        assert!(r.property(p).holds, "{p} must be reached:\n{text}");
    }
    if takeovers {
        assert!(r.property("president-changed").holds, "{text}");
        let gap = r.property("gap-filled-with-no-op");
        assert_eq!(gap.holds, !no_gap, "{text}");
        assert_eq!(gap.not_checked.is_some(), no_gap, "{text}");
    }
    if disk_loss {
        // A priest that lost its ledger does rejoin (the rule is not vacuous).
        assert!(r.property("rejoined").holds, "{text}");
    }
    let live = r.property("every-client-answered");
    if liveness && row.bound == Bound::Complete {
        assert!(live.holds, "every-client-answered must hold:\n{text}");
        assert_eq!(r.liveness_states, Some(r.unique_states));
    } else {
        assert!(live.not_checked.is_some() && !live.fails(), "{text}");
    }
    assert!(r.failures().is_empty(), "{text}");
    if row.bound == Bound::Complete {
        assert_eq!(r.exit_status(), 0, "{text}");
    }
    eprintln!(
        "{:?}: {} states, depth {}",
        row.flags, r.unique_states, r.max_depth
    );
    assert_eq!(Some(r.unique_states), row.states, "{:?}", row.flags);
    if row.depth.is_some() {
        assert_eq!(Some(r.max_depth), row.depth, "{:?}", row.flags);
    }
    // What this row claims can fail here: its seeded bugs are found in this very
    // configuration (a bug whose own flags are this row is run by
    // `every_seeded_bug_is_found_with_its_flags`).
    for name in row.bugs {
        let bug: Bug = name.parse().unwrap();
        if bug.flags() == row.flags {
            continue;
        }
        find_bug(bug, row, !ci);
    }
}

/// Checks `bug` in `row`'s configuration, with `row`'s bound, stopping at the first violation
/// of the property it breaks; asserts the checker finds one, with a counterexample. Returns
/// the counterexample's length in steps.
fn find_bug(bug: Bug, row: &Row, dfs: bool) -> Option<usize> {
    let breaks = bug.info().breaks;
    let cfg = ParliamentConfig {
        bug,
        ..ParliamentConfig::from_flags(row.flags).unwrap()
    };
    let r = run(cfg, &options(row.bound, Some(breaks), dfs));
    let p = r.property(breaks);
    assert!(
        p.fails(),
        "{bug} must break {breaks} in {:?}:\n{}",
        row.flags,
        r.to_text()
    );
    assert!(p.counterexample.as_ref().is_some_and(|c| !c.is_empty()));
    p.path_length
}

macro_rules! rows {
    ($($name:ident: ci $ci:literal, $what:literal, [$($f:literal),*], $bound:expr, $states:expr, $depth:expr, bugs [$($bug:literal),*];)*) => {
        /// Every pinned row, in the order of the docs' table.
        pub const ROWS: &[(&str, bool, Row)] = &[$((
            stringify!($name),
            $ci,
            Row { flags: &[$($f),*], bound: $bound, states: $states, depth: $depth, what: $what, bugs: &[$($bug),*] },
        )),*];
        $(
            #[test]
            #[cfg_attr(not($ci), ignore = "outside CI: minutes or gigabytes (see docs/verification.md)")]
            fn $name() {
                let row = ROWS.iter().find(|(n, _, _)| *n == stringify!($name)).unwrap();
                check_row(&row.2, row.1);
            }
        )*
    };
}

use Bound::{Complete, Depth};

rows! {
    default: ci false, "2 candidates, 2 clients (one takeover, olive-day gaps)", [], Complete, Some(1_565_378), None, bugs ["skip-phase-one-on-takeover", "fill-gap-with-own-decree", "apply-out-of-order", "no-session-dedup", "reply-before-chosen", "premature-success", "gap-filler-writes", "step-down-drops-commands"];
    stable_president_liveness: ci true, "stable president, 2 clients x 2 commands, window 1 (commands queue)", ["--proposers", "1", "--ops", "2", "--decrees", "5", "--window", "1"], Complete, Some(234_193), Some(25), bugs ["strand-queued-commands"];
    liveness_on_a_duplicating_network: ci true, "stable president, 2 clients, window 1 (a command queues), on a duplicating network (no terminal states)", ["--network", "duplicating", "--proposers", "1", "--window", "1"], Complete, Some(10_227), Some(16), bugs ["strand-queued-commands"];
    two_decrees_in_flight_on_a_duplicating_network: ci true, "stable president, 2 clients, two decrees in flight, duplicating network", ["--network", "duplicating", "--proposers", "1"], Complete, Some(20_707), Some(16), bugs ["apply-one-per-decree-learned"];
    heartbeats_and_catch_up: ci true, "heartbeats, the president's vote timer and catch-up, stable president, duplicating, 1 client: cas then get", ["--network", "duplicating", "--heartbeats", "--proposers", "1", "--clients", "1", "--ops", "2"], Complete, Some(23_235), Some(20), bugs ["confirm-needs-lower-promise", "late-vote-passes-alone"];
    heartbeats_across_a_president_change: ci false, "heartbeats, renewed NextBallot, president change", ["--network", "duplicating", "--heartbeats", "--clients", "1", "--decrees", "2"], Complete, Some(2_915_297), None, bugs ["premature-success"];
    duplicating_with_a_president_change: ci false, "duplicating network, president change, 2 clients", ["--network", "duplicating"], Complete, None, None, bugs ["apply-one-per-decree-learned"];
    lossy_duplicating_with_a_retrying_client: ci true, "lossy duplicating network, a client that resends once", ["--network", "duplicating", "--lossy", "--proposers", "1", "--clients", "1", "--retries", "1"], Complete, Some(181_846), Some(22), bugs ["no-session-dedup", "premature-success"];
    lossy_with_a_president_change: ci true, "lossy network, president change", ["--lossy", "--clients", "1"], Complete, Some(44_785), Some(18), bugs ["premature-success"];
    one_crash_one_client: ci true, "one crash at a time, president change, 1 client", ["--crashes", "1", "--clients", "1"], Complete, Some(351_354), Some(28), bugs ["forget-last-tried", "forget-vote", "president-forgets-own-vote"];
    one_crash_two_clients: ci false, "one crash at a time, 2 clients with different commands, one decree number: the crash bugs' configuration", ["--crashes", "1", "--decrees", "1"], Complete, Some(2_722_028), None, bugs ["forget-promise", "forget-vote", "forget-last-tried", "president-forgets-own-vote"];
    one_crash_two_clients_two_decrees_bounded: ci true, "one crash at a time, 2 clients with different commands, two decree numbers", ["--crashes", "1", "--decrees", "2"], Depth(12), Some(233_283), Some(12), bugs ["forget-promise", "forget-vote", "forget-last-tried", "president-forgets-own-vote"];
    third_ballots: ci true, "ballot rounds <= 2: third and later ballots, a non-genesis vote re-proposed", ["--rounds", "2", "--clients", "1"], Complete, Some(200_167), Some(23), bugs ["no-tiebreak", "premature-success"];
    three_candidates: ci true, "3 candidates (duels; no-tiebreak's configuration)", ["--proposers", "3", "--clients", "1"], Complete, Some(43_529), Some(20), bugs ["no-tiebreak"];
    four_priests: ci true, "4 priests, one decree number (quorum-of-the-asked's configuration)", ["--priests", "4", "--clients", "1", "--decrees", "1"], Complete, Some(29_530), Some(22), bugs ["quorum-of-the-asked"];
    four_priests_three_candidates: ci false, "4 priests, 3 candidates (duels over two minority quorums: minority-quorum's configuration)", ["--priests", "4", "--proposers", "3", "--clients", "1"], Complete, Some(2_231_405), None, bugs ["minority-quorum", "no-tiebreak", "premature-success"];
    disk_loss_and_rejoin: ci true, "a priest loses its whole ledger and rejoins; 2 clients, one decree number", ["--disk-loss", "1", "--decrees", "1"], Complete, Some(362_685), Some(22), bugs ["rejoin-votes-at-once"];
    reads_across_a_president_change: ci false, "reads: cas, get, put, del across a president change", ["--clients", "1", "--ops", "4", "--decrees", "6"], Complete, None, None, bugs ["read-ignores-earlier-presidents", "confirm-needs-lower-promise", "step-down-drops-commands"];
    reads_read_without_confirm_config: ci true, "reads: cas then get, president change (read-without-confirm's and step-down-drops-commands's configuration)", ["--clients", "1", "--ops", "2"], Complete, Some(44_928), Some(23), bugs ["read-without-confirm", "confirm-needs-lower-promise", "step-down-drops-commands", "read-ignores-earlier-presidents"];
    reads_with_a_crash: ci false, "reads with one crash at a time", ["--clients", "1", "--ops", "2", "--crashes", "1"], Complete, Some(11_884_980), None, bugs ["forget-last-tried"];
    reads_on_a_lossy_network: ci false, "reads on a lossy network", ["--clients", "1", "--ops", "2", "--lossy"], Complete, Some(3_031_928), None, bugs ["read-without-confirm", "premature-success"];
    reads_on_a_lossy_network_stable: ci true, "reads on a lossy network, stable president", ["--clients", "1", "--ops", "2", "--lossy", "--proposers", "1"], Complete, Some(1_971), Some(14), bugs ["premature-success"];
    reads_on_a_duplicating_network_stable: ci true, "reads on a duplicating network, stable president: cas, get, put", ["--network", "duplicating", "--proposers", "1", "--clients", "1", "--ops", "3", "--decrees", "5"], Complete, Some(11_362), Some(21), bugs ["confirm-needs-lower-promise"];
    reads_on_a_duplicating_network_change: ci false, "reads on a duplicating network, president change", ["--network", "duplicating", "--clients", "1", "--ops", "2"], Complete, Some(409_001), None, bugs ["confirm-needs-lower-promise", "read-without-confirm"];
    snapshots: ci false, "snapshots and truncation at any moment, a president change with a lagging priest, cas, get, put", ["--snapshots", "--clients", "1", "--ops", "3", "--decrees", "2", "--window", "1"], Complete, Some(19_866_813), None, bugs ["truncate-unchosen", "snapshot-without-sessions", "install-stale-snapshot"];
    snapshots_liveness: ci true, "snapshots and truncation at any moment: cas then get across a president change with a lagging priest, liveness (the snapshot bugs' configuration)", ["--snapshots", "--clients", "1", "--ops", "2", "--window", "1", "--decrees", "3"], Complete, Some(844_870), Some(27), bugs ["truncate-unchosen", "snapshot-without-sessions", "install-stale-snapshot", "install-drops-replies", "confirm-needs-lower-promise"];
    snapshots_catch_up_by_heartbeat: ci true, "snapshots: lagging priests catch up by snapshot through heartbeats, duplicating", ["--snapshots", "--network", "duplicating", "--heartbeats", "--proposers", "1", "--clients", "1", "--decrees", "1"], Complete, Some(29_623), Some(22), bugs ["snapshot-without-sessions", "late-vote-passes-alone"];
    session_expiry: ci true, "sessions forgotten after one idle decree number (stamps are decree numbers): late commands refused; 2 priests", ["--expire-after", "1", "--ops", "3", "--proposers", "1", "--priests", "2"], Complete, Some(9_221), Some(29), bugs ["expired-session-reexecutes"];
    redis_increments_in_one_decree: ci true, "Redis's string commands: 3 clients increment one key, one decree in flight, so two increments pass in one decree (batch-reads-before-its-decree's configuration)", ["--script", "redis", "--proposers", "1", "--clients", "3", "--window", "1", "--decrees", "2"], Complete, Some(27_037), Some(17), bugs ["batch-reads-before-its-decree"];
    redis_mset_against_mget: ci true, "Redis's string commands: incr, then one client's mset (x and y) against the other's mget; 2 priests", ["--script", "redis", "--proposers", "1", "--ops", "2", "--decrees", "5", "--priests", "2"], Complete, Some(1_849), Some(20), bugs ["reply-before-chosen"];
    redis_every_command: ci true, "Redis's string commands: one client runs incr, mset, mget, append, getdel, set nx; 2 priests", ["--script", "redis", "--proposers", "1", "--clients", "1", "--ops", "6", "--decrees", "7", "--priests", "2"], Complete, Some(203), Some(30), bugs ["reply-before-chosen"];
    multi_conditional_transactions: ci true, "transactions: 2 clients each run one conditional on x being absent (multi watch x=nil { set x; incr y }), one decree in flight, liveness", ["--script", "multi", "--proposers", "1", "--ops", "1", "--window", "1"], Complete, Some(2_385), Some(15), bugs ["watch-ignored", "strand-queued-commands"];
    multi_transactions_against_each_other: ci true, "transactions: the conditional one, then multi { incr y; mget x y } against the other client's; 2 priests", ["--script", "multi", "--proposers", "1", "--ops", "2", "--decrees", "5", "--priests", "2"], Complete, Some(3_157), Some(21), bugs ["watch-ignored", "reply-before-chosen", "transaction-reads-before-its-writes"];
    expire_set_against_pttl: ci true, "keys that expire (the time is the decree number): 3 clients, one sets x to expire, one asks its PTTL, one sets it again, one decree in flight (expire-by-own-clock's configuration)", ["--script", "expire", "--proposers", "1", "--clients", "3", "--window", "1", "--decrees", "2"], Complete, Some(27_037), Some(17), bugs ["expire-by-own-clock"];
    change_add: ci false, "membership: priest 3 added (3 -> 4 priests), one candidate, 2 clients, liveness", ["--change", "add", "--proposers", "1", "--decrees", "5"], Complete, Some(1_341_041), None, bugs ["alpha-zero", "old-quorum-after-change", "strand-queued-commands"];
    change_add_then_read: ci true, "membership: priest 3 added, one candidate, 1 client: cas then get, liveness", ["--change", "add", "--proposers", "1", "--clients", "1", "--ops", "2", "--window", "1", "--decrees", "4"], Complete, Some(59_269), Some(32), bugs ["old-quorum-after-change", "confirm-needs-lower-promise"];
    change_replace: ci false, "membership: priest 2 replaced by priest 3 in one change, 2 clients, liveness", ["--change", "replace", "--proposers", "1", "--decrees", "5"], Complete, Some(438_641), None, bugs ["old-quorum-after-change", "strand-queued-commands"];
    change_replace_then_read: ci true, "membership: priest 2 replaced by priest 3 in one change, 1 client: cas then get, liveness", ["--change", "replace", "--proposers", "1", "--clients", "1", "--ops", "2", "--window", "1", "--decrees", "4"], Complete, Some(17_157), Some(26), bugs ["old-quorum-after-change", "confirm-needs-lower-promise"];
    change_readd: ci false, "membership: priest 2 removed (3 -> 2), its machine wiped and added again as a new ledger, 2 clients, liveness", ["--change", "readd", "--proposers", "1", "--rounds", "2", "--decrees", "6"], Complete, Some(429_329), None, bugs ["reuse-removed-id", "strand-queued-commands"];
    change_readd_then_read: ci true, "membership: priest 2 removed (3 -> 2), its machine wiped and added again as a new ledger, 1 client: cas then get, liveness", ["--change", "readd", "--proposers", "1", "--rounds", "2", "--clients", "1", "--ops", "2", "--window", "1", "--decrees", "5"], Complete, Some(13_925), Some(35), bugs ["reuse-removed-id", "promote-before-caught-up", "confirm-needs-lower-promise"];
    change_readd_duplicating: ci false, "the same on a duplicating network, 2 clients: requests for the removed ledger reach the new one", ["--change", "readd", "--proposers", "1", "--rounds", "2", "--decrees", "6", "--network", "duplicating"], Complete, Some(1_776_979), None, bugs ["promote-before-caught-up", "reuse-removed-id", "strand-queued-commands"];
    change_readd_duplicating_then_read: ci true, "the same on a duplicating network, 1 client: cas then get", ["--change", "readd", "--proposers", "1", "--rounds", "2", "--clients", "1", "--ops", "2", "--window", "1", "--decrees", "5", "--network", "duplicating"], Complete, Some(60_414), Some(36), bugs ["promote-before-caught-up", "reuse-removed-id", "confirm-needs-lower-promise"];
    change_readd_lost: ci true, "membership: priest 2's ledger lost at any time (even while a member), the machine started again as a new ledger, priest 2 removed and added again for it; 1 client", ["--change", "readd-lost", "--proposers", "1", "--rounds", "2", "--clients", "1", "--window", "1", "--decrees", "4"], Complete, Some(14_618), Some(30), bugs ["reuse-removed-id", "promote-before-caught-up"];
    change_add_takeover: ci true, "membership: priest 3 added while priest 1 may take over, 1 client", ["--change", "add", "--clients", "1", "--decrees", "5"], Complete, Some(258_868), Some(33), bugs ["alpha-zero", "old-quorum-after-change"];
    change_add_crash: ci true, "membership: priest 3 added, one crash at a time, 1 client", ["--change", "add", "--clients", "1", "--proposers", "1", "--crashes", "1"], Complete, Some(92_345), Some(28), bugs ["forget-last-tried"];
    change_alpha_two: ci true, "membership: priest 3 added with a lookahead of 2 (olive-day decrees bring the change into force), 1 client, liveness", ["--change", "add", "--proposers", "1", "--alpha", "2", "--clients", "1", "--decrees", "5"], Complete, Some(245_893), Some(31), bugs ["no-olive-day-fillers"];
    change_remove_president: ci true, "membership: priest 0, the president, removed; it hands over to priest 1, 1 client", ["--change", "remove-president", "--clients", "1", "--decrees", "5"], Complete, Some(9_560), Some(19), bugs ["old-quorum-after-change", "alpha-zero"];
    change_replace_takeover: ci false, "membership: priest 2 replaced while priest 1 may take over, 2 clients", ["--change", "replace", "--decrees", "5"], Complete, None, None, bugs ["old-quorum-after-change", "alpha-zero"];
    snapshots_with_a_crash: ci false, "snapshots with one crash at a time: restarts from a snapshot", ["--snapshots", "--crashes", "1", "--clients", "1", "--decrees", "1"], Complete, Some(5_538_810), None, bugs ["forget-last-tried", "snapshot-without-sessions"];
}

/// The seeded bugs that need a crash to be found (the other `--crashes` bugs, `forget-vote`
/// and `president-forgets-own-vote`, are found without one: see docs/verification.md).
const CRASH_BUGS: [&str; 2] = ["forget-promise", "forget-last-tried"];

/// Every row names the seeded bugs found in it (run by the row's test), and among them one
/// for each thing it claims: a liveness bug where it checks liveness (none where it does
/// not), a bug that needs a crash where priests crash, `rejoin-votes-at-once` where ledgers
/// are lost; and every bug whose own flags are the row.
#[test]
fn every_row_shows_a_bug_for_what_it_claims() {
    for (name, _, row) in ROWS {
        let cfg = ParliamentConfig::from_flags(row.flags).unwrap();
        let bugs: Vec<Bug> = row.bugs.iter().map(|b| b.parse().unwrap()).collect();
        let claims = cfg.checks_liveness() && row.bound == Bound::Complete;
        let live = bugs
            .iter()
            .any(|b| b.info().breaks == "every-client-answered");
        assert_eq!(
            claims, live,
            "{name}: checks liveness {claims}, bugs {bugs:?}"
        );
        if cfg.crashes > 0 {
            assert!(
                bugs.iter().any(|b| CRASH_BUGS.contains(&b.name())),
                "{name}: a crash row shows no bug that needs a crash"
            );
        }
        if cfg.disk_loss > 0 {
            assert!(bugs.contains(&Bug::RejoinVotesAtOnce), "{name}");
        }
        for bug in Bug::ALL.iter().filter(|b| b.flags() == row.flags) {
            assert!(
                bugs.contains(bug),
                "{name} does not list {bug}, whose flags it is"
            );
        }
    }
}

/// Every seeded bug is found, by the property it names, in the configuration of its flags;
/// and that configuration is a pinned row, so the correct protocol passes it.
#[test]
fn every_seeded_bug_is_found_with_its_flags() {
    let mut lines = Vec::new();
    for bug in Bug::ALL {
        let info = bug.info();
        let row = ROWS
            .iter()
            .find(|(_, _, r)| r.flags == info.flags)
            .unwrap_or_else(|| panic!("{bug}'s flags {:?} are no pinned row", info.flags));
        let steps = find_bug(bug, &row.2, false);
        lines.push(format!("{bug}: {} after {:?} steps", info.breaks, steps));
    }
    eprintln!("{}", lines.join("\n"));
}

/// Every `always` property and `every-client-answered` is broken by some seeded bug.
#[test]
fn every_property_has_a_bug_that_breaks_it() {
    let broken: Vec<&str> = Bug::ALL.iter().map(|b| b.info().breaks).collect();
    for p in SAFETY.iter().chain(&["every-client-answered"]) {
        assert!(broken.contains(p), "no seeded bug breaks {p}");
    }
}

/// The table of checked configurations in `docs/verification.md` is these rows.
#[test]
fn the_docs_table_is_these_rows() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verification.md"))
            .expect("docs/verification.md");
    let mut missing = Vec::new();
    for (_, ci, row) in ROWS {
        let line = doc_line(row, *ci);
        if !docs.contains(&line) {
            missing.push(line);
        }
    }
    for bug in Bug::ALL {
        let info = bug.info();
        let line = format!(
            "| `{}` | `{}` | `{}--bug {}` |",
            info.name,
            info.breaks,
            info.flags
                .iter()
                .map(|f| format!("{f} "))
                .collect::<String>(),
            info.name
        );
        if !docs.contains(&line) {
            missing.push(line);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/verification.md lacks these lines:\n{}",
        missing.join("\n")
    );
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A row of the docs' table: flags, bound, states, depth, liveness, the seeded bugs found
/// there, where it runs.
fn doc_line(row: &Row, ci: bool) -> String {
    let cfg = ParliamentConfig::from_flags(row.flags).unwrap();
    let flags = if row.flags.is_empty() {
        "(defaults)".to_string()
    } else {
        format!("`{}`", row.flags.join(" "))
    };
    let bound = match row.bound {
        Bound::Complete => "complete".to_string(),
        Bound::Depth(d) => format!("bounded: depth <= {d}"),
    };
    let live = match (cfg.checks_liveness(), row.bound) {
        (true, Bound::Complete) => "checked",
        _ => "not checked",
    };
    let bugs = if row.bugs.is_empty() {
        "-".to_string()
    } else {
        row.bugs
            .iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "| {} | {flags} | {bound} | {} | {} | {live} | {bugs} | {} |",
        row.what,
        row.states.map_or("not yet run".into(), thousands),
        row.depth.map_or("-".into(), |d| d.to_string()),
        if ci { "CI" } else { "outside CI (DFS)" }
    )
}

/// Symmetry: with 5 priests, priests 2, 3 and 4 (neither priest 0 nor a candidate) are
/// interchangeable. A stable president, 1 client: cas then get (a decree and a confirmation
/// round, both over every priest); DFS both ways so only the reduction differs.
#[test]
fn symmetry_over_the_genesis_quorum() {
    use parliament::models::parliament::representative_in_genesis_quorum;
    let cfg = ParliamentConfig::from_flags(&[
        "--priests",
        "5",
        "--clients",
        "1",
        "--ops",
        "2",
        "--proposers",
        "1",
    ])
    .unwrap();
    assert_eq!(cfg.symmetry_error(), None);
    let opts = CheckOptions {
        threads: 1,
        strategy: Strategy::Dfs,
        ..CheckOptions::default()
    };
    let json = serde_json::to_value(&cfg).unwrap();
    let full = check::run(
        cfg.clone().into_model(),
        "parliament",
        json.clone(),
        &opts,
        None,
    );
    let reduced = check::run(
        cfg.into_model(),
        "parliament",
        json,
        &opts,
        Some(representative_in_genesis_quorum),
    );
    for r in [&full, &reduced] {
        assert!(r.complete, "{}", r.to_text());
        assert!(r.failures().is_empty(), "{}", r.to_text());
        assert!(r.property("client-answered").holds);
        assert!(r.property("every-client-answered").holds);
    }
    for (a, b) in full.properties.iter().zip(&reduced.properties) {
        assert_eq!((a.name, a.holds), (b.name, b.holds));
    }
    // With 2 candidates and one command (the configuration until issue 21, 185,666 and
    // 34,115 states) it grew to about 1.16 million unreduced once a decree passed on the
    // first quorum of votes.
    assert_eq!((full.unique_states, reduced.unique_states), (37_681, 7_011));
    let e = ParliamentConfig::default().symmetry_error().unwrap();
    assert!(e.contains("--proposers at most 1"), "{e}");
    let e = ParliamentConfig::from_flags(&["--priests", "2"])
        .unwrap()
        .symmetry_error()
        .unwrap();
    assert!(e.contains("at least 3 priests"), "{e}");
}

/// Symmetry is exact: a state and its permutations map to one representative (checked on
/// every state of a small search, with a president whose pending ballots name the
/// permuted priests).
#[test]
fn symmetry_is_exact() {
    use parliament::models::parliament::{representative, ParliamentState};
    use stateright::Model;
    let cfg =
        ParliamentConfig::from_flags(&["--priests", "5", "--clients", "2", "--proposers", "1"])
            .unwrap();
    let movable = cfg.interchangeable();
    assert_eq!(movable, vec![2, 3, 4]);
    let model = cfg.into_model();
    let mut frontier: Vec<ParliamentState> = model.init_states();
    let mut checked = 0;
    for _ in 0..6 {
        let mut next = Vec::new();
        for s in &frontier {
            let rep = representative(s, &movable);
            for perm in [[3, 2, 4], [4, 3, 2], [2, 4, 3]] {
                let mut new_to_old: Vec<usize> = (0..s.actor_states.len()).collect();
                for (i, &p) in movable.iter().enumerate() {
                    new_to_old[p] = perm[i];
                }
                let moved = parliament::models::parliament::permuted(s, &new_to_old);
                assert_eq!(representative(&moved, &movable), rep);
                checked += 1;
            }
            let mut actions = Vec::new();
            model.actions(s, &mut actions);
            next.extend(actions.into_iter().filter_map(|a| model.next_state(s, a)));
        }
        frontier = next;
        frontier.truncate(2_000);
    }
    assert!(checked > 1_000);
}

#[test]
fn the_model_is_deterministic() {
    use parliament::models::determinism::first_nondeterministic_step;
    let m = ParliamentConfig::default().into_model();
    assert_eq!(first_nondeterministic_step(&m, 20_000), None);
}

#[test]
fn bad_configs_are_refused_with_a_clear_message() {
    let e = ParliamentConfig::from_flags(&["--heartbeats"])
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        e.contains("--heartbeats needs --network duplicating"),
        "{e}"
    );
    let e = ParliamentConfig::from_flags(&["--clients", "0"])
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.contains("--clients"), "{e}");
    let e = ParliamentConfig::from_flags(&["--disk-loss", "4"])
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.contains("--disk-loss"), "{e}");
    assert!(ParliamentConfig::from_flags(&["--bug", "no-such-bug"])
        .unwrap_err()
        .contains("skip-phase-one-on-takeover"));
}

/// A check stopped by its timeout does not know whether `every-client-answered` holds: the
/// states it did not expand are not dead ends. It says so (JSON `holds: null`), reports no
/// failure, and its exit status is 3.
#[test]
fn a_timed_out_check_leaves_liveness_unknown() {
    let cfg = ParliamentConfig::default();
    let opts = CheckOptions {
        threads: 1,
        timeout: Some(std::time::Duration::from_millis(300)),
        ..CheckOptions::default()
    };
    let r = run(cfg, &opts);
    assert!(!r.complete);
    let p = r.property("every-client-answered");
    assert!(!p.holds && !p.fails(), "{}", r.to_text());
    assert!(p.not_checked.as_ref().unwrap().contains("timed out"));
    assert!(r.failures().is_empty(), "{}", r.to_text());
    assert_eq!(r.exit_status(), 3);
    let j = serde_json::to_value(&r).unwrap();
    let p = j["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "every-client-answered")
        .unwrap();
    assert!(p["holds"].is_null(), "{p}");
}

/// The same from the command line: exit status 3, and the report says `not checked`; a
/// configuration that cannot decide liveness says why and still exits 0.
#[test]
fn exit_statuses_from_the_command_line() {
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_parliament"))
            .args(args)
            .output()
            .expect("parliament runs")
    };
    let out = cli(&["check", "parliament", "--timeout", "1", "--threads", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("INCOMPLETE") && text.contains("not checked"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    let out = cli(&[
        "check",
        "parliament",
        "--lossy",
        "--clients",
        "1",
        "--proposers",
        "1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("not checked (not in this configuration: messages may be lost"),
        "{text}"
    );
    let out = cli(&[
        "check",
        "parliament",
        "--crashes",
        "1",
        "--clients",
        "1",
        "--max-depth",
        "5",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("BOUNDED"), "{text}");
}
