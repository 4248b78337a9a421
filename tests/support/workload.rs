//! The workload of the tests that run clients against real priests under faults: random
//! commands on a few keys, every answer recorded in a [`History`] for the linearizability
//! check. On the string keys `k0`..`k2`: GET, SET, CAS, DEL, SET NX, GETDEL, APPEND, and MSET
//! and MGET of two or three of them (so the three keys are one component of the check); on
//! the counter `n0`: INCR, INCRBY, DECR, GET, and now and then a SET of a word (the next
//! increments are refused, `-ERR value is not an integer`) or a DEL; and transactions
//! (`MULTI` ... `EXEC`): an MSET-like pair of SETs, an INCR of the counter with a GET, and,
//! after `WATCH` and a `GET` of a key, a SET of it (run only if the key still holds what the
//! WATCH read) with a GET of another; and, on the counter, deadlines an hour ahead (`SET ..
//! PX`, `PEXPIRE`), `TTL` and `PERSIST`. Included by path
//! (`#[path = "support/workload.rs"]`) by the tests that also include `support/history.rs`
//! as `history`; each uses only some of it.

#![allow(dead_code)]

use super::history::{History, Outcome, FAR};
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
        let dice = rng.random_range(0..108);
        if dice >= 100 {
            let other = format!("k{}", (k + 1) % KEYS);
            let (watch, cmds) = match dice {
                100..=101 => (
                    None,
                    vec![
                        Command::Set {
                            key: key.clone(),
                            value: format!("{fresh}.a"),
                        },
                        Command::Set {
                            key: other,
                            value: format!("{fresh}.b"),
                        },
                    ],
                ),
                102..=103 => (
                    None,
                    vec![
                        Command::IncrBy {
                            name: "incr",
                            key: counter(),
                            by: 1,
                        },
                        Command::Get { key: key.clone() },
                    ],
                ),
                _ => (
                    Some(key.clone()),
                    vec![
                        Command::Set {
                            key: key.clone(),
                            value: fresh,
                        },
                        Command::Get { key: other },
                    ],
                ),
            };
            // What the client knew of these keys it no longer knows.
            seen[k] = None;
            seen[(k + 1) % KEYS] = None;
            if transaction(c, client, &recorder, watch, cmds).is_err() {
                conn = None;
                target = (target + 1) % listeners.len();
            }
            continue;
        }
        let cmd = match dice {
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
            // Keys that expire, on the counter: deadlines an hour ahead, so none passes
            // during a run (the history's rule for time).
            _ => {
                let far = parliament::kv::Time::In(FAR);
                match rng.random_range(0..5) {
                    0 => Command::SetTtl {
                        key: counter(),
                        value: format!("word{fresh}"),
                        when: parliament::kv::When::Always,
                        get: false,
                        ttl: parliament::kv::Ttl::Expire(far),
                    },
                    1 => Command::Expire {
                        name: "pexpire",
                        key: counter(),
                        at: far,
                        when: parliament::kv::ExpireIf::Always,
                    },
                    2 => Command::Ttl {
                        name: "ttl",
                        key: counter(),
                    },
                    3 => Command::Persist { key: counter() },
                    _ => Command::Set {
                        key: counter(),
                        value: format!("word{fresh}"),
                    },
                }
            }
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

/// Runs one transaction on `client`, recording it (and its WATCH and a GET of the watched key,
/// if `watch`) in the history: `WATCH key` and `GET key` first if `watch`, then `MULTI`, the
/// commands, `EXEC`. The transaction is one event, sent when `EXEC` was (nothing of it can
/// take effect before), whose watch is the client's last WATCH (see `history::step`). An
/// error before `EXEC` was sent records nothing further: the connection's transaction and
/// watches die with it, and the caller drops it. `Err`: the connection is to be dropped.
fn transaction(
    c: usize,
    client: &mut Client,
    recorder: &Mutex<History>,
    watch: Option<String>,
    cmds: Vec<Command>,
) -> Result<(), ()> {
    let mut call = |cmd: &Command| -> Result<(u64, Reply, u64), ()> {
        let sent = recorder.lock().unwrap().now();
        let reply = client.command(cmd).map_err(|_| ())?;
        Ok((sent, reply, recorder.lock().unwrap().now()))
    };
    if let Some(key) = &watch {
        let cmd = Command::Watch {
            keys: vec![key.clone()],
        };
        let (sent, reply, at) = call(&cmd)?;
        if reply != Reply::ok() {
            return Err(()); // a watch whose read failed watches nothing
        }
        recorder
            .lock()
            .unwrap()
            .record(c, cmd, sent, Some((at, &reply)));
        // What a client reads after WATCH to decide its transaction.
        let get = Command::Get { key: key.clone() };
        match call(&get) {
            Ok((sent, reply, at)) => {
                recorder
                    .lock()
                    .unwrap()
                    .record(c, get, sent, Some((at, &reply)))
            }
            Err(()) => {
                let sent = recorder.lock().unwrap().now();
                recorder.lock().unwrap().record(c, get, sent, None);
                return Err(());
            }
        }
    }
    if call(&Command::Multi)?.1 != Reply::ok() {
        return Err(());
    }
    for cmd in &cmds {
        if call(cmd)?.1 != Reply::Simple("QUEUED".into()) {
            return Err(());
        }
    }
    let exec = Command::Exec {
        watch: watch.into_iter().map(|k| (k, None)).collect(),
        cmds,
    };
    let sent = recorder.lock().unwrap().now();
    match client.command(&Command::Exec {
        watch: Vec::new(),
        cmds: Vec::new(),
    }) {
        Ok(reply) => {
            let mut r = recorder.lock().unwrap();
            let at = r.now();
            r.record(c, exec, sent, Some((at, &reply)));
            Ok(())
        }
        Err(_) => {
            recorder.lock().unwrap().record(c, exec, sent, None);
            Err(())
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
