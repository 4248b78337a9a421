//! The `parliament` command: check the models, list the seeded bugs.

use clap::{Args, Parser, Subcommand};
use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::parliament::ParliamentConfig;
use parliament::models::synod::{NetworkKind, SynodConfig};
use parliament::synod::Bug;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "parliament",
    version,
    about = "Lamport's Paxos, model-checked and deployed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Model-check a protocol and report every property.
    Check {
        #[command(subcommand)]
        model: CheckModel,
    },
    /// List the seeded bugs, each with the property it breaks.
    Bugs {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CheckModel {
    /// The single-decree Synod protocol (paper, section 2).
    Synod {
        /// Number of priests (1 to 5).
        #[arg(long, default_value_t = 3)]
        priests: usize,
        /// Number of priests that propose a decree of their own.
        #[arg(long, default_value_t = 2)]
        proposers: usize,
        /// Highest ballot round a priest tries (bounds the state space).
        #[arg(long, default_value_t = 2)]
        rounds: u32,
        /// The messengers' network.
        #[arg(long, value_enum, default_value_t = NetworkKind::Unordered)]
        network: NetworkKind,
        /// Messengers may lose messages.
        #[arg(long)]
        lossy: bool,
        /// At most this many priests are crashed at once (they restart from their ledger).
        #[arg(long, default_value_t = 0)]
        crashes: usize,
        /// Check a seeded bug instead of the correct protocol (see `parliament bugs`).
        #[arg(long, default_value = "none")]
        bug: Bug,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The multi-decree Parliament replicating a key-value map (paper, section 3).
    Parliament {
        /// Number of priests (2 to 5).
        #[arg(long, default_value_t = 3)]
        priests: usize,
        /// Number of priests that may run for president (priest 0 starts as president).
        #[arg(long, default_value_t = 2)]
        proposers: usize,
        /// Highest ballot round a priest tries (bounds the state space).
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// Decree numbers 0..N may be used (bounds the state space).
        #[arg(long, default_value_t = 4)]
        decrees: u32,
        /// Number of clients (1 to 4).
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Commands per client: cas, get, put, del, in that order.
        #[arg(long, default_value_t = 1)]
        ops: usize,
        /// Decrees a president keeps in flight (pipelining).
        #[arg(long, default_value_t = 2)]
        window: usize,
        /// Client commands one decree carries at most (batching).
        #[arg(long, default_value_t = 2)]
        batch: usize,
        /// The messengers' network.
        #[arg(long, value_enum, default_value_t = NetworkKind::Unordered)]
        network: NetworkKind,
        /// Messengers may lose messages.
        #[arg(long)]
        lossy: bool,
        /// At most this many priests are crashed at once (they restart from their ledger).
        #[arg(long, default_value_t = 0)]
        crashes: usize,
        /// How many times in all a client may resend an unanswered command.
        #[arg(long, default_value_t = 0)]
        retries: u8,
        /// Presidents send heartbeats and lagging priests catch up (duplicating network only).
        #[arg(long)]
        heartbeats: bool,
        /// Check a seeded bug instead of the correct protocol (see `parliament bugs`).
        #[arg(long, default_value = "none")]
        bug: parliament::parliament::Bug,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args)]
struct CommonArgs {
    /// Reduce by symmetry (non-proposing priests are interchangeable); implies DFS.
    #[arg(long)]
    symmetry: bool,
    /// Checker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Search strategy; BFS finds shortest counterexamples.
    #[arg(long, value_enum, default_value_t = Strategy::Bfs)]
    strategy: Strategy,
    /// Give up after this many seconds (the report then says the search was incomplete).
    #[arg(long)]
    timeout: Option<u64>,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    json: bool,
    /// Write stateright's sequence diagram of the first counterexample to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
}

impl CommonArgs {
    fn options(&self) -> CheckOptions {
        CheckOptions {
            threads: self.threads.unwrap_or(CheckOptions::default().threads),
            strategy: self.strategy,
            stop_on_failure: false,
            timeout: self.timeout.map(Duration::from_secs),
            progress: !self.json,
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn finish(report: &Report, common: &CommonArgs) -> ExitCode {
    if common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("reports serialize")
        );
    } else {
        print!("{}", report.to_text());
    }
    if let Some(path) = &common.svg {
        match &report.svg {
            Some(svg) => {
                if let Err(e) = std::fs::write(path, svg) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                if !common.json {
                    println!("sequence diagram written to {}", path.display());
                }
            }
            None => eprintln!("no counterexample, so no sequence diagram written"),
        }
    }
    if report.all_hold() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bugs { json } => {
            let infos: Vec<_> = Bug::ALL.iter().map(|b| b.info()).collect();
            let multi: Vec<_> = parliament::parliament::Bug::ALL
                .iter()
                .map(|b| b.info())
                .collect();
            if json {
                let mut all = Vec::new();
                for (protocol, v) in [
                    ("synod", serde_json::to_value(&infos)),
                    ("parliament", serde_json::to_value(&multi)),
                ] {
                    for mut i in v
                        .expect("serializes")
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        i["protocol"] = protocol.into();
                        all.push(i);
                    }
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(&all).expect("serializes")
                );
            } else {
                for i in infos {
                    println!("{:<20} breaks {}", i.name, i.breaks);
                    println!("{:<20} {}", "", i.changes);
                    println!("{:<20} ({})", "", i.stands_for);
                }
                println!();
                println!("parliament (check parliament --bug NAME):");
                for i in multi {
                    println!("{:<26} breaks {}", i.name, i.breaks);
                    println!("{:<26} {}", "", i.changes);
                    println!("{:<26} ({})", "", i.stands_for);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Check { model } => match model {
            CheckModel::Synod {
                priests,
                proposers,
                rounds,
                network,
                lossy,
                crashes,
                bug,
                common,
            } => {
                let cfg = SynodConfig {
                    priests,
                    proposers,
                    rounds,
                    network,
                    lossy,
                    crashes,
                    bug,
                };
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                let mut config = serde_json::to_value(&cfg).expect("config serializes");
                let symmetry = common
                    .symmetry
                    .then_some(parliament::models::synod::representative as fn(&_) -> _);
                config["symmetry"] = common.symmetry.into();
                let report = check::run(
                    cfg.into_model(),
                    "synod",
                    config,
                    &common.options(),
                    symmetry,
                );
                finish(&report, &common)
            }
            CheckModel::Parliament {
                priests,
                proposers,
                rounds,
                decrees,
                clients,
                ops,
                window,
                batch,
                network,
                lossy,
                crashes,
                retries,
                heartbeats,
                bug,
                common,
            } => {
                let cfg = ParliamentConfig {
                    priests,
                    proposers,
                    rounds,
                    decrees,
                    clients,
                    ops,
                    window,
                    batch,
                    network,
                    lossy,
                    crashes,
                    retries,
                    heartbeats,
                    bug,
                };
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                let mut config = serde_json::to_value(&cfg).expect("config serializes");
                config["symmetry"] = common.symmetry.into();
                if common.symmetry {
                    return usage_error("--symmetry is not available for the parliament model");
                }
                let report = check::run(
                    cfg.into_model(),
                    "parliament",
                    config,
                    &common.options(),
                    None,
                );
                finish(&report, &common)
            }
        },
    }
}
