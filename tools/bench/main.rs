//! `parliament-bench`: the load generator on its own. It drives a RESP (Redis protocol)
//! server, or with the cargo feature `etcd` an etcd v3 cluster, with a closed loop of
//! clients and prints ops/s and latency; the same as `parliament bench`, with the same
//! flags and exit status.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "mod.rs"]
mod bench;

use clap::Parser;
use std::process::ExitCode;

/// Drive a RESP (Redis protocol) server with a closed loop of clients; print ops/s and latency.
#[derive(Parser)]
#[command(name = "parliament-bench", version)]
struct Cli {
    #[command(flatten)]
    args: bench::BenchArgs,
}

fn main() -> ExitCode {
    bench::run(Cli::parse().args, "parliament-bench")
}
