//! The `parliament` command: check the models, list the seeded bugs.

use clap::{Args, Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use parliament::check::{self, CheckOptions, Report, Strategy};
use parliament::models::paxos_spec::{PaxosSpecBug, PaxosSpecConfig, PaxosSymmetry};
use parliament::models::synod::{NetworkKind, SynodConfig};
use parliament::models::synod_refinement::RefinementConfig;
use parliament::models::synod_spec::{SynodSpecBug, SynodSpecConfig};
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
    ///
    /// Exit status: 0 if the search was complete and every property holds; 1 if some
    /// property fails (a real counterexample, complete search or not); 3 if none fails but
    /// the search was incomplete (--timeout) or some property was not checked; 2 on a usage
    /// error.
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
    /// Run one priest of a configured cluster over UDP (stops on SIGINT/SIGTERM): a Synod
    /// priest, or with `protocol = "parliament"` a Parliament priest and its RESP listener.
    Serve {
        /// The cluster's TOML configuration.
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
        /// Which priest to run (its id in the configuration).
        #[arg(long)]
        id: usize,
        /// The first start of a priest of a new cluster: create its ledger (with a
        /// BOOTSTRAPPED marker). Refused if the ledger holds records. Without this flag (or
        /// --rejoin) a missing or empty ledger is refused: the priest may have lost it.
        #[arg(long, conflicts_with = "rejoin")]
        bootstrap: bool,
        /// Bring back a priest that lost its ledger (a replaced disk): it begins from an
        /// empty ledger marked as rejoining. Refused if the ledger holds records.
        #[arg(long)]
        rejoin: bool,
    },
    /// Talk to a deployed Synod cluster.
    Synod {
        #[command(subcommand)]
        command: SynodCommand,
    },
    /// Write a fresh random cluster key (64 hex digits) to FILE.
    Keygen {
        /// Where to write the key (must not exist).
        file: std::path::PathBuf,
    },
    /// Drive a RESP (Redis protocol) server with a closed loop of clients; print ops/s and latency.
    Bench(BenchArgs),
    /// Run one command against a RESP server, for scripts: prints the answer; exit status 0
    /// for yes (found, deleted, swapped), 1 for no, 2 for an error.
    Kv {
        /// The server, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:6379")]
        addr: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[command(subcommand)]
        op: KvOp,
    },
    /// Run a local Parliament (the key-value service) in DIR: creates its key, configuration
    /// and ledgers the first time, reuses them after; prints each priest's Redis port; stops
    /// every priest on Ctrl-C or SIGTERM.
    Cluster {
        /// Number of priests (default 3 for a new cluster; must match an existing one).
        #[arg(long)]
        replicas: Option<usize>,
        /// The cluster's directory (cluster.toml, cluster.key, ledger/, priest-N.log).
        #[arg(long, value_name = "DIR")]
        dir: std::path::PathBuf,
        /// Priest i uses port P+i (UDP and TCP) on 127.0.0.1; default: free ports.
        #[arg(long, value_name = "P")]
        base_port: Option<u16>,
    },
    /// Print each priest's role, ballot, president, highest decree chosen and applied,
    /// ledger size and dropped datagrams (asks every listener for INFO); a priest that does
    /// not answer is down. Exit status 0 if any priest answered, 1 if none did.
    Status {
        /// The cluster's TOML configuration.
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// How long to wait for each priest, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Serve an in-memory, unreplicated map over RESP (a yardstick for clients and the bench).
    ServeMemory {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:6380")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum KvOp {
    /// Print the key's value (status 1, and nothing printed, if absent).
    Get { key: String },
    /// Write the key.
    Set { key: String, value: String },
    /// Remove the key (status 1 if it was absent).
    Del { key: String },
    /// Status 0 if the key exists, 1 if not.
    Exists { key: String },
    /// Write NEW if the key holds EXPECTED (status 1 if it did not).
    Cas {
        key: String,
        expected: String,
        new: String,
    },
    /// Write the key only if it is absent (status 1 if it was present).
    Setnx { key: String, value: String },
    /// Check the server answers.
    Ping,
}

#[derive(Args)]
struct BenchArgs {
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
    workload: parliament::resp::bench::Workload,
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
}

#[derive(Subcommand)]
enum SynodCommand {
    /// Ask the cluster to pass a decree; prints the decree passed (perhaps another's).
    Propose {
        /// The cluster's TOML configuration.
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
        /// Ask only this priest (default: every priest).
        #[arg(long)]
        to: Option<usize>,
        /// Resend the proposal this often until a priest answers.
        #[arg(long, default_value_t = 200)]
        resend_ms: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// The decree.
        value: String,
    },
    /// Print a priest's ledger as recovery finds it, as JSON (read-only).
    Ledger {
        /// The cluster's TOML configuration.
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
        /// Which priest.
        #[arg(long)]
        id: usize,
    },
}

fn load_config(path: &std::path::Path) -> Result<parliament::host::config::Config, ExitCode> {
    parliament::host::config::Config::load(path).map_err(|e| usage_error(&e))
}

fn deploy(command: Command) -> ExitCode {
    use parliament::host;
    use parliament::service::{self, synod};
    match command {
        Command::Serve {
            config,
            id,
            bootstrap,
            rejoin,
        } => {
            host::init_logging();
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let stop = match host::stop_on_signals() {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("cannot install signal handlers: {e}")),
            };
            let mode = match (bootstrap, rejoin) {
                (true, _) => host::StartMode::Bootstrap,
                (_, true) => host::StartMode::Rejoin,
                _ => host::StartMode::Restart,
            };
            let served = match cfg.protocol {
                host::config::Protocol::Synod => synod::serve(&cfg, id, mode, &stop),
                host::config::Protocol::Parliament => {
                    service::parliament::serve(&cfg, id, mode, &stop)
                }
            };
            match served {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Synod {
            command:
                SynodCommand::Propose {
                    config,
                    to,
                    resend_ms,
                    timeout,
                    value,
                },
        } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let resend = Duration::from_millis(resend_ms.max(1));
            match synod::propose(&cfg, value, to, resend, Duration::from_secs(timeout)) {
                Ok(d) => {
                    println!("{d}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Synod {
            command: SynodCommand::Ledger { config, id },
        } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match synod::read_ledger(&cfg, id) {
                Ok((ledger, recovery)) => {
                    if let Some((path, offset, len)) = recovery.torn {
                        eprintln!(
                            "note: {} has a torn last record at offset {offset} ({len} bytes), \
                             which a starting priest cuts off",
                            path.display()
                        );
                    }
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&ledger).expect("ledgers serialize")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Keygen { file } => {
            use std::io::Write;
            let key = parliament::host::wire::Key::random();
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .and_then(|mut f| writeln!(f, "{}", key.to_hex()));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(&format!("cannot write {}: {e}", file.display())),
            }
        }
        Command::Check { .. }
        | Command::Bugs { .. }
        | Command::Bench(_)
        | Command::ServeMemory { .. }
        | Command::Cluster { .. }
        | Command::Status { .. }
        | Command::Kv { .. } => unreachable!("not a deployment command"),
    }
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
        /// With --lossy on an unordered network, explore drops literally instead of as
        /// never-delivered messages (same verdicts, far more states; see the README).
        #[arg(long)]
        literal_loss: bool,
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
        #[command(flatten)]
        model: parliament::models::parliament::ParliamentArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// tla/Paxos.tla (phases 1a, 1b, 2a, 2b over a set of messages), transliterated.
    PaxosSpec {
        /// Number of acceptors (the spec's Acceptor); quorums are their majorities.
        #[arg(long, default_value_t = 3)]
        acceptors: usize,
        /// Number of values (the spec's Value).
        #[arg(long, default_value_t = 2)]
        values: usize,
        /// Ballots are 0..=N (the spec's MaxBallot).
        #[arg(long, default_value_t = 2)]
        max_ballot: usize,
        /// Check a seeded bug in the spec instead of the spec itself.
        #[arg(long, value_enum, default_value_t = PaxosSpecBug::None)]
        bug: PaxosSpecBug,
        #[command(flatten)]
        common: SpecArgs,
    },
    /// tla/Synod.tla (the paper's basic Synod protocol with its ballots), transliterated.
    SynodSpec {
        /// Number of priests (the spec's N, 2 to 5).
        #[arg(long, default_value_t = 3)]
        priests: usize,
        /// Priests 0..P propose, priest i decree i (the spec's P).
        #[arg(long, default_value_t = 2)]
        proposers: usize,
        /// Ballots have rounds 1..=N (the spec's MaxRound).
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Check a seeded bug in the spec instead of the spec itself.
        #[arg(long, value_enum, default_value_t = SynodSpecBug::None)]
        bug: SynodSpecBug,
        #[command(flatten)]
        common: SpecRunArgs,
    },
    /// The Synod actor model, each step checked to be a step of tla/Synod.tla or a stutter
    /// (property refines-synod-spec), on a duplicating, lossless network.
    SynodRefinement {
        /// Number of priests (2 to 5).
        #[arg(long, default_value_t = 3)]
        priests: usize,
        /// Number of priests that propose a decree of their own.
        #[arg(long, default_value_t = 2)]
        proposers: usize,
        /// Highest ballot round a priest tries.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// At most this many priests are crashed at once (they restart from their ledger).
        #[arg(long, default_value_t = 0)]
        crashes: usize,
        /// Check a seeded bug of the priest (see `parliament bugs`).
        #[arg(long, default_value = "none")]
        bug: Bug,
        #[command(flatten)]
        common: SpecRunArgs,
    },
}

/// The options of a spec check: those of [`CommonArgs`], with symmetry over named sets.
#[derive(Args)]
struct SpecArgs {
    /// Reduce by exact symmetry over these interchangeable sets (TLC's SYMMETRY); implies DFS.
    #[arg(long, value_enum)]
    symmetry: Option<PaxosSymmetry>,
    #[command(flatten)]
    run: SpecRunArgs,
}

/// The options of every check: how to search and how to report.
#[derive(Args)]
struct SpecRunArgs {
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
    /// Explore only states at most N steps from the start (a bounded search, reported as
    /// such; liveness is then not checked).
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
}

impl SpecRunArgs {
    fn common(self, symmetry: bool) -> CommonArgs {
        CommonArgs {
            symmetry,
            svg: None,
            run: self,
        }
    }
}

/// The options of an actor-model check: [`SpecRunArgs`], plus symmetry and a diagram.
#[derive(Args)]
struct CommonArgs {
    /// Reduce by symmetry (non-proposing priests are interchangeable); implies DFS.
    #[arg(long)]
    symmetry: bool,
    /// Write stateright's sequence diagram of the first counterexample to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    #[command(flatten)]
    run: SpecRunArgs,
}

impl CommonArgs {
    fn options(&self) -> CheckOptions {
        CheckOptions {
            threads: self.run.threads.unwrap_or(CheckOptions::default().threads),
            strategy: self.run.strategy,
            timeout: self.run.timeout.map(Duration::from_secs),
            progress: !self.run.json,
            max_depth: self.run.max_depth,
            ..CheckOptions::default()
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn finish(report: &Report, common: &CommonArgs) -> ExitCode {
    if common.run.json {
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
                if !common.run.json {
                    println!("sequence diagram written to {}", path.display());
                }
            }
            None => eprintln!("no counterexample, so no sequence diagram written"),
        }
    }
    // 0 verified, 1 a property fails, 3 unknown (incomplete or not checked).
    ExitCode::from(report.exit_status())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        c @ (Command::Serve { .. } | Command::Synod { .. } | Command::Keygen { .. }) => deploy(c),
        Command::Bench(args) => bench(args),
        Command::ServeMemory { listen } => serve_memory(&listen),
        Command::Kv { addr, timeout, op } => kv(&addr, timeout, op),
        Command::Cluster {
            replicas,
            dir,
            base_port,
        } => cluster(replicas, dir, base_port),
        Command::Status {
            config,
            json,
            timeout_ms,
        } => status(&config, json, timeout_ms),
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
                    println!(
                        "{:<20} found by: parliament check synod {} --bug {}",
                        "",
                        i.flags.join(" "),
                        i.name
                    );
                }
                println!();
                println!("parliament (check parliament --bug NAME):");
                let w = multi.iter().map(|i| i.name.len()).max().unwrap_or(0);
                for i in multi {
                    println!("{:<w$} breaks {}", i.name, i.breaks);
                    println!("{:<w$} {}", "", i.changes);
                    println!("{:<w$} ({})", "", i.stands_for);
                    let flags = i.flags.iter().map(|f| format!("{f} ")).collect::<String>();
                    println!(
                        "{:<w$} found by: parliament check parliament {flags}--bug {}",
                        "", i.name
                    );
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
                literal_loss,
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
                    literal_loss,
                    crashes,
                    bug,
                    stop: Default::default(),
                };
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                let mut config = serde_json::to_value(&cfg).expect("config serializes");
                let symmetry = common
                    .symmetry
                    .then_some(parliament::models::synod::representative as fn(&_) -> _);
                config["symmetry"] = common.symmetry.into();
                config["loss"] = cfg.loss().into();
                // A seeded bug's model may be infinite (a priest that forgets its ballots can
                // retry forever), so stop at the first violation: BFS makes it a shortest one.
                let mut options = common.options();
                options.stop_on_failure = bug != Bug::None;
                let report = check::run(cfg.into_model(), "synod", config, &options, symmetry);
                finish(&report, &common)
            }
            CheckModel::PaxosSpec {
                acceptors,
                values,
                max_ballot,
                bug,
                common,
            } => {
                let cfg = PaxosSpecConfig {
                    acceptors,
                    values,
                    max_ballot,
                    bug,
                };
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                let mut config = serde_json::to_value(&cfg).expect("config serializes");
                config["symmetry"] = serde_json::to_value(common.symmetry).expect("serializes");
                let symmetry = common.symmetry.map(PaxosSymmetry::representative);
                let common = common.run.common(symmetry.is_some());
                let report = check::run(
                    cfg.into_model(),
                    "paxos-spec",
                    config,
                    &common.options(),
                    symmetry,
                );
                finish(&report, &common)
            }
            CheckModel::Parliament { model, common } => {
                let cfg = model.config();
                let bug = cfg.bug;
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                if let (true, Some(e)) = (common.symmetry, cfg.symmetry_error()) {
                    return usage_error(&e);
                }
                let symmetry = common.symmetry.then_some(
                    parliament::models::parliament::representative_in_genesis_quorum as fn(&_) -> _,
                );
                let mut config = serde_json::to_value(&cfg).expect("config serializes");
                config["symmetry"] = common.symmetry.into();
                // A seeded bug's check stops at the first (BFS: shortest) violation of the
                // property the bug is known to break.
                let mut options = common.options();
                if bug != parliament::parliament::Bug::None {
                    options.stop_on = Some(bug.info().breaks);
                }
                let report = check::run(cfg.into_model(), "parliament", config, &options, symmetry);
                finish(&report, &common)
            }
            CheckModel::SynodSpec {
                priests,
                proposers,
                rounds,
                bug,
                common,
            } => {
                let cfg = SynodSpecConfig {
                    priests,
                    proposers,
                    rounds,
                    bug,
                };
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                let config = serde_json::to_value(&cfg).expect("config serializes");
                let common = common.common(false);
                let report = check::run(
                    cfg.into_model(),
                    "synod-spec",
                    config,
                    &common.options(),
                    None,
                );
                finish(&report, &common)
            }
            CheckModel::SynodRefinement {
                priests,
                proposers,
                rounds,
                crashes,
                bug,
                common,
            } => {
                let cfg = RefinementConfig {
                    priests,
                    proposers,
                    rounds,
                    crashes,
                    bug,
                };
                if let Err(e) = cfg.validate() {
                    return usage_error(&e);
                }
                let mut config = serde_json::to_value(&cfg).expect("config serializes");
                config["network"] = "duplicating".into();
                let common = common.common(false);
                let report = check::run(
                    cfg.into_model(),
                    "synod-refinement",
                    config,
                    &common.options(),
                    None,
                );
                finish(&report, &common)
            }
        },
    }
}

fn bench(args: BenchArgs) -> ExitCode {
    use parliament::resp::bench;
    use std::net::ToSocketAddrs;
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
    let load = bench::Load {
        clients: args.clients,
        duration,
        keys: args.keys,
        value_size: args.value_size,
        workload: args.workload,
        preload: args.preload,
        seed: args.seed,
        timeout,
    };
    let result = match (&args.addr, &args.etcd) {
        (_, Some(endpoints)) => bench::run_etcd(endpoints, &load),
        (Some(list), None) => {
            let mut addrs = Vec::new();
            for addr in list.split(',').map(str::trim) {
                match addr.to_socket_addrs().map(|mut a| a.next()) {
                    Ok(Some(a)) => addrs.push(a),
                    Ok(None) => return usage_error(&format!("--addr {addr}: no address")),
                    Err(e) => return usage_error(&format!("--addr {addr}: {e}")),
                }
            }
            bench::run_resp(&bench::Resp { addrs }, &load)
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
            eprintln!("parliament bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cluster(replicas: Option<usize>, dir: std::path::PathBuf, base_port: Option<u16>) -> ExitCode {
    use parliament::service::cluster::{self, ClusterArgs};
    let args = ClusterArgs {
        replicas,
        dir,
        base_port,
    };
    let (cfg, created) = match cluster::prepare(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return usage_error(&format!("cannot find this program's path: {e}")),
    };
    let stop = match parliament::host::stop_on_signals() {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot install signal handlers: {e}")),
    };
    eprintln!(
        "{} {} with {} priests",
        if created { "created" } else { "restarting" },
        cfg.path.display(),
        cfg.priests.len()
    );
    match cluster::run(
        &cfg,
        &exe,
        created,
        &stop,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn status(config: &std::path::Path, json: bool, timeout_ms: u64) -> ExitCode {
    use parliament::service::status;
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cfg.protocol != parliament::host::config::Protocol::Parliament {
        return usage_error(&format!(
            "{} does not say protocol = \"parliament\": only Parliament priests report a status",
            config.display()
        ));
    }
    let rows = status::query_cluster(&cfg, Duration::from_millis(timeout_ms.max(1)));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
    } else {
        print!("{}", status::render(&rows));
    }
    if rows.iter().any(|r| r.status.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn serve_memory(listen: &str) -> ExitCode {
    use parliament::resp::memory::MemoryBackend;
    use parliament::resp::server::{Server, ServerConfig};
    use std::sync::Arc;
    let stop = match parliament::host::stop_on_signals() {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot install signal handlers: {e}")),
    };
    let server = match Server::start(
        listen,
        Arc::new(MemoryBackend::new()),
        ServerConfig::default(),
    ) {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot listen on {listen}: {e}")),
    };
    eprintln!(
        "serving an in-memory map over RESP on {}",
        server.local_addr()
    );
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    server.shutdown();
    ExitCode::SUCCESS
}

fn kv(addr: &str, timeout: u64, op: KvOp) -> ExitCode {
    use parliament::resp::client::Client;
    use parliament::resp::{Command as Cmd, Reply};
    let cmd = match op {
        KvOp::Get { key } => Cmd::Get { key },
        KvOp::Set { key, value } => Cmd::Set { key, value },
        KvOp::Del { key } => Cmd::Del { key },
        KvOp::Exists { key } => Cmd::Exists { key },
        KvOp::Cas { key, expected, new } => Cmd::Cas {
            key,
            expected: Some(expected),
            new,
        },
        KvOp::Setnx { key, value } => Cmd::Cas {
            key,
            expected: None,
            new: value,
        },
        KvOp::Ping => Cmd::Ping(None),
    };
    let reply = Client::connect(addr).and_then(|mut c| {
        c.set_timeout(Some(Duration::from_secs(timeout.max(1))))?;
        c.command(&cmd)
    });
    match reply {
        Err(e) => {
            eprintln!("parliament kv: {addr}: {e}");
            ExitCode::from(2)
        }
        Ok(Reply::Error(e)) => {
            eprintln!("parliament kv: {e}");
            ExitCode::from(2)
        }
        Ok(Reply::Bulk(Some(v))) => {
            println!("{}", String::from_utf8_lossy(&v));
            ExitCode::SUCCESS
        }
        Ok(Reply::Simple(s)) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Ok(Reply::Integer(n)) => {
            println!("{n}");
            if n > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(Reply::Bulk(None) | Reply::Array(None)) => ExitCode::from(1),
        Ok(other @ Reply::Array(Some(_))) => {
            println!("{other:?}");
            ExitCode::SUCCESS
        }
    }
}
