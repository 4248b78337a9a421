//! The load generator behind `parliament bench`: a closed loop of `clients` connections to
//! any RESP server, each sending one command and waiting for its reply before the next, for
//! a fixed time. Keys are drawn uniformly from `keys` (`key:000000001234`, like
//! `redis-benchmark`), values are `value_size` bytes. The latency of every command (send to
//! whole reply) goes into an HDR histogram; the report has ops/s and p50/p99/p999.
//!
//! Workloads: `set` (SET key value), `get` (GET key), `mixed` (half each, chosen at random).
//! With `preload`, every key is written once first (pipelined, not measured) so GETs hit.
//! An error reply, or a reply of the wrong kind, counts as an error (and its latency is
//! still recorded); a broken connection or no reply within `timeout` stops the run with an
//! error, since a closed loop cannot measure a server that does not answer.

use super::client::Client;
use super::Reply;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Barrier};
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

/// One run's settings.
#[derive(Clone, Debug, Serialize)]
pub struct BenchConfig {
    pub addr: SocketAddr,
    pub clients: usize,
    pub duration: Duration,
    pub keys: u64,
    pub value_size: usize,
    pub workload: Workload,
    pub preload: bool,
    pub seed: u64,
    /// Longest wait for one reply before the run fails.
    pub timeout: Duration,
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
    pub addr: SocketAddr,
    pub workload: Workload,
    pub clients: usize,
    pub keys: u64,
    pub value_size: usize,
    /// Measured time, seconds.
    pub seconds: f64,
    /// Commands answered (including error replies).
    pub ops: u64,
    /// Error replies and replies of the wrong kind.
    pub errors: u64,
    /// GETs that found a value (hits) and that found none.
    pub get_hits: u64,
    pub get_misses: u64,
    pub ops_per_sec: f64,
    pub latency: Latency,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: f64| us / 1000.0;
        writeln!(
            f,
            "{} workload, {} clients, {} keys, {}-byte values, {:.1} s against {}",
            self.workload, self.clients, self.keys, self.value_size, self.seconds, self.addr
        )?;
        writeln!(
            f,
            "{:.0} ops/s ({} ops, {} errors, {} get hits, {} get misses)",
            self.ops_per_sec, self.ops, self.errors, self.get_hits, self.get_misses
        )?;
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
}

fn fail(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Runs the load and reports. Errors: bad settings, a connection that fails or a server
/// that does not answer within the timeout.
pub fn run(config: &BenchConfig) -> io::Result<BenchReport> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_string());
    if config.clients == 0 {
        return Err(invalid("--clients must be at least 1"));
    }
    if config.keys == 0 {
        return Err(invalid("--keys must be at least 1"));
    }
    if config.duration.is_zero() {
        return Err(invalid("--seconds must be more than 0"));
    }
    let mut clients = Vec::with_capacity(config.clients);
    for _ in 0..config.clients {
        let c = Client::connect(config.addr)
            .map_err(|e| fail(&format!("connecting to {}", config.addr), e))?;
        c.set_timeout(Some(config.timeout))?;
        clients.push(c);
    }
    if config.preload {
        preload(config, &mut clients)?;
    }
    let barrier = Arc::new(Barrier::new(config.clients + 1));
    let mut handles = Vec::with_capacity(config.clients);
    for (i, client) in clients.into_iter().enumerate() {
        let (cfg, barrier) = (config.clone(), barrier.clone());
        handles.push(thread::spawn(move || {
            closed_loop(&cfg, client, cfg.seed.wrapping_add(i as u64), &barrier)
        }));
    }
    barrier.wait();
    let started = Instant::now();
    let mut total = Tally {
        hist: new_histogram(),
        ops: 0,
        errors: 0,
        hits: 0,
        misses: 0,
    };
    let mut first_error = None;
    for h in handles {
        match h.join().expect("bench client thread panicked") {
            Ok(t) => {
                total.hist.add(&t.hist).expect("same bounds");
                total.ops += t.ops;
                total.errors += t.errors;
                total.hits += t.hits;
                total.misses += t.misses;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        return Err(e);
    }
    let q = |p: f64| total.hist.value_at_quantile(p) as f64 / 1000.0;
    Ok(BenchReport {
        addr: config.addr,
        workload: config.workload,
        clients: config.clients,
        keys: config.keys,
        value_size: config.value_size,
        seconds,
        ops: total.ops,
        errors: total.errors,
        get_hits: total.hits,
        get_misses: total.misses,
        ops_per_sec: total.ops as f64 / seconds,
        latency: Latency {
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: total.hist.max() as f64 / 1000.0,
            mean_us: total.hist.mean() / 1000.0,
        },
    })
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

/// Writes every key once, pipelined, spread over the connections (not measured).
fn preload(config: &BenchConfig, clients: &mut [Client]) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
    let value = value_for(&mut rng, config.value_size);
    let n = clients.len() as u64;
    thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let value = &value;
                s.spawn(move || -> io::Result<()> {
                    let mine: Vec<u64> = (i as u64..config.keys).step_by(n as usize).collect();
                    for chunk in mine.chunks(64) {
                        for &k in chunk {
                            c.send(&[b"SET", key_name(k).as_bytes(), value])?;
                        }
                        for _ in chunk {
                            if let Reply::Error(e) = c.read_reply()? {
                                return Err(io::Error::other(format!("preload SET: {e}")));
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("preload thread panicked"))
    })
    .map_err(|e| fail("preloading", e))
}

fn closed_loop(
    config: &BenchConfig,
    mut client: Client,
    seed: u64,
    barrier: &Barrier,
) -> io::Result<Tally> {
    let mut rng = StdRng::seed_from_u64(seed);
    let value = value_for(&mut rng, config.value_size);
    let mut t = Tally {
        hist: new_histogram(),
        ops: 0,
        errors: 0,
        hits: 0,
        misses: 0,
    };
    barrier.wait();
    let deadline = Instant::now() + config.duration;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(t);
        }
        let key = key_name(rng.random_range(0..config.keys));
        let get = match config.workload {
            Workload::Get => true,
            Workload::Set => false,
            Workload::Mixed => rng.random_bool(0.5),
        };
        let reply = if get {
            client.call(&[b"GET", key.as_bytes()])
        } else {
            client.call(&[b"SET", key.as_bytes(), &value])
        }
        .map_err(|e| fail("waiting for a reply", e))?;
        t.hist.saturating_record(now.elapsed().as_nanos() as u64);
        t.ops += 1;
        match (get, reply) {
            (true, Reply::Bulk(Some(_))) => t.hits += 1,
            (true, Reply::Bulk(None)) => t.misses += 1,
            (false, Reply::Simple(s)) if s == "OK" => {}
            _ => t.errors += 1,
        }
    }
}
