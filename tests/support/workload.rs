//! The workload of the tests that run clients against real priests under faults: random
//! commands on a few keys, every answer recorded in a [`History`] for the linearizability
//! check. On the string keys `k0`..`k2`: GET, SET, CAS, DEL, SET NX, GETDEL, APPEND, and MSET
//! and MGET of two or three of them (so the three keys are one component of the check); on
//! the counter `n0`: INCR, INCRBY, DECR, GET, and now and then a SET of a word (the next
//! increments are refused, `-ERR value is not an integer`) or a DEL. Included by path
//! (`#[path = "support/workload.rs"]`) by the tests that also include `support/history.rs`
//! as `history`; each uses only some of it.

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

/// The string keys the clients of the nemesis test share.
pub const KEYS: usize = 3;
/// The counter they share.
pub const COUNTER: &str = "n0";

/// A client of the nemesis test: random commands on a few keys, every written value unique
/// (so a stale value cannot be mistaken for a fresh one: an append adds a unique word too),
/// through priest `c % n`'s listener and, when that one is down, the next one's.
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
        let counter = || COUNTER.to_string();
        let cmd = match rng.random_range(0..100) {
            0..=19 => Command::Get { key },
            20..=27 => Command::Set { key, value: fresh },
            28..=42 => Command::Cas {
                key,
                expected: seen[k].clone(),
                new: fresh,
            },
            43..=46 => Command::Del { key },
            47..=50 => Command::Cas {
                key,
                expected: None,
                new: fresh,
            },
            51..=54 => Command::GetDel { key },
            55..=61 => Command::Append {
                key,
                value: format!("+{fresh}"),
            },
            62..=69 => Command::MSet {
                pairs: some_keys(&mut rng)
                    .into_iter()
                    .map(|k| (format!("k{k}"), format!("{fresh}.{k}")))
                    .collect(),
            },
            70..=77 => Command::MGet {
                keys: some_keys(&mut rng)
                    .into_iter()
                    .map(|k| format!("k{k}"))
                    .collect(),
            },
            78..=86 => Command::IncrBy {
                name: "incr",
                key: counter(),
                by: 1,
            },
            87..=90 => Command::IncrBy {
                name: "incrby",
                key: counter(),
                by: rng.random_range(-5..=5),
            },
            91..=92 => Command::IncrBy {
                name: "decr",
                key: counter(),
                by: -1,
            },
            93..=96 => Command::Get { key: counter() },
            97..=98 => Command::Del { key: counter() },
            _ => Command::Set {
                key: counter(),
                value: format!("word{fresh}"),
            },
        };
        let sent = recorder.lock().unwrap().now();
        let reply = client.command(&cmd);
        let mut r = recorder.lock().unwrap();
        let at = r.now();
        match reply {
            Ok(reply) => {
                // What this client now knows of the string keys, for its next CAS.
                let ix = |key: &str| key.strip_prefix('k').and_then(|i| i.parse::<usize>().ok());
                match (&cmd, Outcome::from_reply(&cmd, &reply)) {
                    (_, _) if cmd.keys().iter().all(|k| ix(k).is_none()) => {}
                    (Command::MGet { keys }, Some(Outcome::Values(vs))) => {
                        for (key, v) in keys.iter().zip(vs) {
                            seen[ix(key).unwrap()] = v;
                        }
                    }
                    (Command::MSet { pairs }, Some(_)) => {
                        for (key, v) in pairs {
                            seen[ix(key).unwrap()] = Some(v.clone());
                        }
                    }
                    (Command::GetDel { .. }, Some(_)) => seen[k] = None,
                    (_, Some(Outcome::Value(v))) => seen[k] = v,
                    (Command::Set { value, .. }, Some(_)) => seen[k] = Some(value.clone()),
                    (Command::Cas { new, .. }, Some(Outcome::Bool(true))) => {
                        seen[k] = Some(new.clone())
                    }
                    (Command::Del { .. }, Some(_)) => seen[k] = None,
                    // After an append this client does not know the value.
                    (Command::Append { .. }, _) => seen[k] = None,
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

/// Two or three of the string keys, in a random order.
fn some_keys(rng: &mut StdRng) -> Vec<usize> {
    let mut ks: Vec<usize> = (0..KEYS).collect();
    for i in (1..ks.len()).rev() {
        ks.swap(i, rng.random_range(0..=i));
    }
    ks.truncate(rng.random_range(2..=KEYS));
    ks
}

/// At the end: every key read through the listeners of priests `through` (recorded in the
/// history too), so a cluster that lost an acknowledged write, or stopped answering, cannot
/// pass.
pub fn final_reads(cluster: &Cluster, through: &[usize], recorder: &Mutex<History>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let keys = (0..KEYS)
        .map(|k| format!("k{k}"))
        .chain([COUNTER.to_string()]);
    for key in keys {
        let cmd = Command::Get { key };
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
