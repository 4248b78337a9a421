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

#[allow(dead_code)]
mod support;

use parliament::resp::Reply;
use parliament::runtime::status::parse_info;
use std::fs;
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
fn a_priest_whose_ledger_is_gone_refuses_to_start_and_the_others_keep_every_write() {
    let _one = serial();
    let mut cluster = Cluster::start(3, FAST, None);
    let written = five_sets(&cluster);
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
    for i in [1, 2] {
        for (k, v) in &written {
            assert_eq!(
                get(&cluster, i, k),
                bulk(v),
                "GET {k} through priest {i}\n{}",
                cluster.logs()
            );
        }
    }
    let mut c = cluster.connect(1, Duration::from_secs(5));
    let info = match c.call(&[b"INFO"]).unwrap() {
        Reply::Bulk(Some(text)) => parse_info(&String::from_utf8(text).unwrap()).unwrap(),
        r => panic!("INFO answered {r:?}"),
    };
    assert!(
        matches!(info.president, Some(1 | 2)),
        "a new president: {info:?}"
    );
    cluster.assert_alive();
}
