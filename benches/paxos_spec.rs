//! The paxos-spec check against TLC's 17.6 s (2 workers) for the same 185,369 states
//! (`docs/tla.md`). Run: `cargo bench --bench paxos_spec`.

use criterion::{criterion_group, criterion_main, Criterion};
use parliament::check::{self, CheckOptions, Strategy};
use parliament::models::paxos_spec::{PaxosSpecConfig, PaxosSymmetry};
use std::time::Duration;

fn check(max_ballot: usize, threads: usize, symmetry: Option<PaxosSymmetry>) -> usize {
    let cfg = PaxosSpecConfig {
        max_ballot,
        ..PaxosSpecConfig::default()
    };
    let opts = CheckOptions {
        threads,
        strategy: Strategy::Bfs,
        ..CheckOptions::default()
    };
    let r = check::run(
        cfg.into_model(),
        "paxos-spec",
        serde_json::Value::Null,
        &opts,
        symmetry.map(PaxosSymmetry::representative),
    );
    assert!(r.complete && r.all_hold());
    r.unique_states
}

fn paxos_spec(c: &mut Criterion) {
    let mut g = c.benchmark_group("paxos-spec 3 acceptors 2 values ballots 0..2");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for threads in [1, 2] {
        g.bench_function(format!("{threads} threads, 185,369 states"), |b| {
            b.iter(|| assert_eq!(check(2, threads, None), 185_369))
        });
    }
    g.bench_function("2 threads, symmetry all, 17,153 orbits", |b| {
        b.iter(|| assert_eq!(check(2, 2, Some(PaxosSymmetry::All)), 17_153))
    });
    g.finish();
}

criterion_group!(benches, paxos_spec);
criterion_main!(benches);
