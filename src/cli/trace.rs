//! `parliament trace check DIR`: replays and checks the traces the priests recorded
//! (`[trace] dir`, or `serve --trace DIR`); see `parliament::service::trace` for the checks.

use clap::Subcommand;
use parliament::service::trace;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TraceCommand {
    /// Replay every priest's trace in DIR and check it: each handler's output is the
    /// recorded one, a restart begins from a ledger saved at or after the last sync, every
    /// message received from a priest was sent by it, no message left before the saves it
    /// follows were durable, and the run is a behaviour of tla/Parliament.tla.
    ///
    /// Exit status: 0 if every check passes, 1 if one fails, 2 if the traces cannot be read
    /// (a missing directory, a damaged record before the end of a file).
    Check {
        /// The trace directory (one `priest-<i>.trace` per priest).
        dir: std::path::PathBuf,
        /// Skip check 4 (the run against tla/Parliament.tla), which keeps every replayed
        /// state in memory.
        #[arg(long)]
        no_spec: bool,
    },
}

pub fn run(command: TraceCommand) -> ExitCode {
    match command {
        TraceCommand::Check { dir, no_spec } => {
            let checked = if no_spec {
                trace::check(&dir).map(|r| (r, None))
            } else {
                trace::spec::check_dir(&dir).map(|(r, s)| (r, Some(s)))
            };
            match checked {
                Err(e) => super::usage_error(&e.to_string()),
                Ok((report, spec)) => {
                    let mut errors = report.errors.len();
                    for e in &report.errors {
                        eprintln!("error: {e}");
                    }
                    println!("{report}");
                    if let Some(spec) = &spec {
                        for e in &spec.errors {
                            eprintln!("error (spec): {e}");
                        }
                        errors += spec.errors.len();
                        println!("{spec}");
                    }
                    if errors == 0 {
                        println!("trace check passed");
                        ExitCode::SUCCESS
                    } else {
                        println!("trace check FAILED: {errors} errors");
                        ExitCode::from(1)
                    }
                }
            }
        }
    }
}
