//! `parliament trace check DIR`: replays and checks the traces the priests recorded
//! (`[trace] dir`, or `serve --trace DIR`); see `parliament::service::trace` for the checks.

use clap::Subcommand;
use parliament::service::trace;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TraceCommand {
    /// Replay every priest's trace in DIR and check it: each handler's output is the
    /// recorded one, a restart begins from a ledger saved at or after the last sync, every
    /// message received from a priest was sent by it, and no message left before the saves
    /// it follows were durable.
    ///
    /// Exit status: 0 if every check passes, 1 if one fails, 2 if the traces cannot be read
    /// (a missing directory, a damaged record before the end of a file).
    Check {
        /// The trace directory (one `priest-<i>.trace` per priest).
        dir: std::path::PathBuf,
    },
}

pub fn run(command: TraceCommand) -> ExitCode {
    match command {
        TraceCommand::Check { dir } => match trace::check(&dir) {
            Err(e) => super::usage_error(&e.to_string()),
            Ok(report) => {
                for e in &report.errors {
                    eprintln!("error: {e}");
                }
                println!("{report}");
                if report.passed() {
                    println!("trace check passed");
                    ExitCode::SUCCESS
                } else {
                    println!("trace check FAILED: {} errors", report.errors.len());
                    ExitCode::from(1)
                }
            }
        },
    }
}
