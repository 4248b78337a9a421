//! Membership changes of a running Parliament, with real processes on 127.0.0.1: priests
//! started with `serve --join` and added, removed and replaced with `parliament member`,
//! while clients run random commands through the listeners, the relay between the priests
//! drops, duplicates and delays datagrams, two priests are killed -9 and one is cut off.
//! Every history must be linearizable (a final read of every key included, so no
//! acknowledged write is lost), and the figures of each change are printed: how long from
//! `member add` until the new priest knows it is a member (it has applied the decree that
//! adds it, so it answers for its incarnation), and the commands completed per second during
//! each change.

mod support;

#[path = "support/history.rs"]
mod history;

#[path = "support/workload.rs"]
mod workload;

use history::History;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::cluster::Cluster;
use support::proxy::Faults;
use workload::{client_while, final_reads, FAST};

/// How many commands the history holds answered so far.
fn answered(recorder: &Mutex<History>) -> usize {
    let h = recorder.lock().unwrap();
    h.events().iter().filter(|e| e.answered.is_some()).count()
}

/// Clients running random commands through the first listeners of a cluster, their history
/// recorded, while the relay drops (1 %), duplicates (5 %) and delays (20 %, up to 30 ms)
/// datagrams.
struct Workload {
    recorder: Arc<Mutex<History>>,
    stop: Arc<AtomicBool>,
    clients: Vec<thread::JoinHandle<()>>,
}

impl Workload {
    /// Starts `clients` clients through listeners `0..listeners` (seeded by `seed`), turns
    /// the relay's faults on, and lets them run 300 ms.
    fn start(cluster: &Cluster, clients: usize, listeners: usize, seed: u64) -> Workload {
        let recorder = Arc::new(Mutex::new(History::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|c| {
                let listeners = cluster.clients[..listeners].to_vec();
                let (recorder, stop) = (recorder.clone(), stop.clone());
                thread::spawn(move || {
                    client_while(c, listeners, recorder, seed, || {
                        !stop.load(Ordering::Relaxed)
                    })
                })
            })
            .collect();
        cluster.proxy.as_ref().unwrap().set_faults(Faults {
            drop: 0.01,
            duplicate: 0.05,
            delay: 0.2,
            max_delay: Duration::from_millis(30),
        });
        thread::sleep(Duration::from_millis(300));
        Workload {
            recorder,
            stop,
            clients,
        }
    }

    /// Waits until 20 more commands are answered, within 20 s (else fails, saying `what`);
    /// how long it took.
    fn twenty_pass(&self, cluster: &Cluster, what: &str) -> Duration {
        let before = answered(&self.recorder);
        let t = Instant::now();
        while answered(&self.recorder) < before + 20 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no commands pass {what}\n{}",
                cluster.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
        t.elapsed()
    }

    /// Turns the faults off, stops the clients, reads every key through `readers`, and
    /// checks the history is linearizable; the history.
    fn finish(self, cluster: &mut Cluster, readers: &[usize]) -> History {
        cluster
            .proxy
            .as_ref()
            .unwrap()
            .set_faults(Faults::default());
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().unwrap();
        }
        cluster.assert_alive();
        final_reads(cluster, readers, &self.recorder);
        let history = Arc::try_unwrap(self.recorder)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap();
        if let Err(e) = history.check() {
            panic!("not linearizable: {e}\n{}", cluster.logs());
        }
        history
    }
}

/// `parliament member ARGS`, which must succeed; its output.
fn member(cluster: &Cluster, args: &[&str]) -> String {
    let (status, out) = cluster.member(args);
    assert!(
        status.success(),
        "member {args:?}: {status}: {out}\n{}",
        cluster.logs()
    );
    out
}

/// Waits until priest `i` reports `ok` of its status (INFO), within 20 s; how long it took.
fn until_status(
    cluster: &Cluster,
    i: usize,
    what: &str,
    ok: impl Fn(&parliament::service::status::PriestStatus) -> bool,
) -> Duration {
    let t = Instant::now();
    loop {
        let s = cluster.status(i);
        if ok(&s) {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "priest {i} never {what}: {s:?}\n{}",
            cluster.logs()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// One change, timed: `member ARGS`, then until priest `watch` reports `ok`. Prints the
/// figures: the command's time, the wait, and the commands per second meanwhile.
fn change(
    cluster: &Cluster,
    recorder: &Mutex<History>,
    args: &[&str],
    watch: usize,
    what: &str,
    ok: impl Fn(&parliament::service::status::PriestStatus) -> bool,
) -> String {
    let (t, before) = (Instant::now(), answered(recorder));
    let out = member(cluster, args);
    let answered_in = t.elapsed();
    let waited = until_status(cluster, watch, what, ok);
    let total = t.elapsed();
    let done = answered(recorder) - before;
    println!(
        "member {}: answered in {:.0} ms ({}), priest {watch} {what} {:.0} ms later; {:.0} commands/s meanwhile",
        args.join(" "),
        answered_in.as_secs_f64() * 1e3,
        out.trim(),
        waited.as_secs_f64() * 1e3,
        done as f64 / total.as_secs_f64()
    );
    out
}

/// Three founders grow to five (priests 3 and 4 join and are added), two founders are
/// killed -9 (the other three, two of them new, are a quorum of five and pass writes), they
/// come back, the cluster shrinks to three again (priest 2 cut off during the first removal),
/// and priest 5 replaces priest 0, the president, which hands over; all the while clients
/// write and read, and the relay drops, duplicates and delays datagrams.
#[test]
fn a_running_cluster_grows_to_five_shrinks_back_and_replaces_a_priest_with_linearizable_histories()
{
    const CLIENTS: usize = 3;
    let mut cluster = Cluster::parliament(6, FAST, Some(7)).membership(3);
    for i in 0..3 {
        cluster.launch(i);
    }
    for i in 0..3 {
        drop(cluster.connect(i, Duration::from_secs(1)));
    }
    let (status, out) = cluster.member(&["list"]);
    assert!(status.success(), "{out}\n{}", cluster.logs());
    assert_eq!(out.lines().count(), 3, "{out}");
    let work = Workload::start(&cluster, CLIENTS, 3, 7);
    let recorder = &work.recorder;

    // Grow: 3 -> 4 -> 5.
    for id in [3, 4] {
        cluster.start_joining(id);
        let s = cluster.status(id);
        assert!(s.token.is_some(), "a joining priest has a token: {s:?}");
        assert_eq!(
            s.members,
            Some(vec![0, 1, 2]),
            "its law is the founders' so far"
        );
        // Priest 4's token is read from the listener named on the command line.
        let listener = cluster.clients[id].to_string();
        let mut args = vec!["add", "--id"];
        let ids = id.to_string();
        args.push(&ids);
        if id == 4 {
            args.extend(["--client-address", &listener]);
        }
        let out = change(
            &cluster,
            recorder,
            &args,
            id,
            "has the change in force (it votes)",
            |s| s.members.as_ref().is_some_and(|m| m.contains(&id)),
        );
        assert!(out.starts_with("OK in force from decree"), "{out}");
    }
    let list = member(&cluster, &["list"]);
    assert_eq!(list.lines().count(), 5, "{list}");
    // The new members count: with founders 1 and 2 killed, priests 0, 3 and 4 are a quorum
    // of five, and writes pass.
    cluster.kill(1);
    cluster.kill(2);
    let took = work.twenty_pass(&cluster, "with founders 1 and 2 down");
    println!(
        "with founders 1 and 2 killed, 20 commands passed in {:.0} ms (a quorum of 0, 3, 4)",
        took.as_secs_f64() * 1e3
    );
    cluster.restart(1);
    cluster.restart(2);
    for i in [1, 2] {
        drop(cluster.connect(i, Duration::from_secs(1)));
    }

    // Shrink: 5 -> 4 -> 3, with priest 2 cut off from the others during the first.
    cluster.proxy.as_ref().unwrap().isolate(Some(2));
    for id in [4, 3] {
        if id == 3 {
            cluster.proxy.as_ref().unwrap().isolate(None);
        }
        change(
            &cluster,
            recorder,
            &["remove", "--id", &id.to_string()],
            0,
            "has it out of the members",
            |s| s.members.as_ref().is_some_and(|m| !m.contains(&id)),
        );
    }
    // A second change while none is pending is taken; a change of a non-member is refused
    // with the law's reason.
    let (status, out) = cluster.member(&["remove", "--id", "4"]);
    assert!(
        !status.success() && out.contains("not a member"),
        "{status}: {out}"
    );

    // Replace priest 0 (the genesis president) by priest 5.
    cluster.start_joining(5);
    change(
        &cluster,
        recorder,
        &["replace", "--old", "0", "--id", "5"],
        5,
        "is a member in place of priest 0",
        |s| s.members.as_ref() == Some(&vec![1, 2, 5]),
    );
    thread::sleep(Duration::from_millis(500));
    let history = work.finish(&mut cluster, &[1, 2, 5]);
    let done = history
        .events()
        .iter()
        .filter(|e| e.answered.is_some())
        .count();
    println!(
        "{done} commands answered, {} indeterminate",
        history.events().len() - done
    );
}

/// A priest of a cluster with `[membership]` loses its ledger (killed -9, its directory
/// removed) while clients write through the others and the relay drops, duplicates and
/// delays datagrams. Starting it without a flag, or with `--rejoin`, is refused and says what
/// to do; it comes back as a new member: removed, started with `--join`, added again under
/// the same id as a new incarnation. Then priest 1 is killed, so the new incarnation must
/// vote for writes to pass. The history, with final reads of every key, is linearizable: no
/// write acknowledged before the loss is lost.
#[test]
fn a_priest_that_lost_its_ledger_comes_back_as_a_new_member() {
    let mut cluster = Cluster::parliament(3, FAST, Some(11)).membership(3);
    for i in 0..3 {
        cluster.launch(i);
    }
    for i in 0..3 {
        drop(cluster.connect(i, Duration::from_secs(1)));
    }
    let work = Workload::start(&cluster, 2, 2, 11);
    let recorder = &work.recorder;
    // The relay reads the priests' datagrams with the key bound to the membership.
    assert_eq!(
        cluster.proxy.as_ref().unwrap().president(),
        Some(0),
        "the relay sees the genesis president's heartbeats"
    );
    assert_eq!(
        cluster.status(2).token,
        None,
        "a founder's ledger has no token"
    );

    cluster.kill(2);
    std::fs::remove_dir_all(cluster.ledger_dir(2)).unwrap();
    let refused =
        |cluster: &mut Cluster, flags: &[&str], says: &str| match cluster.try_start(2, flags) {
            Some((status, log)) => assert!(
                !status.success() && log.contains(says),
                "{flags:?}: {status}: {log}"
            ),
            None => panic!("priest 2 started with {flags:?} after losing its ledger"),
        };
    // Both name the steps, with this cluster's configuration.
    let steps = format!(
        "bring it back as a new member: `parliament member --config {} remove --id 2`, start \
         it with --join, then `parliament member --config {} add --id 2`",
        cluster.config.display(),
        cluster.config.display()
    );
    refused(&mut cluster, &[], "is missing or empty");
    refused(&mut cluster, &[], &steps);
    refused(&mut cluster, &["--rejoin"], "--rejoin refused");
    refused(&mut cluster, &["--rejoin"], &steps);

    change(
        &cluster,
        recorder,
        &["remove", "--id", "2"],
        0,
        "has it out of the members",
        |s| s.members.as_ref() == Some(&vec![0, 1]),
    );
    assert!(
        cluster.try_start(2, &["--join"]).is_none(),
        "priest 2 did not start with --join\n{}",
        cluster.logs()
    );
    change(
        &cluster,
        recorder,
        &["add", "--id", "2"],
        2,
        "is a member again (it votes)",
        |s| s.members.as_ref() == Some(&vec![0, 1, 2]),
    );
    // The law names index 2 with the new ledger's token.
    let token = cluster.status(2).token.expect("the new ledger's token");
    let list = member(&cluster, &["list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with('2') && l.contains(&token)),
        "{list}"
    );

    // Priest 1 down: commands pass only if the new incarnation of priest 2 votes.
    cluster.kill(1);
    work.twenty_pass(&cluster, "with priest 1 down and priest 2 added again");
    cluster.restart(1);
    drop(cluster.connect(1, Duration::from_secs(1)));
    work.finish(&mut cluster, &[0, 1, 2]);
}

/// Priests must agree on the genesis Chamber. Priest 2, restarted with `alpha = 2` where the
/// others have 1, would take changes into force at other decree numbers and so count other
/// quorums: the cluster key is bound to `founders` and `alpha`, so it and the others
/// authenticate none of each other's datagrams, each side logs why, and priests 0 and 1 go
/// on passing writes. (With other `founders`, priest 2 would not count itself a member, so
/// only it would log.)
#[test]
fn a_priest_configured_with_another_lookahead_is_not_heard() {
    let mut cluster = Cluster::parliament(3, FAST, None).membership(3);
    for i in 0..3 {
        cluster.launch(i);
    }
    let mut c = cluster.connect(0, Duration::from_secs(1));
    assert_eq!(
        c.call(&[b"SET", b"k", b"1"]).unwrap(),
        parliament::resp::Reply::Simple("OK".into()),
        "{}",
        cluster.logs()
    );
    assert_eq!(cluster.terminate(2).code(), Some(0));
    cluster.own_config(2, |f| {
        f.membership.as_mut().unwrap().alpha = 2;
    });
    cluster.restart(2);
    let says = "fail authentication: its cluster key, or its [membership] founders or alpha";
    let t = Instant::now();
    while !(cluster.log(2).contains(says) && cluster.log(0).contains(says)) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no warning on either side\n{}",
            cluster.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        c.call(&[b"SET", b"k", b"2"]).unwrap(),
        parliament::resp::Reply::Simple("OK".into()),
        "{}",
        cluster.logs()
    );
    cluster.assert_alive();
}
