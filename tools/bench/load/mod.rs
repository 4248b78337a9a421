//! The load generator behind `parliament-bench` (and `parliament bench`): a closed loop of `clients` connections to
//! a key-value server, each sending one command and waiting for its reply before the next,
//! for a fixed time. Keys are drawn uniformly from `keys` (`key:000000001234`, like
//! `redis-benchmark`), values are `value_size` bytes. The latency of every command (send to
//! whole reply) goes into an HDR histogram; the report has ops/s and p50/p99/p999.
//!
//! Workloads: `set` (SET key value), `get` (GET key), `mixed` (half each, chosen at random).
//! With `preload`, every key is written once first (not measured) so GETs hit.
//! An error reply, or a reply of the wrong kind, counts as an error (and its latency is
//! still recorded); a broken connection or no reply within `timeout` stops the run with an
//! error, since a closed loop cannot measure a server that does not answer.
//!
//! The loop, the choice of keys and values, the histogram and the report are the same for
//! every server; what differs is one client connection, a [`Connection`] made by a
//! [`Driver`]. [`run_with`] gives each client a thread; [`run_resp`] (what `parliament
//! bench --addr` runs) serves every RESP client from one event-loop thread, as
//! `redis-benchmark` does, so that the generator takes less of the CPU it shares with the
//! servers it measures. [`Resp`] speaks RESP to any Redis-protocol server (the Parliament's
//! listeners, Redis itself); with the cargo feature `etcd`, `etcd::Etcd` speaks etcd's v3
//! gRPC API (a Put for SET, a linearizable Range for GET), so the Parliament and etcd are
//! measured by the same generator.
//!
//! # The time series
//!
//! A run's percentiles hide when its slow commands came: a stall of half a second in a
//! ten-second run moves p999 and nothing else. So the generator also keeps every command's
//! start (from the start of the run) and latency, and the report has them as a time series
//! ([`BenchReport::series`]): for each interval of `series_ms` (default 100 ms) by start
//! time, how many commands started and their p50, p99 and longest latency. It also has the
//! longest time the clients together went without any answer ([`BenchReport::longest_silence_us`]),
//! the figure a fault costs. With `requests` the report keeps every command's start and
//! latency as well (`[start_us, latency_us]`, eight bytes a command in memory), for plots.

use hdrhistogram::Histogram;
use parliament::resp::client::Client;
use parliament::resp::Reply;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// What the clients send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Set,
    Get,
    Mixed,
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "set" => Ok(Workload::Set),
            "get" => Ok(Workload::Get),
            "mixed" => Ok(Workload::Mixed),
            other => Err(format!(
                "unknown workload '{other}' (expected set, get or mixed)"
            )),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
        })
    }
}

/// What the closed loop sends, whatever the server.
#[derive(Clone, Debug, Serialize)]
pub struct Load {
    pub clients: usize,
    pub duration: Duration,
    pub keys: u64,
    pub value_size: usize,
    pub workload: Workload,
    pub preload: bool,
    pub seed: u64,
    /// Longest wait for one reply before the run fails.
    pub timeout: Duration,
    /// The interval of the time series ([`BenchReport::series`]).
    pub series_ms: u64,
    /// Whether the report lists every command ([`BenchReport::requests`]).
    pub requests: bool,
    /// Whether a broken connection is opened again, to the next server, instead of stopping
    /// the run (RESP only; [`BenchReport::lost`]).
    pub reconnect: bool,
}

/// How a server answered one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A write was acknowledged.
    Written,
    /// A read found a value.
    Hit,
    /// A read found none.
    Miss,
    /// An error reply, or a reply of the wrong kind.
    Error,
}

/// One client connection: one command at a time. An `Err` is a broken connection or a
/// timeout, and stops the run; an error the server answered is `Ok(Answer::Error)`.
pub trait Connection: Send {
    /// Writes `value` under `key` (SET, Put).
    fn set(&mut self, key: &str, value: &[u8]) -> io::Result<Answer>;
    /// Reads `key` (GET, linearizable Range).
    fn get(&mut self, key: &str) -> io::Result<Answer>;
    /// Writes `value` under every key in `keys`, before the measurement (not measured). One
    /// at a time unless a connection knows better.
    fn preload(&mut self, keys: &[u64], value: &[u8]) -> io::Result<()> {
        for &k in keys {
            if self.set(&key_name(k), value)? != Answer::Written {
                return Err(io::Error::other(format!(
                    "preload: writing {} was refused",
                    key_name(k)
                )));
            }
        }
        Ok(())
    }
}

/// Makes the connections to one server (or cluster).
pub trait Driver: Sync {
    type Conn: Connection;
    /// What kind of server: `resp`, `etcd`.
    fn system(&self) -> &'static str;
    /// Where it is, for the report.
    fn target(&self) -> String;
    /// Opens client `index`'s connection (a driver may spread clients over endpoints).
    fn connect(&self, index: usize, load: &Load) -> io::Result<Self::Conn>;
}

/// The RESP driver: one TCP connection per client, client `i` to `addrs[i mod n]` (so the
/// clients spread over every listener given, as an etcd client's over its endpoints).
#[derive(Clone, Debug)]
pub struct Resp {
    pub addrs: Vec<SocketAddr>,
}

impl Driver for Resp {
    type Conn = Client;
    fn system(&self) -> &'static str {
        "resp"
    }
    fn target(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(|a| a.to_string()).collect();
        addrs.join(",")
    }
    fn connect(&self, index: usize, load: &Load) -> io::Result<Client> {
        let Some(&addr) = self.addrs.get(index % self.addrs.len().max(1)) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no server address to connect to",
            ));
        };
        let c = Client::connect(addr).map_err(|e| fail(&format!("connecting to {addr}"), e))?;
        c.set_timeout(Some(load.timeout))?;
        Ok(c)
    }
}

impl Connection for Client {
    fn set(&mut self, key: &str, value: &[u8]) -> io::Result<Answer> {
        Ok(answer_of(
            false,
            &self.call(&[b"SET", key.as_bytes(), value])?,
        ))
    }

    fn get(&mut self, key: &str) -> io::Result<Answer> {
        Ok(answer_of(true, &self.call(&[b"GET", key.as_bytes()])?))
    }

    /// Pipelined, 64 SETs at a time.
    fn preload(&mut self, keys: &[u64], value: &[u8]) -> io::Result<()> {
        for chunk in keys.chunks(64) {
            for &k in chunk {
                self.send(&[b"SET", key_name(k).as_bytes(), value])?;
            }
            for _ in chunk {
                if let Reply::Error(e) = self.read_reply()? {
                    return Err(io::Error::other(format!("preload SET: {e}")));
                }
            }
        }
        Ok(())
    }
}

/// How a RESP server answered a GET (`get`) or a SET.
fn answer_of(get: bool, reply: &Reply) -> Answer {
    match (get, reply) {
        (false, Reply::Simple(s)) if s == "OK" => Answer::Written,
        (true, Reply::Bulk(Some(_))) => Answer::Hit,
        (true, Reply::Bulk(None)) => Answer::Miss,
        _ => Answer::Error,
    }
}

/// Latencies in microseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// One run's figures.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The kind of server ([`Driver::system`]): `resp` or `etcd`.
    pub system: &'static str,
    /// Its address (or endpoints).
    pub target: String,
    pub workload: Workload,
    pub clients: usize,
    pub keys: u64,
    pub value_size: usize,
    /// When the measured time began, microseconds since the Unix epoch (by the system clock,
    /// to line the run up with what happened meanwhile, such as a fault injected).
    pub started_unix_us: u64,
    /// Measured time, seconds.
    pub seconds: f64,
    /// Commands answered (including error replies).
    pub ops: u64,
    /// With `reconnect`: commands whose connection broke before their answer came, and the
    /// connections opened again.
    pub lost: u64,
    pub reconnects: u64,
    /// Error replies and replies of the wrong kind.
    pub errors: u64,
    /// GETs that found a value (hits) and that found none.
    pub get_hits: u64,
    pub get_misses: u64,
    pub ops_per_sec: f64,
    pub latency: Latency,
    /// The run in intervals of `series_ms`, by the time each command started.
    pub series: Vec<Interval>,
    /// The longest time, in microseconds, between one answer (or the start of the run) and
    /// the next, whichever client it came to: how long the server answered nobody.
    pub longest_silence_us: u64,
    /// Every command: when it started, microseconds after the run began, and its latency
    /// in microseconds, in order of start (only when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<[u32; 2]>>,
}

/// The commands that started in one interval of a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Interval {
    /// The interval's start, milliseconds after the run began.
    pub at_ms: u64,
    pub ops: u64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
}

/// The time series of a run's commands (`[start_us, latency_us]`, any order), in intervals
/// of `every_ms`, and the longest silence: the longest time between consecutive answers
/// (answers at start + latency), from the start of the run to the last answer.
pub fn series(requests: &mut [[u32; 2]], every_ms: u64) -> (Vec<Interval>, u64) {
    let mut answers: Vec<u64> = requests
        .iter()
        .map(|[start, lat]| u64::from(*start) + u64::from(*lat))
        .collect();
    answers.sort_unstable();
    let mut silence = 0;
    let mut last = 0;
    for a in answers {
        silence = silence.max(a - last);
        last = a;
    }
    requests.sort_unstable();
    let every_us = every_ms.max(1) * 1000;
    let mut out = Vec::new();
    for chunk in requests.chunk_by(|a, b| u64::from(a[0]) / every_us == u64::from(b[0]) / every_us)
    {
        let mut lat: Vec<u32> = chunk.iter().map(|r| r[1]).collect();
        lat.sort_unstable();
        let q = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
        out.push(Interval {
            at_ms: u64::from(chunk[0][0]) / every_us * every_ms.max(1),
            ops: lat.len() as u64,
            p50_us: q(0.5),
            p99_us: q(0.99),
            max_us: lat[lat.len() - 1],
        });
    }
    (out, silence)
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: f64| us / 1000.0;
        writeln!(
            f,
            "{} workload, {} clients, {} keys, {}-byte values, {:.1} s against {} ({})",
            self.workload,
            self.clients,
            self.keys,
            self.value_size,
            self.seconds,
            self.target,
            self.system
        )?;
        writeln!(
            f,
            "{:.0} ops/s ({} ops, {} errors, {} get hits, {} get misses)",
            self.ops_per_sec, self.ops, self.errors, self.get_hits, self.get_misses
        )?;
        if self.reconnects > 0 || self.lost > 0 {
            writeln!(
                f,
                "{} connections opened again, {} commands lost with their connection",
                self.reconnects, self.lost
            )?;
        }
        write!(
            f,
            "latency p50 {:.3} ms  p99 {:.3} ms  p999 {:.3} ms  max {:.3} ms  mean {:.3} ms",
            ms(self.latency.p50_us),
            ms(self.latency.p99_us),
            ms(self.latency.p999_us),
            ms(self.latency.max_us),
            ms(self.latency.mean_us)
        )
    }
}

/// The name of key number `i`.
pub fn key_name(i: u64) -> String {
    format!("key:{i:012}")
}

struct Tally {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    hits: u64,
    misses: u64,
    lost: u64,
    reconnects: u64,
    /// Every command's start and latency in microseconds ([`series`]).
    requests: Vec<[u32; 2]>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hist: new_histogram(),
            ops: 0,
            errors: 0,
            hits: 0,
            misses: 0,
            lost: 0,
            reconnects: 0,
            requests: Vec::new(),
        }
    }
}

fn fail(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Runs the load against etcd v3 members (`HOST:PORT[,HOST:PORT...]`; client `i` talks to
/// endpoint `i mod n`). Without the cargo feature `etcd` this is an error saying how to
/// build with it.
pub fn run_etcd(endpoints: &str, load: &Load) -> io::Result<BenchReport> {
    #[cfg(feature = "etcd")]
    {
        run_with(&etcd::Etcd::new(endpoints)?, load)
    }
    #[cfg(not(feature = "etcd"))]
    {
        let _ = (endpoints, load);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "built without the etcd feature: cargo build --release --features etcd",
        ))
    }
}

/// Refuses a load that cannot be measured.
fn check_load(load: &Load) -> io::Result<()> {
    let invalid = |m: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, m.to_string()));
    if load.clients == 0 {
        return invalid("--clients must be at least 1");
    }
    if load.keys == 0 {
        return invalid("--keys must be at least 1");
    }
    if load.duration.is_zero() {
        return invalid("--seconds must be more than 0");
    }
    Ok(())
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.hist.add(&t.hist).expect("same bounds");
        self.ops += t.ops;
        self.errors += t.errors;
        self.hits += t.hits;
        self.misses += t.misses;
        self.lost += t.lost;
        self.reconnects += t.reconnects;
        self.requests.extend_from_slice(&t.requests);
    }

    /// The report of a run of `load` that took `seconds` against `target`.
    fn report(
        mut self,
        system: &'static str,
        target: String,
        load: &Load,
        seconds: f64,
    ) -> BenchReport {
        let q = |p: f64| self.hist.value_at_quantile(p) as f64 / 1000.0;
        let (series, longest_silence_us) = series(&mut self.requests, load.series_ms);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let started_unix_us = now
            .saturating_sub(Duration::from_secs_f64(seconds))
            .as_micros() as u64;
        BenchReport {
            system,
            target,
            workload: load.workload,
            clients: load.clients,
            keys: load.keys,
            value_size: load.value_size,
            started_unix_us,
            seconds,
            ops: self.ops,
            lost: self.lost,
            reconnects: self.reconnects,
            errors: self.errors,
            get_hits: self.hits,
            get_misses: self.misses,
            ops_per_sec: self.ops as f64 / seconds,
            latency: Latency {
                p50_us: q(0.5),
                p99_us: q(0.99),
                p999_us: q(0.999),
                max_us: self.hist.max() as f64 / 1000.0,
                mean_us: self.hist.mean() / 1000.0,
            },
            series,
            longest_silence_us,
            requests: load.requests.then_some(self.requests),
        }
    }
}

/// Checks the load, opens every client's connection and preloads the keys if asked.
fn connect_all<D: Driver>(driver: &D, load: &Load) -> io::Result<Vec<D::Conn>> {
    check_load(load)?;
    let mut conns = Vec::with_capacity(load.clients);
    for i in 0..load.clients {
        conns.push(driver.connect(i, load)?);
    }
    if load.preload {
        preload(load, &mut conns)?;
    }
    Ok(conns)
}

/// Runs the load through `driver`'s connections, a thread per client, and reports (the etcd
/// driver's loop; RESP has its own, [`run_resp`]).
#[cfg_attr(not(feature = "etcd"), allow(dead_code))] // and tests/resp_server.rs's
pub fn run_with<D: Driver>(driver: &D, load: &Load) -> io::Result<BenchReport> {
    let conns = connect_all(driver, load)?;
    let barrier = Barrier::new(load.clients + 1);
    let mut total = Tally::new();
    let mut first_error = None;
    let started = thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let barrier = &barrier;
                s.spawn(move || closed_loop(load, conn, i, barrier))
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        for h in handles {
            match h.join().expect("bench client thread panicked") {
                Ok(t) => total.add(&t),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        started
    });
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(total.report(driver.system(), driver.target(), load, seconds))
}

fn new_histogram() -> Histogram<u64> {
    // Nanoseconds, 1 ns to 1 minute, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn value_for(rng: &mut StdRng, size: usize) -> Vec<u8> {
    (0..size)
        .map(|_| b'a' + rng.random_range(0..26u8))
        .collect()
}

/// Writes every key once, spread over the connections (not measured).
fn preload<C: Connection>(load: &Load, conns: &mut [C]) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(load.seed ^ 0x5eed);
    let value = value_for(&mut rng, load.value_size);
    let n = conns.len();
    thread::scope(|s| {
        let handles: Vec<_> = conns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let value = &value;
                s.spawn(move || {
                    let mine: Vec<u64> = (i as u64..load.keys).step_by(n).collect();
                    c.preload(&mine, value)
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("preload thread panicked"))
    })
    .map_err(|e| fail("preloading", e))
}

/// One client's side of the closed loop, whatever carries its commands: which command comes
/// next (a key drawn from `load.keys`, GET or SET by the workload) and the tally of answers.
struct Pace {
    rng: StdRng,
    value: Vec<u8>,
    tally: Tally,
    /// When the run began (each command's start is counted from it).
    origin: Instant,
}

impl Pace {
    fn new(load: &Load, client: usize, origin: Instant) -> Pace {
        let mut rng = StdRng::seed_from_u64(load.seed.wrapping_add(client as u64));
        let value = value_for(&mut rng, load.value_size);
        Pace {
            rng,
            value,
            tally: Tally::new(),
            origin,
        }
    }

    /// The next command: its key, and whether it is a GET (else a SET of `self.value`).
    fn next(&mut self, load: &Load) -> (String, bool) {
        let key = key_name(self.rng.random_range(0..load.keys));
        let get = match load.workload {
            Workload::Get => true,
            Workload::Set => false,
            Workload::Mixed => self.rng.random_bool(0.5),
        };
        (key, get)
    }

    /// Counts the answer to a command sent at `sent`.
    fn record(&mut self, get: bool, answer: Answer, sent: Instant) {
        let t = &mut self.tally;
        let took = sent.elapsed();
        t.hist.saturating_record(took.as_nanos() as u64);
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        t.requests
            .push([us(sent.saturating_duration_since(self.origin)), us(took)]);
        t.ops += 1;
        match (get, answer) {
            (true, Answer::Hit) => t.hits += 1,
            (true, Answer::Miss) => t.misses += 1,
            (false, Answer::Written) => {}
            _ => t.errors += 1,
        }
    }
}

fn closed_loop<C: Connection>(
    load: &Load,
    mut conn: C,
    client: usize,
    barrier: &Barrier,
) -> io::Result<Tally> {
    barrier.wait();
    let origin = Instant::now();
    let mut pace = Pace::new(load, client, origin);
    let deadline = origin + load.duration;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(pace.tally);
        }
        let (key, get) = pace.next(load);
        let answer = if get {
            conn.get(&key)
        } else {
            conn.set(&key, &pace.value)
        }
        .map_err(|e| fail("waiting for a reply", e))?;
        pace.record(get, answer, now);
    }
}

mod evented;

pub use evented::run_resp;

#[cfg(feature = "etcd")]
pub mod etcd;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// An in-process server: a shared map; every `refuse_every`-th command (counting from
    /// one) is answered with an error, and a connection breaks after `break_after` commands.
    #[derive(Default)]
    struct Fake {
        map: Mutex<HashMap<String, usize>>,
        calls: AtomicU64,
        refuse_every: u64,
        break_after: Option<u64>,
        connected: Mutex<Vec<usize>>,
    }

    struct FakeConn(Arc<Fake>, u64);

    impl FakeConn {
        fn count(&mut self) -> io::Result<bool> {
            self.1 += 1;
            if self.0.break_after.is_some_and(|n| self.1 > n) {
                return Err(io::ErrorKind::ConnectionReset.into());
            }
            let n = self.0.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(self.0.refuse_every != 0 && n.is_multiple_of(self.0.refuse_every))
        }
    }

    impl Connection for FakeConn {
        fn set(&mut self, key: &str, value: &[u8]) -> io::Result<Answer> {
            if self.count()? {
                return Ok(Answer::Error);
            }
            self.0.map.lock().unwrap().insert(key.into(), value.len());
            Ok(Answer::Written)
        }
        fn get(&mut self, key: &str) -> io::Result<Answer> {
            if self.count()? {
                return Ok(Answer::Error);
            }
            Ok(match self.0.map.lock().unwrap().contains_key(key) {
                true => Answer::Hit,
                false => Answer::Miss,
            })
        }
    }

    struct FakeDriver(Arc<Fake>);

    impl Driver for FakeDriver {
        type Conn = FakeConn;
        fn system(&self) -> &'static str {
            "fake"
        }
        fn target(&self) -> String {
            "in-process".into()
        }
        fn connect(&self, index: usize, _load: &Load) -> io::Result<FakeConn> {
            self.0.connected.lock().unwrap().push(index);
            Ok(FakeConn(self.0.clone(), 0))
        }
    }

    fn load(workload: Workload, preload: bool) -> Load {
        Load {
            clients: 3,
            duration: Duration::from_millis(50),
            keys: 200,
            value_size: 7,
            workload,
            preload,
            seed: 1,
            timeout: Duration::from_secs(1),
            series_ms: 100,
            requests: false,
            reconnect: false,
        }
    }

    #[test]
    fn every_answer_is_counted_once_and_every_client_connects() {
        // The run is timed, and a stalled machine may answer only a handful of
        // operations in 50 ms: run again, longer, until the sample is large
        // enough to hold hits, misses and SETs.
        let mut timed = load(Workload::Mixed, false);
        let (fake, r) = loop {
            let fake = Arc::new(Fake {
                refuse_every: 10,
                ..Fake::default()
            });
            let r = run_with(&FakeDriver(fake.clone()), &timed).unwrap();
            if r.ops >= 1_000 || timed.duration >= Duration::from_secs(5) {
                break (fake, r);
            }
            timed.duration *= 2;
        };
        assert_eq!(*fake.connected.lock().unwrap(), vec![0, 1, 2]);
        assert_eq!(r.ops, fake.calls.load(Ordering::SeqCst));
        assert_eq!(r.errors, r.ops / 10);
        assert!(r.get_hits > 0 && r.get_misses > 0, "{r}");
        assert!(
            r.get_hits + r.get_misses + r.errors < r.ops,
            "some SETs: {r}"
        );
        assert_eq!((r.system, r.target.as_str()), ("fake", "in-process"));
        let l = &r.latency;
        assert!(l.p50_us <= l.p99_us && l.p99_us <= l.p999_us && l.p999_us <= l.max_us * 1.001);
        assert!(fake.map.lock().unwrap().values().all(|&len| len == 7));
    }

    /// A RESP server on 127.0.0.1 that answers `+OK` to every SET and closes each
    /// connection after its `per_connection`th answer.
    fn closing_server(per_connection: usize) -> SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                thread::spawn(move || {
                    let (mut seen, mut answered, mut buf) = (Vec::new(), 0, [0u8; 4096]);
                    while answered < per_connection {
                        let Ok(n) = stream.read(&mut buf) else { return };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let whole = seen.windows(8).filter(|w| w == b"$3\r\nSET\r").count();
                        while answered < whole.min(per_connection) {
                            if stream.write_all(b"+OK\r\n").is_err() {
                                return;
                            }
                            answered += 1;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn a_broken_connection_stops_the_run_or_with_reconnect_is_opened_again() {
        let addr = closing_server(20);
        let resp = Resp { addrs: vec![addr] };
        let broken = Load {
            duration: Duration::from_millis(300),
            ..load(Workload::Set, false)
        };
        assert!(run_resp(&resp, &broken).is_err());
        let r = run_resp(
            &resp,
            &Load {
                reconnect: true,
                ..broken
            },
        )
        .unwrap();
        // Every connection is closed after 20 answers: a client that got n answers broke
        // at least n / 20 times (the 21st command is lost), and opened again as often.
        assert!(r.ops >= 60, "{r}");
        assert!(r.reconnects >= r.ops / 20 - 3, "{r}");
        assert!(r.lost >= r.reconnects && r.lost <= r.reconnects + 3, "{r}");
        assert_eq!(r.errors, 0);
    }

    #[test]
    fn the_series_counts_every_command_once_and_finds_the_longest_silence() {
        // Starts and latencies in microseconds: three commands in the first 100 ms, one in
        // the third interval; answers at 10, 50, 60 and 400 ms.
        let mut reqs = vec![
            [250_000, 150_000],
            [0, 10_000],
            [20_000, 30_000],
            [40_000, 20_000],
        ];
        let (s, silence) = series(&mut reqs, 100);
        assert_eq!(
            silence, 340_000,
            "from the answer at 60 ms to the one at 400 ms"
        );
        assert_eq!(
            s,
            vec![
                Interval {
                    at_ms: 0,
                    ops: 3,
                    p50_us: 20_000,
                    p99_us: 30_000,
                    max_us: 30_000
                },
                Interval {
                    at_ms: 200,
                    ops: 1,
                    p50_us: 150_000,
                    p99_us: 150_000,
                    max_us: 150_000
                },
            ]
        );
        // A run's report: its intervals add up to its commands.
        let fake = Arc::new(Fake::default());
        let r = run_with(
            &FakeDriver(fake),
            &Load {
                requests: true,
                ..load(Workload::Set, false)
            },
        )
        .unwrap();
        assert_eq!(r.series.iter().map(|i| i.ops).sum::<u64>(), r.ops);
        assert_eq!(r.requests.as_ref().map(Vec::len), Some(r.ops as usize));
    }

    #[test]
    fn preload_writes_every_key_once_over_all_connections_then_gets_hit() {
        let fake = Arc::new(Fake::default());
        let r = run_with(&FakeDriver(fake.clone()), &load(Workload::Get, true)).unwrap();
        assert_eq!(fake.map.lock().unwrap().len(), 200);
        // The preload's 200 SETs are not in the report; every measured GET hits.
        assert_eq!(r.ops + 200, fake.calls.load(Ordering::SeqCst));
        assert_eq!(r.get_hits, r.ops);
    }

    #[test]
    fn a_refused_preload_or_a_broken_connection_stops_the_run() {
        let refusing = Arc::new(Fake {
            refuse_every: 1,
            ..Fake::default()
        });
        let e = run_with(&FakeDriver(refusing), &load(Workload::Get, true)).unwrap_err();
        assert!(
            e.to_string().contains("preloading: preload: writing key:"),
            "{e}"
        );

        let breaking = Arc::new(Fake {
            break_after: Some(5),
            ..Fake::default()
        });
        // The break, not the clock, ends this run: a stalled machine may send fewer than
        // six commands on a connection in 50 ms, so the run is given far longer.
        let long = Load {
            duration: Duration::from_secs(30),
            ..load(Workload::Set, false)
        };
        let e = run_with(&FakeDriver(breaking), &long).unwrap_err();
        assert!(e.to_string().starts_with("waiting for a reply: "), "{e}");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn bad_loads_are_refused_before_connecting() {
        let fake = Arc::new(Fake::default());
        for (change, msg) in [
            (0, "--clients must be at least 1"),
            (1, "--keys must be at least 1"),
            (2, "--seconds must be more than 0"),
        ] {
            let mut l = load(Workload::Set, false);
            match change {
                0 => l.clients = 0,
                1 => l.keys = 0,
                _ => l.duration = Duration::ZERO,
            }
            let e = run_with(&FakeDriver(fake.clone()), &l).unwrap_err();
            assert_eq!(e.to_string(), msg);
        }
        assert!(fake.connected.lock().unwrap().is_empty());
    }

    #[cfg(not(feature = "etcd"))]
    #[test]
    fn etcd_without_the_feature_says_how_to_build_it() {
        let e = run_etcd("127.0.0.1:2379", &load(Workload::Set, false)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert_eq!(
            e.to_string(),
            "built without the etcd feature: cargo build --release --features etcd"
        );
    }
}
