use super::*;
use serde::Deserialize;

/// A small actor that is not a priest: the host is generic over any actor.
#[derive(Clone)]
struct Echo;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum EchoMsg {
    Ping(u64),
    Pong(u64),
    /// Answered with `Pong(pings)`, saving nothing (as a priest answering `Confirm`).
    Ask,
    /// Answered with `Pong(its length)`: a message that travels in chunks.
    Blob(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Tick {
    Fires,
    Cancelled,
    Rearmed,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct EchoState {
    pings: u64,
    fired: Vec<String>,
    recovered: Option<u64>,
}

/// A ledger that is a number: crossing a hundred asks for the earlier number to be written
/// first, as a Parliament ledger that takes a snapshot does.
impl Durable for u64 {
    type Delta = ();

    fn save_first(&self, earlier: &Self) -> bool {
        self / 100 != earlier / 100
    }
}

impl Actor for Echo {
    type Msg = EchoMsg;
    type State = EchoState;
    type Timer = Tick;
    type Random = ();
    type Storage = u64;

    fn on_start(&self, _: Id, storage: &Option<u64>, o: &mut Out<Self>) -> EchoState {
        o.set_timer(
            Tick::Fires,
            Duration::from_millis(5)..Duration::from_millis(6),
        );
        o.set_timer(
            Tick::Cancelled,
            Duration::from_millis(1)..Duration::from_millis(2),
        );
        o.cancel_timer(Tick::Cancelled);
        o.set_timer(
            Tick::Rearmed,
            Duration::from_millis(1)..Duration::from_millis(2),
        );
        o.set_timer(
            Tick::Rearmed,
            Duration::from_secs(3600)..Duration::from_secs(3601),
        );
        EchoState {
            pings: storage.unwrap_or(0),
            fired: vec![],
            recovered: *storage,
        }
    }

    fn on_msg(&self, _: Id, state: &mut Cow<EchoState>, src: Id, msg: EchoMsg, o: &mut Out<Self>) {
        match msg {
            EchoMsg::Ping(n) => {
                let s = state.to_mut();
                s.pings += 1;
                o.save(s.pings);
                o.send(src, EchoMsg::Pong(n));
            }
            // A handler that saves and sends nothing (as a priest learning a decree).
            EchoMsg::Pong(n) => {
                state.to_mut().pings = n;
                o.save(n);
            }
            EchoMsg::Ask => o.send(src, EchoMsg::Pong(state.pings)),
            EchoMsg::Blob(b) => o.send(src, EchoMsg::Pong(b.len() as u64)),
        }
    }

    fn on_timeout(&self, _: Id, state: &mut Cow<EchoState>, t: &Tick, _: &mut Out<Self>) {
        state.to_mut().fired.push(format!("{t:?}"));
    }
}

fn echo_cluster() -> (Vec<SocketAddr>, UdpSocket) {
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addrs = vec![me.local_addr().unwrap(), peer.local_addr().unwrap()];
    drop(me);
    (addrs, peer)
}

fn config(addrs: &[SocketAddr], key: &Key, dir: &std::path::Path) -> NodeConfig {
    NodeConfig {
        me: 0,
        priests: addrs.to_vec(),
        directory: None,
        bind: None,
        key: key.clone(),
        ledger_dir: dir.to_path_buf(),
        journal: JournalOptions::default(),
        max_batch: 256,
        save_delay: Duration::ZERO,
        comeback: None,
        send_before_sync: false,
    }
}

fn refused(started: Result<Node<Echo>, HostError>) -> String {
    match started {
        Err(HostError::Refused(why)) => why,
        Err(e) => panic!("not a refusal: {e}"),
        Ok(_) => panic!("started"),
    }
}

fn rejoin(storage: Result<u64, &'static str>) -> Start<u64> {
    Start::Rejoin(Box::new(move || storage.map_err(str::to_string)))
}

/// The ledger files (segments and snapshots) in `dir`, removed: a disk that lost them.
fn lose_ledger_files(dir: &std::path::Path) {
    for f in std::fs::read_dir(dir).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().into_string().unwrap();
        if name.starts_with("log-") || name.starts_with("snap-") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
}

#[test]
fn a_missing_or_empty_ledger_is_refused_unless_the_start_says_why() {
    let key = Key::random();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("priest-0");
    let (addrs, peer) = echo_cluster();
    let cfg = || config(&addrs, &key, &dir);
    // Missing: refused, naming the directory, and nothing is created.
    let why = refused(Node::start_from(Echo, cfg(), Start::Restart));
    let want = format!("ledger {} is missing or empty", dir.display());
    assert!(why.starts_with(&want), "{why}");
    assert!(!dir.exists());
    // Bootstrapped: marked, so restarts before the first record are accepted (and a
    // second --bootstrap, the ledger still empty).
    drop(Node::start_from(Echo, cfg(), Start::Bootstrap).unwrap());
    assert!(start::has_marker(&dir).unwrap());
    drop(Node::start_from(Echo, cfg(), Start::Bootstrap).unwrap());
    let mut node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
    assert!(start::has_marker(&dir).unwrap());
    // The first record, synced, removes the marker.
    let mut buf = Vec::new();
    wire::encode(&key, Id::from(1usize), &EchoMsg::Ping(1), &mut buf).unwrap();
    peer.send_to(&buf, addrs[0]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    node.step(Duration::from_millis(100)).unwrap();
    assert_eq!(node.journal.durable(), Some(&1));
    assert!(!start::has_marker(&dir).unwrap());
    drop(node);
    // A ledger with records restarts; --bootstrap and --rejoin are refused, and change
    // nothing.
    let node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
    assert_eq!(node.state().recovered, Some(1));
    drop(node);
    let why = refused(Node::start_from(Echo, cfg(), Start::Bootstrap));
    assert!(why.contains("holds records"), "{why}");
    assert!(!start::has_marker(&dir).unwrap());
    let why = refused(Node::start_from(Echo, cfg(), rejoin(Ok(7))));
    assert!(why.contains("this ledger is intact"), "{why}");
    // A marker left by a crash between the first save and its removal goes at start.
    start::write_marker(&dir, 0).unwrap();
    drop(Node::start_from(Echo, cfg(), Start::Restart).unwrap());
    assert!(!start::has_marker(&dir).unwrap());
    // The files lost, the directory kept: no marker vouches for it, so it is refused.
    lose_ledger_files(&dir);
    let why = refused(Node::start_from(Echo, cfg(), Start::Restart));
    assert!(why.starts_with(&want), "{why}");
    // Rejoining: the protocol's refusal is the priest's; its ledger is saved before the
    // actor starts, so a restart without --rejoin finds it.
    assert_eq!(
        refused(Node::start_from(Echo, cfg(), rejoin(Err("not yet")))),
        "not yet"
    );
    let node = Node::start_from(Echo, cfg(), rejoin(Ok(42))).unwrap();
    assert_eq!(node.state().recovered, Some(42));
    assert_eq!(node.journal.durable(), Some(&42));
    drop(node);
    let node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
    assert_eq!(node.state().recovered, Some(42));
}

#[test]
fn a_marker_alone_restarts_and_a_damaged_ledger_never_starts_empty() {
    let key = Key::random();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("priest-0");
    let (addrs, _peer) = echo_cluster();
    let cfg = || config(&addrs, &key, &dir);
    // A directory holding only the marker is a new cluster's empty ledger.
    std::fs::create_dir(&dir).unwrap();
    start::write_marker(&dir, 0).unwrap();
    let node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
    assert_eq!(node.state().recovered, None);
    drop(node);
    // One record, synced (so the marker is gone), then damaged: it is cut off as torn,
    // and the empty ledger left is refused, saying so.
    let (mut l, _, _) = Journal::<u64>::open(&dir, JournalOptions::default()).unwrap();
    l.save(&5).unwrap();
    drop(l);
    start::remove_marker(&dir).unwrap();
    let rec = journal::scan(&dir).unwrap()[0].clone();
    let mut bytes = std::fs::read(&rec.path).unwrap();
    bytes[rec.offset as usize + 12] ^= 0x01;
    std::fs::write(&rec.path, &bytes).unwrap();
    let why = refused(Node::start_from(Echo, cfg(), Start::Restart));
    assert!(
        why.contains("missing or empty") && why.contains("was damaged"),
        "{why}"
    );
    // Two records, the first damaged: corrupt, whatever the start asks.
    lose_ledger_files(&dir);
    let (mut l, _, _) = Journal::<u64>::open(&dir, JournalOptions::default()).unwrap();
    l.save(&5).unwrap();
    l.save(&6).unwrap();
    drop(l);
    let rec = journal::scan(&dir).unwrap()[0].clone();
    let mut bytes = std::fs::read(&rec.path).unwrap();
    bytes[rec.offset as usize + 12] ^= 0x01;
    std::fs::write(&rec.path, &bytes).unwrap();
    let starts: [fn() -> Start<u64>; 4] = [
        || Start::Restart,
        || Start::Bootstrap,
        || rejoin(Ok(1)),
        || Start::Unchecked,
    ];
    for start in starts {
        match Node::start_from(Echo, cfg(), start()) {
            Err(HostError::Journal(e @ JournalError::Corrupt { .. })) => {
                let text = e.to_string();
                assert!(text.contains(&rec.path.display().to_string()), "{text}");
            }
            Err(e) => panic!("not corrupt: {e}"),
            Ok(_) => panic!("a corrupt ledger started"),
        }
    }
    assert!(!start::has_marker(&dir).unwrap(), "no marker was written");
}

#[test]
fn messages_of_handlers_before_the_first_save_leave_without_waiting_for_it() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let batch = |msgs: &[EchoMsg]| {
        let mut b = wire::Bundle::new();
        for m in msgs {
            assert!(b.push(Id::from(1usize), m, wire::MAX_DATAGRAM).unwrap());
        }
        let mut buf = Vec::new();
        b.seal(&key, &mut buf);
        peer.send_to(&buf, addrs[0]).unwrap();
    };
    let mut rbuf = [0u8; 4096];
    let mut receive = || {
        let (len, _) = peer.recv_from(&mut rbuf).unwrap();
        wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap()
    };
    // Ask, then a save that sends nothing: the answer leaves, the save stays deferred.
    batch(&[EchoMsg::Ask, EchoMsg::Pong(7)]);
    node.step(Duration::from_millis(500)).unwrap();
    assert_eq!(receive(), vec![(Id::from(0usize), EchoMsg::Pong(0))]);
    assert_eq!((node.counters().syncs, node.journal.durable()), (0, None));
    // A save, then an Ask: the answer depends on the save, so the save is durable first.
    batch(&[EchoMsg::Pong(9), EchoMsg::Ask]);
    node.step(Duration::from_millis(500)).unwrap();
    assert_eq!(
        (node.counters().syncs, node.journal.durable()),
        (1, Some(&9))
    );
    assert_eq!(receive(), vec![(Id::from(0usize), EchoMsg::Pong(9))]);
    // With a save deferred from an earlier batch, even a first Ask waits for it.
    batch(&[EchoMsg::Pong(11)]);
    node.step(Duration::from_millis(500)).unwrap();
    assert_eq!(node.counters().syncs, 1, "deferred");
    batch(&[EchoMsg::Ask]);
    node.step(Duration::from_millis(500)).unwrap();
    assert_eq!(
        (node.counters().syncs, node.journal.durable()),
        (2, Some(&11))
    );
    assert_eq!(receive(), vec![(Id::from(0usize), EchoMsg::Pong(11))]);
}

#[test]
fn a_batch_of_datagrams_shares_one_sync_and_replies_follow_it() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    let mut buf = Vec::new();
    for n in 0..50 {
        wire::encode(&key, Id::from(1usize), &EchoMsg::Ping(n), &mut buf).unwrap();
        peer.send_to(&buf, addrs[0]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    let handled = node.step(Duration::from_millis(100)).unwrap();
    assert!(handled >= 50, "{handled}");
    assert_eq!(node.counters().handled, 50);
    assert_eq!(node.counters().syncs, 1, "one group commit for the batch");
    assert_eq!(node.counters().sent, 50);
    assert_eq!(node.journal.durable(), Some(&50));
    // The 50 answers to one socket travel as one bundle, in order.
    let mut rbuf = [0u8; 4096];
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (len, _) = peer.recv_from(&mut rbuf).unwrap();
    let got = wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap();
    assert_eq!(
        got,
        (0..50)
            .map(|n| (Id::from(0usize), EchoMsg::Pong(n)))
            .collect::<Vec<_>>()
    );
    // Restarted, the actor gets its last durable storage.
    drop(node);
    let node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    assert_eq!(node.state().recovered, Some(50));
}

#[test]
fn a_batch_that_sends_nothing_defers_its_save_to_the_next_that_sends() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    let mut buf = Vec::new();
    let mut send = |m: EchoMsg, node: &mut Node<Echo>| {
        wire::encode(&key, Id::from(1usize), &m, &mut buf).unwrap();
        peer.send_to(&buf, addrs[0]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        node.step(Duration::from_millis(50)).unwrap();
    };
    // Two batches that only save: nothing is written yet.
    send(EchoMsg::Pong(5), &mut node);
    send(EchoMsg::Pong(6), &mut node);
    assert_eq!(node.state().pings, 6);
    assert_eq!((node.counters().syncs, node.journal.durable()), (0, None));
    // A batch that sends: the newest ledger is durable before its message leaves.
    send(EchoMsg::Ping(1), &mut node);
    assert_eq!(
        (node.counters().syncs, node.journal.durable()),
        (1, Some(&7))
    );
    // A deferred save is written once it has waited DEFER_SAVE, with nothing to send.
    send(EchoMsg::Pong(9), &mut node);
    assert_eq!(node.journal.durable(), Some(&7));
    std::thread::sleep(DEFER_SAVE);
    node.step(Duration::ZERO).unwrap();
    assert_eq!(
        (node.counters().syncs, node.journal.durable()),
        (2, Some(&9))
    );
    // And when the priest stops.
    send(EchoMsg::Pong(11), &mut node);
    assert_eq!(node.journal.durable(), Some(&9));
    node.run(&AtomicBool::new(true)).unwrap();
    assert_eq!(node.journal.durable(), Some(&11));
    drop(node);
    let node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    assert_eq!(node.state().recovered, Some(11));
}

/// A save the storage type says must follow an earlier one (`Durable::save_first`) is
/// written after that one, in a record of its own: whether the earlier save was deferred
/// from an earlier batch or made by an earlier handler of the same batch.
#[test]
fn an_earlier_ledger_the_storage_asks_for_is_written_first() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    let mut buf = Vec::new();
    // Sends `msgs` at once (one batch), runs the batch; the syncs and records so far.
    let mut batch = |node: &mut Node<Echo>, msgs: &[EchoMsg]| {
        for m in msgs {
            wire::encode(&key, Id::from(1usize), m, &mut buf).unwrap();
            peer.send_to(&buf, addrs[0]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        node.step(Duration::from_millis(50)).unwrap();
        (
            node.counters().syncs,
            journal::scan(dir.path()).unwrap().len(),
        )
    };
    // Deferred from an earlier batch: 199 is written, then 200.
    assert_eq!(batch(&mut node, &[EchoMsg::Pong(199)]), (0, 0));
    assert_eq!(batch(&mut node, &[EchoMsg::Ping(1)]), (2, 2));
    assert_eq!(node.journal.durable(), Some(&200));
    // Within one batch: 299 (an earlier handler's save), then 300.
    let both = [EchoMsg::Pong(299), EchoMsg::Ping(2)];
    assert_eq!(batch(&mut node, &both), (4, 4));
    assert_eq!(node.journal.durable(), Some(&300));
    // No crossing: one save.
    assert_eq!(batch(&mut node, &[EchoMsg::Ping(3)]), (5, 5));
}

#[test]
fn an_observer_sees_the_state_and_counters_after_every_batch() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    node.observe(Box::new(move |state: &EchoState, c: &Counters| {
        s.lock().unwrap().push((state.pings, c.handled));
    }));
    assert_eq!(*seen.lock().unwrap(), vec![(0, 0)], "called at once");
    let mut buf = Vec::new();
    for n in 0..3 {
        wire::encode(&key, Id::from(1usize), &EchoMsg::Ping(n), &mut buf).unwrap();
        peer.send_to(&buf, addrs[0]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    node.step(Duration::from_millis(100)).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(0, 0), (3, 3)]);
    node.step(Duration::ZERO).unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "after every batch, even an empty one"
    );
}

#[test]
fn timers_fire_once_and_cancel_and_rearm_take_effect() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, _peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.state().fired.is_empty() {
        assert!(Instant::now() < deadline, "the timer never fired");
        node.step(Duration::from_millis(50)).unwrap();
    }
    for _ in 0..3 {
        node.step(Duration::from_millis(10)).unwrap();
    }
    assert_eq!(node.state().fired, vec!["Fires".to_string()]);
    assert_eq!(node.counters().timeouts, 1);
}

#[test]
fn impostors_and_unknown_ids_are_non_members_and_clients_get_answers() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, _peer) = echo_cluster();
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = Vec::new();
    for src in [Id::from(1usize), Id::from(2usize), client_id()] {
        wire::encode(&key, src, &EchoMsg::Ping(7), &mut buf).unwrap();
        other.send_to(&buf, addrs[0]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    node.step(Duration::from_millis(50)).unwrap();
    assert_eq!(node.counters().dropped_non_member, 2);
    assert_eq!(node.counters().handled, 1);
    other
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut rbuf = [0u8; 256];
    let (len, from) = other.recv_from(&mut rbuf).unwrap();
    assert_eq!(from, addrs[0]);
    assert_eq!(
        wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap(),
        vec![(Id::from(0usize), EchoMsg::Pong(7))]
    );
    // The same three in one bundle: each message is admitted or dropped on its own.
    let mut bundle = wire::Bundle::new();
    for src in [Id::from(1usize), client_id(), Id::from(2usize)] {
        bundle
            .push(src, &EchoMsg::Ping(8), wire::MAX_DATAGRAM)
            .unwrap();
    }
    bundle.seal(&key, &mut buf);
    other.send_to(&buf, addrs[0]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    node.step(Duration::from_millis(50)).unwrap();
    assert_eq!(node.counters().dropped_non_member, 4);
    assert_eq!(node.counters().handled, 2);
    let (len, _) = other.recv_from(&mut rbuf).unwrap();
    assert_eq!(
        wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap(),
        vec![(Id::from(0usize), EchoMsg::Pong(8))]
    );
}

#[test]
fn a_large_message_cut_by_a_restart_of_its_receiver_resumes() {
    let key = Key::random();
    let dir = tempfile::tempdir().unwrap();
    let (addrs, peer) = echo_cluster();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let blob = EchoMsg::Blob("b".repeat(150_000));
    let parts = wire::chunks(&key, Id::from(1usize), &blob, wire::MAX_DATAGRAM).unwrap();
    assert_eq!(parts.len(), 3);
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    for p in &parts[..2] {
        peer.send_to(p, addrs[0]).unwrap();
        node.step(Duration::from_millis(500)).unwrap();
    }
    assert_eq!(node.counters().chunks_resumed, 0);
    drop(node);
    let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
    assert_eq!(node.counters().chunks_resumed, 2);
    peer.send_to(&parts[2], addrs[0]).unwrap();
    node.step(Duration::from_millis(500)).unwrap();
    let mut rbuf = [0u8; 4096];
    let (len, _) = peer.recv_from(&mut rbuf).unwrap();
    assert_eq!(
        wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap(),
        vec![(Id::from(0usize), EchoMsg::Pong(150_000))]
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("transfers"))
            .unwrap()
            .count(),
        0,
        "the spool file went with the completed transfer"
    );
}
