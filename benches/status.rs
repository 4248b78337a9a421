//! The cost the status view adds to a priest: the runtime calls the status board's observer
//! after every batch, and the listener formats INFO when asked.
//!
//! Run with `cargo bench --bench status`. The priest knows 100,000 passed decrees, so the
//! figures show that publishing does not grow with the log.

use criterion::{criterion_group, criterion_main, Criterion};
use parliament::host::Counters;
use parliament::parliament::{Decree, Ledger, ParliamentPriest};
use parliament::service::status::Board;
use stateright::actor::{Actor, Id, Out};
use std::hint::black_box;

fn status(c: &mut Criterion) {
    let mut ledger = Ledger::genesis(1);
    for n in 0..100_000 {
        ledger.learned.insert(n, Decree::OliveDay);
    }
    let priest = ParliamentPriest::new(1, Id::vec_from(0..3));
    let state = priest.on_start(Id::from(1), &Some(ledger), &mut Out::new());
    assert_eq!(state.highest_applied(), Some(99_999));
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("log-0"), [0u8; 4096]).unwrap();
    let board = Board::new(1, dir.path().to_path_buf());
    let mut observe = board.observer();
    let counters = Counters::default();
    let mut g = c.benchmark_group("status");
    g.bench_function("publish_after_a_batch", |b| {
        b.iter(|| observe(black_box(&state), black_box(&counters)))
    });
    g.bench_function("info_reply", |b| b.iter(|| black_box(board.info(None))));
    g.finish();
}

criterion_group!(benches, status);
criterion_main!(benches);
