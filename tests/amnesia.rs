//! Amnesia: a priest that lost its ledger must not start as a priest that never voted.
//!
//! With real `parliament serve` processes on 127.0.0.1 (the harness of `tests/nemesis.rs`):
//!
//! - **The reproduction.** Three priests, five SETs acknowledged, priest 0 (the genesis
//!   president) killed -9, its ledger directory removed and the priest restarted at once,
//!   with no flag. Started from an empty ledger it would preside over the genesis ballot
//!   from decree 0 again: a second decree chosen for number 0, and the five keys read as
//!   nil through every priest. It must refuse, naming the directory and the way out, and
//!   the other two must elect a president and still hold every write.
//! - **Rejoining.** The refused priest 0, restarted with `--rejoin`, rejoins: it is reported
//!   `rejoining` until clear, then reads back every acknowledged write (the five and one
//!   made while it was away) through every priest, takes new writes, and with priest 1
//!   killed it is part of every quorum: writes and reads go on and nothing acknowledged is
//!   lost.
//! - **Two lost at once.** Priests 0 and 1 both lost their ledgers and both restarted with
//!   `--rejoin`: neither answers the other, so both stay rejoining and nothing passes. One
//!   killed -9 while rejoining restarts rejoining without the flag (`--rejoin` is then
//!   refused: its ledger holds records).
//! - **The flags.** `--bootstrap` and `--rejoin` on a priest whose ledger holds records are
//!   refused and change nothing, as are both together; the priest then restarts without a
//!   flag, and with its ledger gone, `--rejoin` starts it.
//! - **The marker.** A follower that never heard anything (its ledger empty, beside the
//!   `BOOTSTRAPPED` marker) restarts without a flag; once it voted the marker is gone, so
//!   when its ledger files are lost later, the directory kept, it is refused.
//! - **Corruption.** A ledger damaged before its last record is refused with the file and
//!   offset, whatever the flag: never read as an empty one.

mod support;

use parliament::host::journal;
use parliament::parliament::{Ledger, Role};
use parliament::resp::Reply;
use parliament::service::status::PriestStatus;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support::cluster::{Cluster, Timers};
use support::resp::bulk;

/// One test at a time: each runs three priests of its own on a two-core machine.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const FAST: Timers = Timers {
    election: [150, 300],
    heartbeat: 50,
    resend: 100,
    client_timeout: 1000,
};

/// Every written key reads back its value through each of `priests`.
fn assert_read_back(
    cluster: &Cluster,
    priests: impl IntoIterator<Item = usize>,
    written: &[(String, String)],
) {
    for i in priests {
        for (k, v) in written {
            assert_eq!(
                get(cluster, i, k),
                bulk(v),
                "GET {k} through priest {i}\n{}",
                cluster.logs()
            );
        }
    }
}

/// GET `key` through priest `i`'s listener, asking again while no president answers (the
/// listener's `-ERR no answer`), for at most 20 s.
fn get(cluster: &Cluster, i: usize, key: &str) -> Reply {
    let mut c = cluster.connect(i, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.call(&[b"GET", key.as_bytes()]) {
            Ok(Reply::Error(_)) if Instant::now() < deadline => {}
            Ok(r) => return r,
            Err(e) => panic!("GET {key} through priest {i}: {e}\n{}", cluster.logs()),
        }
    }
}

/// SET `key` through priest `i`'s listener, asking again while no president answers, for
/// at most 20 s (a president that lost a quorum member notices from a stalled decree).
fn set(cluster: &Cluster, i: usize, key: &str, value: &str) {
    let mut c = cluster.connect(i, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.call(&[b"SET", key.as_bytes(), value.as_bytes()]) {
            Ok(r) if r == Reply::ok() => return,
            Ok(Reply::Error(_)) if Instant::now() < deadline => {}
            r => panic!("SET {key} through priest {i}: {r:?}\n{}", cluster.logs()),
        }
    }
}

/// Asks `check` every 20 ms until it answers `Ok`, for at most 10 s; then fails with its
/// last `Err` and the priests' logs.
fn within_10s<T>(cluster: &Cluster, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match check() {
            Ok(t) => return t,
            Err(e) => assert!(Instant::now() < deadline, "{e}\n{}", cluster.logs()),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether priest `behind` applied as far as priest `ahead`: both statuses, or why not.
fn caught_up(
    cluster: &Cluster,
    behind: usize,
    ahead: usize,
) -> Result<(PriestStatus, PriestStatus), String> {
    let (b, a) = (cluster.status(behind), cluster.status(ahead));
    match b.highest_applied == a.highest_applied {
        true => Ok((b, a)),
        false => Err(format!("priest {behind} did not catch up: {b:?} vs {a:?}")),
    }
}

/// Five keys written and acknowledged through priest 0.
fn five_sets(cluster: &Cluster) -> Vec<(String, String)> {
    let mut c = cluster.connect(0, Duration::from_secs(10));
    (0..5)
        .map(|k| {
            let (key, value) = (format!("k{k}"), format!("v{k}"));
            assert_eq!(
                c.call(&[b"SET", key.as_bytes(), value.as_bytes()]).unwrap(),
                Reply::ok(),
                "SET {key}\n{}",
                cluster.logs()
            );
            (key, value)
        })
        .collect()
}

#[test]
fn a_priest_whose_ledger_is_gone_refuses_to_start_then_rejoins_and_no_write_is_lost() {
    let _one = serial();
    let mut cluster = Cluster::start(3, FAST, None);
    let mut written = five_sets(&cluster);
    cluster.kill(0);
    let dir = cluster.ledger_dir(0);
    assert!(dir.is_dir(), "{} holds priest 0's ledger", dir.display());
    fs::remove_dir_all(&dir).unwrap();

    match cluster.try_start(0, &[]) {
        Some((status, err)) => {
            assert!(!status.success(), "{status}");
            let want = format!("ledger {} is missing or empty", dir.display());
            assert!(err.contains(&want), "expected {want:?} in\n{err}");
            for hint in ["--bootstrap", "--rejoin", "lose acknowledged writes"] {
                assert!(err.contains(hint), "expected {hint:?} in\n{err}");
            }
            assert!(!dir.exists(), "a refused start creates no ledger");
        }
        None => {
            // The bug: priest 0 runs from an empty ledger. Show what that does.
            let mut c = cluster.connect(0, Duration::from_secs(5));
            let set = c.call(&[b"SET", b"after", b"amnesia"]);
            let lost: Vec<String> = [1, 2]
                .iter()
                .flat_map(|&i| written.iter().map(move |(k, v)| (i, k, v)))
                .map(|(i, k, v)| (i, k, v, get(&cluster, i, k)))
                .filter(|(_, _, v, got)| *got != bulk(v))
                .map(|(i, k, _, got)| format!("GET {k} through priest {i}: {got:?}"))
                .collect();
            panic!(
                "priest 0 started from an empty ledger; SET after it answered {set:?}; lost \
                 writes: {lost:#?}\n{}",
                cluster.logs()
            );
        }
    }

    // The other two elect a president and still hold every acknowledged write.
    assert_read_back(&cluster, [1, 2], &written);
    let status = cluster.status(1);
    assert!(
        matches!(status.president, Some(1 | 2)),
        "a new president: {status:?}"
    );
    cluster.assert_alive();

    // A write while priest 0 is away; then it comes back with --rejoin.
    set(&cluster, 1, "away", "while-0-was-down");
    written.push(("away".into(), "while-0-was-down".into()));
    let began = Instant::now();
    assert!(
        cluster.try_start(0, &["--rejoin"]).is_none(),
        "{}",
        cluster.logs()
    );
    let deadline = began + Duration::from_secs(60);
    let mut seen_rejoining = false;
    loop {
        let status = cluster.status(0);
        if status.role != Role::Rejoining {
            break;
        }
        seen_rejoining = true;
        assert!(
            Instant::now() < deadline,
            "priest 0 still rejoining after 60 s: {status:?}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "priest 0 rejoined {:?} after it was started (seen rejoining: {seen_rejoining})",
        began.elapsed()
    );
    let log = fs::read_to_string(cluster.log_path(0)).unwrap();
    assert!(log.contains("rejoining after losing the ledger"), "{log}");
    assert!(log.contains("rejoined: clear, taking part again"), "{log}");

    // Every acknowledged write, through every priest; new writes pass.
    assert_read_back(&cluster, 0..3, &written);
    for n in 0..3 {
        let (k, v) = (format!("back{n}"), format!("b{n}"));
        set(&cluster, 0, &k, &v);
        written.push((k, v));
    }
    // Priest 0 learned and applied every decree passed so far.
    let chosen = cluster.status(1).highest_chosen;
    assert!(chosen.is_some());
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.status(0).highest_applied < chosen {
        assert!(
            Instant::now() < deadline,
            "priest 0 lags\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Priest 1 killed: every quorum now needs the rejoined priest 0.
    cluster.kill(1);
    for n in 0..3 {
        let (k, v) = (format!("without1-{n}"), format!("w{n}"));
        set(&cluster, 0, &k, &v);
        written.push((k, v));
    }
    assert_read_back(&cluster, [0, 2], &written);
    let status = cluster.status(0);
    assert_ne!(status.role, Role::Rejoining, "{status:?}");
    cluster.assert_alive();
}

#[test]
fn two_priests_that_lost_their_ledgers_at_once_stay_rejoining_and_a_crash_does_not_clear_it() {
    let _one = serial();
    let mut cluster = Cluster::start(3, FAST, None);
    five_sets(&cluster);
    for i in [0, 1] {
        cluster.kill(i);
        fs::remove_dir_all(cluster.ledger_dir(i)).unwrap();
    }
    for i in [0, 1] {
        assert!(
            cluster.try_start(i, &["--rejoin"]).is_none(),
            "{}",
            cluster.logs()
        );
    }
    // Many election timeouts (150-300 ms): each asks again, and still neither is clear.
    std::thread::sleep(Duration::from_secs(3));
    for i in [0, 1] {
        let status = cluster.status(i);
        assert_eq!(
            status.role,
            Role::Rejoining,
            "{status:?}\n{}",
            cluster.logs()
        );
    }
    let mut c = cluster.connect(2, Duration::from_secs(5));
    match c.call(&[b"SET", b"k0", b"changed"]).unwrap() {
        Reply::Error(e) => assert!(e.contains("no answer from the Parliament"), "{e}"),
        r => panic!(
            "a SET passed with two priests rejoining: {r:?}\n{}",
            cluster.logs()
        ),
    }
    // Priest 0 killed -9 while rejoining: its ledger holds the mark, and what priest 2 told
    // it, not priest 1.
    cluster.kill(0);
    let dir = cluster.ledger_dir(0);
    let (kept, _) = journal::read::<Ledger>(&dir).unwrap();
    let mark = kept
        .and_then(|l| l.rejoin)
        .expect("the rejoin mark is saved");
    assert!(
        mark.heard.contains(2) && !mark.heard.contains(1),
        "{mark:?}"
    );
    refuses(
        &mut cluster,
        0,
        &["--rejoin"],
        "this ledger is intact; start without --rejoin",
    );
    assert!(cluster.try_start(0, &[]).is_none(), "{}", cluster.logs());
    std::thread::sleep(Duration::from_secs(1));
    let status = cluster.status(0);
    assert_eq!(
        status.role,
        Role::Rejoining,
        "{status:?}\n{}",
        cluster.logs()
    );
    cluster.assert_alive();
}

/// Starts priest `i` with `flags` and checks that it refuses, saying `want`.
fn refuses(cluster: &mut Cluster, i: usize, flags: &[&str], want: &str) {
    let Some((status, err)) = cluster.try_start(i, flags) else {
        panic!("priest {i} started with {flags:?}\n{}", cluster.logs());
    };
    assert!(!status.success(), "{flags:?}: {status}");
    assert!(err.contains(want), "{flags:?}: expected {want:?} in\n{err}");
}

/// The contents of the ledger files (segments and snapshots) in `dir`, by name.
fn ledger_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap())
        .map(|f| (f.file_name().into_string().unwrap(), f.path()))
        .filter(|(name, _)| name.starts_with("log-") || name.starts_with("snap-"))
        .map(|(name, path)| (name, fs::read(path).unwrap()))
        .collect()
}

#[test]
fn bootstrap_and_rejoin_are_refused_on_an_intact_ledger_and_a_corrupt_one_never_starts() {
    let _one = serial();
    let mut cluster = Cluster::start(3, FAST, None);
    five_sets(&cluster);
    // Priest 1 voted for the five decrees: its ledger holds records.
    cluster.kill(1);
    let dir = cluster.ledger_dir(1);
    let before = ledger_files(&dir);
    let holds = format!(
        "--bootstrap refused: ledger {} holds records",
        dir.display()
    );
    refuses(&mut cluster, 1, &["--bootstrap"], &holds);
    let intact = "this ledger is intact; start without --rejoin";
    refuses(&mut cluster, 1, &["--rejoin"], intact);
    let both = "'--bootstrap' cannot be used with '--rejoin'";
    refuses(&mut cluster, 1, &["--bootstrap", "--rejoin"], both);
    assert_eq!(
        ledger_files(&dir),
        before,
        "a refused start changes nothing"
    );
    assert!(!dir.join("BOOTSTRAPPED").exists());
    // Without a flag it restarts and serves.
    assert!(cluster.try_start(1, &[]).is_none(), "{}", cluster.logs());
    assert_eq!(get(&cluster, 1, "k4"), bulk("v4"));
    // Its ledger gone, --rejoin is the way back.
    cluster.kill(1);
    fs::remove_dir_all(&dir).unwrap();
    assert!(
        cluster.try_start(1, &["--rejoin"]).is_none(),
        "{}",
        cluster.logs()
    );

    // Priest 2's first record damaged: refused with the file and offset, whatever the flag.
    cluster.kill(2);
    let dir = cluster.ledger_dir(2);
    let records = journal::scan(&dir).unwrap();
    assert!(records.len() >= 2, "{records:?}");
    let first = &records[0];
    let mut bytes = fs::read(&first.path).unwrap();
    bytes[first.offset as usize + 13] ^= 0x20;
    fs::write(&first.path, &bytes).unwrap();
    let corrupt = format!(
        "{} is corrupt at offset {}",
        first.path.display(),
        first.offset
    );
    for flags in [&[][..], &["--bootstrap"], &["--rejoin"]] {
        refuses(&mut cluster, 2, flags, &corrupt);
    }
    assert_eq!(
        fs::read(&first.path).unwrap(),
        bytes,
        "nothing was rewritten"
    );
    assert!(!dir.join("BOOTSTRAPPED").exists());
}

#[test]
fn a_follower_restarts_from_its_marker_until_it_votes_and_a_lost_ledger_is_refused_after() {
    let _one = serial();
    let mut cluster = Cluster::start(3, FAST, None);
    // Priest 2, a follower, has heard nothing that changes its ledger: it is empty, and the
    // marker written by --bootstrap vouches for it.
    cluster.kill(2);
    let dir = cluster.ledger_dir(2);
    let (kept, _) = journal::read::<parliament::parliament::Ledger>(&dir).unwrap();
    assert_eq!(kept, None, "priest 2 saved something before any command");
    assert!(dir.join("BOOTSTRAPPED").exists());
    assert!(cluster.try_start(2, &[]).is_none(), "{}", cluster.logs());
    // It is in the genesis president's quorum: it votes for the five decrees, and once its
    // first record is synced the marker is gone.
    let written = five_sets(&cluster);
    assert!(!dir.join("BOOTSTRAPPED").exists());
    cluster.kill(2);
    assert!(journal::read::<parliament::parliament::Ledger>(&dir)
        .unwrap()
        .0
        .is_some());
    // Its ledger files lost, the directory kept: refused, nothing vouches for it.
    for name in ledger_files(&dir).keys() {
        fs::remove_file(dir.join(name)).unwrap();
    }
    let want = format!("ledger {} is missing or empty", dir.display());
    refuses(&mut cluster, 2, &[], &want);
    // The president's quorum lost priest 2 for good. A president notices that from a stalled
    // decree (not from stalled reads), so write first: it takes a quorum of the living.
    let mut c = cluster.connect(1, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.call(&[b"SET", b"after", b"x"]).unwrap() != Reply::ok() {
        assert!(
            Instant::now() < deadline,
            "no SET passed\n{}",
            cluster.logs()
        );
    }
    for (k, v) in &written {
        assert_eq!(get(&cluster, 1, k), bulk(v), "{}", cluster.logs());
    }
    cluster.assert_alive();
}

#[test]
fn a_priest_down_while_the_others_truncate_catches_up_by_snapshot() {
    let _one = serial();
    let mut cluster = Cluster::parliament(3, FAST, None).snapshots(10, 50);
    cluster.launch_all();
    cluster.wait_until_up();
    let mut written = Vec::new();
    let mut write = |cluster: &Cluster, k: usize, v: String| {
        let key = format!("k{k}");
        set(cluster, 0, &key, &v);
        written.push((key, v));
    };
    for k in 0..10 {
        write(&cluster, k, format!("v{k}"));
    }
    cluster.kill(2);
    // Decrees pass without priest 2; the others snapshot and truncate. Three values of
    // 100 kB make the law larger than a datagram: the snapshot travels in chunks.
    for k in 10..70 {
        let v = if k % 20 == 0 {
            "w".repeat(100_000)
        } else {
            format!("v{k}")
        };
        write(&cluster, k, v);
    }
    within_10s(&cluster, || {
        let (a, b) = (cluster.status(0), cluster.status(1));
        match a.snapshot >= 60 && b.snapshot >= 60 {
            true => Ok(()),
            false => Err(format!("no snapshot: {a:?} {b:?}")),
        }
    });
    // Priest 2 comes back missing decrees its peers no longer keep: it installs a snapshot.
    cluster.launch(2);
    within_10s(&cluster, || {
        let (behind, ahead) = caught_up(&cluster, 2, 0)?;
        match behind.snapshot >= 60 {
            true => Ok(()),
            false => Err(format!("no snapshot installed: {behind:?} vs {ahead:?}")),
        }
    });
    // INFO counts the snapshots a priest took and those it installed. (Priest 2 installed
    // one: its peers keep nothing below 60. INFO may count that install as taken, if a
    // timer of priest 2's fired in the same batch; it never counts a take as installed.)
    let ahead = cluster.status(0);
    assert!(ahead.counters["snapshots_taken"] >= 1, "{ahead:?}");
    assert_eq!(ahead.counters["snapshots_installed"], 0, "{ahead:?}");
    // Every write reads back through every priest, including one that only priest 2's
    // quorum can pass now.
    cluster.kill(1);
    write(&cluster, 70, "after".into());
    assert_read_back(&cluster, [0, 2], &written);
}

/// A priest stopped right after a snapshot save: its ledger's last record is the one that
/// carries the snapshot (a delta: the decrees it covers, which the record before it holds,
/// applied). Torn, it is cut off, as any torn last record: the priest starts from its earlier
/// state (an older snapshot and the decrees after it) and catches up. An earlier record
/// holding the whole ledger (the first the priest wrote), damaged, is refused, naming the
/// file and offset. No write is lost.
#[test]
fn a_torn_snapshot_record_is_cut_and_a_damaged_one_refused() {
    let _one = serial();
    // A snapshot after every decree: once the writes stop, each priest's last save is one.
    let mut cluster = Cluster::parliament(3, FAST, None).snapshots(1, 20);
    cluster.launch_all();
    cluster.wait_until_up();
    let mut written = Vec::new();
    for k in 0..40 {
        let (key, value) = (format!("k{k}"), format!("v{k}"));
        set(&cluster, 0, &key, &value);
        written.push((key, value));
    }
    // Priest 2's last save is the snapshot of everything it applied.
    let snapshot = within_10s(&cluster, || {
        let s = cluster.status(2);
        match s.highest_applied.is_some_and(|a| s.snapshot == a + 1) {
            true => Ok(s.snapshot),
            false => Err(format!("no snapshot of everything applied: {s:?}")),
        }
    });
    // Its law keeps the session of the client that wrote, and INFO says so.
    let sessions = cluster.status(2).sessions;
    assert!(sessions >= 1, "{sessions} sessions");
    // A snapshot save is deferred like any save no message waits on; a stop writes it.
    assert!(cluster.terminate(2).success());
    let dir = cluster.ledger_dir(2);
    let records = journal::scan(&dir).unwrap();
    let last = records.last().unwrap();
    assert_eq!(
        last.kind, 2,
        "a later snapshot is saved as a delta: {records:?}"
    );
    let earlier = records
        .iter()
        .filter(|r| r.kind == 1 && r.path == last.path && r.offset < last.offset)
        .count();
    assert!(earlier >= 1, "an earlier whole record: {records:?}");
    let f = fs::OpenOptions::new().write(true).open(&last.path).unwrap();
    f.set_len(last.offset + last.len / 2).unwrap();
    drop(f);
    // Torn: cut off; priest 2 starts from its earlier snapshot and catches up.
    assert!(cluster.try_start(2, &[]).is_none(), "{}", cluster.logs());
    assert!(cluster.log(2).contains("cut off a torn last ledger record"));
    within_10s(&cluster, || caught_up(&cluster, 2, 0));
    // Without priest 0, a write needs priest 2's vote; everything reads back through it.
    cluster.kill(0);
    set(&cluster, 2, "after", "torn");
    written.push(("after".into(), "torn".into()));
    assert_read_back(&cluster, [2], &written);
    // A damaged whole record that is not the last: refused, nothing rewritten.
    cluster.kill(2);
    let records = journal::scan(&dir).unwrap();
    let full = records
        .iter()
        .rev()
        .skip(1)
        .find(|r| r.kind == 1)
        .expect("a whole record before the last");
    let mut bytes = fs::read(&full.path).unwrap();
    bytes[full.offset as usize + 20] ^= 0x20;
    fs::write(&full.path, &bytes).unwrap();
    let corrupt = format!(
        "{} is corrupt at offset {}",
        full.path.display(),
        full.offset
    );
    refuses(&mut cluster, 2, &[], &corrupt);
    assert_eq!(
        fs::read(&full.path).unwrap(),
        bytes,
        "nothing was rewritten"
    );
    assert!(snapshot >= 40, "{snapshot}");
}
