//! The workload of the tests that run clients against real priests under faults: random
//! GET/SET/CAS/DEL on a few keys, every answer recorded in a [`History`] for the
//! linearizability check. Included by path (`#[path = "support/workload.rs"]`) by the tests
//! that also include `support/history.rs` as `history`; each uses only some of it.

#![allow(dead_code)]

use super::history::{History, Outcome};
use super::support::cluster::{Cluster, Timers};
use parliament::resp::client::Client;
use parliament::resp::{Command, Reply};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Fast timers, so faults are survived within a short test.
pub const FAST: Timers = Timers {
    election: [150, 300],
    heartbeat: 50,
    resend: 100,
    client_timeout: 1000,
};

/// The keys the clients of the nemesis test share.
pub const KEYS: usize = 3;

/// A client of the nemesis test: random commands on a few keys, every written value unique
/// (so a stale value cannot be mistaken for a fresh one), through priest `c % n`'s listener
/// and, when that one is down, the next one's.
pub fn client(
    c: usize,
    listeners: Vec<SocketAddr>,
    recorder: Arc<Mutex<History>>,
    seed: u64,
    until: Instant,
) {
    client_while(c, listeners, recorder, seed, || Instant::now() < until)
}

/// [`client`], while `go` says so.
pub fn client_while(
    c: usize,
    listeners: Vec<SocketAddr>,
    recorder: Arc<Mutex<History>>,
    seed: u64,
    go: impl Fn() -> bool,
) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1000) + c as u64);
    let mut seen: Vec<Option<String>> = vec![None; KEYS];
    let mut conn: Option<Client> = None;
    let mut target = c % listeners.len();
    let mut n = 0u64;
    while go() {
        let Some(client) = conn.as_mut() else {
            match Client::connect(listeners[target]) {
                Ok(cl) => {
                    // Longer than the listener's own timeout, which answers -ERR first.
                    cl.set_timeout(Some(Duration::from_millis(FAST.client_timeout + 1500)))
                        .unwrap();
                    conn = Some(cl);
                }
                Err(_) => {
                    target = (target + 1) % listeners.len();
                    thread::sleep(Duration::from_millis(20));
                }
            }
            continue;
        };
        n += 1;
        let k = rng.random_range(0..KEYS);
        let key = format!("k{k}");
        let fresh = format!("{c}.{n}");
        let cmd = match rng.random_range(0..10) {
            0..=3 => Command::Get { key },
            4..=5 => Command::Set { key, value: fresh },
            6..=8 => Command::Cas {
                key,
                expected: seen[k].clone(),
                new: fresh,
            },
            _ => Command::Del { key },
        };
        let sent = recorder.lock().unwrap().now();
        let reply = client.command(&cmd);
        let mut r = recorder.lock().unwrap();
        let at = r.now();
        match reply {
            Ok(reply) => {
                match (&cmd, Outcome::from_reply(&cmd, &reply)) {
                    (_, Some(Outcome::Value(v))) => seen[k] = v,
                    (Command::Set { value, .. }, Some(_)) => seen[k] = Some(value.clone()),
                    (Command::Cas { new, .. }, Some(Outcome::Bool(true))) => {
                        seen[k] = Some(new.clone())
                    }
                    (Command::Del { .. }, Some(_)) => seen[k] = None,
                    _ => {}
                }
                r.record(c, cmd, sent, Some((at, &reply)));
            }
            Err(_) => {
                // Killed priest or no answer in time: the command is indeterminate, and the
                // connection's state unknown.
                r.record(c, cmd, sent, None);
                conn = None;
                target = (target + 1) % listeners.len();
            }
        }
    }
}

/// At the end: every key read through the listeners of priests `through` (recorded in the
/// history too), so a cluster that lost an acknowledged write, or stopped answering, cannot
/// pass.
pub fn final_reads(cluster: &Cluster, through: &[usize], recorder: &Mutex<History>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in 0..KEYS {
        let cmd = Command::Get {
            key: format!("k{k}"),
        };
        let mut i = 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "the cluster does not answer at the end\n{}",
                cluster.logs()
            );
            i += 1;
            let Some(mut c) = cluster.try_connect(
                through[i % through.len()],
                Duration::from_secs(2),
                Duration::from_secs(3),
            ) else {
                continue;
            };
            let sent = recorder.lock().unwrap().now();
            let reply = c.command(&cmd);
            let mut r = recorder.lock().unwrap();
            let at = r.now();
            if let Ok(reply @ Reply::Bulk(_)) = reply {
                r.record(usize::MAX, cmd.clone(), sent, Some((at, &reply)));
                break;
            }
            r.record(usize::MAX, cmd.clone(), sent, None);
        }
    }
}
