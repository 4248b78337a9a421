//! The load generator, outside the library: its flags and run ([`BenchArgs`], [`run`]) and
//! the closed loop itself ([`load`]). Both binaries include this module: `parliament-bench`
//! (`tools/bench/main.rs`) and `parliament bench` (`src/main.rs`), so neither the library
//! nor its users carry the generator, or with the cargo feature `etcd` its tokio and gRPC
//! client.

pub mod load;

use clap::Args;
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::Duration;

/// The flags of `parliament-bench` and `parliament bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// The RESP server, HOST:PORT; or several, HOST:PORT,HOST:PORT..., client i to server
    /// i mod n (every listener of a Parliament, say).
    #[arg(long, required_unless_present = "etcd", conflicts_with = "etcd")]
    addr: Option<String>,
    /// Drive etcd v3 instead, over gRPC: HOST:PORT[,HOST:PORT...], client i to member i mod n
    /// (SET is a Put, GET a linearizable Range). Needs a build with `--features etcd`.
    #[arg(long, value_name = "ENDPOINTS")]
    etcd: Option<String>,
    /// Concurrent connections, each with one command outstanding.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Keys are drawn uniformly from this many.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// set, get or mixed (half GET, half SET).
    #[arg(long, default_value = "set")]
    workload: load::Workload,
    /// Write every key once before measuring (so GETs hit).
    #[arg(long)]
    preload: bool,
    /// Seed of the key and value choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fail the run if a reply takes longer than this many seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The interval of the report's time series, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    series_ms: u64,
    /// Keep every command's start and latency in the JSON report (`requests`), for plots.
    #[arg(long)]
    requests: bool,
    /// Open a broken connection again, to the next server of --addr, instead of stopping
    /// the run: its command in flight counts as lost (`lost`, `reconnects` in the report).
    /// For runs that kill servers.
    #[arg(long, conflicts_with = "etcd")]
    reconnect: bool,
}

/// Runs the load and prints the report: exit status 0, 1 if the run failed (`name: error`
/// on stderr), 2 on a usage error.
pub fn run(args: BenchArgs, name: &str) -> ExitCode {
    let usage_error = |msg: &str| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let secs = |what: &str, s: f64| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{what} must be a positive number of seconds"))
    };
    let (duration, timeout) = match (
        secs("--seconds", args.seconds),
        secs("--timeout", args.timeout),
    ) {
        (Ok(d), Ok(t)) => (d, t),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    let load = load::Load {
        clients: args.clients,
        duration,
        keys: args.keys,
        value_size: args.value_size,
        workload: args.workload,
        preload: args.preload,
        seed: args.seed,
        timeout,
        series_ms: args.series_ms,
        requests: args.requests,
        reconnect: args.reconnect,
    };
    let result = match (&args.addr, &args.etcd) {
        (_, Some(endpoints)) => load::run_etcd(endpoints, &load),
        (Some(list), None) => {
            let mut addrs = Vec::new();
            for addr in list.split(',').map(str::trim) {
                match addr.to_socket_addrs().map(|mut a| a.next()) {
                    Ok(Some(a)) => addrs.push(a),
                    Ok(None) => return usage_error(&format!("--addr {addr}: no address")),
                    Err(e) => return usage_error(&format!("--addr {addr}: {e}")),
                }
            }
            load::run_resp(&load::Resp { addrs }, &load)
        }
        (None, None) => return usage_error("--addr or --etcd is required"),
    };
    match result {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serializes")
                );
            } else {
                println!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
