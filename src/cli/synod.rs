//! `parliament synod ...`: talk to a deployed Synod cluster.

use super::load_config;
use clap::Subcommand;
use parliament::service::synod;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand)]
pub enum SynodCommand {
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

/// Runs the command: 0 on success, 1 on an error, 2 on a usage error.
pub fn run(command: SynodCommand) -> ExitCode {
    match command {
        SynodCommand::Propose {
            config,
            to,
            resend_ms,
            timeout,
            value,
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
        SynodCommand::Ledger { config, id } => {
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
    }
}
