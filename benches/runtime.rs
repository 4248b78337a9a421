//! Benchmarks of the host (`parliament::host`): journal saves (flat in the size of the prior ledger), the wire
//! codec for each Synod message, and a whole Synod round between three priests over loopback.
//!
//! Run with `cargo bench --bench runtime`. Ledgers are written under the target directory (a
//! real disk, so every save pays a real `fdatasync`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use im::OrdMap;
use parliament::ballot::Ballot;
use parliament::host::journal::{Durable, Journal, JournalOptions};
use parliament::host::wire::{self, Key};
use parliament::host::{client_id, Node, NodeConfig};
use parliament::synod::{self, Msg, SynodPriest, Vote};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::hint::black_box;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn ledger_saves(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger_save");
    g.sample_size(50);
    // A Parliament-like ledger: decrees by number in an `im` map, saved as deltas.
    for prior in [10u64, 1_000_000] {
        let dir = tmpdir();
        let (mut ledger, _, _) =
            Journal::<OrdMap<u64, String>>::open(dir.path(), JournalOptions::default()).unwrap();
        let mut state: OrdMap<u64, String> =
            (0..prior).map(|i| (i, format!("decree {i}"))).collect();
        ledger.save(&state).unwrap();
        let mut n = prior;
        g.bench_function(format!("add_one_decree_prior_{prior}"), |b| {
            b.iter(|| {
                state.insert(n, format!("decree {n}"));
                n += 1;
                black_box(ledger.save(&state).unwrap());
            })
        });
        ledger.finish_compaction().unwrap();
        if prior > 100_000 && n > prior {
            let snaps = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("snap-")
                })
                .count();
            assert_eq!(
                snaps, 1,
                "the large ledger was compacted while saves went on"
            );
        }
    }
    // The CPU part of a save, without the disk: the delta of one added decree, encoded.
    for prior in [10u64, 1_000_000] {
        let prev: OrdMap<u64, String> = (0..prior).map(|i| (i, format!("decree {i}"))).collect();
        let mut next = prev.clone();
        next.insert(prior, "one more".to_string());
        g.bench_function(format!("delta_and_encode_prior_{prior}"), |b| {
            b.iter(|| postcard::to_stdvec(&black_box(&next).delta(black_box(&prev))).unwrap())
        });
    }
    // The machine's floor: append 40 bytes to a file and fdatasync, with no ledger.
    let dir = tmpdir();
    let mut raw = std::fs::File::create(dir.path().join("raw")).unwrap();
    g.bench_function("baseline_raw_append_fdatasync", |b| {
        b.iter(|| {
            raw.write_all(&[7u8; 40]).unwrap();
            raw.sync_data().unwrap();
        })
    });
    let dir = tmpdir();
    let (mut ledger, _, _) =
        Journal::<synod::Ledger<String>>::open(dir.path(), JournalOptions::default()).unwrap();
    let mut l = synod::Ledger::<String>::default();
    let mut round = 0;
    g.bench_function("synod_ledger_whole", |b| {
        b.iter(|| {
            round += 1;
            l.next_bal = Some(Ballot::new(round, 1));
            black_box(ledger.save(&l).unwrap());
        })
    });
    g.finish();
}

fn messages() -> Vec<(&'static str, Msg<String>)> {
    let b = Ballot::new(12, 1);
    let d = "set x = 42".to_string();
    vec![
        ("NextBallot", Msg::NextBallot(b)),
        (
            "LastVote",
            Msg::LastVote(
                b,
                Some(Vote {
                    ballot: Ballot::new(11, 2),
                    decree: d.clone(),
                }),
            ),
        ),
        ("BeginBallot", Msg::BeginBallot(b, d.clone())),
        ("Voted", Msg::Voted(b)),
        ("Success", Msg::Success(d.clone())),
        ("Propose", Msg::Propose(d.clone())),
        ("Chosen", Msg::Chosen(d)),
    ]
}

fn codec(c: &mut Criterion) {
    let key = Key::random();
    let mut g = c.benchmark_group("wire");
    let mut buf = Vec::new();
    for (name, msg) in messages() {
        wire::encode(&key, Id::from(1usize), &msg, &mut buf).unwrap();
        println!("{name}: {} bytes on the wire", buf.len());
        g.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| wire::encode(&key, Id::from(1usize), black_box(&msg), &mut buf).unwrap())
        });
        wire::encode(&key, Id::from(1usize), &msg, &mut buf).unwrap();
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| wire::decode::<Msg<String>>(&key, black_box(&buf)).unwrap())
        });
    }
    g.finish();
}

struct Round {
    nodes: Vec<Node<SynodPriest<String>>>,
    client: UdpSocket,
    propose: Vec<u8>,
    to: SocketAddr,
    _dirs: Vec<tempfile::TempDir>,
}

fn fresh_round(key: &Key) -> Round {
    let sockets: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    drop(sockets);
    let dirs: Vec<_> = (0..3).map(|_| tmpdir()).collect();
    let nodes = (0..3)
        .map(|i| {
            let actor = SynodPriest::new(i as u8, Id::vec_from(0..3), None);
            let cfg = NodeConfig {
                me: i,
                priests: addrs.clone(),
                directory: None,
                bind: None,
                key: key.clone(),
                ledger_dir: dirs[i].path().to_path_buf(),
                journal: JournalOptions::default(),
                max_batch: 256,
                save_delay: Duration::ZERO,
                comeback: None,
                send_before_sync: false,
            };
            Node::start(actor, cfg).unwrap()
        })
        .collect();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_nonblocking(true).unwrap();
    let mut propose = Vec::new();
    wire::encode(
        key,
        client_id(),
        &Msg::Propose("decree".to_string()),
        &mut propose,
    )
    .unwrap();
    Round {
        nodes,
        client,
        propose,
        to: addrs[0],
        _dirs: dirs,
    }
}

/// A client's Propose to priest 0, then NextBallot, LastVote, BeginBallot, Voted, Success and
/// Chosen, each priest syncing its ledger before it sends.
fn run_round(key: &Key, mut r: Round) -> Round {
    r.client.send_to(&r.propose, r.to).unwrap();
    let mut buf = [0u8; 2048];
    loop {
        for n in &mut r.nodes {
            n.step(Duration::ZERO).unwrap();
        }
        if let Ok((len, _)) = r.client.recv_from(&mut buf) {
            let msgs = wire::decode::<Msg<String>>(key, &buf[..len]).unwrap();
            assert!(msgs
                .iter()
                .any(|(_, m)| *m == Msg::Chosen("decree".to_string())));
            return r;
        }
    }
}

fn loopback_round(c: &mut Criterion) {
    let key = Key::random();
    let mut g = c.benchmark_group("loopback");
    g.sample_size(30);
    g.bench_function("synod_round_three_priests", |b| {
        b.iter_batched(
            || fresh_round(&key),
            |r| run_round(&key, r),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// A minimal actor for measuring the runtime itself: it counts pings in its ledger and
/// answers each one.
#[derive(Clone)]
struct Counter;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Count(u64);

impl Durable for Count {
    type Delta = ();
}

impl Actor for Counter {
    type Msg = u64;
    type State = u64;
    type Timer = ();
    type Random = ();
    type Storage = Count;

    fn on_start(&self, _: Id, storage: &Option<Count>, _: &mut Out<Self>) -> u64 {
        storage.as_ref().map_or(0, |c| c.0)
    }

    fn on_msg(&self, _: Id, state: &mut Cow<u64>, src: Id, msg: u64, o: &mut Out<Self>) {
        *state.to_mut() += 1;
        o.save(Count(**state));
        o.send(src, msg);
    }
}

/// A burst of 256 pings from a peer, handled in group-committed batches (one sync each),
/// answered, and the answers received: the runtime's cost per message.
fn group_commit(c: &mut Criterion) {
    const BURST: u64 = 256;
    let key = Key::random();
    let dir = tmpdir();
    let node_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addrs = vec![
        node_socket.local_addr().unwrap(),
        peer.local_addr().unwrap(),
    ];
    drop(node_socket);
    let cfg = NodeConfig {
        me: 0,
        priests: addrs.clone(),
        directory: None,
        bind: None,
        key: key.clone(),
        ledger_dir: dir.path().to_path_buf(),
        journal: JournalOptions::default(),
        max_batch: 256,
        save_delay: Duration::ZERO,
        comeback: None,
        send_before_sync: false,
    };
    let mut node = Node::start(Counter, cfg).unwrap();
    peer.set_nonblocking(true).unwrap();
    let mut g = c.benchmark_group("loopback");
    g.sample_size(30);
    g.throughput(criterion::Throughput::Elements(BURST));
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    g.bench_function("group_commit_burst_256_pings", |b| {
        b.iter(|| {
            for n in 0..BURST {
                wire::encode(&key, Id::from(1usize), &n, &mut out).unwrap();
                peer.send_to(&out, addrs[0]).unwrap();
            }
            let mut answers = 0;
            while answers < BURST {
                node.step(Duration::ZERO).unwrap();
                while let Ok((len, _)) = peer.recv_from(&mut buf) {
                    wire::decode::<u64>(&key, &buf[..len]).unwrap();
                    answers += 1;
                }
            }
        })
    });
    g.finish();
    let c = node.counters();
    println!(
        "group commit: {} pings handled with {} syncs ({:.1} pings per sync)",
        c.handled,
        c.syncs,
        c.handled as f64 / c.syncs.max(1) as f64
    );
}

criterion_group!(benches, codec, ledger_saves, loopback_round, group_commit);
criterion_main!(benches);
