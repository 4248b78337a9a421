//! The command line of `parliament`: one module per verb, each with its flags (a clap
//! `Args` struct or `Subcommand` enum) and a `run` returning the exit status.

mod bugs;
mod check;
mod cluster;
mod explore;
mod keygen;
mod kv;
mod member;
mod serve;
mod status;
mod synod;
mod trace;

use crate::bench;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "parliament",
    version,
    about = "Lamport's Paxos, model-checked and deployed"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Model-check a protocol and report every property.
    ///
    /// Exit status: 0 if the search was complete and every property holds; 1 if some
    /// property fails (a real counterexample, complete search or not); 3 if none fails but
    /// the search was incomplete (--timeout) or some property was not checked; 2 on a usage
    /// error.
    Check {
        #[command(subcommand)]
        model: check::CheckModel,
    },
    /// Serve stateright's explorer over a model, told in the paper's words, on 127.0.0.1:3000
    /// (--addr) until interrupted.
    Explore {
        #[command(subcommand)]
        model: explore::ExploreModel,
    },
    /// List the seeded bugs, each with the property it breaks.
    Bugs {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run one priest of a configured cluster over UDP (stops on SIGINT/SIGTERM): a Synod
    /// priest, or with `protocol = "parliament"` a Parliament priest and its RESP listener.
    Serve(serve::ServeArgs),
    /// Talk to a deployed Synod cluster.
    Synod {
        #[command(subcommand)]
        command: synod::SynodCommand,
    },
    /// Write a fresh random cluster key (64 hex digits) to FILE.
    Keygen {
        /// Where to write the key (must not exist).
        file: std::path::PathBuf,
    },
    /// Drive a RESP (Redis protocol) server with a closed loop of clients; print ops/s and latency.
    Bench(bench::BenchArgs),
    /// Run one command against a RESP server, for scripts: prints the answer; exit status 0
    /// for yes (found, deleted, swapped), 1 for no, 2 for an error.
    Kv(kv::KvArgs),
    /// Run a local Parliament (the key-value service) in DIR: creates its key, configuration
    /// and ledgers the first time, reuses them after; prints each priest's Redis port; stops
    /// every priest on Ctrl-C or SIGTERM.
    Cluster(cluster::ClusterFlags),
    /// Print each priest's role, ballot, president, highest decree chosen and applied,
    /// ledger size and dropped datagrams (asks every listener for INFO); a priest that does
    /// not answer is down. Exit status 0 if any priest answered, 1 if none did.
    Status(status::StatusArgs),
    /// Change the Chamber of a running Parliament whose configuration has [membership]:
    /// add, remove or replace a priest, by decree; or list the members.
    Member(member::MemberArgs),
    /// Serve an in-memory, unreplicated map over RESP (a yardstick for clients and the bench).
    ServeMemory(serve::ServeMemoryArgs),
    /// Check the traces priests recorded ([trace] dir, or serve --trace): replay each
    /// handler, match every message received with its send, check the sync-before-send rule.
    Trace {
        #[command(subcommand)]
        command: trace::TraceCommand,
    },
}

impl Cli {
    /// Runs the command; its exit status.
    pub fn run(self) -> ExitCode {
        match self.command {
            Verb::Check { model } => check::run(model),
            Verb::Explore { model } => explore::run(model),
            Verb::Bugs { json } => bugs::run(json),
            Verb::Serve(args) => serve::run(args),
            Verb::Synod { command } => synod::run(command),
            Verb::Keygen { file } => keygen::run(&file),
            Verb::Bench(args) => bench::run(args, "parliament bench"),
            Verb::Kv(args) => kv::run(args),
            Verb::Cluster(args) => cluster::run(args),
            Verb::Status(args) => status::run(args),
            Verb::Member(args) => member::run(args),
            Verb::ServeMemory(args) => serve::run_memory(args),
            Verb::Trace { command } => trace::run(command),
        }
    }
}

/// A usage error: the message on stderr, exit status 2.
pub fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn load_config(path: &std::path::Path) -> Result<parliament::host::config::Config, ExitCode> {
    parliament::host::config::Config::load(path).map_err(|e| usage_error(&e))
}
