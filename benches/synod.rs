//! What a Synod priest's handlers cost, and how fast the Synod model is checked.
//!
//! - `handlers/last-vote-round`: a president at the end of phase 1 receives the LastVote
//!   that completes its quorum (it promises, picks the decree, votes and sends BeginBallot),
//!   then the Voted that passes the decree (it writes the ledger and sends Success).
//! - `handlers/next-ballot` and `handlers/begin-ballot`: one priest answering each.
//! - `check/...`: the whole Synod model checked (BFS, 2 threads); criterion's throughput is
//!   total states per second.
//!
//! Run with `cargo bench --bench synod`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use parliament::ballot::{Ballot, Priests};
use parliament::check::{self, CheckOptions, Strategy};
use parliament::models::synod::SynodConfig;
use parliament::synod::{Ledger, Msg, PriestState, Status, SynodPriest};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn priest(me: u8) -> SynodPriest<char> {
    SynodPriest::new(me, Id::vec_from(0..3), Some('a'))
}

fn handlers(c: &mut Criterion) {
    let mut g = c.benchmark_group("handlers");
    let president = priest(0);
    let b = Ballot::new(1, 0);
    let trying = PriestState {
        ledger: Ledger {
            last_tried: Some(b),
            ..Ledger::default()
        },
        status: Status::Trying {
            promised: Priests::EMPTY,
            latest: None,
        },
        proposal: Some('a'),
        clients: Vec::new(),
    };
    g.bench_function("last-vote-round", |bench| {
        bench.iter_batched(
            || trying.clone(),
            |s| {
                let mut state = Cow::Owned(s);
                let mut out = Out::new();
                president.on_msg(
                    0.into(),
                    &mut state,
                    1.into(),
                    Msg::LastVote(b, None),
                    &mut out,
                );
                president.on_msg(0.into(), &mut state, 1.into(), Msg::Voted(b), &mut out);
                assert!(state.ledger.decree.is_some());
                out
            },
            BatchSize::SmallInput,
        )
    });
    let acceptor = priest(1);
    let idle = PriestState::<char> {
        ledger: Ledger::default(),
        status: Status::Idle,
        proposal: None,
        clients: Vec::new(),
    };
    g.bench_function("next-ballot", |bench| {
        bench.iter_batched(
            || idle.clone(),
            |s| {
                let mut state = Cow::Owned(s);
                let mut out = Out::new();
                acceptor.on_msg(1.into(), &mut state, 0.into(), Msg::NextBallot(b), &mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    let promised = PriestState {
        ledger: Ledger {
            next_bal: Some(b),
            ..Ledger::default()
        },
        ..idle.clone()
    };
    g.bench_function("begin-ballot", |bench| {
        bench.iter_batched(
            || promised.clone(),
            |s| {
                let mut state = Cow::Owned(s);
                let mut out = Out::new();
                acceptor.on_msg(
                    1.into(),
                    &mut state,
                    0.into(),
                    Msg::BeginBallot(b, 'a'),
                    &mut out,
                );
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn checking(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    let opts = CheckOptions {
        threads: 2,
        strategy: Strategy::Bfs,
        stop_on_failure: false,
        timeout: None,
        progress: false,
        ..CheckOptions::default()
    };
    for (name, cfg) in [
        ("synod-default-rounds-2", SynodConfig::default()),
        (
            "synod-crash-rounds-1",
            SynodConfig {
                rounds: 1,
                crashes: 1,
                ..SynodConfig::default()
            },
        ),
    ] {
        let total = check::run(
            cfg.clone().into_model(),
            "synod",
            serde_json::Value::Null,
            &opts,
            None,
        )
        .total_states;
        g.throughput(Throughput::Elements(total as u64));
        g.bench_function(name, |bench| {
            bench.iter(|| {
                check::run(
                    cfg.clone().into_model(),
                    "synod",
                    serde_json::Value::Null,
                    &opts,
                    None,
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, handlers, checking);
criterion_main!(benches);
