//! `parliament check MODEL`: model-check one model and report every property, exhaustively or
//! (`--simulate`) by seeded random walks; `parliament check merge FILE...` adds up the
//! simulation reports of many seeds.

use super::usage_error;
use clap::{Args, Subcommand};
use parliament::check::{self, CheckOptions, Report, Strategy, Walks};
use parliament::models::parliament::ParliamentArgs;
use parliament::models::parliament_refinement::ParliamentRefinementArgs;
use parliament::models::parliament_spec::ParliamentSpecArgs;
use parliament::models::paxos_spec::{PaxosSpecArgs, PaxosSymmetry};
use parliament::models::synod::SynodArgs;
use parliament::models::synod_refinement::RefinementArgs;
use parliament::models::synod_spec::SynodSpecArgs;
use parliament::synod::Bug;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand)]
pub enum CheckModel {
    /// The single-decree Synod protocol (paper, section 2).
    Synod {
        #[command(flatten)]
        model: SynodArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The multi-decree Parliament replicating a key-value map (paper, section 3).
    Parliament {
        #[command(flatten)]
        model: ParliamentArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// tla/Paxos.tla (phases 1a, 1b, 2a, 2b over a set of messages), transliterated.
    PaxosSpec {
        #[command(flatten)]
        model: PaxosSpecArgs,
        #[command(flatten)]
        common: SpecArgs,
    },
    /// tla/Synod.tla (the paper's basic Synod protocol with its ballots), transliterated.
    SynodSpec {
        #[command(flatten)]
        model: SynodSpecArgs,
        #[command(flatten)]
        common: SpecRunArgs,
    },
    /// tla/Parliament.tla (the multi-decree Parliament with its ballots per decree number),
    /// transliterated.
    ParliamentSpec {
        #[command(flatten)]
        model: ParliamentSpecArgs,
        #[command(flatten)]
        common: SpecRunArgs,
    },
    /// The Synod actor model, each step checked to be a step of tla/Synod.tla or a stutter
    /// (property refines-synod-spec), on a duplicating, lossless network.
    SynodRefinement {
        #[command(flatten)]
        model: RefinementArgs,
        #[command(flatten)]
        common: SpecRunArgs,
    },
    /// The Parliament actor model, each step checked to be a sequence of steps of
    /// tla/Parliament.tla by the priest that took it, or a stutter (property
    /// refines-parliament-spec), on a duplicating, lossless network.
    ParliamentRefinement {
        #[command(flatten)]
        model: ParliamentRefinementArgs,
        #[command(flatten)]
        common: SpecRunArgs,
    },
    /// Merge the JSON reports of simulations (`--simulate --json`) of one model with the same
    /// flags and different seeds into one report: the walks of every seed, and any
    /// violation with the seed that found it.
    Merge {
        /// The JSON reports, one per seed (or merged reports).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
    },
}

/// The options of a spec check: those of [`CommonArgs`], with symmetry over named sets.
#[derive(Args)]
pub struct SpecArgs {
    /// Reduce by exact symmetry over these interchangeable sets (TLC's SYMMETRY); implies DFS.
    #[arg(long, value_enum)]
    symmetry: Option<PaxosSymmetry>,
    #[command(flatten)]
    run: SpecRunArgs,
}

/// The options of every check: how to search and how to report.
#[derive(Args)]
pub struct SpecRunArgs {
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
    /// Take seeded random walks instead of searching every state (one thread; nothing is
    /// verified: a violation is real, no violation means only none was met).
    #[arg(long, conflicts_with_all = ["strategy", "max_depth", "threads"])]
    simulate: bool,
    /// The simulation's seed: the same seed takes the same walks.
    #[arg(long, requires = "simulate", default_value_t = 0)]
    seed: u64,
    /// How many walks the simulation takes.
    #[arg(long, requires = "simulate", default_value_t = 1000)]
    walks: usize,
    /// How many steps each walk takes at most (fewer when it reaches a dead end).
    #[arg(long, requires = "simulate", default_value_t = 100)]
    depth: usize,
    /// When a property fails, serve stateright's explorer opened on the counterexample
    /// (until interrupted).
    #[arg(long)]
    explore: bool,
    /// Where the explorer listens.
    #[arg(long, requires = "explore", default_value = "127.0.0.1:3000")]
    addr: std::net::SocketAddr,
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
pub struct CommonArgs {
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
            simulate: self.run.simulate.then_some(Walks {
                seed: self.run.seed,
                walks: self.run.walks,
                depth: self.run.depth,
            }),
            ..CheckOptions::default()
        }
    }

    /// Refuses what a simulation cannot do: reduce by symmetry.
    fn validate(&self) -> Result<(), String> {
        if self.run.simulate && self.symmetry {
            return Err("--symmetry reduces an exhaustive search; a simulation's walks have nothing to reduce (leave out --symmetry)".into());
        }
        if self.run.simulate && self.run.walks == 0 {
            return Err("--walks must be at least 1".into());
        }
        Ok(())
    }
}

/// Runs the check; exit status 0 verified, 1 a property fails, 3 unknown (incomplete,
/// bounded or simulated), 2 a usage error.
pub fn run(model: CheckModel) -> ExitCode {
    match model {
        CheckModel::Merge { files, json } => merge(&files, json),
        CheckModel::Synod { model, common } => {
            let cfg = model.config();
            let bug = cfg.bug;
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
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(cfg.into_model(), "synod", config, &options, symmetry);
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
        }
        CheckModel::PaxosSpec { model, common } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            let mut config = serde_json::to_value(&cfg).expect("config serializes");
            config["symmetry"] = serde_json::to_value(common.symmetry).expect("serializes");
            let symmetry = common.symmetry.map(PaxosSymmetry::representative);
            let common = common.run.common(symmetry.is_some());
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(
                cfg.into_model(),
                "paxos-spec",
                config,
                &common.options(),
                symmetry,
            );
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
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
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(cfg.into_model(), "parliament", config, &options, symmetry);
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
        }
        CheckModel::SynodSpec { model, common } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            let config = serde_json::to_value(&cfg).expect("config serializes");
            let common = common.common(false);
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(
                cfg.into_model(),
                "synod-spec",
                config,
                &common.options(),
                None,
            );
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
        }
        CheckModel::ParliamentSpec { model, common } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            let config = serde_json::to_value(&cfg).expect("config serializes");
            let common = common.common(false);
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(
                cfg.into_model(),
                "parliament-spec",
                config,
                &common.options(),
                None,
            );
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
        }
        CheckModel::SynodRefinement { model, common } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            let mut config = serde_json::to_value(&cfg).expect("config serializes");
            config["network"] = "duplicating".into();
            let common = common.common(false);
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(
                cfg.into_model(),
                "synod-refinement",
                config,
                &common.options(),
                None,
            );
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
        }
        CheckModel::ParliamentRefinement { model, common } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            let mut config = serde_json::to_value(&cfg).expect("config serializes");
            config["network"] = "duplicating".into();
            let common = common.common(false);
            let mut options = common.options();
            if cfg.bug != parliament::parliament::Bug::None {
                options.stop_on = Some("refines-parliament-spec");
            }
            if let Err(e) = common.validate() {
                return usage_error(&e);
            }
            let report = check::run(
                cfg.into_model(),
                "parliament-refinement",
                config,
                &options,
                None,
            );
            finish(&report, &common, |listening| {
                check::explore::serve(model.config().into_model(), common.run.addr, listening)
            })
        }
    }
}

/// Prints the report (and writes the diagram); with `--explore` and a counterexample, serves
/// the explorer on it (`serve`, a fresh model of the same flags). The exit status is the
/// report's.
fn finish(
    report: &Report,
    common: &CommonArgs,
    serve: impl FnOnce(&dyn Fn()) -> Result<(), String>,
) -> ExitCode {
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
    if common.run.explore {
        let failed = report.failures().first().copied();
        match (&report.explorer_path, failed) {
            (Some(path), Some(property)) => {
                let url = format!("http://{}/#/steps/{path}", common.run.addr);
                let line =
                    format!("explorer: {url} (the counterexample to {property}; Ctrl-C stops it)");
                let announce = || {
                    if common.run.json {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                };
                if let Err(e) = serve(&announce) {
                    return usage_error(&e);
                }
            }
            _ => eprintln!("no counterexample, so nothing to explore"),
        }
    }
    // 0 verified, 1 a property fails, 3 unknown (incomplete or not checked).
    ExitCode::from(report.exit_status())
}

/// `check merge`: reads the reports, merges them, prints the merged report; exit status that
/// of the merged report (1 a property fails, 3 none does), 2 when a file cannot be read or the
/// reports are not of one simulation.
fn merge(files: &[std::path::PathBuf], json: bool) -> ExitCode {
    let mut reports = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return usage_error(&format!("cannot read {name}: {e}")),
        };
        match serde_json::from_str::<Report>(&text) {
            Ok(r) => reports.push((name, r)),
            Err(e) => {
                return usage_error(&format!(
                    "{name} is not the JSON report of `parliament check ... --json`: {e}"
                ))
            }
        }
    }
    match check::merge(reports) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("reports serialize")
                );
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::from(report.exit_status())
        }
        Err(e) => usage_error(&format!("cannot merge: {e}")),
    }
}
